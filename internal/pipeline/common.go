package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/iris-oculus/iris/events"
)

// DecodeQueuedEvent decodes the body of a message that EventBridge put on a
// queue: the body is the event's JSON, envelope and all.
func DecodeQueuedEvent(body []byte) (events.Event, error) {
	var ev events.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, fmt.Errorf("decode queued event: %w", err)
	}
	if ev.DetailType == "" || len(ev.Detail) == 0 {
		return ev, errors.New("decode queued event: no detail-type or detail")
	}
	return ev, nil
}

// objectCreated decodes an S3 "Object Created" event and parses its key.
func objectCreated(ev events.Event) (events.S3Object, events.Key, error) {
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

// locationKey turns a location as a segmenter reports it — a key, or an
// s3://bucket/key URI as SageMaker returns — into a key.
func locationKey(loc string) string {
	if rest, ok := strings.CutPrefix(loc, "s3://"); ok {
		if _, key, ok := strings.Cut(rest, "/"); ok {
			return key
		}
		return ""
	}
	return loc
}

// isSegmentationOf reports whether key is the label map that job's
// segmenter was asked for. The dispatcher records where the segmenter said
// it would write; until that is known (events arrive unordered) only the
// name the dispatcher asks for, segmentations/{job}/labels.nii.gz (with
// whatever suffix the platform appends), counts. Anything else is a stray
// file and must not move or finish the job.
func isSegmentationOf(outputLocation, jobID, key string) bool {
	if outputLocation != "" {
		return locationKey(outputLocation) == key
	}
	return strings.HasPrefix(key, events.SegmentationKey(jobID))
}

// defaultMaxAttempts is the default MaxAttempts of Dispatch and Mesher,
// matching the queues' redrive maxReceiveCount.
const defaultMaxAttempts = 5

// defaults shared by the handlers.
func logOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

func nowOr(c Clock) time.Time {
	if c == nil {
		return time.Now().UTC()
	}
	return c().UTC()
}

// newEvent builds one of our events with a random id (EventBridge assigns
// its own; the local bus keeps this one).
func newEvent(detailType string, detail any, now time.Time) (events.Event, error) {
	var b [16]byte
	rand.Read(b[:])
	return events.New(hex.EncodeToString(b[:]), detailType, detail, now)
}

// publish emits one event and names it in the error.
func publish(ctx context.Context, bus Bus, now time.Time, detailType, jobID string, detail any) error {
	ev, err := newEvent(detailType, detail, now)
	if err != nil {
		return err
	}
	if err := bus.Publish(ctx, ev); err != nil {
		return fmt.Errorf("publish %s for job %s: %w", detailType, jobID, err)
	}
	return nil
}

// errTooBig reports an object over a handler's byte limit.
type errTooBig struct {
	key       string
	size, max int64
}

func (e *errTooBig) Error() string {
	return fmt.Sprintf("%s is %s, more than the %s accepted", e.key, bytesText(e.size), bytesText(e.max))
}

// errLocal marks a failure of the local temporary folder, so that its
// fs.ErrNotExist is not mistaken for a missing object.
var errLocal = errors.New("temporary folder")

// spool copies the object at key into a new temporary file in dir ("" for
// the system's), refusing more than max bytes with *errTooBig, so that
// readers that need random access (zip) or a known size get a file rather
// than the whole object in memory. Blob errors are returned as they are (a
// missing key matches fs.ErrNotExist); local ones wrap errLocal. The caller
// closes and removes the file.
func spool(ctx context.Context, blobs Blobs, key, dir, pattern string, max int64) (*os.File, BlobInfo, error) {
	rc, info, err := blobs.Get(ctx, key)
	if err != nil {
		return nil, info, err
	}
	defer rc.Close()
	if info.Size > max {
		return nil, info, &errTooBig{key, info.Size, max}
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, info, fmt.Errorf("spool %s: %w: %w", key, errLocal, err)
	}
	n, err := io.Copy(f, io.LimitReader(rc, max+1))
	if err == nil && n > max {
		err = &errTooBig{key, n, max}
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, info, fmt.Errorf("spool %s: %w", key, err)
	}
	info.Size = n
	return f, info, nil
}

// missing reports an object that is not there (and not a local failure).
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errLocal)
}

// readSmall reads a small object whole, refusing more than max bytes.
func readSmall(ctx context.Context, blobs Blobs, key string, max int64) ([]byte, error) {
	rc, info, err := blobs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if info.Size > max {
		return nil, &errTooBig{key, info.Size, max}
	}
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(b)) > max {
		return nil, &errTooBig{key, int64(len(b)), max}
	}
	return b, nil
}

// exists reports whether key is stored.
func exists(ctx context.Context, blobs Blobs, key string) (bool, error) {
	_, err := blobs.Head(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("head %s: %w", key, err)
}

// bytesText writes a byte count for people: "512 MB", "2 GB".
func bytesText(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.3g %cB", v, "kMGT"[i])
}

// durationText writes a deadline for people: "2 hours", "30 minutes".
func durationText(d time.Duration) string {
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
