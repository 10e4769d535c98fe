package local

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestURLSignerUploadAndDownload(t *testing.T) {
	ctx := context.Background()
	blobs, err := NewDirBlobs(t.TempDir(), "bucket", nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := NewURLSigner("", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	signer.now = func() time.Time { return now }
	srv := httptest.NewServer(http.StripPrefix("", signer.Handler(blobs)))
	defer srv.Close()

	do := func(method, url, body string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+url, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}

	up, err := signer.SignUpload(ctx, "uploads/job123/ct.nii.gz", 5, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer.SignUpload(ctx, "results/job123/x", 5, now.Add(time.Minute)); err == nil {
		t.Error("signed an upload outside uploads/")
	}
	tests := []struct {
		name, method, url, body string
		code                    int
	}{
		{"too short", "PUT", up.URL, "abc", 400},
		{"too long", "PUT", up.URL, "abcdefg", 400},
		{"tampered key", "PUT", strings.Replace(up.URL, "job123", "job124", 1), "hello", 403},
		{"tampered size", "PUT", strings.Replace(up.URL, "bytes=5", "bytes=6", 1), "hello!", 403},
		{"upload link used to read", "GET", up.URL, "", 403},
		{"ok", "PUT", up.URL, "hello", 200},
	}
	for _, tt := range tests {
		if code, body, _ := do(tt.method, tt.url, tt.body); code != tt.code {
			t.Errorf("%s: %d %s, want %d", tt.name, code, body, tt.code)
		}
	}
	if list, _ := blobs.List(ctx, "uploads/"); len(list) != 1 || list[0].Size != 5 {
		t.Fatalf("objects after uploads: %+v (failed uploads must leave nothing)", list)
	}
	get, err := signer.SignDownload(ctx, "uploads/job123/ct.nii.gz", "scan.nii.gz", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	code, body, h := do("GET", get, "")
	if code != 200 || body != "hello" || !strings.Contains(h.Get("Content-Disposition"), `filename=scan.nii.gz`) {
		t.Errorf("download = %d %q %v", code, body, h)
	}
	now = now.Add(2 * time.Minute)
	if code, _, _ := do("GET", get, ""); code != 403 {
		t.Errorf("expired download = %d, want 403", code)
	}
}
