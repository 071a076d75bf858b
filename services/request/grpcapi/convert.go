package grpcapi

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/cooperation"
	dirapi "github.com/comity-mla/comity/services/directory/grpcapi"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
)

const (
	requestPrefix    = "requests/"
	agencyPrefix     = "agencies/"
	attachmentsInfix = "/attachments/"
	messagesInfix    = "/messages/"
)

// RequestToProto converts a request, as one caller may see it, to its API
// form.
func RequestToProto(v request.View) *requestv1.Request {
	r := v.Request
	out := &requestv1.Request{
		Name:                           requestPrefix + r.ID,
		Reference:                      r.Reference,
		Type:                           dirapi.RequestTypeToProto(r.Type),
		Priority:                       priorityToProto(r.Priority),
		EmergencyReason:                r.EmergencyReason,
		RequestingAgency:               agencyName(r.RequestingAgency),
		RequestingState:                r.RequestingState,
		Owner:                          r.Owner,
		RequestedState:                 r.RequestedState,
		RequestedAgency:                agencyName(r.RequestedAgency),
		LegalBasis:                     requestv1.Request_LegalBasis(requestv1.Request_LegalBasis_value[r.LegalBasis]),
		TreatyCitation:                 r.TreatyCitation,
		CaseReference:                  r.CaseReference,
		FactsSummary:                   r.FactsSummary,
		DataCategories:                 r.DataCategories,
		NecessityAndProportionality:    r.NecessityAndProportionality,
		JudicialAuthorisationReference: r.JudicialAuthorisationReference,
		Confidential:                   r.Confidential,
		UseLimitations:                 r.UseLimitations,
		Language:                       r.Language,
		RequestedResponseTime:          timestamp(r.RequestedResponseTime),
		Status:                         requestv1.Request_Status(requestv1.Request_Status_value[string(r.Status)]),
		Overdue:                        v.Overdue,
		Etag:                           r.Etag(),
		CreateTime:                     timestamp(r.CreateTime),
		UpdateTime:                     timestamp(r.UpdateTime),
		MetadataOnly:                   v.MetadataOnly,
	}
	if r.Offence != (request.Offence{}) {
		o := r.Offence
		out.Offence = &requestv1.Offence{
			Description: o.Description, LegalQualification: o.LegalQualification, StatuteText: o.StatuteText,
			MaximumPenaltyYears: o.MaximumPenaltyYears, DeathPenaltyPossible: o.DeathPenaltyPossible,
			DeathPenaltyAssurance: o.DeathPenaltyAssurance,
		}
	}
	for _, p := range r.Persons {
		out.Persons = append(out.Persons, &requestv1.Person{
			FullName: p.FullName, DateOfBirth: p.DateOfBirth, Nationality: p.Nationality, Role: p.Role,
		})
	}
	for _, id := range r.Identifiers {
		out.Identifiers = append(out.Identifiers, &requestv1.Identifier{
			Kind:      requestv1.Identifier_Kind(requestv1.Identifier_Kind_value[id.Kind]),
			Value:     id.Value,
			StartTime: timestamp(id.StartTime),
			EndTime:   timestamp(id.EndTime),
		})
	}
	for _, id := range r.RelatedRequests {
		out.RelatedRequests = append(out.RelatedRequests, requestPrefix+id)
	}
	if d := r.Deadlines; d != (request.Deadlines{}) {
		out.Deadlines = &requestv1.Deadlines{
			AcknowledgeBy:         timestamp(d.AcknowledgeBy),
			AnswerBy:              timestamp(d.AnswerBy),
			PreservationExpiresAt: timestamp(d.PreservationExpiresAt),
		}
	}
	if a := r.Acceptance; a != nil {
		out.Acceptance = &requestv1.Acceptance{
			DualCriminality:   requestv1.Acceptance_DualCriminality(requestv1.Acceptance_DualCriminality_value[a.DualCriminality]),
			HumanRightsReview: &requestv1.HumanRightsReview{Concerns: a.HumanRightsConcerns, Note: a.HumanRightsNote},
			Conditions:        a.Conditions,
		}
	}
	if f := r.Refusal; f != nil {
		out.Refusal = &requestv1.Refusal{Explanation: f.Explanation}
		for _, g := range f.Grounds {
			out.Refusal.Grounds = append(out.Refusal.Grounds, requestv1.Refusal_Ground(requestv1.Refusal_Ground_value[g]))
		}
	}
	if e := r.Execution; e != nil {
		out.Execution = &requestv1.Execution{ResponseSummary: e.ResponseSummary, Partial: e.Partial}
	}
	for _, c := range r.Clarifications {
		out.Clarifications = append(out.Clarifications, clarificationToProto(r.ID, c))
	}
	return out
}

// clarificationToProto converts one round of questions of request id; who
// answered is absent until someone has.
func clarificationToProto(id string, c request.Clarification) *requestv1.Clarification {
	out := &requestv1.Clarification{
		Question: c.Question, AskTime: timestamp(c.AskTime),
		Answer: c.Answer, AnswerTime: timestamp(c.AnswerTime),
	}
	if c.AskedBy != (request.Actor{}) {
		out.AskedBy = actorToProto(c.AskedBy)
	}
	if c.AnsweredBy != (request.Actor{}) {
		out.AnsweredBy = actorToProto(c.AnsweredBy)
	}
	for _, a := range c.AnswerAttachments {
		out.AnswerAttachments = append(out.AnswerAttachments, requestPrefix+id+attachmentsInfix+a)
	}
	return out
}

// requestFromProto converts the writable fields of an API request to the
// domain; output-only fields and the name are left out. Enum zero values
// become "", so that the domain reports them as missing.
func requestFromProto(r *requestv1.Request) request.Request {
	out := request.Request{
		Type:                           dirapi.RequestTypeFromProto(r.GetType()),
		Priority:                       dirapi.PriorityFromProto(r.GetPriority()),
		EmergencyReason:                r.GetEmergencyReason(),
		RequestedState:                 r.GetRequestedState(),
		RequestedAgency:                strings.TrimPrefix(r.GetRequestedAgency(), agencyPrefix),
		LegalBasis:                     enumName(r.GetLegalBasis()),
		TreatyCitation:                 r.GetTreatyCitation(),
		CaseReference:                  r.GetCaseReference(),
		Offence:                        offenceFromProto(r.GetOffence()),
		FactsSummary:                   r.GetFactsSummary(),
		DataCategories:                 r.GetDataCategories(),
		NecessityAndProportionality:    r.GetNecessityAndProportionality(),
		JudicialAuthorisationReference: r.GetJudicialAuthorisationReference(),
		Confidential:                   r.GetConfidential(),
		UseLimitations:                 r.GetUseLimitations(),
		Language:                       r.GetLanguage(),
		RequestedResponseTime:          timeOf(r.GetRequestedResponseTime()),
	}
	for _, p := range r.GetPersons() {
		out.Persons = append(out.Persons, request.Person{
			FullName: p.GetFullName(), DateOfBirth: p.GetDateOfBirth(), Nationality: p.GetNationality(), Role: p.GetRole(),
		})
	}
	for _, id := range r.GetIdentifiers() {
		out.Identifiers = append(out.Identifiers, request.Identifier{
			Kind:      enumName(id.GetKind()),
			Value:     id.GetValue(),
			StartTime: timeOf(id.GetStartTime()),
			EndTime:   timeOf(id.GetEndTime()),
		})
	}
	for _, name := range r.GetRelatedRequests() {
		out.RelatedRequests = append(out.RelatedRequests, strings.TrimPrefix(name, requestPrefix))
	}
	return out
}

func offenceFromProto(o *requestv1.Offence) request.Offence {
	return request.Offence{
		Description: o.GetDescription(), LegalQualification: o.GetLegalQualification(), StatuteText: o.GetStatuteText(),
		MaximumPenaltyYears: o.GetMaximumPenaltyYears(), DeathPenaltyPossible: o.GetDeathPenaltyPossible(),
		DeathPenaltyAssurance: o.GetDeathPenaltyAssurance(),
	}
}

// checkTimes refuses timestamps outside what a time.Time and the stores can
// hold (years 1 to 9999, nanos in range); field prefixes the violations'
// field paths.
func checkTimes(r *requestv1.Request, field string) error {
	var vs errs.Violations
	check := func(path string, ts *timestamppb.Timestamp) {
		if ts == nil {
			return
		}
		if err := ts.CheckValid(); err != nil {
			vs.Add(path, "not a valid timestamp: %v", err)
		}
	}
	check(field+".requested_response_time", r.GetRequestedResponseTime())
	for i, id := range r.GetIdentifiers() {
		check(fmt.Sprintf("%s.identifiers[%d].start_time", field, i), id.GetStartTime())
		check(fmt.Sprintf("%s.identifiers[%d].end_time", field, i), id.GetEndTime())
	}
	return vs.Err(errs.Invalid, "invalid request")
}

// StatusChangeToProto converts a history entry to its API form.
func StatusChangeToProto(h request.HistoryEntry) *requestv1.StatusChange {
	return &requestv1.StatusChange{
		FromStatus: requestv1.Request_Status(requestv1.Request_Status_value[string(h.From)]),
		ToStatus:   requestv1.Request_Status(requestv1.Request_Status_value[string(h.To)]),
		Action:     h.Action,
		Actor:      actorToProto(h.Actor),
		Time:       timestamp(h.Time),
		Reason:     h.Reason,
	}
}

// MessageToProto converts a message to its API form.
func MessageToProto(m request.Message) *requestv1.Message {
	return &requestv1.Message{
		Name:       requestPrefix + m.RequestID + messagesInfix + m.ID,
		Body:       m.Body,
		Visibility: requestv1.Message_Visibility(requestv1.Message_Visibility_value[m.Visibility]),
		Author:     actorToProto(m.Author),
		CreateTime: timestamp(m.CreateTime),
	}
}

// messageFromProto converts the writable fields of an API message.
func messageFromProto(m *requestv1.Message) request.Message {
	return request.Message{Body: m.GetBody(), Visibility: enumName(m.GetVisibility())}
}

// AttachmentToProto converts an attachment record to its API form.
func AttachmentToProto(a request.Attachment) *requestv1.Attachment {
	return &requestv1.Attachment{
		Name:       requestPrefix + a.RequestID + attachmentsInfix + a.ID,
		Kind:       requestv1.Attachment_Kind(requestv1.Attachment_Kind_value[a.Kind]),
		Filename:   a.Filename,
		MediaType:  a.MediaType,
		Language:   a.Language,
		Sha256:     a.SHA256,
		SizeBytes:  a.SizeBytes,
		Uploader:   actorToProto(a.Uploader),
		CreateTime: timestamp(a.CreateTime),
	}
}

// PairStatisticsToProto converts the aggregates of one pair of states to
// their API form.
func PairStatisticsToProto(s request.PairStatistics) *requestv1.PairStatistics {
	out := &requestv1.PairStatistics{
		RequestingState:   s.RequestingState,
		RequestedState:    s.RequestedState,
		ByStatus:          make(map[string]int32, len(s.ByStatus)),
		AcknowledgedCount: int32(s.Acknowledged),
		AnsweredCount:     int32(s.Answered),
		Overdue:           int32(s.Overdue),
		RefusalsByGround:  make(map[string]int32, len(s.RefusalsByGround)),
	}
	// A median of no sample is absent, not zero: nothing was acknowledged
	// is not everything was acknowledged at once.
	if s.Acknowledged > 0 {
		out.MedianTimeToAcknowledge = durationpb.New(s.MedianToAcknowledge)
	}
	if s.Answered > 0 {
		out.MedianTimeToAnswer = durationpb.New(s.MedianToAnswer)
	}
	for st, n := range s.ByStatus {
		out.ByStatus[string(st)] = int32(n)
	}
	for g, n := range s.RefusalsByGround {
		out.RefusalsByGround[g] = int32(n)
	}
	return out
}

func actorToProto(a request.Actor) *requestv1.Actor {
	return &requestv1.Actor{Subject: a.Subject, DisplayName: a.Name, Agency: agencyName(a.Agency)}
}

// agencyName is the resource name of an agency id; "" stays "".
func agencyName(id string) string {
	if id == "" {
		return ""
	}
	return agencyPrefix + id
}

// priorityToProto converts a domain priority to the API enum; the directory's
// grpcapi has only the other direction.
func priorityToProto(p cooperation.Priority) directoryv1.Priority {
	return directoryv1.Priority(directoryv1.Priority_value[string(p)])
}

// enumName is the value name of a proto enum, as the domain keeps it; the
// zero value (…_UNSPECIFIED) becomes "".
func enumName[E interface {
	~int32
	String() string
}](e E) string {
	if e == 0 {
		return ""
	}
	return e.String()
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// timeOf is the inverse of timestamp: nil is the zero time, not 1970.
func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}
