package request

import (
	"fmt"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/query"
)

// eval evaluates the equality-only filters visibleTo builds over r.
func eval(t *testing.T, e query.Expr, r Request) bool {
	t.Helper()
	switch x := e.(type) {
	case nil:
		return false
	case query.And:
		return eval(t, x.Left, r) && eval(t, x.Right, r)
	case query.Or:
		return eval(t, x.Left, r) || eval(t, x.Right, r)
	case query.Compare:
		fields := map[string]any{
			"requestingAgency": r.RequestingAgency, "requestingState": r.RequestingState,
			"requestedAgency": r.RequestedAgency, "requestedState": r.RequestedState,
			"transmitted": !r.TransmitTime.IsZero(),
		}
		v, ok := fields[x.Field]
		if !ok || x.Op != query.Eq {
			t.Fatalf("visibleTo uses %v, which this evaluator does not know", x)
		}
		return v == x.Value
	}
	t.Fatalf("unexpected %T", e)
	return false
}

func TestAccessFollowsNeedToKnow(t *testing.T) {
	draft := Request{RequestingAgency: "kz-gpo", RequestingState: "KZ", RequestedAgency: "uz-247", RequestedState: "UZ", Owner: "p1"}
	transmitted := draft
	transmitted.TransmitTime = time.Now()

	user := func(agency, state string, roles ...identity.Role) identity.Principal {
		return identity.Principal{Subject: "u", Agency: agency, State: state, Roles: roles}
	}
	for _, tc := range []struct {
		name          string
		p             identity.Principal
		draft, posted access
	}{
		{"prosecutor of the requesting agency", user("kz-gpo", "KZ", identity.Prosecutor), fullAccess, fullAccess},
		{"requesting state's central authority elsewhere", user("kz-247", "KZ", identity.CentralAuthority), fullAccess, fullAccess},
		{"requesting state's liaison officer", user("kz-police-cyber", "KZ", identity.LiaisonOfficer), fullAccess, fullAccess},
		{"prosecutor of another agency of the requesting state", user("kz-police-cyber", "KZ", identity.Prosecutor), noAccess, noAccess},
		{"requested agency's central authority", user("uz-247", "UZ", identity.CentralAuthority), noAccess, fullAccess},
		{"requested state's liaison officer", user("uz-gpo", "UZ", identity.LiaisonOfficer), noAccess, fullAccess},
		{"requested state's other central authority", user("uz-gpo", "UZ", identity.CentralAuthority), noAccess, noAccess},
		{"requesting state's auditor", user("kz-oversight", "KZ", identity.Auditor), metadataAccess, metadataAccess},
		{"requested state's auditor", user("uz-oversight", "UZ", identity.Auditor), noAccess, metadataAccess},
		{"auditor of the requesting agency", user("kz-gpo", "KZ", identity.Auditor), metadataAccess, metadataAccess},
		{"uninvolved state's central authority", user("tj-gpo", "TJ", identity.CentralAuthority), noAccess, noAccess},
		{"uninvolved state's auditor", user("tj-oversight", "TJ", identity.Auditor), noAccess, noAccess},
		{"directory admin of the requesting agency", user("kz-gpo", "KZ", identity.DirectoryAdmin), noAccess, noAccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range []struct {
				r    Request
				want access
			}{{draft, tc.draft}, {transmitted, tc.posted}} {
				if got := accessOf(tc.p, c.r); got != c.want {
					t.Errorf("transmitted=%v: access %d, want %d", !c.r.TransmitTime.IsZero(), got, c.want)
				}
				if listed := eval(t, visibleTo(tc.p), c.r); listed != (c.want != noAccess) {
					t.Errorf("transmitted=%v: List filter selects it: %v, but access is %d", !c.r.TransmitTime.IsZero(), listed, c.want)
				}
			}
		})
	}
}

func TestRedactKeepsNoNarrative(t *testing.T) {
	r := Request{
		ID: "x", FactsSummary: "facts", EmergencyReason: "reason", TreatyCitation: "treaty", CaseReference: "case",
		Offence: Offence{Description: "d"}, Persons: []Person{{FullName: "n"}}, Identifiers: []Identifier{{Value: "v"}},
		DataCategories: []string{"c"}, NecessityAndProportionality: "n", JudicialAuthorisationReference: "j",
		UseLimitations: "u", Acceptance: &Acceptance{Conditions: "c"}, Refusal: &Refusal{Explanation: "e"},
		Execution: &Execution{ResponseSummary: "s"}, Status: Refused,
	}
	got := redact(r)
	want := Request{ID: "x", Status: Refused}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("redact kept content: %+v", got)
	}
}

func TestReasonFor(t *testing.T) {
	r := Request{RequestingAgency: "kz-gpo", RequestingState: "KZ", RequestedAgency: "uz-247", RequestedState: "UZ", Owner: "p1",
		TransmitTime: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	returned := HistoryEntry{From: Submitted, To: Draft, Action: "return", Reason: "internal"}
	withdrawnEarly := HistoryEntry{From: Submitted, To: Withdrawn, Action: "withdraw", Reason: "internal"}
	asked := HistoryEntry{From: Acknowledged, To: ClarificationRequested, Action: "requestClarification", Reason: "shared"}
	kzCA := identity.Principal{Agency: "kz-gpo", State: "KZ", Roles: []identity.Role{identity.CentralAuthority}}
	uzCA := identity.Principal{Agency: "uz-247", State: "UZ", Roles: []identity.Role{identity.CentralAuthority}}
	uzLO := identity.Principal{Agency: "uz-gpo", State: "UZ", Roles: []identity.Role{identity.LiaisonOfficer}}
	kzAu := identity.Principal{Agency: "kz-oversight", State: "KZ", Roles: []identity.Role{identity.Auditor}}
	tests := []struct {
		name string
		p    identity.Principal
		e    HistoryEntry
		want string
	}{
		{"requesting side, its own return", kzCA, returned, "internal"},
		{"requested agency, the other side's return", uzCA, returned, ""},
		{"requested state's liaison, the other side's return", uzLO, returned, ""},
		{"requested agency, a withdrawal before transmission", uzCA, withdrawnEarly, ""},
		{"requested agency, a question after transmission", uzCA, asked, "shared"},
		{"requesting side, a question after transmission", kzCA, asked, "shared"},
		{"auditor, any reason", kzAu, returned, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := reasonFor(tc.p, r, tc.e); got != tc.want {
				t.Errorf("reasonFor = %q; want %q", got, tc.want)
			}
		})
	}
}
