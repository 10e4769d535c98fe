package timing

import (
	"testing"
	"time"
)

// The rule: each stage gives up on its own before the sweep's deadline
// for the status it leaves the job in, and every figure is positive.
func TestStagesGiveUpBeforeTheSweep(t *testing.T) {
	d := StuckAfter()
	for _, c := range []struct {
		what          string
		longest, dead time.Duration
	}{
		{"a mesher failing every try gives up (mesh_failed)", GiveUp(MesherTimeout), d.Meshing},
		{"a dispatcher failing every try gives up (dispatch_failed)", GiveUp(DispatchTimeout), d.Accepted},
		{"a dispatcher dying every try is dead-lettered", Attempts * Visibility(DispatchTimeout), d.Accepted},
		{"the segmenter finishes or fails", SegmentInvocation + SegmentQueueTTL, d.Segmenting},
		{"an upload URL is used and its ingest retried", UploadURLTTL + UploadTime + (IngestRetries+1)*IngestTimeout, d.Created},
	} {
		if c.longest+SweepEvery >= c.dead {
			t.Errorf("%s within %v, but the sweep may fail the job after %v (deadline) - %v (period)", c.what, c.longest, c.dead, SweepEvery)
		}
	}
	// A queue must hide a message at least as long as its consumer may
	// run (Lambda refuses the event source otherwise), and the backoff
	// after a failure must be shorter than that, or it would be no
	// shortcut.
	for _, fn := range []time.Duration{DispatchTimeout, MesherTimeout} {
		if Visibility(fn) < fn || RetryBackoff >= Visibility(fn) {
			t.Errorf("visibility %v for a %v consumer, backoff %v", Visibility(fn), fn, RetryBackoff)
		}
	}
	// SQS ChangeMessageVisibility takes 0 s to 12 h; SageMaker caps a
	// processing time at 1 h; Lambda at 15 min.
	if RetryBackoff <= 0 || RetryBackoff > 12*time.Hour || SegmentInvocation > time.Hour ||
		max(IngestTimeout, MesherTimeout, DispatchTimeout, StatusTimeout) > 15*time.Minute {
		t.Error("a figure is outside what the service allows")
	}
	if Attempts < 2 {
		t.Errorf("Attempts = %d: a failure would never be retried", Attempts)
	}
	t.Logf("deadlines: %+v", d)
}
