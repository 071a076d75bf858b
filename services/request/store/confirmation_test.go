package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/storedoc"
	"github.com/comity-mla/comity/services/trail"
)

// confirmationDueBy reads the column of request id; nil for NULL.
func confirmationDueBy(t *testing.T, db *sqldb.DB, id string) *time.Time {
	t.Helper()
	var due time.Time
	var isNull bool
	if err := db.QueryRow(t.Context(), `SELECT confirmation_due_by IS NULL FROM requests WHERE id = ?`, id).Scan(&isNull); err != nil {
		t.Fatal(err)
	}
	if isNull {
		return nil
	}
	if err := db.QueryRow(t.Context(), `SELECT confirmation_due_by FROM requests WHERE id = ?`, id).Scan(sqldb.ScanTime(&due)); err != nil {
		t.Fatal(err)
	}
	return &due
}

// ids lists the ids of the requests filter selects.
func ids(t *testing.T, s request.Store, filter query.Expr) []string {
	t.Helper()
	page, err := s.List(t.Context(), request.ListQuery{Filter: filter, OrderBy: []query.Order{{Field: "createTime"}}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range page.Requests {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	return out
}

// TestConfirmationDueByColumn: the column holds the confirmation deadline
// of a request recorded from a call, follows it on update and is NULL once
// it is cleared (confirmed) and for every other request, those stored
// before migration 0006 included; a filter on it, negated too, selects as
// if NULL were a date that never comes.
func TestConfirmationDueByColumn(t *testing.T) {
	engines(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		migrateTo(t, db, "0001_requests.sql", "0002_create_keys.sql", "0003_audit_dead_letters.sql",
			"0004_requests_update_time.sql", "0005_clarifications_snapshots.sql")
		old := draft("req-old")
		old.Reference, old.Version = "KZ-2026-000001", 1
		insertRequest(t, db, storedoc.Stored(old))
		if _, err := db.Exec(ctx, `INSERT INTO reference_counters (state, year, last) VALUES ('KZ', 2026, 1)`); err != nil {
			t.Fatal(err)
		}
		s := newStore(t, db)
		due := time.Date(2026, 3, 5, 8, 0, 0, 0, time.UTC)
		oral := draft("req-oral")
		oral.Status, oral.Deadlines.ConfirmationDueBy = request.Acknowledged, due
		if _, _, err := s.Create(ctx, oral, request.IdempotencyKey{}, request.Change{
			History: &request.HistoryEntry{To: request.Acknowledged, Action: "recordOral"}, Event: trail.Event{ID: "ev-oral"},
		}); err != nil {
			t.Fatal(err)
		}
		create(t, s, "req-new")
		if got := confirmationDueBy(t, db, "req-oral"); got == nil || !got.Equal(due) {
			t.Errorf("column of the recorded request %v, want %v", got, due)
		}
		for _, id := range []string{"req-old", "req-new"} {
			if got := confirmationDueBy(t, db, id); got != nil {
				t.Errorf("column of %s %v, want NULL", id, got)
			}
		}
		before := query.Compare{Field: "confirmationDueBy", Op: query.Lt, Value: due.Add(time.Second)}
		if got := ids(t, s, before); !slices.Equal(got, []string{"req-oral"}) {
			t.Errorf("due before %v: %v, want req-oral", due.Add(time.Second), got)
		}
		if got := ids(t, s, query.Not{X: before}); !slices.Equal(got, []string{"req-new", "req-old"}) {
			t.Errorf("not due before: %v, want the two others (NULL is never due)", got)
		}
		if got := ids(t, s, query.Compare{Field: "confirmationDueBy", Op: query.Lt, Value: due}); len(got) != 0 {
			t.Errorf("due before %v: %v, want none", due, got)
		}
		later := due.Add(24 * time.Hour)
		if _, err := s.Update(ctx, "req-oral", func(r *request.Request) (request.Change, error) {
			r.Deadlines.ConfirmationDueBy = later
			return request.Change{Event: trail.Event{ID: "ev-later"}}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := confirmationDueBy(t, db, "req-oral"); got == nil || !got.Equal(later) {
			t.Errorf("column after the update %v, want %v", got, later)
		}
		if _, err := s.Update(ctx, "req-oral", func(r *request.Request) (request.Change, error) {
			r.Deadlines.ConfirmationDueBy, r.Owner = time.Time{}, "p-kz"
			return request.Change{Event: trail.Event{ID: "ev-confirm"}}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := confirmationDueBy(t, db, "req-oral"); got != nil {
			t.Errorf("column once confirmed %v, want NULL", got)
		}
		if got := ids(t, s, query.Not{X: before}); len(got) != 3 {
			t.Errorf("not due before, once confirmed: %v, want all three", got)
		}
	})
}
