package job

import "errors"

// ErrNotFound is returned by a store (ports.Store) for a job that does not
// exist (or, through the API, belongs to someone else).
var ErrNotFound = errors.New("job not found")
