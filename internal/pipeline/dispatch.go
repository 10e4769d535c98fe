package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
)

// Dispatch starts segmentations. It consumes the jobs queue: for each
// DispatchRequest it starts the segmenter on the job's volume and emits
// "Segmentation Started" with where the output and the failure will
// appear. It reads job records but never writes them.
//
// A request is skipped when its job is already past accepted or a
// segmentation output (or failure) for it exists, so duplicates cost
// nothing. A duplicate that arrives while the first start is in flight
// and not yet recorded may start a second segmentation; it writes the
// same output and the stages after it are idempotent.
type Dispatch struct {
	Store     ports.Store // read only
	Blobs     Blobs
	Segmenter Segmenter
	Bus       Bus
	Now       Clock
	Log       *slog.Logger
	// MaxAttempts is the receive count at which a request that keeps
	// failing is given up, with "Job Failed", instead of being left to the
	// dead-letter queue; set it to the queue's maxReceiveCount. 0 means 5.
	MaxAttempts int
}

// HandleBatch handles a batch of jobs-queue messages with SQS partial-batch
// semantics: it returns the ids of the messages to redeliver. Malformed
// messages are logged and dropped. The error is always nil; the signature
// is the one queue consumers take.
func (d *Dispatch) HandleBatch(ctx context.Context, msgs []Message) ([]string, error) {
	var failed []string
	for _, m := range msgs {
		if err := d.handleMessage(ctx, m); err != nil {
			failed = append(failed, m.ID)
		}
	}
	return failed, nil
}

func (d *Dispatch) handleMessage(ctx context.Context, m Message) error {
	log := logOr(d.Log).With("stage", StageDispatch, "message", m.ID, "attempt", m.ReceiveCount)
	req, err := DecodeDispatchRequest(m.Body)
	if err != nil {
		log.Error("dispatch: dropping malformed message", "err", err)
		return nil
	}
	log = log.With("job", req.JobID)
	err = d.Handle(ctx, req)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, job.ErrNotFound):
		if m.ReceiveCount < missingJobAttempts {
			log.Warn("dispatch: no job record yet; will retry", "err", err)
			return err
		}
		log.Error("dispatch: dropping request for a job with no record", "err", err)
		return nil
	case m.ReceiveCount < d.maxAttempts() || ctx.Err() != nil:
		log.Warn("dispatch: failed; will retry", "err", err)
		return err
	}
	log.Error("dispatch: giving up", "err", err)
	f := events.Failure{JobID: req.JobID, Stage: StageDispatch, Code: CodeDispatchFailed,
		Message: "The segmentation could not be started (" + err.Error() + "). Try again later."}
	return publish(ctx, d.Bus, nowOr(d.Now), events.JobFailed, req.JobID, f)
}

func (d *Dispatch) maxAttempts() int {
	if d.MaxAttempts > 0 {
		return d.MaxAttempts
	}
	return defaultMaxAttempts
}

// Handle starts the segmentation req asks for, unless it is done or under
// way. Errors wrapping job.ErrNotFound mean the job has no record (yet);
// others are transient.
func (d *Dispatch) Handle(ctx context.Context, req DispatchRequest) error {
	log := logOr(d.Log).With("stage", StageDispatch, "job", req.JobID)
	j, err := d.Store.Get(ctx, req.JobID)
	if err != nil {
		return fmt.Errorf("dispatch job %s: %w", req.JobID, err)
	}
	if j.Status.Rank() > job.Accepted.Rank() {
		log.Info("dispatch: job already past accepted; skipping", "status", j.Status)
		return nil
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
	if err := publish(ctx, d.Bus, nowOr(d.Now), events.SegmentationStarted, req.JobID, st); err != nil {
		return err
	}
	log.Info("dispatch: segmentation started", "engine", st.Engine, "output", st.OutputLocation, "inference", st.InferenceID)
	return nil
}

// segmented reports whether a segmentation of the job already left its
// label map or a failure behind.
func (d *Dispatch) segmented(ctx context.Context, id string) (bool, error) {
	if ok, err := exists(ctx, d.Blobs, events.SegmentationKey(id)); err != nil || ok {
		return ok, err
	}
	fails, err := d.Blobs.List(ctx, events.SegmentationFailurePrefix(id))
	if err != nil {
		return false, fmt.Errorf("list %s: %w", events.SegmentationFailurePrefix(id), err)
	}
	return len(fails) > 0, nil
}
