package gateway_test

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// The complete cases 2 to 5 of DESIGN §5.7 through REST, each on SQLite and
// on PostgreSQL, with real tokens: what practitioners meet beyond the happy
// path of case 1 (TestACompleteCaseThroughREST).

// practice is a suite and the people who act in the cases: a kz-gpo
// prosecutor, the kz-gpo central authority, and the central authority of
// any requested agency (by agency id).
type practice struct {
	t          *testing.T
	s          *suite
	prosecutor string
	kzCA       string
}

func newPractice(t *testing.T, engine string) *practice {
	s := startSuite(t, suiteOptions{postgres: engine == "postgres"})
	return &practice{t: t, s: s, prosecutor: s.tokenFor("p-kz", "kz-gpo", identity.Prosecutor), kzCA: s.token("kz-gpo", identity.CentralAuthority)}
}

// ca is the central authority of agency, e.g. "uz-247" or "agencies/uz-gpo".
func (p *practice) ca(agency string) string {
	agency = strings.TrimPrefix(agency, "agencies/")
	return p.s.tokenFor("ca-"+agency, agency, identity.CentralAuthority)
}

// act takes an action on a request and returns the request after it,
// failing unless it succeeds.
func (p *practice) act(name, action, token string, body map[string]any) map[string]any {
	p.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	return p.s.mustDo("POST", "/v1/"+name+":"+action, token, body, http.StatusOK).body
}

func (p *practice) get(name, token string) map[string]any {
	p.t.Helper()
	return p.s.mustDo("GET", "/v1/"+name, token, nil, http.StatusOK).body
}

// practiceRequest is a request of type typ from kz-gpo to state, complete
// for submission: a preservation names its custodian and the production
// that will follow (DESIGN §5.1).
func practiceRequest(typ, state string) map[string]any {
	body := preservation()
	body["type"], body["requestedState"] = typ, state
	body["custodian"] = map[string]any{"provider": "Example Hosting LLC", "country": state, "service": "virtual servers", "accountReference": "vps-20417"}
	body["followUpIntended"] = map[string]any{"intended": true, "productionType": "TRAFFIC_DATA"}
	if typ != "DATA_PRESERVATION" {
		delete(body, "followUpIntended")
	}
	return body
}

// transmitted files body as the prosecutor, submits and transmits it, and
// has the requested agency's central authority acknowledge it. It returns
// the request's name and the requested agency's central authority.
func (p *practice) acknowledged(body map[string]any) (name, requestedCA string) {
	p.t.Helper()
	r := p.s.mustDo("POST", "/v1/requests", p.prosecutor, body, http.StatusOK).body
	name = r["name"].(string)
	p.act(name, "submit", p.prosecutor, nil)
	p.act(name, "transmit", p.kzCA, nil)
	requestedCA = p.ca(r["requestedAgency"].(string))
	p.act(name, "acknowledge", requestedCA, nil)
	return name, requestedCA
}

// executedPreservation is a preservation to state, acknowledged, accepted
// and executed: PRESERVED.
func (p *practice) executedPreservation(state string) (name, requestedCA string) {
	p.t.Helper()
	name, requestedCA = p.acknowledged(practiceRequest("DATA_PRESERVATION", state))
	p.act(name, "accept", requestedCA, map[string]any{"dualCriminality": "NOT_REQUIRED", "humanRightsReview": map[string]any{"note": "No concerns."}})
	r := p.act(name, "execute", requestedCA, map[string]any{"responseSummary": "The logs are preserved."})
	if r["status"] != "EXECUTED" || preservationState(r) != "PRESERVED" {
		p.t.Fatalf("an executed preservation is %v, its preservation %v", r["status"], r["preservation"])
	}
	return name, requestedCA
}

func preservationState(r map[string]any) string {
	pr, _ := r["preservation"].(map[string]any)
	s, _ := pr["state"].(string)
	return s
}

// timeAt reads a timestamp at a dotted path of a request.
func timeAt(t *testing.T, r map[string]any, path string) time.Time {
	t.Helper()
	v := any(r)
	for _, k := range strings.Split(path, ".") {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	s, _ := v.(string)
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s is %v, not a time", path, v)
	}
	return tm
}

// about says whether two times are within a minute of each other.
func about(a, b time.Time) bool { return a.Sub(b).Abs() < time.Minute }

func listOf(r map[string]any, key string) []map[string]any {
	var out []map[string]any
	items, _ := r[key].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		out = append(out, m)
	}
	return out
}

func related(r map[string]any) map[string]string {
	out := map[string]string{}
	for _, rr := range listOf(r, "relatedRequests") {
		out[rr["request"].(string)] = rr["kind"].(string)
	}
	return out
}

// Case 2: a preservation KZ→UZ extended at the requester's request, then
// held by a follow-up production, which is executed item by item with one
// item NOT_RETAINED; executed, the follow-up releases the hold and the
// preservation holds again for the policy's 30 days, until the requesting
// side releases it.
func TestPracticePreservationExtendedHeldAndFollowedUp(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			p := newPractice(t, engine)
			pres, uzCA := p.executedPreservation("UZ")
			r := p.get(pres, p.prosecutor)
			expires := timeAt(t, r, "preservation.expiresAt")
			if !about(expires, time.Now().Add(90*24*time.Hour)) || !timeAt(t, r, "deadlines.preservationExpiresAt").Equal(expires) ||
				!about(timeAt(t, r, "deadlines.extensionRequestBy"), expires.Add(-10*24*time.Hour)) {
				t.Fatalf("the executed preservation: expires %v, deadlines %v; want 90 days on, the extension to be asked 10 days before", expires, r["deadlines"])
			}

			// The requester asks for 60 days more; the requested side grants them.
			r = p.act(pres, "requestExtension", p.prosecutor, map[string]any{"days": 60, "reason": "The production request is being translated."})
			ext := listOf(r["preservation"].(map[string]any), "extensions")
			if len(ext) != 1 || ext[0]["decision"] != "PENDING" || ext[0]["days"] != float64(60) || !timeAt(t, r, "preservation.expiresAt").Equal(expires) {
				t.Fatalf("after the request for an extension: %v", r["preservation"])
			}
			r = p.act(pres, "grantExtension", uzCA, nil)
			ext = listOf(r["preservation"].(map[string]any), "extensions")
			if len(ext) != 1 || ext[0]["decision"] != "GRANTED" || !timeAt(t, r, "preservation.expiresAt").Equal(expires.Add(60*24*time.Hour)) {
				t.Fatalf("after the grant: %v; want the expiry 60 days later than %v", r["preservation"], expires)
			}
			extended := timeAt(t, r, "preservation.expiresAt")

			// The production that follows: drafted from the preservation,
			// related to it, then transmitted: the preservation is held.
			fu := p.act(pres, "draftFollowUp", p.prosecutor, map[string]any{"type": "TRAFFIC_DATA"})
			follow := fu["name"].(string)
			if fu["status"] != "DRAFT" || fu["type"] != "TRAFFIC_DATA" || fu["requestedState"] != "UZ" || related(fu)[pres] != "FOLLOW_UP_OF" ||
				fu["caseReference"] != preservation()["caseReference"] || len(listOf(fu, "identifiers")) != 1 {
				t.Fatalf("the follow-up draft: %v", fu)
			}
			// What the production asks for is the prosecutor's to say.
			p.s.mustDo("PATCH", "/v1/"+follow+"?updateMask=dataCategories", p.prosecutor,
				map[string]any{"dataCategories": []any{"connection logs", "subscriber of the address"}}, http.StatusOK)
			p.act(follow, "submit", p.prosecutor, nil)
			p.act(follow, "transmit", p.kzCA, nil)
			r = p.get(pres, p.prosecutor)
			if preservationState(r) != "HELD_PENDING_FOLLOW_UP" || r["preservation"].(map[string]any)["heldBy"] != follow {
				t.Fatalf("the preservation once its follow-up is transmitted: %v; want it held by %s", r["preservation"], follow)
			}
			fuCA := p.ca(fu["requestedAgency"].(string))
			p.act(follow, "acknowledge", fuCA, nil)
			p.act(follow, "accept", fuCA, map[string]any{"dualCriminality": "MET", "humanRightsReview": map[string]any{"note": "No concerns."}})

			// Item by item: the logs first, then what the provider no
			// longer had.
			logs := p.s.upload("/v1/"+follow, fuCA, "EVIDENCE", "", "logs.csv", []byte("time,ip,port\n"), nil)
			if logs.status != http.StatusOK {
				t.Fatalf("upload: %d %s", logs.status, logs.raw)
			}
			r = p.act(follow, "execute", fuCA, map[string]any{"responseSummary": "The connection logs.", "partial": true,
				"items": []any{map[string]any{"identifierIndex": 0, "dataCategory": "connection logs", "outcome": "PROVIDED", "attachments": []any{logs.body["name"]}}}})
			if r["status"] != "PARTIALLY_EXECUTED" || preservationState(p.get(pres, p.prosecutor)) != "HELD_PENDING_FOLLOW_UP" {
				t.Fatalf("after the first delivery: %v, the preservation %v", r["status"], p.get(pres, p.prosecutor)["preservation"])
			}
			r = p.act(follow, "execute", fuCA, map[string]any{"responseSummary": "The subscriber data was not retained.",
				"items": []any{map[string]any{"identifierIndex": 0, "dataCategory": "subscriber of the address", "outcome": "NOT_RETAINED",
					"reason": "Subscriber records of prepaid cards are kept for 6 months only."}}})
			deliveries := listOf(r, "deliveries")
			if r["status"] != "EXECUTED" || len(deliveries) != 2 {
				t.Fatalf("after the final delivery: %v with %d deliveries", r["status"], len(deliveries))
			}
			outcomes := map[string]string{}
			for _, d := range deliveries {
				for _, it := range listOf(d, "items") {
					outcomes[it["dataCategory"].(string)] = it["outcome"].(string)
					if it["outcome"] == "PROVIDED" && !slices.Equal(stringsOf(it["attachments"]), []string{logs.body["name"].(string)}) {
						t.Errorf("the provided item's attachments: %v", it["attachments"])
					}
				}
			}
			if want := map[string]string{"connection logs": "PROVIDED", "subscriber of the address": "NOT_RETAINED"}; !maps.Equal(outcomes, want) {
				t.Errorf("the items delivered: %v, want %v", outcomes, want)
			}
			// The requesting side reads the same.
			if got := listOf(p.get(follow, p.prosecutor), "deliveries"); len(got) != 2 {
				t.Errorf("the prosecutor reads %d deliveries", len(got))
			}

			// The hold ends: PRESERVED again, 30 days on (the policy's
			// hold_return), not the extended expiry.
			r = p.get(pres, p.prosecutor)
			if preservationState(r) != "PRESERVED" || !about(timeAt(t, r, "preservation.expiresAt"), time.Now().Add(30*24*time.Hour)) ||
				timeAt(t, r, "preservation.expiresAt").Equal(extended) {
				t.Fatalf("the preservation once its follow-up is executed: %v; want PRESERVED for 30 days", r["preservation"])
			}
			r = p.act(pres, "releasePreservation", p.prosecutor, map[string]any{"reason": "The data was produced."})
			if preservationState(r) != "RELEASED" || r["status"] != "EXECUTED" {
				t.Fatalf("after the release: %v %v", r["status"], r["preservation"])
			}
			// A released preservation is not extended again.
			if got := p.s.do("POST", "/v1/"+pres+":requestExtension", p.prosecutor, map[string]any{"days": 10, "reason": "More."}); got.status != http.StatusBadRequest {
				t.Errorf("an extension of a released preservation: %d %s", got.status, got.raw)
			}

			var steps []string
			for _, ch := range listOf(p.s.mustDo("GET", "/v1/"+pres+"/history", p.prosecutor, nil, http.StatusOK).body, "changes") {
				steps = append(steps, ch["action"].(string))
			}
			for _, want := range []string{"requestExtension", "grantExtension", "releasePreservation"} {
				if !slices.Contains(steps, want) {
					t.Errorf("the preservation's history %v lacks %s", steps, want)
				}
			}
		})
	}
}

// Case 3: the requested side finds in the preserved traffic data another
// provider in another state (Budapest Art 30); the requester drafts from it
// a preservation to that state, which runs its course there.
func TestPracticeChainDisclosureLeadsToASecondPreservation(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			p := newPractice(t, engine)
			first, uzCA := p.executedPreservation("UZ")
			r := p.act(first, "discloseChain", uzCA, map[string]any{"provider": "Pamir Telecom", "country": "TJ",
				"explanation": "The connections came from an address of Pamir Telecom in Dushanbe."})
			if r["status"] != "EXECUTED" {
				t.Errorf("a disclosure changed the status to %v", r["status"])
			}
			cds := listOf(p.get(first, p.prosecutor), "chainDisclosures")
			if len(cds) != 1 || cds[0]["provider"] != "Pamir Telecom" || cds[0]["country"] != "TJ" || actorOf(cds[0]["disclosedBy"]) != "ca-uz-247@agencies/uz-247" {
				t.Fatalf("the requester reads the disclosures %v", cds)
			}

			// A new preservation in TJ, spawned by the first.
			d := p.act(first, "draftFollowUp", p.prosecutor, map[string]any{"type": "DATA_PRESERVATION", "requestedState": "TJ"})
			second := d["name"].(string)
			if d["status"] != "DRAFT" || d["requestedState"] != "TJ" || related(d)[first] != "SPAWNED_BY" || !strings.HasPrefix(d["requestedAgency"].(string), "agencies/tj-") {
				t.Fatalf("the spawned draft: %v", d)
			}
			p.s.mustDo("PATCH", "/v1/"+second+"?updateMask=custodian,followUpIntended", p.prosecutor, map[string]any{
				"custodian":        map[string]any{"provider": "Pamir Telecom", "country": "TJ", "service": "mobile internet"},
				"followUpIntended": map[string]any{"intended": true, "productionType": "TRAFFIC_DATA"}}, http.StatusOK)
			p.act(second, "submit", p.prosecutor, nil)
			p.act(second, "transmit", p.kzCA, nil)
			tjCA := p.ca(d["requestedAgency"].(string))
			p.act(second, "acknowledge", tjCA, nil)
			p.act(second, "accept", tjCA, map[string]any{"dualCriminality": "NOT_REQUIRED", "humanRightsReview": map[string]any{"note": "No concerns."}})
			r = p.act(second, "execute", tjCA, map[string]any{"responseSummary": "Pamir Telecom preserved the logs."})
			if r["status"] != "EXECUTED" || preservationState(r) != "PRESERVED" {
				t.Fatalf("the second preservation: %v %v", r["status"], r["preservation"])
			}
			// The third state sees the second request, not the first.
			if got := p.s.do("GET", "/v1/"+first, tjCA, nil); got.status != http.StatusNotFound {
				t.Errorf("TJ reads the KZ→UZ preservation: %d", got.status)
			}
		})
	}
}

// Case 4: an emergency request telephoned to KG's 24/7 point, recorded
// there on behalf of kz-gpo and confirmed in writing by a kz-gpo prosecutor
// within the 72 hours; another one, received 73 hours ago and never
// confirmed, is overdue for both sides.
func TestPracticeOralEmergencyRequestConfirmedOrOverdue(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			p := newPractice(t, engine)
			kg := p.ca("kg-247")
			body := preservation()
			record := func(received time.Time) map[string]any {
				return p.s.mustDo("POST", "/v1/requests:recordOral", kg, map[string]any{
					"request": map[string]any{"type": "DATA_PRESERVATION", "priority": "EMERGENCY",
						"emergencyReason": "A kidnapped child's phone was last seen on this address.",
						"identifiers":     body["identifiers"], "dataCategories": body["dataCategories"]},
					"requestingAgency": "agencies/kz-gpo",
					"intake": map[string]any{"channel": "PHONE", "receivedTime": received.UTC().Format(time.RFC3339),
						"caller": "Duty prosecutor A. Seitkali, GPO of Kazakhstan"}}, http.StatusOK).body
			}
			received := time.Now().Add(-time.Hour).Truncate(time.Second)
			a := record(received)
			name := a["name"].(string)
			in, _ := a["intake"].(map[string]any)
			if a["status"] != "ACKNOWLEDGED" || a["owner"] != "" && a["owner"] != nil || a["requestingAgency"] != "agencies/kz-gpo" ||
				a["requestedAgency"] != "agencies/kg-247" || in["channel"] != "PHONE" || actorOf(in["recordedBy"]) != "ca-kg-247@agencies/kg-247" ||
				!timeAt(t, a, "deadlines.confirmationDueBy").Equal(received.Add(72*time.Hour)) || a["overdue"] == true {
				t.Fatalf("the recorded request: %v", a)
			}
			// The requesting side sees it at once.
			if got := p.get(name, p.prosecutor); got["status"] != "ACKNOWLEDGED" {
				t.Fatalf("the kz-gpo prosecutor reads %v", got)
			}

			// Confirmed in writing, completing the fields: the safeguards
			// are checked, the prosecutor owns it, the deadline is met.
			mask := []string{"legalBasis", "caseReference", "offence", "factsSummary", "persons", "necessityAndProportionality", "language",
				"useLimitations", "custodian", "followUpIntended"}
			written := map[string]any{}
			for _, k := range mask {
				written[k] = body[k]
			}
			written["custodian"] = map[string]any{"provider": "Example Mobile CJSC", "country": "KG"}
			written["followUpIntended"] = map[string]any{"intended": true, "productionType": "TRAFFIC_DATA"}
			incomplete := p.s.do("POST", "/v1/"+name+":confirmInWriting", p.prosecutor, map[string]any{
				"request": map[string]any{"caseReference": "KZ-CASE-2026-0077"}, "updateMask": "caseReference"})
			if incomplete.status != http.StatusBadRequest || !slices.ContainsFunc(incomplete.violations(), func(v string) bool { return strings.Contains(v, "legal_basis") }) {
				t.Errorf("a confirmation leaving the legal basis out: %d %v; want 400 naming it", incomplete.status, incomplete.violations())
			}
			c := p.act(name, "confirmInWriting", p.prosecutor, map[string]any{"request": written, "updateMask": strings.Join(mask, ",")})
			in, _ = c["intake"].(map[string]any)
			if c["status"] != "ACKNOWLEDGED" || c["owner"] != "p-kz" || actorOf(in["confirmedBy"]) != "p-kz@agencies/kz-gpo" || in["confirmTime"] == nil ||
				c["overdue"] == true || c["legalBasis"] != body["legalBasis"] {
				t.Fatalf("the confirmed request: %v", c)
			}
			if again := p.s.do("POST", "/v1/"+name+":confirmInWriting", p.prosecutor, map[string]any{}); again.status != http.StatusBadRequest {
				t.Errorf("a second confirmation: %d %s", again.status, again.raw)
			}
			// Then it runs its course at KG.
			p.act(name, "accept", kg, map[string]any{"dualCriminality": "NOT_REQUIRED", "humanRightsReview": map[string]any{"note": "No concerns."}})
			if r := p.act(name, "execute", kg, map[string]any{"responseSummary": "Preserved."}); r["status"] != "EXECUTED" {
				t.Fatalf("executed: %v", r["status"])
			}

			// The other call was never confirmed: 73 hours on, it is overdue,
			// for both sides, and a list of the overdue holds it.
			late := record(time.Now().Add(-73 * time.Hour))["name"].(string)
			for who, tok := range map[string]string{"the prosecutor": p.prosecutor, "KG": kg} {
				if r := p.get(late, tok); r["overdue"] != true || !timeAt(t, r, "deadlines.confirmationDueBy").Before(time.Now()) {
					t.Errorf("%s reads the unconfirmed request as overdue=%v, due %v", who, r["overdue"], r["deadlines"])
				}
			}
			var overdue []string
			for _, r := range listOf(p.s.mustDo("GET", "/v1/requests?filter=overdue%20%3D%20true", p.kzCA, nil, http.StatusOK).body, "requests") {
				overdue = append(overdue, r["name"].(string))
			}
			if !slices.Contains(overdue, late) || slices.Contains(overdue, name) {
				t.Errorf("overdue = true lists %v; want %s and not %s", overdue, late, name)
			}
		})
	}
}

// Case 5: a request postponed and resumed, then conditions (and a cost)
// proposed and accepted before execution; another refused, only after the
// consultation Budapest Art 27(6) asks for.
func TestPracticePostponedConditionedAndRefusedAfterConsultation(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			p := newPractice(t, engine)
			name, ca := p.acknowledged(practiceRequest("TRAFFIC_DATA", "UZ"))
			before := timeAt(t, p.get(name, p.prosecutor), "deadlines.answerBy")
			until := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
			r := p.act(name, "postpone", ca, map[string]any{"until": until.Format(time.RFC3339), "reason": "Execution would prejudice a domestic investigation."})
			pp, _ := r["postponement"].(map[string]any)
			if r["status"] != "POSTPONED" || pp["resumeStatus"] != "ACKNOWLEDGED" || !timeAt(t, r, "postponement.until").Equal(until) {
				t.Fatalf("postponed: %v %v", r["status"], pp)
			}
			if got := p.s.do("POST", "/v1/"+name+":accept", ca, map[string]any{"dualCriminality": "MET"}); got.status != http.StatusBadRequest {
				t.Errorf("an acceptance while postponed: %d", got.status)
			}
			time.Sleep(10 * time.Millisecond) // the clock paused for a while
			r = p.act(name, "resume", ca, nil)
			pp, _ = r["postponement"].(map[string]any)
			if r["status"] != "ACKNOWLEDGED" || pp["resumeTime"] == nil || timeAt(t, r, "deadlines.answerBy").Before(before) {
				t.Fatalf("resumed: %v %v, answer by %v (was %v)", r["status"], pp, r["deadlines"], before)
			}

			r = p.act(name, "proposeConditions", ca, map[string]any{
				"conditions": []any{
					map[string]any{"kind": "USE_ONLY_STATED_PROCEEDINGS", "text": "For case KZ-CASE-2026-1187 only."},
					map[string]any{"kind": "DELETE_BY", "text": "Delete once the judgment is final.", "dueTime": "2028-12-31T00:00:00Z"}},
				"cost": map[string]any{"kind": "EXTRAORDINARY", "estimate": "1500.00", "currency": "UZS", "bearer": "requesting state"}})
			cp, _ := r["conditionsProposal"].(map[string]any)
			if r["status"] != "CONDITIONS_PROPOSED" || cp["decision"] != "PENDING" || len(listOf(cp, "conditions")) != 2 {
				t.Fatalf("proposed: %v %v", r["status"], cp)
			}
			if got := p.s.do("POST", "/v1/"+name+":acceptConditions", ca, map[string]any{}); got.status != http.StatusForbidden {
				t.Errorf("the proposing side accepting its own conditions: %d", got.status)
			}
			r = p.act(name, "acceptConditions", p.prosecutor, nil)
			cp, _ = r["conditionsProposal"].(map[string]any)
			if r["status"] != "ACCEPTED" || cp["decision"] != "ACCEPTED" || actorOf(cp["decidedBy"]) != "p-kz@agencies/kz-gpo" ||
				cp["cost"].(map[string]any)["estimate"] != "1500.00" {
				t.Fatalf("conditions accepted: %v %v", r["status"], cp)
			}
			r = p.act(name, "execute", ca, map[string]any{"responseSummary": "Traffic data delivered under the conditions.",
				"items": []any{
					map[string]any{"identifierIndex": 0, "dataCategory": "connection logs", "outcome": "PROVIDED"},
					map[string]any{"identifierIndex": 0, "dataCategory": "subscriber of the address", "outcome": "NOT_HELD", "reason": "No subscriber data is kept for this service."}}})
			if r["status"] != "EXECUTED" {
				t.Fatalf("executed: %v", r["status"])
			}

			// A refusal needs its consultation.
			other, ca2 := p.acknowledged(practiceRequest("TRAFFIC_DATA", "UZ"))
			refusal := map[string]any{"grounds": []any{"PRESS_FREEDOM"}, "explanation": "The account is a journalist's; the data would reveal sources."}
			bare := p.s.do("POST", "/v1/"+other+":refuse", ca2, refusal)
			if bare.status != http.StatusBadRequest || !slices.ContainsFunc(bare.violations(), func(v string) bool { return strings.HasPrefix(v, "consultation") }) {
				t.Fatalf("a refusal without consultation: %d %v; want 400 naming consultation", bare.status, bare.violations())
			}
			if got := p.get(other, p.prosecutor); got["status"] != "ACKNOWLEDGED" {
				t.Fatalf("the refused refusal changed the request: %v", got["status"])
			}
			consulted := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
			refusal["consultation"] = map[string]any{"note": "Providing the subscriber data alone was discussed with the KZ GPO by phone; it would reveal the source too.",
				"time": consulted.Format(time.RFC3339)}
			r = p.act(other, "refuse", ca2, refusal)
			ref, _ := r["refusal"].(map[string]any)
			cons, _ := ref["consultation"].(map[string]any)
			if r["status"] != "REFUSED" || !slices.Equal(stringsOf(ref["grounds"]), []string{"PRESS_FREEDOM"}) ||
				!strings.HasPrefix(fmt.Sprint(cons["note"]), "Providing the subscriber data alone") || !timeAt(t, r, "refusal.consultation.time").Equal(consulted) {
				t.Fatalf("refused: %v %v", r["status"], ref)
			}
			if got := p.get(other, p.prosecutor)["refusal"].(map[string]any)["consultation"]; got == nil {
				t.Errorf("the requesting side does not read the consultation")
			}
		})
	}
}

// Every action of DESIGN §5.1–§5.5 has its REST route, POST only: called
// with another method it is 405 with Allow: POST; a mistyped verb is
// answered with the list of the request's methods, the new ones among
// them; a body field no action takes is refused, naming it.
func TestPracticeRoutes(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.tokenFor("p-kz", "kz-gpo", identity.Prosecutor)
	name := s.mustDo("POST", "/v1/requests", prosecutor, practiceRequest("DATA_PRESERVATION", "UZ"), http.StatusOK).body["name"].(string)
	verbs := []string{"requestExtension", "grantExtension", "declineExtension", "releasePreservation", "discloseChain", "draftFollowUp",
		"notifyImpediment", "postpone", "resume", "proposeConditions", "acceptConditions", "rejectConditions", "confirmInWriting",
		"declareConfidentialityImpossible", "proceed", "transferOwnership"}
	for _, verb := range verbs {
		r := s.do("GET", "/v1/"+name+":"+verb, prosecutor, nil)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
			t.Errorf("GET :%s = %d, Allow %q; want 405, Allow: POST", verb, r.status, r.header.Get("Allow"))
		}
		// Routed to the action: on a draft, each is refused by the
		// lifecycle (or, for a follow-up, its rule), not as an unknown
		// route.
		r = s.do("POST", "/v1/"+name+":"+verb, prosecutor, map[string]any{})
		if r.status == http.StatusNotFound || r.status == http.StatusMethodNotAllowed || r.status == http.StatusNotImplemented || r.status/100 == 2 {
			t.Errorf("POST :%s on a draft = %d %s; want a refusal of the action", verb, r.status, r.raw)
		}
	}
	if r := s.do("GET", "/v1/requests:recordOral", prosecutor, nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET /v1/requests:recordOral = %d, Allow %q", r.status, r.header.Get("Allow"))
	}
	r := s.do("POST", "/v1/"+name+":grantExtention", prosecutor, map[string]any{})
	for _, verb := range append(verbs, "submit") {
		if !strings.Contains(r.message(), ":"+verb) {
			t.Errorf("a mistyped verb: %d %q does not list :%s", r.status, r.message(), verb)
		}
	}
	if r := s.do("POST", "/v1/"+name+":postpone", prosecutor, map[string]any{"untill": "2026-05-01T00:00:00Z", "reason": "x"}); r.status != http.StatusBadRequest ||
		!strings.Contains(r.raw, "untill") {
		t.Errorf("a body field :postpone does not take: %d %s", r.status, r.raw)
	}
}
