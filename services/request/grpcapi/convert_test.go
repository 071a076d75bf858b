package grpcapi

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.einride.tech/aip/fieldmask"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

var (
	t1 = time.Date(2026, 3, 1, 8, 30, 0, 123456000, time.UTC)
	t2 = time.Date(2026, 3, 4, 17, 0, 0, 0, time.UTC)
	t3 = time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)
)

// fullRequest returns an API request with every writable field set,
// nested ones included, and no output-only field.
func fullRequest() *requestv1.Request {
	return &requestv1.Request{
		Type:            directoryv1.RequestType_TRAFFIC_DATA,
		Priority:        directoryv1.Priority_EMERGENCY,
		EmergencyReason: "a hostage is held; the kidnappers use this account",
		RequestedState:  "UZ",
		RequestedAgency: "agencies/uz-gpo",
		LegalBasis:      requestv1.Request_BILATERAL_TREATY,
		TreatyCitation:  "Treaty between KZ and UZ on legal assistance, 1997",
		CaseReference:   "KZ-CASE-2026-17",
		Offence: &requestv1.Offence{
			Description:           "extortion through a messaging account",
			LegalQualification:    "Article 194 of the Criminal Code",
			StatuteText:           "Extortion, that is, the demand …",
			MaximumPenaltyYears:   15,
			DeathPenaltyPossible:  true,
			DeathPenaltyAssurance: "the death penalty will not be sought",
		},
		FactsSummary: "On 1 March the victim received demands …",
		Persons: []*requestv1.Person{
			{FullName: "Aidar Example", DateOfBirth: "1990-05-17", Nationality: "KZ", Role: "victim", Kind: requestv1.Person_NATURAL,
				PlaceOfBirth: "Almaty", Residence: "Astana", Occupation: "engineer", RegisteredAddress: "n/a", RegistrationNumber: "n/a",
				Representatives: []*requestv1.Representative{{FullName: "B. Counsel", Capacity: "counsel", Address: "Astana"}}},
			{FullName: "Example Pay LLP", DateOfBirth: "1985-01-01", Nationality: "UZ", Role: "suspect", Kind: requestv1.Person_LEGAL,
				PlaceOfBirth: "-", Residence: "-", Occupation: "payments", RegisteredAddress: "Tashkent, 1 Example St", RegistrationNumber: "UZ-123456",
				Representatives: []*requestv1.Representative{{FullName: "C. Director", Capacity: "director", Address: "Tashkent"}}},
		},
		Identifiers: []*requestv1.Identifier{
			{Kind: requestv1.Identifier_IP_ADDRESS, Value: "203.0.113.7:443", StartTime: timestamppb.New(t1), EndTime: timestamppb.New(t2)},
			{Kind: requestv1.Identifier_EMAIL, Value: "x@example.org", StartTime: timestamppb.New(t1), EndTime: timestamppb.New(t3)},
		},
		DataCategories:                 []string{"traffic data", "subscriber name and address"},
		NecessityAndProportionality:    "The data is the only lead to the kidnappers …",
		JudicialAuthorisationReference: "Court order 12/2026",
		Confidential:                   true,
		UseLimitations:                 "for this investigation only",
		Language:                       "ru",
		RequestedResponseTime:          timestamppb.New(t3),
		RelatedRequests: []*requestv1.RelatedRequest{{Kind: requestv1.RelatedRequest_FOLLOW_UP_OF, Request: "requests/0192f0c4-aaaa"},
			{Kind: requestv1.RelatedRequest_SUPERSEDES, Request: "requests/0192f0c4-bbbb"}},
		Confidentiality:        &requestv1.Confidentiality{Request: true, ObtainedInformation: true, Reason: "the suspects must not learn of it"},
		InvestigatingAuthority: &requestv1.InvestigatingAuthority{Name: "Investigation Department, KZ GPO", CaseNumber: "2026-0017"},
		Purpose:                "to identify the user of the account",
		RequestedProcedure:     &requestv1.RequestedProcedure{Format: "CSV export", Certification: "certified by the provider"},
		Contact: &requestv1.Contact{FullName: "A. Prosecutor", Phone: "+77172712400", Email: "a.prosecutor@example.kz",
			Hours: "09:00-18:00", TimeZone: "Asia/Almaty"},
		Custodian:        &requestv1.Custodian{Provider: "Example Telecom LLP", Country: "UZ", Service: "mobile internet", AccountReference: "+998900000000"},
		FollowUpIntended: &requestv1.FollowUpIntended{Intended: true, ProductionType: directoryv1.RequestType_CONTENT_DATA},
	}
}

// assertAllSet fails for every field of m, recursively, that is not set to
// a non-zero value: a round trip of a message with unset fields proves
// nothing about them.
func assertAllSet(t *testing.T, m protoreflect.Message, path string, only []string) {
	t.Helper()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Name())
		if only != nil && !slices.Contains(only, name) {
			continue
		}
		if !m.Has(fd) {
			t.Errorf("%s%s is not set in the test request", path, name)
			continue
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := m.Get(fd).List()
			for j := range l.Len() {
				assertAllSet(t, l.Get(j).Message(), path+name+"[].", nil)
			}
		case fd.Message() != nil && fd.Message().FullName() != "google.protobuf.Timestamp":
			assertAllSet(t, m.Get(fd).Message(), path+name+".", nil)
		}
	}
}

// writableOnly clears every field of r that is not writable.
func writableOnly(r *requestv1.Request) *requestv1.Request {
	out := proto.Clone(r).(*requestv1.Request)
	m := out.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); !slices.Contains(requestWritable, string(fd.Name())) {
			m.Clear(fd)
		}
	}
	return out
}

// TestWritableFieldsOfRequest checks the field_behavior annotations the
// updates read: exactly these fields are writable, every other one is
// output-only or an identifier (or the etag).
func TestWritableFieldsOfRequest(t *testing.T) {
	want := []string{
		"type", "priority", "emergency_reason", "requested_state", "requested_agency", "legal_basis",
		"treaty_citation", "case_reference", "offence", "facts_summary", "persons", "identifiers",
		"data_categories", "necessity_and_proportionality", "judicial_authorisation_reference",
		"confidential", "use_limitations", "language", "requested_response_time", "custodian", "follow_up_intended",
		"related_requests", "confidentiality", "investigating_authority", "purpose", "requested_procedure", "contact",
	}
	if !slices.Equal(requestWritable, want) {
		t.Errorf("writable fields of Request = %q\nwant %q", requestWritable, want)
	}
}

// copyField copies one writable path from src to dst, as an update naming
// only that path does.
func copyField(dst, src *request.Request, path string) {
	d, s := RequestToProto(request.View{Request: *dst}), RequestToProto(request.View{Request: *src})
	fieldmask.Update(&fieldmaskpb.FieldMask{Paths: []string{path}}, d, s)
	next := requestFromProto(d)
	next.KeepServerFields(*dst)
	*dst = next
}

func TestRequestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   func() *requestv1.Request
	}{
		{name: "every writable field", in: fullRequest},
		{name: "unset enums stay unset", in: func() *requestv1.Request {
			r := fullRequest()
			r.Type, r.Priority, r.LegalBasis = 0, 0, 0
			r.Identifiers[0].Kind = 0
			return r
		}},
		{name: "unset times stay unset, not 1970", in: func() *requestv1.Request {
			r := fullRequest()
			r.RequestedResponseTime = nil
			r.Identifiers[1].StartTime, r.Identifiers[1].EndTime = nil, nil
			return r
		}},
		{name: "no requested agency stays none", in: func() *requestv1.Request {
			r := fullRequest()
			r.RequestedAgency = ""
			return r
		}},
		{name: "empty draft", in: func() *requestv1.Request { return &requestv1.Request{} }},
	}
	assertAllSet(t, fullRequest().ProtoReflect(), "", requestWritable)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in()
			d := requestFromProto(in)
			d.ID = "0192f0c4-cccc"
			got := writableOnly(RequestToProto(request.View{Request: d}))
			if !proto.Equal(got, in) {
				t.Errorf("round trip changed the request\n got: %v\nwant: %v", prototext.Format(got), prototext.Format(in))
			}
		})
	}
}

func TestRequestFromProtoIgnoresOutputOnly(t *testing.T) {
	in := fullRequest()
	in.Name, in.Reference, in.RequestingAgency, in.RequestingState = "requests/x", "KZ-2026-000001", "agencies/kz-gpo", "KZ"
	in.Owner, in.Status, in.Etag, in.Overdue, in.MetadataOnly = "mallory", requestv1.Request_EXECUTED, "e", true, true
	in.CreateTime, in.UpdateTime = timestamppb.New(t1), timestamppb.New(t1)
	in.Deadlines = &requestv1.Deadlines{AnswerBy: timestamppb.New(t2)}
	in.Acceptance = &requestv1.Acceptance{Conditions: "none"}
	d := requestFromProto(in)
	if want := requestFromProto(fullRequest()); !reflect.DeepEqual(d, want) {
		t.Errorf("output-only fields reached the domain:\n got %+v\nwant %+v", d, want)
	}
}

func TestRequestToProtoOutputFields(t *testing.T) {
	r := request.Request{
		ID: "0192f0c4-dddd", Reference: "KZ-2026-000042", Type: cooperation.DataPreservation, Priority: cooperation.Urgent,
		RequestingAgency: "kz-gpo", RequestingState: "KZ", Owner: "alice", RequestedState: "UZ", RequestedAgency: "uz-247",
		Status:     request.Refused,
		Deadlines:  request.Deadlines{AcknowledgeBy: t1, AnswerBy: t2},
		Acceptance: &request.Acceptance{DualCriminality: "NOT_REQUIRED", HumanRightsConcerns: true, HumanRightsNote: "n", Conditions: "c"},
		Refusal:    &request.Refusal{Grounds: []string{"IMMUNITY", "OTHER"}, Explanation: "why"},
		Execution:  &request.Execution{ResponseSummary: "done", Partial: true},
		Version:    3, CreateTime: t1, UpdateTime: t2,
	}
	got := RequestToProto(request.View{Request: r, Overdue: true, MetadataOnly: true})
	want := &requestv1.Request{
		Name: "requests/0192f0c4-dddd", Reference: "KZ-2026-000042",
		Type: directoryv1.RequestType_DATA_PRESERVATION, Priority: directoryv1.Priority_URGENT,
		RequestingAgency: "agencies/kz-gpo", RequestingState: "KZ", Owner: "alice",
		RequestedState: "UZ", RequestedAgency: "agencies/uz-247",
		Status:    requestv1.Request_REFUSED,
		Deadlines: &requestv1.Deadlines{AcknowledgeBy: timestamppb.New(t1), AnswerBy: timestamppb.New(t2)},
		Overdue:   true, Etag: r.Etag(), CreateTime: timestamppb.New(t1), UpdateTime: timestamppb.New(t2),
		Acceptance: &requestv1.Acceptance{
			DualCriminality:   requestv1.Acceptance_NOT_REQUIRED,
			HumanRightsReview: &requestv1.HumanRightsReview{Concerns: true, Note: "n"},
			Conditions:        "c",
		},
		Refusal:      &requestv1.Refusal{Grounds: []requestv1.Refusal_Ground{requestv1.Refusal_IMMUNITY, requestv1.Refusal_OTHER}, Explanation: "why"},
		Execution:    &requestv1.Execution{ResponseSummary: "done", Partial: true},
		MetadataOnly: true,
	}
	if !proto.Equal(got, want) {
		t.Errorf("RequestToProto\n got: %v\nwant: %v", prototext.Format(got), prototext.Format(want))
	}
	if r.Etag() == (request.Request{ID: r.ID, Version: 4}).Etag() {
		t.Error("the etag does not change with the version")
	}
}

func TestOtherConverters(t *testing.T) {
	actor := request.Actor{Subject: "bob", Name: "Bob", Agency: "uz-247"}
	wantActor := &requestv1.Actor{Subject: "bob", DisplayName: "Bob", Agency: "agencies/uz-247"}
	tests := []struct {
		name      string
		got, want proto.Message
	}{
		{
			name: "status change",
			got:  StatusChangeToProto(request.HistoryEntry{From: request.Acknowledged, To: request.Refused, Action: "refuse", Actor: actor, Time: t1, Reason: "r"}),
			want: &requestv1.StatusChange{FromStatus: requestv1.Request_ACKNOWLEDGED, ToStatus: requestv1.Request_REFUSED,
				Action: "refuse", Actor: wantActor, Time: timestamppb.New(t1), Reason: "r"},
		},
		{
			name: "creation",
			got:  StatusChangeToProto(request.HistoryEntry{To: request.Draft, Action: "create", Actor: request.Actor{Subject: "a"}, Time: t1}),
			want: &requestv1.StatusChange{ToStatus: requestv1.Request_DRAFT, Action: "create", Actor: &requestv1.Actor{Subject: "a"}, Time: timestamppb.New(t1)},
		},
		{
			name: "message",
			got:  MessageToProto(request.Message{ID: "m1", RequestID: "r1", Body: "hello", Visibility: request.OwnAgency, Author: actor, CreateTime: t2}),
			want: &requestv1.Message{Name: "requests/r1/messages/m1", Body: "hello", Visibility: requestv1.Message_OWN_AGENCY,
				Author: wantActor, CreateTime: timestamppb.New(t2)},
		},
		{
			name: "attachment",
			got: AttachmentToProto(request.Attachment{ID: "a1", RequestID: "r1", Kind: "TRANSLATION", Filename: "t.pdf", MediaType: "application/pdf",
				Language: "uz", SHA256: strings.Repeat("ab", 32), SizeBytes: 1234, BlobKey: "secret", Uploader: actor, CreateTime: t3}),
			want: &requestv1.Attachment{Name: "requests/r1/attachments/a1", Kind: requestv1.Attachment_TRANSLATION, Filename: "t.pdf",
				MediaType: "application/pdf", Language: "uz", Sha256: strings.Repeat("ab", 32), SizeBytes: 1234, Uploader: wantActor,
				CreateTime: timestamppb.New(t3)},
		},
		{
			name: "pair statistics",
			got: PairStatisticsToProto(request.PairStatistics{RequestingState: "KZ", RequestedState: "UZ",
				ByStatus:            map[request.Status]int{request.Refused: 2, request.Executed: 1},
				MedianToAcknowledge: 3*time.Hour + 30*time.Minute, Acknowledged: 3,
				MedianToAnswer: 40 * time.Hour, Answered: 3, Overdue: 1, RefusalsByGround: map[string]int{"IMMUNITY": 2},
				MeanToAcknowledge: 4 * time.Hour, MeanToAnswer: 50 * time.Hour,
				ByDataCategory: map[string]int{"subscriber name": 3, "ip logs": 1}, Emergency: 1, NotEmergency: 2,
				ItemsByOutcome: map[string]int{"PROVIDED": 4, "NOT_HELD": 1}}),
			want: &requestv1.PairStatistics{RequestingState: "KZ", RequestedState: "UZ",
				ByStatus:                map[string]int32{"REFUSED": 2, "EXECUTED": 1},
				MedianTimeToAcknowledge: durationpb.New(3*time.Hour + 30*time.Minute), AcknowledgedCount: 3,
				MedianTimeToAnswer: durationpb.New(40 * time.Hour), AnsweredCount: 3, Overdue: 1,
				RefusalsByGround:      map[string]int32{"IMMUNITY": 2},
				MeanTimeToAcknowledge: durationpb.New(4 * time.Hour), MeanTimeToAnswer: durationpb.New(50 * time.Hour),
				ByDataCategory: map[string]int32{"subscriber name": 3, "ip logs": 1}, EmergencyCount: 1, NonEmergencyCount: 2,
				ExecutionItemsByOutcome: map[string]int32{"PROVIDED": 4, "NOT_HELD": 1}},
		},
		{
			// Nothing acknowledged yet: no median, rather than a median of 0s.
			name: "pair statistics without samples",
			got: PairStatisticsToProto(request.PairStatistics{RequestingState: "KZ", RequestedState: "UZ",
				ByStatus: map[request.Status]int{request.Transmitted: 1}}),
			want: &requestv1.PairStatistics{RequestingState: "KZ", RequestedState: "UZ",
				ByStatus: map[string]int32{"TRANSMITTED": 1}, RefusalsByGround: map[string]int32{}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !proto.Equal(tc.got, tc.want) {
				t.Errorf("\n got: %v\nwant: %v", prototext.Format(tc.got), prototext.Format(tc.want))
			}
		})
	}
	if got := messageFromProto(&requestv1.Message{Body: "b", Visibility: requestv1.Message_BOTH_SIDES, Name: "x"}); got != (request.Message{Body: "b", Visibility: request.BothSides}) {
		t.Errorf("messageFromProto = %+v", got)
	}
}

// current is a draft as stored, with values that differ from fullRequest's
// in every writable field.
func current() request.Request {
	return request.Request{
		ID: "0192f0c4-eeee", Reference: "KZ-2026-000007", Type: cooperation.SubscriberInformation, Priority: cooperation.Routine,
		RequestingAgency: "kz-gpo", RequestingState: "KZ", Owner: "alice", RequestedState: "KG", RequestedAgency: "kg-gpo",
		LegalBasis: "MINSK_CONVENTION_1993", CaseReference: "old case",
		Offence: request.Offence{Description: "old description", LegalQualification: "old qualification",
			StatuteText: "old statute", MaximumPenaltyYears: 3},
		FactsSummary: "old facts", Persons: []request.Person{{FullName: "Old"}}, Identifiers: []request.Identifier{{Kind: "PHONE", Value: "+7"}},
		DataCategories: []string{"old"}, NecessityAndProportionality: "old", UseLimitations: "old", Language: "kk",
		RelatedRequests: []request.RelatedRequest{{Kind: request.Related, Request: "old"}}, Status: request.Draft, Version: 2, CreateTime: t1, UpdateTime: t1,
	}
}

func TestUpdateMask(t *testing.T) {
	draft := requestFromProto(fullRequest())
	// Every writable field from the update, every other from the draft.
	withAll := draft
	withAll.KeepServerFields(current())
	tests := []struct {
		name        string
		paths       []string // nil: no mask
		want        func() request.Request
		wantTouched []string
		wantErr     string // a text the violation must contain; "" for success
	}{
		{name: "no mask updates every writable field", want: func() request.Request { return withAll }, wantTouched: requestWritable},
		{name: "star updates every writable field", paths: []string{"*"}, want: func() request.Request { return withAll }, wantTouched: requestWritable},
		{name: "one field", paths: []string{"facts_summary"},
			want:        func() request.Request { r := current(); r.FactsSummary = draft.FactsSummary; return r },
			wantTouched: []string{"facts_summary"}},
		{name: "camelCase paths from REST", paths: []string{"factsSummary", "requestedResponseTime", "legalBasis"},
			want: func() request.Request {
				r := current()
				r.FactsSummary, r.RequestedResponseTime, r.LegalBasis = draft.FactsSummary, draft.RequestedResponseTime, draft.LegalBasis
				return r
			},
			wantTouched: []string{"facts_summary", "requested_response_time", "legal_basis"}},
		{name: "field of the offence only", paths: []string{"offence.legalQualification"},
			want: func() request.Request {
				r := current()
				r.Offence.LegalQualification = draft.Offence.LegalQualification
				return r
			},
			wantTouched: []string{"offence"}},
		{name: "whole offence", paths: []string{"offence", "offence.description"},
			want:        func() request.Request { r := current(); r.Offence = draft.Offence; return r },
			wantTouched: []string{"offence"}},
		{name: "output-only and identifier paths are ignored",
			paths:       []string{"name", "etag", "createTime", "status", "deadlines.answerBy", "requestingAgency", "metadata_only"},
			want:        current,
			wantTouched: nil},
		{name: "output-only beside a writable path", paths: []string{"etag", "requested_agency"},
			want:        func() request.Request { r := current(); r.RequestedAgency = draft.RequestedAgency; return r },
			wantTouched: []string{"requested_agency"}},
		{name: "unknown path", paths: []string{"facts_summary", "colour"}, wantErr: `"colour"`},
		{name: "unknown camelCase path named as sent", paths: []string{"factSummary"}, wantErr: `"factSummary"`},
		{name: "unknown path into the offence", paths: []string{"offence.motive"}, wantErr: `"offence.motive"`},
		{name: "path into a list", paths: []string{"persons.fullName"}, wantErr: `"persons.fullName"`},
		{name: "path into a list names the list", paths: []string{"identifiers.value"}, wantErr: `update "identifiers" whole`},
		{name: "path into a timestamp", paths: []string{"requestedResponseTime.seconds"}, wantErr: `update "requested_response_time" whole`},
		{name: "unknown path under an output-only field", paths: []string{"deadlines.colour"}, wantErr: `"deadlines.colour" is not a field of a request`},
		{name: "star beside another path", paths: []string{"*", "facts_summary"}, wantErr: `"*"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mask *fieldmaskpb.FieldMask
			if tc.paths != nil {
				mask = &fieldmaskpb.FieldMask{Paths: tc.paths}
			}
			apply, touched, err := updateFromProto(fullRequest(), mask)
			if tc.wantErr != "" {
				var e *errs.Error
				if !errors.As(err, &e) || e.Code != errs.Invalid || len(e.Violations) != 1 ||
					e.Violations[0].Field != "update_mask" || !strings.Contains(e.Violations[0].Description, tc.wantErr) {
					t.Fatalf("err = %v; want an Invalid update_mask violation naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := current()
			apply(&got)
			if want := tc.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("after apply\n got %+v\nwant %+v", got, want)
			}
			if !slices.Equal(touched, tc.wantTouched) {
				t.Errorf("touched = %q, want %q", touched, tc.wantTouched)
			}
		})
	}
}

func TestResourceNames(t *testing.T) {
	tests := []struct {
		name    string
		atts    []string
		want    []string
		wantErr []string // violation fields
	}{
		{name: "none"},
		{name: "own attachments", atts: []string{"requests/r1/attachments/a1", "requests/r1/attachments/a2"}, want: []string{"a1", "a2"}},
		{name: "another request's", atts: []string{"requests/r1/attachments/a1", "requests/r2/attachments/a2"}, wantErr: []string{"attachments[1]"}},
		{name: "malformed", atts: []string{"a1", "requests/r1/attachments/", "requests/r1/attachments/a/b"}, wantErr: []string{"attachments[0]", "attachments[1]", "attachments[2]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := attachmentIDs("r1", tc.atts)
			if tc.wantErr != nil {
				var e *errs.Error
				if !errors.As(err, &e) || e.Code != errs.Invalid {
					t.Fatalf("err = %v, want Invalid", err)
				}
				var fields []string
				for _, v := range e.Violations {
					fields = append(fields, v.Field)
				}
				if !slices.Equal(fields, tc.wantErr) {
					t.Errorf("violations on %q, want %q", fields, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("attachmentIDs = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "requests/", "requests/a/b", "agencies/x", "requests/" + strings.Repeat("a", 65)} {
		if _, err := requestID(bad, "name"); errs.CodeOf(err) != errs.Invalid {
			t.Errorf("requestID(%q) = %v, want Invalid", bad, err)
		}
	}
}

func TestCheckTimes(t *testing.T) {
	r := fullRequest()
	if err := checkTimes(r, "request"); err != nil {
		t.Fatalf("valid times refused: %v", err)
	}
	r.Identifiers[1].EndTime = &timestamppb.Timestamp{Seconds: 1 << 50}
	var e *errs.Error
	if err := checkTimes(r, "request"); !errors.As(err, &e) || e.Code != errs.Invalid ||
		len(e.Violations) != 1 || e.Violations[0].Field != "request.identifiers[1].end_time" {
		t.Errorf("err = %v, want Invalid on request.identifiers[1].end_time", err)
	}
}

// TestRefusalGroundsAreTheProtos: the domain's refusal grounds are exactly
// the proto's set values, so that no ground the API takes is refused as
// unknown and none the domain stores lacks a proto value.
func TestRefusalGroundsAreTheProtos(t *testing.T) {
	var protos []string
	values := requestv1.Refusal_GROUND_UNSPECIFIED.Descriptor().Values()
	for i := range values.Len() {
		if v := values.Get(i); v.Number() != 0 {
			protos = append(protos, string(v.Name()))
		}
	}
	if !slices.Equal(protos, request.RefusalGrounds) {
		t.Errorf("request.RefusalGrounds = %v, the proto's grounds %v", request.RefusalGrounds, protos)
	}
}

func TestUnderRequest(t *testing.T) {
	in := (errs.Violations{
		{Field: "requested_agency", Description: "a"}, {Field: "identifiers[0].value", Description: "b"},
		{Field: "offence.description", Description: "c"}, {Field: "request_id", Description: "d"},
		{Field: "status", Description: "e"},
	}).Err(errs.FailedPrecondition, "refused")
	var got *errs.Error
	if !errors.As(underRequest(in), &got) || got.Code != errs.FailedPrecondition || got.Message != "refused" {
		t.Fatalf("underRequest = %v", got)
	}
	var paths []string
	for _, v := range got.Violations {
		paths = append(paths, v.Field)
	}
	want := []string{"request.requested_agency", "request.identifiers[0].value", "request.offence.description", "request_id", "status"}
	if !slices.Equal(paths, want) {
		t.Errorf("paths = %q, want %q", paths, want)
	}
	if in.(*errs.Error).Violations[0].Field != "requested_agency" {
		t.Error("underRequest changed the domain's error")
	}
	if plain := errors.New("x"); underRequest(plain) != plain {
		t.Error("an error without violations changed")
	}
	// What the refusal concerned stays with it: the parties' auditors see
	// the refused update.
	r, ok := trail.RefusalOf(underRequest(trail.Concerning(in, "requests/r1", "KZ", "UZ")))
	if !ok || r.Resource != "requests/r1" || !slices.Equal(r.States, []string{"KZ", "UZ"}) {
		t.Errorf("underRequest dropped the states the refusal concerned: %+v", r)
	}
	var moved *errs.Error
	if !errors.As(r, &moved) || moved.Violations[0].Field != "request.requested_agency" {
		t.Errorf("the refusal's error is not the one with the call's paths: %v", r)
	}
}
