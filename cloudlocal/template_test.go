package cloudlocal

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tiny is a template in the shape the CDK emits for this stack, cut to
// one of each kind of resource cloudlocal reads.
const tiny = `{"Resources":{
 "Data666C94C7":{"Type":"AWS::S3::Bucket"},
 "DataNotifications":{"Type":"Custom::S3BucketNotifications","Properties":{"BucketName":{"Ref":"Data666C94C7"},"NotificationConfiguration":{"EventBridgeConfiguration":{}}}},
 "MeshDLQ0F5E32FC":{"Type":"AWS::SQS::Queue"},
 "MeshQueue27798243":{"Type":"AWS::SQS::Queue","Properties":{"VisibilityTimeout":5400,"RedrivePolicy":{"deadLetterTargetArn":{"Fn::GetAtt":["MeshDLQ0F5E32FC","Arn"]},"maxReceiveCount":5}}},
 "StatusDLQ":{"Type":"AWS::SQS::Queue"},
 "MesherFunctionF1637108":{"Type":"AWS::Lambda::Function","Properties":{"Runtime":"provided.al2023","Timeout":900,"MemorySize":3008,
   "Environment":{"Variables":{"IRIS_BUCKET":{"Ref":"Data666C94C7"},"IRIS_MAX_ATTEMPTS":"5"}}}},
 "StatusFunction598A4497":{"Type":"AWS::Lambda::Function","Properties":{"Runtime":"provided.al2023","Timeout":60,
   "DeadLetterConfig":{"TargetArn":{"Fn::GetAtt":["StatusDLQ","Arn"]}}}},
 "StatusInvokeConfig":{"Type":"AWS::Lambda::EventInvokeConfig","Properties":{"FunctionName":{"Ref":"StatusFunction598A4497"},"Qualifier":"$LATEST","MaximumRetryAttempts":1,"MaximumEventAgeInSeconds":3600}},
 "MesherSource":{"Type":"AWS::Lambda::EventSourceMapping","Properties":{"EventSourceArn":{"Fn::GetAtt":["MeshQueue27798243","Arn"]},"FunctionName":{"Ref":"MesherFunctionF1637108"},"BatchSize":1,"FunctionResponseTypes":["ReportBatchItemFailures"],"ScalingConfig":{"MaximumConcurrency":5}}},
 "RuleToMesher":{"Type":"AWS::Events::Rule","Properties":{"State":"ENABLED","EventPattern":{"source":["aws.s3"],"detail":{"bucket":{"name":[{"Ref":"Data666C94C7"}]},"object":{"key":[{"prefix":"segmentations/"}]}}},
   "Targets":[{"Arn":{"Fn::GetAtt":["MeshQueue27798243","Arn"]},"Id":"Target0","RetryPolicy":{"MaximumRetryAttempts":50,"MaximumEventAgeInSeconds":21600},"DeadLetterConfig":{"Arn":{"Fn::GetAtt":["MeshDLQ0F5E32FC","Arn"]}}}]}},
 "Sweep576358E8":{"Type":"AWS::Events::Rule","Properties":{"ScheduleExpression":"rate(5 minutes)","State":"ENABLED","Targets":[{"Arn":{"Fn::GetAtt":["StatusFunction598A4497","Arn"]},"Id":"Target0"}]}},
 "Jobs":{"Type":"AWS::DynamoDB::GlobalTable","Properties":{"KeySchema":[{"AttributeName":"jobId","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"jobId","AttributeType":"S"}],"TimeToLiveSpecification":{"AttributeName":"ttl","Enabled":true}}},
 "EndpointConfig":{"Type":"AWS::SageMaker::EndpointConfig","Properties":{"AsyncInferenceConfig":{"OutputConfig":{"S3OutputPath":{"Fn::Join":["",["s3://",{"Ref":"Data666C94C7"},"/segmentations"]]},"S3FailurePath":"s3://x/f","NotificationConfig":{"ErrorTopic":{"Ref":"Errors"}}},"ClientConfig":{"MaxConcurrentInvocationsPerInstance":1}}}},
 "Endpoint":{"Type":"AWS::SageMaker::Endpoint","Properties":{"EndpointConfigName":{"Fn::GetAtt":["EndpointConfig","EndpointConfigName"]}}},
 "Api":{"Type":"AWS::ApiGatewayV2::Api","Properties":{"CorsConfiguration":{"AllowOrigins":["https://site.example"]}}},
 "Integ":{"Type":"AWS::ApiGatewayV2::Integration","Properties":{"IntegrationType":"AWS_PROXY","IntegrationUri":{"Fn::GetAtt":["StatusFunction598A4497","Arn"]},"PayloadFormatVersion":"2.0"}},
 "Auth":{"Type":"AWS::ApiGatewayV2::Authorizer","Properties":{"AuthorizerType":"JWT","IdentitySource":["$request.header.Authorization"],"JwtConfiguration":{"Audience":["aud"],"Issuer":"https://issuer.example"}}},
 "RouteAny":{"Type":"AWS::ApiGatewayV2::Route","Properties":{"RouteKey":"GET /api/{proxy+}","AuthorizationType":"JWT","AuthorizerId":{"Ref":"Auth"},"Target":{"Fn::Join":["",["integrations/",{"Ref":"Integ"}]]}}},
 "RouteHealth":{"Type":"AWS::ApiGatewayV2::Route","Properties":{"RouteKey":"GET /api/health","Target":{"Fn::Join":["",["integrations/",{"Ref":"Integ"}]]}}}
}}`

func TestModel(t *testing.T) {
	tpl, err := ParseTemplate([]byte(tiny))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Model()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Buckets) != 1 || !m.Buckets[0].EventBridge {
		t.Errorf("buckets %+v, want the one with EventBridge notifications", m.Buckets)
	}
	if q := m.Queues["MeshQueue27798243"]; q.Visibility != 90*time.Minute || q.DLQ != "MeshDLQ0F5E32FC" || q.MaxReceiveCount != 5 {
		t.Errorf("mesh queue %+v", q)
	}
	if f := m.Functions["MesherFunctionF1637108"]; f.Name != "mesher" || f.Timeout != 15*time.Minute || f.MemoryMB != 3008 {
		t.Errorf("mesher %+v", f)
	}
	if f := m.Functions["StatusFunction598A4497"]; f.Name != "status" || f.DLQ != "StatusDLQ" || f.Retries != 1 || f.MaxEventAge != time.Hour {
		t.Errorf("status %+v", f)
	}
	if len(m.Mappings) != 1 || m.Mappings[0] != (MappingSpec{Queue: "MeshQueue27798243", Function: "MesherFunctionF1637108", BatchSize: 1, ReportBatchItemFailure: true, MaxConcurrency: 5}) {
		t.Errorf("mappings %+v", m.Mappings)
	}
	if m.Table.ID != "Jobs" || m.Table.TTL != "ttl" {
		t.Errorf("table %+v", m.Table)
	}
	if m.Endpoint.ID != "Endpoint" || m.Endpoint.ErrorTopic != "Errors" || m.Endpoint.MaxConcurrency != 1 {
		t.Errorf("endpoint %+v", m.Endpoint)
	}
	look := func(id, attr string) (string, error) {
		return strings.ToLower(id) + map[string]string{"": "", "Arn": ".arn"}[attr], nil
	}
	if err := m.Compile(look); err != nil {
		t.Fatal(err)
	}
	var rule, sweep RuleSpec
	for _, r := range m.Rules {
		if r.ID == "RuleToMesher" {
			rule = r
		} else {
			sweep = r
		}
	}
	if rule.Pattern == nil || rule.Targets[0].Lambda || rule.Targets[0].Retries != 50 || rule.Targets[0].DLQ != "MeshDLQ0F5E32FC" {
		t.Errorf("rule %+v", rule)
	}
	for _, tc := range []struct {
		event string
		want  bool
	}{
		{`{"source":"aws.s3","detail":{"bucket":{"name":"data666c94c7"},"object":{"key":"segmentations/j/labels.nii.gz"}}}`, true},
		{`{"source":"aws.s3","detail":{"bucket":{"name":"other"},"object":{"key":"segmentations/j/labels.nii.gz"}}}`, false},
		{`{"source":"aws.s3","detail":{"bucket":{"name":"data666c94c7"},"object":{"key":"uploads/x"}}}`, false},
	} {
		if got, _ := rule.Pattern.Match([]byte(tc.event)); got != tc.want {
			t.Errorf("match %s = %v, want %v", tc.event, got, tc.want)
		}
	}
	if sweep.Schedule != 5*time.Minute || !sweep.Targets[0].Lambda || sweep.Targets[0].Retries != 185 {
		t.Errorf("sweep %+v (EventBridge's default retry policy is 185 tries in 24 h)", sweep)
	}
	api := &HTTPAPI{routes: m.API.Routes}
	for _, tc := range []struct {
		method, path, want string
		jwt                bool
	}{
		{"GET", "/api/health", "/api/health", false},
		{"GET", "/api/jobs/j1", "/api/{proxy+}", true},
		{"GET", "/api", "", false},
		{"POST", "/api/jobs", "", false},
	} {
		r, _, ok := api.route(tc.method, tc.path)
		if r.Path != tc.want || ok != (tc.want != "") || (ok && (r.JWT != nil) != tc.jwt) {
			t.Errorf("%s %s → %q (found %v, jwt %v), want %q (jwt %v)", tc.method, tc.path, r.Path, ok, r.JWT != nil, tc.want, tc.jwt)
		}
	}
}

func TestStartNamesMissingTool(t *testing.T) {
	_, err := Start(context.Background(), Config{Template: []byte(tiny), Goaws: filepath.Join(t.TempDir(), "goaws"), Work: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "goaws") || !strings.Contains(err.Error(), "make tools") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Start without tools: %v; want one line naming goaws and `make tools`", err)
	}
}
