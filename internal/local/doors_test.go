package local

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
)

// busBlobs is a DirBlobs on a real Bus and database, as iris serve wires it.
func busBlobs(t *testing.T, db *DB, root string) *DirBlobs {
	t.Helper()
	bus, err := NewBus(db, "bucket", nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := NewDirBlobs(root, "bucket", bus)
	if err != nil {
		t.Fatal(err)
	}
	return blobs
}

// queued counts the deliveries waiting for target.
func queued(t *testing.T, db *DB, target string) int {
	t.Helper()
	s, err := db.Queue(BusQueuePrefix + target).Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.Visible + s.InFlight
}

// errCrash stands for the process dying at a fault point.
var errCrash = errors.New("crash")

// putCrashingAt runs Put and "dies" at step: Fault panics, as close as one
// process can come to kill -9 at that line (cmd/iris's crash test kills
// the real binary at each step).
func putCrashingAt(t *testing.T, blobs *DirBlobs, step, key string) {
	t.Helper()
	blobs.Fault = func(s, k string) {
		if s == step && k == key {
			panic(errCrash)
		}
	}
	defer func() {
		blobs.Fault = nil
		if r := recover(); r != errCrash {
			t.Fatalf("Put did not reach step %s (recovered %v)", step, r)
		}
	}()
	blobs.Put(context.Background(), key, strings.NewReader("labels"), 6, "")
}

// TestPutOutboxSurvivesACrashAtEachStep: a crash at any step of Put leaves
// either no object and no event, or the object and (after Recover) its
// event, never an object without its event (issue 11, item 11).
func TestPutOutboxSurvivesACrashAtEachStep(t *testing.T) {
	ctx := context.Background()
	key := events.SegmentationKey("job123")
	for _, tc := range []struct {
		step   string
		stored bool // the object is in place after the crash
	}{
		{"written", false},
		{"recorded", false},
		{"renamed", true},
		{"published", true},
	} {
		t.Run(tc.step, func(t *testing.T) {
			db, root := openDB(t), t.TempDir()
			putCrashingAt(t, busBlobs(t, db, root), tc.step, key)
			// Restarted: a new DirBlobs on the same folder and database.
			blobs := busBlobs(t, db, root)
			n, err := blobs.Recover(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, herr := blobs.Head(ctx, key)
			if stored := herr == nil; stored != tc.stored {
				t.Fatalf("object stored = %v after a crash at %s, want %v", stored, tc.step, tc.stored)
			}
			want := 0
			if tc.stored {
				want = 1
			}
			if got := queued(t, db, events.TargetStatus); got != want {
				t.Errorf("crash at %s: %d events for status after Recover (recovered %d), want %d", tc.step, got, n, want)
			}
			if got := queued(t, db, events.TargetMesher); got != want {
				t.Errorf("crash at %s: %d events for the mesher, want %d", tc.step, got, want)
			}
			var rows int
			db.sql.QueryRow(`SELECT count(*) FROM blob_outbox`).Scan(&rows)
			if rows != 0 {
				t.Errorf("crash at %s: %d outbox rows left after Recover", tc.step, rows)
			}
			// A second Recover (another restart) publishes nothing again.
			if n, err := blobs.Recover(ctx); err != nil || n != 0 {
				t.Errorf("second Recover published %d (%v), want 0", n, err)
			}
		})
	}
}

// uploadServer serves signed uploads of a DirBlobs on a real Bus.
func uploadServer(t *testing.T, signer *URLSigner, blobs *DirBlobs) *httptest.Server {
	srv := httptest.NewServer(signer.Handler(blobs))
	t.Cleanup(srv.Close)
	return srv
}

func send(t *testing.T, method, url string, body io.Reader) (int, string) {
	return sendWith(t, method, url, body, nil)
}

// sendWith sends a request with the given headers and returns the status
// and the body; a transport error is status 0 with its text.
func sendWith(t *testing.T, method, url string, body io.Reader, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// storedUpload is the CT file uploaded to job id, as stored.
func storedUpload(t *testing.T, blobs *DirBlobs, id string) string {
	t.Helper()
	rc, _, err := blobs.Get(context.Background(), events.UploadKey(id, "ct.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

// TestUploadURLIsGoodForOneUpload: a second PUT is refused, a PUT after
// the job's uploads were removed (DELETE) is refused, and a failed PUT
// may be tried again (issue 11, item 2).
func TestUploadURLIsGoodForOneUpload(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	blobs := busBlobs(t, db, t.TempDir())
	signer, err := NewURLSigner("", []byte("secret-secret-secret-secret-1234"))
	if err != nil {
		t.Fatal(err)
	}
	srv := uploadServer(t, signer, blobs)
	sign := func(id string) string {
		up, err := signer.SignUpload(ctx, events.UploadKey(id, "ct.nii.gz"), 5, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return srv.URL + up.URL
	}
	a := sign("jobaaaaa")
	if code, body := send(t, "PUT", a, strings.NewReader("hel")); code != 400 {
		t.Fatalf("short PUT = %d %s, want 400", code, body)
	}
	if code, body := send(t, "PUT", a, strings.NewReader("hello")); code != 200 {
		t.Fatalf("PUT after a failed one = %d %s, want 200 (a failed upload may be retried)", code, body)
	}
	if code, body := send(t, "PUT", a, strings.NewReader("HELLO")); code != 409 || !strings.Contains(body, `"conflict"`) {
		t.Errorf("second PUT = %d %s, want 409 conflict", code, body)
	}
	if code, body := send(t, "PUT", sign("jobaaaaa"), strings.NewReader("HELLO")); code != 409 {
		t.Errorf("PUT with a new link to a job that has its file = %d %s, want 409", code, body)
	}
	if got := storedUpload(t, blobs, "jobaaaaa"); got != "hello" {
		t.Errorf("the upload is %q, want the first one, %q", got, "hello")
	}
	if n := queued(t, db, events.TargetIngest); n != 1 {
		t.Errorf("%d ingest deliveries, want 1 (one upload, one event)", n)
	}

	// DELETE before the upload: the link is dead.
	b := sign("jobbbbbb")
	if err := blobs.RemovePrefix(ctx, events.PrefixUploads+"jobbbbbb/"); err != nil {
		t.Fatal(err)
	}
	if code, body := send(t, "PUT", b, strings.NewReader("hello")); code != 410 {
		t.Errorf("PUT after DELETE = %d %s, want 410", code, body)
	}
	if _, err := blobs.Head(ctx, events.UploadKey("jobbbbbb", "ct.nii.gz")); err == nil {
		t.Error("PUT after DELETE stored the file")
	}

	// DELETE during the upload: the file is withdrawn, no event.
	c := sign("jobcccccc")
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() { code, _ := send(t, "PUT", c, pr); done <- code }()
	pw.Write([]byte("he"))
	waitFor(t, "the PUT's claim", 5*time.Second, func() bool {
		var n int
		db.sql.QueryRow(`SELECT count(*) FROM upload_claims WHERE job_id = 'jobcccccc'`).Scan(&n)
		return n == 1
	})
	if err := blobs.RemovePrefix(ctx, events.PrefixUploads+"jobcccccc/"); err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("llo"))
	pw.Close()
	if code := <-done; code != 410 && code != 500 {
		t.Errorf("PUT during DELETE = %d, want 410", code)
	}
	if _, err := blobs.Head(ctx, events.UploadKey("jobcccccc", "ct.nii.gz")); err == nil {
		t.Error("PUT during DELETE left the file")
	}
	if n := queued(t, db, events.TargetIngest); n != 1 {
		t.Errorf("%d ingest deliveries after the PUT during DELETE, want still 1", n)
	}

	// Allowed refuses (the job is no longer created).
	signer.Allowed = func(context.Context, string) error { return errors.New("job is done") }
	if code, _ := send(t, "PUT", sign("jobdddddd"), strings.NewReader("hello")); code != 409 {
		t.Errorf("PUT to a job past created = %d, want 409", code)
	}
}

// TestUploadTrickleIsCut: a PUT that sends less than MinBytes per Window
// is cut off, and leaves nothing (issue 11, item 5).
func TestUploadTrickleIsCut(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	blobs := busBlobs(t, db, t.TempDir())
	signer, _ := NewURLSigner("", []byte("secret-secret-secret-secret-1234"))
	signer.MinBytes, signer.Window = 1024, 300*time.Millisecond
	srv := uploadServer(t, signer, blobs)
	up, _ := signer.SignUpload(ctx, events.UploadKey("jobtrickle", "ct.nii.gz"), 200, time.Now().Add(time.Minute))
	pr, pw := io.Pipe()
	go func() {
		// One byte every 50 ms: 10 s for the whole body.
		for range 200 {
			if _, err := pw.Write([]byte{'x'}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		pw.Close()
	}()
	start := time.Now()
	req, _ := http.NewRequest("PUT", srv.URL+up.URL, pr)
	req.ContentLength = 200
	resp, err := http.DefaultClient.Do(req)
	took := time.Since(start)
	pr.CloseWithError(errors.New("test done"))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("the trickling PUT was stored after %v", took)
		}
	}
	if took > 5*time.Second {
		t.Errorf("the trickling PUT held its connection %v; the window is %v", took, signer.Window)
	}
	if _, err := blobs.Head(ctx, up.URL); err == nil {
		t.Error("the trickling PUT left an object")
	}
	// A PUT at a fair rate still goes through under the same rule.
	up2, _ := signer.SignUpload(ctx, events.UploadKey("jobfast", "ct.nii.gz"), 1<<20, time.Now().Add(time.Minute))
	if code, body := send(t, "PUT", srv.URL+up2.URL, strings.NewReader(strings.Repeat("y", 1<<20))); code != 200 {
		t.Errorf("a fast PUT = %d %s", code, body)
	}
}

// TestSecretPersists: the signing secret is made once, mode 0600, and read
// back by the next start, so links outlive a restart (issue 11, item 3).
func TestSecretPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.key")
	a, err := LoadSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v, want mode 0600", fi.Mode(), err)
	}
	b, err := LoadSecret(path)
	if err != nil || string(a) != string(b) || len(a) != 32 {
		t.Fatalf("second load: %x vs %x (%v)", b, a, err)
	}
	s1, _ := NewURLSigner("", a)
	s2, _ := NewURLSigner("", b)
	exp := time.Now().Add(time.Minute)
	u1, _ := s1.SignDownload(context.Background(), "results/job123/scene.glb", "s.glb", exp)
	u2, _ := s2.SignDownload(context.Background(), "results/job123/scene.glb", "s.glb", exp)
	if u1 != u2 {
		t.Error("a restarted signer signs differently")
	}
	os.Chmod(path, 0o644)
	if _, err := LoadSecret(path); err == nil {
		t.Error("a secret others can read was accepted")
	}
}

// TestBlobErrorsNameNoPath: a failing write answers without the folder's
// path (issue 11, item 6).
func TestBlobErrorsNameNoPath(t *testing.T) {
	root := t.TempDir()
	blobs := busBlobs(t, openDB(t), root)
	signer, _ := NewURLSigner("", []byte("secret-secret-secret-secret-1234"))
	srv := uploadServer(t, signer, blobs)
	// uploads/jobblock is a file, so the job's folder cannot be made.
	os.WriteFile(filepath.Join(root, "uploads", "jobblock"), []byte("x"), 0o644)
	up, _ := signer.SignUpload(context.Background(), events.UploadKey("jobblock", "ct.nii.gz"), 5, time.Now().Add(time.Minute))
	code, body := send(t, "PUT", srv.URL+up.URL, strings.NewReader("hello"))
	if code != 500 {
		t.Fatalf("PUT into a blocked folder = %d %s, want 500", code, body)
	}
	if strings.Contains(body, root) || strings.Contains(body, "/") {
		t.Errorf("the error shows a path: %s", body)
	}
}

// TestSweepWork: a restart removes partial uploads, the spool, the folders
// of jobs that have no record, and the claims of PUTs cut short (issue 11,
// item 4).
func TestSweepWork(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	root, tmp := t.TempDir(), t.TempDir()
	blobs := busBlobs(t, db, root)
	live, dead := "0123456789abcdefghijklmnop", "0123456789abcdefghijklmnoq"
	write := func(rel string) string {
		p := filepath.Join(root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-3 * time.Hour)
		os.Chtimes(filepath.Dir(p), old, old)
		return p
	}
	partial := write("uploads/" + live + "/.ct.nii.gz.123.tmp")
	kept := []string{write("uploads/" + live + "/ct.nii.gz"), write("volumes/" + live + "/ct.nii.gz"), write("uploads/drop.nii.gz"), write("uploads/patient01/a.dcm")}
	gone := []string{write("volumes/" + dead + "/ct.nii.gz"), write("results/" + dead + "/scene.glb"), write("uploads/" + dead + "/ct.nii.gz")}
	os.WriteFile(filepath.Join(tmp, "ingest-123.zip"), []byte("spool"), 0o644)
	os.MkdirAll(filepath.Join(tmp, "mesh-9"), 0o755)
	db.sql.Exec(`INSERT INTO upload_claims (job_id, key, state, at) VALUES ('jobcut', 'uploads/jobcut/ct.nii.gz', 'uploading', 0)`)

	r, err := blobs.SweepWork(ctx, tmp, time.Hour, func(_ context.Context, id string) (bool, error) { return id == live, nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(partial); err == nil {
		t.Error("the partial upload survived the sweep")
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the sweep removed %s: %v", p, err)
		}
	}
	for _, p := range gone {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the sweep left %s, of a job with no record", p)
		}
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("the spool still holds %d entries", len(ents))
	}
	if r.Partial != 1 || r.Spooled != 2 || r.Orphans != 3 || r.Released != 1 {
		t.Errorf("report %+v, want 1 partial, 2 spooled, 3 orphans, 1 released", r)
	}
}

// TestRemovePrefixTakesPartialUploads: DELETE removes the temporary file
// of an upload in flight, which List does not show (issue 11, item 4).
func TestRemovePrefixTakesPartialUploads(t *testing.T) {
	root := t.TempDir()
	blobs := busBlobs(t, openDB(t), root)
	dir := filepath.Join(root, "uploads", "jobpart")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, ".ct.nii.gz.42.tmp"), make([]byte, 1<<20), 0o644)
	if err := blobs.RemovePrefix(context.Background(), "uploads/jobpart/"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("the job's upload folder, with its partial upload, is still there")
	}
	if _, err := os.Stat(filepath.Join(root, "uploads")); err != nil {
		t.Error("RemovePrefix removed uploads/ itself")
	}
}

// BenchmarkPut measures one DirBlobs.Put of a 64 KiB object with its
// Object Created event, through the outbox (a *Bus) and without one (a
// recorder bus), so the outbox's cost shows beside the write's.
func BenchmarkPut(b *testing.B) {
	data := strings.Repeat("x", 64<<10)
	for _, mode := range []string{"outbox", "direct"} {
		b.Run(mode, func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "iris.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			var bus interface {
				Publish(context.Context, ...events.Event) error
			} = &recorder{}
			if mode == "outbox" {
				if bus, err = NewBus(db, "bucket", nil); err != nil {
					b.Fatal(err)
				}
			}
			blobs, err := NewDirBlobs(b.TempDir(), "bucket", bus)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.SetBytes(int64(len(data)))
			for i := 0; b.Loop(); i++ {
				if err := blobs.Put(ctx, events.SegmentationKey("job"+strconv.Itoa(i%64)), strings.NewReader(data), int64(len(data)), ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
