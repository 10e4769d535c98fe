package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/api"
	"github.com/iris-oculus/iris/internal/ports"
)

func TestSafeName(t *testing.T) {
	for name, ok := range map[string]bool{
		"scene.glb": true, "stl/liver.stl": true, "labels.nii.gz": true,
		"": false, "../x": false, "/etc/passwd": false, "a/../../b": false, "stl//x.stl": false,
		".hidden": false, "stl/.x": false, `..\x`: false, "./scene.glb": false, "a/": false,
	} {
		_, err := SafeName(name)
		if (err == nil) != ok {
			t.Errorf("SafeName(%q): %v; want ok %v", name, err, ok)
		}
	}
}

func TestNewRefusesTokenOverPlainHTTP(t *testing.T) {
	for base, ok := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://localhost:1": true, "https://api.example.com/prod": true,
		"http://api.example.com": false, "ftp://x": false, "127.0.0.1:8080": false,
	} {
		_, err := New(base, "tok")
		if (err == nil) != ok {
			t.Errorf("New(%q): %v; want ok %v", base, err, ok)
		}
	}
}

// TestTokenGoesToTheAPIOnly: the bearer token is on API calls and never on
// the signed upload (PUT, and S3's presigned POST form) or download URLs,
// which are another service's on AWS; the POST form has its fields, the
// file last, and a Content-Length, which S3 requires.
func TestTokenGoesToTheAPIOnly(t *testing.T) {
	data := bytes.Repeat([]byte("scan"), 5000)
	var apiAuth, blobAuth atomic.Value
	apiAuth.Store("")
	blobAuth.Store("")
	var got atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/jobs", func(w http.ResponseWriter, r *http.Request) {
		apiAuth.Store(r.Header.Get("Authorization"))
		var req api.CreateJobRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Bytes != int64(len(data)) || req.Filename != "ct.nii.gz" {
			http.Error(w, "bad request", 400)
			return
		}
		method := r.URL.Query().Get("method")
		up := ports.Upload{Method: method, URL: "/blob/upload?sig=1", Headers: map[string]string{"X-Extra": "1"}}
		if method == http.MethodPost {
			up.Fields = map[string]string{"key": "uploads/j/ct.nii.gz", "policy": "p0l1cy"}
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(api.CreateJobResponse{Job: api.JobView{ID: "j1"}, Upload: up})
	})
	mux.HandleFunc("/blob/upload", func(w http.ResponseWriter, r *http.Request) {
		blobAuth.Store(r.Header.Get("Authorization"))
		if r.ContentLength <= 0 || r.Header.Get("X-Extra") != "1" {
			http.Error(w, "no length or header", 411)
			return
		}
		switch r.Method {
		case http.MethodPut:
			b, _ := io.ReadAll(r.Body)
			got.Store(b)
		case http.MethodPost:
			if err := r.ParseMultipartForm(1 << 20); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			if r.FormValue("key") != "uploads/j/ct.nii.gz" || r.FormValue("policy") != "p0l1cy" {
				http.Error(w, "fields missing", 400)
				return
			}
			f, _, err := r.FormFile("file")
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			b, _ := io.ReadAll(f)
			got.Store(b)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, method := range []string{http.MethodPut, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			got.Store([]byte(nil))
			c, err := New(srv.URL, "tok")
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			p := filepath.Join(dir, "ct.nii.gz")
			os.WriteFile(p, data, 0o644)
			// The test server picks the upload kind from the query.
			cr, err := c.createWith(context.Background(), "ct.nii.gz", int64(len(data)), method)
			if err != nil {
				t.Fatal(err)
			}
			f, _ := os.Open(p)
			defer f.Close()
			var last int64
			if err := c.Upload(context.Background(), cr.Upload, f, int64(len(data)), func(done, total int64) { last = done }); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Load().([]byte), data) || last != int64(len(data)) {
				t.Errorf("the storage got %d bytes, progress ended at %d; want %d", len(got.Load().([]byte)), last, len(data))
			}
			if apiAuth.Load() != "Bearer tok" || blobAuth.Load() != "" {
				t.Errorf("Authorization: API %q, signed URL %q; want the token on the API only", apiAuth.Load(), blobAuth.Load())
			}
		})
	}
}

// createWith is Create with the test server's choice of upload kind.
func (c *Client) createWith(ctx context.Context, name string, size int64, method string) (api.CreateJobResponse, error) {
	var cr api.CreateJobResponse
	err := c.call(ctx, http.MethodPost, "/api/jobs?method="+method, api.CreateJobRequest{Filename: name, Bytes: size}, &cr)
	return cr, err
}

func TestDownloadChecks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "0123456789")
	}))
	defer srv.Close()
	c, _ := New(srv.URL, "")
	dir := t.TempDir()
	if p, err := c.Download(context.Background(), api.ArtifactView{Name: "stl/liver.stl", URL: "/x", Bytes: 10}, dir, nil); err != nil || p != filepath.Join(dir, "stl", "liver.stl") {
		t.Errorf("Download: %q, %v", p, err)
	}
	if _, err := c.Download(context.Background(), api.ArtifactView{Name: "../evil", URL: "/x"}, dir, nil); err == nil {
		t.Error("a name leaving the folder was downloaded")
	}
	if _, err := c.Download(context.Background(), api.ArtifactView{Name: "short.glb", URL: "/x", Bytes: 11}, dir, nil); err == nil || !strings.Contains(err.Error(), "10 bytes") {
		t.Errorf("a short download: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "short.glb")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a short download left its file")
	}
}

func TestAPIErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"unauthorized","message":"sign in to use the API"}}`)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html>proxy trouble</html>")
	}))
	defer srv.Close()
	c, _ := New(srv.URL, "")
	_, err := c.Jobs(context.Background(), 5, "")
	var ae *Error
	if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &ae) || ae.Code != "unauthorized" {
		t.Errorf("401: %v", err)
	}
	c, _ = New(srv.URL, "tok")
	_, err = c.Job(context.Background(), "j1")
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || !strings.Contains(ae.Message, "proxy trouble") {
		t.Errorf("502: %v", err)
	}
	if _, err := c.Job(context.Background(), "../x"); err == nil {
		t.Error("an id with a slash was sent")
	}
}

// TestDeviceLogin runs the device-code flow against a loopback provider
// that speaks RFC 8628's wire protocol (discovery, device authorization,
// then "authorization_pending" until the person has signed in), and checks
// the refusal of a provider without the flow.
func TestDeviceLogin(t *testing.T) {
	var polls atomic.Int32
	mux := http.NewServeMux()
	var base string
	mux.HandleFunc("GET /with/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": base + "/with", "token_endpoint": base + "/token",
			"device_authorization_endpoint": base + "/device"})
	})
	mux.HandleFunc("GET /without/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": base + "/without", "token_endpoint": base + "/token"})
	})
	mux.HandleFunc("POST /device", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.Form.Get("client_id") != "cli" || !strings.Contains(r.Form.Get("scope"), "openid") {
			http.Error(w, "bad client", 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"device_code": "dc", "user_code": "ABCD-EFGH",
			"verification_uri": base + "/activate", "expires_in": 60, "interval": 1})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.Form.Get("device_code") != "dc" || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		if polls.Add(1) < 2 {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"authorization_pending"}`)
			return
		}
		io.WriteString(w, `{"access_token":"at","token_type":"Bearer","id_token":"idt","expires_in":300}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base = srv.URL
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var told string
	tok, err := DeviceLogin(ctx, base+"/with", "cli", func(uri, code, _ string) { told = uri + " " + code })
	if err != nil || tok != "idt" || told != base+"/activate ABCD-EFGH" || polls.Load() != 2 {
		t.Errorf("DeviceLogin: %q, %v; told %q; %d polls", tok, err, told, polls.Load())
	}
	if _, err := DeviceLogin(ctx, base+"/without", "cli", func(string, string, string) { t.Error("told to sign in") }); !errors.Is(err, ErrNoDeviceFlow) {
		t.Errorf("a provider without the flow: %v", err)
	}
}
