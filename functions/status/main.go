// Command status is the status Lambda: EventBridge invokes it with the
// pipeline's events, the S3 "Object Created" events of segmentations/ and
// segmentation-failures/, and the sweep schedule's "Scheduled Event"; it
// runs status.Status, which keeps the job records (dispatch writes only
// its claim on a segmentation). Wiring only.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/functions/config"
	"github.com/iris-oculus/iris/functions/internal/boot"
	"github.com/iris-oculus/iris/internal/cost"
	"github.com/iris-oculus/iris/internal/pipeline/status"
)

func main() {
	f := boot.Start("status", config.EnvBucket, config.EnvTable)
	st := &status.Status{
		Store:     f.Store(),
		Blobs:     f.Blobs(),
		Log:       f.Log,
		DropOwner: f.Env.DropOwner,
	}
	// Jobs are priced from internal/cost's table for this deployment.
	if f.Env.InstanceType != "" {
		rates, err := cost.Table.Rates(cost.Deployment{InstanceType: f.Env.InstanceType,
			GPUsPerInstance: f.Env.GPUsPerInstance, MesherMemoryMB: f.Env.MesherMemoryMB})
		if err != nil {
			f.Log.Warn("status: the GPU part of job costs is not priced", "err", err)
		}
		st.Rates = &rates
	}
	// Handle also runs the sweep for the schedule's "Scheduled Event".
	lambda.Start(func(ctx context.Context, ev events.Event) error { return st.Handle(ctx, ev) })
}
