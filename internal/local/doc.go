// Package local holds the adapters that run the pipeline on one machine,
// in place of the AWS services:
//
//   - DirBlobs is the bucket: a directory with the same keys as S3, atomic
//     writes, MD5 ETags, and an S3 "Object Created" event after every Put.
//   - Watcher turns files a person drops into the bucket's uploads/ folder
//     into the same "Object Created" events, once each file is complete.
//   - DB is one SQLite file (modernc.org/sqlite, no cgo) holding the job
//     records (Store, in place of DynamoDB) and durable queues (Queue, in
//     place of SQS) with visibility timeouts, receive counts and a
//     dead-letter table.
//   - Bus is EventBridge in process: it routes events with the very rules
//     the CDK stack deploys (events.Rules) and delivers them through
//     per-target queues in the same SQLite file, so a crash between publish
//     and delivery loses nothing.
//   - OIDC checks bearer tokens against an OpenID Connect provider's JWKS
//     (coreos/go-oidc), in place of API Gateway's JWT authorizer: the
//     owner of a job is the token's sub.
//
// Durability: every committed write (a job update, a sent message, a
// published event) survives a process crash; with synchronous=NORMAL in WAL
// mode, the last transactions before a power cut may be lost, but the file
// stays consistent. Delivery is at least once, as on AWS: consumers must be
// idempotent.
//
// The package does not emulate AWS APIs over HTTP and does not scale past
// one process per SQLite file beyond what SQLite's locking allows; it is the
// embedded default, not a test double. The queue and the event matcher are
// written here rather than taken from a library because the semantics that
// matter (SQS receipts, visibility, redrive; EventBridge patterns shared
// with the CDK rules) are exactly the ones the AWS platform has, and no
// embeddable Go library offers both.
package local
