package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
)

// brokenStore is a job.Store whose every call fails as a database that
// went away would, with a message that names a file.
type brokenStore struct{ job.Memory }

var errDiskGone = errors.New("open /var/lib/iris-secret/iris.db: input/output error")

func (*brokenStore) List(context.Context, string, int, string) ([]job.Job, string, error) {
	return nil, "", fmt.Errorf("list jobs: %w", errDiskGone)
}
func (*brokenStore) Get(context.Context, string) (job.Job, error) {
	return job.Job{}, fmt.Errorf("get: %w", errDiskGone)
}
func (*brokenStore) Create(context.Context, job.Job) (bool, error) {
	return false, fmt.Errorf("create: %w", errDiskGone)
}

// badCursorStore refuses every cursor as the stores do.
type badCursorStore struct{ job.Memory }

func (*badCursorStore) List(_ context.Context, _ string, _ int, c string) ([]job.Job, string, error) {
	return nil, "", fmt.Errorf("list jobs: %w: %q is not one this store returned", job.ErrBadCursor, c)
}

// TestStoreFailuresAre503 checks that an outage of the store is a 503
// with Retry-After that names nothing internal, and that only a bad
// cursor is the client's 400.
func TestStoreFailuresAre503(t *testing.T) {
	serve := func(st ports.Store) *httptest.Server {
		s := &Server{Store: st, Blobs: &memBlobs{}, Signer: testSigner{}, Owner: FixedOwner("alice"),
			Health: func(context.Context) map[string]error { return map[string]error{"store": errDiskGone} }}
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		return srv
	}
	broken, badCursor := serve(&brokenStore{}), serve(&badCursorStore{})
	for _, tc := range []struct {
		srv          *httptest.Server
		method, path string
		body         string
		code         int
		errCode      string
	}{
		{broken, "GET", "/api/jobs", "", 503, "unavailable"},
		{broken, "GET", "/api/jobs?cursor=abc", "", 503, "unavailable"},
		{broken, "GET", "/api/jobs/0123456789abcdefghijklmnop", "", 503, "unavailable"},
		{broken, "DELETE", "/api/jobs/0123456789abcdefghijklmnop", "", 503, "unavailable"},
		{broken, "POST", "/api/jobs", `{"filename":"ct.nii.gz","bytes":10}`, 503, "unavailable"},
		{badCursor, "GET", "/api/jobs?cursor=forged", "", 400, "bad_request"},
		{broken, "GET", "/api/health", "", 503, ""},
	} {
		req, _ := http.NewRequest(tc.method, tc.srv.URL+tc.path, strings.NewReader(tc.body))
		if tc.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(raw)
		if resp.StatusCode != tc.code || tc.errCode != "" && !strings.Contains(body, `"code":"`+tc.errCode+`"`) {
			t.Errorf("%s %s = %d %s; want %d %s", tc.method, tc.path, resp.StatusCode, body, tc.code, tc.errCode)
		}
		if tc.code == 503 && tc.errCode != "" && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", tc.method, tc.path)
		}
		for _, leak := range []string{"/var/lib", "iris.db", "input/output", "list jobs", "forged"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s %s: the answer shows internal text %q: %s", tc.method, tc.path, leak, body)
			}
		}
	}
}

// TestRenewUpload checks the route that signs a new upload URL: only for
// the owner's job that still waits for its file.
func TestRenewUpload(t *testing.T) {
	f := newFixture(t)
	_, created := f.do(t, "alice", "POST", "/api/jobs", `{"filename":"ct.nii.gz","bytes":100}`)
	id := created["job"].(map[string]any)["id"].(string)
	code, body := f.do(t, "alice", "POST", "/api/jobs/"+id+"/upload", `{"bytes":100}`)
	up, _ := body["upload"].(map[string]any)
	if code != 200 || up == nil || !strings.Contains(up["url"].(string), "uploads/"+id+"/ct.nii.gz") {
		t.Fatalf("renew = %d %v", code, body)
	}
	for _, tc := range []struct {
		owner, body string
		code        int
		errCode     string
	}{
		{"mallory", `{"bytes":100}`, 404, "not_found"},
		{"", `{"bytes":100}`, 401, "unauthorized"},
		{"alice", `{"bytes":0}`, 400, "bad_request"},
		{"alice", `{"bytes":1,"key":"uploads/x"}`, 400, "bad_request"},
		{"alice", `{"bytes":2147483648}`, 413, "too_large"},
	} {
		if code, b := f.do(t, tc.owner, "POST", "/api/jobs/"+id+"/upload", tc.body); code != tc.code || errCode(b) != tc.errCode {
			t.Errorf("renew as %q with %s = %d %v; want %d %s", tc.owner, tc.body, code, b, tc.code, tc.errCode)
		}
	}
	f.store.Advance(context.Background(), id, job.Update{Status: job.Accepted, At: f.now.Add(time.Second)})
	if code, b := f.do(t, "alice", "POST", "/api/jobs/"+id+"/upload", `{"bytes":100}`); code != 409 || errCode(b) != "conflict" {
		t.Errorf("renew after the file came = %d %v; want 409 conflict", code, b)
	}
}

// TestCreateNeedsJSON: a POST a browser would send cross-site without a
// preflight (text/plain, a form) creates nothing (issue 11, item 1).
func TestCreateNeedsJSON(t *testing.T) {
	f := newFixture(t)
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/jobs", strings.NewReader(`{"filename":"ct.nii.gz","bytes":10}`))
		req.Header.Set("X-Test-Owner", "alice")
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("POST as %q = %d, want 415", ct, resp.StatusCode)
		}
	}
	if js, _, _ := f.store.List(context.Background(), "alice", 10, ""); len(js) != 0 {
		t.Errorf("%d jobs were created by non-JSON posts", len(js))
	}
}
