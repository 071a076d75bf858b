package gatewaytest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"

	"github.com/comity-mla/comity/gateway"
	"github.com/comity-mla/comity/services/audit/auditd"
	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/directory/directoryd"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/request/requestd"
	"github.com/comity-mla/comity/services/trail"
)

// Suite is a whole Comity suite started by StartSuite.
type Suite struct {
	// BaseURL is the gateway's, e.g. http://127.0.0.1:41234.
	BaseURL string
	// DataDir holds the suite's files, the dev issuer's key among them.
	DataDir string
}

// StartSuite runs the whole suite in this process for a test of another
// module (the gateway's own tests have a suite with every option): the
// three services on SQLite and the gateway, each on its own loopback port,
// talking gRPC over mTLS, as comity-local runs them. It is stopped when
// the test ends.
func StartSuite(t testing.TB) *Suite {
	t.Helper()
	dir := t.TempDir()
	dev, err := identity.EnsureDevIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	svcIssuer, err := identity.EnsureServiceIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	dirCreds, err := identity.NewServiceCredentials(dir, "comity-directory")
	if err != nil {
		t.Fatal(err)
	}
	reqCreds, err := identity.NewServiceCredentials(dir, "comity-request")
	if err != nil {
		t.Fatal(err)
	}
	digestKey, err := trail.EnsureDigestKey(filepath.Join(dir, "audit", "digest.key"))
	if err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "certs")
	if err := mtls.EnsureDev(certDir); err != nil {
		t.Fatal(err)
	}
	ids := map[string]*mtls.Identity{}
	for _, name := range mtls.Identities {
		if ids[name], err = mtls.Load(mtls.FilesIn(certDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	var ls [4]net.Listener
	for i := range ls {
		if ls[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	addr := func(i int) string { return ls[i].Addr().String() }
	logger := zaptest.NewLogger(t)
	issuers := []identity.Issuer{dev}
	ctx, cancel := context.WithCancel(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return directoryd.Run(ctx, directoryd.Config{
			Listener: ls[0], Database: "sqlite:" + filepath.Join(dir, "directory.db"),
			Issuers: issuers, SeedTrustedIssuers: []string{dev.ID},
			Producer: relay.Producer{AuditAddr: addr(2), ServiceCredentials: dirCreds, AuditDigestKey: digestKey},
			TLS:      ids[mtls.Directory], Logger: logger,
		})
	})
	g.Go(func() error {
		return requestd.Run(ctx, requestd.Config{
			Listener: ls[1], Database: "sqlite:" + filepath.Join(dir, "request.db"),
			BlobDir: filepath.Join(dir, "attachments"), DirectoryAddr: addr(0), Issuers: issuers,
			Producer: relay.Producer{AuditAddr: addr(2), ServiceCredentials: reqCreds, AuditDigestKey: digestKey},
			TLS:      ids[mtls.Request], Logger: logger,
		})
	})
	g.Go(func() error {
		return auditd.Run(ctx, auditd.Config{
			Listener: ls[2], Database: "sqlite:" + filepath.Join(dir, "audit.db"), LogDir: filepath.Join(dir, "audit"),
			Origin: "comity.test/audit", DirectoryAddr: addr(0), Issuers: []identity.Issuer{dev, svcIssuer},
			ServiceIssuer: svcIssuer.ID, TLS: ids[mtls.Audit], AuditDigestKey: digestKey, Logger: logger,
		})
	})
	g.Go(func() error {
		return gateway.Run(ctx, gateway.Config{
			Listener: ls[3], DirectoryAddr: addr(0), RequestAddr: addr(1), AuditAddr: addr(2),
			TLS: ids[mtls.Gateway], Logger: logger, Issuers: issuers,
		})
	})
	t.Cleanup(func() {
		cancel()
		if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("suite stopped with an error: %v", err)
		}
	})
	s := &Suite{BaseURL: "http://" + addr(3), DataDir: dir}
	// Ready when /readyz says every service answers.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.BaseURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("suite not ready after 20s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Client returns a client of the suite's gateway for t.
func (s *Suite) Client(t testing.TB) *Client {
	return &Client{TB: t, BaseURL: s.BaseURL, DataDir: s.DataDir}
}
