package trail

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DigestKeySize is the size of a digest key: 32 random bytes.
const DigestKeySize = 32

// DigestKey is the per-deployment secret the producing services key the
// request digests of their events with (Event.RequestHMAC). Every replica of
// every producing service of a deployment holds the same key, so that
// whoever holds it can prove that an event is of an exact call; an auditor,
// who does not, learns nothing from the digest.
type DigestKey []byte

// LoadDigestKey reads a digest key file: exactly DigestKeySize bytes, as
// EnsureDigestKey writes it.
func LoadDigestKey(path string) (DigestKey, error) {
	if path == "" {
		return nil, errors.New("no audit digest key: give --audit-digest-key FILE (or COMITY_AUDIT_DIGEST_KEY), a file of 32 random bytes " +
			"(e.g. `head -c 32 /dev/urandom > FILE`), the same for comity-request and comity-directory")
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit digest key: %w", err)
	}
	if len(key) != DigestKeySize {
		return nil, fmt.Errorf("audit digest key %s holds %d bytes; it must hold exactly %d random bytes (e.g. `head -c 32 /dev/urandom > %s`)", path, len(key), DigestKeySize, path)
	}
	return DigestKey(key), nil
}

// EnsureDigestKey returns the digest key at path, creating it (0600,
// DigestKeySize random bytes) on first use. Processes that start together
// end up with the same key.
func EnsureDigestKey(path string) (DigestKey, error) {
	key, err := LoadDigestKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit digest key: %w", err)
	}
	fresh := make([]byte, DigestKeySize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("audit digest key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".digest-key-*")
	if err != nil {
		return nil, fmt.Errorf("audit digest key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(fresh); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("audit digest key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("audit digest key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("audit digest key: %w", err)
	}
	// CreateTemp makes the file 0600. A hard link publishes the complete
	// file and fails if another process published one first: that key wins.
	switch err := os.Link(tmp.Name(), path); {
	case errors.Is(err, fs.ErrExist):
		return LoadDigestKey(path)
	case err != nil:
		if err := os.Rename(tmp.Name(), path); err != nil {
			return nil, fmt.Errorf("audit digest key: %w", err)
		}
	}
	return DigestKey(fresh), nil
}

// Sum returns the hex HMAC-SHA256 of message under k.
func (k DigestKey) Sum(message []byte) string {
	mac := hmac.New(sha256.New, k)
	mac.Write(message)
	return hex.EncodeToString(mac.Sum(nil))
}
