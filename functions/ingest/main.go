// Command ingest is the ingest Lambda. EventBridge invokes it with the S3
// "Object Created" events of uploads/, and the Groups queue's event source
// with the delayed re-checks of dropped folders (ingest.Ingest's
// HandleGroupBatch); it tells the two payloads apart by their shape.
// Wiring only; see internal/pipeline/ingest for the behaviour and functions/config
// for the environment. The job's limits come from the function's memory
// (limits.Machine reads AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
package main

import (
	"context"
	"encoding/json"
	"fmt"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/functions/config"
	"github.com/iris-oculus/iris/functions/internal/boot"
	"github.com/iris-oculus/iris/functions/internal/sqsbatch"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/pipeline/ingest"
)

func main() {
	f := boot.Start("ingest", config.EnvBucket, config.EnvJobsQueueURL, config.EnvGroupsQueueURL)
	client := sqs.NewFromConfig(f.AWS)
	in := &ingest.Ingest{
		Blobs:  f.Blobs(),
		Bus:    f.Bus(),
		Queue:  iaws.NewSQSQueue(client, f.Env.JobsQueueURL),
		Groups: iaws.NewSQSQueue(client, f.Env.GroupsQueueURL),
		Settle: f.Env.Settle,
		Pool:   limits.NewPool(limits.Machine()),
		Log:    f.Log,
	}
	lambda.Start(handler(in.Handle, sqsbatch.Handler(in.HandleGroupBatch, f.Retry())))
}

// handler routes one invocation: an SQS batch (it has Records) to groups,
// with partial batch failures; anything else is an EventBridge envelope
// for onEvent, whose error makes Lambda retry the asynchronous invocation
// and then dead-letter it.
func handler(onEvent func(context.Context, events.Event) error, batch func(context.Context, lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error)) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			Records []json.RawMessage `json:"Records"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("decode invocation: %w", err)
		}
		if probe.Records != nil {
			var ev lambdaevents.SQSEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("decode SQS batch: %w", err)
			}
			return batch(ctx, ev)
		}
		var ev events.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		return nil, onEvent(ctx, ev)
	}
}
