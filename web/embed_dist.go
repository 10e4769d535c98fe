//go:build webdist

package web

import "embed"

// files holds the built app, web/dist.
//
//go:embed all:dist
var files embed.FS

const (
	root  = "dist"
	built = true
)
