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
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/export/manifest"
	"github.com/iris-oculus/iris/internal/pipeline/stage"
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

// The helpers the stages share live in package stage (see there), so
// that the status stage, a package of its own, links no imaging code.
func objectCreated(ev events.Event) (events.S3Object, events.Key, error) {
	return stage.ObjectCreated(ev)
}
func locationKey(loc string) string { return stage.LocationKey(loc) }
func isSegmentationOf(outputLocation, jobID, key string) bool {
	return stage.IsSegmentationOf(outputLocation, jobID, key)
}

// defaultMaxAttempts is the default MaxAttempts of Dispatch and Mesher,
// matching the queues' redrive maxReceiveCount.
const defaultMaxAttempts = 5

func logOr(l *slog.Logger) *slog.Logger { return stage.LogOr(l) }
func nowOr(c Clock) time.Time           { return stage.NowOr(c) }

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
type errTooBig = stage.TooBig

// errLocal marks a failure of the local temporary folder: stage.ErrLocal.
var errLocal = stage.ErrLocal

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
		return nil, info, &errTooBig{Key: key, Size: info.Size, Max: max}
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, info, fmt.Errorf("spool %s: %w: %w", key, errLocal, err)
	}
	n, err := io.Copy(f, io.LimitReader(rc, max+1))
	if err == nil && n > max {
		err = &errTooBig{Key: key, Size: n, Max: max}
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

func missing(err error) bool { return stage.Missing(err) }
func readSmall(ctx context.Context, blobs Blobs, key string, max int64) ([]byte, error) {
	return stage.ReadSmall(ctx, blobs, key, max)
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

func durationText(d time.Duration) string { return stage.DurationText(d) }

// purge deletes every object under the job's folders: see stage.Purge.
func purge(ctx context.Context, blobs Blobs, id string, folders ...string) error {
	return stage.Purge(ctx, blobs, id, folders...)
}

// readManifest reads and checks a manifest.json from the bucket.
func readManifest(ctx context.Context, blobs Blobs, key string) (*export.Manifest, error) {
	b, err := readSmall(ctx, blobs, key, 64<<20)
	if err != nil {
		return nil, err
	}
	return manifest.Decode(b, key)
}
