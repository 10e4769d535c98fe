package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
)

func requestBody(t testing.TB, id string) []byte {
	t.Helper()
	b, err := json.Marshal(DispatchRequest{JobID: id, VolumeKey: events.VolumeKey(id)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDispatch(t *testing.T) {
	const id = "job-disp01"
	tests := []struct {
		name     string
		status   job.Status // "" = no record
		body     []byte     // nil = a request for id
		attempt  int
		setup    func(*memBlobs, *fakeSegmenter, *recBus)
		started  bool   // the segmenter was started and Segmentation Started emitted
		retry    bool   // the message is returned as failed
		failCode string // a Job Failed with this code was emitted
	}{
		{name: "accepted", status: job.Accepted, started: true},
		{name: "created (Job Accepted not yet applied)", status: job.Created, started: true},
		{name: "segmenting", status: job.Segmenting},
		{name: "meshing", status: job.Meshing},
		{name: "done", status: job.Done},
		{name: "failed", status: job.Failed},
		{name: "output exists", status: job.Accepted, setup: func(b *memBlobs, _ *fakeSegmenter, _ *recBus) {
			b.put(events.SegmentationKey(id), []byte("x"))
		}},
		{name: "failure exists", status: job.Accepted, setup: func(b *memBlobs, _ *fakeSegmenter, _ *recBus) {
			b.put(events.SegmentationFailurePrefix(id)+"abc-error.out", []byte("x"))
		}},
		{name: "no record yet", attempt: 1, retry: true},
		{name: "no record at last", attempt: missingJobAttempts},
		{name: "malformed JSON", body: []byte("{"), attempt: 1},
		{name: "bad job id", body: []byte(`{"jobId":"../x","volumeKey":"volumes/../x/ct.nii.gz"}`), attempt: 1},
		{name: "volume of another job", body: []byte(`{"jobId":"job-disp01","volumeKey":"volumes/job-other9/ct.nii.gz"}`), attempt: 1},
		{name: "segmenter down", status: job.Accepted, attempt: 1, retry: true, setup: func(_ *memBlobs, s *fakeSegmenter, _ *recBus) {
			s.err = errors.New("endpoint throttled")
		}},
		{name: "segmenter down at last attempt", status: job.Accepted, attempt: 5, failCode: CodeDispatchFailed, setup: func(_ *memBlobs, s *fakeSegmenter, _ *recBus) {
			s.err = errors.New("endpoint throttled")
		}},
		{name: "blob store down", status: job.Accepted, attempt: 2, retry: true, setup: func(b *memBlobs, _ *fakeSegmenter, _ *recBus) {
			b.fail = failOnce("head", events.PrefixSegmentations)
		}},
		{name: "bus down", status: job.Accepted, attempt: 1, retry: true, setup: func(_ *memBlobs, _ *fakeSegmenter, b *recBus) {
			b.fail = failEventOnce(events.SegmentationStarted)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, blobs, seg, bus := &job.Memory{}, newMemBlobs(), &fakeSegmenter{}, &recBus{}
			if tt.status != "" {
				newJob(t, store, id, "alice", tt.status, t0)
			}
			if tt.setup != nil {
				tt.setup(blobs, seg, bus)
			}
			body := tt.body
			if body == nil {
				body = requestBody(t, id)
			}
			d := &Dispatch{Store: store, Blobs: blobs, Segmenter: seg, Bus: bus, Log: quiet}
			failed, err := d.HandleBatch(context.Background(), []Message{{ID: "m1", Body: body, ReceiveCount: tt.attempt}})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(failed) == 1; got != tt.retry {
				t.Errorf("failed ids %v, want retry %v", failed, tt.retry)
			}
			st := bus.of(events.SegmentationStarted)
			if (len(seg.starts) == 1 && len(st) == 1) != tt.started || len(seg.starts) > 1 {
				t.Fatalf("%d starts, %d Segmentation Started; want started %v", len(seg.starts), len(st), tt.started)
			}
			if tt.started {
				s := decode[events.Started](t, st[0])
				if s.JobID != id || s.Engine != "fake" || !strings.HasSuffix(s.OutputLocation, events.SegmentationKey(id)) || s.FailureLocation == "" {
					t.Errorf("started %+v", s)
				}
			}
			fails := bus.of(events.JobFailed)
			if tt.failCode == "" && len(fails) != 0 || tt.failCode != "" && (len(fails) != 1 || decode[events.Failure](t, fails[0]).Code != tt.failCode) {
				t.Errorf("Job Failed events %v, want code %q", fails, tt.failCode)
			}
			if len(fails) == 1 {
				if f := decode[events.Failure](t, fails[0]); f.Stage != StageDispatch || !strings.Contains(f.Message, "endpoint throttled") {
					t.Errorf("failure %+v", f)
				}
			}
		})
	}
}

// TestDispatchBatch: one batch, each message judged on its own.
func TestDispatchBatch(t *testing.T) {
	store, seg, bus := &job.Memory{}, &fakeSegmenter{}, &recBus{}
	newJob(t, store, "job-batch1", "alice", job.Accepted, t0)
	newJob(t, store, "job-batch2", "alice", job.Segmenting, t0)
	newJob(t, store, "job-batch3", "alice", job.Accepted, t0)
	d := &Dispatch{Store: store, Blobs: newMemBlobs(), Segmenter: seg, Bus: bus, Log: quiet}
	failed, _ := d.HandleBatch(context.Background(), []Message{
		{ID: "a", Body: requestBody(t, "job-batch1"), ReceiveCount: 1},
		{ID: "b", Body: requestBody(t, "job-batch2"), ReceiveCount: 1},
		{ID: "c", Body: []byte("garbage"), ReceiveCount: 1},
		{ID: "d", Body: requestBody(t, "job-nobody"), ReceiveCount: 1},
		{ID: "e", Body: requestBody(t, "job-batch3"), ReceiveCount: 1},
		{ID: "f", Body: requestBody(t, "job-batch1"), ReceiveCount: 1}, // duplicate in the batch
	})
	if !slices.Equal(failed, []string{"d"}) {
		t.Errorf("failed %v, want [d]", failed)
	}
	// The duplicate is started again: the record is written only when the
	// status stage applies Segmentation Started, which has not happened.
	if !slices.Equal(seg.starts, []string{"job-batch1", "job-batch3", "job-batch1"}) {
		t.Errorf("started %v", seg.starts)
	}
}
