package storedoc_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/storedoc"
)

var update = flag.Bool("update", false, "rewrite the golden documents in testdata")

var (
	t1 = time.Date(2026, 3, 1, 8, 30, 0, 123456789, time.FixedZone("ALMT", 5*3600))
	t2 = time.Date(2026, 3, 4, 17, 0, 0, 0, time.UTC)
	t3 = time.Date(2026, 6, 30, 0, 0, 0, 999, time.UTC)
)

// goldenRequests are the requests whose stored documents are kept in
// testdata: what the stores wrote before the document was derived from the
// domain type, so that every document already stored reads back the same.
var goldenRequests = map[string]request.Request{
	"full": {
		ID: "0190c1a2-0000-7000-8000-000000000001", Reference: "KZ-2026-000042",
		Type: cooperation.TrafficData, Priority: cooperation.Emergency, EmergencyReason: "a hostage is held",
		RequestingAgency: "kz-gpo", RequestingState: "KZ", Owner: "prosecutor-1",
		RequestedState: "UZ", RequestedAgency: "uz-gpo", LegalBasis: "BILATERAL_TREATY",
		TreatyCitation: "Treaty of 1997", CaseReference: "KZ-CASE-2026-17",
		Offence: request.Offence{Description: "extortion", LegalQualification: "Article 194", StatuteText: "Extortion …",
			MaximumPenaltyYears: 15, DeathPenaltyPossible: true, DeathPenaltyAssurance: "not sought"},
		FactsSummary: "On 1 March …",
		Persons: []request.Person{
			{FullName: "Aidar Example", DateOfBirth: "1990-05-17", Nationality: "KZ", Role: "victim"},
			{FullName: "Unknown", Role: "suspect"},
		},
		Identifiers: []request.Identifier{
			{Kind: "IP_ADDRESS", Value: "203.0.113.7", StartTime: t1, EndTime: t2},
			{Kind: "EMAIL", Value: "x@example.org"},
		},
		DataCategories:                 []string{"subscriber", "traffic"},
		NecessityAndProportionality:    "only the account's traffic",
		JudicialAuthorisationReference: "order 17/2026",
		Confidential:                   true, UseLimitations: "this case only", Language: "ru",
		RequestedResponseTime: t3, RelatedRequests: []request.RelatedRequest{{Kind: request.Related, Request: "0190c1a2-0000-7000-8000-000000000002"}},
		Status:       request.Closed,
		Deadlines:    request.Deadlines{AcknowledgeBy: t1, AnswerBy: t2, PreservationExpiresAt: t3},
		Acceptance:   &request.Acceptance{DualCriminality: "MET", HumanRightsConcerns: true, HumanRightsNote: "none", Conditions: "use limited"},
		Refusal:      &request.Refusal{Grounds: []string{"POLITICAL_OFFENCE", "OTHER"}, Explanation: "partly"},
		Execution:    &request.Execution{ResponseSummary: "logs attached", Partial: true},
		TransmitTime: t1, AcknowledgeTime: t2, AnswerTime: t3,
		Clarifications: []request.Clarification{
			{Question: "which account?", AskedBy: request.Actor{Subject: "s1", Name: "Officer", Agency: "uz-gpo"}, AskTime: t1,
				Answer: "this one", AnsweredBy: request.Actor{Subject: "prosecutor-1", Name: "P", Agency: "kz-gpo"}, AnswerTime: t2,
				AnswerAttachments: []string{"att-1"}},
			{Question: "and the dates?", AskedBy: request.Actor{Subject: "s1"}, AskTime: t3},
		},
		Version: 9, CreateTime: t1, UpdateTime: t3,
	},
	"draft": {
		ID: "0190c1a2-0000-7000-8000-000000000003", Reference: "KZ-2026-000043",
		Type: cooperation.SubscriberInformation, Priority: cooperation.Routine,
		RequestingAgency: "kz-gpo", RequestingState: "KZ", Owner: "prosecutor-1",
		RequestedState: "UZ", RequestedAgency: "uz-gpo", LegalBasis: "CHISINAU_CONVENTION_2002",
		FactsSummary: "facts", Status: request.Draft, Version: 1, CreateTime: t2, UpdateTime: t2,
	},
	"refused-without-grounds": {
		ID: "0190c1a2-0000-7000-8000-000000000004", Status: request.Refused,
		Refusal: &request.Refusal{Explanation: "no grounds kept"}, Acceptance: &request.Acceptance{},
		Execution: &request.Execution{}, Deadlines: request.Deadlines{AnswerBy: t2}, Version: 3,
	},
	"empty": {},
}

// TestGolden checks that each golden document decodes to its request as
// stored and encodes back to the same document.
func TestGolden(t *testing.T) {
	for name, r := range goldenRequests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, []byte(storedoc.EncodeRequest(r)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			doc := string(bytes.TrimSuffix(b, []byte("\n")))
			got, err := storedoc.DecodeRequest(doc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if want := storedoc.Stored(r); !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
			}
			if again := storedoc.EncodeRequest(got); !sameJSON(t, again, doc) {
				t.Errorf("re-encoded\n%s\nwant\n%s", again, doc)
			}
			if again := storedoc.EncodeRequest(r); !sameJSON(t, again, doc) {
				t.Errorf("encoded\n%s\nwant\n%s", again, doc)
			}
		})
	}
}

// sameJSON reports whether a and b are the same document: the same names
// with the same values, each time written the same way, the same members
// omitted. The order of an object's members is not compared.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// TestEncodeLeavesTheRequest checks that encoding changes nothing of what
// the caller's request shares with the caller: its lists and pointers.
func TestEncodeLeavesTheRequest(t *testing.T) {
	r := goldenRequests["full"]
	storedoc.EncodeRequest(r)
	if got := r.Identifiers[0].StartTime; got != t1 {
		t.Errorf("an identifier's start time became %v", got)
	}
	if got := r.Clarifications[0].AskTime; got != t1 {
		t.Errorf("a question's time became %v", got)
	}
	if got := goldenRequests["full"].Deadlines.AcknowledgeBy; got != t1 {
		t.Errorf("a deadline became %v", got)
	}
}
