package e2e

import (
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

const requestService = "/comity.request.v1.RequestService/"

// The suite as separate processes with mTLS on loopback, on SQLite and then
// on PostgreSQL: the complete case through REST, its audit trail exported and
// verified offline, then the audit service killed with SIGKILL while
// requests are created and transmitted — the other services go on
// answering, and once it is back every event is on the log once and the new
// checkpoint is consistent with the one before the crash.
func TestSuiteEndToEnd(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			c := startCluster(t, clusterOptions{postgres: engine == "postgres", directories: 1, requests: 1})
			kase := gatewaytest.CompleteCase(c.client, "e2e-case")
			if want := "KZ-" + time.Now().UTC().Format("2006") + "-000001"; kase.Reference != want {
				t.Errorf("reference = %q, want %q", kase.Reference, want)
			}
			auditor := c.client.Token("kz-oversight", identity.Auditor)

			// Every action of the case is on the log once.
			want := map[string]int{
				// The retried create is a call on the request too.
				"CreateRequest OK": 2, "SubmitRequest OK": 1, "TransmitRequest OK": 1, "AcknowledgeRequest OK": 1,
				"RequestClarification OK": 1, "ProvideClarification OK": 1, "AcceptRequest OK": 1,
				"ExecuteRequest OK": 1, "ExtendPreservation OK": 1, "CloseRequest OK": 1,
			}
			filter := fmt.Sprintf("resource = %q", kase.Name)
			got := c.awaitActions(auditor, filter, want)
			if !maps.Equal(got, want) {
				t.Errorf("the case's events on the log: %v, want %v", got, want)
			}

			// The auditor exports them and verifies the bundle offline.
			publicKey := filepath.Join(c.dataDir, "audit", "public.key")
			caseBundle := filepath.Join(t.TempDir(), "case.json")
			if out, code := c.ctl("audit", "export", "--gateway", c.gwURL, "--token", auditor, "--filter", filter, "--out", caseBundle); code != 0 {
				t.Fatalf("comityctl audit export: exit %d\n%s", code, out)
			}
			if out, code := c.ctl("audit", "verify", "--public-key", publicKey, caseBundle); code != 0 {
				t.Fatalf("comityctl audit verify: exit %d\n%s", code, out)
			}

			// The audit service crashes while requests are being filed.
			before := filepath.Join(t.TempDir(), "before.json")
			if out, code := c.ctl("audit", "export", "--gateway", c.gwURL, "--token", auditor, "--out", before); code != 0 {
				t.Fatalf("comityctl audit export before the crash: exit %d\n%s", code, out)
			}
			prosecutor := c.client.Token("kz-gpo", identity.Prosecutor)
			kzCA := c.client.Token("kz-gpo", identity.CentralAuthority)
			var names []string
			for i := range 12 {
				if i == 4 {
					c.audit.kill(t)
				}
				// Each call must be answered as if nothing happened.
				r := c.client.MustDo("POST", "/v1/requests?requestId="+url.QueryEscape(fmt.Sprintf("crash-%d", i)), prosecutor, gatewaytest.Preservation(), 200)
				name := r.Body["name"].(string)
				c.client.MustDo("POST", "/v1/"+name+":submit", prosecutor, map[string]any{}, 200)
				c.client.MustDo("POST", "/v1/"+name+":transmit", kzCA, map[string]any{}, 200)
				names = append(names, name)
			}
			c.audit.start(t)
			c.waitReady()
			for _, name := range names {
				want := map[string]int{"CreateRequest OK": 1, "SubmitRequest OK": 1, "TransmitRequest OK": 1}
				if got := c.awaitActions(auditor, fmt.Sprintf("resource = %q", name), want); !maps.Equal(got, want) {
					t.Errorf("%s: events on the log %v, want %v", name, got, want)
				}
			}
			c.checkUniqueEventIDs(auditor)
			after := filepath.Join(t.TempDir(), "after.json")
			if out, code := c.ctl("audit", "export", "--gateway", c.gwURL, "--token", auditor, "--since", before, "--out", after); code != 0 {
				t.Fatalf("comityctl audit export --since: exit %d\n%s", code, out)
			}
			out, code := c.ctl("audit", "verify", "--public-key", publicKey, "--since", before, after)
			if code != 0 {
				t.Fatalf("the checkpoint after the crash is not consistent with the one before: exit %d\n%s", code, out)
			}
			c.stopAll()
		})
	}
}

// awaitActions polls the audit entries of filter (as the auditor with
// token) until every action of want is there as often as wanted, or 60
// seconds pass, and returns the count of each "Method OUTCOME" seen.
func (c *cluster) awaitActions(token, filter string, want map[string]int) map[string]int {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := map[string]int{}
		for _, e := range c.entries(token, filter) {
			got[strings.TrimPrefix(e.action, requestService)+" "+e.outcome]++
		}
		complete := true
		for k, n := range want {
			if got[k] < n {
				complete = false
			}
		}
		if complete || time.Now().After(deadline) {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type entry struct {
	id, action, outcome, resource string
}

// entries lists every audit entry of filter the auditor with token sees.
func (c *cluster) entries(token, filter string) []entry {
	c.t.Helper()
	var out []entry
	pageToken := ""
	for {
		q := url.Values{"filter": {filter}, "pageSize": {"1000"}, "pageToken": {pageToken}}
		r := c.client.MustDo("GET", "/v1/audit/entries?"+q.Encode(), token, nil, 200)
		list, _ := r.Body["entries"].([]any)
		for _, raw := range list {
			ev, _ := raw.(map[string]any)["event"].(map[string]any)
			e := entry{}
			e.id, _ = ev["id"].(string)
			e.action, _ = ev["action"].(string)
			e.outcome, _ = ev["outcome"].(string)
			e.resource, _ = ev["resource"].(string)
			out = append(out, e)
		}
		pageToken, _ = r.Body["nextPageToken"].(string)
		if pageToken == "" {
			return out
		}
	}
}

// checkUniqueEventIDs fails the test when an event id is on the log twice.
func (c *cluster) checkUniqueEventIDs(token string) {
	c.t.Helper()
	seen := map[string]bool{}
	var twice []string
	all := c.entries(token, "")
	for _, e := range all {
		if seen[e.id] {
			twice = append(twice, e.id)
		}
		seen[e.id] = true
	}
	if len(twice) > 0 {
		slices.Sort(twice)
		c.t.Errorf("%d of %d events are on the log more than once: %v", len(twice), len(all), twice)
	}
}
