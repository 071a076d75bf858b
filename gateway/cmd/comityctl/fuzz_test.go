package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/grpcapi"
	"github.com/comity-mla/comity/services/trail"
)

const fuzzOrigin = "comity.test/audit"

// RFC 6962 hashing, written out so that the fixture does not share code
// with what it checks.
func leafHash(leaf []byte) []byte { h := sha256.Sum256(append([]byte{0}, leaf...)); return h[:] }
func nodeHash(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

// fuzzLog is a log of four entries, as an auditor gets it: its key, its
// checkpoint notes at sizes 2 and 4, and a bundle of the four entries under
// the size-4 checkpoint that proves consistency from size 2.
type fuzzLog struct {
	vkey         string
	leaves       [][]byte
	note2, note4 []byte
	bundle       []byte
	// signed are the checkpoint texts the log signed.
	signed map[string]bool
}

func newFuzzLog(f *testing.F) *fuzzLog {
	skey, vkey, err := note.GenerateKey(rand.Reader, fuzzOrigin)
	if err != nil {
		f.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		f.Fatal(err)
	}
	l := &fuzzLog{vkey: vkey, signed: map[string]bool{}}
	sign := func(size int, root []byte) []byte {
		text := fmt.Sprintf("%s\n%d\n%s\n", fuzzOrigin, size, base64.StdEncoding.EncodeToString(root))
		n, err := note.Sign(&note.Note{Text: text}, signer)
		if err != nil {
			f.Fatal(err)
		}
		l.signed[text] = true
		return n
	}
	b := &auditv1.Bundle{PublicKey: vkey, Filter: `resource = "requests/x"`}
	var events []trail.Event
	var hashes [][]byte
	for i := range 4 {
		e := trail.Event{
			ID: fmt.Sprintf("0192f0c4-0000-7000-8000-00000000000%d", i), Time: time.Date(2026, 3, 1, 8, i, 0, 0, time.UTC),
			Actor:   trail.Actor{Subject: "dev:kz-gpo:prosecutor", Agency: "kz-gpo", Roles: []string{"prosecutor"}},
			Service: "comity-request", Action: "/comity.request.v1.RequestService/SubmitRequest", Resource: "requests/x",
			States: []string{"KZ", "UZ"}, Outcome: "OK",
		}
		leaf, err := audit.Leaf(e)
		if err != nil {
			f.Fatal(err)
		}
		events, l.leaves, hashes = append(events, e), append(l.leaves, leaf), append(hashes, leafHash(leaf))
	}
	h01, h23 := nodeHash(hashes[0], hashes[1]), nodeHash(hashes[2], hashes[3])
	root := nodeHash(h01, h23)
	l.note2, l.note4 = sign(2, h01), sign(4, root)
	b.Checkpoint = &auditv1.Checkpoint{Note: string(l.note4), Origin: fuzzOrigin, Size: 4, RootHash: root}
	proofs := [][][]byte{{hashes[1], h23}, {hashes[0], h23}, {hashes[3], h01}, {hashes[2], h01}}
	for i, e := range events {
		b.Entries = append(b.Entries, &auditv1.ProvenEntry{
			Entry:          &auditv1.Entry{Index: uint64(i), Event: grpcapi.EventToProto(e), Leaf: l.leaves[i]},
			InclusionProof: proofs[i],
		})
	}
	b.ConsistencyFrom, b.ConsistencyProof = 2, [][]byte{h23}
	if l.bundle, err = (protojson.MarshalOptions{Multiline: true}).Marshal(b); err != nil {
		f.Fatal(err)
	}
	// The fixture is what a log hands out: it verifies, also since size 2.
	dir := f.TempDir()
	path, since := filepath.Join(dir, "bundle"), filepath.Join(dir, "since")
	if err := os.WriteFile(path, l.bundle, 0o600); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(since, l.note2, 0o600); err != nil {
		f.Fatal(err)
	}
	if err := auditVerify(path, vkey, since, "", false, io.Discard, io.Discard); err != nil {
		f.Fatalf("the fixture bundle does not verify: %v", err)
	}
	return l
}

// FuzzAuditVerify runs `comityctl audit verify --public-key KEY [--since
// OLD] BUNDLE` on arbitrary bundle files and earlier-checkpoint files. A
// hostile file gives an error, never a panic, and whatever verifies holds
// only entries the log holds, under a checkpoint the log signed.
func FuzzAuditVerify(f *testing.F) {
	l := newFuzzLog(f)
	edit := func(from, to string) []byte { return bytes.Replace(l.bundle, []byte(from), []byte(to), 1) }
	f.Add(l.bundle, []byte(nil))
	f.Add(l.bundle, l.note2)
	f.Add(l.bundle, l.note4)
	f.Add(l.bundle, l.bundle)
	f.Add(l.bundle, []byte("not a checkpoint"))
	f.Add(l.bundle, []byte(fuzzOrigin+"\n99\nAAAA\n"))
	f.Add(edit(`"consistencyFrom": "2"`, `"consistencyFrom": "3"`), l.note2)
	f.Add(edit(`"index": "1"`, `"index": "18446744073709551615"`), []byte(nil))
	f.Add(edit(`"size": "4"`, `"size": "5"`), []byte(nil))
	f.Add(edit(`"outcome": "OK"`, `"outcome": "PERMISSION_DENIED"`), []byte(nil))
	f.Add(edit(`"publicKey"`, `"publicKeyX"`), []byte(nil))
	f.Add(edit(`"inclusionProof": [`, `"inclusionProof": ["", `), []byte(nil))
	f.Add([]byte(`{}`), []byte(nil))
	f.Add([]byte(`{"publicKey":"`+l.vkey+`","checkpoint":{"note":"`+strings.ReplaceAll(string(l.note4), "\n", `\n`)+`"},"entries":[{},{"entry":{"leaf":"bnVsbA=="}}]}`), []byte(nil))
	f.Add([]byte(`{"entries":[null]}`), []byte(nil))
	f.Add([]byte("\xff"), []byte("\xff"))
	f.Add([]byte{}, []byte{})

	f.Fuzz(func(t *testing.T, bundleFile, sinceFile []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "bundle")
		if err := os.WriteFile(path, bundleFile, 0o600); err != nil {
			t.Fatal(err)
		}
		since := ""
		if sinceFile != nil {
			since = filepath.Join(dir, "since")
			if err := os.WriteFile(since, sinceFile, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var stdout bytes.Buffer
		err := auditVerify(path, l.vkey, since, "", false, &stdout, io.Discard)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("audit verify failed without a message")
			}
			return
		}
		var b auditv1.Bundle
		if err := protojson.Unmarshal(bundleFile, &b); err != nil {
			t.Fatalf("audit verify accepted a bundle that does not parse: %v", err)
		}
		v, err := note.NewVerifier(l.vkey)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := note.Open([]byte(b.GetCheckpoint().GetNote()), note.VerifierList(v)); err != nil || !l.signed[n.Text] {
			t.Fatalf("audit verify accepted checkpoint %q, which the log did not sign", b.GetCheckpoint().GetNote())
		}
		for _, pe := range b.GetEntries() {
			e := pe.GetEntry()
			if e.GetIndex() >= uint64(len(l.leaves)) || !bytes.Equal(e.GetLeaf(), l.leaves[e.GetIndex()]) {
				t.Fatalf("audit verify accepted entry %d with leaf %q, which is not the logged one", e.GetIndex(), e.GetLeaf())
			}
		}
		if want := fmt.Sprintf("verified: %d entries", len(b.GetEntries())); !strings.HasPrefix(stdout.String(), want) {
			t.Fatalf("audit verify said %q, want %q…", stdout.String(), want)
		}
	})
}
