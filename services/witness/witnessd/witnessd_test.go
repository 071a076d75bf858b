package witnessd_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/formats/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/witness/witnessd"
)

// TestCosign: a witness cosigns a first checkpoint, then a consistent
// larger one, each cosignature verifying with the key it publishes, and
// serves the latest as it stored it, with the log's signature and its own.
func TestCosign(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			l := newLog(t, origin, 20)
			w, _ := start(t, config(t, engine, t.TempDir(), l))
			if a := w.latest(t); a.status != http.StatusNotFound || !strings.Contains(a.body, "no checkpoint") {
				t.Errorf("GET /checkpoint of a new witness = %v; want 404 saying it has none", a)
			}
			cp5 := l.checkpoint(t, 5)
			a := w.add(t, 0, nil, cp5)
			if a.status != http.StatusOK {
				t.Fatalf("first checkpoint: %v", a)
			}
			cosigned(t, w, cp5, a.body)

			cp12 := l.checkpoint(t, 12)
			a = w.add(t, 5, l.proof(t, 5, 12), cp12)
			if a.status != http.StatusOK {
				t.Fatalf("consistent larger checkpoint: %v", a)
			}
			want := cosigned(t, w, cp12, a.body)
			got := w.latest(t)
			if got.status != http.StatusOK || !strings.HasPrefix(got.contentType, "text/plain") {
				t.Fatalf("GET /checkpoint = %v", got)
			}
			// As stored: the log's signature and a cosignature, both valid.
			logV, err := note.NewVerifier(l.vkey)
			if err != nil {
				t.Fatal(err)
			}
			n, err := note.Open([]byte(got.body), note.VerifierList(logV, w.verifier(t)))
			if err != nil || len(n.Sigs) != 2 || n.Text != string(log.Checkpoint{Origin: origin, Size: 12, Hash: l.tree.HashAt(12)}.Marshal()) {
				t.Fatalf("GET /checkpoint = %q (%v); want checkpoint 12 with the log's signature and the witness's", got.body, err)
			}
			// The same text and signatures as the answer, whose cosignature
			// time may be the same second or not: compare the text and the
			// log's signature line.
			if !bytes.HasPrefix([]byte(got.body), cp12) || !bytes.HasPrefix(want, cp12) {
				t.Errorf("GET /checkpoint = %q; want it to start with the log's checkpoint %q", got.body, cp12)
			}
			// The published key is the one in witness.pub.
			pub, err := os.ReadFile(filepath.Join(w.cfg.KeyDir, witnessd.PublicKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if a := do(t, http.MethodGet, w.url+"/public-key", ""); a.body != string(pub) {
				t.Errorf("GET /public-key = %q; witness.pub holds %q", a.body, pub)
			}
			if fi, err := os.Stat(filepath.Join(w.cfg.KeyDir, witnessd.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("witness.key: %v, %v; want mode 0600", fi.Mode(), err)
			}
		})
	}
}

// TestRefused: every checkpoint that is not consistent with what the
// witness cosigned, or not the log's, is refused with its status and words,
// and the witness keeps serving what it cosigned before.
func TestRefused(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testRefused(t, engine) })
	}
}

func testRefused(t *testing.T, engine string) {
	l := newLog(t, origin, 20)
	cfg := config(t, engine, t.TempDir(), l)
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	core, logs := observer.New(zap.InfoLevel)
	cfg.Logger = zap.New(core)
	w, _ := start(t, cfg)
	if a := w.add(t, 0, nil, l.checkpoint(t, 8)); a.status != http.StatusOK {
		t.Fatalf("first checkpoint: %v", a)
	}
	before := w.latest(t)

	forked := l.fork(6, 20)
	other := newLog(t, "other.example/log", 20)
	otherKey := newLog(t, origin, 20) // the same origin, another key
	badProof := l.proof(t, 8, 12)
	badProof[0] = bytes.Clone(badProof[0])
	badProof[0][0] ^= 1
	tampered := l.checkpoint(t, 12)
	// The last signature byte before the final newline, in base64.
	i := len(tampered) - 2
	if tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	emptyWrongRoot := l.sign(t, l.signer, log.Checkpoint{Origin: origin, Size: 0, Hash: l.tree.HashAt(1)})

	for _, tc := range []struct {
		name   string
		body   string
		status int
		words  string
		reason string
		fork   bool
	}{
		{"same size, another root", body(8, nil, forked.checkpoint(t, 8)), http.StatusConflict, "another root hash for size 8", "root_mismatch", true},
		{"smaller than cosigned", body(8, nil, l.checkpoint(t, 4)), http.StatusBadRequest, "size 4 is smaller than the size 8", "smaller_than_cosigned", true},
		{"larger, bad proof", body(8, badProof, l.checkpoint(t, 12)), http.StatusUnprocessableEntity, "proof does not show size 12 consistent with the size 8", "invalid_proof", true},
		{"larger, no proof", body(8, nil, l.checkpoint(t, 12)), http.StatusUnprocessableEntity, "proof does not show", "invalid_proof", true},
		{"larger, a fork's proof", body(8, forked.proof(t, 8, 12), forked.checkpoint(t, 12)), http.StatusUnprocessableEntity, "proof does not show", "invalid_proof", true},
		{"another origin", body(8, nil, other.checkpoint(t, 8)), http.StatusNotFound, `does not witness the log "other.example/log"`, "unknown_origin", false},
		{"another key", body(8, l.proof(t, 8, 12), otherKey.checkpoint(t, 12)), http.StatusForbidden, "no signature of the log's key", "bad_signature", false},
		{"a bad signature", body(8, l.proof(t, 8, 12), tampered), http.StatusForbidden, "does not verify", "bad_signature", false},
		{"old size over the checkpoint's", body(20, nil, l.checkpoint(t, 12)), http.StatusBadRequest, "old size 20 is larger than the checkpoint's size 12", "bad_old_size", false},
		{"size 0 with a root", body(0, nil, emptyWrongRoot), http.StatusUnprocessableEntity, "root hash of the empty tree", "bad_empty_root", false},
		{"not a body", "hello", http.StatusBadRequest, `start with the line "old N"`, "malformed", false},
		{"old size not a number", body(0, nil, l.checkpoint(t, 12))[:4] + "x\n\n" + string(l.checkpoint(t, 12)), http.StatusBadRequest, "not a whole number", "malformed", false},
		{"no empty line", "old 8\n", http.StatusBadRequest, "no empty line", "malformed", false},
		{"proof line not a hash", "old 8\nnot base64!\n\n" + string(l.checkpoint(t, 12)), http.StatusBadRequest, "proof line 1 is not a base64 SHA-256 hash", "malformed", false},
		{"no checkpoint", "old 8\n\n", http.StatusBadRequest, "checkpoint is missing", "malformed", false},
		{"unsigned checkpoint", "old 8\n\n" + string(log.Checkpoint{Origin: origin, Size: 12, Hash: l.tree.HashAt(12)}.Marshal()), http.StatusBadRequest, "not a signed note", "malformed", false},
		{"too large", "old 8\n" + strings.Repeat("A", witnessd.MaxBodyBytes), http.StatusRequestEntityTooLarge, "over 16384 bytes", "too_large", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counted := refusals(t, reg, tc.reason)
			logs.TakeAll()
			a := do(t, http.MethodPost, w.url+"/add-checkpoint", tc.body)
			if a.status != tc.status || !strings.HasPrefix(a.contentType, "text/plain") || !strings.Contains(a.body, tc.words) {
				t.Errorf("answer %v; want %d, text/plain, saying %q", a, tc.status, tc.words)
			}
			if got := w.latest(t); got != before {
				t.Errorf("GET /checkpoint after the refusal = %v; want the earlier %v", got, before)
			}
			if n := refusals(t, reg, tc.reason); n != counted+1 {
				t.Errorf("comity_witness_refused_total{reason=%q} went from %v to %v; want one more", tc.reason, counted, n)
			}
			// Every refusal is logged with its reason; a fork at ERROR.
			level := zap.WarnLevel
			if tc.fork {
				level = zap.ErrorLevel
			}
			if got := logs.FilterLevelExact(level).FilterField(zap.String("reason", tc.reason)).Len(); got != 1 {
				t.Errorf("%d %v log entries with reason %q; want 1 (all: %v)", got, level, tc.reason, logs.All())
			}
		})
	}
	// Still witnessing: the consistent checkpoint is cosigned.
	if a := w.add(t, 8, l.proof(t, 8, 12), l.checkpoint(t, 12)); a.status != http.StatusOK {
		t.Fatalf("consistent checkpoint after the refusals: %v", a)
	}
}

// refusals reads comity_witness_refused_total{reason} from reg.
func refusals(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "comity_witness_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "reason" && lp.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestStaleOldSize: a client that does not know what the witness cosigned
// is told its size (409, text/x.tlog.size) and succeeds with it.
func TestStaleOldSize(t *testing.T) {
	l := newLog(t, origin, 20)
	w, _ := start(t, config(t, "sqlite", t.TempDir(), l))

	// Nothing cosigned yet: the old size is 0.
	a := w.add(t, 5, l.proof(t, 5, 8), l.checkpoint(t, 8))
	if a.status != http.StatusConflict || a.contentType != "text/x.tlog.size" || a.body != "0\n" {
		t.Fatalf("old size 5 to a new witness: %v; want 409 text/x.tlog.size \"0\\n\"", a)
	}
	if a := w.add(t, 0, nil, l.checkpoint(t, 8)); a.status != http.StatusOK {
		t.Fatalf("retry with old size 0: %v", a)
	}

	a = w.add(t, 0, nil, l.checkpoint(t, 12))
	if a.status != http.StatusConflict || a.contentType != "text/x.tlog.size" || a.body != "8\n" {
		t.Fatalf("old size 0 after size 8 was cosigned: %v; want 409 text/x.tlog.size \"8\\n\"", a)
	}
	cp12 := l.checkpoint(t, 12)
	a = w.add(t, 8, l.proof(t, 8, 12), cp12)
	if a.status != http.StatusOK {
		t.Fatalf("retry with old size 8: %v", a)
	}
	cosigned(t, w, cp12, a.body)
}

// TestRestart: a restarted witness has the same key and what it cosigned.
func TestRestart(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			l := newLog(t, origin, 20)
			cfg := config(t, engine, t.TempDir(), l)
			w, stop := start(t, cfg)
			if a := w.add(t, 0, nil, l.checkpoint(t, 8)); a.status != http.StatusOK {
				t.Fatalf("first checkpoint: %v", a)
			}
			key := do(t, http.MethodGet, w.url+"/public-key", "").body
			latest := w.latest(t)
			stop()

			w, _ = start(t, cfg)
			if got := do(t, http.MethodGet, w.url+"/public-key", "").body; got != key {
				t.Errorf("public key after a restart = %q; want %q", got, key)
			}
			if got := w.latest(t); got != latest {
				t.Errorf("GET /checkpoint after a restart = %v; want %v", got, latest)
			}
			// It still knows it cosigned size 8: a fork of it is refused.
			if a := w.add(t, 8, nil, l.fork(4, 8).checkpoint(t, 8)); a.status != http.StatusConflict {
				t.Errorf("fork after a restart: %v; want 409", a)
			}
			cp12 := l.checkpoint(t, 12)
			a := w.add(t, 8, l.proof(t, 8, 12), cp12)
			if a.status != http.StatusOK {
				t.Fatalf("consistent checkpoint after a restart: %v", a)
			}
			cosigned(t, w, cp12, a.body)
		})
	}
}

// TestKeyDir: the key directory's files are never silently replaced.
func TestKeyDir(t *testing.T) {
	l := newLog(t, origin, 4)
	cfg := config(t, "sqlite", t.TempDir(), l)
	_, stop := start(t, cfg)
	stop()

	renamed := cfg
	renamed.Name = "witness.ru.comity.test"
	if err := runErr(t, renamed); !strings.Contains(err.Error(), `named "witness.kz.comity.test", not "witness.ru.comity.test"`) {
		t.Errorf("a key of another name: %v; want an error naming both", err)
	}

	pub := filepath.Join(cfg.KeyDir, witnessd.PublicKeyFile)
	orig, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	_, otherVKey, err := note.GenerateKey(rand.Reader, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, []byte(otherVKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runErr(t, cfg); !strings.Contains(err.Error(), "does not match") {
		t.Errorf("witness.pub replaced: %v; want an error saying it does not match the key", err)
	}
	if err := os.WriteFile(pub, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cfg.KeyDir, witnessd.KeyFile)); err != nil {
		t.Fatal(err)
	}
	if err := runErr(t, cfg); !strings.Contains(err.Error(), "restore the witness's key") {
		t.Errorf("witness.key lost: %v; want an error asking to restore it", err)
	}

	// A name that is no key name.
	bad := config(t, "sqlite", t.TempDir(), l)
	bad.Name = "two words"
	if err := runErr(t, bad); !strings.Contains(err.Error(), "without spaces") {
		t.Errorf("a name with a space: %v", err)
	}
}

// TestSeed: a seeded witness refuses a fork of the seed it never saw
// before, and a seed that contradicts its state keeps it from starting.
func TestSeed(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			l := newLog(t, origin, 20)
			forked := l.fork(4, 20)
			cfg := config(t, engine, t.TempDir(), l)
			cfg.Seed = l.checkpoint(t, 8)
			w, stop := start(t, cfg)

			// The seed is the cosigned starting point, served at once.
			got := w.latest(t)
			if got.status != http.StatusOK || !strings.HasPrefix(got.body, string(cfg.Seed)) {
				t.Fatalf("GET /checkpoint of a seeded witness = %v; want the seed, cosigned", got)
			}
			if _, err := note.Open([]byte(got.body), note.VerifierList(w.verifier(t))); err != nil {
				t.Errorf("the seed as served has no cosignature of the witness: %v", err)
			}
			// A fork presented first is refused, not trusted on first use.
			a := w.add(t, 0, nil, forked.checkpoint(t, 8))
			if a.status != http.StatusConflict || a.body != "8\n" {
				t.Fatalf("a fork with old size 0: %v; want 409 with size 8", a)
			}
			if a := w.add(t, 8, nil, forked.checkpoint(t, 8)); a.status != http.StatusConflict || !strings.Contains(a.body, "another root hash") {
				t.Errorf("a fork of the seed's size: %v; want 409 saying another root hash was cosigned", a)
			}
			if a := w.add(t, 8, forked.proof(t, 8, 12), forked.checkpoint(t, 12)); a.status != http.StatusUnprocessableEntity {
				t.Errorf("a larger fork: %v; want 422", a)
			}
			if after := w.latest(t); after != got {
				t.Errorf("GET /checkpoint after the forks = %v; want the seed as before, %v", after, got)
			}
			stop()

			// Restarted with the same seed: ignored.
			w, stop = start(t, cfg)
			if again := w.latest(t); again != got {
				t.Errorf("GET /checkpoint after a restart with the same seed = %v; want %v", again, got)
			}
			stop()
			// Restarted with a seed of the same size and another root: refused.
			forkSeed := cfg
			forkSeed.Seed = forked.checkpoint(t, 8)
			if err := runErr(t, forkSeed); !strings.Contains(err.Error(), "already cosigned size 8") {
				t.Errorf("a forked seed: %v; want an error saying it cosigned another root for size 8", err)
			}
		})
	}
}

// TestSeedRefused: a seed of a log the witness does not witness, or not
// signed by the log, keeps it from starting.
func TestSeedRefused(t *testing.T) {
	l := newLog(t, origin, 8)
	for _, tc := range []struct {
		name  string
		seed  []byte
		words string
	}{
		{"another origin", newLog(t, "other.example/log", 8).checkpoint(t, 8), `does not witness the log "other.example/log"`},
		{"another key", newLog(t, origin, 8).checkpoint(t, 8), "no signature of the log's key"},
		{"not a checkpoint", []byte("hello"), "checkpoint is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(t, "sqlite", t.TempDir(), l)
			cfg.Seed = tc.seed
			if err := runErr(t, cfg); !strings.Contains(err.Error(), "seed checkpoint") || !strings.Contains(err.Error(), tc.words) {
				t.Errorf("Run = %v; want an error about the seed checkpoint saying %q", err, tc.words)
			}
		})
	}
}

// TestCheckpointOrigin: GET /checkpoint names the log by its origin when
// the witness witnesses several.
func TestCheckpointOrigin(t *testing.T) {
	a, b := newLog(t, origin, 8), newLog(t, "other.example/log", 8)
	cfg := config(t, "sqlite", t.TempDir(), a)
	cfg.Logs = append(cfg.Logs, witnessd.Log{Origin: b.origin, PublicKey: b.vkey})
	w, _ := start(t, cfg)
	if r := w.add(t, 0, nil, b.checkpoint(t, 3)); r.status != http.StatusOK {
		t.Fatal(r)
	}
	if r := w.latest(t); r.status != http.StatusBadRequest || !strings.Contains(r.body, "?origin=") {
		t.Errorf("GET /checkpoint without origin, two logs: %v; want 400 asking for it", r)
	}
	if r := do(t, http.MethodGet, w.url+"/checkpoint?origin=other.example/log", ""); r.status != http.StatusOK || !strings.HasPrefix(r.body, string(b.checkpoint(t, 3))[:len("other.example/log\n3\n")]) {
		t.Errorf("GET /checkpoint?origin=other.example/log = %v", r)
	}
	if r := do(t, http.MethodGet, w.url+"/checkpoint?origin="+origin, ""); r.status != http.StatusNotFound || !strings.Contains(r.body, "no checkpoint") {
		t.Errorf("GET /checkpoint of a log never cosigned = %v; want 404", r)
	}
	if r := do(t, http.MethodGet, w.url+"/checkpoint?origin=nope", ""); r.status != http.StatusNotFound || !strings.Contains(r.body, `does not witness the log "nope"`) {
		t.Errorf("GET /checkpoint of an unknown log = %v; want 404", r)
	}
}

// TestKeyInDatabase, on both engines: the database records the witness's
// key on first start, so that a witness started on a database holding
// another witness's state — a replica given another key directory, a
// re-host without var/witness — refuses to start rather than cosign with a
// key no policy holds: with no key at all it makes none and asks for
// witness.key to be restored; with another key it names both. The witness
// whose key it is starts as before.
func TestKeyInDatabase(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			l := newLog(t, origin, 8)
			cfg := config(t, engine, t.TempDir(), l)
			w, stop := start(t, cfg)
			if a := w.add(t, 0, nil, l.checkpoint(t, 4)); a.status != http.StatusOK {
				t.Fatalf("first checkpoint: %v", a)
			}
			key := do(t, http.MethodGet, w.url+"/public-key", "").body
			stop()

			empty := cfg
			empty.KeyDir = t.TempDir()
			if err := runErr(t, empty); !strings.Contains(err.Error(), "restore the witness's key (witness.key)") || !strings.Contains(err.Error(), strings.TrimSpace(key)) {
				t.Errorf("no key, a database with state: %v; want an error asking to restore witness.key, naming the recorded key", err)
			}
			if _, err := os.Stat(filepath.Join(empty.KeyDir, witnessd.KeyFile)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a key was made in %s (%v); want none", empty.KeyDir, err)
			}

			other := cfg
			other.KeyDir = t.TempDir()
			_, otherKey, err := witnessd.LoadOrCreateKey(other.KeyDir, cfg.Name)
			if err != nil {
				t.Fatal(err)
			}
			if err := runErr(t, other); !strings.Contains(err.Error(), "is not the key this witness's database records") ||
				!strings.Contains(err.Error(), otherKey) || !strings.Contains(err.Error(), strings.TrimSpace(key)) {
				t.Errorf("another key: %v; want an error naming both keys", err)
			}

			// A database that recorded a key but cosigned nothing yet is
			// that witness's too.
			fresh := config(t, engine, t.TempDir(), l)
			_, stopFresh := start(t, fresh)
			stopFresh()
			lost := fresh
			lost.KeyDir = t.TempDir()
			if err := runErr(t, lost); !strings.Contains(err.Error(), "restore the witness's key (witness.key)") {
				t.Errorf("no key, a database with a recorded key: %v; want an error asking to restore witness.key", err)
			}

			w, _ = start(t, cfg)
			if got := do(t, http.MethodGet, w.url+"/public-key", "").body; got != key {
				t.Errorf("public key = %q; want %q", got, key)
			}
		})
	}
}
