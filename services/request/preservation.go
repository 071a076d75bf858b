package request

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

// The decisions on an extension of a preservation (PreservationExtension).
const (
	extensionPending  = "PENDING"
	extensionGranted  = "GRANTED"
	extensionDeclined = "DECLINED"
)

// The actions a follow-up's transition takes on the preservation it
// follows (Budapest 29(7)): the names of the preservation's history entry
// and of its audit event.
const (
	actHoldPreservation = "holdPreservation"
	actReleaseHold      = "releaseHold"
)

// preservationNow is r's preservation as it stands at now, and false when r
// has none (not a preservation, or not executed). A preservation executed
// before its state was kept has none stored: it is PRESERVED until the
// deadline it had. PRESERVED past its expiry reads EXPIRED: like overdue,
// expiry is a matter of the clock, computed on every read and never
// written.
func preservationNow(r Request, now time.Time) (Preservation, bool) {
	var pr Preservation
	switch {
	case r.Type != cooperation.DataPreservation:
		return Preservation{}, false
	case r.Preservation != nil:
		pr = *r.Preservation
		pr.Extensions = slices.Clone(pr.Extensions)
	case r.Status == Executed && !r.Deadlines.PreservationExpiresAt.IsZero():
		pr = Preservation{State: Preserved, ExpiresAt: r.Deadlines.PreservationExpiresAt}
	default:
		return Preservation{}, false
	}
	if pr.State == Preserved && !now.Before(pr.ExpiresAt) {
		pr.State = Expired
	}
	return pr, true
}

// withPreservationNow is r with its stored preservation as it stands at now
// (EXPIRED once past its expiry), for a caller's view.
func withPreservationNow(r Request, now time.Time) Request {
	if r.Preservation == nil {
		return r
	}
	if pr, ok := preservationNow(r, now); ok && pr.State != r.Preservation.State {
		r.Preservation = &pr
	}
	return r
}

// setPreservation stores pr as r's preservation with expiry t (zero: none,
// while held or once released), which deadlines mirror: the expiry itself,
// and when to ask for an extension, the policy's notice before it.
func (s *Service) setPreservation(r *Request, pr Preservation, t time.Time) {
	pr.ExpiresAt = t
	r.Preservation = &pr
	r.Deadlines.PreservationExpiresAt = t
	r.Deadlines.ExtensionRequestBy = time.Time{}
	if !t.IsZero() {
		r.Deadlines.ExtensionRequestBy = t.Add(-s.policy.ExtensionNotice)
	}
}

// livePreservation returns r's preservation at now when it is PRESERVED,
// the one state in which it can be extended or released; otherwise an
// error saying why not, for the action named by doing ("extend", …).
func livePreservation(r Request, now time.Time, doing string) (Preservation, error) {
	pr, ok := preservationNow(r, now)
	var vs errs.Violations
	switch {
	case r.Type != cooperation.DataPreservation:
		vs.Add("type", "only a preservation can be %s, not %s", doing, r.Type)
	case !ok:
		vs.Add("preservation", "request %s has preserved nothing yet: it is %s", r.Reference, r.Status)
	case pr.State == Expired:
		vs.Add("deadlines.preservation_expires_at", "the preservation lapsed on %s", pr.ExpiresAt.Format(time.RFC3339))
	case pr.State == Released:
		vs.Add("preservation.state", "the preservation was released (%s): nothing is kept any more", pr.ReleaseReason)
	case pr.State == HeldPendingFollowUp:
		vs.Add("preservation.state", "the preservation is held pending the follow-up requests/%s, and does not expire while it is "+
			"(Budapest 29(7)); it returns to PRESERVED when that request is executed, refused or withdrawn", pr.HeldBy)
	}
	if err := vs.Err(errs.FailedPrecondition, fmt.Sprintf("cannot %s the preservation", doing)); err != nil {
		return Preservation{}, err
	}
	return pr, nil
}

// pendingExtension is the index of pr's pending extension, or -1.
func pendingExtension(pr Preservation) int {
	return slices.IndexFunc(pr.Extensions, func(e PreservationExtension) bool { return e.Decision == extensionPending })
}

// noPendingExtension is the refusal of a decision when none is asked.
func noPendingExtension(r Request) error {
	return (errs.Violations{{Field: "preservation.extensions", Description: fmt.Sprintf(
		"no extension of request %s is pending: the requesting side asks for one with :requestExtension", r.Reference)}}).
		Err(errs.FailedPrecondition, "no extension is pending")
}

// maxExtensionDays is the most days the requesting side may ask for at
// once: the policy's preservation period, in whole days (at least one).
func (s *Service) maxExtensionDays() int32 {
	return int32(max(s.policy.Preservation/day, 1))
}

// ExtendPreservation adds the policy's period to an executed preservation
// that is PRESERVED, on the requested side's own initiative, and records
// it among the extensions as granted by that side.
func (s *Service) ExtendPreservation(ctx context.Context, p identity.Principal, id, etag string) (View, error) {
	return s.transition(ctx, p, id, etag, actExtendPreservation, "", nil, func(r *Request, now time.Time) error {
		pr, err := livePreservation(*r, now, "extended")
		if err != nil {
			return err
		}
		expiry, err := s.policy.extendedPreservation(pr.ExpiresAt, s.policy.Preservation, now)
		if err != nil {
			return err
		}
		me := actorOf(p)
		pr.Extensions = append(pr.Extensions, PreservationExtension{RequestedBy: me, Days: int32(s.policy.Preservation / day),
			Decision: extensionGranted, DecidedBy: me, RequestTime: now, DecideTime: now})
		s.setPreservation(r, pr, expiry)
		return nil
	})
}

// RequestExtension asks the requested side to extend a preservation that
// is PRESERVED by days (1 to the policy's period), for a reason; one
// request at a time.
func (s *Service) RequestExtension(ctx context.Context, p identity.Principal, id, etag, reason string, days int32) (View, error) {
	var vs errs.Violations
	if strings.TrimSpace(reason) == "" {
		vs.Add("reason", "required: say why the data must be kept longer")
	}
	if most := s.maxExtensionDays(); days < 1 || days > most {
		vs.Add("days", "ask for 1 to %d days, not %d", most, days)
	}
	if err := vs.Err(errs.Invalid, "invalid extension request"); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actRequestExtension, reason, nil, func(r *Request, now time.Time) error {
		pr, err := livePreservation(*r, now, "extended")
		if err != nil {
			return err
		}
		if i := pendingExtension(pr); i >= 0 {
			e := pr.Extensions[i]
			return (errs.Violations{{Field: "preservation.extensions", Description: fmt.Sprintf(
				"an extension of %d days asked on %s is still pending: wait for the requested side's decision", e.Days, e.RequestTime.Format(time.RFC3339))}}).
				Err(errs.FailedPrecondition, "an extension is already pending")
		}
		pr.Extensions = append(pr.Extensions, PreservationExtension{RequestedBy: actorOf(p), Days: days, Reason: reason,
			Decision: extensionPending, RequestTime: now})
		s.setPreservation(r, pr, pr.ExpiresAt)
		return nil
	})
}

// GrantExtension grants the pending extension: the preservation, still
// PRESERVED, holds the days asked longer (never beyond ten years from
// now).
func (s *Service) GrantExtension(ctx context.Context, p identity.Principal, id, etag string) (View, error) {
	return s.transition(ctx, p, id, etag, actGrantExtension, "", nil, func(r *Request, now time.Time) error {
		pr, ok := preservationNow(*r, now)
		i := pendingExtension(pr)
		if !ok || i < 0 {
			return noPendingExtension(*r)
		}
		pr, err := livePreservation(*r, now, "extended")
		if err != nil {
			return err
		}
		e := &pr.Extensions[i]
		expiry, err := s.policy.extendedPreservation(pr.ExpiresAt, time.Duration(e.Days)*day, now)
		if err != nil {
			return err
		}
		e.Decision, e.DecidedBy, e.DecideTime = extensionGranted, actorOf(p), now
		s.setPreservation(r, pr, expiry)
		return nil
	})
}

// DeclineExtension declines the pending extension, for a reason; the
// preservation keeps its expiry.
func (s *Service) DeclineExtension(ctx context.Context, p identity.Principal, id, etag, reason string) (View, error) {
	if err := required("reason", reason); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actDeclineExtension, reason, nil, func(r *Request, now time.Time) error {
		pr, ok := preservationNow(*r, now)
		i := pendingExtension(pr)
		if !ok || i < 0 {
			return noPendingExtension(*r)
		}
		e := &pr.Extensions[i]
		e.Decision, e.DecidedBy, e.DecideTime, e.DeclineReason = extensionDeclined, actorOf(p), now, reason
		// The state is kept as stored: EXPIRED is the clock's, not
		// written.
		pr.State = r.Preservation.State
		s.setPreservation(r, pr, pr.ExpiresAt)
		return nil
	})
}

// ReleasePreservation ends a preservation the requesting side no longer
// needs: RELEASED, with the reason, which the requested side reads in the
// request's history (and its watch) as the word to stop keeping the data.
//
// Only a PRESERVED one can be released. One held for a follow-up is
// refused, naming the follow-up: Budapest 29(7) keeps the data until that
// request is decided, and releasing it underneath would leave the
// follow-up asking for data let go; withdrawing the follow-up ends the
// hold, and the preservation can be released then.
func (s *Service) ReleasePreservation(ctx context.Context, p identity.Principal, id, etag, reason string) (View, error) {
	if err := required("reason", reason); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actReleasePreservation, reason, nil, func(r *Request, now time.Time) error {
		pr, err := livePreservation(*r, now, "released")
		if err != nil {
			if cur, ok := preservationNow(*r, now); ok && cur.State == HeldPendingFollowUp {
				held, those := "the follow-up requests/"+cur.HeldBy, "that request"
				if len(cur.HeldAlsoBy) > 0 {
					held, those = "the follow-ups requests/"+strings.Join(append([]string{cur.HeldBy}, cur.HeldAlsoBy...), ", requests/"), "those requests"
				}
				return (errs.Violations{{Field: "preservation.held_by", Description: fmt.Sprintf(
					"the preservation is held pending %s (Budapest 29(7)): withdraw %s first, "+
						"or release the preservation once they are executed or refused", held, those)}}).
					Err(errs.FailedPrecondition, "cannot release a preservation held for its follow-up")
			}
			return err
		}
		pr.State, pr.ReleaseReason = Released, reason
		s.setPreservation(r, pr, time.Time{})
		return nil
	})
}

// DiscloseChain records that the preserved traffic data shows another
// provider in another state (Budapest 30), so that the requesting side can
// ask that state in turn (DraftFollowUp).
func (s *Service) DiscloseChain(ctx context.Context, p identity.Principal, id, etag string, c ChainDisclosure) (View, error) {
	c.Country = strings.ToUpper(strings.TrimSpace(c.Country))
	var vs errs.Violations
	if strings.TrimSpace(c.Provider) == "" {
		vs.Add("provider", "required: the provider the data shows")
	}
	if !countryCode.MatchString(c.Country) {
		vs.Add("country", "the provider's state as a 2-letter code such as KG, not %q", c.Country)
	}
	if strings.TrimSpace(c.Explanation) == "" {
		vs.Add("explanation", "required: what the data shows")
	}
	if err := vs.Err(errs.Invalid, "invalid chain disclosure"); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actDiscloseChain, c.Explanation, func(r Request) error {
		if c.Country == r.RequestedState {
			return (errs.Violations{{Field: "country", Description: fmt.Sprintf(
				"%s is the requested state itself: a chain disclosure names a provider in another state (Budapest 30)", c.Country)}}).
				Err(errs.FailedPrecondition, "not another state")
		}
		return nil
	}, func(r *Request, now time.Time) error {
		d := c
		d.DisclosedBy, d.DiscloseTime = actorOf(p), now
		r.ChainDisclosures = append(slices.Clip(r.ChainDisclosures), d)
		return nil
	})
}

// FollowUp is what DraftFollowUp is asked for: the new request's type and
// the state it goes to ("": the same as the request followed up).
type FollowUp struct {
	Type           cooperation.RequestType
	RequestedState string
}

// DraftFollowUp makes a new DRAFT, owned by the caller (a prosecutor of the
// requesting agency), from a request the caller may see: the case's fields
// copied, and related to it FOLLOW_UP_OF (a production request to the same
// state after a preservation) or SPAWNED_BY (a preservation in another
// state, its custodian taken from a chain disclosure naming that state).
// The draft is made by Create: retrying with the same requestID gives the
// same draft.
func (s *Service) DraftFollowUp(ctx context.Context, p identity.Principal, id string, f FollowUp, requestID string) (View, error) {
	src, err := s.precheck(ctx, p, id, "", actDraftFollowUp, neverTransmitted)
	if err != nil {
		return View{}, err
	}
	d, err := followUpDraft(src, f)
	if err != nil {
		return View{}, concerns(src, err)
	}
	v, err := s.Create(ctx, p, d, requestID)
	if err != nil {
		return View{}, err
	}
	// The draft carries the source's content: its auditors see that it
	// was read for it, as a Get would show.
	if err := s.recordRead(ctx, p, src, "requests/"+src.ID); err != nil {
		return View{}, err
	}
	return v, nil
}

// neverTransmitted refuses a follow-up of a request withdrawn (or closed)
// before it was transmitted: its status is one a follow-up may come from,
// but the requested side never had it, so there is nothing to follow up.
func neverTransmitted(r Request) error {
	if !r.TransmitTime.IsZero() {
		return nil
	}
	return (errs.Violations{{Field: "status", Description: fmt.Sprintf("request %s is %s and was never transmitted; %s needs a request the requested side received",
		r.Reference, r.Status, actDraftFollowUp)}}).Err(errs.FailedPrecondition, fmt.Sprintf("cannot %s a request that was never transmitted", actDraftFollowUp))
}

// followUpDraft is the draft of follow-up f of src, or why there is none.
func followUpDraft(src Request, f FollowUp) (Request, error) {
	state := strings.ToUpper(f.RequestedState)
	if state == "" {
		state = src.RequestedState
	}
	var vs errs.Violations
	var rel RelationKind
	switch {
	case !slices.Contains(cooperation.RequestTypes, f.Type):
		vs.Add("type", "the type of the new request is required")
	case f.Type == cooperation.DataPreservation && state != src.RequestedState:
		rel = SpawnedBy
	case f.Type == cooperation.DataPreservation:
		vs.Add("requested_state", "a new preservation follows up in another state than %s (after a chain disclosure); "+
			"to keep the data longer in %s ask for an extension", src.RequestedState, src.RequestedState)
	case src.Type != cooperation.DataPreservation:
		vs.Add("type", "a production request follows up a preservation; request %s is %s", src.Reference, src.Type)
	case state != src.RequestedState:
		vs.Add("requested_state", "the production request follows up the preservation in %s, where the data is kept, not %s",
			src.RequestedState, state)
	default:
		rel = FollowUpOf
	}
	if err := vs.Err(errs.FailedPrecondition, "no follow-up of that kind"); err != nil {
		return Request{}, err
	}
	d := Request{
		Type: f.Type, Priority: src.Priority, EmergencyReason: src.EmergencyReason, RequestedState: state,
		LegalBasis: src.LegalBasis, TreatyCitation: src.TreatyCitation, CaseReference: src.CaseReference,
		Offence: src.Offence, FactsSummary: src.FactsSummary, Persons: slices.Clone(src.Persons),
		Identifiers: slices.Clone(src.Identifiers), NecessityAndProportionality: src.NecessityAndProportionality,
		Language: src.Language, Purpose: src.Purpose,
		RelatedRequests: []RelatedRequest{{Kind: rel, Request: src.ID}},
		// The same suspect and account: what the requested side was asked
		// to keep confidential, and the use stated, hold for the
		// follow-up too unless the prosecutor changes them.
		Confidential: src.Confidential, UseLimitations: src.UseLimitations,
	}
	if c := src.Confidentiality; c != nil {
		cc := *c
		d.Confidentiality = &cc
	}
	if a := src.InvestigatingAuthority; a != nil {
		c := *a
		d.InvestigatingAuthority = &c
	}
	if c := src.Contact; c != nil {
		cc := *c
		d.Contact = &cc
	}
	switch rel {
	case FollowUpOf:
		// The production asks the same provider for what it kept.
		if c := src.Custodian; c != nil {
			cc := *c
			d.Custodian = &cc
		}
	case SpawnedBy:
		// The next provider, as the latest disclosure naming the state
		// says; the production intended after it is the same.
		for _, c := range slices.Backward(src.ChainDisclosures) {
			if c.Country == state {
				d.Custodian = &Custodian{Provider: c.Provider, Country: c.Country}
				break
			}
		}
		if fi := src.FollowUpIntended; fi != nil {
			ff := *fi
			d.FollowUpIntended = &ff
		}
	}
	return d, nil
}

// link is the other request an action on a request changes too.
type link struct {
	id string
	// apply changes other after the action's change of r at now, checked
	// again inside the transaction; it returns the name of what it did
	// and why, or "" when other is to stay as it is.
	apply func(r Request, other *Request, now time.Time) (action, reason string)
}

// followedPreservation returns the preservation r is FOLLOW_UP_OF for
// which ok says yes, if any.
func (s *Service) followedPreservation(ctx context.Context, r Request, ok func(Request) bool) (Request, error) {
	for _, rr := range r.RelatedRequests {
		if rr.Kind != FollowUpOf || rr.Request == r.ID {
			continue
		}
		pr, err := s.store.Get(ctx, rr.Request)
		if errors.Is(err, errs.ErrNotFound) {
			continue
		}
		if err != nil {
			return Request{}, err
		}
		if ok(pr) {
			return pr, nil
		}
	}
	return Request{}, nil
}

// holds reports whether the transmission of follow-up f at now holds
// preservation pr: PRESERVED, or held already by another follow-up (f then
// joins the hold), asked by the same agency.
func holds(f, pr Request, now time.Time) bool {
	st, ok := preservationNow(pr, now)
	return ok && pr.RequestingAgency == f.RequestingAgency &&
		(st.State == Preserved || st.State == HeldPendingFollowUp && !heldBy(f, pr))
}

// heldBy reports whether preservation pr is held by follow-up f, alone or
// with others.
func heldBy(f, pr Request) bool {
	st, ok := preservationNow(pr, time.Time{})
	return ok && st.State == HeldPendingFollowUp && (st.HeldBy == f.ID || slices.Contains(st.HeldAlsoBy, f.ID))
}

// holdLink is the hold a follow-up's transmission puts on the
// preservation it follows (Budapest 29(7)): the data is kept, with no
// expiry, until the follow-up is answered or withdrawn. A preservation
// held by another follow-up already is held by this one too.
func (s *Service) holdLink(ctx context.Context, f Request) (*link, error) {
	now := s.now()
	pr, err := s.followedPreservation(ctx, f, func(pr Request) bool { return holds(f, pr, now) })
	if err != nil || pr.ID == "" {
		return nil, err
	}
	return &link{id: pr.ID, apply: func(r Request, o *Request, now time.Time) (string, string) {
		if !holds(r, *o, now) {
			return "", ""
		}
		st, _ := preservationNow(*o, now)
		if st.State == HeldPendingFollowUp {
			st.HeldAlsoBy = append(slices.Clone(st.HeldAlsoBy), r.ID)
			s.setPreservation(o, st, time.Time{})
			return actHoldPreservation, fmt.Sprintf("held pending the follow-up %s (requests/%s) as well, transmitted: the data is kept "+
				"until every follow-up is executed, refused or withdrawn (Budapest 29(7))", r.Reference, r.ID)
		}
		st.State, st.HeldBy = HeldPendingFollowUp, r.ID
		s.setPreservation(o, st, time.Time{})
		return actHoldPreservation, fmt.Sprintf("held pending the follow-up %s (requests/%s), transmitted: the data is kept "+
			"until that request is executed, refused or withdrawn (Budapest 29(7))", r.Reference, r.ID)
	}}, nil
}

// holdReturnLink is the end of the hold of follow-up f, whose action
// (what: "executed", …) answers or ends it: while other follow-ups hold the
// preservation it stays held for them; after the last, it holds again for
// the policy's return period, and the requesting side is asked to release
// it when the data is no longer needed. when says, on the follow-up as
// changed, whether it has ended the hold (a partial execution has not).
func (s *Service) holdReturnLink(ctx context.Context, f Request, what string, when func(Request) bool) (*link, error) {
	pr, err := s.followedPreservation(ctx, f, func(pr Request) bool { return heldBy(f, pr) })
	if err != nil || pr.ID == "" {
		return nil, err
	}
	return &link{id: pr.ID, apply: func(r Request, o *Request, now time.Time) (string, string) {
		if !heldBy(r, *o) || (when != nil && !when(r)) {
			return "", ""
		}
		st, _ := preservationNow(*o, now)
		st.HeldAlsoBy = slices.DeleteFunc(slices.Clone(st.HeldAlsoBy), func(id string) bool { return id == r.ID })
		if st.HeldBy == r.ID && len(st.HeldAlsoBy) > 0 {
			st.HeldBy, st.HeldAlsoBy = st.HeldAlsoBy[0], st.HeldAlsoBy[1:]
		}
		if len(st.HeldAlsoBy) == 0 {
			st.HeldAlsoBy = nil
		}
		if st.HeldBy != r.ID {
			s.setPreservation(o, st, time.Time{})
			return actReleaseHold, fmt.Sprintf("the follow-up %s (requests/%s) was %s: the preservation stays held pending the follow-up "+
				"requests/%s (Budapest 29(7))", r.Reference, r.ID, what, st.HeldBy)
		}
		st.State, st.HeldBy = Preserved, ""
		expiry := now.Add(s.policy.HoldReturn)
		s.setPreservation(o, st, expiry)
		return actReleaseHold, fmt.Sprintf("the follow-up %s (requests/%s) was %s: the hold ends and the preservation holds until %s. "+
			"The requesting side is asked to release it (:releasePreservation) if the data is no longer needed, or to ask for an extension.",
			r.Reference, r.ID, what, expiry.Format(time.RFC3339))
	}}, nil
}

// transitionLinked is transition for an action that may change a second
// request in the same transaction: linkOf, given the request as it is
// before the action, says which and how (nil: none). The second request
// gets its own history entry (status unchanged, the link's action and
// reason) and audit event, whose action names the link's action after the
// call's method.
func (s *Service) transitionLinked(ctx context.Context, p identity.Principal, id, etag string, a act, reason string,
	check func(Request) error, apply func(r *Request, now time.Time) error, linkOf func(cur Request) (*link, error)) (View, error) {
	return s.transitionChecked(ctx, p, id, etag, a, reason, check, apply, linkOf, nil)
}

// transitionChecked is transitionLinked for an action whose event carries
// the outcomes of the safeguards or assessments it checked: outcomes,
// when not nil, gives them for the request as changed (trail.Event.Safeguards).
func (s *Service) transitionChecked(ctx context.Context, p identity.Principal, id, etag string, a act, reason string,
	check func(Request) error, apply func(r *Request, now time.Time) error, linkOf func(cur Request) (*link, error),
	outcomes func(r Request) []trail.Safeguard) (View, error) {
	cur, err := s.precheck(ctx, p, id, etag, a, check)
	if err != nil {
		return View{}, err
	}
	var l *link
	if linkOf != nil {
		if l, err = linkOf(cur); err != nil {
			return View{}, concerns(cur, err)
		}
	}
	step := s.step(ctx, p, cur, etag, a, reason, check != nil, apply, outcomes)
	var updated Request
	if l == nil {
		updated, err = s.store.Update(ctx, id, step)
	} else {
		updated, err = s.store.UpdatePair(ctx, id, l.id, func(r, o *Request) (Change, *Change, error) {
			ch, err := step(r)
			if err != nil {
				return Change{}, nil, err
			}
			now := r.UpdateTime
			action, why := l.apply(*r, o, now)
			if action == "" {
				return ch, nil, nil
			}
			o.UpdateTime = now
			ev := s.event(ctx, p, *o, o.Status, o.Status)
			ev.Action = strings.TrimPrefix(ev.Action+"#"+action, "#")
			ev = trail.Bounded(ev)
			return ch, &Change{
				History: &HistoryEntry{From: o.Status, To: o.Status, Action: action, Actor: actorOf(p), Time: now, Reason: why},
				Event:   ev,
			}, nil
		})
	}
	if err != nil {
		return View{}, concerns(cur, err)
	}
	return s.view(ctx, p, updated), nil
}
