// Command api is the HTTP API Lambda behind API Gateway (HTTP API, payload
// 2.0, Cognito JWT authorizer): the shared internal/api handler, with the
// token's subject as the owner of jobs and SigV4-presigned S3 URLs for
// uploads and downloads, and the mesh queue for print exports. Wiring
// only.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iris-oculus/iris/functions/config"
	"github.com/iris-oculus/iris/functions/internal/boot"
	"github.com/iris-oculus/iris/functions/internal/lambdahttp"
	"github.com/iris-oculus/iris/internal/api"
	iaws "github.com/iris-oculus/iris/internal/aws"
)

func main() {
	f := boot.Start("api", config.EnvBucket, config.EnvTable)
	client := s3.NewFromConfig(f.AWS)
	srv := &api.Server{
		Store:  f.Store(),
		Blobs:  iaws.NewS3Blobs(client, f.Env.Bucket),
		Signer: iaws.NewS3Signer(s3.NewPresignClient(client), iaws.S3SignerConfig{Bucket: f.Env.Bucket}),
		Owner:  lambdahttp.Subject,
		Log:    f.Log,
		// The ingest function's upload limit (0, unset: the API's default).
		MaxUploadBytes: f.Env.MaxUploadBytes,
	}
	if f.Env.MeshQueueURL != "" { // print exports go to the mesher's queue
		srv.Exports = iaws.NewSQSQueue(sqs.NewFromConfig(f.AWS), f.Env.MeshQueueURL)
	}
	lambda.Start(lambdahttp.Handler(srv.Handler()))
}
