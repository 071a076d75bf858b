package identity

import (
	"crypto/sha256"
	"sync"
	"time"
)

// defaultTokenCacheTTL is how long a verified token is remembered by
// default: a caller sends the same token on every call for as long as it
// lives, and checking its signature again each time is most of the cost of
// authenticating a call.
const defaultTokenCacheTTL = time.Minute

// maxTokenEntries bounds the token cache. Only tokens with a valid signature
// of a known issuer get in, so a hostile caller cannot fill it faster than
// its identity provider mints tokens; when full, expired entries go, and
// everything goes when none had expired.
const maxTokenEntries = 10000

// tokenCache remembers the claims of tokens whose signature and claims were
// checked, keyed by the SHA-256 of the raw token, so that the hot path does
// not parse and verify the same token on every call.
//
// An entry answers only while nothing that the full check depends on can
// have changed: until the token expires, the cache TTL passes, or the keys
// it was checked with are due to be read again (keyMaxAge), and only while
// the issuer's keys are the very set it was checked with (a rotation
// noticed through another token ends it). Whether the agency exists, is
// active and trusts the issuer is not cached here: Verify asks the trust
// cache on every call, hit or not.
type tokenCache struct {
	ttl time.Duration

	mu      sync.Mutex
	entries map[[sha256.Size]byte]tokenEntry
}

type tokenEntry struct {
	claims  claims
	issuer  *issuerKeys
	keys    *keySet
	expires time.Time
}

func newTokenCache(ttl time.Duration) *tokenCache {
	return &tokenCache{ttl: ttl, entries: make(map[[sha256.Size]byte]tokenEntry)}
}

// enabled reports whether the cache is in use; callers skip hashing when it
// is not.
func (c *tokenCache) enabled() bool { return c.ttl > 0 }

// get returns the claims of the token whose hash is key, when an entry for
// it is still good at now.
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (claims, bool) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if !ok || !now.Before(e.expires) || e.issuer.set.Load() != e.keys {
		return claims{}, false
	}
	return e.claims, true
}

// put remembers the claims of a token verified at now with the key set ks
// of issuer ik; validUntil is when the token stops passing checkClaims.
func (c *tokenCache) put(key [sha256.Size]byte, cl claims, ik *issuerKeys, ks *keySet, validUntil, now time.Time) {
	expires := earliest(validUntil, now.Add(c.ttl), ks.fetched.Add(keyMaxAge))
	if !now.Before(expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	makeRoom(c.entries, now, func(e tokenEntry) time.Time { return e.expires })
	c.entries[key] = tokenEntry{claims: cl, issuer: ik, keys: ks, expires: expires}
}

// len returns the number of entries, expired or not.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func earliest(t time.Time, ts ...time.Time) time.Time {
	for _, u := range ts {
		if u.Before(t) {
			t = u
		}
	}
	return t
}

// refusalCache remembers, for as long as the trust cache keeps the
// directory's answers, the tokens the directory refused when asked with
// them (see TrustSource): the refusal is as much the directory's answer
// about the token as an agency's facts are about the agency. Keyed like
// tokenCache, bounded like it.
type refusalCache struct {
	ttl time.Duration

	mu      sync.Mutex
	entries map[[sha256.Size]byte]refusalEntry
}

type refusalEntry struct {
	err     *RefusedError
	expires time.Time
}

func newRefusalCache(ttl time.Duration) *refusalCache {
	return &refusalCache{ttl: ttl, entries: make(map[[sha256.Size]byte]refusalEntry)}
}

func (c *refusalCache) enabled() bool { return c.ttl > 0 }

func (c *refusalCache) get(key [sha256.Size]byte, now time.Time) (*RefusedError, bool) {
	if !c.enabled() {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.err, true
}

func (c *refusalCache) put(key [sha256.Size]byte, r *RefusedError, now time.Time) {
	if !c.enabled() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	makeRoom(c.entries, now, func(e refusalEntry) time.Time { return e.expires })
	c.entries[key] = refusalEntry{err: r, expires: now.Add(c.ttl)}
}

// makeRoom keeps a cache of tokens under maxTokenEntries before an insert:
// it drops the entries expired at now and, when that is not enough (a flood
// of distinct live tokens), all of them, since a cache miss costs only a
// verification.
func makeRoom[V any](m map[[sha256.Size]byte]V, now time.Time, expires func(V) time.Time) {
	if len(m) < maxTokenEntries {
		return
	}
	for k, v := range m {
		if !now.Before(expires(v)) {
			delete(m, k)
		}
	}
	if len(m) >= maxTokenEntries {
		clear(m)
	}
}
