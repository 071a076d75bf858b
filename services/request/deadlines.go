package request

import (
	"fmt"
	"slices"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/query"
)

// Policy is the deadline policy table of DESIGN §5. Times are absolute
// (UTC); each party sees them in its own time zone.
type Policy struct {
	// Acknowledge is how long after transmission the requested agency has
	// to acknowledge, by priority.
	Acknowledge map[cooperation.Priority]time.Duration
	// Answer is how long after acknowledgement it has to execute or refuse,
	// by priority; a requested response date that comes earlier wins.
	Answer map[cooperation.Priority]time.Duration
	// Preservation is how long an executed preservation holds, how much
	// each extension of the requested side's own adds, and the most days
	// the requesting side may ask for at once.
	Preservation time.Duration
	// Confirmation is how long after the call the requesting side has to
	// confirm in writing a request recorded from a call (DESIGN §5.3).
	Confirmation time.Duration
	// ExecuteBeforeConfirmation are the request types the requested side
	// may accept and execute before the requesting side has confirmed them
	// in writing: a preservation cannot wait, a production can.
	ExecuteBeforeConfirmation []cooperation.RequestType
	// ExtensionNotice is how long before a preservation's expiry the
	// requesting side should ask to extend it (deadlines.extension_request_by).
	ExtensionNotice time.Duration
	// HoldReturn is how long a preservation holds again once the follow-up
	// that held it is executed, refused or withdrawn: time for the
	// requesting side to release it or ask for more.
	HoldReturn time.Duration
}

const day = 24 * time.Hour

// DefaultPolicy is the policy of DESIGN §5.
func DefaultPolicy() Policy {
	return Policy{
		Acknowledge: map[cooperation.Priority]time.Duration{
			cooperation.Emergency: 8 * time.Hour, cooperation.Urgent: 24 * time.Hour, cooperation.Routine: 5 * day,
		},
		Answer: map[cooperation.Priority]time.Duration{
			cooperation.Emergency: 8 * time.Hour, cooperation.Urgent: 10 * day, cooperation.Routine: 90 * day,
		},
		Preservation:              90 * day,
		Confirmation:              72 * time.Hour,
		ExecuteBeforeConfirmation: []cooperation.RequestType{cooperation.DataPreservation},
		ExtensionNotice:           10 * day,
		HoldReturn:                30 * day,
	}
}

// priorities are the priorities a policy gives periods for.
var priorities = []cooperation.Priority{cooperation.Emergency, cooperation.Urgent, cooperation.Routine}

// MaxPeriod bounds every period of a policy: ten years is more than any
// treaty allows for an answer or a preservation, and keeps every deadline a
// date that can be stored and shown.
const MaxPeriod = 10 * 365 * day

// Validate reports a policy that lacks a priority, names an unknown one, or
// has a period that is not positive or longer than MaxPeriod.
func (p Policy) Validate() error {
	for _, pr := range priorities {
		if p.Acknowledge[pr] <= 0 || p.Answer[pr] <= 0 {
			return fmt.Errorf("deadline policy: %s needs positive acknowledge and answer periods", pr)
		}
		if p.Acknowledge[pr] > MaxPeriod || p.Answer[pr] > MaxPeriod {
			return fmt.Errorf("deadline policy: the periods of %s must be at most ten years (3650d)", pr)
		}
	}
	for _, periods := range []map[cooperation.Priority]time.Duration{p.Acknowledge, p.Answer} {
		for pr := range periods {
			if !slices.Contains(priorities, pr) {
				return fmt.Errorf("deadline policy: unknown priority %q", pr)
			}
		}
	}
	if p.Preservation <= 0 || p.Preservation > MaxPeriod {
		return fmt.Errorf("deadline policy: preservation period must be positive and at most ten years (3650d)")
	}
	if p.Confirmation <= 0 || p.Confirmation > MaxPeriod {
		return fmt.Errorf("deadline policy: confirmation period must be positive and at most ten years (3650d)")
	}
	for _, t := range p.ExecuteBeforeConfirmation {
		if !slices.Contains(cooperation.RequestTypes, t) {
			return fmt.Errorf("deadline policy: execute_before_confirmation: unknown request type %q", t)
		}
	}
	if p.ExtensionNotice <= 0 || p.ExtensionNotice >= p.Preservation {
		return fmt.Errorf("deadline policy: the extension notice must be positive and shorter than the preservation period")
	}
	if p.HoldReturn <= 0 || p.HoldReturn > MaxPeriod {
		return fmt.Errorf("deadline policy: the hold return period must be positive and at most ten years (3650d)")
	}
	return nil
}

// acknowledgeBy is when the requested agency must have acknowledged a
// request of priority pr transmitted at transmit.
func (p Policy) acknowledgeBy(transmit time.Time, pr cooperation.Priority) time.Time {
	return transmit.Add(p.Acknowledge[pr])
}

// answerBy is when the requested side must have executed or refused a
// request of priority pr acknowledged at ack: the policy's period, or the
// requested response time (zero: none) if that comes earlier.
func (p Policy) answerBy(ack time.Time, pr cooperation.Priority, requested time.Time) time.Time {
	answer := ack.Add(p.Answer[pr])
	if !requested.IsZero() && requested.Before(answer) {
		return requested
	}
	return answer
}

// preservationExpiry is when a preservation executed at executed lapses.
func (p Policy) preservationExpiry(executed time.Time) time.Time {
	return executed.Add(p.Preservation)
}

// extendedPreservation is a preservation's expiry after an extension by
// add at now: the current expiry plus add, at most ten years from now.
func (p Policy) extendedPreservation(expiry time.Time, add time.Duration, now time.Time) (time.Time, error) {
	if expiry.Add(add).After(now.Add(MaxPeriod)) {
		return time.Time{}, (errs.Violations{{Field: "deadlines.preservation_expires_at", Description: fmt.Sprintf(
			"the preservation holds until %s; it can be extended to at most ten years from now", expiry.Format(time.RFC3339))}}).
			Err(errs.FailedPrecondition, "cannot extend the preservation")
	}
	return expiry.Add(add), nil
}

// awaitingAnswer are the statuses in which the requested side owes an
// answer (execution or refusal) by answer_by; POSTPONED owes its
// resumption by then (Postpone).
var awaitingAnswer = []Status{Acknowledged, ClarificationRequested, Accepted, Postponed}

// Overdue reports whether r is past a deadline at now without the expected
// action: not acknowledged by AcknowledgeBy, not answered by AnswerBy, or,
// recorded from a call, not confirmed in writing by ConfirmationDueBy
// (which confirmation clears) while the requesting side still can confirm
// it, or past an obligation of DESIGN §10 (ObligationDueBy). It looks at metadata only (redact keeps what it needs), so that a
// watch's snapshot says the same as the request.
func Overdue(r Request, now time.Time) bool {
	if !r.Deadlines.ConfirmationDueBy.IsZero() && slices.Contains(pending, r.Status) && now.After(r.Deadlines.ConfirmationDueBy) {
		return true
	}
	if due := r.ObligationDueBy(); !due.IsZero() && now.After(due) {
		// A report of use or a legal hold's review is late (DESIGN §10),
		// whatever the status.
		return true
	}
	switch {
	case r.Status == Transmitted:
		return !r.Deadlines.AcknowledgeBy.IsZero() && now.After(r.Deadlines.AcknowledgeBy)
	case slices.Contains(awaitingAnswer, r.Status):
		return !r.Deadlines.AnswerBy.IsZero() && now.After(r.Deadlines.AnswerBy)
	}
	return false
}

// overdueExpr is Overdue as a store filter at now.
func overdueExpr(now time.Time) query.Expr {
	status := func(s Status) query.Expr { return query.Compare{Field: "status", Op: query.Eq, Value: string(s)} }
	awaiting := status(awaitingAnswer[0])
	for _, s := range awaitingAnswer[1:] {
		awaiting = query.Or{Left: awaiting, Right: status(s)}
	}
	unconfirmed := status(pending[0])
	for _, s := range pending[1:] {
		unconfirmed = query.Or{Left: unconfirmed, Right: status(s)}
	}
	return query.Or{
		Left: query.Or{
			Left:  query.And{Left: status(Transmitted), Right: query.Compare{Field: "acknowledgeBy", Op: query.Lt, Value: now}},
			Right: query.And{Left: awaiting, Right: query.Compare{Field: "answerBy", Op: query.Lt, Value: now}},
		},
		Right: query.Or{
			Left:  query.And{Left: unconfirmed, Right: query.Compare{Field: "confirmationDueBy", Op: query.Lt, Value: now}},
			Right: query.Compare{Field: "obligationDueBy", Op: query.Lt, Value: now},
		},
	}
}

// rewriteOverdue replaces every comparison on "overdue" in a user filter by
// the deadline conditions it stands for, since overdue depends on the time
// of the query and is not stored.
func rewriteOverdue(e query.Expr, now time.Time) query.Expr {
	switch x := e.(type) {
	case query.And:
		return query.And{Left: rewriteOverdue(x.Left, now), Right: rewriteOverdue(x.Right, now)}
	case query.Or:
		return query.Or{Left: rewriteOverdue(x.Left, now), Right: rewriteOverdue(x.Right, now)}
	case query.Not:
		return query.Not{X: rewriteOverdue(x.X, now)}
	case *query.And:
		return rewriteOverdue(*x, now)
	case *query.Or:
		return rewriteOverdue(*x, now)
	case *query.Not:
		return rewriteOverdue(*x, now)
	case *query.Compare:
		return rewriteOverdue(*x, now)
	case query.Compare:
		if x.Field != "overdue" {
			return x
		}
		want, _ := x.Value.(bool)
		if x.Op == query.Ne {
			want = !want
		}
		if want {
			return overdueExpr(now)
		}
		return query.Not{X: overdueExpr(now)}
	}
	return e
}
