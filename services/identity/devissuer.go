package identity

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/syncfile"
	jose "github.com/go-jose/go-jose/v4"
)

// DevIssuerID is the `iss` of the local deployment's dev issuer. The local
// directory lists it as trusted for every state; no other deployment should.
const DevIssuerID = "urn:comity:dev-issuer"

// Where the dev issuer keeps its keys, under the data directory.
const (
	devIssuerDir   = "dev-issuer"
	signingKeyFile = "signing-key.jwk"
	jwksFile       = "jwks.json"
)

// Bounds of a dev token's lifetime: long enough for a working day, short
// enough that a token pasted somewhere stops working soon.
const (
	defaultDevTokenTTL = 8 * time.Hour
	maxDevTokenTTL     = 30 * 24 * time.Hour
)

// devIssuerMu serialises EnsureDevIssuer within a process; across processes
// the key file is published with a hard link, which only one can create.
var devIssuerMu sync.Mutex

// EnsureDevIssuer creates on first call, under dataDir/dev-issuer/, an
// Ed25519 signing key (signing-key.jwk, mode 0600) and its public JWK Set
// (jwks.json, mode 0644), both with kid = the key's RFC 7638 thumbprint.
// Later calls keep the key, so that tokens minted before a restart still
// verify; they rewrite jwks.json only when it no longer matches the key.
// It returns the issuer to configure a Verifier with.
func EnsureDevIssuer(dataDir string) (Issuer, error) {
	return ensureIssuer(dataDir, devIssuerDir, DevIssuerID)
}

// ensureIssuer creates or loads the signing key of a local issuer under
// dataDir/dirName and publishes its JWK Set there.
func ensureIssuer(dataDir, dirName, id string) (Issuer, error) {
	devIssuerMu.Lock()
	defer devIssuerMu.Unlock()

	dir, err := filepath.Abs(filepath.Join(dataDir, dirName))
	if err != nil {
		return Issuer{}, fmt.Errorf("dev issuer: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Issuer{}, fmt.Errorf("dev issuer: %w", err)
	}
	keyPath := filepath.Join(dir, signingKeyFile)
	key, err := loadDevKey(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createDevKey(keyPath)
	}
	if err != nil {
		return Issuer{}, err
	}

	jwksPath := filepath.Join(dir, jwksFile)
	want, err := json.MarshalIndent(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}}, "", "  ")
	if err != nil {
		return Issuer{}, fmt.Errorf("dev issuer: %w", err)
	}
	want = append(want, '\n')
	if have, err := os.ReadFile(jwksPath); err != nil || !bytes.Equal(have, want) {
		if err := writeFileAtomic(jwksPath, want, 0o644); err != nil {
			return Issuer{}, fmt.Errorf("dev issuer: %w", err)
		}
	}
	return Issuer{ID: id, JWKS: jwksPath}, nil
}

// loadDevKey reads the dev issuer's signing key, refusing a file that is not
// the key EnsureDevIssuer writes.
func loadDevKey(path string) (jose.JSONWebKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	var key jose.JSONWebKey
	if err := key.UnmarshalJSON(data); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("dev issuer key %s is not a JWK: %w", path, err)
	}
	if _, ok := key.Key.(ed25519.PrivateKey); !ok {
		return jose.JSONWebKey{}, fmt.Errorf("dev issuer key %s is not an Ed25519 private key", path)
	}
	if kid, err := thumbprint(key); err != nil || kid != key.KeyID {
		return jose.JSONWebKey{}, fmt.Errorf("dev issuer key %s has a kid that is not its thumbprint", path)
	}
	return key, nil
}

// createDevKey generates the signing key and publishes it at path, unless
// another process got there first, in which case that key is returned.
func createDevKey(path string) (jose.JSONWebKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("dev issuer: %w", err)
	}
	key := jose.JSONWebKey{Key: priv, Algorithm: string(jose.EdDSA), Use: "sig"}
	if key.KeyID, err = thumbprint(key); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("dev issuer: %w", err)
	}
	data, err := key.MarshalJSON()
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("dev issuer: %w", err)
	}
	tmp, err := writeTemp(path, data, 0o600)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("dev issuer: %w", err)
	}
	defer os.Remove(tmp)
	// A hard link publishes the complete file and fails when one exists, so
	// that two processes starting together end up with the same key.
	switch err := os.Link(tmp, path); {
	case errors.Is(err, fs.ErrExist):
		return loadDevKey(path)
	case err != nil:
		// Some filesystems have no hard links; a rename is still atomic.
		if err := os.Rename(tmp, path); err != nil {
			return jose.JSONWebKey{}, fmt.Errorf("dev issuer: %w", err)
		}
	}
	return key, nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of key, base64url-encoded.
func thumbprint(key jose.JSONWebKey) (string, error) {
	pub := key.Public()
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// writeFileAtomic replaces path with data so that readers see the old file
// or the new one, never a part.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeTemp writes data, synced and with mode perm, to a new file beside
// path and returns its name.
func writeTemp(path string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	if err = f.Chmod(perm); err != nil {
		f.Close()
	} else {
		err = syncfile.WriteClose(f, data)
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// TokenRequest is what a dev token says.
type TokenRequest struct {
	// Agency is the agency id the token names.
	Agency string
	// Roles are the roles granted; at least one, all known.
	Roles []Role
	// Subject is the `sub`; empty means "dev:<agency>:<first role>".
	Subject string
	// Name is the display name; empty means Subject.
	Name string
	// TTL is how long the token is valid: 0 means 8h; at most 30 days.
	TTL time.Duration
}

// validate reports every problem of r at once, so that a command line can be
// fixed in one go.
func (r TokenRequest) validate() error {
	var vs errs.Violations
	if !agencyIDPattern.MatchString(r.Agency) {
		vs.Add("agency", "%q is not an agency id (lower-case letters, digits and dashes, e.g. kz-gpo)", clip(r.Agency))
	}
	if len(r.Roles) == 0 {
		vs.Add("roles", "at least one role is required (one of %v)", Roles)
	}
	for _, role := range r.Roles {
		if _, ok := ParseRole(string(role)); !ok {
			vs.Add("roles", "%q is not a role (one of %v)", clip(string(role)), Roles)
		}
	}
	if err := checkText("subject", r.Subject, maxSubjectLen, false); err != nil {
		vs.Add("subject", "%v", err)
	}
	if err := checkText("name", r.Name, maxNameLen, false); err != nil {
		vs.Add("name", "%v", err)
	}
	if r.TTL != 0 && (r.TTL < time.Second || r.TTL > maxDevTokenTTL) {
		vs.Add("ttl", "%v is not between 1s and %v", r.TTL, maxDevTokenTTL)
	}
	return vs.Err(errs.Invalid, "the dev token request is invalid")
}

// devClaims is the payload of a dev token.
type devClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	NotBef   int64    `json:"nbf"`
	IssuedAt int64    `json:"iat"`
	ID       string   `json:"jti"`
	Name     string   `json:"name,omitempty"`
	Agency   string   `json:"agency"`
	Roles    []Role   `json:"roles"`
}

// MintDevToken signs a token for req with the dev issuer key found in
// dataDir, valid from now (time.Now when zero). The key is never created
// here: only comity-local, whose directory trusts it, may do that.
func MintDevToken(dataDir string, req TokenRequest, now time.Time) (string, error) {
	if err := req.validate(); err != nil {
		return "", err
	}
	keyPath := filepath.Join(dataDir, devIssuerDir, signingKeyFile)
	key, err := loadDevKey(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return "", errs.Wrap(err, errs.FailedPrecondition,
			"no dev issuer key at %s: start comity-local with data directory %s first", keyPath, dataDir)
	}
	if err != nil {
		return "", err
	}

	if now.IsZero() {
		now = time.Now()
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = defaultDevTokenTTL
	}
	sub := req.Subject
	if sub == "" {
		sub = fmt.Sprintf("dev:%s:%s", req.Agency, req.Roles[0])
	}
	name := req.Name
	if name == "" {
		name = sub
	}
	var jti [16]byte
	rand.Read(jti[:])
	iat := now.Unix()
	payload, err := json.Marshal(devClaims{
		Issuer:   DevIssuerID,
		Subject:  sub,
		Audience: []string{Audience},
		IssuedAt: iat,
		NotBef:   iat,
		Expiry:   iat + int64(ttl/time.Second),
		ID:       base64.RawURLEncoding.EncodeToString(jti[:]),
		Name:     name,
		Agency:   req.Agency,
		Roles:    req.Roles,
	})
	if err != nil {
		return "", fmt.Errorf("dev token: %w", err)
	}

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("dev token: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("dev token: %w", err)
	}
	return jws.CompactSerialize()
}
