// Command ingest is the ingest Lambda: EventBridge invokes it with the S3
// "Object Created" events of uploads/, and it runs pipeline.Ingest. Wiring
// only; see internal/pipeline for the behaviour and functions/config for
// the environment.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/functions/config"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/pipeline"
)

func main() {
	env, err := config.Load(os.Getenv, config.EnvBucket, config.EnvJobsQueueURL)
	log := env.Logger(os.Stdout, "ingest")
	if err != nil {
		log.Error("ingest: bad configuration", "err", err)
		os.Exit(1)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("ingest: load AWS configuration", "err", err)
		os.Exit(1)
	}
	in := &pipeline.Ingest{
		Blobs: iaws.NewS3Blobs(s3.NewFromConfig(cfg), env.Bucket),
		Bus:   iaws.NewEventBridgeBus(eventbridge.NewFromConfig(cfg), iaws.EventBridgeConfig{BusName: env.EventBus}),
		Queue: iaws.NewSQSQueue(sqs.NewFromConfig(cfg), env.JobsQueueURL),
		Log:   log,
	}
	// EventBridge delivers the envelope as JSON; events.Event is that
	// envelope, so the payload decodes straight into it. A returned error
	// makes Lambda retry the asynchronous invocation, then dead-letter it.
	lambda.Start(func(ctx context.Context, ev events.Event) error { return in.Handle(ctx, ev) })
}
