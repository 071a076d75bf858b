package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// maxGroup bounds how many WithTx calls share one commit.
const maxGroup = 128

// errClosed is what WithTx returns on the Write pool of a closed DB.
var errClosed = errors.New("sqlitedb: database is closed")

// A writer runs the write transactions of one DB, and commits those that
// queued meanwhile together.
//
// SQLite has one writer at a time, so write throughput is the inverse of how
// long each transaction holds the write connection, and much of that was
// BEGIN and COMMIT: the commit writes every page the transaction changed to
// the WAL, one system call each. Concurrent transactions mostly change the
// same pages (the last leaf of each table and index), so committing a group
// of them writes each page once for the group, which raises the request
// service's create throughput under many concurrent callers (the measured
// figures are in docs/benchmarks.md).
//
// Each call still runs on its own: fn runs in the caller's goroutine inside
// a SAVEPOINT of the group's transaction, and a call whose fn fails (or
// panics, or whose context ends before its turn is over) is rolled back to
// its savepoint without touching the others. A call that succeeds returns
// only once the group committed, with the commit's error if it failed.
// Calls run, and their changes commit, in the order WithTx was called.
//
// While a group runs, its statements ignore the cancellation of the
// caller's context: interrupting a statement would make SQLite roll back
// the whole transaction, that is every caller's work. A cancelled caller is
// rolled back to its savepoint once its fn returns instead.
type writer struct {
	db *sql.DB
	// committed is called after each commit.
	committed func()
	reqs      chan *writeReq
	stop      chan struct{}
	done      chan struct{}
}

// writers holds the writer of the Write pool of every open DB, for WithTx,
// which is handed the pool only.
var writers sync.Map // *sql.DB → *writer

// States of a writeReq: a caller waiting for its turn may give up (when its
// context ends), and the writer may start it; whichever comes first wins.
const (
	reqWaiting int32 = iota
	reqStarted
	reqAbandoned
)

type writeReq struct {
	state atomic.Int32
	// turn carries the group's transaction when the call's turn comes, or
	// nil with err set when the group could not begin.
	turn chan *sql.Tx
	err  error
	// ran tells the writer whether fn succeeded.
	ran chan bool
	// done carries the commit's outcome to a call whose fn succeeded.
	done chan error
}

func startWriter(db *sql.DB, committed func()) *writer {
	w := &writer{
		db:        db,
		committed: committed,
		reqs:      make(chan *writeReq, maxGroup),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go w.run()
	return w
}

// close stops the writer once the group it runs, if any, is over. Calls
// still queued fail with errClosed.
func (w *writer) close() {
	close(w.stop)
	<-w.done
}

func (w *writer) run() {
	defer close(w.done)
	var pending []*writeReq
	for {
		if len(pending) == 0 {
			select {
			case r := <-w.reqs:
				pending = append(pending, r)
			case <-w.stop:
				return
			}
		}
	gather:
		for len(pending) < maxGroup {
			select {
			case r := <-w.reqs:
				pending = append(pending, r)
			default:
				break gather
			}
		}
		select {
		case <-w.stop:
			return
		default:
		}
		n := min(len(pending), maxGroup)
		rest := w.group(pending[:n])
		pending = append(rest, pending[n:]...)
	}
}

// group runs the calls of batch in one transaction and commits it. When the
// transaction breaks midway it is rolled back, the calls that had succeeded
// get the error, and the calls that had not run are returned to run in the
// next group.
func (w *writer) group(batch []*writeReq) (notRun []*writeReq) {
	ctx := context.Background()
	var ok []*writeReq
	fail := func(err error) {
		for _, r := range ok {
			r.done <- err
		}
	}
	begin := func(err error) {
		for _, r := range batch {
			if r.state.CompareAndSwap(reqWaiting, reqStarted) {
				r.err = fmt.Errorf("begin transaction: %w", err)
				r.turn <- nil
			}
		}
	}
	conn, err := w.db.Conn(ctx)
	if err != nil {
		begin(err)
		return nil
	}
	defer conn.Close()
	if err := setShield(conn, true); err != nil {
		begin(err)
		return nil
	}
	defer setShield(conn, false)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		begin(err)
		return nil
	}
	if len(batch) == 1 {
		// Alone, a call needs no savepoint: its transaction is its own.
		r := batch[0]
		if !r.state.CompareAndSwap(reqWaiting, reqStarted) {
			tx.Rollback()
			return nil
		}
		r.turn <- tx
		if succeeded := <-r.ran; !succeeded {
			tx.Rollback()
			return nil
		}
		ok = append(ok, r)
		err := tx.Commit()
		if err != nil {
			err = fmt.Errorf("commit transaction: %w", err)
		}
		w.committed()
		fail(err)
		return nil
	}
	for i, r := range batch {
		if !r.state.CompareAndSwap(reqWaiting, reqStarted) {
			continue // its caller gave up
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT sqlitedb_call`); err != nil {
			tx.Rollback()
			r.state.Store(reqWaiting)
			fail(fmt.Errorf("commit transaction: %w", err))
			return batch[i:]
		}
		r.turn <- tx
		stmt := `RELEASE sqlitedb_call`
		if succeeded := <-r.ran; succeeded {
			ok = append(ok, r)
		} else {
			stmt = `ROLLBACK TO sqlitedb_call; RELEASE sqlitedb_call`
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			// SQLite rolled the transaction back on its own (an I/O
			// error, a full disk): nothing of the group is left.
			tx.Rollback()
			fail(fmt.Errorf("commit transaction: %w", err))
			return batch[i+1:]
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("commit transaction: %w", err))
		return nil
	}
	w.committed()
	fail(nil)
	return nil
}

// setShield makes the statements of conn ignore context cancellation, or
// stop ignoring it.
func setShield(conn *sql.Conn, on bool) error {
	return conn.Raw(func(dc any) error {
		if c, ok := dc.(*cachingConn); ok {
			c.shield = on
		}
		return nil
	})
}

// withTx runs fn as one call of w's groups.
func (w *writer) withTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	r := &writeReq{turn: make(chan *sql.Tx, 1), ran: make(chan bool, 1), done: make(chan error, 1)}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		return fmt.Errorf("begin transaction: %w", ctx.Err())
	case <-w.stop:
		return errClosed
	}
	var tx *sql.Tx
	select {
	case tx = <-r.turn:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqWaiting, reqAbandoned) {
			return fmt.Errorf("begin transaction: %w", ctx.Err())
		}
		tx = <-r.turn // the writer started it meanwhile
	case <-w.done:
		if r.state.CompareAndSwap(reqWaiting, reqAbandoned) {
			return errClosed
		}
		tx = <-r.turn
	}
	if tx == nil {
		return r.err
	}
	var fnErr error
	func() {
		reported := false
		defer func() {
			if !reported { // fn panicked
				r.ran <- false
			}
		}()
		if fnErr = fn(tx); fnErr == nil && ctx.Err() != nil {
			fnErr = fmt.Errorf("commit transaction: %w", ctx.Err())
		}
		r.ran <- fnErr == nil
		reported = true
	}()
	if fnErr != nil {
		return fnErr
	}
	return <-r.done
}
