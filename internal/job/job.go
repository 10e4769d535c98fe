// Package job holds a scan's journey through the pipeline: the Job record,
// its statuses with their ranks, the legal transitions, and the Store port
// that the status stage writes through. It knows nothing of storage
// engines: internal/local (SQLite) and internal/aws (DynamoDB) implement
// Store, and storetest checks both against the same contract.
package job

import (
	"time"

	"github.com/iris-oculus/iris/events"
)

// Status is where a job stands. Statuses only move forward.
type Status string

// The statuses, in pipeline order.
const (
	Created    Status = "created"
	Accepted   Status = "accepted"
	Segmenting Status = "segmenting"
	Meshing    Status = "meshing"
	Done       Status = "done"
	Failed     Status = "failed"
)

// Rank orders statuses: an update applies only if it raises the rank.
// Failed outranks every status but Done, so a late failure cannot undo a
// finished job and a late progress event cannot revive a failed one.
func (s Status) Rank() int {
	switch s {
	case Created:
		return 1
	case Accepted:
		return 2
	case Segmenting:
		return 3
	case Meshing:
		return 4
	case Failed:
		return 5
	case Done:
		return 6
	}
	return 0
}

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool { return s.Rank() > 0 }

// Terminal reports whether nothing more will happen to the job.
func (s Status) Terminal() bool { return s == Done || s == Failed }

// CanMove reports whether a job in from may move to to.
func CanMove(from, to Status) bool {
	return to.Valid() && from.Valid() && !from.Terminal() && to.Rank() > from.Rank()
}

// Error is why a job failed, in words a person can act on; Code is stable.
type Error struct {
	Stage   string `json:"stage"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Organ is one meshed structure's statistics, from the manifest.
type Organ struct {
	Label          int     `json:"label"`
	Name           string  `json:"name"`
	DisplayName    string  `json:"displayName,omitempty"`
	System         string  `json:"system,omitempty"`
	Color          string  `json:"color,omitempty"`
	VoxelCount     int     `json:"voxelCount"`
	VolumeMl       float64 `json:"volumeMl"`
	MeshVolumeMl   float64 `json:"meshVolumeMl"`
	SurfaceAreaCm2 float64 `json:"surfaceAreaCm2"`
	Triangles      int     `json:"triangles"`
	TouchesBorder  bool    `json:"touchesBorder"`
}

// Artifact is one downloadable result object.
type Artifact struct {
	Name  string `json:"name"` // path under results/{job}/, e.g. "scene.glb"
	Key   string `json:"key"`
	Bytes int64  `json:"bytes"`
}

// Job is the record of one scan.
type Job struct {
	ID        string               `json:"id"`
	Owner     string               `json:"owner"`
	Status    Status               `json:"status"`
	CreatedAt time.Time            `json:"createdAt"`
	UpdatedAt time.Time            `json:"updatedAt"`
	Stages    map[Status]time.Time `json:"stages"`
	UploadKey string               `json:"uploadKey,omitempty"`
	Input     *events.Input        `json:"input,omitempty"`
	// Where the segmenter will write its output and failure, as the
	// dispatcher learnt them (SageMaker may choose its own names).
	OutputLocation  string `json:"outputLocation,omitempty"`
	FailureLocation string `json:"failureLocation,omitempty"`
	Engine          string `json:"engine,omitempty"`
	// Request is the dispatcher's claim on the job's segmentation (see
	// Claim): it is made before the segmenter is called, so that one
	// segmentation runs per job however often the request is delivered.
	Request   *Request   `json:"segmentationRequest,omitempty"`
	Error     *Error     `json:"error,omitempty"`
	Organs    []Organ    `json:"organs,omitempty"`
	Artifacts []Artifact `json:"artifacts,omitempty"`
	ExpiresAt time.Time  `json:"expiresAt,omitzero"`
	// Usage is set when the job ends (done or failed): its stage times,
	// GPU seconds and estimated cost.
	Usage *Usage `json:"usage,omitempty"`
}

// Update is a status change with the facts that come with it. Zero fields
// leave the record's values alone.
type Update struct {
	Status          Status
	At              time.Time
	Input           *events.Input
	OutputLocation  string
	FailureLocation string
	Engine          string
	Error           *Error
	Organs          []Organ
	Artifacts       []Artifact
	// Rates price the job's Usage when u ends it; nil prices it at zero.
	Rates *Rates
}

// Apply returns j with u applied, and whether it applied: a stale,
// duplicate or illegal update leaves j unchanged and reports false.
func Apply(j Job, u Update) (Job, bool) {
	if !CanMove(j.Status, u.Status) {
		return j, false
	}
	stages := make(map[Status]time.Time, len(j.Stages)+1)
	at := u.At
	for k, v := range j.Stages {
		stages[k] = v
		// A stage starts no earlier than the one it follows: event
		// times have whole seconds (EventBridge's, and S3's) and come
		// from different clocks, so a later stage's event may carry an
		// earlier time. Shown as is, "meshing" would start before
		// "segmenting".
		if v.After(at) {
			at = v
		}
	}
	u.At = at
	stages[u.Status] = at
	j.Stages = stages
	j.Status = u.Status
	j.UpdatedAt = u.At
	if u.Input != nil {
		j.Input = u.Input
	}
	if u.OutputLocation != "" {
		j.OutputLocation = u.OutputLocation
	}
	if u.FailureLocation != "" {
		j.FailureLocation = u.FailureLocation
	}
	if u.Engine != "" {
		j.Engine = u.Engine
	}
	if u.Error != nil {
		j.Error = u.Error
	}
	if u.Organs != nil {
		j.Organs = u.Organs
	}
	if u.Artifacts != nil {
		j.Artifacts = u.Artifacts
	}
	if j.Status.Terminal() {
		var r Rates
		if u.Rates != nil {
			r = *u.Rates
		}
		usage := Measure(j, r)
		j.Usage = &usage
	}
	return j, true
}

// Request is a claim on a job's segmentation: who asked for it and when,
// and, once the segmenter took it, what the segmenter answered.
type Request struct {
	// By names the claimant: the queue message carrying the dispatch
	// request, the same on each of its redeliveries.
	By string    `json:"by"`
	At time.Time `json:"at"`
	// Started is the segmenter's answer (its inference id and where the
	// output and failure will appear), recorded before it is announced,
	// so that a claimant retried after the call announces it again
	// instead of calling a second time.
	Started *events.Started `json:"started,omitempty"`
}

// Claim decides a request for j's segmentation. It returns j with r
// recorded and true when r.By may start the segmentation: the job is at
// accepted or before, and nobody else claimed it. A request by the
// claimant already recorded keeps the first time and adds r.Started if
// given. Anything else returns j unchanged and false: the job is past
// accepted (a segmentation ran or the job ended), or another claimant
// holds it. A claim is never taken away, so of any number of claimants
// exactly one is told true, whatever the order; if that one dies for
// good, the job stays at accepted and the sweep fails it.
func Claim(j Job, r Request) (Job, bool) {
	if r.By == "" || j.Status.Rank() > Accepted.Rank() || j.Status.Terminal() || !j.Status.Valid() {
		return j, false
	}
	if cur := j.Request; cur != nil {
		if cur.By != r.By {
			return j, false
		}
		r.At = cur.At
		if r.Started == nil {
			r.Started = cur.Started
		}
	}
	if r.Started != nil {
		st := *r.Started
		r.Started = &st
	}
	j.Request = &r
	return j, true
}
