package api

import "github.com/iris-oculus/iris/internal/ports"

// The request and response bodies of the API, shared with its client
// (internal/client) so both ends decode the same types.

// CreateJobRequest is the body of POST /api/jobs.
type CreateJobRequest struct {
	Filename string `json:"filename"`
	Bytes    int64  `json:"bytes"`
}

// CreateJobResponse answers POST /api/jobs: the new job and where to send
// the file.
type CreateJobResponse struct {
	Job    JobView      `json:"job"`
	Upload ports.Upload `json:"upload"`
}

// JobList answers GET /api/jobs: a page of jobs, newest first, and the
// cursor of the next page ("" when this is the last).
type JobList struct {
	Jobs []JobView `json:"jobs"`
	Next string    `json:"next"`
}
