package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
)

// The fuzz targets here send hostile input through the whole suite, started
// once per fuzzing process: whatever a caller sends, the answer is never a
// 5xx, and every refusal is a google.rpc.Status JSON body with a message.

// fuzzCall is one HTTP call of a fuzz input and what came back.
type fuzzCall struct {
	method, url string
	status      int
	body        map[string]any
	raw         []byte
}

// send makes the call with a bearer token and extra headers, and checks what
// holds for every answer: no 5xx, a JSON object body, and for an error a
// code and a message.
func send(t *testing.T, method, u, token string, header http.Header, body []byte) fuzzCall {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, u, err)
	}
	c := fuzzCall{method: method, url: u, status: resp.StatusCode, raw: raw}
	if err := json.Unmarshal(raw, &c.body); err != nil {
		t.Fatalf("%s %s = %d with a body that is not a JSON object: %q", method, u, c.status, raw)
	}
	if c.status >= 500 {
		t.Fatalf("%s %s (body %q) = %d: %s", method, u, body, c.status, raw)
	}
	if c.status >= 400 {
		code, _ := c.body["code"].(float64)
		msg, _ := c.body["message"].(string)
		if code == 0 || msg == "" {
			t.Fatalf("%s %s = %d with an error body lacking a code or a message: %s", method, u, c.status, raw)
		}
	}
	return c
}

// headerValue drops the bytes an HTTP client refuses to send in a header
// value (control characters other than tab), keeping any other byte, UTF-8
// or not.
func headerValue(s string) string {
	b := make([]byte, 0, len(s))
	for i := range len(s) {
		if c := s[i]; c >= ' ' && c != 0x7f || c == '\t' {
			b = append(b, c)
		}
	}
	return string(b)
}

// fuzzSuite is a suite with the requests and tokens the fuzz targets use: a
// draft of the kz-gpo prosecutor, and an acknowledged request to uz-247.
type fuzzSuite struct {
	*suite
	prosecutor, uzCA, kzAdmin, tmAdmin, kzAuditor string
	draft, acknowledged                           string // resource names
}

func startFuzzSuite(f *testing.F) *fuzzSuite {
	s := startSuite(f, suiteOptions{quiet: true})
	fs := &fuzzSuite{suite: s,
		prosecutor: s.token("kz-gpo", identity.Prosecutor),
		uzCA:       s.token("uz-247", identity.CentralAuthority),
		kzAdmin:    s.token("kz-gpo", identity.DirectoryAdmin),
		tmAdmin:    s.token("tm-gpo", identity.DirectoryAdmin),
		kzAuditor:  s.token("kz-oversight", identity.Auditor),
	}
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	fs.draft = s.mustDo("POST", "/v1/requests", fs.prosecutor, preservation(), 200).body["name"].(string)
	fs.acknowledged = s.mustDo("POST", "/v1/requests", fs.prosecutor, preservation(), 200).body["name"].(string)
	for _, step := range []struct{ tok, action string }{{fs.prosecutor, "submit"}, {kzCA, "transmit"}, {fs.uzCA, "acknowledge"}} {
		s.mustDo("POST", "/v1/"+fs.acknowledged+":"+step.action, step.tok, map[string]any{}, 200)
	}
	// The five changes above are audit entries 0 to 4. An entry the log
	// holds but no checkpoint covers yet is answered 503, "retry shortly",
	// as it should be: the seeds that read entry 3 must find it covered.
	s.awaitCheckpoint(fs.kzAuditor, 5)
	return fs
}

// FuzzRequestBodies sends arbitrary JSON bodies (and one arbitrary query
// parameter) to the routes that decode a body. Besides what send checks, a
// body that is not one JSON value is refused with 400 saying so (or, first,
// for a parameter that is not UTF-8).
func FuzzRequestBodies(f *testing.F) {
	s := startFuzzSuite(f)
	routes := []struct {
		method, path, param, token string
	}{
		{"POST", "/v1/requests", "requestId", s.prosecutor},
		{"PATCH", "/v1/" + s.draft, "updateMask", s.prosecutor},
		{"POST", "/v1/" + s.acknowledged + ":refuse", "", s.uzCA},
		{"POST", "/v1/" + s.acknowledged + ":accept", "", s.uzCA},
		{"POST", "/v1/" + s.acknowledged + ":requestClarification", "", s.uzCA},
		{"POST", "/v1/" + s.draft + ":submit", "", s.prosecutor},
		{"POST", "/v1/" + s.draft + "/messages", "", s.prosecutor},
		{"POST", "/v1/agencies", "agencyId", s.kzAdmin},
		{"PATCH", "/v1/agencies/kz-police-cyber", "updateMask", s.kzAdmin},
		// TM: no other fuzz call needs its trusted issuers.
		{"PATCH", "/v1/states/TM", "updateMask", s.tmAdmin},
		// The calls of DESIGN §5.1–§5.5 that take a body of their own.
		{"POST", "/v1/requests:recordOral", "", s.uzCA},
		{"POST", "/v1/" + s.acknowledged + ":postpone", "", s.uzCA},
		{"POST", "/v1/" + s.acknowledged + ":proposeConditions", "", s.uzCA},
		{"POST", "/v1/" + s.acknowledged + ":notifyImpediment", "", s.uzCA},
		{"POST", "/v1/" + s.acknowledged + ":execute", "", s.uzCA},
		{"POST", "/v1/" + s.draft + ":confirmInWriting", "", s.prosecutor},
		{"POST", "/v1/" + s.acknowledged + ":discloseChain", "", s.uzCA},
		{"POST", "/v1/" + s.acknowledged + ":requestExtension", "", s.prosecutor},
		{"POST", "/v1/" + s.acknowledged + ":draftFollowUp", "", s.prosecutor},
	}
	full, err := json.Marshal(preservation())
	if err != nil {
		f.Fatal(err)
	}
	for i := range routes {
		f.Add(uint8(i), "", []byte(`{}`))
		f.Add(uint8(i), "", []byte(`{"etag":"W/\"1\""}`))
		f.Add(uint8(i), "x", []byte(`not json`))
		f.Add(uint8(i), "", full)
	}
	f.Add(uint8(0), "case-7", full)
	f.Add(uint8(0), "", []byte(`{"type":"DATA_PRESERVATION","priority":"EMERGENCY","requestedState":"\u0000\u202e"}`))
	f.Add(uint8(0), "", []byte(`{"identifiers":[{"kind":"IP_ADDRESS","value":"::1","startTime":"9999-12-31T23:59:59Z","endTime":"0001-01-01T00:00:00Z"}]}`))
	f.Add(uint8(0), "", []byte(`{"offence":{"maximumPenaltyYears":1e300}}`))
	f.Add(uint8(0), "", []byte(`{"requestedResponseTime":"2026-13-45T99:00:00Z"}`))
	f.Add(uint8(0), "", []byte(`{"type":"DATA_PRESERVATION","type":"CONTENT_DATA"}`))
	f.Add(uint8(0), "", []byte(`{"colour":"red"}`))
	f.Add(uint8(0), "", []byte("{\"factsSummary\":\"\xff\"}"))
	f.Add(uint8(0), "", []byte(`[]`))
	f.Add(uint8(7), "kz-trailing", []byte(`{"kind":"PROSECUTION","displayNames":{"en":"A"}} and more`)) // once accepted
	f.Add(uint8(1), "", []byte(`{"factsSummary":"x"}}`))                                                // once accepted
	f.Add(uint8(1), "factsSummary,offence.legalQualification", []byte(`{"factsSummary":"x","offence":{"legalQualification":"y"}}`))
	f.Add(uint8(1), "persons.fullName", []byte(`{}`))
	f.Add(uint8(2), "", []byte(`{"grounds":["POLITICAL_OFFENCE","OTHER"],"explanation":"x"}`))
	f.Add(uint8(2), "", []byte(`{"grounds":["REFUSAL_GROUND_UNSPECIFIED"],"explanation":""}`))
	f.Add(uint8(2), "", []byte(`{"grounds":[999]}`))
	f.Add(uint8(3), "", []byte(`{"dualCriminality":"MET","humanRightsReview":{"concerns":true}}`))
	f.Add(uint8(6), "", []byte(`{"body":"Please hurry.","visibility":"BOTH_SIDES"}`))
	f.Add(uint8(7), "kz-new-agency", []byte(`{"kind":"PROSECUTION","displayNames":{"en":"New"},"acceptedLanguages":["ru"]}`))
	f.Add(uint8(7), "UPPER_case", []byte(`{"kind":"PROSECUTION","displayNames":{"":""}}`))
	f.Add(uint8(8), "contactPoints", []byte(`{"contactPoints":[{"role":"Night desk","phone":"+7","alwaysAvailable":true}]}`))
	f.Add(uint8(9), "timeZone", []byte(`{"timeZone":"Mars/Olympus_Mons"}`))
	f.Add(uint8(9), "trustedIssuers", []byte(`{"trustedIssuers":[]}`))
	f.Add(uint8(10), "", []byte(`{"request":{"type":"DATA_PRESERVATION","priority":"EMERGENCY"},"requestingAgency":"agencies/kz-gpo",`+
		`"intake":{"channel":"PHONE","caller":"x","receivedTime":"9999-12-31T23:59:59Z"}}`))
	f.Add(uint8(10), "", []byte(`{"request":{},"requestingAgency":"agencies/UZ-247","intake":{"channel":"PORTAL"}}`))
	f.Add(uint8(11), "", []byte(`{"until":"0001-01-01T00:00:00Z","reason":""}`))
	f.Add(uint8(12), "", []byte(`{"conditions":[{"kind":"DELETE_BY","dueTime":"2026-01-01T00:00:00Z"}],"cost":{"estimate":"1e9","currency":"usd"}}`))
	f.Add(uint8(13), "", []byte(`{"kind":"KIND_UNSPECIFIED","explanation":"x","expectedTime":"tomorrow"}`))
	f.Add(uint8(14), "", []byte(`{"responseSummary":"x","items":[{"identifierIndex":-1,"dataCategory":"nope","outcome":"PROVIDED","attachments":["../x"]}]}`))
	f.Add(uint8(15), "", []byte(`{"request":{"legalBasis":"BUDAPEST_CONVENTION"},"updateMask":"legalBasis,owner"}`))
	f.Add(uint8(16), "", []byte(`{"provider":"","country":"XXX","explanation":"\u0000"}`))
	f.Add(uint8(17), "", []byte(`{"days":99999,"reason":"x"}`))
	f.Add(uint8(18), "", []byte(`{"type":"DATA_PRESERVATION","requestedState":"tj","requestId":"../../"}`))

	f.Fuzz(func(t *testing.T, route uint8, param string, body []byte) {
		r := routes[int(route)%len(routes)]
		u := s.baseURL + r.path
		if r.param != "" && param != "" {
			u += "?" + url.Values{r.param: {param}}.Encode()
		}
		c := send(t, r.method, u, r.token, http.Header{"Content-Type": {"application/json"}}, body)
		if !json.Valid(body) && len(bytes.TrimSpace(body)) > 0 {
			// A parameter that is not UTF-8 is refused before the body is read.
			msg, _ := c.body["message"].(string)
			if c.status != http.StatusBadRequest || utf8.ValidString(param) && !strings.Contains(msg, "request body is not valid JSON") {
				t.Fatalf("%s %s with a body that is not JSON (%q) = %d: %s", r.method, u, body, c.status, c.raw)
			}
		}
	})
}

// FuzzListQueries sends arbitrary filter, orderBy, pageToken and pageSize
// parameters, and one more arbitrary parameter, to the list routes. Besides
// what send checks, a next-page token handed out is accepted back.
func FuzzListQueries(f *testing.F) {
	s := startFuzzSuite(f)
	routes := []struct{ path, token string }{
		{"/v1/requests", s.prosecutor},
		{"/v1/agencies", s.prosecutor},
		{"/v1/audit/entries", s.kzAuditor},
		{"/v1/audit/entries:export", s.kzAuditor},
		{"/v1/" + s.draft + "/messages", s.prosecutor},
		{"/v1/" + s.draft + "/attachments", s.prosecutor},
		{"/v1/" + s.draft + "/history", s.prosecutor},
		{"/v1/statistics", s.prosecutor},
		{"/v1/routes:resolve", s.prosecutor},
	}
	type seed struct {
		filter, orderBy, pageToken, pageSize, key, value string
	}
	seeds := []seed{
		{},
		{pageSize: "1"},
		{filter: `status = DRAFT AND requestedState = "UZ"`, orderBy: "createTime desc", pageSize: "1"},
		{filter: `state = "KZ" AND kind = CENTRAL_AUTHORITY`, orderBy: "state, name desc", pageSize: "2"},
		{filter: `resource = "requests/x" AND time > "2026-01-01T00:00:00Z"`},
		{filter: `createTime > timestamp("2026-01-01T00:00:00Z")`},
		{filter: `overdue = true OR priority = URGENT`},
		{filter: `status = LOST`},
		{filter: `(((`, orderBy: "colour"},
		{filter: "\xff", orderBy: "\xff", pageToken: "\xff"},
		{pageToken: "not a token"},
		{pageToken: "Kf-BAwEBCVBhZ2VUb2tlbgH_ggABAgEGT2Zmc2V0AQQAAQ9SZXF1ZXN0Q2hlY2tzdW0BBgAAAA=="},
		{pageSize: "-1"},
		{pageSize: "99999999999"},
		{pageSize: "1e3"},
		{key: "requestedState", value: "UZ"},
		{key: "requestType", value: "DATA_PRESERVATION"},
		{key: "priority", value: "URGENT"},
		{key: "consistencyFrom", value: "18446744073709551615"},
		{key: "colour", value: "red"},
		{key: "filter.x", value: "1"},
		{key: "pageToken", value: "a"},
		{filter: `resource:"requests/x_%\\" AND NOT resource:"requests/x/attachments/y"`},
		{filter: `resource:""`},
		{key: "periodStart", value: "0001-01-01T00:00:00Z"},
		{key: "periodEnd", value: "9999-12-31T23:59:59.999999999Z"},
		{key: "requestingState", value: "kz"},
	}
	// Each route once as is, and each seed on one route: seeds are replayed
	// before any fuzzing, and the short run (make fuzz-short) is short.
	for i := range routes {
		f.Add(uint8(i), "", "", "", "1", "", "")
	}
	for i, sd := range seeds {
		f.Add(uint8(i%len(routes)), sd.filter, sd.orderBy, sd.pageToken, sd.pageSize, sd.key, sd.value)
	}
	// Every field the request and agency lists declare, to order by and
	// in a filter. (Ordering requests by overdue, which has no column, was
	// a 500.)
	for i, fields := range [][]string{
		{"status", "type", "priority", "requestingState", "requestedState", "requestingAgency", "requestedAgency",
			"overdue", "createTime", "updateTime", "reference"},
		{"name", "state", "kind", "active", "updateTime", "update_time"},
	} {
		for _, field := range fields {
			f.Add(uint8(i), field+` != "x"`, "", "", "", "", "")
			f.Add(uint8(i), "", field+" desc", "", "", "", "")
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, filter, orderBy, pageToken, pageSize, key, value string) {
		r := routes[int(route)%len(routes)]
		q := url.Values{}
		for _, p := range []struct{ k, v string }{{"filter", filter}, {"orderBy", orderBy}, {"pageToken", pageToken}, {"pageSize", pageSize}, {key, value}} {
			if p.k != "" && p.v != "" {
				q.Add(p.k, p.v)
			}
		}
		u := s.baseURL + r.path + "?" + q.Encode()
		c := send(t, "GET", u, r.token, nil, nil)
		next, _ := c.body["nextPageToken"].(string)
		if c.status != http.StatusOK || next == "" {
			return
		}
		q.Set("pageToken", next)
		u = s.baseURL + r.path + "?" + q.Encode()
		if c := send(t, "GET", u, r.token, nil, nil); c.status != http.StatusOK {
			t.Fatalf("GET %s, with the next-page token just handed out, = %d: %s", u, c.status, c.raw)
		}
	})
}

// FuzzResourceNames sends arbitrary ids in the path of the routes that name
// a resource: an id that is not one is NOT_FOUND or INVALID_ARGUMENT, never
// a 5xx.
func FuzzResourceNames(f *testing.F) {
	s := startFuzzSuite(f)
	routes := []struct{ method, prefix, suffix, token string }{
		{"GET", "/v1/requests/", "", s.prosecutor},
		{"GET", "/v1/requests/", "/history", s.prosecutor},
		{"POST", "/v1/requests/", ":withdraw", s.prosecutor},
		{"GET", "/v1/agencies/", "", s.prosecutor},
		{"GET", "/v1/states/", "", s.prosecutor},
		{"GET", "/v1/audit/entries/", "", s.kzAuditor},
		{"GET", "/v1/" + s.draft + "/attachments/", ":download", s.prosecutor},
		{"GET", "/v1/" + s.draft + "/attachments/", "", s.prosecutor},
	}
	draftID := strings.TrimPrefix(s.draft, "requests/")
	for i := range routes {
		f.Add(uint8(i), draftID, "")
	}
	for i, id := range []string{"kz-gpo", "KZ", "0", "18446744073709551616", "-1", "..", "%2F", "a/b", "\xff", "x:y"} {
		f.Add(uint8(i%len(routes)), id, "")
	}
	f.Add(uint8(2), "", "") // POST /v1/requests/:withdraw: a route with the wrong method, once a 501
	f.Add(uint8(5), "3", "treeSize=1")
	f.Add(uint8(5), "3", "treeSize=99999999999999999999")
	f.Fuzz(func(t *testing.T, route uint8, id, query string) {
		r := routes[int(route)%len(routes)]
		u := s.baseURL + r.prefix + url.PathEscape(id) + r.suffix
		if query != "" {
			// Whatever the fuzzer wrote, as a query string the client can send.
			u += "?" + (&url.URL{RawQuery: query}).Query().Encode()
		}
		var body []byte
		if r.method == "POST" {
			body = []byte(`{}`)
		}
		send(t, r.method, u, r.token, http.Header{"Content-Type": {"application/json"}}, body)
	})
}

// FuzzUpload sends the upload route arbitrary kind and language parameters,
// Content-Type, Content-Disposition and Repr-Digest headers and content, to a
// draft its uploader owns. When digest is empty the content's true digest is
// sent. Besides what send checks, an accepted file has the digest and size
// of what was sent.
func FuzzUpload(f *testing.F) {
	s := startFuzzSuite(f)
	f.Add("EVIDENCE", "", "application/pdf", `attachment; filename="confirmation.pdf"`, "", []byte("%PDF-1.7"))
	f.Add("TRANSLATION", "uz", "application/pdf", `attachment; filename="tarjima.pdf"`, "", []byte("%PDF-1.7"))
	f.Add("TRANSLATION", "", "application/pdf", `attachment; filename="tarjima.pdf"`, "", []byte("%PDF-1.7"))
	f.Add("COURT_ORDER", "", "text/plain; charset=utf-8", `attachment; filename*=UTF-8''%D0%BF.txt`, "", []byte("order"))
	f.Add("OTHER", "", "application/pdf", `attachment; filename="../../secret"`, "", []byte{})
	f.Add("OTHER", "", "application/pdf", `attachment; filename="a\"b"`, "", []byte("x"))
	f.Add("OTHER", "", "application/pdf", `attachment; filename="a"`, "sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:", []byte("x"))
	f.Add("OTHER", "", "application/pdf", `attachment; filename="a"`, "sha-256=:AA==:", []byte("x"))
	f.Add("KIND_UNSPECIFIED", "", "", "", "", []byte{})
	f.Add("EVIDENCE", "\xff", "application/pdf", "attachment; filename=\"\xff\"", "", []byte("x"))
	f.Add("EVIDENCE", "", "application/pdf", `attachment; filename*=UTF-8''%FF`, "", []byte("x"))

	f.Fuzz(func(t *testing.T, kind, language, contentType, disposition, digest string, content []byte) {
		sum := sha256.Sum256(content)
		if digest == "" {
			digest = "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
		}
		h := http.Header{}
		h.Set("Content-Type", headerValue(contentType))
		h.Set("Content-Disposition", headerValue(disposition))
		h.Set("Repr-Digest", headerValue(digest))
		q := url.Values{"kind": {kind}}
		if language != "" {
			q.Set("language", language)
		}
		u := s.baseURL + "/v1/" + s.draft + "/attachments:upload?" + q.Encode()
		c := send(t, "POST", u, s.prosecutor, h, content)
		if c.status != http.StatusOK {
			return
		}
		if got, _ := c.body["sha256"].(string); got != hex.EncodeToString(sum[:]) {
			t.Fatalf("uploaded %q as sha256 %q", content, got)
		}
		if got, _ := c.body["sizeBytes"].(string); got != strconv.Itoa(len(content)) {
			t.Fatalf("uploaded %d bytes, sizeBytes %q", len(content), got)
		}
	})
}

// FuzzHeaders sends arbitrary Authorization and X-Trace-Id headers. Besides
// what send checks, a call is answered (200) only with the Bearer token the
// suite issued, and the trace id comes back when well-formed.
func FuzzHeaders(f *testing.F) {
	s := startFuzzSuite(f)
	f.Add("Bearer "+s.prosecutor, "trace-0123456789")
	f.Add("bearer  "+s.prosecutor+" ", "")
	f.Add("Bearer "+s.prosecutor+"x", "short")
	f.Add("Basic YWxhZGRpbjpvcGVuc2VzYW1l", strings.Repeat("a", 65))
	f.Add("Bearer", "ünïcode-trace-id")
	f.Add("Bearer \x80\xff", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, authorization, traceID string) {
		authorization, traceID = headerValue(authorization), headerValue(traceID)
		req, err := http.NewRequest("GET", s.baseURL+"/v1/agencies/kz-gpo", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", authorization)
		req.Header.Set("X-Trace-Id", traceID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("Authorization %q: %d with a body that is not a JSON object: %q", authorization, resp.StatusCode, raw)
		}
		switch msg, _ := body["message"].(string); {
		case resp.StatusCode >= 500:
			t.Fatalf("Authorization %q, X-Trace-Id %q: %d: %s", authorization, traceID, resp.StatusCode, raw)
		case resp.StatusCode == http.StatusOK && !strings.Contains(authorization, s.prosecutor):
			t.Fatalf("Authorization %q was accepted", authorization)
		case resp.StatusCode != http.StatusOK && msg == "":
			t.Fatalf("Authorization %q: %d without a message: %s", authorization, resp.StatusCode, raw)
		}
		if got := resp.Header.Get("X-Trace-Id"); got == "" || (got != traceID && len(traceID) >= 8 && len(traceID) <= 64 &&
			!strings.ContainsFunc(traceID, func(r rune) bool {
				return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-')
			})) {
			t.Fatalf("X-Trace-Id %q came back as %q", traceID, got)
		}
	})
}

// rawCodec sends a fuzz input as the encoded request message as it is, so
// that the service's own decoding sees it, and keeps the answer's bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// FuzzGRPC calls every method of the three services directly over gRPC, as
// a client that bypasses the gateway may, with arbitrary bytes as the
// request message and one of several callers. Whatever the bytes, the
// answer is a result or an error of the caller's making: never INTERNAL,
// UNKNOWN, UNAVAILABLE (a crashed server) or a call left hanging, except for
// grpc-go's INTERNAL for bytes that do not decode as the request message.
func FuzzGRPC(f *testing.F) {
	s := startFuzzSuite(f)
	type method struct {
		service string // the suite's name for the server
		desc    protoreflect.MethodDescriptor
	}
	var methods []method
	for name, sd := range map[string]protoreflect.ServiceDescriptor{
		"directory": directoryv1.File_comity_directory_v1_directory_proto.Services().Get(0),
		"request":   requestv1.File_comity_request_v1_request_proto.Services().Get(0),
		"audit":     auditv1.File_comity_audit_v1_audit_proto.Services().Get(0),
	} {
		for i := range sd.Methods().Len() {
			methods = append(methods, method{name, sd.Methods().Get(i)})
		}
	}
	// A fixed order, so that a stored input calls the same method.
	slices.SortFunc(methods, func(a, b method) int { return strings.Compare(string(a.desc.FullName()), string(b.desc.FullName())) })
	callers := []string{s.prosecutor, s.uzCA, s.kzAdmin, s.kzAuditor, "", "not.a.token"}
	conns := map[string]*grpc.ClientConn{}
	for _, name := range []string{"directory", "request", "audit"} {
		conns[name] = s.grpcConn(name)
	}

	// Seeds: for each method an empty message, and one naming a resource
	// of the suite in each of its name, parent or request fields, by one of
	// the callers.
	var full requestv1.Request
	if err := protojson.Unmarshal(mustJSON(f, preservation()), &full); err != nil {
		f.Fatal(err)
	}
	for i, m := range methods {
		f.Add(uint8(i), uint8(0), []byte{})
		msg := dynamicpb.NewMessage(m.desc.Input())
		fields := m.desc.Input().Fields()
		for name, value := range map[protoreflect.Name]string{
			"name": s.draft, "parent": s.draft, "agency": "agencies/kz-gpo", "requested_state": "UZ", "filter": `state = "KZ"`,
		} {
			if fd := fields.ByName(name); fd != nil && fd.Kind() == protoreflect.StringKind && !fd.IsList() {
				msg.Set(fd, protoreflect.ValueOfString(value))
			}
		}
		if fd := fields.ByName("request"); fd != nil && fd.Message() != nil && fd.Message().FullName() == full.ProtoReflect().Descriptor().FullName() {
			msg.Set(fd, protoreflect.ValueOfMessage(full.ProtoReflect()))
		}
		b, err := proto.Marshal(msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), uint8(i%len(callers)), b)
	}
	f.Add(uint8(0), uint8(0), []byte("\x0a\x02\xff\xfe"))         // field 1 as a string that is not UTF-8
	f.Add(uint8(0), uint8(0), []byte("\x0a\xff\xff\xff\xff\x0f")) // a length beyond the message
	f.Add(uint8(0), uint8(0), []byte("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))

	f.Fuzz(func(t *testing.T, mi, ci uint8, in []byte) {
		m := methods[int(mi)%len(methods)]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if m.desc.IsStreamingServer() && m.desc.Name() == "WatchRequests" {
			// A watch streams until the caller leaves.
			ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
		}
		defer cancel()
		if tok := callers[int(ci)%len(callers)]; tok != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
		}
		path := "/" + string(m.desc.Parent().FullName()) + "/" + string(m.desc.Name())
		stream, err := conns[m.service].NewStream(ctx,
			&grpc.StreamDesc{ServerStreams: m.desc.IsStreamingServer(), ClientStreams: m.desc.IsStreamingClient()},
			path, grpc.ForceCodec(rawCodec{}))
		if err == nil {
			if err = stream.SendMsg(&in); err == nil || errors.Is(err, io.EOF) {
				err = stream.CloseSend()
				for err == nil {
					var out []byte
					err = stream.RecvMsg(&out)
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return
		}
		st := status.Convert(err)
		if st.Code() == codes.Internal && strings.HasPrefix(st.Message(), "grpc: failed to unmarshal the received message") {
			// grpc-go's own answer to bytes that are not the method's
			// message (malformed wire format, a string field that is not
			// UTF-8), before any of the services' code runs: it offers no
			// way to answer INVALID_ARGUMENT instead.
			return
		}
		switch st.Code() {
		case codes.Internal, codes.Unknown, codes.Unavailable, codes.DataLoss, codes.Unimplemented:
			t.Fatalf("%s(%x) by caller %d: %v", path, in, int(ci)%len(callers), err)
		case codes.DeadlineExceeded:
			if m.desc.Name() != "WatchRequests" {
				t.Fatalf("%s(%x) by caller %d: no answer in 10s", path, in, int(ci)%len(callers))
			}
		default:
			if st.Message() == "" {
				t.Fatalf("%s(%x): %v without a message", path, in, st.Code())
			}
		}
	})
}

func mustJSON(f *testing.F, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
