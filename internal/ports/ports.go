// Package ports declares every port of the pipeline and the API: the
// bucket (Blobs), the work queue, the event bus, the asynchronous
// segmenter, the clock, the job records (Store) and the signer of direct
// upload and download URLs (Signer). Stage handlers (internal/pipeline)
// and the HTTP API (internal/api) are written against them; internal/local
// and internal/aws implement them. It holds declarations only, and imports
// only the event contract and the job domain (internal/job), so an adapter
// or the API Lambda can import it without linking the imaging code.
package ports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
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

// MaxMessageBytes is the largest message body a Queue takes: SQS's
// default MaximumMessageSize (262,144 bytes), which the stack keeps.
const MaxMessageBytes = 256 << 10

// CheckMessage says why SQS would refuse body, or nil: it must be 1 to
// MaxMessageBytes of UTF-8 text of the characters SQS allows (#x9, #xA,
// #xD, #x20 to #xD7FF, #xE000 to #xFFFD, #x10000 to #x10FFFF). Every
// Queue checks it, so a message iris serve queues is one SQS takes.
func CheckMessage(body []byte) error {
	switch {
	case len(body) == 0:
		return errors.New("empty message body")
	case len(body) > MaxMessageBytes:
		return fmt.Errorf("message body of %d bytes is over the %d SQS takes", len(body), MaxMessageBytes)
	case !utf8.Valid(body):
		return errors.New("message body is not UTF-8 text")
	}
	for i, r := range string(body) {
		if !(r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || r >= 0x10000) {
			return fmt.Errorf("message body has %U at byte %d, which SQS refuses", r, i)
		}
	}
	return nil
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

// Store keeps job records. Implementations must make Create idempotent,
// Advance a conditional, monotonic update (compare-and-set on the rank), so
// duplicate and reordered events are harmless no-ops, and Claim a
// conditional write that one claimant wins. internal/job/storetest
// checks an implementation against this contract.
type Store interface {
	// Create inserts j unless a job with its id exists or was deleted
	// (its tombstone stands); created reports which happened. Either way
	// it is not an error.
	Create(ctx context.Context, j job.Job) (created bool, err error)
	// Get returns the job, job.ErrDeleted for a deleted job (while its
	// tombstone lasts), or job.ErrNotFound.
	Get(ctx context.Context, id string) (job.Job, error)
	// Advance applies u if it raises the job's rank; applied is false
	// for a stale or duplicate update. job.ErrDeleted for a deleted job,
	// job.ErrNotFound if there is none.
	Advance(ctx context.Context, id string, u job.Update) (applied bool, err error)
	// Claim records r as the request for job id's segmentation if
	// job.Claim allows it, as one conditional write: of any number of
	// concurrent or successive claimants (different r.By), exactly one
	// is told held, and an Advance racing with it neither loses the
	// claim nor is lost. It returns the record as it stands after.
	// job.ErrDeleted for a deleted job, job.ErrNotFound if there is none.
	Claim(ctx context.Context, id string, r job.Request) (j job.Job, held bool, err error)
	// List returns owner's jobs, newest first, at most limit, starting
	// after cursor ("" for the first page); next is "" on the last page.
	List(ctx context.Context, owner string, limit int, cursor string) (jobs []job.Job, next string, err error)
	// Unfinished returns jobs not in a terminal status last updated before
	// the given time, for the sweep that fails stuck jobs. It reads only
	// unfinished records (a sparse or partial index), so its cost does not
	// grow with the finished jobs kept.
	Unfinished(ctx context.Context, updatedBefore time.Time) ([]job.Job, error)
	// Delete replaces the record with a tombstone kept for at least
	// job.TombstoneTTL, so that late events of the job are recognised
	// (Get and Advance say job.ErrDeleted) and the job is never made
	// again (Create is a no-op). List and Unfinished leave tombstones
	// out. Deleting a missing or deleted job is not an error.
	Delete(ctx context.Context, id string) error
}

// Upload tells a client how to send a file straight to storage.
type Upload struct {
	Method    string            `json:"method"` // "PUT" or "POST"
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"` // form fields for a presigned POST
	ExpiresAt time.Time         `json:"expiresAt"`
}

// Signer makes expiring URLs for direct uploads and downloads (presigned
// S3 URLs on AWS, HMAC-signed local URLs in iris serve).
type Signer interface {
	SignUpload(ctx context.Context, key string, bytes int64, expires time.Time) (Upload, error)
	SignDownload(ctx context.Context, key, filename string, expires time.Time) (string, error)
}
