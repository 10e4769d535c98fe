package stage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/export/manifest"
	"github.com/iris-oculus/iris/internal/ports"
)

// DefaultMaxAttempts is the default MaxAttempts of the dispatch and mesher
// stages: the queues' redrive maxReceiveCount.
const DefaultMaxAttempts = 5

// ErrEarly is wrapped by the status and mesher stages' error for an event
// that must wait for an earlier one (the platform redelivers it).
var ErrEarly = errors.New("event arrived before the one it follows")

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

// Publish emits one of our events, with a random id (EventBridge assigns
// its own; the local bus keeps this one), and names it in the error.
func Publish(ctx context.Context, bus ports.Bus, now time.Time, detailType, jobID string, detail any) error {
	var b [16]byte
	rand.Read(b[:])
	ev, err := events.New(hex.EncodeToString(b[:]), detailType, detail, now)
	if err != nil {
		return err
	}
	if err := bus.Publish(ctx, ev); err != nil {
		return fmt.Errorf("publish %s for job %s: %w", detailType, jobID, err)
	}
	return nil
}

// Exists reports whether key is stored.
func Exists(ctx context.Context, blobs ports.Blobs, key string) (bool, error) {
	_, err := blobs.Head(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("head %s: %w", key, err)
}

// Spool copies the object at key into a new temporary file in dir ("" for
// the system's), refusing more than max bytes with *TooBig, so that
// readers that need random access (zip) or a known size get a file rather
// than the whole object in memory. Blob errors are returned as they are (a
// missing key matches fs.ErrNotExist); local ones wrap ErrLocal. The caller
// closes and removes the file.
func Spool(ctx context.Context, blobs ports.Blobs, key, dir, pattern string, max int64) (*os.File, ports.BlobInfo, error) {
	rc, info, err := blobs.Get(ctx, key)
	if err != nil {
		return nil, info, err
	}
	defer rc.Close()
	if info.Size > max {
		return nil, info, &TooBig{Key: key, Size: info.Size, Max: max}
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, info, fmt.Errorf("spool %s: %w: %w", key, ErrLocal, err)
	}
	n, err := io.Copy(f, io.LimitReader(rc, max+1))
	if err == nil && n > max {
		err = &TooBig{Key: key, Size: n, Max: max}
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

// PutFile stores the file at key with the given media type.
func PutFile(ctx context.Context, blobs ports.Blobs, key, file, ctype string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := blobs.Put(ctx, key, f, st.Size(), ctype); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// ReadManifest reads and checks a manifest.json from the bucket (as
// manifest.Read does from a file).
func ReadManifest(ctx context.Context, blobs ports.Blobs, key string) (*manifest.Manifest, error) {
	b, err := ReadSmall(ctx, blobs, key, 64<<20)
	if err != nil {
		return nil, err
	}
	return manifest.Decode(b, key)
}
