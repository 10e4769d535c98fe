// Command api is the HTTP API Lambda behind API Gateway (HTTP API, payload
// 2.0, Cognito JWT authorizer): the shared internal/api handler, with the
// token's subject as the owner of jobs and SigV4-presigned S3 URLs for
// uploads and downloads. Wiring only.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iris-oculus/iris/functions/config"
	"github.com/iris-oculus/iris/functions/internal/lambdahttp"
	"github.com/iris-oculus/iris/internal/api"
	iaws "github.com/iris-oculus/iris/internal/aws"
)

func main() {
	env, err := config.Load(os.Getenv, config.EnvBucket, config.EnvTable)
	log := env.Logger(os.Stdout, "api")
	if err != nil {
		log.Error("api: bad configuration", "err", err)
		os.Exit(1)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("api: load AWS configuration", "err", err)
		os.Exit(1)
	}
	client := s3.NewFromConfig(cfg)
	srv := &api.Server{
		Store:  iaws.NewDynamoStore(dynamodb.NewFromConfig(cfg), env.Table),
		Blobs:  iaws.NewS3Blobs(client, env.Bucket),
		Signer: iaws.NewS3Signer(s3.NewPresignClient(client), iaws.S3SignerConfig{Bucket: env.Bucket}),
		Owner:  lambdahttp.Subject,
		Log:    log,
	}
	lambda.Start(lambdahttp.Handler(srv.Handler()))
}
