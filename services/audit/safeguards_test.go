package audit_test

import (
	"strings"
	"testing"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/trail"
)

func TestSafeguardReport(t *testing.T) {
	const rs = "/comity.request.v1.RequestService/"
	passed := []trail.Safeguard{{Check: "LEGAL_BASIS", Outcome: "PASSED"}, {Check: "DEATH_PENALTY_ASSURANCE", Outcome: "NOT_APPLICABLE"}}
	assessed := []trail.Safeguard{{Check: "DUAL_CRIMINALITY", Outcome: "MET"}, {Check: "HUMAN_RIGHTS_REVIEW", Outcome: "NO_CONCERNS"},
		{Check: "DEATH_PENALTY_ASSURANCE", Outcome: "NOT_APPLICABLE"}, {Check: "USE_CONDITIONS", Outcome: "NONE"}}
	entry := func(index uint64, resource, method, outcome string, sg ...trail.Safeguard) audit.Entry {
		return audit.Entry{Index: index, Event: trail.Event{Action: rs + method, Resource: resource, Outcome: outcome, Safeguards: sg}}
	}
	for _, tc := range []struct {
		name     string
		entries  []audit.Entry
		problems []string // words each problem holds, in order
		notes    int
	}{
		{"passed", []audit.Entry{
			entry(1, "requests/a", "SubmitRequest", "OK", passed...),
			entry(2, "requests/a", "TransmitRequest", "OK", passed...),
			entry(4, "requests/a", "AcceptRequest", "OK", assessed...),
		}, nil, 0},
		{"an assessment missing", []audit.Entry{
			entry(2, "requests/a", "TransmitRequest", "OK", passed...),
			entry(4, "requests/a", "AcceptRequest", "OK", assessed[0], assessed[2]),
		}, []string{"index 4 without HUMAN_RIGHTS_REVIEW"}, 0},
		{"an assessment that does not allow execution", []audit.Entry{
			entry(2, "requests/a", "TransmitRequest", "OK", passed...),
			entry(4, "requests/a", "AcceptRequest", "OK", assessed[0], assessed[1], trail.Safeguard{Check: "DEATH_PENALTY_ASSURANCE", Outcome: "ABSENT"}),
		}, []string{"DEATH_PENALTY_ASSURANCE ABSENT"}, 0},
		{"a transmission that failed a check", []audit.Entry{
			entry(1, "requests/a", "SubmitRequest", "OK", passed...),
			entry(2, "requests/a", "TransmitRequest", "OK", trail.Safeguard{Check: "LANGUAGE", Outcome: "FAILED"}),
			entry(4, "requests/a", "AcceptRequest", "OK", assessed...),
		}, []string{"TransmitRequest (index 2) with LANGUAGE FAILED"}, 0},
		{"a transmission without outcomes", []audit.Entry{
			entry(2, "requests/a", "TransmitRequest", "OK"),
			entry(4, "requests/a", "AcceptRequest", "OK", assessed...),
		}, []string{"(index 2) that carries no safeguard outcomes"}, 0},
		// Logged before events carried outcomes: nothing to judge by,
		// which is a note, not a problem.
		{"an acceptance logged before outcomes existed", []audit.Entry{
			entry(2, "requests/a", "TransmitRequest", "OK"),
			entry(4, "requests/a", "AcceptRequest", "OK"),
		}, nil, 1},
		// ... but a failed check before it is still a problem.
		{"an acceptance without outcomes after a failed check", []audit.Entry{
			entry(2, "requests/a", "TransmitRequest", "OK", trail.Safeguard{Check: "LANGUAGE", Outcome: "FAILED"}),
			entry(4, "requests/a", "AcceptRequest", "OK"),
		}, []string{"TransmitRequest (index 2) with LANGUAGE FAILED"}, 1},
		{"a refused transmission before the one that passed", []audit.Entry{
			entry(2, "requests/a", "TransmitRequest", "FAILED_PRECONDITION", trail.Safeguard{Check: "LANGUAGE", Outcome: "FAILED"}),
			entry(3, "requests/a", "TransmitRequest", "OK", passed...),
			entry(4, "requests/a", "AcceptRequest", "OK", assessed...),
		}, nil, 0},
		{"the checks not in the bundle", []audit.Entry{
			entry(4, "requests/a", "AcceptRequest", "OK", assessed...),
		}, nil, 1},
		{"a refused acceptance is no acceptance", []audit.Entry{
			entry(4, "requests/a", "AcceptRequest", "FAILED_PRECONDITION", trail.Safeguard{Check: "DUAL_CRIMINALITY", Outcome: "FAILED"}),
		}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Another request's events and a held preservation's linked
			// event are not the request's.
			entries := append(tc.entries, entry(3, "requests/b", "TransmitRequest", "OK"),
				entry(5, "requests/a/attachments/x", "AcceptRequest", "OK"), entry(6, "requests/b", "TransmitRequest#hold", "OK"))
			report := audit.SafeguardReport(entries)
			if len(report) != 2 || report[0].Resource != "requests/a" || report[1].Resource != "requests/b" {
				t.Fatalf("report of %v", report)
			}
			a := report[0]
			if len(a.Entries) != len(tc.entries) {
				t.Errorf("%d events of requests/a; want %d", len(a.Entries), len(tc.entries))
			}
			if len(a.Problems) != len(tc.problems) {
				t.Fatalf("problems %q; want %d", a.Problems, len(tc.problems))
			}
			for i, words := range tc.problems {
				if !strings.Contains(a.Problems[i], words) {
					t.Errorf("problem %q; want it to say %q", a.Problems[i], words)
				}
			}
			if len(a.Notes) != tc.notes {
				t.Errorf("notes %q; want %d", a.Notes, tc.notes)
			}
			if len(report[1].Problems) != 0 || len(report[1].Entries) != 1 {
				t.Errorf("requests/b, transmitted and never accepted: %+v", report[1])
			}
		})
	}
}
