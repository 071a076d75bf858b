package lists

import (
	"slices"
	"strconv"
	"testing"
)

func TestConvert(t *testing.T) {
	if got := Convert([]int{3, 1, 2}, strconv.Itoa); !slices.Equal(got, []string{"3", "1", "2"}) {
		t.Errorf("Convert = %q, want [3 1 2] in order", got)
	}
	for _, in := range [][]int{nil, {}} {
		if got := Convert(in, strconv.Itoa); got != nil {
			t.Errorf("Convert(%#v) = %#v, want nil", in, got)
		}
	}
}
