package request

import (
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
)

func TestCheckIdentifier(t *testing.T) {
	for _, tc := range []struct {
		kind, value string
		ok          bool
	}{
		{IPAddress, "203.0.113.7", true},
		{IPAddress, "203.0.113.7:443", true},
		{IPAddress, "[2001:db8::1]:443", true},
		{IPAddress, "2001:db8::1", true},
		{IPAddress, "203.0.113.999", false},
		{IPAddress, "example.org", false},
		{Email, "someone@example.org", true},
		{Email, "Someone <someone@example.org>", false},
		{Email, "someone at example.org", false},
		{Phone, "+7 701 123 45 67", true},
		{Phone, "87011234567", false},
		{URL, "https://example.org/a?b=c", true},
		{URL, "ftp://example.org", false},
		{URL, "example.org", false},
		{Domain, "mail.example.uz", true},
		{Domain, "not a domain", false},
		{CryptoWallet, "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh", true},
		{CryptoWallet, "short", false},
		{Account, "user_42", true},
		{Device, "IMEI 490154203237518", true},
		{Account, "   ", false},
		{"", "anything", false},
	} {
		t.Run(tc.kind+" "+tc.value, func(t *testing.T) {
			msg := checkIdentifier(tc.kind, tc.value)
			if (msg == "") != tc.ok {
				t.Errorf("checkIdentifier(%s, %q) = %q, want ok=%v", tc.kind, tc.value, msg, tc.ok)
			}
		})
	}
}

func TestOverdue(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	for _, tc := range []struct {
		name string
		r    Request
		want bool
	}{
		{"transmitted, acknowledgement late", Request{Status: Transmitted, Deadlines: Deadlines{AcknowledgeBy: past}}, true},
		{"transmitted, in time", Request{Status: Transmitted, Deadlines: Deadlines{AcknowledgeBy: future}}, false},
		{"acknowledged, answer late", Request{Status: Acknowledged, Deadlines: Deadlines{AnswerBy: past}}, true},
		{"clarification requested, answer late", Request{Status: ClarificationRequested, Deadlines: Deadlines{AnswerBy: past}}, true},
		{"accepted, in time", Request{Status: Accepted, Deadlines: Deadlines{AnswerBy: future}}, false},
		{"executed after the deadline is no longer overdue", Request{Status: Executed, Deadlines: Deadlines{AnswerBy: past}}, false},
		{"a draft is never overdue", Request{Status: Draft}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Overdue(tc.r, now); got != tc.want {
				t.Errorf("Overdue = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDefaultPolicyIsTheDesignsTable(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pr          cooperation.Priority
		ack, answer time.Duration
	}{
		{cooperation.Emergency, 8 * time.Hour, 8 * time.Hour},
		{cooperation.Urgent, 24 * time.Hour, 10 * day},
		{cooperation.Routine, 5 * day, 90 * day},
	} {
		if p.Acknowledge[tc.pr] != tc.ack || p.Answer[tc.pr] != tc.answer {
			t.Errorf("%s: acknowledge %v answer %v, want %v and %v", tc.pr, p.Acknowledge[tc.pr], p.Answer[tc.pr], tc.ack, tc.answer)
		}
	}
	if p.Preservation != 90*day {
		t.Errorf("preservation %v, want 90 days", p.Preservation)
	}
}

// TestSafeguardReasons: every safeguard violation carries a reason code, so
// that a client can say it in its user's language; an empty draft breaks
// each safeguard that applies to it, and a content-data emergency with a
// death penalty the rest.
func TestSafeguardReasons(t *testing.T) {
	receiver := directory.Agency{ID: "uz-247", AcceptedLanguages: []string{"uz", "ru"}}
	empty := safeguards(Request{Type: cooperation.ContentData, Priority: cooperation.Emergency,
		Offence: Offence{DeathPenaltyPossible: true}}, receiver, nil)
	odd := safeguards(Request{Type: cooperation.TrafficData, LegalBasis: bilateralTreaty, Language: "en",
		Identifiers: []Identifier{
			{Kind: Email, Value: "not an address"},
			{Kind: Email, Value: "a@example.org"},
			{Kind: "", Value: "x"},
			{Kind: Email, Value: " "},
			{Kind: Account, Value: "x", StartTime: time.Unix(2, 0), EndTime: time.Unix(1, 0)},
		}}, receiver, nil)
	got := map[string]string{}
	for _, v := range append(empty, odd...) {
		if v.Reason == "" {
			t.Errorf("violation of %s (%s) has no reason", v.Field, v.Description)
		}
		got[v.Reason] = v.Field
	}
	for reason, field := range map[string]string{
		"LEGAL_BASIS_REQUIRED": "legal_basis", "TREATY_CITATION_REQUIRED": "treaty_citation",
		"OFFENCE_DESCRIPTION_REQUIRED": "offence.description", "LEGAL_QUALIFICATION_REQUIRED": "offence.legal_qualification",
		"MAXIMUM_PENALTY_REQUIRED": "offence.maximum_penalty_years", "FACTS_SUMMARY_REQUIRED": "facts_summary",
		"IDENTIFIER_REQUIRED": "identifiers", "IDENTIFIER_INVALID": "identifiers[0].value",
		"IDENTIFIER_KIND_REQUIRED": "identifiers[2].value", "IDENTIFIER_VALUE_REQUIRED": "identifiers[3].value",
		"TIME_RANGE_REQUIRED": "identifiers[3].start_time", "TIME_RANGE_INVERTED": "identifiers[4].end_time",
		"NECESSITY_TOO_SHORT": "necessity_and_proportionality", "JUDICIAL_AUTHORISATION_REQUIRED": "judicial_authorisation_reference",
		"DEATH_PENALTY_ASSURANCE_REQUIRED": "offence.death_penalty_assurance", "EMERGENCY_REASON_REQUIRED": "emergency_reason",
		"LANGUAGE_REQUIRED": "language", "LANGUAGE_NOT_ACCEPTED": "language",
	} {
		if _, ok := got[reason]; !ok {
			t.Errorf("no violation with reason %s (of %s)", reason, field)
		}
	}
}
