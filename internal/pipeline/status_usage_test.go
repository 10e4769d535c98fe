package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/job"
)

// TestStatusRecordsUsage: the job that ends, by its last event or by the
// sweep, carries its stage times, GPU seconds and a cost priced with the
// status stage's rates; without rates (iris serve) the same times, at no
// cost.
func TestStatusRecordsUsage(t *testing.T) {
	rates := &job.Rates{InstanceType: "ml.test", GPUSecond: 0.001, LambdaGBSecond: 0.00002, MesherGB: 2, Request: 0.0000002,
		RequestsPerJob: 7, Currency: "USD", PricesReadOn: "2026-12-05"}
	for _, tc := range []struct {
		name      string
		rates     *job.Rates
		lambdaGBs float64 // the mesher's memory is a rate: none without rates
		want      job.Cost
	}{
		// GPU: 1 s × 0.001; Lambda: 1 s × 2 GB × 0.00002; requests: 7 × 0.0000002 = 0.0000014 → 0.000001.
		{"priced", rates, 2, job.Cost{GPU: 0.001, Lambda: 0.00004, Requests: 0.000001, Total: 0.001041, Currency: "USD", InstanceType: "ml.test", PricesReadOn: "2026-12-05"}},
		{"iris serve", nil, 0, job.Cost{Currency: "USD"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newStatusRig()
			r.s.Rates = tc.rates
			id := "job-use001"
			newJob(t, r.store, id, "alice", job.Created, t0)
			r.manifest(t, id)
			evs := progress(t, id, t0) // accepted at t0, then one event a second
			r.deliver(t, evs["accepted"], evs["started"], evs["labels"], evs["ready"])
			j := getJob(t, r.store, id)
			if j.Status != job.Done || j.Usage == nil {
				t.Fatalf("job %s with usage %+v, want done with usage", j.Status, j.Usage)
			}
			u := j.Usage
			if u.StageSeconds[job.Segmenting] != 1 || u.StageSeconds[job.Meshing] != 1 || u.GPUSeconds != 1 || u.TotalSeconds != 3 || u.LambdaGBSeconds != tc.lambdaGBs {
				t.Errorf("usage %+v; want 1 s segmenting (the GPU seconds), 1 s meshing, 3 s in all", u)
			}
			if u.Cost != tc.want {
				t.Errorf("cost %+v, want %+v", u.Cost, tc.want)
			}
		})
	}

	// The sweep's failure is priced too: a job stuck segmenting held
	// the GPU until the sweep gave up on it.
	r := newStatusRig()
	r.s.Rates = rates
	id := "job-use002"
	newJob(t, r.store, id, "alice", job.Segmenting, t0)
	r.now = t0.Add(DefaultDeadlines().Segmenting + time.Minute)
	if n, err := r.s.Sweep(context.Background()); n != 1 || err != nil {
		t.Fatalf("sweep failed %d jobs (%v), want 1", n, err)
	}
	j := getJob(t, r.store, id)
	want := r.now.Sub(t0).Seconds()
	if j.Usage == nil || j.Usage.GPUSeconds != want || j.Usage.Cost.GPU != want*0.001 {
		t.Errorf("swept job's usage %+v, want %v GPU seconds at 0.001", j.Usage, want)
	}
}

// TestStatusLogsCodes: the lines the stack's metric filters count
// (infra/alarms.go, dashboard.go) carry the status and, for a failure,
// its code, as JSON fields.
func TestStatusLogsCodes(t *testing.T) {
	var buf bytes.Buffer
	r := newStatusRig()
	r.s.Log = slog.New(slog.NewJSONHandler(&buf, nil))
	id := "job-log001"
	newJob(t, r.store, id, "alice", job.Created, t0)
	evs := progress(t, id, t0)
	r.deliver(t, evs["accepted"], evs["started"], evs["labels"], evs["failed"])
	stuck := "job-log002"
	newJob(t, r.store, stuck, "alice", job.Meshing, t0)
	r.now = t0.Add(DefaultDeadlines().Meshing + time.Minute)
	if _, err := r.s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{} // msg/status → code
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var l struct{ Msg, Status, Code string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		got[l.Msg+"/"+l.Status] = l.Code
	}
	for k, code := range map[string]string{"status: advanced/accepted": "", "status: advanced/failed": CodeEmptySegmentation,
		"status: failed a stuck job/failed": CodeTimeout} {
		if c, ok := got[k]; !ok || c != code {
			t.Errorf("no line %s with code %q (lines: %v)", k, code, got)
		}
	}
}
