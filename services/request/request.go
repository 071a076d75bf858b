// Package request is the heart of Comity: cooperation requests from a
// prosecutor's draft to a closed case across a border. It holds the domain
// types, the Store interface, the lifecycle with who may do what, the
// safeguards, the deadlines, and the need-to-know rules. The gRPC API and the
// SQLite and PostgreSQL stores are subpackages.
package request

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/internal/enum"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

// Status is where a request is in its lifecycle. Values are the proto enum
// value names.
type Status string

// The statuses of DESIGN §5.
const (
	Draft                  Status = "DRAFT"
	Submitted              Status = "SUBMITTED"
	Transmitted            Status = "TRANSMITTED"
	Acknowledged           Status = "ACKNOWLEDGED"
	ClarificationRequested Status = "CLARIFICATION_REQUESTED"
	Accepted               Status = "ACCEPTED"
	Refused                Status = "REFUSED"
	Executed               Status = "EXECUTED"
	Withdrawn              Status = "WITHDRAWN"
	Closed                 Status = "CLOSED"
	// The statuses of DESIGN §5.5a.
	PartiallyExecuted         Status = "PARTIALLY_EXECUTED"
	Postponed                 Status = "POSTPONED"
	ConditionsProposed        Status = "CONDITIONS_PROPOSED"
	AwaitingRequesterDecision Status = "AWAITING_REQUESTER_DECISION"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{Draft, Submitted, Transmitted, Acknowledged, ClarificationRequested,
	ConditionsProposed, Postponed, AwaitingRequesterDecision, Accepted, PartiallyExecuted,
	Refused, Executed, Withdrawn, Closed}

// Offence is the offence under investigation.
type Offence struct {
	Description           string `json:"description"`
	LegalQualification    string `json:"legal_qualification"`
	StatuteText           string `json:"statute_text"`
	MaximumPenaltyYears   int32  `json:"maximum_penalty_years"`
	DeathPenaltyPossible  bool   `json:"death_penalty_possible"`
	DeathPenaltyAssurance string `json:"death_penalty_assurance"`
}

// Person is a person concerned (Chisinau 7(1)(d)–(e)).
type Person struct {
	FullName    string `json:"full_name"`
	DateOfBirth string `json:"date_of_birth"`
	Nationality string `json:"nationality"`
	Role        string `json:"role"`
	// Kind is NATURAL or LEGAL; "" is a natural person (persons recorded
	// before the kind was asked).
	Kind               string           `json:"kind,omitempty" digest:"omitzero"`
	PlaceOfBirth       string           `json:"place_of_birth,omitempty" digest:"omitzero"`
	Residence          string           `json:"residence,omitempty" digest:"omitzero"`
	Occupation         string           `json:"occupation,omitempty" digest:"omitzero"`
	RegisteredAddress  string           `json:"registered_address,omitempty" digest:"omitzero"`
	RegistrationNumber string           `json:"registration_number,omitempty" digest:"omitzero"`
	Representatives    []Representative `json:"representatives,omitempty" digest:"omitzero"`
}

// Representative represents a person concerned.
type Representative struct {
	FullName string `json:"full_name"`
	Capacity string `json:"capacity,omitempty"`
	Address  string `json:"address,omitempty"`
}

// Identifier is something for which data is sought. Kind is the proto enum
// value name (IP_ADDRESS, EMAIL, …).
type Identifier struct {
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	StartTime time.Time `json:"start_time,omitzero"`
	EndTime   time.Time `json:"end_time,omitzero"`
}

// Deadlines are computed by the Policy at each transition.
type Deadlines struct {
	AcknowledgeBy         time.Time `json:"acknowledge_by,omitzero"`
	AnswerBy              time.Time `json:"answer_by,omitzero"`
	PreservationExpiresAt time.Time `json:"preservation_expires_at,omitzero"`
	// ExtensionRequestBy is when the requesting side should ask to extend
	// a preservation: expiry less the policy's notice.
	ExtensionRequestBy time.Time `json:"extension_request_by,omitzero" digest:"omitzero"`
	// ConfirmationDueBy is when a request recorded from a call must be
	// confirmed in writing.
	ConfirmationDueBy time.Time `json:"confirmation_due_by,omitzero" digest:"omitzero"`
	// EraseBy is when the request's personal data and content will be
	// erased under the retention policy: RetentionFrom plus the requesting
	// state's retention. It is computed when the request is read (the
	// retention is directory data), never stored.
	EraseBy time.Time `json:"erase_by,omitzero" digest:"omitzero"`
	// EvidenceEraseBy is when the evidence will be erased under a DELETE_BY
	// or RETURN condition, or a granted RETENTION consent's keep_until;
	// zero once erased.
	EvidenceEraseBy time.Time `json:"evidence_erase_by,omitzero" digest:"omitzero"`
	// ReportUseBy is when a REPORT_USE condition asks for a report of use,
	// until one is made.
	ReportUseBy time.Time `json:"report_use_by,omitzero" digest:"omitzero"`
	// LegalHoldReviewBy is when the legal hold is to be reviewed, while it
	// holds.
	LegalHoldReviewBy time.Time `json:"legal_hold_review_by,omitzero" digest:"omitzero"`
}

// Acceptance is the requested side's decision to execute.
type Acceptance struct {
	// DualCriminality is MET or NOT_REQUIRED.
	DualCriminality     string `json:"dual_criminality"`
	HumanRightsConcerns bool   `json:"human_rights_concerns"`
	HumanRightsNote     string `json:"human_rights_note"`
	Conditions          string `json:"conditions"`
	// UseConditions are conditions on the use of what is provided, which
	// bind the requesting side (DESIGN §10).
	UseConditions []Condition `json:"use_conditions,omitempty" digest:"omitzero"`
}

// Refusal is the requested side's refusal.
type Refusal struct {
	// Grounds are proto enum value names (POLITICAL_OFFENCE, …).
	Grounds     []string `json:"grounds,omitempty"`
	Explanation string   `json:"explanation"`
	// Consultation is required unless the request is a preservation.
	Consultation *Consultation `json:"consultation,omitempty"`
}

// Consultation records that granting in part or under conditions was
// considered before a refusal (Budapest 27(6), UNTOC 18(26)).
type Consultation struct {
	Note string    `json:"note"`
	Time time.Time `json:"time,omitzero"`
}

// Execution is one delivery of the requested side's response.
type Execution struct {
	ResponseSummary string `json:"response_summary"`
	Partial         bool   `json:"partial"`
	// Items are the outcomes item by item; empty for a delivery recorded
	// before items were kept.
	Items []ExecutionItem `json:"items,omitempty"`
	// Attachments are attachment ids.
	Attachments []string  `json:"attachments,omitempty"`
	ExecutedBy  Actor     `json:"executed_by,omitzero"`
	ExecuteTime time.Time `json:"execute_time,omitzero"`
}

// ExecutionItem is the outcome for one identifier and data category.
type ExecutionItem struct {
	// IdentifierIndex indexes the request's Identifiers.
	IdentifierIndex int32  `json:"identifier_index"`
	DataCategory    string `json:"data_category"`
	// Outcome is PROVIDED, NOT_HELD, NOT_RETAINED, REFUSED, POSTPONED or
	// IMPOSSIBLE.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// Attachments are attachment ids.
	Attachments []string `json:"attachments,omitempty"`
}

// RelationKind is the kind of a RelatedRequest: a proto enum value name.
type RelationKind string

// The relations of DESIGN §5.1.
const (
	FollowUpOf  RelationKind = "FOLLOW_UP_OF"
	ExtensionOf RelationKind = "EXTENSION_OF"
	Supersedes  RelationKind = "SUPERSEDES"
	SpawnedBy   RelationKind = "SPAWNED_BY"
	// Related is a relation without a stated kind: those recorded before
	// relations were typed.
	Related RelationKind = "RELATED"
)

// RelatedRequest is a typed relation to another request.
type RelatedRequest struct {
	Kind RelationKind `json:"kind"`
	// Request is the other request's id.
	Request string `json:"request"`
}

// MarshalJSON writes an untyped (RELATED) relation as the bare id that
// documents held before relations were typed, so that those documents
// re-encode as they were; any other as {"kind","request"}.
func (rr RelatedRequest) MarshalJSON() ([]byte, error) {
	if rr.Kind == Related {
		return json.Marshal(rr.Request)
	}
	type plain RelatedRequest
	return json.Marshal(plain(rr))
}

// UnmarshalJSON reads a relation as stored now ({"kind","request"}) or
// as a bare id, the form of documents written before relations were typed,
// which becomes a RELATED relation.
func (rr *RelatedRequest) UnmarshalJSON(b []byte) error {
	var id string
	if err := json.Unmarshal(b, &id); err == nil {
		*rr = RelatedRequest{Kind: Related, Request: id}
		return nil
	}
	type plain RelatedRequest
	return json.Unmarshal(b, (*plain)(rr))
}

// Custodian is the provider holding the data to preserve.
type Custodian struct {
	Provider         string `json:"provider"`
	Country          string `json:"country"`
	Service          string `json:"service"`
	AccountReference string `json:"account_reference"`
}

// FollowUpIntended says that a production request will follow a
// preservation, and its type.
type FollowUpIntended struct {
	Intended       bool                    `json:"intended"`
	ProductionType cooperation.RequestType `json:"production_type,omitempty"`
}

// PreservationState is the state of an executed preservation: a proto
// enum value name.
type PreservationState string

// The preservation states of DESIGN §5.1.
const (
	Preserved           PreservationState = "PRESERVED"
	HeldPendingFollowUp PreservationState = "HELD_PENDING_FOLLOW_UP"
	Expired             PreservationState = "EXPIRED"
	Released            PreservationState = "RELEASED"
)

// Preservation is the state of an executed preservation.
type Preservation struct {
	State PreservationState `json:"state"`
	// ExpiresAt is the one expiry; Deadlines.PreservationExpiresAt mirrors
	// it.
	ExpiresAt  time.Time               `json:"expires_at,omitzero"`
	Extensions []PreservationExtension `json:"extensions,omitempty"`
	// HeldBy is the id of the follow-up holding it.
	HeldBy string `json:"held_by,omitempty"`
	// HeldAlsoBy are the ids of the other follow-ups transmitted while it
	// was held, in order, all still pending: when HeldBy's is answered or
	// withdrawn the hold passes to the first of them, so that the data is
	// kept until every follow-up is decided (Budapest 29(7)).
	HeldAlsoBy    []string `json:"held_also_by,omitempty"`
	ReleaseReason string   `json:"release_reason,omitempty"`
}

// PreservationExtension is one extension asked for, granted or declined.
type PreservationExtension struct {
	RequestedBy Actor  `json:"requested_by,omitzero"`
	Days        int32  `json:"days"`
	Reason      string `json:"reason,omitempty"`
	// Decision is PENDING, GRANTED or DECLINED.
	Decision      string    `json:"decision"`
	DecidedBy     Actor     `json:"decided_by,omitzero"`
	RequestTime   time.Time `json:"request_time,omitzero"`
	DecideTime    time.Time `json:"decide_time,omitzero"`
	DeclineReason string    `json:"decline_reason,omitempty"`
}

// ChainDisclosure records that preserved traffic data shows another
// provider in another state (Budapest 30).
type ChainDisclosure struct {
	Provider     string    `json:"provider"`
	Country      string    `json:"country"`
	Explanation  string    `json:"explanation"`
	DisclosedBy  Actor     `json:"disclosed_by,omitzero"`
	DiscloseTime time.Time `json:"disclose_time,omitzero"`
}

// Impediment is what the requested side reports as impeding execution.
type Impediment struct {
	// Kind is INCOMPLETE, MANIFEST_ERROR, DE_FACTO_IMPOSSIBLE or
	// SIGNIFICANT_DELAY.
	Kind         string    `json:"kind"`
	Explanation  string    `json:"explanation"`
	ExpectedTime time.Time `json:"expected_time,omitzero"`
	ReportedBy   Actor     `json:"reported_by,omitzero"`
	ReportTime   time.Time `json:"report_time,omitzero"`
}

// Postponement is the requested side's postponement of execution.
type Postponement struct {
	Until        time.Time `json:"until,omitzero"`
	Reason       string    `json:"reason"`
	ResumeStatus Status    `json:"resume_status"`
	PostponedBy  Actor     `json:"postponed_by,omitzero"`
	PostponeTime time.Time `json:"postpone_time,omitzero"`
	ResumeTime   time.Time `json:"resume_time,omitzero"`
	// PausedAnswerBy is the answer deadline when execution was postponed,
	// set aside while it is (the request's own is empty then); :resume
	// restores it moved on by the time spent postponed.
	PausedAnswerBy time.Time `json:"paused_answer_by,omitzero"`
}

// Condition is a condition on the use of what the requested side provides
// (DESIGN §10).
type Condition struct {
	// Kind is USE_ONLY_STATED_PROCEEDINGS, CONFIDENTIAL,
	// NO_ONWARD_TRANSFER, DELETE_BY, RETURN, REPORT_USE or OTHER.
	Kind    string    `json:"kind"`
	Text    string    `json:"text,omitempty"`
	DueTime time.Time `json:"due_time,omitzero"`
}

// Cost is what execution costs and who bears it (UNTOC 18(28)).
type Cost struct {
	// Kind is ORDINARY or EXTRAORDINARY.
	Kind     string `json:"kind"`
	Estimate string `json:"estimate,omitempty"`
	Currency string `json:"currency,omitempty"`
	Bearer   string `json:"bearer,omitempty"`
}

// ConditionsProposal is the requested side's proposal of conditions and
// costs and the requesting side's decision.
type ConditionsProposal struct {
	Conditions  []Condition `json:"conditions,omitempty"`
	Cost        *Cost       `json:"cost,omitempty"`
	ProposedBy  Actor       `json:"proposed_by,omitzero"`
	ProposeTime time.Time   `json:"propose_time,omitzero"`
	// Decision is PENDING, ACCEPTED or REJECTED.
	Decision     string    `json:"decision"`
	DecidedBy    Actor     `json:"decided_by,omitzero"`
	DecideTime   time.Time `json:"decide_time,omitzero"`
	RejectReason string    `json:"reject_reason,omitempty"`
}

// Intake is how a request reached Comity.
type Intake struct {
	// Channel is PORTAL, PHONE, EMAIL, INTERPOL, DIPLOMATIC or OTHER.
	Channel      string    `json:"channel"`
	ReceivedTime time.Time `json:"received_time,omitzero"`
	Caller       string    `json:"caller,omitempty"`
	RecordedBy   Actor     `json:"recorded_by,omitzero"`
	ConfirmTime  time.Time `json:"confirm_time,omitzero"`
	ConfirmedBy  Actor     `json:"confirmed_by,omitzero"`
}

// Oral says whether r was recorded from a call or another channel outside
// Comity.
func (r Request) Oral() bool {
	return r.Intake != nil && r.Intake.Channel != "" && r.Intake.Channel != "PORTAL"
}

// Confidentiality says what must stay confidential.
type Confidentiality struct {
	Request             bool   `json:"request"`
	ObtainedInformation bool   `json:"obtained_information"`
	Reason              string `json:"reason,omitempty"`
}

// ConfidentialityDeclaration is the requested side's declaration that it
// cannot keep the request confidential.
type ConfidentialityDeclaration struct {
	Explanation  string    `json:"explanation"`
	ResumeStatus Status    `json:"resume_status"`
	DeclaredBy   Actor     `json:"declared_by,omitzero"`
	DeclareTime  time.Time `json:"declare_time,omitzero"`
	ProceedTime  time.Time `json:"proceed_time,omitzero"`
}

// InvestigatingAuthority is the authority conducting the investigation.
type InvestigatingAuthority struct {
	Name       string `json:"name"`
	CaseNumber string `json:"case_number"`
}

// RequestedProcedure is how the requesting side wants the procedure
// carried out.
type RequestedProcedure struct {
	Format        string `json:"format"`
	Certification string `json:"certification"`
}

// Contact is whom the requested side can reach about a request.
type Contact struct {
	FullName string `json:"full_name"`
	Phone    string `json:"phone"`
	Email    string `json:"email"`
	Hours    string `json:"hours"`
	TimeZone string `json:"time_zone"`
}

// Request is a cooperation request. Each field's tags say its name (json:
// the API's and the stored document's) and how the rules treat it (class);
// see fields.go.
type Request struct {
	// ID is the resource id (a UUIDv7); the name is "requests/" + ID.
	ID string `json:"id" class:"metadata,server,immutable"`
	// Reference is e.g. KZ-2026-000042, assigned by the store at creation.
	Reference        string                  `json:"reference" class:"metadata,server,immutable"`
	Type             cooperation.RequestType `json:"type" class:"metadata"`
	Priority         cooperation.Priority    `json:"priority" class:"metadata"`
	EmergencyReason  string                  `json:"emergency_reason" class:"content"`
	RequestingAgency string                  `json:"requesting_agency" class:"metadata,server,immutable"`
	RequestingState  string                  `json:"requesting_state" class:"metadata,server,immutable"`
	// Owner is the subject of the prosecutor who owns the request; empty
	// for a request recorded from a call until a prosecutor confirms it.
	// It changes only by :transferOwnership and :confirmInWriting.
	Owner           string `json:"owner" class:"metadata,server"`
	RequestedState  string `json:"requested_state" class:"metadata"`
	RequestedAgency string `json:"requested_agency" class:"metadata"`
	// LegalBasis is the proto enum value name, e.g. CHISINAU_CONVENTION_2002.
	LegalBasis                     string           `json:"legal_basis" class:"metadata"`
	TreatyCitation                 string           `json:"treaty_citation" class:"content"`
	CaseReference                  string           `json:"case_reference" class:"content"`
	Offence                        Offence          `json:"offence" class:"content"`
	FactsSummary                   string           `json:"facts_summary" class:"content"`
	Persons                        []Person         `json:"persons,omitempty" class:"content"`
	Identifiers                    []Identifier     `json:"identifiers,omitempty" class:"content"`
	DataCategories                 []string         `json:"data_categories,omitempty" class:"content"`
	NecessityAndProportionality    string           `json:"necessity_and_proportionality" class:"content"`
	JudicialAuthorisationReference string           `json:"judicial_authorisation_reference" class:"content"`
	Confidential                   bool             `json:"confidential" class:"metadata"`
	UseLimitations                 string           `json:"use_limitations" class:"content"`
	Language                       string           `json:"language" class:"metadata"`
	RequestedResponseTime          time.Time        `json:"requested_response_time,omitzero" class:"metadata"`
	RelatedRequests                []RelatedRequest `json:"related_requests,omitempty" class:"content"`

	Status     Status      `json:"status" class:"metadata,server"`
	Deadlines  Deadlines   `json:"deadlines,omitzero" class:"metadata,server"`
	Acceptance *Acceptance `json:"acceptance,omitempty" class:"content,server"`
	Refusal    *Refusal    `json:"refusal,omitempty" class:"content,server"`
	Execution  *Execution  `json:"execution,omitempty" class:"content,server"`
	// TransmitTime, AcknowledgeTime and AnswerTime (execution or refusal)
	// feed deadlines and statistics; zero until they happen.
	TransmitTime    time.Time `json:"transmit_time,omitzero" class:"metadata,server"`
	AcknowledgeTime time.Time `json:"acknowledge_time,omitzero" class:"metadata,server"`
	AnswerTime      time.Time `json:"answer_time,omitzero" class:"metadata,server"`
	// Clarifications are the rounds of questions and answers, oldest
	// first; while the request is CLARIFICATION_REQUESTED the last one is
	// unanswered.
	Clarifications []Clarification `json:"clarifications,omitempty" class:"content,server"`

	// The fields of DESIGN §5.1–§5.5. Each is absent (nil or zero) in a
	// request stored before them; BodyDigest leaves them out while zero.
	Custodian                  *Custodian                  `json:"custodian,omitempty" class:"content" digest:"omitzero"`
	FollowUpIntended           *FollowUpIntended           `json:"follow_up_intended,omitempty" class:"content" digest:"omitzero"`
	Preservation               *Preservation               `json:"preservation,omitempty" class:"content,server" digest:"omitzero"`
	ChainDisclosures           []ChainDisclosure           `json:"chain_disclosures,omitempty" class:"content,server" digest:"omitzero"`
	Deliveries                 []Execution                 `json:"deliveries,omitempty" class:"content,server" digest:"omitzero"`
	Impediments                []Impediment                `json:"impediments,omitempty" class:"content,server" digest:"omitzero"`
	Postponement               *Postponement               `json:"postponement,omitempty" class:"content,server" digest:"omitzero"`
	ConditionsProposal         *ConditionsProposal         `json:"conditions_proposal,omitempty" class:"content,server" digest:"omitzero"`
	Intake                     *Intake                     `json:"intake,omitempty" class:"content,server" digest:"omitzero"`
	Confidentiality            *Confidentiality            `json:"confidentiality,omitempty" class:"content" digest:"omitzero"`
	ConfidentialityDeclaration *ConfidentialityDeclaration `json:"confidentiality_declaration,omitempty" class:"content,server" digest:"omitzero"`
	InvestigatingAuthority     *InvestigatingAuthority     `json:"investigating_authority,omitempty" class:"content" digest:"omitzero"`
	Purpose                    string                      `json:"purpose,omitempty" class:"content" digest:"omitzero"`
	RequestedProcedure         *RequestedProcedure         `json:"requested_procedure,omitempty" class:"content" digest:"omitzero"`
	Contact                    *Contact                    `json:"contact,omitempty" class:"content" digest:"omitzero"`
	// LegalBasisUnconfirmed is set at submission when the directory does
	// not know whether the legal basis is in force between the two states.
	LegalBasisUnconfirmed bool `json:"legal_basis_unconfirmed,omitempty" class:"metadata,server" digest:"omitzero"`

	// The fields of DESIGN §10 (data protection).
	ConditionsAcknowledgement *ConditionsAcknowledgement `json:"conditions_acknowledgement,omitempty" class:"content,server" digest:"omitzero"`
	Consents                  []Consent                  `json:"consents,omitempty" class:"content,server" digest:"omitzero"`
	OnwardTransfers           []OnwardTransfer           `json:"onward_transfers,omitempty" class:"content,server" digest:"omitzero"`
	UseReports                []UseReport                `json:"use_reports,omitempty" class:"content,server" digest:"omitzero"`
	LegalHold                 *LegalHold                 `json:"legal_hold,omitempty" class:"content,server" digest:"omitzero"`
	// Erasures are what was erased of the request, oldest first: metadata,
	// which outlives the content.
	Erasures []Erasure `json:"erasures,omitempty" class:"metadata,server" digest:"omitzero"`
	// CloseTime is when the request was closed; zero for one closed before
	// it was kept (RetentionFrom is then its last change).
	CloseTime time.Time `json:"close_time,omitzero" class:"metadata,server" digest:"omitzero"`

	// Version counts changes; the store sets it. The etag derives from it.
	Version    int64     `json:"version" class:"metadata,server"`
	CreateTime time.Time `json:"create_time,omitzero" class:"metadata,server"`
	UpdateTime time.Time `json:"update_time,omitzero" class:"metadata,server"`
}

// Etag is the opaque concurrency token of the request's current version.
func (r Request) Etag() string { return etagOf("requests/"+r.ID, r.Version) }

// etagOf is the etag of version of the resource called name.
func etagOf(name string, version int64) string {
	h := sha256.New()
	h.Write([]byte(name))
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(version))
	h.Write(v[:])
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// Actor is who did something.
type Actor struct {
	Subject string `json:"subject"`
	Name    string `json:"name"`
	Agency  string `json:"agency"`
}

// Clarification is one round of the requested side's questions and the
// requesting side's answers. Migration 0005 of both stores writes its
// stored form (the json names) when it carries the questions and answers
// over from the history: keep the two in step.
type Clarification struct {
	Question string    `json:"question"`
	AskedBy  Actor     `json:"asked_by,omitzero"`
	AskTime  time.Time `json:"ask_time,omitzero"`
	// Answer, AnsweredBy, AnswerTime and AnswerAttachments (attachment ids)
	// are zero until the answer.
	Answer            string    `json:"answer,omitempty"`
	AnsweredBy        Actor     `json:"answered_by,omitzero"`
	AnswerTime        time.Time `json:"answer_time,omitzero"`
	AnswerAttachments []string  `json:"answer_attachments,omitempty"`
}

// HistoryEntry is one status change of a request.
type HistoryEntry struct {
	// Seq orders every history entry of the store; Watch resumes after it.
	Seq       int64
	RequestID string
	Reference string
	// From is "" for creation.
	From   Status
	To     Status
	Action string
	Actor  Actor
	Time   time.Time
	Reason string
	// The parties as they were after the change. Watch decides on Snapshot;
	// it falls back on these (and the request as it is now) only for an
	// entry without one.
	RequestingAgency string
	RequestingState  string
	RequestedAgency  string
	RequestedState   string
	Owner            string
	// Snapshot is the request's metadata (redact) and clarifications right
	// after the change, what Watch decides and filters on; nil for entries
	// written before the store kept snapshots.
	Snapshot *Request
}

// Message is correspondence on a request.
type Message struct {
	ID        string
	RequestID string
	Body      string
	// Visibility is BOTH_SIDES or OWN_AGENCY.
	Visibility string
	Author     Actor
	CreateTime time.Time
}

// Attachment is a file attached to a request; its content is in the blob
// store under BlobKey.
type Attachment struct {
	ID         string
	RequestID  string
	Kind       string
	Filename   string
	MediaType  string
	Language   string
	SHA256     string
	SizeBytes  int64
	BlobKey    string
	Uploader   Actor
	CreateTime time.Time
	// EraseTime is when the content was erased (zero while it is kept):
	// the blob is gone, SHA256 and SizeBytes remain, and Filename is empty
	// when the whole request was erased.
	EraseTime time.Time
}

// RequestSchema declares what ListRequests can filter and order on, in the
// API's names; the store maps them to its columns. Visibility conditions
// built by the Service use the same fields, plus those StoreSchema adds.
var RequestSchema = query.Schema{
	{Name: "status", Kind: query.Enum, Enum: enum.Strings(Statuses)},
	{Name: "type", Kind: query.Enum, Enum: enum.Strings(cooperation.RequestTypes)},
	{Name: "priority", Kind: query.Enum, Enum: []string{string(cooperation.Routine), string(cooperation.Urgent), string(cooperation.Emergency)}},
	{Name: "requestingState", Kind: query.String, Upper: true},
	{Name: "requestedState", Kind: query.String, Upper: true},
	{Name: "requestingAgency", Kind: query.String},
	{Name: "requestedAgency", Kind: query.String},
	{Name: "overdue", Kind: query.Bool},
	{Name: "createTime", Kind: query.Timestamp},
	{Name: "updateTime", Kind: query.Timestamp},
	{Name: "reference", Kind: query.String, Upper: true},
}

// OrderSchema declares what ListRequests can order on: RequestSchema but
// overdue, which is computed at the time of the read and is not stored.
var OrderSchema = slices.DeleteFunc(slices.Clone(RequestSchema), func(f query.Field) bool { return f.Name == "overdue" })

// StoreSchema is RequestSchema plus the fields the Service's visibility and
// overdue conditions use. Stores compile ListQuery with it, supplying the
// columns; "overdue" never reaches them (the Service rewrites it into
// deadline comparisons).
var StoreSchema = append(query.Schema{
	{Name: "owner", Kind: query.String},
	{Name: "transmitted", Kind: query.Bool},
	{Name: "acknowledgeBy", Kind: query.Timestamp},
	{Name: "answerBy", Kind: query.Timestamp},
	// confirmationDueBy is absent (NULL) but for a request recorded from a
	// call that is not yet confirmed.
	{Name: "confirmationDueBy", Kind: query.Timestamp},
	// The fields of DESIGN §10: obligationDueBy is absent (NULL) but for a
	// request with an open obligation (ObligationDueBy), compared as
	// confirmationDueBy is; the others are what the retention sweep
	// selects on (RetentionStart, Deadlines.EvidenceEraseBy,
	// ErasurePending).
	{Name: "obligationDueBy", Kind: query.Timestamp},
	{Name: "retentionFrom", Kind: query.Timestamp},
	{Name: "evidenceEraseBy", Kind: query.Timestamp},
	{Name: "erasurePending", Kind: query.Bool},
}, RequestSchema...)

// ListQuery selects a page of requests.
type ListQuery struct {
	// Filter is nil for all; its fields are those of StoreSchema.
	Filter  query.Expr
	OrderBy []query.Order
	Offset  int
	// Limit is the page size; 0 means no limit.
	Limit int
	// CountLimit bounds the count of matching requests (Page.Total): a
	// list of a large store must not cost the whole store's size on every
	// page. 0 means an exact count.
	CountLimit int
}

// Page is one page of requests and the number matching.
type Page struct {
	Requests []Request
	// Total is the number of requests matching; with a CountLimit, at most
	// CountLimit+1, which means "more than CountLimit".
	Total int
	// More says that requests match beyond this page (with a Limit).
	More bool
}

// Change is what a store writes for one successful state-changing call: the
// new state of the request, the history entry when the status changed, and
// the audit event, all in one transaction.
type Change struct {
	// History is nil when the status did not change (an Update of a draft).
	History *HistoryEntry
	// Event is written to the audit outbox.
	Event trail.Event
}

// IdempotencyKey makes a create safe to retry (AIP-155): a second create
// with the same key returns the request the first one made. A user is known
// by issuer and subject together (a `sub` is unique only at its issuer), and
// acts for one agency, so all three scope the caller's key: no one else's
// key can ever name that user's request.
type IdempotencyKey struct {
	Issuer  string
	Subject string
	Agency  string
	// Key is the caller's request_id; empty means the create is not
	// idempotent.
	Key string
	// BodySHA256 is the hex SHA-256 of the create's canonical body (see
	// BodyDigest), stored with the key so that the key reused for another
	// request is refused rather than answered with the first one.
	BodySHA256 string
}

// KeyReused is the error of a create whose request_id was already used by
// the same user for a different request.
func KeyReused(key string) error {
	var vs errs.Violations
	vs.Add("request_id", "%q was already used for a different request: send the same request to get the request it created, or use a new request_id", clipKey(key))
	return vs.Err(errs.AlreadyExists, "request_id reused for a different request")
}

// clipKey shortens a caller's key before it is quoted in an error.
func clipKey(k string) string {
	const maxLen = 64
	if len(k) <= maxLen {
		return k
	}
	return strings.ToValidUTF8(k[:maxLen], "") + "…"
}

// BodyDigest returns the hex SHA-256 of the canonical form of a create's
// body d (see canonicalJSON). It stays in the service's own database, with
// the key it belongs to.
func BodyDigest(d Request) (string, error) {
	var b bytes.Buffer
	if err := canonicalJSON(&b, reflect.ValueOf(d)); err != nil {
		return "", fmt.Errorf("request body digest: %w", err)
	}
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	relatedType = reflect.TypeFor[RelatedRequest]()
)

// canonicalJSON writes v as encoding/json wrote the domain types before
// they had tags: every field under its Go name, in declaration order, none
// omitted but those added later (tagged digest:"omitzero") while zero, and
// an untyped relation as the bare id it was. Digests kept with idempotency keys were made so, and must stay
// what a retry of the same body computes.
func canonicalJSON(b *bytes.Buffer, v reflect.Value) error {
	switch {
	case v.Type() == timeType:
	case v.Type() == relatedType && v.Interface().(RelatedRequest).Kind == Related:
		// The form of a relation before relations were typed.
		v = v.FieldByName("Request")
	case v.Kind() == reflect.Struct:
		b.WriteByte('{')
		first := true
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if sf.Tag.Get("digest") == "omitzero" && v.Field(i).IsZero() {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			fmt.Fprintf(b, "%q:", sf.Name)
			if err := canonicalJSON(b, v.Field(i)); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	case v.Kind() == reflect.Slice && !v.IsNil(), v.Kind() == reflect.Pointer && !v.IsNil():
		if v.Kind() == reflect.Pointer {
			return canonicalJSON(b, v.Elem())
		}
		b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := canonicalJSON(b, v.Index(i)); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	leaf, err := json.Marshal(v.Interface())
	b.Write(leaf)
	return err
}

// Store keeps requests, their history, messages, attachment records and the
// audit outbox. Implementations must be safe for concurrent use, including by
// several replicas on one PostgreSQL database.
type Store interface {
	trail.Recorder

	// Create stores a new request, assigning Reference as
	// "<RequestingState>-<year of CreateTime>-<6-digit sequence>": unique and
	// gap-free per requesting state and year, also under concurrent creation
	// by several processes. It sets Version to 1 and writes the change's
	// history entry (with RequestID and Reference filled in) and event in
	// the same transaction. When key.Key is not empty and a request was
	// already created with the same key (see IdempotencyKey), it writes
	// nothing and returns that request with created false, or, when the
	// body digest stored with the key differs from key.BodySHA256, the
	// error of KeyReused.
	Create(ctx context.Context, r Request, key IdempotencyKey, ch Change) (_ Request, created bool, _ error)
	// Get returns the request, or an error matching errs.ErrNotFound.
	Get(ctx context.Context, id string) (Request, error)
	// List returns a page of the requests matching q.
	List(ctx context.Context, q ListQuery) (Page, error)
	// Update reads the request, calls fn on it, and when fn returns nil
	// writes the request with Version incremented together with the Change
	// fn returned, in one transaction; concurrent updates of one request are
	// serialised, so fn always sees the latest version and exactly one of two
	// racing transitions wins. An error from fn is returned as is and nothing
	// is written. A missing request is errs.ErrNotFound. fn must not call
	// the store.
	Update(ctx context.Context, id string, fn func(*Request) (Change, error)) (Request, error)
	// UpdatePair is Update of two requests in one transaction, for an
	// action on request id that changes request other too (a follow-up's
	// transmission holds the preservation it follows, Budapest 29(7)). It
	// reads and locks both as Update locks one (in an order of its own, so
	// that two pairs never wait on each other), calls fn on them, and when
	// fn returns nil writes id with Version incremented and the first
	// Change, and other likewise with the second when it is not nil (nil:
	// other is left as it was). Everything is written or nothing; an error
	// from fn is returned as is. A missing request is errs.ErrNotFound. id
	// and other must differ. fn must not call the store.
	UpdatePair(ctx context.Context, id, other string, fn func(r, o *Request) (Change, *Change, error)) (Request, error)

	// History returns the status changes of a request, oldest first.
	History(ctx context.Context, id string) ([]HistoryEntry, error)
	// HistoryAfter returns up to limit history entries of all requests with
	// Seq > after, in Seq order: the feed Watch follows.
	HistoryAfter(ctx context.Context, after int64, limit int) ([]HistoryEntry, error)
	// LastHistorySeq returns the highest Seq written so far (0 if none).
	LastHistorySeq(ctx context.Context) (int64, error)

	// CreateMessage stores a message and its event in one transaction. It
	// fails with errs.ErrNotFound when the request is not there, and with
	// ContentErasedErr's FAILED_PRECONDITION when its content was erased
	// (decided under the request's lock, as Erase takes it): a message
	// written after an erasure would outlive it.
	CreateMessage(ctx context.Context, m Message, ev trail.Event) (Message, error)
	// ListMessages returns a request's messages oldest first, from offset,
	// at most limit (0: all).
	ListMessages(ctx context.Context, requestID string, offset, limit int) ([]Message, error)

	// CreateAttachment stores an attachment record and its event in one
	// transaction; the content is already in the blob store. It fails as
	// CreateMessage does, for an absent request and for one whose content
	// was erased (an upload that ran while the sweep erased the request).
	CreateAttachment(ctx context.Context, a Attachment, ev trail.Event) (Attachment, error)
	// GetAttachment returns an attachment record, or errs.ErrNotFound.
	GetAttachment(ctx context.Context, requestID, id string) (Attachment, error)
	// ListAttachments returns a request's attachments oldest first.
	ListAttachments(ctx context.Context, requestID string) ([]Attachment, error)

	// StatisticsRows returns the requests statistics are computed from:
	// those not in DRAFT that q selects, oldest first.
	StatisticsRows(ctx context.Context, q StatisticsRowsQuery) ([]Request, error)

	// Erase is Update for an erasure (DESIGN §10), in one transaction: fn
	// changes the request (clearing its content, appending its Erasure)
	// and returns the change with its event; with it, when scope.Content,
	// every message of the request is deleted, the reasons of its history
	// entries blanked and their snapshots' clarifications removed, and
	// every attachment's file name cleared; the attachments of
	// scope.Attachments (all of them when scope.Content) not yet erased
	// get EraseTime now. It returns the request and the attachments it
	// marked, whose content (BlobKey) the caller then deletes. An error
	// from fn is returned as is and nothing is written.
	Erase(ctx context.Context, id string, scope EraseScope, fn func(r *Request) (Change, error)) (Request, []Attachment, error)
	// Compact makes what was erased unreadable in the database's own
	// files: on SQLite (which runs with secure_delete, so that freed space
	// is zeroed) a WAL checkpoint that truncates the WAL; nothing on
	// PostgreSQL, whose dead tuples are VACUUM's.
	Compact(ctx context.Context) error

	// CreateDataSubjectRequest stores a data subject's request and its
	// event in one transaction, setting Version to 1.
	CreateDataSubjectRequest(ctx context.Context, d DataSubjectRequest, ev trail.Event) (DataSubjectRequest, error)
	// GetDataSubjectRequest returns one, or an error matching
	// errs.ErrNotFound.
	GetDataSubjectRequest(ctx context.Context, id string) (DataSubjectRequest, error)
	// ListDataSubjectRequests returns those of state, newest first
	// (receive time, then id), from offset, at most limit (0: all), and
	// whether more follow.
	ListDataSubjectRequests(ctx context.Context, state string, offset, limit int) ([]DataSubjectRequest, bool, error)
	// UpdateDataSubjectRequest reads one, calls fn on it and, when fn
	// returns nil, writes it with Version incremented and the event fn
	// returned, in one transaction, serialised with other updates of it.
	UpdateDataSubjectRequest(ctx context.Context, id string, fn func(*DataSubjectRequest) (trail.Event, error)) (DataSubjectRequest, error)
}

// EraseScope is what an erasure removes besides what its fn clears of the
// request itself.
type EraseScope struct {
	// Content: everything of DESIGN §10's retention erasure (messages,
	// history reasons and snapshot texts, file names, every attachment's
	// content).
	Content bool
	// Attachments are the ids of the attachments whose content goes (the
	// evidence under a DELETE_BY or RETURN condition); ignored with
	// Content, which takes them all.
	Attachments []string
}

// Blobs keeps attachment content. Content is immutable once stored.
type Blobs interface {
	// Put streams r into a new blob, at most maxBytes long, computing its
	// SHA-256. When the content is longer than maxBytes it fails with
	// errs.ResourceExhausted, and when wantSHA256 (lower-case hex) is not
	// empty and differs from the content's it fails with errs.Invalid; in
	// both cases nothing is kept. It returns the blob's key, digest and size.
	Put(ctx context.Context, r io.Reader, maxBytes int64, wantSHA256 string) (key, sha256Hex string, size int64, err error)
	// Open returns the blob's content, or errs.ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes a blob: when recording its attachment failed, and
	// when its content is erased (DESIGN §10), which overwrites it first.
	// Deleting a blob that is not there is not an error, so that an
	// erasure can be finished again after a crash.
	Delete(ctx context.Context, key string) error
}
