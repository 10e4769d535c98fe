package main

import "net/http"

// webHandler serves the web app.
func webHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("IRIS Oculus API: see /api/health\n"))
	})
}
