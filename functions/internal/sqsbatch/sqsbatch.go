// Package sqsbatch adapts the pipeline's queue consumers to Lambda's SQS
// event source mapping with partial batch responses: the messages of an
// events.SQSEvent become ports.Messages, and the ids the consumer wants
// redelivered become the response's batch item failures. The mapping must
// have ReportBatchItemFailures on, or Lambda ignores the response and
// deletes the whole batch.
//
// With a Retry, a failed message is made visible again after the retry's
// backoff (timing.RetryBackoff) instead of after the rest of the queue's
// visibility timeout (6 times the function's), so that a consumer's
// retries, and its give-up at the last attempt, run within minutes and
// before the sweep's deadline.
package sqsbatch

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iris-oculus/iris/internal/ports"
)

// Consumer handles a batch and returns the ids of the messages to
// redeliver (dispatch.Dispatch.HandleBatch, pipeline.Mesher.HandleBatch).
type Consumer func(ctx context.Context, msgs []ports.Message) ([]string, error)

// Visibility sets when a received message comes back
// (aws.SQSQueue.ChangeVisibility).
type Visibility interface {
	ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error
}

// Retry is what Handler does with a failed message: Queue makes it
// visible again after Backoff. A failure to do so is logged, and the
// message comes back after its visibility timeout instead.
type Retry struct {
	Queue   Visibility
	Backoff time.Duration
	Log     *slog.Logger
}

// Handler returns the Lambda handler for c. An error from c fails the
// whole batch, which SQS then redelivers. With retry non-nil, every
// failed message (each of the batch when c errs) gets retry's backoff.
func Handler(c Consumer, retry ...Retry) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		failed, err := c(ctx, Messages(ev))
		if err != nil {
			for _, r := range ev.Records {
				failed = append(failed, r.MessageId)
			}
		}
		for _, rt := range retry {
			rt.backOff(ctx, ev, failed)
		}
		if err != nil {
			return events.SQSEventResponse{}, err
		}
		return Response(failed), nil
	}
}

func (rt Retry) backOff(ctx context.Context, ev events.SQSEvent, failed []string) {
	if rt.Queue == nil || len(failed) == 0 {
		return
	}
	handles := make(map[string]string, len(ev.Records))
	for _, r := range ev.Records {
		handles[r.MessageId] = r.ReceiptHandle
	}
	for _, id := range failed {
		h, ok := handles[id]
		if !ok || h == "" {
			continue
		}
		if err := rt.Queue.ChangeVisibility(context.WithoutCancel(ctx), h, rt.Backoff); err != nil && rt.Log != nil {
			rt.Log.Warn("sqsbatch: could not shorten a failed message's wait; it returns after the visibility timeout", "message", id, "err", err)
		}
	}
}

// Messages converts the event's records. ReceiveCount is the
// ApproximateReceiveCount attribute, 1 when it is missing or unreadable,
// since a message being handled has been received at least once.
func Messages(ev events.SQSEvent) []ports.Message {
	msgs := make([]ports.Message, 0, len(ev.Records))
	for _, r := range ev.Records {
		n, err := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
		if err != nil || n < 1 {
			n = 1
		}
		msgs = append(msgs, ports.Message{ID: r.MessageId, Body: []byte(r.Body), ReceiveCount: n})
	}
	return msgs
}

// Response reports the failed message ids. It is never null: an empty
// list means the whole batch succeeded.
func Response(failed []string) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: make([]events.SQSBatchItemFailure, 0, len(failed))}
	for _, id := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return resp
}
