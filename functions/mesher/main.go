// Command mesher is the mesher Lambda: it consumes the mesh queue, whose
// messages are the S3 "Object Created" events of segmentations/ that an
// EventBridge rule puts there, and runs pipeline.Mesher: label map in,
// model set out under results/. Wiring only.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iris-oculus/iris/functions/config"
	"github.com/iris-oculus/iris/functions/internal/sqsbatch"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/pipeline"
)

func main() {
	env, err := config.Load(os.Getenv, config.EnvBucket, config.EnvTable)
	log := env.Logger(os.Stdout, "mesher")
	if err != nil {
		log.Error("mesher: bad configuration", "err", err)
		os.Exit(1)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("mesher: load AWS configuration", "err", err)
		os.Exit(1)
	}
	m := &pipeline.Mesher{
		Store:       iaws.NewDynamoStore(dynamodb.NewFromConfig(cfg), env.Table),
		Blobs:       iaws.NewS3Blobs(s3.NewFromConfig(cfg), env.Bucket),
		Bus:         iaws.NewEventBridgeBus(eventbridge.NewFromConfig(cfg), iaws.EventBridgeConfig{BusName: env.EventBus}),
		Log:         log,
		MaxAttempts: env.MaxAttempts,
	}
	lambda.Start(sqsbatch.Handler(m.HandleBatch))
}
