package pipeline

import (
	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/pipeline/dispatch"
	"github.com/iris-oculus/iris/internal/pipeline/ingest"
	"github.com/iris-oculus/iris/internal/pipeline/mesher"
	"github.com/iris-oculus/iris/internal/pipeline/stage"
)

// The ingest and mesher stages live in packages of their own
// (internal/pipeline/ingest, internal/pipeline/mesher), so that the ingest
// Lambda links none of the meshing code and the mesher Lambda none of the
// DICOM codecs or the segmentation code; these names keep them stages here
// for the callers that run them all (iris serve).
type (
	// Ingest turns an upload into the pipeline's input: see ingest.Ingest.
	Ingest = ingest.Ingest
	// Mesher turns a label map into the job's model set: see mesher.Mesher.
	Mesher = mesher.Mesher
)

// Failure codes. They are stable: programs (the web app, alarms) key on
// them; the messages that come with them are for people.
const (
	// Ingest rejections.
	CodeEmpty             = ingest.CodeEmpty
	CodeTooLarge          = stage.CodeTooLarge
	CodeUnknownFormat     = ingest.CodeUnknownFormat
	CodeInvalidNIfTI      = ingest.CodeInvalidNIfTI
	CodeCorrupt           = ingest.CodeCorrupt
	CodeNotCT             = ingest.CodeNotCT
	CodeNoDICOM           = ingest.CodeNoDICOM
	CodeNoCTSeries        = ingest.CodeNoCTSeries
	CodeTooFewSlices      = ingest.CodeTooFewSlices
	CodeMixedGeometry     = ingest.CodeMixedGeometry
	CodeUnsafeZip         = ingest.CodeUnsafeZip
	CodeUnsupportedSyntax = ingest.CodeUnsupportedSyntax
	CodeUnsupportedImage  = ingest.CodeUnsupportedImage
	CodeGantryTilt        = ingest.CodeGantryTilt
	CodeIrregularSpacing  = ingest.CodeIrregularSpacing
	CodeDuplicateSlices   = ingest.CodeDuplicateSlices
	CodeNoGeometry        = ingest.CodeNoGeometry

	// Later stages.
	CodeDispatchFailed     = dispatch.CodeFailed          // the segmenter could not be started
	CodeSegmentationFailed = stage.CodeSegmentationFailed // the segmenter reported no code of its own
	CodeInvalidLabelMap    = mesher.CodeInvalidLabelMap
	CodeEmptySegmentation  = mesher.CodeEmptySegmentation
	CodeMeshFailed         = stage.CodeMeshFailed
	CodeTimeout            = stage.CodeTimeout

	// Print exports (error.json of an export).
	CodeExportNotReady = mesher.CodeExportNotReady
	CodeExportEmpty    = mesher.CodeExportEmpty
)

// NoEngine is the engine recorded for a job whose upload was a label map:
// it goes from accepted straight to meshing.
const NoEngine = stage.NoEngine

// Stages named in failures.
const (
	StageIngest       = stage.Ingest
	StageDispatch     = dispatch.Stage
	StageSegmentation = stage.Segmentation
	StageMesher       = stage.Mesher
	StageUpload       = stage.Upload
)

// DefaultOrphanGrace is how long an event for a job with no record is
// retried before it is dropped (Status.OrphanGrace, Mesher.OrphanGrace).
const DefaultOrphanGrace = stage.DefaultOrphanGrace

// DefaultSettle is Ingest.Settle when it is 0.
const DefaultSettle = ingest.DefaultSettle

// DecodeQueuedEvent decodes the body of a message that EventBridge put on a
// queue: the body is the event's JSON, envelope and all.
func DecodeQueuedEvent(body []byte) (events.Event, error) { return stage.DecodeQueuedEvent(body) }

// InputKey is where the ingest keeps a job's input facts.
func InputKey(id string) string { return ingest.InputKey(id) }

// RejectionKey is where the ingest records a rejected job's failure.
func RejectionKey(id string) string { return ingest.RejectionKey(id) }

// Classify is the failure code and message the ingest stage gives a scan
// that cannot be read because of err, for callers that read scans the same
// way outside the pipeline (the CLI's batch runs), so both speak the same
// codes. looksNIfTI says whether the input began like a NIfTI file.
func Classify(err error, looksNIfTI bool) (code, message string) {
	return ingest.Classify(err, looksNIfTI)
}
