// Command dispatch is the dispatch Lambda: it consumes the jobs queue
// (SQS event source mapping with partial batch responses) and runs
// dispatch.Dispatch (internal/pipeline/dispatch), which starts asynchronous segmentations on the
// SageMaker endpoint. Wiring only.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"

	"github.com/iris-oculus/iris/functions/config"
	"github.com/iris-oculus/iris/functions/internal/boot"
	"github.com/iris-oculus/iris/functions/internal/sqsbatch"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/pipeline/dispatch"
)

func main() {
	f := boot.Start("dispatch", config.EnvBucket, config.EnvTable, config.EnvEndpoint, config.EnvQueueURL)
	d := &dispatch.Dispatch{
		Store: f.Store(),
		Blobs: f.Blobs(),
		Segmenter: iaws.NewSageMakerSegmenter(sagemakerruntime.NewFromConfig(f.AWS), iaws.SageMakerConfig{
			Endpoint:          f.Env.Endpoint,
			Bucket:            f.Env.Bucket,
			InvocationTimeout: f.Env.InvocationTimeout,
			RequestTTL:        f.Env.RequestTTL,
		}),
		Bus:         f.Bus(),
		Log:         f.Log,
		MaxAttempts: f.Env.MaxAttempts,
	}
	lambda.Start(sqsbatch.Handler(d.HandleBatch, f.Retry()))
}
