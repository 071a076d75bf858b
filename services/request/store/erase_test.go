package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/store"
	"github.com/comity-mla/comity/services/trail"
)

// The texts of the case that an erasure must leave nowhere.
var erasedTexts = []string{"Narrative-of-the-fraud-7731", "Aigerim-Suspectova", "question-about-the-wallet-5512",
	"answer-about-the-wallet-5513", "message-body-9917", "returned-because-of-ip-4471", "evidence-scan-0042.pdf"}

// caseWithContent stores request id with every kind of content an erasure
// removes: narrative and persons, a clarification, a history reason, a
// message, and two attachments (one of them EVIDENCE).
func caseWithContent(t *testing.T, s *store.Store, id string) {
	t.Helper()
	ctx := t.Context()
	create(t, s, id)
	at := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	if _, err := s.Update(ctx, id, func(r *request.Request) (request.Change, error) {
		r.FactsSummary = erasedTexts[0]
		r.Persons = []request.Person{{FullName: erasedTexts[1]}}
		r.Clarifications = []request.Clarification{{Question: erasedTexts[2], Answer: erasedTexts[3]}}
		r.Status, r.UpdateTime = request.Submitted, at
		return request.Change{
			History: &request.HistoryEntry{From: request.Draft, To: request.Submitted, Reason: erasedTexts[5], Time: at},
			Event:   trail.Event{ID: "ev-content-" + id},
		}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateMessage(ctx, request.Message{ID: id + "-m", RequestID: id, Body: erasedTexts[4], Visibility: "BOTH_SIDES"},
		trail.Event{ID: "ev-m-" + id}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []request.Attachment{
		{ID: id + "-a1", RequestID: id, Kind: "EVIDENCE", Filename: erasedTexts[6], SHA256: "aa", SizeBytes: 10, BlobKey: "k1", CreateTime: at},
		{ID: id + "-a2", RequestID: id, Kind: "OTHER", Filename: "letter.pdf", SHA256: "bb", SizeBytes: 20, BlobKey: "k2", CreateTime: at.Add(time.Second)},
	} {
		if _, err := s.CreateAttachment(ctx, a, trail.Event{ID: "ev-" + a.ID}); err != nil {
			t.Fatal(err)
		}
	}
}

// eraseContent is the domain's content erasure as far as the store sees
// it: the request's content cleared, an Erasure appended.
func eraseContent(now time.Time, evID string) func(r *request.Request) (request.Change, error) {
	return func(r *request.Request) (request.Change, error) {
		r.FactsSummary, r.Persons, r.Clarifications = "", nil, nil
		r.Erasures = append(r.Erasures, request.Erasure{Scope: request.EraseContent, Cause: request.ByRetention, EraseTime: now})
		r.UpdateTime = now
		return request.Change{Event: trail.Event{ID: evID}}, nil
	}
}

func outboxCount(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(t.Context(), `SELECT COUNT(*) FROM audit_outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestErase: an evidence erasure marks the named attachments only; a
// content erasure deletes the messages, blanks the history's reasons and
// its snapshots' clarifications, clears every file name and marks the
// attachments not yet erased, with its event, in one transaction; fn's
// error writes nothing; a change without an event (the completion) writes
// none.
func TestErase(t *testing.T) {
	engines(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		s := newStore(t, db)
		caseWithContent(t, s, "req-1")
		t1 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

		boom := errors.New("not due")
		if _, _, err := s.Erase(ctx, "req-1", request.EraseScope{Content: true}, func(*request.Request) (request.Change, error) {
			return request.Change{}, boom
		}); !errors.Is(err, boom) {
			t.Fatalf("Erase with a failing fn = %v; want its error", err)
		}
		if msgs, _ := s.ListMessages(ctx, "req-1", 0, 0); len(msgs) != 1 {
			t.Fatalf("after a failed Erase, %d messages; want 1 (nothing written)", len(msgs))
		}

		before := outboxCount(t, db)
		_, marked, err := s.Erase(ctx, "req-1", request.EraseScope{Attachments: []string{"req-1-a1", "unknown"}}, func(r *request.Request) (request.Change, error) {
			r.Erasures = append(r.Erasures, request.Erasure{Scope: request.EraseEvidence, Cause: request.ByCondition, EraseTime: t1})
			r.UpdateTime = t1
			return request.Change{Event: trail.Event{ID: "ev-evidence"}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(marked) != 1 || marked[0].ID != "req-1-a1" || !marked[0].EraseTime.Equal(t1) || marked[0].BlobKey != "k1" {
			t.Fatalf("evidence erasure marked %+v; want req-1-a1 at %s", marked, t1)
		}
		atts, err := s.ListAttachments(ctx, "req-1")
		if err != nil {
			t.Fatal(err)
		}
		if !atts[0].EraseTime.Equal(t1) || atts[0].Filename != erasedTexts[6] || !atts[1].EraseTime.IsZero() {
			t.Fatalf("after the evidence erasure: %+v; want the evidence marked, its name kept, the letter untouched", atts)
		}
		if msgs, _ := s.ListMessages(ctx, "req-1", 0, 0); len(msgs) != 1 {
			t.Fatalf("an evidence erasure deleted messages: %d left", len(msgs))
		}
		if n := outboxCount(t, db); n != before+1 {
			t.Fatalf("outbox grew by %d; want the erasure's one event", n-before)
		}

		t2 := t1.Add(time.Hour)
		got, marked, err := s.Erase(ctx, "req-1", request.EraseScope{Content: true}, eraseContent(t2, "ev-content"))
		if err != nil {
			t.Fatal(err)
		}
		if len(marked) != 1 || marked[0].ID != "req-1-a2" || marked[0].Filename != "" || marked[0].BlobKey != "k2" {
			t.Fatalf("content erasure marked %+v; want only the attachment not yet erased, req-1-a2", marked)
		}
		if !got.ContentErased() || got.FactsSummary != "" || got.Reference == "" {
			t.Fatalf("request after erasure = %+v; want its content gone, its reference kept", got)
		}
		if msgs, _ := s.ListMessages(ctx, "req-1", 0, 0); len(msgs) != 0 {
			t.Fatalf("%d messages after the content erasure; want none", len(msgs))
		}
		atts, _ = s.ListAttachments(ctx, "req-1")
		if atts[0].Filename != "" || atts[1].Filename != "" || !atts[0].EraseTime.Equal(t1) || !atts[1].EraseTime.Equal(t2) ||
			atts[1].SHA256 != "bb" || atts[1].SizeBytes != 20 {
			t.Fatalf("attachments after the content erasure: %+v; want no names, erase times %s and %s, digests and sizes kept", atts, t1, t2)
		}
		hist, err := s.History(ctx, "req-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 {
			t.Fatalf("history has %d entries; want its 2 kept", len(hist))
		}
		for _, h := range hist {
			if h.Reason != "" || h.Snapshot == nil || h.Snapshot.Clarifications != nil {
				t.Fatalf("history entry %d after erasure: reason %q, snapshot %+v; want no reason and no clarifications", h.Seq, h.Reason, h.Snapshot)
			}
		}
		if h := hist[1]; h.From != request.Draft || h.To != request.Submitted {
			t.Fatalf("history entry = %s→%s; want the status change kept", h.From, h.To)
		}

		before = outboxCount(t, db)
		if _, _, err := s.Erase(ctx, "req-1", request.EraseScope{}, func(r *request.Request) (request.Change, error) {
			for i := range r.Erasures {
				r.Erasures[i].CompleteTime = t2
			}
			return request.Change{}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if n := outboxCount(t, db); n != before {
			t.Fatalf("a completion wrote %d events; want none", n-before)
		}
		if r, _ := s.Get(ctx, "req-1"); r.ErasurePending() {
			t.Fatalf("erasures = %+v; want the completion stored", r.Erasures)
		}
		if err := s.Compact(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestErasedTextsAreInNoTable: after a content erasure no erased text is
// in any column of any table of the PostgreSQL schema (every row cast to
// text); dead tuples are VACUUM's and no query sees them.
func TestErasedTextsAreInNoTable(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := t.Context()
	s := newStore(t, db)
	caseWithContent(t, s, "req-1")
	caseWithContent(t, s, "req-2")
	if _, _, err := s.Erase(ctx, "req-1", request.EraseScope{Content: true}, eraseContent(time.Now(), "ev-erase")); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	tables, err := sqldb.Collect(rows, err, func(row sqldb.Scanner) (string, error) {
		var name string
		return name, row.Scan(&name)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 5 {
		t.Fatalf("found tables %v; want the schema's", tables)
	}
	for _, table := range tables {
		for _, text := range erasedTexts {
			// A row of req-2, which keeps every text, does not count.
			var erased int
			q := `SELECT COUNT(*) FROM "` + table + `" AS t
				WHERE t::text LIKE '%' || ? || '%' AND t::text NOT LIKE '%req-2%'`
			if err := db.QueryRow(ctx, q, text).Scan(&erased); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
			if erased != 0 {
				t.Errorf("table %s still holds %q of the erased request in %d rows", table, text, erased)
			}
		}
	}
	// The search finds what is kept: req-2's texts, in the tables they are in.
	var found int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM messages AS t WHERE t::text LIKE '%' || ? || '%'`, erasedTexts[4]).Scan(&found); err != nil || found != 1 {
		t.Fatalf("the search found req-2's message %d times (%v); want once", found, err)
	}
}

// TestSQLiteFilesAfterCompact: with secure_delete and the checkpoint of
// Compact, no erased text of a request is left in the database file, its
// WAL or its shared memory, while the texts of a request kept are found
// there (the search can fail).
func TestSQLiteFilesAfterCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "requests.db")
	db := sqldbtest.SQLiteAt(t, path)
	ctx := t.Context()
	s := newStore(t, db)
	caseWithContent(t, s, "req-1")
	if _, _, err := s.Erase(ctx, "req-1", request.EraseScope{Content: true}, eraseContent(time.Now(), "ev-erase")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	var files []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		files = append(files, b...)
	}
	if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() != 0 {
		t.Errorf("the WAL holds %d bytes after Compact; want none", wal.Size())
	}
	for _, text := range erasedTexts {
		if bytes.Contains(files, []byte(text)) {
			t.Errorf("the database files still hold %q", text)
		}
	}
	// The same search finds a request that is kept.
	caseWithContent(t, s, "req-2")
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(erasedTexts[0])) {
		t.Fatal("the database file does not hold a kept request's narrative: the search proves nothing")
	}
}

// TestNoContentAfterErasure: once a request's content is erased, a message
// or an attachment record that arrives afterwards is refused with
// FAILED_PRECONDITION and nothing of it is written. The service checks the
// erasure before it reads an upload, but an upload runs for as long as its
// client sends, and the sweep may erase the request meanwhile: what the
// record then carries (a message body, a file name, the blob it points to)
// would outlive the erasure, with no retention left to erase it.
func TestNoContentAfterErasure(t *testing.T) {
	engines(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		s := newStore(t, db)
		caseWithContent(t, s, "req-late")
		t1 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, _, err := s.Erase(ctx, "req-late", request.EraseScope{Content: true}, eraseContent(t1, "ev-erase-late")); err != nil {
			t.Fatal(err)
		}
		before := outboxCount(t, db)

		_, err := s.CreateMessage(ctx, request.Message{ID: "req-late-m2", RequestID: "req-late", Body: "late-message-6061",
			Visibility: "BOTH_SIDES"}, trail.Event{ID: "ev-late-m"})
		if !errors.Is(err, errs.ErrFailedPrecondition) {
			t.Errorf("CreateMessage on an erased request = %v; want FAILED_PRECONDITION", err)
		}
		if msgs, _ := s.ListMessages(ctx, "req-late", 0, 0); len(msgs) != 0 {
			t.Errorf("an erased request holds %d messages after a late one: %+v", len(msgs), msgs)
		}

		_, err = s.CreateAttachment(ctx, request.Attachment{ID: "req-late-a3", RequestID: "req-late", Kind: "EVIDENCE",
			Filename: "late-scan-6062.pdf", SHA256: "cc", SizeBytes: 5, BlobKey: "k3", CreateTime: t1}, trail.Event{ID: "ev-late-a"})
		if !errors.Is(err, errs.ErrFailedPrecondition) {
			t.Errorf("CreateAttachment on an erased request = %v; want FAILED_PRECONDITION", err)
		}
		atts, err := s.ListAttachments(ctx, "req-late")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range atts {
			if a.EraseTime.IsZero() {
				t.Errorf("an erased request holds an attachment whose content is kept: %+v", a)
			}
		}
		if n := outboxCount(t, db); n != before {
			t.Errorf("the refused writes left %d events in the outbox", n-before)
		}
	})
}
