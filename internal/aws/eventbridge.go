package aws

import (
	"context"
	"fmt"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/ports"
)

// EventBridgeAPI is the part of *eventbridge.Client that EventBridgeBus
// uses.
type EventBridgeAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// PutEvents limits: entries per call, and bytes per entry (and, to stay
// clear of the request limit, per call) as EventBridge counts them.
const (
	maxPutEntries = 10
	maxEntryBytes = 256 * 1024
)

// EventBridgeConfig configures an EventBridgeBus.
type EventBridgeConfig struct {
	// BusName is the event bus's name or ARN; "" means the account's
	// default bus.
	BusName string
	// Attempts is how often an entry is sent before Publish gives up on
	// it (EventBridge can fail single entries of a call, for instance when
	// throttled); 0 means 4.
	Attempts int
	// Backoff is the wait before the first resend of failed entries,
	// doubling after each; 0 means 100ms.
	Backoff time.Duration
}

// EventBridgeBus publishes pipeline events to EventBridge (ports.Bus).
//
// PutEvents succeeds as a call even when some of its entries fail; those
// entries are resent, alone, a few times with backoff, and if any still
// fails Publish returns an error naming each. Entries that went through
// are not resent, but EventBridge delivers at least once anyway, so
// consumers must be idempotent. The envelope's ID, Account and Region are
// EventBridge's to assign: only Source, DetailType, Detail, Time and
// Resources are sent.
type EventBridgeBus struct {
	client EventBridgeAPI
	cfg    EventBridgeConfig
}

var _ ports.Bus = (*EventBridgeBus)(nil)

// NewEventBridgeBus returns a bus publishing through client.
func NewEventBridgeBus(client EventBridgeAPI, cfg EventBridgeConfig) *EventBridgeBus {
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 100 * time.Millisecond
	}
	return &EventBridgeBus{client: client, cfg: cfg}
}

// pending is one entry on its way, with the event it came from for error
// messages.
type pending struct {
	ev    events.Event
	entry types.PutEventsRequestEntry
	err   string // the last failure, "" until one
}

// Publish implements ports.Bus: it sends evs in batches of at most ten
// entries and returns an error if any event could not be published.
func (b *EventBridgeBus) Publish(ctx context.Context, evs ...events.Event) error {
	var batch []pending
	size := 0
	for _, ev := range evs {
		p, n, err := b.entry(ev)
		if err != nil {
			return err
		}
		if len(batch) == maxPutEntries || size+n > maxEntryBytes {
			if err := b.send(ctx, batch); err != nil {
				return err
			}
			batch, size = nil, 0
		}
		batch = append(batch, p)
		size += n
	}
	if len(batch) == 0 {
		return nil
	}
	return b.send(ctx, batch)
}

// entry converts ev, returning its size as EventBridge counts it.
func (b *EventBridgeBus) entry(ev events.Event) (pending, int, error) {
	if ev.Source == "" || ev.DetailType == "" {
		return pending{}, 0, fmt.Errorf("publish event %s: source %q and detail type %q must both be set", ev.ID, ev.Source, ev.DetailType)
	}
	detail := string(ev.Detail)
	if detail == "" {
		detail = "{}"
	}
	e := types.PutEventsRequestEntry{Source: &ev.Source, DetailType: &ev.DetailType, Detail: &detail, Resources: ev.Resources}
	if b.cfg.BusName != "" {
		e.EventBusName = &b.cfg.BusName
	}
	n := len(ev.Source) + len(ev.DetailType) + len(detail)
	if !ev.Time.IsZero() {
		e.Time = awssdk.Time(ev.Time)
		n += 14
	}
	for _, r := range ev.Resources {
		n += len(r)
	}
	if n > maxEntryBytes {
		return pending{}, 0, fmt.Errorf("publish %q event %s: %d bytes, EventBridge takes at most %d", ev.DetailType, ev.ID, n, maxEntryBytes)
	}
	return pending{ev: ev, entry: e}, n, nil
}

// send puts one batch, resending the entries that fail.
func (b *EventBridgeBus) send(ctx context.Context, batch []pending) error {
	wait := b.cfg.Backoff
	for attempt := 1; ; attempt++ {
		entries := make([]types.PutEventsRequestEntry, len(batch))
		for i, p := range batch {
			entries[i] = p.entry
		}
		out, err := b.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			return fmt.Errorf("put events %s: %w", names(batch), err)
		}
		if len(out.Entries) != len(batch) {
			return fmt.Errorf("put events %s: %d results for %d entries", names(batch), len(out.Entries), len(batch))
		}
		var failed []pending
		for i, r := range out.Entries {
			if r.ErrorCode != nil || r.EventId == nil {
				p := batch[i]
				p.err = awssdk.ToString(r.ErrorCode) + ": " + awssdk.ToString(r.ErrorMessage)
				if r.ErrorCode == nil {
					p.err = "no event id and no error code returned"
				}
				failed = append(failed, p)
			}
		}
		if len(failed) == 0 {
			return nil
		}
		if attempt == b.cfg.Attempts {
			msgs := make([]string, len(failed))
			for i, p := range failed {
				msgs[i] = fmt.Sprintf("%q event %s: %s", p.ev.DetailType, p.ev.ID, p.err)
			}
			return fmt.Errorf("put events: %d of them failed after %d attempts: %s", len(failed), attempt, strings.Join(msgs, "; "))
		}
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("put events %s: %w", names(failed), err)
		}
		wait *= 2
		batch = failed
	}
}

func names(batch []pending) string {
	s := make([]string, len(batch))
	for i, p := range batch {
		s[i] = fmt.Sprintf("%q %s", p.ev.DetailType, p.ev.ID)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting to retry: %w", ctx.Err())
	}
}
