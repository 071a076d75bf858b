package dburl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
)

// ErrLocked is matched (errors.Is) by the error of Lock when another holder
// has the lock; the error names the holder.
var ErrLocked = errors.New("database locked")

// Lock takes, without waiting, the lock that keeps a service and an offline
// change of its database apart: shared (exclusive false) for a service,
// which holds it for as long as it runs, beside its other replicas;
// exclusive for a tool that changes the database behind the service's back
// (comityctl directory import), which must not run while any service uses
// it. On SQLite it is an flock on the file beside the database (PATH.lock);
// on PostgreSQL, the session advisory lock key on a connection of its own.
// name says who takes it (e.g. comity-directory); the process id, host and
// time are added, and the lock carries them so that a refused caller can
// name the holder. A PostgreSQL lock lost with its connection is taken again
// (see pgdb.AdvisoryLock); report, which may be nil, hears of it.
func Lock(ctx context.Context, database string, key int64, exclusive bool, name string, report func(error)) (release func(), err error) {
	engine, dsn, err := Parse(database)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s pid %d on %s since %s", name, os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if engine == Postgres {
		release, err = pgdb.AdvisoryLock(ctx, dsn, key, exclusive, holder, report)
		if errors.Is(err, pgdb.ErrLocked) {
			err = lockedError{err}
		}
		return release, err
	}
	release, err = sqlitedb.LockFile(dsn, exclusive, holder)
	if errors.Is(err, sqlitedb.ErrLocked) {
		err = lockedError{err}
	}
	return release, err
}

// lockedError is an engine's refused lock, matching ErrLocked as well.
type lockedError struct{ error }

func (e lockedError) Unwrap() error        { return e.error }
func (e lockedError) Is(target error) bool { return target == ErrLocked }
