package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/local/pattern"
	"github.com/iris-oculus/iris/internal/testdata"
)

// world is the whole pipeline in memory: the four stages over one bucket,
// one store and a tiny bus that routes by the very rules the platforms
// deploy (events.Rules). The segmenter finishes "later": after everything
// already under way has settled, as an asynchronous endpoint does.
type world struct {
	t      *testing.T
	mu     sync.Mutex
	now    time.Time
	blobs  *memBlobs
	store  *job.Memory
	jobs   *recQueue
	seg    *fakeSegmenter
	routes []worldRoute

	deliveries []delivery // bus deliveries waiting
	meshQueue  []Message  // the mesh queue (an EventBridge target)
	later      []func()   // segmentations under way
	requeued   []Message  // jobs-queue messages returned as failed
	published  []events.Event

	ingest   *Ingest
	dispatch *Dispatch
	mesher   *Mesher
	status   *Status
}

type worldRoute struct {
	target  string
	pattern *pattern.Pattern
}

type delivery struct {
	target   string
	ev       events.Event
	attempts int
}

// segOutcome is what the fake endpoint writes for a job.
type segOutcome func(w *world, jobID string)

func labelMapOutcome(w *world, id string) {
	data := testdata.Read(w.t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	if err := w.blobs.Put(context.Background(), events.SegmentationKey(id), bytes.NewReader(data), int64(len(data)), "application/gzip"); err != nil {
		w.t.Fatal(err)
	}
}

func failureOutcome(w *world, id string) {
	body := []byte(`{"error":{"code":"gpu_oom","message":"The GPU ran out of memory; try a smaller scan."}}`)
	if err := w.blobs.Put(context.Background(), events.SegmentationFailurePrefix(id)+"error.json", bytes.NewReader(body), int64(len(body)), "application/json"); err != nil {
		w.t.Fatal(err)
	}
}

func newWorld(t *testing.T, outcome segOutcome) *world {
	w := &world{t: t, now: t0, blobs: newMemBlobs(), store: &job.Memory{}, jobs: &recQueue{}}
	for _, r := range events.Rules(testBucket) {
		w.routes = append(w.routes, worldRoute{r.Target, pattern.Must(r.Pattern)})
	}
	w.blobs.onPut = func(info BlobInfo) {
		w.Publish(context.Background(), s3Event(t, info.Key, info.Size, info.ETag, w.now))
	}
	w.seg = &fakeSegmenter{run: func(id, _ string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.later = append(w.later, func() { outcome(w, id) })
	}}
	clock := fixedClock(&w.now)
	tmp := t.TempDir()
	w.ingest = &Ingest{Blobs: w.blobs, Bus: w, Queue: w.jobs, Now: clock, Log: quiet, TempDir: tmp}
	w.dispatch = &Dispatch{Store: w.store, Blobs: w.blobs, Segmenter: w.seg, Bus: w, Now: clock, Log: quiet}
	w.mesher = &Mesher{Store: w.store, Blobs: w.blobs, Bus: w, Now: clock, Mesh: lightMesh, Generator: "iris-test", Log: quiet, TempDir: tmp}
	w.status = &Status{Store: w.store, Blobs: w.blobs, Now: clock, Log: quiet, DropOwner: "dropbox"}
	return w
}

// Publish implements Bus: each event is matched against the rules now and
// delivered later, once per target.
func (w *world) Publish(_ context.Context, evs ...events.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range evs {
		raw, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		w.published = append(w.published, ev)
		var seen []string
		for _, r := range w.routes {
			ok, err := r.pattern.Match(raw)
			if err != nil {
				return err
			}
			if ok && !slices.Contains(seen, r.target) {
				seen = append(seen, r.target)
				if r.target == events.TargetMesher {
					w.meshQueue = append(w.meshQueue, Message{ID: fmt.Sprintf("mesh-%d", len(w.published)), Body: raw, ReceiveCount: 1})
				} else {
					w.deliveries = append(w.deliveries, delivery{target: r.target, ev: ev})
				}
			}
		}
	}
	return nil
}

// upload puts a file as a browser or a drop folder does.
func (w *world) upload(key string, data []byte) {
	if err := w.blobs.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), ""); err != nil {
		w.t.Fatal(err)
	}
}

// run delivers everything until nothing is left, then lets the segmenter
// finish, and so on. Failed deliveries are redelivered (at most 20 times).
func (w *world) run() {
	ctx := context.Background()
	for step := 0; ; step++ {
		if step > 1000 {
			w.t.Fatal("pipeline does not settle")
		}
		w.mu.Lock()
		var d *delivery
		var meshMsgs, jobMsgs []Message
		var next func()
		switch {
		case len(w.deliveries) > 0:
			d = &w.deliveries[0]
			w.deliveries = w.deliveries[1:]
		case len(w.meshQueue) > 0:
			meshMsgs, w.meshQueue = w.meshQueue, nil
		case len(w.requeued) > 0 || w.jobs.len() > 0:
			jobMsgs, w.requeued = w.requeued, nil
			for i, b := range w.jobs.take() {
				jobMsgs = append(jobMsgs, Message{ID: fmt.Sprintf("job-%d-%d", step, i), Body: b, ReceiveCount: 1})
			}
		case len(w.later) > 0:
			next, w.later = w.later[0], w.later[1:]
		}
		w.mu.Unlock()
		switch {
		case d != nil:
			w.deliver(ctx, *d)
		case meshMsgs != nil:
			failed, _ := w.mesher.HandleBatch(ctx, meshMsgs)
			w.requeue(&w.meshQueue, meshMsgs, failed)
		case jobMsgs != nil:
			failed, _ := w.dispatch.HandleBatch(ctx, jobMsgs)
			w.requeue(&w.requeued, jobMsgs, failed)
		case next != nil:
			next()
		default:
			return
		}
	}
}

func (w *world) deliver(ctx context.Context, d delivery) {
	var err error
	switch d.target {
	case events.TargetIngest:
		err = w.ingest.Handle(ctx, d.ev)
	case events.TargetStatus:
		err = w.status.Handle(ctx, d.ev)
	default:
		w.t.Fatalf("no handler for target %s", d.target)
	}
	if err == nil {
		return
	}
	if d.attempts++; d.attempts > 20 {
		w.t.Fatalf("%s keeps failing %s: %v", d.target, d.ev.DetailType, err)
	}
	if !errors.Is(err, job.ErrNotFound) && !errors.Is(err, ErrEarly) {
		w.t.Logf("%s: %s failed, redelivering: %v", d.target, d.ev.DetailType, err)
	}
	w.mu.Lock()
	w.deliveries = append(w.deliveries, d)
	w.mu.Unlock()
}

func (w *world) requeue(q *[]Message, msgs []Message, failed []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range msgs {
		if slices.Contains(failed, m.ID) {
			if m.ReceiveCount++; m.ReceiveCount > 20 {
				w.t.Fatalf("message %s keeps failing", m.ID)
			}
			*q = append(*q, m)
		}
	}
}

func TestEndToEnd(t *testing.T) {
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	seg := testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	t.Run("job made by the API", func(t *testing.T) {
		w := newWorld(t, labelMapOutcome)
		const id = "job-e2e001"
		newJob(t, w.store, id, "alice", job.Created, t0)
		w.upload(events.UploadKey(id, "ct_3mm.nii.gz"), ct)
		w.run()
		j := getJob(t, w.store, id)
		checkDone(t, w, j, "alice", seg)
		if len(w.seg.starts) != 1 || len(w.blobs.putsUnder(events.ManifestKey(id))) != 1 {
			t.Errorf("%d segmentations, %d manifests; want one of each", len(w.seg.starts), len(w.blobs.putsUnder(events.ManifestKey(id))))
		}
	})
	t.Run("dropped file", func(t *testing.T) {
		w := newWorld(t, labelMapOutcome)
		w.upload("uploads/ct_3mm.nii.gz", ct)
		w.run()
		checkDone(t, w, getJob(t, w.store, dropID(t, w)), "dropbox", seg)
	})
	t.Run("upload event delivered twice", func(t *testing.T) {
		w := newWorld(t, labelMapOutcome)
		const id = "job-e2e002"
		newJob(t, w.store, id, "alice", job.Created, t0)
		w.upload(events.UploadKey(id, "ct.nii.gz"), ct)
		w.mu.Lock()
		w.deliveries = append(w.deliveries, w.deliveries[0])
		w.mu.Unlock()
		w.run()
		checkDone(t, w, getJob(t, w.store, id), "alice", seg)
		if n := len(w.blobs.putsUnder(events.ManifestKey(id))); n != 1 {
			t.Errorf("manifest written %d times, want once", n)
		}
	})
}

// dropID finds the id of the one job in the world.
func dropID(t *testing.T, w *world) string {
	t.Helper()
	js, _, _ := w.store.List(context.Background(), "dropbox", 10, "")
	if len(js) != 1 {
		t.Fatalf("%d dropped jobs, want 1", len(js))
	}
	return js[0].ID
}

func checkDone(t *testing.T, w *world, j job.Job, owner string, seg []byte) {
	t.Helper()
	if j.Status != job.Done || j.Error != nil || j.Owner != owner {
		t.Fatalf("job %s: %s, owner %q, error %+v; want done for %s", j.ID, j.Status, j.Owner, j.Error, owner)
	}
	if j.Input == nil || j.Input.Format != "nifti" || j.Input.Dims != [3]int{122, 101, 30} {
		t.Errorf("input %+v", j.Input)
	}
	if j.Engine != "fake" || !strings.HasSuffix(j.OutputLocation, events.SegmentationKey(j.ID)) {
		t.Errorf("engine %q, output %q", j.Engine, j.OutputLocation)
	}
	for _, s := range []job.Status{job.Created, job.Accepted, job.Segmenting, job.Meshing, job.Done} {
		if _, ok := j.Stages[s]; !ok {
			t.Errorf("no time for stage %s: %v", s, j.Stages)
		}
	}
	man := checkResults(t, w.blobs, j.ID, seg)
	if len(j.Organs) != len(man.Organs) || j.Organs[0].Name != man.Organs[0].Name || j.Organs[0].VolumeMl != man.Organs[0].VoxelVolumeMl {
		t.Errorf("organs %d (first %+v), manifest has %d", len(j.Organs), j.Organs[0], len(man.Organs))
	}
	if len(j.Artifacts) != len(man.Files)+1 {
		t.Errorf("%d artifacts, manifest lists %d files", len(j.Artifacts), len(man.Files))
	}
	for _, a := range j.Artifacts {
		data, ok := w.blobs.data(a.Key)
		if !ok || int64(len(data)) != a.Bytes || a.Key != events.ResultsPrefix(j.ID)+a.Name {
			t.Errorf("artifact %+v: stored %v, %d bytes", a, ok, len(data))
		}
	}
	if !slices.ContainsFunc(j.Artifacts, func(a job.Artifact) bool { return a.Name == export.GLBFile }) {
		t.Errorf("no %s among the artifacts", export.GLBFile)
	}
	if ups := w.blobs.keys(events.PrefixUploads); len(ups) != 0 {
		t.Errorf("uploads left: %v", ups)
	}
	if _, ok := w.blobs.data(events.VolumeKey(j.ID)); !ok {
		t.Error("no volume")
	}
}

func TestEndToEndFailures(t *testing.T) {
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	tests := []struct {
		name         string
		data         []byte
		outcome      segOutcome
		stage, code  string
		says         string
		segmentation bool // the segmenter was started
	}{
		{"corrupt file", ct[:len(ct)*2/3], labelMapOutcome, StageIngest, CodeCorrupt, "damaged", false},
		{"not a CT", mrLike(t), labelMapOutcome, StageIngest, CodeNotCT, "neither a CT scan of a body in Hounsfield units nor a label map", false},
		{"segmenter fails", ct, failureOutcome, StageSegmentation, "gpu_oom", "ran out of memory", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.outcome)
			id := "job-e2e-" + strings.ReplaceAll(tt.name, " ", "-")
			newJob(t, w.store, id, "alice", job.Created, t0)
			w.upload(events.UploadKey(id, "scan.nii.gz"), tt.data)
			w.run()
			j := getJob(t, w.store, id)
			if j.Status != job.Failed || j.Error == nil || j.Error.Stage != tt.stage || j.Error.Code != tt.code || !strings.Contains(j.Error.Message, tt.says) {
				t.Fatalf("job %s, error %+v; want failed at %s with %s saying %q", j.Status, j.Error, tt.stage, tt.code, tt.says)
			}
			if (len(w.seg.starts) > 0) != tt.segmentation {
				t.Errorf("segmenter started %d times", len(w.seg.starts))
			}
			if keys := w.blobs.keys(events.PrefixUploads); len(keys) != 0 {
				t.Errorf("upload left: %v", keys)
			}
			if keys := w.blobs.keys(events.PrefixResults); len(keys) != 0 {
				t.Errorf("results made: %v", keys)
			}
		})
	}
}
