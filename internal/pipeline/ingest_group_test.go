package pipeline

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/testdata"
)

// SendDelayed makes recQueue a ports.DelayedQueue; the delay is recorded,
// and the tests deliver in whatever order they choose.
func (q *recQueue) SendDelayed(ctx context.Context, body []byte, delay time.Duration) error {
	q.mu.Lock()
	q.delays = append(q.delays, delay)
	q.mu.Unlock()
	return q.Send(ctx, body)
}

// seriesFiles reads the shared 20-slice DICOM series.
func seriesFiles(t testing.TB) map[string][]byte {
	t.Helper()
	dir := testdata.Path(t, "totalsegmentator-example", "dicom")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	if len(files) != 20 {
		t.Fatalf("the shared series has %d files, want 20", len(files))
	}
	return files
}

// drainGroups delivers the Groups queue's checks until none is left, in a
// shuffled order and each twice (a duplicate delivery), as SQS may. It
// fails the test if the checks do not end.
func (r *ingestRig) drainGroups(t *testing.T, rng *rand.Rand) {
	t.Helper()
	for round := 0; ; round++ {
		bodies := r.groups.take()
		if len(bodies) == 0 {
			return
		}
		if round > 10 {
			t.Fatalf("the folder checks never end: %d still queued after %d rounds", len(bodies), round)
		}
		bodies = append(bodies, bodies...)
		rng.Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })
		for _, b := range bodies {
			if err := r.in.HandleGroupCheck(context.Background(), b); err != nil {
				t.Fatalf("HandleGroupCheck(%s) = %v", b, err)
			}
		}
	}
}

func TestIngestDroppedFolder(t *testing.T) {
	series := seriesFiles(t)
	tests := []struct {
		name   string
		folder string // key prefix under uploads/
		file   string // path below it; %s is the slice's name
	}{
		{"flat folder named like a job id", "Series_0001", "%s"},
		{"nested folders", "CT", "DICOM/ST0/SE0/%s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newIngestRig(t)
			r.in.Settle = 3 * time.Second
			rng := rand.New(rand.NewPCG(1, uint64(len(tt.name))))
			var evs []events.Event
			for name, data := range series {
				key := events.PrefixUploads + tt.folder + "/" + strings.ReplaceAll(tt.file, "%s", name)
				evs = append(evs, r.upload(t, key, data))
			}
			// Every event twice, in a shuffled order.
			evs = append(evs, evs...)
			rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
			for _, ev := range evs {
				if err := r.in.Handle(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(r.bus.all()); n != 0 {
				t.Fatalf("%d events published before the folder settled; a slice must not be ingested alone", n)
			}
			for _, d := range r.groups.delays {
				if d != 3*time.Second {
					t.Fatalf("a check was delayed %v, want the settle time", d)
				}
			}
			r.drainGroups(t, rng)
			// Late duplicates of every event, after the folder was read.
			for _, ev := range evs[:5] {
				if err := r.in.Handle(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			}
			r.drainGroups(t, rng)

			ids := map[string]bool{}
			for _, ev := range r.bus.all() {
				if ev.DetailType != events.JobAccepted {
					t.Fatalf("published %s: %s", ev.DetailType, ev.Detail)
				}
				a := decode[events.Accepted](t, ev)
				ids[a.JobID] = true
				if a.Input.Format != "dicom" || a.Input.Dims != [3]int{512, 512, 20} || a.Input.File != tt.folder {
					t.Errorf("input %+v, want the 512×512×20 DICOM series from folder %s", a.Input, tt.folder)
				}
			}
			if len(ids) != 1 {
				t.Fatalf("jobs %v, want exactly one", ids)
			}
			var id string
			for id = range ids {
			}
			for _, b := range r.queue.take() {
				req, err := DecodeDispatchRequest(b)
				if err != nil || req.JobID != id {
					t.Errorf("dispatch request %s (%v), want job %s", b, err, id)
				}
			}
			if left := r.blobs.keys(events.PrefixUploads); len(left) != 0 {
				t.Errorf("uploads/ still holds %d files, e.g. %s; the series carries patient data", len(left), left[0])
			}
			vol, ok := r.blobs.data(events.VolumeKey(id))
			if !ok {
				t.Fatal("no volume stored")
			}
			if ct := decodeCT(t, vol); ct.Dims != [3]int{512, 512, 20} {
				t.Errorf("volume dims %v", ct.Dims)
			}
			if j := r.statusOf(t, id); j.Status != job.Accepted || j.Owner != "dropbox" {
				t.Errorf("status made %+v, want one accepted job owned by the drop owner", j)
			}
		})
	}
}

// A crash between announcing the job and deleting the slices: the
// redelivered check finds the same leader and job, announces it again and
// deletes the rest; no second job, no partial series read.
func TestIngestDroppedFolderCrash(t *testing.T) {
	series := seriesFiles(t)
	r := newIngestRig(t)
	for name, data := range series {
		if err := r.in.Handle(context.Background(), r.upload(t, "uploads/scan/"+name, data)); err != nil {
			t.Fatal(err)
		}
	}
	r.blobs.fail = failOnce("delete", "uploads/scan/")
	rng := rand.New(rand.NewPCG(7, 7))
	var failed [][]byte
	for round := 0; round < 10; round++ {
		bodies := append(r.groups.take(), failed...)
		failed = nil
		if len(bodies) == 0 {
			break
		}
		rng.Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })
		for _, b := range bodies {
			if err := r.in.HandleGroupCheck(context.Background(), b); err != nil {
				t.Logf("check failed as injected: %v", err)
				failed = append(failed, b) // SQS redelivers it
			}
		}
	}
	ids := map[string]bool{}
	for _, ev := range r.bus.of(events.JobAccepted) {
		ids[decode[events.Accepted](t, ev).JobID] = true
	}
	if len(ids) != 1 || len(r.bus.of(events.JobRejected)) != 0 {
		t.Fatalf("accepted %v, rejected %d; want one job", ids, len(r.bus.of(events.JobRejected)))
	}
	if left := r.blobs.keys(events.PrefixUploads); len(left) != 0 {
		t.Errorf("uploads/ still holds %v", left)
	}
}

// A folder that is not a DICOM series, and one file in a folder.
func TestIngestDroppedFolderOther(t *testing.T) {
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	tests := []struct {
		name  string
		files map[string][]byte
		code  string // "" for accepted
		says  string
	}{
		{"notes only", map[string][]byte{"uploads/notes/a.txt": []byte("hello"), "uploads/notes/b.txt": []byte("there")}, CodeNoDICOM, "holds no DICOM"},
		{"one NIfTI deep in a folder", map[string][]byte{"uploads/x/y/ct.nii.gz": ct}, "", ""},
		{"one slice", map[string][]byte{"uploads/one/IM1": oneDICOMFile(t)}, CodeTooFewSlices, "single image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newIngestRig(t)
			for k, b := range tt.files {
				if err := r.in.Handle(context.Background(), r.upload(t, k, b)); err != nil {
					t.Fatal(err)
				}
			}
			r.drainGroups(t, rand.New(rand.NewPCG(3, 3)))
			evs := r.bus.all()
			if len(evs) != 1 {
				t.Fatalf("published %d events, want 1", len(evs))
			}
			if tt.code == "" {
				if evs[0].DetailType != events.JobAccepted {
					t.Fatalf("published %s: %s", evs[0].DetailType, evs[0].Detail)
				}
			} else {
				f := decode[events.Failure](t, evs[0])
				if f.Code != tt.code || !strings.Contains(f.Message, tt.says) {
					t.Errorf("rejection %+v, want %s saying %q", f, tt.code, tt.says)
				}
			}
			if left := r.blobs.keys(events.PrefixUploads); len(left) != 0 {
				t.Errorf("uploads/ still holds %v", left)
			}
		})
	}
}

// A malformed or foreign check is dropped, not retried.
func TestIngestGroupCheckHostile(t *testing.T) {
	r := newIngestRig(t)
	r.blobs.put("volumes/abcdef/ct.nii.gz", []byte("x"))
	for _, body := range []string{
		`not json`,
		`{"prefix":"volumes/abcdef/","key":"volumes/abcdef/ct.nii.gz"}`,
		`{"prefix":"uploads/","key":"uploads/x"}`,
		`{"prefix":"uploads/a/b/","key":"uploads/a/b/c"}`,
		`{"prefix":"uploads/a/","key":"uploads/a/../../volumes/abcdef/ct.nii.gz"}`,
		`{"prefix":"uploads/a/","key":"uploads/b/c"}`,
	} {
		if err := r.in.HandleGroupCheck(context.Background(), []byte(body)); err != nil {
			t.Errorf("%s: %v, want dropped", body, err)
		}
	}
	if len(r.bus.all()) != 0 || r.groups.len() != 0 || !slices.Equal(r.blobs.keys(""), []string{"volumes/abcdef/ct.nii.gz"}) {
		t.Error("a hostile check did something")
	}
	_ = json.Valid
}

// An upload over LargeBytes is passed to the Large queue, not ingested
// where its event arrived; HandleLargeBatch ingests it.
func TestIngestLargeLane(t *testing.T) {
	r := newIngestRig(t)
	large := &recQueue{}
	r.in.Large, r.in.LargeBytes = large, 100_000
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	id := apiID("large")
	if err := r.in.Handle(context.Background(), r.upload(t, events.UploadKey(id, "ct.nii.gz"), ct)); err != nil {
		t.Fatal(err)
	}
	if len(r.bus.all()) != 0 || large.len() != 1 {
		t.Fatalf("published %d, passed on %d; want 0 and 1", len(r.bus.all()), large.len())
	}
	bodies := large.take()
	msgs := []Message{{ID: "m1", Body: bodies[0], ReceiveCount: 1}, {ID: "m2", Body: []byte("junk"), ReceiveCount: 1}}
	failed, err := r.in.HandleLargeBatch(context.Background(), msgs)
	if err != nil || len(failed) != 0 {
		t.Fatalf("HandleLargeBatch = %v, %v", failed, err)
	}
	if evs := r.bus.of(events.JobAccepted); len(evs) != 1 || decode[events.Accepted](t, evs[0]).JobID != id {
		t.Errorf("accepted %v", r.bus.all())
	}
	if large.len() != 0 {
		t.Error("the large lane passed the upload on again")
	}
}
