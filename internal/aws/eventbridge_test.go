package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/aws/awstest"
)

// putEntry is a PutEvents request entry as it travels on the wire.
type putEntry struct {
	Source       string
	DetailType   string
	Detail       string
	EventBusName *string
	Time         *float64 // epoch seconds
	Resources    []string
}

// fakeEventBridge answers PutEvents, failing entries as fail says: it gets
// the entry and how often an entry with that detail was seen before, and
// returns an error code or "".
func fakeEventBridge(t *testing.T, fail func(e putEntry, seen int) string) (*eventbridge.Client, *awstest.JSONAPI) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := awstest.StartJSONAPI(t, map[string]awstest.Handler{
		"AWSEvents.PutEvents": func(body json.RawMessage) (any, *awstest.APIError) {
			var in struct{ Entries []putEntry }
			if err := json.Unmarshal(body, &in); err != nil {
				return nil, &awstest.APIError{Status: 400, Code: "SerializationException", Message: err.Error()}
			}
			if len(in.Entries) == 0 || len(in.Entries) > 10 {
				return nil, &awstest.APIError{Status: 400, Code: "ValidationException", Message: fmt.Sprintf("%d entries", len(in.Entries))}
			}
			type result struct {
				EventId      string `json:",omitempty"`
				ErrorCode    string `json:",omitempty"`
				ErrorMessage string `json:",omitempty"`
			}
			out := struct {
				FailedEntryCount int
				Entries          []result
			}{}
			mu.Lock()
			defer mu.Unlock()
			for i, e := range in.Entries {
				code := fail(e, seen[e.Detail])
				seen[e.Detail]++
				if code != "" {
					out.FailedEntryCount++
					out.Entries = append(out.Entries, result{ErrorCode: code, ErrorMessage: "entry " + fmt.Sprint(i) + " failed"})
					continue
				}
				out.Entries = append(out.Entries, result{EventId: fmt.Sprintf("eb-%d-%d", len(seen), i)})
			}
			return out, nil
		},
	})
	client := eventbridge.New(eventbridge.Options{Region: awstest.Region, BaseEndpoint: awssdk.String(srv.URL()), Credentials: awstest.Credentials()})
	return client, srv
}

func entries(t *testing.T, c awstest.Call) []putEntry {
	t.Helper()
	if c.Target != "AWSEvents.PutEvents" {
		t.Fatalf("call to %s", c.Target)
	}
	var in struct{ Entries []putEntry }
	if err := json.Unmarshal(c.Body, &in); err != nil {
		t.Fatal(err)
	}
	return in.Entries
}

func testEvents(t *testing.T, n int) []events.Event {
	t.Helper()
	at := time.Date(2026, 11, 27, 8, 30, 15, 0, time.UTC)
	evs := make([]events.Event, n)
	for i := range evs {
		id := fmt.Sprintf("job-ev%04d", i)
		ev, err := events.New(fmt.Sprintf("ev-%d", i), events.JobAccepted, events.Accepted{JobID: id, VolumeKey: events.VolumeKey(id)}, at.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ev.Resources = []string{"arn:aws:s3:::bucket/" + events.VolumeKey(id)}
		evs[i] = ev
	}
	return evs
}

func TestEventBridgeBusBatches(t *testing.T) {
	client, srv := fakeEventBridge(t, func(putEntry, int) string { return "" })
	bus := NewEventBridgeBus(client, EventBridgeConfig{BusName: "iris-bus"})
	evs := testEvents(t, 23)
	if err := bus.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d PutEvents calls for 23 events, want 3", len(calls))
	}
	var sent []putEntry
	for i, c := range calls {
		es := entries(t, c)
		if want := []int{10, 10, 3}[i]; len(es) != want {
			t.Errorf("call %d has %d entries, want %d", i, len(es), want)
		}
		if !strings.Contains(c.Header.Get("Authorization"), "/events/aws4_request") {
			t.Errorf("call %d not signed for events: %s", i, c.Header.Get("Authorization"))
		}
		sent = append(sent, es...)
	}
	for i, e := range sent {
		ev := evs[i]
		if e.Source != events.Source || e.DetailType != events.JobAccepted || e.Detail != string(ev.Detail) ||
			awssdk.ToString(e.EventBusName) != "iris-bus" || e.Time == nil || math.Abs(*e.Time-float64(ev.Time.Unix())) > 1e-3 ||
			len(e.Resources) != 1 || e.Resources[0] != ev.Resources[0] {
			t.Errorf("entry %d = %+v, want the fields of %+v", i, e, ev)
		}
	}
}

func TestEventBridgeBusRetriesFailedEntries(t *testing.T) {
	evs := testEvents(t, 4)
	flaky, poison := string(evs[1].Detail), string(evs[3].Detail)
	ctx := context.Background()

	t.Run("transient", func(t *testing.T) {
		client, srv := fakeEventBridge(t, func(e putEntry, seen int) string {
			if e.Detail == flaky && seen < 2 {
				return "ThrottlingException"
			}
			return ""
		})
		bus := NewEventBridgeBus(client, EventBridgeConfig{Backoff: time.Millisecond})
		if err := bus.Publish(ctx, evs[:3]...); err != nil {
			t.Fatal(err)
		}
		calls := srv.Calls()
		if len(calls) != 3 {
			t.Fatalf("%d calls, want 3 (the batch, then the throttled entry twice)", len(calls))
		}
		for i, c := range calls[1:] {
			if es := entries(t, c); len(es) != 1 || es[0].Detail != flaky || es[0].EventBusName != nil {
				t.Errorf("resend %d = %+v; want only the throttled entry, to the default bus", i+1, es)
			}
		}
	})

	t.Run("permanent", func(t *testing.T) {
		client, srv := fakeEventBridge(t, func(e putEntry, seen int) string {
			if e.Detail == poison {
				return "InternalFailure"
			}
			return ""
		})
		bus := NewEventBridgeBus(client, EventBridgeConfig{Attempts: 3, Backoff: time.Millisecond})
		err := bus.Publish(ctx, evs...)
		if err == nil {
			t.Fatal("Publish succeeded with an entry failing every time")
		}
		for _, want := range []string{"1 of them failed after 3 attempts", evs[3].ID, "InternalFailure", events.JobAccepted} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if strings.Contains(err.Error(), evs[0].ID+" ") || strings.Contains(err.Error(), evs[0].ID+":") {
			t.Errorf("error %q names an event that went through", err)
		}
		if n := len(srv.Calls()); n != 3 {
			t.Errorf("%d calls, want 3 attempts", n)
		}
	})

	t.Run("cancelled while waiting", func(t *testing.T) {
		client, _ := fakeEventBridge(t, func(putEntry, int) string { return "ThrottlingException" })
		bus := NewEventBridgeBus(client, EventBridgeConfig{Backoff: time.Hour})
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if err := bus.Publish(ctx, evs[0]); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Publish = %v, want the context's error", err)
		}
	})
}

func TestEventBridgeBusRefuses(t *testing.T) {
	client, srv := fakeEventBridge(t, func(putEntry, int) string { return "" })
	bus := NewEventBridgeBus(client, EventBridgeConfig{})
	ctx := context.Background()
	big := testEvents(t, 1)[0]
	big.Detail = json.RawMessage(`{"x":"` + strings.Repeat("a", maxEntryBytes) + `"}`)
	noSource := testEvents(t, 1)[0]
	noSource.Source = ""
	for name, ev := range map[string]events.Event{"no source": noSource, "over 256 KiB": big} {
		if err := bus.Publish(ctx, ev); err == nil || !strings.Contains(err.Error(), ev.ID) {
			t.Errorf("%s: Publish = %v; want an error naming event %s", name, err, ev.ID)
		}
	}
	if err := bus.Publish(ctx); err != nil {
		t.Errorf("publishing nothing: %v", err)
	}
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d calls for events that cannot be sent", n)
	}

	// A refused call (not single entries) is returned at once.
	bad := awstest.StartJSONAPI(t, map[string]awstest.Handler{
		"AWSEvents.PutEvents": func(json.RawMessage) (any, *awstest.APIError) {
			return nil, &awstest.APIError{Status: 400, Code: "ResourceNotFoundException", Message: "Event bus iris-bus does not exist."}
		},
	})
	client = eventbridge.New(eventbridge.Options{Region: awstest.Region, BaseEndpoint: awssdk.String(bad.URL()), Credentials: awstest.Credentials()})
	err := NewEventBridgeBus(client, EventBridgeConfig{BusName: "iris-bus"}).Publish(ctx, testEvents(t, 2)...)
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") || len(bad.Calls()) != 1 {
		t.Errorf("Publish to a missing bus = %v after %d calls", err, len(bad.Calls()))
	}
}
