package bundle_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/audit/witnesstest"
)

// witnessedNote returns a checkpoint note of a real log cosigned by at
// least 3 of 5 real witnesses, with the policy (3 of 5) and the witnesses.
func witnessedNote(t testing.TB) ([]byte, []byte, []*witnesstest.Witness) {
	t.Helper()
	ctx := context.Background()
	ws := witnesstest.Start(t, "state", 5)
	policy := witnesstest.Policy(3, ws...)
	l, err := tlog.Open(ctx, t.TempDir(), tlog.Options{Origin: "comity.test/audit", WitnessPolicy: policy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(ctx) })
	for _, w := range ws {
		w.Trust(t, l.PublicKey())
	}
	if _, err := l.Append(ctx, [][]byte{[]byte("one"), []byte("two")}); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := l.AwaitIntegration(actx, 2); err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return cp.Note, policy, ws
}

// keepSigs keeps the note's log signature and the cosignatures of the
// first n witnesses that signed it.
func keepSigs(t testing.TB, n []byte, keep int) []byte {
	body, sigs, _ := bytes.Cut(n, []byte("\n\n"))
	lines := strings.Split(strings.TrimSuffix(string(sigs), "\n"), "\n")
	out := []string{lines[0]} // the log's own signature comes first
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "— state-") && keep > 0 {
			out = append(out, l)
			keep--
		}
	}
	return []byte(string(body) + "\n\n" + strings.Join(out, "\n") + "\n")
}

func TestVerifyCosignatures(t *testing.T) {
	n, policy, ws := witnessedNote(t)
	rep, err := bundle.VerifyCosignatures(n, policy)
	if err != nil || len(rep.Cosigned) < 3 || rep.Witnesses != 5 {
		t.Fatalf("fresh checkpoint: %+v, %v", rep, err)
	}

	// A forged cosignature: one byte of the first cosignature changed.
	body, sigs, _ := bytes.Cut(n, []byte("\n\n"))
	lines := strings.Split(string(sigs), "\n")
	sig := []byte(lines[1])
	i := len(sig) - 20 // inside the signature, away from base64 padding
	sig[i] = 'A'
	if lines[1][i] == 'A' {
		sig[i] = 'B'
	}
	lines[1] = string(sig)
	forged := []byte(string(body) + "\n\n" + strings.Join(lines, "\n"))

	others := witnesstest.Policy(3, witnesstest.Start(t, "other", 5)...)
	for _, tc := range []struct {
		name   string
		note   []byte
		policy []byte
		want   string
	}{
		{"cosignatures removed", keepSigs(t, n, 0), policy, "none of them cosigned"},
		{"below quorum", keepSigs(t, n, 2), policy, "only state-"},
		{"forged", forged, policy, "forged or altered"},
		{"policy of other keys", n, others, "needs 3 of other-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bundle.VerifyCosignatures(tc.note, tc.policy)
			if !errors.Is(err, bundle.ErrVerify) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want ErrVerify saying %q", err, tc.want)
			}
		})
	}
	// A policy counting one witness twice is refused outright.
	dup := []byte("witness a " + ws[0].VKey + " " + ws[0].URL + "\nwitness b " + ws[0].VKey + " " + ws[1].URL + "\ngroup g 2 a b\nquorum g\n")
	if _, err := bundle.VerifyCosignatures(n, dup); err == nil || errors.Is(err, bundle.ErrVerify) || !strings.Contains(err.Error(), "count twice") {
		t.Fatalf("policy with one key twice: %v", err)
	}
}

// TestPolicyGroupOfNone: a group that needs no cosignature is refused,
// naming the group, rather than accepting any checkpoint as witnessed.
func TestPolicyGroupOfNone(t *testing.T) {
	n, policy := witnessedFixture(t)
	w := strings.SplitN(string(policy), "\n", 2)[0] + "\n"
	for _, p := range []string{w + "group g 0 state-1\nquorum g\n", w + "group g all\nquorum g\n"} {
		if _, err := bundle.VerifyCosignatures(n, []byte(p)); err == nil || !strings.Contains(err.Error(), "group g needs no cosignature") {
			t.Errorf("policy %q: %v; want the group refused", p, err)
		}
	}
}
