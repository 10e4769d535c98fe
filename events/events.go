// Package events is the contract between the pipeline's stages: the event
// envelope and detail types they exchange, the object-key layout of the one
// bucket, and the routing rules as data. The CDK stack turns the rules into
// EventBridge rules; the local bus routes with the very same patterns
// (matched by internal/local/pattern), so the two platforms cannot drift
// apart.
//
// It holds no behaviour beyond encoding and key parsing.
package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// Sources of the events the pipeline sees.
const (
	Source   = "iris.pipeline" // our own events
	SourceS3 = "aws.s3"        // S3 "Object Created" through EventBridge
	// SourceSchedule is EventBridge Scheduler/rate rules' source; the sweep
	// that fails stuck jobs runs on it.
	SourceSchedule = "aws.events"
)

// Detail types.
const (
	JobAccepted         = "Job Accepted"
	JobRejected         = "Job Rejected"
	SegmentationStarted = "Segmentation Started"
	MeshesReady         = "Meshes Ready"
	JobFailed           = "Job Failed"
	ObjectCreated       = "Object Created"
	ScheduledEvent      = "Scheduled Event"
)

// Event is the EventBridge envelope, as delivered to targets.
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// S3Object is the detail of an S3 "Object Created" event as EventBridge
// delivers it.
type S3Object struct {
	Version string `json:"version"`
	Bucket  struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key       string `json:"key"`
		Size      int64  `json:"size"`
		ETag      string `json:"etag"`
		VersionID string `json:"version-id,omitempty"`
		Sequencer string `json:"sequencer"`
	} `json:"object"`
	RequestID       string `json:"request-id"`
	Requester       string `json:"requester"`
	SourceIPAddress string `json:"source-ip-address,omitempty"`
	Reason          string `json:"reason"`
}

// KindLabelMap is Input.Kind for an upload that is a label map (a
// segmentation already made): it is meshed as it is, without segmentation.
const KindLabelMap = "labelmap"

// Input describes the accepted volume, for the job record and the UI.
type Input struct {
	Format string `json:"format"` // "nifti" or "dicom"
	// Kind is KindLabelMap for a label map; "" for a CT.
	Kind string `json:"kind,omitempty"`
	// Labels is how many labels an uploaded label map holds.
	Labels      int        `json:"labels,omitempty"`
	File        string     `json:"file"`
	Bytes       int64      `json:"bytes"`
	Dims        [3]int     `json:"dims"`
	SpacingMm   [3]float64 `json:"spacingMm"`
	Orientation string     `json:"orientation"`
	Series      string     `json:"series,omitempty"` // DICOM: what was chosen and why
}

// Accepted is the detail of JobAccepted. A label map's job has no volume
// but its SegmentationKey, stored by the ingest: it is not segmented.
type Accepted struct {
	JobID           string `json:"jobId"`
	VolumeKey       string `json:"volumeKey"`
	SegmentationKey string `json:"segmentationKey,omitempty"`
	Input           Input  `json:"input"`
}

// Failure says what went wrong in words a person can act on. Code is
// stable for programs.
type Failure struct {
	JobID   string `json:"jobId"`
	Stage   string `json:"stage"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Started is the detail of SegmentationStarted.
type Started struct {
	JobID           string `json:"jobId"`
	InferenceID     string `json:"inferenceId,omitempty"`
	OutputLocation  string `json:"outputLocation"`
	FailureLocation string `json:"failureLocation,omitempty"`
	Engine          string `json:"engine"`
}

// Ready is the detail of MeshesReady.
type Ready struct {
	JobID       string   `json:"jobId"`
	ManifestKey string   `json:"manifestKey"`
	Artifacts   []string `json:"artifacts"` // keys under results/{job}/
	Organs      int      `json:"organs"`
}

// New builds an envelope for one of our detail types.
func New(id, detailType string, detail any, now time.Time) (Event, error) {
	b, err := json.Marshal(detail)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s detail: %w", detailType, err)
	}
	return Event{Version: "0", ID: id, DetailType: detailType, Source: Source, Time: now.UTC(), Resources: []string{}, Detail: b}, nil
}

// DecodeDetail unmarshals e's detail into v, naming the event on error.
func (e Event) DecodeDetail(v any) error {
	if err := json.Unmarshal(e.Detail, v); err != nil {
		return fmt.Errorf("decode %q detail of event %s: %w", e.DetailType, e.ID, err)
	}
	return nil
}
