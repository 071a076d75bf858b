package request

import (
	"testing"
	"time"

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
		pr          directory.Priority
		ack, answer time.Duration
	}{
		{directory.Emergency, 8 * time.Hour, 8 * time.Hour},
		{directory.Urgent, 24 * time.Hour, 10 * day},
		{directory.Routine, 5 * day, 90 * day},
	} {
		if p.Acknowledge[tc.pr] != tc.ack || p.Answer[tc.pr] != tc.answer {
			t.Errorf("%s: acknowledge %v answer %v, want %v and %v", tc.pr, p.Acknowledge[tc.pr], p.Answer[tc.pr], tc.ack, tc.answer)
		}
	}
	if p.Preservation != 90*day {
		t.Errorf("preservation %v, want 90 days", p.Preservation)
	}
}
