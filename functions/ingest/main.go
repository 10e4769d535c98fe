// Command ingest is the ingest Lambda: EventBridge invokes it with the S3
// "Object Created" events of uploads/, and it runs pipeline.Ingest. Wiring
// only; see internal/pipeline for the behaviour and functions/config for
// the environment.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/functions/config"
	"github.com/iris-oculus/iris/functions/internal/boot"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/pipeline"
)

func main() {
	f := boot.Start("ingest", config.EnvBucket, config.EnvJobsQueueURL)
	in := &pipeline.Ingest{
		Blobs: f.Blobs(),
		Bus:   f.Bus(),
		Queue: iaws.NewSQSQueue(sqs.NewFromConfig(f.AWS), f.Env.JobsQueueURL),
		Log:   f.Log,
	}
	// EventBridge delivers the envelope as JSON; events.Event is that
	// envelope, so the payload decodes straight into it. A returned error
	// makes Lambda retry the asynchronous invocation, then dead-letter it.
	lambda.Start(func(ctx context.Context, ev events.Event) error { return in.Handle(ctx, ev) })
}
