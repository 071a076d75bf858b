package bundle_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/audit/bundle"
)

// fuzzLeaves is the size of the reference tree the fuzz targets check
// proofs against.
const fuzzLeaves = 16

// chunks splits b into the 32-byte hashes of a proof (the last may be
// shorter).
func chunks(b []byte) [][]byte {
	var p [][]byte
	for len(b) > 0 {
		n := min(32, len(b))
		p = append(p, b[:n])
		b = b[n:]
	}
	return p
}

func join(p [][]byte) []byte { return bytes.Join(p, nil) }

// FuzzVerifyCheckpoint feeds VerifyCheckpoint arbitrary notes and keys. A
// note verifies only under the log's key and only as one of the checkpoints
// the log signed; any other note is a verification failure, and a key that
// is not a note verifier key is an error of its own.
func FuzzVerifyCheckpoint(f *testing.F) {
	k := newKey(f, origin)
	other := newKey(f, origin)
	tr, _ := tree(fuzzLeaves, "a")
	signed := map[string]bundle.Checkpoint{}
	for _, size := range []uint64{0, 1, 7, fuzzLeaves} {
		b := body(origin, size, tr.HashAt(size))
		signed[string(b)] = bundle.Checkpoint{Origin: origin, Size: size, RootHash: tr.HashAt(size)}
		f.Add(sign(f, k, b), k.vkey)
	}
	f.Add(sign(f, other, body(origin, 3, tr.HashAt(3))), k.vkey)
	f.Add(sign(f, k, body("elsewhere.test/audit", 3, tr.HashAt(3))), k.vkey)
	f.Add(sign(f, k, body(origin, 3, []byte("short"))), k.vkey)
	f.Add(sign(f, k, []byte(origin+"\n18446744073709551616\nAAAA\n")), k.vkey)
	f.Add(sign(f, k, []byte(origin+"\n-1\n\n")), k.vkey)
	f.Add([]byte(origin+"\n1\nAAAA\n\n— "+origin+" AAAA\n"), k.vkey)
	f.Add([]byte{}, k.vkey)
	f.Add(sign(f, k, body(origin, 1, tr.HashAt(1))), "")
	f.Add(sign(f, k, body(origin, 1, tr.HashAt(1))), "comity.test/audit+00000000+AQ==")

	f.Fuzz(func(t *testing.T, n []byte, key string) {
		cp, err := bundle.VerifyCheckpoint(n, key)
		if err != nil {
			if _, kerr := note.NewVerifier(key); kerr == nil && !errors.Is(err, bundle.ErrVerify) {
				t.Fatalf("VerifyCheckpoint(%q) with a well-formed key: %v, which is not ErrVerify", n, err)
			}
			return
		}
		if key != k.vkey {
			// Another well-formed key verifies only its own notes, and the
			// fuzzer holds no private key: it can only find keys that
			// accept anything (small-order Ed25519 points).
			return
		}
		opened, err := note.Open(n, note.VerifierList(mustVerifier(t, key)))
		if err != nil {
			t.Fatalf("VerifyCheckpoint accepted %q, which note.Open refuses: %v", n, err)
		}
		want, ok := signed[opened.Text]
		if !ok || cp.Origin != want.Origin || cp.Size != want.Size || !bytes.Equal(cp.RootHash, want.RootHash) {
			t.Fatalf("VerifyCheckpoint accepted %q as %+v; the log signed no such checkpoint", opened.Text, cp)
		}
	})
}

func mustVerifier(t *testing.T, key string) note.Verifier {
	v, err := note.NewVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// FuzzVerifyInclusion feeds VerifyInclusion arbitrary leaves, indexes and
// proofs against the checkpoints of a reference tree (or an arbitrary root
// when root is given). Only a leaf of the tree, at its index, with its proof,
// verifies; everything else is ErrVerify.
func FuzzVerifyInclusion(f *testing.F) {
	tr, leaves := tree(fuzzLeaves, "a")
	for _, c := range []struct{ index, size uint64 }{{0, 1}, {0, 2}, {5, 7}, {15, 16}, {8, 16}} {
		p, err := tr.InclusionProof(c.index, c.size)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(leaves[c.index], c.index, c.size, join(p), []byte(nil))
	}
	p, _ := tr.InclusionProof(3, 16)
	f.Add(leaves[4], uint64(3), uint64(16), join(p), []byte(nil))
	f.Add(leaves[3], uint64(3), uint64(16), join(p)[1:], []byte(nil))
	f.Add(leaves[3], uint64(3), uint64(1<<63), join(p), []byte(nil))
	f.Add(leaves[3], uint64(1<<64-1), uint64(1<<64-1), join(p), tr.Hash())
	f.Add([]byte{}, uint64(0), uint64(0), []byte{}, []byte{})

	f.Fuzz(func(t *testing.T, leaf []byte, index, size uint64, proof, root []byte) {
		reference := len(root) == 0 && size <= fuzzLeaves
		if reference {
			root = tr.HashAt(size)
		}
		cp := bundle.Checkpoint{Origin: origin, Size: size, RootHash: root}
		err := bundle.VerifyInclusion(leaf, index, chunks(proof), cp)
		if err != nil {
			if !errors.Is(err, bundle.ErrVerify) {
				t.Fatalf("VerifyInclusion: %v, which is not ErrVerify", err)
			}
			return
		}
		if !reference || index >= size || !bytes.Equal(leaf, leaves[index]) {
			t.Fatalf("VerifyInclusion accepted leaf %q at %d in a tree of %d (root %x)", leaf, index, size, root)
		}
	})
}

// FuzzVerifyConsistency feeds VerifyConsistency arbitrary checkpoints and
// proofs. It accepts only an empty older tree, two identical checkpoints, or
// two checkpoints of the reference tree with the proof between them.
func FuzzVerifyConsistency(f *testing.F) {
	tr, _ := tree(fuzzLeaves, "a")
	for _, c := range []struct{ from, to uint64 }{{1, 2}, {3, 7}, {7, 16}, {16, 16}, {8, 16}} {
		p, err := tr.ConsistencyProof(c.from, c.to)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c.from, c.to, join(p), []byte(nil), []byte(nil), true)
	}
	// From the empty tree the proof is empty (merkle refuses to make one).
	f.Add(uint64(0), uint64(5), []byte{}, []byte(nil), []byte(nil), true)
	f.Add(uint64(0), uint64(5), tr.Hash(), []byte(nil), []byte(nil), true)
	p, _ := tr.ConsistencyProof(3, 7)
	f.Add(uint64(7), uint64(3), join(p), []byte(nil), []byte(nil), true)
	f.Add(uint64(3), uint64(7), join(p), []byte(nil), []byte(nil), false)
	f.Add(uint64(3), uint64(7), join(p)[:40], []byte(nil), []byte(nil), true)
	f.Add(uint64(0), uint64(7), []byte{}, []byte("not the empty root"), []byte(nil), true)
	f.Add(uint64(1<<64-1), uint64(1<<64-1), []byte{}, tr.Hash(), tr.Hash(), true)

	f.Fuzz(func(t *testing.T, from, to uint64, proof, fromRoot, toRoot []byte, sameLog bool) {
		refFrom := len(fromRoot) == 0 && from <= fuzzLeaves
		if refFrom {
			fromRoot = tr.HashAt(from)
		}
		refTo := len(toRoot) == 0 && to <= fuzzLeaves
		if refTo {
			toRoot = tr.HashAt(to)
		}
		older := bundle.Checkpoint{Origin: origin, Size: from, RootHash: fromRoot}
		newer := bundle.Checkpoint{Origin: origin, Size: to, RootHash: toRoot}
		if !sameLog {
			newer.Origin = "elsewhere.test/audit"
		}
		err := bundle.VerifyConsistency(older, newer, chunks(proof))
		if err != nil {
			if !errors.Is(err, bundle.ErrVerify) {
				t.Fatalf("VerifyConsistency: %v, which is not ErrVerify", err)
			}
			return
		}
		switch {
		case !sameLog || from > to:
			t.Fatalf("VerifyConsistency accepted %+v before %+v", older, newer)
		case from == 0, from == to && bytes.Equal(fromRoot, toRoot), refFrom && refTo:
		default:
			t.Fatalf("VerifyConsistency accepted %+v before %+v with proof %x", older, newer, proof)
		}
	})
}

// updateWitnessed rewrites testdata/witnessed.* from fresh real witnesses.
var updateWitnessed = flag.Bool("update-witnessed", false, "rewrite testdata/witnessed.note and .policy from fresh real witnesses")

// witnessedFixture is a checkpoint of a real log cosigned by 3 to 5 of 5
// real witnesses and the policy (3 of 5), kept in testdata so that every
// fuzzing worker (a process of its own) sees the same keys: witnesses made
// afresh in each would make the coordinator's inputs strangers to the
// workers. go test -run TestWitnessedFixture -update-witnessed remakes it.
func witnessedFixture(t testing.TB) (n, policy []byte) {
	t.Helper()
	if *updateWitnessed {
		n, policy, _ := witnessedNote(t)
		for f, b := range map[string][]byte{"testdata/witnessed.note": n, "testdata/witnessed.policy": policy} {
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, err := os.ReadFile("testdata/witnessed.note")
	if err != nil {
		t.Fatal(err)
	}
	if policy, err = os.ReadFile("testdata/witnessed.policy"); err != nil {
		t.Fatal(err)
	}
	return n, policy
}

// TestWitnessedFixture: the fixture verifies, so the fuzz target starts
// from a note that is accepted.
func TestWitnessedFixture(t *testing.T) {
	n, policy := witnessedFixture(t)
	if rep, err := bundle.VerifyCosignatures(n, policy); err != nil || len(rep.Cosigned) < 3 {
		t.Fatalf("the fixture is not a witnessed checkpoint: %+v, %v", rep, err)
	}
}

// FuzzVerifyCosignatures feeds VerifyCosignatures arbitrary policy text and
// notes, seeded with a real checkpoint cosigned by real witnesses. It never
// panics, and it accepts a note only when the cosignatures the report names
// verify under their policy keys, are by distinct keys, are by the real
// witnesses (nobody else signed anything, and the fuzzer cannot forge
// Ed25519), over the one checkpoint they cosigned, and satisfy the policy's
// quorum as formats' own parser reads it; a policy that asks no
// cosignature (quorum none) is the only way to accept with none.
func FuzzVerifyCosignatures(f *testing.F) {
	n, policy := witnessedFixture(f)
	fixed, err := bundle.ParsePolicy(policy)
	if err != nil {
		f.Fatal(err)
	}
	ws := fixed.Witnesses()
	body, _, _ := bytes.Cut(n, []byte("\n\n"))
	forged := bytes.Clone(n)
	forged[len(forged)-20] ^= 1 // inside the last cosignature
	f.Add(policy, n)
	f.Add(policy, keepSigs(f, n, 0))
	f.Add(policy, keepSigs(f, n, 2))
	f.Add(policy, forged)
	f.Add([]byte("witness a "+ws[0].PublicKey+" "+ws[0].URL+"\ngroup g 1 a\nquorum g\n"), n)
	f.Add([]byte("quorum none\n"), n)
	f.Add([]byte("witness a "+ws[0].PublicKey+" "+ws[0].URL+"\nwitness b "+ws[0].PublicKey+" "+ws[1].URL+"\ngroup g 2 a b\nquorum g\n"), n)
	f.Add([]byte("witness a "+ws[0].PublicKey+" "+ws[0].URL+"\ngroup g 1 a a\nquorum g\n"), n)
	f.Add([]byte{}, []byte{})
	f.Add(policy, append(bytes.Clone(n), n[len(body)+2:]...)) // every cosignature twice

	f.Fuzz(func(t *testing.T, policy, n []byte) {
		rep, err := bundle.VerifyCosignatures(n, policy)
		if err != nil {
			return
		}
		g, perr := fwitness.ParsePolicy(policy)
		if perr != nil || !g.Satisfied(n) {
			t.Fatalf("accepted a note formats' parser says does not satisfy the policy (%v):\npolicy %q\nnote %q", perr, policy, n)
		}
		if len(rep.Cosigned) == 0 {
			if !strings.Contains(rep.Quorum, "quorum none") {
				t.Fatalf("accepted with no cosignature under a policy needing %s", rep.Quorum)
			}
			return
		}
		if b, _, _ := bytes.Cut(n, []byte("\n\n")); !bytes.Equal(b, body) {
			t.Fatalf("accepted cosignatures over a checkpoint the witnesses never cosigned: %q", n)
		}
		p, perr := bundle.ParsePolicy(policy)
		if perr != nil {
			t.Fatal(perr)
		}
		keys := map[string]bool{}
		for _, name := range rep.Cosigned {
			i := slices.IndexFunc(p.Witnesses(), func(w bundle.PolicyWitness) bool { return w.Name == name })
			if i < 0 {
				t.Fatalf("cosigner %s is not in the policy", name)
			}
			key := p.Witnesses()[i].PublicKey
			v, kerr := fnote.NewVerifierForCosignatureV1(key)
			if kerr != nil {
				t.Fatal(kerr)
			}
			if _, oerr := note.Open(n, note.VerifierList(v)); oerr != nil {
				t.Fatalf("cosigner %s's cosignature does not verify: %v", name, oerr)
			}
			id := fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())
			if keys[id] {
				t.Fatalf("key %s counted twice", id)
			}
			keys[id] = true
			if !slices.ContainsFunc(ws, func(w bundle.PolicyWitness) bool {
				rv, _ := fnote.NewVerifierForCosignatureV1(w.PublicKey)
				return rv.Name() == v.Name() && rv.KeyHash() == v.KeyHash()
			}) {
				t.Fatalf("cosigner %s's key %s is none of the real witnesses'", name, key)
			}
		}
	})
}
