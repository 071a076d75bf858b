package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

// fakeAuth answers every token with the same principal or error.
type fakeAuth struct {
	p   identity.Principal
	err error
}

func (f fakeAuth) Verify(context.Context, string) (identity.Principal, error) { return f.p, f.err }

// TestLimiterCountsDefinitiveRefusals: a token the verifier refuses is
// counted against the client's address, whatever the reason, including the
// directory's refusal of a genuine token; only a directory that could not
// answer leaves a call uncounted.
func TestLimiterCountsDefinitiveRefusals(t *testing.T) {
	refused := &identity.RefusedError{
		Claimed: identity.Principal{Subject: "u", Agency: "xx-nowhere"},
		Err:     errs.New(errs.Unauthenticated, `agency "xx-nowhere" is not in the directory`),
	}
	tests := []struct {
		name        string
		auth        fakeAuth
		wantLimited bool
		wantKey     string
	}{
		{"a forged token", fakeAuth{err: errs.New(errs.Unauthenticated, "token signature invalid")}, true, "addr:192.0.2.7"},
		{"a genuine token naming an unknown agency", fakeAuth{err: refused}, true, "addr:192.0.2.7"},
		{"a verified token", fakeAuth{p: identity.Principal{Agency: "kz-gpo"}}, true, "agency:kz-gpo"},
		{"the directory is down", fakeAuth{err: errs.New(errs.Unavailable, "the agency directory is unavailable")}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(RateLimit{PerSecond: 0.001, Burst: 2}, tc.auth)
			h := l.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
			limited := false
			for range 5 {
				req := httptest.NewRequest("GET", "/v1/requests", nil)
				req.RemoteAddr = "192.0.2.7:40000"
				req.Header.Set("Authorization", "Bearer a.b.c")
				if key, _ := l.key(req); key != tc.wantKey {
					t.Fatalf("bucket %q, want %q", key, tc.wantKey)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code == http.StatusTooManyRequests {
					limited = true
				}
			}
			if limited != tc.wantLimited {
				t.Errorf("5 calls at once: limited %v, want %v", limited, tc.wantLimited)
			}
		})
	}
}
