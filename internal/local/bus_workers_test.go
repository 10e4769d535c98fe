package local

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
)

// TestBusWorkers: with Workers set for a target, that many of its
// deliveries are handled at once, so a slow one does not hold the others.
func TestBusWorkers(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	var inFlight, most atomic.Int32
	release := make(chan struct{})
	slow := func(ctx context.Context, ev events.Event) error {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		inFlight.Add(-1)
		return nil
	}
	nop := func(context.Context, events.Event) error { return nil }
	b, err := NewBus(db, bucket, map[string]EventHandler{events.TargetIngest: slow, events.TargetMesher: nop, events.TargetStatus: nop})
	if err != nil {
		t.Fatal(err)
	}
	b.PollInterval = 5 * time.Millisecond
	b.Workers = map[string]int{events.TargetIngest: 3}
	blobs, err := NewDirBlobs(t.TempDir(), bucket, b)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, b)
	defer stop()
	for _, k := range []string{"uploads/a.nii", "uploads/b.nii", "uploads/c.nii", "uploads/d.nii"} {
		if err := blobs.Put(ctx, k, strings.NewReader("x"), 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "three ingest deliveries at once", 10*time.Second, func() bool { return inFlight.Load() == 3 })
	close(release)
	waitFor(t, "every delivery handled", 10*time.Second, func() bool {
		s, err := b.Queue(events.TargetIngest).Stats(ctx)
		return err == nil && s.Visible+s.InFlight == 0
	})
	if m := most.Load(); m != 3 {
		t.Errorf("at most %d deliveries at once, want the 3 workers", m)
	}
}
