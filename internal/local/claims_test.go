package local

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestReleaseClaims: after a crash, the claims of the dead process are
// released at once, in every queue, with their receipts revoked and their
// receive counts kept; unclaimed messages are left alone.
func TestReleaseClaims(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	clock := newFakeClock()
	db.Now = clock.Now
	jobs, seg := db.Queue("jobs"), db.Queue("segment")
	mustSend(t, jobs, "a", "b", "c")
	mustSend(t, seg, "s")
	claimed := mustReceive(t, jobs, 2, time.Hour)
	mustReceive(t, seg, 1, 31*time.Minute)
	wantStats(t, jobs, Stats{Visible: 1, InFlight: 2})

	n, err := db.ReleaseClaims(ctx)
	if err != nil || n != 3 {
		t.Fatalf("ReleaseClaims = %d, %v; want 3 (a, b and s)", n, err)
	}
	wantStats(t, jobs, Stats{Visible: 3})
	wantStats(t, seg, Stats{Visible: 1})
	if err := jobs.Delete(ctx, claimed[0].Receipt); !errors.Is(err, ErrStaleReceipt) {
		t.Errorf("Delete with a released receipt: %v, want ErrStaleReceipt", err)
	}
	if got := bodies(mustReceive(t, jobs, 10, time.Minute)); got != "[a#2 b#2 c#1]" {
		t.Errorf("after release, receive = %s; want [a#2 b#2 c#1] (counts kept)", got)
	}
	if got := bodies(mustReceive(t, seg, 10, time.Minute)); got != "[s#2]" {
		t.Errorf("after release, receive = %s; want [s#2]", got)
	}

	// Nothing claimed: nothing released.
	clock.Advance(2 * time.Minute)
	if n, err := db.ReleaseClaims(ctx); err != nil || n != 0 {
		t.Errorf("ReleaseClaims with expired claims only = %d, %v; want 0", n, err)
	}
}
