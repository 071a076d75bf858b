package witnessd_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// FuzzAddCheckpoint posts bodies to a witness seeded with a log's
// checkpoint: the request line and proof (prefix) and a checkpoint text,
// signed with the log's key when sign is set and the text is a note's.
// Whatever the body, the witness answers with a C2SP status, never 500 nor
// a dropped connection, and what it stores is always a checkpoint of the
// log's one history, never smaller than before: the only way past the seed
// is a valid consistency proof of the real tree.
func FuzzAddCheckpoint(f *testing.F) {
	l := newLog(f, origin, 32)
	forked := l.fork(6, 32)
	cfg := config(f, "sqlite", f.TempDir(), l)
	cfg.Seed = l.checkpoint(f, 8)
	w, _ := start(f, cfg)

	text := func(l *testLog, size uint64) string {
		return string(log.Checkpoint{Origin: l.origin, Size: size, Hash: l.tree.HashAt(size)}.Marshal())
	}
	f.Add(body(8, l.proof(f, 8, 12), nil), text(l, 12), true)
	f.Add(body(8, l.proof(f, 8, 31), nil), text(l, 31), true)
	f.Add(body(8, nil, nil), text(l, 8), true)
	f.Add(body(8, nil, nil), text(forked, 8), true)
	f.Add(body(8, forked.proof(f, 8, 20), nil), text(forked, 20), true)
	f.Add(body(0, nil, nil), text(l, 4), true)
	f.Add(body(8, nil, nil), text(l, 0), true)
	f.Add("old 8\n\n", string(l.checkpoint(f, 9)), false)
	f.Add("old 18446744073709551615\n\n", text(l, 12)+"extra\n", true)
	f.Add("", "", false)

	allowed := map[int]bool{200: true, 400: true, 403: true, 404: true, 409: true, 413: true, 422: true, 429: true}
	stored := uint64(8)
	f.Fuzz(func(t *testing.T, prefix, cpText string, sign bool) {
		cp := []byte(cpText)
		if sign {
			if b, err := note.Sign(&note.Note{Text: cpText}, l.signer); err == nil {
				cp = b
			}
		}
		a := do(t, http.MethodPost, w.url+"/add-checkpoint", prefix+string(cp))
		if !allowed[a.status] || len(a.body) == 0 {
			t.Fatalf("answer %v", a)
		}
		if a.status == http.StatusOK {
			cosigned(t, w, cp, a.body)
		}
		got := w.latest(t)
		n, err := note.Open([]byte(got.body), note.VerifierList(w.verifier(t)))
		if err != nil {
			t.Fatalf("GET /checkpoint = %v: %v", got, err)
		}
		var c log.Checkpoint
		if _, err := c.Unmarshal([]byte(n.Text)); err != nil {
			t.Fatalf("stored checkpoint %q: %v", n.Text, err)
		}
		if c.Origin != origin || c.Size < stored || c.Size > l.tree.Size() || !bytes.Equal(c.Hash, l.tree.HashAt(c.Size)) {
			t.Fatalf("the witness stored %q after %q (it had size %d): not a checkpoint of the log's history at or past it", n.Text, prefix+string(cp), stored)
		}
		stored = c.Size
	})
}
