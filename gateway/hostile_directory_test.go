package gateway_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// TestHostileDirectoryAdminCannotLockStateOut replays issue 10 item 13: a KZ
// directory administrator replaced KZ's trusted issuers with one nobody
// signs for, without an etag, and every KZ user was locked out. Such a change
// must be refused, saying why, and leave the state as it was; and a state is
// only changed by someone who sends the etag they read.
func TestHostileDirectoryAdminCannotLockStateOut(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	before := s.mustDo("GET", "/v1/states/KZ", admin, nil, http.StatusOK)
	issuers := func(r response) []any { v, _ := r.body["trustedIssuers"].([]any); return v }
	if !slices.Contains(issuers(before), any(identity.DevIssuerID)) {
		t.Fatalf("KZ does not trust the dev issuer to begin with: %s", before.raw)
	}
	etag := before.body["etag"]

	for _, tc := range []struct {
		name string
		body map[string]any
		// status, field and words are the refusal: the field violation
		// must say words.
		status       int
		field, words string
	}{
		{"the attack: another issuer, no etag", map[string]any{"trustedIssuers": []string{"urn:evil"}}, http.StatusBadRequest,
			"state.trusted_issuers", "this change removes urn:comity:dev-issuer, the issuer of your own token; ask another administrator, signed in through another issuer, to remove it"},
		{"another issuer, with the etag", map[string]any{"trustedIssuers": []string{"urn:evil"}, "etag": etag}, http.StatusBadRequest,
			"state.trusted_issuers", "the issuer of your own token"},
		{"no issuer at all", map[string]any{"trustedIssuers": []string{}, "etag": etag}, http.StatusBadRequest,
			"state.trusted_issuers", "this change would leave Kazakhstan with no trusted token issuer"},
		{"a harmless change without the etag", map[string]any{"timeZone": "Asia/Qostanay"}, http.StatusBadRequest,
			"state.etag", "send the etag you read, so that a concurrent change is not overwritten"},
		{"a harmless change with a stale etag", map[string]any{"timeZone": "Asia/Qostanay", "etag": "c3RhbGU"}, http.StatusConflict,
			"", "changed by someone else"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("PATCH", "/v1/states/KZ", admin, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.field == "" {
				if !strings.Contains(r.message(), tc.words) {
					t.Errorf("message %q does not say %q", r.message(), tc.words)
				}
			} else if !slices.Contains(r.violations(), tc.field+": "+tc.words) &&
				!slices.ContainsFunc(r.violations(), func(v string) bool {
					return strings.HasPrefix(v, tc.field+": ") && strings.Contains(v, tc.words)
				}) {
				t.Errorf("violations %q; want one of %s saying %q", r.violations(), tc.field, tc.words)
			}
			after := s.mustDo("GET", "/v1/states/KZ", admin, nil, http.StatusOK)
			if after.body["etag"] != etag || !slices.Equal(issuers(after), issuers(before)) {
				t.Errorf("the refused change changed KZ:\n before %s\n after  %s", before.raw, after.raw)
			}
		})
	}

	// KZ users still sign in, also once the directory's trust cache (2 s)
	// has expired: a lock-out would show only then.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		s.mustDo("GET", "/v1/agencies/kz-gpo", prosecutor, nil, http.StatusOK)
	}

	// A change made knowingly still works: adding an issuer, with the etag.
	r := s.do("PATCH", "/v1/states/KZ?updateMask=trustedIssuers", admin,
		map[string]any{"trustedIssuers": append(issuers(before), "https://idp.kz.example/"), "etag": etag})
	if r.status != http.StatusOK || !slices.Contains(issuers(r), any("https://idp.kz.example/")) {
		t.Errorf("adding an issuer with the etag: %d %s", r.status, r.raw)
	}
}

// comityctl builds the comityctl binary for a test.
func comityctl(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", dir+"/", "github.com/comity-mla/comity/gateway/cmd/comityctl").CombinedOutput()
	if err != nil {
		t.Fatalf("go build comityctl: %v\n%s", err, out)
	}
	return filepath.Join(dir, "comityctl")
}

// runCtl runs comityctl with args and returns its output and whether it
// succeeded.
func runCtl(t *testing.T, bin string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "COMITY_") })
	out, err := cmd.CombinedOutput()
	t.Logf("comityctl %s:\n%s", strings.Join(args, " "), out)
	return string(out), err == nil
}

// TestHostileDirectoryImport replays issue 10 item 14: `comityctl directory
// import` of the shipped seed onto the live database of a running suite
// replaced every state's trusted issuers with none, unaudited, and locked
// everyone out. An import must never run against a database a service is
// using; a running directory is changed through the API, by a state's
// directory_admin, for that state only, audited; and a snapshot that lists no
// issuer for a state leaves the state's issuers as they are.
func TestHostileDirectoryImport(t *testing.T) {
	bin := comityctl(t)
	s := startSuite(t, suiteOptions{})
	db := "sqlite:" + filepath.Join(s.dataDir, "directory.db")
	shipped, err := filepath.Abs(filepath.Join("..", "services", "directory", "seed", "default.json"))
	if err != nil {
		t.Fatal(err)
	}
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	kzAdmin := s.token("kz-gpo", identity.DirectoryAdmin)
	kzAuditor := s.token("kz-oversight", identity.Auditor)

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"as the README writes it", []string{"directory", "import", shipped, "--database", db}},
		{"flags first", []string{"directory", "import", "--database", db, shipped}},
	} {
		t.Run("into the live database, "+tc.name, func(t *testing.T) {
			out, ok := runCtl(t, bin, tc.args...)
			if ok {
				t.Fatal("the import into a running suite's database succeeded")
			}
			for _, want := range []string{"directory.db.lock", "comity-directory pid", "--gateway"} {
				if !strings.Contains(out, want) {
					t.Errorf("the refusal does not name %q", want)
				}
			}
			st := s.mustDo("GET", "/v1/states/KZ", prosecutor, nil, http.StatusOK)
			if v, _ := st.body["trustedIssuers"].([]any); !slices.Contains(v, any(identity.DevIssuerID)) {
				t.Errorf("KZ after the refused import: %s", st.raw)
			}
		})
	}

	t.Run("through the gateway, as KZ's directory_admin", func(t *testing.T) {
		// A whole-directory snapshot: KZ's entries changed, a new KZ
		// agency, one unchanged, and entries of UZ that a KZ admin may not
		// touch. It lists no issuer for KZ, as the shipped seed does.
		kz := s.mustDo("GET", "/v1/states/KZ", kzAdmin, nil, http.StatusOK).body
		uz := s.mustDo("GET", "/v1/states/UZ", kzAdmin, nil, http.StatusOK).body
		police := s.mustDo("GET", "/v1/agencies/kz-police-cyber", kzAdmin, nil, http.StatusOK).body
		k247 := s.mustDo("GET", "/v1/agencies/kz-247", kzAdmin, nil, http.StatusOK).body
		uzGPO := s.mustDo("GET", "/v1/agencies/uz-gpo", kzAdmin, nil, http.StatusOK)
		entry := func(m map[string]any, set map[string]any) map[string]any {
			out := map[string]any{}
			for k, v := range m {
				if k != "etag" && k != "updateTime" && k != "code" {
					out[k] = v
				}
			}
			for k, v := range set {
				out[k] = v
			}
			return out
		}
		snapshot := map[string]any{
			"states": []any{
				entry(kz, map[string]any{"timeZone": "Asia/Qostanay", "trustedIssuers": []string{}}),
				entry(uz, map[string]any{"timeZone": "UTC", "trustedIssuers": []string{}}),
			},
			"agencies": []any{
				entry(police, map[string]any{"contactPoints": []any{map[string]any{"role": "Night desk", "phone": "+7 7172 111 111", "alwaysAvailable": true}}}),
				entry(k247, nil),
				map[string]any{"name": "agencies/kz-cyber-lab", "state": "KZ", "kind": "LAW_ENFORCEMENT", "active": true,
					"displayNames": map[string]string{"en": "Cyber forensics lab"}, "acceptedLanguages": []string{"ru"}},
				entry(uzGPO.body, map[string]any{"displayNames": map[string]string{"en": "Renamed by KZ"}}),
			},
		}
		file := filepath.Join(t.TempDir(), "snapshot.json")
		data, _ := json.Marshal(snapshot)
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, ok := runCtl(t, bin, "directory", "import", file, "--gateway", s.baseURL, "--token", kzAdmin)
		if !ok {
			t.Fatal("the import through the gateway failed")
		}
		for _, want := range []string{
			"states/KZ", "updated: timeZone; kept its trusted issuers (the snapshot lists none)",
			"states/UZ", "skipped: not your state (you administer KZ)",
			"agencies/kz-police-cyber", "updated: contactPoints",
			"agencies/kz-247", "unchanged",
			"agencies/kz-cyber-lab", "created",
			"agencies/uz-gpo", "skipped: an agency of UZ",
			"KZ: created 1, updated 2, unchanged 1, skipped 2, failed 0",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the summary does not say %q", want)
			}
		}
		if st := s.mustDo("GET", "/v1/states/KZ", kzAdmin, nil, http.StatusOK); st.body["timeZone"] != "Asia/Qostanay" ||
			!slices.Contains(st.body["trustedIssuers"].([]any), any(identity.DevIssuerID)) {
			t.Errorf("KZ after the import: %s", st.raw)
		}
		s.mustDo("GET", "/v1/agencies/kz-cyber-lab", prosecutor, nil, http.StatusOK)
		if st := s.mustDo("GET", "/v1/states/UZ", kzAdmin, nil, http.StatusOK); st.body["timeZone"] != uz["timeZone"] {
			t.Errorf("UZ changed by a KZ admin's import: %s", st.raw)
		}
		if a := s.mustDo("GET", "/v1/agencies/uz-gpo", kzAdmin, nil, http.StatusOK); a.body["etag"] != uzGPO.body["etag"] {
			t.Errorf("uz-gpo changed by a KZ admin's import: %s", a.raw)
		}
		// KZ's auditors see every change, made by the admin.
		changes := []string{"states/KZ", "agencies/kz-police-cyber", "agencies/kz-cyber-lab"}
		s.awaitEntries(kzAuditor, resourceFilter(changes...), 30*time.Second, func(es []auditEntry) bool {
			for _, name := range changes {
				if !slices.ContainsFunc(es, func(e auditEntry) bool {
					return e.Event.Resource == name && e.Event.Outcome == "OK" && e.Event.Actor.Agency == "kz-gpo" &&
						slices.Contains(e.Event.Actor.Roles, "directory_admin") && !strings.HasSuffix(e.Event.Action, "/GetState") &&
						!strings.HasSuffix(e.Event.Action, "/GetAgency")
				}) {
					return false
				}
			}
			return true
		})
	})

	t.Run("the shipped seed, into a stopped suite's database", func(t *testing.T) {
		s.stop()
		out, ok := runCtl(t, bin, "directory", "import", shipped, "--database", db)
		if !ok {
			t.Fatal("the import into a stopped suite's database failed")
		}
		if !strings.Contains(out, "kept the trusted issuers of KZ, KG, TJ, TM, UZ: the snapshot lists none for them") {
			t.Errorf("the import does not say that the states kept their issuers")
		}
		again := startSuite(t, suiteOptions{dataDir: s.dataDir})
		if r := again.do("GET", "/v1/agencies/kz-gpo", prosecutor, nil); r.status != http.StatusOK {
			t.Errorf("a KZ prosecutor after importing the shipped seed: %d %s", r.status, r.raw)
		}
		if st := again.mustDo("GET", "/v1/states/KZ", prosecutor, nil, http.StatusOK); st.body["timeZone"] != "Asia/Almaty" {
			t.Errorf("KZ after importing the shipped seed: %s; want the seed's time zone back", st.raw)
		}
	})
}

// TestHostileDirectoryAdminCannotLockOutThroughAgencies: a role counts only
// at an active agency of a kind that may hold it, so a KZ directory
// administrator could silence KZ's oversight by making kz-oversight a
// LAW_ENFORCEMENT agency (every KZ auditor's token refused), or lock
// themselves and KZ out by deactivating their own agency, with no etag. Each
// such change must be refused, saying why in words the administrator can act
// on, and change nothing; KZ's auditors and the administrator still sign in
// afterwards; a harmless change still works, with the etag.
func TestHostileDirectoryAdminCannotLockOutThroughAgencies(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	auditor := s.token("kz-oversight", identity.Auditor)
	s.mustDo("GET", "/v1/audit/checkpoint", auditor, nil, http.StatusOK)
	etagOf := func(id string) any {
		return s.mustDo("GET", "/v1/agencies/"+id, admin, nil, http.StatusOK).body["etag"]
	}
	oversightEtag, gpoEtag := etagOf("kz-oversight"), etagOf("kz-gpo")
	const (
		silenced = "kz-oversight is Kazakhstan's only active oversight body (OVERSIGHT): changing its kind to LAW_ENFORCEMENT " +
			"would leave Kazakhstan's auditors unable to sign in; create another OVERSIGHT agency first"
		ownRole = "this change would stop your own role directory_admin from counting at kz-gpo " +
			"(it counts only at an active CENTRAL_AUTHORITY or OVERSIGHT agency); ask another administrator"
	)
	for _, tc := range []struct {
		name, method, path string
		body               map[string]any
		// id is the agency that must be left as it was.
		id string
		// status, field and words are the refusal: the field violation
		// must say words.
		status       int
		field, words string
	}{
		{"the attack: kz-oversight made law enforcement, no etag", "PATCH", "/v1/agencies/kz-oversight?updateMask=kind",
			map[string]any{"kind": "LAW_ENFORCEMENT"}, "kz-oversight", http.StatusBadRequest, "agency.kind", silenced},
		{"kz-oversight made law enforcement, with the etag", "PATCH", "/v1/agencies/kz-oversight?updateMask=kind",
			map[string]any{"kind": "LAW_ENFORCEMENT", "etag": oversightEtag}, "kz-oversight", http.StatusBadRequest, "agency.kind", silenced},
		{"kz-oversight deactivated", "POST", "/v1/agencies/kz-oversight:deactivate",
			map[string]any{"etag": oversightEtag}, "kz-oversight", http.StatusBadRequest, "name",
			"kz-oversight is Kazakhstan's only active oversight body (OVERSIGHT): deactivating it would leave Kazakhstan's auditors unable to sign in"},
		{"the attack: own agency deactivated, no etag", "POST", "/v1/agencies/kz-gpo:deactivate",
			map[string]any{}, "kz-gpo", http.StatusBadRequest, "name", ownRole},
		{"own agency deactivated, with the etag", "POST", "/v1/agencies/kz-gpo:deactivate",
			map[string]any{"etag": gpoEtag}, "kz-gpo", http.StatusBadRequest, "name", ownRole},
		{"own agency made law enforcement", "PATCH", "/v1/agencies/kz-gpo?updateMask=kind",
			map[string]any{"kind": "LAW_ENFORCEMENT", "etag": gpoEtag}, "kz-gpo", http.StatusBadRequest, "agency.kind", ownRole},
		{"a harmless change without the etag", "PATCH", "/v1/agencies/kz-police-cyber?updateMask=kind",
			map[string]any{"kind": "PROSECUTION"}, "kz-police-cyber", http.StatusBadRequest, "agency.etag",
			"send the etag you read, so that a concurrent change is not overwritten"},
		{"a deactivation without the etag", "POST", "/v1/agencies/kz-police-cyber:deactivate",
			map[string]any{}, "kz-police-cyber", http.StatusBadRequest, "etag", "send the etag you read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.mustDo("GET", "/v1/agencies/"+tc.id, admin, nil, http.StatusOK)
			r := s.do(tc.method, tc.path, admin, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if !slices.ContainsFunc(r.violations(), func(v string) bool {
				return strings.HasPrefix(v, tc.field+": ") && strings.Contains(v, tc.words)
			}) {
				t.Errorf("violations %q; want one of %s saying %q", r.violations(), tc.field, tc.words)
			}
			if after := s.mustDo("GET", "/v1/agencies/"+tc.id, admin, nil, http.StatusOK); after.body["etag"] != before.body["etag"] ||
				after.body["kind"] != before.body["kind"] || after.body["active"] != true {
				t.Errorf("the refused change changed %s:\n before %s\n after  %s", tc.id, before.raw, after.raw)
			}
		})
	}

	// KZ's auditors and its administrator still sign in, also once the
	// directory's trust cache (2 s) has expired: a lock-out would show
	// only then (on the directory's endpoints first; the other services
	// keep the directory's answers longer).
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		s.mustDo("GET", "/v1/agencies/kz-oversight", auditor, nil, http.StatusOK)
		s.mustDo("GET", "/v1/audit/checkpoint", auditor, nil, http.StatusOK)
		s.mustDo("GET", "/v1/states/KZ", admin, nil, http.StatusOK)
	}

	// A harmless change made knowingly still works: another agency's kind,
	// with the etag.
	r := s.do("PATCH", "/v1/agencies/kz-police-cyber?updateMask=kind", admin,
		map[string]any{"kind": "PROSECUTION", "etag": etagOf("kz-police-cyber")})
	if r.status != http.StatusOK || r.body["kind"] != "PROSECUTION" {
		t.Errorf("changing kz-police-cyber's kind with the etag: %d %s", r.status, r.raw)
	}
}

// TestHostileDirectoryImportCannotLockOut: `comityctl directory import` must
// not be a way around the rules of agency changes. Through the gateway, each
// entry is a call of the API and is refused like one, saying why; into a
// stopped suite's database, an agency whose snapshot kind or active flag
// would leave its state with no agency where auditor (or directory_admin)
// counts keeps its own, as a state listed with no trusted issuer keeps its
// issuers, and the import says so; after it, KZ's auditor still signs in.
func TestHostileDirectoryImportCannotLockOut(t *testing.T) {
	bin := comityctl(t)
	s := startSuite(t, suiteOptions{})
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	auditor := s.token("kz-oversight", identity.Auditor)
	agency := func(id string, set map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range s.mustDo("GET", "/v1/agencies/"+id, admin, nil, http.StatusOK).body {
			if k != "etag" && k != "updateTime" {
				out[k] = v
			}
		}
		for k, v := range set {
			out[k] = v
		}
		return out
	}
	// KZ as it is: the snapshot must list the state of its agencies.
	kz := map[string]any{}
	for k, v := range s.mustDo("GET", "/v1/states/KZ", admin, nil, http.StatusOK).body {
		if k != "etag" && k != "updateTime" && k != "code" {
			kz[k] = v
		}
	}
	snapshot := func(t *testing.T, agencies ...any) string {
		file := filepath.Join(t.TempDir(), "snapshot.json")
		data, _ := json.Marshal(map[string]any{"states": []any{kz}, "agencies": agencies})
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	oversightAsPolice := agency("kz-oversight", map[string]any{"kind": "LAW_ENFORCEMENT"})
	gpoInactive := agency("kz-gpo", map[string]any{"active": false})

	t.Run("through the gateway, as KZ's directory_admin", func(t *testing.T) {
		before := map[string]response{}
		for _, id := range []string{"kz-oversight", "kz-gpo"} {
			before[id] = s.mustDo("GET", "/v1/agencies/"+id, admin, nil, http.StatusOK)
		}
		out, ok := runCtl(t, bin, "directory", "import", snapshot(t, oversightAsPolice, gpoInactive), "--gateway", s.baseURL, "--token", admin)
		if ok {
			t.Error("an import whose every entry was refused succeeded")
		}
		for _, want := range []string{
			"agencies/kz-oversight", "agency.kind: kz-oversight is Kazakhstan's only active oversight body (OVERSIGHT): changing its kind to LAW_ENFORCEMENT would leave Kazakhstan's auditors unable to sign in",
			"agencies/kz-gpo", "NOT deactivated", "this change would stop your own role directory_admin from counting at kz-gpo",
			"KZ: created 0, updated 0, unchanged 1, skipped 0, failed 2",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the summary does not say %q", want)
			}
		}
		for id, b := range before {
			if a := s.mustDo("GET", "/v1/agencies/"+id, admin, nil, http.StatusOK); a.body["etag"] != b.body["etag"] {
				t.Errorf("%s changed by a refused import:\n before %s\n after  %s", id, b.raw, a.raw)
			}
		}
	})

	t.Run("into a stopped suite's database", func(t *testing.T) {
		s.stop()
		db := "sqlite:" + filepath.Join(s.dataDir, "directory.db")
		out, ok := runCtl(t, bin, "directory", "import", snapshot(t, oversightAsPolice), "--database", db)
		if !ok {
			t.Fatal("the import failed")
		}
		if want := "kept kz-oversight as active OVERSIGHT: the snapshot's active LAW_ENFORCEMENT would leave KZ with no active agency where auditor counts (OVERSIGHT)"; !strings.Contains(out, want) {
			t.Errorf("the import does not say %q", want)
		}
		again := startSuite(t, suiteOptions{dataDir: s.dataDir})
		if r := again.do("GET", "/v1/audit/checkpoint", auditor, nil); r.status != http.StatusOK {
			t.Errorf("a KZ auditor after the import: %d %s", r.status, r.raw)
		}
		if a := again.mustDo("GET", "/v1/agencies/kz-oversight", auditor, nil, http.StatusOK); a.body["kind"] != "OVERSIGHT" {
			t.Errorf("kz-oversight after the import: %s", a.raw)
		}
	})
}
