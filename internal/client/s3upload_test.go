package client

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/aws/awstest"
	"github.com/iris-oculus/iris/internal/testdata"
)

// TestUploadS3PresignedPutOnce: Upload sends the signed headers of an S3
// presigned PUT (If-None-Match: * among them), so the upload lands once
// and a second Upload with the same URL is refused with 412, the object
// unchanged. The URL is made by the API Lambda's signer, the bucket is
// gofakes3, which honours If-None-Match.
func TestUploadS3PresignedPutOnce(t *testing.T) {
	ctx := context.Background()
	srv := awstest.StartS3(t, "iris-client-test", false)
	signer := iaws.NewS3Signer(s3.NewPresignClient(srv.Client), iaws.S3SignerConfig{Bucket: srv.Bucket})
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	key := "uploads/j1/ct_3mm.nii.gz"
	up, err := signer.SignUpload(ctx, key, int64(len(ct)), time.Now().Add(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if up.Headers["If-None-Match"] != "*" {
		t.Fatalf("the signed upload's headers %v lack If-None-Match: *", up.Headers)
	}
	c, err := New(srv.Server.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Upload(ctx, up, bytes.NewReader(ct), int64(len(ct)), nil); err != nil {
		t.Fatalf("first upload: %v", err)
	}
	other := bytes.Clone(ct)
	other[len(other)/2] ^= 0xff
	err = c.Upload(ctx, up, bytes.NewReader(other), int64(len(other)), nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != http.StatusPreconditionFailed || ce.Code != "PreconditionFailed" {
		t.Fatalf("second upload with the URL: %v, want a 412", err)
	}
	t.Logf("second upload: %v", err)
	info, err := iaws.NewS3Blobs(srv.Client, srv.Bucket).Head(ctx, key)
	if err != nil || info.Size != int64(len(ct)) {
		t.Fatalf("object %+v, %v", info, err)
	}
	rc, _, err := iaws.NewS3Blobs(srv.Client, srv.Bucket).Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got bytes.Buffer
	got.ReadFrom(rc)
	if !bytes.Equal(got.Bytes(), ct) {
		t.Error("the stored object is not the first upload")
	}
}
