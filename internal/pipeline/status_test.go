package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/job"
)

type statusRig struct {
	store *job.Memory
	blobs *memBlobs
	s     *Status
	now   time.Time
}

func newStatusRig() *statusRig {
	r := &statusRig{store: &job.Memory{}, blobs: newMemBlobs(), now: t0.Add(time.Minute)}
	r.s = &Status{Store: r.store, Blobs: r.blobs, Now: fixedClock(&r.now), Log: quiet, DropOwner: "dropbox"}
	return r
}

// deliver hands the events to Status as a platform does: in the order
// given, and what fails is redelivered after the rest, a bounded number
// of times.
func (r *statusRig) deliver(t testing.TB, evs ...events.Event) {
	t.Helper()
	type delivery struct {
		ev       events.Event
		attempts int
	}
	queue := make([]delivery, len(evs))
	for i, ev := range evs {
		queue[i] = delivery{ev: ev}
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		err := r.s.Handle(context.Background(), d.ev)
		if err == nil {
			continue
		}
		if !errors.Is(err, job.ErrNotFound) && !errors.Is(err, ErrEarly) {
			t.Fatalf("%s: %v", d.ev.DetailType, err)
		}
		if d.attempts++; d.attempts > 2*len(evs) {
			t.Fatalf("%s still failing after %d attempts: %v", d.ev.DetailType, d.attempts, err)
		}
		queue = append(queue, d)
	}
}

// manifest stores a small model set for id and returns its manifest.
func (r *statusRig) manifest(t testing.TB, id string) *export.Manifest {
	t.Helper()
	m := &export.Manifest{Schema: export.SchemaVersion, Generator: "iris-test", Created: t0,
		Organs: []export.Organ{
			{Label: 5, Name: "liver", DisplayName: "Liver", System: "organs", Color: "#dd826e", VoxelCount: 1234, VoxelVolumeMl: 1500.5, MeshVolumeMl: 1490.25, SurfaceAreaCm2: 900.5, Triangles: 4000},
			{Label: 1, Name: "spleen", DisplayName: "Spleen", System: "organs", Color: "#32aa3c", VoxelCount: 99, VoxelVolumeMl: 150, MeshVolumeMl: 149, SurfaceAreaCm2: 120, Triangles: 800, TouchesBorder: true, Partial: true},
		},
		Files: []export.File{{Name: "scene.glb", Bytes: 3}, {Name: "stl/liver.stl", Bytes: 4}},
	}
	r.blobs.put(events.ResultsPrefix(id)+"scene.glb", []byte("glb"))
	r.blobs.put(events.ResultsPrefix(id)+"stl/liver.stl", []byte("solid"))
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	r.blobs.put(events.ManifestKey(id), b)
	return m
}

// progress is a job's happy path, as the status stage receives it.
func progress(t testing.TB, id string, at time.Time) map[string]events.Event {
	input := events.Input{Format: "nifti", File: "ct.nii.gz", Bytes: 100, Dims: [3]int{1, 2, 3}, SpacingMm: [3]float64{1, 1, 1}, Orientation: "RAS"}
	return map[string]events.Event{
		"accepted": pipelineEvent(t, events.JobAccepted, events.Accepted{JobID: id, VolumeKey: events.VolumeKey(id), Input: input}, at),
		"started": pipelineEvent(t, events.SegmentationStarted, events.Started{JobID: id, OutputLocation: "s3://" + testBucket + "/" + events.SegmentationKey(id),
			FailureLocation: "s3://" + testBucket + "/" + events.SegmentationFailurePrefix(id) + "e.json", Engine: "fake"}, at.Add(time.Second)),
		"labels":   s3Event(t, events.SegmentationKey(id), 10, "e", at.Add(2*time.Second)),
		"ready":    pipelineEvent(t, events.MeshesReady, events.Ready{JobID: id, ManifestKey: events.ManifestKey(id), Organs: 2}, at.Add(3*time.Second)),
		"failed":   pipelineEvent(t, events.JobFailed, events.Failure{JobID: id, Stage: StageMesher, Code: CodeEmptySegmentation, Message: "no structures"}, at.Add(4*time.Second)),
		"rejected": pipelineEvent(t, events.JobRejected, events.Failure{JobID: id, Stage: StageIngest, Code: CodeNotCT, Message: "not a CT"}, at),
		"segfail":  s3Event(t, events.SegmentationFailurePrefix(id)+"e.json", 10, "e", at.Add(2*time.Second)),
	}
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// TestStatusOrders runs sequences of events, in every order and with every
// event delivered twice, and checks the final record.
func TestStatusOrders(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		drop   bool // no record before the events (a dropped file)
		status job.Status
		code   string // the error's code when failed
	}{
		{name: "happy path", events: []string{"accepted", "started", "labels", "ready"}, status: job.Done},
		{name: "happy path, dropped file", events: []string{"accepted", "started", "labels", "ready"}, drop: true, status: job.Done},
		{name: "mesher fails", events: []string{"accepted", "started", "labels", "failed"}, status: job.Failed, code: CodeEmptySegmentation},
		{name: "segmentation fails", events: []string{"accepted", "started", "segfail"}, status: job.Failed, code: "gpu_oom"},
		{name: "rejected drop", events: []string{"rejected"}, drop: true, status: job.Failed, code: CodeNotCT},
	}
	for _, tt := range tests {
		for pi, perm := range permutations(len(tt.events)) {
			for _, twice := range []bool{false, true} {
				name := fmt.Sprintf("%s/%v/twice=%v", tt.name, perm, twice)
				t.Run(name, func(t *testing.T) {
					r := newStatusRig()
					id := fmt.Sprintf("job-ord%03d", pi)
					if !tt.drop {
						newJob(t, r.store, id, "alice", job.Created, t0)
					}
					r.manifest(t, id)
					r.blobs.put(events.SegmentationFailurePrefix(id)+"e.json", []byte(`{"error":{"code":"gpu_oom","message":"The GPU ran out of memory."}}`))
					evs := progress(t, id, t0)
					var seq []events.Event
					for _, i := range perm {
						seq = append(seq, evs[tt.events[i]])
					}
					if twice {
						seq = append(seq, seq...)
					}
					r.deliver(t, seq...)
					j := getJob(t, r.store, id)
					if j.Status != tt.status {
						t.Fatalf("status %s, want %s; job %+v", j.Status, tt.status, j)
					}
					wantOwner := "alice"
					if tt.drop {
						wantOwner = "dropbox"
					}
					if j.Owner != wantOwner {
						t.Errorf("owner %q, want %q", j.Owner, wantOwner)
					}
					if tt.events[0] == "accepted" && (j.Input == nil || j.Input.Format != "nifti") {
						t.Errorf("input facts lost: %+v", j.Input)
					}
					switch tt.status {
					case job.Done:
						if len(j.Organs) != 2 || j.Organs[0].Name != "liver" || j.Organs[1].VolumeMl != 150 || !j.Organs[1].TouchesBorder {
							t.Errorf("organs %+v", j.Organs)
						}
						if len(j.Artifacts) != 3 || j.Artifacts[0] != (job.Artifact{Name: "scene.glb", Key: events.ResultsPrefix(id) + "scene.glb", Bytes: 3}) ||
							j.Artifacts[1].Bytes != 5 || j.Artifacts[2].Name != export.ManifestFile {
							t.Errorf("artifacts %+v", j.Artifacts)
						}
						if j.Error != nil {
							t.Errorf("done with error %+v", j.Error)
						}
					case job.Failed:
						if j.Error == nil || j.Error.Code != tt.code || j.Error.Message == "" {
							t.Errorf("error %+v, want code %s", j.Error, tt.code)
						}
					}
				})
			}
		}
	}
}

// TestStatusFinalIsFinal: "done" and "failed" race; whichever lands first
// stays.
func TestStatusFinalIsFinal(t *testing.T) {
	for _, order := range [][]string{{"ready", "failed"}, {"failed", "ready"}} {
		r := newStatusRig()
		id := "job-final-" + order[0]
		newJob(t, r.store, id, "alice", job.Meshing, t0)
		r.manifest(t, id)
		evs := progress(t, id, t0)
		r.deliver(t, evs[order[0]], evs[order[1]])
		want := map[string]job.Status{"ready": job.Done, "failed": job.Failed}[order[0]]
		if j := getJob(t, r.store, id); j.Status != want {
			t.Errorf("%v: status %s, want %s", order, j.Status, want)
		}
	}
}

func TestStatusIgnores(t *testing.T) {
	r := newStatusRig()
	const id = "job-ign001"
	newJob(t, r.store, id, "alice", job.Accepted, t0)
	r.deliver(t, pipelineEvent(t, events.SegmentationStarted, events.Started{JobID: id, OutputLocation: events.SegmentationKey(id) + ".out", Engine: "x"}, t0))
	before := getJob(t, r.store, id)
	other, _ := events.New("o1", "Something Else", map[string]string{"jobId": id}, t0)
	foreign := other
	foreign.Source = "com.example"
	bad := pipelineEvent(t, events.JobFailed, events.Failure{JobID: "../../x"}, t0)
	for _, ev := range []events.Event{
		s3Event(t, events.SegmentationKey(id), 1, "e", t0), // not where the segmenter writes
		s3Event(t, events.VolumeKey(id), 1, "e", t0),
		s3Event(t, events.ManifestKey(id), 1, "e", t0),
		other, foreign, bad,
		{Source: events.Source, DetailType: events.JobAccepted, Detail: json.RawMessage(`"not an object"`)},
	} {
		if err := r.s.Handle(context.Background(), ev); err != nil {
			t.Errorf("%s %s: %v", ev.DetailType, ev.ID, err)
		}
	}
	if after := getJob(t, r.store, id); after.Status != before.Status || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("job changed from %+v to %+v", before, after)
	}
}

// TestStatusOrphans: events for a job with no record are retried while
// young and dropped when old.
func TestStatusOrphans(t *testing.T) {
	r := newStatusRig()
	const id = "job-orph01"
	evs := progress(t, id, t0)
	for _, name := range []string{"started", "labels", "ready", "failed", "segfail"} {
		err := r.s.Handle(context.Background(), evs[name])
		if !errors.Is(err, job.ErrNotFound) {
			t.Errorf("%s for a missing job: %v, want an error wrapping job.ErrNotFound", name, err)
		}
	}
	r.now = t0.Add(DefaultOrphanGrace + time.Minute)
	for _, name := range []string{"started", "labels", "ready", "failed", "segfail"} {
		if err := r.s.Handle(context.Background(), evs[name]); err != nil {
			t.Errorf("%s for a long-missing job: %v, want dropped", name, err)
		}
	}
	// A progress event that overtook Job Accepted waits for it, then is
	// applied anyway.
	newJob(t, r.store, id, "alice", job.Created, t0)
	r.now = t0.Add(time.Minute)
	if err := r.s.Handle(context.Background(), evs["started"]); !errors.Is(err, ErrEarly) {
		t.Errorf("started before accepted: %v, want ErrEarly", err)
	}
	r.now = t0.Add(DefaultOrphanGrace + time.Minute)
	if err := r.s.Handle(context.Background(), evs["started"]); err != nil {
		t.Fatal(err)
	}
	if j := getJob(t, r.store, id); j.Status != job.Segmenting || j.Engine != "fake" {
		t.Errorf("job %+v", j)
	}
}

func TestStatusTransientErrors(t *testing.T) {
	r := newStatusRig()
	const id = "job-tran01"
	newJob(t, r.store, id, "alice", job.Meshing, t0)
	r.manifest(t, id)
	r.blobs.fail = failOnce("get", events.ResultsPrefix(id))
	ready := progress(t, id, t0)["ready"]
	if err := r.s.Handle(context.Background(), ready); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("Handle = %v, want the blob error for redelivery", err)
	}
	if err := r.s.Handle(context.Background(), ready); err != nil {
		t.Fatal(err)
	}
	if j := getJob(t, r.store, id); j.Status != job.Done {
		t.Errorf("status %s", j.Status)
	}
}

func TestSweep(t *testing.T) {
	r := newStatusRig()
	now := t0.Add(10 * time.Hour)
	r.now = now
	r.s.Deadlines = Deadlines{Meshing: 20 * time.Minute} // others default
	dl := DefaultDeadlines()
	jobs := []struct {
		id     string
		status job.Status
		age    time.Duration
		failed bool
		stage  string
	}{
		{"job-sw-c-old", job.Created, dl.Created + time.Minute, true, StageUpload},
		{"job-sw-c-new", job.Created, dl.Created - time.Minute, false, ""},
		{"job-sw-a-old", job.Accepted, dl.Accepted + time.Minute, true, StageDispatch},
		{"job-sw-a-new", job.Accepted, dl.Accepted - time.Minute, false, ""},
		{"job-sw-s-mid", job.Segmenting, dl.Segmenting - 30*time.Minute, false, ""},
		{"job-sw-s-old", job.Segmenting, dl.Segmenting + time.Minute, true, StageSegmentation},
		{"job-sw-m-old", job.Meshing, 21 * time.Minute, true, StageMesher},
		{"job-sw-m-new", job.Meshing, 19 * time.Minute, false, ""},
		{"job-sw-d-old", job.Done, 9 * time.Hour, false, ""},
	}
	for _, j := range jobs {
		newJob(t, r.store, j.id, "alice", j.status, now.Add(-j.age))
	}
	sweep := pipelineEvent(t, events.ScheduledEvent, map[string]any{}, now)
	sweep.Source = events.SourceSchedule
	if err := r.s.Handle(context.Background(), sweep); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		got := getJob(t, r.store, j.id)
		if !j.failed {
			if got.Status != j.status {
				t.Errorf("%s: %s, want %s untouched", j.id, got.Status, j.status)
			}
			continue
		}
		if got.Status != job.Failed || got.Error == nil || got.Error.Code != CodeTimeout || got.Error.Stage != j.stage ||
			!strings.Contains(got.Error.Message, "stuck in "+string(j.status)) || !strings.Contains(got.Error.Message, "again") {
			t.Errorf("%s: %+v, error %+v; want failed by %s with a timeout", j.id, got.Status, got.Error, j.stage)
		}
	}
	if msg := getJob(t, r.store, "job-sw-m-old").Error.Message; !strings.Contains(msg, "more than 20 minutes") {
		t.Errorf("message %q does not name the deadline", msg)
	}
	if n, err := r.s.Sweep(context.Background()); n != 0 || err != nil {
		t.Errorf("second sweep failed %d jobs, %v; want 0", n, err)
	}
}

func BenchmarkStatusAccepted(b *testing.B) {
	r := newStatusRig()
	ev := progress(b, "job-bench3", t0)["accepted"]
	for i := 0; b.Loop(); i++ {
		var d events.Accepted
		ev.DecodeDetail(&d)
		d.JobID = fmt.Sprintf("job-b%07d", i)
		e := pipelineEvent(b, events.JobAccepted, d, t0)
		if err := r.s.Handle(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
}
