package audit_test

import (
	"testing"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

// TestMayAppend checks the one rule of who may append to the audit log.
func TestMayAppend(t *testing.T) {
	gateway := identity.Principal{Subject: "service:comity-gateway", Service: "comity-gateway"}
	auditor := identity.Principal{Subject: "u", Agency: "kz-gpo", State: "KZ", Roles: []identity.Role{identity.Auditor}}
	own := []trail.Event{event(1, "KZ"), event(2, "UZ")}
	foreign := []trail.Event{event(1, "KZ"), {Service: "comity-directory"}}
	for _, tc := range []struct {
		name   string
		p      identity.Principal
		peer   string
		events []trail.Event
		want   string // "" when allowed
	}{
		{"a producer, its own events", producer, "", own, ""},
		{"a producer over mTLS", producer, "comity-request", own, ""},
		{"no events", producer, "comity-request", nil, ""},
		{"a certificate of another service", producer, "comity-directory", own,
			"the token names comity-request but the certificate comity-directory"},
		{"another service's events", producer, "", foreign,
			`events[1] is of "comity-directory": comity-request may append only its own events`},
		{"the gateway", gateway, "comity-gateway", nil, "only the Comity services may append to the audit log"},
		{"a user", auditor, "", own, "only the Comity services may append to the audit log"},
	} {
		err := audit.MayAppend(tc.p, tc.peer, tc.events)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (errs.CodeOf(err) != errs.PermissionDenied || err.Error() != tc.want):
			t.Errorf("%s: %v; want PERMISSION_DENIED %q", tc.name, err, tc.want)
		}
	}
}
