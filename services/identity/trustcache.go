package identity

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/comity-mla/comity/services/errs"
)

// maxTrustEntries bounds the trust cache. Only agencies named by validly
// signed tokens get in, so the bound is a safety net, not a limit a normal
// deployment reaches.
const maxTrustEntries = 10000

// trustCache remembers what a TrustSource said about agencies for ttl,
// including that an agency does not exist. Errors other than not-found are
// not remembered: the next call asks again.
type trustCache struct {
	src TrustSource
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]trustEntry
	issuers map[string]issuerEntry
}

type issuerEntry struct {
	entries []IssuerEntry
	expires time.Time
}

type trustEntry struct {
	trust    AgencyTrust
	notFound error // the TrustSource's not-found error, when it gave one
	expires  time.Time
}

func newTrustCache(src TrustSource, ttl time.Duration) *trustCache {
	return &trustCache{src: src, ttl: ttl, entries: make(map[string]trustEntry), issuers: make(map[string]issuerEntry)}
}

// get returns the trust facts of agency, or the TrustSource's error.
func (c *trustCache) get(ctx context.Context, agency string, now time.Time) (AgencyTrust, error) {
	if c.ttl > 0 {
		c.mu.Lock()
		e, ok := c.entries[agency]
		c.mu.Unlock()
		if ok && now.Before(e.expires) {
			return e.trust, e.notFound
		}
	}

	t, err := c.src.AgencyTrust(ctx, agency)
	if err != nil && !errors.Is(err, errs.ErrNotFound) {
		return AgencyTrust{}, err
	}
	// Callers share the cached value; they must not see each other's
	// changes, nor the TrustSource's.
	t.TrustedIssuers = slices.Clone(t.TrustedIssuers)
	if c.ttl > 0 {
		c.mu.Lock()
		if len(c.entries) >= maxTrustEntries {
			c.evict(now)
		}
		c.entries[agency] = trustEntry{trust: t, notFound: err, expires: now.Add(c.ttl)}
		c.mu.Unlock()
	}
	return t, err
}

// evict drops expired entries, and everything when none had expired. The
// caller holds mu.
func (c *trustCache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	if len(c.entries) >= maxTrustEntries {
		clear(c.entries)
	}
}

// issuer returns the states that trust issuer, with their claim mappings,
// from the TrustSource when it is an IssuerSource; nil otherwise, which
// means the default mapping. Only answers are remembered, never errors.
func (c *trustCache) issuer(ctx context.Context, issuer string, now time.Time) ([]IssuerEntry, error) {
	src, ok := c.src.(IssuerSource)
	if !ok {
		return nil, nil
	}
	if c.ttl > 0 {
		c.mu.Lock()
		e, ok := c.issuers[issuer]
		c.mu.Unlock()
		if ok && now.Before(e.expires) {
			return e.entries, nil
		}
	}
	entries, err := src.IssuerEntries(ctx, issuer)
	if err != nil {
		return nil, err
	}
	// Shared by every caller, who only reads it.
	entries = slices.Clone(entries)
	for i := range entries {
		entries[i].Mapping = entries[i].Mapping.Clone()
	}
	if c.ttl > 0 {
		c.mu.Lock()
		if len(c.issuers) >= maxTrustEntries {
			clear(c.issuers)
		}
		c.issuers[issuer] = issuerEntry{entries: entries, expires: now.Add(c.ttl)}
		c.mu.Unlock()
	}
	return entries, nil
}
