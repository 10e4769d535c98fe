package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/aws/awstest"
	"github.com/iris-oculus/iris/internal/pipeline"
	"github.com/iris-oculus/iris/internal/ports/queuetest"
)

func TestSQSQueueSend(t *testing.T) {
	client := awstest.StartGoaws(t, 200*time.Millisecond)
	ctx := context.Background()
	created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: awssdk.String("iris-jobs")})
	if err != nil {
		t.Fatal(err)
	}
	q := NewSQSQueue(client, *created.QueueUrl)

	want := map[string]bool{}
	for _, id := range []string{"job-sqs0001", "job-sqs0002", "job-sqs0003"} {
		body, _ := json.Marshal(pipeline.DispatchRequest{JobID: id, VolumeKey: events.VolumeKey(id)})
		// The SDK checks SendMessage's MD5OfMessageBody against the body.
		if err := q.Send(ctx, body); err != nil {
			t.Fatalf("Send: %v", err)
		}
		want[string(body)] = true
	}

	// Receive as Lambda's event source mapping would, until every message
	// has come back exactly as sent.
	deadline := time.Now().Add(10 * time.Second)
	for len(want) > 0 && time.Now().Before(deadline) {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			body := awssdk.ToString(m.Body)
			if !want[body] {
				t.Fatalf("received %q, which was not sent or came twice", body)
			}
			delete(want, body)
			req, err := pipeline.DecodeDispatchRequest([]byte(body))
			if err != nil || req.VolumeKey != events.VolumeKey(req.JobID) {
				t.Errorf("received body decodes to %+v, %v", req, err)
			}
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: created.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(want) > 0 {
		t.Fatalf("%d messages never arrived: %v", len(want), want)
	}
}

func TestSQSQueueRefuses(t *testing.T) {
	client := awstest.StartGoaws(t, time.Second)
	ctx := context.Background()
	created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: awssdk.String("iris-mesh")})
	if err != nil {
		t.Fatal(err)
	}
	q := NewSQSQueue(client, *created.QueueUrl)
	for name, body := range map[string][]byte{"empty": nil, "not UTF-8": {'{', 0xff, 0xfe, '}'}} {
		if err := q.Send(ctx, body); err == nil {
			t.Errorf("%s body: Send succeeded", name)
		}
	}
	missing := strings.Replace(*created.QueueUrl, "iris-mesh", "no-such-queue", 1)
	err = NewSQSQueue(client, missing).Send(ctx, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Send to a missing queue = %v; want an error naming %s", err, missing)
	}
}

// TestSQSQueueSendDelayed: a delayed message is not received before its
// delay and is received after it, as ingest's folder checks need.
func TestSQSQueueSendDelayed(t *testing.T) {
	client := awstest.StartGoaws(t, 200*time.Millisecond)
	ctx := context.Background()
	created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: awssdk.String("iris-groups")})
	if err != nil {
		t.Fatal(err)
	}
	q := NewSQSQueue(client, *created.QueueUrl)
	if err := q.SendDelayed(ctx, []byte(`{"prefix":"uploads/x/"}`), 16*time.Minute); err == nil {
		t.Error("a delay over SQS's 15 minutes was sent")
	}
	sent := time.Now()
	if err := q.SendDelayed(ctx, []byte(`{"prefix":"uploads/x/"}`), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	for {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 1 {
			if waited := time.Since(sent); waited < 2*time.Second {
				t.Errorf("received after %v, before the 2 s delay", waited)
			}
			return
		}
		if time.Since(sent) > 15*time.Second {
			t.Fatal("the delayed message never arrived")
		}
	}
}

// TestSQSQueueContract runs the Queue conformance suite on SQSQueue
// against goaws, received as Lambda's event source mapping receives.
func TestSQSQueueContract(t *testing.T) {
	client := awstest.StartGoaws(t, 200*time.Millisecond)
	n := 0
	queuetest.Run(t, func(t *testing.T) queuetest.Fixture {
		ctx := context.Background()
		n++
		created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: awssdk.String(fmt.Sprintf("iris-contract-%d", n))})
		if err != nil {
			t.Fatal(err)
		}
		return queuetest.Fixture{Queue: NewSQSQueue(client, *created.QueueUrl), Receive: func(ctx context.Context) ([][]byte, error) {
			out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30})
			if err != nil {
				return nil, err
			}
			var bodies [][]byte
			for _, m := range out.Messages {
				if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: created.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
					return nil, err
				}
				bodies = append(bodies, []byte(awssdk.ToString(m.Body)))
			}
			return bodies, nil
		}}
	})
}
