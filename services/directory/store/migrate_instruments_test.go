package store

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/seed"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
)

// before0005 are the directory's migrations as main had them before treaty
// profiles: 0001 to 0004.
func before0005(t *testing.T) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(migrations, "migrations", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), "0005") || !strings.HasSuffix(path, ".sql") {
			return err
		}
		data, err := fs.ReadFile(migrations, path)
		out[strings.TrimPrefix(path, "migrations/")] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInstrumentsOnExistingDirectory: a directory made before treaty
// profiles (migrations 0001-0004, a state written as that code wrote it)
// opens with this code: the migration adds the columns and the table, the
// state reads back with no instruments and its version, and the default
// seed's treaty profiles are then loaded into it. On both engines.
func TestInstrumentsOnExistingDirectory(t *testing.T) {
	for _, engine := range sqldbtest.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			db := engine.Open(t)
			ctx := t.Context()
			if err := sqldb.Migrate(ctx, db, before0005(t)); err != nil {
				t.Fatalf("migrate to 0004: %v", err)
			}
			if _, err := db.Exec(ctx, `INSERT INTO states (code, display_names, official_languages, accepted_languages,
				time_zone, trusted_issuers, claim_mappings, version, update_time) VALUES ('UZ', '{"en":"Uzbekistan"}', '["uz"]', '["ru","uz"]',
				'Asia/Tashkent', '["https://idp.uz.example/"]', '[]', 3, ?)`, db.Dialect().Time(time.Now())); err != nil {
				t.Fatalf("old state: %v", err)
			}
			s, err := New(ctx, db)
			if err != nil {
				t.Fatalf("open with this code: %v", err)
			}
			uz, err := s.GetState(ctx, "UZ")
			if err != nil || uz.Instruments != nil || uz.Version != 3 || uz.TrustedIssuers[0] != "https://idp.uz.example/" {
				t.Fatalf("old state reads %+v, %v; want it as written, with no instruments", uz, err)
			}
			profiles, entries, err := seed.DefaultInstruments()
			if err != nil {
				t.Fatal(err)
			}
			n, err := s.SeedInstruments(ctx, profiles, entries)
			if err != nil || n != 1 {
				t.Fatalf("SeedInstruments = %d, %v; want the one state", n, err)
			}
			uz, err = s.GetState(ctx, "UZ")
			if err != nil || uz.StatusOf(directory.BudapestConvention) != directory.NotInForce || uz.Version != 4 {
				t.Errorf("UZ after seeding: %+v, %v; want Budapest NOT_IN_FORCE, version 4", uz.Instruments, err)
			}
			if got, err := s.ListInstruments(ctx); err != nil || len(got) != len(profiles) {
				t.Errorf("ListInstruments = %d profiles, %v; want %d", len(got), err, len(profiles))
			}
		})
	}
}
