package tlog_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/witness/witnessdtest"
)

// TestForkRefusedByWitnesses shows forks of a witnessed log presented to
// five real comity-witness servers (quorum 3), as an operator who restored
// an old backup and wrote to it would present them: (a) the same size as
// what the witnesses cosigned with another root, (b) a smaller tree. Every
// witness refuses both, their latest cosigned checkpoint stays the true one,
// the forked copies never publish a checkpoint beyond the backup's, and the
// true log goes on, consistent with what was cosigned.
func TestForkRefusedByWitnesses(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "audit")
	key, err := tlog.LoadOrCreatePublicKey(dir, origin)
	if err != nil {
		t.Fatal(err)
	}
	ws := witnessdtest.Start(t, "state", 5, origin, key)
	policy, err := bundle.WitnessPolicy(key, ws)
	if err != nil {
		t.Fatal(err)
	}
	open := func(d string) *tlog.Log {
		t.Helper()
		l, err := tlog.Open(ctx, d, tlog.Options{Origin: origin, WitnessPolicy: policy, WitnessTimeout: time.Second})
		if err != nil {
			t.Fatalf("Open(%s): %v", d, err)
		}
		return l
	}
	closeLog := func(l *tlog.Log) {
		t.Helper()
		// Bounded: a forked copy never gets the checkpoint Close waits for.
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_ = l.Close(cctx)
	}
	copyDir := func(from string) string {
		t.Helper()
		to := filepath.Join(t.TempDir(), "audit")
		if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
		_ = os.Remove(filepath.Join(to, "writer.lock"))
		return to
	}
	published := func(d string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(d, "log", "checkpoint"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cosigned := func(w bundle.PolicyWitness) []byte {
		t.Helper()
		resp, err := http.Get(w.URL + "/checkpoint?origin=" + origin)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s/checkpoint = %d %s", w.URL, resp.StatusCode, b)
		}
		return b
	}
	body := func(note []byte) []byte { return note[:bytes.Index(note, []byte("\n\n"))+1] }

	l := open(dir)
	appendAndAwait(t, l, [][]byte{leaf(t, "true", 0), leaf(t, "true", 1)})
	closeLog(l)
	backupA, backupB := copyDir(dir), copyDir(dir)
	backupCP := published(backupA)

	l = open(dir)
	appendAndAwait(t, l, [][]byte{leaf(t, "true", 2), leaf(t, "true", 3), leaf(t, "true", 4)})
	cp5 := checkpoint(t, l)
	closeLog(l)
	if _, err := bundle.VerifyCosignatures(cp5.Note, policy); err != nil {
		t.Fatalf("the true checkpoint of 5 entries: %v", err)
	}

	// The forks, written with the log's own key.
	forkA := open(backupA) // (a) grown to 5 entries, other ones
	if _, err := forkA.Append(ctx, [][]byte{leaf(t, "fork", 2), leaf(t, "fork", 3), leaf(t, "fork", 4)}); err != nil {
		t.Fatal(err)
	}
	forkB := open(backupB) // (b) grown to 3 entries: smaller than cosigned
	if _, err := forkB.Append(ctx, [][]byte{leaf(t, "fork", 2)}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*tlog.Log{forkA, forkB} {
		if err := f.AwaitIntegrated(ctx, 3); err != nil {
			t.Fatal(err)
		}
	}
	// Tessera tries to publish every checkpoint interval (200 ms), each try
	// bounded by the witness timeout (1 s): two seconds is several tries.
	time.Sleep(2 * time.Second)
	for name, d := range map[string]string{"same size, another root": backupA, "smaller": backupB} {
		if got := published(d); !bytes.Equal(got, backupCP) {
			t.Errorf("the fork (%s) published a checkpoint:\n%s\nwant still the backup's:\n%s", name, got, backupCP)
		}
	}
	closeLog(forkA)
	closeLog(forkB)
	for _, w := range ws {
		if got := cosigned(w); !bytes.Equal(body(got), body(cp5.Note)) {
			t.Errorf("witness %s's latest cosigned checkpoint:\n%s\nwant the true one of 5 entries:\n%s", w.Name, got, cp5.Note)
		}
	}

	// The true log goes on, consistent with what the witnesses cosigned.
	l = open(dir)
	defer closeLog(l)
	appendAndAwait(t, l, [][]byte{leaf(t, "true", 5)})
	cp6 := checkpoint(t, l)
	if _, err := bundle.VerifyCosignatures(cp6.Note, policy); err != nil {
		t.Fatalf("the true checkpoint of 6 entries: %v", err)
	}
	p, err := l.ConsistencyProof(ctx, cp5.Size, cp6.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := bundle.VerifyConsistency(cp5.Checkpoint, cp6.Checkpoint, p); err != nil {
		t.Errorf("the true log after the forks: %v", err)
	}
}
