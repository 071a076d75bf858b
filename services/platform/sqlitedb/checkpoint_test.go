package sqlitedb

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func TestWALIsCheckpointedBesideTheWriter(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ran := make(chan [2]int, 100)
	db.checkpoints.ran = ran

	var pages string
	if err := db.Write.QueryRowContext(t.Context(), `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil || pages != safetyCheckpointPages {
		t.Fatalf("the write connection checkpoints at %s pages (%v), want only past %s", pages, err, safetyCheckpointPages)
	}
	if err := WithTx(t.Context(), db.Write, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(t.Context(), `CREATE TABLE t (x INTEGER PRIMARY KEY, s TEXT)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := WithTx(t.Context(), db.Write, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(t.Context(), `INSERT INTO t (x, s) VALUES (?, ?)`, i, fmt.Sprint("row ", i))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	// The checkpointer, kicked by the commits, catches up with the WAL: with
	// no reader in the way, a run copies every frame.
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r := <-ran:
			if frames, copied := r[0], r[1]; frames > 0 && copied == frames {
				return
			}
		case <-timeout:
			t.Fatal("the WAL was not checkpointed after 10s of commits")
		}
	}
}
