package gateway_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/comity-mla/comity/services/identity"
)

// apiErrorCase is one call and what its error must say: the status, words
// of the message, and the field its details name with words of the
// field's description.
type apiErrorCase struct {
	name, method, path, token string
	body                      any
	header                    http.Header
	want                      int
	// field is the field the details must name; words, what the message
	// and that field's description must hold.
	field string
	words []string
	// not are words that must not appear (validator internals, the wrong
	// complaint).
	not []string
}

func (s *suite) send(tc apiErrorCase) response {
	s.t.Helper()
	var body []byte
	switch b := tc.body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	}
	req, err := http.NewRequest(tc.method, s.baseURL+tc.path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if tc.token != "" {
		req.Header.Set("Authorization", "Bearer "+tc.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range tc.header {
		req.Header[k] = vs
	}
	return fromClient(s.client().Send(req))
}

func runAPIErrorCases(t *testing.T, s *suite, cases []apiErrorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.send(tc)
			if r.status != tc.want {
				t.Fatalf("%s %s = %d, want %d: %s", tc.method, tc.path, r.status, tc.want, r.raw)
			}
			var desc string
			found := false
			for _, v := range r.violations() {
				field, d, _ := strings.Cut(v, ": ")
				if field == tc.field {
					found, desc = true, d
				}
			}
			if tc.field != "" && !found {
				t.Errorf("details name %q, want the field %q: %s", r.violations(), tc.field, r.raw)
			}
			all := r.message() + " | " + desc
			for _, w := range tc.words {
				if !strings.Contains(all, w) {
					t.Errorf("error %q does not say %q", all, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(r.raw, w) {
					t.Errorf("error %s says %q", r.raw, w)
				}
			}
		})
	}
}

// TestUnknownQueryParametersAreRefused (issue 12, item 2): a query parameter
// the call does not take is refused with 400 naming it, on the mux's routes
// and on the hand-written upload, download and watch; on a list, a field of
// what it lists gets the filter to write instead. The parameters a call
// takes are still taken, by their JSON or proto names.
func TestUnknownQueryParametersAreRefused(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK).body["name"].(string)
	up := s.client().Upload("/v1/"+name, prosecutor, "REQUEST_DOCUMENT", "ru", "request.pdf", []byte("%PDF-1.7 request"), nil)
	if up.Status != http.StatusOK {
		t.Fatalf("upload = %d: %s", up.Status, up.Raw)
	}
	attachment := up.Body["name"].(string)

	// What was ignored before is refused now; what was taken still is.
	for _, path := range []string{"/v1/requests?pageSize=5", "/v1/requests?page_size=5&orderBy=" + url.QueryEscape("createTime desc"),
		"/v1/agencies?filter=" + url.QueryEscape(`state = "KZ"`), "/v1/routes:resolve?requestedState=UZ&requestType=DATA_PRESERVATION&priority=URGENT"} {
		s.mustDo("GET", path, admin, nil, http.StatusOK)
	}
	sum := sha256.Sum256([]byte("x"))
	runAPIErrorCases(t, s, []apiErrorCase{
		{name: "a list's field as a parameter", method: "GET", path: "/v1/requests?status=DRAFT", token: prosecutor,
			want: 400, field: "status", words: []string{`unknown query parameter`, `write filter=status="DRAFT"`, "pageSize"}},
		{name: "a list's field by its proto name", method: "GET", path: "/v1/requests?requested_state=UZ", token: prosecutor,
			want: 400, field: "requested_state", words: []string{`filter=requestedState="UZ"`}},
		{name: "an agency list's field", method: "GET", path: "/v1/agencies?kind=PROSECUTION", token: admin,
			want: 400, field: "kind", words: []string{`filter=kind="PROSECUTION"`}},
		{name: "a parameter of a get", method: "GET", path: "/v1/agencies/kz-gpo?view=FULL", token: admin,
			want: 400, field: "view", words: []string{"unknown query parameter", "not a parameter of GetAgency, which takes no query parameters"}},
		{name: "a parameter of a custom method with a body", method: "POST", path: "/v1/" + name + ":submit?force=true", token: prosecutor,
			body: `{}`, want: 400, field: "force", words: []string{"unknown query parameter", "not a parameter of SubmitRequest, which takes no query parameters"}},
		{name: "a misspelt parameter of a resolve", method: "GET", path: "/v1/routes:resolve?state=UZ&requestType=DATA_PRESERVATION&priority=URGENT",
			token: admin, want: 400, field: "state", words: []string{"ResolveRoute, which takes", "requestedState"}},
		{name: "a parameter of the upload", method: "POST", path: "/v1/" + name + "/attachments:upload?kind=OTHER&colour=red", token: prosecutor,
			body: "x", header: http.Header{"Content-Type": {"application/pdf"}, "Content-Disposition": {`attachment; filename="x.pdf"`},
				"Repr-Digest": {"sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"}},
			want: 400, field: "colour", words: []string{"unknown query parameter", "not a parameter of UploadAttachment, which takes kind, language"}},
		{name: "a parameter of the download", method: "GET", path: "/v1/" + attachment + ":download?inline=1", token: prosecutor,
			want: 400, field: "inline", words: []string{"unknown query parameter"}},
		{name: "a parameter of the watch", method: "GET", path: "/v1/requests:watch?colour=red", token: prosecutor,
			want: 400, field: "colour", words: []string{"unknown query parameter", "WatchRequests"}},
		{name: "one field twice by its two names", method: "GET", path: "/v1/requests?pageSize=1&page_size=2", token: prosecutor,
			want: 400, field: "page_size", words: []string{"names the same field as pageSize"}},
	})
}

// TestEnumErrorsListTheValues (issue 12, item 3): a wrong enum value, in a
// body or in a query parameter, is refused with the values the field takes
// (not "required", not a type name); an enum left unset says it is
// required and lists them too.
func TestEnumErrorsListTheValues(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK).body["name"].(string)

	phone := preservation()
	phone["identifiers"] = []any{map[string]any{"kind": "PHONE_NUMBER", "value": "+998 71 000 00 00"}}
	lower := preservation()
	lower["priority"] = "urgent"
	runAPIErrorCases(t, s, []apiErrorCase{
		{name: "in a body", method: "POST", path: "/v1/requests", token: prosecutor, body: toJSON(t, phone),
			want: 400, field: "request.identifiers[0].kind",
			words: []string{`"PHONE_NUMBER" is not one of IP_ADDRESS, EMAIL, PHONE, ACCOUNT, URL, DOMAIN`}, not: []string{"UNSPECIFIED"}},
		{name: "in a body, in lower case", method: "POST", path: "/v1/requests", token: prosecutor, body: toJSON(t, lower),
			want: 400, field: "request.priority", words: []string{`"urgent" is not one of ROUTINE, URGENT`, "write URGENT"}},
		{name: "in a query parameter", method: "GET", path: "/v1/routes:resolve?requestedState=UZ&requestType=GOSSIP&priority=URGENT",
			token: admin, want: 400, field: "requestType", words: []string{`"GOSSIP" is not one of DATA_PRESERVATION, SUBSCRIBER_INFORMATION`}},
		{name: "the upload's kind", method: "POST", path: "/v1/" + name + "/attachments:upload?kind=evidence", token: prosecutor, body: "x",
			header: http.Header{"Content-Type": {"application/pdf"}},
			want:   400, field: "kind", words: []string{`"evidence" is not one of REQUEST_DOCUMENT, TRANSLATION, COURT_ORDER, EVIDENCE, OTHER`, "write EVIDENCE"},
			not: []string{"required"}},
		{name: "the upload's kind left out", method: "POST", path: "/v1/" + name + "/attachments:upload", token: prosecutor, body: "x",
			header: http.Header{"Content-Type": {"application/pdf"}},
			want:   400, field: "kind", words: []string{"required", "REQUEST_DOCUMENT, TRANSLATION, COURT_ORDER, EVIDENCE, OTHER"}},
		{name: "an enum left unset", method: "GET", path: "/v1/routes:resolve?requestedState=UZ&requestType=DATA_PRESERVATION",
			token: admin, want: 400, field: "priority", words: []string{"is required: one of ROUTINE, URGENT"}, not: []string{"in list"}},
		{name: "a message's visibility left unset", method: "POST", path: "/v1/" + name + "/messages", token: prosecutor,
			body: `{"body":"A question"}`, want: 400, field: "message.visibility",
			words: []string{"is required: one of BOTH_SIDES, OWN_AGENCY"}, not: []string{"in list", "[0]"}},
	})
}

// TestValidationErrorsInWords (issue 12, item 3): the services' shape
// checks say what the field must be, never the validator's rule or
// regular expression.
func TestValidationErrorsInWords(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	internals := []string{"regex", "does not match", "must not be in list", "value must", "^("}
	runAPIErrorCases(t, s, []apiErrorCase{
		{name: "an e-mail address", method: "PATCH", path: "/v1/agencies/kz-gpo?updateMask=contactPoints", token: admin,
			body: toJSON(t, s.withEtag("kz-gpo", admin, map[string]any{"contactPoints": []any{map[string]any{"role": "desk", "email": "duty desk"}}})),
			want: 400, field: "agency.contact_points[0].email", words: []string{"not an e-mail address"}, not: internals},
		{name: "a telephone number", method: "PATCH", path: "/v1/agencies/kz-gpo?updateMask=contactPoints", token: admin,
			body: toJSON(t, s.withEtag("kz-gpo", admin, map[string]any{"contactPoints": []any{map[string]any{"role": "desk", "phone": "7172 71 24 00"}}})),
			want: 400, field: "agency.contact_points[0].phone", words: []string{"telephone number in international form, e.g. +77172712400"}, not: internals},
		{name: "a text too long", method: "PATCH", path: "/v1/agencies/kz-gpo?updateMask=contactPoints", token: admin,
			body: toJSON(t, s.withEtag("kz-gpo", admin, map[string]any{"contactPoints": []any{map[string]any{"role": strings.Repeat("d", 201)}}})),
			want: 400, field: "agency.contact_points[0].role", words: []string{"must be at most 200 characters"}, not: internals},
		{name: "a language tag", method: "PATCH", path: "/v1/agencies/kz-gpo?updateMask=acceptedLanguages", token: admin,
			body: toJSON(t, s.withEtag("kz-gpo", admin, map[string]any{"acceptedLanguages": []any{"Russian"}})),
			want: 400, field: "agency.accepted_languages[0]", words: []string{"must be a language tag (BCP 47), e.g. ru"}, not: internals},
		{name: "a request's name", method: "GET", path: "/v1/requests/" + url.PathEscape("a b"), token: admin,
			want: 400, field: "name", words: []string{"must be a request's name"}, not: internals},
	})
}

// TestMistypedCustomMethods (issue 12, item 3): a custom method the resource
// does not have is 404 saying so and listing those it has; one it has for
// another HTTP method is 405 with Allow; neither blames the name's pattern.
func TestMistypedCustomMethods(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK).body["name"].(string)
	pattern := []string{"pattern", "must be a request's name"}
	runAPIErrorCases(t, s, []apiErrorCase{
		{name: "a misspelt verb", method: "POST", path: "/v1/" + name + ":submitt", token: prosecutor, body: `{}`,
			want: 404, words: []string{"method :submitt does not exist for " + name, ":submit, :return, :transmit, :acknowledge"}, not: pattern},
		{name: "a verb with the wrong HTTP method", method: "GET", path: "/v1/" + name + ":submit", token: prosecutor,
			want: 405, words: []string{name + ":submit takes POST, not GET"}, not: pattern},
		{name: "an agency's verb that does not exist", method: "POST", path: "/v1/agencies/kz-gpo:suspend", token: admin, body: `{}`,
			want: 404, words: []string{"method :suspend does not exist for agencies/kz-gpo", ":deactivate, :activate"}},
		{name: "a download misspelt", method: "GET", path: "/v1/" + name + "/attachments/abc:downlod", token: prosecutor,
			want: 404, words: []string{"method :downlod does not exist", ":download"}},
		{name: "the upload with GET", method: "GET", path: "/v1/" + name + "/attachments:upload", token: prosecutor,
			want: 405, words: []string{":upload takes POST, not GET"}},
		{name: "an attachment read at its name", method: "GET", path: "/v1/" + name + "/attachments/abc", token: prosecutor,
			want: 404, words: []string{"GET /v1/" + name + "/attachments/abc:download for its content", "GET /v1/" + name + "/attachments for"}},
		{name: "a collection's verb misspelt", method: "GET", path: "/v1/requests:wacth", token: prosecutor,
			want: 404, words: []string{"method :wacth does not exist for requests", ":watch"}},
	})
	r := s.send(apiErrorCase{method: "GET", path: "/v1/" + name + ":submit", token: prosecutor})
	if got := r.header.Get("Allow"); got != "POST" {
		t.Errorf("GET of :submit: Allow %q, want POST", got)
	}
	r = s.send(apiErrorCase{method: "DELETE", path: "/v1/" + name, token: prosecutor})
	if allow := strings.Split(r.header.Get("Allow"), ", "); r.status != 405 || !slices.Contains(allow, "GET") || !slices.Contains(allow, "PATCH") {
		t.Errorf("DELETE of a request = %d, Allow %q; want 405 allowing GET and PATCH: %s", r.status, allow, r.raw)
	}
}

// TestBodiesThatAreNotJSON (issue 12, item 3): a JSON syntax error gives its
// line and column; a form (curl -d a=b, curl -F) is 415 saying the call
// takes application/json, while JSON sent with curl's default form type is
// taken; the upload refuses a form, saying what it takes.
func TestBodiesThatAreNotJSON(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK).body["name"].(string)
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("body", "A question")
	fw, _ := mw.CreateFormFile("file", "request.pdf")
	_, _ = fw.Write([]byte("%PDF-1.7"))
	_ = mw.Close()
	multi := http.Header{"Content-Type": {mw.FormDataContentType()}}

	runAPIErrorCases(t, s, []apiErrorCase{
		{name: "a syntax error", method: "POST", path: "/v1/" + name + "/messages", token: prosecutor,
			body: "{\n  \"body\": \"A question\",\n  \"visibility\": BOTH_SIDES\n}", want: 400, field: "message",
			words: []string{"request body is not valid JSON at line 3, column 17: invalid character 'B'"}},
		{name: "a body cut short", method: "POST", path: "/v1/" + name + "/messages", token: prosecutor,
			body: "{\n  \"body\": \"A question\",", want: 400, field: "message", words: []string{"request body is not valid JSON: it ends at line 2, column 24"}},
		{name: "something after the value", method: "POST", path: "/v1/" + name + ":submit", token: prosecutor,
			body: "{}\n{}", want: 400, field: "body", words: []string{"something follows the JSON value at line 2, column 1"}},
		{name: "an unknown field", method: "POST", path: "/v1/" + name + "/messages", token: prosecutor,
			body: `{"body":"A question","visiblity":"BOTH_SIDES"}`, want: 400, field: "message.visiblity",
			words: []string{"unknown field", "visibility"}},
		{name: "a value of the wrong type", method: "POST", path: "/v1/" + name + "/messages", token: prosecutor,
			body: `{"body":["A question"],"visibility":"BOTH_SIDES"}`, want: 400, field: "message.body", words: []string{"is not a string"}},
		{name: "a form", method: "POST", path: "/v1/" + name + "/messages", token: prosecutor, body: "body=A+question&visibility=BOTH_SIDES",
			header: form, want: 415, field: "Content-Type", words: []string{"takes a JSON body (Content-Type: application/json)", "not a form"}},
		{name: "a multipart form", method: "POST", path: "/v1/" + name + "/messages", token: prosecutor, body: mp.Bytes(),
			header: multi, want: 415, field: "Content-Type", words: []string{"application/json", "not a multipart form (curl -F)"}},
		{name: "the upload as a multipart form", method: "POST", path: "/v1/" + name + "/attachments:upload?kind=EVIDENCE", token: prosecutor,
			body: mp.Bytes(), header: multi, want: 415, field: "Content-Type",
			words: []string{"takes the file itself as the body", "curl --data-binary @file.pdf -H 'Content-Type: application/pdf'"}},
	})
	// curl -d '{…}' without -H labels JSON as a form: it is taken as JSON.
	r := s.send(apiErrorCase{method: "POST", path: "/v1/" + name + "/messages", token: prosecutor,
		body: `{"body":"A question","visibility":"BOTH_SIDES"}`, header: form})
	if r.status != http.StatusOK {
		t.Errorf("JSON labelled as a form = %d, want 200: %s", r.status, r.raw)
	}
}

// TestEvery400NamesItsField (issue 12, item 3): each kind of 400 the gateway
// or a service gives names the field at fault in details.
func TestEvery400NamesItsField(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	auditor := s.token("kz-oversight", identity.Auditor)
	name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK).body["name"].(string)
	runAPIErrorCases(t, s, []apiErrorCase{
		{name: "malformed JSON", method: "POST", path: "/v1/agencies?agencyId=kz-x", token: admin, body: `{"kind": "PROSECUTION",`,
			want: 400, field: "agency", words: []string{"not valid JSON: it ends at line 1, column 24"}},
		{name: "a text for a list", method: "POST", path: "/v1/agencies?agencyId=kz-x", token: admin, body: `{"kind":"PROSECUTION","acceptedLanguages":"ru"}`,
			want: 400, field: "agency.accepted_languages", words: []string{`"ru" is not a JSON array`}},
		{name: "a number for a text", method: "PATCH", path: "/v1/states/KZ", token: admin, body: `{"timeZone":5}`,
			want: 400, field: "state.time_zone", words: []string{"5 is not a string"}},
		{name: "a whole number in the path", method: "GET", path: "/v1/audit/entries/first", token: auditor,
			want: 400, field: "index", words: []string{`"first" is not a whole number`}},
		{name: "a whole number in the query", method: "GET", path: "/v1/requests?pageSize=ten", token: prosecutor,
			want: 400, field: "pageSize", words: []string{`"ten" is not a whole number`}},
		{name: "a boolean in the query", method: "GET", path: "/v1/agencies/kz-gpo?unknown=1", token: admin,
			want: 400, field: "unknown"},
		{name: "an unknown parameter", method: "GET", path: "/v1/requests?colour=red", token: prosecutor,
			want: 400, field: "colour"},
		{name: "a service's shape check", method: "POST", path: "/v1/agencies?agencyId=KZ-X", token: admin,
			body: `{"kind":"PROSECUTION","displayNames":{"en":"X"}}`, want: 400, field: "agency_id", words: []string{"must be an agency id"}},
		{name: "a query value that is not UTF-8", method: "GET", path: "/v1/requests?filter=%FF", token: prosecutor,
			want: 400, field: "filter", words: []string{"not valid UTF-8"}},
		{name: "a digest that does not match the file", method: "POST", path: "/v1/" + name + "/attachments:upload?kind=EVIDENCE", token: prosecutor,
			body: "x", header: http.Header{"Content-Type": {"application/pdf"}, "Content-Disposition": {`attachment; filename="x.pdf"`},
				"Repr-Digest": {"sha-256=:" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + ":"}},
			want: 400, field: "sha256", words: []string{"but 0000000000000000000000000000000000000000000000000000000000000000 was declared"}},
		{name: "a NUL character in a text", method: "POST", path: "/v1/" + name + "/messages", token: prosecutor,
			body: `{"body":"see the file\u0000","visibility":"BOTH_SIDES"}`, want: 400, field: "message.body", words: []string{"NUL character"}},
		{name: "an upload header", method: "POST", path: "/v1/" + name + "/attachments:upload?kind=EVIDENCE", token: prosecutor, body: "x",
			header: http.Header{"Content-Type": {"application/pdf"}, "Content-Disposition": {`attachment; filename="x.pdf"`}},
			want:   400, field: "Repr-Digest", words: []string{"required"}},
	})
}

func toJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
