package local

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
)

// TestUploadURLTakesIfNoneMatch: a client that sends the If-None-Match: *
// an S3 upload URL signs (the web app and iris submit send whatever
// headers the upload names) uploads to iris serve as well; a second
// PUT with it is refused with 412, as S3 refuses it, and the first upload
// stays. Without the header a second PUT stays 409.
func TestUploadURLTakesIfNoneMatch(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	blobs := busBlobs(t, db, t.TempDir())
	signer, err := NewURLSigner("", []byte("secret-secret-secret-secret-1234"))
	if err != nil {
		t.Fatal(err)
	}
	srv := uploadServer(t, signer, blobs)
	up, err := signer.SignUpload(ctx, events.UploadKey("jobinmatch", "ct.nii.gz"), 5, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	put := func(body string, cond bool) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+up.URL, strings.NewReader(body))
		for k, v := range up.Headers {
			req.Header.Set(k, v)
		}
		if cond {
			req.Header.Set("If-None-Match", "*")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := put("hello", true); code != http.StatusOK {
		t.Fatalf("first PUT with If-None-Match: * = %d %s, want 200", code, body)
	}
	if code, body := put("HELLO", true); code != http.StatusPreconditionFailed || !strings.Contains(body, "good for one upload") {
		t.Errorf("second PUT with If-None-Match: * = %d %s, want 412", code, body)
	}
	if code, body := put("HELLO", false); code != http.StatusConflict {
		t.Errorf("second PUT without it = %d %s, want 409", code, body)
	}
	rc, _, err := blobs.Get(ctx, events.UploadKey("jobinmatch", "ct.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "hello" {
		t.Errorf("the upload is %q, want the first, %q", got, "hello")
	}
}
