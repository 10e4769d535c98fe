package local

import (
	"context"
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
		h := http.Header{}
		for k, v := range up.Headers {
			h.Set(k, v)
		}
		if cond {
			h.Set("If-None-Match", "*")
		}
		return sendWith(t, http.MethodPut, srv.URL+up.URL, strings.NewReader(body), h)
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
	if got := storedUpload(t, blobs, "jobinmatch"); got != "hello" {
		t.Errorf("the upload is %q, want the first, %q", got, "hello")
	}
}
