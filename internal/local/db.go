package local

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DB is the one SQLite file of a machine: job records and queues. Writes
// go through a single connection, so they never contend inside the
// process; transactions begin IMMEDIATE, so a second process on the same
// file waits (busy_timeout) instead of failing half way. Plain reads of
// job records and queue counts go through a small pool of read-only
// connections: in WAL mode a reader sees the last commit and neither waits
// for the writer nor holds it up, so API polls do not queue behind the
// pipeline's writes.
type DB struct {
	// Now tells the time for queue visibility; nil means time.Now. Tests
	// set it before first use to move time without sleeping.
	Now func() time.Time

	sql    *sql.DB // the writer: every write and every read-modify-write
	read   *sql.DB // read-only connections for plain reads
	getJob *sql.Stmt
	path   string

	mu   sync.Mutex
	wake map[string]chan struct{} // per queue name, closed on Send

	// jobsGen moves on after every write to the jobs table through this
	// DB, once it is committed (or abandoned): Store.GetVersioned trusts
	// what it read only while it stands still.
	jobsGen atomic.Uint64
}

// wroteJobs moves jobsGen on; the Store's writes defer it.
func (db *DB) wroteJobs() { db.jobsGen.Add(1) }

// migrations bring the schema from version i to i+1; PRAGMA user_version
// records how many have been applied. Only ever append.
var migrations = [][]string{
	{ // 1: job records
		`CREATE TABLE jobs (
			id         TEXT PRIMARY KEY,
			owner      TEXT NOT NULL,
			status     TEXT NOT NULL,
			rank       INTEGER NOT NULL,
			created_at TEXT NOT NULL, -- fixed-width UTC, sorts as text
			updated_at TEXT NOT NULL,
			record     TEXT NOT NULL  -- the job.Job as JSON
		)`,
		`CREATE INDEX jobs_owner_created ON jobs (owner, created_at DESC, id DESC)`,
		`CREATE INDEX jobs_unfinished ON jobs (updated_at) WHERE status NOT IN ('done', 'failed')`,
	},
	{ // 2: queues and their dead letters
		`CREATE TABLE queue_messages (
			seq           INTEGER PRIMARY KEY AUTOINCREMENT,
			queue         TEXT NOT NULL,
			id            TEXT NOT NULL UNIQUE,
			body          BLOB NOT NULL,
			sent_at       INTEGER NOT NULL, -- unix nanoseconds
			visible_at    INTEGER NOT NULL,
			receive_count INTEGER NOT NULL DEFAULT 0,
			receipt       TEXT              -- the current claim's receipt
		)`,
		`CREATE INDEX queue_messages_visible ON queue_messages (queue, visible_at, seq)`,
		`CREATE INDEX queue_messages_receipt ON queue_messages (receipt) WHERE receipt IS NOT NULL`,
		`CREATE TABLE queue_dead (
			seq           INTEGER PRIMARY KEY AUTOINCREMENT,
			queue         TEXT NOT NULL,
			id            TEXT NOT NULL,
			body          BLOB NOT NULL,
			receive_count INTEGER NOT NULL,
			sent_at       INTEGER NOT NULL,
			dead_at       INTEGER NOT NULL
		)`,
		`CREATE INDEX queue_dead_queue ON queue_dead (queue, seq)`,
	},
	{ // 3: the outbox of DirBlobs.Put and the one-upload claims of signed URLs
		`CREATE TABLE blob_outbox (
			key   TEXT PRIMARY KEY,
			size  INTEGER NOT NULL,
			etag  TEXT NOT NULL,
			event BLOB NOT NULL -- the Object Created event, JSON
		)`,
		`CREATE TABLE upload_claims (
			job_id TEXT PRIMARY KEY,
			key    TEXT NOT NULL,
			state  TEXT NOT NULL, -- 'uploading' or 'done'
			at     INTEGER NOT NULL -- unix nanoseconds
		)`,
	},
}

// Open opens (creating if needed) the SQLite file at path and brings its
// schema up to date. A file written by a newer program is refused.
func Open(path string) (*DB, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open database: path %q must be non-empty and free of '?'", path)
	}
	dsn := path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(1)
	sdb.SetConnMaxIdleTime(0)
	db := &DB{sql: sdb, path: path, wake: map[string]chan struct{}{}}
	if err := db.migrate(context.Background()); err != nil {
		sdb.Close()
		return nil, err
	}
	// Opened after the migration, so the file is in WAL mode and has its
	// schema; query_only makes a write through them an error.
	rdb, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(readConns)
	rdb.SetMaxIdleConns(readConns)
	rdb.SetConnMaxIdleTime(0)
	db.read = rdb
	if db.getJob, err = rdb.Prepare(`SELECT status, record FROM jobs WHERE id = ?`); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return db, nil
}

// readConns bounds the read-only connections: API polls are short, and a
// few connections keep every core busy.
const readConns = 4

// Close closes the file. Queues, stores and buses on it must be stopped.
func (db *DB) Close() error {
	if db.getJob != nil {
		db.getJob.Close()
	}
	rerr := db.read.Close()
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("close database %s: %w", db.path, err)
	}
	if rerr != nil {
		return fmt.Errorf("close database %s: %w", db.path, rerr)
	}
	return nil
}

// Path is the file's path.
func (db *DB) Path() string { return db.path }

func (db *DB) migrate(ctx context.Context) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("open database %s: %w", db.path, err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version of %s: %w", db.path, err)
	}
	if v > len(migrations) {
		return fmt.Errorf("database %s has schema version %d, newer than this program's %d", db.path, v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		for _, stmt := range migrations[i] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate %s to schema version %d: %w", db.path, i+1, err)
			}
		}
	}
	if v < len(migrations) {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
			return fmt.Errorf("migrate %s: %w", db.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate %s: %w", db.path, err)
	}
	return nil
}

func (db *DB) now() time.Time {
	if db.Now != nil {
		return db.Now()
	}
	return time.Now()
}

// waiter returns a channel closed at the next send to queue. Take it before
// looking at the queue, so a send in between is not missed.
func (db *DB) waiter(queue string) <-chan struct{} {
	db.mu.Lock()
	defer db.mu.Unlock()
	ch, ok := db.wake[queue]
	if !ok {
		ch = make(chan struct{})
		db.wake[queue] = ch
	}
	return ch
}

// notify wakes the pollers of queue.
func (db *DB) notify(queue string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if ch, ok := db.wake[queue]; ok {
		close(ch)
		delete(db.wake, queue)
	}
}

// newID returns a random UUID (version 4), the form SQS message ids and
// EventBridge event ids take.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand documents a fatal error instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
