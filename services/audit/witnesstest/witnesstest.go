// Package witnesstest runs real C2SP tlog-witnesses (the
// github.com/transparency-dev/witness library, in memory) on httptest
// servers, for the tests and benchmarks of the audit log's witnessing. It
// serves what comity-witness serves: POST /add-checkpoint and
// GET /checkpoint?origin=ORIGIN (the latest checkpoint it cosigned, or 404).
package witnesstest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/witness/persistence/inmemory"
	"github.com/transparency-dev/witness/witness"
	"golang.org/x/mod/sumdb/note"
)

// Witness is a running witness.
type Witness struct {
	// Name is its name in policies made by Policy.
	Name string
	// VKey is its cosignature/v1 verifier key, as a policy lists it.
	VKey string
	// URL is its root URL: /add-checkpoint and /checkpoint are under it.
	URL string
	// Witness is the library's witness, e.g. to read what it cosigned.
	Witness *witness.Witness

	mu   sync.Mutex
	logs map[string]note.Verifier // by origin
	down atomic.Bool
}

// New starts a witness named name (also its key's name) with a fresh key,
// following no log until Trust; it stops when tb ends.
func New(tb testing.TB, name string) *Witness {
	tb.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		tb.Fatal(err)
	}
	cosigVKey, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	w := &Witness{Name: name, VKey: cosigVKey, logs: map[string]note.Verifier{}}
	w.Witness, err = witness.New(context.Background(), witness.Opts{
		Persistence: inmemory.New(),
		Signers:     []note.Signer{signer},
		VerifierForLog: func(_ context.Context, origin string) (note.Verifier, bool, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			v, ok := w.logs[origin]
			return v, ok, nil
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", witness.NewHTTPHandler(w.Witness).AddCheckpoint)
	mux.HandleFunc("GET /checkpoint", w.serveCheckpoint)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if w.down.Load() {
			http.Error(rw, "witness down", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(rw, r)
	}))
	tb.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

func (w *Witness) serveCheckpoint(rw http.ResponseWriter, r *http.Request) {
	cp, err := w.Witness.GetCheckpoint(r.Context(), r.URL.Query().Get("origin"))
	switch {
	case err != nil:
		http.Error(rw, err.Error(), http.StatusInternalServerError)
	case cp == nil:
		http.Error(rw, "no checkpoint of this origin", http.StatusNotFound)
	default:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = rw.Write(cp)
	}
}

// Trust has the witness follow the log whose checkpoints logKey (a note
// verifier key "<origin>+<hash>+<base64>") verifies.
func (w *Witness) Trust(tb testing.TB, logKey string) {
	tb.Helper()
	v, err := note.NewVerifier(logKey)
	if err != nil {
		tb.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.logs[v.Name()] = v
}

// SetDown makes the witness answer every request 503 (down) or serve again.
func (w *Witness) SetDown(down bool) { w.down.Store(down) }

// Latest returns the latest checkpoint the witness cosigned of origin, nil
// if none.
func (w *Witness) Latest(tb testing.TB, origin string) []byte {
	tb.Helper()
	cp, err := w.Witness.GetCheckpoint(context.Background(), origin)
	if err != nil {
		tb.Fatal(err)
	}
	return cp
}

// Start starts n witnesses named name-1 … name-n.
func Start(tb testing.TB, name string, n int) []*Witness {
	ws := make([]*Witness, n)
	for i := range ws {
		ws[i] = New(tb, fmt.Sprintf("%s-%d", name, i+1))
	}
	return ws
}

// Policy is the witness policy text requiring k of ws: one witness line
// each (name, key, URL), a group, the quorum.
func Policy(k int, ws ...*Witness) []byte {
	var b strings.Builder
	names := make([]string, len(ws))
	for i, w := range ws {
		fmt.Fprintf(&b, "witness %s %s %s\n", w.Name, w.VKey, w.URL)
		names[i] = w.Name
	}
	fmt.Fprintf(&b, "group states %d %s\nquorum states\n", k, strings.Join(names, " "))
	return []byte(b.String())
}
