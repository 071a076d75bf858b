package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/request"
)

// Erase implements request.Store: one transaction, the request locked as
// Update locks it. The attachments marked get as their erase time the
// request's UpdateTime as fn left it, the domain's clock, so that the
// request's Erasure and its attachments name one moment.
//
// A Change without an event and without a history entry writes neither:
// it is how the domain records that an erasure recorded before is complete.
//
// On SQLite, which runs with secure_delete, what is deleted or overwritten
// here is zeroed in the database file's pages; the WAL keeps the old pages
// until Compact.
func (s *Store) Erase(ctx context.Context, id string, scope request.EraseScope, fn func(r *request.Request) (request.Change, error)) (request.Request, []request.Attachment, error) {
	d := s.db.Dialect()
	var (
		out    request.Request
		marked []request.Attachment
	)
	err := s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		cur, err := getRequest(ctx, tx, d, id, true)
		if err != nil {
			return err
		}
		r := cur
		ch, err := fn(&r)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+attachmentColumns+` FROM attachments
			WHERE request_id = ? AND erase_time IS NULL ORDER BY create_time, id`, id)
		kept, err := sqldb.Collect(rows, err, scanAttachment)
		if err != nil {
			return fmt.Errorf("erase request %s: attachments: %w", id, err)
		}
		marked = slices.DeleteFunc(kept, func(a request.Attachment) bool {
			return !scope.Content && !slices.Contains(scope.Attachments, a.ID)
		})
		now := r.UpdateTime
		var stmts []stmt
		if scope.Content {
			stmts = append(stmts,
				stmt{sql: `DELETE FROM messages WHERE request_id = ?`, args: []any{id}},
				stmt{sql: `UPDATE history SET reason = '', snapshot = ` + withoutClarifications(d) + ` WHERE request_id = ?`, args: []any{id}},
				stmt{sql: `UPDATE attachments SET filename = '' WHERE request_id = ?`, args: []any{id}})
		}
		for i := range marked {
			marked[i].EraseTime = now
			if scope.Content {
				marked[i].Filename = ""
			}
			stmts = append(stmts, stmt{sql: `UPDATE attachments SET erase_time = ? WHERE id = ? AND request_id = ?`,
				args: []any{d.Time(now), marked[i].ID, id}})
		}
		if _, err := s.run(ctx, tx, stmts); err != nil {
			return fmt.Errorf("erase request %s: %w", id, err)
		}
		out, err = s.writeRequest(ctx, tx, cur, r, func(r request.Request) ([]stmt, error) {
			if ch.Event.ID == "" && ch.History == nil {
				return nil, nil
			}
			return changeOf(d, r, ch)
		})
		return err
	})
	if err != nil {
		return request.Request{}, nil, err
	}
	for i := range marked {
		marked[i].EraseTime = out.UpdateTime
	}
	return out, marked, nil
}

// withoutClarifications is the SQL of a history entry's snapshot without
// the clarifications it kept (their questions and answers are content);
// NULL stays NULL.
func withoutClarifications(d sqldb.Dialect) string {
	if d == sqldb.Postgres {
		return `snapshot - 'clarifications'`
	}
	return `json_remove(snapshot, '$.clarifications')`
}

// Compact implements request.Store: on SQLite a checkpoint that copies the
// WAL into the database file and truncates it, so that the pages an erasure
// overwrote are in no file; nothing on PostgreSQL.
func (s *Store) Compact(ctx context.Context) error {
	if err := s.db.CheckpointTruncate(ctx); err != nil {
		return fmt.Errorf("compact request database: %w", err)
	}
	return nil
}
