package dburl_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comity-mla/comity/services/platform/dburl"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
)

// TestLock checks, on both engines, that services share the lock while an
// offline tool is refused, with an error naming the holder, and the other
// way round; and that releasing the lock lets the other side in.
func TestLock(t *testing.T) {
	const key int64 = 0x636f6d6974793a74 // "comity:t", this test's own
	for _, tc := range []struct {
		name     string
		database func(t *testing.T) string
		// where is what the refusal names besides the holder.
		where func(database string) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "directory.db") },
			func(db string) string { return strings.TrimPrefix(db, "sqlite:") + ".lock" }},
		{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) },
			func(string) string { return "advisory lock" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			db := tc.database(t)
			lock := func(exclusive bool, name string) (func(), error) {
				release, err := dburl.Lock(ctx, db, key, exclusive, name, nil)
				if err == nil {
					t.Cleanup(release)
				}
				return release, err
			}
			refused := func(what string, err error, holder string) {
				t.Helper()
				if !errors.Is(err, dburl.ErrLocked) {
					t.Fatalf("%s: %v; want it refused as locked", what, err)
				}
				for _, want := range []string{holder, tc.where(db)} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: %q does not name %q", what, err, want)
					}
				}
			}
			first, err := lock(false, "comity-directory")
			if err != nil {
				t.Fatalf("first replica: %v", err)
			}
			second, err := lock(false, "comity-directory")
			if err != nil {
				t.Fatalf("second replica beside the first: %v", err)
			}
			_, err = lock(true, "comityctl")
			refused("import while replicas run", err, "comity-directory pid")
			first()
			_, err = lock(true, "comityctl")
			refused("import while one replica runs", err, "comity-directory pid")
			second()
			release, err := lock(true, "comityctl")
			if err != nil {
				t.Fatalf("import with no service running: %v", err)
			}
			_, err = lock(false, "comity-directory")
			refused("service start during an import", err, "comityctl pid")
			_, err = lock(true, "comityctl")
			refused("second import", err, "comityctl pid")
			release()
			if _, err := lock(false, "comity-directory"); err != nil {
				t.Fatalf("service start after the import: %v", err)
			}
		})
	}
}
