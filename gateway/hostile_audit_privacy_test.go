package gateway_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

// privateEvent is an audit event as an auditor reads it, with the fields
// these tests look at.
type privateEvent struct {
	ID    string `json:"id"`
	Time  string `json:"time"`
	Actor struct {
		Subject string   `json:"subject"`
		Agency  string   `json:"agency"`
		Roles   []string `json:"roles"`
		Issuer  string   `json:"issuer"`
	} `json:"actor"`
	Service     string   `json:"service"`
	Action      string   `json:"action"`
	Resource    string   `json:"resource"`
	States      []string `json:"states"`
	Outcome     string   `json:"outcome"`
	RequestHMAC string   `json:"requestHmac"`
}

// privateEntries returns the events of the auditor's view of filter.
func (s *suite) privateEntries(tok, filter string) []privateEvent {
	s.t.Helper()
	r := s.do("GET", "/v1/audit/entries?"+url.Values{"filter": {filter}, "pageSize": {"1000"}}.Encode(), tok, nil)
	if r.status != 200 {
		s.t.Fatalf("GET /v1/audit/entries?filter=%s = %d: %s", filter, r.status, r.raw)
	}
	var page struct {
		Entries []struct {
			Event privateEvent `json:"event"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.raw), &page); err != nil {
		s.t.Fatalf("entries: %v: %s", err, r.raw)
	}
	var out []privateEvent
	for _, e := range page.Entries {
		out = append(out, e.Event)
	}
	return out
}

// A KZ auditor reads the event of a KZ prosecutor's PATCH that set an IP
// address identifier, and tries every address and port around it, as an
// auditor did in 0.4 s against the plain SHA-256 the events used to carry
// (issue 10, item 4). The digest is now an HMAC under the deployment's key:
// neither the plain hash nor an HMAC under any other key finds the
// identifier, while whoever holds the key can prove the exact call.
func TestHostileAuditDigestIsKeyed(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	auditor := s.token("kz-oversight", identity.Auditor)
	name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)

	start := time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Second)
	identifierBody := func(value string) []byte {
		b, err := json.Marshal(map[string]any{"identifiers": []any{map[string]any{
			"kind": "IP_ADDRESS", "value": value,
			"startTime": start.Format(time.RFC3339), "endTime": start.Add(48 * time.Hour).Format(time.RFC3339),
		}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const secret = "198.51.100.77:8443"
	var patch map[string]any
	if err := json.Unmarshal(identifierBody(secret), &patch); err != nil {
		t.Fatal(err)
	}
	s.mustDo("PATCH", "/v1/"+name, prosecutor, patch, 200)

	const update = "/comity.request.v1.RequestService/UpdateRequest"
	filter := fmt.Sprintf("resource = %q AND action = %q", name, update)
	var digest string
	s.awaitEntries(auditor, filter, 30*time.Second, func(es []auditEntry) bool { return len(es) == 1 })
	for _, e := range s.privateEntries(auditor, filter) {
		digest = e.RequestHMAC
	}
	if len(digest) != 64 {
		t.Fatalf("the PATCH's event carries request digest %q; want 64 hex digits (requestHmac)", digest)
	}

	// The canonical request message of a PATCH with value, as the gateway
	// builds it: the body as the request, its fields as the update mask,
	// the name from the path.
	message := func(value string) []byte {
		body := identifierBody(value)
		req := &requestv1.UpdateRequestRequest{Request: &requestv1.Request{}}
		if err := protojson.Unmarshal(body, req.Request); err != nil {
			t.Fatal(err)
		}
		mask, err := runtime.FieldMaskFromRequestBody(bytes.NewReader(body), req.Request)
		if err != nil {
			t.Fatal(err)
		}
		req.UpdateMask, req.Request.Name = mask, name
		data, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	key, err := os.ReadFile(filepath.Join(s.dataDir, "audit", "digest.key"))
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := make([]byte, 32)
	if _, err := rand.Read(wrongKey); err != nil {
		t.Fatal(err)
	}
	guesses := map[string]func([]byte) string{
		"plain SHA-256": func(m []byte) string { sum := sha256.Sum256(m); return hex.EncodeToString(sum[:]) },
		"HMAC, no key":  func(m []byte) string { return mac(nil, m) },
		"HMAC, another key": func(m []byte) string {
			return mac(wrongKey, m)
		},
		"HMAC, the deployment's key": func(m []byte) string { return mac(key, m) },
	}
	found := map[string][]string{}
	for host := 0; host < 256; host++ {
		for port := 8400; port < 8500; port++ {
			candidate := fmt.Sprintf("198.51.100.%d:%d", host, port)
			m := message(candidate)
			for how, sum := range guesses {
				if sum(m) == digest {
					found[how] = append(found[how], candidate)
				}
			}
		}
	}
	for how, hits := range found {
		if how != "HMAC, the deployment's key" {
			t.Errorf("brute force over 25,600 addresses with %s finds the identifier: %v", how, hits)
		}
	}
	if got := found["HMAC, the deployment's key"]; !slices.Equal(got, []string{secret}) {
		t.Errorf("with the deployment's key, the digest matches the PATCH of %v; want exactly %s: it must prove this exact call", got, secret)
	}
}

func mac(key, message []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write(message)
	return hex.EncodeToString(h.Sum(nil))
}

// A TJ prosecutor asks for a KZ→UZ request, a random id and a KZ→UZ draft:
// all three are 404, and the TJ auditors' trail of the three calls must be
// as alike (their state, the name asked for): it used to name the parties of
// the requests that exist (issue 10, item 5). The parties' auditors see the
// probe of what is theirs, and who made it: KZ both, UZ the transmitted
// request only, since a draft is not yet the requested state's business
// (DESIGN §3; its auditors see no event of a draft). Nor does the log's
// size tell: each probe adds the same number of entries, a random id's
// second one a stand-in on no state's trail.
func TestHostileNotFoundRevealsNothing(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	transmitted := s.fileAndTransmit("kz-gpo", "UZ")
	draft := s.mustDo("POST", "/v1/requests", s.token("kz-gpo", identity.Prosecutor), preservation(), 200).body["name"].(string)
	random := "requests/" + uuid.Must(uuid.NewV7()).String()
	tj := s.token("tj-gpo", identity.Prosecutor)
	// The transmitted request last: the relay delivers in order, so once
	// its events are in, the others are.
	probes := []string{draft, random, transmitted}
	for _, name := range probes {
		if r := s.do("GET", "/v1/"+name, tj, nil); r.status != 404 {
			t.Fatalf("TJ GET %s = %d; want 404: %s", name, r.status, r.raw)
		}
	}

	const get = "/comity.request.v1.RequestService/GetRequest"
	filter := fmt.Sprintf("actor = %q AND action = %q", "dev:tj-gpo:prosecutor", get)
	auditors := map[string]string{}
	for _, st := range []string{"tj", "kz", "uz"} {
		auditors[st] = s.token(st+"-oversight", identity.Auditor)
	}
	s.awaitEntries(auditors["uz"], filter, 30*time.Second, func(es []auditEntry) bool { return len(es) >= 1 })
	s.awaitEntries(auditors["kz"], filter, 30*time.Second, func(es []auditEntry) bool { return len(es) >= 2 })
	s.awaitEntries(auditors["tj"], filter, 30*time.Second, func(es []auditEntry) bool { return len(es) >= 3 })

	view := func(st string) map[string]privateEvent {
		byName := map[string]privateEvent{}
		for _, e := range s.privateEntries(auditors[st], filter) {
			if _, dup := byName[e.Resource]; dup {
				t.Errorf("the %s auditor sees two events of the probe of %s", st, e.Resource)
			}
			byName[e.Resource] = e
		}
		return byName
	}

	// TJ: the three calls alike but for the name (and what differs with
	// any event: id, time, the digest of the message naming it).
	tjView := view("tj")
	if len(tjView) != 3 {
		t.Fatalf("the TJ auditor sees the probes of %v; want the 3 names asked for", slices.Sorted(maps.Keys(tjView)))
	}
	plain := func(e privateEvent) string {
		e.ID, e.Time, e.RequestHMAC, e.Resource = "", "", "", ""
		b, _ := json.Marshal(e)
		return string(b)
	}
	want := plain(tjView[random])
	for _, name := range probes {
		e := tjView[name]
		if got := plain(e); got != want {
			t.Errorf("the TJ auditor tells %s apart from a random id:\n got %s\nwant %s", name, got, want)
		}
		if !slices.Equal(e.States, []string{"TJ"}) || e.Outcome != "NOT_FOUND" {
			t.Errorf("the TJ auditor sees the probe of %s with states %v and outcome %s; want [TJ] NOT_FOUND", name, e.States, e.Outcome)
		}
	}

	// The parties: who probed what is theirs.
	for _, tc := range []struct {
		state string
		see   map[string][]string // name → states of the event
	}{
		{"kz", map[string][]string{transmitted: {"KZ", "UZ"}, draft: {"KZ"}}},
		{"uz", map[string][]string{transmitted: {"KZ", "UZ"}}},
	} {
		t.Run(tc.state, func(t *testing.T) {
			got := view(tc.state)
			if len(got) != len(tc.see) {
				t.Errorf("the %s auditor sees the TJ probes of %v; want %v", tc.state, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tc.see)))
			}
			for name, states := range tc.see {
				e, ok := got[name]
				switch {
				case !ok:
					t.Errorf("the %s auditor does not see the TJ probe of %s", tc.state, name)
				case !slices.Equal(e.States, states) || e.Outcome != "NOT_FOUND" || e.Actor.Agency != "tj-gpo":
					t.Errorf("the %s auditor sees the probe of %s as %+v; want states %v, NOT_FOUND, by tj-gpo", tc.state, name, e, states)
				}
			}
		})
	}

	// The log as a whole: as many entries for each probe, whether its name
	// exists or not.
	probe := func(e trail.Event) bool { return e.Actor.Agency == "tj-gpo" && e.Action == get }
	trail := s.awaitTrail("the TJ probes", probe, func(es []trail.Event) bool {
		n := 0
		for _, e := range es {
			if e.Resource == transmitted {
				n++
			}
		}
		return n >= 2
	})
	perName := map[string]int{}
	for _, e := range trail {
		perName[e.Resource]++
		if e.Resource == random && len(e.States) > 0 && !slices.Equal(e.States, []string{"TJ"}) {
			t.Errorf("an event of the probe of a random id names states %v", e.States)
		}
	}
	for _, name := range probes {
		if perName[name] != perName[random] {
			t.Errorf("the probe of %s added %d entries to the log, that of a random id %d: the log's size tells them apart", name, perName[name], perName[random])
		}
	}
}

// The audit service's own events (an auditor's read of an entry) carry the
// request digest too, keyed like the producers' with the deployment's key
// (DESIGN §7: every event carries it): the read of entry N proves "this
// read of N" to whoever holds the key; they used to carry none.
func TestHostileAuditServiceEventsAreKeyed(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	auditor := s.token("kz-oversight", identity.Auditor)
	name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)
	es := s.awaitEntries(auditor, resourceFilter(name), 30*time.Second, func(es []auditEntry) bool { return len(es) > 0 })
	index := es[0].Index
	s.awaitCheckpoint(auditor, index+1)
	s.mustDo("GET", fmt.Sprintf("/v1/audit/entries/%d", index), auditor, nil, 200)

	const getEntry = "/comity.audit.v1.AuditService/GetEntry"
	filter := fmt.Sprintf("action = %q AND agency = %q", getEntry, "kz-oversight")
	s.awaitEntries(auditor, filter, 30*time.Second, func(es []auditEntry) bool { return len(es) >= 1 })
	reads := s.privateEntries(auditor, filter)
	if len(reads) != 1 {
		t.Fatalf("%d events of the auditor's read of entry %d; want 1", len(reads), index)
	}
	key, err := os.ReadFile(filepath.Join(s.dataDir, "audit", "digest.key"))
	if err != nil {
		t.Fatal(err)
	}
	message, err := proto.MarshalOptions{Deterministic: true}.Marshal(&auditv1.GetEntryRequest{Index: index})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reads[0].RequestHMAC, mac(key, message); got != want {
		t.Errorf("the read's event carries request digest %q; want the HMAC of GetEntry(%d) under the deployment's key, %s", got, index, want)
	}
}
