// Package storetest checks a ports.Store against the contract every store
// must keep: idempotent create, monotonic conditional updates, the
// segmentation claim that one claimant wins, owner-scoped
// newest-first pagination, the stuck-job query (unfinished jobs only) and
// delete, which leaves a tombstone that late events recognise. The SQLite and
// DynamoDB stores run the same suite.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
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

	t.Run("ClaimIsHeldByOne", func(t *testing.T) {
		s := newStore(t)
		j := newJob("job-claim1", "alice", t0)
		mustCreate(t, s, j)
		if _, err := s.Advance(ctx, j.ID, job.Update{Status: job.Accepted, At: t0.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		// Eight deliveries of duplicate requests at once, and the job's
		// Segmentation Started being applied meanwhile by nobody: one wins.
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				by := fmt.Sprintf("message-%d", i)
				got, held, err := s.Claim(ctx, j.ID, job.Request{By: by, At: t0.Add(2 * time.Second)})
				if err != nil {
					t.Error(err)
					return
				}
				if got.Request == nil || held != (got.Request.By == by) {
					t.Errorf("Claim by %s: held %v, record's request %+v", by, held, got.Request)
				}
				if held {
					mu.Lock()
					winners = append(winners, by)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("%d of 8 claimants hold the claim (%v), want exactly 1", len(winners), winners)
		}
		by := winners[0]
		// The winner again (its message redelivered): still held, first
		// time kept; then with the segmenter's answer.
		if got, held, err := s.Claim(ctx, j.ID, job.Request{By: by, At: t0.Add(time.Minute)}); err != nil || !held || !got.Request.At.Equal(t0.Add(2*time.Second)) {
			t.Errorf("the winner's second Claim = %+v, %v, %v; want held with the first time", got.Request, held, err)
		}
		st := &events.Started{JobID: j.ID, InferenceID: "inf-1", OutputLocation: "s3://b/segmentations/job-claim1/labels.nii.gz",
			FailureLocation: "s3://b/segmentation-failures/job-claim1/inf-1-error.out", Engine: "sagemaker"}
		if _, held, err := s.Claim(ctx, j.ID, job.Request{By: by, At: t0.Add(time.Minute), Started: st}); err != nil || !held {
			t.Fatalf("recording the answer: %v, %v", held, err)
		}
		// A latecomer loses and learns who holds it and what was started.
		got, held, err := s.Claim(ctx, j.ID, job.Request{By: "message-late", At: t0.Add(time.Hour)})
		if err != nil || held || got.Request == nil || got.Request.By != by || got.Request.Started == nil || *got.Request.Started != *st {
			t.Errorf("a late Claim = %+v, %v, %v; want not held, %s's request with %+v", got.Request, held, err, by, st)
		}
		// The claim survives status updates, which keep it.
		if ok, err := s.Advance(ctx, j.ID, job.Update{Status: job.Segmenting, At: t0.Add(3 * time.Second), Engine: "sagemaker"}); !ok || err != nil {
			t.Fatalf("Advance to segmenting = %v, %v", ok, err)
		}
		got, err = s.Get(ctx, j.ID)
		if err != nil || got.Request == nil || got.Request.By != by || got.Request.Started == nil || got.Request.Started.InferenceID != "inf-1" {
			t.Errorf("after Advance: request %+v, %v", got.Request, err)
		}
		// Past accepted nobody may claim, not even the holder.
		if _, held, err := s.Claim(ctx, j.ID, job.Request{By: by, At: t0.Add(time.Hour)}); held || err != nil {
			t.Errorf("Claim of a segmenting job = %v, %v; want false, nil", held, err)
		}
	})

	t.Run("ClaimAndAdvanceRace", func(t *testing.T) {
		// A claim made between Advance's read and its write must not be
		// overwritten, nor the status update lost.
		s := newStore(t)
		for i := range 6 {
			j := newJob(fmt.Sprintf("job-race%02d", i), "alice", t0)
			mustCreate(t, s, j)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := s.Advance(ctx, j.ID, job.Update{Status: job.Accepted, At: t0.Add(time.Second), Input: &events.Input{Format: "nifti"}}); err != nil {
					t.Error(err)
				}
			}()
			go func() {
				defer wg.Done()
				if _, held, err := s.Claim(ctx, j.ID, job.Request{By: "m", At: t0}); err != nil || !held {
					t.Errorf("Claim = %v, %v", held, err)
				}
			}()
			wg.Wait()
			got, err := s.Get(ctx, j.ID)
			if err != nil || got.Status != job.Accepted || got.Input == nil || got.Request == nil || got.Request.By != "m" {
				t.Errorf("%s after a racing Advance and Claim: status %s, input %+v, request %+v, %v", j.ID, got.Status, got.Input, got.Request, err)
			}
		}
	})

	t.Run("ClaimRefused", func(t *testing.T) {
		s := newStore(t)
		for _, st := range []job.Status{job.Segmenting, job.Meshing, job.Done, job.Failed} {
			j := newJob("job-clm-"+string(st)[:3], "alice", t0)
			mustCreate(t, s, j)
			if _, err := s.Advance(ctx, j.ID, job.Update{Status: st, At: t0.Add(time.Second)}); err != nil {
				t.Fatal(err)
			}
			got, held, err := s.Claim(ctx, j.ID, job.Request{By: "m", At: t0})
			if held || err != nil || got.Status != st || got.Request != nil {
				t.Errorf("Claim of a %s job = %s, %+v, %v, %v; want the record unchanged, not held", st, got.Status, got.Request, held, err)
			}
		}
		created := newJob("job-clmcre", "alice", t0)
		mustCreate(t, s, created)
		if _, held, err := s.Claim(ctx, created.ID, job.Request{By: "m", At: t0}); !held || err != nil {
			t.Errorf("Claim of a created job (Job Accepted not yet applied) = %v, %v; want held", held, err)
		}
		if _, held, err := s.Claim(ctx, "job-nobody", job.Request{By: "m", At: t0}); held || !errors.Is(err, job.ErrNotFound) || errors.Is(err, job.ErrDeleted) {
			t.Errorf("Claim of a missing job = %v, %v; want ErrNotFound", held, err)
		}
		if err := s.Delete(ctx, created.ID); err != nil {
			t.Fatal(err)
		}
		if _, held, err := s.Claim(ctx, created.ID, job.Request{By: "m", At: t0}); held || !errors.Is(err, job.ErrDeleted) {
			t.Errorf("Claim of a deleted job = %v, %v; want ErrDeleted", held, err)
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

	t.Run("UnfinishedLeavesFinishedAndDeletedOut", func(t *testing.T) {
		s := newStore(t)
		var want []string
		for i := 0; i < 30; i++ {
			j := newJob(fmt.Sprintf("job-unf%03d", i), "alice", t0.Add(time.Duration(i)*time.Second))
			mustCreate(t, s, j)
			switch i % 5 {
			case 0:
				if _, err := s.Advance(ctx, j.ID, job.Update{Status: job.Done, At: t0.Add(time.Minute)}); err != nil {
					t.Fatal(err)
				}
			case 1:
				if _, err := s.Advance(ctx, j.ID, job.Update{Status: job.Failed, At: t0.Add(time.Minute), Error: &job.Error{Stage: "x", Code: "y", Message: "z"}}); err != nil {
					t.Fatal(err)
				}
			case 2:
				if err := s.Delete(ctx, j.ID); err != nil {
					t.Fatal(err)
				}
			case 3:
				if _, err := s.Advance(ctx, j.ID, job.Update{Status: job.Meshing, At: t0.Add(time.Minute)}); err != nil {
					t.Fatal(err)
				}
				want = append(want, j.ID)
			default:
				want = append(want, j.ID)
			}
		}
		js, err := s.Unfinished(ctx, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		got := ids(js)
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Unfinished = %v, want %v", got, want)
		}
		for _, j := range js {
			if j.Status.Terminal() || j.Owner != "alice" {
				t.Errorf("Unfinished returned %s in %s owned by %q", j.ID, j.Status, j.Owner)
			}
		}
		if js, _ := s.Unfinished(ctx, t0); len(js) != 0 {
			t.Errorf("Unfinished before the updates = %v, want none", ids(js))
		}
	})

	t.Run("DeleteLeavesATombstone", func(t *testing.T) {
		s := newStore(t)
		j := newJob("job-dead01", "alice", t0)
		mustCreate(t, s, j)
		if _, err := s.Advance(ctx, j.ID, job.Update{Status: job.Segmenting, At: t0.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(ctx, j.ID)
		if !errors.Is(err, job.ErrDeleted) || !errors.Is(err, job.ErrNotFound) {
			t.Errorf("Get(deleted) error = %v, want ErrDeleted, which is also ErrNotFound", err)
		}
		// A late event of the deleted job: no update, and it is told why.
		ok, err := s.Advance(ctx, j.ID, job.Update{Status: job.Meshing, At: t0.Add(2 * time.Second)})
		if ok || !errors.Is(err, job.ErrDeleted) {
			t.Errorf("Advance(deleted) = %v, %v; want false, ErrDeleted", ok, err)
		}
		// A late "Job Accepted" of a dropped file recreates nothing.
		if ok, err := s.Create(ctx, j); ok || err != nil {
			t.Errorf("Create over a tombstone = %v, %v; want false, nil", ok, err)
		}
		if _, err := s.Get(ctx, j.ID); !errors.Is(err, job.ErrDeleted) {
			t.Errorf("after Create over the tombstone, Get error = %v, want ErrDeleted", err)
		}
		if js, _, err := s.List(ctx, "alice", 10, ""); err != nil || len(js) != 0 {
			t.Errorf("List shows %v (%v), want no jobs", ids(js), err)
		}
		if js, err := s.Unfinished(ctx, t0.Add(time.Hour)); err != nil || len(js) != 0 {
			t.Errorf("Unfinished shows %v (%v), want no jobs", ids(js), err)
		}
		if err := s.Delete(ctx, j.ID); err != nil {
			t.Errorf("deleting a deleted job: %v", err)
		}
		// A job never made is not found, and not deleted.
		if _, err := s.Get(ctx, "job-never1"); !errors.Is(err, job.ErrNotFound) || errors.Is(err, job.ErrDeleted) {
			t.Errorf("Get(never made) error = %v, want ErrNotFound and not ErrDeleted", err)
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
