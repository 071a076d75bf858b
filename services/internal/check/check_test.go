package check_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/internal/check"
)

// recorder is a testing.TB that keeps what the checks report.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestEqual(t *testing.T) {
	r := &recorder{TB: t}
	check.Equal(r, "same", []int{1, 2}, []int{1, 2})
	if len(r.errors) != 0 {
		t.Errorf("equal values reported: %q", r.errors)
	}
	check.Equal(r, "empty", []int{}, nil)
	check.Equal(r, "values", map[string]int{"a": 1}, map[string]int{"a": 2})
	want := []string{"empty:\n got []\nwant []", "values:\n got map[a:1]\nwant map[a:2]"}
	if !slices.Equal(r.errors, want) {
		t.Errorf("reported %q; want %q", r.errors, want)
	}
}

func TestCode(t *testing.T) {
	r := &recorder{TB: t}
	notFound := errs.New(errs.NotFound, "agency %q not found", "x")
	check.Code(r, "wrapped", fmt.Errorf("get: %w", notFound), errs.ErrNotFound)
	if len(r.errors) != 0 {
		t.Errorf("an error of the code reported: %q", r.errors)
	}
	check.Code(r, "other", notFound, errs.ErrInvalid)
	check.Code(r, "none", nil, errs.ErrInvalid)
	if len(r.errors) != 2 || r.errors[0] != `other: error agency "x" not found (code not found); want code invalid` {
		t.Errorf("reported %q", r.errors)
	}
}

func TestEach(t *testing.T) {
	if got := check.Each([]int{1, 2, 3}, func(i int) string { return fmt.Sprint(i * 2) }); !slices.Equal(got, []string{"2", "4", "6"}) {
		t.Errorf("Each = %q", got)
	}
	if got := check.Each([]int{}, func(i int) int { return i }); got != nil {
		t.Errorf("Each of none = %#v; want nil", got)
	}
}

func TestSuite(t *testing.T) {
	var ran sync.Map
	check.Suite(t, "arg", []check.Case[string]{
		{Name: "A", Run: func(t *testing.T, a string) { ran.Store("A", a) }},
		{Name: "B", Run: func(t *testing.T, a string) { ran.Store("B", a) }},
	})
	t.Cleanup(func() { // after the parallel subtests
		for _, name := range []string{"A", "B"} {
			if a, ok := ran.Load(name); !ok || a != "arg" {
				t.Errorf("case %s ran with %v, %v; want arg", name, a, ok)
			}
		}
	})
}

func TestPages(t *testing.T) {
	want := []string{"a", "b", "c", "d", "e"}
	// serve pages through listed, two at a time, each reporting total.
	serve := func(listed []string, total int) func(offset int) ([]string, int, error) {
		return func(offset int) ([]string, int, error) {
			return listed[min(offset, len(listed)):min(offset+2, len(listed))], total, nil
		}
	}
	r := &recorder{TB: t}
	check.Pages(r, "List", 2, want, serve(want, 5))
	if len(r.errors) != 0 {
		t.Errorf("a sound listing reported: %q", r.errors)
	}
	check.Pages(r, "List", 2, want, serve(want, 6))
	if len(r.errors) != 4 || r.errors[0] != "offset 0: Total 6; want 5" {
		t.Errorf("a wrong total reported %q; want one report a page", r.errors)
	}
	r.errors = nil
	check.Pages(r, "List", 2, want, serve([]string{"a", "b", "b", "c", "d"}, 5))
	if w := []string{"pages:\n got [a b b c d]\nwant [a b c d e]"}; !slices.Equal(r.errors, w) {
		t.Errorf("an item given twice reported %q; want %q", r.errors, w)
	}
}
