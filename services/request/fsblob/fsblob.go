// Package fsblob keeps attachment content as files under a directory: the
// default blob store of comity-request (DESIGN §5).
//
// Layout: dir/ab/cdef… holds the blob whose key is "abcdef…" (32 lower-case
// hex characters); dir/tmp holds uploads in progress. Sharding on the first
// two characters keeps any one directory small enough to list and back up.
package fsblob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/syncfile"
	"github.com/comity-mla/comity/services/request"
)

var _ request.Blobs = (*Store)(nil)

const (
	// keyLen is the length of a key in hex: 128 random bits, so that keys
	// neither collide nor can be guessed.
	keyLen = 32
	// tmpDir is not two hex characters, so it can never be mistaken for a
	// shard.
	tmpDir = "tmp"
	// staleAfter is how long a temporary file may go unwritten before New
	// treats it as left behind by a crash. An upload in progress writes its
	// file as bytes arrive, so its modification time stays recent.
	staleAfter = time.Hour
	// bufSize is the copy buffer: the most content held in memory per Put.
	bufSize = 64 << 10
)

// bufs recycles copy buffers, so that a busy store does not allocate 64 KiB
// per upload.
var bufs = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Store is a blob store on the local filesystem. It is safe for concurrent
// use, including by several processes on the same directory, because every
// blob has its own random key and reaches its final name by an atomic rename.
type Store struct {
	dir string
}

// New returns a store keeping its blobs under dir, creating dir (mode 0700,
// since attachments are case evidence) when it does not exist. It removes
// temporary files older than an hour, left by uploads that a crash
// interrupted.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("fsblob: empty directory")
	}
	s := &Store{dir: filepath.Clean(dir)}
	if err := os.MkdirAll(s.tmp(), 0o700); err != nil {
		return nil, fmt.Errorf("fsblob: %w", err)
	}
	if err := s.removeStale(time.Now().Add(-staleAfter)); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) tmp() string { return filepath.Join(s.dir, tmpDir) }

// removeStale removes the temporary files last written before cutoff. A
// failed upload removes its own file; only a crash leaves one behind.
func (s *Store) removeStale(cutoff time.Time) error {
	entries, err := os.ReadDir(s.tmp())
	if err != nil {
		return fmt.Errorf("fsblob: %w", err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // another process removed it first
		}
		if err != nil {
			return fmt.Errorf("fsblob: %w", err)
		}
		if !info.Mode().IsRegular() || !info.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(s.tmp(), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("fsblob: removing stale upload: %w", err)
		}
	}
	return nil
}

// path returns where the blob of a valid key lives.
func (s *Store) path(key string) string {
	return filepath.Join(s.dir, key[:2], key[2:])
}

// Put streams r into a new blob of at most maxBytes bytes, computing its
// SHA-256 as it goes. It fails with errs.ResourceExhausted when the content
// is longer than maxBytes, with errs.Invalid when wantSHA256 is not empty and
// differs from the content's digest (or is not 64 lower-case hex
// characters), and with the context's error when ctx ends before the content
// does; in every failure nothing is kept. It returns once the blob is durable
// on disk.
//
// Cancellation is noticed between reads; a Read that blocks forever blocks
// Put, so r should itself be bound to ctx (as a gRPC stream is).
func (s *Store) Put(ctx context.Context, r io.Reader, maxBytes int64, wantSHA256 string) (key, sha256Hex string, size int64, err error) {
	if maxBytes < 0 {
		return "", "", 0, fmt.Errorf("fsblob: negative size limit %d", maxBytes)
	}
	if wantSHA256 != "" && !isLowerHex(wantSHA256, sha256.Size*2) {
		// Fail before reading anything: no content can match this.
		return "", "", 0, (errs.Violations{{Field: "sha256", Description: fmt.Sprintf("%q is not 64 lower-case hex characters", wantSHA256)}}).Err(
			errs.Invalid, "invalid declared SHA-256")
	}
	if err := ctx.Err(); err != nil {
		return "", "", 0, err
	}

	f, err := os.CreateTemp(s.tmp(), "put-*")
	if err != nil {
		return "", "", 0, fmt.Errorf("fsblob: %w", err)
	}
	kept := false
	defer func() {
		if !kept {
			// Close may already have happened; the second one's error is
			// meaningless. What matters is that the partial content goes.
			f.Close()
			os.Remove(f.Name())
		}
	}()

	w := &hashWriter{f: f, h: sha256.New()}
	bp := bufs.Get().(*[]byte)
	// One byte past the limit is enough to know the content is too long,
	// without reading (and writing) an attacker's endless stream.
	_, err = io.CopyBuffer(w, &ctxReader{ctx: ctx, r: io.LimitReader(r, maxBytes+1)}, *bp)
	bufs.Put(bp)
	if err != nil {
		return "", "", 0, fmt.Errorf("fsblob: storing content: %w", err)
	}
	if w.n > maxBytes {
		return "", "", 0, errs.New(errs.ResourceExhausted, "attachment is larger than the limit of %d bytes", maxBytes)
	}
	got := hex.EncodeToString(w.h.Sum(nil))
	if wantSHA256 != "" && got != wantSHA256 {
		// Named as the upload's field, so that a client knows which of its
		// inputs to check.
		return "", "", 0, (errs.Violations{{Field: "sha256", Description: fmt.Sprintf("the file's SHA-256 is %s, but %s was declared", got, wantSHA256)}}).Err(
			errs.Invalid, "attachment SHA-256 does not match")
	}

	// Read-only so that nothing in this process can change evidence once
	// stored; Sync before the rename so the name never points at content
	// that a crash could still lose.
	if err := f.Chmod(0o400); err != nil {
		return "", "", 0, fmt.Errorf("fsblob: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", "", 0, fmt.Errorf("fsblob: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", "", 0, fmt.Errorf("fsblob: %w", err)
	}

	key, err = newKey()
	if err != nil {
		return "", "", 0, err
	}
	final := s.path(key)
	shard := filepath.Dir(final)
	if err := s.mkShard(shard); err != nil {
		return "", "", 0, err
	}
	// The key has 128 random bits, so the rename never replaces another
	// blob; it is what makes the blob appear whole or not at all.
	if err := os.Rename(f.Name(), final); err != nil {
		return "", "", 0, fmt.Errorf("fsblob: %w", err)
	}
	kept = true
	// The rename is durable only once the directory holding the new name is.
	if err := syncfile.SyncDir(shard); err != nil {
		os.Remove(final)
		return "", "", 0, err
	}
	return key, got, w.n, nil
}

// mkShard creates a shard directory when it is missing, and makes its entry
// in the store's directory durable, since the blob's name depends on it.
func (s *Store) mkShard(shard string) error {
	err := os.Mkdir(shard, 0o700)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fsblob: %w", err)
	}
	return syncfile.SyncDir(s.dir)
}

// Open returns the content of the blob with that key. It fails with
// errs.NotFound when there is no such blob and with errs.Invalid when key is
// not a key this store could have made, so that no key reaches outside the
// store's directory.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errs.New(errs.NotFound, "blob %s does not exist", key)
	}
	if err != nil {
		return nil, fmt.Errorf("fsblob: %w", err)
	}
	return f, nil
}

// Delete removes the blob with that key, overwriting its content with
// zeros first and syncing that to disk: an erased attachment's content
// (DESIGN §10) must not stay readable in the file system's free blocks, as
// far as a file system that writes in place allows (a copy-on-write one,
// or an SSD's remapping, may keep the old blocks; the README says so).
// Deleting a blob that does not exist succeeds, so that a cleanup or an
// erasure can be finished again after a crash. It fails with errs.Invalid
// when key is not a key this store could have made.
//
// The shard directory stays even when empty: removing it could race with a
// Put renaming a new blob into it.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := s.path(key)
	err := overwrite(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fsblob: %w", err)
	}
	// Without this a crash could bring back content whose attachment was
	// never recorded, or was erased.
	return syncfile.SyncDir(filepath.Dir(p))
}

// overwrite writes zeros over the whole content of the blob file at p and
// syncs them. Blobs are read-only once stored; the file is made writable
// for this, its last use.
func overwrite(p string) error {
	if err := os.Chmod(p, 0o600); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return fmt.Errorf("fsblob: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return fmt.Errorf("fsblob: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("fsblob: %w", err)
	}
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	zeros := *bp
	clear(zeros)
	for left := info.Size(); left > 0; {
		n := min(left, int64(len(zeros)))
		if _, err := f.Write(zeros[:n]); err != nil {
			return fmt.Errorf("fsblob: overwriting %s: %w", filepath.Base(p), err)
		}
		left -= n
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsblob: overwriting %s: %w", filepath.Base(p), err)
	}
	return f.Close()
}

// newKey returns a random key. Keys are never derived from anything the
// caller sends, so a caller can neither choose nor predict where content goes.
func newKey() (string, error) {
	var b [keyLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("fsblob: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// checkKey accepts exactly the keys newKey makes; anything else (a path
// separator, "..", upper case) could name a file outside the store.
func checkKey(key string) error {
	if !isLowerHex(key, keyLen) {
		return errs.New(errs.Invalid, "blob key is malformed")
	}
	return nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hashWriter writes to the file and the digest at once, so the content is
// read from the caller only once and never kept whole.
type hashWriter struct {
	f *os.File
	h hash.Hash
	n int64
}

func (w *hashWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n]) // a hash.Hash never fails
	w.n += int64(n)
	return n, err
}

// ctxReader stops a copy between reads once ctx ends, so a cancelled upload
// stops consuming the caller's stream and disk.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
