package sqlitedb

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// Checkpoints copy the pages of the WAL back into the database file, so that
// the WAL can start over. SQLite runs them by default inside the commit that
// takes the WAL past 1000 pages, on the write connection, which every writer
// then waits for. A DB runs them beside the writer instead, on a connection
// of their own, after commits and at most every checkpointInterval: a PASSIVE
// checkpoint takes no lock a writer needs.
const (
	checkpointInterval = 100 * time.Millisecond
	// safetyCheckpointPages is the WAL size at which the write connection
	// checkpoints after all, should the checkpointer fall behind or fail.
	safetyCheckpointPages = "10000"
)

type checkpointer struct {
	db   *sql.DB
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	// ran, when set (by tests), receives the WAL frames and the frames
	// checkpointed of each run.
	ran chan [2]int

	closeOnce sync.Once
	closeErr  error
}

func startCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{
		db:   db,
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go c.run()
	return c
}

// committed tells the checkpointer that the WAL grew.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		var busy, frames, copied int
		// An error leaves the WAL to the next run, or to the safety
		// checkpoint of the write connection.
		if err := c.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err == nil && c.ran != nil {
			c.ran <- [2]int{frames, copied}
		}
		select {
		case <-time.After(checkpointInterval):
		case <-c.stop:
			return
		}
	}
}

// close stops the checkpointer and closes its connection; SQLite checkpoints
// the rest when the last connection to the file closes. Closing again does
// nothing.
func (c *checkpointer) close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		<-c.done
		c.closeErr = c.db.Close()
	})
	return c.closeErr
}
