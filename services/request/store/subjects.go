package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/storedoc"
	"github.com/comity-mla/comity/services/trail"
)

// Data subjects' requests (DESIGN §10). A row holds the whole record as
// its document (storedoc), and beside it what lists and filters select on:
// the state, the receive time (the list's order) and ReviewBy (the overdue
// filter).

func scanSubject(row sqldb.Scanner) (request.DataSubjectRequest, error) {
	var doc string
	if err := row.Scan(&doc); err != nil {
		return request.DataSubjectRequest{}, err
	}
	d, err := storedoc.DecodeDataSubjectRequest(doc)
	if err != nil {
		return request.DataSubjectRequest{}, fmt.Errorf("decode data subject's request: %w", err)
	}
	return d, nil
}

// getSubject reads one; lock takes its row lock until the end of the
// transaction.
func getSubject(ctx context.Context, q sqldb.Querier, d sqldb.Dialect, id string, lock bool) (request.DataSubjectRequest, error) {
	sql := `SELECT doc FROM data_subject_requests WHERE id = ?`
	if lock {
		sql += d.ForUpdate()
	}
	out, err := scanSubject(q.QueryRow(ctx, sql, id))
	if errors.Is(err, sqldb.ErrNoRows) {
		return request.DataSubjectRequest{}, errs.New(errs.NotFound, "data subject's request %q not found", id)
	}
	if err != nil {
		return request.DataSubjectRequest{}, fmt.Errorf("get data subject's request %s: %w", id, err)
	}
	return out, nil
}

// CreateDataSubjectRequest implements request.Store. An id that exists is
// errs.AlreadyExists.
func (s *Store) CreateDataSubjectRequest(ctx context.Context, d request.DataSubjectRequest, ev trail.Event) (request.DataSubjectRequest, error) {
	if d.ID == "" {
		return request.DataSubjectRequest{}, errors.New("create data subject's request: no id")
	}
	stamp(&d.CreateTime)
	if d.UpdateTime.IsZero() {
		d.UpdateTime = d.CreateTime
	}
	d.Version = 1
	d = storedoc.StoredDataSubjectRequest(d)
	db := s.db.Dialect()
	evStmt, err := eventOf(db, ev)
	if err != nil {
		return request.DataSubjectRequest{}, fmt.Errorf("create data subject's request %s: %w", d.ID, err)
	}
	_, err = s.runAlone(ctx, []stmt{{sql: `INSERT INTO data_subject_requests (id, state, receive_time, review_by,
		create_time, update_time, version, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		args: []any{d.ID, d.State, db.Time(d.ReceiveTime), db.NullTime(d.ReviewBy()), db.Time(d.CreateTime), db.Time(d.UpdateTime),
			d.Version, storedoc.EncodeDataSubjectRequest(d)}}, evStmt})
	if duplicate(err, "data_subject_requests_pkey", "data_subject_requests.id") {
		return request.DataSubjectRequest{}, errs.Wrap(err, errs.AlreadyExists, "data subject's request %q already exists", d.ID)
	}
	if err != nil {
		return request.DataSubjectRequest{}, fmt.Errorf("create data subject's request %s: %w", d.ID, err)
	}
	return d, nil
}

// GetDataSubjectRequest implements request.Store.
func (s *Store) GetDataSubjectRequest(ctx context.Context, id string) (request.DataSubjectRequest, error) {
	return getSubject(ctx, s.db, s.db.Dialect(), id, false)
}

// ListDataSubjectRequests implements request.Store.
func (s *Store) ListDataSubjectRequests(ctx context.Context, state string, offset, limit int) ([]request.DataSubjectRequest, bool, error) {
	// One more row than the page tells whether another page follows.
	n := limit
	if n > 0 {
		n++
	}
	rows, err := s.db.Query(ctx, `SELECT doc FROM data_subject_requests WHERE state = ?
		ORDER BY receive_time DESC, id DESC LIMIT ? OFFSET ?`, state, s.db.Dialect().Limit(n), max(offset, 0))
	out, err := sqldb.Collect(rows, err, scanSubject)
	if err != nil {
		return nil, false, fmt.Errorf("list data subjects' requests of %s: %w", state, err)
	}
	if limit > 0 && len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// UpdateDataSubjectRequest implements request.Store. fn runs while the
// row is locked: on SQLite by the single writer, on PostgreSQL by SELECT …
// FOR UPDATE. Its id, state and creation cannot change.
func (s *Store) UpdateDataSubjectRequest(ctx context.Context, id string, fn func(*request.DataSubjectRequest) (trail.Event, error)) (request.DataSubjectRequest, error) {
	db := s.db.Dialect()
	var out request.DataSubjectRequest
	err := s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		cur, err := getSubject(ctx, tx, db, id, true)
		if err != nil {
			return err
		}
		d := cur
		ev, err := fn(&d)
		if err != nil {
			return err
		}
		if d.ID != cur.ID || d.State != cur.State || !d.CreateTime.Equal(cur.CreateTime) {
			return fmt.Errorf("update data subject's request %s: its id, state and creation cannot change", id)
		}
		d.Version = cur.Version + 1
		d = storedoc.StoredDataSubjectRequest(d)
		evStmt, err := eventOf(db, ev)
		if err != nil {
			return fmt.Errorf("update data subject's request %s: %w", id, err)
		}
		if _, err := s.run(ctx, tx, []stmt{{sql: `UPDATE data_subject_requests SET receive_time = ?, review_by = ?,
			update_time = ?, version = ?, doc = ? WHERE id = ?`,
			args: []any{db.Time(d.ReceiveTime), db.NullTime(d.ReviewBy()), db.Time(d.UpdateTime), d.Version,
				storedoc.EncodeDataSubjectRequest(d), id}}, evStmt}); err != nil {
			return fmt.Errorf("update data subject's request %s: %w", id, err)
		}
		out = d
		return nil
	})
	if err != nil {
		return request.DataSubjectRequest{}, err
	}
	return out, nil
}
