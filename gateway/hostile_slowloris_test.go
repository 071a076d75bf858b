package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/httpserver"
)

// dialFrom returns an HTTP client whose connections come from the loopback
// address local (Linux routes all of 127/8 to lo), one new connection per
// call, so that every call goes through the gateway's accept.
func dialFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// attackOutcome is how one hostile connection ended.
type attackOutcome int

const (
	// connRefused: closed before any answer (the connection bound, or the
	// header timeout for connections that never sent their headers).
	connRefused attackOutcome = iota
	// connCut: answered (400: the body came too slowly) and closed before the
	// body was sent.
	connCut
	// connHeld: still open when the attacker gave up.
	connHeld
)

// A few thousand connections from one address trickling their bodies a
// byte at a time, or never sending their headers, cannot stop the suite:
// the per-client bound refuses the excess at once, the minimum body rate and
// the header timeout cut the rest, and a client on another address keeps
// creating requests throughout.
func TestHostileSlowloris(t *testing.T) {
	const (
		attackers   = 2000 // a quarter never send their headers; the rest trickle their bodies
		perClient   = 200
		trickleGap  = 200 * time.Millisecond
		bodyLength  = 2000 // bytes the tricklers announce: 400 s at their pace
		attackLimit = 40 * time.Second
	)
	s := startSuite(t, suiteOptions{
		quiet:             true,
		maxConnsPerClient: perClient,
		http:              httpserver.Options{HeaderTimeout: time.Second, IdleTimeout: 2 * time.Second, BodyMinBytes: 256, BodyWindow: time.Second},
	})
	addr := strings.TrimPrefix(s.baseURL, "http://")
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	honest := s.client()
	honest.HTTP = dialFrom("127.0.0.2")

	attacker := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: 10 * time.Second}
	var outcomes [3]atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), attackLimit)
	defer cancel()
	attack := func(trickle bool) {
		defer wg.Done()
		c, err := attacker.DialContext(ctx, "tcp", addr)
		if err != nil {
			// The backlog overflowing is a refusal too.
			outcomes[connRefused].Add(1)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(attackLimit))
		// Whatever the server sends back, in the background: it ends
		// when the server closes the connection.
		answer := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(c)
			answer <- string(b)
		}()
		if trickle {
			fmt.Fprintf(c, "POST /v1/requests HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, prosecutor, bodyLength)
			tick := time.NewTicker(trickleGap)
			defer tick.Stop()
		sending:
			for range bodyLength {
				select {
				case <-tick.C:
					if _, err := c.Write([]byte{' '}); err != nil {
						break sending
					}
				case a := <-answer:
					answer <- a
					break sending
				}
			}
		}
		select {
		case a := <-answer:
			switch {
			case a == "":
				outcomes[connRefused].Add(1)
			case strings.HasPrefix(a, "HTTP/1.1 400") && strings.Contains(a, "Connection: close"):
				outcomes[connCut].Add(1)
			default:
				t.Errorf("a hostile connection got an unexpected answer: %.300q", a)
			}
		case <-ctx.Done():
			outcomes[connHeld].Add(1)
		}
	}
	for i := range attackers {
		wg.Add(1)
		// Interleaved, so that both kinds get past the bound.
		go attack(i%4 != 3)
	}

	// Meanwhile, from another address: creates keep succeeding, each on a
	// new connection.
	attackDone := make(chan struct{})
	go func() { wg.Wait(); close(attackDone) }()
	creates := 0
	for waiting := true; waiting; creates++ {
		select {
		case <-attackDone:
			waiting = false
		default:
		}
		r := fromClient(honest.Do("POST", "/v1/requests", prosecutor, preservation()))
		if r.status != http.StatusOK {
			t.Fatalf("create %d from 127.0.0.2 during the attack = %d: %s", creates+1, r.status, r.raw)
		}
	}

	if n := outcomes[connHeld].Load(); n > 0 {
		t.Errorf("%d hostile connections were still open after %s: slow bodies or missing headers hold connections", n, attackLimit)
	}
	if outcomes[connCut].Load() == 0 {
		t.Error("no trickling connection was cut by the minimum body rate")
	}
	total, perClientRefused := s.conns.Refused()
	if perClientRefused == 0 {
		t.Errorf("the per-client bound of %d refused no connection of %d from one address", perClient, attackers)
	}
	if total != 0 {
		t.Errorf("%d connections refused over the total bound: the per-client bound should have held them off", total)
	}
	// The process is up and serves everyone again.
	s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK)
	t.Logf("%d creates from 127.0.0.2 during the attack; hostile connections: %d refused, %d cut by the body rate; guard: %d refused per client",
		creates, outcomes[connRefused].Load(), outcomes[connCut].Load(), perClientRefused)
}

// A refusal written before the body has arrived (429, 413, 400) comes back at
// once with Connection: close, and the connection closes without waiting for
// a body that never comes.
func TestHostileRefusalClosesWithoutBody(t *testing.T) {
	s := startSuite(t, suiteOptions{
		maxBody:   100_000,
		rateLimit: gateway.RateLimit{PerSecond: 0.001, Burst: 1},
		http:      httpserver.Options{BodyWindow: time.Minute},
	})
	addr := strings.TrimPrefix(s.baseURL, "http://")
	kz := s.token("kz-gpo", identity.Prosecutor)
	// kz-gpo spends its one call.
	s.mustDo("POST", "/v1/requests", kz, preservation(), http.StatusOK)
	for _, tc := range []struct {
		name, path, token string
		length, want      int
	}{
		{"rate limited", "/v1/requests", kz, 10_000, http.StatusTooManyRequests},
		{"body too large", "/v1/requests", s.token("uz-gpo", identity.Prosecutor), 200_000, http.StatusRequestEntityTooLarge},
		{"path not UTF-8", "/v1/requests/%FF:submit", s.token("tj-gpo", identity.Prosecutor), 10_000, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Far less than the body window: only an answer that does not
			// wait for the body arrives in time.
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
				tc.path, addr, tc.token, tc.length)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer before the body was sent: %v", err)
			}
			rest, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tc.want, rest)
			}
			if !resp.Close {
				t.Errorf("the answer does not say Connection: close (header %q)", resp.Header.Get("Connection"))
			}
			// The server closes its side: the read ends with EOF, not the
			// deadline.
			var one [1]byte
			if _, err := c.Read(one[:]); !errors.Is(err, io.EOF) {
				t.Errorf("after the answer the connection stays open waiting for the body: read = %v, want EOF", err)
			}
		})
	}
}

// An honest upload on a slow link passes as long as it keeps above the
// minimum rate: 2 MiB in 32 KiB pieces, with pauses, above 16 KiB a second.
func TestHostileSlowHonestUploadPasses(t *testing.T) {
	s := startSuite(t, suiteOptions{
		http: httpserver.Options{BodyMinBytes: 16 << 10, BodyWindow: time.Second},
	})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	r := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK)
	path := "/v1/" + r.body["name"].(string)

	content := bytes.Repeat([]byte("%PDF-1.7 slow but honest "), (2<<20)/25)
	sum := sha256.Sum256(content)
	pr, pw := io.Pipe()
	go func() {
		const piece = 32 << 10
		for off := 0; off < len(content); off += piece {
			if _, err := pw.Write(content[off:min(off+piece, len(content))]); err != nil {
				return
			}
			// The link's pace: 32 KiB every 50 ms, 640 KiB/s.
			time.Sleep(50 * time.Millisecond)
		}
		pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPost, s.baseURL+path+"/attachments:upload?kind=TRANSLATION&language=uz", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(content))
	req.Header.Set("Authorization", "Bearer "+prosecutor)
	req.Header.Set("Content-Type", "application/pdf")
	req.Header.Set("Content-Disposition", `attachment; filename="slow.pdf"`)
	req.Header.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("slow honest upload: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("slow honest upload = %d: %s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), fmt.Sprint(len(content))) {
		t.Errorf("the stored attachment does not have the file's %d bytes: %s", len(content), body)
	}
}

// The services' gRPC ports are bounded by the same guard: connections from
// one address beyond the per-client bound are refused at once, and the
// gateway, whose connections to the service are already open, keeps
// serving.
func TestHostileConnectionsToAServiceAreBounded(t *testing.T) {
	const perClient, attackers = 20, 100
	s := startSuite(t, suiteOptions{quiet: true, maxConnsPerClient: perClient})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK)
	_, before := s.conns.Refused()
	for range attackers {
		c, err := net.Dial("tcp", s.addrs["request"])
		if err != nil {
			continue // a full backlog refuses too
		}
		defer c.Close()
	}
	// The guard refuses as it accepts, after the dials returned.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, after := s.conns.Refused()
		if after-before >= attackers-perClient {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections from one address to the request service were refused, want at least %d (per-client bound %d)",
				after-before, attackers, attackers-perClient, perClient)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK)
}
