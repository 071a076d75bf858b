package tlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/audit/tlog/tlogtest"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/trail"
)

const origin = "comity.test/audit"

func openLog(t testing.TB, dir string) *tlog.Log {
	t.Helper()
	l, err := tlog.Open(context.Background(), dir, tlog.Options{Origin: origin})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// leaf returns a realistic, distinct leaf: an audit event's encoding.
func leaf(t testing.TB, tag string, i int) []byte {
	t.Helper()
	b, err := audit.Leaf(trail.Event{
		ID:      fmt.Sprintf("%s-%06d", tag, i),
		Time:    time.Date(2025, 1, 2, 3, 4, 5, i, time.UTC),
		Actor:   trail.Actor{Subject: "user-" + strconv.Itoa(i%17), Agency: "FR-MOJ", Roles: []string{"caseworker"}},
		Service: "comity-request",
		Action:  "/comity.request.v1.RequestService/SubmitRequest",
		Outcome: "OK",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendAndAwait appends leaves in one call and waits for a checkpoint
// covering them.
func appendAndAwait(t testing.TB, l *tlog.Log, leaves [][]byte) []uint64 {
	t.Helper()
	ctx := context.Background()
	idx, err := l.Append(ctx, leaves)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := l.AwaitIntegration(ctx, idx[len(idx)-1]+1); err != nil {
		t.Fatalf("AwaitIntegration: %v", err)
	}
	return idx
}

func checkpoint(t testing.TB, l *tlog.Log) tlog.Checkpoint {
	t.Helper()
	cp, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	return cp
}

func wantCode(t *testing.T, err error, code errs.Code, mention string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("err = %v, want code %v", err, code)
	}
	if !strings.Contains(err.Error(), mention) {
		t.Errorf("err = %q, want it to mention %q", err, mention)
	}
}

// TestLog follows a log through its life: appends, proofs for every entry
// at several tree sizes, reading back, tampering, and a restart.
func TestLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := tlog.Open(ctx, dir, tlog.Options{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = l.Close(ctx)
		}
	})

	// ref is an independent in-memory Merkle tree of the same leaves, to
	// check the log's roots and proofs at any size.
	ref := testonly.New(rfc6962.DefaultHasher)
	var leaves [][]byte // by index

	t.Run("empty log has a checkpoint", func(t *testing.T) {
		cp := checkpoint(t, l)
		if cp.Size != 0 || cp.Origin != origin || !bytes.Equal(cp.RootHash, rfc6962.DefaultHasher.EmptyRoot()) {
			t.Errorf("checkpoint = %+v, want empty tree of %q", cp.Checkpoint, origin)
		}
	})

	var cp1 tlog.Checkpoint
	t.Run("append one", func(t *testing.T) {
		first := leaf(t, "a", 0)
		idx := appendAndAwait(t, l, [][]byte{first})
		if idx[0] != 0 {
			t.Fatalf("index = %d, want 0", idx[0])
		}
		leaves = append(leaves, first)
		ref.AppendData(first)
		cp1 = checkpoint(t, l)
		if cp1.Size != 1 {
			t.Fatalf("checkpoint size = %d, want 1", cp1.Size)
		}
	})

	t.Run("append 1000 concurrently", func(t *testing.T) {
		const producers, each = 40, 25
		var (
			mu      sync.Mutex
			byIndex = map[uint64][]byte{}
			wg      sync.WaitGroup
			errc    = make(chan error, producers)
		)
		for p := range producers {
			wg.Go(func() {
				// Calls of 1 to 4 leaves, so that batches mix callers.
				for i := 0; i < each; {
					n := min(1+(p+i)%4, each-i)
					batch := make([][]byte, n)
					for j := range batch {
						batch[j] = leaf(t, "a", 1+p*each+i+j)
					}
					idx, err := l.Append(ctx, batch)
					if err != nil {
						errc <- err
						return
					}
					mu.Lock()
					for j, x := range idx {
						if j > 0 && x <= idx[j-1] {
							errc <- fmt.Errorf("indexes of one call out of order: %v", idx)
						}
						if _, dup := byIndex[x]; dup {
							errc <- fmt.Errorf("index %d given twice", x)
						}
						byIndex[x] = batch[j]
					}
					mu.Unlock()
					i += n
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		if len(byIndex) != producers*each {
			t.Fatalf("%d indexes, want %d", len(byIndex), producers*each)
		}
		for i := uint64(1); i <= producers*each; i++ {
			lf, ok := byIndex[i]
			if !ok {
				t.Fatalf("no leaf at index %d: indexes not contiguous", i)
			}
			leaves = append(leaves, lf)
			ref.AppendData(lf)
		}
		if err := l.AwaitIntegration(ctx, uint64(len(leaves))); err != nil {
			t.Fatal(err)
		}
	})

	var cp2 tlog.Checkpoint
	t.Run("checkpoint verifies with the public key", func(t *testing.T) {
		cp2 = checkpoint(t, l)
		got, err := bundle.VerifyCheckpoint(cp2.Note, l.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if got.Size != 1001 || got.Origin != origin || !bytes.Equal(got.RootHash, ref.HashAt(1001)) {
			t.Errorf("checkpoint = %d %q %x, want 1001 %q %x", got.Size, got.Origin, got.RootHash, origin, ref.HashAt(1001))
		}
		// An auditor fetches dir/public.key; it is the same key.
		pub, err := os.ReadFile(filepath.Join(dir, "public.key"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(pub)) != l.PublicKey() {
			t.Errorf("public.key = %q, want %q", pub, l.PublicKey())
		}
		// And the checkpoint file is the one served as tlog-tiles.
		served, err := os.ReadFile(filepath.Join(dir, "log", "checkpoint"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(served, cp2.Note) {
			t.Errorf("log/checkpoint differs from Checkpoint().Note")
		}
	})

	// A later stretch, so that cp2 is an older tree size with its own
	// checkpoint when the log is bigger.
	t.Run("append more", func(t *testing.T) {
		more := make([][]byte, 200)
		for i := range more {
			more[i] = leaf(t, "a", 1001+i)
		}
		idx := appendAndAwait(t, l, more)
		if idx[0] != 1001 || idx[199] != 1200 {
			t.Fatalf("indexes %d..%d, want 1001..1200", idx[0], idx[199])
		}
		leaves = append(leaves, more...)
		ref.AppendData(more...)
	})
	cp3 := checkpoint(t, l)
	if cp3.Size != 1201 {
		t.Fatalf("checkpoint size = %d, want 1201", cp3.Size)
	}

	t.Run("every entry's inclusion proof verifies", func(t *testing.T) {
		for _, cp := range []tlog.Checkpoint{cp3, cp2, cp1} {
			t.Run(fmt.Sprintf("tree size %d", cp.Size), func(t *testing.T) {
				for i := range cp.Size {
					p, err := l.InclusionProof(ctx, i, cp.Size)
					if err != nil {
						t.Fatalf("InclusionProof(%d, %d): %v", i, cp.Size, err)
					}
					if err := bundle.VerifyInclusion(leaves[i], i, p, cp.Checkpoint); err != nil {
						t.Fatalf("entry %d: %v", i, err)
					}
					// The brief's check, with merkle directly.
					h := rfc6962.DefaultHasher.HashLeaf(leaves[i])
					if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.Size, h, p, cp.RootHash); err != nil {
						t.Fatalf("entry %d (merkle): %v", i, err)
					}
				}
			})
		}
	})

	// Sizes no batch ended at: their partial tiles never existed.
	sizes := []uint64{1, 2, 3, 255, 256, 257, 300, 511, 512, 513, 777, 1000, 1001, 1024, 1200, 1201}

	t.Run("inclusion at tree sizes without a checkpoint", func(t *testing.T) {
		for _, size := range sizes {
			root := ref.HashAt(size)
			for _, i := range []uint64{0, size / 2, size - 1} {
				p, err := l.InclusionProof(ctx, i, size)
				if err != nil {
					t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
				}
				cp := bundle.Checkpoint{Origin: origin, Size: size, RootHash: root}
				if err := bundle.VerifyInclusion(leaves[i], i, p, cp); err != nil {
					t.Errorf("entry %d in %d: %v", i, size, err)
				}
			}
		}
	})

	t.Run("consistency proofs verify", func(t *testing.T) {
		pairs := [][2]tlog.Checkpoint{{cp1, cp2}, {cp2, cp3}, {cp1, cp3}, {cp3, cp3}}
		for _, pr := range pairs {
			p, err := l.ConsistencyProof(ctx, pr[0].Size, pr[1].Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := bundle.VerifyConsistency(pr[0].Checkpoint, pr[1].Checkpoint, p); err != nil {
				t.Errorf("%d→%d: %v", pr[0].Size, pr[1].Size, err)
			}
		}
		for _, from := range sizes {
			for _, to := range sizes {
				if from > to {
					continue
				}
				p, err := l.ConsistencyProof(ctx, from, to)
				if err != nil {
					t.Fatalf("ConsistencyProof(%d, %d): %v", from, to, err)
				}
				older := bundle.Checkpoint{Origin: origin, Size: from, RootHash: ref.HashAt(from)}
				newer := bundle.Checkpoint{Origin: origin, Size: to, RootHash: ref.HashAt(to)}
				if err := bundle.VerifyConsistency(older, newer, p); err != nil {
					t.Errorf("%d→%d: %v", from, to, err)
				}
			}
		}
	})

	t.Run("leaves read back", func(t *testing.T) {
		tests := []struct {
			name               string
			from, to, treeSize uint64
		}{
			{"all", 0, 1201, 1201},
			{"first", 0, 1, 1},
			{"across a bundle boundary", 250, 260, 1001},
			{"one full bundle", 256, 512, 1201},
			{"tail of an older tree", 990, 1001, 1001},
			{"last", 1200, 1201, 1201},
			{"empty", 5, 5, 1201},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := l.Leaves(ctx, tc.from, tc.to, tc.treeSize)
				if err != nil {
					t.Fatal(err)
				}
				want := leaves[tc.from:tc.to]
				if len(got) != len(want) {
					t.Fatalf("%d leaves, want %d", len(got), len(want))
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("leaf %d = %q, want %q", tc.from+uint64(i), got[i], want[i])
					}
				}
			})
		}
	})

	t.Run("requests outside the tree", func(t *testing.T) {
		tests := []struct {
			name    string
			call    func() error
			code    errs.Code
			mention string
		}{
			{"inclusion beyond checkpoint", func() error { _, err := l.InclusionProof(ctx, 0, 1202); return err }, errs.FailedPrecondition, "1202"},
			{"inclusion of missing entry", func() error { _, err := l.InclusionProof(ctx, 1201, 1201); return err }, errs.NotFound, "1201"},
			{"inclusion of entry outside tree size", func() error { _, err := l.InclusionProof(ctx, 5, 3); return err }, errs.Invalid, "5"},
			{"consistency beyond checkpoint", func() error { _, err := l.ConsistencyProof(ctx, 1, 5000); return err }, errs.FailedPrecondition, "5000"},
			{"consistency backwards", func() error { _, err := l.ConsistencyProof(ctx, 10, 5); return err }, errs.Invalid, "10"},
			{"leaves beyond checkpoint", func() error { _, err := l.Leaves(ctx, 0, 1, 1300); return err }, errs.FailedPrecondition, "1300"},
			{"leaves past tree size", func() error { _, err := l.Leaves(ctx, 0, 20, 10); return err }, errs.Invalid, "20"},
			{"leaves backwards", func() error { _, err := l.Leaves(ctx, 9, 3, 10); return err }, errs.Invalid, "9"},
			{"leaf too large", func() error { _, err := l.Append(ctx, [][]byte{make([]byte, tlog.MaxLeafSize+1)}); return err }, errs.Invalid, "65536"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code, tc.mention) })
		}
	})

	t.Run("tampering fails verification", func(t *testing.T) {
		const i = 700
		p, err := l.InclusionProof(ctx, i, cp3.Size)
		if err != nil {
			t.Fatal(err)
		}
		badProof := append([][]byte{}, p...)
		badProof[2] = flip(badProof[2], 17)
		cons, err := l.ConsistencyProof(ctx, cp2.Size, cp3.Size)
		if err != nil {
			t.Fatal(err)
		}

		// A log with other content, of the same origin and size: its
		// checkpoint is not a prefix of this log.
		fork := openLog(t, t.TempDir())
		forkLeaves := make([][]byte, cp2.Size)
		for j := range forkLeaves {
			forkLeaves[j] = leaf(t, "fork", j)
		}
		appendAndAwait(t, fork, forkLeaves)
		forkCP := checkpoint(t, fork)
		forkVerified, err := bundle.VerifyCheckpoint(forkCP.Note, fork.PublicKey())
		if err != nil {
			t.Fatal(err)
		}

		// The log's own key, to sign what a correct log would not.
		raw, err := os.ReadFile(filepath.Join(dir, "signing.key"))
		if err != nil {
			t.Fatal(err)
		}
		own := tlogtest.Signer(t, strings.TrimSpace(string(raw)))
		otherSKey, _ := tlogtest.NewKey(t, origin)
		other := tlogtest.Signer(t, otherSKey)
		body := log.Checkpoint{Origin: origin, Size: cp3.Size, Hash: cp3.RootHash}.Marshal()

		tests := []struct {
			name   string
			verify func() error
		}{
			{"flipped leaf byte", func() error { return bundle.VerifyInclusion(flip(leaves[i], 40), i, p, cp3.Checkpoint) }},
			{"flipped proof byte", func() error { return bundle.VerifyInclusion(leaves[i], i, badProof, cp3.Checkpoint) }},
			{"wrong index", func() error { return bundle.VerifyInclusion(leaves[i], i+1, p, cp3.Checkpoint) }},
			{"proof against the fork", func() error {
				return bundle.VerifyInclusion(leaves[i], i, p, forkVerified)
			}},
			{"checkpoint signed by another key", func() error {
				_, err := bundle.VerifyCheckpoint(signNote(t, other, body), l.PublicKey())
				return err
			}},
			{"checkpoint body edited", func() error {
				edited := bytes.Replace(cp3.Note, []byte("\n1201\n"), []byte("\n1200\n"), 1)
				if bytes.Equal(edited, cp3.Note) {
					t.Fatal("edit did not apply")
				}
				_, err := bundle.VerifyCheckpoint(edited, l.PublicKey())
				return err
			}},
			{"checkpoint of another origin", func() error {
				b := log.Checkpoint{Origin: "elsewhere.test/audit", Size: cp3.Size, Hash: cp3.RootHash}.Marshal()
				_, err := bundle.VerifyCheckpoint(signNote(t, own, b), l.PublicKey())
				return err
			}},
			{"checkpoint of the fork", func() error {
				_, err := bundle.VerifyCheckpoint(forkCP.Note, l.PublicKey())
				return err
			}},
			{"consistency from a non-prefix log", func() error {
				return bundle.VerifyConsistency(forkVerified, cp3.Checkpoint, cons)
			}},
			{"consistency proof of the fork", func() error {
				forkMore := make([][]byte, 10)
				for j := range forkMore {
					forkMore[j] = leaf(t, "fork", int(cp2.Size)+j)
				}
				appendAndAwait(t, fork, forkMore)
				fcp := checkpoint(t, fork)
				fp, err := fork.ConsistencyProof(ctx, cp2.Size, fcp.Size)
				if err != nil {
					t.Fatal(err)
				}
				// Valid for the fork itself…
				if err := bundle.VerifyConsistency(forkVerified, fcp.Checkpoint, fp); err != nil {
					t.Fatalf("fork's own consistency: %v", err)
				}
				// …not from this log's tree.
				return bundle.VerifyConsistency(cp2.Checkpoint, fcp.Checkpoint, fp)
			}},
		}
		// The untampered versions verify, so each failure below is the
		// tampering's doing.
		if err := bundle.VerifyInclusion(leaves[i], i, p, cp3.Checkpoint); err != nil {
			t.Fatal(err)
		}
		if _, err := bundle.VerifyCheckpoint(signNote(t, own, body), l.PublicKey()); err != nil {
			t.Fatal(err)
		}
		if err := bundle.VerifyConsistency(cp2.Checkpoint, cp3.Checkpoint, cons); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if err := tc.verify(); !errors.Is(err, bundle.ErrVerify) {
					t.Fatalf("verification = %v, want ErrVerify", err)
				}
			})
		}
	})

	t.Run("reopen keeps key, size and root", func(t *testing.T) {
		key := l.PublicKey()
		before := checkpoint(t, l)
		closed = true
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, [][]byte{leaf(t, "a", 9999)}); !errors.Is(err, errs.ErrUnavailable) {
			t.Fatalf("Append after Close = %v, want Unavailable", err)
		}

		l2 := openLog(t, dir)
		if l2.PublicKey() != key {
			t.Errorf("public key = %q, want %q", l2.PublicKey(), key)
		}
		after := checkpoint(t, l2)
		if after.Size != before.Size || !bytes.Equal(after.RootHash, before.RootHash) {
			t.Fatalf("after reopen: size %d root %x, want %d %x", after.Size, after.RootHash, before.Size, before.RootHash)
		}
		next := leaf(t, "a", 1201)
		idx := appendAndAwait(t, l2, [][]byte{next})
		if idx[0] != before.Size {
			t.Fatalf("index after reopen = %d, want %d", idx[0], before.Size)
		}
		ref.AppendData(next)
		grown := checkpoint(t, l2)
		if _, err := bundle.VerifyCheckpoint(grown.Note, key); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(grown.RootHash, ref.HashAt(grown.Size)) {
			t.Errorf("root after reopen = %x, want %x", grown.RootHash, ref.HashAt(grown.Size))
		}
		p, err := l2.ConsistencyProof(ctx, cp2.Size, grown.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := bundle.VerifyConsistency(cp2.Checkpoint, grown.Checkpoint, p); err != nil {
			t.Fatal(err)
		}
		got, err := l2.Leaves(ctx, 0, grown.Size, grown.Size)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1202 || !bytes.Equal(got[1201], next) || !bytes.Equal(got[0], leaves[0]) {
			t.Errorf("leaves after reopen: %d, want 1202 ending with the new one", len(got))
		}
	})
}

func signNote(t *testing.T, s note.Signer, body []byte) []byte {
	t.Helper()
	n, err := note.Sign(&note.Note{Text: string(body)}, s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestOpen(t *testing.T) {
	ctx := context.Background()

	t.Run("files and modes", func(t *testing.T) {
		dir := t.TempDir()
		l := openLog(t, dir)
		tests := []struct {
			file string
			mode os.FileMode
		}{
			{"signing.key", 0o600},
			{"public.key", 0o644},
			{"log/checkpoint", 0o644},
		}
		for _, tc := range tests {
			fi, err := os.Stat(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.mode {
				t.Errorf("%s mode = %v, want %v", tc.file, fi.Mode().Perm(), tc.mode)
			}
		}
		if !strings.HasPrefix(l.PublicKey(), origin+"+") {
			t.Errorf("public key %q does not name origin %q", l.PublicKey(), origin)
		}
		if _, err := note.NewVerifier(l.PublicKey()); err != nil {
			t.Errorf("public key: %v", err)
		}
	})

	t.Run("lost public key is restored from the signing key", func(t *testing.T) {
		dir := t.TempDir()
		l, err := tlog.Open(ctx, dir, tlog.Options{Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		key := l.PublicKey()
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, "public.key")); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, dir)
		pub, err := os.ReadFile(filepath.Join(dir, "public.key"))
		if err != nil {
			t.Fatal(err)
		}
		if l.PublicKey() != key || strings.TrimSpace(string(pub)) != key {
			t.Errorf("restored key %q (file %q), want %q", l.PublicKey(), pub, key)
		}
	})

	// a closed log to reopen wrongly
	closedLog := func(t *testing.T) string {
		dir := t.TempDir()
		l, err := tlog.Open(ctx, dir, tlog.Options{Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name    string
		dir     func(t *testing.T) string
		opts    tlog.Options
		code    errs.Code
		mention string
	}{
		{"no origin", func(t *testing.T) string { return t.TempDir() }, tlog.Options{}, errs.Invalid, "origin"},
		{"origin with a space", func(t *testing.T) string { return t.TempDir() }, tlog.Options{Origin: "comity audit"}, errs.Invalid, "origin"},
		{"origin with a plus", func(t *testing.T) string { return t.TempDir() }, tlog.Options{Origin: "comity+audit"}, errs.Invalid, "origin"},
		{"checkpoint interval below Tessera's minimum", func(t *testing.T) string { return t.TempDir() },
			tlog.Options{Origin: origin, CheckpointInterval: 50 * time.Millisecond}, errs.Invalid, "checkpoint_interval"},
		{"second writer", func(t *testing.T) string {
			dir := t.TempDir()
			openLog(t, dir)
			return dir
		}, tlog.Options{Origin: origin}, errs.FailedPrecondition, "another writer"},
		{"other origin", closedLog, tlog.Options{Origin: "elsewhere.test/audit"}, errs.FailedPrecondition, origin},
		{"replaced public key", func(t *testing.T) string {
			dir := closedLog(t)
			_, vkey := tlogtest.NewKey(t, origin)
			if err := os.WriteFile(filepath.Join(dir, "public.key"), []byte(vkey+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}, tlog.Options{Origin: origin}, errs.FailedPrecondition, "public.key"},
		{"lost signing key", func(t *testing.T) string {
			dir := closedLog(t)
			if err := os.Remove(filepath.Join(dir, "signing.key")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, tlog.Options{Origin: origin}, errs.FailedPrecondition, "restore the key"},
		{"replaced signing key", func(t *testing.T) string {
			dir := closedLog(t)
			skey, vkey := tlogtest.NewKey(t, origin)
			// Both files replaced consistently: the published checkpoint
			// is still the old key's.
			if err := os.WriteFile(filepath.Join(dir, "signing.key"), []byte(skey), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "public.key"), []byte(vkey), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}, tlog.Options{Origin: origin}, errs.FailedPrecondition, "does not verify"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := tlog.Open(ctx, tc.dir(t), tc.opts)
			if err == nil {
				_ = l.Close(ctx)
			}
			wantCode(t, err, tc.code, tc.mention)
		})
	}
}

// The raw Tessera baseline of the benchmarks is built from TesseraOptions:
// it refuses what Open refuses, and takes Open's defaults.
func TestTesseraOptions(t *testing.T) {
	skey, _ := tlogtest.NewKey(t, origin)
	signer := tlogtest.Signer(t, skey)
	for _, tc := range []struct {
		opts    tlog.Options
		mention string
	}{
		{tlog.Options{}, "origin"},
		{tlog.Options{Origin: "comity audit"}, "origin"},
		{tlog.Options{Origin: origin, CheckpointInterval: 50 * time.Millisecond}, "checkpoint_interval"},
	} {
		opts, err := tc.opts.TesseraOptions(signer)
		if opts != nil {
			t.Errorf("TesseraOptions(%+v) = %v, want nothing", tc.opts, opts)
		}
		wantCode(t, err, errs.Invalid, tc.mention)
	}
	opts, err := tlog.Options{Origin: origin}.TesseraOptions(signer)
	if err != nil {
		t.Fatal(err)
	}
	if got := opts.BatchMaxSize(); got != tlog.DefaultBatchMaxSize {
		t.Errorf("batch size %d, want %d", got, tlog.DefaultBatchMaxSize)
	}
	if got := opts.BatchMaxAge(); got != tlog.DefaultBatchMaxAge {
		t.Errorf("batch age %v, want %v", got, tlog.DefaultBatchMaxAge)
	}
	if got := opts.CheckpointInterval(); got != tlog.DefaultCheckpointInterval {
		t.Errorf("checkpoint interval %v, want %v", got, tlog.DefaultCheckpointInterval)
	}
}

// bundlePath is the first entry bundle, full once 256 entries are in.
func bundlePath(dir string) string { return filepath.Join(dir, "log", "tile", "entries", "000") }

func flipFileByte(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fillLog makes a closed log of n entries under a new directory.
func fillLog(t *testing.T, n int) (string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	l, err := tlog.Open(context.Background(), dir, tlog.Options{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	leaves := make([][]byte, n)
	for i := range leaves {
		leaves[i] = leaf(t, "f", i)
	}
	appendAndAwait(t, l, leaves)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir, leaves
}

func TestLeavesDetectsDamage(t *testing.T) {
	dir, _ := fillLog(t, 300)
	flipFileByte(t, bundlePath(dir), 100)
	l := openLog(t, dir)
	ctx := context.Background()
	if _, err := l.Leaves(ctx, 0, 300, 300); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Leaves over the damaged bundle = %v, want an error saying the log is damaged", err)
	}
	if got, err := l.Leaves(ctx, 256, 300, 300); err != nil || len(got) != 44 {
		t.Errorf("Leaves of the intact bundle = %d leaves, %v; want 44, nil", len(got), err)
	}
}
