// Package pipeline holds the stage handlers — ingest, dispatch, mesher and
// status — written once over ports, so the same logic runs in AWS Lambda and
// in `iris serve`. Handlers are idempotent under duplicate and reordered
// delivery. Each stage is a package of its own under internal/pipeline
// (ingest, dispatch, mesher, status, over the leaf package stage), so that
// each Lambda links only the stage it runs; this package re-exports them
// for the callers that run them all, and its tests run them together. The package knows ports only: no AWS SDK, no SQLite. Beyond
// the ports it touches only a temporary folder, where uploads and label
// maps are spooled (zip readers need random access; a Lambda has more
// disk than memory) and model sets are written before they are uploaded.
package pipeline

import "github.com/iris-oculus/iris/internal/ports"

// The ports, declared in internal/ports so that adapters and the API need
// not import the stage handlers (and the imaging code behind them).
type (
	BlobInfo  = ports.BlobInfo
	Blobs     = ports.Blobs
	Queue     = ports.Queue
	Message   = ports.Message
	Bus       = ports.Bus
	Segmenter = ports.Segmenter
	Clock     = ports.Clock
)
