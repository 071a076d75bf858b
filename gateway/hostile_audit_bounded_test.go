package gateway_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/comity-mla/comity/services/identity"
)

// Calls naming resources no event could hold as they are (too long, with a
// bidirectional override) used to make events that AuditService.Append
// refused, which stopped their service's delivery for good (issue 10, item
// 1). Events are now built valid: such names are cut, marked, and carry a
// digest of the whole; the events after them keep reaching the log.
func TestHostileAuditLongNamesKeepTheTrailFlowing(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	auditor := s.token("kz-oversight", identity.Auditor)

	longRequest := "requests/" + strings.Repeat("A", 300)
	longAgency := "agencies/" + strings.Repeat("b", 400)
	bidi := "requests/" + url202E + "fdp.exe"
	calls := []struct {
		method, path, token, resource string
	}{
		{"POST", "/v1/" + longRequest + ":submit", "", longRequest},
		{"POST", "/v1/" + longRequest + ":submit", prosecutor, longRequest},
		{"POST", "/v1/" + longAgency + ":deactivate", "", longAgency},
		{"POST", "/v1/" + longAgency + ":deactivate", admin, longAgency},
		{"POST", "/v1/" + bidi + ":submit", prosecutor, "requests/\u202efdp.exe"},
	}
	for _, c := range calls {
		if r := s.do(c.method, c.path, c.token, map[string]any{}); r.status < 400 || r.status >= 500 {
			t.Fatalf("%s %s = %d; want a refusal: %s", c.method, c.path[:min(len(c.path), 60)], r.status, r.raw)
		}
	}
	// A normal create by each producing service after them.
	name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)
	s.mustDo("POST", "/v1/agencies?agencyId=kz-bounded-test", admin, map[string]any{
		"kind": "PROSECUTION", "displayNames": map[string]string{"en": "Bounded"}, "acceptedLanguages": []string{"ru"},
	}, 200)
	s.awaitEntries(auditor, fmt.Sprintf("resource = %q", name), 15*time.Second, func(es []auditEntry) bool { return len(es) >= 1 })
	s.awaitEntries(auditor, `resource = "agencies/kz-bounded-test"`, 15*time.Second, func(es []auditEntry) bool { return len(es) >= 1 })

	// The refused calls of the KZ users are on KZ's trail, their names cut
	// and marked.
	var got []string
	for _, actor := range []string{"dev:kz-gpo:prosecutor", "dev:kz-gpo:directory_admin"} {
		for _, e := range s.privateEntries(auditor, fmt.Sprintf("actor = %q", actor)) {
			if strings.Contains(e.Resource, "…[cut sha256:") {
				got = append(got, e.Resource)
			}
		}
	}
	if len(got) != 3 {
		t.Fatalf("the KZ auditor sees %d events with cut names; want the 3 refused calls of KZ users: %q", len(got), got)
	}
	for _, r := range got {
		if n := utf8.RuneCountInString(r); n > 300 || strings.ContainsRune(r, '\u202e') {
			t.Errorf("resource %q (%d characters) is not bounded", r, n)
		}
		if !slices.ContainsFunc([]string{"requests/AAAA", "agencies/bbbb", "requests/\ufffdfdp.exe"}, func(p string) bool { return strings.HasPrefix(r, p) }) {
			t.Errorf("resource %q does not begin with the name asked for", r)
		}
	}
}

// url202E is U+202E RIGHT-TO-LEFT OVERRIDE, percent-encoded for a path.
const url202E = "%E2%80%AE"
