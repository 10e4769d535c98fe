package local

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
)

// Store is ports.Store on the jobs table of a DB, in place of DynamoDB. The
// record is kept whole as JSON; owner, status, rank and the timestamps are
// columns for the queries. Advance is a compare-and-set on the rank inside
// an immediate transaction, so concurrent updates apply once; Claim reads
// and writes inside one too.
//
// Unfinished reads the partial index jobs_unfinished (status neither done
// nor failed), so the sweep reads only the jobs it may fail. A deleted job
// is a tombstone row: status "deleted", no owner, the record {"id"} and
// updated_at the time it expires; Delete clears the expired ones.
type Store struct {
	db    *DB
	owned bool     // Close closes db
	cache jobCache // GetVersioned's decoded records
}

var _ ports.Store = (*Store)(nil)

// Store returns the job store on db.
func (db *DB) Store() *Store { return &Store{db: db} }

// OpenStore opens the SQLite file at path and returns its job store;
// Close closes the file.
func OpenStore(path string) (*Store, error) {
	db, err := Open(path)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, owned: true}, nil
}

// Close closes the file if OpenStore opened it; a store from DB.Store
// leaves its DB open.
func (s *Store) Close() error {
	if s.owned {
		return s.db.Close()
	}
	return nil
}

// timeKey is a fixed-width UTC form that sorts as text like the times do.
const timeKey = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeKey) }

// tombstone is the status column of a deleted job's row.
const tombstone = "deleted"

// Create implements ports.Store.
func (s *Store) Create(ctx context.Context, j job.Job) (bool, error) {
	defer s.db.wroteJobs()
	if j.ID == "" {
		return false, errors.New("create job: empty id")
	}
	rec, err := json.Marshal(j)
	if err != nil {
		return false, fmt.Errorf("create job %s: %w", j.ID, err)
	}
	res, err := s.db.sql.ExecContext(ctx,
		`INSERT INTO jobs (id, owner, status, rank, created_at, updated_at, record) VALUES (?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (id) DO NOTHING`,
		j.ID, j.Owner, string(j.Status), j.Status.Rank(), fmtTime(j.CreatedAt), fmtTime(j.UpdatedAt), rec)
	if err != nil {
		return false, fmt.Errorf("create job %s: %w", j.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("create job %s: %w", j.ID, err)
	}
	return n == 1, nil
}

// Get implements ports.Store.
func (s *Store) Get(ctx context.Context, id string) (job.Job, error) {
	var rec []byte
	var status string
	err := s.db.getJob.QueryRowContext(ctx, id).Scan(&status, &rec)
	if errors.Is(err, sql.ErrNoRows) {
		return job.Job{}, fmt.Errorf("get job %s: %w", id, job.ErrNotFound)
	}
	if err != nil {
		return job.Job{}, fmt.Errorf("get job %s: %w", id, err)
	}
	if status == tombstone {
		return job.Job{}, fmt.Errorf("get job %s: %w", id, job.ErrDeleted)
	}
	return decodeJob(rec)
}

// advanceTries bounds the compare-and-set retries; a conflict needs a
// second process writing the same job at the same moment.
const advanceTries = 8

// Advance implements ports.Store.
func (s *Store) Advance(ctx context.Context, id string, u job.Update) (bool, error) {
	for range advanceTries {
		applied, conflict, err := s.advanceOnce(ctx, id, u)
		if err != nil || !conflict {
			return applied, err
		}
	}
	return false, fmt.Errorf("advance job %s to %s: still conflicting after %d tries", id, u.Status, advanceTries)
}

func (s *Store) advanceOnce(ctx context.Context, id string, u job.Update) (applied, conflict bool, err error) {
	defer s.db.wroteJobs()
	tx, err := s.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return false, false, fmt.Errorf("advance job %s: %w", id, err)
	}
	defer tx.Rollback()
	var rec []byte
	var rank int
	var status string
	err = tx.QueryRowContext(ctx, `SELECT status, rank, record FROM jobs WHERE id = ?`, id).Scan(&status, &rank, &rec)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, fmt.Errorf("advance job %s: %w", id, job.ErrNotFound)
	}
	if err != nil {
		return false, false, fmt.Errorf("advance job %s: %w", id, err)
	}
	if status == tombstone {
		return false, false, fmt.Errorf("advance job %s: %w", id, job.ErrDeleted)
	}
	j, err := decodeJob(rec)
	if err != nil {
		return false, false, err
	}
	next, ok := job.Apply(j, u)
	if !ok {
		return false, false, nil
	}
	out, err := json.Marshal(next)
	if err != nil {
		return false, false, fmt.Errorf("advance job %s: %w", id, err)
	}
	res, err := tx.ExecContext(ctx,
		`UPDATE jobs SET status = ?, rank = ?, updated_at = ?, record = ? WHERE id = ? AND rank = ?`,
		string(next.Status), next.Status.Rank(), fmtTime(next.UpdatedAt), out, id, rank)
	if err != nil {
		return false, false, fmt.Errorf("advance job %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return false, true, err
	}
	if err := tx.Commit(); err != nil {
		return false, false, fmt.Errorf("advance job %s: %w", id, err)
	}
	return true, false, nil
}

// Claim implements ports.Store: read, job.Claim and write in one
// immediate transaction, which no other write interleaves with.
func (s *Store) Claim(ctx context.Context, id string, r job.Request) (job.Job, bool, error) {
	defer s.db.wroteJobs()
	tx, err := s.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return job.Job{}, false, fmt.Errorf("claim job %s: %w", id, err)
	}
	defer tx.Rollback()
	var rec []byte
	var status string
	err = tx.QueryRowContext(ctx, `SELECT status, record FROM jobs WHERE id = ?`, id).Scan(&status, &rec)
	if errors.Is(err, sql.ErrNoRows) {
		return job.Job{}, false, fmt.Errorf("claim job %s: %w", id, job.ErrNotFound)
	}
	if err != nil {
		return job.Job{}, false, fmt.Errorf("claim job %s: %w", id, err)
	}
	if status == tombstone {
		return job.Job{}, false, fmt.Errorf("claim job %s: %w", id, job.ErrDeleted)
	}
	j, err := decodeJob(rec)
	if err != nil {
		return job.Job{}, false, err
	}
	next, held := job.Claim(j, r)
	if !held {
		return j, false, nil
	}
	out, err := json.Marshal(next)
	if err != nil {
		return job.Job{}, false, fmt.Errorf("claim job %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET record = ? WHERE id = ?`, out, id); err != nil {
		return job.Job{}, false, fmt.Errorf("claim job %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return job.Job{}, false, fmt.Errorf("claim job %s: %w", id, err)
	}
	return next, true, nil
}

// List implements ports.Store. The cursor is opaque: base64 of the last
// job's creation time and id, the keyset the index is ordered by.
func (s *Store) List(ctx context.Context, owner string, limit int, cursor string) ([]job.Job, string, error) {
	js, _, next, err := s.list(ctx, owner, limit, cursor, false)
	return js, next, err
}

// ListVersioned is List for readers that do not modify the jobs, with
// each job's version, as GetVersioned gives them: a record whose bytes are
// those last seen is not decoded again, and the jobs may be shared.
func (s *Store) ListVersioned(ctx context.Context, owner string, limit int, cursor string) ([]job.Job, []uint64, string, error) {
	return s.list(ctx, owner, limit, cursor, true)
}

func (s *Store) list(ctx context.Context, owner string, limit int, cursor string, versioned bool) ([]job.Job, []uint64, string, error) {
	after, afterID, err := decodeCursor(cursor)
	if err != nil {
		return nil, nil, "", err
	}
	gen := s.db.jobsGen.Load() // before the read, as in GetVersioned
	q := `SELECT created_at, id, record FROM jobs WHERE owner = ? AND status != 'deleted'`
	args := []any{owner}
	if cursor != "" {
		q += ` AND (created_at, id) < (?, ?)`
		args = append(args, after, afterID)
	}
	q += ` ORDER BY created_at DESC, id DESC`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit+1) // one more tells whether a next page exists
	}
	rows, err := s.db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, "", fmt.Errorf("list jobs of %q: %w", owner, err)
	}
	defer rows.Close()
	var (
		js             []job.Job
		versions       []uint64
		lastAt, lastID string
		more           bool
	)
	now := time.Now()
	for rows.Next() {
		if limit > 0 && len(js) == limit {
			more = true
			break
		}
		var rec sql.RawBytes // valid until the next row: decoded or compared at once
		if err := rows.Scan(&lastAt, &lastID, &rec); err != nil {
			return nil, nil, "", fmt.Errorf("list jobs of %q: %w", owner, err)
		}
		if versioned {
			j, v, err := s.cache.fromRecord(lastID, rec, gen, now)
			if err != nil {
				return nil, nil, "", err
			}
			js, versions = append(js, j), append(versions, v)
			continue
		}
		j, err := decodeJob(rec)
		if err != nil {
			return nil, nil, "", err
		}
		js = append(js, j)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, "", fmt.Errorf("list jobs of %q: %w", owner, err)
	}
	if !more {
		return js, versions, "", nil
	}
	return js, versions, encodeCursor(lastAt, lastID), nil
}

func encodeCursor(at, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at + "|" + id))
}

func decodeCursor(c string) (at, id string, err error) {
	if c == "" {
		return "", "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		var ok bool
		at, id, ok = strings.Cut(string(b), "|")
		if _, terr := time.Parse(timeKey, at); ok && terr == nil && id != "" {
			return at, id, nil
		}
	}
	return "", "", fmt.Errorf("list jobs: %w: %q is not one this store returned", job.ErrBadCursor, c)
}

// unfinishedQuery repeats the partial index's condition word for word, so
// that SQLite uses the index (TestUnfinishedUsesThePartialIndex).
const unfinishedQuery = `SELECT record FROM jobs INDEXED BY jobs_unfinished
	WHERE status NOT IN ('done', 'failed') AND status != 'deleted' AND updated_at < ?
	ORDER BY created_at DESC, id DESC`

// Unfinished implements ports.Store over the partial index.
func (s *Store) Unfinished(ctx context.Context, before time.Time) ([]job.Job, error) {
	rows, err := s.db.read.QueryContext(ctx, unfinishedQuery, fmtTime(before))
	if err != nil {
		return nil, fmt.Errorf("list unfinished jobs: %w", err)
	}
	defer rows.Close()
	var js []job.Job
	for rows.Next() {
		var rec []byte
		if err := rows.Scan(&rec); err != nil {
			return nil, fmt.Errorf("list unfinished jobs: %w", err)
		}
		j, err := decodeJob(rec)
		if err != nil {
			return nil, err
		}
		js = append(js, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list unfinished jobs: %w", err)
	}
	return js, nil
}

// Delete implements ports.Store: the row becomes a tombstone until
// job.TombstoneTTL from now, and the tombstones expired by then go.
func (s *Store) Delete(ctx context.Context, id string) error {
	defer s.db.wroteJobs()
	now := s.db.now()
	tx, err := s.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	defer tx.Rollback()
	rec, _ := json.Marshal(struct {
		ID string `json:"id"`
	}{id}) // a string field only: cannot fail
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO jobs (id, owner, status, rank, created_at, updated_at, record) VALUES (?, '', 'deleted', 0, ?, ?, ?)
		 ON CONFLICT (id) DO UPDATE SET owner = '', status = 'deleted', rank = 0, updated_at = excluded.updated_at, record = excluded.record`,
		id, fmtTime(now), fmtTime(now.Add(job.TombstoneTTL)), rec); err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE status = 'deleted' AND updated_at < ?`, fmtTime(now)); err != nil {
		return fmt.Errorf("delete job %s: clear expired tombstones: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	return nil
}

func decodeJob(rec []byte) (job.Job, error) {
	var j job.Job
	if err := json.Unmarshal(rec, &j); err != nil {
		return job.Job{}, fmt.Errorf("decode job record: %w", err)
	}
	return j, nil
}
