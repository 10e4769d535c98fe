package pipeline

import "github.com/iris-oculus/iris/internal/pipeline/dispatch"

// The dispatch stage lives in internal/pipeline/dispatch, so that the
// dispatch Lambda links none of the imaging code; these names keep it
// one of the stages here.
type (
	// Dispatch starts segmentations: see dispatch.Dispatch.
	Dispatch = dispatch.Dispatch
	// DispatchRequest is the body of a jobs-queue message: segment the
	// volume at VolumeKey for job JobID. Ingest sends it; Dispatch
	// consumes it.
	DispatchRequest = dispatch.Request
)

// DefaultRecordWait is Dispatch.RecordWait when it is 0.
const DefaultRecordWait = dispatch.DefaultRecordWait

// DecodeDispatchRequest decodes and checks a jobs-queue message body.
func DecodeDispatchRequest(body []byte) (DispatchRequest, error) { return dispatch.DecodeRequest(body) }
