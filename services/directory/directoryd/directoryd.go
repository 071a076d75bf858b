// Package directoryd runs the comity-directory service: it opens the store,
// seeds an empty directory, and serves the gRPC API until its context ends.
// The comity-directory binary and comity-local both call Run.
package directoryd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/grpcapi"
	"github.com/comity-mla/comity/services/directory/seed"
	dirstore "github.com/comity-mla/comity/services/directory/store"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/dburl"
	"github.com/comity-mla/comity/services/platform/grpcserver"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/trail"
)

// Config configures the directory service.
type Config struct {
	// Listener is where gRPC is served.
	Listener net.Listener
	// Database is sqlite:PATH or a postgres:// URL.
	Database string
	// Issuers are the token issuers whose keys the service knows. Which of
	// them a state trusts is directory data.
	Issuers []identity.Issuer
	// SeedTrustedIssuers are added to every state of the default seed; the
	// local deployment passes its dev issuer, as DESIGN §3 says.
	SeedTrustedIssuers []string
	// NoSeed leaves an empty directory empty.
	NoSeed bool
	// Producer sets up the service's audit trail: its digest key (required),
	// the delivery of its outbox to the audit service, the aggregation of
	// unauthenticated calls.
	relay.Producer
	// TLS, when set, is the service's mTLS identity: it serves mTLS, to
	// the callers Callers names, and presents it to the audit service.
	TLS *mtls.Identity
	// Logger and Metrics receive the service's logs and metrics.
	Logger  *zap.Logger
	Metrics prometheus.Registerer
}

// Run serves the directory until ctx ends, then shuts down gracefully. The
// audit events of its calls go to the store's outbox, which a relay beside
// the server delivers to the audit service at AuditAddr.
//
// While it runs it holds the database's service lock (see Lock), shared with
// its other replicas, so that no import changes the database behind it; it
// does not start while an import holds the lock.
func Run(ctx context.Context, cfg Config) error {
	if len(cfg.AuditDigestKey) < trail.DigestKeySize {
		return errors.New("directory service: AuditDigestKey is required (32 random bytes, the same for every producing service)")
	}
	log := cfg.Logger.With(zap.String("service", "directory"))
	unlock, err := Lock(ctx, cfg.Database, false, func(err error) {
		switch {
		case err == nil:
			log.Info("took the directory database's service lock again")
		case errors.Is(err, dburl.ErrLocked):
			log.Error("an import holds the directory database's service lock while this service runs; restart the service once it ends, so that it serves what the import wrote", zap.Error(err))
		default:
			log.Error("the directory database's service lock is lost: an import could run behind this service until it is taken again", zap.Error(err))
		}
	})
	if err != nil {
		if errors.Is(err, dburl.ErrLocked) {
			return fmt.Errorf("directory database is being changed offline (%w); start the service when that ends", err)
		}
		return fmt.Errorf("directory database: %w", err)
	}
	defer unlock()
	store, closeStore, ping, err := stores.OpenPing(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer closeStore()

	svc := directory.NewService(store, nil)
	if !cfg.NoSeed {
		states, agencies, err := seed.Default(cfg.SeedTrustedIssuers...)
		if err != nil {
			return err
		}
		seeded, err := store.Seed(ctx, states, agencies)
		if err != nil {
			return fmt.Errorf("seed directory: %w", err)
		}
		if seeded {
			log.Info("seeded an empty directory", zap.Int("states", len(states)), zap.Int("agencies", len(agencies)))
		}
		// Treaty profiles came after the first seeds: a directory made
		// before them gets the seed's, where it has none of its own.
		profiles, entries, err := seed.DefaultInstruments()
		if err != nil {
			return err
		}
		n, err := store.SeedInstruments(ctx, profiles, entries)
		if err != nil {
			return fmt.Errorf("seed treaty profiles: %w", err)
		}
		if n > 0 {
			log.Info("seeded treaty profiles", zap.Int("states", n))
		}
	}
	// The directory answers trust questions from its own database, so a short
	// cache suffices and a change of trusted issuers takes effect quickly.
	verifier, err := identity.NewVerifier(cfg.Issuers, svc, identity.WithTrustCacheTTL(2*time.Second))
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	srv, err := grpcserver.New(grpcserver.Config{
		Name: "directory", Listener: cfg.Listener, Logger: log, Metrics: cfg.Metrics, Auth: verifier,
		// The domain records its changes with them; the server records the
		// denied calls and failed attempts into the same outbox.
		Audit: cfg.AuditConfig("comity-directory", store),
		TLS:   cfg.TLS, Callers: Callers, Ready: ping,
		// The sign-in page lists the providers a state trusts before anyone
		// has a token.
		AnonymousReads: []string{directoryv1.DirectoryService_ListTrustedIssuers_FullMethodName,
			directoryv1.DirectoryService_ListRetentions_FullMethodName},
	})
	if err != nil {
		return err
	}
	directoryv1.RegisterDirectoryServiceServer(srv.GRPC(), grpcapi.NewServer(svc))
	return cfg.Serve(ctx, srv, store, "directory", cfg.TLS, log, cfg.Metrics)
}

// directoryReads are the methods that change nothing.
var directoryReads = []string{
	directoryv1.DirectoryService_ListStates_FullMethodName,
	directoryv1.DirectoryService_GetState_FullMethodName,
	directoryv1.DirectoryService_ListAgencies_FullMethodName,
	directoryv1.DirectoryService_GetAgency_FullMethodName,
	directoryv1.DirectoryService_ResolveRoute_FullMethodName,
	directoryv1.DirectoryService_ListInstruments_FullMethodName,
	directoryv1.DirectoryService_ListApplicableInstruments_FullMethodName,
	directoryv1.DirectoryService_ListRetentions_FullMethodName,
}

// Callers are who may call the directory over mTLS: the gateway on its
// users' behalf, everything; the request and audit services, which look up
// agencies, routes and trusted issuers, only the reads.
var Callers = mtls.Policy{
	mtls.Gateway: {"/" + directoryv1.DirectoryService_ServiceDesc.ServiceName + "/*"},
	mtls.Request: directoryReads,
	mtls.Audit:   directoryReads,
}

// Store is the directory's store with its audit outbox, which a relay
// (package audit/relay) drains to the audit service.
type Store interface {
	directory.Store
	trail.Outbox
}

// OpenStore opens the directory store at database (sqlite:PATH or a
// postgres:// URL), applying migrations, and returns it with its closer.
func OpenStore(ctx context.Context, database string) (Store, func(), error) {
	return stores.Open(ctx, database)
}

// stores opens the directory store on either engine.
var stores = dburl.Stores[Store]{What: "directory database",
	New: func(ctx context.Context, db *sqldb.DB) (Store, error) { return dirstore.New(ctx, db) },
}

// lockKey is the PostgreSQL advisory lock of a directory database's users:
// fixed for the suite so that it can never collide with another lock Comity
// takes (pgdb's migration lock spells "comity:m"); it spells "comity:d".
const lockKey int64 = 0x636f6d6974793a64

// Lock takes the lock of the directory database at database without
// waiting: shared (exclusive false), as every running comity-directory holds
// it, or exclusive, as an offline import needs it, refused with an error
// matching dburl.ErrLocked and naming the holder while a service runs on the
// database. On SQLite it is an flock on the file beside the database
// (directory.db.lock); on PostgreSQL a session advisory lock, taken again
// when its connection is lost, which report (may be nil) hears of.
func Lock(ctx context.Context, database string, exclusive bool, report func(error)) (release func(), err error) {
	name := "comity-directory"
	if exclusive {
		name = "comityctl directory import"
	}
	return dburl.Lock(ctx, database, lockKey, exclusive, name, report)
}
