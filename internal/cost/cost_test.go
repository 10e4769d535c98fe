package cost_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/cost"
	"github.com/iris-oculus/iris/internal/job"
)

// finished drives a job through the pipeline with Apply, as the stores
// do: 20 s to upload, 10 s in the jobs queue, 300 s segmenting, 60 s
// meshing.
func finished(t *testing.T, r *job.Rates) job.Job {
	t.Helper()
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	j := job.Job{ID: "job-c00001", Status: job.Created, CreatedAt: t0, UpdatedAt: t0, Stages: map[job.Status]time.Time{job.Created: t0}}
	for _, u := range []job.Update{
		{Status: job.Accepted, At: t0.Add(20 * time.Second)},
		{Status: job.Segmenting, At: t0.Add(30 * time.Second)},
		{Status: job.Meshing, At: t0.Add(330 * time.Second)},
		{Status: job.Done, At: t0.Add(390 * time.Second), Rates: r},
	} {
		var ok bool
		if j, ok = job.Apply(j, u); !ok {
			t.Fatalf("Apply(%s) refused", u.Status)
		}
		if !u.Status.Terminal() && j.Usage != nil {
			t.Fatalf("usage set at %s, before the job ended", u.Status)
		}
	}
	if j.Usage == nil {
		t.Fatal("a done job has no usage")
	}
	return j
}

// TestEstimateFromTable: a job's cost is its GPU seconds at the table's
// instance price, its mesher GB-seconds at Lambda's and its invocations,
// each worked out here by hand from the table's numbers.
func TestEstimateFromTable(t *testing.T) {
	r, err := cost.Table.Rates(cost.Deployment{InstanceType: "ml.g5.xlarge", GPUsPerInstance: 1, MesherMemoryMB: 3008})
	if err != nil {
		t.Fatal(err)
	}
	u := finished(t, &r).Usage
	wantStages := map[job.Status]float64{job.Created: 20, job.Accepted: 10, job.Segmenting: 300, job.Meshing: 60}
	for s, want := range wantStages {
		if u.StageSeconds[s] != want {
			t.Errorf("%s took %v s, want %v", s, u.StageSeconds[s], want)
		}
	}
	if len(u.StageSeconds) != len(wantStages) || u.TotalSeconds != 390 || u.GPUSeconds != 300 {
		t.Errorf("stages %v, total %v s, GPU %v s; want 4 stages, 390 s, 300 s", u.StageSeconds, u.TotalSeconds, u.GPUSeconds)
	}
	// 60 s × 3008/1024 GB = 176.25 GB-s.
	if u.LambdaGBSeconds != 176.25 {
		t.Errorf("Lambda %v GB-s, want 176.25", u.LambdaGBSeconds)
	}
	// GPU: 300 s × $1.41/h = $0.1175. Lambda: 176.25 × $0.0000133334 =
	// $0.00235001, to the millionth $0.00235. Requests: 7 × $0.0000002 =
	// $0.0000014, to the millionth $0.000001.
	want := job.Cost{GPU: 0.1175, Lambda: 0.00235, Requests: 0.000001, Total: 0.119851, Currency: "USD",
		InstanceType: "ml.g5.xlarge", PricesReadOn: cost.Table.ReadOn}
	if u.Cost != want {
		t.Errorf("cost %+v\nwant %+v", u.Cost, want)
	}

	// Two GPUs per instance: the job pays for half the instance.
	r2, _ := cost.Table.Rates(cost.Deployment{InstanceType: "ml.g5.xlarge", GPUsPerInstance: 2, MesherMemoryMB: 3008})
	if got := finished(t, &r2).Usage.Cost.GPU; got != 0.05875 {
		t.Errorf("GPU cost with 2 GPUs per instance %v, want 0.05875", got)
	}
}

// TestNoRatesCostsNothing: iris serve ends jobs without rates: the times
// are measured, every cost is zero.
func TestNoRatesCostsNothing(t *testing.T) {
	u := finished(t, nil).Usage
	if u.GPUSeconds != 300 || u.StageSeconds[job.Meshing] != 60 {
		t.Errorf("GPU %v s, meshing %v s; want 300, 60", u.GPUSeconds, u.StageSeconds[job.Meshing])
	}
	if u.Cost != (job.Cost{Currency: "USD"}) {
		t.Errorf("cost %+v, want zero", u.Cost)
	}
}

func TestRatesErrors(t *testing.T) {
	for _, d := range []cost.Deployment{
		{InstanceType: "ml.p5.48xlarge", GPUsPerInstance: 8, MesherMemoryMB: 3008},
		{InstanceType: "ml.g5.xlarge", GPUsPerInstance: 0, MesherMemoryMB: 3008},
	} {
		r, err := cost.Table.Rates(d)
		if err == nil || r.GPUSecond != 0 {
			t.Errorf("%+v: rates %+v, err %v; want an error and no GPU price", d, r, err)
		}
	}
	if _, err := cost.Table.Rates(cost.Deployment{InstanceType: "ml.p5.48xlarge", GPUsPerInstance: 8}); err == nil || !strings.Contains(err.Error(), "ml.p5.48xlarge") {
		t.Errorf("error %v does not name the instance type", err)
	}
}

// TestReadmeShowsTable: infra/README.md's cost section prints this very
// table, so a price changed here and not there fails.
func TestReadmeShowsTable(t *testing.T) {
	raw, err := os.ReadFile("../../infra/README.md")
	if err != nil {
		t.Fatal(err)
	}
	if md := cost.Table.Markdown(); !strings.Contains(string(raw), md) {
		t.Errorf("infra/README.md does not hold the price table; paste:\n%s", md)
	}
	for _, s := range []string{"ml.g5.xlarge", "GB-second", cost.Table.ReadOn} {
		if !strings.Contains(cost.Table.Markdown(), s) {
			t.Errorf("the table's Markdown lacks %q", s)
		}
	}
}
