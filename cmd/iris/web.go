package main

import (
	"net/http"

	"github.com/iris-oculus/iris/web"
)

// webHandler serves the web app (a placeholder page in builds without the
// webdist tag; `make build` builds the app and sets it).
func webHandler() http.Handler { return web.Handler() }
