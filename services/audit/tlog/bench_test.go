package tlog_test

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"

	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/audit/tlog/tlogtest"
	"github.com/comity-mla/comity/services/witness/witnessdtest"
)

// The whole set takes about a minute with the default -benchtime, most of
// it building the 1,000,000-entry log:
//
//	go test -run '^$' -bench . ./audit/tlog/

// benchLeaf is about the size of an audit event's leaf (≈300 bytes).
func benchLeaf(i int) []byte {
	return fmt.Appendf(nil, `{"id":"0195b3c2-7e4f-7a1b-9c3d-%012d","time":"2025-03-01T10:00:00Z",`+
		`"actor":{"subject":"u-%d","agency":"FR-MOJ","roles":["caseworker"],"issuer":"https://idp.example"},`+
		`"service":"comity-request","action":"/comity.request.v1.RequestService/SubmitRequest",`+
		`"resource":"requests/%d","states":["DE","FR"],"outcome":"OK"}`, i, i%97, i)
}

var producerCounts = []int{1, 16, 256}

// runProducers runs b.N calls of op spread over producers goroutines and
// reports the throughput.
func runProducers(b *testing.B, producers int, op func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range producers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
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
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "leaves/s")
}

// BenchmarkAppend measures Log.Append throughput, one leaf per call, with
// the default options (batches of 256 or 50ms).
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	for _, producers := range producerCounts {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			l := openLog(b, b.TempDir())
			runProducers(b, producers, func(i int) error {
				_, err := l.Append(ctx, [][]byte{benchLeaf(i)})
				return err
			})
		})
	}
}

// BenchmarkRawTessera is BenchmarkAppend on a bare Tessera POSIX appender
// with the same options, to show what Log adds.
func BenchmarkRawTessera(b *testing.B) {
	ctx := context.Background()
	for _, producers := range producerCounts {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			raw := tlogtest.NewRaw(b, origin)
			runProducers(b, producers, func(i int) error {
				_, err := raw.Appender.Add(ctx, tessera.NewEntry(benchLeaf(i)))()
				return err
			})
		})
	}
}

// benchLogs are the big logs BenchmarkInclusionProof builds once per size
// for the whole run (a benchmark function runs several times), removed by
// TestMain.
var benchLogs = struct {
	sync.Mutex
	logs map[uint64]*tlog.Log
	dirs []string
}{logs: map[uint64]*tlog.Log{}}

func cleanupBenchLogs() {
	benchLogs.Lock()
	defer benchLogs.Unlock()
	for _, l := range benchLogs.logs {
		_ = l.Close(context.Background())
	}
	for _, d := range benchLogs.dirs {
		_ = os.RemoveAll(d)
	}
}

// bigLog returns a log of size entries, building it on first use with big
// batches: a few hundred fsynced files per batch instead of per 256 leaves.
func bigLog(b *testing.B, size uint64) *tlog.Log {
	benchLogs.Lock()
	defer benchLogs.Unlock()
	if l, ok := benchLogs.logs[size]; ok {
		return l
	}
	dir, err := os.MkdirTemp("", "tlog-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchLogs.dirs = append(benchLogs.dirs, dir)
	ctx := context.Background()
	start := time.Now()
	l, err := tlog.Open(ctx, dir, tlog.Options{Origin: origin, BatchMaxSize: 1 << 16, BatchMaxAge: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 1 << 16
	for n := uint64(0); n < size; n += chunk {
		leaves := make([][]byte, min(chunk, size-n))
		for i := range leaves {
			leaves[i] = fmt.Appendf(nil, "leaf-%010d", n+uint64(i))
		}
		if _, err := l.Append(ctx, leaves); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.AwaitIntegration(ctx, size); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a log of %d entries in %v", size, time.Since(start).Round(time.Millisecond))
	benchLogs.logs[size] = l
	return l
}

// BenchmarkInclusionProof measures InclusionProof of a random entry in
// the whole tree.
func BenchmarkInclusionProof(b *testing.B) {
	ctx := context.Background()
	for _, size := range []uint64{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", size), func(b *testing.B) {
			l := bigLog(b, size)
			cp, err := l.Checkpoint(ctx)
			if err != nil {
				b.Fatal(err)
			}
			// Proofs that do not verify would make the figure meaningless.
			idx := size / 3
			p, err := l.InclusionProof(ctx, idx, size)
			if err != nil {
				b.Fatal(err)
			}
			if err := bundle.VerifyInclusion(fmt.Appendf(nil, "leaf-%010d", idx), idx, p, cp.Checkpoint); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := l.InclusionProof(ctx, mrand.Uint64N(size), size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendToCheckpoint measures how long an appended leaf waits
// until a signed checkpoint covers it (what the audit relay waits for),
// with 16 producers appending one leaf at a time, at the default checkpoint
// interval and at Tessera's minimum. ns/op is not the latency; p50-ms and
// p99-ms are.
func BenchmarkAppendToCheckpoint(b *testing.B) {
	ctx := context.Background()
	for _, interval := range []time.Duration{tlog.DefaultCheckpointInterval, tlog.MinCheckpointInterval} {
		b.Run(fmt.Sprintf("interval=%v", interval), func(b *testing.B) {
			l, err := tlog.Open(ctx, b.TempDir(), tlog.Options{Origin: origin, CheckpointInterval: interval})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = l.Close(ctx) })
			reportCheckpointLatency(b, l)
		})
	}
}

// reportCheckpointLatency has 16 producers append one leaf at a time to l
// and wait for a published checkpoint covering it, and reports the time
// from Append to that checkpoint (p50-ms, p99-ms).
func reportCheckpointLatency(b *testing.B, l *tlog.Log) {
	ctx := context.Background()
	var mu sync.Mutex
	var lat []time.Duration
	runProducers(b, 16, func(i int) error {
		start := time.Now()
		idx, err := l.Append(ctx, [][]byte{benchLeaf(i)})
		if err != nil {
			return err
		}
		if err := l.AwaitIntegration(ctx, idx[0]+1); err != nil {
			return err
		}
		d := time.Since(start)
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		return nil
	})
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// witnessCounts are the logs BenchmarkWitnessed compares: unwitnessed, and
// witnessed by five real comity-witness servers (a quorum of 3).
var witnessCounts = []int{0, 5}

// openBenchWitnessed opens a log with the default options, witnessed by n
// real comity-witness servers (witnessd.Run on loopback, a SQLite database
// each, as deployments run them) when n > 0.
func openBenchWitnessed(b *testing.B, n int) *tlog.Log {
	ctx := context.Background()
	dir := b.TempDir()
	opt := tlog.Options{Origin: origin}
	if n > 0 {
		logKey, err := tlog.LoadOrCreatePublicKey(dir, origin)
		if err != nil {
			b.Fatal(err)
		}
		if opt.WitnessPolicy, err = bundle.WitnessPolicy(logKey, witnessdtest.Start(b, "witness", n, origin, logKey)); err != nil {
			b.Fatal(err)
		}
	}
	l, err := tlog.Open(ctx, dir, opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close(ctx) })
	return l
}

// BenchmarkWitnessed compares, in one run, a log witnessed by five real
// witnesses with an unwitnessed one: append throughput (256 producers, one
// leaf per call: leaves/s) and the time from Append to a published
// checkpoint covering the leaf, for a witnessed log one its quorum
// cosigned (16 producers: p50-ms, p99-ms; ns/op is not the latency).
//
//	go test -run '^$' -bench Witnessed -benchtime 20000x ./audit/tlog/
func BenchmarkWitnessed(b *testing.B) {
	ctx := context.Background()
	for _, n := range witnessCounts {
		b.Run(fmt.Sprintf("witnesses=%d/append", n), func(b *testing.B) {
			l := openBenchWitnessed(b, n)
			runProducers(b, 256, func(i int) error {
				_, err := l.Append(ctx, [][]byte{benchLeaf(i)})
				return err
			})
		})
		b.Run(fmt.Sprintf("witnesses=%d/to-checkpoint", n), func(b *testing.B) {
			reportCheckpointLatency(b, openBenchWitnessed(b, n))
		})
	}
}
