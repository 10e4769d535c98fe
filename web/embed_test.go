package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func TestNewHandler(t *testing.T) {
	app := fstest.MapFS{
		"index.html":            {Data: []byte("<!doctype html><title>app</title>")},
		"favicon.svg":           {Data: []byte("<svg/>")},
		"assets/index-3f2a.js":  {Data: []byte("console.log(1)")},
		"assets/index-9c1d.css": {Data: []byte("body{}")},
	}
	h := NewHandler(app)
	tests := []struct {
		method, path string
		code         int
		body         string // substring
		cache        string
		ctype        string // prefix
	}{
		{"GET", "/", 200, "<title>app</title>", "no-cache", "text/html"},
		{"GET", "/index.html", 200, "<title>app</title>", "no-cache", "text/html"},
		{"GET", "/jobs/01abc", 200, "<title>app</title>", "no-cache", "text/html"},
		{"GET", "/jobs/01abc/", 200, "<title>app</title>", "no-cache", "text/html"},
		{"HEAD", "/jobs/x", 200, "", "no-cache", "text/html"},
		{"GET", "/assets/index-3f2a.js", 200, "console.log(1)", "public, max-age=31536000, immutable", "text/javascript"},
		{"GET", "/assets/index-9c1d.css", 200, "body{}", "public, max-age=31536000, immutable", "text/css"},
		{"GET", "/favicon.svg", 200, "<svg/>", "no-cache", "image/svg+xml"},
		{"GET", "/assets/index-old.js", 404, "not found", "", "text/plain"},
		{"GET", "/assets", 200, "<title>app</title>", "no-cache", "text/html"},
		{"GET", "/../../etc/passwd", 200, "<title>app</title>", "no-cache", "text/html"}, // cleaned to /etc/passwd: a route, not a file
		{"GET", "/../embed.go", 404, "not found", "", "text/plain"},
		{"GET", "/api/nope", 404, `"code":"not_found"`, "", "application/json"},
		{"POST", "/api/jobs", 404, `"code":"not_found"`, "", "application/json"},
		{"POST", "/", 405, "method not allowed", "", "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.code {
				t.Fatalf("status %d, want %d (body %q)", res.StatusCode, tt.code, body)
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body %q does not contain %q", body, tt.body)
			}
			if got := res.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
			if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, tt.ctype) {
				t.Errorf("Content-Type %q, want %s…", got, tt.ctype)
			}
		})
	}
}

// TestHandler checks the embedded files: the placeholder page in a plain
// build, the built app (an index.html that loads hashed assets) with
// -tags webdist.
func TestHandler(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jobs/x", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /jobs/x: status %d", rec.Code)
	}
	if Built() {
		m := regexp.MustCompile(`src="(/assets/[^"]+\.js)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("built app's index.html loads no /assets/ script:\n%s", body)
		}
		rec := httptest.NewRecorder()
		Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, m[1], nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: status %d, Cache-Control %q", m[1], rec.Code, rec.Header().Get("Cache-Control"))
		}
	} else if !strings.Contains(body, "not built") {
		t.Errorf("placeholder page does not say the app is not built:\n%s", body)
	}
}

// TestPrecompressed: a file with .br and .gz copies beside it is sent as
// the copy the client's Accept-Encoding prefers, with Content-Encoding,
// the original's Content-Type and Vary: Accept-Encoding; without a copy
// the client takes, as it is.
func TestPrecompressed(t *testing.T) {
	js := []byte(strings.Repeat("console.log('organs');\n", 200))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(js); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	br := []byte("brotli bytes of app.js") // served as stored; never decoded here
	app := fstest.MapFS{
		"index.html":         {Data: []byte("<!doctype html><title>app</title>")},
		"assets/app.js":      {Data: js},
		"assets/app.js.gz":   {Data: gz.Bytes()},
		"assets/app.js.br":   {Data: br},
		"assets/only-gz.css": {Data: []byte("body{}")},
		"assets/only-gz.css.gz": {Data: func() []byte {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			_, _ = w.Write([]byte("body{}"))
			_ = w.Close()
			return b.Bytes()
		}()},
		"favicon.svg": {Data: []byte("<svg/>")},
	}
	h := NewHandler(app)
	tests := []struct {
		method, path, accept string
		encoding             string // "" for none
		body                 []byte // as decoded by the client
		vary                 bool
		ctype                string
	}{
		{"GET", "/assets/app.js", "gzip, deflate, br, zstd", "br", br, true, "text/javascript"},
		{"GET", "/assets/app.js", "gzip, deflate", "gzip", js, true, "text/javascript"},
		{"GET", "/assets/app.js", "br;q=0, gzip;q=0.5", "gzip", js, true, "text/javascript"},
		{"GET", "/assets/app.js", "BR;Q=1.0", "br", br, true, "text/javascript"},
		{"GET", "/assets/app.js", "*", "br", br, true, "text/javascript"},
		{"GET", "/assets/app.js", "*;q=0, identity", "", js, true, "text/javascript"},
		{"GET", "/assets/app.js", "", "", js, true, "text/javascript"},
		{"GET", "/assets/app.js", "deflate", "", js, true, "text/javascript"},
		{"GET", "/assets/app.js", "gzip;q=bogus", "", js, true, "text/javascript"},
		{"HEAD", "/assets/app.js", "br", "br", nil, true, "text/javascript"},
		{"GET", "/assets/only-gz.css", "br, gzip", "gzip", []byte("body{}"), true, "text/css"},
		{"GET", "/assets/only-gz.css", "br", "", []byte("body{}"), true, "text/css"},
		{"GET", "/favicon.svg", "br, gzip", "", []byte("<svg/>"), false, "image/svg+xml"},
		{"GET", "/assets/app.js.gz", "", "", gz.Bytes(), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.accept, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.accept != "" {
				req.Header.Set("Accept-Encoding", tt.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			raw, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := res.Header.Get("Content-Encoding"); got != tt.encoding {
				t.Errorf("Content-Encoding %q, want %q", got, tt.encoding)
			}
			if got := res.Header.Get("Vary") == "Accept-Encoding"; got != tt.vary {
				t.Errorf("Vary %q, want Accept-Encoding: %v", res.Header.Get("Vary"), tt.vary)
			}
			if tt.ctype != "" && !strings.HasPrefix(res.Header.Get("Content-Type"), tt.ctype) {
				t.Errorf("Content-Type %q, want %s…", res.Header.Get("Content-Type"), tt.ctype)
			}
			body := raw
			if tt.encoding == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if tt.method == "HEAD" {
				if len(raw) != 0 {
					t.Errorf("HEAD: %d bytes of body", len(raw))
				}
				return
			}
			if !bytes.Equal(body, tt.body) {
				t.Errorf("body %d bytes %q…, want %d bytes", len(body), body[:min(len(body), 20)], len(tt.body))
			}
		})
	}
}
