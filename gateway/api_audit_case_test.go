package gateway_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// TestAuditForACase asks the trail for a case as an auditor does:
// resource:"requests/X" lists the request's events and its attachments'
// (requests/X/attachments/Y), but not those of requests/X2, a name that
// merely starts the same; the export takes the same filter and bundles
// the same entries. The wildcards of SQL's LIKE match nothing they would
// not match as characters, and a has filter that cannot mean anything is
// refused in words.
func TestAuditForACase(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	kzAuditor := s.token("kz-oversight", identity.Auditor)

	name := s.fileAndTransmit("kz-gpo", "UZ")
	att := s.upload("/v1/"+name, prosecutor, "TRANSLATION", "uz", "tarjima.pdf", []byte("%PDF-1.7 a translation"), nil)
	if att.status != 200 {
		t.Fatalf("upload = %d %s", att.status, att.raw)
	}
	attName := att.body["name"].(string)
	if !strings.HasPrefix(attName, name+"/attachments/") {
		t.Fatalf("attachment name %q is not under %s", attName, name)
	}
	// A probe of requests/X2: a name that starts like X's, NOT_FOUND, and
	// logged on the caller's state's trail with the name the caller sent.
	probe := name + "2"
	s.mustDo("GET", "/v1/"+probe, prosecutor, nil, 404)
	s.awaitEntries(kzAuditor, `resource = "`+probe+`"`, 15*time.Second, func(es []auditEntry) bool { return len(es) > 0 })

	// A probe by reference from a state with no part in the request: 404,
	// and on the parties' trail under the request's name, where their
	// auditors look for the case.
	ref := s.mustDo("GET", "/v1/"+name, prosecutor, nil, 200).body["reference"].(string)
	s.mustDo("GET", "/v1/requests/"+strings.ToLower(ref), s.token("tj-gpo", identity.Prosecutor), nil, 404)
	byReference := func(e auditEntry) bool { return e.Event.Actor.Agency == "tj-gpo" && e.Event.Outcome == "NOT_FOUND" }

	caseFilter := `resource:"` + name + `"`
	var got []auditEntry
	got = s.awaitEntries(kzAuditor, caseFilter, 15*time.Second, func(es []auditEntry) bool {
		return slices.ContainsFunc(es, func(e auditEntry) bool { return e.Event.Resource == attName }) &&
			slices.ContainsFunc(es, func(e auditEntry) bool { return e.Event.Transition != nil && e.Event.Transition.To == "TRANSMITTED" }) &&
			slices.ContainsFunc(es, byReference)
	})
	for _, e := range got {
		if r := e.Event.Resource; r != name && !strings.HasPrefix(r, name+"/") {
			t.Errorf("%s lists entry %d of %s", caseFilter, e.Index, r)
		}
	}
	// Everything under the attachment is the attachment's events alone.
	for _, e := range s.awaitEntries(kzAuditor, `resource:"`+attName+`"`, 15*time.Second, func(es []auditEntry) bool { return len(es) > 0 }) {
		if e.Event.Resource != attName {
			t.Errorf("the attachment's events include %d of %s", e.Index, e.Event.Resource)
		}
	}

	// The export bundles exactly the entries the list gave, in the
	// order of the log, once a checkpoint covers them (a bundle proves
	// its entries against one).
	s.awaitCheckpoint(kzAuditor, got[len(got)-1].Index+1)
	exported := s.mustDo("GET", "/v1/audit/entries:export?"+url.Values{"filter": {caseFilter}}.Encode(), kzAuditor, nil, 200)
	var listed, bundled []string
	for _, e := range got {
		listed = append(listed, e.Event.ID)
	}
	for _, pe := range exported.body["entries"].([]any) {
		ev := pe.(map[string]any)["entry"].(map[string]any)["event"].(map[string]any)
		bundled = append(bundled, ev["id"].(string))
	}
	// Entries logged after the list may follow in the bundle, never precede.
	if len(bundled) < len(listed) || !slices.Equal(bundled[:len(listed)], listed) {
		t.Errorf("the export of %s holds the events %v, want those listed, %v", caseFilter, bundled, listed)
	}
	if f, _ := exported.body["filter"].(string); f != caseFilter {
		t.Errorf("the bundle records the filter %q, want %q", f, caseFilter)
	}

	// % and _ are characters, not wildcards: each of these would match X
	// as a LIKE pattern, and matches nothing here.
	id := strings.TrimPrefix(name, "requests/")
	for _, v := range []string{
		"requests/%",
		"requests/" + id[:8] + "%",
		"requests/_" + id[1:],
		"requests/" + id[:len(id)-1] + "_",
		"%/" + id,
	} {
		if es, _, r := s.tryAuditEntries(kzAuditor, `resource:"`+v+`"`); r.status != 200 || len(es) != 0 {
			t.Errorf(`resource:%q = %d with %d entries, want 200 and none: %s`, v, r.status, len(es), describe(es))
		}
	}

	// Filters that cannot mean what was meant are refused, naming the fix.
	for _, tc := range []struct{ filter, want string }{
		{`resource:"` + name + `/"`, `write resource:"` + name + `" without the final "/"`},
		{`resource:""`, `resource:"" names nothing; give the name to match, such as resource:"requests/…"`},
		{`actor:"kz"`, `only resource takes it; compare field "actor" with =`},
		{`resource:5`, `field "resource" takes a quoted string, not the integer 5`},
	} {
		for _, path := range []string{"/v1/audit/entries", "/v1/audit/entries:export"} {
			r := s.mustDo("GET", path+"?"+url.Values{"filter": {tc.filter}}.Encode(), kzAuditor, nil, 400)
			if vs := r.violations(); len(vs) != 1 || !strings.Contains(vs[0], tc.want) {
				t.Errorf("%s?filter=%s: violations %q, want one containing %q", path, tc.filter, vs, tc.want)
			}
		}
	}
}
