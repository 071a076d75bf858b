package gateway_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// engines are the stores the tests below run on: what they check goes
// through the store (an update's read and write, a filter, a lookup).
var engines = []string{"sqlite", "postgres"}

// hasViolation reports whether r has a field violation of field whose
// description contains says.
func hasViolation(r response, field, says string) bool {
	return slices.ContainsFunc(r.violations(), func(v string) bool {
		return strings.HasPrefix(v, field+": ") && strings.Contains(v, says)
	})
}

// TestReadModifyWrite: what a GET answers can be sent back in a PATCH, as
// AIP-134 clients do. The output-only and identifier fields in it (an
// agency's active, a request's status and reference) are ignored whether
// the mask is inferred from the body, explicit or `*`; a list sent is the
// whole new list; and a caller who may not make the change is told so (403,
// or 404 for a request they may not see) whatever the body holds.
func TestReadModifyWrite(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			s := startSuite(t, suiteOptions{postgres: engine == "postgres"})
			admin := s.token("kz-oversight", identity.DirectoryAdmin)
			uzAdmin := s.token("uz-oversight", identity.DirectoryAdmin)
			kzProsecutor := s.token("kz-gpo", identity.Prosecutor)
			const agency = "/v1/agencies/kz-police-cyber"

			t.Run("agency, mask inferred from the body", func(t *testing.T) {
				got := s.mustDo("GET", agency, admin, nil, http.StatusOK).body
				got["displayNames"].(map[string]any)["en"] = "Cyber police of Kazakhstan"
				r := s.mustDo("PATCH", agency, admin, got, http.StatusOK)
				if r.body["displayNames"].(map[string]any)["en"] != "Cyber police of Kazakhstan" || r.body["active"] != true ||
					r.body["etag"] == got["etag"] {
					t.Errorf("PATCH of the GET body = %s; want the new name, still active, a new etag", r.raw)
				}
			})
			t.Run("agency, explicit mask naming output-only fields", func(t *testing.T) {
				got := s.mustDo("GET", agency, admin, nil, http.StatusOK).body
				got["active"] = false
				got["updateTime"] = "2001-01-01T00:00:00Z"
				got["acceptedLanguages"] = []string{"ru"}
				r := s.mustDo("PATCH", agency+"?updateMask=active,updateTime,name,state,acceptedLanguages", admin, got, http.StatusOK)
				if r.body["active"] != true || r.body["updateTime"] == "2001-01-01T00:00:00Z" {
					t.Errorf("an explicit mask naming active changed it: %s", r.raw)
				}
				// A list sent is the new list, not added to the old one.
				if langs, _ := r.body["acceptedLanguages"].([]any); len(langs) != 1 || langs[0] != "ru" {
					t.Errorf("acceptedLanguages after a PATCH of [ru] = %v; want [ru]", r.body["acceptedLanguages"])
				}
				got["etag"] = r.body["etag"]
				got["acceptedLanguages"] = []string{"ru", "kk"}
				r = s.mustDo("PATCH", agency+"?updateMask=*", admin, got, http.StatusOK)
				if langs, _ := r.body["acceptedLanguages"].([]any); len(langs) != 2 || r.body["active"] != true {
					t.Errorf("PATCH with updateMask=* of the GET body = %s", r.raw)
				}
			})
			t.Run("agency, a field that does not exist", func(t *testing.T) {
				got := s.mustDo("GET", agency, admin, nil, http.StatusOK).body
				r := s.do("PATCH", agency+"?updateMask=colour", admin, got)
				if r.status != http.StatusBadRequest || !hasViolation(r, "update_mask", `"colour" is not a field of an agency`) {
					t.Errorf("updateMask=colour = %d %s; want 400 naming colour", r.status, r.raw)
				}
			})
			t.Run("agency, permission before the body", func(t *testing.T) {
				got := s.mustDo("GET", agency, admin, nil, http.StatusOK).body
				broken := map[string]any{"etag": got["etag"], "contactPoints": []any{map[string]any{"role": "", "email": "not an address"}}}
				for _, tc := range []struct {
					who, token string
					body       map[string]any
					says       string
				}{
					{"administrator of another state, the GET body", uzAdmin, got, "UZ"},
					{"administrator of another state, a body that is wrong", uzAdmin, broken, "UZ"},
					{"prosecutor, a body that is wrong", kzProsecutor, broken, "directory_admin"},
				} {
					r := s.do("PATCH", agency, tc.token, tc.body)
					if r.status != http.StatusForbidden || !strings.Contains(r.message(), tc.says) {
						t.Errorf("%s: PATCH = %d %s; want 403 saying %q", tc.who, r.status, r.raw, tc.says)
					}
				}
				r := s.do("PATCH", "/v1/states/KZ", uzAdmin, map[string]any{"timeZone": "Mars/Olympus_Mons", "trustedIssuers": []string{""}})
				if r.status != http.StatusForbidden {
					t.Errorf("a UZ administrator's PATCH of KZ with a wrong body = %d %s; want 403", r.status, r.raw)
				}
				if after := s.mustDo("GET", agency, admin, nil, http.StatusOK).body; after["etag"] != got["etag"] {
					t.Errorf("a refused PATCH changed the agency: %v", after)
				}
			})
			t.Run("agency deactivated then activated", func(t *testing.T) {
				off := s.mustDo("POST", agency+":deactivate", admin, s.withEtag("kz-police-cyber", admin, nil), http.StatusOK).body
				off["active"] = true
				r := s.mustDo("PATCH", agency, admin, off, http.StatusOK)
				if r.body["active"] != false {
					t.Fatalf("a PATCH saying active: true activated the agency: %s", r.raw)
				}
				on := s.mustDo("POST", agency+":activate", admin, map[string]any{"etag": r.body["etag"]}, http.StatusOK)
				if on.body["active"] != true {
					t.Errorf(":activate after :deactivate = %s; want active", on.raw)
				}
			})
			t.Run("state", func(t *testing.T) {
				got := s.mustDo("GET", "/v1/states/KZ", admin, nil, http.StatusOK).body
				got["code"] = "XX"
				r := s.mustDo("PATCH", "/v1/states/KZ", admin, got, http.StatusOK)
				if r.body["code"] != "KZ" || r.body["name"] != "states/KZ" {
					t.Errorf("PATCH of the GET body of KZ = %s", r.raw)
				}
			})

			t.Run("request", func(t *testing.T) {
				otherProsecutor := s.tokenFor("another-prosecutor", "kz-gpo", identity.Prosecutor)
				uzCA := s.token("uz-247", identity.CentralAuthority)
				created := s.mustDo("POST", "/v1/requests", kzProsecutor, preservation(), http.StatusOK).body
				path := "/v1/" + created["name"].(string)
				got := s.mustDo("GET", path, kzProsecutor, nil, http.StatusOK).body
				got["factsSummary"] = "Between 3 and 6 March the gateway was accessed from Uzbekistan."
				got["persons"] = []any{map[string]any{"fullName": "A. Example", "role": "suspect"}, map[string]any{"fullName": "B. Example", "role": "witness"}}
				got["status"], got["reference"], got["owner"], got["requestingState"] = "EXECUTED", "KZ-1999-000001", "mallory", "TJ"
				r := s.mustDo("PATCH", path, kzProsecutor, got, http.StatusOK)
				if r.body["factsSummary"] != got["factsSummary"] || r.body["status"] != "DRAFT" || r.body["reference"] != created["reference"] ||
					r.body["owner"] != created["owner"] || r.body["requestingState"] != "KZ" {
					t.Errorf("PATCH of the GET body of a draft = %s; want the new facts, nothing else", r.raw)
				}
				if persons, _ := r.body["persons"].([]any); len(persons) != 2 {
					t.Errorf("persons after a PATCH of two = %v; want those two", r.body["persons"])
				}
				got = r.body
				got["persons"] = []any{}
				r = s.mustDo("PATCH", path+"?updateMask=persons,status,metadataOnly", kzProsecutor, got, http.StatusOK)
				if persons, _ := r.body["persons"].([]any); len(persons) != 0 || r.body["status"] != "DRAFT" {
					t.Errorf("PATCH of persons: [] = %s; want no persons, still a draft", r.raw)
				}
				broken := map[string]any{"etag": r.body["etag"], "requestedAgency": "no agency!", "language": "??"}
				if w := s.do("PATCH", path, otherProsecutor, broken); w.status != http.StatusForbidden {
					t.Errorf("another prosecutor's PATCH with a wrong body = %d %s; want 403", w.status, w.raw)
				}
				if w := s.do("PATCH", path, uzCA, broken); w.status != http.StatusNotFound {
					t.Errorf("a PATCH with a wrong body by someone who may not see the draft = %d %s; want 404", w.status, w.raw)
				}
				if w := s.do("PATCH", path, kzProsecutor, broken); w.status != http.StatusBadRequest {
					t.Errorf("the owner's PATCH with a wrong body = %d %s; want 400", w.status, w.raw)
				}
			})
		})
	}
}

// TestStateCodesWithoutRegardToCase: a body's "uz" is taken as UZ, and so
// is a filter's, for requests (requestedState, requestingState, and the
// reference) and agencies (state).
func TestStateCodesWithoutRegardToCase(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			s := startSuite(t, suiteOptions{postgres: engine == "postgres"})
			prosecutor := s.token("kz-gpo", identity.Prosecutor)
			body := preservation()
			body["requestedState"] = "uz"
			created := s.mustDo("POST", "/v1/requests", prosecutor, body, http.StatusOK).body
			if created["requestedState"] != "UZ" {
				t.Fatalf("requestedState \"uz\" was stored as %v", created["requestedState"])
			}
			ref := created["reference"].(string)
			for _, filter := range []string{
				`requestedState="uz"`, `requestedState = "UZ"`, `requestedState="Uz" AND requestingState="kz"`,
				`reference="` + strings.ToLower(ref) + `"`,
			} {
				r := s.mustDo("GET", "/v1/requests?filter="+url.QueryEscape(filter), prosecutor, nil, http.StatusOK)
				if names := names(t, r, "requests"); !slices.Equal(names, []string{created["name"].(string)}) {
					t.Errorf("filter %s = %v; want the request to UZ", filter, names)
				}
			}
			if r := s.mustDo("GET", "/v1/requests?filter="+url.QueryEscape(`requestedState="tj"`), prosecutor, nil, http.StatusOK); len(names(t, r, "requests")) != 0 {
				t.Errorf(`filter requestedState="tj" found %s`, r.raw)
			}

			lower := names(t, s.mustDo("GET", "/v1/agencies?pageSize=1000&filter="+url.QueryEscape(`state="uz"`), prosecutor, nil, http.StatusOK), "agencies")
			upper := names(t, s.mustDo("GET", "/v1/agencies?pageSize=1000&filter="+url.QueryEscape(`state="UZ"`), prosecutor, nil, http.StatusOK), "agencies")
			if len(upper) == 0 || !slices.Equal(lower, upper) {
				t.Errorf(`agencies with state="uz" = %v; with state="UZ" = %v; want the same, not empty`, lower, upper)
			}
		})
	}
}

// TestRequestedResponseTimeInThePast: a date by which an answer is asked
// that has already passed is refused, naming the field and saying why, at
// create, at update and at submission (a draft written when the date was to
// come, submitted after it passed).
func TestRequestedResponseTimeInThePast(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	isPast := func(r response, field string) bool {
		return r.status == http.StatusBadRequest && hasViolation(r, field, "in the past") &&
			strings.Contains(r.raw, `"REQUESTED_RESPONSE_TIME_PAST"`)
	}

	body := preservation()
	body["requestedResponseTime"] = past
	if r := s.do("POST", "/v1/requests", prosecutor, body); !isPast(r, "request.requested_response_time") {
		t.Errorf("create with a past date = %d %s; want 400 saying request.requested_response_time is in the past", r.status, r.raw)
	}
	if r := s.mustDo("GET", "/v1/requests", prosecutor, nil, http.StatusOK); len(names(t, r, "requests")) != 0 {
		t.Errorf("a refused create left a request: %s", r.raw)
	}

	draft := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK).body
	path := "/v1/" + draft["name"].(string)
	if r := s.do("PATCH", path, prosecutor, map[string]any{"etag": draft["etag"], "requestedResponseTime": past}); !isPast(r, "request.requested_response_time") {
		t.Errorf("update to a past date = %d %s; want 400 saying it is in the past", r.status, r.raw)
	}

	soon := time.Now().Add(2 * time.Second)
	r := s.mustDo("PATCH", path, prosecutor, map[string]any{"etag": draft["etag"], "requestedResponseTime": soon.UTC().Format(time.RFC3339Nano)}, http.StatusOK)
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	if sub := s.do("POST", path+":submit", prosecutor, map[string]any{"etag": r.body["etag"]}); !isPast(sub, "requested_response_time") {
		t.Errorf("submission after the date passed = %d %s; want 400 saying it is in the past", sub.status, sub.raw)
	}
	// Read-modify-write of another field sends the passed date back
	// unchanged: the draft is still saved (the date is for the submission
	// to refuse, as above).
	read := s.mustDo("GET", path, prosecutor, nil, http.StatusOK).body
	read["factsSummary"] = "The gateway was accessed from an address hosted in Uzbekistan, twice."
	r = s.mustDo("PATCH", path, prosecutor, read, http.StatusOK)
	if r.body["factsSummary"] != read["factsSummary"] {
		t.Errorf("GET then PATCH after the date passed did not save the change: %.300s", r.raw)
	}
	later := time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)
	r = s.mustDo("PATCH", path, prosecutor, map[string]any{"etag": r.body["etag"], "requestedResponseTime": later}, http.StatusOK)
	if sub := s.mustDo("POST", path+":submit", prosecutor, map[string]any{"etag": r.body["etag"]}, http.StatusOK); sub.body["status"] != "SUBMITTED" {
		t.Errorf("submission with a date to come = %s", sub.raw)
	}
}

// TestGetRequestByReference: GET /v1/requests/KZ-2026-000001 answers the
// request under its canonical name, in either case, to whoever may see it
// by id; to anyone else it is not found, as a reference that does not
// exist is. The other methods take the name only, and say so.
func TestGetRequestByReference(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			s := startSuite(t, suiteOptions{postgres: engine == "postgres"})
			prosecutor := s.token("kz-gpo", identity.Prosecutor)
			kzAuditor := s.token("kz-oversight", identity.Auditor)
			uzCA := s.token("uz-247", identity.CentralAuthority)
			s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK)
			created := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK).body
			name, ref := created["name"].(string), created["reference"].(string)
			if !strings.HasSuffix(ref, "-000002") {
				t.Fatalf("second reference = %s", ref)
			}

			for _, alias := range []string{ref, strings.ToLower(ref)} {
				r := s.mustDo("GET", "/v1/requests/"+alias, prosecutor, nil, http.StatusOK)
				if r.body["name"] != name || r.body["reference"] != ref || r.body["factsSummary"] != created["factsSummary"] {
					t.Errorf("GET by %s = %.300s; want %s in full", alias, r.raw, name)
				}
			}
			byID := s.mustDo("GET", "/v1/"+name, kzAuditor, nil, http.StatusOK)
			byRef := s.mustDo("GET", "/v1/requests/"+ref, kzAuditor, nil, http.StatusOK)
			if byRef.body["metadataOnly"] != true || byRef.body["name"] != name || byID.body["metadataOnly"] != true {
				t.Errorf("an auditor by reference = %.300s; want the metadata, as by id", byRef.raw)
			}

			hidden := s.do("GET", "/v1/requests/"+ref, uzCA, nil)
			missing := s.do("GET", "/v1/requests/KZ-2026-999999", uzCA, nil)
			if hidden.status != http.StatusNotFound || missing.status != http.StatusNotFound ||
				strings.Replace(hidden.message(), ref, "KZ-2026-999999", 1) != missing.message() {
				t.Errorf("a draft's reference to someone who may not see it = %d %s; a reference that does not exist = %d %s; want the same 404",
					hidden.status, hidden.raw, missing.status, missing.raw)
			}
			if strings.Contains(hidden.raw, name) {
				t.Errorf("the 404 gave the request's name away: %s", hidden.raw)
			}

			r := s.do("POST", "/v1/requests/"+ref+":submit", prosecutor, map[string]any{"etag": created["etag"]})
			if r.status != http.StatusNotFound || !strings.Contains(r.message(), "requests/{id}") {
				t.Errorf(":submit by reference = %d %s; want 404 saying the method takes the name", r.status, r.raw)
			}
			if r := s.mustDo("GET", "/v1/"+name, prosecutor, nil, http.StatusOK); r.body["status"] != "DRAFT" {
				t.Errorf("the request after :submit by reference: %s", r.raw)
			}
		})
	}
}
