// Package web serves the IRIS Oculus web app, the single-page application
// built from this folder by Vite, as an http.Handler.
//
// The built app lives in web/dist, which is not committed. A plain build
// embeds web/placeholder instead, a page that says how to build the app,
// so the module compiles and vets on a clean clone without Node. Building
// with the tag webdist embeds web/dist:
//
//	cd web && npm ci && npm run build
//	go build -tags webdist ./cmd/iris
//
// With the tag and no web/dist the build fails with "pattern all:dist: no
// matching files found", which is the reminder to build the app first.
//
// The handler serves files only; it does not serve the API, and answers any
// /api/ path that reaches it with a JSON 404.
package web

import (
	"bytes"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// Handler serves the embedded app: see NewHandler.
func Handler() http.Handler {
	sub, err := fs.Sub(files, root)
	if err != nil { // root is a constant that names an embedded folder
		panic("web: " + err.Error())
	}
	return NewHandler(sub)
}

// Built reports whether the binary holds the real app rather than the
// placeholder page.
func Built() bool { return built }

// NewHandler serves a built app from fsys (whose root holds index.html):
//   - a file that exists is served; files under assets/ carry a content
//     hash in their names, so they may be cached for a year;
//   - index.html, and any other path without a file extension, gets
//     index.html with no-cache, so client-side routes such as /jobs/ID
//     load the app and a new build is picked up at once;
//   - a missing file with an extension (a stale asset, say) is a 404, not
//     HTML that a browser would try to run as a script;
//   - /api/ paths are a JSON 404: the API is mounted in front of this;
//   - a file with a precompressed copy beside it (NAME.br, NAME.gz, made
//     by the build: see vite.config.ts) is sent as that copy, with
//     Content-Encoding, to a client whose Accept-Encoding takes it (brotli
//     first), and every such file carries Vary: Accept-Encoding.
func NewHandler(fsys fs.FS) http.Handler {
	return &handler{fsys: fsys, files: http.FileServerFS(fsys)}
}

type handler struct {
	fsys  fs.FS
	files http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no such API endpoint"}}` + "\n"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" || name == "index.html" {
		h.index(w, r)
		return
	}
	if st, err := fs.Stat(h.fsys, name); err == nil && !st.IsDir() {
		if strings.HasPrefix(name, "assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		if h.precompressed(w, r, name) {
			return
		}
		h.files.ServeHTTP(w, r)
		return
	}
	if path.Ext(name) != "" {
		http.NotFound(w, r)
		return
	}
	h.index(w, r)
}

// index serves index.html itself: http.FileServer and http.ServeFileFS
// would redirect a request for /index.html to /.
func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	data, err := fs.ReadFile(h.fsys, "index.html")
	if err != nil {
		http.Error(w, "the web app has no index.html", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(data))
}

// encodings are the precompressed copies the build makes, in the order of
// preference: brotli is smaller, gzip is understood everywhere.
var encodings = []struct{ name, ext string }{{"br", ".br"}, {"gzip", ".gz"}}

// precompressed serves name's precompressed copy, if it has one the
// client accepts, and reports whether it did. A file that has a copy
// varies by Accept-Encoding whichever form is sent.
func (h *handler) precompressed(w http.ResponseWriter, r *http.Request, name string) bool {
	accepted := acceptEncodings(r.Header.Get("Accept-Encoding"))
	varies := false
	for _, e := range encodings {
		st, err := fs.Stat(h.fsys, name+e.ext)
		if err != nil || st.IsDir() {
			continue
		}
		if !varies {
			w.Header().Add("Vary", "Accept-Encoding")
			varies = true
		}
		if !accepted(e.name) {
			continue
		}
		f, err := h.fsys.Open(name + e.ext)
		if err != nil {
			continue
		}
		defer f.Close()
		rs, ok := f.(io.ReadSeeker)
		if !ok {
			continue
		}
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Encoding", e.name)
		http.ServeContent(w, r, name, st.ModTime(), rs)
		return true
	}
	return false
}

// acceptEncodings parses an Accept-Encoding header (RFC 9110, 12.5.3)
// into a test of whether a coding is acceptable: named, or covered by
// "*", with a q-value above 0.
func acceptEncodings(header string) func(coding string) bool {
	q := map[string]float64{}
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding == "" {
			continue
		}
		v := 1.0
		for _, p := range strings.Split(params, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					v = f
				} else {
					v = 0
				}
			}
		}
		q[coding] = v
	}
	return func(coding string) bool {
		if v, ok := q[coding]; ok {
			return v > 0
		}
		v, ok := q["*"]
		return ok && v > 0
	}
}
