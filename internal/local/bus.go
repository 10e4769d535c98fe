package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/local/pattern"
	"github.com/iris-oculus/iris/internal/ports"
)

// EventHandler is a bus target: a stage's entry point for one event.
type EventHandler func(ctx context.Context, ev events.Event) error

// BusQueuePrefix names the queue of each target: "bus:ingest", ….
const BusQueuePrefix = "bus:"

// Bus defaults, after EventBridge's retry policy scaled to one machine.
const (
	DefaultBusAttempts   = 8
	DefaultBusVisibility = time.Minute
)

// Bus is EventBridge in process. Publish matches each event against the
// routing rules (events.Rules, compiled with events.MustPattern: the same
// patterns the CDK stack deploys) and durably enqueues one delivery per
// matched target in that target's queue before it returns; Run delivers
// them to the handlers. A handler error means redelivery after a backoff,
// and after MaxAttempts the event goes to the target queue's dead letters,
// as an EventBridge target's retry policy and DLQ do. Events that match no
// rule are dropped.
//
// Two rules with the same target deliver an event to it once (EventBridge
// would deliver twice; the handlers tolerate either).
type Bus struct {
	// MaxAttempts is how often a delivery is tried; 0 means
	// DefaultBusAttempts.
	MaxAttempts int
	// Visibility is the claim on a delivery while its handler runs, kept
	// alive by a heartbeat; 0 means DefaultBusVisibility.
	Visibility time.Duration
	// Backoff is the wait before retry n (1, 2, …); nil means 1 s doubling
	// up to 5 min.
	Backoff func(attempt int) time.Duration
	// PollInterval is passed to each target's Consumer.
	PollInterval time.Duration
	// Workers is how many deliveries of a target are handled at once (as
	// Lambda runs concurrent invocations); a target not named gets 1.
	Workers map[string]int

	db     *DB
	routes []route
	mu     sync.Mutex
	hs     map[string]EventHandler
}

type route struct {
	rule    string
	target  string
	pattern *pattern.Pattern
}

var _ ports.Bus = (*Bus)(nil)

// NewBus routes the events of bucket's rules through queues in db to
// handlers, keyed by target (events.TargetIngest, …). Handlers may also be
// added later with Handle, before Run; publishing needs none.
func NewBus(db *DB, bucket string, handlers map[string]EventHandler) (*Bus, error) {
	if bucket == "" {
		return nil, fmt.Errorf("new bus: empty bucket name")
	}
	b := &Bus{db: db, hs: map[string]EventHandler{}}
	for _, r := range events.Rules(bucket) {
		p, err := pattern.FromMap(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("new bus: rule %s: %w", r.Name, err)
		}
		b.routes = append(b.routes, route{rule: r.Name, target: r.Target, pattern: p})
	}
	for t, h := range handlers {
		if err := b.Handle(t, h); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Handle sets the handler of target, which must be one of the rules'.
func (b *Bus) Handle(target string, h EventHandler) error {
	if !b.isTarget(target) {
		return fmt.Errorf("bus: %q is not a target of any rule (targets: %v)", target, b.Targets())
	}
	if h == nil {
		return fmt.Errorf("bus: nil handler for target %q", target)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hs[target] = h
	return nil
}

// Targets lists the rules' targets, sorted.
func (b *Bus) Targets() []string {
	seen := map[string]bool{}
	var ts []string
	for _, r := range b.routes {
		if !seen[r.target] {
			seen[r.target] = true
			ts = append(ts, r.target)
		}
	}
	sort.Strings(ts)
	return ts
}

func (b *Bus) isTarget(t string) bool {
	for _, r := range b.routes {
		if r.target == t {
			return true
		}
	}
	return false
}

// Queue is target's delivery queue, for its stats and dead letters.
func (b *Bus) Queue(target string) *Queue {
	q := b.db.Queue(BusQueuePrefix + target)
	q.MaxReceives = b.MaxAttempts
	if q.MaxReceives <= 0 {
		q.MaxReceives = DefaultBusAttempts
	}
	return q
}

// Route returns the targets ev goes to, each once, in rule order.
func (b *Bus) Route(ev events.Event) ([]string, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("route event %s: %w", ev.ID, err)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("route event %s: %w", ev.ID, err)
	}
	var ts []string
	for _, r := range b.routes {
		if r.pattern.MatchValue(v) && !contains(ts, r.target) {
			ts = append(ts, r.target)
		}
	}
	return ts, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Publish implements ports.Bus. The deliveries of all evs are written
// in one transaction: when Publish returns nil, every matched target will
// get its event, across crashes. An event without an id or time gets them,
// as EventBridge assigns them.
func (b *Bus) Publish(ctx context.Context, evs ...events.Event) error {
	ds, err := b.deliveries(evs)
	if err != nil || len(ds) == 0 {
		return err
	}
	tx, err := b.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer tx.Rollback()
	if err := b.enqueue(ctx, tx, ds); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	b.notify(ds)
	return nil
}

type delivery struct {
	queue string
	body  []byte
}

// enqueue writes ds in tx: the caller's transaction, so that the work it
// records and the events that announce it commit together (an outbox).
func (b *Bus) enqueue(ctx context.Context, tx execer, ds []delivery) error {
	now := b.db.now()
	for _, d := range ds {
		if err := sendExec(ctx, tx, d.queue, newID(), d.body, now); err != nil {
			return fmt.Errorf("publish to %s: %w", d.queue, err)
		}
	}
	return nil
}

// notify wakes the consumers of ds once their transaction has committed.
func (b *Bus) notify(ds []delivery) {
	for _, d := range ds {
		b.db.notify(d.queue)
	}
}

// deliveries routes evs: one delivery per matched target of each.
func (b *Bus) deliveries(evs []events.Event) ([]delivery, error) {
	var ds []delivery
	now := b.db.now()
	for _, ev := range evs {
		if ev.ID == "" {
			ev.ID = newID()
		}
		if ev.Time.IsZero() {
			ev.Time = now.UTC()
		}
		if ev.Version == "" {
			ev.Version = "0"
		}
		if ev.Resources == nil {
			ev.Resources = []string{}
		}
		ts, err := b.Route(ev)
		if err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		if len(ts) == 0 {
			slog.Debug("bus: no rule matches", "id", ev.ID, "source", ev.Source, "detailType", ev.DetailType)
			continue
		}
		body, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("publish event %s: %w", ev.ID, err)
		}
		for _, t := range ts {
			ds = append(ds, delivery{BusQueuePrefix + t, body})
		}
	}
	return ds, nil
}

// Run delivers events to the handlers, Workers consumers per target, until ctx
// is cancelled; each finishes the batch in hand before Run returns. Every
// rule's target needs a handler.
func (b *Bus) Run(ctx context.Context) error {
	b.mu.Lock()
	hs := make(map[string]EventHandler, len(b.hs))
	for t, h := range b.hs {
		hs[t] = h
	}
	b.mu.Unlock()
	var cs []*Consumer
	for _, t := range b.Targets() {
		h, ok := hs[t]
		if !ok {
			return fmt.Errorf("bus: no handler for target %q", t)
		}
		for range max(b.Workers[t], 1) {
			cs = append(cs, b.consumer(t, h))
		}
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { c.Run(ctx) })
	}
	wg.Wait()
	return nil
}

func (b *Bus) consumer(target string, h EventHandler) *Consumer {
	backoff := b.Backoff
	if backoff == nil {
		backoff = defaultBackoff
	}
	vis := b.Visibility
	if vis <= 0 {
		vis = DefaultBusVisibility
	}
	return &Consumer{
		Queue:        b.Queue(target),
		Batch:        1, // EventBridge invokes a target with one event
		Visibility:   vis,
		Backoff:      backoff,
		PollInterval: b.PollInterval,
		Handler: func(ctx context.Context, msgs []ports.Message) ([]string, error) {
			var failed []string
			for _, m := range msgs {
				var ev events.Event
				err := json.Unmarshal(m.Body, &ev)
				if err == nil {
					err = h(ctx, ev)
				}
				if err != nil {
					slog.Warn("bus: delivery failed", "target", target, "event", ev.ID, "attempt", m.ReceiveCount, "err", err)
					failed = append(failed, m.ID)
				}
			}
			return failed, nil
		},
	}
}

func defaultBackoff(attempt int) time.Duration {
	d := time.Second
	for i := 1; i < attempt && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}
