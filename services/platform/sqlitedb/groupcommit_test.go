package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// queued runs calls[i] through WithTx on db's Write pool, each in its own
// goroutine, started only once the one before waits for its turn, while a
// first call holds the writer; so the calls form one group. It returns what
// each WithTx returned, and the value each call that panicked panicked with.
func queued(t *testing.T, db *DB, calls ...func(ctx context.Context, tx *sql.Tx) error) ([]error, []any) {
	t.Helper()
	ctx := t.Context()
	hold := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := WithTx(ctx, db.Write, func(*sql.Tx) error { <-hold; return nil }); err != nil {
			t.Errorf("holding call: %v", err)
		}
	})
	synctest.Wait()
	errs := make([]error, len(calls))
	panics := make([]any, len(calls))
	for i, call := range calls {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			errs[i] = WithTx(ctx, db.Write, func(tx *sql.Tx) error { return call(ctx, tx) })
		})
		synctest.Wait()
	}
	close(hold)
	wg.Wait()
	return errs, panics
}

func openGroupTest(t *testing.T) *DB {
	t.Helper()
	return openWithTable(t, `CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT UNIQUE)`)
}

func insert(v string) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, v)
		return err
	}
}

// stored returns the values in t in the order they were inserted.
func stored(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.Read.QueryContext(context.Background(), `SELECT v FROM t ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestGroupedCallsCommitOrFailEachOnItsOwn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openGroupTest(t)
		refused := errors.New("refused")
		errs, panics := queued(t, db,
			insert("a"),
			func(ctx context.Context, tx *sql.Tx) error { // fails after writing
				if err := insert("b")(ctx, tx); err != nil {
					return err
				}
				return refused
			},
			insert("c"),
			insert("a"), // a constraint violation
			func(ctx context.Context, tx *sql.Tx) error { // panics after writing
				insert("d")(ctx, tx)
				panic("boom")
			},
			insert("e"),
		)
		for _, i := range []int{0, 2, 5} {
			if errs[i] != nil {
				t.Errorf("call %d: %v", i, errs[i])
			}
		}
		if errs[1] != refused {
			t.Errorf("call 1 returned %v, want its own error as is", errs[1])
		}
		if errs[3] == nil {
			t.Errorf("call 3 inserted a duplicate")
		}
		if panics[4] != "boom" {
			t.Errorf("call 4 panicked with %v in its caller, want boom", panics[4])
		}
		if got, want := stored(t, db), []string{"a", "c", "e"}; !slices.Equal(got, want) {
			t.Errorf("stored %q, want %q: each failed call rolled back, the others committed in order", got, want)
		}
	})
}

func TestGroupedCallCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openGroupTest(t)
		waiting, cancelWaiting := context.WithCancel(t.Context())
		running, cancelRunning := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		hold := make(chan struct{})
		wg.Go(func() {
			WithTx(t.Context(), db.Write, func(*sql.Tx) error { <-hold; return nil })
		})
		synctest.Wait()
		var errWaiting, errRunning, errOther error
		wg.Go(func() {
			errWaiting = WithTx(waiting, db.Write, func(tx *sql.Tx) error { return insert("w")(waiting, tx) })
		})
		synctest.Wait()
		wg.Go(func() {
			errRunning = WithTx(running, db.Write, func(tx *sql.Tx) error {
				if err := insert("r")(running, tx); err != nil {
					return err
				}
				cancelRunning() // the caller goes away once the work is done
				return nil
			})
		})
		synctest.Wait()
		wg.Go(func() {
			errOther = WithTx(t.Context(), db.Write, func(tx *sql.Tx) error { return insert("o")(t.Context(), tx) })
		})
		synctest.Wait()
		cancelWaiting()
		synctest.Wait()
		if !errors.Is(errWaiting, context.Canceled) {
			t.Errorf("call cancelled while queued: %v", errWaiting)
		}
		close(hold)
		wg.Wait()
		if !errors.Is(errRunning, context.Canceled) {
			t.Errorf("call cancelled during its turn: %v", errRunning)
		}
		if errOther != nil {
			t.Errorf("call grouped with cancelled ones: %v", errOther)
		}
		if got := stored(t, db); !slices.Equal(got, []string{"o"}) {
			t.Errorf("stored %q, want only the call that was not cancelled", got)
		}
	})
}

func TestBrokenGroupFailsOnlyWhatItHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openGroupTest(t)
		errs, _ := queued(t, db,
			insert("a"),
			func(ctx context.Context, tx *sql.Tx) error {
				// Ends the group's transaction under everyone's feet, as an
				// I/O error would.
				_, err := tx.ExecContext(ctx, `ROLLBACK`)
				return err
			},
			insert("c"),
		)
		if errs[0] == nil {
			t.Errorf("a call whose group was rolled back reported success")
		}
		if errs[2] != nil {
			t.Errorf("a call after the broken one was not run again in a new group: %v", errs[2])
		}
		if got := stored(t, db); !slices.Equal(got, []string{"c"}) {
			t.Errorf("stored %q, want c only", got)
		}
	})
}

func TestGroupedCallsAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
		if err != nil {
			t.Fatal(err)
		}
		hold := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			WithTx(t.Context(), db.Write, func(*sql.Tx) error { <-hold; return nil })
		})
		synctest.Wait()
		var queuedErr error
		wg.Go(func() { queuedErr = WithTx(t.Context(), db.Write, func(*sql.Tx) error { return nil }) })
		synctest.Wait()
		closed := make(chan error)
		go func() { closed <- db.Close() }()
		synctest.Wait()
		close(hold)
		wg.Wait()
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if queuedErr == nil {
			t.Errorf("a call queued when the database closed succeeded")
		}
		if err := WithTx(t.Context(), db.Write, func(*sql.Tx) error { return nil }); err == nil {
			t.Errorf("WithTx on a closed database succeeded")
		}
	})
}

// BenchmarkWithTx measures small write transactions by writers concurrent
// callers: one at a time, each pays for a whole commit; together, they
// share them.
func BenchmarkWithTx(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db, err := Open(b.Context(), filepath.Join(b.TempDir(), "x.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Write.ExecContext(b.Context(), `CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT, w TEXT)`); err != nil {
				b.Fatal(err)
			}
			var (
				next atomic.Int64
				wg   sync.WaitGroup
			)
			for range writers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if err := WithTx(b.Context(), db.Write, func(tx *sql.Tx) error {
							_, err := tx.ExecContext(b.Context(), `INSERT INTO t (v, w) VALUES (?, ?)`, "value", "another value")
							return err
						}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

func TestCallAlonePanics(t *testing.T) {
	db := openGroupTest(t)
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want boom", p)
			}
		}()
		WithTx(t.Context(), db.Write, func(tx *sql.Tx) error {
			insert("a")(t.Context(), tx)
			panic("boom")
		})
	}()
	if err := WithTx(t.Context(), db.Write, func(tx *sql.Tx) error { return insert("b")(t.Context(), tx) }); err != nil {
		t.Fatalf("the call after a panic: %v", err)
	}
	if got := stored(t, db); !slices.Equal(got, []string{"b"}) {
		t.Errorf("stored %q, want b only", got)
	}
}

func TestWriteTransactionsStartInArrivalOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx := t.Context()
		hold := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			WithTx(ctx, db.Write, func(*sql.Tx) error { <-hold; return nil })
		})
		synctest.Wait()

		var (
			mu    sync.Mutex
			order []int
		)
		const writers = 20
		for i := range writers {
			wg.Go(func() {
				err := WithTx(ctx, db.Write, func(*sql.Tx) error {
					mu.Lock()
					defer mu.Unlock()
					order = append(order, i)
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			})
			// Writer i waits before writer i+1 arrives.
			synctest.Wait()
		}
		close(hold)
		wg.Wait()
		for i, w := range order {
			if w != i {
				t.Fatalf("writers started in the order %v; want arrival order", order)
			}
		}
		if len(order) != writers {
			t.Fatalf("%d of %d writers ran", len(order), writers)
		}
	})
}
