package local

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/ports"
)

// calls records what a handler was given.
type calls struct {
	mu  sync.Mutex
	got [][]ports.Message
}

func (c *calls) add(msgs []ports.Message) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, msgs)
	return len(c.got)
}

func (c *calls) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func (c *calls) call(i int) []ports.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[i]
}

// run starts r until the test ends; it returns a stop that cancels it and
// waits for Run, failing the test if Run failed.
func run(t *testing.T, r interface{ Run(context.Context) error }) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestConsumePartialBatch(t *testing.T) {
	clock := newFakeClock()
	db := openDB(t)
	db.Now = clock.Now
	q := db.Queue("jobs")
	mustSend(t, q, "a", "b", "c")
	var cs calls
	c := &Consumer{Queue: q, Batch: 3, Visibility: time.Minute, PollInterval: 5 * time.Millisecond,
		Handler: func(_ context.Context, msgs []ports.Message) ([]string, error) {
			var failed []string
			if cs.add(msgs) == 1 {
				for _, m := range msgs {
					if string(m.Body) == "b" {
						failed = append(failed, m.ID)
					}
				}
			}
			return failed, nil
		}}
	stop := run(t, c)
	waitFor(t, "the first batch", 5*time.Second, func() bool { return cs.n() == 1 })
	waitFor(t, "a and c deleted", 5*time.Second, func() bool {
		s, _ := q.Stats(context.Background())
		return s == Stats{InFlight: 1}
	})
	if got := len(cs.call(0)); got != 3 {
		t.Fatalf("first batch has %d messages, want 3", got)
	}
	clock.Advance(time.Minute) // b's claim runs out
	waitFor(t, "b again", 5*time.Second, func() bool { return cs.n() == 2 })
	retry := cs.call(1)
	if len(retry) != 1 || string(retry[0].Body) != "b" || retry[0].ReceiveCount != 2 {
		t.Fatalf("retry batch = %+v, want only b with receive count 2", retry)
	}
	stop()
	wantStats(t, q, Stats{})
}

func TestConsumeHandlerErrorOrPanicFailsTheBatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func() ([]string, error)
	}{
		{"error", func() ([]string, error) { return nil, errors.New("disk full") }},
		{"panic", func() ([]string, error) { panic("nil map") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			db := openDB(t)
			db.Now = clock.Now
			q := db.Queue("jobs")
			mustSend(t, q, "a", "b")
			var cs calls
			c := &Consumer{Queue: q, Batch: 10, Visibility: time.Minute, PollInterval: 5 * time.Millisecond,
				Backoff: func(n int) time.Duration { return time.Duration(n) * 10 * time.Second },
				Handler: func(_ context.Context, msgs []ports.Message) ([]string, error) {
					if cs.add(msgs) == 1 {
						return tc.fail()
					}
					return nil, nil
				}}
			stop := run(t, c)
			waitFor(t, "the first batch", 5*time.Second, func() bool { return cs.n() == 1 })
			waitFor(t, "the backoff", 5*time.Second, func() bool {
				s, _ := q.Stats(context.Background())
				return s == Stats{InFlight: 2}
			})
			clock.Advance(9 * time.Second) // backoff after receive 1 is 10 s
			time.Sleep(30 * time.Millisecond)
			if cs.n() != 1 {
				t.Fatal("redelivered before the backoff ran out")
			}
			clock.Advance(time.Second)
			waitFor(t, "the retry", 5*time.Second, func() bool { return cs.n() == 2 })
			if b := cs.call(1); len(b) != 2 || b[0].ReceiveCount != 2 || b[1].ReceiveCount != 2 {
				t.Fatalf("retry = %+v, want both with receive count 2", b)
			}
			stop()
			wantStats(t, q, Stats{})
		})
	}
}

// A handler that runs for several visibility timeouts keeps its claim: the
// heartbeat extends it, so no one else receives the message meanwhile.
func TestConsumeHeartbeatKeepsLongHandlerClaim(t *testing.T) {
	db := openDB(t) // real clock: the heartbeat runs on real timers
	q := db.Queue("mesh")
	mustSend(t, q, "mesh-30s")
	// The heartbeat renews every vis/2, so the claim has vis/2 of slack.
	// A second of visibility keeps that slack far above the scheduling and
	// SQLite delays of a loaded CI machine (300 ms failed there once),
	// while the handler still outlives four visibility timeouts.
	const vis = time.Second
	started := make(chan struct{})
	var cs calls
	c := &Consumer{Queue: q, Batch: 1, Visibility: vis, PollInterval: 5 * time.Millisecond,
		Handler: func(_ context.Context, msgs []ports.Message) ([]string, error) {
			cs.add(msgs)
			close(started)
			time.Sleep(4 * vis)
			return nil, nil
		}}
	stop := run(t, c)
	<-started
	for range 6 {
		time.Sleep(vis / 2)
		if ds := mustReceive(t, q, 1, vis); len(ds) != 0 {
			t.Fatalf("message handed out again while its handler runs (receive count %d)", ds[0].ReceiveCount)
		}
	}
	stop()
	if cs.n() != 1 || cs.call(0)[0].ReceiveCount != 1 {
		t.Errorf("handler called %d times; want once", cs.n())
	}
	wantStats(t, q, Stats{})
}

// Cancelling the consumer lets the batch in hand finish and be deleted.
func TestConsumeStopsAfterTheBatchInHand(t *testing.T) {
	db := openDB(t)
	q := db.Queue("jobs")
	mustSend(t, q, "a")
	started, release := make(chan struct{}), make(chan struct{})
	var handlerCtxErr error
	c := &Consumer{Queue: q, PollInterval: 5 * time.Millisecond,
		Handler: func(ctx context.Context, msgs []ports.Message) ([]string, error) {
			close(started)
			<-release
			handlerCtxErr = ctx.Err()
			return nil, nil
		}}
	stop := run(t, c)
	<-started
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Run returned while its handler was still running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	if handlerCtxErr != nil {
		t.Errorf("the handler's context was cancelled: %v", handlerCtxErr)
	}
	wantStats(t, q, Stats{})
}

// An idle consumer is woken by Send, not by its (here: hour-long) poll.
func TestConsumeWakesOnSend(t *testing.T) {
	db := openDB(t)
	q := db.Queue("jobs")
	got := make(chan string, 1)
	c := &Consumer{Queue: q, PollInterval: time.Hour,
		Handler: func(_ context.Context, msgs []ports.Message) ([]string, error) {
			got <- string(msgs[0].Body)
			return nil, nil
		}}
	run(t, c)
	time.Sleep(50 * time.Millisecond) // let it find the queue empty and wait
	mustSend(t, db.Queue("jobs"), "hello")
	select {
	case b := <-got:
		if b != "hello" {
			t.Errorf("got %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not wake the consumer")
	}
}

func TestConsumeNeedsQueueAndHandler(t *testing.T) {
	if err := (&Consumer{}).Run(context.Background()); err == nil {
		t.Error("Run without queue and handler returned nil")
	}
}
