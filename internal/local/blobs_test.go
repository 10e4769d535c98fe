package local

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/local/pattern"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/ports/blobstest"
)

func newBlobs(t *testing.T) (*DirBlobs, *recorder) {
	t.Helper()
	rec := &recorder{}
	b, err := NewDirBlobs(filepath.Join(t.TempDir(), "bucket"), bucket, rec)
	if err != nil {
		t.Fatal(err)
	}
	return b, rec
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestDirBlobsRoundTrip(t *testing.T) {
	ctx := context.Background()
	b, _ := newBlobs(t)
	data := randomBytes(1<<20+17, 1)
	objs := map[string][]byte{
		"results/job123/scene.glb":       data,
		"results/job123/stl/liver.stl":   []byte("solid liver"),
		"results/job123/manifest.json":   []byte("{}"),
		"results/job1234/manifest.json":  []byte("{\"other\":1}"),
		"volumes/job123/ct.nii.gz":       {},
		"results/job123/stl/kidney_left": []byte("x"),
	}
	for k, v := range objs {
		if err := b.Put(ctx, k, bytes.NewReader(v), int64(len(v)), "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range objs {
		info, err := b.Head(ctx, k)
		if err != nil || info.Key != k || info.Size != int64(len(v)) || info.ETag != md5hex(v) || info.Modified.IsZero() {
			t.Errorf("Head(%s) = %+v, %v; want size %d, etag %s", k, info, err, len(v), md5hex(v))
		}
		rc, ginfo, err := b.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, v) || ginfo != info {
			t.Errorf("Get(%s): %d bytes (want %d), info %+v (Head said %+v), %v", k, len(got), len(v), ginfo, info, err)
		}
	}
	list, err := b.List(ctx, "results/job123/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, i := range list {
		keys = append(keys, i.Key)
		if i.ETag != md5hex(objs[i.Key]) {
			t.Errorf("List ETag of %s = %s", i.Key, i.ETag)
		}
	}
	want := "[results/job123/manifest.json results/job123/scene.glb results/job123/stl/kidney_left results/job123/stl/liver.stl]"
	if fmt.Sprint(keys) != want {
		t.Errorf("List = %v, want %s", keys, want)
	}
	if all, _ := b.List(ctx, "results/job12"); len(all) != 5 {
		t.Errorf("List of a partial segment found %d objects, want 5", len(all))
	}
	if none, err := b.List(ctx, "segmentations/"); err != nil || len(none) != 0 {
		t.Errorf("List of an absent prefix = %v, %v", none, err)
	}
}

func TestDirBlobsPutAnnouncesObjectCreated(t *testing.T) {
	ctx := context.Background()
	b, rec := newBlobs(t)
	key := events.UploadKey("job123", "ct.nii.gz")
	for _, body := range []string{"first", "second version"} {
		if err := b.Put(ctx, key, strings.NewReader(body), -1, ""); err != nil {
			t.Fatal(err)
		}
	}
	evs := rec.events()
	if len(evs) != 2 {
		t.Fatalf("%d events for 2 puts", len(evs))
	}
	ev := evs[1]
	if ev.Version != "0" || ev.Source != events.SourceS3 || ev.DetailType != events.ObjectCreated || ev.ID == "" ||
		ev.Account != LocalAccount || ev.Region != LocalRegion || len(ev.Resources) != 1 || ev.Resources[0] != "arn:aws:s3:::"+bucket || ev.Time.IsZero() {
		t.Errorf("envelope = %+v", ev)
	}
	d := s3Detail(t, ev)
	if d.Version != "0" || d.Bucket.Name != bucket || d.Object.Key != key || d.Object.Size != int64(len("second version")) ||
		d.Object.ETag != md5hex([]byte("second version")) || d.Reason != "PutObject" || d.Requester != LocalAccount || d.RequestID == "" {
		t.Errorf("detail = %+v", d)
	}
	if first := s3Detail(t, evs[0]); first.Object.Sequencer >= d.Object.Sequencer || evs[0].ID == ev.ID {
		t.Errorf("sequencers %s then %s (must grow), ids %s %s", first.Object.Sequencer, d.Object.Sequencer, evs[0].ID, ev.ID)
	}
	// The event is routed as AWS routes it.
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var routed []string
	for _, r := range events.Rules(bucket) {
		if ok, err := pattern.Must(r.Pattern).Match(raw); err != nil {
			t.Fatal(err)
		} else if ok {
			routed = append(routed, r.Target)
		}
	}
	if len(routed) != 1 || routed[0] != events.TargetIngest {
		t.Errorf("upload event routed to %v, want [ingest]", routed)
	}
}

func TestDirBlobsRefusesBadKeys(t *testing.T) {
	ctx := context.Background()
	b, rec := newBlobs(t)
	for _, key := range []string{
		"", "/etc/passwd", "uploads/../../etc/passwd", "uploads/job123/../x", "uploads//x", "uploads/x/",
		"uploads/job 123/x", "uploads/job123/.hidden", ".tmp", "uploads/ünï", `uploads\job123\x`, "uploads/./x",
	} {
		if err := b.Put(ctx, key, strings.NewReader("x"), 1, ""); !errors.Is(err, events.ErrBadKey) {
			t.Errorf("Put(%q) = %v, want ErrBadKey", key, err)
		}
		if _, _, err := b.Get(ctx, key); !errors.Is(err, events.ErrBadKey) {
			t.Errorf("Get(%q) = %v, want ErrBadKey", key, err)
		}
		if _, err := b.Head(ctx, key); !errors.Is(err, events.ErrBadKey) {
			t.Errorf("Head(%q) = %v, want ErrBadKey", key, err)
		}
		if err := b.Delete(ctx, key); !errors.Is(err, events.ErrBadKey) {
			t.Errorf("Delete(%q) = %v, want ErrBadKey", key, err)
		}
	}
	for _, p := range []string{"../", "/x", "a b"} {
		if _, err := b.List(ctx, p); !errors.Is(err, events.ErrBadKey) {
			t.Errorf("List(%q) = %v, want ErrBadKey", p, err)
		}
	}
	if n := len(rec.events()); n != 0 {
		t.Errorf("%d events for refused puts", n)
	}
	parent, _ := os.ReadDir(filepath.Dir(b.Root()))
	if len(parent) != 1 {
		t.Errorf("files appeared beside the bucket: %v", parent)
	}
}

func TestDirBlobsMissing(t *testing.T) {
	ctx := context.Background()
	b, _ := newBlobs(t)
	if err := b.Put(ctx, "results/job123/scene.glb", strings.NewReader("glb"), 3, ""); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"results/job123/none.glb", "results/job123/scene.glb/below", "results/job123", "uploads"} {
		if _, _, err := b.Get(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(%s) = %v, want fs.ErrNotExist", key, err)
		}
		if _, err := b.Head(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Head(%s) = %v, want fs.ErrNotExist", key, err)
		}
		if err := b.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%s) = %v, want nil as S3 gives", key, err)
		}
	}
	if _, err := b.Head(ctx, "results/job123/scene.glb"); err != nil {
		t.Errorf("deleting missing keys disturbed a real one: %v", err)
	}
}

func TestDirBlobsDeletePrunesEmptyFolders(t *testing.T) {
	ctx := context.Background()
	b, _ := newBlobs(t)
	keys := []string{"results/job123/stl/liver.stl", "results/job123/scene.glb", "uploads/job123/ct.nii.gz", "results/job456/scene.glb"}
	for _, k := range keys {
		if err := b.Put(ctx, k, strings.NewReader(k), -1, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys[:3] {
		if err := b.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Head(ctx, k); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there: %v", k, err)
		}
	}
	for dir, want := range map[string]bool{
		"results/job123": false, "uploads/job123": false, "results": true, "uploads": true, "results/job456": true,
	} {
		_, err := os.Stat(filepath.Join(b.Root(), dir))
		if got := err == nil; got != want {
			t.Errorf("folder %s exists = %v, want %v", dir, got, want)
		}
	}
}

// errReader fails after n bytes, as a dropped upload connection does.
type errReader struct {
	r io.Reader
	n int
}

func (e *errReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, errors.New("connection reset")
	}
	p = p[:min(len(p), e.n)]
	n, err := e.r.Read(p)
	e.n -= n
	return n, err
}

func TestDirBlobsFailedPutLeavesTheOldObject(t *testing.T) {
	ctx := context.Background()
	b, rec := newBlobs(t)
	key := "volumes/job123/ct.nii.gz"
	old := []byte("old volume")
	if err := b.Put(ctx, key, bytes.NewReader(old), int64(len(old)), ""); err != nil {
		t.Fatal(err)
	}
	big := randomBytes(1<<18, 2)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for name, put := range map[string]func() error{
		"reader fails": func() error { return b.Put(ctx, key, &errReader{bytes.NewReader(big), 1000}, int64(len(big)), "") },
		"short body":   func() error { return b.Put(ctx, key, bytes.NewReader(big[:10]), int64(len(big)), "") },
		"cancelled":    func() error { return b.Put(cancelled, key, bytes.NewReader(big), int64(len(big)), "") },
		"over a dir":   func() error { return b.Put(ctx, "volumes/job123", bytes.NewReader(big), -1, "") },
	} {
		if err := put(); err == nil {
			t.Errorf("%s: Put succeeded", name)
		}
	}
	rc, info, err := b.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, old) || info.ETag != md5hex(old) {
		t.Errorf("after failed puts: %q (etag %s), want the old object", got, info.ETag)
	}
	entries, _ := os.ReadDir(filepath.Join(b.Root(), "volumes/job123"))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if n := len(rec.events()); n != 1 {
		t.Errorf("%d events, want 1 (failed puts announce nothing)", n)
	}
}

// Readers racing a writer see one whole version or the other, never a mix.
func TestDirBlobsPutIsAtomicForReaders(t *testing.T) {
	ctx := context.Background()
	b, _ := newBlobs(t)
	key := "results/job123/scene.glb"
	versions := [][]byte{randomBytes(300_000, 3), randomBytes(200_000, 4)}
	if err := b.Put(ctx, key, bytes.NewReader(versions[0]), -1, ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := b.Put(ctx, key, bytes.NewReader(versions[i%2]), -1, ""); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 200 {
		rc, info, err := b.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
			t.Fatalf("read a torn object of %d bytes", len(got))
		}
		if info.ETag != md5hex(got) || info.Size != int64(len(got)) {
			t.Fatalf("info %+v does not describe the %d bytes read", info, len(got))
		}
	}
	close(stop)
	wg.Wait()
}

// Files written behind the program's back: hidden and badly named ones are
// not objects; others are hashed on first sight, and a rewrite is noticed.
func TestDirBlobsForeignFiles(t *testing.T) {
	ctx := context.Background()
	b, _ := newBlobs(t)
	dir := filepath.Join(b.Root(), "uploads", "job123")
	os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
	files := map[string]string{".DS_Store": "x", ".ct.nii.gz.123.tmp": "partial", "My Scan.nii": "bad name", "ct.nii": "real", ".git/HEAD": "ref"}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	list, err := b.List(ctx, "uploads/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Key != "uploads/job123/ct.nii" || list[0].ETag != md5hex([]byte("real")) {
		t.Fatalf("List = %+v, want only uploads/job123/ct.nii", list)
	}
	if err := os.WriteFile(filepath.Join(dir, "ct.nii"), []byte("rewritten by hand"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := b.Head(ctx, "uploads/job123/ct.nii")
	if err != nil || info.ETag != md5hex([]byte("rewritten by hand")) {
		t.Errorf("after a rewrite Head = %+v, %v; the cached ETag was kept", info, err)
	}
}

type brokenBus struct{}

func (brokenBus) Publish(context.Context, ...events.Event) error { return errors.New("bus down") }

// A Put whose event is lost must say so: the caller retries, and the
// retry announces it.
func TestDirBlobsPutReportsALostEvent(t *testing.T) {
	ctx := context.Background()
	b, err := NewDirBlobs(t.TempDir(), bucket, brokenBus{})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Put(ctx, "uploads/job123/ct.nii.gz", strings.NewReader("ct"), 2, "")
	if err == nil || !strings.Contains(err.Error(), "bus down") {
		t.Fatalf("Put with a broken bus = %v, want the bus's error", err)
	}
	if _, err := b.Head(ctx, "uploads/job123/ct.nii.gz"); err != nil {
		t.Errorf("the object itself was not stored: %v", err)
	}
}

// TestDirBlobsContract runs the Blobs conformance suite on the directory
// blobs, wired to a real bus as iris serve wires them.
func TestDirBlobsContract(t *testing.T) {
	blobstest.Run(t, func(t *testing.T) ports.Blobs { return busBlobs(t, openDB(t), t.TempDir()) })
}
