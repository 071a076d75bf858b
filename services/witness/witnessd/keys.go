package witnessd

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/platform/notekey"
	"github.com/comity-mla/comity/services/platform/syncfile"
)

// The files of Config.KeyDir.
const (
	// KeyFile holds the witness's Ed25519 note signer key (0600).
	KeyFile = "witness.key"
	// PublicKeyFile holds its cosignature/v1 verifier key (0644), the key
	// to enter in the directory and in witness policies.
	PublicKeyFile = "witness.pub"
)

// LoadOrCreateKey returns the witness's cosignature/v1 signer and its
// verifier key (a vkey of algorithm 0x04, as c2sp.org/tlog-cosignature
// names it), creating the key in dir on first start.
//
// The signer key is the truth: witness.pub is derived from it, rewritten
// when it is missing and refused when it differs, so that a replaced key is
// noticed rather than published. A missing witness.key beside an existing
// witness.pub is an error: a new key would make every cosignature made so
// far unverifiable against the key the policies hold; the operator restores
// the key instead. A key named other than name is an error naming both.
func LoadOrCreateKey(dir, name string) (signer note.Signer, vkey string, err error) {
	if !notekey.ValidName(name) {
		return nil, "", fmt.Errorf("witness key name %q: want a non-empty name without spaces or '+', e.g. witness.kz.comity.local", name)
	}
	keyPath, pubPath := filepath.Join(dir, KeyFile), filepath.Join(dir, PublicKeyFile)
	raw, err := os.ReadFile(keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(pubPath); err == nil {
			return nil, "", fmt.Errorf("%s is missing but %s exists: restore the witness's key rather than make a new one (its cosignatures are checked against the published key)", keyPath, pubPath)
		}
		if raw, err = createKey(dir, keyPath, name); err != nil {
			return nil, "", fmt.Errorf("witness key: %w", err)
		}
	case err != nil:
		return nil, "", fmt.Errorf("witness key: %w", err)
	}
	skey := strings.TrimSpace(string(raw))
	keyName, edVKey, err := notekey.VerifierKey(skey)
	if err != nil {
		return nil, "", fmt.Errorf("witness key %s: %w", keyPath, err)
	}
	if keyName != name {
		return nil, "", fmt.Errorf("the witness key in %s is named %q, not %q: give --name %s, or another --key-dir for a new witness", keyPath, keyName, name, keyName)
	}
	if vkey, err = fnote.VKeyToCosignatureV1(edVKey); err != nil {
		return nil, "", fmt.Errorf("witness key %s: %w", keyPath, err)
	}
	signer, err = fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, "", fmt.Errorf("witness key %s: %w", keyPath, err)
	}

	pub, err := os.ReadFile(pubPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// 0644: oversight bodies and the operator copy it into the
		// directory and the witness policy.
		tmp, err := writeTemp(pubPath, []byte(vkey+"\n"), 0o644)
		if err == nil {
			err = os.Rename(tmp, pubPath)
			os.Remove(tmp)
		}
		if err != nil {
			return nil, "", fmt.Errorf("witness public key: %w", err)
		}
	case err != nil:
		return nil, "", fmt.Errorf("witness public key: %w", err)
	case strings.TrimSpace(string(pub)) != vkey:
		return nil, "", fmt.Errorf("%s does not match %s: one of them was replaced; restore the pair (the published key is %s)", pubPath, keyPath, strings.TrimSpace(string(pub)))
	}
	return signer, vkey, nil
}

// createKey generates a key named name and publishes it at keyPath, and
// returns what keyPath then holds: a hard link publishes the complete file
// and fails when one exists, so that two processes starting together end
// up with the same key and neither replaces the other's.
func createKey(dir, keyPath, name string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return nil, err
	}
	// 0600: whoever reads it can cosign in the witness's name.
	tmp, err := writeTemp(keyPath, []byte(skey+"\n"), 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, keyPath); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	// The key must outlast a crash once it has cosigned anything.
	if err := syncfile.SyncDir(dir); err != nil {
		return nil, err
	}
	return os.ReadFile(keyPath)
}

// writeTemp writes data, synced and with mode perm, to a new file beside
// path and returns its name.
func writeTemp(path string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	if err = f.Chmod(perm); err != nil {
		f.Close()
	} else {
		err = syncfile.WriteClose(f, data)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
