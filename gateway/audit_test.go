package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/identity"
)

// auditEntry is an entry of GET /v1/audit/entries as an auditor reads it.
type auditEntry struct {
	Index uint64 `json:"index,string"`
	Event struct {
		ID    string `json:"id"`
		Actor struct {
			Subject string   `json:"subject"`
			Agency  string   `json:"agency"`
			Roles   []string `json:"roles"`
		} `json:"actor"`
		Service    string   `json:"service"`
		Action     string   `json:"action"`
		Resource   string   `json:"resource"`
		States     []string `json:"states"`
		Outcome    string   `json:"outcome"`
		Transition *struct {
			From string `json:"from"`
			To   string `json:"to"`
		} `json:"transition"`
		Purpose string `json:"purpose"`
	} `json:"event"`
	Leaf []byte `json:"leaf"`
}

// String is the entry as the assertions compare it: what was done, with
// what outcome and status change, by whom, to what.
func (e auditEntry) String() string {
	ev := e.Event
	s := ev.Action + " " + ev.Outcome
	if ev.Transition != nil {
		s += " " + ev.Transition.From + "→" + ev.Transition.To
	}
	return s + " by " + ev.Actor.Subject + "@" + ev.Actor.Agency
}

// auditPage is what GET /v1/audit/entries returns.
type auditPage struct {
	Entries       []auditEntry `json:"entries"`
	NextPageToken string       `json:"nextPageToken"`
}

// auditEntries returns every entry the auditor's filter selects, page by
// page, and the raw JSON of the pages.
func (s *suite) auditEntries(tok, filter string) ([]auditEntry, string) {
	s.t.Helper()
	all, raw, r := s.tryAuditEntries(tok, filter)
	if r.status != 200 {
		s.t.Fatalf("GET /v1/audit/entries?filter=%s = %d: %s", filter, r.status, r.raw)
	}
	return all, raw
}

// tryAuditEntries is auditEntries that returns the first failed answer
// instead of failing the test.
func (s *suite) tryAuditEntries(tok, filter string) ([]auditEntry, string, response) {
	s.t.Helper()
	var all []auditEntry
	var raw strings.Builder
	token := ""
	for {
		q := url.Values{"pageSize": {"50"}}
		if filter != "" {
			q.Set("filter", filter)
		}
		if token != "" {
			q.Set("pageToken", token)
		}
		r := s.do("GET", "/v1/audit/entries?"+q.Encode(), tok, nil)
		if r.status != 200 {
			return nil, "", r
		}
		raw.WriteString(r.raw)
		var p auditPage
		if err := json.Unmarshal([]byte(r.raw), &p); err != nil {
			s.t.Fatalf("entries page: %v: %s", err, r.raw)
		}
		all = append(all, p.Entries...)
		if p.NextPageToken == "" {
			return all, raw.String(), r
		}
		token = p.NextPageToken
	}
}

// awaitEntries polls the auditor's view of filter, with backoff, until done
// holds of the entries: relays deliver events asynchronously. An
// unavailable audit service (503) is waited for too.
func (s *suite) awaitEntries(tok, filter string, within time.Duration, done func([]auditEntry) bool) []auditEntry {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		got, _, r := s.tryAuditEntries(tok, filter)
		switch {
		case r.status == 200 && done(got):
			return got
		case r.status != 200 && r.status != 503:
			s.t.Fatalf("GET /v1/audit/entries?filter=%s = %d: %s", filter, r.status, r.raw)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after %v, the log holds for %s only (last answer %d):\n%s", within, filter, r.status, describe(got))
		}
		time.Sleep(backoff)
	}
}

func describe(es []auditEntry) string {
	var lines []string
	for _, e := range es {
		lines = append(lines, fmt.Sprintf("  #%d %s (%s)", e.Index, e, e.Event.Resource))
	}
	return strings.Join(lines, "\n")
}

// counts tallies entries by String.
func counts(es []auditEntry) map[string]int {
	m := map[string]int{}
	for _, e := range es {
		m[e.String()]++
	}
	return m
}

// hasAll reports whether es hold each of want (with multiplicity).
func hasAll(want []string) func([]auditEntry) bool {
	return func(es []auditEntry) bool {
		got := counts(es)
		need := map[string]int{}
		for _, w := range want {
			need[w]++
		}
		for w, n := range need {
			if got[w] < n {
				return false
			}
		}
		return true
	}
}

// checkExactly reports every difference between the entries and want, as
// multisets.
func checkExactly(t *testing.T, what string, es []auditEntry, want []string) {
	t.Helper()
	got := counts(es)
	need := map[string]int{}
	for _, w := range want {
		need[w]++
	}
	var diff []string
	for _, w := range slices.Sorted(maps.Keys(need)) {
		if got[w] != need[w] {
			diff = append(diff, fmt.Sprintf("  %dx, want %dx: %s", got[w], need[w], w))
		}
	}
	for _, g := range slices.Sorted(maps.Keys(got)) {
		if need[g] == 0 {
			diff = append(diff, fmt.Sprintf("  %dx, want none: %s", got[g], g))
		}
	}
	if len(diff) > 0 {
		t.Errorf("%s: the log differs from what was done:\n%s", what, strings.Join(diff, "\n"))
	}
}

// checkUniqueIDs fails when an event id is on the log twice.
func checkUniqueIDs(t *testing.T, es []auditEntry) {
	t.Helper()
	at := map[string]uint64{}
	for _, e := range es {
		if i, dup := at[e.Event.ID]; dup {
			t.Errorf("event %s is on the log twice: entries %d and %d (%s)", e.Event.ID, i, e.Index, e)
		}
		at[e.Event.ID] = e.Index
	}
}

// signedCheckpoint is a checkpoint the caller fetched and verified.
type signedCheckpoint struct {
	bundle.Checkpoint
	publicKey string
}

// checkpoint fetches the latest checkpoint and verifies its signature with
// the public key served beside it (the tests compare the key across calls).
func (s *suite) checkpoint(tok string) signedCheckpoint {
	s.t.Helper()
	r := s.mustDo("GET", "/v1/audit/checkpoint", tok, nil, 200)
	var resp struct {
		Checkpoint struct {
			Note string `json:"note"`
			Size uint64 `json:"size,string"`
		} `json:"checkpoint"`
		PublicKey string `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(r.raw), &resp); err != nil {
		s.t.Fatalf("checkpoint: %v: %s", err, r.raw)
	}
	cp, err := bundle.VerifyCheckpoint([]byte(resp.Checkpoint.Note), resp.PublicKey)
	if err != nil {
		s.t.Fatalf("the served checkpoint does not verify: %v\n%s", err, r.raw)
	}
	if cp.Size != resp.Checkpoint.Size {
		s.t.Fatalf("checkpoint size %d differs from its signed note's %d", resp.Checkpoint.Size, cp.Size)
	}
	return signedCheckpoint{Checkpoint: cp, publicKey: resp.PublicKey}
}

// awaitCheckpoint polls until a checkpoint covers entries below size.
func (s *suite) awaitCheckpoint(tok string, size uint64) signedCheckpoint {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		cp := s.checkpoint(tok)
		if cp.Size >= size {
			return cp
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no checkpoint covers %d entries after 30s (latest: %d)", size, cp.Size)
		}
		time.Sleep(backoff)
	}
}

func resourceFilter(names ...string) string {
	var terms []string
	for _, n := range names {
		terms = append(terms, strconv.Quote(n))
	}
	return "resource = " + strings.Join(terms, " OR resource = ")
}

const requestService = "/comity.request.v1.RequestService/"

// completeCase is what TestTheCompleteCaseIsOnTheLogOnce did, for the
// assertions on the log.
type completeCase struct {
	name        string   // requests/{id}
	attachments []string // requests/{id}/attachments/{a}
	secrets     []string // case content that must stay off the log
}

// runCompleteCase takes a KZ→UZ preservation through every step, with a
// retried create, a read by each side, uploads and a download, and the
// denied attempts the test expects on the log.
func runCompleteCase(t *testing.T, s *suite) completeCase {
	t.Helper()
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	uzCA := s.token("uz-247", identity.CentralAuthority)
	tjUser := s.token("tj-gpo", identity.CentralAuthority)
	draft := preservation()
	c := completeCase{secrets: []string{
		draft["factsSummary"].(string), "203.0.113.7", draft["caseReference"].(string),
		draft["offence"].(map[string]any)["description"].(string), draft["necessityAndProportionality"].(string),
	}}

	created := s.mustDo("POST", "/v1/requests?requestId=audit-case", prosecutor, draft, 200)
	c.name = created.body["name"].(string)
	path := "/v1/" + c.name
	if again := s.mustDo("POST", "/v1/requests?requestId=audit-case", prosecutor, draft, 200); again.body["name"] != c.name {
		t.Fatalf("a retried create made a second request")
	}
	staleEtag := created.body["etag"].(string)
	act := func(tok, action string, body map[string]any, want int) response {
		t.Helper()
		if body == nil {
			body = map[string]any{}
		}
		return s.mustDo("POST", path+":"+action, tok, body, want)
	}
	act(prosecutor, "submit", nil, 200)
	act(prosecutor, "transmit", nil, 403)                         // not a central authority
	act(kzCA, "transmit", map[string]any{"etag": staleEtag}, 409) // changed since
	act(kzCA, "transmit", nil, 200)
	s.mustDo("GET", path, tjUser, nil, 404) // no need to know
	s.mustDo("GET", path, uzCA, nil, 200)   // a read of full content
	act(uzCA, "acknowledge", nil, 200)
	questions := "Please give the exact time zone of the timestamps of the intrusion."
	act(uzCA, "requestClarification", map[string]any{"questions": questions}, 200)
	translation := s.upload(path, prosecutor, "TRANSLATION", "uz", "tarjima-audit.pdf", []byte("%PDF-1.7 tarjima"), nil)
	if translation.status != 200 {
		t.Fatalf("upload = %d %s", translation.status, translation.raw)
	}
	answers := "The timestamps are in Asia/Almaty time, UTC+5."
	act(prosecutor, "provideClarification", map[string]any{"answers": answers, "attachments": []any{translation.body["name"]}}, 200)
	act(uzCA, "accept", map[string]any{
		"dualCriminality": "NOT_REQUIRED", "humanRightsReview": map[string]any{"concerns": false, "note": "No concerns."},
		"conditions": "Data to be used for these proceedings only.",
	}, 200)
	evidence := s.upload(path, uzCA, "EVIDENCE", "", "preserved-logs-audit.pdf", []byte("%PDF-1.7 logs preserved"), nil)
	if evidence.status != 200 {
		t.Fatalf("upload = %d %s", evidence.status, evidence.raw)
	}
	summary := "Connection logs of the address were preserved until the end of the year."
	act(uzCA, "execute", map[string]any{"responseSummary": summary, "attachments": []any{evidence.body["name"]}}, 200)
	act(uzCA, "extendPreservation", nil, 200)
	s.download("/v1/"+evidence.body["name"].(string)+":download", prosecutor, 200)
	act(prosecutor, "close", nil, 200)
	c.attachments = []string{translation.body["name"].(string), evidence.body["name"].(string)}
	c.secrets = append(c.secrets, questions, answers, summary, "tarjima-audit.pdf", "preserved-logs-audit.pdf")
	return c
}

// download fetches an attachment's raw content and checks the status.
func (s *suite) download(path, tok string, want int) []byte {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.baseURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		s.t.Fatalf("GET %s = %d, want %d: %s", path, resp.StatusCode, want, body)
	}
	return body
}

func TestTheCompleteCaseIsOnTheLogOnce(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	c := runCompleteCase(t, s)
	kzAuditor := s.token("kz-oversight", identity.Auditor)

	const (
		prosecutor = "dev:kz-gpo:prosecutor@kz-gpo"
		kzCA       = "dev:kz-gpo:central_authority@kz-gpo"
		uzCA       = "dev:uz-247:central_authority@uz-247"
		tjUser     = "dev:tj-gpo:central_authority@tj-gpo"
	)
	onRequest := []string{
		requestService + "CreateRequest OK →DRAFT by " + prosecutor,
		// The retried create changed nothing, but it is a call on the
		// request (and returned its full content).
		requestService + "CreateRequest OK by " + prosecutor,
		requestService + "SubmitRequest OK DRAFT→SUBMITTED by " + prosecutor,
		requestService + "TransmitRequest PERMISSION_DENIED by " + prosecutor,
		requestService + "TransmitRequest ABORTED by " + kzCA,
		requestService + "TransmitRequest OK SUBMITTED→TRANSMITTED by " + kzCA,
		// The TJ user's attempt concerns a KZ request: KZ's auditors see
		// it (DESIGN §6: every denied call, scoped to the states it
		// involves), though the TJ user was told it does not exist. TJ's
		// auditors see it in an event of their own, naming TJ only.
		requestService + "GetRequest NOT_FOUND by " + tjUser,
		requestService + "GetRequest OK by " + uzCA,
		requestService + "AcknowledgeRequest OK TRANSMITTED→ACKNOWLEDGED by " + uzCA,
		requestService + "RequestClarification OK ACKNOWLEDGED→CLARIFICATION_REQUESTED by " + uzCA,
		requestService + "ProvideClarification OK CLARIFICATION_REQUESTED→ACKNOWLEDGED by " + prosecutor,
		requestService + "AcceptRequest OK ACKNOWLEDGED→ACCEPTED by " + uzCA,
		requestService + "ExecuteRequest OK ACCEPTED→EXECUTED by " + uzCA,
		// Extending changes no status: no transition.
		requestService + "ExtendPreservation OK by " + uzCA,
		requestService + "CloseRequest OK EXECUTED→CLOSED by " + prosecutor,
	}
	onAttachments := [][]string{
		{requestService + "UploadAttachment OK by " + prosecutor},
		{requestService + "UploadAttachment OK by " + uzCA, requestService + "DownloadAttachment OK by " + prosecutor},
	}
	// The last event of the case is the close: once it is there, the relay
	// (which keeps order) has delivered everything before it.
	closed := hasAll(onRequest[len(onRequest)-1:])
	entries := s.awaitEntries(kzAuditor, resourceFilter(c.name), 30*time.Second, closed)
	checkExactly(t, c.name, entries, onRequest)
	// Until the request is transmitted it is none of UZ's business
	// (DESIGN §3): its events involve KZ only; from the transmission on,
	// KZ and UZ.
	transmitted := false
	for _, e := range entries {
		if e.Event.Transition != nil && e.Event.Transition.To == "TRANSMITTED" {
			transmitted = true
		}
		want := []string{"KZ"}
		switch {
		case transmitted:
			want = []string{"KZ", "UZ"}
		}
		if e.Event.Resource != c.name || !slices.Equal(e.Event.States, want) {
			t.Errorf("entry %d (%s) is on %s with states %v, want %s and %v", e.Index, e, e.Event.Resource, e.Event.States, c.name, want)
		}
	}
	// An auditor looking for refusals finds them by their gRPC code name.
	denied, _ := s.auditEntries(kzAuditor, resourceFilter(c.name)+` AND outcome = "PERMISSION_DENIED"`)
	checkExactly(t, "outcome = PERMISSION_DENIED", denied, []string{requestService + "TransmitRequest PERMISSION_DENIED by " + prosecutor})
	for i, a := range c.attachments {
		got, _ := s.auditEntries(kzAuditor, resourceFilter(a))
		checkExactly(t, a, got, onAttachments[i])
	}

	all, raw := s.auditEntries(kzAuditor, "")
	checkUniqueIDs(t, all)
	// No case content on the trail: neither in the events as served nor in
	// the logged leaves.
	var leaves strings.Builder
	for _, e := range all {
		ev, err := audit.ParseLeaf(e.Leaf)
		if err != nil {
			t.Fatalf("entry %d: the leaf is not an event: %v", e.Index, err)
		}
		if ev.ID != e.Event.ID || ev.Action != e.Event.Action || ev.Outcome != e.Event.Outcome || ev.Resource != e.Event.Resource {
			t.Errorf("entry %d: the event served (%s) is not the one logged (%+v)", e.Index, e, ev)
		}
		leaves.Write(e.Leaf)
	}
	for _, secret := range c.secrets {
		if strings.Contains(raw, secret) || strings.Contains(leaves.String(), secret) {
			t.Errorf("the audit trail holds case content: %q", secret)
		}
	}

	// An entry's inclusion, checked with nothing but the published key.
	i := slices.IndexFunc(entries, func(e auditEntry) bool { return e.Event.Transition != nil && e.Event.Transition.To == "TRANSMITTED" })
	if i < 0 {
		t.Fatalf("no transmission on the log:\n%s", describe(entries))
	}
	transmit := entries[i]
	cp := s.awaitCheckpoint(kzAuditor, transmit.Index+1)
	r := s.mustDo("GET", fmt.Sprintf("/v1/audit/entries/%d?treeSize=%d", transmit.Index, cp.Size), kzAuditor, nil, 200)
	var got struct {
		Entry          auditEntry `json:"entry"`
		TreeSize       uint64     `json:"treeSize,string"`
		InclusionProof [][]byte   `json:"inclusionProof"`
	}
	if err := json.Unmarshal([]byte(r.raw), &got); err != nil {
		t.Fatalf("entry: %v: %s", err, r.raw)
	}
	if got.TreeSize != cp.Size || got.Entry.Event.ID != transmit.Event.ID || !bytes.Equal(got.Entry.Leaf, transmit.Leaf) {
		t.Fatalf("GET entry %d against %d = %s", transmit.Index, cp.Size, r.raw)
	}
	if err := bundle.VerifyInclusion(got.Entry.Leaf, transmit.Index, got.InclusionProof, cp.Checkpoint); err != nil {
		t.Errorf("the inclusion proof of entry %d does not verify: %v", transmit.Index, err)
	}
	// The same proof does not prove another leaf: the check above can fail.
	if err := bundle.VerifyInclusion(entries[0].Leaf, transmit.Index, got.InclusionProof, cp.Checkpoint); err == nil {
		t.Error("the inclusion proof of one entry also proves another")
	}
}

// auditRoutes are the five REST routes of the audit trail.
var auditRoutes = []string{
	"/v1/audit/checkpoint",
	"/v1/audit/entries",
	"/v1/audit/entries/0",
	"/v1/audit/proofs:consistency?from=1&to=1",
	"/v1/audit/entries:export?filter=" + url.QueryEscape(`resource = "requests/x"`),
}

// fileAndTransmit files a preservation request from agency to state and has
// the requesting central authority transmit it.
func (s *suite) fileAndTransmit(agency, state string) string {
	s.t.Helper()
	prosecutor := s.token(agency, identity.Prosecutor)
	d := preservation()
	d["requestedState"] = state
	name := s.mustDo("POST", "/v1/requests", prosecutor, d, 200).body["name"].(string)
	s.mustDo("POST", "/v1/"+name+":submit", prosecutor, map[string]any{}, 200)
	s.mustDo("POST", "/v1/"+name+":transmit", s.token(agency, identity.CentralAuthority), map[string]any{}, 200)
	return name
}

func filed(agency string) []string {
	p, ca := "dev:"+agency+":prosecutor@"+agency, "dev:"+agency+":central_authority@"+agency
	return []string{
		requestService + "CreateRequest OK →DRAFT by " + p,
		requestService + "SubmitRequest OK DRAFT→SUBMITTED by " + p,
		requestService + "TransmitRequest OK SUBMITTED→TRANSMITTED by " + ca,
	}
}

func TestAuditorsSeeTheirStateOnly(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	kzuz := s.fileAndTransmit("kz-gpo", "UZ")
	tjkg := s.fileAndTransmit("tj-gpo", "KG")
	auditor := map[string]string{}
	for _, st := range []string{"kz", "uz", "tj", "kg"} {
		auditor[st] = s.token(st+"-oversight", identity.Auditor)
	}

	// Wait for both requests' events: an auditor not seeing an event that
	// is not yet delivered would prove nothing.
	kzSees := s.awaitEntries(auditor["kz"], resourceFilter(kzuz), 30*time.Second, hasAll(filed("kz-gpo")))
	tjSees := s.awaitEntries(auditor["tj"], resourceFilter(tjkg), 30*time.Second, hasAll(filed("tj-gpo")))
	checkExactly(t, "kz auditor on KZ→UZ", kzSees, filed("kz-gpo"))
	checkExactly(t, "tj auditor on TJ→KG", tjSees, filed("tj-gpo"))
	for _, tc := range []struct {
		name, auditor, request string
		want                   []string
	}{
		// The requested state's auditors see the request from its
		// transmission on, not its drafting (DESIGN §3).
		{"uz auditor on KZ→UZ", "uz", kzuz, filed("kz-gpo")[2:]},
		{"kg auditor on TJ→KG", "kg", tjkg, filed("tj-gpo")[2:]},
		{"kz auditor on TJ→KG", "kz", tjkg, nil},
		{"uz auditor on TJ→KG", "uz", tjkg, nil},
		{"tj auditor on KZ→UZ", "tj", kzuz, nil},
		{"kg auditor on KZ→UZ", "kg", kzuz, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := s.auditEntries(auditor[tc.auditor], resourceFilter(tc.request))
			checkExactly(t, tc.name, got, tc.want)
		})
	}
	// Unfiltered, a kz auditor sees only events involving KZ.
	all, _ := s.auditEntries(auditor["kz"], "")
	for _, e := range all {
		if !slices.Contains(e.Event.States, "KZ") || e.Event.Resource == tjkg {
			t.Errorf("the kz auditor sees entry %d (%s) on %s involving %v", e.Index, e, e.Event.Resource, e.Event.States)
		}
	}
	// Nor can it fetch or export another state's entry.
	tjTransmit := tjSees[len(tjSees)-1]
	s.awaitCheckpoint(auditor["tj"], tjTransmit.Index+1)
	s.mustDo("GET", fmt.Sprintf("/v1/audit/entries/%d", tjTransmit.Index), auditor["kz"], nil, 404)
	s.mustDo("GET", fmt.Sprintf("/v1/audit/entries/%d", tjTransmit.Index), auditor["tj"], nil, 200)
	for _, tc := range []struct {
		auditor, request string
		want             int
	}{{"kz", kzuz, 3}, {"kz", tjkg, 0}, {"tj", tjkg, 3}, {"tj", kzuz, 0}} {
		r := s.mustDo("GET", "/v1/audit/entries:export?filter="+url.QueryEscape(resourceFilter(tc.request)), auditor[tc.auditor], nil, 200)
		if got, _ := r.body["entries"].([]any); len(got) != tc.want {
			t.Errorf("%s auditor's export of %s has %d entries, want %d: %s", tc.auditor, tc.request, len(got), tc.want, r.raw)
		}
	}

	// Other roles may not read the trail at all; no token is no access.
	others := []struct {
		name string
		tok  string
		want int
	}{
		{"prosecutor", s.token("kz-gpo", identity.Prosecutor), 403},
		{"central authority", s.token("kz-gpo", identity.CentralAuthority), 403},
		{"liaison officer", s.token("kz-gpo", identity.LiaisonOfficer), 403},
		{"directory admin", s.token("kz-gpo", identity.DirectoryAdmin), 403},
		{"no token", "", 401},
	}
	for _, who := range others {
		for _, route := range auditRoutes {
			t.Run(who.name+" "+route, func(t *testing.T) {
				if r := s.do("GET", route, who.tok, nil); r.status != who.want {
					t.Errorf("GET %s = %d, want %d: %s", route, r.status, who.want, r.raw)
				}
			})
		}
	}
	// Those refusals are denied calls: on the trail of the caller's state.
	// The audit service logs its own refusals before answering: no wait.
	refused, _ := s.auditEntries(auditor["kz"], `service = "comity-audit" AND agency = "kz-gpo"`)
	var wantRefused []string
	for _, who := range others[:4] {
		subject := "dev:kz-gpo:" + strings.ReplaceAll(who.name, " ", "_") + "@kz-gpo"
		for _, m := range []string{"GetCheckpoint", "ListEntries", "GetEntry", "GetConsistencyProof", "ExportBundle"} {
			wantRefused = append(wantRefused, "/comity.audit.v1.AuditService/"+m+" PERMISSION_DENIED by "+subject)
		}
	}
	checkExactly(t, "refused audit reads", refused, wantRefused)
}

func TestAuditOutageLosesNothing(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	kzAuditor := s.token("kz-oversight", identity.Auditor)
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	uzCA := s.token("uz-247", identity.CentralAuthority)

	// Something on the log, so that the checkpoint kept from before the
	// outage commits to a tree a proof can start from.
	first := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)
	s.awaitEntries(kzAuditor, resourceFilter(first), 30*time.Second, hasAll(filed("kz-gpo")[:1]))
	before := s.awaitCheckpoint(kzAuditor, 1)

	s.stopAudit()
	if r := s.do("GET", "/v1/audit/checkpoint", kzAuditor, nil); r.status != 503 {
		t.Fatalf("with the audit service down, GET /v1/audit/checkpoint = %d, want 503: %s", r.status, r.raw)
	}
	want := map[string][]string{}
	for i := range 4 {
		name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)
		path := "/v1/" + name
		s.mustDo("POST", path+":submit", prosecutor, map[string]any{}, 200)
		s.mustDo("POST", path+":transmit", kzCA, map[string]any{}, 200)
		s.mustDo("GET", path, prosecutor, nil, 200)
		want[name] = append(filed("kz-gpo"), requestService+"GetRequest OK by dev:kz-gpo:prosecutor@kz-gpo")
		if i%2 == 0 {
			s.mustDo("POST", path+":acknowledge", uzCA, map[string]any{}, 200)
			want[name] = append(want[name], requestService+"AcknowledgeRequest OK TRANSMITTED→ACKNOWLEDGED by dev:uz-247:central_authority@uz-247")
		}
	}
	s.restartAudit()

	var names, everything []string
	for name, w := range want {
		names = append(names, name)
		everything = append(everything, w...)
	}
	entries := s.awaitEntries(kzAuditor, resourceFilter(names...), 60*time.Second, hasAll(everything))
	byRequest := map[string][]auditEntry{}
	var last uint64
	for _, e := range entries {
		byRequest[e.Event.Resource] = append(byRequest[e.Event.Resource], e)
		last = max(last, e.Index)
	}
	for name, w := range want {
		checkExactly(t, name, byRequest[name], w)
	}
	all, _ := s.auditEntries(kzAuditor, "")
	checkUniqueIDs(t, all)

	// The log only grew: the checkpoint from before the outage is a prefix
	// of the one after it.
	after := s.awaitCheckpoint(kzAuditor, last+1)
	if after.publicKey != before.publicKey {
		t.Fatalf("the log's key changed across the restart: %q, then %q", before.publicKey, after.publicKey)
	}
	r := s.mustDo("GET", fmt.Sprintf("/v1/audit/proofs:consistency?from=%d&to=%d", before.Size, after.Size), kzAuditor, nil, 200)
	var proof struct {
		From  uint64   `json:"from,string"`
		To    uint64   `json:"to,string"`
		Proof [][]byte `json:"proof"`
	}
	if err := json.Unmarshal([]byte(r.raw), &proof); err != nil {
		t.Fatalf("consistency proof: %v: %s", err, r.raw)
	}
	if proof.From != before.Size || proof.To != after.Size {
		t.Fatalf("asked a proof from %d to %d, got %s", before.Size, after.Size, r.raw)
	}
	if err := bundle.VerifyConsistency(before.Checkpoint, after.Checkpoint, proof.Proof); err != nil {
		t.Errorf("the log after the outage does not extend the log before it: %v", err)
	}
}
