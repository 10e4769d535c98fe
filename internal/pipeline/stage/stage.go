// Package stage holds what the pipeline's stages share and nothing that
// reads or writes images: the names of the stages and the failure codes of
// more than one of them, and small helpers over the ports (reading a
// small object, purging a job's folders, decoding an S3 event). It is a
// leaf over events, job and ports, so that a stage in a package of its
// own (internal/pipeline/status) links none of the imaging code. It does
// not handle any event itself.
package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/ports"
)

// Stages named in failures (the dispatch stage's is dispatch.Stage).
const (
	Ingest       = "ingest"
	Segmentation = "segmentation"
	Mesher       = "mesher"
	Upload       = "upload"
)

// Failure codes that more than one stage gives. They are stable:
// programs (the web app, alarms) key on them.
const (
	CodeSegmentationFailed = "segmentation_failed" // the segmenter reported no code of its own
	CodeMeshFailed         = "mesh_failed"
	CodeTimeout            = "timeout"
	CodeTooLarge           = "too_large" // an upload or a label map over the limits
)

// NoEngine is the engine recorded for a job whose upload was a label map:
// it goes from accepted straight to meshing.
const NoEngine = "none (label map uploaded)"

// DefaultOrphanGrace is how long an event for a job with no record is
// retried before it is dropped (Status.OrphanGrace, Mesher.OrphanGrace).
// A dropped file's record is created by the status stage from "Job
// Accepted", which may be delivered after the events that follow it.
const DefaultOrphanGrace = 15 * time.Minute

// Orphaned reports whether an event for a job without a record is old
// enough to give up on. An event without a time counts as new.
func Orphaned(ev events.Event, now time.Time, grace time.Duration) bool {
	if grace <= 0 {
		grace = DefaultOrphanGrace
	}
	return !ev.Time.IsZero() && now.Sub(ev.Time) > grace
}

// LogOr is l, or slog's default logger when l is nil.
func LogOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// NowOr is c's time in UTC, or the clock's when c is nil.
func NowOr(c ports.Clock) time.Time {
	if c == nil {
		return time.Now().UTC()
	}
	return c().UTC()
}

// ObjectCreated decodes an S3 "Object Created" event and parses its key.
func ObjectCreated(ev events.Event) (events.S3Object, events.Key, error) {
	var obj events.S3Object
	if ev.Source != events.SourceS3 || ev.DetailType != events.ObjectCreated {
		return obj, events.Key{}, fmt.Errorf("event %s is %q from %q, not an S3 Object Created", ev.ID, ev.DetailType, ev.Source)
	}
	if err := ev.DecodeDetail(&obj); err != nil {
		return obj, events.Key{}, err
	}
	k, err := events.ParseKey(obj.Object.Key)
	if err != nil {
		return obj, k, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	return obj, k, nil
}

// LocationKey turns a location as a segmenter reports it — a key, or an
// s3://bucket/key URI as SageMaker returns — into a key.
func LocationKey(loc string) string {
	if rest, ok := strings.CutPrefix(loc, "s3://"); ok {
		if _, key, ok := strings.Cut(rest, "/"); ok {
			return key
		}
		return ""
	}
	return loc
}

// IsSegmentationOf reports whether key is the label map that job's
// segmenter was asked for. The dispatcher records where the segmenter said
// it would write; until that is known (events arrive unordered) only the
// name the dispatcher asks for, segmentations/{job}/labels.nii.gz (with
// whatever suffix the platform appends), counts. Anything else is a stray
// file and must not move or finish the job.
func IsSegmentationOf(outputLocation, jobID, key string) bool {
	if outputLocation != "" {
		return LocationKey(outputLocation) == key
	}
	return strings.HasPrefix(key, events.SegmentationKey(jobID))
}

// TooBig reports an object over a handler's byte limit.
type TooBig struct {
	Key       string
	Size, Max int64
}

func (e *TooBig) Error() string {
	return fmt.Sprintf("%s is %s, more than the %s accepted", e.Key, limits.Bytes(e.Size), limits.Bytes(e.Max))
}

// ErrLocal marks a failure of the local temporary folder, so that its
// fs.ErrNotExist is not mistaken for a missing object.
var ErrLocal = errors.New("temporary folder")

// Missing reports an object that is not there (and not a local failure).
func Missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrLocal)
}

// ReadSmall reads a small object whole, refusing more than max bytes with
// *TooBig.
func ReadSmall(ctx context.Context, blobs ports.Blobs, key string, max int64) ([]byte, error) {
	rc, info, err := blobs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if info.Size > max {
		return nil, &TooBig{key, info.Size, max}
	}
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(b)) > max {
		return nil, &TooBig{key, int64(len(b)), max}
	}
	return b, nil
}

// Purge deletes every object under the folders, each of which must be
// job id's: what a deleted job's late outputs left. Missing objects are
// not an error, so a redelivered event purges again harmlessly.
func Purge(ctx context.Context, blobs ports.Blobs, id string, folders ...string) error {
	var errs []error
	for _, f := range folders {
		if !strings.HasSuffix(f, "/"+id+"/") {
			return fmt.Errorf("purge job %s: %q is not one of its folders", id, f)
		}
		objs, err := blobs.List(ctx, f)
		if err != nil {
			errs = append(errs, fmt.Errorf("purge job %s: list %s: %w", id, f, err))
			continue
		}
		for _, o := range objs {
			if err := blobs.Delete(ctx, o.Key); err != nil && !Missing(err) {
				errs = append(errs, fmt.Errorf("purge job %s: delete %s: %w", id, o.Key, err))
			}
		}
	}
	return errors.Join(errs...)
}

// DurationText writes a deadline for people: "2 hours", "30 minutes".
func DurationText(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	}
	return d.String()
}
