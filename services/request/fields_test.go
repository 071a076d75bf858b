package request

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
)

func TestFieldsClassified(t *testing.T) {
	if err := fieldsErr(reflect.TypeFor[Request]()); err != nil {
		t.Fatal(err)
	}
	type bad struct {
		A string `json:"a" class:"server"`
	}
	if fieldsErr(reflect.TypeFor[bad]()) == nil {
		t.Error("a field neither metadata nor content passed")
	}
}

// fieldNames are the names of the fields of Request that sel selects.
func fieldNames(sel func(requestField) bool) []string {
	var out []string
	for _, f := range requestFields {
		if sel(f) {
			out = append(out, f.name)
		}
	}
	return out
}

// TestFieldClasses pins what each class holds today: a field moved from
// one class to another is a change of a rule, made on purpose.
func TestFieldClasses(t *testing.T) {
	tests := []struct {
		class string
		sel   func(requestField) bool
		want  []string
	}{
		{"metadata", isMetadata, []string{"id", "reference", "type", "priority", "requesting_agency", "requesting_state", "owner",
			"requested_state", "requested_agency", "legal_basis", "confidential", "language", "requested_response_time",
			"status", "deadlines", "transmit_time", "acknowledge_time", "answer_time", "legal_basis_unconfirmed", "erasures", "close_time", "version", "create_time", "update_time"}},
		{"server", isServer, []string{"id", "reference", "requesting_agency", "requesting_state", "owner", "status", "deadlines",
			"acceptance", "refusal", "execution", "transmit_time", "acknowledge_time", "answer_time", "clarifications",
			"preservation", "chain_disclosures", "deliveries", "impediments", "postponement", "conditions_proposal", "intake",
			"confidentiality_declaration", "legal_basis_unconfirmed", "conditions_acknowledgement", "consents", "onward_transfers",
			"use_reports", "legal_hold", "erasures", "close_time", "version", "create_time", "update_time"}},
		{"immutable", func(f requestField) bool { return f.immutable },
			[]string{"id", "reference", "requesting_agency", "requesting_state"}},
	}
	for _, tc := range tests {
		if got := fieldNames(tc.sel); !slices.Equal(got, tc.want) {
			t.Errorf("%s fields = %q\nwant %q", tc.class, got, tc.want)
		}
	}
}

func TestKeepAndResetServerFields(t *testing.T) {
	t1 := time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)
	cur := Request{ID: "x", Reference: "KZ-2026-000001", RequestingAgency: "kz-gpo", RequestingState: "KZ", Owner: "p1",
		Status: Accepted, Deadlines: Deadlines{AnswerBy: t1}, Acceptance: &Acceptance{Conditions: "c"},
		Clarifications: []Clarification{{Question: "q"}}, TransmitTime: t1, Version: 4, CreateTime: t1, UpdateTime: t1,
		FactsSummary: "old facts"}
	next := Request{ID: "y", Owner: "p2", Status: Closed, FactsSummary: "new facts", RequestedState: "UZ", Version: 9}
	next.KeepServerFields(cur)
	want := cur
	want.FactsSummary, want.RequestedState = "new facts", "UZ"
	if !reflect.DeepEqual(next, want) {
		t.Errorf("KeepServerFields = %+v\nwant %+v", next, want)
	}
	resetServerFields(&next)
	if want := (Request{FactsSummary: "new facts", RequestedState: "UZ"}); !reflect.DeepEqual(next, want) {
		t.Errorf("resetServerFields = %+v\nwant %+v", next, want)
	}
}

func TestCheckImmutable(t *testing.T) {
	cur := Request{ID: "x", Reference: "KZ-2026-000001", RequestingAgency: "kz-gpo", RequestingState: "KZ", Owner: "p1"}
	next := cur
	next.FactsSummary, next.Status, next.Version = "changed", Submitted, 2
	if err := CheckImmutable(cur, next); err != nil {
		t.Errorf("a change of mutable fields: %v", err)
	}
	next.RequestingState = "UZ"
	err := CheckImmutable(cur, next)
	if errs.CodeOf(err) != errs.Invalid || err.Error() != `the requesting state of request x cannot change from "KZ" to "UZ"` {
		t.Errorf("a change of the requesting state: %v", err)
	}
}
