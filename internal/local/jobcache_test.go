package local

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/job"
)

// TestGetVersioned: an unchanged record keeps its version and answers the
// same job as Get; every write through the store (Advance, Claim, Delete)
// gives a new version or the deletion at the next call; a write by
// another handle on the same file (another process) shows within
// ForeignWriteLag; a missing job is ErrNotFound.
func TestGetVersioned(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "iris.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := s.Create(ctx, newJob("job-versioned")); err != nil {
		t.Fatal(err)
	}

	get := func(what string) (job.Job, uint64) {
		t.Helper()
		j, v, err := s.GetVersioned(ctx, "job-versioned")
		if err != nil {
			t.Fatalf("%s: GetVersioned: %v", what, err)
		}
		want, err := s.Get(ctx, "job-versioned")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(j, want) {
			t.Fatalf("%s: GetVersioned = %+v, Get = %+v", what, j, want)
		}
		return j, v
	}
	_, v1 := get("created")
	if _, again := get("unchanged"); again != v1 {
		t.Errorf("unchanged record: version %d then %d", v1, again)
	}
	time.Sleep(2 * ForeignWriteLag) // past the lag: read again, same bytes, same version
	if _, again := get("re-read"); again != v1 {
		t.Errorf("unchanged record read again: version %d then %d", v1, again)
	}

	if ok, err := s.Advance(ctx, "job-versioned", job.Update{Status: job.Accepted, At: t0.Add(time.Second), Engine: "native"}); !ok || err != nil {
		t.Fatalf("Advance = %v, %v", ok, err)
	}
	j, v2 := get("advanced")
	if v2 == v1 || j.Status != job.Accepted {
		t.Errorf("after Advance: status %s version %d (was %d); want accepted and a new version", j.Status, v2, v1)
	}
	if _, held, err := s.Claim(ctx, "job-versioned", job.Request{By: "test", At: t0.Add(2 * time.Second)}); !held || err != nil {
		t.Fatalf("Claim = %v, %v", held, err)
	}
	j, v3 := get("claimed")
	if v3 == v2 || j.Request == nil || j.Request.By != "test" {
		t.Errorf("after Claim: request %+v version %d (was %d); want the claim and a new version", j.Request, v3, v2)
	}

	// Another handle on the file writes: this one sees it within the lag.
	if ok, err := other.Advance(ctx, "job-versioned", job.Update{Status: job.Segmenting, At: t0.Add(3 * time.Second)}); !ok || err != nil {
		t.Fatalf("other Advance = %v, %v", ok, err)
	}
	deadline := time.Now().Add(10 * ForeignWriteLag)
	for {
		j, v, err := s.GetVersioned(ctx, "job-versioned")
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == job.Segmenting {
			if v == v3 {
				t.Errorf("the other handle's write kept version %d", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("another handle's write not seen after %s: status %s", 10*ForeignWriteLag, j.Status)
		}
		time.Sleep(ForeignWriteLag / 10)
	}

	if err := s.Delete(ctx, "job-versioned"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.GetVersioned(ctx, "job-versioned"); !errors.Is(err, job.ErrDeleted) {
		t.Errorf("after Delete: err = %v, want ErrDeleted", err)
	}
	if _, _, err := s.GetVersioned(ctx, "job-none"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("missing job: err = %v, want ErrNotFound", err)
	}
}

// TestListVersioned: the list's jobs and versions are GetVersioned's for
// the same records (equal to List's jobs), pages and cursors are List's,
// and a job advanced since gets a new version in the next list.
func TestListVersioned(t *testing.T) {
	ctx := context.Background()
	s := openDB(t).Store()
	for i, id := range []string{"job-l1", "job-l2", "job-l3"} {
		j := newJob(id)
		j.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
		if _, err := s.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string) map[string]uint64 {
		t.Helper()
		got := map[string]uint64{}
		cursor := ""
		for {
			js, vs, next, err := s.ListVersioned(ctx, "alice", 2, cursor)
			if err != nil {
				t.Fatalf("%s: ListVersioned: %v", what, err)
			}
			plain, plainNext, err := s.List(ctx, "alice", 2, cursor)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(js, plain) || next != plainNext || len(vs) != len(js) {
				t.Fatalf("%s: ListVersioned = %v %q (%d versions), List = %v %q", what, js, next, len(vs), plain, plainNext)
			}
			for i, j := range js {
				gj, gv, err := s.GetVersioned(ctx, j.ID)
				if err != nil || gv != vs[i] || !reflect.DeepEqual(gj, j) {
					t.Errorf("%s: %s listed at version %d, GetVersioned gives %d (%v)", what, j.ID, vs[i], gv, err)
				}
				got[j.ID] = vs[i]
			}
			if next == "" {
				return got
			}
			cursor = next
		}
	}
	first := check("first")
	if len(first) != 3 {
		t.Fatalf("listed %v, want 3 jobs", first)
	}
	if ok, err := s.Advance(ctx, "job-l2", job.Update{Status: job.Accepted, At: t0.Add(time.Hour)}); !ok || err != nil {
		t.Fatalf("Advance = %v, %v", ok, err)
	}
	second := check("after Advance")
	for id, v := range second {
		if changed := v != first[id]; changed != (id == "job-l2") {
			t.Errorf("%s: version %d then %d; only job-l2 changed", id, first[id], v)
		}
	}
}
