package request

import (
	"strings"
	"testing"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

// Transfers are refused beyond the bound of their agency and beyond the
// total, each refusal naming its flag; a place given back (once, however
// often release is called) is taken by the next.
func TestTransferBounds(t *testing.T) {
	tr := newTransfers(TransferLimits{Total: 3, PerAgency: 2})
	kz, uz, tj := identity.Principal{Agency: "kz-gpo"}, identity.Principal{Agency: "uz-gpo"}, identity.Principal{Agency: "tj-gpo"}
	var releases []func()
	for _, tc := range []struct {
		name   string
		p      identity.Principal
		refuse string // the flag the refusal names; "" when admitted
	}{
		{"first kz", kz, ""},
		{"second kz", kz, ""},
		{"third kz over its agency's share", kz, "--max-transfers-per-agency"},
		{"uz within the total", uz, ""},
		{"tj over the total", tj, "--max-transfers)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release, err := tr.acquire(tc.p)
			switch {
			case tc.refuse == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refuse == "":
				releases = append(releases, release)
			case errs.CodeOf(err) != errs.ResourceExhausted || !strings.Contains(err.Error(), tc.refuse) || !strings.Contains(err.Error(), "retry"):
				t.Fatalf("acquire = %v; want RESOURCE_EXHAUSTED naming %s and asking to retry", err, tc.refuse)
			}
		})
	}
	releases[0]()
	releases[0]()
	if _, err := tr.acquire(tj); err != nil {
		t.Fatalf("after a release, tj-gpo is refused: %v", err)
	}
	if _, err := tr.acquire(uz); err == nil {
		t.Fatal("a second release of one place gave a second place back")
	}
}

func TestTransferLimitsFit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		l      TransferLimits
		spare  int
		errHas string
	}{
		{"default fits", TransferLimits{}, 256, ""},
		{"default too many", TransferLimits{}, 255, "--max-transfers 256 does not fit in the 255"},
		{"negative", TransferLimits{PerAgency: -1}, 1000, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.l.Fit(tc.spare)
			if tc.errHas == "" && err != nil || tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)) {
				t.Fatalf("Fit = %v, want %q", err, tc.errHas)
			}
		})
	}
}
