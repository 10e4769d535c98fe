package endpoint

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/iris-oculus/iris/internal/aws/awstest"
)

// fakeAWS serves DescribeEndpoint for "ct-seg" (state, counts) and a
// scalable target for its AllTraffic variant (if registered), which
// RegisterScalableTarget updates, as SageMaker and Application Auto
// Scaling answer them over the AWS JSON protocol.
type fakeAWS struct {
	mu         sync.Mutex
	state      string
	current    int32
	desired    int32
	registered bool
	min, max   int32

	sm, as *awstest.JSONAPI
}

// with runs fn under the fake's lock, as the servers' goroutines read it.
func (f *fakeAWS) with(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

const resourceID = "endpoint/ct-seg/variant/AllTraffic"

func startFake(t *testing.T, f *fakeAWS) *Control {
	f.sm = awstest.StartJSONAPI(t, map[string]awstest.Handler{
		"SageMaker.DescribeEndpoint": func(body json.RawMessage) (any, *awstest.APIError) {
			var in struct{ EndpointName string }
			json.Unmarshal(body, &in)
			if in.EndpointName != "ct-seg" {
				return nil, &awstest.APIError{Status: 400, Code: "ValidationException", Message: "Could not find endpoint \"" + in.EndpointName + "\"."}
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			return map[string]any{
				"EndpointName": "ct-seg", "EndpointArn": "arn:aws:sagemaker:us-east-1:100010001000:endpoint/ct-seg",
				"EndpointConfigName": "ct-seg-config", "EndpointStatus": f.state,
				"CreationTime": 1.7642304e9, "LastModifiedTime": 1.7642305e9,
				"ProductionVariants": []map[string]any{{"VariantName": "AllTraffic", "CurrentInstanceCount": f.current, "DesiredInstanceCount": f.desired}},
			}, nil
		},
	})
	check := func(in map[string]any) *awstest.APIError {
		if in["ServiceNamespace"] != "sagemaker" || in["ScalableDimension"] != "sagemaker:variant:DesiredInstanceCount" {
			return &awstest.APIError{Status: 400, Code: "ValidationException", Message: "bad namespace or dimension"}
		}
		return nil
	}
	f.as = awstest.StartJSONAPI(t, map[string]awstest.Handler{
		"AnyScaleFrontendService.DescribeScalableTargets": func(body json.RawMessage) (any, *awstest.APIError) {
			var in map[string]any
			json.Unmarshal(body, &in)
			if e := check(in); e != nil {
				return nil, e
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			targets := []map[string]any{}
			if ids, _ := in["ResourceIds"].([]any); f.registered && len(ids) == 1 && ids[0] == resourceID {
				targets = append(targets, map[string]any{"ServiceNamespace": "sagemaker", "ResourceId": resourceID,
					"ScalableDimension": "sagemaker:variant:DesiredInstanceCount", "MinCapacity": f.min, "MaxCapacity": f.max,
					"RoleARN": "arn:aws:iam::100010001000:role/scaling", "CreationTime": 1.7642304e9})
			}
			return map[string]any{"ScalableTargets": targets}, nil
		},
		"AnyScaleFrontendService.RegisterScalableTarget": func(body json.RawMessage) (any, *awstest.APIError) {
			var in map[string]any
			json.Unmarshal(body, &in)
			if e := check(in); e != nil {
				return nil, e
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if in["ResourceId"] != resourceID || !f.registered {
				return nil, &awstest.APIError{Status: 400, Code: "ValidationException", Message: "MinCapacity and MaxCapacity are required to register a new target"}
			}
			if v, ok := in["MinCapacity"].(float64); ok {
				f.min = int32(v)
			}
			if v, ok := in["MaxCapacity"].(float64); ok {
				f.max = int32(v)
			}
			return map[string]any{"ScalableTargetARN": "arn:aws:application-autoscaling:us-east-1:100010001000:scalable-target/x"}, nil
		},
	})
	sm := sagemaker.New(sagemaker.Options{Region: awstest.Region, BaseEndpoint: awssdk.String(f.sm.URL()), Credentials: awstest.Credentials()})
	as := applicationautoscaling.New(applicationautoscaling.Options{Region: awstest.Region, BaseEndpoint: awssdk.String(f.as.URL()), Credentials: awstest.Credentials()})
	return New(sm, as, "ct-seg", "")
}

func TestStatus(t *testing.T) {
	ctx := context.Background()
	f := &fakeAWS{state: "InService", current: 1, desired: 2, registered: true, min: 0, max: 3}
	c := startFake(t, f)
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Endpoint != "ct-seg" || st.State != "InService" || st.Variant != DefaultVariant || st.Instances != 1 || st.Desired != 2 ||
		st.Scaling == nil || *st.Scaling != (Scaling{Min: 0, Max: 3}) || st.Modified.Unix() != 1764230500 {
		t.Errorf("Status = %+v", st)
	}
	if s := st.String(); s != "ct-seg InService: 1 instance(s) running, 2 desired, autoscaling 0..3" {
		t.Errorf("String = %q", s)
	}
	if !strings.Contains(f.sm.Calls()[0].Header.Get("Authorization"), "/sagemaker/aws4_request") ||
		!strings.Contains(f.as.Calls()[0].Header.Get("Authorization"), "/application-autoscaling/aws4_request") {
		t.Error("requests not signed for the right services")
	}

	f.with(func() { f.registered = false })
	st, err = c.Status(ctx)
	if err != nil || st.Scaling != nil || !strings.Contains(st.String(), "no autoscaling target") {
		t.Errorf("Status without target = %+v, %v", st, err)
	}
}

func TestStartStop(t *testing.T) {
	ctx := context.Background()
	f := &fakeAWS{state: "InService", registered: true, min: 0, max: 2}
	c := startFake(t, f)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.with(func() {
		if f.min != 1 || f.max != 2 {
			t.Errorf("after Start: min %d max %d, want 1 and 2", f.min, f.max)
		}
	})
	reg := f.as.Calls()[len(f.as.Calls())-1]
	var in map[string]any
	json.Unmarshal(reg.Body, &in)
	if reg.Target != "AnyScaleFrontendService.RegisterScalableTarget" || in["ResourceId"] != resourceID || in["MaxCapacity"] != nil {
		t.Errorf("Start sent %s %s; want only MinCapacity changed", reg.Target, reg.Body)
	}
	n := len(f.as.Calls())
	if err := c.Start(ctx); err != nil || len(f.as.Calls()) != n+1 {
		t.Errorf("Start when started: %v, %d calls; want only a describe", err, len(f.as.Calls())-n)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	f.with(func() {
		if f.min != 0 || f.max != 2 {
			t.Errorf("after Stop: min %d max %d, want 0 and 2", f.min, f.max)
		}
		f.max = 0
	})
	if err := c.Start(ctx); err == nil || !strings.Contains(err.Error(), "maximum 0") {
		t.Errorf("Start with max 0 = %v", err)
	}
	f.with(func() { f.registered = false })
	if err := c.Start(ctx); err == nil || !strings.Contains(err.Error(), "no scalable target") {
		t.Errorf("Start without target = %v", err)
	}
	if _, err := New(sagemaker.New(sagemaker.Options{Region: awstest.Region, BaseEndpoint: awssdk.String(f.sm.URL()), Credentials: awstest.Credentials()}), nil, "gone", "").Status(ctx); err == nil || !strings.Contains(err.Error(), "Could not find endpoint") {
		t.Errorf("Status of a missing endpoint = %v", err)
	}
}
