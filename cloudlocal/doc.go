// Package cloudlocal runs the serverless deployment on this machine: the
// five Lambda functions exactly as they are built for AWS (the functions/*
// mains, the internal/aws adapters on aws-sdk-go-v2), wired as the
// synthesized CloudFormation template (Iris.template.json) wires them, in
// front of emulators on loopback.
//
// Libraries and tools do the services wherever one exists:
//
//   - S3: gofakes3, over HTTPS (as S3), its certificate handed to the
//     functions through AWS_CA_BUNDLE;
//   - SQS: goaws (internal/aws/internal/goaws, built by `make tools`);
//   - DynamoDB: dynalite (npm, installed by `make tools`);
//   - the Lambda Runtime API client: aws-lambda-go, inside each function;
//   - JWT validation: coreos/go-oidc against the issuer's JWKS;
//   - event patterns: internal/local/pattern, the part of EventBridge's
//     matching that the rules use (exact values, prefix).
//
// What no library provides is the glue written here by hand, and only
// here, outside the product's runtime code:
//
//   - template.go reads the template: queues (visibility, redrive),
//     functions (environment, timeout, memory, asynchronous retries and
//     dead-letter queue), event source mappings (batch size, partial batch
//     responses, maximum concurrency), rules (patterns, schedules, targets,
//     retry policies, dead-letter queues), the table (keys, GSI, TTL), the
//     SageMaker async endpoint configuration and the HTTP API (routes,
//     integrations, the JWT authorizer), resolving Ref, Fn::GetAtt and
//     Fn::Join to local names;
//   - lambda.go serves the Lambda Runtime API to each function process
//     (one process per concurrent execution environment, restarted when it
//     dies or runs past its timeout, as Lambda does);
//   - bus.go is EventBridge: PutEvents, the rules' matching, Lambda targets
//     invoked asynchronously (the function's retries, then its dead-letter
//     queue), SQS targets, and the schedule; s3.go turns each object
//     written to a bucket with EventBridge notifications into the
//     "Object Created" event S3 sends;
//   - poller.go is Lambda's SQS event source mapping: batches, partial
//     batch failures, concurrency, and the receive count that goaws does
//     not keep (it always reports ApproximateReceiveCount 1, and stops
//     counting after ChangeMessageVisibility), with the redrive to the
//     dead-letter queue past maxReceiveCount that follows from it;
//   - sagemaker.go is the asynchronous inference endpoint's contract: the
//     input read from S3, the container's POST /invocations (the real
//     gpuworker binary), the answer written to the output or the failure
//     location, failures noted as published to the error topic;
//   - httpapi.go is API Gateway's HTTP API: the template's routes, the JWT
//     authorizer, and the payload format 2.0 event;
//   - site.go is the web app as the stack deploys it: the bucket
//     deployments (each staged asset of the cloud assembly copied into
//     the site bucket, config.json's markers replaced with the local
//     values they stand for: the HTTP API's URL, the OIDC provider in
//     place of the user pool, its client and its managed login's
//     /logout), and CloudFront over HTTPS in front of the bucket (the
//     root object, the error responses, the security headers);
//     s3cors.go answers CORS for each bucket from its rules in the
//     template, in place of gofakes3's allow-all;
//   - reads.go is a proxy in front of dynalite that counts what the
//     functions' reads (Query, Scan, GetItem) returned and scanned, so a
//     test can hold the sweep to the unfinished jobs.
//
// Faults for the failure scenarios are injected outside the functions,
// which run unchanged: Function.Crash kills an execution environment as
// an out-of-memory kill does, Cloud.FailReads makes S3 refuse reads
// under a prefix (403 AccessDenied), and Endpoint.Hold keeps a
// segmentation's output back so that it lands late.
//
// What it does not do: IAM (every call is allowed), KMS, CloudWatch
// (alarms, metric filters), CloudFront's caching, compression and
// invalidations, Cognito (the authorizer's issuer and audience, and the
// site's sign-in settings, are replaced by the ones configured, any OIDC
// provider),
// SNS delivery (error notifications are recorded, not sent), DynamoDB TTL
// expiry (dynalite lacks it) and S3 versioning or lifecycle. Lambda's
// asynchronous retry delays, the consumers' retry backoff
// (IRIS_RETRY_BACKOFF) and the schedule's rate can be shortened with
// Config; the queues' visibility timeouts are the template's.
package cloudlocal
