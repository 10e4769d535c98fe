package job

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for a job that does not exist (or, through the
// API, belongs to someone else).
var ErrNotFound = errors.New("job not found")

// ErrBadCursor is wrapped by List's error for a cursor the store did not
// return: the caller's mistake, unlike every other List error.
var ErrBadCursor = errors.New("bad cursor")

// Store keeps job records. Implementations must make Create idempotent and
// Advance a conditional, monotonic update (compare-and-set on the rank), so
// duplicate and reordered events are harmless no-ops.
type Store interface {
	// Create inserts j unless a job with its id exists; created reports
	// which happened. Either way it is not an error.
	Create(ctx context.Context, j Job) (created bool, err error)
	// Get returns the job or ErrNotFound.
	Get(ctx context.Context, id string) (Job, error)
	// Advance applies u if it raises the job's rank; applied is false
	// for a stale or duplicate update. ErrNotFound if there is no job.
	Advance(ctx context.Context, id string, u Update) (applied bool, err error)
	// List returns owner's jobs, newest first, at most limit, starting
	// after cursor ("" for the first page); next is "" on the last page.
	List(ctx context.Context, owner string, limit int, cursor string) (jobs []Job, next string, err error)
	// Unfinished returns jobs not in a terminal status last updated before
	// the given time, for the sweep that fails stuck jobs.
	Unfinished(ctx context.Context, updatedBefore time.Time) ([]Job, error)
	// Delete removes the record; deleting a missing job is not an error.
	Delete(ctx context.Context, id string) error
}
