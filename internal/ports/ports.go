// Package ports declares the pipeline's ports: the bucket (Blobs), the work
// queue, the event bus, the asynchronous segmenter and the clock. Stage
// handlers (internal/pipeline) and the HTTP API (internal/api) are written
// against them; internal/local and internal/aws implement them. It holds
// declarations only, so an adapter or the API Lambda can import it without
// linking the imaging code.
package ports

import (
	"context"
	"io"
	"time"

	"github.com/iris-oculus/iris/events"
)

// BlobInfo describes a stored object.
type BlobInfo struct {
	Key      string
	Size     int64
	ETag     string
	Modified time.Time
}

// Blobs is the bucket. Missing keys give errors matching fs.ErrNotExist
// (errors.Is). Put is atomic: a reader never sees a partial object, and a
// successful Put emits an S3 "Object Created" event where the platform does.
type Blobs interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	Get(ctx context.Context, key string) (io.ReadCloser, BlobInfo, error)
	Head(ctx context.Context, key string) (BlobInfo, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]BlobInfo, error)
}

// Queue sends work messages (SQS on AWS). Receiving is the platform's
// business: Lambda's event source mapping, or the local poller.
type Queue interface {
	Send(ctx context.Context, body []byte) error
}

// DelayedQueue is a Queue whose messages can wait before they are
// delivered (SQS DelaySeconds: at most 15 minutes). Ingest schedules its
// re-checks of a dropped folder on one, since a Lambda cannot sleep
// through a settle time.
type DelayedQueue interface {
	Queue
	SendDelayed(ctx context.Context, body []byte, delay time.Duration) error
}

// MaxDelay is the longest delay SQS accepts.
const MaxDelay = 15 * time.Minute

// Message is one delivered queue message.
type Message struct {
	ID           string
	Body         []byte
	ReceiveCount int
}

// Bus publishes pipeline events (EventBridge on AWS).
type Bus interface {
	Publish(ctx context.Context, evs ...events.Event) error
}

// Segmenter starts an asynchronous segmentation of the volume at inputKey.
// It returns at once with where the label map (or the failure) will
// appear; completion arrives later as an Object Created event.
type Segmenter interface {
	Start(ctx context.Context, jobID, inputKey string) (events.Started, error)
}

// Clock tells the time; tests fix it.
type Clock func() time.Time
