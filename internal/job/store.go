package job

import "errors"

// ErrNotFound is returned by a store (ports.Store) for a job that does not
// exist (or, through the API, belongs to someone else).
var ErrNotFound = errors.New("job not found")

// ErrBadCursor is wrapped by a store's List error for a cursor the store
// did not return: the caller's mistake, unlike every other List error.
var ErrBadCursor = errors.New("bad cursor")
