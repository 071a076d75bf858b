package request

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

// The use conditions that bind (DESIGN §10): the requested side imposes
// them at :accept or in a proposal the requesting side accepts; the
// requesting side acknowledges them before it can download the evidence,
// asks consent for what they forbid, records its onward transfers and
// reports its use. The deadlines they set (Deadlines.ReportUseBy,
// Deadlines.EvidenceEraseBy) are what the overdue filter and the erasure
// sweep act on.

// ConsentKinds are what the requesting side may ask the requested side's
// consent to, as proto enum value names.
var ConsentKinds = []string{ConsentOtherUse, ConsentOnwardTransfer, ConsentRetention}

// maxConditions is the most conditions one acceptance or proposal
// imposes, as the API bounds them.
const maxConditions = 20

// maxLedger bounds each list a request's ledger appends to (consents,
// onward transfers, reports of use): every reader of the request loads
// them, and no user may grow a request without bound.
const maxLedger = 100

// evidenceKind is the kind of attachment the conditions govern.
const evidenceKind = "EVIDENCE"

// dueMeaning says, for each kind of condition that falls due, what its due
// time is; the other kinds need none.
var dueMeaning = map[string]string{
	DeleteBy:           "when the evidence must be deleted",
	ReturnBy:           "when the evidence must be returned",
	ReportUseCondition: "when a report of its use is due",
}

// checkConditionList checks conditions given under field (use_conditions,
// conditions) at now: each of a kind of ConditionKinds; OTHER in words;
// DELETE_BY, RETURN and REPORT_USE with a due time in the future. It
// returns every violation, each naming field[i] and the part at fault.
func checkConditionList(field string, conditions []Condition, now time.Time) errs.Violations {
	var vs errs.Violations
	if len(conditions) > maxConditions {
		vs.Add(field, "at most %d conditions, not %d", maxConditions, len(conditions))
		return vs
	}
	for i, c := range conditions {
		at := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case c.Kind == "":
			vs.Add(at+".kind", "required: one of %s", strings.Join(ConditionKinds, ", "))
		case !slices.Contains(ConditionKinds, c.Kind):
			vs.Add(at+".kind", "%q is not a kind of condition; one of %s", c.Kind, strings.Join(ConditionKinds, ", "))
		}
		if c.Kind == OtherCondition && strings.TrimSpace(c.Text) == "" {
			vs.Add(at+".text", "required for OTHER: state the condition")
		}
		if meaning, dated := dueMeaning[c.Kind]; dated {
			switch {
			case c.DueTime.IsZero():
				vs.Add(at+".due_time", "required for %s: %s", c.Kind, meaning)
			case !c.DueTime.After(now):
				vs.Add(at+".due_time", "must be in the future, not %s", c.DueTime.UTC().Format(time.RFC3339))
			}
		}
	}
	return vs
}

// bindConditions sets the deadlines of r's binding conditions when they
// come to bind: a report of use by the earliest REPORT_USE due time, the
// evidence erased by the earliest DELETE_BY or RETURN one.
func bindConditions(r *Request) {
	var report, erase time.Time
	for _, c := range r.BindingConditions() {
		switch c.Kind {
		case ReportUseCondition:
			report = earliest(report, c.DueTime)
		case DeleteBy, ReturnBy:
			erase = earliest(erase, c.DueTime)
		}
	}
	r.Deadlines.ReportUseBy, r.Deadlines.EvidenceEraseBy = report, erase
}

// earliest is the earlier of two times, zero standing for none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// binds says whether a condition of kind binds r.
func binds(r Request, kinds ...string) bool {
	return slices.ContainsFunc(r.BindingConditions(), func(c Condition) bool { return slices.Contains(kinds, c.Kind) })
}

// acknowledged is how many of r's binding conditions the requesting side
// has acknowledged, from the first.
func acknowledged(r Request) int {
	if r.ConditionsAcknowledgement == nil {
		return 0
	}
	return int(r.ConditionsAcknowledgement.Conditions)
}

// describeCondition says one condition in words, for a reader refused the
// evidence.
func describeCondition(c Condition) string {
	s := c.Kind
	if c.Text != "" {
		s += " (" + c.Text + ")"
	}
	if !c.DueTime.IsZero() {
		s += ", due " + c.DueTime.UTC().Format(time.RFC3339)
	}
	return s
}

// evidenceWithheld refuses p the attachment a of r while a binding
// condition is unacknowledged, when a is EVIDENCE that p's own agency did
// not upload: the requested agency, which supplied it under the
// conditions, is never refused, nor anyone the file they uploaded. The
// refusal names each condition still to acknowledge and how.
func evidenceWithheld(p identity.Principal, r Request, a Attachment) error {
	if a.Kind != evidenceKind || p.Agency == r.RequestedAgency || p.Agency == a.Uploader.Agency {
		return nil
	}
	binding := r.BindingConditions()
	done := min(acknowledged(r), len(binding))
	if done == len(binding) {
		return nil
	}
	var vs errs.Violations
	for i := done; i < len(binding); i++ {
		vs.Add(fmt.Sprintf("binding_conditions[%d]", i), "%s binds the use of this evidence and is not acknowledged: the requesting side "+
			"acknowledges it with POST /v1/requests/%s:acknowledgeConditions", describeCondition(binding[i]), r.ID)
	}
	return vs.Err(errs.FailedPrecondition, fmt.Sprintf("the evidence of request %s is withheld until the conditions that bind its use are acknowledged",
		r.Reference))
}

// recordWithheld writes the audit event of a download of resource refused
// with err: the interceptor records refused reads only when the caller is
// denied, and a refusal of evidence under unacknowledged conditions is an
// attempt the parties' auditors must see.
func (s *Service) recordWithheld(ctx context.Context, p identity.Principal, r Request, resource string) error {
	ev := trail.NewEvent(ctx, s.now(), trail.ActorOf(p), "FAILED_PRECONDITION", trail.Details{Resource: resource, States: states(r)})
	if err := s.store.RecordEvent(ctx, ev); err != nil {
		return fmt.Errorf("record refused download: %w", err)
	}
	return nil
}

// notErased refuses an action of DESIGN §10 on a request whose content was
// erased at the end of its retention: its conditions and ledger went with
// it.
func notErased(r Request) error {
	if !r.ContentErased() {
		return nil
	}
	i := slices.IndexFunc(r.Erasures, func(e Erasure) bool { return e.Scope == EraseContent })
	return (errs.Violations{{Field: "erasures", Description: fmt.Sprintf("the content of request %s was erased on %s at the end of its retention: "+
		"its conditions, consents and records of use went with it", r.Reference, r.Erasures[i].EraseTime.UTC().Format(time.RFC3339))}}).
		Err(errs.FailedPrecondition, "the request's content was erased")
}

// roomFor refuses another entry in a ledger list of n entries under field
// when it holds maxLedger already.
func roomFor(r Request, field string, n int) error {
	if n < maxLedger {
		return nil
	}
	return (errs.Violations{{Field: field, Description: fmt.Sprintf("request %s holds %d %s already, the most one request keeps",
		r.Reference, n, strings.ReplaceAll(field, "_", " "))}}).Err(errs.FailedPrecondition, "no room for another entry")
}

// evidenceErased is when r's evidence was erased under a condition, zero
// while it is kept.
func evidenceErased(r Request) time.Time {
	for _, e := range r.Erasures {
		if e.Scope == EraseEvidence {
			return e.EraseTime
		}
	}
	return time.Time{}
}

// AcknowledgeConditions records that the requesting side acknowledges
// every condition that binds it; the evidence is then its to download. It
// is refused when nothing is left to acknowledge.
func (s *Service) AcknowledgeConditions(ctx context.Context, p identity.Principal, id, etag string) (View, error) {
	return s.transition(ctx, p, id, etag, actAcknowledgeConditions, "", nil, func(r *Request, now time.Time) error {
		if err := notErased(*r); err != nil {
			return err
		}
		binding := r.BindingConditions()
		done := acknowledged(*r)
		var vs errs.Violations
		switch {
		case len(binding) == 0:
			vs.Add("binding_conditions", "no use conditions bind request %s: there is nothing to acknowledge", r.Reference)
		case done >= len(binding):
			ack := r.ConditionsAcknowledgement
			vs.Add("conditions_acknowledgement", "the %d conditions that bind request %s were acknowledged by %s on %s: there is nothing left to acknowledge",
				len(binding), r.Reference, ack.AcknowledgedBy.Subject, ack.AcknowledgeTime.UTC().Format(time.RFC3339))
		}
		if err := vs.Err(errs.FailedPrecondition, "nothing to acknowledge"); err != nil {
			return err
		}
		r.ConditionsAcknowledgement = &ConditionsAcknowledgement{AcknowledgedBy: actorOf(p), AcknowledgeTime: now, Conditions: int32(len(binding))}
		return nil
	})
}

// checkConsent checks the input of a request for consent at now.
func checkConsent(c Consent, now time.Time) error {
	var vs errs.Violations
	switch {
	case c.Kind == "":
		vs.Add("kind", "required: one of %s", strings.Join(ConsentKinds, ", "))
	case !slices.Contains(ConsentKinds, c.Kind):
		vs.Add("kind", "%q is not a kind of consent; one of %s", c.Kind, strings.Join(ConsentKinds, ", "))
	}
	if strings.TrimSpace(c.Purpose) == "" {
		vs.Add("purpose", "required: say for what purpose the consent is asked")
	}
	switch {
	case c.Kind == ConsentOnwardTransfer && strings.TrimSpace(c.Recipient) == "":
		vs.Add("recipient", "required for ONWARD_TRANSFER: the authority it would be passed on to")
	case c.Kind != ConsentOnwardTransfer && c.Recipient != "":
		vs.Add("recipient", "only an ONWARD_TRANSFER consent names a recipient; leave it empty")
	}
	switch {
	case c.Kind == ConsentRetention && c.KeepUntil.IsZero():
		vs.Add("keep_until", "required for RETENTION: until when the evidence would be kept")
	case c.Kind == ConsentRetention && !c.KeepUntil.After(now):
		vs.Add("keep_until", "must be in the future, not %s", c.KeepUntil.UTC().Format(time.RFC3339))
	case c.Kind != ConsentRetention && !c.KeepUntil.IsZero():
		vs.Add("keep_until", "only a RETENTION consent keeps the evidence until a date; leave it empty")
	}
	return vs.Err(errs.Invalid, "invalid request for consent")
}

// retentionAllowed refuses a RETENTION consent of r that would keep the
// evidence until keepUntil, unless a DELETE_BY or RETURN condition binds
// whose evidence is still kept and keepUntil is later than it is due to go.
// The violations name the fields of the request for consent, or, with
// number, the consent being granted.
func retentionAllowed(r Request, keepUntil time.Time, number int32) error {
	kind, until := "kind", "keep_until"
	if number > 0 {
		kind, until = "consent", "consent"
	}
	var vs errs.Violations
	switch erased := evidenceErased(r); {
	case !binds(r, DeleteBy, ReturnBy):
		vs.Add(kind, "no DELETE_BY or RETURN condition binds request %s: its evidence is kept without consent", r.Reference)
	case !erased.IsZero():
		vs.Add(kind, "the evidence of request %s was erased on %s under its conditions: nothing is left to keep", r.Reference,
			erased.UTC().Format(time.RFC3339))
	case !r.Deadlines.EvidenceEraseBy.IsZero() && !keepUntil.After(r.Deadlines.EvidenceEraseBy):
		vs.Add(until, "the evidence is to be erased by %s already: a consent to keep it must ask for later",
			r.Deadlines.EvidenceEraseBy.UTC().Format(time.RFC3339))
	}
	return vs.Err(errs.FailedPrecondition, "no consent to keep the evidence can be asked")
}

// RequestConsent asks the requested side's consent to another use, an
// onward transfer (naming the recipient) or keeping the evidence past a
// DELETE_BY or RETURN condition (until KeepUntil). The consent is numbered
// from 1 and PENDING.
func (s *Service) RequestConsent(ctx context.Context, p identity.Principal, id, etag string, c Consent) (View, error) {
	if err := checkConsent(c, s.now()); err != nil {
		return View{}, err
	}
	reason := c.Kind
	if c.Recipient != "" {
		reason += " to " + c.Recipient
	}
	if !c.KeepUntil.IsZero() {
		reason += " until " + c.KeepUntil.UTC().Format(time.RFC3339)
	}
	reason += ": " + c.Purpose
	return s.transition(ctx, p, id, etag, actRequestConsent, reason, nil, func(r *Request, now time.Time) error {
		if err := notErased(*r); err != nil {
			return err
		}
		if err := everReceived(*r); err != nil {
			return err
		}
		if err := roomFor(*r, "consents", len(r.Consents)); err != nil {
			return err
		}
		if c.Kind == ConsentRetention {
			if err := retentionAllowed(*r, c.KeepUntil, 0); err != nil {
				return err
			}
		}
		rec := Consent{Number: int32(len(r.Consents) + 1), Kind: c.Kind, Purpose: c.Purpose, Recipient: c.Recipient, KeepUntil: c.KeepUntil,
			Decision: ConsentPending, RequestedBy: actorOf(p), RequestTime: now}
		r.Consents = append(slices.Clip(r.Consents), rec)
		return nil
	})
}

// consentNumbered returns the index of r's consent number, or a refusal
// naming the number.
func consentNumbered(r Request, number int32) (int, error) {
	i := slices.IndexFunc(r.Consents, func(c Consent) bool { return c.Number == number })
	if i >= 0 {
		return i, nil
	}
	d := fmt.Sprintf("request %s has no consent %d: none was asked yet", r.Reference, number)
	if n := len(r.Consents); n > 0 {
		d = fmt.Sprintf("request %s has no consent %d: its consents are numbered 1 to %d", r.Reference, number, n)
	}
	return -1, (errs.Violations{{Field: "consent", Description: d}}).Err(errs.FailedPrecondition, "no such consent")
}

// pendingConsent returns a copy of r's consents and the index of the
// pending one numbered number, or a refusal saying why it cannot be
// decided.
func pendingConsent(r Request, number int32) ([]Consent, int, error) {
	i, err := consentNumbered(r, number)
	if err != nil {
		return nil, -1, err
	}
	if c := r.Consents[i]; c.Decision != ConsentPending {
		return nil, -1, (errs.Violations{{Field: "consent", Description: fmt.Sprintf("consent %d was %s by %s on %s: only a pending consent is decided",
			number, c.Decision, c.DecidedBy.Subject, c.DecideTime.UTC().Format(time.RFC3339))}}).Err(errs.FailedPrecondition, "the consent is decided")
	}
	return slices.Clone(r.Consents), i, nil
}

// checkConsentNumber refuses a number that cannot name a consent.
func checkConsentNumber(number int32) errs.Violations {
	var vs errs.Violations
	if number < 1 {
		vs.Add("consent", "required: the number of the consent, from 1")
	}
	return vs
}

// GrantConsent grants the pending consent numbered number, with its terms
// if any. A granted RETENTION consent keeps the evidence until its
// keep_until: the evidence is erased then rather than when the DELETE_BY or
// RETURN condition falls due.
func (s *Service) GrantConsent(ctx context.Context, p identity.Principal, id, etag string, number int32, terms string) (View, error) {
	if err := checkConsentNumber(number).Err(errs.Invalid, "invalid grant"); err != nil {
		return View{}, err
	}
	reason := fmt.Sprintf("consent %d granted", number)
	if strings.TrimSpace(terms) != "" {
		reason += ": " + terms
	}
	return s.transition(ctx, p, id, etag, actGrantConsent, reason, nil, func(r *Request, now time.Time) error {
		if err := notErased(*r); err != nil {
			return err
		}
		consents, i, err := pendingConsent(*r, number)
		if err != nil {
			return err
		}
		c := &consents[i]
		if c.Kind == ConsentRetention {
			if err := retentionAllowed(*r, c.KeepUntil, number); err != nil {
				return err
			}
			if !c.KeepUntil.After(now) {
				return (errs.Violations{{Field: "consent", Description: fmt.Sprintf("consent %d asked to keep the evidence until %s, which has passed: "+
					"refuse it, and the requesting side may ask again", number, c.KeepUntil.UTC().Format(time.RFC3339))}}).
					Err(errs.FailedPrecondition, "the consent asks for a date past")
			}
			r.Deadlines.EvidenceEraseBy = c.KeepUntil
		}
		c.Decision, c.DecidedBy, c.DecideTime, c.Answer = ConsentGranted, actorOf(p), now, terms
		r.Consents = consents
		return nil
	})
}

// RefuseConsent refuses the pending consent numbered number, saying why.
func (s *Service) RefuseConsent(ctx context.Context, p identity.Principal, id, etag string, number int32, reason string) (View, error) {
	vs := checkConsentNumber(number)
	if strings.TrimSpace(reason) == "" {
		vs.Add("reason", "required: say why the consent is refused")
	}
	if err := vs.Err(errs.Invalid, "invalid refusal of consent"); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actRefuseConsent, fmt.Sprintf("consent %d refused: %s", number, reason), nil,
		func(r *Request, now time.Time) error {
			if err := notErased(*r); err != nil {
				return err
			}
			consents, i, err := pendingConsent(*r, number)
			if err != nil {
				return err
			}
			c := &consents[i]
			c.Decision, c.DecidedBy, c.DecideTime, c.Answer = ConsentRefused, actorOf(p), now, reason
			r.Consents = consents
			return nil
		})
}

// sameRecipient says whether two names of an authority are the same but
// for case and surrounding spaces.
func sameRecipient(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// transferAllowed refuses the onward transfer t of r unless it relies on
// a granted ONWARD_TRANSFER consent for its recipient (when the consent
// names one), as it must under a NO_ONWARD_TRANSFER condition.
func transferAllowed(r Request, t OnwardTransfer) error {
	fail := func(field, format string, args ...any) error {
		return (errs.Violations{{Field: field, Description: fmt.Sprintf(format, args...)}}).Err(errs.FailedPrecondition, "the onward transfer is not authorised")
	}
	if t.Consent == 0 {
		if binds(r, NoOnwardTransfer) {
			return fail("consent", "a NO_ONWARD_TRANSFER condition binds request %s: ask the requested side's consent first "+
				"(POST /v1/requests/%s:requestConsent with kind ONWARD_TRANSFER and the recipient) and, once it is granted, name it here", r.Reference, r.ID)
		}
		return nil
	}
	i, err := consentNumbered(r, t.Consent)
	if err != nil {
		return err
	}
	switch c := r.Consents[i]; {
	case c.Kind != ConsentOnwardTransfer:
		return fail("consent", "consent %d is a consent to %s, not to an ONWARD_TRANSFER", c.Number, c.Kind)
	case c.Decision != ConsentGranted:
		return fail("consent", "consent %d is %s: only a granted consent authorises an onward transfer", c.Number, c.Decision)
	case c.Recipient != "" && !sameRecipient(c.Recipient, t.Recipient):
		return fail("recipient", "consent %d was granted for a transfer to %s, not to %s", c.Number, c.Recipient, t.Recipient)
	}
	return nil
}

// RecordOnwardTransfer records that what was received was passed on to a
// recipient, under an authorisation; under a NO_ONWARD_TRANSFER condition
// only on a granted consent (t.Consent, its number).
func (s *Service) RecordOnwardTransfer(ctx context.Context, p identity.Principal, id, etag string, t OnwardTransfer) (View, error) {
	var vs errs.Violations
	if strings.TrimSpace(t.Recipient) == "" {
		vs.Add("recipient", "required: to whom it was passed on")
	}
	if strings.TrimSpace(t.Authorisation) == "" {
		vs.Add("authorisation", "required: what authorised it (a court order, the granted consent)")
	}
	if t.Consent < 0 {
		vs.Add("consent", "the number of a granted consent, from 1, or 0 for none; not %d", t.Consent)
	}
	if err := vs.Err(errs.Invalid, "invalid onward transfer"); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actRecordOnwardTransfer, "to "+t.Recipient+": "+t.Authorisation, nil,
		func(r *Request, now time.Time) error {
			if err := notErased(*r); err != nil {
				return err
			}
			if err := everReceived(*r); err != nil {
				return err
			}
			if err := roomFor(*r, "onward_transfers", len(r.OnwardTransfers)); err != nil {
				return err
			}
			if err := transferAllowed(*r, t); err != nil {
				return err
			}
			rec := OnwardTransfer{Recipient: t.Recipient, Authorisation: t.Authorisation, Consent: t.Consent, RecordedBy: actorOf(p), RecordTime: now}
			r.OnwardTransfers = append(slices.Clip(r.OnwardTransfers), rec)
			return nil
		})
}

// ReportUse reports how what was received was used, where a REPORT_USE
// condition asks for it: the report meets the condition's deadline, and
// the request is no longer overdue for it.
func (s *Service) ReportUse(ctx context.Context, p identity.Principal, id, etag, text string) (View, error) {
	if strings.TrimSpace(text) == "" {
		return View{}, (errs.Violations{{Field: "text", Description: "required: say how what was received was used"}}).Err(errs.Invalid, "invalid report of use")
	}
	return s.transition(ctx, p, id, etag, actReportUse, text, nil, func(r *Request, now time.Time) error {
		if err := notErased(*r); err != nil {
			return err
		}
		if !binds(*r, ReportUseCondition) {
			return (errs.Violations{{Field: "binding_conditions", Description: fmt.Sprintf(
				"no REPORT_USE condition binds request %s: nothing asks for a report of its use", r.Reference)}}).
				Err(errs.FailedPrecondition, "no report of use is asked")
		}
		if err := roomFor(*r, "use_reports", len(r.UseReports)); err != nil {
			return err
		}
		r.UseReports = append(slices.Clip(r.UseReports), UseReport{Text: text, ReportedBy: actorOf(p), ReportTime: now})
		r.Deadlines.ReportUseBy = time.Time{}
		return nil
	})
}

// evidenceTooLate refuses EVIDENCE for r once the date a DELETE_BY or
// RETURN condition set for its evidence has passed (the condition's, or a
// granted RETENTION consent's keep_until): evidence delivered after it
// would be governed by nothing until the request's retention ran out,
// years later, against the condition. Before that date evidence is taken,
// and erased with the rest when the date comes.
func evidenceTooLate(r Request, kind string, now time.Time) error {
	if kind != evidenceKind {
		return nil
	}
	var cond *Condition
	for _, c := range r.BindingConditions() {
		if c.Kind == DeleteBy || c.Kind == ReturnBy {
			cond = &c
			break
		}
	}
	if cond == nil {
		return nil
	}
	due := r.Deadlines.EvidenceEraseBy
	if !due.IsZero() && now.Before(due) {
		return nil
	}
	if due.IsZero() {
		// Cleared: the evidence was erased at its date.
		due = cond.DueTime
	}
	return (errs.Violations{{Field: "metadata.kind", Description: fmt.Sprintf(
		"request %s's evidence was to be deleted or returned by %s under its %s condition; evidence cannot be delivered after that date",
		r.Reference, due.UTC().Format(time.RFC3339), cond.Kind)}}).Err(errs.FailedPrecondition, "evidence past its DELETE_BY or RETURN date")
}
