// Package dispatch is the pipeline's dispatch stage: it consumes the jobs
// queue and starts one asynchronous segmentation per job. It is a package
// of its own, over ports only, so that the dispatch Lambda links none of
// the imaging code the other stages need; internal/pipeline re-exports it.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/pipeline/stage"
	"github.com/iris-oculus/iris/internal/ports"
)

// Request is the body of a jobs-queue message: segment the volume
// at VolumeKey for job JobID. Ingest sends it; Dispatch consumes it.
type Request struct {
	JobID     string `json:"jobId"`
	VolumeKey string `json:"volumeKey"`
}

// DecodeRequest decodes and checks a jobs-queue message body: the
// job id must be valid and the volume key must be that job's volume.
func DecodeRequest(body []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("decode dispatch request: %w", err)
	}
	if !events.ValidJobID(r.JobID) {
		return r, fmt.Errorf("dispatch request: invalid job id %q", r.JobID)
	}
	k, err := events.ParseKey(r.VolumeKey)
	if err != nil || k.Prefix != events.PrefixVolumes || k.JobID != r.JobID {
		return r, fmt.Errorf("dispatch request: volume key %q is not under %s%s/", r.VolumeKey, events.PrefixVolumes, r.JobID)
	}
	return r, nil
}

// Dispatch starts segmentations. It consumes the jobs queue: for each
// DispatchRequest it claims the job's segmentation in the store
// (ports.Store.Claim, a conditional write), starts the segmenter on the
// job's volume only if it holds the claim, records the segmenter's answer
// in the claim and emits "Segmentation Started" with where the output and
// the failure will appear. Besides the claim it writes nothing; the
// status stage keeps the rest of the record.
//
// The claimant is the queue message: its redeliveries hold the claim, any
// other message for the job (a duplicate upload event, ingest retried)
// does not, so exactly one segmentation is started per job whatever the
// duplicates and their order. A redelivery after the segmenter answered
// announces the recorded answer again instead of calling it twice.
//
// A request can arrive before the status stage made the job's record (a
// dropped file's record is made from "Job Accepted", delivered on its
// own). Dispatch waits for the record for up to RecordWait, then returns
// the message for redelivery; at the last attempt it gives up with "Job
// Failed", which the status stage applies once the record exists.
type Dispatch struct {
	Store     ports.Store // Get and Claim
	Blobs     ports.Blobs
	Segmenter ports.Segmenter
	Bus       ports.Bus
	Now       ports.Clock
	Log       *slog.Logger
	// MaxAttempts is the receive count at which a request that keeps
	// failing is given up, with "Job Failed", instead of being left to the
	// dead-letter queue; set it to the queue's maxReceiveCount. 0 means 5.
	MaxAttempts int
	// RecordWait is how long one delivery waits for a job record that is
	// not there yet; 0 means DefaultRecordWait, negative not at all. It
	// is cut short to leave a quarter of the context's time.
	RecordWait time.Duration
}

// DefaultRecordWait is Dispatch.RecordWait when it is 0: the status stage
// usually makes a record within a second or two of "Job Accepted".
const DefaultRecordWait = 10 * time.Second

// HandleBatch handles a batch of jobs-queue messages with SQS partial-batch
// semantics: it returns the ids of the messages to redeliver. Malformed
// messages are logged and dropped. The error is always nil; the signature
// is the one queue consumers take.
func (d *Dispatch) HandleBatch(ctx context.Context, msgs []ports.Message) ([]string, error) {
	var failed []string
	for _, m := range msgs {
		if err := d.handleMessage(ctx, m); err != nil {
			failed = append(failed, m.ID)
		}
	}
	return failed, nil
}

func (d *Dispatch) handleMessage(ctx context.Context, m ports.Message) error {
	log := stage.LogOr(d.Log).With("stage", Stage, "message", m.ID, "attempt", m.ReceiveCount)
	req, err := DecodeRequest(m.Body)
	if err != nil {
		log.Error("dispatch: dropping malformed message", "err", err)
		return nil
	}
	log = log.With("job", req.JobID)
	err = d.Handle(ctx, m.ID, req)
	switch {
	case err == nil:
		return nil
	case m.ReceiveCount < d.maxAttempts() || ctx.Err() != nil:
		log.Warn("dispatch: failed; will retry", "err", err)
		return err
	}
	log.Error("dispatch: giving up", "err", err)
	msg := "The segmentation could not be started (" + err.Error() + "). Try again later."
	if errors.Is(err, job.ErrNotFound) {
		msg = "The segmentation could not be started: the job's record was never made. Try again later."
	}
	f := events.Failure{JobID: req.JobID, Stage: Stage, Code: CodeFailed, Message: msg}
	return stage.Publish(ctx, d.Bus, stage.NowOr(d.Now), events.JobFailed, req.JobID, f)
}

func (d *Dispatch) maxAttempts() int {
	if d.MaxAttempts > 0 {
		return d.MaxAttempts
	}
	return defaultMaxAttempts
}

// Handle starts the segmentation req asks for on behalf of the claimant
// by (the queue message's id), unless another claimant holds it or it is
// done. Errors wrapping job.ErrNotFound mean the job has no record (yet);
// others are transient.
func (d *Dispatch) Handle(ctx context.Context, by string, req Request) error {
	log := stage.LogOr(d.Log).With("stage", Stage, "job", req.JobID, "claimant", by)
	j, held, err := d.claim(ctx, req.JobID, job.Request{By: by, At: stage.NowOr(d.Now)})
	if errors.Is(err, job.ErrDeleted) {
		log.Info("dispatch: job deleted; not starting its segmentation")
		return nil
	}
	if err != nil {
		return fmt.Errorf("dispatch job %s: %w", req.JobID, err)
	}
	if !held {
		if j.Request != nil && j.Request.By != by {
			log.Info("dispatch: another request holds the job's segmentation; skipping", "holder", j.Request.By, "status", j.Status)
		} else {
			log.Info("dispatch: job already past accepted; skipping", "status", j.Status)
		}
		return nil
	}
	if st := j.Request.Started; st != nil {
		// This claimant started it and died (or failed to announce it)
		// before: announce it again.
		log.Info("dispatch: segmentation started before; announcing it again", "inference", st.InferenceID)
		return stage.Publish(ctx, d.Bus, stage.NowOr(d.Now), events.SegmentationStarted, req.JobID, *st)
	}
	if done, err := d.segmented(ctx, req.JobID); err != nil || done {
		if done {
			log.Info("dispatch: segmentation output already exists; skipping")
		}
		return err
	}
	st, err := d.Segmenter.Start(ctx, req.JobID, req.VolumeKey)
	if err != nil {
		return fmt.Errorf("start segmentation of job %s: %w", req.JobID, err)
	}
	st.JobID = req.JobID
	// Recorded before it is announced: a redelivery after a failed
	// announcement must not start the segmentation again. If the record
	// fails, the announcement still goes out (and moves the job on).
	if _, _, err := d.Store.Claim(ctx, req.JobID, job.Request{By: by, At: stage.NowOr(d.Now), Started: &st}); err != nil {
		log.Warn("dispatch: could not record the started segmentation", "inference", st.InferenceID, "err", err)
	}
	if err := stage.Publish(ctx, d.Bus, stage.NowOr(d.Now), events.SegmentationStarted, req.JobID, st); err != nil {
		return err
	}
	log.Info("dispatch: segmentation started", "engine", st.Engine, "output", st.OutputLocation, "inference", st.InferenceID)
	return nil
}

// claim claims the job's segmentation, waiting up to RecordWait for a
// record that is not there yet.
func (d *Dispatch) claim(ctx context.Context, id string, r job.Request) (job.Job, bool, error) {
	wait := d.RecordWait
	if wait == 0 {
		wait = DefaultRecordWait
	}
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)*3/4)
	}
	deadline := time.Now().Add(wait)
	pause := 100 * time.Millisecond
	for {
		j, held, err := d.Store.Claim(ctx, id, r)
		if !errors.Is(err, job.ErrNotFound) || errors.Is(err, job.ErrDeleted) || time.Now().Add(pause).After(deadline) {
			return j, held, err
		}
		select {
		case <-ctx.Done():
			return j, held, err
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

// segmented reports whether a segmentation of the job already left its
// label map or a failure behind.
func (d *Dispatch) segmented(ctx context.Context, id string) (bool, error) {
	if ok, err := stage.Exists(ctx, d.Blobs, events.SegmentationKey(id)); err != nil || ok {
		return ok, err
	}
	fails, err := d.Blobs.List(ctx, events.SegmentationFailurePrefix(id))
	if err != nil {
		return false, fmt.Errorf("list %s: %w", events.SegmentationFailurePrefix(id), err)
	}
	return len(fails) > 0, nil
}

// Stage names the stage in failures; CodeFailed is its give-up code.
const (
	Stage      = "dispatch"
	CodeFailed = "dispatch_failed" // the segmenter could not be started
)

// defaultMaxAttempts is Dispatch.MaxAttempts when it is 0: the jobs
// queue's maxReceiveCount.
const defaultMaxAttempts = stage.DefaultMaxAttempts
