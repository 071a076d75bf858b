package pgdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrLocked is matched (errors.Is) by the error of AdvisoryLock when another
// session holds the lock.
var ErrLocked = errors.New("locked")

// AdvisoryLock takes the session advisory lock key on a connection of its
// own to the database at url, without waiting: shared, which every replica
// of a service holds at once while it runs, or exclusive, which an offline
// change (an import) needs to itself. The connection's application_name is
// holder, so that a refused caller can name the sessions holding the lock.
// release closes the connection, which releases the lock; so does the
// holder's end, however it happens.
func AdvisoryLock(ctx context.Context, url string, key int64, exclusive bool, holder string) (release func(), err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("lock postgres: %w", err)
	}
	// PostgreSQL keeps 63 bytes of it.
	cfg.RuntimeParams["application_name"] = truncate(holder, 63)
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
		conn.Close(context.Background())
		return nil, fmt.Errorf("lock postgres %s/%s: %w", cfg.Host, cfg.Database, err)
	}
	if !ok {
		who := holders(ctx, conn, key)
		conn.Close(context.Background())
		return nil, &lockedError{fmt.Sprintf("%s holds advisory lock %d of database %s", who, key, cfg.Database)}
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(ctx)
	}, nil
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
