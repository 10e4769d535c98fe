// Command dispatch is the dispatch Lambda: it consumes the jobs queue
// (SQS event source mapping with partial batch responses) and runs
// pipeline.Dispatch, which starts asynchronous segmentations on the
// SageMaker endpoint. Wiring only.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"

	"github.com/iris-oculus/iris/functions/config"
	"github.com/iris-oculus/iris/functions/internal/sqsbatch"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/pipeline"
)

func main() {
	env, err := config.Load(os.Getenv, config.EnvBucket, config.EnvTable, config.EnvEndpoint)
	log := env.Logger(os.Stdout, "dispatch")
	if err != nil {
		log.Error("dispatch: bad configuration", "err", err)
		os.Exit(1)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("dispatch: load AWS configuration", "err", err)
		os.Exit(1)
	}
	d := &pipeline.Dispatch{
		Store: iaws.NewDynamoStore(dynamodb.NewFromConfig(cfg), env.Table),
		Blobs: iaws.NewS3Blobs(s3.NewFromConfig(cfg), env.Bucket),
		Segmenter: iaws.NewSageMakerSegmenter(sagemakerruntime.NewFromConfig(cfg), iaws.SageMakerConfig{
			Endpoint:          env.Endpoint,
			Bucket:            env.Bucket,
			InvocationTimeout: env.InvocationTimeout,
			RequestTTL:        env.RequestTTL,
		}),
		Bus:         iaws.NewEventBridgeBus(eventbridge.NewFromConfig(cfg), iaws.EventBridgeConfig{BusName: env.EventBus}),
		Log:         log,
		MaxAttempts: env.MaxAttempts,
	}
	lambda.Start(sqsbatch.Handler(d.HandleBatch))
}
