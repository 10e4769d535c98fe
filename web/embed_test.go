package web

import (
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
