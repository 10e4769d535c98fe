package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/pipeline"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/timing"
	"github.com/iris-oculus/iris/internal/volume"
)

// faultyBlobs fails the mesher's reads of a job's label map: the first
// failFirst[job] reads, or every read when the count is negative.
type faultyBlobs struct {
	ports.Blobs
	mu        sync.Mutex
	failFirst map[string]int
	reads     map[string]int
}

func (b *faultyBlobs) Get(ctx context.Context, key string) (io.ReadCloser, ports.BlobInfo, error) {
	if k, err := events.ParseKey(key); err == nil && k.Prefix == events.PrefixSegmentations {
		b.mu.Lock()
		b.reads[k.JobID]++
		n, fail := b.reads[k.JobID], b.failFirst[k.JobID]
		b.mu.Unlock()
		if fail < 0 || n <= fail {
			return nil, ports.BlobInfo{}, errors.New("injected: the label map cannot be read")
		}
	}
	return b.Blobs.Get(ctx, key)
}

func (b *faultyBlobs) set(id string, failFirst int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failFirst[id] = failFirst
}

func (b *faultyBlobs) readsOf(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reads[id]
}

// startServeConfig runs serve with c (tests' seams included) until the
// test ends.
func startServeConfig(t *testing.T, c serveConfig, wrap ...func(segment.Engine) segment.Engine) *inProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &inProcess{data: c.data, log: newSyncBuffer(), stop: cancel, done: make(chan error, 1)}
	stdout := newSyncBuffer()
	engine, err := serveEngine(c.engine, c.segmentTimeout)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wrap {
		engine = w(engine)
	}
	log := slog.New(slog.NewTextHandler(s.log, nil))
	go func() { s.done <- serve(ctx, c, engine, log, stdout) }()
	select {
	case s.base = <-stdout.url:
	case err := <-s.done:
		t.Fatalf("iris serve stopped at start: %v\n%s", err, s.log)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("iris serve printed no URL in 30 s\n%s", s.log)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("iris serve stopped with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("iris serve did not stop within 60 s")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", tail(s.log.String(), 8000))
		}
	})
	return s
}

// The mesher of `iris serve` is a queue consumer with AWS's attempts and
// give-up: one that fails twice and then succeeds gets the job to done;
// one that always fails ends it failed with mesh_failed after exactly
// timing.Attempts tries, long before the sweep's meshing deadline, and no
// queue is left with a dead letter.
func TestServeMesherRetriesAndGivesUp(t *testing.T) {
	data := t.TempDir()
	var faults *faultyBlobs
	srv := startServeConfig(t, serveConfig{data: data, addr: "127.0.0.1:0", engine: "native", settle: time.Second,
		sweepEvery: time.Second, segmentTimeout: 10 * time.Minute, meshBackoff: 200 * time.Millisecond,
		meshBlobsFaults: func(b ports.Blobs) ports.Blobs {
			faults = &faultyBlobs{Blobs: b, failFirst: map[string]int{}, reads: map[string]int{}}
			return faults
		}})
	c := srv.client(t)
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")

	// The faults are set before the uploads, so the mesher can never see
	// a job without its fault.
	flaky, broken := c.create("flaky.nii.gz", len(ct)), c.create("broken.nii.gz", len(ct))
	faults.set(flaky.Job.ID, 2)
	faults.set(broken.Job.ID, -1)
	start := time.Now()
	c.put(flaky.Upload, ct)
	c.put(broken.Upload, ct)

	t.Run("fails twice, then succeeds", func(t *testing.T) {
		v := c.wait(flaky.Job.ID, jobTimeout)
		if v.Status != job.Done || len(v.Organs) == 0 {
			t.Fatalf("job %s: %s (%+v), want done with organs", v.ID, v.Status, v.Error)
		}
		if n := faults.readsOf(flaky.Job.ID); n != 3 {
			t.Errorf("the label map was read %d times, want 3 (2 failures, 1 success)", n)
		}
	})
	t.Run("always fails: mesh_failed", func(t *testing.T) {
		v := c.wait(broken.Job.ID, jobTimeout)
		took := time.Since(start)
		if v.Status != job.Failed || v.Error == nil || v.Error.Code != pipeline.CodeMeshFailed || v.Error.Stage != pipeline.StageMesher {
			t.Fatalf("job %s: %s, error %+v; want failed by the mesher with %s", v.ID, v.Status, v.Error, pipeline.CodeMeshFailed)
		}
		if !strings.Contains(v.Error.Message, "Try again") {
			t.Errorf("message %q does not tell the person what to do", v.Error.Message)
		}
		if n := faults.readsOf(broken.Job.ID); n != timing.Attempts {
			t.Errorf("the mesher tried %d times, want timing.Attempts = %d, as on AWS", n, timing.Attempts)
		}
		if dl := pipeline.DefaultDeadlines().Meshing; took >= dl {
			t.Errorf("gave up after %v, not before the sweep's meshing deadline %v", took, dl)
		}
		t.Logf("gave up after %d tries, %v after the upload", timing.Attempts, took.Round(100*time.Millisecond))
	})
	o := observe(t, data)
	for _, q := range queues {
		st := o.stats(q)
		if st.Dead != 0 {
			t.Errorf("queue %s holds %d dead letters, want none", q, st.Dead)
		}
	}
	if !waitFor(10*time.Second, func() bool { s := o.stats("mesh"); return s.Visible == 0 && s.InFlight == 0 }) {
		t.Errorf("the mesh queue still holds messages: %+v", o.stats("mesh"))
	}
}

// gatedEngine holds each segmentation until its gate opens.
type gatedEngine struct {
	segment.Engine
	started chan struct{}
	gate    chan struct{}
}

func (e *gatedEngine) Segment(ctx context.Context, ct *volume.CT) (*volume.LabelMap, error) {
	e.started <- struct{}{}
	select {
	case <-e.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return e.Engine.Segment(ctx, ct)
}

// gatedPuts holds the mesher's first write under results/ until its gate
// opens.
type gatedPuts struct {
	ports.Blobs
	once    sync.Once
	started chan struct{}
	gate    chan struct{}
}

func (b *gatedPuts) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if strings.HasPrefix(key, events.PrefixResults) {
		b.once.Do(func() {
			b.started <- struct{}{}
			<-b.gate
		})
	}
	return b.Blobs.Put(ctx, key, r, size, contentType)
}

// jobFiles lists the files of job id left anywhere in the bucket.
func jobFiles(t *testing.T, data, id string) []string {
	t.Helper()
	var out []string
	for _, f := range events.JobFolders(id) {
		dir := filepath.Join(data, "bucket", filepath.FromSlash(f))
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// A job deleted while it segments, and one deleted while it meshes: the
// late label map and the late models are deleted when they arrive, with
// no dead letter anywhere, and the jobs stay deleted.
func TestServeDeleteWhileRunning(t *testing.T) {
	data := t.TempDir()
	eng := &gatedEngine{started: make(chan struct{}, 4), gate: make(chan struct{})}
	puts := &gatedPuts{started: make(chan struct{}, 1), gate: make(chan struct{})}
	srv := startServeConfig(t, serveConfig{data: data, addr: "127.0.0.1:0", engine: "native", settle: time.Second,
		sweepEvery: time.Second, segmentTimeout: 10 * time.Minute, meshBackoff: 200 * time.Millisecond,
		meshBlobsFaults: func(b ports.Blobs) ports.Blobs { puts.Blobs = b; return puts }},
		func(e segment.Engine) segment.Engine { eng.Engine = e; return eng })
	c := srv.client(t)
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	del := func(id string) {
		t.Helper()
		if code, b := c.do(http.MethodDelete, "/api/jobs/"+id, "", nil); code != http.StatusNoContent {
			t.Fatalf("DELETE %s: %d %s", id, code, b)
		}
	}
	wait := func(ch chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(jobTimeout):
			t.Fatalf("%s never happened", what)
		}
	}

	// Deleted while segmenting: the engine holds; the job is deleted; the
	// engine then writes its label map, as SageMaker's late output.
	segJob := c.submit("segmenting.nii.gz", ct)
	wait(eng.started, "the segmentation")
	del(segJob)
	close(eng.gate)

	// Deleted while meshing: the mesher holds its first upload; the job is
	// deleted; the mesher then uploads its models and announces them.
	meshJob := c.submit("meshing.nii.gz", ct)
	wait(eng.started, "the second segmentation")
	wait(puts.started, "the mesher's upload")
	if v, _ := c.get(meshJob); v.Status != job.Meshing {
		t.Errorf("job %s is %s when deleted, want meshing", meshJob, v.Status)
	}
	del(meshJob)
	close(puts.gate)

	o := observe(t, data)
	drained := func() bool {
		for _, q := range queues {
			if s := o.stats(q); s.Visible+s.InFlight != 0 {
				return false
			}
		}
		return true
	}
	for _, id := range []string{segJob, meshJob} {
		if !waitFor(jobTimeout, func() bool { return len(jobFiles(t, data, id)) == 0 && drained() }) {
			t.Errorf("job %s: files left %v, or work left in the queues", id, jobFiles(t, data, id))
		}
		if _, code := c.get(id); code != http.StatusNotFound {
			t.Errorf("GET deleted job %s: %d, want 404", id, code)
		}
	}
	for _, q := range queues {
		if s := o.stats(q); s.Dead != 0 {
			t.Errorf("queue %s holds %d dead letters, want none", q, s.Dead)
		}
	}
}
