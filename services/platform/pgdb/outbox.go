package pgdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/trail"
)

// Outbox is the audit outbox of a service's database: the table
// audit_outbox(seq bigint identity PRIMARY KEY, event_id text UNIQUE, event
// jsonb, created_at timestamptz, delivered_at timestamptz, dead_letter_time
// timestamptz, dead_letter_reason text), which each store creates in its
// migrations. Stores embed it to implement trail.Recorder and
// trail.Outbox, and call InsertEvent inside their own transactions.
type Outbox struct{ Pool *pgxpool.Pool }

var (
	_ trail.Recorder = Outbox{}
	_ trail.Outbox   = Outbox{}
)

// InsertEvent adds e to the outbox in tx unless an event with its id is
// there. An event without an id is refused, so that a change cannot be
// stored without the event that records it.
func InsertEvent(ctx context.Context, tx pgx.Tx, e trail.Event) error {
	if e.ID == "" {
		return errors.New("audit event has no id")
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	doc, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_outbox (event_id, event) VALUES ($1, $2)
		ON CONFLICT (event_id) DO NOTHING`, e.ID, string(doc)); err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	return nil
}

// RecordEvent implements trail.Recorder: it writes e to the outbox on its
// own. An event whose id is already there, delivered or not, is not written
// again, and that is no error, so that a retried call records once.
func (o Outbox) RecordEvent(ctx context.Context, e trail.Event) error {
	return WithTx(ctx, o.Pool, func(tx pgx.Tx) error { return InsertEvent(ctx, tx, e) })
}

// PendingEvents implements trail.Outbox: up to limit (0 or less: all) events
// neither delivered nor dead-lettered, in seq order. Transactions of several replicas commit
// in their own order, so an event may become visible after one with a higher
// seq; it is then returned by a later call, never skipped. Relays on several
// replicas may get the same events; delivery is idempotent by event id.
func (o Outbox) PendingEvents(ctx context.Context, limit int) ([]trail.OutboxEntry, error) {
	query := `SELECT seq, event FROM audit_outbox WHERE delivered_at IS NULL AND dead_letter_time IS NULL ORDER BY seq`
	if limit > 0 {
		query += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := o.Pool.Query(ctx, query)
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
	if _, err := o.Pool.Exec(ctx, `UPDATE audit_outbox SET delivered_at = now()
		WHERE delivered_at IS NULL AND seq = ANY($1)`, seqs); err != nil {
		return fmt.Errorf("mark events delivered: %w", err)
	}
	return nil
}

// DeadLetter implements trail.Outbox.
func (o Outbox) DeadLetter(ctx context.Context, seq int64, reason string) error {
	if reason == "" {
		return errors.New("dead letter: no reason given")
	}
	tag, err := o.Pool.Exec(ctx, `UPDATE audit_outbox SET dead_letter_time = now(), dead_letter_reason = $2
		WHERE seq = $1 AND delivered_at IS NULL AND dead_letter_time IS NULL`, seq, reason)
	if err != nil {
		return fmt.Errorf("dead letter %d: %w", seq, err)
	}
	if tag.RowsAffected() == 0 {
		return errs.New(errs.NotFound, "dead letter: no pending event at outbox seq %d", seq)
	}
	return nil
}

// DeadLetters implements trail.Outbox.
func (o Outbox) DeadLetters(ctx context.Context, limit int) ([]trail.DeadLetter, error) {
	query := `SELECT seq, event, dead_letter_time, dead_letter_reason FROM audit_outbox
		WHERE dead_letter_time IS NOT NULL AND delivered_at IS NULL ORDER BY seq`
	if limit > 0 {
		query += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := o.Pool.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	defer rows.Close()
	var out []trail.DeadLetter
	for rows.Next() {
		var (
			d   trail.DeadLetter
			doc string
		)
		if err := rows.Scan(&d.Seq, &doc, &d.Time, &d.Reason); err != nil {
			return nil, fmt.Errorf("dead letters: %w", err)
		}
		if err := json.Unmarshal([]byte(doc), &d.Event); err != nil {
			return nil, fmt.Errorf("dead letters: outbox entry %d: %w", d.Seq, err)
		}
		d.Time = d.Time.UTC()
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
	rows, err := o.Pool.Query(ctx, `WITH back AS (
			UPDATE audit_outbox SET dead_letter_time = NULL, dead_letter_reason = NULL
			WHERE dead_letter_time IS NOT NULL AND delivered_at IS NULL AND event_id = ANY($1)
			RETURNING seq, event_id)
		SELECT event_id FROM back ORDER BY seq`, ids)
	if err != nil {
		return nil, fmt.Errorf("redeliver: %w", err)
	}
	back, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("redeliver: %w", err)
	}
	return back, nil
}

// RedeliverAll implements trail.Outbox.
func (o Outbox) RedeliverAll(ctx context.Context) (int64, error) {
	tag, err := o.Pool.Exec(ctx, `UPDATE audit_outbox SET dead_letter_time = NULL, dead_letter_reason = NULL
		WHERE dead_letter_time IS NOT NULL AND delivered_at IS NULL`)
	if err != nil {
		return 0, fmt.Errorf("redeliver all: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Stats implements trail.Outbox.
func (o Outbox) Stats(ctx context.Context) (trail.OutboxStats, error) {
	var (
		st     trail.OutboxStats
		oldest *time.Time
	)
	err := o.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM audit_outbox WHERE delivered_at IS NULL AND dead_letter_time IS NULL),
		(SELECT min(created_at) FROM audit_outbox WHERE delivered_at IS NULL AND dead_letter_time IS NULL),
		(SELECT count(*) FROM audit_outbox WHERE dead_letter_time IS NOT NULL AND delivered_at IS NULL)`).Scan(&st.Backlog, &oldest, &st.DeadLetters)
	if err != nil {
		return trail.OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	if oldest != nil {
		st.Oldest = oldest.UTC()
	}
	return st, nil
}
