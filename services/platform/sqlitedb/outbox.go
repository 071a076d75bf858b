package sqlitedb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/audit"
)

// Outbox is the audit outbox of a service's database: the table
// audit_outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE,
// event TEXT, created_at INTEGER, delivered_at INTEGER), which each store
// creates in its migrations. Stores embed it to implement audit.Recorder and
// audit.Outbox, and call InsertEvent inside their own transactions.
type Outbox struct{ DB *DB }

var (
	_ audit.Recorder = Outbox{}
	_ audit.Outbox   = Outbox{}
)

// InsertEvent adds e to the outbox in tx unless an event with its id is
// there. An event without an id is refused, so that a change cannot be
// stored without the event that records it.
func InsertEvent(ctx context.Context, tx *sql.Tx, e audit.Event) error {
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

// RecordEvent implements audit.Recorder: it writes e to the outbox on its
// own. An event whose id is already there, delivered or not, is not written
// again, and that is no error, so that a retried call records once.
func (o Outbox) RecordEvent(ctx context.Context, e audit.Event) error {
	return WithTx(ctx, o.DB.Write, func(tx *sql.Tx) error { return InsertEvent(ctx, tx, e) })
}

// PendingEvents implements audit.Outbox: up to limit (0 or less: all) events
// not yet delivered, in the order they were written. Writes are serialised,
// so that is also the order of their commits.
func (o Outbox) PendingEvents(ctx context.Context, limit int) ([]audit.OutboxEntry, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := o.DB.Read.QueryContext(ctx,
		`SELECT seq, event FROM audit_outbox WHERE delivered_at IS NULL ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	defer rows.Close()
	var out []audit.OutboxEntry
	for rows.Next() {
		var (
			e   audit.OutboxEntry
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

// MarkDelivered implements audit.Outbox: PendingEvents no longer returns the
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
