package local

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/job/storetest"
	"github.com/iris-oculus/iris/internal/ports"
)

func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ports.Store { return openDB(t).Store() })
}

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func newJob(id string) job.Job {
	return job.Job{ID: id, Owner: "alice", Status: job.Created, CreatedAt: t0, UpdatedAt: t0,
		Stages: map[job.Status]time.Time{job.Created: t0}}
}

func TestOpenStorePersistsAndMigrates(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "iris.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, newJob("job-persist")); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Advance(ctx, "job-persist", job.Update{Status: job.Accepted, At: t0.Add(time.Second), Engine: "native"}); !ok || err != nil {
		t.Fatalf("Advance = %v, %v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenStore(path) // a restart: the migration must not run twice
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(ctx, "job-persist")
	if err != nil || got.Status != job.Accepted || got.Engine != "native" || !got.Stages[job.Accepted].Equal(t0.Add(time.Second)) {
		t.Fatalf("after reopen Get = %+v, %v", got, err)
	}
	var v int
	if err := s.db.sql.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) {
		t.Errorf("schema version = %d, %v; want %d", v, err, len(migrations))
	}
	var mode string
	if err := s.db.sql.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode = %q, %v; want wal", mode, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "iris.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.sql.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer") {
		if db != nil {
			db.Close()
		}
		t.Fatalf("Open of a newer schema = %v; want a refusal", err)
	}
	if _, err := Open(path + "?mode=ro"); err == nil {
		t.Error("Open accepted a path with '?'")
	}
}

func TestStoreListRejectsForeignCursor(t *testing.T) {
	s := openDB(t).Store()
	for _, c := range []string{"job-alice3", "!!!", "bm90IGEgY3Vyc29y", encodeCursor("yesterday", "job-x")} {
		if _, _, err := s.List(context.Background(), "alice", 3, c); err == nil {
			t.Errorf("List accepted cursor %q", c)
		}
	}
}

// Two handles on one file stand for two processes (iris serve and a CLI):
// SQLite's locking with busy_timeout and the rank compare-and-set must
// still apply an update once.
func TestStoreTwoHandlesApplyOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "iris.db")
	var stores [2]*Store
	for i := range stores {
		s, err := OpenStore(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	for i := range 5 {
		id := fmt.Sprintf("job-both%02d", i)
		var created, applied atomic.Int32
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				s := stores[g%2]
				if ok, err := s.Create(ctx, newJob(id)); err != nil {
					t.Error(err)
				} else if ok {
					created.Add(1)
				}
				ok, err := s.Advance(ctx, id, job.Update{Status: job.Segmenting, At: t0.Add(time.Minute)})
				if err != nil {
					t.Error(err)
				} else if ok {
					applied.Add(1)
				}
			})
		}
		wg.Wait()
		if created.Load() != 1 || applied.Load() != 1 {
			t.Errorf("%s: created %d times, advanced %d times; want 1 and 1", id, created.Load(), applied.Load())
		}
	}
}

func BenchmarkStoreAdvance(b *testing.B) {
	ctx := context.Background()
	s := openDB(b).Store()
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("job-bench%08d", i)
		if _, err := s.Create(ctx, newJob(ids[i])); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ok, err := s.Advance(ctx, ids[i], job.Update{Status: job.Accepted, At: t0.Add(time.Second)}); !ok || err != nil {
			b.Fatalf("Advance = %v, %v", ok, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
