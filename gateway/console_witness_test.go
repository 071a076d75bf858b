package gateway_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// TestConsoleStateWitness drives the witness on the directory page (DESIGN
// §6.1) without a browser: every directory page shows KZ's witness, but
// only a directory_admin of kz-oversight is offered the form; a bad key is
// refused next to its field and nothing is recorded; a set witness is shown
// on the page and through the API; a stale form is refused as a conflict; a
// form forged by the central authority's administrator is refused (403)
// and changes nothing; the oversight admin clears it.
func TestConsoleStateWitness(t *testing.T) {
	cs := startConsoleSuite(t)
	reader := cs.token("kz-gpo", identity.DirectoryAdmin)
	witnessOf := func() any {
		return cs.mustDo("GET", "/v1/states/KZ", reader, nil, http.StatusOK).body["witness"]
	}
	oversight := auditSignIn(t, cs, "kz-oversight", "directory_admin")
	ca := auditSignIn(t, cs, "kz-gpo", "directory_admin")
	auditor := auditSignIn(t, cs, "kz-oversight", "auditor")
	uzOversight := auditSignIn(t, cs, "uz-oversight", "directory_admin")

	_, page := oversight.get("/directory")
	if !strings.Contains(page, `data-witness-form`) || !strings.Contains(page, "data-witness-none") {
		t.Fatalf("kz-oversight's directory_admin is not offered the witness form, or the page does not say KZ has none: %s", page)
	}
	for who, u := range map[string]*auditUser{"the central authority's admin": ca, "an auditor": auditor} {
		if _, p := u.get("/directory"); !strings.Contains(p, `data-witness`) || strings.Contains(p, `data-witness-form`) {
			t.Errorf("%s: the page does not show the witness section, or offers its form", who)
		}
	}
	// Another state's oversight admin sees only their own state's page.
	if _, p := uzOversight.get("/directory"); !strings.Contains(p, `data-state-entry="UZ"`) || strings.Contains(p, `data-state-entry="KZ"`) {
		t.Error("uz-oversight's admin is shown another state than UZ")
	}
	etag := html.UnescapeString(auditHiddenEtag.FindStringSubmatch(page)[1])

	// A bad key: refused next to its field, what was sent kept in the form.
	code, page, _ := oversight.post("/directory/witness", url.Values{"etag": {etag}, "action": {"set"},
		"url": {"https://witness.kz.example"}, "public_key": {"not-a-key"}})
	keyError := regexp.MustCompile(`(?s)<ul class="field-error" id="w-public_key-error">.*?</ul>`).FindString(page)
	if code != http.StatusBadRequest || keyError == "" || !strings.Contains(page, `role="alert"`) ||
		!strings.Contains(page, `value="not-a-key"`) || strings.Contains(page, `id="w-url-error"`) {
		t.Errorf("a bad key = %d, want 400 with the complaint next to the key only and the value kept: %s", code, page)
	}
	if witnessOf() != nil {
		t.Fatal("a refused witness was recorded")
	}

	vkey, _ := newWitnessKey(t, "witness.kz.comity.test")
	code, page, resp := oversight.post("/directory/witness", url.Values{"etag": {etag}, "action": {"set"},
		"url": {"https://witness.kz.example"}, "public_key": {vkey}})
	if code != http.StatusOK || !strings.HasSuffix(resp.Request.URL.String(), "/directory?done=witness.set") ||
		!strings.Contains(page, `data-done="witness.set"`) ||
		!strings.Contains(page, `<code data-witness-url>https://witness.kz.example</code>`) ||
		!strings.Contains(page, `<code data-witness-key>`+html.EscapeString(vkey)+`</code>`) {
		t.Fatalf("setting the witness = %d at %s: %s", code, resp.Request.URL, page)
	}
	if w, _ := witnessOf().(map[string]any); w["url"] != "https://witness.kz.example" || w["publicKey"] != vkey {
		t.Fatalf("the API's witness after the console set it: %v", w)
	}
	if _, p := auditor.get("/directory"); !strings.Contains(p, `data-witness-url>https://witness.kz.example<`) {
		t.Error("an auditor of KZ is not shown the witness set")
	}

	// The first form's etag is stale now.
	code, page, _ = oversight.post("/directory/witness", url.Values{"etag": {etag}, "action": {"clear"}})
	if code != http.StatusConflict || !strings.Contains(page, "Someone changed this in the meantime") {
		t.Errorf("a stale form = %d, want 409 saying someone changed it: %s", code, page)
	}
	fresh := html.UnescapeString(auditHiddenEtag.FindStringSubmatch(page)[1])
	if fresh == etag {
		t.Fatal("the page shown again carries the stale etag")
	}

	// The central authority's admin forges the form: the directory refuses.
	code, page, _ = ca.post("/directory/witness", url.Values{"etag": {fresh}, "action": {"clear"}})
	if code != http.StatusForbidden || !strings.Contains(page, "only a directory_admin of the oversight agency (kind OVERSIGHT) of KZ may change its witness") {
		t.Errorf("the central authority's forged form = %d, want 403 saying who may: %s", code, page)
	}
	if w, _ := witnessOf().(map[string]any); w["publicKey"] != vkey {
		t.Fatalf("the forged form changed the witness: %v", w)
	}

	code, page, _ = oversight.post("/directory/witness", url.Values{"etag": {fresh}, "action": {"clear"}})
	if code != http.StatusOK || !strings.Contains(page, `data-done="witness.cleared"`) || !strings.Contains(page, "data-witness-none") {
		t.Errorf("clearing the witness = %d: %s", code, page)
	}
	if w := witnessOf(); w != nil {
		t.Errorf("the API still has a witness after the console cleared it: %v", w)
	}
}

// TestConsoleCheckpointUnwitnessed: on a suite whose audit log has no
// witness policy, the checkpoint page says that its checkpoints are not
// witnessed (a split view would go unnoticed) and shows no policy.
func TestConsoleCheckpointUnwitnessed(t *testing.T) {
	cs := startConsoleSuite(t)
	auditor := auditSignIn(t, cs, "kz-oversight", "auditor")
	code, page := auditor.get("/audit/checkpoint")
	if code != http.StatusOK || !strings.Contains(page, "data-unwitnessed") || !strings.Contains(page, "split view") ||
		strings.Contains(page, "data-policy") {
		t.Errorf("the checkpoint page of an unwitnessed log = %d, want the notice and no policy: %s", code, page)
	}
}

// TestConsoleCheckpointWitnessed shows an auditor the witnesses of a log
// that five real witnesses cosign (quorum 3): each witness by name, at
// least three with the time they cosigned, the quorum met, the policy in
// force and the command that verifies with it.
func TestConsoleCheckpointWitnessed(t *testing.T) {
	cs := startConsoleSuite(t, consoleSuiteOptions{suite: suiteOptions{witnesses: 5}})
	auditor := auditSignIn(t, cs, "kz-oversight", "auditor")
	var page string
	awaitCondition(t, "the checkpoint page to show a witnessed checkpoint", 30*time.Second, func() bool {
		var code int
		code, page = auditor.get("/audit/checkpoint")
		return code == http.StatusOK && strings.Contains(page, `data-quorum-met="true"`)
	})
	if n := strings.Count(page, "data-witness="); n != 5 {
		t.Errorf("the page lists %d witnesses, want the policy's 5: %s", n, page)
	}
	if n := strings.Count(page, "data-cosigned"); n < 3 {
		t.Errorf("the page shows %d cosignatures, want at least the quorum's 3: %s", n, page)
	}
	if strings.Contains(page, "data-unwitnessed") || !strings.Contains(page, "data-policy") || !strings.Contains(page, "--policy witness-policy") {
		t.Errorf("the page lacks the policy in force or the command verifying with it: %s", page)
	}
}
