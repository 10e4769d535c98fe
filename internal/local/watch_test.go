package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
)

const settle = 200 * time.Millisecond

// startWatch watches a fresh bucket whose uploads/ already holds the files
// in before (path → content), and returns it with the events recorder.
func startWatch(t *testing.T, before map[string]string) (*DirBlobs, *recorder) {
	t.Helper()
	b, rec := newBlobs(t)
	for p, body := range before {
		writeFile(t, b, p, body)
	}
	w, err := NewWatcher(b, settle)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return b, rec
}

func writeFile(t *testing.T, b *DirBlobs, rel, body string) string {
	t.Helper()
	p := filepath.Join(b.Root(), filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// settled waits until want events have arrived, then a few settle periods
// more to catch extra ones, and returns them by key.
func settled(t *testing.T, rec *recorder, want int) map[string]events.S3Object {
	t.Helper()
	waitFor(t, "the drop events", 10*time.Second, func() bool { return len(rec.events()) >= want })
	time.Sleep(3 * settle)
	evs := rec.events()
	got := map[string]events.S3Object{}
	for _, ev := range evs {
		if ev.Source != events.SourceS3 || ev.DetailType != events.ObjectCreated {
			t.Errorf("not an Object Created event: %+v", ev)
		}
		d := s3Detail(t, ev)
		if _, dup := got[d.Object.Key]; dup {
			t.Errorf("%s announced twice", d.Object.Key)
		}
		got[d.Object.Key] = d
	}
	if len(evs) != want {
		t.Errorf("%d events, want %d: %v", len(evs), want, keysOf(got))
	}
	return got
}

func keysOf(m map[string]events.S3Object) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestWatchSlowCopyAnnouncedOnceComplete(t *testing.T) {
	b, rec := startWatch(t, nil)
	f, err := os.Create(filepath.Join(b.Root(), "uploads", "slow.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for i := range 6 {
		chunk := randomBytes(64<<10, uint64(10+i))
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
		all = append(all, chunk...)
		time.Sleep(settle / 4) // pauses shorter than the settle period
		if n := len(rec.events()); n != 0 {
			t.Fatalf("announced after chunk %d of 6, while still being written", i+1)
		}
	}
	f.Close()
	got := settled(t, rec, 1)
	d, ok := got["uploads/slow.nii.gz"]
	if !ok || d.Object.Size != int64(len(all)) || d.Object.ETag != md5hex(all) || d.Bucket.Name != bucket {
		t.Errorf("event = %+v, want size %d, etag %s", d, len(all), md5hex(all))
	}
}

func TestWatchRenameIntoPlaceAndSubfolders(t *testing.T) {
	b, rec := startWatch(t, nil)
	tmp := writeFile(t, b, "uploads/.scan.nii.gz.part", "renamed volume")
	if err := os.Rename(tmp, filepath.Join(b.Root(), "uploads", "scan.nii.gz")); err != nil {
		t.Fatal(err)
	}
	// A folder made after the watch started, nested, then filled.
	writeFile(t, b, "uploads/job456/series/IM0001.dcm", "dicom 1")
	writeFile(t, b, "uploads/job456/series/IM0002.dcm", "dicom 2")
	// A whole folder moved in at once.
	outside := filepath.Join(t.TempDir(), "job789")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "ct.nii"), []byte("moved in"), 0o644)
	if err := os.Rename(outside, filepath.Join(b.Root(), "uploads", "job789")); err != nil {
		t.Fatal(err)
	}
	got := settled(t, rec, 4)
	for key, body := range map[string]string{
		"uploads/scan.nii.gz":              "renamed volume",
		"uploads/job456/series/IM0001.dcm": "dicom 1",
		"uploads/job456/series/IM0002.dcm": "dicom 2",
		"uploads/job789/ct.nii":            "moved in",
	} {
		if d, ok := got[key]; !ok || d.Object.ETag != md5hex([]byte(body)) || d.Object.Size != int64(len(body)) {
			t.Errorf("%s: event %+v, ok %v", key, d, ok)
		}
	}
}

func TestWatchIgnoresTemporaryAndOwnFiles(t *testing.T) {
	b, rec := startWatch(t, nil)
	for _, name := range []string{".hidden.nii.gz", "ct.nii.gz.tmp", "ct.nii.gz.part", "ct.nii.gz.crdownload", "Thumbs.db", ".cache/ct.nii.gz", "ct.nii~"} {
		writeFile(t, b, "uploads/"+name, "x")
	}
	// Put announces its own object; the watcher must not do it again.
	if err := b.Put(context.Background(), "uploads/job321/ct.nii.gz", strings.NewReader("via put"), -1, ""); err != nil {
		t.Fatal(err)
	}
	got := settled(t, rec, 1)
	if _, ok := got["uploads/job321/ct.nii.gz"]; !ok {
		t.Errorf("events = %v, want only Put's", keysOf(got))
	}
}

// Drops made while the program was down are announced at start; a rewrite
// of an announced file is announced again with its new ETag.
func TestWatchStartupScanAndRewrite(t *testing.T) {
	b, rec := startWatch(t, map[string]string{"uploads/early.nii.gz": "dropped while down", "uploads/job654/ct.nii": "in a folder"})
	got := settled(t, rec, 2)
	if d := got["uploads/early.nii.gz"]; d.Object.ETag != md5hex([]byte("dropped while down")) {
		t.Errorf("early drop: %+v", d)
	}
	if _, ok := got["uploads/job654/ct.nii"]; !ok {
		t.Errorf("events = %v, want the folder's file too", keysOf(got))
	}
	writeFile(t, b, "uploads/early.nii.gz", "replaced by a newer scan")
	waitFor(t, "the rewrite event", 10*time.Second, func() bool { return len(rec.events()) == 3 })
	if d := s3Detail(t, rec.events()[2]); d.Object.Key != "uploads/early.nii.gz" || d.Object.ETag != md5hex([]byte("replaced by a newer scan")) {
		t.Errorf("rewrite event = %+v", d)
	}
}

// A person's file name with spaces and brackets is renamed to a valid key.
func TestWatchRenamesInvalidNames(t *testing.T) {
	b, rec := startWatch(t, nil)
	writeFile(t, b, "uploads/My Scan (1).nii.gz", "from Finder")
	writeFile(t, b, "uploads/taken_.nii", "already here")
	writeFile(t, b, "uploads/taken?.nii", "name clash")
	got := settled(t, rec, 2)
	if d, ok := got["uploads/My_Scan__1_.nii.gz"]; !ok || d.Object.ETag != md5hex([]byte("from Finder")) {
		t.Errorf("events = %v, want uploads/My_Scan__1_.nii.gz", keysOf(got))
	}
	if _, ok := got["uploads/taken_.nii"]; !ok {
		t.Errorf("events = %v, want uploads/taken_.nii (a valid drop)", keysOf(got))
	}
	if _, err := os.Stat(filepath.Join(b.Root(), "uploads", "My Scan (1).nii.gz")); !os.IsNotExist(err) {
		t.Errorf("the original name is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.Root(), "uploads", "taken?.nii")); err != nil {
		t.Errorf("a clashing file was moved or lost: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(b.Root(), "uploads", "taken_.nii")); string(data) != "already here" {
		t.Errorf("an existing file was overwritten: %q", data)
	}
}

func TestWatchNeedsABus(t *testing.T) {
	b, err := NewDirBlobs(t.TempDir(), bucket, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewWatcher(b, settle); err == nil {
		t.Error("NewWatcher accepted blobs without a bus")
	}
}
