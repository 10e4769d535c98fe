package dispatch_test

import (
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
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/pipeline/dispatch"
	"github.com/iris-oculus/iris/internal/pipeline/status"
	"github.com/iris-oculus/iris/internal/ports"
)

func requestBody(t testing.TB, id string) []byte {
	t.Helper()
	b, err := json.Marshal(dispatch.Request{JobID: id, VolumeKey: events.VolumeKey(id)})
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
		{name: "no record at last", attempt: 5, failCode: dispatch.CodeFailed},
		{name: "deleted", status: "deleted"},
		{name: "malformed JSON", body: []byte("{"), attempt: 1},
		{name: "bad job id", body: []byte(`{"jobId":"../x","volumeKey":"volumes/../x/ct.nii.gz"}`), attempt: 1},
		{name: "volume of another job", body: []byte(`{"jobId":"job-disp01","volumeKey":"volumes/job-other9/ct.nii.gz"}`), attempt: 1},
		{name: "segmenter down", status: job.Accepted, attempt: 1, retry: true, setup: func(_ *memBlobs, s *fakeSegmenter, _ *recBus) {
			s.err = errors.New("endpoint throttled")
		}},
		{name: "segmenter down at last attempt", status: job.Accepted, attempt: 5, failCode: dispatch.CodeFailed, setup: func(_ *memBlobs, s *fakeSegmenter, _ *recBus) {
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
			switch tt.status {
			case "":
			case "deleted":
				newJob(t, store, id, "alice", job.Accepted, t0)
				store.Delete(context.Background(), id)
			default:
				newJob(t, store, id, "alice", tt.status, t0)
			}
			if tt.setup != nil {
				tt.setup(blobs, seg, bus)
			}
			body := tt.body
			if body == nil {
				body = requestBody(t, id)
			}
			d := &dispatch.Dispatch{Store: store, Blobs: blobs, Segmenter: seg, Bus: bus, Log: quiet, RecordWait: -1}
			failed, err := d.HandleBatch(context.Background(), []ports.Message{{ID: "m1", Body: body, ReceiveCount: tt.attempt}})
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
				want := "endpoint throttled"
				if tt.status == "" {
					want = "record was never made"
				}
				if f := decode[events.Failure](t, fails[0]); f.Stage != dispatch.Stage || !strings.Contains(f.Message, want) {
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
	d := &dispatch.Dispatch{Store: store, Blobs: newMemBlobs(), Segmenter: seg, Bus: bus, Log: quiet, RecordWait: -1}
	failed, _ := d.HandleBatch(context.Background(), []ports.Message{
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
	// The duplicate is not started again: message a holds the claim.
	if !slices.Equal(seg.starts, []string{"job-batch1", "job-batch3"}) {
		t.Errorf("started %v", seg.starts)
	}
}

// TestDispatchStartsOnce: duplicate requests for a job (the upload event
// delivered twice, ingest retried), delivered at once, one after the
// other, and redelivered after failures, start exactly one segmentation;
// a redelivery of the holder after the segmenter answered announces the
// recorded answer instead of calling the segmenter again.
func TestDispatchStartsOnce(t *testing.T) {
	ctx := context.Background()
	const id = "job-once01"
	type delivery struct {
		msg    string
		retry  bool // returned for redelivery
		failSt bool // the bus fails this delivery's Segmentation Started
		segErr bool // the segmenter fails this delivery
	}
	for _, tc := range []struct {
		name       string
		concurrent int // that many distinct messages delivered at once first
		seq        []delivery
		announced  int // Segmentation Started events published
	}{
		{name: "eight duplicates at once", concurrent: 8, announced: 1},
		// a's last delivery is a redelivery of a handled message (its
		// deletion failed): it announces the recorded answer again, which
		// the status stage takes as the duplicate it is.
		{name: "duplicates one after the other", seq: []delivery{{msg: "a"}, {msg: "b"}, {msg: "c"}, {msg: "a"}}, announced: 2},
		{name: "holder's announcement fails, a duplicate comes, the holder is redelivered", seq: []delivery{
			{msg: "a", retry: true, failSt: true}, {msg: "b"}, {msg: "a"}}, announced: 1},
		{name: "segmenter fails for the holder, a duplicate waits its turn", seq: []delivery{
			{msg: "a", retry: true, segErr: true}, {msg: "b"}, {msg: "a"}, {msg: "b"}}, announced: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, seg, bus := &job.Memory{}, &fakeSegmenter{}, &recBus{}
			newJob(t, store, id, "alice", job.Accepted, t0)
			d := &dispatch.Dispatch{Store: store, Blobs: newMemBlobs(), Segmenter: seg, Bus: bus, Log: quiet, RecordWait: -1}
			var wg sync.WaitGroup
			for i := range tc.concurrent {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if failed, _ := d.HandleBatch(ctx, []ports.Message{{ID: fmt.Sprintf("m%d", i), Body: requestBody(t, id), ReceiveCount: 1}}); len(failed) != 0 {
						t.Errorf("message m%d returned", i)
					}
				}()
			}
			wg.Wait()
			for i, dl := range tc.seq {
				bus.mu.Lock()
				bus.fail = nil
				if dl.failSt {
					bus.fail = failEventOnce(events.SegmentationStarted)
				}
				bus.mu.Unlock()
				seg.mu.Lock()
				seg.err = nil
				if dl.segErr {
					seg.err = errors.New("endpoint throttled")
				}
				seg.mu.Unlock()
				failed, _ := d.HandleBatch(ctx, []ports.Message{{ID: dl.msg, Body: requestBody(t, id), ReceiveCount: 1}})
				if (len(failed) == 1) != dl.retry {
					t.Errorf("delivery %d (%s): returned %v, want retry %v", i, dl.msg, failed, dl.retry)
				}
			}
			if len(seg.starts) != 1 {
				t.Errorf("%d segmentations started, want 1", len(seg.starts))
			}
			st := bus.of(events.SegmentationStarted)
			if len(st) != tc.announced {
				t.Errorf("%d Segmentation Started published, want %d", len(st), tc.announced)
			}
			j, err := store.Get(ctx, id)
			if err != nil || j.Request == nil || j.Request.Started == nil || j.Request.Started.InferenceID != id {
				t.Errorf("record's request %+v (%v); want the segmenter's answer recorded", j.Request, err)
			}
		})
	}
}

// TestDispatchBeforeRecord: the request overtakes the status stage's
// creation of a dropped file's record. Delivered first, it is returned
// for redelivery (or waits in the delivery for the record), and once the
// record exists exactly one segmentation starts.
func TestDispatchBeforeRecord(t *testing.T) {
	ctx := context.Background()
	accepted := func(t *testing.T, st *status.Status, id string) {
		ev, err := events.New("acc-"+id, events.JobAccepted, events.Accepted{JobID: id, VolumeKey: events.VolumeKey(id), Input: events.Input{Format: "nifti"}}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("redelivered", func(t *testing.T) {
		store, seg, bus := &job.Memory{}, &fakeSegmenter{}, &recBus{}
		d := &dispatch.Dispatch{Store: store, Blobs: newMemBlobs(), Segmenter: seg, Bus: bus, Log: quiet, RecordWait: -1}
		st := &status.Status{Store: store, Blobs: newMemBlobs(), Log: quiet, DropOwner: "dropbox", Now: func() time.Time { return t0 }}
		const id = "job-early1"
		msgs := []ports.Message{{ID: "a", Body: requestBody(t, id), ReceiveCount: 1}, {ID: "b", Body: requestBody(t, id), ReceiveCount: 1}}
		if failed, _ := d.HandleBatch(ctx, msgs); !slices.Equal(failed, []string{"a", "b"}) {
			t.Fatalf("before the record: returned %v, want both", failed)
		}
		accepted(t, st, id)
		for i := range msgs {
			msgs[i].ReceiveCount++
		}
		// Redelivered in the other order: b claims first.
		if failed, _ := d.HandleBatch(ctx, []ports.Message{msgs[1], msgs[0]}); len(failed) != 0 {
			t.Fatalf("after the record: returned %v", failed)
		}
		if len(seg.starts) != 1 || len(bus.of(events.SegmentationStarted)) != 1 || len(bus.of(events.JobFailed)) != 0 {
			t.Errorf("%d starts, %d Segmentation Started, %d Job Failed; want 1, 1, 0", len(seg.starts), len(bus.of(events.SegmentationStarted)), len(bus.of(events.JobFailed)))
		}
	})
	t.Run("waited for within the delivery", func(t *testing.T) {
		store, seg, bus := &job.Memory{}, &fakeSegmenter{}, &recBus{}
		d := &dispatch.Dispatch{Store: store, Blobs: newMemBlobs(), Segmenter: seg, Bus: bus, Log: quiet, RecordWait: 5 * time.Second}
		st := &status.Status{Store: store, Blobs: newMemBlobs(), Log: quiet, DropOwner: "dropbox", Now: func() time.Time { return t0 }}
		const id = "job-early2"
		go func() {
			time.Sleep(300 * time.Millisecond)
			accepted(t, st, id)
		}()
		t1 := time.Now()
		failed, _ := d.HandleBatch(ctx, []ports.Message{{ID: "a", Body: requestBody(t, id), ReceiveCount: 1}})
		if len(failed) != 0 || len(seg.starts) != 1 {
			t.Fatalf("returned %v, %d starts; want the delivery to wait for the record and start", failed, len(seg.starts))
		}
		if el := time.Since(t1); el < 300*time.Millisecond || el > 4*time.Second {
			t.Errorf("the delivery took %v; the record came after 300 ms", el)
		}
	})
}
