package aws

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iris-oculus/iris/internal/ports"
)

// SQSAPI is the part of *sqs.Client that SQSQueue uses.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// SQSQueue sends work messages to one standard SQS queue (ports.Queue),
// and sets when a received message comes back (ChangeVisibility).
// Receiving is Lambda's event source mapping, not this type's business.
type SQSQueue struct {
	client SQSAPI
	url    string
}

var _ ports.Queue = (*SQSQueue)(nil)

// NewSQSQueue returns the queue at queueURL, reached through client.
func NewSQSQueue(client SQSAPI, queueURL string) *SQSQueue {
	return &SQSQueue{client: client, url: queueURL}
}

// Send implements ports.Queue. SQS bodies are text: body must pass
// ports.CheckMessage (the pipeline sends JSON), checked before sending.
func (q *SQSQueue) Send(ctx context.Context, body []byte) error {
	if err := ports.CheckMessage(body); err != nil {
		return fmt.Errorf("send to %s: %w", q.url, err)
	}
	s := string(body)
	if _, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: &s}); err != nil {
		return fmt.Errorf("send %d bytes to %s: %w", len(body), q.url, err)
	}
	return nil
}

// SendDelayed implements ports.DelayedQueue with SQS's per-message
// DelaySeconds (whole seconds, at most 15 minutes; longer is refused).
func (q *SQSQueue) SendDelayed(ctx context.Context, body []byte, delay time.Duration) error {
	if delay > ports.MaxDelay {
		return fmt.Errorf("send to %s: delay %v is over SQS's %v", q.url, delay, ports.MaxDelay)
	}
	if err := ports.CheckMessage(body); err != nil {
		return fmt.Errorf("send to %s: %w", q.url, err)
	}
	s := string(body)
	secs := int32((max(delay, 0) + time.Second - 1) / time.Second)
	if _, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: &s, DelaySeconds: secs}); err != nil {
		return fmt.Errorf("send %d bytes to %s (delay %ds): %w", len(body), q.url, secs, err)
	}
	return nil
}

// ChangeVisibility makes the message received with receiptHandle visible
// again d from now (SQS takes whole seconds, 0 to 12 hours): a failed
// message is retried after a short backoff instead of after the rest of
// the queue's visibility timeout.
func (q *SQSQueue) ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error {
	if d < 0 || d > 12*time.Hour {
		return fmt.Errorf("change visibility in %s: %v is outside 0 to 12 h", q.url, d)
	}
	secs := int32((d + time.Second - 1) / time.Second)
	if _, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &q.url, ReceiptHandle: &receiptHandle, VisibilityTimeout: secs,
	}); err != nil {
		return fmt.Errorf("change visibility in %s: %w", q.url, err)
	}
	return nil
}
