package local

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/ports"
)

// DefaultMaxReceives is how often a message may be received without being
// deleted before it is dead-lettered, when Queue.MaxReceives is zero.
const DefaultMaxReceives = 5

// ErrStaleReceipt reports a receipt that is not the message's current
// claim: the message was deleted, dead-lettered, or received again since.
var ErrStaleReceipt = errors.New("receipt is not the message's current claim")

// Queue is one named, durable queue in a DB, with the semantics of an SQS
// standard queue and its redrive policy: a received message is invisible
// for its visibility timeout and reappears unless deleted; each claim gets
// its own receipt, and only the current one deletes or extends it; a
// message received MaxReceives times and not deleted moves to the
// dead-letter table on the next receive. Delivery is at least once and in
// send order, except for redeliveries.
//
// All queues share two tables (queue_messages, queue_dead) with a queue
// column, in the same file as the job records.
type Queue struct {
	// MaxReceives is the redrive threshold; 0 means DefaultMaxReceives.
	// The receiver's value applies.
	MaxReceives int

	db   *DB
	name string
}

var _ ports.Queue = (*Queue)(nil)

// Queue returns the queue called name (e.g. "jobs", "mesh").
func (db *DB) Queue(name string) *Queue { return &Queue{db: db, name: name} }

// Name is the queue's name.
func (q *Queue) Name() string { return q.name }

// Delivery is a received message with the receipt of its claim.
type Delivery struct {
	ports.Message
	Receipt string
	SentAt  time.Time
}

// DeadLetter is a message given up on after too many receives.
type DeadLetter struct {
	ID           string
	Body         []byte
	ReceiveCount int
	SentAt       time.Time
	DeadAt       time.Time
}

// Stats counts a queue's messages, as SQS's approximate attributes do.
type Stats struct {
	Visible  int // ready to be received (including ones due for the dead-letter table)
	InFlight int // received and not yet deleted or visible again
	Dead     int // in the dead-letter table
}

func (q *Queue) maxReceives() int {
	if q.MaxReceives > 0 {
		return q.MaxReceives
	}
	return DefaultMaxReceives
}

func (q *Queue) check(op string) error {
	if q.name == "" {
		return fmt.Errorf("%s: queue has no name", op)
	}
	return nil
}

// EventTarget is a bus target that sends each event to q, its JSON as the
// body, as an EventBridge rule with an SQS target does; q's consumer then
// works it with the queue's attempts and backoff.
func (q *Queue) EventTarget() EventHandler {
	return func(ctx context.Context, ev events.Event) error {
		body, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("queue %s: encode event %s: %w", q.name, ev.ID, err)
		}
		return q.Send(ctx, body)
	}
}

// Send implements ports.Queue: the message is durable once Send returns.
// A body SQS would refuse (ports.CheckMessage) is refused here too.
func (q *Queue) Send(ctx context.Context, body []byte) error {
	_, err := q.SendID(ctx, body)
	return err
}

// SendID is Send that also returns the new message's id.
func (q *Queue) SendID(ctx context.Context, body []byte) (string, error) {
	if err := q.check("send"); err != nil {
		return "", err
	}
	if err := ports.CheckMessage(body); err != nil {
		return "", fmt.Errorf("send to queue %s: %w", q.name, err)
	}
	id := newID()
	if err := sendExec(ctx, q.db.sql, q.name, id, body, q.db.now()); err != nil {
		return "", fmt.Errorf("send to queue %s: %w", q.name, err)
	}
	q.db.notify(q.name)
	return id, nil
}

// SendDelayed implements ports.DelayedQueue: the message is durable at
// once and can be received after delay.
func (q *Queue) SendDelayed(ctx context.Context, body []byte, delay time.Duration) error {
	if err := q.check("send"); err != nil {
		return err
	}
	if err := ports.CheckMessage(body); err != nil {
		return fmt.Errorf("send to queue %s: %w", q.name, err)
	}
	if delay > ports.MaxDelay {
		return fmt.Errorf("send to queue %s: delay %v is over SQS's %v", q.name, delay, ports.MaxDelay)
	}
	now := q.db.now()
	if err := sendExecAt(ctx, q.db.sql, q.name, newID(), body, now, now.Add(max(delay, 0))); err != nil {
		return fmt.Errorf("send to queue %s: %w", q.name, err)
	}
	q.db.notify(q.name)
	return nil
}

// execer is what sendExec needs of a *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func sendExec(ctx context.Context, ex execer, queue, id string, body []byte, now time.Time) error {
	return sendExecAt(ctx, ex, queue, id, body, now, now)
}

func sendExecAt(ctx context.Context, ex execer, queue, id string, body []byte, now, visible time.Time) error {
	if body == nil {
		body = []byte{} // the column is NOT NULL
	}
	_, err := ex.ExecContext(ctx,
		`INSERT INTO queue_messages (queue, id, body, sent_at, visible_at) VALUES (?, ?, ?, ?, ?)`,
		queue, id, body, now.UnixNano(), visible.UnixNano())
	return err
}

// Receive claims up to max visible messages, oldest first: each becomes
// invisible for visibility, its receive count goes up by one, and it gets
// a new receipt. Messages already received MaxReceives times move to the
// dead-letter table instead. No messages is not an error.
func (q *Queue) Receive(ctx context.Context, max int, visibility time.Duration) ([]Delivery, error) {
	if err := q.check("receive"); err != nil {
		return nil, err
	}
	if max < 1 || visibility < 0 {
		return nil, fmt.Errorf("receive from queue %s: need max ≥ 1 and visibility ≥ 0, got %d and %v", q.name, max, visibility)
	}
	now := q.db.now()
	ds, dead, err := q.receive(ctx, max, now.UnixNano(), now.Add(visibility).UnixNano())
	if err != nil {
		return nil, fmt.Errorf("receive from queue %s: %w", q.name, err)
	}
	if dead > 0 {
		slog.Warn("dead-lettered messages", "queue", q.name, "count", dead, "maxReceives", q.maxReceives())
	}
	return ds, nil
}

func (q *Queue) receive(ctx context.Context, max int, now, until int64) ([]Delivery, int64, error) {
	tx, err := q.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	n := q.maxReceives()
	res, err := tx.ExecContext(ctx,
		`INSERT INTO queue_dead (queue, id, body, receive_count, sent_at, dead_at)
		 SELECT queue, id, body, receive_count, sent_at, ? FROM queue_messages
		 WHERE queue = ? AND visible_at <= ? AND receive_count >= ? ORDER BY seq`,
		now, q.name, now, n)
	if err != nil {
		return nil, 0, err
	}
	dead, err := res.RowsAffected()
	if err != nil {
		return nil, 0, err
	}
	if dead > 0 {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM queue_messages WHERE queue = ? AND visible_at <= ? AND receive_count >= ?`,
			q.name, now, n); err != nil {
			return nil, 0, err
		}
	}
	rows, err := tx.QueryContext(ctx,
		`UPDATE queue_messages
		 SET visible_at = ?, receive_count = receive_count + 1, receipt = lower(hex(randomblob(16)))
		 WHERE seq IN (SELECT seq FROM queue_messages WHERE queue = ? AND visible_at <= ? ORDER BY seq LIMIT ?)
		 RETURNING seq, id, body, receive_count, sent_at, receipt`,
		until, q.name, now, max)
	if err != nil {
		return nil, 0, err
	}
	type claimed struct {
		seq int64
		d   Delivery
	}
	var cs []claimed
	for rows.Next() {
		var c claimed
		var sent int64
		if err := rows.Scan(&c.seq, &c.d.ID, &c.d.Body, &c.d.ReceiveCount, &sent, &c.d.Receipt); err != nil {
			rows.Close()
			return nil, 0, err
		}
		c.d.SentAt = time.Unix(0, sent).UTC()
		cs = append(cs, c)
	}
	if err := rows.Close(); err != nil {
		return nil, 0, err
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, err
	}
	sort.Slice(cs, func(a, b int) bool { return cs[a].seq < cs[b].seq }) // RETURNING has no order
	ds := make([]Delivery, len(cs))
	for i, c := range cs {
		ds[i] = c.d
	}
	return ds, dead, nil
}

// Delete removes the message claimed with receipt. A stale receipt deletes
// nothing and reports ErrStaleReceipt, so a slow consumer cannot delete
// the claim of the one that received the message after it.
func (q *Queue) Delete(ctx context.Context, receipt string) error {
	res, err := q.db.sql.ExecContext(ctx, `DELETE FROM queue_messages WHERE queue = ? AND receipt = ?`, q.name, receipt)
	return q.oneRow("delete from", res, err)
}

// ChangeVisibility makes the message claimed with receipt visible again
// d from now (0: at once), as a heartbeat or to retry sooner or later.
func (q *Queue) ChangeVisibility(ctx context.Context, receipt string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("change visibility in queue %s: negative timeout %v", q.name, d)
	}
	res, err := q.db.sql.ExecContext(ctx, `UPDATE queue_messages SET visible_at = ? WHERE queue = ? AND receipt = ?`,
		q.db.now().Add(d).UnixNano(), q.name, receipt)
	if err := q.oneRow("change visibility in", res, err); err != nil {
		return err
	}
	if d == 0 {
		q.db.notify(q.name)
	}
	return nil
}

func (q *Queue) oneRow(op string, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("%s queue %s: %w", op, q.name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s queue %s: %w", op, q.name, err)
	}
	if n == 0 {
		return fmt.Errorf("%s queue %s: %w", op, q.name, ErrStaleReceipt)
	}
	return nil
}

// DeadLetters lists the queue's dead letters, oldest first.
func (q *Queue) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	rows, err := q.db.read.QueryContext(ctx,
		`SELECT id, body, receive_count, sent_at, dead_at FROM queue_dead WHERE queue = ? ORDER BY seq`, q.name)
	if err != nil {
		return nil, fmt.Errorf("list dead letters of queue %s: %w", q.name, err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var d DeadLetter
		var sent, dead int64
		if err := rows.Scan(&d.ID, &d.Body, &d.ReceiveCount, &sent, &dead); err != nil {
			return nil, fmt.Errorf("list dead letters of queue %s: %w", q.name, err)
		}
		d.SentAt, d.DeadAt = time.Unix(0, sent).UTC(), time.Unix(0, dead).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list dead letters of queue %s: %w", q.name, err)
	}
	return out, nil
}

// Stats counts the queue's messages now.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := q.db.read.QueryRowContext(ctx,
		`SELECT
		   (SELECT count(*) FROM queue_messages WHERE queue = ?1 AND visible_at <= ?2),
		   (SELECT count(*) FROM queue_messages WHERE queue = ?1 AND visible_at > ?2),
		   (SELECT count(*) FROM queue_dead WHERE queue = ?1)`,
		q.name, q.db.now().UnixNano()).Scan(&s.Visible, &s.InFlight, &s.Dead)
	if err != nil {
		return Stats{}, fmt.Errorf("stats of queue %s: %w", q.name, err)
	}
	return s, nil
}

// ReleaseClaims makes every claimed message of every queue in the file
// visible again now and revokes its receipt. A process that dies (kill -9,
// a power cut) leaves its claims behind, and they would hold its work back
// until their visibility timeouts ran out: minutes for an event, half an
// hour for a segmentation. Receive counts are kept, so a message that
// crashes the process every time still ends in the dead letters. Messages
// waiting out a retry backoff are released too, and are retried at once.
//
// Call it only while no other process uses the file (at start, holding
// the data folder's lock): it takes messages from under live consumers.
// It returns how many messages it released.
func (db *DB) ReleaseClaims(ctx context.Context) (int64, error) {
	now := db.now().UnixNano()
	res, err := db.sql.ExecContext(ctx,
		`UPDATE queue_messages SET visible_at = ?, receipt = NULL WHERE receipt IS NOT NULL AND visible_at > ?`, now, now)
	if err != nil {
		return 0, fmt.Errorf("release claims in %s: %w", db.path, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("release claims in %s: %w", db.path, err)
	}
	return n, nil
}
