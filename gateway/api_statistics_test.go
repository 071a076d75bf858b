package gateway_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// TestStatisticsAPI asks GET /v1/statistics what a central authority's
// report asks: a period, a pair of states, and the median times as
// durations ("0.081234s", AIP-142). The medians are checked against the
// requests' own history with no, one and two samples; the period selects
// the requests by their create time; the requested state counts a request
// only once transmitted to it, and nobody gets the figures of a pair that
// does not involve their state. On SQLite and on PostgreSQL.
func TestStatisticsAPI(t *testing.T) {
	for _, db := range []struct {
		name     string
		postgres bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(db.name, func(t *testing.T) {
			testStatisticsAPI(t, startSuite(t, suiteOptions{postgres: db.postgres}))
		})
	}
}

// durationPattern is the JSON form of a google.protobuf.Duration.
var durationPattern = regexp.MustCompile(`^\d+(\.\d{1,9})?s$`)

func testStatisticsAPI(t *testing.T, s *suite) {
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	uzCA := s.token("uz-247", identity.CentralAuthority)
	tjCA := s.token("tj-gpo", identity.CentralAuthority)

	create := func(to string) string {
		t.Helper()
		body := preservation()
		body["requestedState"] = to
		return "/v1/" + s.mustDo("POST", "/v1/requests", prosecutor, body, 200).body["name"].(string)
	}
	act := func(path, action, token string, body map[string]any) {
		t.Helper()
		if body == nil {
			body = map[string]any{}
		}
		s.mustDo("POST", path+":"+action, token, body, 200)
	}
	transmitted := func(to string) string {
		t.Helper()
		p := create(to)
		act(p, "submit", prosecutor, nil)
		act(p, "transmit", kzCA, nil)
		return p
	}
	// changedAt is when a request went to status, from its history.
	changedAt := func(path, status string) time.Time {
		t.Helper()
		h := s.mustDo("GET", path+"/history", kzCA, nil, 200)
		for _, c := range h.body["changes"].([]any) {
			c := c.(map[string]any)
			if c["toStatus"] == status {
				at, err := time.Parse(time.RFC3339Nano, c["time"].(string))
				if err != nil {
					t.Fatal(err)
				}
				return at
			}
		}
		t.Fatalf("%s never went to %s: %s", path, status, h.raw)
		return time.Time{}
	}
	stats := func(token string, q url.Values) response {
		t.Helper()
		return s.mustDo("GET", "/v1/statistics?"+q.Encode(), token, nil, 200)
	}
	pairOf := func(r response, from, to string) map[string]any {
		t.Helper()
		for _, p := range r.body["pairs"].([]any) {
			p := p.(map[string]any)
			if p["requestingState"] == from && p["requestedState"] == to {
				return p
			}
		}
		return nil
	}
	// median reads a median of a pair: nil when the API gives none.
	median := func(p map[string]any, field string) *time.Duration {
		t.Helper()
		v, present := p[field]
		if !present {
			t.Fatalf("the pair has no field %s: %v", field, p)
		}
		if v == nil {
			return nil
		}
		str, _ := v.(string)
		if !durationPattern.MatchString(str) {
			t.Fatalf("%s = %#v, want a duration such as \"3600s\"", field, v)
		}
		d, err := time.ParseDuration(str)
		if err != nil {
			t.Fatal(err)
		}
		return &d
	}
	kzUZ := url.Values{"requestingState": {"KZ"}, "requestedState": {"UZ"}}

	// A draft, which nobody counts, and three transmitted requests of which
	// none is acknowledged yet: no median, rather than a median of 0s.
	create("UZ")
	r1, r2 := transmitted("UZ"), transmitted("UZ")
	transmitted("UZ")
	p := pairOf(stats(kzCA, kzUZ), "KZ", "UZ")
	if p == nil || p["acknowledgedCount"] != float64(0) || median(p, "medianTimeToAcknowledge") != nil ||
		p["answeredCount"] != float64(0) || median(p, "medianTimeToAnswer") != nil {
		t.Fatalf("with nothing acknowledged, KZ → UZ = %v; want counts of 0 and no medians", p)
	}
	if _, old := p["medianHoursToAcknowledge"]; old {
		t.Errorf("the pair still has medianHoursToAcknowledge: %v", p)
	}

	// One sample: the median is that request's time to acknowledge.
	time.Sleep(30 * time.Millisecond)
	act(r1, "acknowledge", uzCA, nil)
	ack1 := changedAt(r1, "ACKNOWLEDGED").Sub(changedAt(r1, "TRANSMITTED"))
	p = pairOf(stats(kzCA, kzUZ), "KZ", "UZ")
	if got := median(p, "medianTimeToAcknowledge"); p["acknowledgedCount"] != float64(1) || got == nil || *got != ack1 {
		t.Errorf("with one request acknowledged after %v, KZ → UZ = %v", ack1, p)
	}
	if got := median(p, "meanTimeToAcknowledge"); got == nil || *got != ack1 {
		t.Errorf("with one request acknowledged after %v, the mean is %v; want that time", ack1, p["meanTimeToAcknowledge"])
	}

	// Two samples: their mean. The second took longer, so a median that
	// took either one alone would differ.
	time.Sleep(60 * time.Millisecond)
	act(r2, "acknowledge", uzCA, nil)
	ack2 := changedAt(r2, "ACKNOWLEDGED").Sub(changedAt(r2, "TRANSMITTED"))
	p = pairOf(stats(kzCA, kzUZ), "KZ", "UZ")
	if got := median(p, "medianTimeToAcknowledge"); p["acknowledgedCount"] != float64(2) || got == nil || *got != ack1+(ack2-ack1)/2 {
		t.Errorf("with requests acknowledged after %v and %v, KZ → UZ = %v; want the median %v", ack1, ack2, p, ack1+(ack2-ack1)/2)
	}
	if got := median(p, "meanTimeToAcknowledge"); got == nil || *got != (ack1+ack2)/2 {
		t.Errorf("with requests acknowledged after %v and %v, the mean is %v; want %v", ack1, ack2, p["meanTimeToAcknowledge"], (ack1+ack2)/2)
	}

	// An answer: the time from acknowledgement to refusal, and the ground.
	// A preservation may be refused only on POLITICAL_OFFENCE or
	// ESSENTIAL_INTERESTS (DESIGN §5.1).
	act(r1, "refuse", uzCA, map[string]any{"grounds": []string{"ESSENTIAL_INTERESTS"}, "explanation": "Preserving these logs would disclose a state secret."})
	answer := changedAt(r1, "REFUSED").Sub(changedAt(r1, "ACKNOWLEDGED"))
	p = pairOf(stats(kzCA, kzUZ), "KZ", "UZ")
	if got := median(p, "medianTimeToAnswer"); p["answeredCount"] != float64(1) || got == nil || *got != answer {
		t.Errorf("with one refusal after %v, KZ → UZ = %v", answer, p)
	}
	if got := median(p, "meanTimeToAnswer"); got == nil || *got != answer {
		t.Errorf("with one refusal after %v, the mean time to answer is %v", answer, p["meanTimeToAnswer"])
	}
	// Three URGENT preservations transmitted, each seeking the same two
	// categories; nothing executed, so no item has an outcome.
	if p["emergencyCount"] != float64(0) || p["nonEmergencyCount"] != float64(3) {
		t.Errorf("KZ → UZ counts %v emergencies and %v others; want none and 3", p["emergencyCount"], p["nonEmergencyCount"])
	}
	// By the type of data requested: the categories' words are case
	// content, which statistics never carry.
	if c, _ := p["byDataCategory"].(map[string]any); len(c) != 1 || c["DATA_PRESERVATION"] != float64(3) {
		t.Errorf("KZ → UZ by data category: %v; want DATA_PRESERVATION 3 times", p["byDataCategory"])
	}
	if o, _ := p["executionItemsByOutcome"].(map[string]any); len(o) != 0 {
		t.Errorf("KZ → UZ counts execution items with nothing executed: %v", o)
	}
	if g, _ := p["refusalsByGround"].(map[string]any); g["ESSENTIAL_INTERESTS"] != float64(1) {
		t.Errorf("refusals of KZ → UZ = %v", p["refusalsByGround"])
	}

	// The period counts requests by create time, start inclusive, end
	// exclusive: a request created after mid is outside [.., mid) and alone
	// in [mid, ..). It is SUBMITTED, which UZ may not know of.
	time.Sleep(10 * time.Millisecond)
	mid := time.Now().UTC()
	time.Sleep(10 * time.Millisecond)
	late := create("UZ")
	act(late, "submit", prosecutor, nil)
	before := stats(kzCA, url.Values{"periodEnd": {mid.Format(time.RFC3339Nano)}, "requestedState": {"uz"}})
	if by := pairOf(before, "KZ", "UZ")["byStatus"].(map[string]any); by["SUBMITTED"] != nil || by["TRANSMITTED"] != float64(1) ||
		by["ACKNOWLEDGED"] != float64(1) || by["REFUSED"] != float64(1) {
		t.Errorf("before %v, KZ → UZ counts %v; want TRANSMITTED, ACKNOWLEDGED and REFUSED once, no SUBMITTED", mid, by)
	}
	if end, _ := time.Parse(time.RFC3339Nano, before.body["periodEnd"].(string)); !end.Equal(mid) {
		t.Errorf("periodEnd = %v, want the end asked for, %s", before.body["periodEnd"], mid.Format(time.RFC3339Nano))
	}
	if start, _ := time.Parse(time.RFC3339Nano, before.body["periodStart"].(string)); !start.Equal(mid.AddDate(-1, 0, 0)) {
		t.Errorf("periodStart = %v, want a year before periodEnd", before.body["periodStart"])
	}
	after := stats(kzCA, url.Values{"periodStart": {mid.Format(time.RFC3339Nano)}, "requestingState": {"kz"}})
	if pairs := after.body["pairs"].([]any); len(pairs) != 1 || pairOf(after, "KZ", "UZ")["byStatus"].(map[string]any)["SUBMITTED"] != float64(1) ||
		len(pairOf(after, "KZ", "UZ")["byStatus"].(map[string]any)) != 1 {
		t.Errorf("from %v, the statistics are %s; want the one SUBMITTED request of KZ → UZ", mid, after.raw)
	}
	if end, _ := time.Parse(time.RFC3339Nano, after.body["periodEnd"].(string)); time.Since(end) < 0 || time.Since(end) > time.Minute {
		t.Errorf("without periodEnd, the period ends at %v, want now", after.body["periodEnd"])
	}
	future := stats(kzCA, url.Values{"periodStart": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)},
		"periodEnd": {time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)}})
	if len(future.body["pairs"].([]any)) != 0 {
		t.Errorf("a period to come counts requests: %s", future.raw)
	}

	// Who sees what. UZ counts the KZ → UZ requests transmitted to it, not
	// the one still SUBMITTED in KZ; KZ counts it.
	kzBy := pairOf(stats(kzCA, nil), "KZ", "UZ")["byStatus"].(map[string]any)
	uzBy := pairOf(stats(uzCA, nil), "KZ", "UZ")["byStatus"].(map[string]any)
	if kzBy["SUBMITTED"] != float64(1) || uzBy["SUBMITTED"] != nil || uzBy["TRANSMITTED"] != float64(1) || uzBy["REFUSED"] != float64(1) {
		t.Errorf("KZ counts %v and UZ counts %v; UZ must not count the SUBMITTED request", kzBy, uzBy)
	}
	// TJ sees its own pair, KZ → TJ once transmitted, and never KZ → UZ:
	// asking for it is refused, saying why.
	transmitted("TJ")
	tj := stats(tjCA, url.Values{"requestingState": {"KZ"}})
	if pairOf(tj, "KZ", "UZ") != nil || pairOf(tj, "KZ", "TJ") == nil || len(tj.body["pairs"].([]any)) != 1 {
		t.Errorf("TJ asking for KZ → any gets %s; want KZ → TJ only", tj.raw)
	}
	// An emergency to KG, whatever its categories say: it counts once, as
	// a preservation.
	emergency := preservation()
	emergency["requestedState"], emergency["priority"] = "KG", "EMERGENCY"
	emergency["emergencyReason"] = "Threat to life: a hostage is held."
	emergency["dataCategories"] = []string{"Connection  Logs", " connection logs", "SUBSCRIBER of the address"}
	toKG := "/v1/" + s.mustDo("POST", "/v1/requests", prosecutor, emergency, 200).body["name"].(string)
	act(toKG, "submit", prosecutor, nil)
	act(toKG, "transmit", kzCA, nil)
	kg := pairOf(stats(kzCA, url.Values{"requestedState": {"KG"}}), "KZ", "KG")
	if c, _ := kg["byDataCategory"].(map[string]any); kg["emergencyCount"] != float64(1) || kg["nonEmergencyCount"] != float64(0) ||
		len(c) != 1 || c["DATA_PRESERVATION"] != float64(1) {
		t.Errorf("KZ → KG = %v; want one emergency preservation", kg)
	}
	denied := s.mustDo("GET", "/v1/statistics?"+kzUZ.Encode(), tjCA, nil, 403)
	if msg := denied.message(); !strings.Contains(msg, "involve your state, TJ") || !strings.Contains(msg, "KZ → UZ does not") ||
		strings.Contains(denied.raw, "byStatus") {
		t.Errorf("TJ asking for KZ → UZ: %s", denied.raw)
	}

	// Bad questions: each a 400 naming the field, in words.
	now := time.Now().UTC()
	for _, tc := range []struct {
		name  string
		query url.Values
		want  string
	}{
		{"end before start", url.Values{"periodStart": {"2026-06-01T00:00:00Z"}, "periodEnd": {"2026-05-01T00:00:00Z"}},
			"period_end: the period must end after it starts: period_end 2026-05-01T00:00:00Z is not after period_start 2026-06-01T00:00:00Z"},
		{"empty period", url.Values{"periodStart": {"2026-06-01T00:00:00Z"}, "periodEnd": {"2026-06-01T00:00:00Z"}},
			"period_end: the period must end after it starts"},
		{"a start to come, no end", url.Values{"periodStart": {now.Add(time.Hour).Format(time.RFC3339)}},
			"period_start: period_start " + now.Add(time.Hour).Format(time.RFC3339) + " is not in the past: without period_end the period ends now"},
		{"longer than ten years", url.Values{"periodStart": {"2000-01-01T00:00:00Z"}, "periodEnd": {"2026-01-01T00:00:00Z"}},
			"period_start: the period from 2000-01-01T00:00:00Z to 2026-01-01T00:00:00Z is longer than 10 years; ask for 10 years or less"},
		{"unbounded start", url.Values{"periodStart": {"0001-01-02T00:00:00Z"}},
			"period_start: the period from 0001-01-02T00:00:00Z to now ("},
		{"a state's name", url.Values{"requestingState": {"Kazakhstan"}},
			`requesting_state: "Kazakhstan" is not a state's two-letter ISO code, such as KZ`},
		{"the same state twice", url.Values{"requestingState": {"KZ"}, "requestedState": {"kz"}},
			"requested_state: requesting_state and requested_state are both KZ: a request goes from one state to another"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.mustDo("GET", "/v1/statistics?"+tc.query.Encode(), kzCA, nil, 400)
			if vs := r.violations(); len(vs) != 1 || !strings.HasPrefix(vs[0], tc.want) {
				t.Errorf("GET /v1/statistics?%s: violations %q, want one starting %q", tc.query.Encode(), vs, tc.want)
			}
		})
	}
	// Not a time at all: the gateway refuses it before the service.
	if r := s.do("GET", "/v1/statistics?periodStart=yesterday", kzCA, nil); r.status != 400 {
		t.Errorf("periodStart=yesterday: %d %s, want 400", r.status, r.raw)
	}
}
