package gateway_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// TestActivateAgencyREST drives POST /v1/agencies/{id}:activate, the
// reverse of :deactivate: a KZ directory administrator deactivates
// kz-police-cyber, whose users the services then refuse, and activates it
// again, after which they are accepted; a stale etag is a conflict, a
// missing one names the field, and an administrator of another state or a
// prosecutor is refused without changing anything.
func TestActivateAgencyREST(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	admin := s.token("kz-oversight", identity.DirectoryAdmin)
	uzAdmin := s.token("uz-oversight", identity.DirectoryAdmin)
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	officer := s.token("kz-police-cyber", identity.LiaisonOfficer)
	const path = "/v1/agencies/kz-police-cyber"

	first := s.mustDo("GET", path, admin, nil, http.StatusOK).body["etag"]
	off := s.do("POST", path+":deactivate", admin, s.withEtag("kz-police-cyber", admin, nil))
	if off.status != http.StatusOK || off.body["active"] != false {
		t.Fatalf("deactivate = %d %s", off.status, off.raw)
	}
	if r := s.do("GET", "/v1/requests", officer, nil); r.status != http.StatusUnauthorized || !strings.Contains(r.message(), "deactivated") {
		t.Errorf("a user of the deactivated agency listed requests: %d %s; want 401 saying it is deactivated", r.status, r.raw)
	}

	for _, tc := range []struct {
		name  string
		token string
		body  map[string]any
		want  int
		says  string
	}{
		{"stale etag", admin, map[string]any{"etag": first}, http.StatusConflict, "changed by someone else"},
		{"no etag", admin, map[string]any{}, http.StatusBadRequest, "etag"},
		{"administrator of another state", uzAdmin, map[string]any{"etag": off.body["etag"]}, http.StatusForbidden, "UZ"},
		{"prosecutor", prosecutor, map[string]any{"etag": off.body["etag"]}, http.StatusForbidden, "directory_admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("POST", path+":activate", tc.token, tc.body)
			if r.status != tc.want || !strings.Contains(r.raw, tc.says) {
				t.Errorf("activate = %d %s; want %d saying %q", r.status, r.raw, tc.want, tc.says)
			}
		})
	}
	if r := s.mustDo("GET", path, admin, nil, http.StatusOK); r.body["active"] != false || r.body["etag"] != off.body["etag"] {
		t.Fatalf("a refused activation changed the agency: %s", r.raw)
	}

	on := s.do("POST", path+":activate", admin, map[string]any{"etag": off.body["etag"]})
	if on.status != http.StatusOK || on.body["active"] != true || on.body["name"] != "agencies/kz-police-cyber" || on.body["etag"] == off.body["etag"] {
		t.Fatalf("activate = %d %s; want the agency, active, with a new etag", on.status, on.raw)
	}
	if r := s.mustDo("GET", path, prosecutor, nil, http.StatusOK); r.body["active"] != true {
		t.Errorf("the agency read after its activation: %s", r.raw)
	}
	// The request service keeps the directory's answers for up to 30 s
	// (directoryclient's cache): the agency's users are accepted again
	// within that.
	deadline := time.Now().Add(45 * time.Second)
	for {
		r := s.do("GET", "/v1/requests", officer, nil)
		if r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a user of the activated agency is still refused after 45 s: %d %s", r.status, r.raw)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestDirectoryImportActivates imports, through the gateway, a snapshot in
// which an agency the directory holds inactive is active: comityctl
// activates it (POST :activate with the etag just read) and says so.
func TestDirectoryImportActivates(t *testing.T) {
	bin := comityctl(t)
	s := startSuite(t, suiteOptions{})
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	s.mustDo("POST", "/v1/agencies/kz-police-cyber:deactivate", admin, s.withEtag("kz-police-cyber", admin, nil), http.StatusOK)
	entry := map[string]any{}
	for k, v := range s.mustDo("GET", "/v1/agencies/kz-police-cyber", admin, nil, http.StatusOK).body {
		if k != "etag" && k != "updateTime" {
			entry[k] = v
		}
	}
	entry["active"] = true
	state := map[string]any{}
	for k, v := range s.mustDo("GET", "/v1/states/KZ", admin, nil, http.StatusOK).body {
		if k != "etag" && k != "updateTime" && k != "code" {
			state[k] = v
		}
	}
	data, err := json.Marshal(map[string]any{"states": []any{state}, "agencies": []any{entry}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "snapshot.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, ok := runCtl(t, bin, "directory", "import", file, "--gateway", s.baseURL, "--token", admin)
	if !ok || !regexp.MustCompile(`agencies/kz-police-cyber\s+updated: activated`).MatchString(out) {
		t.Errorf("the import did not say it activated kz-police-cyber: %s", out)
	}
	if r := s.mustDo("GET", "/v1/agencies/kz-police-cyber", admin, nil, http.StatusOK); r.body["active"] != true {
		t.Errorf("kz-police-cyber after the import: %s", r.raw)
	}
}

// TestDirectoryImportSetsRetention imports, through the gateway, a
// snapshot giving KZ a retention after close (DESIGN §10): comityctl sets
// it and says so; a snapshot naming none keeps it.
func TestDirectoryImportSetsRetention(t *testing.T) {
	bin := comityctl(t)
	s := startSuite(t, suiteOptions{})
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	state := map[string]any{}
	for k, v := range s.mustDo("GET", "/v1/states/KZ", admin, nil, http.StatusOK).body {
		if k != "etag" && k != "updateTime" && k != "code" {
			state[k] = v
		}
	}
	if state["retentionAfterClose"] != nil {
		t.Fatalf("KZ has a retention before the import: %v", state["retentionAfterClose"])
	}
	importState := func(st map[string]any) string {
		t.Helper()
		data, err := json.Marshal(map[string]any{"states": []any{st}})
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "snapshot.json")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, ok := runCtl(t, bin, "directory", "import", file, "--gateway", s.baseURL, "--token", admin)
		if !ok {
			t.Fatalf("the import failed: %s", out)
		}
		return out
	}
	state["retentionAfterClose"] = "63072000s" // two years
	if out := importState(state); !regexp.MustCompile(`states/KZ\s+updated: retentionAfterClose`).MatchString(out) {
		t.Errorf("the import did not say it set the retention: %s", out)
	}
	if r := s.mustDo("GET", "/v1/states/KZ", admin, nil, http.StatusOK); r.body["retentionAfterClose"] != "63072000s" {
		t.Errorf("KZ after the import: %s", r.raw)
	}
	delete(state, "retentionAfterClose")
	if out := importState(state); !regexp.MustCompile(`states/KZ\s+unchanged`).MatchString(out) {
		t.Errorf("a snapshot without retention changed the state: %s", out)
	}
	if r := s.mustDo("GET", "/v1/states/KZ", admin, nil, http.StatusOK); r.body["retentionAfterClose"] != "63072000s" {
		t.Errorf("a snapshot without retention removed KZ's: %s", r.raw)
	}
}
