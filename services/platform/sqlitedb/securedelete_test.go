package sqlitedb

import (
	"path/filepath"
	"testing"
)

// TestSecureDelete: every connection, writer and readers alike, zeroes
// what is deleted (an erasure must leave no content in free pages).
func TestSecureDelete(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var w, r int
	if err := db.Write.QueryRowContext(t.Context(), `PRAGMA secure_delete`).Scan(&w); err != nil {
		t.Fatal(err)
	}
	if err := db.Read.QueryRowContext(t.Context(), `PRAGMA secure_delete`).Scan(&r); err != nil {
		t.Fatal(err)
	}
	if w != 1 || r != 1 {
		t.Fatalf("secure_delete is %d on the writer and %d on a reader; want 1 on both", w, r)
	}
	if err := db.CheckpointTruncate(t.Context()); err != nil {
		t.Fatalf("CheckpointTruncate: %v", err)
	}
}
