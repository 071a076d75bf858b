package directoryclient

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/comity-mla/comity/services/errs"
)

// maxEntries bounds each cache. The directory holds a few dozen entries, but
// "not found" answers are cached too, and ids come from callers.
const maxEntries = 10_000

// cache keeps answers, and "not found" errors, for a TTL.
type cache[V any] struct {
	kind  string // prefix of the single-flight keys
	ttl   time.Duration
	clone func(V) V

	mu      sync.Mutex
	entries map[string]entry[V]
}

type entry[V any] struct {
	val     V
	err     error
	expires time.Time
}

func newCache[V any](kind string, ttl time.Duration, clone func(V) V) *cache[V] {
	return &cache[V]{kind: kind, ttl: ttl, clone: clone, entries: map[string]entry[V]{}}
}

func (c *cache[V]) get(key string) (V, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !time.Now().Before(e.expires) {
		var zero V
		return zero, nil, false
	}
	return c.clone(e.val), e.err, true
}

// put keeps an answer or a "not found" error; other errors are not the
// directory's answer (a refused token, an outage) and are never kept.
func (c *cache[V]) put(key string, val V, err error) {
	if c.ttl <= 0 || (err != nil && !errors.Is(err, errs.ErrNotFound)) {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxEntries {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxEntries {
			clear(c.entries)
		}
	}
	c.entries[key] = entry[V]{val: c.clone(val), err: err, expires: now.Add(c.ttl)}
}

// flight is the outcome of one call to the directory, with the credentials
// it was made with.
type flight[V any] struct {
	val  V
	err  error
	auth string
}

// lookup answers key from cc, else calls fetch once for all concurrent
// callers of that key and caches the answer. fetch gets a context that
// carries the caller's credentials and the call timeout.
func lookup[V any](ctx context.Context, c *Client, cc *cache[V], key string, fetch func(context.Context) (V, error)) (V, error) {
	var zero V
	// Checked before the cache, so that the cache never answers a call that
	// carries no credentials at all.
	auth, err := authorization(ctx)
	if err != nil {
		return zero, err
	}
	if val, err, ok := cc.get(key); ok {
		return val, err
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	ch := c.flights.DoChan(cc.kind+"/"+key, func() (any, error) {
		// The call serves every caller waiting for it, so no one caller's
		// cancellation ends it; the call timeout bounds it.
		return call(context.WithoutCancel(ctx), c, cc, key, auth, fetch), nil
	})
	select {
	case r := <-ch:
		f := r.Val.(flight[V])
		if r.Shared && f.auth != auth && isCredentialError(f.err) {
			// Another caller's credentials were refused; ours may not be.
			f = call(ctx, c, cc, key, auth, fetch)
		}
		return cc.clone(f.val), f.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// call makes one call to the directory with auth and caches its answer.
func call[V any](ctx context.Context, c *Client, cc *cache[V], key, auth string, fetch func(context.Context) (V, error)) flight[V] {
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", auth), c.callTimeout)
	defer cancel()
	val, err := fetch(ctx)
	if err != nil {
		var zero V
		val, err = zero, fromStatus(err)
	}
	cc.put(key, val, err)
	return flight[V]{val: val, err: err, auth: auth}
}

// authorization returns the caller's `authorization` metadata, which the
// directory verifies itself.
func authorization(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if strings.TrimSpace(v) != "" {
			return v, nil
		}
	}
	return "", errs.New(errs.Unauthenticated, "missing credentials: the call carries no authorization")
}

func isCredentialError(err error) bool {
	return errors.Is(err, errs.ErrUnauthenticated) || errors.Is(err, errs.ErrPermissionDenied)
}
