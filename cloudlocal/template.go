package cloudlocal

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/iris-oculus/iris/internal/local/pattern"
)

// Local account and region: every ARN and pseudo parameter uses them.
const (
	Region  = "us-east-1"
	Account = "000000000000"
)

// Template is a CloudFormation template, as much of it as is read here.
type Template struct {
	Resources map[string]Resource `json:"Resources"`
}

// Resource is one resource of a template.
type Resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
	Metadata   map[string]any `json:"Metadata"`
}

// ParseTemplate decodes a template.
func ParseTemplate(data []byte) (*Template, error) {
	var t Template
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if len(t.Resources) == 0 {
		return nil, fmt.Errorf("template: no resources")
	}
	return &t, nil
}

// of is the logical ids of the resources of type typ, sorted.
func (t *Template) of(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Lookup answers a reference to a resource: attr "" is Ref, anything
// else Fn::GetAtt.
type Lookup func(id, attr string) (string, error)

// Resolve evaluates a template value to a string: literals, Ref (to
// resources and the pseudo parameters), Fn::GetAtt, Fn::Join, Fn::Select
// and Fn::Split, which is what the CDK emits for this stack.
func Resolve(v any, look Lookup) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case float64:
		return fmt.Sprint(v), nil
	case bool:
		return fmt.Sprint(v), nil
	case map[string]any:
		if len(v) != 1 {
			break
		}
		if r, ok := v["Ref"].(string); ok {
			switch r {
			case "AWS::Region":
				return Region, nil
			case "AWS::AccountId":
				return Account, nil
			case "AWS::Partition":
				return "aws", nil
			case "AWS::URLSuffix":
				return "amazonaws.com", nil
			case "AWS::StackName":
				return "Iris", nil
			}
			return look(r, "")
		}
		if g, ok := v["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			id, _ := g[0].(string)
			attr, _ := g[1].(string)
			return look(id, attr)
		}
		if j, ok := v["Fn::Join"].([]any); ok && len(j) == 2 {
			sep, _ := j[0].(string)
			parts, _ := j[1].([]any)
			out := make([]string, 0, len(parts))
			for _, p := range parts {
				s, err := Resolve(p, look)
				if err != nil {
					return "", err
				}
				out = append(out, s)
			}
			return strings.Join(out, sep), nil
		}
		if s, ok := v["Fn::Select"].([]any); ok && len(s) == 2 {
			idx, err := Resolve(s[0], look)
			if err != nil {
				return "", err
			}
			list, err := resolveList(s[1], look)
			if err != nil {
				return "", err
			}
			var i int
			if _, err := fmt.Sscan(idx, &i); err != nil || i < 0 || i >= len(list) {
				return "", fmt.Errorf("Fn::Select index %s of %d", idx, len(list))
			}
			return list[i], nil
		}
	}
	b, _ := json.Marshal(v)
	return "", fmt.Errorf("cannot resolve %s", b)
}

func resolveList(v any, look Lookup) ([]string, error) {
	if m, ok := v.(map[string]any); ok {
		if s, ok := m["Fn::Split"].([]any); ok && len(s) == 2 {
			sep, _ := s[0].(string)
			whole, err := Resolve(s[1], look)
			if err != nil {
				return nil, err
			}
			return strings.Split(whole, sep), nil
		}
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("not a list: %v", v)
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, err := Resolve(e, look)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// refID is the logical id a Ref or Fn::GetAtt names ("" otherwise).
func refID(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if r, ok := m["Ref"].(string); ok {
		return r
	}
	if g, ok := m["Fn::GetAtt"].([]any); ok && len(g) == 2 {
		s, _ := g[0].(string)
		return s
	}
	return ""
}

// Model is the deployment as the template wires it.
type Model struct {
	Buckets   []BucketSpec
	Queues    map[string]*QueueSpec // by logical id
	Functions map[string]*FunctionSpec
	Mappings  []MappingSpec
	Rules     []RuleSpec
	Table     TableSpec
	Endpoint  EndpointSpec
	API       APISpec
	Site      *SiteSpec // nil when the stack serves no web app
	Identity  IdentitySpec
}

// BucketSpec is an S3 bucket.
type BucketSpec struct {
	ID          string
	EventBridge bool       // notifications go to EventBridge
	CORS        []CORSRule // the bucket's CORS configuration, unresolved
}

// QueueSpec is an SQS queue.
type QueueSpec struct {
	ID              string
	Visibility      time.Duration
	DLQ             string // logical id of the dead-letter queue
	MaxReceiveCount int
}

// FunctionSpec is a Lambda function.
type FunctionSpec struct {
	ID          string
	Name        string // ingest, dispatch, mesher, status, api (from the construct path)
	Env         map[string]any
	Timeout     time.Duration
	MemoryMB    int
	Runtime     string
	DLQ         string // the asynchronous invocations' dead-letter queue
	Retries     int    // asynchronous retries (Lambda's default 2)
	MaxEventAge time.Duration
}

// MappingSpec is an SQS event source mapping.
type MappingSpec struct {
	Queue, Function        string
	BatchSize              int
	ReportBatchItemFailure bool
	MaxConcurrency         int
	MaxBatchingWindow      time.Duration
}

// RuleSpec is an EventBridge rule.
type RuleSpec struct {
	ID          string
	Description string
	PatternRaw  any              // the template's pattern, with its references
	Pattern     *pattern.Pattern // compiled by Compile; nil for a schedule
	PatternJSON string
	Schedule    time.Duration // rate(...) rules
	Targets     []TargetSpec
}

// TargetSpec is a rule's target.
type TargetSpec struct {
	Resource string // logical id of the function or queue
	Lambda   bool
	Retries  int
	MaxAge   time.Duration
	DLQ      string
}

// TableSpec is the DynamoDB table.
type TableSpec struct {
	ID    string
	Props map[string]any
	TTL   string // the TTL attribute
}

// EndpointSpec is the SageMaker asynchronous endpoint.
type EndpointSpec struct {
	ID, ConfigID   string
	OutputPath     any // s3:// URIs, unresolved
	FailurePath    any
	ErrorTopic     string
	MaxConcurrency int
}

// APISpec is the HTTP API.
type APISpec struct {
	ID     string
	Routes []RouteSpec
	Cors   map[string]any
}

// RouteSpec is one route of the HTTP API.
type RouteSpec struct {
	Method, Path string // "ANY" and "$default" as API Gateway spells them
	Function     string // the integration's function
	JWT          *JWTSpec
}

// JWTSpec is a JWT authorizer as the template configures it.
type JWTSpec struct {
	ID             string
	IdentitySource string
	Issuer         any
	Audience       []any
}

var functionID = regexp.MustCompile(`^([A-Z][A-Za-z]*)Function[0-9A-F]{8}$`)

// Model reads the deployment's wiring from the template.
func (t *Template) Model() (*Model, error) {
	m := &Model{Queues: map[string]*QueueSpec{}, Functions: map[string]*FunctionSpec{}}
	for _, id := range t.of("AWS::S3::Bucket") {
		m.Buckets = append(m.Buckets, BucketSpec{ID: id, CORS: corsRules(t.Resources[id].Properties)})
	}
	for _, id := range t.of("Custom::S3BucketNotifications") {
		p := t.Resources[id].Properties
		nc, _ := p["NotificationConfiguration"].(map[string]any)
		if _, ok := nc["EventBridgeConfiguration"]; !ok {
			continue
		}
		b := refID(p["BucketName"])
		for i := range m.Buckets {
			if m.Buckets[i].ID == b {
				m.Buckets[i].EventBridge = true
			}
		}
	}
	for _, id := range t.of("AWS::SQS::Queue") {
		p := t.Resources[id].Properties
		q := &QueueSpec{ID: id, Visibility: seconds(p["VisibilityTimeout"], 30)}
		if rp, ok := p["RedrivePolicy"].(map[string]any); ok {
			q.DLQ = refID(rp["deadLetterTargetArn"])
			q.MaxReceiveCount = int(num(rp["maxReceiveCount"]))
		}
		m.Queues[id] = q
	}
	for _, id := range t.of("AWS::Lambda::Function") {
		r := t.Resources[id]
		p := r.Properties
		// The construct id names the function: IngestFunction4B2F2EB2
		// (the id and the CDK's hash of its path) is ingest.
		name := ""
		if mm := functionID.FindStringSubmatch(id); mm != nil {
			name = strings.ToLower(mm[1])
		}
		f := &FunctionSpec{ID: id, Name: name, Timeout: seconds(p["Timeout"], 3), MemoryMB: int(num(p["MemorySize"])),
			Runtime: fmt.Sprint(p["Runtime"]), Retries: 2, MaxEventAge: 6 * time.Hour}
		if f.MemoryMB == 0 {
			f.MemoryMB = 128
		}
		if env, ok := p["Environment"].(map[string]any); ok {
			f.Env, _ = env["Variables"].(map[string]any)
		}
		if d, ok := p["DeadLetterConfig"].(map[string]any); ok {
			f.DLQ = refID(d["TargetArn"])
		}
		m.Functions[id] = f
	}
	for _, id := range t.of("AWS::Lambda::EventInvokeConfig") {
		p := t.Resources[id].Properties
		f := m.Functions[refID(p["FunctionName"])]
		if f == nil {
			return nil, fmt.Errorf("template: %s configures an unknown function", id)
		}
		if v, ok := p["MaximumRetryAttempts"]; ok {
			f.Retries = int(num(v))
		}
		if v, ok := p["MaximumEventAgeInSeconds"]; ok {
			f.MaxEventAge = seconds(v, 0)
		}
	}
	for _, id := range t.of("AWS::Lambda::EventSourceMapping") {
		p := t.Resources[id].Properties
		ms := MappingSpec{Queue: refID(p["EventSourceArn"]), Function: refID(p["FunctionName"]), BatchSize: int(num(p["BatchSize"]))}
		if ms.BatchSize == 0 {
			ms.BatchSize = 10
		}
		for _, rt := range list(p["FunctionResponseTypes"]) {
			ms.ReportBatchItemFailure = ms.ReportBatchItemFailure || rt == "ReportBatchItemFailures"
		}
		if sc, ok := p["ScalingConfig"].(map[string]any); ok {
			ms.MaxConcurrency = int(num(sc["MaximumConcurrency"]))
		}
		ms.MaxBatchingWindow = seconds(p["MaximumBatchingWindowInSeconds"], 0)
		if m.Queues[ms.Queue] == nil || m.Functions[ms.Function] == nil {
			return nil, fmt.Errorf("template: event source mapping %s joins %q and %q, not a queue and a function", id, ms.Queue, ms.Function)
		}
		m.Mappings = append(m.Mappings, ms)
	}
	for _, id := range t.of("AWS::Events::Rule") {
		p := t.Resources[id].Properties
		if st, ok := p["State"].(string); ok && st != "ENABLED" {
			continue
		}
		r := RuleSpec{ID: id}
		r.Description, _ = p["Description"].(string)
		r.PatternRaw = p["EventPattern"]
		if se, ok := p["ScheduleExpression"].(string); ok {
			d, err := rate(se)
			if err != nil {
				return nil, fmt.Errorf("template: rule %s: %w", id, err)
			}
			r.Schedule = d
		}
		for _, tv := range list(p["Targets"]) {
			tm, _ := tv.(map[string]any)
			ts := TargetSpec{Resource: refID(tm["Arn"]), Retries: 185, MaxAge: 24 * time.Hour}
			if _, ok := m.Functions[ts.Resource]; ok {
				ts.Lambda = true
			} else if _, ok := m.Queues[ts.Resource]; !ok {
				return nil, fmt.Errorf("template: rule %s targets %q, neither a function nor a queue of the stack", id, ts.Resource)
			}
			if rp, ok := tm["RetryPolicy"].(map[string]any); ok {
				ts.Retries = int(num(rp["MaximumRetryAttempts"]))
				ts.MaxAge = seconds(rp["MaximumEventAgeInSeconds"], 86400)
			}
			if d, ok := tm["DeadLetterConfig"].(map[string]any); ok {
				ts.DLQ = refID(d["Arn"])
			}
			if _, ok := tm["InputTransformer"]; ok {
				return nil, fmt.Errorf("template: rule %s target %s has an input transformer, which cloudlocal does not apply", id, ts.Resource)
			}
			r.Targets = append(r.Targets, ts)
		}
		m.Rules = append(m.Rules, r)
	}
	tables := append(t.of("AWS::DynamoDB::GlobalTable"), t.of("AWS::DynamoDB::Table")...)
	if len(tables) != 1 {
		return nil, fmt.Errorf("template: %d DynamoDB tables, want 1", len(tables))
	}
	m.Table = TableSpec{ID: tables[0], Props: t.Resources[tables[0]].Properties}
	if ttl, ok := m.Table.Props["TimeToLiveSpecification"].(map[string]any); ok && ttl["Enabled"] == true {
		m.Table.TTL, _ = ttl["AttributeName"].(string)
	}
	if err := t.endpoint(m); err != nil {
		return nil, err
	}
	if err := t.api(m); err != nil {
		return nil, err
	}
	if err := t.site(m); err != nil {
		return nil, err
	}
	return m, nil
}

func (t *Template) endpoint(m *Model) error {
	eps := t.of("AWS::SageMaker::Endpoint")
	if len(eps) != 1 {
		return fmt.Errorf("template: %d SageMaker endpoints, want 1", len(eps))
	}
	cfgID := refID(t.Resources[eps[0]].Properties["EndpointConfigName"])
	cfg, ok := t.Resources[cfgID]
	if !ok {
		return fmt.Errorf("template: endpoint %s names no endpoint config", eps[0])
	}
	async, _ := cfg.Properties["AsyncInferenceConfig"].(map[string]any)
	out, _ := async["OutputConfig"].(map[string]any)
	if out == nil {
		return fmt.Errorf("template: endpoint config %s is not asynchronous", cfgID)
	}
	e := EndpointSpec{ID: eps[0], ConfigID: cfgID, OutputPath: out["S3OutputPath"], FailurePath: out["S3FailurePath"], MaxConcurrency: 1}
	if nc, ok := out["NotificationConfig"].(map[string]any); ok {
		e.ErrorTopic = refID(nc["ErrorTopic"])
	}
	if cc, ok := async["ClientConfig"].(map[string]any); ok {
		if n := int(num(cc["MaxConcurrentInvocationsPerInstance"])); n > 0 {
			e.MaxConcurrency = n
		}
	}
	m.Endpoint = e
	return nil
}

func (t *Template) api(m *Model) error {
	apis := t.of("AWS::ApiGatewayV2::Api")
	if len(apis) != 1 {
		return fmt.Errorf("template: %d HTTP APIs, want 1", len(apis))
	}
	m.API.ID = apis[0]
	m.API.Cors, _ = t.Resources[apis[0]].Properties["CorsConfiguration"].(map[string]any)
	for _, id := range t.of("AWS::ApiGatewayV2::Route") {
		p := t.Resources[id].Properties
		key, _ := p["RouteKey"].(string)
		method, rpath, ok := strings.Cut(key, " ")
		if !ok {
			method, rpath = "ANY", key // $default
		}
		rs := RouteSpec{Method: method, Path: rpath}
		integ := ""
		if target, ok := p["Target"].(map[string]any); ok {
			if j, ok := target["Fn::Join"].([]any); ok && len(j) == 2 {
				for _, part := range list(j[1]) {
					if id := refID(part); id != "" {
						integ = id
					}
				}
			}
		}
		ir, ok := t.Resources[integ]
		if !ok || ir.Type != "AWS::ApiGatewayV2::Integration" {
			return fmt.Errorf("template: route %s has no integration", key)
		}
		if pf := ir.Properties["PayloadFormatVersion"]; pf != "2.0" || ir.Properties["IntegrationType"] != "AWS_PROXY" {
			return fmt.Errorf("template: route %s: integration %s is %v payload %v, want AWS_PROXY 2.0", key, integ, ir.Properties["IntegrationType"], pf)
		}
		rs.Function = refID(ir.Properties["IntegrationUri"])
		if m.Functions[rs.Function] == nil {
			return fmt.Errorf("template: route %s integrates %q, not a function of the stack", key, rs.Function)
		}
		switch p["AuthorizationType"] {
		case nil, "NONE":
		case "JWT":
			aid := refID(p["AuthorizerId"])
			a, ok := t.Resources[aid]
			if !ok {
				return fmt.Errorf("template: route %s names no authorizer", key)
			}
			jc, _ := a.Properties["JwtConfiguration"].(map[string]any)
			js := &JWTSpec{ID: aid, Issuer: jc["Issuer"], Audience: list(jc["Audience"])}
			if src := list(a.Properties["IdentitySource"]); len(src) == 1 {
				js.IdentitySource, _ = src[0].(string)
			}
			rs.JWT = js
		default:
			return fmt.Errorf("template: route %s authorization %v is not emulated", key, p["AuthorizationType"])
		}
		m.API.Routes = append(m.API.Routes, rs)
	}
	return nil
}

func list(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	}
	return []any{v}
}

func num(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case string:
		var f float64
		fmt.Sscan(v, &f)
		return f
	}
	return 0
}

func seconds(v any, def float64) time.Duration {
	if v == nil {
		return time.Duration(def * float64(time.Second))
	}
	return time.Duration(num(v) * float64(time.Second))
}

// rate parses "rate(5 minutes)".
func rate(expr string) (time.Duration, error) {
	inner, ok := strings.CutPrefix(expr, "rate(")
	inner, ok2 := strings.CutSuffix(inner, ")")
	var n int
	var unit string
	if !ok || !ok2 {
		return 0, fmt.Errorf("schedule %q: only rate() is emulated", expr)
	}
	if _, err := fmt.Sscan(inner, &n, &unit); err != nil || n < 1 {
		return 0, fmt.Errorf("schedule %q: %v", expr, err)
	}
	switch strings.TrimSuffix(unit, "s") {
	case "minute":
		return time.Duration(n) * time.Minute, nil
	case "hour":
		return time.Duration(n) * time.Hour, nil
	case "day":
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return 0, fmt.Errorf("schedule %q: unit %q", expr, unit)
}

// Compile resolves the references in the rules' patterns (the bucket's
// name) with look, and compiles them.
func (m *Model) Compile(look Lookup) error {
	for i := range m.Rules {
		r := &m.Rules[i]
		if r.PatternRaw == nil {
			continue
		}
		v, err := resolveTree(r.PatternRaw, look)
		if err != nil {
			return fmt.Errorf("rule %s: %w", r.ID, err)
		}
		raw, _ := json.Marshal(v)
		pat, err := pattern.Parse(raw)
		if err != nil {
			return fmt.Errorf("rule %s: %w", r.ID, err)
		}
		r.Pattern, r.PatternJSON = pat, string(raw)
	}
	return nil
}

// resolveTree replaces every intrinsic function in v by its value.
func resolveTree(v any, look Lookup) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 1 {
			for k := range v {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return Resolve(v, look)
				}
			}
		}
		out := map[string]any{}
		for k, e := range v {
			r, err := resolveTree(e, look)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := resolveTree(e, look)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}
