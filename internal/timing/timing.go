// Package timing is the one definition of how long each stage may run,
// how often a queued message is tried and how long it waits between tries,
// and, derived from those, how long a job may stay in each unfinished
// status before the status stage's sweep fails it as stuck.
//
// The CDK stack (infra) sets the Lambda timeouts, the queues' visibility
// timeouts and maxReceiveCount, the consumers' IRIS_MAX_ATTEMPTS and
// IRIS_RETRY_BACKOFF and the sweep's schedule from these constants;
// pipeline.DefaultDeadlines is Deadlines(); iris serve's queues use the
// same Attempts. The rule they keep: a stage gives up on its own, with its
// own error code (mesh_failed, dispatch_failed), before the sweep's
// deadline for the status it leaves the job in, so the sweep's "timeout"
// is only for what died without a word. timing_test.go checks that rule,
// and infra's stack test checks that the synthesized template carries
// these values.
//
// It holds constants and arithmetic only, and imports nothing of the
// project.
package timing

import "time"

// Queue consumers (dispatch on the jobs queue, the mesher on the mesh
// queue).
const (
	// Attempts is the queues' maxReceiveCount, and the receive count at
	// which a consumer gives up on a message with "Job Failed" (so the
	// message is consumed, never dead-lettered, when it fails cleanly).
	Attempts = 5
	// RetryBackoff is how long a message that failed waits before its next
	// try: the consumer sets its visibility to this (SQS
	// ChangeMessageVisibility; the local queue's backoff), instead of
	// leaving it hidden for the rest of its visibility timeout.
	RetryBackoff = time.Minute
	// VisibilityFactor is a queue's visibility timeout over its consumer's
	// function timeout, as Lambda advises for SQS event sources. It only
	// bounds how soon the message of a consumer that died (timed out,
	// crashed) comes back.
	VisibilityFactor = 6
)

// Function timeouts on AWS.
const (
	IngestTimeout   = 15 * time.Minute
	DispatchTimeout = 30 * time.Second
	MesherTimeout   = 15 * time.Minute
	StatusTimeout   = time.Minute
	APITimeout      = 29 * time.Second // API Gateway waits 30 s at most
	// IngestRetries is how often Lambda retries a failed asynchronous
	// invocation (ingest and status are EventBridge targets); 2 is
	// Lambda's maximum. Lambda waits about 1 and then 2 minutes between.
	IngestRetries    = 2
	asyncRetryDelays = 3 * time.Minute
)

// The segmenter (SageMaker asynchronous inference on AWS).
const (
	// SegmentInvocation is one segmentation's processing limit (SageMaker
	// allows at most an hour); the GPU worker's own -timeout equals it.
	SegmentInvocation = time.Hour
	// SegmentQueueTTL is how long a request may wait in the endpoint's
	// queue, scale-from-zero included.
	SegmentQueueTTL = 50 * time.Minute
)

// The API and the sweep.
const (
	// UploadURLTTL is the longest an upload URL is valid (api's URLTTL
	// must not exceed it).
	UploadURLTTL = 15 * time.Minute
	// UploadTime is how long an upload may take once started (2 GiB at
	// about 1.2 MB/s).
	UploadTime = 30 * time.Minute
	// SweepEvery is the sweep's period (the scheduled rule on AWS).
	SweepEvery = 5 * time.Minute
)

// Visibility is the visibility timeout of a queue whose consumer's
// function timeout is timeout.
func Visibility(timeout time.Duration) time.Duration { return VisibilityFactor * timeout }

// GiveUp is the longest a consumer whose function timeout is timeout takes
// to give up on a message that fails every time, cleanly (an error, not a
// crash): Attempts tries of at most timeout each, RetryBackoff apart.
func GiveUp(timeout time.Duration) time.Duration {
	return Attempts*timeout + (Attempts-1)*RetryBackoff
}

// Deadlines say how long a job may stay in each unfinished status before
// the sweep fails it.
type Deadlines struct {
	Created    time.Duration // waiting for the upload and its ingest
	Accepted   time.Duration // waiting for the segmentation to start
	Segmenting time.Duration // queued and run by the segmenter
	Meshing    time.Duration
}

// StuckAfter derives the sweep's deadlines: each status's longest
// legitimate stay, plus two sweep periods (the sweep sees a job at most one
// period late, and one more is margin).
func StuckAfter() Deadlines {
	margin := 2 * SweepEvery
	ingest := (IngestRetries+1)*IngestTimeout + asyncRetryDelays
	return Deadlines{
		Created: UploadURLTTL + UploadTime + ingest + margin,
		// The dispatcher gives up cleanly within GiveUp; one that dies
		// every time is dead-lettered after Attempts visibility timeouts.
		Accepted:   max(GiveUp(DispatchTimeout), Attempts*Visibility(DispatchTimeout)) + margin,
		Segmenting: SegmentInvocation + SegmentQueueTTL + margin,
		Meshing:    GiveUp(MesherTimeout) + margin,
	}
}
