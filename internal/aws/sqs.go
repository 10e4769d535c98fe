package aws

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iris-oculus/iris/internal/ports"
)

// SQSAPI is the part of *sqs.Client that SQSQueue uses.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQSQueue sends work messages to one standard SQS queue (ports.Queue).
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

// Send implements ports.Queue. SQS bodies are text: body must be UTF-8
// (the pipeline sends JSON), and SQS refuses what exceeds its size limit.
func (q *SQSQueue) Send(ctx context.Context, body []byte) error {
	if len(body) == 0 {
		return fmt.Errorf("send to %s: empty message body", q.url)
	}
	if !utf8.Valid(body) {
		return fmt.Errorf("send to %s: message body is not UTF-8 text", q.url)
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
	if len(body) == 0 || !utf8.Valid(body) {
		return fmt.Errorf("send to %s: message body is empty or not UTF-8 text", q.url)
	}
	s := string(body)
	secs := int32((max(delay, 0) + time.Second - 1) / time.Second)
	if _, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: &s, DelaySeconds: secs}); err != nil {
		return fmt.Errorf("send %d bytes to %s (delay %ds): %w", len(body), q.url, secs, err)
	}
	return nil
}
