// Package endpoint is the control plane of the SageMaker asynchronous
// endpoint, for `iris endpoint status|start|stop`: it reports the
// endpoint's state, instance counts and autoscaling bounds, and warms or
// releases it by moving the autoscaling minimum between one and zero.
//
// It does not create, update or delete endpoints (the CDK stack does),
// does not read CloudWatch (the queue backlog is ApproximateBacklogSize
// there), and does not set instance counts directly: scaling stays with
// Application Auto Scaling, so the policies the stack deployed keep
// working. It is a package of its own because the SageMaker control-plane
// SDK is large; only the CLI needs it.
package endpoint

import (
	"context"
	"fmt"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
)

// SageMakerAPI is the part of *sagemaker.Client that Control uses.
type SageMakerAPI interface {
	DescribeEndpoint(ctx context.Context, in *sagemaker.DescribeEndpointInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeEndpointOutput, error)
}

// ScalingAPI is the part of *applicationautoscaling.Client that Control
// uses.
type ScalingAPI interface {
	DescribeScalableTargets(ctx context.Context, in *applicationautoscaling.DescribeScalableTargetsInput, optFns ...func(*applicationautoscaling.Options)) (*applicationautoscaling.DescribeScalableTargetsOutput, error)
	RegisterScalableTarget(ctx context.Context, in *applicationautoscaling.RegisterScalableTargetInput, optFns ...func(*applicationautoscaling.Options)) (*applicationautoscaling.RegisterScalableTargetOutput, error)
}

// DefaultVariant is the production variant name SageMaker examples and
// our stack use.
const DefaultVariant = "AllTraffic"

// Control reads and scales one variant of one endpoint.
type Control struct {
	sm      SageMakerAPI
	scaling ScalingAPI
	name    string
	variant string
}

// New returns the control of variant ("" means DefaultVariant) of the
// endpoint called name.
func New(sm SageMakerAPI, scaling ScalingAPI, name, variant string) *Control {
	if variant == "" {
		variant = DefaultVariant
	}
	return &Control{sm: sm, scaling: scaling, name: name, variant: variant}
}

// Scaling is the autoscaling range of the variant's instance count.
type Scaling struct {
	Min, Max int32
}

// Status is what DescribeEndpoint and DescribeScalableTargets tell.
type Status struct {
	Endpoint      string
	State         string // InService, Creating, Updating, SystemUpdating, RollingBack, OutOfService, Deleting, Failed
	FailureReason string
	Variant       string
	Instances     int32    // running now
	Desired       int32    // what SageMaker is moving to
	Scaling       *Scaling // nil when the variant has no scalable target
	Modified      time.Time
}

// String is a one-line summary for people.
func (s Status) String() string {
	out := fmt.Sprintf("%s %s: %d instance(s) running, %d desired", s.Endpoint, s.State, s.Instances, s.Desired)
	if s.Scaling != nil {
		out += fmt.Sprintf(", autoscaling %d..%d", s.Scaling.Min, s.Scaling.Max)
	} else {
		out += ", no autoscaling target"
	}
	if s.FailureReason != "" {
		out += " (" + s.FailureReason + ")"
	}
	return out
}

// resourceID names the variant to Application Auto Scaling.
func (c *Control) resourceID() string { return "endpoint/" + c.name + "/variant/" + c.variant }

// Status describes the endpoint and its variant's scaling.
func (c *Control) Status(ctx context.Context) (Status, error) {
	out, err := c.sm.DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: &c.name})
	if err != nil {
		return Status{}, fmt.Errorf("describe endpoint %s: %w", c.name, err)
	}
	st := Status{
		Endpoint:      c.name,
		State:         string(out.EndpointStatus),
		FailureReason: awssdk.ToString(out.FailureReason),
		Variant:       c.variant,
		Modified:      awssdk.ToTime(out.LastModifiedTime),
	}
	found := false
	for _, v := range out.ProductionVariants {
		if awssdk.ToString(v.VariantName) == c.variant {
			st.Instances, st.Desired, found = awssdk.ToInt32(v.CurrentInstanceCount), awssdk.ToInt32(v.DesiredInstanceCount), true
		}
	}
	if !found && st.State == "InService" {
		return Status{}, fmt.Errorf("endpoint %s has no variant %s", c.name, c.variant)
	}
	st.Scaling, err = c.target(ctx)
	return st, err
}

// target returns the variant's scaling range, nil if none is registered.
func (c *Control) target(ctx context.Context) (*Scaling, error) {
	out, err := c.scaling.DescribeScalableTargets(ctx, &applicationautoscaling.DescribeScalableTargetsInput{
		ServiceNamespace:  astypes.ServiceNamespaceSagemaker,
		ResourceIds:       []string{c.resourceID()},
		ScalableDimension: astypes.ScalableDimensionSageMakerVariantDesiredInstanceCount,
	})
	if err != nil {
		return nil, fmt.Errorf("describe scalable target %s: %w", c.resourceID(), err)
	}
	for _, t := range out.ScalableTargets {
		if awssdk.ToString(t.ResourceId) == c.resourceID() {
			return &Scaling{Min: awssdk.ToInt32(t.MinCapacity), Max: awssdk.ToInt32(t.MaxCapacity)}, nil
		}
	}
	return nil, nil
}

// Start raises the autoscaling minimum to one instance, so the endpoint
// warms and stays warm. Application Auto Scaling scales out to a new
// minimum above the current count by itself.
func (c *Control) Start(ctx context.Context) error { return c.setMin(ctx, 1) }

// Stop lowers the autoscaling minimum to zero. Instances are released by
// the scale-in policy once the queue is empty, not cut off mid-job.
func (c *Control) Stop(ctx context.Context) error { return c.setMin(ctx, 0) }

func (c *Control) setMin(ctx context.Context, min int32) error {
	cur, err := c.target(ctx)
	if err != nil {
		return err
	}
	if cur == nil {
		return fmt.Errorf("endpoint %s variant %s has no scalable target; deploy the stack, which registers it", c.name, c.variant)
	}
	if min > cur.Max {
		return fmt.Errorf("endpoint %s: minimum %d would exceed the maximum %d", c.name, min, cur.Max)
	}
	if cur.Min == min {
		return nil
	}
	// Updating an existing target: only the field given changes.
	_, err = c.scaling.RegisterScalableTarget(ctx, &applicationautoscaling.RegisterScalableTargetInput{
		ServiceNamespace:  astypes.ServiceNamespaceSagemaker,
		ResourceId:        awssdk.String(c.resourceID()),
		ScalableDimension: astypes.ScalableDimensionSageMakerVariantDesiredInstanceCount,
		MinCapacity:       &min,
	})
	if err != nil {
		return fmt.Errorf("set minimum capacity of %s to %d: %w", c.resourceID(), min, err)
	}
	return nil
}
