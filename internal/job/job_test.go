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

// TestStageTimesInOrder: an update whose event carries a time before the
// stage it follows (whole-second event times, other clocks) starts its
// stage no earlier than that one (issue 11, item 10).
func TestStageTimesInOrder(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	j := job.Job{ID: "job-x00001", Status: job.Created, Stages: map[job.Status]time.Time{job.Created: t0}}
	steps := []job.Update{
		{Status: job.Accepted, At: t0.Add(400 * time.Millisecond)},
		{Status: job.Segmenting, At: t0.Add(900 * time.Millisecond)},
		{Status: job.Meshing, At: t0}, // the label map's S3 time, truncated to the second
		{Status: job.Done, At: t0.Add(2 * time.Second)},
	}
	for _, u := range steps {
		var ok bool
		if j, ok = job.Apply(j, u); !ok {
			t.Fatalf("Apply(%s) refused", u.Status)
		}
	}
	order := []job.Status{job.Created, job.Accepted, job.Segmenting, job.Meshing, job.Done}
	for i := 1; i < len(order); i++ {
		if j.Stages[order[i]].Before(j.Stages[order[i-1]]) {
			t.Errorf("%s at %v is before %s at %v", order[i], j.Stages[order[i]], order[i-1], j.Stages[order[i-1]])
		}
	}
	if want := t0.Add(900 * time.Millisecond); !j.Stages[job.Meshing].Equal(want) {
		t.Errorf("meshing at %v, want %v (the start of segmenting, the earliest it can have started)", j.Stages[job.Meshing], want)
	}
	if !j.UpdatedAt.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("updatedAt %v", j.UpdatedAt)
	}
}
