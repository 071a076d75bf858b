package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
)

// The throughput benchmark of the request service (docs/benchmarks.md):
// requests created, or carried from DRAFT to TRANSMITTED, per second, through
// the gateway and directly over gRPC, by 1, 16 and 64 concurrent clients, on
// SQLite and on PostgreSQL. `make bench` runs it with a fixed b.N
// (-benchtime=3000x) so that a run takes a bounded time.

var (
	benchEngines = []string{"sqlite", "postgres"}
	benchPaths   = []string{"grpc", "gateway"}
	benchOps     = []string{"create", "transmit"}
	benchClients = []int{1, 16, 64}
)

// benchSuite is a suite with what its clients share: the tokens of the
// people who act on a request, a draft and, for the direct path, one gRPC
// connection to the request service.
type benchSuite struct {
	*suite
	prosecutor, centralAuthority string
	// draftJSON is the REST body of a create, draft the same draft as gRPC
	// sends it.
	draftJSON []byte
	draft     *requestv1.Request
	grpc      requestv1.RequestServiceClient
}

func newBenchSuite(tb testing.TB, engine string) *benchSuite {
	tb.Helper()
	s := startSuite(tb, suiteOptions{postgres: engine == "postgres", quiet: true})
	bs := &benchSuite{
		suite:            s,
		prosecutor:       s.token("kz-gpo", identity.Prosecutor),
		centralAuthority: s.token("kz-gpo", identity.CentralAuthority),
	}
	var err error
	if bs.draftJSON, err = json.Marshal(preservation()); err != nil {
		tb.Fatal(err)
	}
	bs.draft = &requestv1.Request{}
	if err := protojson.Unmarshal(bs.draftJSON, bs.draft); err != nil {
		tb.Fatal(err)
	}
	bs.grpc = requestv1.NewRequestServiceClient(s.grpcConn("request"))
	return bs
}

// operation is one unit of work of a client: it returns the request's
// status at the end, as the service reported it.
type operation func(ctx context.Context) (string, error)

// client returns the operation op over path for one client, and what closes
// the client's connection. Clients of the gateway each have their own
// keep-alive HTTP connection, as separate users would; clients of the direct
// path share the one gRPC connection, as a service calling another does.
func (bs *benchSuite) client(path, op string) (operation, func()) {
	steps := 1
	if op == "transmit" {
		steps = 3
	}
	if path == "grpc" {
		prosecutor := metadata.Pairs("authorization", "Bearer "+bs.prosecutor)
		ca := metadata.Pairs("authorization", "Bearer "+bs.centralAuthority)
		return func(ctx context.Context) (string, error) {
			pctx := metadata.NewOutgoingContext(ctx, prosecutor)
			r, err := bs.grpc.CreateRequest(pctx, &requestv1.CreateRequestRequest{Request: bs.draft})
			if err != nil || steps == 1 {
				return r.GetRequest().GetStatus().String(), err
			}
			name := r.GetRequest().GetName()
			if _, err := bs.grpc.SubmitRequest(pctx, &requestv1.SubmitRequestRequest{Name: name}); err != nil {
				return "", err
			}
			t, err := bs.grpc.TransmitRequest(metadata.NewOutgoingContext(ctx, ca), &requestv1.TransmitRequestRequest{Name: name})
			return t.GetRequest().GetStatus().String(), err
		}, func() {}
	}
	hc := &benchHTTPClient{addr: strings.TrimPrefix(bs.baseURL, "http://")}
	post := func(ctx context.Context, path, token string, body []byte) (name, status string, err error) {
		code, raw, err := hc.post(ctx, path, token, body)
		if err != nil {
			return "", "", fmt.Errorf("POST %s: %w", path, err)
		}
		if code != http.StatusOK {
			return "", "", fmt.Errorf("POST %s = %d: %s", path, code, raw)
		}
		var r struct{ Name, Status string }
		if err := json.Unmarshal(raw, &r); err != nil {
			return "", "", fmt.Errorf("POST %s: %w", path, err)
		}
		return r.Name, r.Status, nil
	}
	empty := []byte("{}")
	return func(ctx context.Context) (string, error) {
		name, status, err := post(ctx, "/v1/requests", bs.prosecutor, bs.draftJSON)
		if err != nil || steps == 1 {
			return status, err
		}
		if _, _, err := post(ctx, "/v1/"+name+":submit", bs.prosecutor, empty); err != nil {
			return "", err
		}
		_, status, err = post(ctx, "/v1/"+name+":transmit", bs.centralAuthority, empty)
		return status, err
	}, hc.close
}

// benchHTTPClient is the benchmark's HTTP/1.1 client: one keep-alive
// connection, one request at a time, written and read on the calling
// goroutine, as load tools such as wrk do. net/http's Client passes every
// request and response between the caller and two goroutines of its own
// per connection; on the two cores the suite shares with its clients that
// cost more CPU per call than the gRPC client of the direct path, and was
// counted against the gateway (docs/benchmarks.md). The gateway's side is
// net/http's server either way.
type benchHTTPClient struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

// post sends one POST and returns the answer's status code and body.
func (c *benchHTTPClient) post(ctx context.Context, path, token string, body []byte) (int, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	if c.conn == nil {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return 0, nil, err
		}
		c.conn, c.br, c.bw = conn, bufio.NewReaderSize(conn, 8<<10), bufio.NewWriterSize(conn, 8<<10)
	}
	fmt.Fprintf(c.bw, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		path, c.addr, token, len(body))
	c.bw.Write(body)
	if err := c.bw.Flush(); err != nil {
		c.close()
		return 0, nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return 0, nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.close()
	}
	return resp.StatusCode, raw, err
}

func (c *benchHTTPClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// wantStatus is the status a request has after op.
func wantStatus(op string) string {
	if op == "transmit" {
		return "TRANSMITTED"
	}
	return "DRAFT"
}

// run performs n operations spread over clients goroutines and returns how
// long each took and how long they all took.
func (bs *benchSuite) run(ctx context.Context, path, op string, clients, n int) ([]time.Duration, time.Duration, error) {
	latencies := make([]time.Duration, n)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	want := wantStatus(op)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for range clients {
		do, closeClient := bs.client(path, op)
		defer closeClient()
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				status, err := do(ctx)
				latencies[i] = time.Since(t0)
				if err == nil && status != want {
					err = fmt.Errorf("%s over %s ended in status %s, want %s", op, path, status, want)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return latencies, time.Since(start), firstErr
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 1) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// processCPU returns the CPU time (user and system) this process has used.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// BenchmarkRequests reports, for each engine, path, operation and number of
// concurrent clients, the operations completed per second (req/s), the
// median and 99th percentile latency of one operation (p50-ms, p99-ms) and
// the CPU time the whole process spent per operation (cpu-us/op).
// op=create is one CreateRequest; op=transmit is create, submit and transmit,
// the whole way from DRAFT to TRANSMITTED. One suite per engine serves all
// of that engine's sub-benchmarks.
func BenchmarkRequests(b *testing.B) {
	for _, engine := range benchEngines {
		b.Run("engine="+engine, func(b *testing.B) {
			bs := newBenchSuite(b, engine)
			for _, path := range benchPaths {
				b.Run("path="+path, func(b *testing.B) {
					for _, op := range benchOps {
						b.Run("op="+op, func(b *testing.B) {
							for _, clients := range benchClients {
								b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
									bs.bench(b, path, op, clients)
								})
							}
						})
					}
				})
			}
		})
	}
}

func (bs *benchSuite) bench(b *testing.B, path, op string, clients int) {
	// Warm up connections, caches and the database before timing.
	if _, _, err := bs.run(b.Context(), path, op, clients, max(2*clients, 20)); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	b.ResetTimer()
	cpu0, cpuOK := processCPU()
	latencies, elapsed, err := bs.run(b.Context(), path, op, clients, b.N)
	cpu1, _ := processCPU()
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(ms(percentile(latencies, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(latencies, 0.99)), "p99-ms")
	if cpuOK {
		// The CPU time of the whole process (clients, services, gateway)
		// per operation: it depends much less than req/s on how much of
		// the machine other processes take.
		b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-us/op")
	}
}

// TestBenchmarkOperations checks that every operation the benchmark times
// does what it claims, on every engine and path, so that the figures are of
// work actually done.
func TestBenchmarkOperations(t *testing.T) {
	for _, engine := range benchEngines {
		t.Run(engine, func(t *testing.T) {
			bs := newBenchSuite(t, engine)
			for _, path := range benchPaths {
				for _, op := range benchOps {
					latencies, _, err := bs.run(t.Context(), path, op, 4, 8)
					if err != nil {
						t.Fatalf("%s over %s: %v", op, path, err)
					}
					if slices.Contains(latencies, 0) {
						t.Errorf("%s over %s: an operation was not timed", op, path)
					}
				}
			}
			// 2 paths × 2 ops × 8 operations, each creating one request, of
			// which the transmit ones (16) reached TRANSMITTED.
			list := bs.mustDo("GET", "/v1/requests?pageSize=100", bs.centralAuthority, nil, 200)
			var transmitted, total int
			reqs, _ := list.body["requests"].([]any)
			for _, r := range reqs {
				total++
				if r.(map[string]any)["status"] == "TRANSMITTED" {
					transmitted++
				}
			}
			if total != 32 || transmitted != 16 {
				t.Errorf("after the operations: %d requests, %d transmitted; want 32 and 16", total, transmitted)
			}
		})
	}
}
