package fsblob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request/fsblob"
)

func newStore(t *testing.T) (*fsblob.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := fsblob.New(dir)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, dir
}

// read returns the content of the blob key, failing t if it cannot.
func read(t *testing.T, s *fsblob.Store, key string) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading blob %s: %v", key, err)
	}
	return b
}

// files lists the regular files under dir, wherever they are.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return out
}

func hexSHA(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewCreatesPrivateDir(t *testing.T) {
	_, dir := newStore(t)
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o700 {
		t.Errorf("store directory mode = %v, want 0700", got)
	}
}

func TestPutRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		declare bool
	}{
		{"empty", nil, true},
		{"one byte", []byte{0x42}, true},
		{"3 MiB random", randomBytes(t, 3<<20), true},
		{"3 MiB random, no declared digest", randomBytes(t, 3<<20), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newStore(t)
			ctx := t.Context()
			want := hexSHA(tc.data)
			declared := ""
			if tc.declare {
				declared = want
			}
			key, sum, size, err := s.Put(ctx, bytes.NewReader(tc.data), 3<<20, declared)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if sum != want {
				t.Errorf("Put digest = %s, want %s", sum, want)
			}
			if size != int64(len(tc.data)) {
				t.Errorf("Put size = %d, want %d", size, len(tc.data))
			}
			if strings.Contains(key, want[:16]) {
				t.Errorf("key %s derives from the content", key)
			}

			got := read(t, s, key)
			if !bytes.Equal(got, tc.data) {
				t.Errorf("blob content differs: got %d bytes (sha %s), want %d (sha %s)", len(got), hexSHA(got), len(tc.data), want)
			}

			fl := files(t, dir)
			if len(fl) != 1 {
				t.Fatalf("files under store = %v, want exactly the blob", fl)
			}
			if strings.HasPrefix(fl[0], filepath.Join(dir, "tmp")) {
				t.Errorf("blob left in the temporary directory: %s", fl[0])
			}
			info, err := os.Stat(fl[0])
			if err != nil {
				t.Fatal(err)
			}
			if perm := info.Mode().Perm(); perm != 0o400 {
				t.Errorf("blob mode = %v, want 0400 (immutable)", perm)
			}
		})
	}
}

// countingReader is an endless source that counts what it hands out.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	r.n += int64(len(p))
	return len(p), nil
}

// failingReader hands out n bytes and then fails.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

// cancellingReader cancels its context after handing out n bytes, and goes
// on forever.
type cancellingReader struct {
	n      int
	cancel context.CancelFunc
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cancel()
	}
	r.n -= len(p)
	return len(p), nil
}

func TestPutFailuresKeepNothing(t *testing.T) {
	const limit = 1 << 20
	errBoom := errors.New("connection reset")
	content := []byte("the record of the hearing")
	otherSHA := hexSHA([]byte("something else"))

	tests := []struct {
		name string
		// setup returns the reader and context for Put, and a check run
		// after it.
		setup    func(t *testing.T) (io.Reader, context.Context, func(t *testing.T))
		declared string
		check    func(t *testing.T, err error)
	}{
		{
			name:     "digest mismatch",
			declared: otherSHA,
			setup: func(t *testing.T) (io.Reader, context.Context, func(*testing.T)) {
				return bytes.NewReader(content), t.Context(), nil
			},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errs.ErrInvalid) {
					t.Fatalf("err = %v, want errs.Invalid", err)
				}
				for _, d := range []string{hexSHA(content), otherSHA} {
					if !strings.Contains(err.Error(), d) {
						t.Errorf("error %q does not name digest %s", err, d)
					}
				}
			},
		},
		{
			name:     "malformed declared digest",
			declared: strings.ToUpper(hexSHA(content)),
			setup: func(t *testing.T) (io.Reader, context.Context, func(*testing.T)) {
				return bytes.NewReader(content), t.Context(), nil
			},
			check: wantCode(errs.Invalid),
		},
		{
			name: "over the limit",
			setup: func(t *testing.T) (io.Reader, context.Context, func(*testing.T)) {
				r := &countingReader{}
				return r, t.Context(), func(t *testing.T) {
					if r.n > limit+64<<10 {
						t.Errorf("read %d bytes of an endless stream, want at most limit + 64 KiB = %d", r.n, limit+64<<10)
					}
				}
			},
			check: func(t *testing.T, err error) {
				wantCode(errs.ResourceExhausted)(t, err)
				if !strings.Contains(err.Error(), fmt.Sprint(limit)) {
					t.Errorf("error %q does not name the limit", err)
				}
			},
		},
		{
			name: "one byte over the limit",
			setup: func(t *testing.T) (io.Reader, context.Context, func(*testing.T)) {
				return bytes.NewReader(make([]byte, limit+1)), t.Context(), nil
			},
			check: wantCode(errs.ResourceExhausted),
		},
		{
			name: "reader fails mid-way",
			setup: func(t *testing.T) (io.Reader, context.Context, func(*testing.T)) {
				return &failingReader{n: 300 << 10, err: errBoom}, t.Context(), nil
			},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errBoom) {
					t.Fatalf("err = %v, want the reader's error", err)
				}
			},
		},
		{
			name: "context cancelled before",
			setup: func(t *testing.T) (io.Reader, context.Context, func(*testing.T)) {
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				return bytes.NewReader(content), ctx, nil
			},
			check: wantErr(context.Canceled),
		},
		{
			name: "context cancelled mid-stream",
			setup: func(t *testing.T) (io.Reader, context.Context, func(*testing.T)) {
				ctx, cancel := context.WithCancel(t.Context())
				return &cancellingReader{n: 200 << 10, cancel: cancel}, ctx, nil
			},
			check: wantErr(context.Canceled),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newStore(t)
			r, ctx, after := tc.setup(t)
			key, _, _, err := s.Put(ctx, r, limit, tc.declared)
			if err == nil {
				t.Fatalf("Put succeeded with key %s, want an error", key)
			}
			tc.check(t, err)
			if after != nil {
				after(t)
			}
			if fl := files(t, dir); len(fl) != 0 {
				t.Errorf("files left under the store after a failed Put: %v", fl)
			}
		})
	}
}

func wantCode(c errs.Code) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if got := errs.CodeOf(err); got != c {
			t.Fatalf("err = %v (code %v), want code %v", err, got, c)
		}
	}
}

func wantErr(target error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Fatalf("err = %v, want %v", err, target)
		}
	}
}

func TestOpenAndDeleteRefuseForeignKeys(t *testing.T) {
	s, dir := newStore(t)
	ctx := t.Context()
	// A file next to the store that a traversal would reach.
	secret := filepath.Join(filepath.Dir(dir), "secret")
	if err := os.WriteFile(secret, []byte("not a blob"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A real blob, so that keys built from it are tried too.
	key, _, _, err := s.Put(ctx, strings.NewReader("evidence"), 100, "")
	if err != nil {
		t.Fatal(err)
	}

	for _, k := range []string{
		"",
		"../../etc/passwd",
		"../secret",
		"../" + strings.Repeat("a", 29), // right length
		"/etc/passwd",
		key[:2] + "/" + key[2:],
		key[:31],
		key + "0",
		strings.ToUpper(key),
		"tmp/" + key[:28],
		key[:31] + "\x00",
		strings.Repeat(".", 32),
	} {
		t.Run(fmt.Sprintf("%q", k), func(t *testing.T) {
			rc, err := s.Open(ctx, k)
			if err == nil {
				rc.Close()
			}
			wantCode(errs.Invalid)(t, err)
			wantCode(errs.Invalid)(t, s.Delete(ctx, k))
		})
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("file outside the store: %v", err)
	}
	if rc, err := s.Open(ctx, key); err != nil {
		t.Errorf("blob after refused deletes: %v", err)
	} else {
		rc.Close()
	}
}

func TestOpenUnknownAndDeleted(t *testing.T) {
	s, dir := newStore(t)
	ctx := t.Context()
	key, _, _, err := s.Put(ctx, strings.NewReader("court order"), 100, "")
	if err != nil {
		t.Fatal(err)
	}
	other, _, _, err := s.Put(ctx, strings.NewReader("translation"), 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if key == other {
		t.Fatalf("two Puts returned the same key %s", key)
	}

	tests := []struct {
		name string
		key  string
		pre  func(t *testing.T)
	}{
		{"never stored", strings.Repeat("0", 32), nil},
		{"deleted", key, func(t *testing.T) {
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}},
		{"deleted twice", key, func(t *testing.T) {
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("second Delete: %v, want success so cleanups can be retried", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pre != nil {
				tc.pre(t)
			}
			rc, err := s.Open(ctx, tc.key)
			if err == nil {
				rc.Close()
			}
			if !errors.Is(err, errs.ErrNotFound) {
				t.Fatalf("Open = %v, want errs.NotFound", err)
			}
		})
	}

	// Deleting one blob leaves the other.
	if got := read(t, s, other); string(got) != "translation" {
		t.Errorf("other blob = %q", got)
	}
	if fl := files(t, dir); len(fl) != 1 {
		t.Errorf("files under store = %v, want only the other blob", fl)
	}
}

func TestNewRemovesStaleUploads(t *testing.T) {
	s, dir := newStore(t)
	key, _, _, err := s.Put(t.Context(), strings.NewReader("kept"), 100, "")
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "tmp", "put-crashed")
	fresh := filepath.Join(dir, "tmp", "put-in-progress")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	s2, err := fsblob.New(dir)
	if err != nil {
		t.Fatalf("New on an existing store: %v", err)
	}
	tests := []struct {
		name string
		path string
		want bool
	}{
		{"stale upload removed", stale, false},
		{"upload in progress kept", fresh, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := os.Stat(tc.path)
			if exists := err == nil; exists != tc.want {
				t.Errorf("%s exists = %v, want %v", tc.path, exists, tc.want)
			}
		})
	}
	rc, err := s2.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("blob stored before the restart: %v", err)
	}
	rc.Close()
}

func TestConcurrentPuts(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	const n = 16
	data := make([][]byte, n)
	keys := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		data[i] = randomBytes(t, 100<<10+i)
		wg.Go(func() {
			k, _, _, err := s.Put(ctx, bytes.NewReader(data[i]), 1<<20, hexSHA(data[i]))
			if err != nil {
				t.Errorf("Put %d: %v", i, err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i, k := range keys {
		if got := read(t, s, k); !bytes.Equal(got, data[i]) {
			t.Errorf("blob %d has other content", i)
		}
	}
}

// zeroReader is an endless source that allocates nothing.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestPutMemoryIsFlat checks that storing a large blob does not allocate in
// proportion to its size: the content is streamed, never held.
func TestPutMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	s, _ := newStore(t)
	const size = 64 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, got, err := s.Put(t.Context(), io.LimitReader(zeroReader{}, size), size, "")
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got != size {
		t.Fatalf("size = %d, want %d", got, size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Errorf("storing %d MiB allocated %d bytes, want under 2 MiB", size>>20, alloc)
	}
}

func BenchmarkPut100MiB(b *testing.B) {
	s, err := fsblob.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	const size = 100 << 20
	ctx := b.Context()
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		key, _, n, err := s.Put(ctx, io.LimitReader(zeroReader{}, size), size, "")
		if err != nil {
			b.Fatal(err)
		}
		if n != size {
			b.Fatalf("size = %d", n)
		}
		b.StopTimer()
		if err := s.Delete(ctx, key); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// TestDeleteOverwritesContent: an erased blob's content is overwritten
// before its name goes, so that the file's blocks no longer hold it (seen
// through a second link to the same file, which Delete does not know of);
// the blob is gone, and deleting it again after a crash succeeds.
func TestDeleteOverwritesContent(t *testing.T) {
	s, dir := newStore(t)
	ctx := t.Context()
	content := strings.Repeat("seized chat log of the suspect; ", 5000)
	key, _, _, err := s.Put(ctx, strings.NewReader(content), 1<<20, "")
	if err != nil {
		t.Fatal(err)
	}
	witness := filepath.Join(t.TempDir(), "witness")
	if err := os.Link(filepath.Join(dir, key[:2], key[2:]), witness); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	got, err := os.ReadFile(witness)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(content) || strings.Trim(string(got), "\x00") != "" {
		t.Fatalf("the file's blocks after Delete: %d bytes, %q…; want the %d bytes all zero", len(got), got[:min(len(got), 40)], len(content))
	}
	if rc, err := s.Open(ctx, key); !errors.Is(err, errs.ErrNotFound) {
		if err == nil {
			rc.Close()
		}
		t.Fatalf("Open after Delete = %v; want NotFound", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete again (an erasure finished after a crash) = %v; want success", err)
	}
}
