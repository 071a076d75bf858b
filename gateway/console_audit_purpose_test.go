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

var auditPurposePattern = regexp.MustCompile(`<span class="zone" data-purpose="([^"]*)">([^<]*)</span>`)

// The console's trail shows an auditor the purpose of each read of
// content, in their language, and "not declared" for a read without one;
// other events show none.
func TestConsoleAuditShowsThePurposeOfReads(t *testing.T) {
	cs := startConsoleSuite(t)
	name := cs.fileAndTransmit("kz-gpo", "UZ")
	uzCA := cs.token("uz-247", identity.CentralAuthority)
	cs.purposeDo(http.MethodGet, "/v1/"+name, uzCA, "review").mustBe(t, http.StatusOK)
	cs.purposeDo(http.MethodGet, "/v1/"+name, uzCA, "").mustBe(t, http.StatusOK)

	auditor := auditSignIn(t, cs, "kz-oversight", "auditor")
	events := "/audit?" + url.Values{"resource": {name}}.Encode()
	var shown [][]string
	for deadline := time.Now().Add(30 * time.Second); ; {
		code, page := auditor.get(events)
		if code != http.StatusOK {
			t.Fatalf("%s = %d: %s", events, code, page)
		}
		// Create, submit, transmit and the two reads.
		if len(auditRowIndexes(t, page)) >= 5 {
			shown = auditPurposePattern.FindAllStringSubmatch(page, -1)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request's events did not reach the trail within 30 s: %s", page)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var got []string
	for _, m := range shown {
		got = append(got, m[1]+" = "+html.UnescapeString(m[2]))
	}
	// Newest first: the undeclared read, then the one for review.
	want := []string{"undeclared = Declared purpose: not declared", "review = Declared purpose: A central authority's or legal review"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the trail shows the purposes\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
