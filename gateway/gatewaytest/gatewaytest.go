// Package gatewaytest drives a running Comity suite through its REST
// gateway as the agencies' users would: tokens from the dev issuer, JSON
// calls, streamed uploads, and the complete case of a cooperation request
// from draft to closure. The in-process gateway tests, the end-to-end test of
// the separate binaries and the scale-out check all run the same case with
// it.
package gatewaytest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// Client calls a gateway.
type Client struct {
	TB testing.TB
	// BaseURL is the gateway's, e.g. http://127.0.0.1:8080.
	BaseURL string
	// DataDir holds the dev issuer's key, which Token signs with.
	DataDir string
	// HTTP is the client to call with; nil means http.DefaultClient.
	HTTP *http.Client
}

// Response is what a call returned: the HTTP status and the JSON body.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// Token returns a dev-issuer token for a user of agency with roles; the
// subject is dev:<agency>:<first role>.
func (c *Client) Token(agency string, roles ...identity.Role) string {
	c.TB.Helper()
	return c.TokenFor("", agency, roles...)
}

// TokenFor returns a token for a named user.
func (c *Client) TokenFor(subject, agency string, roles ...identity.Role) string {
	c.TB.Helper()
	tok, err := identity.MintDevToken(c.DataDir, identity.TokenRequest{Agency: agency, Roles: roles, Subject: subject}, time.Now())
	if err != nil {
		c.TB.Fatal(err)
	}
	return tok
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Do calls the gateway; body is nil, a string, bytes, or a value sent as
// JSON.
func (c *Client) Do(method, path, token string, body any) Response {
	c.TB.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.TB.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.BaseURL+path, rd)
	if err != nil {
		c.TB.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req)
}

// Send sends req as it is (the caller sets its headers) and reads the
// answer as Do does.
func (c *Client) Send(req *http.Request) Response {
	c.TB.Helper()
	return c.send(req)
}

func (c *Client) send(req *http.Request) Response {
	c.TB.Helper()
	resp, err := c.http().Do(req)
	if err != nil {
		c.TB.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.TB.Fatal(err)
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	// Every answer of the JSON API, errors included (google.rpc.Status),
	// is a JSON object.
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			c.TB.Fatalf("%s %s = %d with a body that is not a JSON object (%v): %.300s", req.Method, req.URL.Path, resp.StatusCode, err, raw)
		}
	}
	return r
}

// MustDo is Do, failing the test unless the status is want.
func (c *Client) MustDo(method, path, token string, body any, want int) Response {
	c.TB.Helper()
	r := c.Do(method, path, token, body)
	if r.Status != want {
		c.TB.Fatalf("%s %s = %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	return r
}

// Upload posts a file to request path (e.g. /v1/requests/ID) as the REST
// API takes it: the raw bytes as the body, the declared SHA-256 in
// Repr-Digest (of content when digest is nil).
func (c *Client) Upload(path, token, kind, language, filename string, content, digest []byte) Response {
	c.TB.Helper()
	q := url.Values{"kind": {kind}}
	if language != "" {
		q.Set("language", language)
	}
	req, err := http.NewRequest(http.MethodPost, c.BaseURL+path+"/attachments:upload?"+q.Encode(), bytes.NewReader(content))
	if err != nil {
		c.TB.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/pdf")
	req.Header.Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	if digest == nil {
		sum := sha256.Sum256(content)
		digest = sum[:]
	}
	req.Header.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(digest)+":")
	return c.send(req)
}

// Preservation is a complete, valid urgent preservation request from KZ to
// UZ, as a kz-gpo prosecutor would file it.
func Preservation() map[string]any {
	now := time.Now().UTC()
	return map[string]any{
		"type": "DATA_PRESERVATION", "priority": "URGENT", "requestedState": "UZ",
		"legalBasis": "CIS_IT_CRIME_AGREEMENT_2018", "caseReference": "KZ-CASE-2026-1187",
		"offence": map[string]any{
			"description":         "Unauthorised access to the payment system of a regional bank and transfer of funds",
			"legalQualification":  "Article 205 of the Criminal Code of the Republic of Kazakhstan",
			"statuteText":         "Unlawful access to information in an information system...",
			"maximumPenaltyYears": 7,
		},
		"factsSummary": "Between 3 and 5 March the bank's payment gateway was accessed from an address hosted in Uzbekistan.",
		"persons":      []any{map[string]any{"fullName": "Unknown person", "role": "suspect"}},
		"identifiers": []any{map[string]any{
			"kind": "IP_ADDRESS", "value": "203.0.113.7:443",
			"startTime": now.Add(-72 * time.Hour).Format(time.RFC3339), "endTime": now.Add(-24 * time.Hour).Format(time.RFC3339),
		}},
		"dataCategories": []string{"connection logs", "subscriber of the address"},
		"necessityAndProportionality": "The logs are the only way to identify the intruder; they are kept for 30 days only, " +
			"so preservation is needed now; only the three days of the intrusion are concerned.",
		"language":       "ru",
		"useLimitations": "For the criminal proceedings in case KZ-CASE-2026-1187 only.",
		// Who holds the data and the request that will follow, which a
		// preservation must say (Budapest 29(2)(d), (f)).
		"custodian":        map[string]any{"provider": "Example Telecom LLC", "country": "UZ", "service": "hosting"},
		"followUpIntended": map[string]any{"intended": true, "productionType": "TRAFFIC_DATA"},
	}
}

// Case is what CompleteCase leaves behind.
type Case struct {
	// Name and Reference are the request's, e.g. requests/… and
	// KZ-2026-000001.
	Name, Reference string
	// Evidence is the name of the evidence attachment.
	Evidence string
}

// CompleteCase runs the complete case of a cooperation request through
// REST, checking every answer: a kz-gpo prosecutor drafts an urgent
// DATA_PRESERVATION request to UZ (routed to uz-247) and submits it, after a
// retried create that must not make a second request; the kz-gpo central
// authority transmits it; the uz-247 central authority acknowledges it and
// asks for clarification; the prosecutor answers with an attached
// translation; the requested side accepts with its assessments and executes
// with an evidence attachment; the preservation expires 90 days on and is
// extended; the requesting side downloads the evidence byte for byte; the
// prosecutor closes the case. The history then shows every step with its
// actor. requestID makes the create idempotent.
func CompleteCase(c *Client, requestID string) Case {
	t := c.TB
	t.Helper()
	prosecutor := c.Token("kz-gpo", identity.Prosecutor)
	kzCA := c.Token("kz-gpo", identity.CentralAuthority)
	uzCA := c.Token("uz-247", identity.CentralAuthority)

	// A retry sends the very same body (AIP-155): another body under the
	// same request id is refused.
	body := Preservation()
	created := c.MustDo("POST", "/v1/requests?requestId="+url.QueryEscape(requestID), prosecutor, body, 200)
	name, _ := created.Body["name"].(string)
	if created.Body["requestedAgency"] != "agencies/uz-247" || created.Body["status"] != "DRAFT" || name == "" {
		t.Fatalf("created = %s", created.Raw)
	}
	again := c.MustDo("POST", "/v1/requests?requestId="+url.QueryEscape(requestID), prosecutor, body, 200)
	if again.Body["name"] != name {
		t.Fatalf("a retried create made a second request: %v and %v", name, again.Body["name"])
	}
	path := "/v1/" + name
	step := func(tok, action string, body map[string]any, wantStatus string) Response {
		t.Helper()
		if body == nil {
			body = map[string]any{}
		}
		r := c.MustDo("POST", path+":"+action, tok, body, 200)
		if r.Body["status"] != wantStatus {
			t.Fatalf("%s: status %v, want %s", action, r.Body["status"], wantStatus)
		}
		return r
	}
	step(prosecutor, "submit", nil, "SUBMITTED")
	transmitted := step(kzCA, "transmit", nil, "TRANSMITTED")
	ackBy, _ := time.Parse(time.RFC3339, transmitted.Body["deadlines"].(map[string]any)["acknowledgeBy"].(string))
	if d := time.Until(ackBy); d < 23*time.Hour || d > 24*time.Hour {
		t.Errorf("urgent acknowledgement deadline is %v away, want 24h", d)
	}
	step(uzCA, "acknowledge", nil, "ACKNOWLEDGED")
	step(uzCA, "requestClarification", map[string]any{"questions": "Please provide the translation into Uzbek."}, "CLARIFICATION_REQUESTED")

	translation := []byte("%PDF-1.7 translation into Uzbek")
	att := c.Upload(path, prosecutor, "TRANSLATION", "uz", "tarjima.pdf", translation, nil)
	if att.Status != 200 {
		t.Fatalf("upload translation = %d %s", att.Status, att.Raw)
	}
	step(prosecutor, "provideClarification", map[string]any{"answers": "Translation attached.", "attachments": []any{att.Body["name"]}}, "ACKNOWLEDGED")
	accepted := step(uzCA, "accept", map[string]any{
		"dualCriminality": "NOT_REQUIRED", "humanRightsReview": map[string]any{"concerns": false, "note": "No concerns."},
		"conditions": "Data to be used for these proceedings only.",
	}, "ACCEPTED")
	if acc, _ := accepted.Body["acceptance"].(map[string]any); acc["dualCriminality"] != "NOT_REQUIRED" {
		t.Errorf("acceptance not recorded: %s", accepted.Raw)
	}
	evidence := make([]byte, 3<<20+17)
	_, _ = rand.Read(evidence)
	ev := c.Upload(path, uzCA, "EVIDENCE", "", "preservation-confirmation.pdf", evidence, nil)
	if ev.Status != 200 {
		t.Fatalf("upload evidence = %d %s", ev.Status, ev.Raw)
	}
	evidenceName, _ := ev.Body["name"].(string)
	executed := step(uzCA, "execute", map[string]any{"responseSummary": "Logs of 203.0.113.7 preserved.", "attachments": []any{evidenceName}}, "EXECUTED")
	expires, _ := time.Parse(time.RFC3339Nano, executed.Body["deadlines"].(map[string]any)["preservationExpiresAt"].(string))
	if d := time.Until(expires); d < 89*24*time.Hour || d > 90*24*time.Hour {
		t.Errorf("preservation expires in %v, want 90 days", d)
	}
	extended := step(uzCA, "extendPreservation", nil, "EXECUTED")
	expires2, _ := time.Parse(time.RFC3339Nano, extended.Body["deadlines"].(map[string]any)["preservationExpiresAt"].(string))
	if d := expires2.Sub(expires); d != 90*24*time.Hour {
		t.Errorf("extension added %v, want 90 days", d)
	}

	// The requesting side downloads the evidence, byte for byte.
	req, err := http.NewRequest("GET", c.BaseURL+"/v1/"+evidenceName+":download", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+prosecutor)
	resp, err := c.http().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sum := sha256.Sum256(evidence)
	if resp.StatusCode != 200 || !bytes.Equal(got, evidence) {
		t.Fatalf("download = %d, %d bytes, identical %v", resp.StatusCode, len(got), bytes.Equal(got, evidence))
	}
	if d := resp.Header.Get("Repr-Digest"); d != "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":" {
		t.Errorf("Repr-Digest = %q", d)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "preservation-confirmation.pdf") {
		t.Errorf("Content-Disposition = %q", cd)
	}

	step(prosecutor, "close", nil, "CLOSED")

	h := c.MustDo("GET", path+"/history", prosecutor, nil, 200)
	var steps []string
	changes, _ := h.Body["changes"].([]any)
	for _, ch := range changes {
		m := ch.(map[string]any)
		actor := m["actor"].(map[string]any)
		steps = append(steps, m["action"].(string)+" by "+actor["subject"].(string)+"@"+actor["agency"].(string)+" → "+m["toStatus"].(string))
	}
	want := []string{
		"create by dev:kz-gpo:prosecutor@agencies/kz-gpo → DRAFT",
		"submit by dev:kz-gpo:prosecutor@agencies/kz-gpo → SUBMITTED",
		"transmit by dev:kz-gpo:central_authority@agencies/kz-gpo → TRANSMITTED",
		"acknowledge by dev:uz-247:central_authority@agencies/uz-247 → ACKNOWLEDGED",
		"requestClarification by dev:uz-247:central_authority@agencies/uz-247 → CLARIFICATION_REQUESTED",
		"provideClarification by dev:kz-gpo:prosecutor@agencies/kz-gpo → ACKNOWLEDGED",
		"accept by dev:uz-247:central_authority@agencies/uz-247 → ACCEPTED",
		"execute by dev:uz-247:central_authority@agencies/uz-247 → EXECUTED",
		"extendPreservation by dev:uz-247:central_authority@agencies/uz-247 → EXECUTED",
		"close by dev:kz-gpo:prosecutor@agencies/kz-gpo → CLOSED",
	}
	if !slices.Equal(steps, want) {
		t.Errorf("history:\n%s\nwant:\n%s", strings.Join(steps, "\n"), strings.Join(want, "\n"))
	}
	ref, _ := created.Body["reference"].(string)
	return Case{Name: name, Reference: ref, Evidence: evidenceName}
}
