package pgdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
)

// TestAdvisoryLockIsTakenAgain ends the session holding a shared lock, as a
// server restart would, and checks that the lock is reported lost, taken
// again on a new connection, and then keeps an exclusive taker out again.
func TestAdvisoryLockIsTakenAgain(t *testing.T) {
	url := pgtest.NewDatabase(t)
	defer func(d time.Duration) { keepEvery = d }(keepEvery)
	keepEvery = 50 * time.Millisecond
	const key int64 = 0x636f6d6974793a6b // "comity:k", this test's own
	ctx := t.Context()
	reports := make(chan error, 1000)
	release, err := AdvisoryLock(ctx, url, key, false, "service-under-test", func(err error) { reports <- err })
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var ended int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'service-under-test'`).Scan(&ended); err != nil || ended != 1 {
		t.Fatalf("ended %d sessions, %v; want the lock's one", ended, err)
	}
	lost := false
	for deadline := time.After(30 * time.Second); ; {
		select {
		case err := <-reports:
			if err != nil {
				lost = true
				continue
			}
			if !lost {
				t.Fatal("reported the lock taken again before reporting it lost")
			}
		case <-deadline:
			t.Fatalf("the lock was not taken again within 30s (lost reported: %v)", lost)
		}
		break
	}
	_, err = AdvisoryLock(ctx, url, key, true, "import-under-test", nil)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "service-under-test") {
		t.Fatalf("exclusive lock after the shared one was taken again: %v; want it refused naming service-under-test", err)
	}
	release()
	again, err := AdvisoryLock(ctx, url, key, true, "import-under-test", nil)
	if err != nil {
		t.Fatalf("exclusive lock after release: %v", err)
	}
	again()
}
