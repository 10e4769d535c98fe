package job

import (
	"errors"
	"time"
)

// ErrNotFound is returned by a store (ports.Store) for a job that does not
// exist (or, through the API, belongs to someone else).
var ErrNotFound = errors.New("job not found")

// ErrDeleted is returned by a store for a job that was deleted: its record
// is gone, and a tombstone stands in its place for TombstoneTTL. It
// matches ErrNotFound too (errors.Is), so a caller that only asks "is the
// job there" treats a deleted job as missing; a stage that receives a late
// event asks for ErrDeleted first, and then knows the event must clean up
// after itself instead of waiting for a record that will never come (as it
// does, for a while, for a job whose record is not made yet).
var ErrDeleted error = deletedError{}

type deletedError struct{}

func (deletedError) Error() string        { return "job deleted" }
func (deletedError) Is(target error) bool { return target == ErrNotFound }

// TombstoneTTL is how long a deleted job's tombstone is kept at least. It
// must outlast every late output of the job: a message kept by a queue
// (SQS keeps them 4 days), an event retried by EventBridge (6 hours), a
// segmentation queued and run by the endpoint (under 2 hours).
const TombstoneTTL = 14 * 24 * time.Hour

// ErrBadCursor is wrapped by a store's List error for a cursor the store
// did not return: the caller's mistake, unlike every other List error.
var ErrBadCursor = errors.New("bad cursor")
