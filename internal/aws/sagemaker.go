package aws

import (
	"context"
	"fmt"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/ports"
)

// SageMakerRuntimeAPI is the part of *sagemakerruntime.Client that
// SageMakerSegmenter uses.
type SageMakerRuntimeAPI interface {
	InvokeEndpointAsync(ctx context.Context, in *sagemakerruntime.InvokeEndpointAsyncInput, optFns ...func(*sagemakerruntime.Options)) (*sagemakerruntime.InvokeEndpointAsyncOutput, error)
}

// EngineSageMaker names this segmenter in events.Started.
const EngineSageMaker = "sagemaker"

// SageMakerConfig configures a SageMakerSegmenter.
type SageMakerConfig struct {
	Endpoint string // the async endpoint's name
	Bucket   string // the bucket the input keys are in
	// ContentType is forwarded to the container; "" means
	// application/octet-stream (the container sniffs gzip/zip itself).
	ContentType string
	// InvocationTimeout and RequestTTL override the endpoint's defaults
	// (15 min processing, 6 h in the queue) when non-zero; SageMaker takes
	// whole seconds, processing at most an hour.
	InvocationTimeout time.Duration
	RequestTTL        time.Duration
}

// SageMakerSegmenter starts segmentations on a SageMaker asynchronous
// inference endpoint (ports.Segmenter).
//
// The request names the job three ways, so that its output can be found
// without trusting SageMaker's default naming (a random UUID + ".out",
// unrelated to the inference id, in observed notifications):
// InferenceId = the job id; S3OutputPathExtension = the job id and
// Filename = labels.nii.gz, so that with the endpoint config's
// S3OutputPath at s3://{bucket}/segmentations the label map lands at
// segmentations/{job}/labels.nii.gz (events.SegmentationKey) and, with
// S3FailurePath at s3://{bucket}/segmentation-failures, the error under
// segmentation-failures/{job}/. Whether SageMaker composes the keys
// exactly so (and appends nothing) only a real endpoint can tell, so
// Start returns the OutputLocation and FailureLocation SageMaker answers
// with; the pipeline records them and matches arriving objects against
// them rather than against the layout.
type SageMakerSegmenter struct {
	client SageMakerRuntimeAPI
	cfg    SageMakerConfig
}

var _ ports.Segmenter = (*SageMakerSegmenter)(nil)

// NewSageMakerSegmenter returns a segmenter invoking cfg.Endpoint through
// client.
func NewSageMakerSegmenter(client SageMakerRuntimeAPI, cfg SageMakerConfig) *SageMakerSegmenter {
	if cfg.ContentType == "" {
		cfg.ContentType = "application/octet-stream"
	}
	return &SageMakerSegmenter{client: client, cfg: cfg}
}

// Start implements ports.Segmenter: one InvokeEndpointAsync, which
// queues the request and returns at once.
func (s *SageMakerSegmenter) Start(ctx context.Context, jobID, inputKey string) (events.Started, error) {
	if !events.ValidJobID(jobID) {
		return events.Started{}, fmt.Errorf("start segmentation: job id %q is not valid", jobID)
	}
	if inputKey == "" {
		return events.Started{}, fmt.Errorf("start segmentation of job %s: no input key", jobID)
	}
	in := &sagemakerruntime.InvokeEndpointAsyncInput{
		EndpointName:          &s.cfg.Endpoint,
		InputLocation:         awssdk.String("s3://" + s.cfg.Bucket + "/" + inputKey),
		InferenceId:           &jobID,
		ContentType:           &s.cfg.ContentType,
		S3OutputPathExtension: &jobID,
		Filename:              awssdk.String(events.SegmentationFile),
	}
	if s.cfg.InvocationTimeout > 0 {
		in.InvocationTimeoutSeconds = awssdk.Int32(int32(s.cfg.InvocationTimeout / time.Second))
	}
	if s.cfg.RequestTTL > 0 {
		in.RequestTTLSeconds = awssdk.Int32(int32(s.cfg.RequestTTL / time.Second))
	}
	out, err := s.client.InvokeEndpointAsync(ctx, in)
	if err != nil {
		return events.Started{}, fmt.Errorf("invoke endpoint %s for job %s on %s: %w", s.cfg.Endpoint, jobID, *in.InputLocation, err)
	}
	return events.Started{
		JobID:           jobID,
		InferenceID:     awssdk.ToString(out.InferenceId),
		OutputLocation:  awssdk.ToString(out.OutputLocation),
		FailureLocation: awssdk.ToString(out.FailureLocation),
		Engine:          EngineSageMaker,
	}, nil
}
