package infra

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// dashboardBody is the dashboard's JSON body, with the template's
// references rendered as <LogicalId> text.
func (s *synthesis) dashboardBody(t *testing.T) string {
	t.Helper()
	_, d := s.resource(t, "AWS::CloudWatch::Dashboard", "Dashboard")
	return render(props(d)["DashboardBody"])
}

// TestDashboard: the dashboard names every stage's metric, from the very
// constructs and filters the stack defines, and reads top to bottom in
// the pipeline's order.
func TestDashboard(t *testing.T) {
	s := synth(t)
	body := s.dashboardBody(t)
	ref := func(typ, prefix string) string { return "<" + s.logicalID(t, typ, prefix) + ">" }
	want := map[string][]string{ // metric name → what must appear in the same metric array
		"ApproximateNumberOfMessagesVisible": {"AWS/SQS", "<" + s.logicalID(t, "AWS::SQS::Queue", "JobsQueue") + ".QueueName>"},
		"ApproximateAgeOfOldestMessage":      {"AWS/SQS", "<" + s.logicalID(t, "AWS::SQS::Queue", "MeshQueue") + ".QueueName>"},
		"ApproximateBacklogSize":             {"AWS/SageMaker", "EndpointName"},
		"HasBacklogWithoutCapacity":          {"AWS/SageMaker"},
		"ModelLatency":                       {"AWS/SageMaker", "VariantName"},
		"InvocationFailures":                 {"AWS/SageMaker"},
		"CPUUtilization":                     {"/aws/sagemaker/Endpoints"},
		"GPUUtilization":                     {"/aws/sagemaker/Endpoints"},
		"Duration":                           {"AWS/Lambda", ref("AWS::Lambda::Function", "MesherFunction")},
		"Invocations":                        {"AWS/Lambda", ref("AWS::Lambda::Function", "IngestFunction")},
		MetricMesherMaxMemory:                {MetricNamespace},
		MetricJobsAccepted:                   {MetricNamespace},
		MetricJobsDone:                       {MetricNamespace},
		MetricStuckJobs:                      {MetricNamespace},
		"Count":                              {"AWS/ApiGateway", ref("AWS::ApiGatewayV2::Api", "HttpApi")},
		"4xx":                                {"AWS/ApiGateway"},
		"5xx":                                {"AWS/ApiGateway"},
		"Latency":                            {"AWS/ApiGateway"},
		"ConsumedReadCapacityUnits":          {"AWS/DynamoDB", ref("AWS::DynamoDB::GlobalTable", "Jobs")},
		"ConsumedWriteCapacityUnits":         {"AWS/DynamoDB"},
		"ThrottledRequests":                  {"AWS/DynamoDB"},
		"BucketSizeBytes":                    {"AWS/S3", "StandardStorage"},
	}
	for name, with := range want {
		re := regexp.MustCompile(`\[[^\[\]]*"` + regexp.QuoteMeta(name) + `"[^\[\]]*\]`)
		arrays := re.FindAllString(body, -1)
		found := false
		for _, a := range arrays {
			ok := true
			for _, w := range with {
				ok = ok && strings.Contains(a, w)
			}
			found = found || ok
		}
		if !found {
			t.Errorf("no dashboard metric %s with %v (arrays naming it: %v)", name, with, arrays)
		}
	}
	// Failures by code come from a search over the filter's dimension.
	if search := fmt.Sprintf(`SEARCH('{%s,%s} MetricName=\"%s\"'`, MetricNamespace, DimensionCode, MetricJobsFailed); !strings.Contains(body, search) {
		t.Errorf("the dashboard lacks the failures-by-code search %s", search)
	}
	// The 5xx rate graph is the alarm's own expression.
	if !strings.Contains(body, fmt.Sprintf("IF(requests >= %d, 100 * errors / requests, 0)", API5xxMinRequests)) {
		t.Error("the dashboard lacks the API 5xx rate")
	}
	// Sections top to bottom, in the pipeline's order.
	last := -1
	for _, sec := range DashboardSections {
		i := strings.Index(body, "## "+sec)
		if i < 0 || i < last {
			t.Errorf("section %q at %d, after %d: want every section, in order", sec, i, last)
		}
		last = i
	}
	// The metrics our filters publish are the ones the dashboard shows,
	// and the filters count lines the status function writes.
	filters := map[string]bool{}
	for _, f := range s.resources("AWS::Logs::MetricFilter") {
		for _, m := range list(props(f)["MetricTransformations"]) {
			filters[m.(map[string]any)["MetricName"].(string)] = true
		}
	}
	for _, m := range []string{MetricJobsAccepted, MetricJobsDone, MetricJobsFailed, MetricStuckJobs, MetricMesherMaxMemory} {
		if !filters[m] {
			t.Errorf("no metric filter publishes %s", m)
		}
	}
	assert(t, "failures by code", func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), map[string]any{
			"MetricTransformations": []any{map[string]any{"MetricName": MetricJobsFailed, "Dimensions": []any{map[string]any{"Key": DimensionCode, "Value": "$.code"}}}}})
	})
	src, err := os.ReadFile("../internal/pipeline/status/status.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`"` + AdvancedMessage + `", attrs...`, `"status", u.Status`, `"code", u.Error.Code`, `"status", job.Failed, "code", stage.CodeTimeout`} {
		if !strings.Contains(string(src), line) {
			t.Errorf("internal/pipeline/status/status.go no longer logs %s, which the metric filters count", line)
		}
	}
}

// alarmNamed is the alarm whose description starts with prefix.
func (s *synthesis) alarmNamed(t *testing.T, id string) map[string]any {
	t.Helper()
	_, a := s.resource(t, "AWS::CloudWatch::Alarm", id)
	return props(a)
}

func TestOperatingAlarms(t *testing.T) {
	s := synth(t)
	for id, a := range s.resources("AWS::CloudWatch::Alarm") {
		d, _ := props(a)["AlarmDescription"].(string)
		if !strings.Contains(d, ". To do: ") && !strings.HasPrefix(id, "HasBacklogWithoutCapacity") && !strings.Contains(id, "Scaling") && !strings.Contains(id, "Backlog") {
			t.Errorf("alarm %s says not what to do: %q", id, d)
		}
	}
	// 5xx: metric math over 5 minutes, with a minimum request count.
	rate := s.alarmNamed(t, "Api5xxRate")
	if rate["Threshold"] != float64(API5xxPercent) || rate["ComparisonOperator"] != "GreaterThanThreshold" {
		t.Errorf("5xx alarm threshold %v %v, want > %d", rate["ComparisonOperator"], rate["Threshold"], API5xxPercent)
	}
	metrics := map[string]map[string]any{}
	for _, m := range list(rate["Metrics"]) {
		m := m.(map[string]any)
		metrics[m["Id"].(string)] = m
	}
	if e, _ := metrics["expr_1"]["Expression"].(string); e != fmt.Sprintf("IF(requests >= %d, 100 * errors / requests, 0)", API5xxMinRequests) {
		t.Errorf("5xx expression %q", e)
	}
	for id, name := range map[string]string{"requests": "Count", "errors": "5xx"} {
		st, _ := metrics[id]["MetricStat"].(map[string]any)
		m, _ := st["Metric"].(map[string]any)
		if m["MetricName"] != name || m["Namespace"] != "AWS/ApiGateway" || st["Period"] != 300.0 || st["Stat"] != "Sum" {
			t.Errorf("5xx alarm's %s = %s, want the API's %s summed over 300 s", id, jsonOf(st), name)
		}
	}
	// Bucket size: the default 100 GB, daily.
	size := s.alarmNamed(t, "BucketSize")
	if size["MetricName"] != "BucketSizeBytes" || size["Threshold"] != 100*GB || size["Period"] != 86400.0 {
		t.Errorf("bucket alarm %s", jsonOf(size))
	}
	if ctx := synthCtx(t).alarmNamed(t, "BucketSize"); ctx["Threshold"] != 250*GB {
		t.Errorf("with bucketAlarmGB=250 the threshold is %v", ctx["Threshold"])
	}
}

// TestAPIDomainAndWAF: the custom domain and the firewalls exist with
// their context, and nothing of them without.
func TestAPIDomainAndWAF(t *testing.T) {
	def, ctx := synth(t), synthCtx(t)
	for _, typ := range []string{"AWS::ApiGatewayV2::DomainName", "AWS::ApiGatewayV2::ApiMapping", "AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation"} {
		if n := len(def.resources(typ)); n != 0 {
			t.Errorf("without context: %d %s", n, typ)
		}
	}
	if def.edge != nil {
		t.Error("without waf: an edge stack")
	}
	if _, dist := def.resource(t, "AWS::CloudFront::Distribution", "SiteDistribution"); props(dist)["DistributionConfig"].(map[string]any)["WebACLId"] != nil {
		t.Error("without waf: the distribution has a web ACL")
	}
	for _, o := range []string{"ApiDomainTarget"} {
		if def.template["Outputs"].(map[string]any)[o] != nil {
			t.Errorf("without apiDomain: output %s", o)
		}
	}

	// The custom domain: regional, TLS 1.2, mapped to the API's stage.
	assert(t, "API domain", func() {
		ctx.tpl.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::DomainName"), map[string]any{
			"DomainName": optionalContext[CtxAPIDomain],
			"DomainNameConfigurations": []any{map[string]any{
				"CertificateArn": optionalContext[CtxAPICertificate], "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}},
		})
	})
	_, mapping := ctx.resource(t, "AWS::ApiGatewayV2::ApiMapping", "ApiDomainMapping")
	if api := render(props(mapping)["ApiId"]); api != "<"+ctx.logicalID(t, "AWS::ApiGatewayV2::Api", "HttpApi")+">" {
		t.Errorf("mapping to %s", api)
	}
	if cfg := ctx.webConfig(t); cfg["apiUrl"] != "https://"+optionalContext[CtxAPIDomain].(string) {
		t.Errorf("config.json apiUrl %v, want the API's domain", cfg["apiUrl"])
	}
	if out, _ := ctx.template["Outputs"].(map[string]any)["ApiUrl"].(map[string]any); out["Value"] != "https://"+optionalContext[CtxAPIDomain].(string) {
		t.Errorf("ApiUrl output %v", out["Value"])
	}

	// The firewalls: the user pool's here, CloudFront's in us-east-1.
	checkACL := func(s *synthesis, scope string) {
		t.Helper()
		_, acl := s.resource(t, "AWS::WAFv2::WebACL", map[string]string{"REGIONAL": "ApiFirewall", "CLOUDFRONT": "SiteFirewall"}[scope])
		p := props(acl)
		if p["Scope"] != scope || jsonOf(p["DefaultAction"]) != `{"Allow":{}}` {
			t.Errorf("%s ACL scope %v, default %v", scope, p["Scope"], p["DefaultAction"])
		}
		groups := map[string]bool{}
		var rate bool
		for _, r := range list(p["Rules"]) {
			st := r.(map[string]any)["Statement"].(map[string]any)
			if g, ok := st["ManagedRuleGroupStatement"].(map[string]any); ok && g["VendorName"] == "AWS" {
				groups[g["Name"].(string)] = true
			}
			if rb, ok := st["RateBasedStatement"].(map[string]any); ok {
				rate = rb["AggregateKeyType"] == "IP" && rb["Limit"] == float64(WAFRateLimit) && jsonOf(r.(map[string]any)["Action"]) == `{"Block":{}}`
			}
		}
		for _, g := range WAFManagedRuleGroups {
			if !groups[g] {
				t.Errorf("%s ACL lacks %s", scope, g)
			}
		}
		if !rate {
			t.Errorf("%s ACL has no blocking rate limit per IP of %d", scope, WAFRateLimit)
		}
	}
	checkACL(ctx, "REGIONAL")
	_, assoc := ctx.resource(t, "AWS::WAFv2::WebACLAssociation", "UserPoolFirewall")
	if r := render(props(assoc)["ResourceArn"]); r != "<"+ctx.logicalID(t, "AWS::Cognito::UserPool", "Users")+".Arn>" {
		t.Errorf("regional ACL associated with %s, want the user pool", r)
	}
	if ctx.edge == nil {
		t.Fatal("waf=true in eu-west-1 made no edge stack")
	}
	if len(ctx.resources("AWS::WAFv2::WebACL")) != 1 {
		t.Error("CloudFront's web ACL is in the eu-west-1 stack; it must be in us-east-1")
	}
	checkACL(ctx.edge, "CLOUDFRONT")
	_, dist := ctx.resource(t, "AWS::CloudFront::Distribution", "SiteDistribution")
	if acl := jsonOf(props(dist)["DistributionConfig"].(map[string]any)["WebACLId"]); acl == "null" {
		t.Error("with waf: the distribution has no web ACL")
	}
	if r := *ctx.edge.stack.Region(); r != "us-east-1" {
		t.Errorf("edge stack in %s", r)
	}
}

func TestOperatingProps(t *testing.T) {
	zips := lambdaDir(t)
	for _, tc := range []struct {
		p   Props
		err string
	}{
		{Props{APIDomain: "api.x.org"}, "go together"},
		{Props{APIDomain: "API.x.org", APICertificateARN: "arn:aws:acm:eu-west-1:111111111111:certificate/abc"}, "not a lower-case DNS name"},
		{Props{APIDomain: "api.x.org", APICertificateARN: "arn:aws:iam::111111111111:role/x"}, "not an ACM certificate ARN"},
		{Props{BucketAlarmGB: -1}, "bucket alarm"},
	} {
		tc.p.RepoRoot, tc.p.LambdaDir = "..", zips
		if _, err := tc.p.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: error %v, want %q", tc.p, err, tc.err)
		}
	}
	p, err := Props{RepoRoot: "..", LambdaDir: zips}.withDefaults()
	if err != nil || p.BucketAlarmGB != DefaultBucketAlarmGB || p.WAF {
		t.Errorf("defaults: %d GB, waf %v, %v", p.BucketAlarmGB, p.WAF, err)
	}
}

// TestWAFInUSEast1: deployed in us-east-1, the stack holds CloudFront's
// web ACL itself and no edge stack is made; without an environment,
// waf=true is refused with the reason.
func TestWAFInUSEast1(t *testing.T) {
	s, err := doSynth(map[string]any{CtxWAF: "true"}, &awscdk.Environment{Account: jsii.String("111111111111"), Region: jsii.String("us-east-1")})
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(s.outdir)
	if s.edge != nil {
		t.Error("an edge stack in us-east-1")
	}
	scopes := map[string]bool{}
	for _, acl := range s.resources("AWS::WAFv2::WebACL") {
		scopes[props(acl)["Scope"].(string)] = true
	}
	if !scopes["CLOUDFRONT"] || !scopes["REGIONAL"] || len(scopes) != 2 {
		t.Errorf("web ACL scopes %v, want CLOUDFRONT and REGIONAL in the stack", scopes)
	}
	_, dist := s.resource(t, "AWS::CloudFront::Distribution", "SiteDistribution")
	if acl := render(props(dist)["DistributionConfig"].(map[string]any)["WebACLId"]); acl != "<"+s.logicalID(t, "AWS::WAFv2::WebACL", "SiteFirewall")+".Arn>" {
		t.Errorf("distribution's web ACL %s", acl)
	}
	nagErrors(t, s)

	if _, err := doSynth(map[string]any{CtxWAF: "true"}, nil); err == nil || !strings.Contains(err.Error(), "us-east-1") {
		t.Errorf("waf=true without an environment: error %v, want one naming us-east-1", err)
	}
}
