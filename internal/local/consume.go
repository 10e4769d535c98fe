package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/iris-oculus/iris/internal/ports"
)

// BatchHandler handles a batch of messages, as a Lambda with SQS partial
// batch responses does: it returns the ids of the messages that failed
// (they stay and come back), or an error, which fails the whole batch.
type BatchHandler func(ctx context.Context, msgs []ports.Message) (failedIDs []string, err error)

// DefaultPollInterval is how often an idle Consumer looks at its queue
// when no Send wakes it (a send from another process does not).
const DefaultPollInterval = 200 * time.Millisecond

// Consumer polls a Queue and hands batches to a handler, in place of
// Lambda's SQS event source mapping.
//
// While the handler runs, the batch's visibility is extended every
// Visibility/2, so a long job is not redelivered under it; a consumer that
// dies stops extending it and the messages come back after at most
// Visibility. When the context is cancelled, the batch in hand is finished
// (the handler's context is not cancelled) and Run returns.
type Consumer struct {
	Queue      *Queue
	Batch      int           // messages per handler call; 0 means 1
	Visibility time.Duration // claim length, extended while the handler runs; 0 means 30 s
	Handler    BatchHandler
	// Backoff, if set, says how long a failed message stays invisible
	// after its receiveCount-th receive; otherwise it reappears when its
	// current claim runs out.
	Backoff func(receiveCount int) time.Duration
	// PollInterval bounds the wait for new messages; 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
}

// Consume runs a Consumer on q until ctx is cancelled.
func Consume(ctx context.Context, q *Queue, batch int, visibility time.Duration, handler BatchHandler) error {
	c := &Consumer{Queue: q, Batch: batch, Visibility: visibility, Handler: handler}
	return c.Run(ctx)
}

// Run receives and handles batches until ctx is cancelled; it returns nil
// then. Errors of the queue itself are logged and retried.
func (c *Consumer) Run(ctx context.Context) error {
	if c.Queue == nil || c.Handler == nil {
		return errors.New("consume: a Consumer needs a Queue and a Handler")
	}
	batch, vis, poll := max(c.Batch, 1), c.Visibility, c.PollInterval
	if vis <= 0 {
		vis = 30 * time.Second
	}
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for ctx.Err() == nil {
		wake := c.Queue.db.waiter(c.Queue.name)
		ds, err := c.Queue.Receive(ctx, batch, vis)
		if err != nil && ctx.Err() == nil {
			slog.Error("consume", "queue", c.Queue.name, "err", err)
		}
		if len(ds) > 0 {
			c.handle(context.WithoutCancel(ctx), ds, vis)
			continue
		}
		timer.Reset(poll)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-timer.C:
		}
	}
	return nil
}

// handle runs the handler on one batch with a heartbeat, then deletes the
// messages that succeeded and backs off the ones that failed. ctx is not
// cancelled by shutdown: the batch in hand is finished.
func (c *Consumer) handle(ctx context.Context, ds []Delivery, vis time.Duration) {
	stop := c.heartbeat(ctx, ds, vis)
	failed, err := c.call(ctx, ds)
	stop()
	q := c.Queue
	for _, d := range ds {
		if err == nil && !failed[d.ID] {
			if derr := q.Delete(ctx, d.Receipt); derr != nil {
				// Stale: the claim ran out and someone else has it; the
				// handlers are idempotent, so the duplicate is harmless.
				slog.Warn("consume: delete after success", "queue", q.name, "id", d.ID, "err", derr)
			}
			continue
		}
		if c.Backoff != nil {
			if verr := q.ChangeVisibility(ctx, d.Receipt, c.Backoff(d.ReceiveCount)); verr != nil {
				slog.Warn("consume: back off", "queue", q.name, "id", d.ID, "err", verr)
			}
		}
	}
}

// call runs the handler, turning a panic or an error into a failed batch.
func (c *Consumer) call(ctx context.Context, ds []Delivery) (failed map[string]bool, err error) {
	msgs := make([]ports.Message, len(ds))
	for i, d := range ds {
		msgs[i] = d.Message
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
			slog.Error("consume", "queue", c.Queue.name, "err", err)
		}
	}()
	ids, err := c.Handler(ctx, msgs)
	if err != nil {
		slog.Warn("consume: batch failed", "queue", c.Queue.name, "messages", len(ds), "err", err)
		return nil, err
	}
	failed = make(map[string]bool, len(ids))
	for _, id := range ids {
		failed[id] = true
	}
	return failed, nil
}

// heartbeat extends the batch's claims every vis/2 until stop is called.
func (c *Consumer) heartbeat(ctx context.Context, ds []Delivery, vis time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		live := make([]Delivery, len(ds))
		copy(live, ds)
		t := time.NewTicker(max(vis/2, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			keep := live[:0]
			for _, d := range live {
				if err := c.Queue.ChangeVisibility(ctx, d.Receipt, vis); err != nil {
					slog.Warn("consume: heartbeat", "queue", c.Queue.name, "id", d.ID, "err", err)
					continue // lost the claim; stop extending it
				}
				keep = append(keep, d)
			}
			live = keep
		}
	}()
	return func() { close(done); wg.Wait() }
}
