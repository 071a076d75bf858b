package request

import (
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
)

// TestBodyDigestStable pins the digest of a create body: digests are kept
// with idempotency keys, so a change of the canonical form would refuse
// every retry of a create made before it as a reuse of its key.
func TestBodyDigestStable(t *testing.T) {
	d := Request{
		Type: cooperation.TrafficData, Priority: cooperation.Urgent, RequestingState: "KZ", RequestedState: "UZ",
		RequestedAgency: "uz-gpo", LegalBasis: "BILATERAL_TREATY", FactsSummary: "facts",
		Offence:               Offence{Description: "extortion", MaximumPenaltyYears: 15},
		Persons:               []Person{{FullName: "A", Role: "victim"}},
		Identifiers:           []Identifier{{Kind: "EMAIL", Value: "x@example.org", StartTime: time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)}},
		DataCategories:        []string{"traffic"},
		RequestedResponseTime: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC),
		RelatedRequests:       []RelatedRequest{{Kind: Related, Request: "0190c1a2-0000-7000-8000-000000000002"}},
	}
	got, err := BodyDigest(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := "9cb4724f058f1917b99e04aea34b1f432404684d2e19132a1d650de9bd4f5f6f"; got != want {
		t.Errorf("BodyDigest = %s, want %s", got, want)
	}
}
