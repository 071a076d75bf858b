package identity

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/comity-mla/comity/services/errs"
)

func tokenKey(tok string) [sha256.Size]byte { return sha256.Sum256([]byte(tok)) }

func TestTokenCacheKeepsOnlyVerifiedTokens(t *testing.T) {
	f := newFixture(t)
	good := f.token(t, nil)
	tampered := good[:len(good)-4] + strings.Repeat("A", 4)
	expired := f.token(t, map[string]any{"exp": t0.Add(-time.Hour).Unix()})
	unknown := f.token(t, map[string]any{"agency": "xx-nobody"})

	for range 2 {
		f.accepts(t, good, "")
		if _, err := f.v.Verify(t.Context(), tampered); errs.CodeOf(err) != errs.Unauthenticated {
			t.Fatalf("tampered token after the good one was cached: %v", err)
		}
		if _, err := f.v.Verify(t.Context(), expired); errs.CodeOf(err) != errs.Unauthenticated {
			t.Fatalf("expired token: %v", err)
		}
		f.refuses(t, unknown, "not in the directory")
	}
	// The unknown agency's token is well signed, so it is cached; whether
	// its agency exists is asked on every call.
	if _, ok := f.v.tokens.get(tokenKey(good), f.clock.Now()); !ok {
		t.Error("the verified token is not cached")
	}
	for _, tok := range []string{tampered, expired} {
		if _, ok := f.v.tokens.get(tokenKey(tok), f.clock.Now()); ok {
			t.Errorf("a refused token is cached")
		}
	}
	if n := f.v.tokens.len(); n != 2 {
		t.Errorf("cache holds %d tokens, want 2", n)
	}
}

func TestTokenCacheNeverOutlivesTheToken(t *testing.T) {
	f := newFixture(t, WithTokenCacheTTL(time.Hour))
	tok := f.token(t, map[string]any{"exp": t0.Add(10 * time.Second).Unix()})
	f.accepts(t, tok, "")
	// The default leeway of 30s applies as it does without the cache.
	f.clock.Advance(39 * time.Second)
	f.accepts(t, tok, "within the leeway")
	f.clock.Advance(time.Second)
	f.refuses(t, tok, "token expired")
}

func TestTokenCacheRechecksTrustOnEveryCall(t *testing.T) {
	f := newFixture(t, WithTrustCacheTTL(0))
	tok := f.token(t, nil)
	f.accepts(t, tok, "")
	f.trust.change("kz-gpo", func(a *AgencyTrust) { a.TrustedIssuers = []string{otherIssuer} })
	f.refuses(t, tok, "not trusted")
	f.trust.change("kz-gpo", func(a *AgencyTrust) { a.TrustedIssuers, a.Active = []string{testIssuer}, false })
	f.refuses(t, tok, "deactivated")
	if got := f.trust.callCount(); got != 3 {
		t.Errorf("directory asked %d times for 3 calls with its cache off, want 3", got)
	}
}

func TestTokenCacheEndsWithTheKeys(t *testing.T) {
	t.Run("rotation", func(t *testing.T) {
		f := newFixture(t, WithTokenCacheTTL(time.Hour))
		oldTok := f.token(t, map[string]any{"exp": t0.Add(24 * time.Hour).Unix()})
		f.accepts(t, oldTok, "")
		next := newKey(t, jose.EdDSA, "kz-2026-02")
		writeJWKS(t, f.jwksPath, next)
		f.clock.Advance(refreshInterval)
		// A token of the new key makes the verifier read the keys again;
		// the old key is gone, and with it every token it vouched for.
		if _, err := f.v.Verify(t.Context(), sign(t, next, validClaims(t0))); err != nil {
			t.Fatal(err)
		}
		f.refuses(t, oldTok, "signing key is not known")
	})
	t.Run("key age", func(t *testing.T) {
		f := newFixture(t, WithTokenCacheTTL(time.Hour))
		tok := f.token(t, map[string]any{"exp": t0.Add(24 * time.Hour).Unix()})
		f.clock.Advance(keyMaxAge - time.Second)
		f.accepts(t, tok, "")
		writeJWKS(t, f.jwksPath, newKey(t, jose.EdDSA, "kz-2026-02"))
		// The keys are due to be read again a second later; the token was
		// cached a second before.
		f.clock.Advance(time.Second)
		f.refuses(t, tok, "signing key is not known")
	})
}

func TestTokenCacheTTL(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, nil)
	f.accepts(t, tok, "")
	if _, ok := f.v.tokens.get(tokenKey(tok), t0.Add(defaultTokenCacheTTL-time.Nanosecond)); !ok {
		t.Error("token not cached for the TTL")
	}
	if _, ok := f.v.tokens.get(tokenKey(tok), t0.Add(defaultTokenCacheTTL)); ok {
		t.Error("token cached past the TTL")
	}

	off := newFixture(t, WithTokenCacheTTL(0))
	if _, err := off.v.Verify(t.Context(), off.token(t, nil)); err != nil {
		t.Fatal(err)
	}
	if n := off.v.tokens.len(); n != 0 {
		t.Errorf("disabled cache holds %d tokens", n)
	}
	if _, err := NewVerifier([]Issuer{{ID: testIssuer, JWKS: f.jwksPath}}, f.trust, WithTokenCacheTTL(-time.Second)); err == nil {
		t.Error("NewVerifier accepted a negative token cache TTL")
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	f := newFixture(t)
	ik := f.v.issuers[testIssuer]
	ks := ik.set.Load()
	c := newTokenCache(time.Minute)
	for i := range maxTokenEntries + 10 {
		c.put(tokenKey(fmt.Sprint(i)), claims{sub: fmt.Sprint(i)}, ik, ks, t0.Add(time.Hour), t0)
	}
	if n := c.len(); n > maxTokenEntries {
		t.Fatalf("cache holds %d tokens, bound is %d", n, maxTokenEntries)
	}
	last := fmt.Sprint(maxTokenEntries + 9)
	if got, ok := c.get(tokenKey(last), t0); !ok || got.sub != last {
		t.Errorf("the newest token is not cached")
	}
}

func BenchmarkVerifyUncached(b *testing.B) {
	f := newFixture(b, WithTokenCacheTTL(0))
	tok := f.token(b, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.v.Verify(b.Context(), tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
