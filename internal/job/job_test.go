package job_test

import (
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/job/storetest"
	"github.com/iris-oculus/iris/internal/ports"
)

func TestCanMove(t *testing.T) {
	all := []job.Status{job.Created, job.Accepted, job.Segmenting, job.Meshing, job.Done, job.Failed}
	legal := map[[2]job.Status]bool{}
	for i, from := range all[:4] {
		for _, to := range all[i+1:] {
			legal[[2]job.Status{from, to}] = true
		}
	}
	for _, from := range append(all, "bogus") {
		for _, to := range append(all, "bogus") {
			if got, want := job.CanMove(from, to), legal[[2]job.Status{from, to}]; got != want {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
}

func TestApplyLeavesInputAlone(t *testing.T) {
	t0 := time.Unix(0, 0).UTC()
	j := job.Job{ID: "job-x00001", Status: job.Created, Stages: map[job.Status]time.Time{job.Created: t0}}
	next, ok := job.Apply(j, job.Update{Status: job.Accepted, At: t0.Add(time.Second)})
	if !ok || next.Status != job.Accepted {
		t.Fatalf("Apply = %+v, %v", next, ok)
	}
	if len(j.Stages) != 1 || j.Status != job.Created {
		t.Error("Apply modified its input")
	}
}

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) ports.Store { return &job.Memory{} })
}
