package enum_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/comity-mla/comity/services/internal/enum"
)

type color string

func TestStrings(t *testing.T) {
	if got := enum.Strings([]color{"red", "green"}); !slices.Equal(got, []string{"red", "green"}) {
		t.Errorf("Strings = %q", got)
	}
	for _, none := range [][]color{nil, {}} {
		got := enum.Strings(none)
		if b, err := json.Marshal(got); err != nil || string(b) != "[]" {
			t.Errorf("Strings(%#v) encodes as %s, %v; want []", none, b, err)
		}
	}
}
