package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/comity-mla/comity/services/errs"
	jose "github.com/go-jose/go-jose/v4"
)

// How often an issuer's JWK Set is fetched again.
const (
	// refreshInterval bounds the fetches an unknown kid triggers, so that
	// tokens with made-up key ids cannot turn the verifier into a load
	// generator against an identity provider.
	refreshInterval = 30 * time.Second
	// retryInterval is the shorter wait after a failed fetch, so that a
	// service recovers quickly from a blip of its identity provider.
	retryInterval = 5 * time.Second
	// keyMaxAge is how long keys are used without looking at the JWK Set
	// again, so that a key the issuer withdrew stops being accepted.
	keyMaxAge = 10 * time.Minute
	// maxJWKSSize bounds what is read of a JWK Set.
	maxJWKSSize = 1 << 20
	// minRSABits is the smallest RSA key trusted to sign tokens.
	minRSABits = 2048
)

// keySource is where an issuer's JWK Set is read from.
type keySource interface {
	fetch(ctx context.Context) ([]byte, error)
	// remote reports whether fetching may need the network.
	remote() bool
}

type fileSource struct{ path string }

func (s fileSource) remote() bool { return false }

func (s fileSource) fetch(context.Context) ([]byte, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, s.path)
}

type urlSource struct {
	url    string
	client *http.Client
}

func (s urlSource) remote() bool { return true }

func (s urlSource) fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", s.url, resp.Status)
	}
	return readLimited(resp.Body, s.url)
}

func readLimited(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJWKSSize {
		return nil, fmt.Errorf("JWKS %s is larger than %d bytes", name, maxJWKSSize)
	}
	return b, nil
}

// verificationKey is one parsed public key of an issuer.
type verificationKey struct {
	kid string
	// alg is the JWK's `alg`, empty when the JWK does not restrict it.
	alg jose.SignatureAlgorithm
	pub crypto.PublicKey
}

// fits reports whether k may check a signature made with alg: the key type
// must be the algorithm's, so that no key is ever used with an algorithm it
// was not published for.
func (k verificationKey) fits(alg jose.SignatureAlgorithm) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch pub := k.pub.(type) {
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	case *ecdsa.PublicKey:
		return alg == jose.ES256 && pub.Curve == elliptic.P256()
	case *rsa.PublicKey:
		return alg == jose.RS256 || alg == jose.PS256
	}
	return false
}

// keySet is one fetch of an issuer's JWK Set.
type keySet struct {
	keys    []verificationKey
	fetched time.Time
}

// issuerKeys caches the keys of one issuer. Readers take the current keySet
// without locking; fetches are serialised by sem, a one-slot semaphore that,
// unlike a mutex, lets a waiter give up when its context ends.
type issuerKeys struct {
	id  string
	src keySource
	set atomic.Pointer[keySet]

	sem         chan struct{}
	lastAttempt time.Time // guarded by sem
	lastFailed  bool      // guarded by sem
}

func newIssuerKeys(id string, src keySource) *issuerKeys {
	return &issuerKeys{id: id, src: src, sem: make(chan struct{}, 1)}
}

// load fetches and parses the JWK Set. The caller holds sem, or is the only
// user of ik.
func (ik *issuerKeys) load(ctx context.Context, now time.Time) error {
	ik.lastAttempt = now
	ik.lastFailed = true
	data, err := ik.src.fetch(ctx)
	if err != nil {
		return err
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return err
	}
	ik.set.Store(&keySet{keys: keys, fetched: now})
	ik.lastFailed = false
	return nil
}

// refresh fetches the JWK Set again unless that was done too recently. With
// wait unset it gives up at once when another fetch is in progress.
func (ik *issuerKeys) refresh(ctx context.Context, now time.Time, wait bool) error {
	if wait {
		select {
		case ik.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		select {
		case ik.sem <- struct{}{}:
		default:
			return nil
		}
	}
	defer func() { <-ik.sem }()

	interval := refreshInterval
	if ik.lastFailed {
		interval = retryInterval
	}
	if !ik.lastAttempt.IsZero() && now.Sub(ik.lastAttempt) < interval {
		return nil
	}
	// The fetch serves every caller waiting for it, so the first caller's
	// cancellation must not spoil it for the others.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultHTTPTimeout)
	defer cancel()
	return ik.load(fctx, now)
}

// keysFor returns the keys that may have signed a token with header h.
func (ik *issuerKeys) keysFor(ctx context.Context, h header, now time.Time) ([]verificationKey, error) {
	ks := ik.set.Load()
	if ks != nil && now.Sub(ks.fetched) >= keyMaxAge {
		// Stale keys keep working while one caller fetches new ones, and
		// when the fetch fails.
		_ = ik.refresh(ctx, now, false)
		ks = ik.set.Load()
	}
	if ks != nil {
		if keys, err := ks.match(h); err == nil || h.kid == "" {
			return keys, err
		}
	}
	// An unknown kid is how a key rotation shows; look again, at most once
	// per refreshInterval.
	fetchErr := ik.refresh(ctx, now, true)
	if ks = ik.set.Load(); ks == nil {
		if fetchErr == nil {
			fetchErr = errors.New("not fetched yet")
		}
		return nil, errs.Wrap(fetchErr, errs.Unavailable, "the signing keys of token issuer %q cannot be fetched", ik.id)
	}
	return ks.match(h)
}

// match picks the keys for header h: those of its kid, or, when it has none,
// the only key that fits its algorithm.
func (ks *keySet) match(h header) ([]verificationKey, error) {
	var keys []verificationKey
	for _, k := range ks.keys {
		if (h.kid == "" || k.kid == h.kid) && k.fits(h.alg) {
			keys = append(keys, k)
		}
	}
	switch {
	case len(keys) == 0:
		return nil, unauthenticated("token signing key is not known")
	case h.kid == "" && len(keys) > 1:
		return nil, unauthenticated("token has no key id and its issuer has several keys")
	}
	return keys, nil
}

// parseJWKS parses a JWK Set, keeping the keys that may sign tokens. Keys it
// cannot use (encryption keys, symmetric keys, other curves, short RSA
// keys, types go-jose does not know) are skipped rather than refused, so
// that an identity provider publishing them does not lock everyone out.
func parseJWKS(data []byte) ([]verificationKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, errors.New("JWKS is not a JWK Set")
	}
	var keys []verificationKey
	for _, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			continue
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			continue
		}
		alg := jose.SignatureAlgorithm(jwk.Algorithm)
		if alg != "" && !slices.Contains(allowedAlgs, alg) {
			continue
		}
		pub := publicKey(jwk.Key)
		if pub == nil {
			continue
		}
		keys = append(keys, verificationKey{kid: jwk.KeyID, alg: alg, pub: pub})
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS has no usable signing key")
	}
	return keys, nil
}

// publicKey returns the public half of an asymmetric key Verify can use, or
// nil.
func publicKey(key any) crypto.PublicKey {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k.Public()
	case *ecdsa.PrivateKey:
		return publicKey(&k.PublicKey)
	case *rsa.PrivateKey:
		return publicKey(&k.PublicKey)
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return k
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return k
		}
	case *rsa.PublicKey:
		if k.N.BitLen() >= minRSABits {
			return k
		}
	}
	return nil
}
