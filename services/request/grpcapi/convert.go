package grpcapi

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
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
// form: toMessage for every field named alike, and by hand the resource
// names, the human-rights review that the API groups, the binding
// conditions, and what is computed for the caller.
func RequestToProto(v request.View) *requestv1.Request {
	r := v.Request
	out := &requestv1.Request{}
	toMessage(reflect.ValueOf(r), out.ProtoReflect(), "related_requests", "clarifications")
	out.Name = requestPrefix + r.ID
	out.RequestingAgency, out.RequestedAgency = agencyName(r.RequestingAgency), agencyName(r.RequestedAgency)
	for _, rr := range r.RelatedRequests {
		out.RelatedRequests = append(out.RelatedRequests, &requestv1.RelatedRequest{
			Kind: requestv1.RelatedRequest_Kind(requestv1.RelatedRequest_Kind_value[string(rr.Kind)]), Request: requestPrefix + rr.Request})
	}
	// Attachments are ids in the domain and names in the API.
	executionToProto(r.ID, out.Execution)
	for _, d := range out.Deliveries {
		executionToProto(r.ID, d)
	}
	// An acceptance of proposed conditions records no assessments: no
	// review is shown rather than one of "no concerns".
	if out.Preservation != nil && out.Preservation.HeldBy != "" {
		// An id in the domain, a resource name in the API.
		out.Preservation.HeldBy = requestPrefix + out.Preservation.HeldBy
	}
	if out.Preservation != nil {
		for i, id := range out.Preservation.HeldAlsoBy {
			out.Preservation.HeldAlsoBy[i] = requestPrefix + id
		}
	}
	if a := r.Acceptance; a != nil && a.DualCriminality != "" {
		out.Acceptance.HumanRightsReview = &requestv1.HumanRightsReview{Concerns: a.HumanRightsConcerns, Note: a.HumanRightsNote}
	}
	for _, c := range r.Clarifications {
		out.Clarifications = append(out.Clarifications, clarificationToProto(r.ID, c))
	}
	// What binds is computed from the acceptance and the proposal.
	for _, c := range r.BindingConditions() {
		pc := &requestv1.Condition{}
		toMessage(reflect.ValueOf(c), pc.ProtoReflect())
		out.BindingConditions = append(out.BindingConditions, pc)
	}
	out.Overdue, out.Etag, out.MetadataOnly = v.Overdue, r.Etag(), v.MetadataOnly
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
// domain (fromMessage), the resource names by hand; output-only fields and
// the name are left out. Enum zero values become "", so that the domain
// reports them as missing.
func requestFromProto(r *requestv1.Request) request.Request {
	var out request.Request
	fromMessage(r.ProtoReflect(), reflect.ValueOf(&out).Elem(), requestWritable, "related_requests")
	out.RequestedAgency = strings.TrimPrefix(out.RequestedAgency, agencyPrefix)
	for _, rr := range r.GetRelatedRequests() {
		out.RelatedRequests = append(out.RelatedRequests, request.RelatedRequest{
			Kind: request.RelationKind(enumName(rr.GetKind())), Request: strings.TrimPrefix(rr.GetRequest(), requestPrefix)})
	}
	return out
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
		EraseTime:  timestamp(a.EraseTime),
	}
}

// PairStatisticsToProto converts the aggregates of one pair of states to
// their API form.
func PairStatisticsToProto(s request.PairStatistics) *requestv1.PairStatistics {
	out := &requestv1.PairStatistics{
		RequestingState:         s.RequestingState,
		RequestedState:          s.RequestedState,
		ByStatus:                make(map[string]int32, len(s.ByStatus)),
		AcknowledgedCount:       int32(s.Acknowledged),
		AnsweredCount:           int32(s.Answered),
		Overdue:                 int32(s.Overdue),
		RefusalsByGround:        make(map[string]int32, len(s.RefusalsByGround)),
		ByDataCategory:          make(map[string]int32, len(s.ByDataCategory)),
		EmergencyCount:          int32(s.Emergency),
		NonEmergencyCount:       int32(s.NotEmergency),
		ExecutionItemsByOutcome: make(map[string]int32, len(s.ItemsByOutcome)),
	}
	// A median of no sample is absent, not zero: nothing was acknowledged
	// is not everything was acknowledged at once.
	if s.Acknowledged > 0 {
		out.MedianTimeToAcknowledge = durationpb.New(s.MedianToAcknowledge)
		out.MeanTimeToAcknowledge = durationpb.New(s.MeanToAcknowledge)
	}
	if s.Answered > 0 {
		out.MedianTimeToAnswer = durationpb.New(s.MedianToAnswer)
		out.MeanTimeToAnswer = durationpb.New(s.MeanToAnswer)
	}
	for st, n := range s.ByStatus {
		out.ByStatus[string(st)] = int32(n)
	}
	for g, n := range s.RefusalsByGround {
		out.RefusalsByGround[g] = int32(n)
	}
	for c, n := range s.ByDataCategory {
		out.ByDataCategory[c] = int32(n)
	}
	for o, n := range s.ItemsByOutcome {
		out.ExecutionItemsByOutcome[o] = int32(n)
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
