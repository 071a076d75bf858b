package request

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

// The intake channels (DESIGN §5.3): proto enum value names.
const (
	ChannelPortal = "PORTAL"
	ChannelPhone  = "PHONE"
)

// intakeChannels are the channels a request recorded outside Comity can
// have come through.
var intakeChannels = []string{ChannelPhone, "EMAIL", "INTERPOL", "DIPLOMATIC", "OTHER"}

// actRecordOral is the creation of a request recorded from a call: its one
// history entry, from no status to ACKNOWLEDGED.
const actRecordOral act = "recordOral"

// RecordOral records an urgent request that the requested side received by
// telephone or another channel outside Comity (DESIGN §5.3), on behalf of
// requestingAgency. The caller, a central authority user (the 24/7 contact
// point), is of the requested side: their agency becomes the requested
// agency. The request starts ACKNOWLEDGED, as received now, with no owner
// until a prosecutor of the requesting agency confirms it in writing by
// the policy's deadline. Only the fields known are needed: the safeguards
// are checked at the confirmation. Retrying with the same requestID and the
// same body returns the same request, as Create does.
func (s *Service) RecordOral(ctx context.Context, p identity.Principal, d Request, requestingAgency string, in Intake, requestID string) (View, error) {
	if !p.HasRole(identity.CentralAuthority) {
		return View{}, errs.New(errs.PermissionDenied, "only the requested state's central authority or 24/7 contact point may record a request received by telephone or another channel")
	}
	now := s.now()
	var vs errs.Violations
	if d.RequestedState != "" && !strings.EqualFold(d.RequestedState, p.State) {
		vs.Add("requested_state", "a request is recorded by the requested side: it goes to %s, the state of the recording agency, not %s", p.State, strings.ToUpper(d.RequestedState))
	}
	if d.RequestedAgency != "" && d.RequestedAgency != p.Agency {
		vs.Add("requested_agency", "a request is recorded by the requested side: it goes to %s, the recording agency, not %s", p.Agency, d.RequestedAgency)
	}
	switch {
	case in.Channel == "":
		vs.Add("intake.channel", "the channel the request came through is required (%s)", strings.Join(intakeChannels, ", "))
	case !slices.Contains(intakeChannels, in.Channel):
		vs.Add("intake.channel", "%s is not a channel outside Comity (%s): a request drafted in Comity is created, not recorded", in.Channel, strings.Join(intakeChannels, ", "))
	}
	if in.ReceivedTime.After(now) {
		vs.Add("intake.received_time", "%s is in the future: say when the call or message was received", in.ReceivedTime.UTC().Format(time.RFC3339))
	}
	if strings.TrimSpace(in.Caller) == "" {
		vs.Add("intake.caller", "who called or wrote is required, with their office")
	}
	if requestingAgency == "" {
		vs.Add("requesting_agency", "the requesting agency is required, e.g. agencies/kz-gpo")
	}
	if err := vs.Err(errs.Invalid, "invalid oral request"); err != nil {
		return View{}, err
	}
	requester, err := s.requester(ctx, requestingAgency, p.State)
	if err != nil {
		return View{}, err
	}
	d.RequestingState, d.RequestedState, d.RequestedAgency = requester.State, p.State, p.Agency
	if err := checkShape(d); err != nil {
		return View{}, err
	}
	s.checkResponseTime(d, &vs)
	if err := vs.Err(errs.Invalid, "invalid request"); err != nil {
		return View{}, err
	}
	key := IdempotencyKey{Issuer: p.Issuer, Subject: p.Subject, Agency: p.Agency, Key: requestID}
	if requestID != "" {
		// The body is the request, its requesting agency and the intake as
		// sent (a received time left out stays out: a retry is the same
		// call, whenever it comes).
		body := d
		body.RequestingAgency = requester.ID
		body.Intake = &Intake{Channel: in.Channel, ReceivedTime: in.ReceivedTime, Caller: in.Caller}
		sum, err := BodyDigest(body)
		if err != nil {
			return View{}, err
		}
		key.BodySHA256 = sum
	}
	id, err := uuid.NewV7()
	if err != nil {
		return View{}, fmt.Errorf("request id: %w", err)
	}
	// Times are kept as the stores keep them, in UTC to the microsecond.
	received := in.ReceivedTime.UTC().Truncate(time.Microsecond)
	if in.ReceivedTime.IsZero() {
		received = now
	}
	r := d
	resetServerFields(&r)
	mirrorConfidentiality(&r, d.Confidentiality != nil, d.Confidential)
	r.ID = id.String()
	r.RequestingAgency, r.RequestingState, r.Owner = requester.ID, requester.State, ""
	r.RequestedAgency, r.RequestedState = p.Agency, p.State
	r.Status = Acknowledged
	// Received and acknowledged in one: the answer clock runs from now, as
	// it would from an acknowledgement.
	r.TransmitTime, r.AcknowledgeTime = now, now
	r.Deadlines.AnswerBy = s.policy.answerBy(now, r.Priority, r.RequestedResponseTime)
	r.Deadlines.ConfirmationDueBy = received.Add(s.policy.Confirmation)
	r.Intake = &Intake{Channel: in.Channel, ReceivedTime: received, Caller: in.Caller, RecordedBy: actorOf(p)}
	r.CreateTime, r.UpdateTime = now, now
	ch := Change{
		// One entry: the request comes into being acknowledged. The watch
		// shows it to both sides (it is transmitted), the audit event to
		// both states' auditors.
		History: &HistoryEntry{To: Acknowledged, Action: string(actRecordOral), Actor: actorOf(p), Time: now},
		Event:   s.event(ctx, p, r, "", Acknowledged),
	}
	return s.createOnce(ctx, p, r, key, ch, requestID)
}

// requester returns the requesting agency of a request recorded by a user
// of state recorder: an active agency of another state.
func (s *Service) requester(ctx context.Context, id, recorder string) (directory.Agency, error) {
	a, err := s.dir.Agency(ctx, id)
	var vs errs.Violations
	switch {
	case errors.Is(err, errs.ErrNotFound):
		vs.Add("requesting_agency", "agency %q is not in the directory", id)
	case err != nil:
		return directory.Agency{}, err
	case !a.Active:
		vs.Add("requesting_agency", "%s is deactivated", a.ID)
	case a.State == recorder:
		vs.Add("requesting_agency", "%s is an agency of %s, the recording state: a cooperation request comes from another state", a.ID, a.State)
	}
	if err := vs.Err(errs.FailedPrecondition, "the requesting agency cannot make this request"); err != nil {
		return directory.Agency{}, err
	}
	return a, nil
}

// ConfirmInWriting is the requesting side's written confirmation of a
// request recorded from a call: apply sets the fields the prosecutor
// completes (touched names them, proto field names), every safeguard of
// :submit is checked on the result, and the confirming prosecutor becomes
// the owner. The confirmation deadline is then met: it is cleared.
func (s *Service) ConfirmInWriting(ctx context.Context, p identity.Principal, id, etag string, apply func(*Request), touched []string) (View, error) {
	var next Request
	var unconfirmed bool
	var outcomes []trail.Safeguard
	check := func(cur Request) error {
		if err := checkConfirmable(cur); err != nil {
			return err
		}
		next = cur
		apply(&next)
		next.KeepServerFields(cur)
		// A whole request sent without them (no update_mask) leaves them
		// as they are.
		if next.RequestedState == "" {
			next.RequestedState = cur.RequestedState
		}
		if next.RequestedAgency == "" {
			next.RequestedAgency = cur.RequestedAgency
		}
		var vs errs.Violations
		// The request is with the agency that recorded it: it does not
		// move by its confirmation.
		if !strings.EqualFold(next.RequestedState, cur.RequestedState) {
			vs.Add("requested_state", "request %s is with %s already; it cannot go to %s", cur.Reference, cur.RequestedState, next.RequestedState)
		}
		if next.RequestedAgency != cur.RequestedAgency {
			vs.Add("requested_agency", "request %s is with %s already; it cannot go to %s", cur.Reference, cur.RequestedAgency, next.RequestedAgency)
		}
		if err := vs.Err(errs.Invalid, "invalid confirmation"); err != nil {
			return err
		}
		// Once the requested side has decided on the request as recorded
		// (accepted a preservation before confirmation, proposed
		// conditions, postponed it, …), its type is what it decided on:
		// a production must not inherit an acceptance given to a
		// preservation without a dual-criminality assessment.
		if next.Type != cur.Type && !slices.Contains([]Status{Acknowledged, ClarificationRequested}, cur.Status) {
			return (errs.Violations{{Field: "type", Description: fmt.Sprintf("request %s is %s and the requested side has acted on it as %s: it cannot become %s; "+
				"confirm it as %s, or withdraw it and make a new request", cur.Reference, cur.Status, cur.Type, next.Type, cur.Type)}}).
				Err(errs.FailedPrecondition, "cannot change the type of request "+cur.Reference)
		}
		if err := deliveredIdentifiersKept(cur, next); err != nil {
			return err
		}
		mirrorConfidentialityTouched(&next, touched)
		if err := checkShape(next); err != nil {
			return err
		}
		if slices.Contains(touched, "requested_response_time") && !next.RequestedResponseTime.Equal(cur.RequestedResponseTime) {
			s.checkResponseTime(next, &vs)
			if err := vs.Err(errs.Invalid, "invalid request"); err != nil {
				return err
			}
		}
		var err error
		unconfirmed, outcomes, err = s.checkSafeguardsFor(ctx, p, next, actConfirmInWriting)
		return err
	}
	return s.transitionChecked(ctx, p, id, etag, actConfirmInWriting, "", check, func(r *Request, now time.Time) error {
		// transition has checked that r is the version check saw.
		was := *r
		completed := next
		completed.KeepServerFields(*r)
		*r = completed
		in := *r.Intake
		in.ConfirmTime, in.ConfirmedBy = now, actorOf(p)
		r.Intake, r.Owner = &in, p.Subject
		r.Deadlines.ConfirmationDueBy = time.Time{}
		r.LegalBasisUnconfirmed = unconfirmed
		s.confirmedAnswerBy(r, was)
		return nil
	}, nil, func(Request) []trail.Safeguard { return outcomes })
}

// confirmedAnswerBy sets the answer deadline of r, confirmed in writing
// from was, to the policy's for the priority and requested response date
// confirmed, counted from the recording as for any request acknowledged
// then, when either changed: the call's priority no longer holds. While
// postponed it is the deadline the postponement keeps that changes.
func (s *Service) confirmedAnswerBy(r *Request, was Request) {
	if r.Priority == was.Priority && r.RequestedResponseTime.Equal(was.RequestedResponseTime) {
		return
	}
	answer := s.policy.answerBy(r.AcknowledgeTime, r.Priority, r.RequestedResponseTime)
	switch {
	case r.Status == Postponed && r.Postponement != nil:
		pp := *r.Postponement
		pp.PausedAnswerBy = answer
		r.Postponement = &pp
	case slices.Contains(awaitingAnswer, r.Status):
		r.Deadlines.AnswerBy = answer
	}
}

// deliveredIdentifiersKept refuses a confirmation next of cur that
// replaces or removes an identifier an item of cur's deliveries names by
// its place: the item would then report on another identifier. Adding
// identifiers after them, and completing their time ranges, is fine.
func deliveredIdentifiersKept(cur, next Request) error {
	var vs errs.Violations
	seen := map[int32]bool{}
	for _, d := range cur.Deliveries {
		for _, it := range d.Items {
			i := it.IdentifierIndex
			if seen[i] || i < 0 || int(i) >= len(cur.Identifiers) {
				continue
			}
			seen[i] = true
			was := cur.Identifiers[i]
			if int(i) >= len(next.Identifiers) || next.Identifiers[i].Kind != was.Kind || next.Identifiers[i].Value != was.Value {
				vs.Add(fmt.Sprintf("identifiers[%d]", i), "%s %s was reported on in a delivery already (item of %s): keep it in its place; "+
					"add other identifiers after it", was.Kind, was.Value, d.ExecuteTime.UTC().Format(time.RFC3339))
			}
		}
	}
	return vs.Err(errs.FailedPrecondition, "cannot change identifiers already reported on")
}

// MayConfirmInWriting says whether p may confirm request id in writing now:
// the checks of ConfirmInWriting that come before the fields sent, for a
// check made before the input is looked at.
func (s *Service) MayConfirmInWriting(ctx context.Context, p identity.Principal, id string) error {
	_, err := s.precheck(ctx, p, id, "", actConfirmInWriting, checkConfirmable)
	return err
}

// checkConfirmable refuses the confirmation of a request that was not
// recorded from a call, or that is confirmed already.
func checkConfirmable(r Request) error {
	var vs errs.Violations
	switch {
	case !r.Oral():
		vs.Add("intake", "request %s was drafted in Comity, not recorded from a call: there is nothing to confirm in writing", r.Reference)
	case !r.Intake.ConfirmTime.IsZero():
		vs.Add("intake.confirm_time", "request %s was confirmed in writing on %s by %s already", r.Reference,
			r.Intake.ConfirmTime.UTC().Format(time.RFC3339), cmp.Or(r.Intake.ConfirmedBy.Name, r.Intake.ConfirmedBy.Subject))
	}
	return vs.Err(errs.FailedPrecondition, "cannot confirm request "+r.Reference)
}

// checkConfirmedForExecution refuses action a (:accept, :execute) on a
// request recorded from a call and not yet confirmed in writing, unless the
// policy lets its type be executed before confirmation.
func (s *Service) checkConfirmedForExecution(r Request, a act) error {
	if !r.Oral() || !r.Intake.ConfirmTime.IsZero() || slices.Contains(s.policy.ExecuteBeforeConfirmation, r.Type) {
		return nil
	}
	var vs errs.Violations
	vs.Add("intake.confirm_time", "request %s was recorded from a call and the requesting side has not confirmed it in writing yet; "+
		"%s requests are executed only after the written confirmation (due by %s)", r.Reference, r.Type,
		r.Deadlines.ConfirmationDueBy.UTC().Format(time.RFC3339))
	return vs.Err(errs.FailedPrecondition, fmt.Sprintf("cannot %s request %s before its written confirmation", a, r.Reference))
}

// mirrorConfidentiality keeps Confidential the mirror of
// Confidentiality.Request on a new request: the confidentiality sent wins;
// a request that sends only confidential (clients written before
// confidentiality) gets it as confidentiality.request.
func mirrorConfidentiality(r *Request, sentConfidentiality, sentConfidential bool) {
	switch {
	case sentConfidentiality && r.Confidentiality != nil:
		c := *r.Confidentiality
		r.Confidentiality, r.Confidential = &c, c.Request
	case sentConfidential:
		c := Confidentiality{}
		if r.Confidentiality != nil {
			c = *r.Confidentiality
		}
		c.Request = r.Confidential
		r.Confidentiality = &c
	}
}

// mirrorConfidentialityTouched is mirrorConfidentiality for an update that
// changes the fields touched names.
func mirrorConfidentialityTouched(r *Request, touched []string) {
	switch {
	case slices.Contains(touched, "confidentiality"):
		if r.Confidentiality == nil {
			r.Confidential = false
			return
		}
		mirrorConfidentiality(r, true, false)
	case slices.Contains(touched, "confidential"):
		if r.Confidentiality == nil && !r.Confidential {
			return
		}
		mirrorConfidentiality(r, false, true)
	}
}

// DeclareConfidentialityImpossible records the requested side's
// declaration that it cannot keep the request confidential (Budapest 27(8),
// 29(6)): the request waits for the requesting side's decision to proceed
// or withdraw, and :proceed returns it to where it is now.
func (s *Service) DeclareConfidentialityImpossible(ctx context.Context, p identity.Principal, id, etag, explanation string) (View, error) {
	if err := required("explanation", explanation); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actDeclareConfidentialityImpossible, explanation, nil, func(r *Request, now time.Time) error {
		r.ConfidentialityDeclaration = &ConfidentialityDeclaration{Explanation: explanation, ResumeStatus: r.Status,
			DeclaredBy: actorOf(p), DeclareTime: now}
		return nil
	})
}

// Proceed is the requesting side's decision to go on with a request whose
// confidentiality the requested side cannot keep: it returns to the status
// it had when that was declared.
func (s *Service) Proceed(ctx context.Context, p identity.Principal, id, etag string) (View, error) {
	return s.transition(ctx, p, id, etag, actProceed, "", nil, func(r *Request, now time.Time) error {
		d := r.ConfidentialityDeclaration
		if d == nil || d.ResumeStatus == "" {
			// Only the declaration leads to AWAITING_REQUESTER_DECISION.
			return fmt.Errorf("request %s awaits a decision without a confidentiality declaration", r.Reference)
		}
		decl := *d
		decl.ProceedTime = now
		r.ConfidentialityDeclaration, r.Status = &decl, decl.ResumeStatus
		return nil
	})
}

// TransferOwnership hands a request to another prosecutor of the requesting
// agency (leave, reassignment), by subject; reason goes to the history.
// Comity knows users only by their tokens: that owner is a prosecutor of
// the agency shows when they act on the request.
func (s *Service) TransferOwnership(ctx context.Context, p identity.Principal, id, etag, owner, reason string) (View, error) {
	owner = strings.TrimSpace(owner)
	if err := required("owner", owner); err != nil {
		return View{}, err
	}
	check := func(r Request) error {
		if r.Owner == owner {
			return (errs.Violations{{Field: "owner", Description: fmt.Sprintf("%s owns request %s already", owner, r.Reference)}}).
				Err(errs.FailedPrecondition, "nothing to transfer")
		}
		return nil
	}
	return s.transition(ctx, p, id, etag, actTransferOwnership, reason, check, func(r *Request, _ time.Time) error {
		r.Owner = owner
		return nil
	})
}
