package pgdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrLocked is matched (errors.Is) by the error of AdvisoryLock when another
// session holds the lock.
var ErrLocked = errors.New("locked")

// keepEvery is how often a held lock's connection is checked, and how often
// a lost lock is taken again.
var keepEvery = 5 * time.Second

// AdvisoryLock takes the session advisory lock key on a connection of its
// own to the database at url, without waiting: shared, which every replica
// of a service holds at once while it runs, or exclusive, which an offline
// change (an import) needs to itself. The connection's application_name is
// holder, so that a refused caller can name the sessions holding the lock.
// release closes the connection, which releases the lock; so does the
// holder's end, however it happens.
//
// A session lock ends with its connection (a server restart, a network
// failure, an administrator's pg_terminate_backend), and then nothing keeps
// the other side out. So the connection is checked every few seconds; once
// it is gone, the lock is taken again on a new one, retrying until it is or
// release is called. report (which may be nil) hears of it: an error for the
// loss and for each failed attempt (matching ErrLocked when another holder
// got the lock meanwhile), nil once the lock is held again.
func AdvisoryLock(ctx context.Context, url string, key int64, exclusive bool, holder string, report func(error)) (release func(), err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("lock postgres: %w", err)
	}
	// PostgreSQL keeps 63 bytes of it.
	cfg.RuntimeParams["application_name"] = truncate(holder, 63)
	conn, err := takeLock(ctx, cfg, key, exclusive)
	if err != nil {
		return nil, err
	}
	if report == nil {
		report = func(error) {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go keepLock(cfg, key, exclusive, conn, report, stop, done)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
		})
	}, nil
}

// takeLock connects and takes the lock, returning the connection that holds
// it.
func takeLock(ctx context.Context, cfg *pgx.ConnConfig, key int64, exclusive bool) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("lock postgres %s/%s: %w", cfg.Host, cfg.Database, err)
	}
	fn := "pg_try_advisory_lock_shared"
	if exclusive {
		fn = "pg_try_advisory_lock"
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT `+fn+`($1)`, key).Scan(&ok); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("lock postgres %s/%s: %w", cfg.Host, cfg.Database, err)
	}
	if !ok {
		who := holders(ctx, conn, key)
		closeConn(conn)
		return nil, &lockedError{fmt.Sprintf("%s holds advisory lock %d of database %s", who, key, cfg.Database)}
	}
	return conn, nil
}

// keepLock checks conn every keepEvery and takes the lock again when conn
// is gone, until stop is closed; then it closes the connection (releasing
// the lock) and closes done.
func keepLock(cfg *pgx.ConnConfig, key int64, exclusive bool, conn *pgx.Conn, report func(error), stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	defer func() {
		if conn != nil {
			closeConn(conn)
		}
	}()
	tick := time.NewTicker(keepEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), keepEvery)
		if conn != nil {
			err := conn.Ping(ctx)
			if err == nil {
				cancel()
				continue
			}
			closeConn(conn)
			conn = nil
			report(fmt.Errorf("lost advisory lock %d of database %s with its connection: %w", key, cfg.Database, err))
		}
		c, err := takeLock(ctx, cfg, key, exclusive)
		cancel()
		if err != nil {
			report(err)
			continue
		}
		conn = c
		report(nil)
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Close(ctx)
}

// holders names the sessions that hold the advisory lock key in conn's
// database. pg_locks shows a bigint key as two oids: its high and low halves.
func holders(ctx context.Context, conn *pgx.Conn, key int64) string {
	rows, err := conn.Query(ctx, `SELECT a.pid, a.application_name, coalesce(host(a.client_addr), 'local socket'), a.backend_start
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		AND l.classid::bigint = $1 AND l.objid::bigint = $2
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY a.backend_start`, int64(uint64(key)>>32), int64(uint64(key)&0xffffffff))
	if err != nil {
		return "another session"
	}
	defer rows.Close()
	var who []string
	for rows.Next() {
		var (
			pid       int32
			app, from string
			backend   time.Time
		)
		if err := rows.Scan(&pid, &app, &from, &backend); err != nil {
			return "another session"
		}
		if app == "" {
			app = "a session"
		}
		who = append(who, fmt.Sprintf("%s (server pid %d, from %s, connected %s)", app, pid, from, backend.UTC().Format(time.RFC3339)))
	}
	if rows.Err() != nil || len(who) == 0 {
		return "another session"
	}
	return strings.Join(who, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut at a rune boundary.
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

// lockedError is a refused lock; it says who holds it and matches ErrLocked.
type lockedError struct{ msg string }

func (e *lockedError) Error() string        { return e.msg }
func (e *lockedError) Is(target error) bool { return target == ErrLocked }
