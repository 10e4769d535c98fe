package local

import (
	"context"
	"testing"
	"time"
)

// TestQueueSendDelayed: a delayed message is durable at once, invisible
// until its delay has passed, and unaffected by ReleaseClaims (a restart).
func TestQueueSendDelayed(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	clock := newFakeClock()
	db.Now = clock.Now
	q := db.Queue("ingest-groups")
	if err := q.SendDelayed(ctx, []byte("later"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	mustSend(t, q, "now")
	ds := mustReceive(t, q, 10, time.Minute)
	if got := bodies(ds); got != "[now#1]" {
		t.Fatalf("receive = %s, want only the undelayed message", got)
	}
	if err := q.Delete(ctx, ds[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReleaseClaims(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9 * time.Second)
	if got := bodies(mustReceive(t, q, 10, time.Minute)); got != "[]" {
		t.Fatalf("receive before the delay = %s, want nothing", got)
	}
	clock.Advance(time.Second)
	if got := bodies(mustReceive(t, q, 10, time.Minute)); got != "[later#1]" {
		t.Fatalf("receive after the delay = %s, want the delayed message", got)
	}
}
