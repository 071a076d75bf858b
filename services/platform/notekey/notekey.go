// Package notekey holds what the audit log's and the witnesses' signed-note
// keys share: the rule of a key's name, and the verifier key derived from
// an Ed25519 signer key, so that a key's public half is always computed
// from its private half rather than trusted from a second file.
package notekey

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// ValidName is the rule of golang.org/x/mod/sumdb/note for key names,
// which note.GenerateKey does not check itself: valid UTF-8, not empty, no
// spaces, no '+'.
func ValidName(name string) bool {
	return name != "" && utf8.ValidString(name) && !strings.ContainsFunc(name, unicode.IsSpace) && !strings.Contains(name, "+")
}

// VerifierKey returns the name of the Ed25519 note signer key skey
// ("PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>") and its note
// verifier key ("<name>+<hash>+<base64(0x01 || public key)>").
func VerifierKey(skey string) (name, vkey string, err error) {
	// SplitN: base64 uses '+' too.
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", "", errors.New("not a note signer key (PRIVATE+KEY+NAME+HASH+KEY)")
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	const algEd25519 = 1
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != algEd25519 {
		return "", "", errors.New("not an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	vkey, err = note.NewEd25519VerifierKey(parts[2], pub)
	return parts[2], vkey, err
}
