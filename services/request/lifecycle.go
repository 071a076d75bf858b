package request

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/internal/enum"
	"github.com/comity-mla/comity/services/trail"
)

// act is an action on a request: Update, or a lifecycle custom method.
type act string

const (
	actUpdate               act = "update"
	actSubmit               act = "submit"
	actReturn               act = "return"
	actTransmit             act = "transmit"
	actAcknowledge          act = "acknowledge"
	actRequestClarification act = "requestClarification"
	actProvideClarification act = "provideClarification"
	actAccept               act = "accept"
	actRefuse               act = "refuse"
	actExecute              act = "execute"
	actExtendPreservation   act = "extendPreservation"
	actWithdraw             act = "withdraw"
	actClose                act = "close"

	// The actions of DESIGN §5.1–§5.5.
	actRequestExtension                 act = "requestExtension"
	actGrantExtension                   act = "grantExtension"
	actDeclineExtension                 act = "declineExtension"
	actReleasePreservation              act = "releasePreservation"
	actDiscloseChain                    act = "discloseChain"
	actDraftFollowUp                    act = "draftFollowUp"
	actNotifyImpediment                 act = "notifyImpediment"
	actPostpone                         act = "postpone"
	actResume                           act = "resume"
	actProposeConditions                act = "proposeConditions"
	actAcceptConditions                 act = "acceptConditions"
	actRejectConditions                 act = "rejectConditions"
	actConfirmInWriting                 act = "confirmInWriting"
	actDeclareConfidentialityImpossible act = "declareConfidentialityImpossible"
	actProceed                          act = "proceed"
	actTransferOwnership                act = "transferOwnership"

	// The actions of DESIGN §10.
	actAcknowledgeConditions act = "acknowledgeConditions"
	actRequestConsent        act = "requestConsent"
	actGrantConsent          act = "grantConsent"
	actRefuseConsent         act = "refuseConsent"
	actRecordOnwardTransfer  act = "recordOnwardTransfer"
	actReportUse             act = "reportUse"
	actSetLegalHold          act = "setLegalHold"
	actLiftLegalHold         act = "liftLegalHold"
)

// rule is one row of the lifecycle table of DESIGN §5.
type rule struct {
	from []Status
	// to is the status after the action; "" leaves it unchanged, or lets
	// the action's apply set it (:resume and :proceed return to the status
	// before, :execute with partial leads to PARTIALLY_EXECUTED).
	to Status
	// who says who may act, and whoText says it to a refused caller.
	who     func(p identity.Principal, r Request) bool
	whoText string
}

func owningProsecutor(p identity.Principal, r Request) bool {
	return p.HasRole(identity.Prosecutor) && p.Subject == r.Owner && p.Agency == r.RequestingAgency
}

func requestingCentralAuthority(p identity.Principal, r Request) bool {
	return p.HasRole(identity.CentralAuthority) && p.State == r.RequestingState
}

func requestedCentralAuthority(p identity.Principal, r Request) bool {
	return p.HasRole(identity.CentralAuthority) && p.Agency == r.RequestedAgency
}

// requestingSide is the owning prosecutor or the requesting state's
// central authority: who speaks for the requesting state on a request.
func requestingSide(p identity.Principal, r Request) bool {
	return owningProsecutor(p, r) || requestingCentralAuthority(p, r)
}

// requestingProsecutor is any prosecutor of the requesting agency: who may
// confirm a request recorded from a call (and become its owner) or draft a
// follow-up (and own the new draft).
func requestingProsecutor(p identity.Principal, r Request) bool {
	return p.HasRole(identity.Prosecutor) && p.Agency == r.RequestingAgency
}

// withdrawer is the owning prosecutor, or, for a request recorded from a
// call that no prosecutor has confirmed yet (it has no owner), the
// requesting state's central authority.
func withdrawer(p identity.Principal, r Request) bool {
	return owningProsecutor(p, r) || (r.Owner == "" && requestingCentralAuthority(p, r))
}

const (
	theOwningProsecutor   = "the owning prosecutor"
	theRequestingCA       = "the requesting state's central authority"
	theRequestedCA        = "the requested agency's central authority"
	theRequestingSide     = "the owning prosecutor or the requesting state's central authority"
	aRequestingProsecutor = "a prosecutor of the requesting agency"
)

// answered are the statuses after the requested side's answer, and
// pending those in which it is still to answer.
var (
	pending = []Status{Acknowledged, ClarificationRequested, ConditionsProposed, Postponed, AwaitingRequesterDecision, Accepted, PartiallyExecuted}
	// afterTransmission are the statuses a transmitted request can be in.
	afterTransmission = append(slices.Clone(pending), Transmitted, Executed, Refused, Withdrawn, Closed)
	// underConditions are the statuses in which use conditions can bind
	// (DESIGN §10): once accepted, with or without conditions of an
	// accepted proposal, and after, closed included (what was received is
	// still held and used).
	underConditions = []Status{Accepted, PartiallyExecuted, Executed, Postponed, AwaitingRequesterDecision, Withdrawn, Closed}
)

// lifecycle is the table of DESIGN §5: from which statuses each action may
// be taken, the status it leads to, and who may take it.
var lifecycle = map[act]rule{
	actUpdate:               {from: []Status{Draft}, who: owningProsecutor, whoText: theOwningProsecutor},
	actSubmit:               {from: []Status{Draft}, to: Submitted, who: owningProsecutor, whoText: theOwningProsecutor},
	actReturn:               {from: []Status{Submitted}, to: Draft, who: requestingCentralAuthority, whoText: theRequestingCA},
	actTransmit:             {from: []Status{Submitted}, to: Transmitted, who: requestingCentralAuthority, whoText: theRequestingCA},
	actAcknowledge:          {from: []Status{Transmitted}, to: Acknowledged, who: requestedCentralAuthority, whoText: theRequestedCA},
	actRequestClarification: {from: []Status{Acknowledged}, to: ClarificationRequested, who: requestedCentralAuthority, whoText: theRequestedCA},
	actProvideClarification: {from: []Status{ClarificationRequested}, to: Acknowledged, who: owningProsecutor, whoText: theOwningProsecutor},
	actAccept:               {from: []Status{Acknowledged}, to: Accepted, who: requestedCentralAuthority, whoText: theRequestedCA},
	actRefuse:               {from: []Status{Acknowledged}, to: Refused, who: requestedCentralAuthority, whoText: theRequestedCA},
	// :execute leads to EXECUTED, or with partial to PARTIALLY_EXECUTED
	// (its apply sets which).
	actExecute:            {from: []Status{Accepted, PartiallyExecuted}, who: requestedCentralAuthority, whoText: theRequestedCA},
	actExtendPreservation: {from: []Status{Executed}, who: requestedCentralAuthority, whoText: theRequestedCA},
	actWithdraw: {from: []Status{Draft, Submitted, Transmitted, Acknowledged, ClarificationRequested, Accepted,
		PartiallyExecuted, Postponed, ConditionsProposed, AwaitingRequesterDecision}, to: Withdrawn,
		who: withdrawer, whoText: theOwningProsecutor},
	actClose: {from: []Status{Executed, Refused, Withdrawn}, to: Closed,
		who: func(p identity.Principal, r Request) bool {
			return requestingCentralAuthority(p, r) || owningProsecutor(p, r)
		}, whoText: "the requesting state's central authority or the owning prosecutor"},

	// §5.1 Preservation.
	actRequestExtension:    {from: []Status{Executed}, who: requestingSide, whoText: theRequestingSide},
	actGrantExtension:      {from: []Status{Executed}, who: requestedCentralAuthority, whoText: theRequestedCA},
	actDeclineExtension:    {from: []Status{Executed}, who: requestedCentralAuthority, whoText: theRequestedCA},
	actReleasePreservation: {from: []Status{Executed}, who: requestingSide, whoText: theRequestingSide},
	actDiscloseChain:       {from: []Status{Accepted, PartiallyExecuted, Executed}, who: requestedCentralAuthority, whoText: theRequestedCA},
	actDraftFollowUp:       {from: afterTransmission, who: requestingProsecutor, whoText: aRequestingProsecutor},
	// §5.2 Execution, postponement, conditions.
	actNotifyImpediment:  {from: []Status{Acknowledged, Accepted, PartiallyExecuted}, who: requestedCentralAuthority, whoText: theRequestedCA},
	actPostpone:          {from: []Status{Acknowledged, Accepted}, to: Postponed, who: requestedCentralAuthority, whoText: theRequestedCA},
	actResume:            {from: []Status{Postponed}, who: requestedCentralAuthority, whoText: theRequestedCA},
	actProposeConditions: {from: []Status{Acknowledged}, to: ConditionsProposed, who: requestedCentralAuthority, whoText: theRequestedCA},
	actAcceptConditions:  {from: []Status{ConditionsProposed}, to: Accepted, who: requestingSide, whoText: theRequestingSide},
	actRejectConditions:  {from: []Status{ConditionsProposed}, to: Acknowledged, who: requestingSide, whoText: theRequestingSide},
	// §5.3 Urgent requests received by phone.
	actConfirmInWriting: {from: pending, who: requestingProsecutor, whoText: aRequestingProsecutor},
	// §5.4 Confidentiality.
	actDeclareConfidentialityImpossible: {from: []Status{Acknowledged, Accepted, PartiallyExecuted}, to: AwaitingRequesterDecision,
		who: requestedCentralAuthority, whoText: theRequestedCA},
	actProceed: {from: []Status{AwaitingRequesterDecision}, who: requestingSide, whoText: theRequestingSide},
	// §5.5 Ownership.
	actTransferOwnership: {from: []Status{Draft, Submitted, Transmitted, Acknowledged, ClarificationRequested, ConditionsProposed,
		Postponed, AwaitingRequesterDecision, Accepted, PartiallyExecuted, Executed, Refused, Withdrawn},
		who: requestingSide, whoText: theRequestingSide},

	// §10 Use conditions, consent, onward transfer, reports of use.
	actAcknowledgeConditions: {from: underConditions, who: requestingSide, whoText: theRequestingSide},
	actRequestConsent:        {from: underConditions, who: requestingSide, whoText: theRequestingSide},
	actGrantConsent:          {from: underConditions, who: requestedCentralAuthority, whoText: theRequestedCA},
	actRefuseConsent:         {from: underConditions, who: requestedCentralAuthority, whoText: theRequestedCA},
	actRecordOnwardTransfer:  {from: underConditions, who: requestingSide, whoText: theRequestingSide},
	actReportUse:             {from: underConditions, who: requestingSide, whoText: theRequestingSide},
	// §10 Legal hold: at any status, the requesting state's decision.
	actSetLegalHold:  {from: Statuses, who: requestingCentralAuthority, whoText: theRequestingCA},
	actLiftLegalHold: {from: Statuses, who: requestingCentralAuthority, whoText: theRequestingCA},
}

// authorise checks that p may take action a on r now: the role and agency
// (PERMISSION_DENIED), the etag (ABORTED) and the status
// (FAILED_PRECONDITION naming it). The caller has already checked that p
// may see r.
func (s *Service) authorise(p identity.Principal, r Request, a act, etag string) error {
	rl := lifecycle[a]
	if !rl.who(p, r) {
		return errs.New(errs.PermissionDenied, "only %s may %s request %s", rl.whoText, a, r.Reference)
	}
	if etag != "" && etag != r.Etag() {
		return errs.New(errs.Conflict, "request %s was changed by someone else; get it again and retry", r.Reference)
	}
	if r.ContentErased() && !slices.Contains(contentFree, a) {
		return ContentErasedErr(r)
	}
	if !slices.Contains(rl.from, r.Status) {
		return (errs.Violations{{Field: "status", Description: fmt.Sprintf("request %s is %s; %s needs %s",
			r.Reference, r.Status, a, strings.Join(enum.Strings(rl.from), " or "))}}).Err(errs.FailedPrecondition,
			fmt.Sprintf("cannot %s a request that is %s", a, r.Status))
	}
	return nil
}

// precheck runs every check of action a that comes before the change:
// visibility (NOT_FOUND), authority, etag and status (authorise), then check
// (outside the transaction, for what needs the directory or other records).
// It returns the request as it is now.
func (s *Service) precheck(ctx context.Context, p identity.Principal, id, etag string, a act, check func(Request) error) (Request, error) {
	cur, err := s.visible(ctx, p, id)
	if err != nil {
		return Request{}, err
	}
	if err := s.authorise(p, cur, a, etag); err != nil {
		return Request{}, concerns(cur, err)
	}
	if check != nil {
		if err := check(cur); err != nil {
			return Request{}, concerns(cur, err)
		}
	}
	return cur, nil
}

// validate is a validate-only action (AIP-163): the same checks as
// transition's before the change, and no change at all (no status, no
// history entry, no deadline, no audit event), so that a form can ask
// whether the action would succeed as often as it likes. On success it
// returns the request as it is now as metadata, like List: a read of full
// content must leave an audit event (DESIGN §6), and this call leaves none.
func (s *Service) validate(ctx context.Context, p identity.Principal, id, etag string, a act, check func(Request) error) (View, error) {
	cur, err := s.precheck(ctx, p, id, etag, a, check)
	if err != nil {
		return View{}, err
	}
	return View{Request: redact(cur), Overdue: Overdue(cur, s.now()), MetadataOnly: true}, nil
}

// transition is one lifecycle action: it runs precheck; then, in one
// transaction with the history entry and the audit event, re-checks the
// status (so that of two racing actions exactly one wins) and applies the
// change.
func (s *Service) transition(ctx context.Context, p identity.Principal, id, etag string, a act, reason string,
	check func(Request) error, apply func(r *Request, now time.Time) error) (View, error) {
	return s.transitionLinked(ctx, p, id, etag, a, reason, check, apply, nil)
}

// step is the change of transition inside the store's transaction, on the
// request read as cur by precheck: the authority, etag and status again,
// that nothing check approved has changed since (checked), then apply, the
// table's status, the history entry and the audit event, with the outcomes
// of its checks when outcomes is not nil.
func (s *Service) step(ctx context.Context, p identity.Principal, cur Request, etag string, a act, reason string,
	checked bool, apply func(r *Request, now time.Time) error, outcomes func(r Request) []trail.Safeguard) func(r *Request) (Change, error) {
	rl := lifecycle[a]
	return func(r *Request) (Change, error) {
		if err := s.authorise(p, *r, a, etag); err != nil {
			return Change{}, err
		}
		if checked && r.Version != cur.Version {
			// What check approved has changed since.
			return Change{}, errs.New(errs.Conflict, "request %s was changed by someone else; get it again and retry", r.Reference)
		}
		now := s.now()
		from := r.Status
		if apply != nil {
			if err := apply(r, now); err != nil {
				return Change{}, err
			}
		}
		// The table's status, unless apply chose one (a rule without one).
		to := r.Status
		if rl.to != "" {
			to = rl.to
		}
		r.Status, r.UpdateTime = to, now
		ev := s.event(ctx, p, *r, from, to)
		if outcomes != nil {
			ev.Safeguards = outcomes(*r)
			ev = trail.Bounded(ev)
		}
		return Change{
			History: &HistoryEntry{From: from, To: to, Action: string(a), Actor: actorOf(p), Time: now, Reason: reason},
			Event:   ev,
		}, nil
	}
}

// Submit sends a draft to the requesting state's central authority, once
// every safeguard is met. With validateOnly it only says whether it would:
// every check runs, nothing changes.
// A legal basis whose status the directory does not know is accepted and
// marked unconfirmed, for both sides to see (DESIGN §5.6).
func (s *Service) Submit(ctx context.Context, p identity.Principal, id, etag string, validateOnly bool) (View, error) {
	var unconfirmed bool
	var outcomes []trail.Safeguard
	check := func(r Request) (err error) {
		unconfirmed, outcomes, err = s.checkSafeguardsFor(ctx, p, r, actSubmit)
		return err
	}
	if validateOnly {
		return s.validate(ctx, p, id, etag, actSubmit, check)
	}
	return s.transitionChecked(ctx, p, id, etag, actSubmit, "", check, func(r *Request, _ time.Time) error {
		r.LegalBasisUnconfirmed = unconfirmed
		return nil
	}, nil, func(Request) []trail.Safeguard { return outcomes })
}

// Return sends a submitted request back to its prosecutor with a reason.
func (s *Service) Return(ctx context.Context, p identity.Principal, id, etag, reason string) (View, error) {
	if err := required("reason", reason); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actReturn, reason, nil, nil)
}

// Transmit sends a submitted request to the requested agency, checking the
// safeguards again, and starts the acknowledgement deadline. With
// validateOnly it only says whether it would: every check runs, nothing
// changes and no deadline starts.
func (s *Service) Transmit(ctx context.Context, p identity.Principal, id, etag string, validateOnly bool) (View, error) {
	var unconfirmed bool
	var outcomes []trail.Safeguard
	check := func(r Request) (err error) {
		unconfirmed, outcomes, err = s.checkSafeguardsFor(ctx, p, r, actTransmit)
		return err
	}
	if validateOnly {
		return s.validate(ctx, p, id, etag, actTransmit, check)
	}
	// A follow-up's transmission holds the preservation it follows
	// (Budapest 29(7)), in the same transaction: never one without the
	// other.
	return s.transitionChecked(ctx, p, id, etag, actTransmit, "", check,
		func(r *Request, now time.Time) error {
			// What the directory says now: an administrator may have
			// confirmed the status since submission.
			r.LegalBasisUnconfirmed = unconfirmed
			r.TransmitTime = now
			r.Deadlines.AcknowledgeBy = s.policy.acknowledgeBy(now, r.Priority)
			return nil
		}, func(cur Request) (*link, error) { return s.holdLink(ctx, cur) },
		func(Request) []trail.Safeguard { return outcomes })
}

// Acknowledge records receipt by the requested agency and starts the answer
// deadline.
func (s *Service) Acknowledge(ctx context.Context, p identity.Principal, id, etag string) (View, error) {
	return s.transition(ctx, p, id, etag, actAcknowledge, "", nil, func(r *Request, now time.Time) error {
		r.AcknowledgeTime = now
		r.Deadlines.AnswerBy = s.policy.answerBy(now, r.Priority, r.RequestedResponseTime)
		return nil
	})
}

// RequestClarification asks the requesting side questions.
func (s *Service) RequestClarification(ctx context.Context, p identity.Principal, id, etag, questions string) (View, error) {
	if err := required("questions", questions); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actRequestClarification, questions, nil,
		func(r *Request, now time.Time) error {
			r.Clarifications = append(slices.Clip(r.Clarifications), Clarification{Question: questions, AskedBy: actorOf(p), AskTime: now})
			return nil
		})
}

// ProvideClarification answers the requested side's questions, with
// attachments already uploaded to the request.
func (s *Service) ProvideClarification(ctx context.Context, p identity.Principal, id, etag, answers string, attachmentIDs []string) (View, error) {
	if err := required("answers", answers); err != nil {
		return View{}, err
	}
	reason := answers
	if len(attachmentIDs) > 0 {
		reason += "\n\nAttached: " + strings.Join(attachmentIDs, ", ")
	}
	return s.transition(ctx, p, id, etag, actProvideClarification, reason,
		func(r Request) error { return s.checkAttachments(ctx, r.ID, attachmentIDs) },
		func(r *Request, now time.Time) error {
			// The lifecycle allows an answer only in CLARIFICATION_REQUESTED,
			// which only a question leads to; a request asked before
			// clarifications were kept on it (and not backfilled) gets a
			// round without its question rather than losing the answer.
			r.Clarifications = slices.Clone(r.Clarifications)
			n := len(r.Clarifications)
			if n == 0 || !r.Clarifications[n-1].AnswerTime.IsZero() {
				r.Clarifications = append(r.Clarifications, Clarification{})
				n++
			}
			c := &r.Clarifications[n-1]
			c.Answer, c.AnsweredBy, c.AnswerTime = answers, actorOf(p), now
			if len(attachmentIDs) > 0 {
				c.AnswerAttachments = slices.Clone(attachmentIDs)
			}
			return nil
		})
}

// Accept records the requested side's decision to execute, with its
// dual-criminality assessment and human-rights review, and any use
// conditions, which bind from now on (DESIGN §10).
func (s *Service) Accept(ctx context.Context, p identity.Principal, id, etag string, a Acceptance, reviewed bool) (View, error) {
	if err := checkConditionList("use_conditions", a.UseConditions, s.now()).Err(errs.Invalid, "invalid use conditions"); err != nil {
		return View{}, err
	}
	reason := a.Conditions
	if use := describeConditions(a.UseConditions, nil); use != "" {
		reason = strings.TrimPrefix(reason+"; "+use, "; ")
	}
	return s.transitionChecked(ctx, p, id, etag, actAccept, reason, func(r Request) error {
		if err := s.checkConfirmedForExecution(r, actAccept); err != nil {
			return err
		}
		return withOutcomes(r, checkAcceptance(r, a, reviewed), acceptanceOutcomes(r, a, reviewed))
	}, func(r *Request, _ time.Time) error {
		acc := a
		acc.UseConditions = slices.Clone(a.UseConditions)
		r.Acceptance = &acc
		bindConditions(r)
		return nil
	}, nil, func(r Request) []trail.Safeguard { return acceptanceOutcomes(r, a, reviewed) })
}

// Refuse records the requested side's refusal with its grounds (each one of
// RefusalGrounds): of a preservation, only on the grounds it may be refused
// on; of anything else, only after a consultation (checkRefusalOf).
func (s *Service) Refuse(ctx context.Context, p identity.Principal, id, etag string, f Refusal) (View, error) {
	if err := checkRefusal(f); err != nil {
		if errs.CodeOf(err) == errs.FailedPrecondition {
			// No ground or no explanation: the request is not read yet,
			// and the event is on the caller's state's trail only.
			err = &trail.Refusal{Err: err, Safeguards: refusalOutcomes(f)}
		}
		return View{}, err
	}
	return s.transitionChecked(ctx, p, id, etag, actRefuse, f.Explanation,
		func(r Request) error {
			var reservation bool
			if r.Type == cooperation.DataPreservation {
				var err error
				if reservation, err = s.dir.PreservationDualCriminalityReservation(ctx, r.RequestedState); err != nil {
					return err
				}
			}
			err := checkRefusalOf(r, f, s.now(), reservation)
			return withOutcomes(r, err, refuseOutcomes(r, f, err))
		},
		func(r *Request, now time.Time) error {
			ref := f
			if c := f.Consultation; c != nil {
				cons := *c
				if cons.Time.IsZero() {
					// A consultation without a time was held by the
					// refusal at the latest.
					cons.Time = now
				}
				ref.Consultation = &cons
			}
			r.Refusal, r.AnswerTime = &ref, now
			return nil
		}, func(cur Request) (*link, error) { return s.holdReturnLink(ctx, cur, "refused", nil) },
		func(r Request) []trail.Safeguard { return refuseOutcomes(r, f, nil) })
}

// Execute records one delivery of the response, item by item (each item's
// attachments, like the delivery's, ids of attachments already uploaded
// to the request): with e.Partial the request is PARTIALLY_EXECUTED and
// more deliveries follow, else EXECUTED, and a preservation then holds for
// the policy's period.
func (s *Service) Execute(ctx context.Context, p identity.Principal, id, etag string, e Execution, attachmentIDs []string) (View, error) {
	if err := required("response_summary", e.ResponseSummary); err != nil {
		return View{}, err
	}
	return s.transitionLinked(ctx, p, id, etag, actExecute, "",
		func(r Request) error {
			if err := s.checkConfirmedForExecution(r, actExecute); err != nil {
				return err
			}
			return s.checkDelivery(ctx, r, e, attachmentIDs)
		},
		func(r *Request, now time.Time) error {
			ex := e
			ex.Attachments = attachmentIDs
			deliver(r, ex, p, now)
			if r.Status == Executed && r.Type == cooperation.DataPreservation {
				s.setPreservation(r, Preservation{State: Preserved}, s.policy.preservationExpiry(now))
			}
			return nil
		}, func(cur Request) (*link, error) {
			// Only the final delivery answers the follow-up.
			return s.holdReturnLink(ctx, cur, "executed", func(r Request) bool { return r.Status == Executed })
		})
}

// Withdraw withdraws a request that has not been answered.
func (s *Service) Withdraw(ctx context.Context, p identity.Principal, id, etag, reason string) (View, error) {
	if err := required("reason", reason); err != nil {
		return View{}, err
	}
	return s.transitionLinked(ctx, p, id, etag, actWithdraw, reason, nil, nil,
		func(cur Request) (*link, error) { return s.holdReturnLink(ctx, cur, "withdrawn", nil) })
}

// Close closes an executed, refused or withdrawn request.
func (s *Service) Close(ctx context.Context, p identity.Principal, id, etag string) (View, error) {
	return s.transition(ctx, p, id, etag, actClose, "", nil, func(r *Request, now time.Time) error {
		// The retention of its personal data runs from now (DESIGN §10).
		r.CloseTime = now
		return nil
	})
}

// checkAttachments checks that every id names an attachment of the request.
func (s *Service) checkAttachments(ctx context.Context, requestID string, ids []string) error {
	var vs errs.Violations
	for i, id := range ids {
		if _, err := s.store.GetAttachment(ctx, requestID, id); err != nil {
			if errs.CodeOf(err) != errs.NotFound {
				return err
			}
			vs.Add(fmt.Sprintf("attachments[%d]", i), "%q is not an attachment of this request; upload it first", id)
		}
	}
	return vs.Err(errs.FailedPrecondition, "unknown attachments")
}

func required(field, value string) error {
	if strings.TrimSpace(value) != "" {
		return nil
	}
	return (errs.Violations{{Field: field, Description: "required"}}).Err(errs.Invalid, "invalid request")
}
