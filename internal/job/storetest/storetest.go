// Package storetest checks a ports.Store against the contract every store
// must keep: idempotent create, monotonic conditional updates, owner-scoped
// newest-first pagination, the stuck-job query and delete. The SQLite and
// DynamoDB stores run the same suite.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
)

// Run runs the suite; newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	newJob := func(id, owner string, created time.Time) job.Job {
		return job.Job{ID: id, Owner: owner, Status: job.Created, CreatedAt: created, UpdatedAt: created,
			Stages: map[job.Status]time.Time{job.Created: created}, UploadKey: events.UploadKey(id, "ct.nii.gz")}
	}
	ctx := context.Background()

	t.Run("CreateIsIdempotent", func(t *testing.T) {
		s := newStore(t)
		j := newJob("job-aaaa01", "alice", t0)
		if ok, err := s.Create(ctx, j); err != nil || !ok {
			t.Fatalf("first Create = %v, %v; want true, nil", ok, err)
		}
		j2 := j
		j2.Owner = "mallory"
		if ok, err := s.Create(ctx, j2); err != nil || ok {
			t.Fatalf("second Create = %v, %v; want false, nil", ok, err)
		}
		got, err := s.Get(ctx, j.ID)
		if err != nil || got.Owner != "alice" || got.Status != job.Created || !got.CreatedAt.Equal(t0) {
			t.Fatalf("Get = %+v, %v; the first create must win", got, err)
		}
	})

	t.Run("GetMissing", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, "job-missing"); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
		}
		if _, err := s.Advance(ctx, "job-missing", job.Update{Status: job.Accepted, At: t0}); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("Advance(missing) error = %v, want ErrNotFound", err)
		}
	})

	t.Run("AdvanceIsMonotonic", func(t *testing.T) {
		s := newStore(t)
		j := newJob("job-aaaa02", "alice", t0)
		mustCreate(t, s, j)
		in := &events.Input{Format: "nifti", File: "ct.nii.gz", Bytes: 123, Dims: [3]int{1, 2, 3}, SpacingMm: [3]float64{1, 1, 3}, Orientation: "RAS"}
		steps := []struct {
			u    job.Update
			want bool
		}{
			{job.Update{Status: job.Segmenting, At: t0.Add(2 * time.Second), OutputLocation: "segmentations/job-aaaa02/labels.nii.gz", Engine: "native"}, true},
			{job.Update{Status: job.Accepted, At: t0.Add(time.Second), Input: in}, false}, // reordered: stale
			{job.Update{Status: job.Segmenting, At: t0.Add(3 * time.Second)}, false},      // duplicate
			{job.Update{Status: job.Meshing, At: t0.Add(4 * time.Second)}, true},
			{job.Update{Status: job.Done, At: t0.Add(5 * time.Second), Organs: []job.Organ{{Label: 5, Name: "liver", VolumeMl: 1500.5}}, Artifacts: []job.Artifact{{Name: "scene.glb", Key: "results/job-aaaa02/scene.glb", Bytes: 42}}}, true},
			{job.Update{Status: job.Failed, At: t0.Add(6 * time.Second), Error: &job.Error{Stage: "mesher", Code: "late", Message: "late"}}, false}, // done is final
		}
		for i, st := range steps {
			ok, err := s.Advance(ctx, j.ID, st.u)
			if err != nil || ok != st.want {
				t.Fatalf("step %d (%s): Advance = %v, %v; want %v", i, st.u.Status, ok, err, st.want)
			}
		}
		got, err := s.Get(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != job.Done || got.Error != nil || got.Engine != "native" || got.OutputLocation == "" {
			t.Errorf("final job = %+v", got)
		}
		if len(got.Organs) != 1 || got.Organs[0].Name != "liver" || got.Organs[0].VolumeMl != 1500.5 {
			t.Errorf("organs = %+v", got.Organs)
		}
		if len(got.Artifacts) != 1 || got.Artifacts[0].Bytes != 42 {
			t.Errorf("artifacts = %+v", got.Artifacts)
		}
		for st, at := range map[job.Status]time.Duration{job.Created: 0, job.Segmenting: 2 * time.Second, job.Meshing: 4 * time.Second, job.Done: 5 * time.Second} {
			if !got.Stages[st].Equal(t0.Add(at)) {
				t.Errorf("stage %s at %v, want %v", st, got.Stages[st], t0.Add(at))
			}
		}
		if _, ok := got.Stages[job.Accepted]; ok {
			t.Error("the stale accepted update left a stage timestamp")
		}
	})

	t.Run("FailedIsFinal", func(t *testing.T) {
		s := newStore(t)
		j := newJob("job-aaaa03", "alice", t0)
		mustCreate(t, s, j)
		e := &job.Error{Stage: "ingest", Code: "not_ct", Message: "the file is an MR volume"}
		if ok, err := s.Advance(ctx, j.ID, job.Update{Status: job.Failed, At: t0.Add(time.Second), Error: e}); !ok || err != nil {
			t.Fatalf("fail: %v, %v", ok, err)
		}
		if ok, _ := s.Advance(ctx, j.ID, job.Update{Status: job.Done, At: t0.Add(2 * time.Second)}); ok {
			t.Error("a failed job was revived")
		}
		got, _ := s.Get(ctx, j.ID)
		if got.Status != job.Failed || got.Error == nil || *got.Error != *e {
			t.Errorf("job = %+v", got)
		}
	})

	t.Run("ConcurrentAdvancesApplyOnce", func(t *testing.T) {
		s := newStore(t)
		j := newJob("job-aaaa04", "alice", t0)
		mustCreate(t, s, j)
		var wg sync.WaitGroup
		var mu sync.Mutex
		applied := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.Advance(ctx, j.ID, job.Update{Status: job.Accepted, At: t0.Add(time.Second)})
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					applied++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if applied != 1 {
			t.Errorf("%d of 8 identical concurrent updates applied, want exactly 1", applied)
		}
	})

	t.Run("ListIsOwnerScopedNewestFirst", func(t *testing.T) {
		s := newStore(t)
		for i := 0; i < 7; i++ {
			mustCreate(t, s, newJob(fmt.Sprintf("job-alice%d", i), "alice", t0.Add(time.Duration(i)*time.Minute)))
		}
		mustCreate(t, s, newJob("job-bob000", "bob", t0.Add(time.Hour)))
		var ids []string
		cursor := ""
		for page := 0; ; page++ {
			js, next, err := s.List(ctx, "alice", 3, cursor)
			if err != nil {
				t.Fatal(err)
			}
			if len(js) > 3 {
				t.Fatalf("page %d has %d jobs, limit 3", page, len(js))
			}
			for _, j := range js {
				ids = append(ids, j.ID)
			}
			if next == "" {
				break
			}
			if page > 5 {
				t.Fatal("pagination does not end")
			}
			cursor = next
		}
		want := []string{"job-alice6", "job-alice5", "job-alice4", "job-alice3", "job-alice2", "job-alice1", "job-alice0"}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("alice's jobs = %v, want %v", ids, want)
		}
		js, _, err := s.List(ctx, "carol", 10, "")
		if err != nil || len(js) != 0 {
			t.Errorf("carol sees %d jobs (%v)", len(js), err)
		}
	})

	t.Run("UnfinishedAndDelete", func(t *testing.T) {
		s := newStore(t)
		old := newJob("job-old001", "alice", t0)
		fresh := newJob("job-new001", "alice", t0.Add(time.Hour))
		done := newJob("job-done01", "alice", t0)
		for _, j := range []job.Job{old, fresh, done} {
			mustCreate(t, s, j)
		}
		if _, err := s.Advance(ctx, done.ID, job.Update{Status: job.Done, At: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		js, err := s.Unfinished(ctx, t0.Add(30*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(js) != 1 || js[0].ID != old.ID {
			t.Errorf("Unfinished = %v, want only %s", ids(js), old.ID)
		}
		if err := s.Delete(ctx, old.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, old.ID); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("deleted job still there: %v", err)
		}
		if err := s.Delete(ctx, old.ID); err != nil {
			t.Errorf("deleting twice: %v", err)
		}
	})
}

func mustCreate(t *testing.T, s ports.Store, j job.Job) {
	t.Helper()
	if ok, err := s.Create(context.Background(), j); err != nil || !ok {
		t.Fatalf("Create(%s) = %v, %v", j.ID, ok, err)
	}
}

func ids(js []job.Job) []string {
	var out []string
	for _, j := range js {
		out = append(out, j.ID)
	}
	return out
}
