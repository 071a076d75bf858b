// Package witnessd runs comity-witness, the witness a state's oversight body
// runs over the suite's audit log (DESIGN §6.1): a C2SP tlog-witness server
// (https://c2sp.org/tlog-witness) that cosigns a log's checkpoint with its
// own Ed25519 cosignature/v1 key only if it is consistent with every
// checkpoint of that log it cosigned before. The witness package of
// github.com/transparency-dev/witness decides; this package keeps its state
// (package witness/store), its key, and speaks HTTP. The comity-witness
// binary and comity-local both call Run.
//
// Trust on first use: with no state for a log, the witness cosigns the
// first checkpoint of it that it is shown. Seed a new witness with the
// log's current checkpoint (Config.Seed) so that a fork shown to it later
// is refused instead.
package witnessd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/witness/witness"
	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/platform/dburl"
	"github.com/comity-mla/comity/services/platform/httpserver"
	"github.com/comity-mla/comity/services/witness/store"
)

// Config configures a witness.
type Config struct {
	// Listener is where HTTP is served (plain HTTP: TLS is terminated in
	// front of it).
	Listener net.Listener
	// Database holds the witness's state: sqlite:PATH or a postgres:// URL.
	Database string
	// KeyDir holds witness.key and witness.pub (LoadOrCreateKey).
	KeyDir string
	// Name names the witness's key on first start, e.g.
	// "witness.kz.comity.local"; later it must be the key's name.
	Name string
	// Logs are the logs the witness witnesses; at least one.
	Logs []Log
	// Seed, when set, is a checkpoint of one of Logs, signed by it, that
	// the witness takes as its starting point for that log when it has
	// none (it cosigns and stores it). With a checkpoint already stored, a
	// Seed of the same size and root hash is ignored, one of the same size
	// and another root hash is an error (the log forked, or the seed is
	// wrong), and one of another size is ignored: comparing them would
	// need a consistency proof.
	Seed []byte
	// HTTP bounds slow clients; zero fields take httpserver's defaults.
	HTTP httpserver.Options
	// Logger and Metrics receive the witness's logs and metrics; Metrics
	// may be nil.
	Logger  *zap.Logger
	Metrics prometheus.Registerer
}

// Log is a log the witness witnesses.
type Log struct {
	// Origin is the log's origin, the first line of its checkpoints, e.g.
	// "comity.local/audit".
	Origin string
	// PublicKey is the log's note verifier key, which signs its
	// checkpoints (the audit log's public.key).
	PublicKey string
}

// stores opens the witness's store on either engine.
var stores = dburl.Stores[*store.Store]{What: "witness database", New: store.New}

// Run serves the witness until ctx ends, then shuts down gracefully:
// requests under way finish, for up to 10 seconds.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Listener == nil {
		return errors.New("witness: Listener is required")
	}
	s, closeDB, err := newServer(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeDB()
	s.log.Info("witness serving", zap.String("name", s.signer.Name()), zap.String("public_key", s.vkey),
		zap.Strings("origins", s.origins), zap.String("addr", cfg.Listener.Addr().String()))
	return httpserver.Serve(ctx, cfg.Listener, s.handler(), s.log, 10*time.Second, cfg.HTTP)
}

// server is a running witness.
type server struct {
	w       *witness.Witness
	store   *store.Store
	ping    func(context.Context) error
	signer  note.Signer
	vkey    string
	logs    map[string]note.Verifier
	origins []string // sorted, for messages
	log     *zap.Logger
	refused *prometheus.CounterVec
}

// newServer opens the store and the key, builds the witness, applies the
// seed and returns the server and a function that closes the store.
func newServer(ctx context.Context, cfg Config) (*server, func(), error) {
	if cfg.Database == "" || cfg.KeyDir == "" || cfg.Name == "" {
		return nil, nil, errors.New("witness: Database, KeyDir and Name are required")
	}
	if len(cfg.Logs) == 0 {
		return nil, nil, errors.New("witness: no log to witness: give at least one (its origin and public key)")
	}
	s := &server{logs: map[string]note.Verifier{}, log: cfg.Logger}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.log = s.log.With(zap.String("service", "witness"))
	for _, l := range cfg.Logs {
		if l.Origin == "" || strings.ContainsAny(l.Origin, "\n") {
			return nil, nil, fmt.Errorf("witness: log origin %q: want one non-empty line, e.g. comity.local/audit", l.Origin)
		}
		if _, dup := s.logs[l.Origin]; dup {
			return nil, nil, fmt.Errorf("witness: log %q is given twice", l.Origin)
		}
		v, err := note.NewVerifier(strings.TrimSpace(l.PublicKey))
		if err != nil {
			return nil, nil, fmt.Errorf("witness: the public key of log %q is not a note verifier key (NAME+HASH+KEY, as the audit log's public.key holds): %w", l.Origin, err)
		}
		s.logs[l.Origin] = v
		s.origins = append(s.origins, l.Origin)
	}
	slices.Sort(s.origins)

	s.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "comity_witness_refused_total",
		Help: "Checkpoints the witness refused to cosign, by reason; root_mismatch, smaller_than_cosigned and invalid_proof are forks of the log shown to it.",
	}, []string{"reason"})
	if cfg.Metrics != nil {
		// Labelled with the witness's name: comity-local runs one witness
		// per state in one process, on one registry.
		if err := prometheus.WrapRegistererWith(prometheus.Labels{"witness": cfg.Name}, cfg.Metrics).Register(s.refused); err != nil {
			return nil, nil, fmt.Errorf("witness %s: metrics: %w", cfg.Name, err)
		}
	}

	st, closeDB, ping, err := stores.OpenPing(ctx, cfg.Database)
	if err != nil {
		return nil, nil, err
	}
	s.store, s.ping = st, ping
	if err := s.loadKey(ctx, cfg); err != nil {
		closeDB()
		return nil, nil, err
	}
	s.w, err = witness.New(ctx, witness.Opts{
		Persistence: st,
		Signers:     []note.Signer{s.signer},
		VerifierForLog: func(_ context.Context, origin string) (note.Verifier, bool, error) {
			v, ok := s.logs[origin]
			return v, ok, nil
		},
	})
	if err == nil && cfg.Seed != nil {
		err = s.seed(ctx, cfg.Seed)
	}
	if err != nil {
		closeDB()
		return nil, nil, fmt.Errorf("witness: %w", err)
	}
	return s, closeDB, nil
}

// loadKey loads the witness's key (LoadOrCreateKey) and holds it to the
// one its database records, recording it on first use: a witness whose
// database holds another witness's state — a replica given another key
// directory, a re-host that lost the key directory — must not cosign with
// a key no witness policy holds, and with no key must not make one.
func (s *server) loadKey(ctx context.Context, cfg Config) error {
	recorded, hasState, err := s.store.Key(ctx)
	if err != nil {
		return err
	}
	keyPath := filepath.Join(cfg.KeyDir, KeyFile)
	if _, err := os.Stat(keyPath); errors.Is(err, fs.ErrNotExist) && (recorded != "" || hasState) {
		what := "holds this witness's cosigned checkpoints"
		if recorded != "" {
			what = "records this witness's key " + recorded
		}
		return fmt.Errorf("witness: %s is missing but the witness database %s: restore the witness's key (witness.key) into %s rather than make a new one (the witness policies hold the old key); a new witness needs a new database",
			keyPath, what, cfg.KeyDir)
	}
	if s.signer, s.vkey, err = LoadOrCreateKey(cfg.KeyDir, cfg.Name); err != nil {
		return err
	}
	if recorded, err = s.store.RecordKey(ctx, s.vkey); err != nil {
		return err
	}
	if recorded != s.vkey {
		return fmt.Errorf("witness: the key in %s (%s) is not the key this witness's database records (%s): restore that witness's witness.key into %s, or give a new witness its own database",
			keyPath, s.vkey, recorded, cfg.KeyDir)
	}
	return nil
}

// seed applies Config.Seed (see there).
func (s *server) seed(ctx context.Context, raw []byte) error {
	cp, f := s.open(raw)
	if f != nil {
		return fmt.Errorf("seed checkpoint: %s", f.msg)
	}
	prev, err := s.store.Latest(ctx, cp.Origin)
	if err != nil {
		return err
	}
	if prev == nil {
		if _, _, err := s.w.Update(ctx, 0, raw, nil); err != nil {
			return fmt.Errorf("seed checkpoint: %w", err)
		}
		s.log.Info("seeded: the seed checkpoint is the starting point of its log", zap.String("origin", cp.Origin), zap.Uint64("size", cp.Size))
		return nil
	}
	var have log.Checkpoint
	if _, err := have.Unmarshal(prev); err != nil {
		return fmt.Errorf("the stored checkpoint of %q: %w", cp.Origin, err)
	}
	switch {
	case have.Size == cp.Size && !bytes.Equal(have.Hash, cp.Hash):
		s.log.Error("the seed checkpoint forks the log: the witness cosigned another root hash for its size",
			zap.String("origin", cp.Origin), zap.Uint64("size", cp.Size))
		return fmt.Errorf("seed checkpoint: this witness already cosigned size %d of %q with another root hash: the log forked, or the seed is not the log's; remove the seed or investigate", cp.Size, cp.Origin)
	case have.Size == cp.Size:
		s.log.Info("seed checkpoint ignored: the witness already cosigned it", zap.String("origin", cp.Origin), zap.Uint64("size", cp.Size))
	default:
		s.log.Info("seed checkpoint ignored: the witness already has a checkpoint of that log, of another size",
			zap.String("origin", cp.Origin), zap.Uint64("seed_size", cp.Size), zap.Uint64("cosigned_size", have.Size))
	}
	return nil
}
