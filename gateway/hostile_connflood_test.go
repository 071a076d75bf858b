package gateway_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/httpserver"
)

// A flood of the gateway from many addresses, each within the per-client
// bound, reaches the total bound: the gateway's share of it is taken and
// further connections are refused at once. What it cannot take is the
// internal reserve: a new connection to the request service still gets in
// and a request is created through it (the service reaching the directory
// and the audit log on its own connections), and once the flood ends the
// gateway serves everyone again; the process stays up throughout.
func TestHostileConnectionFloodFromManyAddresses(t *testing.T) {
	const (
		maxConns, reserve, perClient = 120, 40, 10
		addresses                    = 20 // 200 connections: more than the 80 of the gateway's share
	)
	s := startSuite(t, suiteOptions{
		quiet: true, maxConns: maxConns, internalReserve: reserve, maxConnsPerClient: perClient,
		// The flood's connections never send a header; they must hold
		// their places for the whole test.
		http: httpserver.Options{HeaderTimeout: 2 * time.Minute},
	})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK)
	addr := strings.TrimPrefix(s.baseURL, "http://")

	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for i := range addresses {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.0.%d", 10+i))}, Timeout: 5 * time.Second}
		for range perClient {
			c, err := d.Dial("tcp", addr)
			if err != nil {
				continue // a full backlog refuses too
			}
			flood = append(flood, c)
		}
	}
	// The guard refuses as it accepts, after the dials returned.
	deadline := time.Now().Add(15 * time.Second)
	for {
		total, _ := s.conns.Refused()
		if total > 0 && s.conns.Open() >= s.conns.MaxPublicConns() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d connections from %d addresses, %d are open and %d were refused over the total bound; want the gateway's share of %d full and refusals",
				len(flood), addresses, s.conns.Open(), total, s.conns.MaxPublicConns())
		}
		time.Sleep(10 * time.Millisecond)
	}
	total, perClientRefused := s.conns.Refused()
	if perClientRefused != 0 {
		t.Errorf("%d connections refused per client: each address stayed within its bound of %d, so only the total bound should refuse", perClientRefused, perClient)
	}

	// The services' own listeners still take new connections: a create
	// over a fresh gRPC connection to the request service succeeds.
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+prosecutor), 15*time.Second)
	defer cancel()
	req := requestv1.NewRequestServiceClient(s.grpcConn("request"))
	if _, err := req.CreateRequest(ctx, &requestv1.CreateRequestRequest{Request: preservationProto(t, "UZ")}); err != nil {
		t.Fatalf("a create over a new connection to the request service during the flood: %v", err)
	}

	// The flood ends; the gateway serves a client on another address.
	held := len(flood)
	for _, c := range flood {
		c.Close()
	}
	flood = nil
	honest := s.client()
	honest.HTTP = dialFrom("127.0.0.2")
	deadline = time.Now().Add(15 * time.Second)
	for {
		r := fromClient(honest.Do("POST", "/v1/requests", prosecutor, preservation()))
		if r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the flood ended, a create from 127.0.0.2 = %d %s", r.status, r.raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("flood of %d connections from %d addresses: %d refused over the total bound (gateway share %d of %d)",
		held, addresses, total, s.conns.MaxPublicConns(), s.conns.MaxConns())
}
