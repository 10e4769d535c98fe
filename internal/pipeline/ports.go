// Package pipeline holds the stage handlers — ingest, dispatch, mesher and
// status — written once over ports, so the same logic runs in AWS Lambda and
// in `iris serve`. Handlers are idempotent under duplicate and reordered
// delivery. The package knows ports only: no AWS SDK, no SQLite. Beyond
// the ports it touches only a temporary folder, where uploads and label
// maps are spooled (zip readers need random access; a Lambda has more
// disk than memory) and model sets are written before they are uploaded.
package pipeline

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
