package request_test

import (
	"testing"

	"github.com/comity-mla/comity/services/request"
)

// FuzzParsePolicy: a deadline policy file, whatever it holds, is parsed or
// refused with an error, never a panic, and a policy it accepts is one the
// service starts with (it validates) that keeps the defaults it does not
// name.
func FuzzParsePolicy(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"acknowledge": {"EMERGENCY": "4h"}, "answer": {"ROUTINE": "60d"}, "preservation": "120d"}`,
		`{"extension_notice": "14d", "hold_return": "30d", "confirmation": "48h", "execute_before_confirmation": ["DATA_PRESERVATION"]}`,
		`{"execute_before_confirmation": []}`,
		`{"extension_notice": "90d"}`,
		`{"confirmation": "-1h"}`,
		`{"hold_return": "99999999999d"}`,
		`{"acknowledge": {"URGNT": "1h"}}`,
		`[`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := request.ParsePolicy(data)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParsePolicy accepted %q, which does not validate: %v", data, err)
		}
		if p.Confirmation <= 0 || p.HoldReturn <= 0 || p.ExtensionNotice <= 0 || p.ExtensionNotice >= p.Preservation {
			t.Fatalf("ParsePolicy accepted %q with periods the rules cannot use: %+v", data, p)
		}
	})
}
