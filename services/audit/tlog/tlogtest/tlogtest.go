// Package tlogtest has what the tests and benchmarks of the audit log share.
package tlogtest

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/audit/tlog"
)

// Raw is a bare Tessera POSIX log with the options tlog.Open gives Tessera
// (tlog.Options.TesseraOptions): what the audit log would be if it only
// appended, the baseline its benchmarks compare against.
type Raw struct {
	Appender *tessera.Appender
	// Dir holds the log's tlog-tiles files.
	Dir string
	// PublicKey is the note verifier key of its checkpoints.
	PublicKey string
}

// NewKey makes a fresh note key pair for origin, as a log makes its own:
// the signing key and the verifier key.
func NewKey(tb testing.TB, origin string) (skey, vkey string) {
	tb.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		tb.Fatal(err)
	}
	return skey, vkey
}

// Signer is the signer of the note signing key skey.
func Signer(tb testing.TB, skey string) note.Signer {
	tb.Helper()
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// NewRaw creates a Raw log for origin in a temporary directory of tb, with a
// fresh signing key, and shuts it down when tb ends.
func NewRaw(tb testing.TB, origin string) *Raw {
	tb.Helper()
	ctx := context.Background()
	skey, vkey := NewKey(tb, origin)
	opts, err := tlog.Options{Origin: origin}.TesseraOptions(Signer(tb, skey))
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		tb.Fatal(err)
	}
	bg, stop := context.WithCancel(ctx)
	appender, shutdown, _, err := tessera.NewAppender(bg, driver, opts)
	if err != nil {
		stop()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := shutdown(ctx); err != nil {
			tb.Error(err)
		}
		stop()
	})
	return &Raw{Appender: appender, Dir: dir, PublicKey: vkey}
}
