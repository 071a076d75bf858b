package bundle_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/audit/bundle"
)

const origin = "comity.test/audit"

// keyPair is a note key, as the log makes it.
type keyPair struct{ skey, vkey string }

func newKey(t testing.TB, name string) keyPair {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{skey, vkey}
}

// sign makes a checkpoint note the way Tessera does: the C2SP body signed
// by the key.
func sign(t testing.TB, k keyPair, body []byte) []byte {
	t.Helper()
	s, err := note.NewSigner(k.skey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Sign(&note.Note{Text: string(body)}, s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func body(o string, size uint64, root []byte) []byte {
	return log.Checkpoint{Origin: o, Size: size, Hash: root}.Marshal()
}

// tree returns an in-memory reference tree of n leaves, and the leaves.
func tree(n int, tag string) (*testonly.Tree, [][]byte) {
	tr := testonly.New(rfc6962.DefaultHasher)
	leaves := make([][]byte, n)
	for i := range leaves {
		leaves[i] = fmt.Appendf(nil, `{"id":"%s-%d"}`, tag, i)
		tr.AppendData(leaves[i])
	}
	return tr, leaves
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestVerifyCheckpoint(t *testing.T) {
	k := newKey(t, origin)
	other := newKey(t, origin)
	elsewhere := newKey(t, "elsewhere.test/audit")
	tr, _ := tree(10, "a")
	good := sign(t, k, body(origin, 10, tr.Hash()))

	tests := []struct {
		name    string
		note    []byte
		key     string
		wantErr bool
	}{
		{name: "good", note: good, key: k.vkey},
		{name: "another key of the same origin", note: good, key: other.vkey, wantErr: true},
		{name: "signed by another key", note: sign(t, other, body(origin, 10, tr.Hash())), key: k.vkey, wantErr: true},
		{name: "size edited", note: bytes.Replace(good, []byte("\n10\n"), []byte("\n11\n"), 1), key: k.vkey, wantErr: true},
		{name: "root edited", note: flip(good, len(origin)+5), key: k.vkey, wantErr: true},
		// Well inside the signature's base64: the last characters before
		// the padding carry unused bits, and flipping one there may change
		// nothing.
		{name: "signature edited", note: flip(good, len(good)-20), key: k.vkey, wantErr: true},
		{name: "origin other than the key's name", note: sign(t, k, body("elsewhere.test/audit", 10, tr.Hash())), key: k.vkey, wantErr: true},
		{name: "key of another origin", note: good, key: elsewhere.vkey, wantErr: true},
		{name: "root not a SHA-256", note: sign(t, k, body(origin, 10, []byte("short"))), key: k.vkey, wantErr: true},
		{name: "not a note", note: []byte("comity.test/audit\n10\n"), key: k.vkey, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := bundle.VerifyCheckpoint(tc.note, tc.key)
			if tc.wantErr {
				if !errors.Is(err, bundle.ErrVerify) {
					t.Fatalf("VerifyCheckpoint = %+v, %v; want ErrVerify", cp, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cp.Origin != origin || cp.Size != 10 || !bytes.Equal(cp.RootHash, tr.Hash()) {
				t.Errorf("VerifyCheckpoint = %+v, want origin %q size 10 root %x", cp, origin, tr.Hash())
			}
		})
	}

	t.Run("malformed key", func(t *testing.T) {
		_, err := bundle.VerifyCheckpoint(good, "not a key")
		if err == nil || errors.Is(err, bundle.ErrVerify) {
			t.Fatalf("err = %v, want a key error that is not ErrVerify", err)
		}
	})
}

func TestVerifyInclusion(t *testing.T) {
	tr, leaves := tree(300, "a")
	cp := bundle.Checkpoint{Origin: origin, Size: tr.Size(), RootHash: tr.Hash()}
	older := bundle.Checkpoint{Origin: origin, Size: 257, RootHash: tr.HashAt(257)}
	proofOf := func(index, size uint64) [][]byte {
		p, err := tr.InclusionProof(index, size)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p7 := proofOf(7, cp.Size)

	tests := []struct {
		name    string
		leaf    []byte
		index   uint64
		proof   [][]byte
		cp      bundle.Checkpoint
		wantErr bool
	}{
		{name: "good", leaf: leaves[7], index: 7, proof: p7, cp: cp},
		{name: "last entry", leaf: leaves[299], index: 299, proof: proofOf(299, cp.Size), cp: cp},
		{name: "older tree", leaf: leaves[256], index: 256, proof: proofOf(256, 257), cp: older},
		{name: "flipped leaf byte", leaf: flip(leaves[7], 3), index: 7, proof: p7, cp: cp, wantErr: true},
		{name: "flipped proof byte", leaf: leaves[7], index: 7, proof: append([][]byte{flip(p7[0], 9)}, p7[1:]...), cp: cp, wantErr: true},
		{name: "wrong index", leaf: leaves[7], index: 8, proof: p7, cp: cp, wantErr: true},
		{name: "index beyond tree", leaf: leaves[7], index: 300, proof: p7, cp: cp, wantErr: true},
		{name: "proof for another tree size", leaf: leaves[7], index: 7, proof: proofOf(7, 257), cp: cp, wantErr: true},
		{name: "truncated proof", leaf: leaves[7], index: 7, proof: p7[:len(p7)-1], cp: cp, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := bundle.VerifyInclusion(tc.leaf, tc.index, tc.proof, tc.cp)
			if tc.wantErr != (err != nil) {
				t.Fatalf("VerifyInclusion = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, bundle.ErrVerify) {
				t.Errorf("err = %v, want ErrVerify", err)
			}
		})
	}
}

func TestVerifyConsistency(t *testing.T) {
	tr, _ := tree(1000, "a")
	fork, _ := tree(1000, "b") // same origin, other content: not a prefix
	at := func(tr *testonly.Tree, size uint64) bundle.Checkpoint {
		return bundle.Checkpoint{Origin: origin, Size: size, RootHash: tr.HashAt(size)}
	}
	proofOf := func(a, b uint64) [][]byte {
		p, err := tr.ConsistencyProof(a, b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := proofOf(300, 1000)
	other := at(tr, 300)
	other.Origin = "elsewhere.test/audit"

	tests := []struct {
		name         string
		older, newer bundle.Checkpoint
		proof        [][]byte
		wantErr      bool
	}{
		{name: "good", older: at(tr, 300), newer: at(tr, 1000), proof: p},
		{name: "power of two", older: at(tr, 256), newer: at(tr, 1000), proof: proofOf(256, 1000)},
		{name: "one entry", older: at(tr, 1), newer: at(tr, 2), proof: proofOf(1, 2)},
		{name: "same size", older: at(tr, 1000), newer: at(tr, 1000), proof: nil},
		{name: "from empty", older: at(tr, 0), newer: at(tr, 1000), proof: nil},
		{name: "not a prefix", older: at(fork, 300), newer: at(tr, 1000), proof: p, wantErr: true},
		{name: "newer not an extension", older: at(tr, 300), newer: at(fork, 1000), proof: p, wantErr: true},
		{name: "flipped proof byte", older: at(tr, 300), newer: at(tr, 1000), proof: append([][]byte{flip(p[0], 0)}, p[1:]...), wantErr: true},
		{name: "swapped", older: at(tr, 1000), newer: at(tr, 300), proof: p, wantErr: true},
		{name: "same size, other root", older: at(fork, 1000), newer: at(tr, 1000), proof: nil, wantErr: true},
		{name: "another log", older: other, newer: at(tr, 1000), proof: p, wantErr: true},
		{name: "empty tree with a root", older: bundle.Checkpoint{Origin: origin, RootHash: tr.HashAt(1)}, newer: at(tr, 1000), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := bundle.VerifyConsistency(tc.older, tc.newer, tc.proof)
			if tc.wantErr != (err != nil) {
				t.Fatalf("VerifyConsistency = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, bundle.ErrVerify) {
				t.Errorf("err = %v, want ErrVerify", err)
			}
		})
	}
}
