package events

import (
	"encoding/json"
	"strings"
	"testing"
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
		{"prefix ignore case", `{"detail":{"FileName":[{"prefix":{"equals-ignore-case":"IMAGE"}}]}}`, true},
		{"suffix", `{"detail":{"FileName":[{"suffix":".PNG"}]}}`, true},
		{"suffix case sensitive", `{"detail":{"FileName":[{"suffix":".png"}]}}`, false},
		{"suffix ignore case", `{"detail":{"FileName":[{"suffix":{"equals-ignore-case":".png"}}]}}`, true},
		{"equals ignore case", `{"detail":{"state":[{"equals-ignore-case":"TERMINATED"}]}}`, true},
		{"anything-but string", `{"detail":{"state":[{"anything-but":"initializing"}]}}`, true},
		{"anything-but hit", `{"detail":{"state":[{"anything-but":"terminated"}]}}`, false},
		{"anything-but list", `{"detail":{"state":[{"anything-but":["stopped","overloaded"]}]}}`, true},
		{"anything-but number", `{"detail":{"c-count":[{"anything-but":5}]}}`, false},
		{"anything-but prefix", `{"detail":{"state":[{"anything-but":{"prefix":"term"}}]}}`, false},
		{"anything-but suffix", `{"detail":{"FileName":[{"anything-but":{"suffix":".txt"}}]}}`, true},
		{"anything-but absent field", `{"detail":{"nope":[{"anything-but":"x"}]}}`, false},
		{"numeric range", `{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}],"d-count":[{"numeric":["<",10]}],"x-limit":[{"numeric":["=",301.8]}]}}`, true},
		{"numeric out of range", `{"detail":{"c-count":[{"numeric":[">",5]}]}}`, false},
		{"numeric on string", `{"detail":{"state":[{"numeric":[">",0]}]}}`, false},
		{"exists true", `{"detail":{"state":[{"exists":true}]}}`, true},
		{"exists false", `{"detail":{"nope":[{"exists":false}]}}`, true},
		{"exists false but present", `{"detail":{"state":[{"exists":false}]}}`, false},
		{"exists false under missing object", `{"detail":{"nested":{"x":[{"exists":false}]}}}`, true},
		{"cidr", `{"detail":{"source-ip":[{"cidr":"10.0.0.0/24"}]}}`, true},
		{"cidr miss", `{"detail":{"source-ip":[{"cidr":"10.0.1.0/24"}]}}`, false},
		{"wildcard", `{"detail":{"Filepath":[{"wildcard":"dir/*/lib/*.txt"}]}}`, true},
		{"wildcard miss", `{"detail":{"Filepath":[{"wildcard":"dir/*/bin/*"}]}}`, false},
		{"array in event", `{"resources":["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"]}`, true},
		{"prefix on array", `{"resources":[{"prefix":"arn:aws:ec2"}]}`, true},
		{"$or", `{"detail":{"$or":[{"c-count":[{"numeric":[">",10]}]},{"d-count":[{"numeric":["<",5]}]}]}}`, true},
		{"$or none", `{"detail":{"$or":[{"c-count":[{"numeric":[">",10]}]},{"d-count":[{"numeric":[">",5]}]}]}}`, false},
		{"null value", `{"detail":{"nope":[null]}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePattern([]byte(tt.pattern))
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

func TestPatternRejectsMalformed(t *testing.T) {
	for _, p := range []string{
		`not json`,
		`{"source":"aws.ec2"}`,
		`{"source":[]}`,
		`{"source":[{"prefix":1}]}`,
		`{"source":[{"bogus":"x"}]}`,
		`{"detail":{"n":[{"numeric":[">"]}]}}`,
		`{"detail":{"n":[{"numeric":["~",1]}]}}`,
		`{"detail":{"ip":[{"cidr":"nonsense"}]}}`,
		`{"detail":{"x":[{"exists":"yes"}]}}`,
		`{"$or":[{"a":["b"]}]}`,
	} {
		if _, err := ParsePattern([]byte(p)); err == nil {
			t.Errorf("ParsePattern(%s) accepted a malformed pattern", p)
		}
	}
}

// s3Event is an S3 "Object Created" event as EventBridge delivers it (AWS
// S3 user guide, "EventBridge message structure").
func s3Event(bucket, key string) []byte {
	var d S3Object
	d.Version = "0"
	d.Bucket.Name = bucket
	d.Object.Key = key
	d.Object.Size = 5
	d.Object.ETag = "b1946ac92492d2347c6235b4d2611184"
	d.Reason = "PutObject"
	b, _ := json.Marshal(d)
	ev := map[string]any{"version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": ObjectCreated,
		"source": SourceS3, "account": "123456789012", "time": "2021-11-12T00:00:00Z", "region": "ca-central-1",
		"resources": []string{"arn:aws:s3:::" + bucket}, "detail": json.RawMessage(b)}
	out, _ := json.Marshal(ev)
	return out
}

func TestRulesRouteTheLayout(t *testing.T) {
	rules := Rules("iris-bucket")
	route := func(ev []byte) []string {
		var targets []string
		for _, r := range rules {
			ok, err := MustPattern(r.Pattern).Match(ev)
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
		e, err := New("1", dt, Failure{JobID: "job123"}, testTime)
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
		{"upload", s3Event("iris-bucket", "uploads/job123/ct.nii.gz"), TargetIngest},
		{"bare drop", s3Event("iris-bucket", "uploads/ct.nii.gz"), TargetIngest},
		{"segmentation", s3Event("iris-bucket", "segmentations/job123/labels.nii.gz"), TargetMesher + "," + TargetStatus},
		{"segmentation failure", s3Event("iris-bucket", "segmentation-failures/job123/error.json"), TargetStatus},
		{"volume written", s3Event("iris-bucket", "volumes/job123/ct.nii.gz"), ""},
		{"results written", s3Event("iris-bucket", "results/job123/manifest.json"), ""},
		{"other bucket", s3Event("other", "uploads/job123/ct.nii.gz"), ""},
		{"accepted", pipeline(JobAccepted), TargetStatus},
		{"ready", pipeline(MeshesReady), TargetStatus},
		{"failed", pipeline(JobFailed), TargetStatus},
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
