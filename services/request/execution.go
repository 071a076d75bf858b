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
)

// The values of DESIGN §5.2, as proto enum value names.
var (
	// Outcomes are what may come of one item of an execution.
	Outcomes = []string{"PROVIDED", "NOT_HELD", "NOT_RETAINED", "REFUSED", "POSTPONED", "IMPOSSIBLE"}
	// ImpedimentKinds are what the requested side may report as impeding
	// execution.
	ImpedimentKinds = []string{"INCOMPLETE", "MANIFEST_ERROR", "DE_FACTO_IMPOSSIBLE", "SIGNIFICANT_DELAY"}
	// ConditionKinds are the conditions the requested side may propose.
	ConditionKinds = []string{"USE_ONLY_STATED_PROCEEDINGS", "CONFIDENTIAL", "NO_ONWARD_TRANSFER", "DELETE_BY", "RETURN", "REPORT_USE", "OTHER"}
	// CostKinds are the kinds of cost (UNTOC 18(28)).
	CostKinds = []string{"ORDINARY", "EXTRAORDINARY"}
)

// The decisions on a ConditionsProposal.
const (
	proposalPending  = "PENDING"
	proposalAccepted = "ACCEPTED"
	proposalRejected = "REJECTED"
)

// itemsRequired says whether an execution of r must account for what it
// sought item by item. A production request names identifiers and asks for
// data about each, and the requesting side needs to know, for each, whether
// it was provided and, if not, why (the e-Evidence forms list items so);
// a preservation preserves what it names as a whole, and one with no
// identifiers (other assistance) has no items to account for.
func itemsRequired(r Request) bool {
	return r.Type != cooperation.DataPreservation && len(r.Identifiers) > 0
}

// checkDelivery checks a delivery e of r against r: its attachments (ids)
// are r's, and so are each item's; each item names one of r's identifiers
// and, where r lists data categories, one of them, once; has an outcome;
// gives a reason for any outcome but PROVIDED. The final delivery of a
// request that needs items must leave no identifier without an item in it
// or an earlier delivery: the requesting side learns what came of each.
func (s *Service) checkDelivery(ctx context.Context, r Request, e Execution, attachmentIDs []string) error {
	vs, err := s.unknownAttachments(ctx, r.ID, "attachments", attachmentIDs)
	if err != nil {
		return err
	}
	items, final := e.Items, !e.Partial
	if len(items) == 0 && itemsRequired(r) {
		vs.Add("items", "say what came of each identifier sought: at least one item is required for a %s request", r.Type)
	} else if final && itemsRequired(r) {
		covered := make(map[int32]bool)
		for _, d := range append(slices.Clone(r.Deliveries), Execution{Items: items}) {
			for _, it := range d.Items {
				covered[it.IdentifierIndex] = true
			}
		}
		for i, id := range r.Identifiers {
			if !covered[int32(i)] {
				vs.Add("items", "identifier %d (%s) has no item in this delivery or an earlier one: say what came of it, or deliver partially", i, id.Value)
			}
		}
	}
	type key struct {
		index    int32
		category string
	}
	seen := make(map[key]int)
	for i, it := range items {
		at := fmt.Sprintf("items[%d]", i)
		if j, dup := seen[key{it.IdentifierIndex, it.DataCategory}]; dup {
			vs.Add(at, "repeats items[%d]: one item per identifier and data category", j)
		} else {
			seen[key{it.IdentifierIndex, it.DataCategory}] = i
		}
		if it.IdentifierIndex < 0 || int(it.IdentifierIndex) >= len(r.Identifiers) {
			if len(r.Identifiers) == 0 {
				vs.Add(at+".identifier_index", "the request names no identifiers; leave the items out")
			} else {
				vs.Add(at+".identifier_index", "must index one of the request's %d identifiers (0 to %d)", len(r.Identifiers), len(r.Identifiers)-1)
			}
		}
		switch {
		case len(r.DataCategories) == 0 && it.DataCategory != "":
			vs.Add(at+".data_category", "the request names no data categories; leave it empty")
		case len(r.DataCategories) > 0 && !slices.Contains(r.DataCategories, it.DataCategory):
			vs.Add(at+".data_category", "must be one of the request's data categories: %s", strings.Join(r.DataCategories, ", "))
		}
		switch {
		case it.Outcome == "":
			vs.Add(at+".outcome", "required: %s", strings.Join(Outcomes, ", "))
		case !slices.Contains(Outcomes, it.Outcome):
			vs.Add(at+".outcome", "%s is not an outcome; one of %s", it.Outcome, strings.Join(Outcomes, ", "))
		case it.Outcome != "PROVIDED" && strings.TrimSpace(it.Reason) == "":
			vs.Add(at+".reason", "say why the item was not provided (%s)", it.Outcome)
		}
		more, err := s.unknownAttachments(ctx, r.ID, at+".attachments", it.Attachments)
		if err != nil {
			return err
		}
		vs = append(vs, more...)
	}
	return vs.Err(errs.FailedPrecondition, "the delivery does not match the request")
}

// unknownAttachments returns a violation of field[i] for each id that is
// not an attachment of the request.
func (s *Service) unknownAttachments(ctx context.Context, requestID, field string, ids []string) (errs.Violations, error) {
	var vs errs.Violations
	for i, id := range ids {
		if _, err := s.store.GetAttachment(ctx, requestID, id); err != nil {
			if errs.CodeOf(err) != errs.NotFound {
				return nil, err
			}
			vs.Add(fmt.Sprintf("%s[%d]", field, i), "%q is not an attachment of this request; upload it first", id)
		}
	}
	return vs, nil
}

// deliver records the delivery e at now on r: appended to the deliveries,
// the request's execution from now on. The first delivery answers the
// request: it meets the answer deadline, and statistics count the time to
// answer up to it; later ones do not move AnswerTime.
func deliver(r *Request, e Execution, p identity.Principal, now time.Time) {
	e.ExecutedBy, e.ExecuteTime = actorOf(p), now
	e.Items, e.Attachments = slices.Clone(e.Items), slices.Clone(e.Attachments)
	r.Deliveries = append(slices.Clip(r.Deliveries), e)
	last := e
	r.Execution = &last
	if r.AnswerTime.IsZero() {
		r.AnswerTime = now
	}
	r.Status = Executed
	if e.Partial {
		r.Status = PartiallyExecuted
	}
}

// NotifyImpediment records what impedes execution (the request is
// incomplete, has a manifest error, is impossible de facto, or will be
// significantly delayed), for the requesting side to see; the status does
// not change.
func (s *Service) NotifyImpediment(ctx context.Context, p identity.Principal, id, etag string, im Impediment) (View, error) {
	var vs errs.Violations
	if !slices.Contains(ImpedimentKinds, im.Kind) {
		vs.Add("kind", "required: one of %s", strings.Join(ImpedimentKinds, ", "))
	}
	if strings.TrimSpace(im.Explanation) == "" {
		vs.Add("explanation", "required: say what impedes execution")
	}
	if !im.ExpectedTime.IsZero() && !im.ExpectedTime.After(s.now()) {
		vs.Add("expected_time", "must be in the future: when execution is now expected")
	}
	if err := vs.Err(errs.Invalid, "invalid impediment"); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actNotifyImpediment, im.Explanation, nil, func(r *Request, now time.Time) error {
		rec := im
		rec.ReportedBy, rec.ReportTime = actorOf(p), now
		r.Impediments = append(slices.Clip(r.Impediments), rec)
		return nil
	})
}

// Postpone postpones execution until a date (Budapest 27(5), UNTOC
// 18(25)). The answer clock stops: the answer deadline is set aside in the
// postponement, and Resume restores it moved on by the time spent
// postponed. While postponed, answer_by is the date postponed until: the
// requested side is to resume (or answer) by then, and a request left
// postponed past it is overdue rather than waiting unseen for ever.
func (s *Service) Postpone(ctx context.Context, p identity.Principal, id, etag string, until time.Time, reason string) (View, error) {
	var vs errs.Violations
	now := s.now()
	switch {
	case until.IsZero():
		vs.Add("until", "required: until when execution is postponed")
	case !until.After(now):
		vs.Add("until", "must be in the future")
	case until.After(now.Add(MaxPeriod)):
		vs.Add("until", "must be at most ten years ahead")
	}
	if strings.TrimSpace(reason) == "" {
		vs.Add("reason", "required: say why execution is postponed")
	}
	if err := vs.Err(errs.Invalid, "invalid postponement"); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actPostpone, reason, nil, func(r *Request, now time.Time) error {
		r.Postponement = &Postponement{Until: until, Reason: reason, ResumeStatus: r.Status, PostponedBy: actorOf(p), PostponeTime: now,
			PausedAnswerBy: r.Deadlines.AnswerBy}
		r.Deadlines.AnswerBy = until
		return nil
	})
}

// Resume returns a postponed request to the status it was postponed from,
// its answer deadline moved on by exactly the time it spent postponed.
func (s *Service) Resume(ctx context.Context, p identity.Principal, id, etag string) (View, error) {
	return s.transition(ctx, p, id, etag, actResume, "", nil, func(r *Request, now time.Time) error {
		if r.Postponement == nil || r.Postponement.ResumeStatus == "" {
			// Only :postpone leads to POSTPONED, and it records both.
			return fmt.Errorf("request %s is postponed with no postponement recorded", r.Reference)
		}
		pp := *r.Postponement
		// The date postponed until gives way to the answer deadline, moved
		// on (none if there was none).
		r.Deadlines.AnswerBy = time.Time{}
		if !pp.PausedAnswerBy.IsZero() {
			r.Deadlines.AnswerBy = pp.PausedAnswerBy.Add(now.Sub(pp.PostponeTime))
		}
		pp.ResumeTime, pp.PausedAnswerBy = now, time.Time{}
		r.Postponement, r.Status = &pp, pp.ResumeStatus
		return nil
	})
}

// checkConditions checks a proposal of conditions and cost at now.
func checkConditions(conditions []Condition, cost *Cost, now time.Time) error {
	var vs errs.Violations
	if len(conditions) == 0 && cost == nil {
		vs.Add("conditions", "propose at least one condition, or a cost")
	}
	// The same check as :accept's use conditions: they bind alike once
	// accepted.
	vs = append(vs, checkConditionList("conditions", conditions, now)...)
	if cost != nil {
		if !slices.Contains(CostKinds, cost.Kind) {
			vs.Add("cost.kind", "required: ORDINARY or EXTRAORDINARY")
		}
		switch {
		case cost.Estimate != "" && cost.Currency == "":
			vs.Add("cost.currency", "required with an estimate: its ISO 4217 code")
		case cost.Estimate == "" && cost.Currency != "":
			vs.Add("cost.estimate", "required with a currency")
		}
	}
	return vs.Err(errs.Invalid, "invalid conditions")
}

// ProposeConditions proposes the conditions and cost under which the
// requested side would execute, for the requesting side to accept or
// reject.
func (s *Service) ProposeConditions(ctx context.Context, p identity.Principal, id, etag string, conditions []Condition, cost *Cost) (View, error) {
	if err := checkConditions(conditions, cost, s.now()); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actProposeConditions, describeConditions(conditions, cost), nil,
		func(r *Request, now time.Time) error {
			cp := &ConditionsProposal{Conditions: slices.Clone(conditions), ProposedBy: actorOf(p), ProposeTime: now, Decision: proposalPending}
			if cost != nil {
				c := *cost
				cp.Cost = &c
			}
			r.ConditionsProposal = cp
			return nil
		})
}

// AcceptConditions accepts the proposed conditions: they bind, their
// deadlines start, the requesting side has acknowledged them, and the
// request is accepted. Its Acceptance carries the conditions; the
// dual-criminality assessment and the human-rights review stay unrecorded
// (the requested side proposed conditions instead of accepting, and did
// not record them), which the API shows as absent rather than as "no
// concerns".
func (s *Service) AcceptConditions(ctx context.Context, p identity.Principal, id, etag string) (View, error) {
	return s.transition(ctx, p, id, etag, actAcceptConditions, "", nil, func(r *Request, now time.Time) error {
		cp, err := pendingProposal(*r)
		if err != nil {
			return err
		}
		cp.Decision, cp.DecidedBy, cp.DecideTime = proposalAccepted, actorOf(p), now
		r.ConditionsProposal = &cp
		r.Acceptance = &Acceptance{Conditions: describeConditions(cp.Conditions, cp.Cost)}
		// The conditions bind now, and the requesting side, accepting them,
		// acknowledges them (DESIGN §10).
		bindConditions(r)
		if n := len(r.BindingConditions()); n > 0 {
			r.ConditionsAcknowledgement = &ConditionsAcknowledgement{AcknowledgedBy: actorOf(p), AcknowledgeTime: now, Conditions: int32(n)}
		}
		return nil
	})
}

// RejectConditions rejects the proposed conditions; the request is back
// with the requested side to decide.
func (s *Service) RejectConditions(ctx context.Context, p identity.Principal, id, etag, reason string) (View, error) {
	if err := required("reason", reason); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actRejectConditions, reason, nil, func(r *Request, now time.Time) error {
		cp, err := pendingProposal(*r)
		if err != nil {
			return err
		}
		cp.Decision, cp.DecidedBy, cp.DecideTime, cp.RejectReason = proposalRejected, actorOf(p), now, reason
		r.ConditionsProposal = &cp
		return nil
	})
}

// pendingProposal returns a copy of r's proposal, which only
// :proposeConditions, the one way to CONDITIONS_PROPOSED, records.
func pendingProposal(r Request) (ConditionsProposal, error) {
	if r.ConditionsProposal == nil {
		return ConditionsProposal{}, fmt.Errorf("request %s has conditions proposed but none recorded", r.Reference)
	}
	cp := *r.ConditionsProposal
	cp.Conditions = slices.Clone(cp.Conditions)
	return cp, nil
}

// describeConditions says conditions and cost in one line, for the history
// and the acceptance.
func describeConditions(conditions []Condition, cost *Cost) string {
	var parts []string
	for _, c := range conditions {
		s := c.Kind
		if !c.DueTime.IsZero() {
			s += " by " + c.DueTime.UTC().Format(time.RFC3339)
		}
		if c.Text != "" {
			s += ": " + c.Text
		}
		parts = append(parts, s)
	}
	if cost != nil {
		s := "cost " + cost.Kind
		if cost.Estimate != "" {
			s += " " + cost.Estimate + " " + cost.Currency
		}
		if cost.Bearer != "" {
			s += ", borne by " + cost.Bearer
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// preservationGrounds are the grounds on which a preservation may be
// refused (Budapest 29(5)): political offence or essential interests, and
// dual criminality only where the requested state has made the Art 29(4)
// reservation, which the caller says.
func preservationGrounds(reservation bool) []string {
	g := []string{"POLITICAL_OFFENCE", "ESSENTIAL_INTERESTS"}
	if reservation {
		g = append(g, "DUAL_CRIMINALITY_NOT_MET")
	}
	return g
}

// checkRefusalOf checks what a refusal f needs given the request r at now
// and whether the requested state's profile records the Budapest Art 29(4)
// reservation: a preservation only on the grounds preservationGrounds
// allows; anything
// else only after a consultation on granting in part or under conditions
// (Budapest 27(6), UNTOC 18(26)), held no later than now.
func checkRefusalOf(r Request, f Refusal, now time.Time, reservation bool) error {
	var vs errs.Violations
	if r.Type == cooperation.DataPreservation {
		allowed := preservationGrounds(reservation)
		for i, g := range f.Grounds {
			if !slices.Contains(allowed, g) {
				vs.Add(fmt.Sprintf("grounds[%d]", i), "a preservation may be refused only on %s, not %s", strings.Join(allowed, " or "), g)
			}
		}
		return vs.Err(errs.FailedPrecondition, "a preservation cannot be refused on these grounds")
	}
	switch c := f.Consultation; {
	case c == nil:
		vs.Add("consultation", "required: record the consultation on granting the request in part or under conditions before refusing it")
	default:
		if strings.TrimSpace(c.Note) == "" {
			vs.Add("consultation.note", "required: what was considered and with whom")
		}
		if c.Time.After(now) {
			vs.Add("consultation.time", "must not be in the future")
		}
	}
	return vs.Err(errs.FailedPrecondition, "the refusal lacks its consultation")
}
