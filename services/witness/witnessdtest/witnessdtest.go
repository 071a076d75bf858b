// Package witnessdtest runs real comity-witness servers (witnessd.Run, each
// with its own key and SQLite database, on a loopback listener), as
// deployments run them, for the tests and benchmarks that need a witnessed
// audit log end to end.
package witnessdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/witness/witnessd"
)

// Start starts n witnesses named name-1 … name-n that witness the log of
// origin whose checkpoint key is logKey; they stop when tb ends. The result
// names each (name, cosignature key, URL), as bundle.WitnessPolicy takes
// them.
func Start(tb testing.TB, name string, n int, origin, logKey string) []bundle.PolicyWitness {
	tb.Helper()
	ws := make([]bundle.PolicyWitness, n)
	for i := range ws {
		ws[i] = start(tb, fmt.Sprintf("%s-%d", name, i+1), origin, logKey)
	}
	return ws
}

func start(tb testing.TB, name, origin, logKey string) bundle.PolicyWitness {
	tb.Helper()
	dir := tb.TempDir()
	// The key first, so that its verifier key is known before the witness
	// serves; Run loads the same key.
	_, vkey, err := witnessd.LoadOrCreateKey(dir, name)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- witnessd.Run(ctx, witnessd.Config{
			Listener: l, Database: "sqlite:" + filepath.Join(dir, "witness.db"), KeyDir: dir, Name: name,
			Logs: []witnessd.Log{{Origin: origin, PublicKey: logKey}}, Logger: zap.NewNop(),
		})
	}()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			tb.Errorf("witness %s: %v", name, err)
		}
	})
	return bundle.PolicyWitness{Name: name, PublicKey: vkey, URL: "http://" + l.Addr().String()}
}
