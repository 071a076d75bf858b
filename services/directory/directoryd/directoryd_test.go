package directoryd_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/directory/directoryd"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/dburl"
	"github.com/comity-mla/comity/services/platform/grpcserver/healthtest"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/trail"
)

// TestImportWaitsForTheService runs comity-directory on each engine and
// checks that an import's lock is refused while it runs, naming it, and
// granted once it has stopped; and that the service does not start while an
// import holds the lock.
func TestImportWaitsForTheService(t *testing.T) {
	for _, tc := range []struct {
		name     string
		database func(t *testing.T) string
		holder   string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "directory.db") }, "directory.db.lock"},
		{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) }, "advisory lock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.database(t)
			dev, err := identity.EnsureDevIssuer(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			cfg := func(l net.Listener) directoryd.Config {
				return directoryd.Config{Listener: l, Database: db, Issuers: []identity.Issuer{dev}, Logger: zap.NewNop(),
					Producer: relay.Producer{AuditDigestKey: make(trail.DigestKey, trail.DigestKeySize)}}
			}
			ctx, cancel := context.WithCancel(t.Context())
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				done <- directoryd.Run(ctx, cfg(l))
			}()
			waitServing(t, l.Addr().String(), done)

			_, err = directoryd.Lock(t.Context(), db, true, nil)
			if !errors.Is(err, dburl.ErrLocked) || !strings.Contains(err.Error(), "comity-directory pid") || !strings.Contains(err.Error(), tc.holder) {
				t.Errorf("import lock while the service runs: %v; want it refused naming comity-directory and the %s", err, tc.holder)
			}
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("service: %v", err)
			}
			release, err := directoryd.Lock(t.Context(), db, true, nil)
			if err != nil {
				t.Fatalf("import lock once the service stopped: %v", err)
			}
			defer release()

			l2, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			err = directoryd.Run(t.Context(), cfg(l2))
			if err == nil || !strings.Contains(err.Error(), "being changed offline") || !strings.Contains(err.Error(), "comityctl directory import pid") {
				t.Errorf("service start during an import: %v; want it refused naming the import", err)
			}
		})
	}
}

// waitServing polls the service's gRPC health check until it answers
// SERVING, failing if the service ends first.
func waitServing(t *testing.T, addr string, done <-chan error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	healthtest.WaitServing(t, conn, 30*time.Second, done)
}
