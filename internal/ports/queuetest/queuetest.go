// Package queuetest checks a ports.DelayedQueue against the contract the
// pipeline relies on, which is an SQS standard queue's: every message sent
// is received with its body intact (order is not promised); a delayed
// message is not received before its delay; and what SQS refuses (see
// ports.CheckMessage, a delay over ports.MaxDelay) is refused by every
// queue, with nothing queued, so a message that works on one machine
// cannot fail on AWS. The SQLite queue of iris serve and SQS (on goaws)
// run the same suite.
//
// It does not check visibility, receive counts or redrive: receiving is
// the platform's business (Lambda's event source mapping, the local
// consumer), tested with each.
package queuetest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/ports"
)

// Fixture is a queue under test with the platform's receive side.
type Fixture struct {
	Queue ports.DelayedQueue
	// Receive takes the messages visible now (at most ten, none is not an
	// error) and deletes them.
	Receive func(ctx context.Context) ([][]byte, error)
}

// wait bounds how long the suite polls for a message that must arrive.
const wait = 15 * time.Second

// Run runs the suite; newQueue returns an empty queue for each subtest.
func Run(t *testing.T, newQueue func(t *testing.T) Fixture) {
	ctx := context.Background()

	t.Run("BodiesComeBackIntact", func(t *testing.T) {
		f := newQueue(t)
		largest, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", ports.MaxMessageBytes-10)})
		bodies := []string{
			`{"jobId":"job-queue001","volumeKey":"volumes/job-queue001/ct.nii.gz"}`,
			`{"name":"Müller, Jürgen — 日本 🫁","tab":"\t","newline":"a\nb"}`,
			string(largest),
		}
		if len(largest) != ports.MaxMessageBytes {
			t.Fatalf("the largest body is %d bytes, want %d", len(largest), ports.MaxMessageBytes)
		}
		for _, b := range bodies {
			if err := f.Queue.Send(ctx, []byte(b)); err != nil {
				t.Fatalf("Send of %d bytes: %v", len(b), err)
			}
		}
		got := receiveN(t, f, len(bodies))
		slices.Sort(got)
		slices.Sort(bodies)
		if !slices.Equal(got, bodies) {
			t.Errorf("received %d bodies that differ from the %d sent", len(got), len(bodies))
		}
	})

	t.Run("RefusesWhatSQSRefuses", func(t *testing.T) {
		f := newQueue(t)
		for name, body := range map[string][]byte{
			"an empty body":              {},
			"a body that is not UTF-8":   {'{', 0xff, 0xfe, '}'},
			"a control character":        []byte("{\"a\":\"\x01\"}"),
			"a body one byte over limit": []byte(strings.Repeat("x", ports.MaxMessageBytes+1)),
		} {
			if err := f.Queue.Send(ctx, body); err == nil {
				t.Errorf("Send of %s succeeded", name)
			}
			if err := f.Queue.SendDelayed(ctx, body, time.Second); err == nil {
				t.Errorf("SendDelayed of %s succeeded", name)
			}
		}
		if err := f.Queue.SendDelayed(ctx, []byte(`{"late":true}`), ports.MaxDelay+time.Second); err == nil {
			t.Errorf("SendDelayed over %v succeeded", ports.MaxDelay)
		}
		// Nothing refused was queued: the next message is the only one.
		if err := f.Queue.Send(ctx, []byte(`{"sentinel":true}`)); err != nil {
			t.Fatal(err)
		}
		if got := receiveN(t, f, 1); got[0] != `{"sentinel":true}` {
			t.Errorf("received %q, want only the sentinel", got)
		}
	})

	t.Run("DelayedMessageWaits", func(t *testing.T) {
		f := newQueue(t)
		const delay = 2 * time.Second
		sent := time.Now()
		if err := f.Queue.SendDelayed(ctx, []byte(`{"delayed":true}`), delay); err != nil {
			t.Fatal(err)
		}
		if err := f.Queue.Send(ctx, []byte(`{"now":true}`)); err != nil {
			t.Fatal(err)
		}
		// The undelayed one arrives alone.
		if got := receiveN(t, f, 1); got[0] != `{"now":true}` || time.Since(sent) >= delay {
			t.Fatalf("first received %q after %v; want the undelayed message, before %v", got, time.Since(sent), delay)
		}
		got := receiveN(t, f, 1)
		if got[0] != `{"delayed":true}` {
			t.Fatalf("received %q, want the delayed message", got)
		}
		if took := time.Since(sent); took < delay-100*time.Millisecond {
			t.Errorf("the delayed message came after %v, before its delay of %v", took, delay)
		}
	})
}

// receiveN polls until n messages have come, and fails on more.
func receiveN(t *testing.T, f Fixture, n int) []string {
	t.Helper()
	var got []string
	deadline := time.Now().Add(wait)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages came within %v", len(got), n, wait)
		}
		bodies, err := f.Receive(context.Background())
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, b := range bodies {
			got = append(got, string(b))
		}
		if len(bodies) == 0 {
			time.Sleep(50 * time.Millisecond) // the poll's pace; the loop waits on the messages
		}
	}
	if len(got) > n {
		t.Fatalf("received %d messages, want %d", len(got), n)
	}
	return got
}
