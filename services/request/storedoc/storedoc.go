// Package storedoc is the JSON form in which the SQLite and the PostgreSQL
// request stores keep a request document and an audit event, so that both
// backends store, and read back, exactly the same thing.
package storedoc

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/request"
)

// The stored form of a request (the doc column). Its own types, with
// explicit snake_case names, keep the stored JSON stable when the domain
// types change; both stores keep this same form. Times are UTC
// RFC 3339 with at most microseconds, and absent when zero.

type requestJSON struct {
	ID                             string              `json:"id"`
	Reference                      string              `json:"reference"`
	Type                           string              `json:"type"`
	Priority                       string              `json:"priority"`
	EmergencyReason                string              `json:"emergency_reason"`
	RequestingAgency               string              `json:"requesting_agency"`
	RequestingState                string              `json:"requesting_state"`
	Owner                          string              `json:"owner"`
	RequestedState                 string              `json:"requested_state"`
	RequestedAgency                string              `json:"requested_agency"`
	LegalBasis                     string              `json:"legal_basis"`
	TreatyCitation                 string              `json:"treaty_citation"`
	CaseReference                  string              `json:"case_reference"`
	Offence                        offenceJSON         `json:"offence"`
	FactsSummary                   string              `json:"facts_summary"`
	Persons                        []personJSON        `json:"persons,omitempty"`
	Identifiers                    []identifierJSON    `json:"identifiers,omitempty"`
	DataCategories                 []string            `json:"data_categories,omitempty"`
	NecessityAndProportionality    string              `json:"necessity_and_proportionality"`
	JudicialAuthorisationReference string              `json:"judicial_authorisation_reference"`
	Confidential                   bool                `json:"confidential"`
	UseLimitations                 string              `json:"use_limitations"`
	Language                       string              `json:"language"`
	RequestedResponseTime          time.Time           `json:"requested_response_time,omitzero"`
	RelatedRequests                []string            `json:"related_requests,omitempty"`
	Status                         string              `json:"status"`
	Deadlines                      deadlinesJSON       `json:"deadlines,omitzero"`
	Acceptance                     *acceptanceJSON     `json:"acceptance,omitempty"`
	Refusal                        *refusalJSON        `json:"refusal,omitempty"`
	Execution                      *executionJSON      `json:"execution,omitempty"`
	TransmitTime                   time.Time           `json:"transmit_time,omitzero"`
	AcknowledgeTime                time.Time           `json:"acknowledge_time,omitzero"`
	AnswerTime                     time.Time           `json:"answer_time,omitzero"`
	Version                        int64               `json:"version"`
	CreateTime                     time.Time           `json:"create_time,omitzero"`
	UpdateTime                     time.Time           `json:"update_time,omitzero"`
	Clarifications                 []clarificationJSON `json:"clarifications,omitempty"`
}

// clarificationJSON is also what migration 0005 writes when it carries the
// questions and answers over from the history: keep the two in step.
type clarificationJSON struct {
	Question          string    `json:"question"`
	AskedBy           actorJSON `json:"asked_by,omitzero"`
	AskTime           time.Time `json:"ask_time,omitzero"`
	Answer            string    `json:"answer,omitempty"`
	AnsweredBy        actorJSON `json:"answered_by,omitzero"`
	AnswerTime        time.Time `json:"answer_time,omitzero"`
	AnswerAttachments []string  `json:"answer_attachments,omitempty"`
}

type actorJSON struct {
	Subject string `json:"subject"`
	Name    string `json:"name"`
	Agency  string `json:"agency"`
}

type offenceJSON struct {
	Description           string `json:"description"`
	LegalQualification    string `json:"legal_qualification"`
	StatuteText           string `json:"statute_text"`
	MaximumPenaltyYears   int32  `json:"maximum_penalty_years"`
	DeathPenaltyPossible  bool   `json:"death_penalty_possible"`
	DeathPenaltyAssurance string `json:"death_penalty_assurance"`
}

type personJSON struct {
	FullName    string `json:"full_name"`
	DateOfBirth string `json:"date_of_birth"`
	Nationality string `json:"nationality"`
	Role        string `json:"role"`
}

type identifierJSON struct {
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	StartTime time.Time `json:"start_time,omitzero"`
	EndTime   time.Time `json:"end_time,omitzero"`
}

type deadlinesJSON struct {
	AcknowledgeBy         time.Time `json:"acknowledge_by,omitzero"`
	AnswerBy              time.Time `json:"answer_by,omitzero"`
	PreservationExpiresAt time.Time `json:"preservation_expires_at,omitzero"`
}

type acceptanceJSON struct {
	DualCriminality     string `json:"dual_criminality"`
	HumanRightsConcerns bool   `json:"human_rights_concerns"`
	HumanRightsNote     string `json:"human_rights_note"`
	Conditions          string `json:"conditions"`
}

type refusalJSON struct {
	Grounds     []string `json:"grounds,omitempty"`
	Explanation string   `json:"explanation"`
}

type executionJSON struct {
	ResponseSummary string `json:"response_summary"`
	Partial         bool   `json:"partial"`
}

// StoredTime is t as both backends keep it: UTC, truncated (not rounded, as
// PostgreSQL would) to microseconds; the zero time stays zero.
func StoredTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// ReadTime is a decoded time in UTC (zero stays zero).
func ReadTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// Encode returns v as JSON text. It cannot fail for the plain structs stored
// here, so a failure is a programming error.
func Encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("request/storedoc: encode %T: %v", v, err))
	}
	return string(b)
}

// EncodeRequest returns the stored form of r.
func EncodeRequest(r request.Request) string {
	d := requestJSON{
		ID:                             r.ID,
		Reference:                      r.Reference,
		Type:                           string(r.Type),
		Priority:                       string(r.Priority),
		EmergencyReason:                r.EmergencyReason,
		RequestingAgency:               r.RequestingAgency,
		RequestingState:                r.RequestingState,
		Owner:                          r.Owner,
		RequestedState:                 r.RequestedState,
		RequestedAgency:                r.RequestedAgency,
		LegalBasis:                     r.LegalBasis,
		TreatyCitation:                 r.TreatyCitation,
		CaseReference:                  r.CaseReference,
		Offence:                        offenceJSON(r.Offence),
		FactsSummary:                   r.FactsSummary,
		DataCategories:                 r.DataCategories,
		NecessityAndProportionality:    r.NecessityAndProportionality,
		JudicialAuthorisationReference: r.JudicialAuthorisationReference,
		Confidential:                   r.Confidential,
		UseLimitations:                 r.UseLimitations,
		Language:                       r.Language,
		RequestedResponseTime:          StoredTime(r.RequestedResponseTime),
		RelatedRequests:                r.RelatedRequests,
		Status:                         string(r.Status),
		Deadlines: deadlinesJSON{
			AcknowledgeBy:         StoredTime(r.Deadlines.AcknowledgeBy),
			AnswerBy:              StoredTime(r.Deadlines.AnswerBy),
			PreservationExpiresAt: StoredTime(r.Deadlines.PreservationExpiresAt),
		},
		TransmitTime:    StoredTime(r.TransmitTime),
		AcknowledgeTime: StoredTime(r.AcknowledgeTime),
		AnswerTime:      StoredTime(r.AnswerTime),
		Version:         r.Version,
		CreateTime:      StoredTime(r.CreateTime),
		UpdateTime:      StoredTime(r.UpdateTime),
	}
	for _, p := range r.Persons {
		d.Persons = append(d.Persons, personJSON(p))
	}
	for _, id := range r.Identifiers {
		d.Identifiers = append(d.Identifiers, identifierJSON{
			Kind: id.Kind, Value: id.Value, StartTime: StoredTime(id.StartTime), EndTime: StoredTime(id.EndTime),
		})
	}
	if a := r.Acceptance; a != nil {
		d.Acceptance = &acceptanceJSON{DualCriminality: a.DualCriminality, HumanRightsConcerns: a.HumanRightsConcerns,
			HumanRightsNote: a.HumanRightsNote, Conditions: a.Conditions}
	}
	if f := r.Refusal; f != nil {
		d.Refusal = &refusalJSON{Grounds: f.Grounds, Explanation: f.Explanation}
	}
	if e := r.Execution; e != nil {
		d.Execution = &executionJSON{ResponseSummary: e.ResponseSummary, Partial: e.Partial}
	}
	for _, c := range r.Clarifications {
		d.Clarifications = append(d.Clarifications, clarificationJSON{
			Question: c.Question, AskedBy: actorJSON(c.AskedBy), AskTime: StoredTime(c.AskTime),
			Answer: c.Answer, AnsweredBy: actorJSON(c.AnsweredBy), AnswerTime: StoredTime(c.AnswerTime),
			AnswerAttachments: c.AnswerAttachments,
		})
	}
	return Encode(d)
}

// DecodeRequest returns nil for every empty list: callers see one
// representation of "none", whichever backend and whatever was written.
func DecodeRequest(s string) (request.Request, error) {
	var d requestJSON
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return request.Request{}, err
	}
	r := request.Request{
		ID:                             d.ID,
		Reference:                      d.Reference,
		Type:                           directory.RequestType(d.Type),
		Priority:                       directory.Priority(d.Priority),
		EmergencyReason:                d.EmergencyReason,
		RequestingAgency:               d.RequestingAgency,
		RequestingState:                d.RequestingState,
		Owner:                          d.Owner,
		RequestedState:                 d.RequestedState,
		RequestedAgency:                d.RequestedAgency,
		LegalBasis:                     d.LegalBasis,
		TreatyCitation:                 d.TreatyCitation,
		CaseReference:                  d.CaseReference,
		Offence:                        request.Offence(d.Offence),
		FactsSummary:                   d.FactsSummary,
		NecessityAndProportionality:    d.NecessityAndProportionality,
		JudicialAuthorisationReference: d.JudicialAuthorisationReference,
		Confidential:                   d.Confidential,
		UseLimitations:                 d.UseLimitations,
		Language:                       d.Language,
		RequestedResponseTime:          ReadTime(d.RequestedResponseTime),
		Status:                         request.Status(d.Status),
		Deadlines: request.Deadlines{
			AcknowledgeBy:         ReadTime(d.Deadlines.AcknowledgeBy),
			AnswerBy:              ReadTime(d.Deadlines.AnswerBy),
			PreservationExpiresAt: ReadTime(d.Deadlines.PreservationExpiresAt),
		},
		TransmitTime:    ReadTime(d.TransmitTime),
		AcknowledgeTime: ReadTime(d.AcknowledgeTime),
		AnswerTime:      ReadTime(d.AnswerTime),
		Version:         d.Version,
		CreateTime:      ReadTime(d.CreateTime),
		UpdateTime:      ReadTime(d.UpdateTime),
	}
	if len(d.DataCategories) > 0 {
		r.DataCategories = d.DataCategories
	}
	if len(d.RelatedRequests) > 0 {
		r.RelatedRequests = d.RelatedRequests
	}
	for _, p := range d.Persons {
		r.Persons = append(r.Persons, request.Person(p))
	}
	for _, id := range d.Identifiers {
		r.Identifiers = append(r.Identifiers, request.Identifier{
			Kind: id.Kind, Value: id.Value, StartTime: ReadTime(id.StartTime), EndTime: ReadTime(id.EndTime),
		})
	}
	if a := d.Acceptance; a != nil {
		r.Acceptance = &request.Acceptance{DualCriminality: a.DualCriminality, HumanRightsConcerns: a.HumanRightsConcerns,
			HumanRightsNote: a.HumanRightsNote, Conditions: a.Conditions}
	}
	if f := d.Refusal; f != nil {
		r.Refusal = &request.Refusal{Explanation: f.Explanation}
		if len(f.Grounds) > 0 {
			r.Refusal.Grounds = f.Grounds
		}
	}
	if e := d.Execution; e != nil {
		r.Execution = &request.Execution{ResponseSummary: e.ResponseSummary, Partial: e.Partial}
	}
	for _, c := range d.Clarifications {
		x := request.Clarification{
			Question: c.Question, AskedBy: request.Actor(c.AskedBy), AskTime: ReadTime(c.AskTime),
			Answer: c.Answer, AnsweredBy: request.Actor(c.AnsweredBy), AnswerTime: ReadTime(c.AnswerTime),
		}
		if len(c.AnswerAttachments) > 0 {
			x.AnswerAttachments = c.AnswerAttachments
		}
		r.Clarifications = append(r.Clarifications, x)
	}
	return r, nil
}

// Stored returns r as a later read returns it: times in UTC truncated to
// microseconds, empty lists nil, and no slice or pointer shared with r.
func Stored(r request.Request) request.Request {
	out, err := DecodeRequest(EncodeRequest(r))
	if err != nil {
		panic(fmt.Sprintf("request/storedoc: decode what was just encoded: %v", err))
	}
	return out
}
