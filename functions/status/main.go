// Command status is the status Lambda: EventBridge invokes it with the
// pipeline's events, the S3 "Object Created" events of segmentations/ and
// segmentation-failures/, and the sweep schedule's "Scheduled Event"; it
// runs pipeline.Status, the only writer of job records. Wiring only.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/functions/config"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/pipeline"
)

func main() {
	env, err := config.Load(os.Getenv, config.EnvBucket, config.EnvTable)
	log := env.Logger(os.Stdout, "status")
	if err != nil {
		log.Error("status: bad configuration", "err", err)
		os.Exit(1)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("status: load AWS configuration", "err", err)
		os.Exit(1)
	}
	st := &pipeline.Status{
		Store:     iaws.NewDynamoStore(dynamodb.NewFromConfig(cfg), env.Table),
		Blobs:     iaws.NewS3Blobs(s3.NewFromConfig(cfg), env.Bucket),
		Log:       log,
		DropOwner: env.DropOwner,
	}
	// Handle also runs the sweep for the schedule's "Scheduled Event".
	lambda.Start(func(ctx context.Context, ev events.Event) error { return st.Handle(ctx, ev) })
}
