package bundle_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
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
	for _, p := range []string{
		w + "group g 0 state-1\nquorum g\n",
		w + "group g all\nquorum g\n",
		// "00" is the threshold 0 too (formats parses it as a number).
		w + "group g 00 state-1\nquorum g\n",
		w + "group h 1 state-1\ngroup g 00 h\nquorum g\n",
	} {
		if _, err := bundle.VerifyCosignatures(n, []byte(p)); err == nil || !strings.Contains(err.Error(), "group g needs no cosignature") {
			t.Errorf("policy %q: %v; want the group refused", p, err)
		}
	}
}

// TestPolicySameKeyTwoNames: a cosignature does not cover the key's name,
// so one witness's key listed under a second name would let its
// cosignature line, copied under that name, count twice. The policy is
// refused instead.
func TestPolicySameKeyTwoNames(t *testing.T) {
	n, policy := witnessedFixture(t)
	first := strings.Fields(strings.Split(string(policy), "\n")[1]) // witness state-2 KEY URL (it cosigned)
	alias := renamed(t, "XX", strings.SplitN(first[2], "+", 3)[2])
	p := fmt.Sprintf("witness state-2 %s %s\nwitness XX %s http://127.0.0.1:1\ngroup g 2 state-2 XX\nquorum g\n", first[2], first[3], alias)

	// The note with state-2's cosignature line copied under XX's name
	// and key hash.
	body, sigs, _ := bytes.Cut(n, []byte("\n\n"))
	var copied string
	for _, l := range strings.Split(string(sigs), "\n") {
		if sig, ok := strings.CutPrefix(l, "— state-2 "); ok {
			raw, _ := base64.StdEncoding.DecodeString(sig)
			aliasHash, _ := hex.DecodeString(strings.SplitN(alias, "+", 3)[1])
			copy(raw[:4], aliasHash)
			copied = "— XX " + base64.StdEncoding.EncodeToString(raw) + "\n"
		}
	}
	if copied == "" {
		t.Fatal("the fixture has no cosignature by state-2")
	}
	forged := append(append(append([]byte{}, body...), []byte("\n\n")...), append(append([]byte{}, sigs...), copied...)...)
	rep, err := bundle.VerifyCosignatures(forged, []byte(p))
	if err == nil || errors.Is(err, bundle.ErrVerify) || !strings.Contains(err.Error(), "count twice") {
		t.Fatalf("policy with one key under two names: cosigned %v, %v; want it refused (count twice)", rep.Cosigned, err)
	}
}
