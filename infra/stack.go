// Package infra is the AWS deployment of the pipeline, as a CDK app in Go:
// one stack with the bucket, the queues, the five Lambda functions, the
// EventBridge rules (generated from events.Rules, the routing table the
// local runtime uses too), the SageMaker asynchronous endpoint that scales
// between zero and a few GPU instances, the job table, the HTTP API with
// its Cognito user pool, the web app behind CloudFront, and the alarms.
// cdk-nag's AwsSolutions checks run on every synthesis; each suppression
// carries its reason (see nag.go).
//
// It builds nothing: the Lambda zips come from infra/build-lambdas.sh and
// the GPU image is built by the CDK CLI at deploy time, from
// gpuworker/Dockerfile. It does not hold the pipeline's behaviour either
// (internal/pipeline does); the functions' environment comes from
// functions/config, so the names cannot drift.
package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssagemaker"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/iris-oculus/iris/internal/timing"
)

// The functions, each built to <LambdaDir>/<name>.zip.
var functionNames = []string{fnIngest, fnDispatch, fnMesher, fnStatus, fnAPI}

const (
	fnIngest   = "ingest"
	fnDispatch = "dispatch"
	fnMesher   = "mesher"
	fnStatus   = "status"
	fnAPI      = "api"
)

// dockerfile is the GPU worker's image, relative to the repository root
// (the build context).
const (
	dockerfile   = "gpuworker/Dockerfile"
	dockerignore = dockerfile + ".dockerignore" // BuildKit's per-Dockerfile ignore file
)

// MaxReceiveCount is how often the jobs and mesh queues deliver a message
// before moving it to their dead-letter queue; the consumers give up with
// "Job Failed" at the same count (IRIS_MAX_ATTEMPTS).
const MaxReceiveCount = timing.Attempts

// Stack is the deployed pipeline.
type Stack struct {
	awscdk.Stack
	Bucket awss3.Bucket // the pipeline's bucket
	// Edge holds CloudFront's web ACL in us-east-1 when Props.WAF is set
	// and the stack is deployed elsewhere; nil otherwise.
	Edge awscdk.Stack
}

// builder carries what the parts of the stack share while it is built.
type builder struct {
	stack awscdk.Stack
	p     Props

	logs, bucket, site awss3.Bucket
	table              awsdynamodb.TableV2
	dist               awscloudfront.Distribution
	siteOrigin         *string // https://… of the web app, maybe a token

	endpoint      awssagemaker.CfnEndpoint
	variant       string
	errorsTopic   awssns.Topic
	alarmsTopic   awssns.Topic
	jobs, mesh    awssqs.Queue
	groups        awssqs.Queue            // ingest's delayed re-checks of dropped folders
	dlqs          map[string]awssqs.Queue // by alarm name
	functions     map[string]awslambda.Function
	roles         map[string]awsiam.Role
	eventsDLQ     awssqs.Queue
	pool          awscognito.UserPool
	client        awscognito.UserPoolClient
	authDomain    awscognito.UserPoolDomain
	httpAPI       awsapigatewayv2.HttpApi
	healthRoute   awsapigatewayv2.HttpRoute
	sagemakerRole awsiam.Role
	prefixGrants  map[string][]string   // role path → the prefixes it may touch objects under
	alarmList     []awscloudwatch.Alarm // every alarm of ours, for the dashboard
	dash          awscloudwatch.Dashboard
	apiURL        *string // the API's base URL: its custom domain's, or execute-api's
	apiDomain     awsapigatewayv2.DomainName
}

// NewStack defines the whole deployment in scope. Bad props, missing
// Lambda zips or a missing Dockerfile are errors naming the problem.
func NewStack(scope constructs.Construct, id string, sp *awscdk.StackProps, p Props) (*Stack, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	if sp == nil {
		sp = &awscdk.StackProps{}
	}
	if p.WAF && sp.Env != nil && sp.Env.Region != nil && *sp.Env.Region != "us-east-1" {
		// CloudFront's web ACL comes from the us-east-1 edge stack.
		sp.CrossRegionReferences = jsii.Bool(true)
	}
	if sp.Description == nil {
		sp.Description = jsii.String("IRIS Oculus: CT scans in, organ models out (event-driven pipeline, SageMaker async GPU endpoint scaling to zero)")
	}
	b := &builder{
		stack: awscdk.NewStack(scope, &id, sp), p: p,
		dlqs: map[string]awssqs.Queue{}, functions: map[string]awslambda.Function{}, roles: map[string]awsiam.Role{},
		prefixGrants: map[string][]string{},
	}
	b.logBucket()
	b.web()
	b.storage()
	if err := b.segmenter(); err != nil {
		return nil, err
	}
	b.queues()
	b.lambdas()
	if err := b.rules(); err != nil {
		return nil, err
	}
	b.api()
	edge, err := b.firewall(scope, id)
	if err != nil {
		return nil, err
	}
	b.deployWeb()
	b.alarms()
	b.dashboard()
	b.outputs()
	b.suppressions()
	for _, st := range []awscdk.Stack{b.stack, edge} {
		if st != nil {
			awscdk.Aspects_Of(st).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
		}
	}
	return &Stack{Stack: b.stack, Bucket: b.bucket, Edge: edge}, nil
}

func (b *builder) outputs() {
	out := func(id string, v *string, desc string) {
		awscdk.NewCfnOutput(b.stack, jsii.String(id), &awscdk.CfnOutputProps{Value: v, Description: jsii.String(desc)})
	}
	out("BucketName", b.bucket.BucketName(), "The pipeline's bucket: drop a scan into uploads/ to start a job")
	out("ApiUrl", b.apiURL, "The HTTP API (routes under /api/)")
	if b.apiDomain != nil {
		out("ApiDomainTarget", b.apiDomain.RegionalDomainName(), "Point a CNAME (or alias) record of "+b.p.APIDomain+" here")
	}
	out("SiteUrl", b.siteOrigin, "The web app")
	out("UserPoolId", b.pool.UserPoolId(), "The Cognito user pool (create users here)")
	out("UserPoolClientId", b.client.UserPoolClientId(), "The web app's Cognito client")
	out("LoginUrl", b.authDomain.BaseUrl(nil), "Cognito's managed login for the web app's client")
	out("EndpointName", b.endpoint.AttrEndpointName(), "The SageMaker asynchronous endpoint")
	out("TableName", b.table.TableName(), "The job table")
	out("AlarmsTopicArn", b.alarmsTopic.TopicArn(), "Subscribe here to receive the alarms")
}
