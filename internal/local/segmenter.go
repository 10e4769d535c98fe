package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/volume"
)

// Segmenter runs segmentations on this machine the way the SageMaker
// asynchronous endpoint does on AWS: Start only queues the request (in the
// durable Queue, so a crash loses nothing) and returns where the output
// will appear; Run's workers read the volume, run the engine and write
// segmentations/{job}/labels.nii.gz, or segmentation-failures/{job}/error.json
// with the worker's JSON error body. Either write is an Object Created event
// that moves the pipeline on.
type Segmenter struct {
	Blobs   ports.Blobs
	Queue   *Queue // requests
	Engine  segment.Engine
	Workers int           // parallel segmentations; 0 means 1 (engines use every core)
	Timeout time.Duration // per segmentation; 0 means 30 minutes
	// Limits bound the volume: its decoded voxels, from the header before
	// any voxel is read, at Limits.Volume; over it the segmentation fails
	// as too_large, naming the limit. The zero value means
	// limits.Machine() (half of this machine's or cgroup's memory), as
	// ingest's, so a volume that ingest stored is segmented.
	Limits limits.Limits
	Log    *slog.Logger
}

var _ ports.Segmenter = (*Segmenter)(nil)

type segmentRequest struct {
	JobID    string `json:"jobId"`
	InputKey string `json:"inputKey"`
}

// FailureFile is the name of the error body under segmentation-failures/{job}/.
const FailureFile = "error.json"

// Start implements ports.Segmenter.
func (s *Segmenter) Start(ctx context.Context, jobID, inputKey string) (events.Started, error) {
	body, _ := json.Marshal(segmentRequest{JobID: jobID, InputKey: inputKey})
	if err := s.Queue.Send(ctx, body); err != nil {
		return events.Started{}, fmt.Errorf("queue segmentation of %s: %w", jobID, err)
	}
	return events.Started{
		JobID:           jobID,
		InferenceID:     jobID,
		OutputLocation:  events.SegmentationKey(jobID),
		FailureLocation: events.SegmentationFailurePrefix(jobID) + FailureFile,
		Engine:          s.Engine.Name(),
	}, nil
}

// Run processes queued segmentations until ctx ends.
func (s *Segmenter) Run(ctx context.Context) error {
	workers := max(s.Workers, 1)
	errc := make(chan error, workers)
	for range workers {
		go func() { errc <- Consume(ctx, s.Queue, 1, s.timeout()+time.Minute, s.handle) }()
	}
	var first error
	for range workers {
		if err := <-errc; err != nil && first == nil && !errors.Is(err, context.Canceled) {
			first = err
		}
	}
	return first
}

func (s *Segmenter) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 30 * time.Minute
}

func (s *Segmenter) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Segmenter) handle(ctx context.Context, msgs []ports.Message) ([]string, error) {
	var failed []string
	for _, m := range msgs {
		if err := s.segmentOne(ctx, m.Body); err != nil {
			s.log().ErrorContext(ctx, "segmentation will be retried", "message", m.ID, "err", err)
			failed = append(failed, m.ID)
		}
	}
	return failed, nil
}

// segmentOne returns an error only for transient trouble (the bucket); a
// scan the engine cannot handle becomes a failure object instead.
func (s *Segmenter) segmentOne(ctx context.Context, body []byte) error {
	var req segmentRequest
	if err := json.Unmarshal(body, &req); err != nil || !events.ValidJobID(req.JobID) {
		s.log().ErrorContext(ctx, "dropping a malformed segmentation request", "body", string(body))
		return nil
	}
	out := events.SegmentationKey(req.JobID)
	if _, err := s.Blobs.Head(ctx, out); err == nil {
		return nil // done before a crash or a duplicate request
	}
	start := time.Now()
	ct, err := s.readVolume(ctx, req.InputKey)
	var over *limits.TooLarge
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s.fail(ctx, req.JobID, "input_missing", "the volume to segment is gone: "+req.InputKey)
	case errors.As(err, &over):
		return s.fail(ctx, req.JobID, "too_large", "The scan is larger than this machine can segment ("+over.Error()+"). Upload a scan with fewer or thicker slices.")
	case err != nil:
		return s.fail(ctx, req.JobID, "invalid_volume", err.Error())
	}
	sctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	lm, err := s.Engine.Segment(sctx, ct)
	switch {
	case ctx.Err() != nil:
		return ctx.Err() // shutting down: the request stays queued
	case errors.Is(err, segment.ErrNotCT):
		return s.fail(ctx, req.JobID, "not_ct", err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return s.fail(ctx, req.JobID, "timeout", fmt.Sprintf("segmentation took longer than %v", s.timeout()))
	case err != nil:
		return s.fail(ctx, req.JobID, "segmentation_failed", err.Error())
	}
	var buf bytes.Buffer
	if err := volume.WriteLabelMap(&buf, lm); err != nil {
		return s.fail(ctx, req.JobID, "segmentation_failed", "write label map: "+err.Error())
	}
	if err := s.Blobs.Put(ctx, out, &buf, int64(buf.Len()), "application/gzip"); err != nil {
		return fmt.Errorf("store %s: %w", out, err)
	}
	s.log().InfoContext(ctx, "segmented", "job", req.JobID, "engine", s.Engine.Name(), "seconds", time.Since(start).Seconds())
	return nil
}

// readVolume reads the volume at key. Its header is read first, on its
// own, so that a volume over the limit is refused with a *limits.TooLarge
// before any voxel is read.
func (s *Segmenter) readVolume(ctx context.Context, key string) (*volume.CT, error) {
	lim := s.Limits
	if lim.Volume <= 0 {
		lim = limits.Machine()
	}
	rc, _, err := s.Blobs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	h, err := volume.ReadHeader(rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if err := limits.Check("the volume's decoded voxels", int64(h.NumVoxels())*int64(h.Datatype.Size()), lim.Volume); err != nil {
		return nil, err
	}
	rc, _, err = s.Blobs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	img, err := volume.Read(rc, volume.ReadOptions{MaxBytes: lim.Volume})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return img.CT()
}

// fail writes the worker's error body, as the gpuworker answers and the
// SageMaker endpoint stores it.
func (s *Segmenter) fail(ctx context.Context, jobID, code, msg string) error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, msg
	b, _ := json.Marshal(body)
	key := events.SegmentationFailurePrefix(jobID) + FailureFile
	if err := s.Blobs.Put(ctx, key, bytes.NewReader(b), int64(len(b)), "application/json"); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	s.log().WarnContext(ctx, "segmentation failed", "job", jobID, "code", code, "message", msg)
	return nil
}
