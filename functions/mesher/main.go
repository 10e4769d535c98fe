// Command mesher is the mesher Lambda: it consumes the mesh queue, whose
// messages are the S3 "Object Created" events of segmentations/ that an
// EventBridge rule puts there, and runs mesher.Mesher (internal/pipeline/mesher): label map in,
// model set out under results/. Wiring only.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/iris-oculus/iris/functions/config"
	"github.com/iris-oculus/iris/functions/internal/boot"
	"github.com/iris-oculus/iris/functions/internal/sqsbatch"
	"github.com/iris-oculus/iris/internal/pipeline/mesher"
)

func main() {
	f := boot.Start("mesher", config.EnvBucket, config.EnvTable, config.EnvQueueURL)
	m := &mesher.Mesher{
		Store:       f.Store(),
		Blobs:       f.Blobs(),
		Bus:         f.Bus(),
		Log:         f.Log,
		MaxAttempts: f.Env.MaxAttempts,
	}
	lambda.Start(sqsbatch.Handler(m.HandleBatch, f.Retry()))
}
