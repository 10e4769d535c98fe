package cloudlocal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Chaos makes deliveries as unreliable as the services promise: S3 and
// EventBridge deliver at least once and in no particular order.
type Chaos struct {
	Duplicate bool          // every delivery happens twice
	MaxDelay  time.Duration // each delivery waits a random time below this
}

// Bus is EventBridge's default bus: PutEvents, the template's rules, and
// their targets.
type Bus struct {
	rules      []RuleSpec
	functions  map[string]*Function
	queues     *Queues
	log        *slog.Logger
	chaos      Chaos
	retryDelay time.Duration // Lambda's asynchronous retry delay (1–2 min on AWS)
	busy       *atomic.Int64

	mu        sync.Mutex
	published int
	delivered map[string]int // by target logical id
	rng       *rand.Rand
}

// envelope is the event as EventBridge delivers it to targets.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// put routes one event to every matching rule's targets.
func (b *Bus) put(ctx context.Context, ev envelope) {
	raw, _ := json.Marshal(ev)
	b.mu.Lock()
	b.published++
	b.mu.Unlock()
	for _, r := range b.rules {
		if r.Pattern == nil {
			continue
		}
		ok, err := r.Pattern.Match(raw)
		if err != nil || !ok {
			continue
		}
		for _, t := range r.Targets {
			b.deliver(ctx, r, t, raw)
		}
	}
}

// deliver hands raw to a target in the background, under the chaos
// settings.
func (b *Bus) deliver(ctx context.Context, r RuleSpec, t TargetSpec, raw []byte) {
	n := 1
	if b.chaos.Duplicate {
		n = 2
	}
	for range n {
		b.busy.Add(1)
		go func() {
			defer b.busy.Add(-1)
			if b.chaos.MaxDelay > 0 {
				b.mu.Lock()
				d := time.Duration(b.rng.Int64N(int64(b.chaos.MaxDelay)))
				b.mu.Unlock()
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			}
			b.mu.Lock()
			b.delivered[t.Resource]++
			b.mu.Unlock()
			if t.Lambda {
				b.invokeAsync(ctx, b.functions[t.Resource], raw)
				return
			}
			b.sendToQueue(ctx, r, t, raw)
		}()
	}
}

// invokeAsync is Lambda's asynchronous invocation: the first try, then the
// function's retries, then its dead-letter queue (or the event is lost,
// as on AWS without one).
func (b *Bus) invokeAsync(ctx context.Context, f *Function, payload []byte) {
	start := time.Now()
	var last error
	for try := 0; try <= f.Spec.Retries; try++ {
		if try > 0 {
			select {
			case <-time.After(time.Duration(try) * b.retryDelay):
			case <-ctx.Done():
				return
			}
			if time.Since(start) > f.Spec.MaxEventAge {
				break
			}
		}
		_, err := f.Invoke(ctx, payload)
		if err == nil {
			return
		}
		last = err
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("lambda: asynchronous invocation failed", "function", f.Spec.Name, "try", try+1, "err", err)
	}
	if f.Spec.DLQ == "" {
		b.log.Error("lambda: asynchronous invocation dropped (no dead-letter queue)", "function", f.Spec.Name, "err", last)
		return
	}
	fe, _ := last.(*FunctionError)
	code, msg := "Unhandled", fmt.Sprint(last)
	if fe != nil {
		code, msg = fe.Type, fe.Message
	}
	if err := b.queues.send(ctx, f.Spec.DLQ, string(payload), map[string]string{
		"RequestID": newID(), "ErrorCode": code, "ErrorMessage": trim(msg, 256)}); err != nil {
		b.log.Error("lambda: dead-letter queue", "function", f.Spec.Name, "err", err)
	}
}

// sendToQueue is an SQS target: the event is the message body; failed
// sends are retried within the target's retry policy, then go to its
// dead-letter queue.
func (b *Bus) sendToQueue(ctx context.Context, r RuleSpec, t TargetSpec, raw []byte) {
	start := time.Now()
	var err error
	for try := 0; try <= t.Retries && time.Since(start) < t.MaxAge; try++ {
		if err = b.queues.send(ctx, t.Resource, string(raw), nil); err == nil {
			return
		}
		select {
		case <-time.After(time.Duration(min(try+1, 10)) * 100 * time.Millisecond):
		case <-ctx.Done():
			return
		}
	}
	if t.DLQ != "" {
		b.queues.send(ctx, t.DLQ, string(raw), map[string]string{
			"RULE_ARN": ruleARN(r.ID), "TARGET_ARN": t.Resource, "ERROR_CODE": "SDK_CLIENT_ERROR", "ERROR_MESSAGE": trim(fmt.Sprint(err), 256)})
	}
}

func ruleARN(id string) string { return "arn:aws:events:" + Region + ":" + Account + ":rule/" + id }

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// schedule sends the rule's "Scheduled Event" every interval until ctx
// ends.
func (b *Bus) schedule(ctx context.Context, r RuleSpec, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.Tick(ctx, r.ID)
		}
	}
}

// Tick sends the scheduled rule's event now, as its schedule would.
func (b *Bus) Tick(ctx context.Context, ruleID string) error {
	for _, r := range b.rules {
		if r.ID != ruleID || r.Schedule == 0 {
			continue
		}
		raw, _ := json.Marshal(envelope{Version: "0", ID: newID(), DetailType: "Scheduled Event", Source: "aws.events",
			Account: Account, Time: time.Now().UTC().Format(time.RFC3339), Region: Region,
			Resources: []string{ruleARN(r.ID)}, Detail: json.RawMessage(`{}`)})
		for _, t := range r.Targets {
			b.deliver(ctx, r, t, raw)
		}
		return nil
	}
	return fmt.Errorf("no scheduled rule %s", ruleID)
}

// ScheduledRules are the logical ids of the rules that run on a schedule.
func (b *Bus) ScheduledRules() []string {
	var ids []string
	for _, r := range b.rules {
		if r.Schedule > 0 {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// Published counts the events put on the bus.
func (b *Bus) Published() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.published
}

// handler serves EventBridge's PutEvents (AWS JSON 1.1).
func (b *Bus) handler(ctx context.Context) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" {
			awsJSONError(w, http.StatusBadRequest, "UnknownOperationException", "only PutEvents is emulated")
			return
		}
		var in struct {
			Entries []struct {
				Source, DetailType, Detail, EventBusName string
				Resources                                []string
				Time                                     *float64
			}
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || json.Unmarshal(body, &in) != nil {
			awsJSONError(w, http.StatusBadRequest, "SerializationException", "body is not a PutEvents request")
			return
		}
		if len(in.Entries) == 0 || len(in.Entries) > 10 {
			awsJSONError(w, http.StatusBadRequest, "ValidationException", "1 to 10 entries")
			return
		}
		type entry struct {
			EventId      string `json:",omitempty"`
			ErrorCode    string `json:",omitempty"`
			ErrorMessage string `json:",omitempty"`
		}
		out := struct {
			FailedEntryCount int
			Entries          []entry
		}{}
		var accepted []envelope
		for _, e := range in.Entries {
			if bus := e.EventBusName; bus != "" && bus != "default" && !strings.HasSuffix(bus, ":event-bus/default") {
				out.FailedEntryCount++
				out.Entries = append(out.Entries, entry{ErrorCode: "ResourceNotFoundException", ErrorMessage: "Event bus " + bus + " does not exist."})
				continue
			}
			if e.Source == "" || e.DetailType == "" || !json.Valid([]byte(e.Detail)) || !strings.HasPrefix(strings.TrimSpace(e.Detail), "{") {
				out.FailedEntryCount++
				out.Entries = append(out.Entries, entry{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."})
				continue
			}
			t := time.Now().UTC()
			if e.Time != nil {
				t = time.Unix(int64(*e.Time), 0).UTC()
			}
			ev := envelope{Version: "0", ID: newID(), DetailType: e.DetailType, Source: e.Source, Account: Account,
				Time: t.Format(time.RFC3339), Region: Region, Resources: e.Resources, Detail: json.RawMessage(e.Detail)}
			if ev.Resources == nil {
				ev.Resources = []string{}
			}
			out.Entries = append(out.Entries, entry{EventId: ev.ID})
			accepted = append(accepted, ev)
		}
		for _, ev := range accepted {
			b.put(ctx, ev)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(out)
	})
}

func awsJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// Queues are the template's queues on goaws.
type Queues struct {
	client *sqs.Client
	url    map[string]string // by logical id
	arn    map[string]string
}

func (q *Queues) send(ctx context.Context, id, body string, attrs map[string]string) error {
	url, ok := q.url[id]
	if !ok {
		return fmt.Errorf("no queue %s", id)
	}
	in := &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body}
	if len(attrs) > 0 {
		in.MessageAttributes = map[string]sqstypes.MessageAttributeValue{}
		for k, v := range attrs {
			in.MessageAttributes[k] = sqstypes.MessageAttributeValue{DataType: awssdk.String("String"), StringValue: awssdk.String(v)}
		}
	}
	_, err := q.client.SendMessage(ctx, in)
	return err
}

// Depth is the visible and in-flight messages of the queue with logical
// id.
func (q *Queues) Depth(ctx context.Context, id string) (visible, inFlight int, err error) {
	url, ok := q.url[id]
	if !ok {
		return 0, 0, fmt.Errorf("no queue %s", id)
	}
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return 0, 0, err
	}
	fmt.Sscan(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], &visible)
	fmt.Sscan(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)], &inFlight)
	return visible, inFlight, nil
}
