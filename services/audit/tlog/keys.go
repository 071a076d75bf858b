package tlog

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/notekey"
	"github.com/comity-mla/comity/services/platform/syncfile"
)

const (
	signingKeyFile = "signing.key"
	publicKeyFile  = "public.key"
	// WitnessPolicyFile is the witness policy in force, published beside
	// publicKeyFile.
	WitnessPolicyFile = "witness-policy"
	lockFile          = "writer.lock"
)

// loadOrCreateKeys returns the log's note signer and verifier key, creating
// the pair on first start. The signing key is the truth: the verifier key is
// derived from it, so that a crash between writing the two files, or a lost
// public.key, heals on the next start instead of leaving a log nobody can
// verify.
func loadOrCreateKeys(dir, origin string) (note.Signer, string, error) {
	skeyPath := filepath.Join(dir, signingKeyFile)
	raw, err := os.ReadFile(skeyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A new key for an existing log would orphan every checkpoint it
		// published; the operator must restore the key instead.
		for _, f := range []string{filepath.Join(dir, publicKeyFile), filepath.Join(dir, "log", "checkpoint")} {
			if _, err := os.Stat(f); err == nil {
				return nil, "", errs.New(errs.FailedPrecondition,
					"%s is missing but the audit log in %s exists (%s): restore the key", signingKeyFile, dir, f)
			}
		}
		skey, _, err := note.GenerateKey(rand.Reader, origin)
		if err != nil {
			return nil, "", fmt.Errorf("audit log: generate signing key: %w", err)
		}
		// 0600: the key signs the log's checkpoints; whoever reads it can
		// forge them.
		if err := writeFileAtomic(skeyPath, []byte(skey+"\n"), 0o600); err != nil {
			return nil, "", fmt.Errorf("audit log: write signing key: %w", err)
		}
		raw = []byte(skey)
	case err != nil:
		return nil, "", fmt.Errorf("audit log: read signing key: %w", err)
	}
	skey := strings.TrimSpace(string(raw))
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", fmt.Errorf("audit log: %s: %w", skeyPath, err)
	}
	if signer.Name() != origin {
		// The origin is in every checkpoint already published; a new one
		// would make the log a different log to its auditors.
		return nil, "", errs.New(errs.FailedPrecondition,
			"the audit log in %s has origin %q, not %q", dir, signer.Name(), origin)
	}
	_, vkey, err := notekey.VerifierKey(skey)
	if err != nil {
		return nil, "", fmt.Errorf("audit log: %s: %w", skeyPath, err)
	}

	pubPath := filepath.Join(dir, publicKeyFile)
	pub, err := os.ReadFile(pubPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// 0644: operators and auditors fetch it to verify checkpoints.
		if err := writeFileAtomic(pubPath, []byte(vkey+"\n"), 0o644); err != nil {
			return nil, "", fmt.Errorf("audit log: write public key: %w", err)
		}
	case err != nil:
		return nil, "", fmt.Errorf("audit log: read public key: %w", err)
	case strings.TrimSpace(string(pub)) != vkey:
		// Someone replaced one of the keys. Overwriting either would hide
		// it; auditors holding the old public key must hear about it.
		return nil, "", errs.New(errs.FailedPrecondition,
			"%s does not match %s in %s", publicKeyFile, signingKeyFile, dir)
	}
	return signer, vkey, nil
}

// writeFileAtomic writes data to path so that a reader (or a restart after a
// crash) sees either no file or the whole of it, never a torn key.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	// Chmod, not the umask-filtered create mode, so the file has exactly
	// perm.
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncfile.SyncDir(dir)
}

// lockDir takes the log's writer lock, failing at once when another Log
// holds it, in this process or another. Tessera's own POSIX locks only
// serialise each step of sequencing and publishing; the log has one writer
// (DESIGN §6), and a second one is a misconfigured deployment to report, not
// to queue behind. flock, unlike fcntl locks, also excludes a second Open in
// the same process.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("audit log: open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errs.Wrap(err, errs.FailedPrecondition,
				"the audit log in %s is open by another writer", dir)
		}
		return nil, fmt.Errorf("audit log: lock %s: %w", dir, err)
	}
	return f, nil
}

// LoadOrCreatePublicKey returns the note verifier key of the log in dir
// (dir/public.key), creating the log's key pair as Open would when there is
// no log there yet. It lets a deployment configure the log's witnesses,
// which must know this key, before it opens the log (comity-local runs
// both in one process). It takes no writer lock: it only ever creates keys
// that do not exist, atomically, and reads those that do.
func LoadOrCreatePublicKey(dir, origin string) (string, error) {
	if !notekey.ValidName(origin) {
		return "", errs.New(errs.Invalid, "audit log origin must be a non-empty note key name: no spaces, no '+' (got %q)", origin)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("audit log: %w", err)
	}
	_, vkey, err := loadOrCreateKeys(dir, origin)
	return vkey, err
}
