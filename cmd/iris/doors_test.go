package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/api"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/testdata"
)

// The hostile suite of issue 11's doors: each test attacks a running
// `iris serve` on loopback.

// request sends one request with extra headers and returns the status,
// the body and the headers.
func request(t *testing.T, method, url string, body string, h map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestServeRefusesRebindingAndCrossSite: a Host the server does not answer
// to is refused (DNS rebinding), and so is a cross-site request a browser
// sends without a preflight; every answer carries the security headers
// (issue 11, items 1 and 6).
func TestServeRefusesRebindingAndCrossSite(t *testing.T) {
	s := startInProcess(t, t.TempDir()+"/data", "--host", "iris.example.org")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.base, "http://"))
	for _, tc := range []struct {
		name, method, path, body string
		h                        map[string]string
		code                     int
	}{
		{"rebound name", "GET", "/api/jobs", "", map[string]string{"Host": "evil.example:" + port}, 421},
		{"rebound name, no port", "GET", "/api/health", "", map[string]string{"Host": "evil.example"}, 421},
		{"rebound name, download", "GET", "/blobs/results/x/scene.glb", "", map[string]string{"Host": "evil.example"}, 421},
		{"rebound name, page", "GET", "/", "", map[string]string{"Host": "attacker.localhost.evil.example"}, 421},
		{"localhost", "GET", "/api/jobs", "", map[string]string{"Host": "localhost:" + port}, 200},
		{"ip", "GET", "/api/jobs", "", map[string]string{"Host": "127.0.0.1:" + port}, 200},
		{"configured name", "GET", "/api/jobs", "", map[string]string{"Host": "IRIS.example.org:" + port}, 200},
		{"text/plain POST", "POST", "/api/jobs", `{"filename":"ct.nii.gz","bytes":10}`, map[string]string{"Content-Type": "text/plain"}, 415},
		{"form POST", "POST", "/api/jobs", `filename=ct.nii.gz`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"cross-site JSON POST", "POST", "/api/jobs", `{"filename":"ct.nii.gz","bytes":10}`,
			map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign Origin POST", "POST", "/api/jobs", `{"filename":"ct.nii.gz","bytes":10}`,
			map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, 403},
		{"cross-site DELETE", "DELETE", "/api/jobs/0123456789abcdefghijklmnop", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-site read", "GET", "/api/jobs", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site (other port) read", "GET", "/api/jobs", "", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"same-origin POST", "POST", "/api/jobs", `{"filename":"ct.nii.gz","bytes":10}`,
			map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin", "Origin": s.base}, 201},
	} {
		code, body, h := request(t, tc.method, s.base+tc.path, tc.body, tc.h)
		if code != tc.code {
			t.Errorf("%s: %s %s = %d %s, want %d", tc.name, tc.method, tc.path, code, body, tc.code)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", tc.name, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: frame/sniff headers %v", tc.name, h)
		}
	}
	if n := len(s.client(t).list(api.MaxListLimit)); n != 1 {
		t.Errorf("%d jobs exist; only the same-origin POST may have made one", n)
	}
}

// TestServeRefusesWeakTokens: --token must be at least 16 characters,
// blank or padded ones included (issue 11, item 6).
func TestServeRefusesWeakTokens(t *testing.T) {
	for _, args := range [][]string{
		{"--public", "--addr", "0.0.0.0:0", "--token", " "},
		{"--public", "--addr", "0.0.0.0:0", "--token", "                "},
		{"--public", "--addr", "0.0.0.0:0", "--token", "short-token"},
		{"--addr", "127.0.0.1:0", "--token", "abc"},
		{"--public", "--addr", "0.0.0.0:0", "--token", " 0123456789abcdef "},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var out, errOut strings.Builder
		err := run(ctx, append([]string{"serve", "--data", t.TempDir()}, args...), &out, &errOut)
		cancel()
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--token") {
			t.Errorf("serve %q: %v; want a usage error about --token", args, err)
		}
		if strings.Contains(out.String(), "running at") {
			t.Errorf("serve %q started", args)
		}
	}
}

// TestServeClosesIdleConnections: a keep-alive connection that sends
// nothing is closed after --idle-timeout, and a request whose headers
// trickle is cut (issue 11, item 5).
func TestServeClosesIdleConnections(t *testing.T) {
	s := startInProcess(t, t.TempDir()+"/data", "--idle-timeout", "500ms")
	addr := strings.TrimPrefix(s.base, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/health HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(fmt.Sprint(err), "reset") {
		t.Fatalf("the idle connection was not closed by the server in 10 s: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the idle connection lived %v; the idle timeout is 500ms", took)
	}
}

// TestServeUploadLinks: a signed upload link survives a restart, can be
// renewed, is good for one upload, and is dead once its job is deleted; a
// partial upload goes with DELETE (issue 11, items 2, 3, 4).
func TestServeUploadLinks(t *testing.T) {
	bin := irisBinary(t)
	data := t.TempDir() + "/data"
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	p := startProc(t, bin, data)
	c := p.client()
	a := c.create("a.nii.gz", len(ct))
	b := c.create("b.nii.gz", len(ct))
	gone := c.create("gone.nii.gz", len(ct))
	if fi, err := os.Stat(filepath.Join(data, "signing.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing.key: %v %v; want a file of mode 0600", fi, err)
	}
	p.kill9()

	p = startProc(t, bin, data)
	c = p.client()
	// The link made before the restart still works.
	c.put(a.Upload, ct)
	// A second PUT to the same link, and one to a renewed link, are refused.
	if code, body := c.do("PUT", a.Upload.URL, "application/octet-stream", ct); code != http.StatusConflict {
		t.Errorf("second PUT = %d %s, want 409", code, body)
	}
	renewBody, _ := json.Marshal(map[string]any{"bytes": len(ct)})
	code, raw := c.do("POST", "/api/jobs/"+b.Job.ID+"/upload", "application/json", renewBody)
	var renewed struct{ Upload ports.Upload }
	if code != http.StatusOK || json.Unmarshal(raw, &renewed) != nil || renewed.Upload.URL == "" {
		t.Fatalf("renew = %d %s", code, raw)
	}
	c.put(renewed.Upload, ct)
	if code, _ := c.do("PUT", b.Upload.URL, "application/octet-stream", ct); code != http.StatusConflict {
		t.Errorf("PUT to the old link after the renewed one = %d, want 409", code)
	}
	// DELETE, then PUT: the job stays gone.
	if code, _ := c.do("DELETE", "/api/jobs/"+gone.Job.ID, "", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d", code)
	}
	if code, body := c.do("PUT", gone.Upload.URL, "application/octet-stream", ct); code < 400 {
		t.Errorf("PUT after DELETE = %d %s, want refused", code, body)
	}

	// A partial upload is taken by DELETE.
	part := c.create("part.nii.gz", len(ct))
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("PUT", p.base+part.Upload.URL, pr)
		req.ContentLength = int64(len(ct))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				err = errors.New("the upload of a deleted job was stored")
			}
		}
		done <- err
	}()
	pw.Write(ct[:len(ct)/2])
	dir := filepath.Join(data, "bucket", "uploads", part.Job.ID)
	if !waitFor(10*time.Second, func() bool { ents, _ := os.ReadDir(dir); return len(ents) > 0 }) {
		t.Fatal("the partial upload never reached the disk")
	}
	if code, _ := c.do("DELETE", "/api/jobs/"+part.Job.ID, "", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE during upload = %d", code)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("the partial upload is still on disk after DELETE")
	}
	pw.Write(ct[len(ct)/2:])
	pw.Close()
	if err := <-done; err != nil && !strings.Contains(err.Error(), "connection") {
		t.Error(err)
	}

	for _, id := range []string{a.Job.ID, b.Job.ID} {
		checkDone(t, c, data, c.wait(id, jobTimeout), "nifti", [3]int{122, 101, 30})
	}
	for _, id := range []string{gone.Job.ID, part.Job.ID} {
		if _, code := c.get(id); code != http.StatusNotFound {
			t.Errorf("deleted job %s answers %d, want 404", id, code)
		}
		checkNothingLeft(t, data, id)
	}
}

// checkNothingLeft checks that no folder of the job is left in the bucket.
func checkNothingLeft(t *testing.T, data, id string) {
	t.Helper()
	for _, p := range []string{events.PrefixUploads, events.PrefixVolumes, events.PrefixSegmentations, events.PrefixSegmentationFailures, events.PrefixResults} {
		if _, err := os.Stat(filepath.Join(data, "bucket", filepath.FromSlash(p), id)); err == nil {
			t.Errorf("job %s: %s%s/ is still on disk", id, p, id)
		}
	}
}

// TestServeSweepsAfterKill9MidUpload: a PUT cut by kill -9 leaves a
// partial file and the spool leaves files in tmp/; the restart removes
// both, and the job's link works again (issue 11, item 4).
func TestServeSweepsAfterKill9MidUpload(t *testing.T) {
	bin := irisBinary(t)
	data := t.TempDir() + "/data"
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	p := startProc(t, bin, data)
	c := p.client()
	cr := c.create("ct.nii.gz", len(ct))
	pr, pw := io.Pipe()
	go func() {
		req, _ := http.NewRequest("PUT", p.base+cr.Upload.URL, pr)
		req.ContentLength = int64(len(ct))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	pw.Write(ct[:len(ct)/2])
	dir := filepath.Join(data, "bucket", "uploads", cr.Job.ID)
	if !waitFor(10*time.Second, func() bool { ents, _ := os.ReadDir(dir); return len(ents) > 0 }) {
		t.Fatal("the partial upload never reached the disk")
	}
	p.kill9()
	pw.CloseWithError(errors.New("killed"))
	os.WriteFile(filepath.Join(data, "tmp", "ingest-spool-123.zip"), make([]byte, 1<<20), 0o644)

	p = startProc(t, bin, data)
	c = p.client()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("after the restart, uploads/%s/ still holds %d entries (the partial upload)", cr.Job.ID, len(ents))
	}
	if _, err := os.Stat(filepath.Join(data, "tmp", "ingest-spool-123.zip")); err == nil {
		t.Error("after the restart, the spooled file is still in tmp/")
	}
	// The claim of the cut PUT was released: the link works once more.
	c.put(cr.Upload, ct)
	checkDone(t, c, data, c.wait(cr.Job.ID, jobTimeout), "nifti", [3]int{122, 101, 30})
	if code, _ := c.do("DELETE", "/api/jobs/"+cr.Job.ID, "", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d", code)
	}
	checkNothingLeft(t, data, cr.Job.ID)
}
