package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/comity-mla/comity/gateway"
	"github.com/comity-mla/comity/gateway/gatewaytest"
	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/grpcclient"
	"github.com/comity-mla/comity/services/platform/mtls"
)

// A service answers only clients presenting a certificate its CA signed:
// no TLS, TLS without a certificate, and a certificate from another CA are
// all refused before any method runs, health checks included.
func TestServicesRefuseClientsWithoutTheirCAsCertificate(t *testing.T) {
	s := startSuite(t, suiteOptions{quiet: true})
	// A second CA, as an attacker would make, issuing the same names.
	rogueDir := filepath.Join(t.TempDir(), "rogue")
	if err := mtls.EnsureDev(rogueDir); err != nil {
		t.Fatal(err)
	}
	for _, service := range []string{"directory", "request", "audit"} {
		clients := map[string]grpc.DialOption{
			"plaintext": grpc.WithTransportCredentials(insecure.NewCredentials()),
			// Trusts any server, presents nothing.
			"TLS without a certificate": grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})),
			// Presents the rogue CA's gateway certificate, trusts any server.
			"a certificate of another CA": grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
				InsecureSkipVerify: true, Certificates: rogueCert(t, rogueDir),
			})),
		}
		for name, opt := range clients {
			t.Run(service+"/"+name, func(t *testing.T) {
				conn, err := grpc.NewClient(s.addrs[service], opt)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
				if status.Code(err) != codes.Unavailable {
					t.Fatalf("health check: got %v, want the connection refused (UNAVAILABLE)", err)
				}
				// A real method with a valid user token fares no better.
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.token("kz-gpo", identity.Prosecutor))
				_, err = directoryv1.NewDirectoryServiceClient(conn).ListStates(ctx, &directoryv1.ListStatesRequest{})
				if status.Code(err) != codes.Unavailable {
					t.Fatalf("ListStates: got %v, want UNAVAILABLE", err)
				}
			})
		}
	}
	// With the real CA's certificate the same call works.
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+s.token("kz-gpo", identity.Prosecutor))
	if _, err := directoryv1.NewDirectoryServiceClient(s.grpcConn("directory")).ListStates(ctx, &directoryv1.ListStatesRequest{}); err != nil {
		t.Fatalf("ListStates with the gateway's certificate: %v", err)
	}
}

func rogueCert(t *testing.T, dir string) []tls.Certificate {
	t.Helper()
	f := mtls.FilesIn(dir, mtls.Gateway)
	c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	return []tls.Certificate{c}
}

// Each service is called only by the identities with business there, and
// only for that business, whatever the user's token allows: the request
// service's certificate reads the directory but cannot change it, nor read
// the audit trail; only the producing services append to the audit log; no
// service but the gateway calls the request service.
func TestServiceIdentitiesCallOnlyWhatTheyNeed(t *testing.T) {
	s := startSuite(t, suiteOptions{quiet: true})
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	auditor := s.token("kz-oversight", identity.Auditor)
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	call := func(token string) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	dirAs := func(id string) directoryv1.DirectoryServiceClient {
		return directoryv1.NewDirectoryServiceClient(s.grpcConnAs("directory", id))
	}
	auditAs := func(id string) auditv1.AuditServiceClient {
		return auditv1.NewAuditServiceClient(s.grpcConnAs("audit", id))
	}
	reqAs := func(id string) requestv1.RequestServiceClient {
		return requestv1.NewRequestServiceClient(s.grpcConnAs("request", id))
	}
	update := &directoryv1.UpdateStateRequest{State: &directoryv1.State{Name: "states/KZ"}}
	cases := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"request service reads the directory", func() error {
			_, err := dirAs(mtls.Request).GetAgency(call(prosecutor), &directoryv1.GetAgencyRequest{Name: "agencies/uz-247"})
			return err
		}, codes.OK},
		{"request service changes a state, with an admin's token", func() error {
			_, err := dirAs(mtls.Request).UpdateState(call(admin), update)
			return err
		}, codes.PermissionDenied},
		{"request service deactivates an agency, with an admin's token", func() error {
			_, err := dirAs(mtls.Request).DeactivateAgency(call(admin), &directoryv1.DeactivateAgencyRequest{Name: "agencies/kz-247"})
			return err
		}, codes.PermissionDenied},
		{"audit service creates an agency, with an admin's token", func() error {
			_, err := dirAs(mtls.Audit).CreateAgency(call(admin), &directoryv1.CreateAgencyRequest{})
			return err
		}, codes.PermissionDenied},
		{"request service reads the audit trail, with an auditor's token", func() error {
			_, err := auditAs(mtls.Request).ListEntries(call(auditor), &auditv1.ListEntriesRequest{})
			return err
		}, codes.PermissionDenied},
		{"gateway appends to the audit log", func() error {
			_, err := auditAs(mtls.Gateway).Append(call(prosecutor), &auditv1.AppendRequest{})
			return err
		}, codes.PermissionDenied},
		{"directory service lists requests", func() error {
			_, err := reqAs(mtls.Directory).ListRequests(call(prosecutor), &requestv1.ListRequestsRequest{})
			return err
		}, codes.PermissionDenied},
		{"audit service lists requests", func() error {
			_, err := reqAs(mtls.Audit).ListRequests(call(prosecutor), &requestv1.ListRequestsRequest{})
			return err
		}, codes.PermissionDenied},
		{"gateway lists requests", func() error {
			_, err := reqAs(mtls.Gateway).ListRequests(call(prosecutor), &requestv1.ListRequestsRequest{})
			return err
		}, codes.OK},
		{"gateway reads the audit trail", func() error {
			_, err := auditAs(mtls.Gateway).GetCheckpoint(call(auditor), &auditv1.GetCheckpointRequest{})
			return err
		}, codes.OK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if got := status.Code(err); got != c.want {
				t.Fatalf("got %v (%v), want %v", got, err, c.want)
			}
			if c.want == codes.PermissionDenied && !strings.Contains(status.Convert(err).Message(), "may not call") {
				t.Errorf("message %q does not say the calling service may not call the method", status.Convert(err).Message())
			}
		})
	}
}

// A gateway whose certificate the services' CA did not sign reaches none of
// them: it is not ready, and its REST calls fail as unavailable, not as a
// leak of anything.
func TestAGatewayWithAWrongCertificateIsRefused(t *testing.T) {
	s := startSuite(t, suiteOptions{quiet: true})
	rogueDir := filepath.Join(t.TempDir(), "rogue")
	if err := mtls.EnsureDev(rogueDir); err != nil {
		t.Fatal(err)
	}
	rogue, err := mtls.Load(mtls.FilesIn(rogueDir, mtls.Gateway))
	if err != nil {
		t.Fatal(err)
	}
	l := s.startGateway(gateway.Config{TLS: rogue})
	other := &suite{t: t, baseURL: "http://" + l.Addr().String(), dataDir: s.dataDir}
	if r := other.do(http.MethodGet, "/readyz", "", nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz of the rogue gateway: %d %v, want 503", r.status, r.body)
	}
	r := other.do(http.MethodGet, "/v1/agencies/uz-247", s.token("kz-gpo", identity.Prosecutor), nil)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("GET /v1/agencies/uz-247 through the rogue gateway: %d %v, want 503", r.status, r.body)
	}
	// The suite's own gateway, with the right certificate, answers.
	if r := s.do(http.MethodGet, "/v1/agencies/uz-247", s.token("kz-gpo", identity.Prosecutor), nil); r.status != http.StatusOK {
		t.Fatalf("GET /v1/agencies/uz-247 through the suite's gateway: %d %v", r.status, r.body)
	}
}

// A client checks that it reached the service it meant to: the directory's
// certificate, though signed by the same CA, does not pass for the audit
// service's, so the relays' events and service tokens never go astray.
func TestClientsRefuseAServerWithAnotherIdentity(t *testing.T) {
	s := startSuite(t, suiteOptions{quiet: true})
	conn, err := grpcclient.New(s.addrs["directory"], grpcclient.Options{TLS: s.ids[mtls.Request], Server: mtls.Audit, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "comity-audit") {
		t.Fatalf("health check of the directory taken for the audit service: got %v, want the handshake refused", err)
	}
	// The same client, meaning the directory, gets through.
	conn, err = grpcclient.New(s.addrs["directory"], grpcclient.Options{TLS: s.ids[mtls.Request], Server: mtls.Directory, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health check of the directory: %v", err)
	}
}

// Given a certificate, the gateway serves HTTPS, and only HTTPS.
func TestTheGatewayServesHTTPSWhenGivenACertificate(t *testing.T) {
	s := startSuite(t, suiteOptions{quiet: true})
	certs := mtls.FilesIn(filepath.Join(s.dataDir, "certs"), mtls.Gateway)
	l := s.startGateway(gateway.Config{TLS: s.ids[mtls.Gateway], HTTPSCertFile: certs.Cert, HTTPSKeyFile: certs.Key})

	caPEM, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	c := &gatewaytest.Client{TB: t, BaseURL: "https://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), DataDir: s.dataDir, HTTP: https}
	var r gatewaytest.Response
	deadline := time.Now().Add(10 * time.Second)
	for r = c.Do("GET", "/readyz", "", nil); r.Status != http.StatusOK && time.Now().Before(deadline); r = c.Do("GET", "/readyz", "", nil) {
		time.Sleep(50 * time.Millisecond)
	}
	if r.Status != http.StatusOK {
		t.Fatalf("GET /readyz over HTTPS: %d %s", r.Status, r.Raw)
	}
	c.MustDo("GET", "/v1/agencies/uz-247", s.token("kz-gpo", identity.Prosecutor), nil, http.StatusOK)

	resp, err := http.Get("http://" + l.Addr().String() + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the HTTPS gateway answered plain HTTP")
		}
	}
}

// startGateway runs a second gateway, configured as cfg says, in front of
// the suite's services until the test ends, and returns its listener.
func (s *suite) startGateway(cfg gateway.Config) net.Listener {
	s.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	cfg.Listener, cfg.Logger = l, zap.NewNop()
	cfg.DirectoryAddr, cfg.RequestAddr, cfg.AuditAddr = s.addrs["directory"], s.addrs["request"], s.addrs["audit"]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gateway.Run(ctx, cfg) }()
	s.t.Cleanup(func() { cancel(); <-done })
	return l
}
