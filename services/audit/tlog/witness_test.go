package tlog_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/audit/witnesstest"
	"github.com/comity-mla/comity/services/errs"
)

// openWitnessed opens the log in dir with policy, has the witnesses follow
// it and closes it when t ends (unless the test did).
func openWitnessed(t *testing.T, dir string, policy []byte, ws []*witnesstest.Witness) *tlog.Log {
	t.Helper()
	l, err := tlog.Open(context.Background(), dir, tlog.Options{Origin: origin, WitnessPolicy: policy, WitnessTimeout: time.Second})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	for _, w := range ws {
		w.Trust(t, l.PublicKey())
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

// openUnwitnessed opens the witnessed log in dir without its policy, on
// purpose (AllowUnwitnessed), and closes it when t ends (unless the test
// did).
func openUnwitnessed(t *testing.T, dir string) *tlog.Log {
	t.Helper()
	l, err := tlog.Open(context.Background(), dir, tlog.Options{Origin: origin, AllowUnwitnessed: true})
	if err != nil {
		t.Fatalf("Open(%s) unwitnessed on purpose: %v", dir, err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

// awaitCheckpoint waits (with a deadline) for a published checkpoint of at
// least size entries.
func awaitCheckpoint(t *testing.T, l *tlog.Log, size uint64) tlog.Checkpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.AwaitIntegration(ctx, size); err != nil {
		t.Fatalf("no checkpoint of size %d: %v", size, err)
	}
	return checkpoint(t, l)
}

func TestWitnessedCheckpoints(t *testing.T) {
	ws := witnesstest.Start(t, "state", 5)
	policy := witnesstest.Policy(3, ws...)
	dir := t.TempDir()
	l := openWitnessed(t, dir, policy, ws)
	appendAndAwait(t, l, [][]byte{leaf(t, "w", 0), leaf(t, "w", 1)})
	cp := awaitCheckpoint(t, l, 2)

	// The published checkpoint still verifies with the log's key alone,
	// and carries a quorum of cosignatures.
	if _, err := bundle.VerifyCheckpoint(cp.Note, l.PublicKey()); err != nil {
		t.Fatalf("VerifyCheckpoint of a witnessed checkpoint: %v", err)
	}
	rep, err := bundle.VerifyCosignatures(cp.Note, policy)
	if err != nil {
		t.Fatalf("VerifyCosignatures: %v", err)
	}
	if len(rep.Cosigned) < 3 {
		t.Fatalf("cosigned by %v, want at least 3", rep.Cosigned)
	}
	// The policy in force is published beside the public key.
	path := filepath.Join(dir, tlog.WitnessPolicyFile)
	got, err := os.ReadFile(path)
	if err != nil || string(got) != string(policy) {
		t.Fatalf("%s = %q, %v; want the policy", path, got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("%s mode %v, want 0644", path, fi.Mode().Perm())
	}
	if string(l.WitnessPolicy()) != string(policy) {
		t.Errorf("WitnessPolicy() = %q", l.WitnessPolicy())
	}
	// Up to date with its witnesses: nothing to refuse.
	if _, err := l.CheckWitnessed(context.Background(), time.Second); err != nil {
		t.Errorf("CheckWitnessed of an up-to-date log: %v", err)
	}

	// Reopened unwitnessed, on purpose, the file no longer claims a
	// policy.
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	openUnwitnessed(t, dir)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after an unwitnessed start: %v", path, err)
	}
}

func TestWitnessesDown(t *testing.T) {
	ws := witnesstest.Start(t, "state", 3)
	policy := witnesstest.Policy(2, ws...)
	dir := t.TempDir()
	l := openWitnessed(t, dir, policy, ws)
	appendAndAwait(t, l, [][]byte{leaf(t, "d", 0)})
	before := checkpoint(t, l)

	// Only one of three witnesses answers: below the quorum of 2.
	ws[0].SetDown(true)
	ws[1].SetDown(true)
	ctx := context.Background()
	leaves := [][]byte{leaf(t, "d", 1), leaf(t, "d", 2), leaf(t, "d", 3)}
	idx, err := l.Append(ctx, leaves)
	if err != nil {
		t.Fatalf("Append with the witnesses down: %v", err)
	}
	if err := l.AwaitIntegrated(ctx, idx[2]+1); err != nil {
		t.Fatal(err)
	}
	// The tree grew and its leaves can be read back; no checkpoint covers
	// them, so they cannot be proven yet.
	got, err := l.Leaves(ctx, 0, 4, 4)
	if err != nil || len(got) != 4 || string(got[3]) != string(leaves[2]) {
		t.Fatalf("Leaves of the integrated tree: %d leaves, %v", len(got), err)
	}
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := l.AwaitIntegration(short, 4); err == nil {
		t.Fatal("a checkpoint covering the new entries was published without the quorum")
	}
	if cp := checkpoint(t, l); cp.Size != before.Size {
		t.Fatalf("checkpoint size %d, want %d while the witnesses are down", cp.Size, before.Size)
	}
	_, err = l.InclusionProof(ctx, 3, 4)
	wantCode(t, err, errs.FailedPrecondition, "4")

	// Shutting down with the quorum down returns at its deadline.
	closeCtx, cancelClose := context.WithTimeout(ctx, 2*time.Second)
	defer cancelClose()
	if err := l.Close(closeCtx); err == nil {
		t.Error("Close reported a checkpoint covering everything while the witnesses were down")
	}

	// Reopened while the quorum is still down, it opens and the entries
	// are there.
	l2 := openWitnessed(t, dir, policy, ws)
	if n, err := l2.IntegratedSize(ctx); err != nil || n != 4 {
		t.Fatalf("IntegratedSize after restart = %d, %v; want 4", n, err)
	}
	// Witnesses back: the next checkpoint covers them, cosigned.
	ws[0].SetDown(false)
	ws[1].SetDown(false)
	cp := awaitCheckpoint(t, l2, 4)
	if _, err := bundle.VerifyCosignatures(cp.Note, policy); err != nil {
		t.Fatalf("checkpoint after the witnesses came back: %v", err)
	}
}

func TestForkAtStart(t *testing.T) {
	ws := witnesstest.Start(t, "state", 3)
	policy := witnesstest.Policy(2, ws...)
	dir := t.TempDir()
	l := openWitnessed(t, dir, policy, ws)
	appendAndAwait(t, l, [][]byte{leaf(t, "f", 0), leaf(t, "f", 1)})
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The backup: a copy of the log directory as it was.
	backup := filepath.Join(t.TempDir(), "audit")
	if out, err := exec.Command("cp", "-a", dir, backup).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	_ = os.Remove(filepath.Join(backup, "writer.lock"))

	l = openWitnessed(t, dir, policy, ws)
	appendAndAwait(t, l, [][]byte{leaf(t, "f", 2), leaf(t, "f", 3), leaf(t, "f", 4)})
	cp := awaitCheckpoint(t, l, 5)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The backup is older than what the witnesses cosigned: refused.
	old := openWitnessed(t, backup, policy, ws)
	_, err := old.CheckWitnessed(context.Background(), time.Second)
	wantCode(t, err, errs.FailedPrecondition, "size 5")
	for _, want := range []string{"this log has only 2 entries", "Restore the newest backup of " + backup, "never re-sign"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// Grown on its own since (unwitnessed: the witnesses refuse it) to
	// the size they saw, with other entries: a fork at that size.
	if err := old.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	grown := openUnwitnessed(t, backup)
	appendAndAwait(t, grown, [][]byte{leaf(t, "x", 2), leaf(t, "x", 3), leaf(t, "x", 4)})
	if err := grown.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	old = openWitnessed(t, backup, policy, ws)
	_, err = old.CheckWitnessed(context.Background(), time.Second)
	wantCode(t, err, errs.FailedPrecondition, fmt.Sprintf("root %x of this log, but this log has 5 entries and at size 5 its root is", cp.RootHash))

	// The up-to-date log opens, even with one witness down (skipped).
	ws[2].SetDown(true)
	l = openWitnessed(t, dir, policy, ws)
	skipped, err := l.CheckWitnessed(context.Background(), time.Second)
	if err != nil {
		t.Fatalf("CheckWitnessed of the up-to-date log: %v", err)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0].Error(), ws[2].Name) {
		t.Errorf("skipped = %v, want %s", skipped, ws[2].Name)
	}
}

func TestWitnessPolicyOption(t *testing.T) {
	ws := witnesstest.Start(t, "state", 2)
	for _, tc := range []struct {
		name, policy, want string
	}{
		{"no quorum", "witness a " + ws[0].VKey + " " + ws[0].URL + "\n", "quorum"},
		{"bad key", "witness a nokey " + ws[0].URL + "\nquorum a\n", "witness a"},
		{"unknown keyword", "witnes a\nquorum a\n", "unknown keyword"},
		{"one key twice", "witness a " + ws[0].VKey + " " + ws[0].URL + "\nwitness b " + ws[0].VKey + " " + ws[1].URL + "\ngroup g 2 a b\nquorum g\n", "has the key of witness a"},
		{"one witness counted twice", "witness a " + ws[0].VKey + " " + ws[0].URL + "\nwitness b " + ws[1].VKey + " " + ws[1].URL + "\ngroup g 2 a a b\nquorum g\n", "a is counted in a group more than once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlog.Open(context.Background(), t.TempDir(), tlog.Options{Origin: origin, WitnessPolicy: []byte(tc.policy)})
			wantCode(t, err, errs.Invalid, tc.want)
		})
	}
}

// TestWitnessedReopenedWithoutPolicy: a witnessed log opened without a
// policy (a forgotten --witness-policy) is refused, saying how to go on,
// and keeps its policy file; only an explicit AllowUnwitnessed opens it.
func TestWitnessedReopenedWithoutPolicy(t *testing.T) {
	ws := witnesstest.Start(t, "state", 3)
	policy := witnesstest.Policy(2, ws...)
	dir := t.TempDir()
	l := openWitnessed(t, dir, policy, ws)
	appendAndAwait(t, l, [][]byte{leaf(t, "r", 0)})
	awaitCheckpoint(t, l, 1)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		lu, err := tlog.Open(context.Background(), dir, tlog.Options{Origin: origin})
		if err == nil {
			_ = lu.Close(context.Background())
		}
		if !errors.Is(err, errs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "--witness-policy") || !strings.Contains(err.Error(), "--unwitnessed") {
			t.Fatalf("%s: Open without a policy: %v; want FailedPrecondition naming --witness-policy and --unwitnessed", what, err)
		}
	}
	check("with its witness-policy file")
	if _, err := os.Stat(filepath.Join(dir, tlog.WitnessPolicyFile)); err != nil {
		t.Fatalf("the refused Open removed the policy file: %v", err)
	}
	// The policy file lost, the cosigned checkpoint still tells.
	if err := os.Remove(filepath.Join(dir, tlog.WitnessPolicyFile)); err != nil {
		t.Fatal(err)
	}
	check("with a cosigned checkpoint")
}

// TestRestoredWithoutTreeState: a witnessed log restored without its
// hidden log/.state is refused rather than given an empty checkpoint over
// its real one.
func TestRestoredWithoutTreeState(t *testing.T) {
	ws := witnesstest.Start(t, "state", 3)
	policy := witnesstest.Policy(2, ws...)
	dir := t.TempDir()
	l := openWitnessed(t, dir, policy, ws)
	appendAndAwait(t, l, [][]byte{leaf(t, "s", 0), leaf(t, "s", 1)})
	awaitCheckpoint(t, l, 2)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cpPath := filepath.Join(dir, "log", "checkpoint")
	before, err := os.ReadFile(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "log", ".state")); err != nil {
		t.Fatal(err)
	}
	l2, err := tlog.Open(context.Background(), dir, tlog.Options{Origin: origin, WitnessPolicy: policy, WitnessTimeout: time.Second})
	if err == nil {
		_ = l2.Close(context.Background())
	}
	if !errors.Is(err, errs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "log/.state") {
		t.Errorf("Open of a log without its tree state: %v; want FailedPrecondition naming log/.state", err)
	}
	if after, _ := os.ReadFile(cpPath); string(after) != string(before) {
		t.Errorf("the checkpoint was replaced:\n%s\nwas\n%s", after, before)
	}
}

// TestQuorumNoneRefused: a log is not opened with a policy that needs no
// cosignature, which would call unwitnessed checkpoints witnessed.
func TestQuorumNoneRefused(t *testing.T) {
	ws := witnesstest.Start(t, "state", 1)
	for _, p := range []string{
		string(witnesstest.Policy(1, ws...)) + "quorum none\n",
		"witness a " + ws[0].VKey + " " + ws[0].URL + "\ngroup g 00 a\nquorum g\n",
	} {
		l, err := tlog.Open(context.Background(), t.TempDir(), tlog.Options{Origin: origin, WitnessPolicy: []byte(p)})
		if err == nil {
			_ = l.Close(context.Background())
		}
		if !errors.Is(err, errs.ErrInvalid) || !strings.Contains(err.Error(), "no cosignature") {
			t.Errorf("policy %q: %v; want it refused as needing no cosignature", p, err)
		}
	}
}

// TestWitnessHoldsAnotherKey: the log directory deleted and started afresh
// (a new key, the same origin) while the witnesses keep what they cosigned
// of the old log: they would refuse every checkpoint of the new one, so it
// is refused at start, saying what happened and what to do.
func TestWitnessHoldsAnotherKey(t *testing.T) {
	ws := witnesstest.Start(t, "state", 3)
	policy := witnesstest.Policy(2, ws...)
	old := openWitnessed(t, t.TempDir(), policy, ws)
	appendAndAwait(t, old, [][]byte{leaf(t, "k", 0)})
	awaitCheckpoint(t, old, 1)
	if err := old.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	fresh := openWitnessed(t, t.TempDir(), policy, ws)
	if fresh.PublicKey() == old.PublicKey() {
		t.Fatal("the fresh log has the old log's key")
	}
	skipped, err := fresh.CheckWitnessed(context.Background(), 5*time.Second)
	wantCode(t, err, errs.FailedPrecondition, "does not verify")
	for _, want := range []string{"the log's key was replaced, or the witness follows another log", "delete var/witness too"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(skipped) != 0 {
		t.Errorf("skipped = %v, want none (every witness answered)", skipped)
	}
}

// TestCheckWitnessedAsksAtOnce: the witnesses are asked all at once, not
// one after the other (five down witnesses would delay a start by five
// timeouts). Each witness here answers only once all of them were asked:
// asked one after the other, the first would wait for ever and every one
// would be skipped.
func TestCheckWitnessedAsksAtOnce(t *testing.T) {
	ws := witnesstest.Start(t, "state", 3)
	var all sync.WaitGroup
	all.Add(len(ws))
	gated := make([]*witnesstest.Witness, len(ws))
	for i, w := range ws {
		u, err := url.Parse(w.URL)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(u)
		var once sync.Once
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				once.Do(all.Done)
				all.Wait()
			}
			proxy.ServeHTTP(rw, r)
		}))
		t.Cleanup(srv.Close)
		gated[i] = &witnesstest.Witness{Name: w.Name, VKey: w.VKey, URL: srv.URL}
	}
	policy := witnesstest.Policy(2, gated...)
	l := openWitnessed(t, t.TempDir(), policy, ws)
	appendAndAwait(t, l, [][]byte{leaf(t, "p", 0)})
	awaitCheckpoint(t, l, 1)
	skipped, err := l.CheckWitnessed(context.Background(), 10*time.Second)
	if err != nil || len(skipped) != 0 {
		t.Fatalf("CheckWitnessed: skipped %v, %v; want every witness compared", skipped, err)
	}
}

// TestOneWitnessHoldsAnotherKey: one witness holding a checkpoint of this
// origin under another key (it followed another log) is skipped with its
// reason, not a reason to refuse the start: one state's witness, broken or
// hostile, cannot stop the audit service.
func TestOneWitnessHoldsAnotherKey(t *testing.T) {
	ws := witnesstest.Start(t, "state", 3)
	old := openWitnessed(t, t.TempDir(), witnesstest.Policy(1, ws[0]), ws[:1])
	appendAndAwait(t, old, [][]byte{leaf(t, "k", 0)})
	if err := old.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	fresh := openWitnessed(t, t.TempDir(), witnesstest.Policy(2, ws...), ws)
	skipped, err := fresh.CheckWitnessed(context.Background(), 5*time.Second)
	if err != nil {
		t.Fatalf("CheckWitnessed with one witness of another key: %v, want it skipped", err)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0].Error(), ws[0].Name) || !strings.Contains(skipped[0].Error(), "not signed with the log's key") {
		t.Errorf("skipped = %v, want %s, holding a checkpoint of another key", skipped, ws[0].Name)
	}
}
