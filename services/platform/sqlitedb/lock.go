package sqlitedb

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrLocked is matched (errors.Is) by the error of LockFile when another
// holder has the lock.
var ErrLocked = errors.New("locked")

// LockFile takes an advisory lock (flock) on the file path+".lock" beside
// the database at path, without waiting: shared, which any number of holders
// may have at once (the services that use the database), or exclusive, which
// needs the file to itself (an offline change such as an import). It writes
// holder into the file, so that a refused caller can say who has the lock,
// and returns the function that releases it.
//
// flock locks belong to the open file, not the process: two LockFile calls
// of one process exclude each other like two processes do, and the lock goes
// with the process however it ends, so a crash leaves no stale lock behind.
func LockFile(path string, exclusive bool, holder string) (release func(), err error) {
	lockPath := path + ".lock"
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	busy, err := flock(f, exclusive)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	if busy {
		// The holder wrote its name when it took the lock; with several
		// shared holders, the last one to start.
		data, _ := io.ReadAll(io.LimitReader(f, 1024))
		f.Close()
		who := strings.TrimSpace(string(data))
		if who == "" {
			who = "another process"
		}
		return nil, &lockedError{fmt.Sprintf("%s holds the lock file %s", who, lockPath)}
	}
	// Best effort: the lock is what counts, the name only explains it.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(holder+"\n"), 0)
	}
	return func() { f.Close() }, nil
}

// lockedError is a refused lock; it says who holds it and matches ErrLocked.
type lockedError struct{ msg string }

func (e *lockedError) Error() string        { return e.msg }
func (e *lockedError) Is(target error) bool { return target == ErrLocked }
