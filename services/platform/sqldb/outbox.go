package sqldb

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/trail"
)

// Outbox is the audit outbox of a service's database: the table
// audit_outbox(seq, event_id UNIQUE, event, created_at, delivered_at,
// dead_letter_time, dead_letter_reason), which each store creates in its
// migrations (SQLite: INTEGER PRIMARY KEY AUTOINCREMENT, TEXT JSON and
// INTEGER microseconds; PostgreSQL: bigint identity, jsonb and timestamptz).
// Stores embed it to implement trail.Recorder and trail.Outbox, and call
// InsertEvent inside their own transactions.
type Outbox struct{ DB *DB }

var (
	_ trail.Recorder = Outbox{}
	_ trail.Outbox   = Outbox{}
)

// InsertEvent adds e to the outbox in tx unless an event with its id is
// there. An event without an id is refused, so that a change cannot be
// stored without the event that records it.
func InsertEvent(ctx context.Context, tx *Tx, e trail.Event) error {
	if e.ID == "" {
		return errors.New("audit event has no id")
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	doc, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_outbox (event_id, event, created_at) VALUES (?, ?, ?)
		ON CONFLICT (event_id) DO NOTHING`, e.ID, string(doc), tx.db.d.Time(time.Now())); err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	return nil
}

// RecordEvent implements trail.Recorder: it writes e to the outbox on its
// own. An event whose id is already there, delivered or not, is not written
// again, and that is no error, so that a retried call records once.
func (o Outbox) RecordEvent(ctx context.Context, e trail.Event) error {
	return o.DB.WithTx(ctx, func(tx *Tx) error { return InsertEvent(ctx, tx, e) })
}

// PendingEvents implements trail.Outbox: up to limit (0 or less: all) events
// neither delivered nor dead-lettered, in seq order.
//
// On SQLite writes are serialised, so that is also the order of their
// commits. On PostgreSQL transactions of several replicas commit in their
// own order, so an event may become visible after one with a higher seq; it
// is then returned by a later call, never skipped. Relays on several
// replicas may get the same events; delivery is idempotent by event id.
func (o Outbox) PendingEvents(ctx context.Context, limit int) ([]trail.OutboxEntry, error) {
	rows, err := o.DB.Query(ctx, `SELECT seq, event FROM audit_outbox
		WHERE delivered_at IS NULL AND dead_letter_time IS NULL ORDER BY seq LIMIT ?`, o.DB.d.Limit(limit))
	out, err := Collect(rows, err, func(row Scanner) (trail.OutboxEntry, error) {
		var e trail.OutboxEntry
		err := scanEvent(row, &e.Seq, &e.Event)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	return out, nil
}

// scanEvent scans a row's seq and event document, and then more columns
// into more.
func scanEvent(row Scanner, seq *int64, e *trail.Event, more ...any) error {
	var doc string
	if err := row.Scan(append([]any{seq, &doc}, more...)...); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(doc), e); err != nil {
		return fmt.Errorf("outbox entry %d: %w", *seq, err)
	}
	return nil
}

// MarkDelivered implements trail.Outbox: PendingEvents no longer returns the
// entries seqs. Unknown or already delivered seqs are ignored. Delivered
// entries are kept, so that RecordEvent stays idempotent for their ids.
func (o Outbox) MarkDelivered(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	d := o.DB.d
	if _, err := o.DB.Exec(ctx, `UPDATE audit_outbox SET delivered_at = ? WHERE delivered_at IS NULL AND `+d.In("seq"),
		d.Time(time.Now()), List(d, seqs)); err != nil {
		return fmt.Errorf("mark events delivered: %w", err)
	}
	return nil
}

// DeadLetter implements trail.Outbox.
func (o Outbox) DeadLetter(ctx context.Context, seq int64, reason string) error {
	if reason == "" {
		return errors.New("dead letter: no reason given")
	}
	n, err := o.DB.Exec(ctx, `UPDATE audit_outbox SET dead_letter_time = ?, dead_letter_reason = ?
		WHERE seq = ? AND delivered_at IS NULL AND dead_letter_time IS NULL`, o.DB.d.Time(time.Now()), reason, seq)
	if err != nil {
		return fmt.Errorf("dead letter %d: %w", seq, err)
	}
	if n == 0 {
		return errs.New(errs.NotFound, "dead letter: no pending event at outbox seq %d", seq)
	}
	return nil
}

// DeadLetters implements trail.Outbox.
func (o Outbox) DeadLetters(ctx context.Context, limit int) ([]trail.DeadLetter, error) {
	rows, err := o.DB.Query(ctx, `SELECT seq, event, dead_letter_time, dead_letter_reason FROM audit_outbox
		WHERE dead_letter_time IS NOT NULL AND delivered_at IS NULL ORDER BY seq LIMIT ?`, o.DB.d.Limit(limit))
	out, err := Collect(rows, err, func(row Scanner) (trail.DeadLetter, error) {
		var d trail.DeadLetter
		err := scanEvent(row, &d.Seq, &d.Event, ScanTime(&d.Time), &d.Reason)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return out, nil
}

// Redeliver implements trail.Outbox.
func (o Outbox) Redeliver(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	type back struct {
		seq int64
		id  string
	}
	var got []back
	err := o.DB.WithTx(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, `UPDATE audit_outbox SET dead_letter_time = NULL, dead_letter_reason = NULL
			WHERE dead_letter_time IS NOT NULL AND delivered_at IS NULL AND `+tx.db.d.In("event_id")+`
			RETURNING seq, event_id`, List(tx.db.d, ids))
		got, err = Collect(rows, err, func(row Scanner) (back, error) {
			var b back
			err := row.Scan(&b.seq, &b.id)
			return b, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("redeliver: %w", err)
	}
	// RETURNING gives rows in no promised order.
	slices.SortFunc(got, func(a, b back) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]string, len(got))
	for i, b := range got {
		out[i] = b.id
	}
	return out, nil
}

// RedeliverAll implements trail.Outbox.
func (o Outbox) RedeliverAll(ctx context.Context) (int64, error) {
	n, err := o.DB.Exec(ctx, `UPDATE audit_outbox SET dead_letter_time = NULL, dead_letter_reason = NULL
		WHERE dead_letter_time IS NOT NULL AND delivered_at IS NULL`)
	if err != nil {
		return 0, fmt.Errorf("redeliver all: %w", err)
	}
	return n, nil
}

// Stats implements trail.Outbox.
func (o Outbox) Stats(ctx context.Context) (trail.OutboxStats, error) {
	var st trail.OutboxStats
	err := o.DB.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM audit_outbox WHERE delivered_at IS NULL AND dead_letter_time IS NULL),
		(SELECT min(created_at) FROM audit_outbox WHERE delivered_at IS NULL AND dead_letter_time IS NULL),
		(SELECT count(*) FROM audit_outbox WHERE dead_letter_time IS NOT NULL AND delivered_at IS NULL)`).Scan(&st.Backlog, ScanTime(&st.Oldest), &st.DeadLetters)
	if err != nil {
		return trail.OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	return st, nil
}
