package cloudlocal_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iris-oculus/iris/cloudlocal"
	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/api"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
)

// uploadOnce is scenario 8 (issue 11, item 2): an upload URL is good for
// one upload. Its PUT carries the signed If-None-Match: *, so while the
// upload waits for ingest a second PUT with the URL gets 412 and the
// first upload is the one ingested; a PUT that drops the header gets 403
// (the signature covers it). Once ingest has deleted the upload the key
// is free and S3 takes a PUT again, but ingest does not read it: the
// job's volume, record and models stay as they were. A PUT after the job
// was deleted revives nothing.
func uploadOnce(t *testing.T, c *cloudlocal.Cloud, store *iaws.DynamoStore, issuer string, ct []byte) {
	ctx := context.Background()
	alice := signIn(t, issuer, "alice", "alice-pw")
	// Two valid CTs of one length (the URL signs the length): the scan
	// uncompressed, and the same with its last slices blanked.
	zr, err := gzip.NewReader(bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	first, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Clone(first)
	for i := len(other) - 20000; i < len(other); i++ {
		other[i] = 0
	}

	var cr struct {
		Job    api.JobView  `json:"job"`
		Upload ports.Upload `json:"upload"`
	}
	body, _ := json.Marshal(map[string]any{"filename": "once.nii", "bytes": len(first)})
	if code := call(t, c, alice, http.MethodPost, "/api/jobs", body, &cr); code != http.StatusCreated {
		t.Fatalf("POST /api/jobs: %d", code)
	}
	id, up := cr.Job.ID, cr.Upload
	if up.Headers["If-None-Match"] != "*" {
		t.Fatalf("the upload's headers %v lack If-None-Match: *", up.Headers)
	}
	put := func(data []byte, headers map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(data))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := s3Client(t, c).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	etag := func(key string) string {
		t.Helper()
		out, err := c.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.Bucket, Key: &key})
		if err != nil {
			t.Fatalf("head %s: %v", key, err)
		}
		return *out.ETag
	}

	// Ingest's reads of the upload are refused until the second PUT has
	// been answered: the upload waits in uploads/ (Lambda retries the
	// event after 2 s, then 4 s; the fault is lifted long before).
	prefix := events.PrefixUploads + id + "/"
	c.FailReads(prefix, -1)
	refused := c.RefusedReads()
	if code, msg := put(first, up.Headers); code != http.StatusOK {
		c.FailReads(prefix, 0)
		t.Fatalf("first PUT: %d %s", code, msg)
	}
	if !waitFor(time.Minute, func() bool { return c.RefusedReads() > refused }) {
		c.FailReads(prefix, 0)
		t.Fatal("ingest never tried to read the upload")
	}
	code, msg := put(other, up.Headers)
	dropped, dmsg := put(other, map[string]string{"Content-Type": up.Headers["Content-Type"]})
	c.FailReads(prefix, 0)
	if code != http.StatusPreconditionFailed || !strings.Contains(msg, "PreconditionFailed") {
		t.Errorf("second PUT while the first waits: %d %.200s, want 412 PreconditionFailed", code, msg)
	}
	if dropped != http.StatusForbidden || !strings.Contains(dmsg, "SignatureDoesNotMatch") {
		t.Errorf("PUT without If-None-Match: %d %.200s, want 403 SignatureDoesNotMatch", dropped, dmsg)
	}
	t.Logf("figure: second PUT with the URL while the upload waits: %d; without the signed If-None-Match: %d", code, dropped)

	j := wait(t, store, id)
	if j.Status != job.Done || j.Input == nil || j.Input.Bytes != int64(len(first)) {
		t.Fatalf("job %s: %s %+v input %+v", id, j.Status, j.Error, j.Input)
	}
	volume, manifest := etag(events.VolumeKey(id)), etag(events.ManifestKey(id))

	// After done: the key is free, S3 takes the PUT; ingest deletes it
	// unread.
	if code, msg := put(other, up.Headers); code != http.StatusOK {
		t.Errorf("PUT after done: %d %.200s (S3 takes it: the upload was deleted)", code, msg)
	}
	if !waitFor(jobTimeout, func() bool { return !exists(t, c, events.UploadKey(id, "once.nii")) }) {
		t.Fatal("the PUT after done was never handled")
	}
	settle(t, c)
	j2, err := store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j2.Status != job.Done || !j2.UpdatedAt.Equal(j.UpdatedAt) || len(j2.Organs) != len(j.Organs) {
		t.Errorf("after a PUT after done: %s updated %v (was %v), %d organs (was %d)", j2.Status, j2.UpdatedAt, j.UpdatedAt, len(j2.Organs), len(j.Organs))
	}
	if v, m := etag(events.VolumeKey(id)), etag(events.ManifestKey(id)); v != volume || m != manifest {
		t.Errorf("after a PUT after done: volume %s (was %s), manifest %s (was %s)", v, volume, m, manifest)
	}

	// After DELETE: nothing comes back.
	if code := call(t, c, alice, http.MethodDelete, "/api/jobs/"+id, nil, nil); code/100 != 2 {
		t.Fatalf("DELETE /api/jobs/%s: %d", id, code)
	}
	if code, msg := put(other, up.Headers); code != http.StatusOK {
		t.Errorf("PUT after DELETE: %d %.200s", code, msg)
	}
	if !waitFor(jobTimeout, func() bool { return len(keysOf(t, c, id)) == 0 && !c.Busy() }) {
		t.Errorf("objects of the deleted job after a PUT: %v", keysOf(t, c, id))
	}
	settle(t, c)
	if k := keysOf(t, c, id); len(k) != 0 {
		t.Errorf("after settling, objects of the deleted job: %v", k)
	}
	if code := call(t, c, alice, http.MethodGet, "/api/jobs/"+id, nil, nil); code != http.StatusNotFound {
		t.Errorf("GET of the deleted job after a PUT: %d, want 404", code)
	}
}
