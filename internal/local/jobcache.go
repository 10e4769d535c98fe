package local

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/iris-oculus/iris/internal/job"
)

// jobCacheSize bounds the decoded records a Store keeps for
// GetVersioned: more than a machine's jobs in flight and on screen; past
// it the cache starts again empty.
const jobCacheSize = 1024

// ForeignWriteLag bounds how long GetVersioned may go on answering from
// its cache after another process (another DB on the same file) wrote the
// record. A write through this DB is seen by the next call.
const ForeignWriteLag = 100 * time.Millisecond

// jobCache keeps the last decoded form of each record read through
// GetVersioned, with the record's bytes and when they were last read.
// While no job has been written through this DB since (DB.jobsGen), and
// for at most ForeignWriteLag, a poll is answered from it without a
// query; after that the record is read again, and if its bytes are the
// same, it is not decoded again.
type jobCache struct {
	mu   sync.Mutex
	seq  uint64
	jobs map[string]*cachedJob
}

type cachedJob struct {
	rec     []byte
	job     job.Job
	version uint64
	gen     uint64    // DB.jobsGen before the read that gave rec
	read    time.Time // when rec was read
}

// GetVersioned is Get for readers that do not modify the job: the job it
// returns may be shared with other callers (its maps and slices must not
// be written), and version changes whenever the record does, so a caller
// may key what it derives from the job by (id, version). Versions are
// this Store's, not stored: they start again with the process.
func (s *Store) GetVersioned(ctx context.Context, id string) (job.Job, uint64, error) {
	c := &s.cache
	// Taken before the read: a write committed after it moves it on,
	// so the entry made from this read is not trusted past that write.
	gen := s.db.jobsGen.Load()
	now := time.Now()
	c.mu.Lock()
	e := c.jobs[id]
	if e != nil && e.gen == gen && now.Sub(e.read) < ForeignWriteLag && !now.Before(e.read) {
		defer c.mu.Unlock()
		return e.job, e.version, nil
	}
	c.mu.Unlock()

	rows, err := s.db.getJob.QueryContext(ctx, id)
	if err != nil {
		return job.Job{}, 0, fmt.Errorf("get job %s: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return job.Job{}, 0, fmt.Errorf("get job %s: %w", id, err)
		}
		return job.Job{}, 0, fmt.Errorf("get job %s: %w", id, job.ErrNotFound)
	}
	var status string
	var rec sql.RawBytes // SQLite's buffer, valid until rows.Close: compared, copied only when new
	if err := rows.Scan(&status, &rec); err != nil {
		return job.Job{}, 0, fmt.Errorf("get job %s: %w", id, err)
	}
	if status == tombstone {
		return job.Job{}, 0, fmt.Errorf("get job %s: %w", id, job.ErrDeleted)
	}
	return c.fromRecord(id, rec, gen, now)
}

// fromRecord is the job and version of id's record rec, read at now with
// the DB at generation gen: the kept ones if rec's bytes are those kept,
// else rec decoded (a copy: rec may be SQLite's buffer) under a new
// version.
func (c *jobCache) fromRecord(id string, rec []byte, gen uint64, now time.Time) (job.Job, uint64, error) {
	c.mu.Lock()
	if e := c.jobs[id]; e != nil && bytes.Equal(e.rec, rec) {
		if gen >= e.gen {
			e.gen, e.read = gen, now
		}
		defer c.mu.Unlock()
		return e.job, e.version, nil
	}
	c.mu.Unlock()
	own := bytes.Clone(rec)
	j, err := decodeJob(own)
	if err != nil {
		return job.Job{}, 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.jobs[id]; e != nil && bytes.Equal(e.rec, own) {
		return e.job, e.version, nil // decoded meanwhile by another poll
	}
	if c.jobs == nil || len(c.jobs) >= jobCacheSize {
		c.jobs = make(map[string]*cachedJob)
	}
	c.seq++
	c.jobs[id] = &cachedJob{rec: own, job: j, version: c.seq, gen: gen, read: now}
	return j, c.seq, nil
}
