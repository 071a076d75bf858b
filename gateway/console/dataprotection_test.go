package console

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// An erased request's page says what was erased, when and why, and that
// only metadata remain; its binding conditions say which are acknowledged;
// a legal hold shows whether it holds.
func TestDataProtectionView(t *testing.T) {
	pg := page{T: mustCatalog(t).localizer("en"), Lang: "en"}
	z := zones{"KZ": "Asia/Almaty", "UZ": "Asia/Tashkent"}
	at := timestamppb.New(time.Date(2031, 3, 5, 14, 30, 0, 0, time.UTC))
	req := &requestv1.Request{RequestingState: "KZ", RequestedState: "UZ",
		BindingConditions: []*requestv1.Condition{
			{Kind: requestv1.Condition_NO_ONWARD_TRANSFER, Text: "Not without our consent."},
			{Kind: requestv1.Condition_DELETE_BY, Text: "Delete the logs.", DueTime: at},
		},
		ConditionsAcknowledgement: &requestv1.ConditionsAcknowledgement{Conditions: 1, AcknowledgeTime: at,
			AcknowledgedBy: &requestv1.Actor{DisplayName: "A. Prosecutor", Agency: "agencies/kz-gpo"}},
		LegalHold: &requestv1.LegalHold{Reason: "Appeal pending.", SetTime: at, ReviewTime: at},
		Erasures: []*requestv1.Erasure{
			{Scope: requestv1.Erasure_EVIDENCE, Cause: requestv1.Erasure_CONDITION, EraseTime: at, CompleteTime: at, Attachments: []string{"a", "b"}},
			{Scope: requestv1.Erasure_CONTENT, Cause: requestv1.Erasure_RETENTION, EraseTime: at},
		},
	}
	v := dataProtectionOf(pg, z, req)
	var buf bytes.Buffer
	if err := erasureNotice(pg, v).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if err := dataProtectionSection(pg, v).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"The content of the evidence files (2) was erased on 2031-03-05 14:30 UTC",
		"a delete-by or return condition fell due",
		"its retention period ran out",
		"The last files are still being removed.",
		"Only its metadata remain",
		`data-condition-kind="NO_ONWARD_TRANSFER">No onward transfer without consent — Not without our consent.`,
		"Conditions not yet acknowledged: 1.",
		"1 acknowledged by A. Prosecutor (kz-gpo)",
		`data-legal-hold="holds"`,
		"Appeal pending.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the data protection view lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "data-acknowledged") != 1 || strings.Count(out, "data-unacknowledged") != 1 {
		t.Errorf("the view does not mark one condition acknowledged and one not:\n%s", out)
	}
	// Once lifted, the hold is shown lifted and not offered for lifting.
	req.LegalHold.LiftTime = at
	if holds(req) || !strings.Contains(renderSection(t, pg, dataProtectionOf(pg, z, req)), `data-legal-hold="lifted"`) {
		t.Error("a lifted hold is shown as holding")
	}
}

func renderSection(t *testing.T, pg page, v dataProtectionView) string {
	t.Helper()
	var buf bytes.Buffer
	if err := dataProtectionSection(pg, v).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// The purpose prompt sends the user back only to a page of the request
// they were asked about.
func TestPurposeNext(t *testing.T) {
	for _, tc := range []struct{ next, want string }{
		{"/requests/abc", "/requests/abc"},
		{"/requests/abc/attachments/x", "/requests/abc/attachments/x"},
		{"/requests/abc?done=accept", "/requests/abc?done=accept"},
		{"/requests/abcd", "/requests/abc"},
		{"/requests/other", "/requests/abc"},
		{"https://evil.example/", "/requests/abc"},
		{"//evil.example/requests/abc", "/requests/abc"},
		{"", "/requests/abc"},
	} {
		if got := purposeNext("abc", tc.next); got != tc.want {
			t.Errorf("purposeNext(abc, %q) = %q, want %q", tc.next, got, tc.want)
		}
	}
}

// The purpose cookie, full of the longest answers, fits in what browsers
// keep, whoever the user is.
func TestPurposeCookieFits(t *testing.T) {
	sl, err := newSealer([]byte(strings.Repeat("s", MinSessionSecretLen)))
	if err != nil {
		t.Fatal(err)
	}
	s := &session{Provider: "provider", Agency: "kz-gpo", Name: strings.Repeat("Very Long Name ", 40), Started: 1796674163}
	pc := purposeCookie{Started: s.Started, Who: sessionWho(s)}
	for range maxPurposes {
		pc.Answers = append(pc.Answers, purposeAnswer{Request: strings.Repeat("0", 64), Purpose: "data-subject-request"})
	}
	if _, err := sl.seal(newCookieNames(true).purpose(), pc); err != nil {
		t.Errorf("a full purpose cookie does not fit: %v", err)
	}
}
