package check_test

import (
	"fmt"
	"slices"
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
