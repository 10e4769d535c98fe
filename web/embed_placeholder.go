//go:build !webdist

package web

import "embed"

// files holds the placeholder page: the binary was built without -tags webdist.
//
//go:embed all:placeholder
var files embed.FS

const (
	root  = "placeholder"
	built = false
)
