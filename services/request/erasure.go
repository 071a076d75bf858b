package request

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

// Retention and erasure (DESIGN §10): the sweep that erases what is due,
// the legal hold that stops it, and what an erased request answers.

// The audit trail's names for the sweep, which acts on no one's call: the
// service itself is the actor, and the actions are named as methods of the
// request service, as every event's action is.
const (
	sweepService         = "comity-request"
	eraseRequestAction   = "/comity.request.v1.RequestService/EraseRequest"
	eraseEvidenceAction  = "/comity.request.v1.RequestService/EraseEvidence"
	actEraseContent      = "eraseContent"
	actEraseEvidence     = "eraseEvidence"
	sweepBatch           = 100
	retentionPolicyActor = "retention policy"
)

// sweepActor is who erases in the request's history: the service, under
// the retention policy or a condition.
var sweepActor = Actor{Subject: sweepService, Name: retentionPolicyActor}

// errNotDue is what an erasure's fn answers when, read again under the
// store's lock, the request is no longer due (another replica erased it,
// a legal hold was set, it was reopened): the sweep leaves it.
var errNotDue = errors.New("not due")

// SweepReport is what one sweep did.
type SweepReport struct {
	// Erased counts the requests whose content was erased under the
	// retention policy, Evidence those whose evidence was erased under a
	// condition, Completed the erasures finished (their attachments'
	// content deleted from the blob store).
	Erased, Evidence, Completed int
	// Skipped says that the directory could not say the states'
	// retentions this sweep ("every state"): none of their requests was
	// erased under the retention policy.
	Skipped []string
}

// retentionOf is how long the content of a request whose requesting state
// is state is kept after it is closed: the state's value in the
// directory, else the deployment's. ok is false when the directory could
// not answer: nothing is erased on a guess.
func (s *Service) retentionOf(ctx context.Context, state string) (time.Duration, bool) {
	d, ok, err := s.dir.Retention(ctx, state)
	switch {
	case err != nil:
		return 0, false
	case ok && d > 0:
		return d, true
	}
	return s.retention, true
}

// withEraseBy sets r's Deadlines.EraseBy from its retention start and its
// requesting state's retention; it stays zero when nothing is due or the
// retention cannot be known now. retention memoises retentionOf per state
// within one read.
func (s *Service) withEraseBy(ctx context.Context, r Request, retention map[string]time.Duration) Request {
	start := r.RetentionStart()
	if start.IsZero() {
		return r
	}
	d, ok := retention[r.RequestingState]
	if !ok {
		if d, ok = s.retentionOf(ctx, r.RequestingState); !ok {
			return r
		}
		if retention != nil {
			retention[r.RequestingState] = d
		}
	}
	r.Deadlines.EraseBy = start.Add(d)
	return r
}

// ContentErasedErr is the refusal of an action on the content of r, which
// was erased: what a Store answers when a message or an attachment comes
// for such a request.
func ContentErasedErr(r Request) error {
	var at time.Time
	if i := slices.IndexFunc(r.Erasures, func(e Erasure) bool { return e.Scope == EraseContent }); i >= 0 {
		at = r.Erasures[i].EraseTime
	}
	return (errs.Violations{{Field: "erasures", Description: fmt.Sprintf("the content of request %s was erased on %s under the retention policy; "+
		"its metadata and history remain", r.Reference, at.Format(time.DateOnly))}}).Err(errs.FailedPrecondition,
		fmt.Sprintf("request %s's content was erased on %s under the retention policy", r.Reference, at.Format(time.DateOnly)))
}

// attachmentErasedErr is the refusal of a download of a, whose content was
// erased.
func attachmentErasedErr(a Attachment) error {
	return errs.New(errs.FailedPrecondition, "the content of attachment %s was erased on %s (under a DELETE_BY or RETURN condition, "+
		"or the retention policy); its SHA-256 and size remain", a.ID, a.EraseTime.Format(time.RFC3339))
}

// contentFree are the actions that neither read nor change a request's
// content: they remain on an erased request.
var contentFree = []act{actTransferOwnership, actWithdraw}

// liveContent is caseContent for an action on the content itself
// (messages, uploads, downloads): FAILED_PRECONDITION once it was erased.
func (s *Service) liveContent(ctx context.Context, p identity.Principal, id string) (Request, error) {
	r, err := s.caseContent(ctx, p, id)
	if err == nil && r.ContentErased() {
		return Request{}, concerns(r, ContentErasedErr(r))
	}
	return r, err
}

// SetLegalHold sets a legal hold on a request, by the requesting state's
// central authority: its content is not erased at the end of its
// retention while the hold holds, and the request is overdue once
// reviewTime passes. Setting it on a request already held renews it: the
// new reason, review date and setter replace the old ones (the history
// keeps the earlier setting).
func (s *Service) SetLegalHold(ctx context.Context, p identity.Principal, id, etag, reason string, reviewTime time.Time) (View, error) {
	var vs errs.Violations
	now := s.now()
	switch {
	case reviewTime.IsZero():
		vs.Add("review_time", "required: when the hold is to be reviewed")
	case !reviewTime.After(now):
		vs.Add("review_time", "must be in the future")
	case reviewTime.After(now.Add(MaxPeriod)):
		vs.Add("review_time", "must be at most ten years ahead")
	}
	if strings.TrimSpace(reason) == "" {
		vs.Add("reason", "required: say why the content must be kept")
	}
	if err := vs.Err(errs.Invalid, "invalid legal hold"); err != nil {
		return View{}, err
	}
	return s.transition(ctx, p, id, etag, actSetLegalHold, reason, nil, func(r *Request, now time.Time) error {
		r.LegalHold = &LegalHold{Reason: reason, SetBy: actorOf(p), SetTime: now, ReviewTime: reviewTime}
		r.Deadlines.LegalHoldReviewBy = reviewTime
		return nil
	})
}

// LiftLegalHold lifts the legal hold, by the requesting state's central
// authority: the request's retention runs again (from its close), and
// its content is erased by the next sweep if that is past.
func (s *Service) LiftLegalHold(ctx context.Context, p identity.Principal, id, etag, reason string) (View, error) {
	if strings.TrimSpace(reason) == "" {
		return View{}, (errs.Violations{{Field: "reason", Description: "required: say why the hold is lifted"}}).Err(errs.Invalid, "invalid lifting of a legal hold")
	}
	return s.transition(ctx, p, id, etag, actLiftLegalHold, reason, nil, func(r *Request, now time.Time) error {
		if !r.LegalHold.Holds() {
			return (errs.Violations{{Field: "legal_hold", Description: fmt.Sprintf("request %s is under no legal hold", r.Reference)}}).Err(
				errs.FailedPrecondition, "no legal hold to lift")
		}
		h := *r.LegalHold
		h.LiftedBy, h.LiftTime, h.LiftReason = actorOf(p), now, reason
		r.LegalHold = &h
		r.Deadlines.LegalHoldReviewBy = time.Time{}
		return nil
	})
}

// RunSweeps runs Sweep every interval (the first an interval after the
// start) until ctx ends, handing
// each outcome to Config.OnSweep; an error does not stop the next sweep.
func (s *Service) RunSweeps(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		// The first sweep is an interval after the start, as every later
		// one: a sweep reads the directory's retentions anonymously, and a
		// suite started for a few calls should leave no unauthenticated
		// call of its own on the trail.
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep, err := s.Sweep(ctx)
		if ctx.Err() != nil {
			return
		}
		if s.onSweep != nil {
			s.onSweep(rep, err)
		}
	}
}

// Sweep erases what is due (DESIGN §10): it finishes the erasures a crash
// left pending, erases the content of every request whose retention has
// run out, and the evidence of every request whose DELETE_BY or RETURN
// condition fell due. Each erasure is decided again under the store's
// lock, so that replicas sweeping one database at once erase each request
// once, with one audit event. The requests looked at are those due, found
// through the store's indexed columns. After a sweep that erased anything
// the database is compacted (Store.Compact). Errors of single requests do
// not stop the sweep: they are returned together, the rest done.
func (s *Service) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	var problems []error
	now := s.now()

	pending := query.Compare{Field: "erasurePending", Op: query.Eq, Value: true}
	problems = append(problems, s.eachDue(ctx, pending, func(r Request) error {
		done, err := s.finish(ctx, r.ID)
		if done {
			rep.Completed++
		}
		return err
	}))

	retentions, err := s.retentions(ctx)
	if err != nil {
		// Never erase on a guess: without the directory's word, no state's
		// requests are erased under the retention policy this sweep.
		problems = append(problems, fmt.Errorf("retention sweep: the directory's retentions: %w", err))
		rep.Skipped = append(rep.Skipped, "every state")
	}
	for _, st := range slices.Sorted(maps.Keys(retentions)) {
		d := retentions[st]
		if d <= 0 {
			d = s.retention
		}
		due := query.And{
			Left:  query.Compare{Field: "requestingState", Op: query.Eq, Value: st},
			Right: query.Compare{Field: "retentionFrom", Op: query.Le, Value: now.Add(-d)},
		}
		problems = append(problems, s.eachDue(ctx, due, func(r Request) error {
			erased, done, err := s.eraseContent(ctx, r.ID, d)
			if erased {
				rep.Erased++
			}
			if done {
				rep.Completed++
			}
			return err
		}))
	}

	evidence := query.Compare{Field: "evidenceEraseBy", Op: query.Le, Value: now}
	problems = append(problems, s.eachDue(ctx, evidence, func(r Request) error {
		erased, done, err := s.eraseEvidence(ctx, r.ID)
		if erased {
			rep.Evidence++
		}
		if done {
			rep.Completed++
		}
		return err
	}))

	if rep.Erased+rep.Evidence+rep.Completed > 0 || s.compactDue.Load() {
		s.compactDue.Store(true)
		if err := s.store.Compact(ctx); err != nil {
			problems = append(problems, err)
		} else {
			s.compactDue.Store(false)
		}
	}
	return rep, errors.Join(problems...)
}

// retentions are the directory's states and the retention each sets
// (zero: none), asked without a user (Config.Retentions).
func (s *Service) retentions(ctx context.Context) (map[string]time.Duration, error) {
	if s.retentionsOf == nil {
		return nil, errors.New("no source of the states' retentions configured (Config.Retentions)")
	}
	return s.retentionsOf(ctx)
}

// eachDue calls do on every request filter selects, a page at a time. do
// takes a request out of the selection when it succeeds (its erasure
// changes the column the filter is on) and leaves it when it fails, so the
// next page starts after those that failed.
func (s *Service) eachDue(ctx context.Context, filter query.Expr, do func(Request) error) error {
	var problems []error
	failed := 0
	for {
		page, err := s.store.List(ctx, ListQuery{Filter: filter, Offset: failed, Limit: sweepBatch})
		if err != nil {
			return errors.Join(append(problems, err)...)
		}
		for _, r := range page.Requests {
			if ctx.Err() != nil {
				return errors.Join(append(problems, ctx.Err())...)
			}
			if err := do(r); err != nil {
				problems = append(problems, fmt.Errorf("request %s: %w", r.ID, err))
				failed++
			}
		}
		if !page.More {
			return errors.Join(problems...)
		}
	}
}

// eraseEvent is the audit event of an erasure of r.
func (s *Service) eraseEvent(ctx context.Context, r Request, action string, now time.Time) trail.Event {
	ctx = trail.WithCall(ctx, trail.Call{Service: sweepService, Action: action, Resource: "requests/" + r.ID})
	return trail.NewEvent(ctx, now, trail.Actor{Subject: sweepService}, "OK", trail.Details{States: states(r)})
}

// eraseContent erases the content of request id if its retention of d has
// run out, then deletes its attachments' content and records the erasure
// complete. erased says whether this call erased it (not another replica),
// done whether it completed.
func (s *Service) eraseContent(ctx context.Context, id string, d time.Duration) (erased, done bool, err error) {
	kept, err := s.unerased(ctx, id)
	if err != nil {
		return false, false, err
	}
	_, marked, err := s.store.Erase(ctx, id, EraseScope{Content: true}, func(r *Request) (Change, error) {
		now := s.now()
		start := r.RetentionStart()
		if start.IsZero() || now.Before(start.Add(d)) {
			return Change{}, errNotDue
		}
		from := r.Status
		ev := s.eraseEvent(ctx, *r, eraseRequestAction, now)
		next := redact(*r)
		next.Refusal, next.Deliveries = countedCodes(*r)
		next.Erasures = append(slices.Clone(r.Erasures), Erasure{Scope: EraseContent, Cause: ByRetention, EraseTime: now, Attachments: kept})
		// What the requesting side owed on the content goes with it.
		next.Deadlines.EvidenceEraseBy, next.Deadlines.ReportUseBy, next.Deadlines.LegalHoldReviewBy = time.Time{}, time.Time{}, time.Time{}
		next.UpdateTime = now
		*r = next
		return Change{
			History: &HistoryEntry{From: from, To: from, Action: actEraseContent, Actor: sweepActor, Time: now,
				Reason: fmt.Sprintf("content erased: the retention period of %s ran out", d)},
			Event: ev,
		}, nil
	})
	if errors.Is(err, errNotDue) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	done, err = s.deleteAndComplete(ctx, id, marked)
	return true, done, err
}

// countedCodes are what the statistics count of r's refusal and deliveries
// (Statistics): the grounds and the items' outcomes, closed codes that
// name no one. An erasure keeps them, so that the statistics of a period
// do not change when its requests are erased; the explanations, reasons
// and summaries go. Nothing shows them: an erased request is read as its
// metadata.
func countedCodes(r Request) (*Refusal, []Execution) {
	var refusal *Refusal
	if r.Refusal != nil && len(r.Refusal.Grounds) > 0 {
		refusal = &Refusal{Grounds: slices.Clone(r.Refusal.Grounds)}
	}
	var deliveries []Execution
	for _, d := range statisticsDeliveries(r) {
		var items []ExecutionItem
		for _, it := range d.Items {
			items = append(items, ExecutionItem{Outcome: it.Outcome})
		}
		if len(items) > 0 {
			deliveries = append(deliveries, Execution{Items: items})
		}
	}
	return refusal, deliveries
}

// eraseEvidence erases the content of the EVIDENCE attachments of request
// id if its Deadlines.EvidenceEraseBy has passed, then deletes it from the
// blob store and records the erasure complete.
func (s *Service) eraseEvidence(ctx context.Context, id string) (erased, done bool, err error) {
	atts, err := s.store.ListAttachments(ctx, id)
	if err != nil {
		return false, false, err
	}
	var evidence []string
	for _, a := range atts {
		if a.Kind == evidenceKind && a.EraseTime.IsZero() {
			evidence = append(evidence, a.ID)
		}
	}
	_, marked, err := s.store.Erase(ctx, id, EraseScope{Attachments: evidence}, func(r *Request) (Change, error) {
		now := s.now()
		due := r.Deadlines.EvidenceEraseBy
		if due.IsZero() || now.Before(due) {
			return Change{}, errNotDue
		}
		r.Erasures = append(slices.Clone(r.Erasures), Erasure{Scope: EraseEvidence, Cause: ByCondition, EraseTime: now, Attachments: evidence})
		r.Deadlines.EvidenceEraseBy = time.Time{}
		r.UpdateTime = now
		return Change{
			History: &HistoryEntry{From: r.Status, To: r.Status, Action: actEraseEvidence, Actor: sweepActor, Time: now,
				Reason: fmt.Sprintf("evidence erased: a DELETE_BY or RETURN condition fell due on %s", due.Format(time.RFC3339))},
			Event: s.eraseEvent(ctx, *r, eraseEvidenceAction, now),
		}, nil
	})
	if errors.Is(err, errNotDue) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	done, err = s.deleteAndComplete(ctx, id, marked)
	return true, done, err
}

// unerased are the ids of request id's attachments whose content is kept.
func (s *Service) unerased(ctx context.Context, id string) ([]string, error) {
	atts, err := s.store.ListAttachments(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range atts {
		if a.EraseTime.IsZero() {
			out = append(out, a.ID)
		}
	}
	return out, nil
}

// finish completes the erasures of request id left pending: every
// attachment whose content was erased is deleted from the blob store
// (again: deleting what is gone succeeds), then the erasures are recorded
// complete.
func (s *Service) finish(ctx context.Context, id string) (bool, error) {
	atts, err := s.store.ListAttachments(ctx, id)
	if err != nil {
		return false, err
	}
	return s.deleteAndComplete(ctx, id, slices.DeleteFunc(atts, func(a Attachment) bool { return a.EraseTime.IsZero() }))
}

// deleteAndComplete deletes the content of atts, attachments of request
// id, then sets the CompleteTime of its pending erasures, with no event of
// its own (the erasure's event recorded it). It reports whether it
// completed them; another replica may have first.
func (s *Service) deleteAndComplete(ctx context.Context, id string, atts []Attachment) (bool, error) {
	for _, a := range atts {
		if err := s.blobs.Delete(ctx, a.BlobKey); err != nil {
			// The erasure stays pending: the next sweep deletes again.
			return false, fmt.Errorf("erase the content of attachment %s: %w", a.ID, err)
		}
	}
	_, _, err := s.store.Erase(ctx, id, EraseScope{}, func(r *Request) (Change, error) {
		if !r.ErasurePending() {
			return Change{}, errNotDue
		}
		now := s.now()
		r.Erasures = slices.Clone(r.Erasures)
		for i := range r.Erasures {
			if r.Erasures[i].CompleteTime.IsZero() {
				r.Erasures[i].CompleteTime = now
			}
		}
		return Change{}, nil
	})
	if errors.Is(err, errNotDue) {
		return false, nil
	}
	return err == nil, err
}
