package request

import (
	"slices"
	"time"
)

// The kinds of a Condition (DESIGN §10).
const (
	UseOnlyStatedProceedings = "USE_ONLY_STATED_PROCEEDINGS"
	ConfidentialCondition    = "CONFIDENTIAL"
	NoOnwardTransfer         = "NO_ONWARD_TRANSFER"
	DeleteBy                 = "DELETE_BY"
	ReturnBy                 = "RETURN"
	ReportUseCondition       = "REPORT_USE"
	OtherCondition           = "OTHER"
)

// ConditionsAcknowledgement is the requesting side's acknowledgement of the
// conditions that bind it: the first Conditions of BindingConditions.
type ConditionsAcknowledgement struct {
	AcknowledgedBy  Actor     `json:"acknowledged_by,omitzero"`
	AcknowledgeTime time.Time `json:"acknowledge_time,omitzero"`
	Conditions      int32     `json:"conditions"`
}

// The kinds of a Consent.
const (
	ConsentOtherUse       = "OTHER_USE"
	ConsentOnwardTransfer = "ONWARD_TRANSFER"
	ConsentRetention      = "RETENTION"
)

// The decisions on a Consent.
const (
	ConsentPending = "PENDING"
	ConsentGranted = "GRANTED"
	ConsentRefused = "REFUSED"
)

// Consent is the requesting side's request for the requested side's
// consent, and its answer.
type Consent struct {
	// Number is its place on the request, from 1.
	Number int32 `json:"number"`
	// Kind is OTHER_USE, ONWARD_TRANSFER or RETENTION.
	Kind      string    `json:"kind"`
	Purpose   string    `json:"purpose"`
	Recipient string    `json:"recipient,omitempty"`
	KeepUntil time.Time `json:"keep_until,omitzero"`
	// Decision is PENDING, GRANTED or REFUSED.
	Decision    string    `json:"decision"`
	RequestedBy Actor     `json:"requested_by,omitzero"`
	RequestTime time.Time `json:"request_time,omitzero"`
	DecidedBy   Actor     `json:"decided_by,omitzero"`
	DecideTime  time.Time `json:"decide_time,omitzero"`
	// Answer is the terms of a grant or why it was refused.
	Answer string `json:"answer,omitempty"`
}

// OnwardTransfer records that what was received was passed on.
type OnwardTransfer struct {
	Recipient     string `json:"recipient"`
	Authorisation string `json:"authorisation"`
	// Consent is the number of the granted consent it relies on; 0 for
	// none.
	Consent    int32     `json:"consent,omitempty"`
	RecordedBy Actor     `json:"recorded_by,omitzero"`
	RecordTime time.Time `json:"record_time,omitzero"`
}

// UseReport is a report of how what was received was used.
type UseReport struct {
	Text       string    `json:"text"`
	ReportedBy Actor     `json:"reported_by,omitzero"`
	ReportTime time.Time `json:"report_time,omitzero"`
}

// LegalHold stops the erasure of a request's content at the end of its
// retention, until lifted.
type LegalHold struct {
	Reason     string    `json:"reason"`
	SetBy      Actor     `json:"set_by,omitzero"`
	SetTime    time.Time `json:"set_time,omitzero"`
	ReviewTime time.Time `json:"review_time,omitzero"`
	LiftedBy   Actor     `json:"lifted_by,omitzero"`
	LiftTime   time.Time `json:"lift_time,omitzero"`
	LiftReason string    `json:"lift_reason,omitempty"`
}

// Holds says whether the hold is set and not lifted.
func (h *LegalHold) Holds() bool { return h != nil && h.LiftTime.IsZero() }

// The scopes and causes of an Erasure.
const (
	EraseContent  = "CONTENT"
	EraseEvidence = "EVIDENCE"
	ByRetention   = "RETENTION"
	ByCondition   = "CONDITION"
)

// Erasure is what was erased of a request, and why.
type Erasure struct {
	// Scope is CONTENT or EVIDENCE.
	Scope string `json:"scope"`
	// Cause is RETENTION or CONDITION.
	Cause     string    `json:"cause"`
	EraseTime time.Time `json:"erase_time,omitzero"`
	// Attachments are the ids of the attachments whose content went.
	Attachments []string `json:"attachments,omitempty"`
	// CompleteTime is when the attachments' content was gone too; zero
	// while the erasure is finishing (a crash between the database and the
	// blob store is finished by the next sweep).
	CompleteTime time.Time `json:"complete_time,omitzero"`
}

// ContentErased says whether the request's content was erased (retention).
func (r Request) ContentErased() bool {
	return slices.ContainsFunc(r.Erasures, func(e Erasure) bool { return e.Scope == EraseContent })
}

// ErasurePending says whether an erasure of r began and its attachments'
// content may still be in the blob store.
func (r Request) ErasurePending() bool {
	return slices.ContainsFunc(r.Erasures, func(e Erasure) bool { return e.CompleteTime.IsZero() })
}

// RetentionStart is when the retention period of r's personal data and
// content runs from (DESIGN §10): when it was closed (its last change, for
// a request closed before close times were kept), or its last change while
// it was never transmitted. It is zero when nothing is due: an open case,
// a request under a legal hold, or one already erased. The store keeps it
// in a column the retention sweep selects on.
func (r Request) RetentionStart() time.Time {
	switch {
	case r.ContentErased(), r.LegalHold.Holds():
		return time.Time{}
	case r.Status == Closed && !r.CloseTime.IsZero():
		return r.CloseTime
	case r.Status == Closed, r.TransmitTime.IsZero():
		return r.UpdateTime
	}
	return time.Time{}
}

// ObligationDueBy is the earliest of the requesting side's open
// obligations under DESIGN §10 (a report of use, a legal hold's review),
// zero for none: past it the request is overdue. The store keeps it in a
// column, for the overdue filter.
func (r Request) ObligationDueBy() time.Time {
	var due time.Time
	for _, t := range []time.Time{r.Deadlines.ReportUseBy, r.Deadlines.LegalHoldReviewBy} {
		if !t.IsZero() && (due.IsZero() || t.Before(due)) {
			due = t
		}
	}
	return due
}

// BindingConditions are the use conditions that bind the requesting side:
// those of an accepted proposal (:acceptConditions), then those of the
// acceptance (:accept's use_conditions).
func (r Request) BindingConditions() []Condition {
	var out []Condition
	if cp := r.ConditionsProposal; cp != nil && cp.Decision == "ACCEPTED" {
		out = append(out, cp.Conditions...)
	}
	if r.Acceptance != nil {
		out = append(out, r.Acceptance.UseConditions...)
	}
	return out
}

// The rights a data subject's request may concern.
const (
	RightAccess     = "ACCESS"
	RightCorrection = "CORRECTION"
	RightErasure    = "ERASURE"
)

// The decisions on a data subject's request.
const (
	SubjectGranted    = "GRANTED"
	SubjectDeferred   = "DEFERRED"
	SubjectRestricted = "RESTRICTED"
	SubjectRefused    = "REFUSED"
)

// The records of informing a data subject.
const (
	InformingDone     = "DONE"
	InformingDeferred = "DEFERRED"
)

// DataSubject is the person who made a data subject's request.
type DataSubject struct {
	FullName    string `json:"full_name"`
	DateOfBirth string `json:"date_of_birth,omitempty"`
	Contact     string `json:"contact,omitempty"`
}

// DataSubjectDecision is a decision on a data subject's request.
type DataSubjectDecision struct {
	// Decision is GRANTED, DEFERRED, RESTRICTED or REFUSED.
	Decision   string    `json:"decision"`
	Reasons    string    `json:"reasons,omitempty"`
	ReviewTime time.Time `json:"review_time,omitzero"`
	DecidedBy  Actor     `json:"decided_by,omitzero"`
	DecideTime time.Time `json:"decide_time,omitzero"`
}

// DataSubjectInforming records whether the person was informed of a
// measure concerning them.
type DataSubjectInforming struct {
	// Status is DONE or DEFERRED.
	Status     string    `json:"status"`
	Reasons    string    `json:"reasons,omitempty"`
	ReviewTime time.Time `json:"review_time,omitzero"`
	RecordedBy Actor     `json:"recorded_by,omitzero"`
	RecordTime time.Time `json:"record_time,omitzero"`
}

// DataSubjectRequest is a person's request for access to, correction or
// erasure of their data, recorded by a central authority of State, and
// what was decided (e-Evidence Art 13).
type DataSubjectRequest struct {
	ID     string      `json:"id"`
	State  string      `json:"state"`
	Agency string      `json:"agency"`
	Person DataSubject `json:"person"`
	// Right is ACCESS, CORRECTION or ERASURE.
	Right string `json:"right"`
	// Requests are the ids of the requests concerned.
	Requests    []string              `json:"requests,omitempty"`
	ReceiveTime time.Time             `json:"receive_time,omitzero"`
	Description string                `json:"description,omitempty"`
	Decisions   []DataSubjectDecision `json:"decisions,omitempty"`
	Informing   *DataSubjectInforming `json:"informing,omitempty"`
	RecordedBy  Actor                 `json:"recorded_by,omitzero"`
	CreateTime  time.Time             `json:"create_time,omitzero"`
	UpdateTime  time.Time             `json:"update_time,omitzero"`
	// Version counts changes; the store sets it. The etag derives from it.
	Version int64 `json:"version"`
}

// Etag is the opaque concurrency token of d's current version.
func (d DataSubjectRequest) Etag() string {
	return etagOf("dataSubjectRequests/"+d.ID, d.Version)
}

// Decision is the last decision, or nil before the first.
func (d DataSubjectRequest) Decision() *DataSubjectDecision {
	if len(d.Decisions) == 0 {
		return nil
	}
	return &d.Decisions[len(d.Decisions)-1]
}

// ReviewBy is when a deferral (of the decision or of informing the person)
// is to be reviewed: the earliest of the two that still stands; zero for
// none. Past it the request is overdue. The store keeps it in a column.
func (d DataSubjectRequest) ReviewBy() time.Time {
	var due time.Time
	if dec := d.Decision(); dec != nil && dec.Decision == SubjectDeferred {
		due = dec.ReviewTime
	}
	if in := d.Informing; in != nil && in.Status == InformingDeferred && !in.ReviewTime.IsZero() &&
		(due.IsZero() || in.ReviewTime.Before(due)) {
		due = in.ReviewTime
	}
	return due
}

// Overdue says whether a review date has passed at now.
func (d DataSubjectRequest) Overdue(now time.Time) bool {
	due := d.ReviewBy()
	return !due.IsZero() && now.After(due)
}
