// Package aws holds the adapters that run the pipeline on AWS, over
// aws-sdk-go-v2:
//
//   - S3Blobs is the bucket (ports.Blobs) and S3Signer makes the
//     presigned upload and download URLs of the HTTP API (ports.Signer).
//   - SQSQueue sends work messages (ports.Queue).
//   - EventBridgeBus publishes pipeline events (ports.Bus), retrying the
//     entries EventBridge reports as failed.
//   - DynamoStore keeps the job records (ports.Store) with conditional,
//     monotonic writes.
//   - SageMakerSegmenter starts an asynchronous inference on the SageMaker
//     endpoint (ports.Segmenter).
//
// Each adapter takes the few SDK client methods it uses as a small
// interface, so a caller wires in the SDK's client (or anything that
// speaks the same API) and a test talks HTTP to a real local server. The
// endpoint control plane for `iris endpoint` lives in the subpackage
// endpoint, so that the large SageMaker control-plane SDK is compiled only
// into the binary that needs it.
//
// The tests run over HTTP against real local servers (see awstest):
// gofakes3 for S3 (the ports.Blobs conformance suite blobstest runs
// there), dynalite for DynamoDB (storetest, for ports.Store), goaws for SQS
// (queuetest, for ports.Queue), and protocol-level httptest servers
// decoding the SDK's real requests for EventBridge and the
// SageMaker runtime. What only real AWS can verify: signature, expiry and
// POST-policy enforcement by S3 (the tests check that Content-Length is
// covered by the signature by recomputing it, but gofakes3 checks
// nothing); IAM (a missing key reads as 403, not 404, without
// s3:ListBucket); GSI eventual consistency and TTL expiry (dynalite is
// consistent and never expires items); EventBridge's own per-entry
// failures and size accounting; and how SageMaker composes the output
// key from S3OutputPathExtension and Filename, and whether it appends
// anything, which is why the returned locations are recorded.
//
// The package does not receive from queues (that is Lambda's event source
// mapping) and does not create infrastructure beyond DynamoStore's
// CreateTable, a convenience for tests and local development; the CDK
// stack owns the real resources.
package aws
