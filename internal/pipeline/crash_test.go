package pipeline

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/testdata"
)

// crashedClaim is the job store as a dispatch Lambda that dies right after
// the segmenter accepted its request sees it: the claim's second write, the
// one that records the segmenter's answer, never happens (once).
type crashedClaim struct {
	*job.Memory
	crashed bool
}

func (s *crashedClaim) Claim(ctx context.Context, id string, r job.Request) (job.Job, bool, error) {
	if r.Started != nil && !s.crashed {
		s.crashed = true
		return job.Job{}, false, errors.New("the function died before the claim recorded the answer")
	}
	return s.Memory.Claim(ctx, id, r)
}

// crashedBus is the world's bus, minus the dead function's announcement.
type crashedBus struct {
	w    *world
	fail func(events.Event) error
}

func (b *crashedBus) Publish(ctx context.Context, evs ...events.Event) error {
	for _, ev := range evs {
		if err := b.fail(ev); err != nil {
			return err
		}
	}
	return b.w.Publish(ctx, evs...)
}

// TestDispatchCrashAfterStart: the dispatch function dies after the
// segmenter (SageMaker's InvokeEndpointAsync) accepted the request and
// before the claim recorded the answer or "Segmentation Started" went
// out. The message comes back and dispatch starts the segmentation a
// second time (SageMaker does not deduplicate InferenceId), so two outputs
// come for one job, to the same key: the adapter names the output location
// (S3OutputPathExtension = the job id, Filename = labels.nii.gz), so the
// second overwrites the first. Whatever the second says, the job ends as
// the first left it: done once, with one result set, the same record, and
// nothing stored beyond the job's own objects.
func TestDispatchCrashAfterStart(t *testing.T) {
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	seg := testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	for _, tc := range []struct {
		name      string
		second    segOutcome // what the second segmentation writes
		labelMaps int        // writes of the label map in all
	}{
		{"second output is a label map too", labelMapOutcome, 2},
		{"second output is a failure", failureOutcome, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			starts := 0
			w := newWorld(t, func(w *world, id string) {
				if starts++; starts == 1 {
					labelMapOutcome(w, id)
				} else {
					tc.second(w, id)
				}
			})
			w.dispatch.Store = &crashedClaim{Memory: w.store}
			w.dispatch.Bus = &crashedBus{w, failEventOnce(events.SegmentationStarted)}
			const id = "job-crash1"
			newJob(t, w.store, id, "alice", job.Created, t0)
			w.upload(events.UploadKey(id, "ct_3mm.nii.gz"), ct)
			w.run()

			if len(w.seg.starts) != 2 {
				t.Fatalf("%d segmentations started; the test needs the crash to start a second", len(w.seg.starts))
			}
			if puts := w.blobs.putsUnder(events.PrefixSegmentations + id + "/"); len(puts) != tc.labelMaps {
				t.Errorf("segmentation writes %v, want %d of %s", puts, tc.labelMaps, events.SegmentationKey(id))
			}
			j := getJob(t, w.store, id)
			checkDone(t, w, j, "alice", seg)
			if n := len(w.blobs.putsUnder(events.ManifestKey(id))); n != 1 {
				t.Errorf("manifest written %d times, want once (one result set)", n)
			}
			w.mu.Lock()
			for _, ev := range w.published {
				if ev.DetailType == events.JobFailed {
					t.Errorf("Job Failed published: %s", ev.Detail)
				}
			}
			w.mu.Unlock()
			// Only the job's own objects: its volume and input facts, its
			// label map (or the second run's failure), its results.
			for _, k := range w.blobs.keys("") {
				own := slices.Contains([]string{events.VolumeKey(id), InputKey(id), events.SegmentationKey(id)}, k) ||
					strings.HasPrefix(k, events.ResultsPrefix(id)) || strings.HasPrefix(k, events.SegmentationFailurePrefix(id))
				if !own {
					t.Errorf("stray object %s", k)
				}
			}
		})
	}
}
