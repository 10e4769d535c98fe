package infra

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/functions/config"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/local/pattern"
	"github.com/iris-oculus/iris/internal/pipeline"
	"github.com/iris-oculus/iris/internal/timing"
)

// render writes a CloudFormation value as text: {"Ref": X} as <X>,
// {"Fn::GetAtt": [X, A]} as <X.A>, joins concatenated, pseudo parameters
// as <AWS::Region>; what it cannot render stays JSON.
func render(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if r, ok := v["Ref"].(string); ok {
			return "<" + r + ">"
		}
		if g, ok := v["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			return "<" + render(g[0]) + "." + render(g[1]) + ">"
		}
		if j, ok := v["Fn::Join"].([]any); ok && len(j) == 2 {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, render(p))
			}
			return strings.Join(parts, render(j[0]))
		}
	}
	return jsonOf(v)
}

// list turns a CloudFormation scalar-or-list into a list.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// logicalID of a resource of type typ whose id starts with prefix.
func (s *synthesis) logicalID(t *testing.T, typ, prefix string) string {
	t.Helper()
	id, _ := s.resource(t, typ, prefix)
	return id
}

func TestResourceCounts(t *testing.T) {
	s := synth(t)
	counts := map[string]int{
		"AWS::Events::Rule":                           len(events.Rules("b")) + 1, // + the sweep's schedule
		"AWS::SQS::Queue":                             9,                          // jobs, mesh, groups, their DLQs, events DLQ, ingest and status failures
		"AWS::Lambda::EventSourceMapping":             3,
		"AWS::DynamoDB::GlobalTable":                  1,
		"AWS::S3::Bucket":                             3, // data, site, access logs
		"AWS::SageMaker::Model":                       1,
		"AWS::SageMaker::EndpointConfig":              1,
		"AWS::SageMaker::Endpoint":                    1,
		"AWS::ApplicationAutoScaling::ScalableTarget": 1,
		"AWS::ApplicationAutoScaling::ScalingPolicy":  2,
		"AWS::Cognito::UserPool":                      1,
		"AWS::ApiGatewayV2::Api":                      1,
		"AWS::ApiGatewayV2::Authorizer":               1,
		"AWS::CloudFront::Distribution":               1,
		"Custom::CDKBucketDeployment":                 1,
		"AWS::Logs::MetricFilter":                     5, // stuck, accepted, done, failed by code, mesher memory
		"AWS::CloudWatch::Dashboard":                  1,
		"AWS::WAFv2::WebACL":                          0, // only with waf=true
		"AWS::ApiGatewayV2::DomainName":               0, // only with apiDomain
		"AWS::SNS::Topic":                             2,
	}
	for typ, n := range counts {
		assert(t, typ, func() { s.tpl.ResourceCountIs(jsii.String(typ), jsii.Number(n)) })
	}
	// Our five functions, and only they, run our bootstrap binaries.
	ours := s.tpl.FindResources(jsii.String("AWS::Lambda::Function"), map[string]any{
		"Properties": map[string]any{"Runtime": "provided.al2023"}})
	if len(*ours) != len(functionNames) {
		t.Errorf("%d provided.al2023 functions, want %d", len(*ours), len(functionNames))
	}
}

func TestLambdas(t *testing.T) {
	s := synth(t)
	// The variables each function's main requires (config.Load's need).
	required := map[string][]string{
		fnIngest:   {config.EnvBucket, config.EnvJobsQueueURL, config.EnvGroupsQueueURL, config.EnvQueueURL, config.EnvRetryBackoff},
		fnDispatch: {config.EnvBucket, config.EnvTable, config.EnvEndpoint, config.EnvMaxAttempts, config.EnvQueueURL, config.EnvRetryBackoff},
		fnMesher:   {config.EnvBucket, config.EnvTable, config.EnvMaxAttempts, config.EnvQueueURL, config.EnvRetryBackoff},
		fnStatus:   {config.EnvBucket, config.EnvTable, config.EnvDropOwner},
		fnAPI:      {config.EnvBucket, config.EnvTable},
	}
	for _, fn := range functionNames {
		t.Run(fn, func(t *testing.T) {
			_, r := s.resource(t, "AWS::Lambda::Function", title(fn)+"Function")
			p := props(r)
			if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" || jsonOf(p["Architectures"]) != `["arm64"]` {
				t.Errorf("runtime %v, handler %v, architectures %v; want provided.al2023, bootstrap, [arm64]", p["Runtime"], p["Handler"], p["Architectures"])
			}
			vars, _ := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			// The Go runtime collects before the heap outgrows the function,
			// and not before its jobs reach their budget.
			mem := int64(p["MemorySize"].(float64)) << 20
			var limit int64
			if _, err := fmt.Sscanf(fmt.Sprint(vars["GOMEMLIMIT"]), "%dMiB", &limit); err != nil {
				t.Fatalf("GOMEMLIMIT = %v: %v", vars["GOMEMLIMIT"], err)
			}
			if job := limits.For(mem, 2).Memory; limit<<20 <= job || limit<<20 >= mem {
				t.Errorf("GOMEMLIMIT %d MiB, want between the jobs' budget %d MiB and the function's %d MiB", limit, job>>20, mem>>20)
			}
			for _, name := range required[fn] {
				if vars[name] == nil {
					t.Errorf("environment lacks %s: %v", name, vars)
				}
			}
			if fn == fnAPI {
				// The API refuses an upload the ingest function would refuse.
				if want := strconv.FormatInt(IngestLimits().Upload, 10); vars[config.EnvMaxUploadBytes] != want {
					t.Errorf("%s = %v, want ingest's upload limit %s", config.EnvMaxUploadBytes, vars[config.EnvMaxUploadBytes], want)
				}
			}
			if fn == fnDispatch || fn == fnMesher {
				if vars[config.EnvMaxAttempts] != fmt.Sprint(timing.Attempts) {
					t.Errorf("%s = %v, want the queues' maxReceiveCount %d", config.EnvMaxAttempts, vars[config.EnvMaxAttempts], timing.Attempts)
				}
			}
			if fn == fnDispatch {
				// The endpoint's limits must parse as the function parses them.
				env, err := config.Load(func(k string) string { v, _ := vars[k].(string); return v })
				if err != nil || env.InvocationTimeout != InvocationTimeout || env.RequestTTL != RequestTTL {
					t.Errorf("dispatch limits = %v, %v (%v), want %v, %v", env.InvocationTimeout, env.RequestTTL, err, InvocationTimeout, RequestTTL)
				}
			}
			// A role of its own, without AWS managed policies.
			roleID := strings.TrimSuffix(strings.TrimPrefix(render(p["Role"]), "<"), ".Arn>")
			role := props(s.template["Resources"].(map[string]any)[roleID].(map[string]any))
			if role["ManagedPolicyArns"] != nil || !strings.HasPrefix(roleID, title(fn)+"Role") {
				t.Errorf("role %s has managed policies %v; want the function's own role without any", roleID, role["ManagedPolicyArns"])
			}
		})
	}
	_, mesher := s.resource(t, "AWS::Lambda::Function", "MesherFunction")
	if m := props(mesher)["MemorySize"]; m != float64(DefaultMesherMemoryMB) {
		t.Errorf("mesher memory %v MB, want %d", m, DefaultMesherMemoryMB)
	}
	// The asynchronously invoked functions retry twice, then dead-letter.
	for _, fn := range []string{fnIngest, fnStatus} {
		id := s.logicalID(t, "AWS::Lambda::Function", title(fn)+"Function")
		_, fr := s.resource(t, "AWS::Lambda::Function", title(fn)+"Function")
		if dlq := render(props(fr)["DeadLetterConfig"].(map[string]any)["TargetArn"]); !strings.HasPrefix(dlq, "<"+title(fn)+"FailuresDLQ") {
			t.Errorf("%s dead-letter target %s, want its failures DLQ", fn, dlq)
		}
		assert(t, fn+" async config", func() {
			s.tpl.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]any{
				"FunctionName": map[string]any{"Ref": id}, "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600})
		})
	}
}

// TestRulesMatchTable: one EventBridge rule per events.Rules entry, with
// the table's pattern exactly, targeting the table's consumer with a
// retry policy and a dead-letter queue.
func TestRulesMatchTable(t *testing.T) {
	s := synth(t)
	const placeholder = "BUCKET-NAME-PLACEHOLDER"
	targets := map[string]string{
		events.TargetIngest: s.logicalID(t, "AWS::Lambda::Function", "IngestFunction"),
		events.TargetStatus: s.logicalID(t, "AWS::Lambda::Function", "StatusFunction"),
		events.TargetMesher: s.logicalID(t, "AWS::SQS::Queue", "MeshQueue"),
	}
	eventsDLQ := s.logicalID(t, "AWS::SQS::Queue", "EventsDLQ")
	byDesc := map[string]map[string]any{}
	for _, r := range s.resources("AWS::Events::Rule") {
		byDesc[props(r)["Description"].(string)] = props(r)
	}
	table := events.Rules(placeholder)
	for _, rule := range table {
		t.Run(rule.Name, func(t *testing.T) {
			got, ok := byDesc[RuleDescription(rule.Name)]
			if !ok {
				t.Fatalf("no rule described %q", RuleDescription(rule.Name))
			}
			want := strings.ReplaceAll(jsonOf(rule.Pattern), `"`+placeholder+`"`, jsonOf(s.bucketRef))
			var wantV, gotV any
			json.Unmarshal([]byte(want), &wantV)
			json.Unmarshal([]byte(jsonOf(got["EventPattern"])), &gotV)
			if !reflect.DeepEqual(gotV, wantV) {
				t.Errorf("pattern\n%s\nwant (events.Rules)\n%s", jsonOf(gotV), want)
			}
			tg := got["Targets"].([]any)
			if len(tg) != 1 {
				t.Fatalf("%d targets, want 1", len(tg))
			}
			target := tg[0].(map[string]any)
			if arn := render(target["Arn"]); arn != "<"+targets[rule.Target]+".Arn>" {
				t.Errorf("target %s, want %s's %s", arn, rule.Target, targets[rule.Target])
			}
			if dlq := render(target["DeadLetterConfig"].(map[string]any)["Arn"]); dlq != "<"+eventsDLQ+".Arn>" {
				t.Errorf("dead-letter queue %s, want %s", dlq, eventsDLQ)
			}
			if rp := jsonOf(target["RetryPolicy"]); rp != `{"MaximumEventAgeInSeconds":21600,"MaximumRetryAttempts":50}` {
				t.Errorf("retry policy %s", rp)
			}
		})
	}
	// The sweep: every 5 minutes, to the status function.
	sweep := byDesc["iris: every 5 minutes, the status function fails jobs stuck past their deadline"]
	if sweep["ScheduleExpression"] != "rate(5 minutes)" || render(sweep["Targets"].([]any)[0].(map[string]any)["Arn"]) != "<"+targets[events.TargetStatus]+".Arn>" {
		t.Errorf("sweep rule %s, want rate(5 minutes) to the status function", jsonOf(sweep))
	}
	if len(byDesc) != len(table)+1 {
		t.Errorf("%d rules, want the table's %d and the sweep", len(byDesc), len(table))
	}
}

// TestRoutingOnAWS runs S3 events through the synthesized patterns with
// the local matcher: a label map reaches both the mesh queue and the
// status function, an upload only ingest, another bucket nothing.
func TestRoutingOnAWS(t *testing.T) {
	s := synth(t)
	const bucket = "iris-data-123"
	var patterns []struct {
		desc string
		p    *pattern.Pattern
	}
	for _, r := range s.resources("AWS::Events::Rule") {
		p := props(r)
		if p["EventPattern"] == nil {
			continue
		}
		raw := strings.ReplaceAll(jsonOf(p["EventPattern"]), jsonOf(s.bucketRef), `"`+bucket+`"`)
		pat, err := pattern.Parse([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", p["Description"], err)
		}
		patterns = append(patterns, struct {
			desc string
			p    *pattern.Pattern
		}{p["Description"].(string), pat})
	}
	route := func(b, key string) []string {
		ev := map[string]any{"source": "aws.s3", "detail-type": "Object Created",
			"detail": map[string]any{"bucket": map[string]any{"name": b}, "object": map[string]any{"key": key}}}
		var hit []string
		for _, p := range patterns {
			if p.p.MatchValue(ev) {
				hit = append(hit, strings.TrimSuffix(strings.TrimPrefix(p.desc, "iris: "), " (events.Rules)"))
			}
		}
		sort.Strings(hit)
		return hit
	}
	tests := []struct {
		bucket, key string
		want        []string
	}{
		{bucket, "uploads/j1234567/ct.zip", []string{"uploads-to-ingest"}},
		{bucket, "segmentations/j1234567/labels.nii.gz", []string{"segmentations-to-mesher", "segmentations-to-status"}},
		{bucket, "segmentation-failures/j1234567/x.out", []string{"segmentation-failures-to-status"}},
		{bucket, "results/j1234567/manifest.json", nil},
		{"another-bucket", "uploads/j1234567/ct.zip", nil},
	}
	for _, tt := range tests {
		if got := route(tt.bucket, tt.key); !slices.Equal(got, tt.want) {
			t.Errorf("s3://%s/%s goes to %v, want %v", tt.bucket, tt.key, got, tt.want)
		}
	}
}

// TestQueues: each consumed queue has a redrive policy and a visibility
// timeout of at least six times its consumer's timeout; each event source
// reports partial batch failures and caps its concurrency.
func TestQueues(t *testing.T) {
	s := synth(t)
	res := s.template["Resources"].(map[string]any)
	esms := s.resources("AWS::Lambda::EventSourceMapping")
	if len(esms) != 3 {
		t.Fatalf("%d event source mappings, want 3 (jobs, mesh, groups)", len(esms))
	}
	for id, m := range esms {
		p := props(m)
		queueID := strings.TrimSuffix(strings.TrimPrefix(render(p["EventSourceArn"]), "<"), ".Arn>")
		fnID := strings.Trim(render(p["FunctionName"]), "<>")
		q, fn := props(res[queueID].(map[string]any)), props(res[fnID].(map[string]any))
		if jsonOf(p["FunctionResponseTypes"]) != `["ReportBatchItemFailures"]` {
			t.Errorf("%s: FunctionResponseTypes %v, want [ReportBatchItemFailures]", id, p["FunctionResponseTypes"])
		}
		if c, _ := p["ScalingConfig"].(map[string]any)["MaximumConcurrency"].(float64); c < 2 {
			t.Errorf("%s: no MaximumConcurrency cap (%v)", id, p["ScalingConfig"])
		}
		vis, timeout := q["VisibilityTimeout"].(float64), fn["Timeout"].(float64)
		if vis < timing.VisibilityFactor*timeout {
			t.Errorf("queue %s visibility %vs < %d × %s's timeout %vs", queueID, vis, timing.VisibilityFactor, fnID, timeout)
		}
		rd := q["RedrivePolicy"].(map[string]any)
		if rd["maxReceiveCount"] != float64(MaxReceiveCount) {
			t.Errorf("queue %s maxReceiveCount %v, want %d", queueID, rd["maxReceiveCount"], MaxReceiveCount)
		}
		// Deadlines in one place: from what the template deploys (the
		// function's timeout, the queue's maxReceiveCount, the consumer's
		// attempts and backoff), the consumer gives up on a message that
		// always fails, with its own "Job Failed", before the sweep can
		// fail the job as stuck; and the backoff comes from the consumer
		// changing the visibility of the very queue it consumes.
		vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
		env, err := config.Load(func(k string) string { v, _ := vars[k].(string); return v })
		if err != nil {
			t.Fatalf("%s: environment %v: %v", fnID, vars, err)
		}
		if render(vars[config.EnvQueueURL]) != "<"+queueID+">" {
			t.Errorf("%s: %s = %s, want the consumed queue %s", fnID, config.EnvQueueURL, render(vars[config.EnvQueueURL]), queueID)
		}
		receives := int(rd["maxReceiveCount"].(float64))
		// Ingest's folder checks come before any job record exists, so
		// they have no "Job Failed" to give up with: a check that fails
		// every time is dead-lettered (and alarmed) after the receives;
		// its job, not yet created, is out of the sweep's sight.
		ingest := strings.HasPrefix(fnID, "IngestFunction")
		if (!ingest && env.MaxAttempts != receives) || env.RetryBackoff <= 0 || env.RetryBackoff >= time.Duration(vis)*time.Second {
			t.Errorf("%s: attempts %d (queue: %d), backoff %v (visibility %vs)", fnID, env.MaxAttempts, receives, env.RetryBackoff, vis)
		}
		giveUp := time.Duration(receives)*time.Duration(timeout)*time.Second + time.Duration(receives-1)*env.RetryBackoff
		dl := pipeline.DefaultDeadlines()
		deadline := dl.Accepted
		switch {
		case strings.HasPrefix(fnID, "MesherFunction"):
			deadline = dl.Meshing
		case ingest:
			deadline = dl.Created
		}
		if giveUp+timing.SweepEvery >= deadline {
			t.Errorf("%s gives up after %v at worst, but the sweep fails the job after %v", fnID, giveUp, deadline)
		}
		t.Logf("%s: gives up within %v; the sweep's deadline is %v", fnID, giveUp, deadline)
		dlq := strings.TrimSuffix(strings.TrimPrefix(render(rd["deadLetterTargetArn"]), "<"), ".Arn>")
		if d := props(res[dlq].(map[string]any)); d["MessageRetentionPeriod"] != float64(14*24*3600) {
			t.Errorf("dead-letter queue %s keeps messages %vs, want 14 days", dlq, d["MessageRetentionPeriod"])
		}
	}
	// Every queue is encrypted and refuses plain HTTP.
	for id, q := range s.resources("AWS::SQS::Queue") {
		if props(q)["SqsManagedSseEnabled"] != true {
			t.Errorf("queue %s is not encrypted", id)
		}
		assert(t, id+" TLS only", func() {
			s.tpl.HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), map[string]any{
				"Queues": []any{map[string]any{"Ref": id}},
				"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
					assertions.Match_ObjectLike(&map[string]any{"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}}),
				})}),
			})
		})
	}
}

func TestBuckets(t *testing.T) {
	s := synth(t)
	data := s.logicalID(t, "AWS::S3::Bucket", "Data")
	for id, b := range s.resources("AWS::S3::Bucket") {
		p := props(b)
		if jsonOf(p["PublicAccessBlockConfiguration"]) != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
			t.Errorf("bucket %s public access block %v", id, p["PublicAccessBlockConfiguration"])
		}
		if !strings.Contains(jsonOf(p["BucketEncryption"]), `"SSEAlgorithm":"AES256"`) {
			t.Errorf("bucket %s encryption %v", id, p["BucketEncryption"])
		}
		assert(t, id+" denies non-TLS", func() {
			s.tpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
				"Bucket": map[string]any{"Ref": id},
				"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
					assertions.Match_ObjectLike(&map[string]any{"Effect": "Deny", "Action": "s3:*", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}}),
				})}),
			})
		})
	}
	_, b := s.resource(t, "AWS::S3::Bucket", "Data")
	p := props(b)
	if jsonOf(p["VersioningConfiguration"]) != `{"Status":"Enabled"}` {
		t.Errorf("data bucket versioning %v", p["VersioningConfiguration"])
	}
	if !strings.Contains(render(p["LoggingConfiguration"].(map[string]any)["DestinationBucketName"]), "AccessLogs") {
		t.Errorf("data bucket logs to %v, want the access log bucket", p["LoggingConfiguration"])
	}
	rules := map[string]map[string]any{}
	for _, r := range p["LifecycleConfiguration"].(map[string]any)["Rules"].([]any) {
		r := r.(map[string]any)
		rules[r["Id"].(string)] = r
	}
	wantRules := map[string]string{
		"expire-everything":             `{"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":1},"ExpirationInDays":90,"Id":"expire-everything","NoncurrentVersionExpiration":{"NoncurrentDays":1},"Status":"Enabled"}`,
		"expire-uploads":                `{"ExpirationInDays":1,"Id":"expire-uploads","NoncurrentVersionExpiration":{"NoncurrentDays":1},"Prefix":"uploads/","Status":"Enabled"}`,
		"remove-expired-delete-markers": `{"ExpiredObjectDeleteMarker":true,"Id":"remove-expired-delete-markers","Status":"Enabled"}`,
	}
	for id, want := range wantRules {
		if got := jsonOf(rules[id]); got != want {
			t.Errorf("lifecycle rule %s\n%s\nwant\n%s", id, got, want)
		}
	}
	if len(rules) != len(wantRules) {
		t.Errorf("%d lifecycle rules, want %d", len(rules), len(wantRules))
	}
	// CORS for the browser's presigned uploads and downloads: the site only.
	rule := p["CorsConfiguration"].(map[string]any)["CorsRules"].([]any)[0].(map[string]any)
	origins := list(rule["AllowedOrigins"])
	if jsonOf(rule["AllowedMethods"]) != `["GET","HEAD","PUT","POST"]` || len(origins) != 1 ||
		render(origins[0]) != "https://<"+s.logicalID(t, "AWS::CloudFront::Distribution", "SiteDistribution")+".DomainName>" {
		t.Errorf("data bucket CORS %s, want GET/HEAD/PUT/POST from the site's origin only", jsonOf(rule))
	}
	// EventBridge notifications on (a custom resource, not a bucket property).
	assert(t, "EventBridge notifications", func() {
		s.tpl.HasResourceProperties(jsii.String("Custom::S3BucketNotifications"), map[string]any{
			"BucketName":                map[string]any{"Ref": data},
			"NotificationConfiguration": map[string]any{"EventBridgeConfiguration": map[string]any{}},
		})
	})
}

func TestTable(t *testing.T) {
	s := synth(t)
	assert(t, "job table", func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::DynamoDB::GlobalTable"), map[string]any{
			"KeySchema":   []any{map[string]any{"AttributeName": iaws.JobKey, "KeyType": "HASH"}},
			"BillingMode": "PAY_PER_REQUEST",
			"GlobalSecondaryIndexes": []any{map[string]any{
				"IndexName": iaws.JobOwnerIndex,
				"KeySchema": []any{
					map[string]any{"AttributeName": iaws.JobOwner, "KeyType": "HASH"},
					map[string]any{"AttributeName": iaws.JobCreated, "KeyType": "RANGE"},
				},
				"Projection": map[string]any{"ProjectionType": "ALL"},
			}, map[string]any{
				"IndexName": iaws.JobUnfinishedIndex,
				"KeySchema": []any{
					map[string]any{"AttributeName": iaws.JobUnfinished, "KeyType": "HASH"},
					map[string]any{"AttributeName": iaws.JobUpdated, "KeyType": "RANGE"},
				},
				"Projection": map[string]any{"ProjectionType": "ALL"},
			}},
			"TimeToLiveSpecification": map[string]any{"AttributeName": iaws.JobTTL, "Enabled": true},
			"SSESpecification":        map[string]any{"SSEEnabled": true, "SSEType": "KMS"},
			"Replicas": []any{assertions.Match_ObjectLike(&map[string]any{
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
			})},
		})
	})
	assert(t, "table retained", func() {
		s.tpl.HasResource(jsii.String("AWS::DynamoDB::GlobalTable"), map[string]any{"DeletionPolicy": "Retain"})
	})
}

func TestSegmenter(t *testing.T) {
	s := synth(t)
	data := s.logicalID(t, "AWS::S3::Bucket", "Data")
	_, cfg := s.resource(t, "AWS::SageMaker::EndpointConfig", "EndpointConfig")
	p := props(cfg)
	async := p["AsyncInferenceConfig"].(map[string]any)
	out := async["OutputConfig"].(map[string]any)
	for field, want := range map[string]string{
		"S3OutputPath":  "s3://<" + data + ">/segmentations",
		"S3FailurePath": "s3://<" + data + ">/segmentation-failures",
	} {
		if got := render(out[field]); got != want {
			t.Errorf("%s = %s, want %s", field, got, want)
		}
	}
	if et := render(out["NotificationConfig"].(map[string]any)["ErrorTopic"]); !strings.HasPrefix(et, "<SegmentationErrors") {
		t.Errorf("error topic %s", et)
	}
	if c := async["ClientConfig"].(map[string]any)["MaxConcurrentInvocationsPerInstance"]; c != float64(1) {
		t.Errorf("MaxConcurrentInvocationsPerInstance %v, want 1 (one per GPU)", c)
	}
	v := p["ProductionVariants"].([]any)[0].(map[string]any)
	if v["InstanceType"] != DefaultInstanceType || v["InferenceAmiVersion"] != InferenceAMI || v["VariantName"] != variantName {
		t.Errorf("variant %s", jsonOf(v))
	}
	_, model := s.resource(t, "AWS::SageMaker::Model", "Model")
	c := props(model)["PrimaryContainer"].(map[string]any)
	if env := jsonOf(c["Environment"]); env != `{"GPUWORKER_CONCURRENCY":"1","GPUWORKER_TIMEOUT":"1h0m0s"}` {
		t.Errorf("worker environment %s", env)
	}
	if img := jsonOf(c["Image"]); !strings.Contains(img, "container-assets") {
		t.Errorf("model image %s is not the CDK image asset", img)
	}

	// Autoscaling 0..N: backlog target tracking plus the step policy that
	// starts the first instance.
	_, target := s.resource(t, "AWS::ApplicationAutoScaling::ScalableTarget", "EndpointScaling")
	tp := props(target)
	if tp["MinCapacity"] != float64(0) || tp["MaxCapacity"] != float64(DefaultMaxInstances) ||
		render(tp["ResourceId"]) != "endpoint/<Endpoint.EndpointName>/variant/AllTraffic" ||
		tp["ScalableDimension"] != "sagemaker:variant:DesiredInstanceCount" {
		t.Errorf("scalable target %s", jsonOf(tp))
	}
	var step string
	for id, pol := range s.resources("AWS::ApplicationAutoScaling::ScalingPolicy") {
		pp := props(pol)
		switch pp["PolicyType"] {
		case "TargetTrackingScaling":
			m := pp["TargetTrackingScalingPolicyConfiguration"].(map[string]any)
			if cm := m["CustomizedMetricSpecification"].(map[string]any); cm["MetricName"] != "ApproximateBacklogSizePerInstance" || m["TargetValue"] != float64(BacklogPerInstance) {
				t.Errorf("target tracking %s", jsonOf(m))
			}
		case "StepScaling":
			step = id
			if adj := jsonOf(pp["StepScalingPolicyConfiguration"].(map[string]any)["StepAdjustments"]); adj != `[{"MetricIntervalLowerBound":0,"ScalingAdjustment":1}]` {
				t.Errorf("step adjustments %s", adj)
			}
		}
	}
	assert(t, "scale-from-zero alarm", func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"MetricName": "HasBacklogWithoutCapacity", "Namespace": "AWS/SageMaker",
			"Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
			"AlarmActions": []any{map[string]any{"Ref": step}},
		})
	})
}

// TestLeastPrivilege: each function's role touches only its own objects,
// records and services.
func TestLeastPrivilege(t *testing.T) {
	s := synth(t)
	data := "<" + s.logicalID(t, "AWS::S3::Bucket", "Data") + ".Arn>"
	type grants struct {
		objects map[string][]string // prefix → s3 actions
		dynamo  []string
		other   []string // other actions, sorted
	}
	want := map[string]grants{
		fnIngest: {objects: map[string][]string{"uploads/": {"s3:DeleteObject", "s3:GetObject"}, "volumes/": {"s3:GetObject", "s3:PutObject"}, "segmentations/": {"s3:GetObject", "s3:PutObject"}},
			other: []string{"events:PutEvents", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"}},
		fnDispatch: {objects: map[string][]string{"segmentations/": {"s3:GetObject"}}, dynamo: []string{"dynamodb:GetItem", "dynamodb:PutItem"},
			other: []string{"events:PutEvents", "sagemaker:InvokeEndpointAsync", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"}},
		fnMesher: {objects: map[string][]string{"segmentations/": {"s3:DeleteObject", "s3:GetObject"}, "results/": {"s3:DeleteObject", "s3:GetObject", "s3:PutObject"}}, dynamo: []string{"dynamodb:GetItem"},
			other: []string{"events:PutEvents", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"}},
		fnStatus: {objects: map[string][]string{"uploads/": {"s3:DeleteObject"}, "volumes/": {"s3:DeleteObject"}, "segmentations/": {"s3:DeleteObject"},
			"results/": {"s3:DeleteObject", "s3:GetObject"}, "segmentation-failures/": {"s3:DeleteObject", "s3:GetObject"}},
			dynamo: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"}, other: []string{"sqs:SendMessage"}},
		fnAPI: {objects: map[string][]string{
			"uploads/": {"s3:DeleteObject", "s3:PutObject"}, "volumes/": {"s3:DeleteObject", "s3:GetObject"},
			"segmentations/": {"s3:DeleteObject"}, "segmentation-failures/": {"s3:DeleteObject"}, "results/": {"s3:DeleteObject", "s3:GetObject", "s3:PutObject"}},
			dynamo: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"}, other: []string{"sqs:SendMessage"}},
	}
	for _, fn := range functionNames {
		t.Run(fn, func(t *testing.T) {
			_, pol := s.resource(t, "AWS::IAM::Policy", title(fn)+"RoleDefaultPolicy")
			got := grants{objects: map[string][]string{}}
			for _, st := range props(pol)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				st := st.(map[string]any)
				if st["Effect"] != "Allow" {
					t.Errorf("unexpected statement %s", jsonOf(st))
					continue
				}
				for _, a := range list(st["Action"]) {
					a := a.(string)
					if strings.Contains(a, "*") {
						t.Errorf("wildcard action %s", a)
					}
					for _, r := range list(st["Resource"]) {
						res := render(r)
						switch {
						case strings.HasPrefix(a, "logs:"):
							if !strings.HasPrefix(res, "<"+title(fn)+"Logs") {
								t.Errorf("%s on %s, not the function's own log group", a, res)
							}
						case a == "s3:ListBucket":
							if res != data {
								t.Errorf("s3:ListBucket on %s", res)
							}
						case strings.HasPrefix(a, "s3:"):
							prefix, ok := strings.CutPrefix(res, data+"/")
							if !ok || !strings.HasSuffix(prefix, "/*") {
								t.Errorf("%s on %s, not on a prefix of the data bucket", a, res)
								continue
							}
							prefix = strings.TrimSuffix(prefix, "*")
							got.objects[prefix] = append(got.objects[prefix], a)
						case strings.HasPrefix(a, "dynamodb:"):
							if !strings.HasPrefix(res, "<Jobs") {
								t.Errorf("%s on %s, not the job table", a, res)
							}
							// The sweep queries the sparse index of
							// unfinished jobs, and nothing else.
							if fn == fnStatus && a == "dynamodb:Query" && !strings.HasSuffix(res, "/index/"+iaws.JobUnfinishedIndex) {
								t.Errorf("status may query %s, want only the index %s", res, iaws.JobUnfinishedIndex)
							}
							got.dynamo = append(got.dynamo, a)
						default:
							got.other = append(got.other, a)
						}
					}
				}
			}
			for p := range got.objects {
				got.objects[p] = sortedSet(got.objects[p])
			}
			got.dynamo, got.other = sortedSet(got.dynamo), sortedSet(got.other)
			w := want[fn]
			if !reflect.DeepEqual(got.objects, w.objects) {
				t.Errorf("object grants %v, want %v", got.objects, w.objects)
			}
			if !slices.Equal(got.dynamo, w.dynamo) || !slices.Equal(got.other, w.other) {
				t.Errorf("grants dynamo %v other %v, want %v %v", got.dynamo, got.other, w.dynamo, w.other)
			}
		})
	}
}

func sortedSet(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

func TestHTTPAPI(t *testing.T) {
	s := synth(t)
	routes := map[string]string{}
	for _, r := range s.resources("AWS::ApiGatewayV2::Route") {
		p := props(r)
		routes[p["RouteKey"].(string)] = p["AuthorizationType"].(string)
	}
	want := map[string]string{"GET /api/{proxy+}": "JWT", "POST /api/{proxy+}": "JWT", "DELETE /api/{proxy+}": "JWT", "GET /api/health": "NONE"}
	if !reflect.DeepEqual(routes, want) {
		t.Errorf("routes %v, want %v", routes, want)
	}
	_, auth := s.resource(t, "AWS::ApiGatewayV2::Authorizer", "HttpApi")
	if jwt := render(props(auth)["JwtConfiguration"].(map[string]any)["Issuer"]); !strings.Contains(jwt, "cognito-idp") || !strings.Contains(jwt, "<Users") {
		t.Errorf("JWT issuer %s, want the user pool", jwt)
	}
	_, api := s.resource(t, "AWS::ApiGatewayV2::Api", "HttpApi")
	cors := props(api)["CorsConfiguration"].(map[string]any)
	if o := list(cors["AllowOrigins"]); len(o) != 1 || render(o[0]) != "https://<"+s.logicalID(t, "AWS::CloudFront::Distribution", "SiteDistribution")+".DomainName>" {
		t.Errorf("CORS origins %s, want the site's origin only", jsonOf(cors["AllowOrigins"]))
	}
	_, stage := s.resource(t, "AWS::ApiGatewayV2::Stage", "HttpApi")
	sp := props(stage)
	if sp["StageName"] != "$default" || !strings.HasPrefix(render(sp["AccessLogSettings"].(map[string]any)["DestinationArn"]), "<ApiAccessLogs") {
		t.Errorf("stage %s, want $default with access logs", jsonOf(sp))
	}
	// The API Lambda sees payload 2.0, which lambdahttp adapts.
	assert(t, "payload 2.0", func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Integration"), map[string]any{"PayloadFormatVersion": "2.0"})
	})
	assert(t, "MFA", func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPool"), map[string]any{
			"MfaConfiguration": "ON", "AdminCreateUserConfig": map[string]any{"AllowAdminCreateUserOnly": true}})
	})
}

func TestAlarms(t *testing.T) {
	s := synth(t)
	watched := map[string]bool{} // queue or function logical ids with an alarm
	var stuck bool
	for _, a := range s.resources("AWS::CloudWatch::Alarm") {
		p := props(a)
		if len(list(p["AlarmActions"])) == 0 {
			t.Errorf("alarm %v has no action", p["AlarmDescription"])
		}
		for _, d := range list(p["Dimensions"]) {
			if d, ok := d.(map[string]any); ok {
				watched[p["MetricName"].(string)+" "+strings.Split(strings.Trim(render(d["Value"]), "<>"), ".")[0]] = true
			}
		}
		stuck = stuck || (p["MetricName"] == "StuckJobsFailed" && p["Namespace"] == MetricNamespace)
	}
	for id := range s.resources("AWS::SQS::Queue") {
		if strings.Contains(id, "DLQ") && !watched["ApproximateNumberOfMessagesVisible "+id] {
			t.Errorf("dead-letter queue %s has no depth alarm", id)
		}
	}
	for _, fn := range functionNames {
		if id := s.logicalID(t, "AWS::Lambda::Function", title(fn)+"Function"); !watched["Errors "+id] {
			t.Errorf("function %s has no error alarm", fn)
		}
	}
	for _, m := range []string{"InvocationFailures Endpoint", "ApproximateAgeOfOldestRequest Endpoint"} {
		if !watched[m] {
			t.Errorf("no endpoint alarm on %s", m)
		}
	}
	if !stuck {
		t.Error("no stuck-jobs alarm")
	}
	assert(t, "stuck-jobs filter", func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), map[string]any{
			"FilterPattern": `{ $.msg = "` + StuckJobMessage + `" }`})
	})
	// The filter counts a line the sweep really writes.
	src, err := os.ReadFile("../internal/pipeline/status/status.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `"`+StuckJobMessage+`"`) {
		t.Errorf("internal/pipeline/status/status.go no longer logs %q: update StuckJobMessage", StuckJobMessage)
	}
}

// TestImageAsset: the GPU image is staged, not built, at synthesis, and
// the staged context holds only what the Dockerfile copies.
func TestImageAsset(t *testing.T) {
	s := synth(t)
	outdir := filepath.Join(s.outdir, "cdk.out")
	raw, err := os.ReadFile(filepath.Join(outdir, "Iris.assets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		DockerImages map[string]struct {
			Source struct {
				Directory, DockerFile string
				Platform              string
			}
		}
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.DockerImages) != 1 {
		t.Fatalf("%d docker images in the asset manifest, want 1", len(m.DockerImages))
	}
	for _, img := range m.DockerImages {
		if img.Source.DockerFile != dockerfile || img.Source.Platform != "linux/amd64" {
			t.Errorf("image source %+v", img.Source)
		}
		dir := filepath.Join(outdir, img.Source.Directory)
		for _, f := range []string{"go.mod", "go.sum", dockerfile, dockerignore, "internal/pipeline/ingest/ingest.go", "gpuworker/cmd/gpuworker/main.go"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("staged context lacks %s", f)
			}
		}
		var bad []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			rel, _ := filepath.Rel(dir, p)
			if err == nil && (strings.HasSuffix(p, "_test.go") || d.Name() == "testdata" || d.Name() == "node_modules" ||
				strings.HasPrefix(rel, "web") || strings.HasPrefix(rel, "infra") || strings.HasPrefix(rel, "functions")) {
				bad = append(bad, rel)
			}
			return nil
		})
		if len(bad) > 0 {
			t.Errorf("staged context holds what the Dockerfile does not need: %v", bad[:min(len(bad), 10)])
		}
	}
}

func TestNagSuppressionsHaveReasons(t *testing.T) {
	s := synth(t)
	var n int
	for id, r := range s.template["Resources"].(map[string]any) {
		md, _ := r.(map[string]any)["Metadata"].(map[string]any)
		nag, _ := md["cdk_nag"].(map[string]any)
		for _, sup := range list(nag["rules_to_suppress"]) {
			sup, ok := sup.(map[string]any)
			if !ok {
				continue
			}
			n++
			if reason, _ := sup["reason"].(string); len(reason) < 60 {
				t.Errorf("%s: suppression of %v has a thin reason %q", id, sup["id"], reason)
			}
		}
	}
	if n == 0 {
		t.Error("no suppressions found in the template's metadata; the check checks nothing")
	}
	t.Logf("%d suppressions, each with its reason", n)
	// The pack ran: its report lists the rules it checked.
	f, err := os.Open(filepath.Join(s.outdir, "cdk.out", "AwsSolutions--Iris-NagReport.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for _, row := range rows[1:] {
		checked[row[0]] = true
	}
	for _, rule := range []string{"AwsSolutions-S1", "AwsSolutions-S10", "AwsSolutions-SQS3", "AwsSolutions-SQS4", "AwsSolutions-IAM4", "AwsSolutions-IAM5", "AwsSolutions-APIG4", "AwsSolutions-COG2", "AwsSolutions-COG8", "AwsSolutions-CFR4"} {
		if !checked[rule] {
			t.Errorf("the nag report does not list %s", rule)
		}
	}
}

func TestStuckJobSweepDeadlineFitsEndpoint(t *testing.T) {
	// A request may wait RequestTTL and run InvocationTimeout; the sweep
	// must not fail a segmenting job before SageMaker gives up on it.
	if d, dl := InvocationTimeout+RequestTTL, pipeline.DefaultDeadlines().Segmenting; d > dl {
		t.Errorf("SageMaker may take %v, past the sweep's %v segmenting deadline", d, dl)
	}
}

// TestSiteCompresses: CloudFront compresses the web app (Compress, and the
// CachingOptimized managed policy, whose cache key takes gzip and brotli
// from Accept-Encoding), and the build's own .br and .gz copies, made for
// iris serve, are not uploaded.
func TestSiteCompresses(t *testing.T) {
	s := synth(t)
	assert(t, "the site's default behaviour compresses with CachingOptimized", func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::CloudFront::Distribution"), map[string]any{
			"DistributionConfig": map[string]any{"DefaultCacheBehavior": map[string]any{
				"Compress":      true,
				"CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6", // Managed-CachingOptimized: gzip and brotli on
			}},
		})
	})
	assert(t, "the site deployment leaves out precompressed copies", func() {
		s.tpl.HasResourceProperties(jsii.String("Custom::CDKBucketDeployment"), map[string]any{
			"Exclude": []any{"*.br", "*.gz"},
		})
	})
}
