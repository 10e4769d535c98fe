package pattern_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/local/pattern"
)

// docEvent is the example event of AWS's "Content filtering in Amazon
// EventBridge event patterns" page (EC2 state change), with the extra
// fields that page's examples filter on.
const docEvent = `{
  "version": "0",
  "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "EC2 Instance State-change Notification",
  "source": "aws.ec2",
  "account": "111122223333",
  "time": "2017-12-22T18:43:48Z",
  "region": "us-west-1",
  "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
  "detail": {
    "instance-id": "i-1234567890abcdef0",
    "state": "terminated",
    "c-count": 5,
    "d-count": 3,
    "x-limit": 301.8,
    "source-ip": "10.0.0.123",
    "FileName": "image.PNG",
    "location": "eu-west",
    "Filepath": "dir/sub/lib/file.txt"
  }
}`

// TestPatternDocExamples: the examples of AWS's content-filtering page that
// use what this package supports.
func TestPatternDocExamples(t *testing.T) {
	tests := []struct {
		name, pattern string
		want          bool
	}{
		{"exact source", `{"source":["aws.ec2"]}`, true},
		{"exact miss", `{"source":["aws.s3"]}`, false},
		{"or of values", `{"source":["aws.s3","aws.ec2"]}`, true},
		{"nested exact", `{"detail":{"state":["terminated"]}}`, true},
		{"and across fields", `{"source":["aws.ec2"],"detail":{"state":["running"]}}`, false},
		{"prefix time", `{"time":[{"prefix":"2017-12-22"}]}`, true},
		{"prefix miss", `{"time":[{"prefix":"2018"}]}`, false},
		{"prefix is case sensitive", `{"detail":{"FileName":[{"prefix":"IMAGE"}]}}`, false},
		{"prefix on a number", `{"detail":{"c-count":[{"prefix":"5"}]}}`, false},
		{"exact number", `{"detail":{"c-count":[5],"x-limit":[301.8]}}`, true},
		{"number by value", `{"detail":{"c-count":[5.0]}}`, true},
		{"number miss", `{"detail":{"c-count":[6]}}`, false},
		{"number is not a string", `{"detail":{"c-count":["5"]}}`, false},
		{"array in event", `{"resources":["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"]}`, true},
		{"prefix on array", `{"resources":[{"prefix":"arn:aws:ec2"}]}`, true},
		{"absent field", `{"detail":{"nope":["x"]}}`, false},
		{"absent nested object", `{"detail":{"nested":{"x":["y"]}}}`, false},
		{"object where a value is", `{"detail":{"state":{"x":["y"]}}}`, false},
		{"null value", `{"detail":{"nope":[null]}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := pattern.Parse([]byte(tt.pattern))
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Match([]byte(docEvent))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPatternRejects: malformed patterns, and every part of EventBridge's
// language this package does not implement, fail at load.
func TestPatternRejects(t *testing.T) {
	for _, p := range []string{
		`not json`,
		`null`,
		`{"source":"aws.ec2"}`,
		`{"source":[]}`,
		`{"source":[["nested"]]}`,
		`{"source":[{"prefix":1}]}`,
		`{"source":[{"prefix":"a","suffix":"b"}]}`,
		`{"source":[{"bogus":"x"}]}`,
		`{"detail":{"FileName":[{"suffix":".PNG"}]}}`,
		`{"detail":{"FileName":[{"prefix":{"equals-ignore-case":"IMAGE"}}]}}`,
		`{"detail":{"state":[{"equals-ignore-case":"TERMINATED"}]}}`,
		`{"detail":{"state":[{"anything-but":"initializing"}]}}`,
		`{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}]}}`,
		`{"detail":{"state":[{"exists":true}]}}`,
		`{"detail":{"source-ip":[{"cidr":"10.0.0.0/24"}]}}`,
		`{"detail":{"Filepath":[{"wildcard":"dir/*/lib/*.txt"}]}}`,
		`{"detail":{"$or":[{"c-count":[5]},{"d-count":[3]}]}}`,
	} {
		if _, err := pattern.Parse([]byte(p)); err == nil {
			t.Errorf("Parse(%s) accepted it", p)
		}
	}
}

func TestPatternRejectsBadEvents(t *testing.T) {
	p := pattern.Must(map[string]any{"source": []any{"x"}})
	if _, err := p.Match([]byte(`{"source":`)); err == nil {
		t.Error("a truncated event matched without error")
	}
	if ok, err := p.Match([]byte(`["x"]`)); ok || err != nil {
		t.Errorf("an array event: %v, %v", ok, err)
	}
}

// s3Event is an S3 "Object Created" event as EventBridge delivers it (AWS
// S3 user guide, "EventBridge message structure").
func s3Event(bucket, key string) []byte {
	var d events.S3Object
	d.Version = "0"
	d.Bucket.Name = bucket
	d.Object.Key = key
	d.Object.Size = 5
	d.Object.ETag = "b1946ac92492d2347c6235b4d2611184"
	d.Reason = "PutObject"
	b, _ := json.Marshal(d)
	ev := map[string]any{"version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": events.ObjectCreated,
		"source": events.SourceS3, "account": "123456789012", "time": "2021-11-12T00:00:00Z", "region": "ca-central-1",
		"resources": []string{"arn:aws:s3:::" + bucket}, "detail": json.RawMessage(b)}
	out, _ := json.Marshal(ev)
	return out
}

// TestRulesRouteTheLayout: the routing table (events.Rules) sends each
// object of the bucket layout, and each pipeline event, where it belongs.
func TestRulesRouteTheLayout(t *testing.T) {
	rules := events.Rules("iris-bucket")
	route := func(ev []byte) []string {
		var targets []string
		for _, r := range rules {
			ok, err := pattern.Must(r.Pattern).Match(ev)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				targets = append(targets, r.Target)
			}
		}
		return targets
	}
	pipeline := func(dt string) []byte {
		e, err := events.New("1", dt, events.Failure{JobID: "job123"}, time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(e)
		return b
	}
	tests := []struct {
		name string
		ev   []byte
		want string
	}{
		{"upload", s3Event("iris-bucket", "uploads/job123/ct.nii.gz"), events.TargetIngest},
		{"bare drop", s3Event("iris-bucket", "uploads/ct.nii.gz"), events.TargetIngest},
		{"segmentation", s3Event("iris-bucket", "segmentations/job123/labels.nii.gz"), events.TargetMesher + "," + events.TargetStatus},
		{"segmentation failure", s3Event("iris-bucket", "segmentation-failures/job123/error.json"), events.TargetStatus},
		{"volume written", s3Event("iris-bucket", "volumes/job123/ct.nii.gz"), ""},
		{"results written", s3Event("iris-bucket", "results/job123/manifest.json"), ""},
		{"other bucket", s3Event("other", "uploads/job123/ct.nii.gz"), ""},
		{"accepted", pipeline(events.JobAccepted), events.TargetStatus},
		{"ready", pipeline(events.MeshesReady), events.TargetStatus},
		{"failed", pipeline(events.JobFailed), events.TargetStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(route(tt.ev), ",")
			if got != tt.want {
				t.Errorf("routed to %v, want %q", got, tt.want)
			}
		})
	}
}
