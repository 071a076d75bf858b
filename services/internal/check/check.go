// Package check holds the assertions the conformance suites (the storetest
// packages and trail/outboxtest) share, so that each suite says only what it
// checks, not again how.
package check

import (
	"errors"
	"reflect"
	"testing"

	"github.com/comity-mla/comity/services/errs"
)

// Equal fails t, naming what, when got and want differ (reflect.DeepEqual:
// a nil slice is not an empty one).
func Equal[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// Code fails t, naming what, when err is not of target's code.
func Code(t testing.TB, what string, err error, target *errs.Error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v (code %v); want code %v", what, err, errs.CodeOf(err), target.Code)
	}
}

// Each returns f of each of xs, in order: the ids, the sequence numbers, …
// of what a store returned. None is nil.
func Each[T, U any](xs []T, f func(T) U) []U {
	if len(xs) == 0 {
		return nil
	}
	out := make([]U, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// Case is one subtest of a conformance suite: its name and its body, which
// takes what the suite hands every case (a way to make a store, or more).
type Case[A any] struct {
	Name string
	Run  func(t *testing.T, a A)
}

// Suite runs each case as a parallel subtest of t, handing it arg.
func Suite[A any](t *testing.T, arg A, cases []Case[A]) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			c.Run(t, arg)
		})
	}
}

// Pages reads a listing size items at a time, page(offset) giving the ids on
// a page and the total the page reports (what names the call in failures),
// and checks that every page reports len(want) as the total and holds at most
// size items, and that the pages together are want: each item once, whatever
// the ties in the order.
func Pages(t testing.TB, what string, size int, want []string, page func(offset int) (ids []string, total int, err error)) {
	t.Helper()
	var paged []string
	for offset := 0; ; offset += size {
		ids, total, err := page(offset)
		if err != nil {
			t.Fatalf("%s offset %d: %v", what, offset, err)
		}
		if total != len(want) {
			t.Errorf("offset %d: Total %d; want %d", offset, total, len(want))
		}
		if len(ids) > size {
			t.Fatalf("offset %d: %d items; want at most %d", offset, len(ids), size)
		}
		if len(ids) == 0 {
			break
		}
		paged = append(paged, ids...)
	}
	Equal(t, "pages", paged, want)
}
