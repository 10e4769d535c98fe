// Package boot is what every Lambda's main does first: read and check the
// environment (functions/config), make the JSON logger, load the AWS
// configuration, and build the adapters most functions share. A function
// that cannot start logs why and exits, so Lambda reports a failed init
// rather than a handler that fails on every event.
package boot

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iris-oculus/iris/functions/config"
	"github.com/iris-oculus/iris/functions/internal/sqsbatch"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/timing"
)

// Function is a started function's configuration.
type Function struct {
	Env config.Env
	Log *slog.Logger
	AWS aws.Config
}

// Start loads the environment, requiring the variables in need, and the
// AWS configuration, or exits with the reason logged as name's.
func Start(name string, need ...string) Function {
	env, err := config.Load(os.Getenv, need...)
	log := env.Logger(os.Stdout, name)
	if err != nil {
		log.Error(name+": bad configuration", "err", err)
		os.Exit(1)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error(name+": load AWS configuration", "err", err)
		os.Exit(1)
	}
	return Function{Env: env, Log: log, AWS: cfg}
}

// Store is the job table.
func (f Function) Store() *iaws.DynamoStore {
	return iaws.NewDynamoStore(dynamodb.NewFromConfig(f.AWS), f.Env.Table)
}

// Blobs is the pipeline's bucket.
func (f Function) Blobs() *iaws.S3Blobs {
	return iaws.NewS3Blobs(s3.NewFromConfig(f.AWS), f.Env.Bucket)
}

// Bus is the event bus (the default one when the environment names none).
func (f Function) Bus() *iaws.EventBridgeBus {
	return iaws.NewEventBridgeBus(eventbridge.NewFromConfig(f.AWS), iaws.EventBridgeConfig{BusName: f.Env.EventBus})
}

// Retry is a queue consumer's retry: a failed message comes back after
// IRIS_RETRY_BACKOFF (timing.RetryBackoff when unset) through the consumed
// queue, IRIS_QUEUE_URL.
func (f Function) Retry() sqsbatch.Retry {
	backoff := f.Env.RetryBackoff
	if backoff <= 0 {
		backoff = timing.RetryBackoff
	}
	return sqsbatch.Retry{Queue: iaws.NewSQSQueue(sqs.NewFromConfig(f.AWS), f.Env.QueueURL), Backoff: backoff, Log: f.Log}
}
