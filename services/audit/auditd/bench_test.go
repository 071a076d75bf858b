package auditd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/client"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"k8s.io/klog/v2"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/auditd"
	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/grpcapi"
	"github.com/comity-mla/comity/services/audit/spool"
	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/audit/tlog/tlogtest"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/trail"
)

// The benchmarks of the audit service as a whole, each beside a bare Tessera
// POSIX log doing the same in the same run (docs/benchmarks.md, "Audit
// trail"). The set takes two to three minutes on 2 cores, more than half of
// it building the 1,000,000-entry log and its index:
//
//	go test -run '^$' -bench . ./services/audit/auditd/
//
// PostgreSQL figures need COMITY_TEST_POSTGRES (see pgtest); without it
// those sub-benchmarks are skipped.

const benchOrigin = "bench.comity/audit"

var producerCounts = []int{1, 16, 256}

// quietTessera silences Tessera, which logs every log it creates and every
// awaiter it stops through klog.
var quietTessera = sync.OnceFunc(func() {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
})

// benchEvent is an event as the request service records it: every field
// set, about 450 bytes as a leaf.
func benchEvent(i int) trail.Event {
	sum := sha256.Sum256(fmt.Appendf(nil, "request %d", i))
	return trail.Event{
		ID:   trail.NewID(),
		Time: time.Now().UTC().Truncate(time.Microsecond),
		Actor: trail.Actor{Subject: fmt.Sprintf("user-%d", i%97), Agency: "fr-moj",
			Roles: []string{"prosecutor"}, Issuer: "https://idp.justice.example"},
		Service:     "comity-request",
		Action:      "/comity.request.v1.RequestService/SubmitRequest",
		Resource:    fmt.Sprintf("requests/0195b3c2-7e4f-7a1b-9c3d-%012d", i),
		States:      []string{"DE", "FR"},
		Outcome:     "OK",
		Transition:  &trail.Transition{From: "DRAFT", To: "SUBMITTED"},
		RequestHMAC: hex.EncodeToString(sum[:]),
	}
}

// runProducers runs op n times spread over producers goroutines and returns
// how long it took.
func runProducers(b *testing.B, producers, n int, op func(i int) error) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range producers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// service is comity-audit as auditd.Run serves it, with a client holding
// a service token.
type service struct {
	client auditv1.AuditServiceClient
	// log is where the tlog-tiles files are, as a log client reads them.
	log       client.FileFetcher
	publicKey string
}

// startService runs auditd.Run on 127.0.0.1:0 with its index at database
// until b ends, and waits for its health check.
func startService(b *testing.B, database string) *service {
	b.Helper()
	dir := b.TempDir()
	issuer, err := identity.EnsureServiceIssuer(dir)
	if err != nil {
		b.Fatal(err)
	}
	creds, err := identity.NewServiceCredentials(dir, "comity-request")
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	logDir := filepath.Join(dir, "audit")
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	var runErr error
	go func() {
		defer close(stopped)
		runErr = auditd.Run(ctx, auditd.Config{
			Listener: lis, Database: database, LogDir: logDir, Origin: benchOrigin,
			// Never dialled: service tokens are checked without the
			// directory, and no user calls.
			DirectoryAddr: "127.0.0.1:1",
			Issuers:       []identity.Issuer{issuer}, ServiceIssuer: issuer.ID,
			AuditDigestKey: bytes.Repeat([]byte{7}, trail.DigestKeySize),
			Logger:         zap.NewNop(),
		})
	}()
	b.Cleanup(func() {
		cancel()
		<-stopped
		if runErr != nil {
			b.Errorf("auditd.Run: %v", runErr)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })

	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	go func() {
		select {
		case <-stopped: // Run failed: stop waiting
			wcancel()
		case <-wctx.Done():
		}
	}()
	resp, err := healthpb.NewHealthClient(conn).Check(wctx,
		&healthpb.HealthCheckRequest{Service: auditv1.AuditService_ServiceDesc.ServiceName}, grpc.WaitForReady(true))
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		select {
		case <-stopped:
			b.Fatalf("audit service not serving: %v %v; Run: %v", resp.GetStatus(), err, runErr)
		default:
			b.Fatalf("audit service not serving: %v %v", resp.GetStatus(), err)
		}
	}
	key, err := os.ReadFile(filepath.Join(logDir, "public.key"))
	if err != nil {
		b.Fatal(err)
	}
	return &service{
		client:    auditv1.NewAuditServiceClient(conn),
		log:       client.FileFetcher{Root: filepath.Join(logDir, "log")},
		publicKey: strings.TrimSpace(string(key)),
	}
}

// append appends one event and returns its index.
func (s *service) append(ctx context.Context, i int) (uint64, error) {
	indexes, err := s.appendBatch(ctx, i, 1)
	if err != nil {
		return 0, err
	}
	return indexes[0], nil
}

// appendBatch appends events i to i+n-1 in one call, as a relay delivers a
// batch of its outbox, and returns their indexes.
func (s *service) appendBatch(ctx context.Context, i, n int) ([]uint64, error) {
	req := &auditv1.AppendRequest{Events: make([]*auditv1.Event, n)}
	for j := range n {
		req.Events[j] = grpcapi.EventToProto(benchEvent(i + j))
	}
	resp, err := s.client.Append(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(resp.GetIndexes()) != n {
		return nil, fmt.Errorf("append of %d events returned %d indexes", n, len(resp.GetIndexes()))
	}
	return resp.GetIndexes(), nil
}

// rawLog is a bare Tessera POSIX log with the options tlog.Open gives
// Tessera (tlogtest.NewRaw): what the audit service would do if it only
// appended.
type rawLog struct {
	appender  *tessera.Appender
	log       client.FileFetcher
	publicKey string
}

func newRawLog(b *testing.B) *rawLog {
	b.Helper()
	raw := tlogtest.NewRaw(b, benchOrigin)
	return &rawLog{appender: raw.Appender, log: client.FileFetcher{Root: raw.Dir}, publicKey: raw.PublicKey}
}

// append appends the leaf of one event, as the service would log it, and
// returns its index.
func (r *rawLog) append(ctx context.Context, i int) (uint64, error) {
	leaf, err := audit.Leaf(benchEvent(i))
	if err != nil {
		return 0, err
	}
	idx, err := r.appender.Add(ctx, tessera.NewEntry(leaf))()
	return idx.Index, err
}

// appendBatch adds the leaves of events i to i+n-1, all of them before
// awaiting any, as tlog.Log.Append does with a call's leaves.
func (r *rawLog) appendBatch(ctx context.Context, i, n int) error {
	futures := make([]tessera.IndexFuture, n)
	for j := range n {
		leaf, err := audit.Leaf(benchEvent(i + j))
		if err != nil {
			return err
		}
		futures[j] = r.appender.Add(ctx, tessera.NewEntry(leaf))
	}
	for _, f := range futures {
		if _, err := f(); err != nil {
			return err
		}
	}
	return nil
}

// relayBatch is the number of events a relay sends per Append when its
// outbox has a backlog (relay.Options.BatchSize's default).
const relayBatch = 500

// BenchmarkAppendThroughService measures events appended per second
// through the Append RPC (appendShapes): events=1, one event per call, at
// each producer count, and events=500, calls of relayBatch events, as a
// relay with a backlog sends them. Each producer waits for its call's answer
// before sending the next.
//
// Beside it, raw Tessera does the same on a bare Tessera POSIX log with the
// same options: the same producers, each adding one call's worth of leaves
// and awaiting them all. The two take turns, pairRounds turns of
// pairRoundTime each, so that both see the same share of whatever else the
// machine is doing. It reports events/s (the service's), raw-events/s and
// ratio = events/s over raw-events/s. The run time is fixed: b.N is
// ignored, and there is no ns/op.
func BenchmarkAppendThroughService(b *testing.B) {
	quietTessera()
	for _, ix := range indexes {
		b.Run("index="+ix.name, func(b *testing.B) {
			svc := startService(b, ix.database(b))
			raw := newRawLog(b)
			ctx := context.Background()
			for _, shape := range appendShapes {
				for _, producers := range shape.producers {
					b.Run(fmt.Sprintf("events=%d/producers=%d", shape.perCall, producers), func(b *testing.B) {
						var rawEvents, svcEvents int
						var rawTime, svcTime time.Duration
						for range pairRounds {
							n, d := runFor(b, producers, shape.perCall, pairRoundTime, func(i, n int) error {
								return raw.appendBatch(ctx, i, n)
							})
							rawEvents, rawTime = rawEvents+n, rawTime+d
							n, d = runFor(b, producers, shape.perCall, pairRoundTime, func(i, n int) error {
								_, err := svc.appendBatch(ctx, i, n)
								return err
							})
							svcEvents, svcTime = svcEvents+n, svcTime+d
						}
						b.ReportMetric(0, "ns/op")
						rate, rawRate := float64(svcEvents)/svcTime.Seconds(), float64(rawEvents)/rawTime.Seconds()
						b.ReportMetric(rate, "events/s")
						b.ReportMetric(rawRate, "raw-events/s")
						b.ReportMetric(rate/rawRate, "ratio")
					})
				}
			}
		})
	}
}

// appendShapes are the calls BenchmarkAppendThroughService makes: single
// events at every producer count, and relay batches from one relay and from
// sixteen (256 relays with 500 events each would put 128,000 events in every
// round, minutes per run; a deployment has a relay per producing service
// replica).
var appendShapes = []struct {
	perCall   int
	producers []int
}{
	{1, producerCounts},
	{relayBatch, []int{1, 16}},
}

// pairRounds is how many turns the service and raw Tessera take in a
// throughput benchmark, and pairRoundTime how long each turn lasts.
const (
	pairRounds    = 4
	pairRoundTime = 1500 * time.Millisecond
)

// runFor has producers goroutines send calls of perCall events for d, each
// waiting for its call's answer before the next, and returns how many
// events were appended and how long it took, until the last call
// answered.
func runFor(b *testing.B, producers, perCall int, d time.Duration, call func(i, n int) error) (int, time.Duration) {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range producers {
		wg.Go(func() {
			for time.Since(start) < d {
				i := int(next.Add(int64(perCall))) - perCall
				if err := call(i, perCall); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return int(next.Load()), time.Since(start)
}

// indexes are the audit index backends; PostgreSQL's sub-benchmarks skip
// without a server (pgtest).
var indexes = []struct {
	name     string
	database func(b *testing.B) string
}{
	{"sqlite", func(b *testing.B) string { return "sqlite:" + filepath.Join(b.TempDir(), "audit.db") }},
	{"postgres", func(b *testing.B) string { return pgtest.NewDatabase(b) }},
}

// checkpointWatcher reads a log's published checkpoint every millisecond,
// as a client of the tlog-tiles files would, and notes when each new size
// was first seen.
type checkpointWatcher struct {
	mu      sync.Mutex
	size    uint64
	seen    time.Time
	changed chan struct{} // closed at each new checkpoint
}

func watchCheckpoints(b *testing.B, f client.FileFetcher, publicKey string) *checkpointWatcher {
	w := &checkpointWatcher{changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var last []byte
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			raw, err := f.ReadCheckpoint(ctx)
			if err != nil || bytes.Equal(raw, last) {
				continue // not yet published, or unchanged
			}
			now := time.Now()
			cp, err := bundle.VerifyCheckpoint(raw, publicKey)
			if err != nil {
				b.Errorf("checkpoint: %v", err)
				return
			}
			last = raw
			w.mu.Lock()
			if cp.Size > w.size {
				w.size, w.seen = cp.Size, now
				close(w.changed)
				w.changed = make(chan struct{})
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// await returns when a checkpoint covering index was first seen.
func (w *checkpointWatcher) await(ctx context.Context, index uint64) (time.Time, error) {
	for {
		w.mu.Lock()
		size, seen, changed := w.size, w.seen, w.changed
		w.mu.Unlock()
		if size > index {
			return seen, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("waiting for a checkpoint over %d (size %d): %w", index, size, ctx.Err())
		}
	}
}

// latencySamples is the least number of events whose latency is measured:
// enough for a 99th percentile, at a few seconds per side.
const latencySamples = 500

// BenchmarkAppendToCheckpointThroughService measures how long an event
// waits from its Append call until a signed checkpoint that covers it is
// published (what an auditor needs to prove it), with 16 producers each
// appending one event and waiting for its checkpoint, as tlog's
// BenchmarkAppendToCheckpoint does; beside it, the same on a bare Tessera
// POSIX log. Latencies are p50-ms and p99-ms (raw-p50-ms, raw-p99-ms),
// measured over at least latencySamples events each; there is no ns/op.
func BenchmarkAppendToCheckpointThroughService(b *testing.B) {
	quietTessera()
	const producers = 16
	for _, ix := range indexes {
		b.Run("index="+ix.name, func(b *testing.B) {
			svc := startService(b, ix.database(b))
			raw := newRawLog(b)
			svcCP := watchCheckpoints(b, svc.log, svc.publicKey)
			rawCP := watchCheckpoints(b, raw.log, raw.publicKey)
			n := max(b.N, latencySamples)
			measure := func(add func(context.Context, int) (uint64, error), w *checkpointWatcher) []time.Duration {
				lat := make([]time.Duration, n)
				runProducers(b, producers, n, func(i int) error {
					// A bound, so that a log that stopped publishing
					// fails the benchmark instead of hanging it.
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					start := time.Now()
					idx, err := add(ctx, i)
					if err != nil {
						return err
					}
					seen, err := w.await(ctx, idx)
					lat[i] = seen.Sub(start)
					return err
				})
				slices.Sort(lat)
				return lat
			}
			b.ResetTimer()
			rawLat := measure(raw.append, rawCP)
			svcLat := measure(svc.append, svcCP)
			b.StopTimer()
			pct := func(lat []time.Duration, p float64) float64 {
				return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(pct(svcLat, 0.50), "p50-ms")
			b.ReportMetric(pct(svcLat, 0.99), "p99-ms")
			b.ReportMetric(pct(rawLat, 0.50), "raw-p50-ms")
			b.ReportMetric(pct(rawLat, 0.99), "raw-p99-ms")
		})
	}
}

// bigLog is the audit service's log and SQLite index, in process, holding
// size events.
type bigLog struct {
	log   *tlog.Log
	index audit.Index
	svc   *audit.Service
	files client.FileFetcher
}

// newBigLog builds a log of size events through audit.Service.Append in
// chunks of 65,536 (one Tessera batch, one index transaction each), then
// reopens it with the default options and the reads spool, as auditd.Run
// opens it, for the reads to measure.
func newBigLog(b *testing.B, size int) *bigLog {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	index, closeIndex, err := auditd.OpenIndex(ctx, "sqlite:"+filepath.Join(dir, "audit.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(closeIndex)
	logDir := filepath.Join(dir, "audit")
	start := time.Now()
	const chunk = 1 << 16
	l, err := tlog.Open(ctx, logDir, tlog.Options{Origin: benchOrigin, BatchMaxSize: chunk, BatchMaxAge: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	svc := audit.NewService(auditd.LogAdapter{Log: l}, index, nil)
	producer := identity.Principal{Service: "comity-request"}
	for n := 0; n < size; n += chunk {
		events := make([]trail.Event, min(chunk, size-n))
		for i := range events {
			events[i] = benchEvent(n + i)
		}
		if _, err := svc.Append(ctx, producer, "", events); err != nil {
			b.Fatal(err)
		}
	}
	if err := svc.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if l, err = tlog.Open(ctx, logDir, tlog.Options{Origin: benchOrigin}); err != nil {
		b.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(logDir, auditd.ReadsSpoolFile))
	if err != nil {
		b.Fatal(err)
	}
	svc = audit.NewService(auditd.LogAdapter{Log: l}, index, nil, audit.WithSpool(sp))
	b.Cleanup(func() {
		if err := svc.Flush(ctx); err != nil {
			b.Error(err)
		}
		_ = sp.Close()
		_ = l.Close(ctx)
	})
	if err := svc.Recover(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a log and index of %d events in %v", size, time.Since(start).Round(time.Millisecond))
	return &bigLog{log: l, index: index, svc: svc, files: client.FileFetcher{Root: filepath.Join(logDir, "log")}}
}

// BenchmarkInclusionProofThroughService measures the proof of a random
// entry of a log of 100,000 and 1,000,000 events, in process on the real
// log and SQLite index (the gRPC GetEntry needs an auditor's token, which
// needs the directory):
//
//   - EntryProof is audit.Service.EntryProof, all GetEntry does: read the
//     entry from the index, prove it, and record the auditor's read in the
//     spool (a synced write), from which it is logged in the background;
//   - proof is EntryProof without logging the read: index read,
//     checkpoint, inclusion proof;
//   - raw-tessera is the inclusion proof alone, built by Tessera's client
//     from the same tile files.
func BenchmarkInclusionProofThroughService(b *testing.B) {
	quietTessera()
	ctx := context.Background()
	auditor := identity.Principal{Subject: "auditor-1", Agency: "fr-moj", State: "FR",
		Roles: []identity.Role{identity.Auditor}, Issuer: "https://idp.justice.example"}
	for _, size := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", size), func(b *testing.B) {
			bl := newBigLog(b, size)
			// Proofs that do not verify would make the figures meaningless.
			e, proof, _, cp, err := bl.svc.EntryProof(ctx, auditor, uint64(size/3), 0)
			if err != nil {
				b.Fatal(err)
			}
			vcp, err := bundle.VerifyCheckpoint(cp.Note, bl.log.PublicKey())
			if err != nil {
				b.Fatal(err)
			}
			if err := bundle.VerifyInclusion(e.Leaf, e.Index, proof, vcp); err != nil {
				b.Fatal(err)
			}

			b.Run("proof", func(b *testing.B) {
				log := auditd.LogAdapter{Log: bl.log}
				for b.Loop() {
					idx := mrand.Uint64N(uint64(size))
					if _, err := bl.index.Get(ctx, idx); err != nil {
						b.Fatal(err)
					}
					cp, err := log.Checkpoint(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := log.InclusionProof(ctx, idx, cp.Size); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("raw-tessera", func(b *testing.B) {
				cp, err := bl.log.Checkpoint(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					pb, err := client.NewProofBuilder(ctx, cp.Size, bl.files.ReadTile)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := pb.InclusionProof(ctx, mrand.Uint64N(uint64(size))); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("EntryProof", func(b *testing.B) {
				for b.Loop() {
					_, _, _, _, err := bl.svc.EntryProof(ctx, auditor, mrand.Uint64N(uint64(size)), 0)
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
