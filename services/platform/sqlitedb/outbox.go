package sqlitedb

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/trail"
)

// Outbox is the audit outbox of a service's database: the table
// audit_outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE,
// event TEXT, created_at INTEGER, delivered_at INTEGER, dead_letter_time
// INTEGER, dead_letter_reason TEXT), which each store creates in its
// migrations. Stores embed it to implement trail.Recorder and
// trail.Outbox, and call InsertEvent inside their own transactions.
type Outbox struct{ DB *DB }

var (
	_ trail.Recorder = Outbox{}
	_ trail.Outbox   = Outbox{}
)

// InsertEvent adds e to the outbox in tx unless an event with its id is
// there. An event without an id is refused, so that a change cannot be
// stored without the event that records it.
func InsertEvent(ctx context.Context, tx *sql.Tx, e trail.Event) error {
	if e.ID == "" {
		return errors.New("audit event has no id")
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	doc, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_outbox (event_id, event, created_at) VALUES (?, ?, ?)
		ON CONFLICT (event_id) DO NOTHING`, e.ID, string(doc), time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	return nil
}

// RecordEvent implements trail.Recorder: it writes e to the outbox on its
// own. An event whose id is already there, delivered or not, is not written
// again, and that is no error, so that a retried call records once.
func (o Outbox) RecordEvent(ctx context.Context, e trail.Event) error {
	return WithTx(ctx, o.DB.Write, func(tx *sql.Tx) error { return InsertEvent(ctx, tx, e) })
}

// PendingEvents implements trail.Outbox: up to limit (0 or less: all) events
// neither delivered nor dead-lettered, in the order they were written. Writes are serialised,
// so that is also the order of their commits.
func (o Outbox) PendingEvents(ctx context.Context, limit int) ([]trail.OutboxEntry, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := o.DB.Read.QueryContext(ctx,
		`SELECT seq, event FROM audit_outbox WHERE delivered_at IS NULL AND dead_letter_time IS NULL ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	defer rows.Close()
	var out []trail.OutboxEntry
	for rows.Next() {
		var (
			e   trail.OutboxEntry
			doc string
		)
		if err := rows.Scan(&e.Seq, &doc); err != nil {
			return nil, fmt.Errorf("pending events: %w", err)
		}
		if err := json.Unmarshal([]byte(doc), &e.Event); err != nil {
			return nil, fmt.Errorf("pending events: outbox entry %d: %w", e.Seq, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	return out, nil
}

// MarkDelivered implements trail.Outbox: PendingEvents no longer returns the
// entries seqs. Unknown or already delivered seqs are ignored. Delivered
// entries are kept, so that RecordEvent stays idempotent for their ids.
func (o Outbox) MarkDelivered(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	list := make([]string, len(seqs))
	for i, s := range seqs {
		list[i] = strconv.FormatInt(s, 10)
	}
	err := WithTx(ctx, o.DB.Write, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE audit_outbox SET delivered_at = ?
			WHERE delivered_at IS NULL AND seq IN (SELECT value FROM json_each(?))`,
			time.Now().UnixMicro(), "["+strings.Join(list, ",")+"]")
		return err
	})
	if err != nil {
		return fmt.Errorf("mark events delivered: %w", err)
	}
	return nil
}

// DeadLetter implements trail.Outbox.
func (o Outbox) DeadLetter(ctx context.Context, seq int64, reason string) error {
	if reason == "" {
		return errors.New("dead letter: no reason given")
	}
	var n int64
	err := WithTx(ctx, o.DB.Write, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE audit_outbox SET dead_letter_time = ?, dead_letter_reason = ?
			WHERE seq = ? AND delivered_at IS NULL AND dead_letter_time IS NULL`, time.Now().UnixMicro(), reason, seq)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
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
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := o.DB.Read.QueryContext(ctx, `SELECT seq, event, dead_letter_time, dead_letter_reason FROM audit_outbox
		WHERE dead_letter_time IS NOT NULL AND delivered_at IS NULL ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	defer rows.Close()
	var out []trail.DeadLetter
	for rows.Next() {
		var (
			d    trail.DeadLetter
			doc  string
			when int64
		)
		if err := rows.Scan(&d.Seq, &doc, &when, &d.Reason); err != nil {
			return nil, fmt.Errorf("dead letters: %w", err)
		}
		if err := json.Unmarshal([]byte(doc), &d.Event); err != nil {
			return nil, fmt.Errorf("dead letters: outbox entry %d: %w", d.Seq, err)
		}
		d.Time = time.UnixMicro(when).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return out, nil
}

// Redeliver implements trail.Outbox.
func (o Outbox) Redeliver(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("redeliver: %w", err)
	}
	var back []string
	err = WithTx(ctx, o.DB.Write, func(tx *sql.Tx) error {
		back = nil
		rows, err := tx.QueryContext(ctx, `UPDATE audit_outbox SET dead_letter_time = NULL, dead_letter_reason = NULL
			WHERE dead_letter_time IS NOT NULL AND delivered_at IS NULL AND event_id IN (SELECT value FROM json_each(?))
			RETURNING seq, event_id`, string(list))
		if err != nil {
			return err
		}
		defer rows.Close()
		var got []trail.OutboxEntry
		for rows.Next() {
			var e trail.OutboxEntry
			if err := rows.Scan(&e.Seq, &e.Event.ID); err != nil {
				return err
			}
			got = append(got, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		back = sortedIDs(got)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redeliver: %w", err)
	}
	return back, nil
}

// sortedIDs returns the event ids of entries in seq order: RETURNING gives
// rows in no promised order.
func sortedIDs(entries []trail.OutboxEntry) []string {
	slices.SortFunc(entries, func(a, b trail.OutboxEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.Event.ID
	}
	return ids
}

// RedeliverAll implements trail.Outbox.
func (o Outbox) RedeliverAll(ctx context.Context) (int64, error) {
	var n int64
	err := WithTx(ctx, o.DB.Write, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE audit_outbox SET dead_letter_time = NULL, dead_letter_reason = NULL
			WHERE dead_letter_time IS NOT NULL AND delivered_at IS NULL`)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("redeliver all: %w", err)
	}
	return n, nil
}

// Stats implements trail.Outbox.
func (o Outbox) Stats(ctx context.Context) (trail.OutboxStats, error) {
	var (
		st     trail.OutboxStats
		oldest sql.NullInt64
	)
	err := o.DB.Read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM audit_outbox WHERE delivered_at IS NULL AND dead_letter_time IS NULL),
		(SELECT min(created_at) FROM audit_outbox WHERE delivered_at IS NULL AND dead_letter_time IS NULL),
		(SELECT count(*) FROM audit_outbox WHERE dead_letter_time IS NOT NULL AND delivered_at IS NULL)`).Scan(&st.Backlog, &oldest, &st.DeadLetters)
	if err != nil {
		return trail.OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	if oldest.Valid {
		st.Oldest = time.UnixMicro(oldest.Int64).UTC()
	}
	return st, nil
}
