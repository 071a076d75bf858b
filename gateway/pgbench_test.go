package gateway_test

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
)

// pgbench is what BenchmarkRequests' PostgreSQL figures are read against
// (docs/benchmarks.md): PostgreSQL's own benchmark, its built-in
// simple-update transaction, by as many clients as the busiest sub-benchmark
// has, on the same server and machine, in the same run.
var (
	pgbenchOnce sync.Once
	pgbenchTPS  float64
	pgbenchErr  error
)

// pgbenchClients and pgbenchSeconds are the run's load and length.
const (
	pgbenchClients = "64"
	pgbenchSeconds = "20"
)

var pgbenchTPSLine = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)

// BenchmarkPgbench reports pgbench -b simple-update's transactions per
// second (tps) at 64 clients for 20 seconds, on a database of its own,
// initialised with pgbench -i and dropped after. pgbench runs once however
// many times the benchmark function is called (the testing package calls it
// again for -benchtime Nx). It is skipped without COMITY_TEST_POSTGRES or
// without pgbench on the PATH.
func BenchmarkPgbench(b *testing.B) {
	pgbenchOnce.Do(func() { pgbenchTPS, pgbenchErr = runPgbench(b) })
	if pgbenchErr != nil {
		b.Fatal(pgbenchErr)
	}
	b.ReportMetric(pgbenchTPS, "tps")
	// The time per iteration says nothing here.
	b.ReportMetric(0, "ns/op")
}

func runPgbench(b *testing.B) (float64, error) {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		b.Skip("pgbench not found: skipping")
	}
	url := pgtest.NewDatabase(b)
	if out, err := exec.CommandContext(b.Context(), bin, "-i", "-q", url).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("pgbench -i: %w\n%s", err, out)
	}
	out, err := exec.CommandContext(b.Context(), bin, "-b", "simple-update", "-c", pgbenchClients, "-j", "2",
		"-T", pgbenchSeconds, url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w\n%s", err, out)
	}
	m := pgbenchTPSLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench printed no tps:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
