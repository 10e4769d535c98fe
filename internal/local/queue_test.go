package local

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/ports/queuetest"
)

func mustSend(t testing.TB, q *Queue, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if err := q.Send(context.Background(), []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
}

func mustReceive(t testing.TB, q *Queue, max int, vis time.Duration) []Delivery {
	t.Helper()
	ds, err := q.Receive(context.Background(), max, vis)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func bodies(ds []Delivery) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%s#%d", d.Body, d.ReceiveCount))
	}
	return fmt.Sprint(s)
}

func wantStats(t testing.TB, q *Queue, want Stats) {
	t.Helper()
	got, err := q.Stats(context.Background())
	if err != nil || got != want {
		t.Fatalf("Stats = %+v, %v; want %+v", got, err, want)
	}
}

func TestQueueSendReceiveDelete(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	db.Now = newFakeClock().Now
	q := db.Queue("jobs")
	mustSend(t, q, "a", "b", "c", "d")
	first := mustReceive(t, q, 2, time.Minute)
	if got := bodies(first); got != "[a#1 b#1]" {
		t.Fatalf("first receive = %s, want [a#1 b#1] (oldest first)", got)
	}
	if got := bodies(mustReceive(t, q, 10, time.Minute)); got != "[c#1 d#1]" {
		t.Fatalf("second receive = %s, want the rest", got)
	}
	if ds := mustReceive(t, q, 10, time.Minute); len(ds) != 0 {
		t.Fatalf("in-flight messages received again: %s", bodies(ds))
	}
	wantStats(t, q, Stats{InFlight: 4})
	for _, d := range first {
		if err := q.Delete(ctx, d.Receipt); err != nil {
			t.Fatal(err)
		}
		if err := q.Delete(ctx, d.Receipt); !errors.Is(err, ErrStaleReceipt) {
			t.Errorf("second delete = %v, want ErrStaleReceipt", err)
		}
	}
	wantStats(t, q, Stats{InFlight: 2})
	if ds := mustReceive(t, db.Queue("mesh"), 10, time.Minute); len(ds) != 0 {
		t.Errorf("queue mesh got queue jobs' messages: %s", bodies(ds))
	}
}

func TestQueueRejectsBadArguments(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	q := db.Queue("jobs")
	if _, err := q.Receive(ctx, 0, time.Second); err == nil {
		t.Error("Receive(max 0) accepted")
	}
	if _, err := q.Receive(ctx, 1, -time.Second); err == nil {
		t.Error("Receive(negative visibility) accepted")
	}
	if err := db.Queue("").Send(ctx, []byte("x")); err == nil {
		t.Error("Send to an unnamed queue accepted")
	}
	if err := q.ChangeVisibility(ctx, "nope", -time.Second); err == nil {
		t.Error("negative ChangeVisibility accepted")
	}
	if err := q.ChangeVisibility(ctx, "nope", time.Second); !errors.Is(err, ErrStaleReceipt) {
		t.Errorf("ChangeVisibility(unknown receipt) = %v, want ErrStaleReceipt", err)
	}
}

// A consumer that crashes holds its claim until the visibility runs out;
// then the message comes back with a new receipt, and the crashed
// consumer's receipt can no longer touch it.
func TestQueueCrashedClaimReappears(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	db := openDB(t)
	db.Now = clock.Now
	q := db.Queue("mesh")
	mustSend(t, q, "job-1")
	crashed := mustReceive(t, q, 1, 30*time.Second)
	clock.Advance(29 * time.Second)
	if ds := mustReceive(t, q, 1, 30*time.Second); len(ds) != 0 {
		t.Fatal("message redelivered before its visibility ran out")
	}
	clock.Advance(time.Second)
	again := mustReceive(t, q, 1, 30*time.Second)
	if len(again) != 1 || again[0].ReceiveCount != 2 || again[0].ID != crashed[0].ID || again[0].Receipt == crashed[0].Receipt {
		t.Fatalf("redelivery = %+v, want the same message with receive count 2 and a new receipt", again)
	}
	if err := q.Delete(ctx, crashed[0].Receipt); !errors.Is(err, ErrStaleReceipt) {
		t.Fatalf("stale Delete = %v, want ErrStaleReceipt", err)
	}
	if err := q.ChangeVisibility(ctx, crashed[0].Receipt, 0); !errors.Is(err, ErrStaleReceipt) {
		t.Fatalf("stale ChangeVisibility = %v, want ErrStaleReceipt", err)
	}
	wantStats(t, q, Stats{InFlight: 1}) // the new claim survived the stale receipt
	if err := q.ChangeVisibility(ctx, again[0].Receipt, 0); err != nil {
		t.Fatal(err)
	}
	wantStats(t, q, Stats{Visible: 1})
	third := mustReceive(t, q, 1, 30*time.Second)
	if len(third) != 1 || third[0].ReceiveCount != 3 {
		t.Fatalf("after ChangeVisibility(0) receive = %s", bodies(third))
	}
	if err := q.Delete(ctx, third[0].Receipt); err != nil {
		t.Fatal(err)
	}
	wantStats(t, q, Stats{})
}

func TestQueueDeadLettersAfterMaxReceives(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	db := openDB(t)
	db.Now = clock.Now
	q := db.Queue("jobs")
	q.MaxReceives = 3
	mustSend(t, q, "poison", "fine")
	sent := clock.Now()
	for i := 1; i <= 3; i++ {
		ds := mustReceive(t, q, 1, time.Minute)
		if len(ds) != 1 || string(ds[0].Body) != "poison" || ds[0].ReceiveCount != i {
			t.Fatalf("receive %d = %s", i, bodies(ds))
		}
		clock.Advance(time.Minute)
	}
	ds := mustReceive(t, q, 10, time.Minute)
	if got := bodies(ds); got != "[fine#1]" {
		t.Fatalf("after 3 receives: %s, want only [fine#1]", got)
	}
	dl, err := q.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 || string(dl[0].Body) != "poison" || dl[0].ReceiveCount != 3 ||
		!dl[0].SentAt.Equal(sent) || !dl[0].DeadAt.Equal(clock.Now()) {
		t.Fatalf("dead letters = %+v", dl)
	}
	wantStats(t, q, Stats{InFlight: 1, Dead: 1})
	if dl, _ := db.Queue("mesh").DeadLetters(ctx); len(dl) != 0 {
		t.Errorf("another queue sees the dead letter: %+v", dl)
	}
}

// A crash of the whole process: the file is closed with a message claimed
// and not deleted; after a restart the message comes back.
func TestQueueSurvivesRestart(t *testing.T) {
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "iris.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Now = clock.Now
	mustSend(t, db.Queue("jobs"), "claimed", "waiting")
	if ds := mustReceive(t, db.Queue("jobs"), 1, time.Minute); len(ds) != 1 {
		t.Fatal("nothing received")
	}
	db.Close()

	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Now = clock.Now
	if got := bodies(mustReceive(t, db.Queue("jobs"), 10, time.Hour)); got != "[waiting#1]" {
		t.Fatalf("after restart: %s, want [waiting#1]", got)
	}
	clock.Advance(time.Minute)
	if got := bodies(mustReceive(t, db.Queue("jobs"), 10, time.Minute)); got != "[claimed#2]" {
		t.Fatalf("after the claim ran out: %s, want [claimed#2]", got)
	}
}

// Receivers on two handles (two processes) never get the same claim.
func TestQueueConcurrentReceiversClaimOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "iris.db")
	var dbs [2]*DB
	for i := range dbs {
		db, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[i] = db
	}
	const n = 300
	for i := range n {
		mustSend(t, dbs[0].Queue("jobs"), fmt.Sprint(i))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			q := dbs[g%2].Queue("jobs")
			for {
				ds, err := q.Receive(ctx, 7, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				for _, d := range ds {
					mu.Lock()
					seen[string(d.Body)]++
					mu.Unlock()
					if err := q.Delete(ctx, d.Receipt); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d distinct messages received, want %d", len(seen), n)
	}
	for b, c := range seen {
		if c != 1 {
			t.Errorf("message %s received %d times", b, c)
		}
	}
}

func BenchmarkQueueSendReceiveDelete(b *testing.B) {
	ctx := context.Background()
	q := openDB(b).Queue("jobs")
	body := []byte(`{"jobId":"job-bench01","volumeKey":"volumes/job-bench01/ct.nii.gz"}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := q.Send(ctx, body); err != nil {
			b.Fatal(err)
		}
		ds, err := q.Receive(ctx, 1, time.Minute)
		if err != nil || len(ds) != 1 {
			b.Fatalf("Receive = %d, %v", len(ds), err)
		}
		if err := q.Delete(ctx, ds[0].Receipt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// TestQueueContract runs the Queue conformance suite on the SQLite queue,
// received as the local consumer receives.
func TestQueueContract(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queuetest.Fixture {
		q := openDB(t).Queue("contract")
		return queuetest.Fixture{Queue: q, Receive: func(ctx context.Context) ([][]byte, error) {
			ds, err := q.Receive(ctx, 10, time.Minute)
			var bodies [][]byte
			for _, d := range ds {
				if err := q.Delete(ctx, d.Receipt); err != nil {
					return nil, err
				}
				bodies = append(bodies, d.Body)
			}
			return bodies, err
		}}
	})
}
