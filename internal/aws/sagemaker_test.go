package aws

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/aws/awstest"
)

// fakeSageMaker answers InvokeEndpointAsync (REST JSON) for endpoint
// "ct-seg" as SageMaker does: 202, the locations in headers and the
// inference id in the body. The output key is S3OutputPath, the path
// extension and the file name joined, plus suffix (to stand for
// whatever SageMaker may append); other endpoints are not found.
func fakeSageMaker(t *testing.T, suffix string) (*sagemakerruntime.Client, func() []*http.Request) {
	var mu sync.Mutex
	var reqs []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, r.Clone(context.Background()))
		mu.Unlock()
		fail := func(status int, code, msg string) {
			w.Header().Set("X-Amzn-ErrorType", code)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]string{"message": msg})
		}
		switch {
		case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="):
			fail(http.StatusForbidden, "MissingAuthenticationTokenException", "not signed")
		case r.Method != http.MethodPost || r.URL.Path != "/endpoints/ct-seg/async-invocations":
			fail(http.StatusBadRequest, "ValidationError", "Endpoint "+strings.Split(r.URL.Path, "/")[2]+" of account 100010001000 not found.")
		case len(body) != 0 || r.Header.Get("X-Amzn-SageMaker-InputLocation") == "":
			fail(http.StatusBadRequest, "ValidationError", "InputLocation is required")
		default:
			id := r.Header.Get("X-Amzn-SageMaker-Inference-Id")
			ext, file := r.Header.Get("X-Amzn-SageMaker-S3OutputPathExtension"), r.Header.Get("X-Amzn-SageMaker-Filename")
			w.Header().Set("X-Amzn-SageMaker-OutputLocation", "s3://iris-bucket/segmentations/"+ext+"/"+file+suffix)
			w.Header().Set("X-Amzn-SageMaker-FailureLocation", "s3://iris-bucket/segmentation-failures/"+ext+"/"+file+suffix)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			json.NewEncoder(w).Encode(map[string]string{"InferenceId": id})
		}
	}))
	t.Cleanup(srv.Close)
	client := sagemakerruntime.New(sagemakerruntime.Options{Region: awstest.Region, BaseEndpoint: awssdk.String(srv.URL), Credentials: awstest.Credentials()})
	return client, func() []*http.Request { mu.Lock(); defer mu.Unlock(); return append([]*http.Request(nil), reqs...) }
}

func TestSageMakerSegmenterStart(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, suffix string
		cfg          SageMakerConfig
		headers      map[string]string
	}{
		{"defaults", "", SageMakerConfig{Endpoint: "ct-seg", Bucket: "iris-bucket"}, map[string]string{
			"X-Amzn-SageMaker-Content-Type":             "application/octet-stream",
			"X-Amzn-SageMaker-InvocationTimeoutSeconds": "",
			"X-Amzn-SageMaker-RequestTTLSeconds":        "",
		}},
		// Should SageMaker append to the name, Start reports where the
		// output really goes.
		{"timeouts, suffixed output", ".out", SageMakerConfig{Endpoint: "ct-seg", Bucket: "iris-bucket", InvocationTimeout: time.Hour, RequestTTL: 6 * time.Hour}, map[string]string{
			"X-Amzn-SageMaker-InvocationTimeoutSeconds": "3600",
			"X-Amzn-SageMaker-RequestTTLSeconds":        "21600",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, reqs := fakeSageMaker(t, tc.suffix)
			job := "job-sm00001"
			st, err := NewSageMakerSegmenter(client, tc.cfg).Start(ctx, job, events.VolumeKey(job))
			if err != nil {
				t.Fatal(err)
			}
			want := events.Started{
				JobID:           job,
				InferenceID:     job,
				OutputLocation:  "s3://iris-bucket/" + events.SegmentationKey(job) + tc.suffix,
				FailureLocation: "s3://iris-bucket/" + events.SegmentationFailurePrefix(job) + events.SegmentationFile + tc.suffix,
				Engine:          EngineSageMaker,
			}
			if st != want {
				t.Errorf("Start = %+v\nwant    %+v", st, want)
			}
			rs := reqs()
			if len(rs) != 1 {
				t.Fatalf("%d requests, want 1", len(rs))
			}
			h := rs[0].Header
			sent := map[string]string{
				"X-Amzn-SageMaker-InputLocation":         "s3://iris-bucket/volumes/job-sm00001/ct.nii.gz",
				"X-Amzn-SageMaker-Inference-Id":          job,
				"X-Amzn-SageMaker-S3OutputPathExtension": job,
				"X-Amzn-SageMaker-Filename":              "labels.nii.gz",
			}
			for k, v := range tc.headers {
				sent[k] = v
			}
			for k, v := range sent {
				if got := h.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(h.Get("Authorization"), "/sagemaker/aws4_request") {
				t.Errorf("not signed for sagemaker: %s", h.Get("Authorization"))
			}
		})
	}
}

func TestSageMakerSegmenterRefuses(t *testing.T) {
	ctx := context.Background()
	client, reqs := fakeSageMaker(t, "")
	s := NewSageMakerSegmenter(client, SageMakerConfig{Endpoint: "ct-seg", Bucket: "iris-bucket"})
	if _, err := s.Start(ctx, "../etc", events.VolumeKey("job-sm00002")); err == nil {
		t.Error("a bad job id was sent")
	}
	if _, err := s.Start(ctx, "job-sm00002", ""); err == nil {
		t.Error("an empty input key was sent")
	}
	if n := len(reqs()); n != 0 {
		t.Errorf("%d requests for refused input", n)
	}
	missing := NewSageMakerSegmenter(client, SageMakerConfig{Endpoint: "no-endpoint", Bucket: "iris-bucket"})
	_, err := missing.Start(ctx, "job-sm00003", events.VolumeKey("job-sm00003"))
	if err == nil || !strings.Contains(err.Error(), "no-endpoint") || !strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), "job-sm00003") {
		t.Errorf("Start on a missing endpoint = %v; want SageMaker's error naming endpoint and job", err)
	}
}
