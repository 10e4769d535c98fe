// Package sqsbatch adapts the pipeline's queue consumers to Lambda's SQS
// event source mapping with partial batch responses: the messages of an
// events.SQSEvent become ports.Messages, and the ids the consumer wants
// redelivered become the response's batch item failures. The mapping must
// have ReportBatchItemFailures on, or Lambda ignores the response and
// deletes the whole batch.
package sqsbatch

import (
	"context"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iris-oculus/iris/internal/ports"
)

// Consumer handles a batch and returns the ids of the messages to
// redeliver (pipeline.Dispatch.HandleBatch, pipeline.Mesher.HandleBatch).
type Consumer func(ctx context.Context, msgs []ports.Message) ([]string, error)

// Handler returns the Lambda handler for c. An error from c fails the
// whole batch, which SQS then redelivers.
func Handler(c Consumer) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		failed, err := c(ctx, Messages(ev))
		if err != nil {
			return events.SQSEventResponse{}, err
		}
		return Response(failed), nil
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
