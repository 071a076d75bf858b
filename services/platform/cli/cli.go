// Package cli is what every Comity binary's main shares: flags bound to
// COMITY_… variables, the logger, the metrics endpoint, signal handling, and
// an errgroup that stops every server when one fails or a signal arrives.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/config"
	"github.com/comity-mla/comity/services/platform/connlimit"
	"github.com/comity-mla/comity/services/platform/grpcserver"
	"github.com/comity-mla/comity/services/platform/httpserver"
	"github.com/comity-mla/comity/services/platform/logging"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/trail"
)

// Common are the flags of every binary.
type Common struct {
	LogFormat   string
	LogLevel    string
	MetricsAddr string
	Issuers     config.Strings
	CertDir     string
	Plaintext   bool
	// AuditBacklogAlarm is --audit-backlog-alarm (RegisterAuditBacklogAlarm).
	AuditBacklogAlarm time.Duration
	// AuditAnonymousClients is --audit-anonymous-clients
	// (RegisterAuditAnonymousClients).
	AuditAnonymousClients int
	// MaxConns and MaxConnsPerClient bound the connections of every
	// listener of the process (see connlimit.Config).
	MaxConns          int
	MaxConnsPerClient int
	// InternalConnsReserve is how many of MaxConns only the process's
	// internal listeners may take (RegisterInternalReserve; see
	// connlimit.Config.InternalReserve).
	InternalConnsReserve int
	// HTTP bounds slow HTTP clients, for binaries that serve HTTP
	// (RegisterHTTP).
	HTTP httpserver.Options
	// DigestKeyFile is --audit-digest-key (RegisterDigestKey).
	DigestKeyFile string
	// AuditAddr and ServiceKeyDir are --audit-addr and --service-key-dir
	// (RegisterProducer).
	AuditAddr     string
	ServiceKeyDir string
	// producer is set by RegisterProducer: LoadService loads the service
	// credentials.
	producer bool
}

// ServiceFlags returns the flag set of the service binary name (e.g.
// comity-request) with the flags every service binary takes: the common
// ones (json logs, /metrics at metricsAddr), --issuer, and --cert-dir
// (./var/certs) with --plaintext.
func ServiceFlags(name, metricsAddr string) (*flag.FlagSet, *Common) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := new(Common)
	c.Register(fs, "json", metricsAddr)
	c.RegisterIssuers(fs)
	c.RegisterTLS(fs, "./var/certs")
	return fs, c
}

// Register defines the common flags on fs.
func (c *Common) Register(fs *flag.FlagSet, logFormat, metricsAddr string) {
	fs.StringVar(&c.LogFormat, "log-format", logFormat, "log format: json or console")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", metricsAddr, "address of the Prometheus /metrics endpoint; empty disables it")
	fs.IntVar(&c.MaxConns, "max-conns", 0, "most connections open at once over all of this process's listeners; 0: half of what the file-descriptor limit leaves after a reserve of a quarter (at least 1,024) for the databases and the audit log")
	fs.IntVar(&c.MaxConnsPerClient, "max-conns-per-client", 512, "most connections one client address (IPv6: one /64) may hold open at once on each listener; 0: no bound. Behind a proxy, every client has the proxy's address")
}

// RegisterInternalReserve defines --internal-conns-reserve, for binaries
// whose public listeners share the process's connection bound with
// internal ones (comity-local: the gateway beside the services' own gRPC
// listeners); they open the public ones with Conns.ListenPublic.
func (c *Common) RegisterInternalReserve(fs *flag.FlagSet) {
	fs.IntVar(&c.InternalConnsReserve, "internal-conns-reserve", 64, "how many of --max-conns public listeners (the gateway) may not take, kept for the services' own gRPC connections to each other and /metrics")
}

// RegisterHTTP defines the flags bounding slow HTTP clients on fs
// (httpserver.Options.RegisterFlags), for binaries that serve HTTP.
func (c *Common) RegisterHTTP(fs *flag.FlagSet) {
	c.HTTP.RegisterFlags(fs)
}

// RegisterIssuers defines --issuer on fs, for binaries that verify tokens.
func (c *Common) RegisterIssuers(fs *flag.FlagSet) {
	fs.Var(&c.Issuers, "issuer", "trusted token issuer as ISS=JWKS, where JWKS is a file path or an https URL (repeatable; comma-separated in the environment)")
}

// RegisterTLS defines --cert-dir and --plaintext on fs, for binaries that
// talk to the suite's services. (No back quotes in a usage: the flag
// package shows a back-quoted word as the flag's argument name.)
func (c *Common) RegisterTLS(fs *flag.FlagSet, certDir string) {
	fs.StringVar(&c.CertDir, "cert-dir", certDir, "directory holding the mTLS files: ca.pem, NAME.pem and NAME-key.pem (\"comityctl dev certs\" creates them)")
	fs.BoolVar(&c.Plaintext, "plaintext", false, "talk to the other services without TLS (only where a service mesh provides mTLS)")
}

// RegisterAuditBacklogAlarm defines --audit-backlog-alarm on fs, for binaries
// that run a service producing audit events: how old its oldest undelivered
// audit event may get before the delivery is reported behind (a health
// detail, /readyz's auditDelivery, and a log line; the service keeps serving).
func (c *Common) RegisterAuditBacklogAlarm(fs *flag.FlagSet) {
	c.AuditBacklogAlarm = 5 * time.Minute
	fs.Var((*positiveDuration)(&c.AuditBacklogAlarm), "audit-backlog-alarm",
		"report audit delivery behind (health detail comity.audit.v1.Delivery, /readyz) when the oldest undelivered audit event is older than this")
}

// RegisterAuditAnonymousClients defines --audit-anonymous-clients on fs, for
// binaries that serve gRPC with an audit trail: how many clients (IPv4
// addresses, IPv6 /64s) get an aggregate audit event of their own for their
// unauthenticated calls of a minute, per service; the calls of any further
// client are counted in one event under "other". It bounds what anonymous
// callers can add to the permanent log.
func (c *Common) RegisterAuditAnonymousClients(fs *flag.FlagSet) {
	c.AuditAnonymousClients = grpcserver.DefaultMaxAnonymousAddresses
	fs.Var((*positiveInt)(&c.AuditAnonymousClients), "audit-anonymous-clients",
		"most clients (IPv4 addresses, IPv6 /64s) whose unauthenticated calls get an audit event of their own per minute and service; the calls of the others are counted together in one event")
}

// RegisterDigestKey defines --audit-digest-key on fs, for binaries that run
// a service writing audit events; keys says which digests it keys.
func (c *Common) RegisterDigestKey(fs *flag.FlagSet, keys string) {
	fs.StringVar(&c.DigestKeyFile, "audit-digest-key", "", "file holding the deployment's audit digest key (32 random bytes, the same file for comity-request, comity-directory and comity-audit), which keys the request digests in "+keys+"; required")
}

// RegisterProducer defines the flags of a binary running a service that
// produces audit events (request, directory): --audit-addr,
// --audit-digest-key, --service-key-dir, --audit-backlog-alarm and
// --audit-anonymous-clients.
func (c *Common) RegisterProducer(fs *flag.FlagSet) {
	c.producer = true
	c.RegisterAuditBacklogAlarm(fs)
	c.RegisterAuditAnonymousClients(fs)
	fs.StringVar(&c.AuditAddr, "audit-addr", "127.0.0.1:9103", "gRPC address of comity-audit, where the outbox relay delivers audit events; empty keeps them in the outbox")
	c.RegisterDigestKey(fs, "audit events")
	fs.StringVar(&c.ServiceKeyDir, "service-key-dir", "./var", "directory holding service-issuer/signing-key.jwk, the key this service signs its calls to comity-audit with")
}

// Service is what a service binary loads from its flags before it serves.
type Service struct {
	// DigestKey is read from --audit-digest-key.
	DigestKey trail.DigestKey
	// Issuers are the --issuer flags.
	Issuers []identity.Issuer
	// TLS is the service's mTLS identity; nil with --plaintext.
	TLS *mtls.Identity
	// Credentials sign a producer's calls to comity-audit; nil without
	// --audit-addr, or for a binary that produces no events.
	Credentials *identity.ServiceCredentials
}

// LoadService loads, in this order, the audit digest key, the issuers, the
// mTLS identity tlsName and, for a producer (RegisterProducer) that
// delivers to an audit service, the credentials of service (the binary's
// name, one of identity.Services) from --service-key-dir.
func (c *Common) LoadService(tlsName, service string) (Service, error) {
	var s Service
	var err error
	if s.DigestKey, err = trail.LoadDigestKey(c.DigestKeyFile); err != nil {
		return Service{}, err
	}
	if s.Issuers, err = c.IdentityIssuers(); err != nil {
		return Service{}, err
	}
	if s.TLS, err = c.TLSIdentity(tlsName); err != nil {
		return Service{}, err
	}
	if c.producer && c.AuditAddr != "" {
		if s.Credentials, err = identity.NewServiceCredentials(c.ServiceKeyDir, service); err != nil {
			return Service{}, err
		}
	}
	return s, nil
}

// positiveInt is an integer flag that refuses zero and negative values.
type positiveInt int

func (n *positiveInt) String() string { return strconv.Itoa(int(*n)) }

// Set parses a whole number greater than zero.
func (n *positiveInt) Set(s string) error {
	v, err := strconv.Atoi(s)
	return setPositive((*int)(n), v, err, s, "a whole number such as 100", "100")
}

// positiveDuration is a duration flag that refuses zero and negative values.
type positiveDuration time.Duration

func (d *positiveDuration) String() string { return time.Duration(*d).String() }

// Set parses a Go duration (90s, 5m, 1h30m) greater than zero.
func (d *positiveDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	return setPositive((*time.Duration)(d), v, err, s, "a duration such as 90s, 5m or 1h", "5m")
}

// setPositive stores v, parsed from s with err, in *dst unless it did not
// parse (the error says s is not syntax) or is not more than zero (the
// error gives example).
func setPositive[T int | time.Duration](dst *T, v T, err error, s, syntax, example string) error {
	if err != nil {
		return fmt.Errorf("not %s: %q", syntax, s)
	}
	if v <= 0 {
		return fmt.Errorf("must be more than zero, e.g. %s; got %v", example, v)
	}
	*dst = v
	return nil
}

// TLSIdentity loads the mTLS identity name from --cert-dir; nil with
// --plaintext.
func (c *Common) TLSIdentity(name string) (*mtls.Identity, error) {
	if c.Plaintext {
		return nil, nil
	}
	id, err := mtls.Load(mtls.FilesIn(c.CertDir, name))
	if err != nil {
		return nil, fmt.Errorf("%w (create development certificates with `comityctl dev certs`, point --cert-dir at them, or pass --plaintext)", err)
	}
	if id.Name() != name {
		return nil, fmt.Errorf("the certificate in %s names %s, not %s", c.CertDir, id.Name(), name)
	}
	return id, nil
}

// IdentityIssuers parses the --issuer flags.
func (c *Common) IdentityIssuers() ([]identity.Issuer, error) {
	var out []identity.Issuer
	for _, s := range c.Issuers {
		// The issuer itself may contain '=' (rarely) but a JWKS location
		// never starts with one, so split at the last '='.
		i := strings.LastIndex(s, "=")
		if i <= 0 || i == len(s)-1 {
			return nil, fmt.Errorf("--issuer %q: want ISS=JWKS", s)
		}
		out = append(out, identity.Issuer{ID: s[:i], JWKS: s[i+1:]})
	}
	return out, nil
}

// Env is what Main hands a binary's run function.
type Env struct {
	Logger  *zap.Logger
	Metrics prometheus.Registerer
	// Conns bounds the connections of the process: open every listener
	// with Conns.Listen.
	Conns *connlimit.Guard
}

// Main parses args into fs (flags, then COMITY_… variables), builds the
// logger and metrics registry, and calls run with a context that ends on
// SIGINT or SIGTERM, serving /metrics beside it. It returns the process exit
// code.
func Main(name string, fs *flag.FlagSet, common *Common, args []string, run func(ctx context.Context, env Env) error) int {
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := config.ApplyEnv(fs, os.LookupEnv); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected arguments %q\n", name, fs.Args())
		return 2
	}
	logger, err := logging.New(common.LogFormat, common.LogLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	defer func() { _ = logger.Sync() }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	conns, err := guard(common, logger, reg)
	if err != nil {
		logger.Error("connection bounds", zap.Error(err))
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g, ctx := errgroup.WithContext(ctx)
	if common.MetricsAddr != "" {
		l, err := conns.Listen(common.MetricsAddr, "metrics")
		if err != nil {
			logger.Error("metrics listener", zap.Error(err))
			return 1
		}
		g.Go(func() error { return httpserver.ServeMetrics(ctx, l, reg, logger) })
	}
	g.Go(func() error { return run(ctx, Env{Logger: logger, Metrics: reg, Conns: conns}) })
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error(name+" stopped on an error", zap.Error(err))
		return 1
	}
	logger.Info(name + " stopped")
	return 0
}

// guard raises the soft descriptor limit to the hard one and builds the
// process's connection Guard from it and the flags, logging the figures.
func guard(common *Common, logger *zap.Logger, reg prometheus.Registerer) (*connlimit.Guard, error) {
	before, soft, hard, err := connlimit.RaiseFileLimit()
	if err != nil {
		// Not fatal: the bound is sized from the limit as it is.
		logger.Warn("could not raise the file-descriptor limit", zap.Error(err))
	}
	g, err := connlimit.New(connlimit.Config{
		MaxConns: common.MaxConns, MaxConnsPerClient: common.MaxConnsPerClient, InternalReserve: common.InternalConnsReserve, FileLimit: soft,
		Logger: logger, Metrics: reg,
	})
	if err != nil {
		return nil, err
	}
	logger.Info("connection bounds",
		zap.Uint64("fd_limit_before", before), zap.Uint64("fd_limit", soft), zap.Uint64("fd_limit_hard", hard),
		zap.Uint64("fd_reserve", connlimit.Reserve(soft)),
		zap.Int("max_conns", g.MaxConns()), zap.Int("max_public_conns", g.MaxPublicConns()),
		zap.Int("max_conns_per_client", g.MaxConnsPerClient()), zap.Int("fd_spare", g.Spare()))
	return g, nil
}
