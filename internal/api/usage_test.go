package api

import (
	"context"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/cost"
	"github.com/iris-oculus/iris/internal/job"
)

// TestJobShowsUsage: a finished job's view carries its stage times, GPU
// seconds and the cost priced from the price table; a running job has
// none yet.
func TestJobShowsUsage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, created := f.do(t, "alice", "POST", "/api/jobs", `{"filename":"ct.nii.gz","bytes":100}`)
	id := created["job"].(map[string]any)["id"].(string)
	j, err := f.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	start := j.Stages[job.Created]
	rates, err := cost.Table.Rates(cost.Deployment{InstanceType: "ml.g5.xlarge", GPUsPerInstance: 1, MesherMemoryMB: 2048})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []job.Update{
		{Status: job.Accepted, At: start.Add(15 * time.Second)},
		{Status: job.Segmenting, At: start.Add(20 * time.Second)},
		{Status: job.Meshing, At: start.Add(200 * time.Second)},
	} {
		if ok, err := f.store.Advance(ctx, id, u); !ok || err != nil {
			t.Fatalf("advance to %s: %v %v", u.Status, ok, err)
		}
	}
	if _, got := f.do(t, "alice", "GET", "/api/jobs/"+id, ""); got["usage"] != nil {
		t.Errorf("a meshing job shows usage %v", got["usage"])
	}
	if ok, err := f.store.Advance(ctx, id, job.Update{Status: job.Done, At: start.Add(245 * time.Second), Rates: &rates}); !ok || err != nil {
		t.Fatalf("advance to done: %v %v", ok, err)
	}
	code, got := f.do(t, "alice", "GET", "/api/jobs/"+id, "")
	usage, _ := got["usage"].(map[string]any)
	if code != 200 || usage == nil {
		t.Fatalf("GET = %d, usage %v", code, got["usage"])
	}
	stages := usage["stageSeconds"].(map[string]any)
	want := map[string]float64{"created": 15, "accepted": 5, "segmenting": 180, "meshing": 45}
	for s, sec := range want {
		if stages[s] != sec {
			t.Errorf("stageSeconds[%s] = %v, want %v", s, stages[s], sec)
		}
	}
	if len(stages) != len(want) || usage["gpuSeconds"] != 180.0 || usage["totalSeconds"] != 245.0 || usage["lambdaGbSeconds"] != 90.0 {
		t.Errorf("usage %v; want 180 GPU seconds, 245 s in all, 45 s × 2 GB = 90 GB-s", usage)
	}
	// 180 s of ml.g5.xlarge at $1.41/h = $0.0705; 90 GB-s × $0.0000133334 = $0.00120001 → 0.0012.
	c := usage["cost"].(map[string]any)
	if c["gpu"] != 0.0705 || c["lambda"] != 0.0012 || c["total"] != 0.071701 || c["currency"] != "USD" ||
		c["instanceType"] != "ml.g5.xlarge" || c["pricesReadOn"] != cost.Table.ReadOn {
		t.Errorf("cost %v", c)
	}
}
