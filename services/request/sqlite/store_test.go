package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/sqlite"
	"github.com/comity-mla/comity/services/request/storedoc"
	"github.com/comity-mla/comity/services/request/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) request.Store {
		db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "requests.db"))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := sqlite.New(t.Context(), db)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	})
}

// TestLegacyKeys migrates a database whose idempotency key predates
// 0002_create_keys (it knew only the owner's subject) and checks what
// became of the key.
func TestLegacyKeys(t *testing.T) {
	ctx := t.Context()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "requests.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	first, err := os.ReadFile("migrations/0001_requests.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitedb.Migrate(ctx, db, fstest.MapFS{"0001_requests.sql": {Data: first}}); err != nil {
		t.Fatal(err)
	}
	r := storedoc.Stored(storetest.LegacyKeyRequest())
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO requests (id, reference, type, priority, status,
		requesting_agency, requesting_state, requested_agency, requested_state, owner, transmitted,
		create_time, update_time, version, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
		r.ID, r.Reference, string(r.Type), string(r.Priority), string(r.Status), r.RequestingAgency, r.RequestingState,
		r.RequestedAgency, r.RequestedState, r.Owner, r.CreateTime.UnixMicro(), r.UpdateTime.UnixMicro(), r.Version,
		storedoc.EncodeRequest(r)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO reference_counters (state, year, last) VALUES ('KZ', 2026, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO idempotency_keys (owner, key, request_id) VALUES (?, ?, ?)`,
		r.Owner, storetest.LegacyKey, r.ID); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.New(ctx, db)
	if err != nil {
		t.Fatalf("New on a database at 0001: %v", err)
	}
	storetest.CheckLegacyKey(t, s)
}

// TestClarificationsBackfill migrates a database at 0004, whose questions and
// answers are only in the history, and checks what 0005 made of them.
func TestClarificationsBackfill(t *testing.T) {
	ctx := t.Context()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "requests.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	before := fstest.MapFS{}
	for _, name := range []string{"0001_requests.sql", "0002_create_keys.sql", "0003_audit_dead_letters.sql", "0004_requests_update_time.sql"} {
		b, err := os.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = &fstest.MapFile{Data: b}
	}
	if err := sqlitedb.Migrate(ctx, db, before); err != nil {
		t.Fatal(err)
	}
	asked, quiet := storetest.LegacyAsked()
	for _, r := range []request.Request{asked, quiet} {
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO requests (id, reference, type, priority, status,
			requesting_agency, requesting_state, requested_agency, requested_state, owner, transmitted,
			create_time, update_time, version, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Reference, string(r.Type), string(r.Priority), string(r.Status), r.RequestingAgency, r.RequestingState,
			r.RequestedAgency, r.RequestedState, r.Owner, !r.TransmitTime.IsZero(), r.CreateTime.UnixMicro(), r.UpdateTime.UnixMicro(), r.Version,
			storedoc.EncodeRequest(r)); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range storetest.LegacyAskedHistory() {
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO history (request_id, reference, from_status, to_status, action,
			actor_subject, actor_name, actor_agency, time, reason,
			requesting_agency, requesting_state, requested_agency, requested_state, owner)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			h.RequestID, h.Reference, string(h.From), string(h.To), h.Action,
			h.Actor.Subject, h.Actor.Name, h.Actor.Agency, h.Time.UnixMicro(), h.Reason,
			h.RequestingAgency, h.RequestingState, h.RequestedAgency, h.RequestedState, h.Owner); err != nil {
			t.Fatal(err)
		}
	}
	s, err := sqlite.New(ctx, db)
	if err != nil {
		t.Fatalf("New on a database at 0004: %v", err)
	}
	storetest.CheckBackfilledClarifications(t, s)
}
