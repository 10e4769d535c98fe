package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// WAFManagedRuleGroups are the AWS managed rule groups each web ACL runs:
// the common rule set (OWASP-style exploits), known bad inputs (e.g.
// Log4j, Java deserialization) and Amazon's IP reputation list.
var WAFManagedRuleGroups = []string{
	"AWSManagedRulesCommonRuleSet",
	"AWSManagedRulesKnownBadInputsRuleSet",
	"AWSManagedRulesAmazonIpReputationList",
}

// WAFRateLimit is how many requests one client IP may make in
// WAFRateWindow before WAF blocks it until its rate falls. A page load of
// the web app is a few dozen requests, and a sign-in a handful.
const (
	WAFRateLimit  = 1000
	WAFRateWindow = 300 // seconds
)

// firewall attaches AWS WAF web ACLs, when Props.WAF asks for them:
//
//   - to the CloudFront distribution, with a web ACL of scope CLOUDFRONT,
//     which AWS WAF only creates in us-east-1: in this stack when it is
//     deployed there, otherwise in a stack of its own in us-east-1 (the
//     "Edge" stack, which NewStack returns), referenced across regions;
//   - to the Cognito user pool (sign-in, token and sign-up requests), with
//     a REGIONAL web ACL in this stack.
//
// AWS WAF cannot be associated with an HTTP API (API Gateway v2): it
// protects REST APIs, CloudFront, Application Load Balancers, AppSync,
// Cognito user pools, App Runner and Verified Access only. The HTTP API
// keeps its own defences: the Cognito JWT authorizer on every route but
// the health check, and the stage's throttling. Uploads do not pass
// through the API or CloudFront (they go straight to S3 by presigned URL,
// whose signed size is their limit), so no body-size rule is needed.
func (b *builder) firewall(scope constructs.Construct, id string) (awscdk.Stack, error) {
	if !b.p.WAF {
		return nil, nil
	}
	region := b.stack.Region()
	if *awscdk.Token_IsUnresolved(region) {
		return nil, fmt.Errorf("waf=true needs the stack's account and region (CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION, which the CDK CLI sets from its profile): CloudFront's web ACL must be created in us-east-1, beside or apart from this stack")
	}
	regional := webACL(b.stack, "ApiFirewall", "REGIONAL", "iris-regional")
	awswafv2.NewCfnWebACLAssociation(b.stack, jsii.String("UserPoolFirewall"), &awswafv2.CfnWebACLAssociationProps{
		ResourceArn: b.pool.UserPoolArn(),
		WebAclArn:   regional.AttrArn(),
	})
	var edge awscdk.Stack
	home := b.stack
	if *region != "us-east-1" {
		edge = awscdk.NewStack(scope, jsii.String(id+"Edge"), &awscdk.StackProps{
			Env:                   &awscdk.Environment{Account: b.stack.Account(), Region: jsii.String("us-east-1")},
			CrossRegionReferences: jsii.Bool(true),
			Description:           jsii.String("IRIS Oculus: the web application firewall of the web app's CloudFront distribution (CloudFront's web ACLs live in us-east-1)"),
		})
		home = edge
	}
	site := webACL(home, "SiteFirewall", "CLOUDFRONT", "iris-cloudfront")
	b.dist.AttachWebAclId(site.AttrArn())
	return edge, nil
}

// webACL makes a web ACL that allows by default and runs the managed
// rule groups, then the rate limit per client IP.
func webACL(scope constructs.Construct, id, wafScope, metric string) awswafv2.CfnWebACL {
	visibility := func(name string) *awswafv2.CfnWebACL_VisibilityConfigProperty {
		return &awswafv2.CfnWebACL_VisibilityConfigProperty{
			CloudWatchMetricsEnabled: jsii.Bool(true), SampledRequestsEnabled: jsii.Bool(true), MetricName: jsii.String(name),
		}
	}
	var rules []interface{}
	for i, g := range WAFManagedRuleGroups {
		rules = append(rules, &awswafv2.CfnWebACL_RuleProperty{
			Name:     jsii.String(g),
			Priority: jsii.Number(i),
			Statement: &awswafv2.CfnWebACL_StatementProperty{
				ManagedRuleGroupStatement: &awswafv2.CfnWebACL_ManagedRuleGroupStatementProperty{VendorName: jsii.String("AWS"), Name: jsii.String(g)},
			},
			OverrideAction:   &awswafv2.CfnWebACL_OverrideActionProperty{None: map[string]interface{}{}},
			VisibilityConfig: visibility(metric + "-" + g),
		})
	}
	rules = append(rules, &awswafv2.CfnWebACL_RuleProperty{
		Name:     jsii.String("RateLimitPerIP"),
		Priority: jsii.Number(len(WAFManagedRuleGroups)),
		Statement: &awswafv2.CfnWebACL_StatementProperty{
			RateBasedStatement: &awswafv2.CfnWebACL_RateBasedStatementProperty{
				Limit: jsii.Number(WAFRateLimit), AggregateKeyType: jsii.String("IP"), EvaluationWindowSec: jsii.Number(WAFRateWindow),
			},
		},
		Action:           &awswafv2.CfnWebACL_RuleActionProperty{Block: map[string]interface{}{}},
		VisibilityConfig: visibility(metric + "-rate-limit"),
	})
	return awswafv2.NewCfnWebACL(scope, jsii.String(id), &awswafv2.CfnWebACLProps{
		Scope:            jsii.String(wafScope),
		DefaultAction:    &awswafv2.CfnWebACL_DefaultActionProperty{Allow: map[string]interface{}{}},
		Description:      jsii.String("IRIS: AWS managed rule groups and a rate limit per client IP"),
		Rules:            &rules,
		VisibilityConfig: visibility(metric),
	})
}
