package pipeline

import "github.com/iris-oculus/iris/internal/pipeline/status"

// The status stage lives in internal/pipeline/status, so that the status
// Lambda links none of the imaging code; these names keep it one of the
// stages here.
type (
	// Status keeps the job records: see status.Status.
	Status = status.Status
	// Deadlines say how long a job may stay in each unfinished status
	// before the sweep fails it: see status.Deadlines.
	Deadlines = status.Deadlines
)

// DefaultDeadlines returns the sweep's default deadlines.
func DefaultDeadlines() Deadlines { return status.DefaultDeadlines() }

// ErrEarly is wrapped by Status.Handle's and Mesher.Handle's error for an
// event that must wait for an earlier one (the platform redelivers it).
var ErrEarly = status.ErrEarly
