package aws

import (
	"context"
	"fmt"
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
