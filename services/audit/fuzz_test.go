package audit_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/trail"
)

// FuzzParseLeaf feeds ParseLeaf arbitrary logged leaves, as an auditor's
// bundle may carry them. A leaf either is refused, or holds an event whose
// leaf encoding is a fixed point: encoding it, decoding and encoding again
// gives the same bytes, so that the event a verifier shows is the one logged.
func FuzzParseLeaf(f *testing.F) {
	e := trail.Event{
		ID: "0192f0c4-0000-7000-8000-000000000001", Time: time.Date(2026, 3, 1, 8, 30, 0, 123456789, time.UTC),
		Actor:   trail.Actor{Subject: "dev:kz-gpo:prosecutor", Agency: "kz-gpo", Roles: []string{"prosecutor"}, Issuer: "comity-dev"},
		Service: "comity-request", Action: "/comity.request.v1.RequestService/SubmitRequest", Resource: "requests/x",
		States: []string{"KZ", "UZ"}, Outcome: "OK", Transition: &trail.Transition{From: "DRAFT", To: "SUBMITTED"},
		RequestHMAC: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	}
	leaf, err := audit.Leaf(e)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(leaf)
	f.Add(bytes.Replace(leaf, []byte(`"Z"`), []byte(`"+05:00"`), 1))
	for _, seed := range []string{
		`{}`,
		`{"id":"x","time":"2026-03-01T08:30:00+14:00","transition":{"to":"X"}}`,
		`{"time":"0000-01-01T00:00:00Z"}`,
		`{"time":"9999-12-31T23:59:59.999999999-23:59"}`,
		`{"time":"2026-02-30T00:00:00Z"}`,
		`{"time":1}`,
		`{"states":"KZ"}`,
		`{"actor":{"roles":[null]}}`,
		`{"ID":"case-insensitive","Outcome":"OK"}`,
		`{"id":"a","id":"b"}`,
		"{\"id\":\"\xff\"}",
		`null`,
		`[]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, leaf []byte) {
		e, err := audit.ParseLeaf(leaf)
		if err != nil {
			return
		}
		once, err := audit.Leaf(e)
		if err != nil {
			t.Fatalf("ParseLeaf(%q) = %+v, which does not encode: %v", leaf, e, err)
		}
		e2, err := audit.ParseLeaf(once)
		if err != nil {
			t.Fatalf("Leaf(ParseLeaf(%q)) = %q does not parse: %v", leaf, once, err)
		}
		twice, err := audit.Leaf(e2)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("audit.ParseLeaf(%q) encodes as %q, then as %q (%v)", leaf, once, twice, err)
		}
	})
}
