package witnessd_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/witness/witnessd"
)

const origin = "comity.test/audit"

// testLog is a log the tests show the witness: a Merkle tree and the key
// that signs its checkpoints.
type testLog struct {
	origin string
	signer note.Signer
	vkey   string
	tree   *testonly.Tree
}

// newLog makes a log of origin with size entries and a fresh key.
func newLog(t testing.TB, origin string, size int) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{origin: origin, signer: signer, vkey: vkey, tree: testonly.New(rfc6962.DefaultHasher)}
	for i := range size {
		l.tree.AppendData(fmt.Appendf(nil, "%s entry %d", origin, i))
	}
	return l
}

// fork returns a log with l's key whose entries agree with l's up to
// common and differ after it, up to size.
func (l *testLog) fork(common, size int) *testLog {
	f := &testLog{origin: l.origin, signer: l.signer, vkey: l.vkey, tree: testonly.New(rfc6962.DefaultHasher)}
	for i := range size {
		if i < common {
			f.tree.AppendData(fmt.Appendf(nil, "%s entry %d", l.origin, i))
		} else {
			f.tree.AppendData(fmt.Appendf(nil, "%s forked entry %d", l.origin, i))
		}
	}
	return f
}

// checkpoint is the log's checkpoint of size, signed.
func (l *testLog) checkpoint(t testing.TB, size uint64) []byte {
	t.Helper()
	return l.sign(t, l.signer, log.Checkpoint{Origin: l.origin, Size: size, Hash: l.tree.HashAt(size)})
}

func (l *testLog) sign(t testing.TB, s note.Signer, cp log.Checkpoint) []byte {
	t.Helper()
	b, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (l *testLog) proof(t testing.TB, from, to uint64) [][]byte {
	t.Helper()
	p, err := l.tree.ConsistencyProof(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// body is an add-checkpoint request body.
func body(oldSize uint64, proof [][]byte, cp []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "old %d\n", oldSize)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(cp)
	return b.String()
}

// answer is an HTTP response as a test reads it.
type answer struct {
	status      int
	contentType string
	body        string
}

func (a answer) String() string { return fmt.Sprintf("%d %s %q", a.status, a.contentType, a.body) }

func do(t testing.TB, method, url, reqBody string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(reqBody))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// witness is a witness running on a real listener.
type witness struct {
	url string
	cfg witnessd.Config
}

func (w *witness) add(t testing.TB, oldSize uint64, proof [][]byte, cp []byte) answer {
	t.Helper()
	return do(t, http.MethodPost, w.url+"/add-checkpoint", body(oldSize, proof, cp))
}

func (w *witness) latest(t testing.TB) answer {
	t.Helper()
	return do(t, http.MethodGet, w.url+"/checkpoint", "")
}

// verifier is the verifier of the witness's published key.
func (w *witness) verifier(t testing.TB) note.Verifier {
	t.Helper()
	a := do(t, http.MethodGet, w.url+"/public-key", "")
	if a.status != http.StatusOK {
		t.Fatalf("GET /public-key: %v", a)
	}
	v, err := fnote.NewVerifierForCosignatureV1(strings.TrimSuffix(a.body, "\n"))
	if err != nil {
		t.Fatalf("GET /public-key = %q: %v", a.body, err)
	}
	return v
}

// config is a witness's configuration of one log, its files in dir and its
// database on engine ("sqlite" or "postgres").
func config(t testing.TB, engine, dir string, l *testLog) witnessd.Config {
	t.Helper()
	db := "sqlite:" + filepath.Join(dir, "witness.db")
	if engine == "postgres" {
		db = pgtest.NewDatabase(t)
	}
	return witnessd.Config{
		Database: db, KeyDir: dir, Name: "witness.kz.comity.test",
		Logs: []witnessd.Log{{Origin: l.origin, PublicKey: l.vkey}},
	}
}

var engines = []string{"sqlite", "postgres"}

// start runs a witness of cfg on 127.0.0.1 until the test ends (or stop is
// called), once it answers /readyz.
func start(t testing.TB, cfg witnessd.Config) (w *witness, stop func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = lis
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- witnessd.Run(ctx, cfg) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("witness stopped with %v", err)
		}
	}
	t.Cleanup(stop)
	w = &witness{url: "http://" + lis.Addr().String(), cfg: cfg}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("witness did not start: %v", err)
		default:
		}
		resp, err := http.Get(w.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return w, stop
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("witness not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runErr runs a witness of cfg that must fail to start, and returns its
// error.
func runErr(t *testing.T, cfg witnessd.Config) error {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	cfg.Listener = lis
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = witnessd.Run(ctx, cfg)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v; want an error at start", err)
	}
	return err
}

// cosigned checks that sigs, the answer to an add-checkpoint of cp, is a
// cosignature of cp by the witness's key, and returns the cosigned note.
func cosigned(t testing.TB, w *witness, cp []byte, sigs string) []byte {
	t.Helper()
	signed := append(append([]byte{}, cp...), sigs...)
	n, err := note.Open(signed, note.VerifierList(w.verifier(t)))
	if err != nil {
		t.Fatalf("the witness's answer %q is not a cosignature of the checkpoint by its published key: %v", sigs, err)
	}
	if len(n.Sigs) != 1 {
		t.Fatalf("the answer holds %d signatures of the witness's key; want 1", len(n.Sigs))
	}
	return signed
}
