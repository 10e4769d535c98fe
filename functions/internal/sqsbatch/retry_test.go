package sqsbatch

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/aws/awstest"
	"github.com/iris-oculus/iris/internal/ports"
)

// poll does what Lambda's event source mapping does, on a real SQS
// (goaws): receive one message, hand it to the handler as an SQSEvent,
// delete it unless the response lists it as failed. It returns the
// handler's calls once the queue has nothing visible or in flight.
func poll(t *testing.T, client *sqs.Client, url string, h func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), within time.Duration) int {
	t.Helper()
	ctx := context.Background()
	calls := 0
	received := map[string]int{}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 1, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
			AttributeNames:              []types.QueueAttributeName{"All"}, // goaws reads the older parameter
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url,
				AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
			if err != nil {
				t.Fatal(err)
			}
			if attrs.Attributes["ApproximateNumberOfMessages"] == "0" && attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0" {
				return calls
			}
			continue
		}
		m := out.Messages[0]
		if m.Attributes["ApproximateReceiveCount"] == "" {
			t.Fatalf("the queue returned no ApproximateReceiveCount: %v", m.Attributes)
		}
		// SQS counts every receive; goaws does not count one that
		// follows a ChangeMessageVisibility, so the poller counts too
		// and reports the larger, as SQS would.
		received[*m.MessageId]++
		count := max(received[*m.MessageId], atoi(m.Attributes["ApproximateReceiveCount"]))
		ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: *m.MessageId, ReceiptHandle: *m.ReceiptHandle, Body: *m.Body,
			Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(count)}}}}
		calls++
		resp, err := h(ctx, ev)
		if err == nil && len(resp.BatchItemFailures) == 0 {
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatalf("the queue still holds the message after %v (%d calls)", within, calls)
	return calls
}

// A failed message comes back after the retry's backoff, not after the
// queue's visibility timeout (an hour here, as the mesh queue's 90
// minutes): a consumer that fails twice then succeeds is done within
// seconds, and one that fails every time reaches its last attempt, gives
// up (as the mesher does, with "Job Failed") and the message is consumed,
// none left for the dead-letter queue.
func TestRetryBacksOffThroughTheQueue(t *testing.T) {
	client := awstest.StartGoaws(t, 100*time.Millisecond)
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		failFirst int // tries that fail; the one after succeeds (or gives up)
		wantCalls int
	}{
		{"fails twice then succeeds", 2, 3},
		{"always fails, gives up at the last attempt", 1 << 30, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: awssdk.String("retry-" + strconv.Itoa(tc.wantCalls)),
				Attributes: map[string]string{"VisibilityTimeout": "3600"}})
			if err != nil {
				t.Fatal(err)
			}
			url := *created.QueueUrl
			if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: awssdk.String(`{"jobId":"job-retry1"}`)}); err != nil {
				t.Fatal(err)
			}
			var tries atomic.Int64
			const maxAttempts = 5
			consumer := func(_ context.Context, msgs []ports.Message) ([]string, error) {
				n := tries.Add(1)
				if int(n) <= tc.failFirst && msgs[0].ReceiveCount < maxAttempts {
					return []string{msgs[0].ID}, nil
				}
				return nil, nil // done, or given up with Job Failed
			}
			start := time.Now()
			calls := poll(t, client, url, Handler(consumer, Retry{Queue: iaws.NewSQSQueue(client, url), Backoff: time.Second}), 30*time.Second)
			if calls != tc.wantCalls {
				t.Errorf("%d deliveries, want %d", calls, tc.wantCalls)
			}
			t.Logf("%d deliveries in %v with a 1 s backoff and a 1 h visibility timeout", calls, time.Since(start).Round(100*time.Millisecond))
		})
	}
}

// Without a Retry the failed message stays hidden for the visibility
// timeout: what the backoff shortens.
func TestNoRetryWaitsOutTheVisibility(t *testing.T) {
	client := awstest.StartGoaws(t, 100*time.Millisecond)
	ctx := context.Background()
	created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: awssdk.String("no-retry"), Attributes: map[string]string{"VisibilityTimeout": "3600"}})
	if err != nil {
		t.Fatal(err)
	}
	url := *created.QueueUrl
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: awssdk.String(`{}`)}); err != nil {
		t.Fatal(err)
	}
	h := Handler(func(_ context.Context, msgs []ports.Message) ([]string, error) { return nil, errors.New("always") })
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v, %d", err, len(out.Messages))
	}
	m := out.Messages[0]
	if _, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: *m.MessageId, ReceiptHandle: *m.ReceiptHandle, Body: *m.Body}}}); err == nil {
		t.Fatal("the failing consumer's batch did not fail")
	}
	for range 3 {
		again, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Messages) != 0 {
			t.Fatal("the message came back before its visibility timeout without a Retry")
		}
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
