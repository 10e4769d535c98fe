package infra

import (
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// suppressions records, each with its reason, the cdk-nag AwsSolutions
// findings that are accepted rather than fixed. Each is attached to the
// one construct it concerns and, for IAM5, to the exact wildcard.
func (b *builder) suppressions() {
	// cdk-nag writes the stack's partition, region and account as
	// <AWS::…> while they are unknown (an environment-agnostic stack),
	// and as themselves once the stack has an environment.
	env := func(v *string, token string) string {
		if *awscdk.Token_IsUnresolved(v) {
			return token
		}
		return *v
	}
	part, region, account := env(b.stack.Partition(), "<AWS::Partition>"), env(b.stack.Region(), "<AWS::Region>"), env(b.stack.Account(), "<AWS::AccountId>")
	bucketArn := "<" + *b.stack.GetLogicalId(b.bucket.Node().DefaultChild().(awss3.CfnBucket)) + ".Arn>"
	paths := make([]string, 0, len(b.prefixGrants))
	for p := range b.prefixGrants {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		var applies []interface{}
		var names []string
		seen := map[string]bool{}
		for _, p := range b.prefixGrants[path] {
			if !seen[p] {
				seen[p] = true
				applies = append(applies, "Resource::"+bucketArn+"/"+p+"*")
				names = append(names, p)
			}
		}
		suppress(b.stack.Node().FindChild(jsii.String(strings.TrimPrefix(path, *b.stack.Node().Path()+"/"))),
			"AwsSolutions-IAM5", "Object access is limited to this stage's own prefixes ("+strings.Join(names, ", ")+
				"); an S3 object ARN needs the trailing wildcard to name the objects under a prefix, whose keys hold job ids known only at run time.",
			applies...)
	}

	suppress(b.roles[fnAPI], "AwsSolutions-IAM5",
		"dynamodb:Query on the job table's indexes: the API lists a user's jobs through the owner-createdAt index; the index ARN is the table's plus /index/<name>.",
		"Resource::<"+*b.stack.GetLogicalId(b.table.Node().DefaultChild().(awscdk.CfnElement))+".Arn>/index/*")

	suppress(b.sagemakerRole, "AwsSolutions-IAM5",
		"What a SageMaker execution role needs and cannot scope further: ecr:GetAuthorizationToken has no resource, cloudwatch:PutMetricData has none either, "+
			"the endpoint's log groups are named by SageMaker under /aws/sagemaker/Endpoints/, and publishing to the error topic encrypted with the AWS managed key "+
			"needs kms:GenerateDataKey* on that key, which CDK scopes by the kms:ResourceAliases condition to alias/aws/sns.",
		"Resource::*",
		"Resource::arn:"+part+":logs:"+region+":"+account+":log-group:/aws/sagemaker/Endpoints/*",
		"Action::kms:GenerateDataKey*",
		"Resource::arn:"+part+":kms:"+region+":"+account+":key/*")

	suppress(b.eventsDLQ, "AwsSolutions-SQS3",
		"This queue is itself a dead-letter queue: EventBridge's, for events its rules could not deliver to their targets (a rule's DeadLetterConfig, not a queue's redrive policy, which is what the check looks for).")

	suppress(b.pool, "AwsSolutions-COG8",
		"Threat protection needs the Plus feature plan, billed per active user. Users are created by an administrator (self sign-up is off unless enabled), "+
			"passwords are long and complex, and TOTP MFA is required; revisit if self sign-up is opened to the public.")

	suppress(b.healthRoute, "AwsSolutions-APIG4",
		"GET /api/health is public on purpose, for uptime checks: it returns only the service's status and reads no user data. Every other route passes the Cognito JWT authorizer.")

	if b.p.SiteDomain == "" {
		suppress(b.dist, "AwsSolutions-CFR4",
			"Without a domain of its own the web app is served on the *.cloudfront.net default certificate, whose policy CloudFront fixes at TLSv1; "+
				"set the siteDomain and siteCertificateArn context to enforce TLS 1.2 (the stack then sets TLSv1.2_2021).")
	}

	// The custom resources CDK adds: the handler that turns on the
	// bucket's EventBridge notifications, and the web app's deployment.
	for _, c := range *b.stack.Node().Children() {
		id := *c.Node().Id()
		switch {
		case strings.HasPrefix(id, "BucketNotificationsHandler"):
			suppress(c, "AwsSolutions-IAM4",
				"CDK's BucketNotificationsHandler custom resource (it enables the bucket's EventBridge notifications at deploy time) uses AWSLambdaBasicExecutionRole, which only writes its logs.",
				"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
		case strings.HasPrefix(id, "Custom::CDKBucketDeployment"):
			suppress(c, "AwsSolutions-IAM4",
				"CDK's BucketDeployment custom resource (it copies the web app into the site bucket at deploy time) uses AWSLambdaBasicExecutionRole, which only writes its logs.",
				"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
			suppress(c, "AwsSolutions-IAM5",
				"CDK's BucketDeployment grants itself read on the CDK asset bucket and read/write/delete on the site bucket's objects; the wildcards are CDK's grant methods and are confined to those two buckets.",
				"Action::s3:GetBucket*", "Action::s3:GetObject*", "Action::s3:List*", "Action::s3:DeleteObject*", "Action::s3:Abort*",
				"Resource::arn:"+part+":s3:::cdk-hnb659fds-assets-"+account+"-"+region+"/*",
				"Resource::<"+*b.stack.GetLogicalId(b.site.Node().DefaultChild().(awss3.CfnBucket))+".Arn>/*",
				"Resource::*")
			suppress(c, "AwsSolutions-L1",
				"CDK's BucketDeployment custom resource pins its own Python runtime, which this stack cannot choose; it runs only during deployments.")
		}
	}
}

// suppress accepts one finding on c and its children, for the listed
// appliesTo findings only when there are any.
func suppress(c constructs.IConstruct, id, reason string, appliesTo ...interface{}) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		s.AppliesTo = &appliesTo
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}
