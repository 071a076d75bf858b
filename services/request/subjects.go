package request

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

// Data subjects' requests (DESIGN §10, e-Evidence Art 13): a central
// authority records that a person asked for access to, correction or
// erasure of their data, what it decided and whether the person was
// informed. They are the business of the recording state alone: only its
// central authorities see them, and every change and every read of one is
// on that state's audit trail.

// Rights, SubjectDecisions and InformingStatuses are the values the API's
// enums may take.
var (
	Rights            = []string{RightAccess, RightCorrection, RightErasure}
	SubjectDecisions  = []string{SubjectGranted, SubjectDeferred, SubjectRestricted, SubjectRefused}
	InformingStatuses = []string{InformingDone, InformingDeferred}
)

// DataSubjectView is a data subject's request as read at one time.
type DataSubjectView struct {
	DataSubjectRequest
	// Overdue says that a review date has passed; computed at the read.
	Overdue bool
}

const subjectPrefix = "dataSubjectRequests/"

func (s *Service) subjectView(d DataSubjectRequest) DataSubjectView {
	return DataSubjectView{DataSubjectRequest: d, Overdue: d.Overdue(s.now())}
}

// subjectEvent is the audit event of a call on d: on its state's trail
// alone, under its name; transition, when not nil, is the change of its
// decision.
func (s *Service) subjectEvent(ctx context.Context, p identity.Principal, d DataSubjectRequest, transition *trail.Transition) trail.Event {
	return trail.NewEvent(ctx, s.now(), trail.ActorOf(p), "OK",
		trail.Details{Resource: subjectPrefix + d.ID, States: []string{d.State}, Transition: transition})
}

// subjectRecorder says whether p may record and read the data subjects'
// requests of state: a central authority of that state.
func subjectRecorder(p identity.Principal, state string) bool {
	return p.HasRole(identity.CentralAuthority) && p.State == state
}

func subjectNotFound(id string) error {
	return errs.New(errs.NotFound, "data subject's request %q not found", id)
}

// CreateDataSubjectRequest records a person's request, for a central
// authority of the caller's state: it is recorded for that state and
// agency, whatever d says. Every request it names must be one the caller
// may read in full; one that does not exist and one the caller may not see
// are refused alike, so that the answer tells nothing of the other.
func (s *Service) CreateDataSubjectRequest(ctx context.Context, p identity.Principal, d DataSubjectRequest) (DataSubjectView, error) {
	if !p.HasRole(identity.CentralAuthority) {
		return DataSubjectView{}, errs.New(errs.PermissionDenied, "only a central authority may record a data subject's request")
	}
	now := s.now()
	var vs errs.Violations
	if strings.TrimSpace(d.Person.FullName) == "" {
		vs.Add("person.full_name", "required: the name of the person who asked")
	}
	if !slices.Contains(Rights, d.Right) {
		vs.Add("right", "required: say what the person asks for, one of %s", strings.Join(Rights, ", "))
	}
	switch {
	case d.ReceiveTime.IsZero():
		vs.Add("receive_time", "required: when the person's request was received")
	case d.ReceiveTime.After(now):
		vs.Add("receive_time", "%s is in the future: give when the request was received", d.ReceiveTime.UTC().Format(time.RFC3339))
	}
	checkText(&vs, "person.full_name", d.Person.FullName)
	checkText(&vs, "person.date_of_birth", d.Person.DateOfBirth)
	checkText(&vs, "person.contact", d.Person.Contact)
	checkText(&vs, "description", d.Description)
	if err := vs.Err(errs.Invalid, "invalid data subject's request"); err != nil {
		return DataSubjectView{}, err
	}
	if err := s.checkSubjectRequests(ctx, p, d.Requests); err != nil {
		return DataSubjectView{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return DataSubjectView{}, fmt.Errorf("data subject's request id: %w", err)
	}
	out := DataSubjectRequest{
		ID: id.String(), State: p.State, Agency: p.Agency,
		Person: d.Person, Right: d.Right, Requests: slices.Clone(d.Requests),
		ReceiveTime: d.ReceiveTime, Description: d.Description,
		RecordedBy: actorOf(p), CreateTime: now, UpdateTime: now,
	}
	created, err := s.store.CreateDataSubjectRequest(ctx, out, s.subjectEvent(ctx, p, out, nil))
	if err != nil {
		return DataSubjectView{}, err
	}
	return s.subjectView(created), nil
}

// checkSubjectRequests checks that each id names a request p may read in
// full, once.
func (s *Service) checkSubjectRequests(ctx context.Context, p identity.Principal, ids []string) error {
	var vs errs.Violations
	for i, id := range ids {
		field := fmt.Sprintf("requests[%d]", i)
		if slices.Index(ids, id) < i {
			vs.Add(field, "requests/%s is named twice", id)
			continue
		}
		r, err := s.store.Get(ctx, id)
		switch {
		case err != nil && !errors.Is(err, errs.ErrNotFound):
			return err
		case err != nil || accessOf(p, r) != fullAccess:
			vs.Add(field, "no request requests/%s that your central authority may see: name a request of your state's cases", id)
		}
	}
	return vs.Err(errs.Invalid, "invalid data subject's request")
}

// visibleSubject loads a data subject's request and hides it (NOT_FOUND)
// from anyone but a central authority of its state.
func (s *Service) visibleSubject(ctx context.Context, p identity.Principal, id string) (DataSubjectRequest, error) {
	d, err := s.store.GetDataSubjectRequest(ctx, id)
	if errors.Is(err, errs.ErrNotFound) {
		return DataSubjectRequest{}, subjectNotFound(id)
	}
	if err != nil {
		return DataSubjectRequest{}, err
	}
	if !subjectRecorder(p, d.State) {
		// The refusal is on the recording state's trail too, under the
		// request's name.
		return DataSubjectRequest{}, trail.Concerning(subjectNotFound(id), subjectPrefix+id, d.State)
	}
	return d, nil
}

// GetDataSubjectRequest returns a data subject's request to a central
// authority of its state, and records the read: it is personal data.
func (s *Service) GetDataSubjectRequest(ctx context.Context, p identity.Principal, id string) (DataSubjectView, error) {
	d, err := s.visibleSubject(ctx, p, id)
	if err != nil {
		return DataSubjectView{}, err
	}
	if err := s.recordSubjectRead(ctx, p, d.State, subjectPrefix+d.ID); err != nil {
		return DataSubjectView{}, err
	}
	return s.subjectView(d), nil
}

// recordSubjectRead records a read of data subjects' requests of state
// (resource names one, or the collection for a list) through recordRead,
// the path of every read of personal data: a request of state that was
// never transmitted is on that state's trail alone, as these are.
func (s *Service) recordSubjectRead(ctx context.Context, p identity.Principal, state, resource string) error {
	return s.recordRead(ctx, p, Request{RequestingState: state}, resource)
}

// ListDataSubjectRequests returns the data subjects' requests of the
// caller's state, newest first, to a central authority; anyone else gets
// none. A page that shows any is recorded as a read: it shows the persons'
// names.
func (s *Service) ListDataSubjectRequests(ctx context.Context, p identity.Principal, offset, limit int) ([]DataSubjectView, bool, error) {
	if !subjectRecorder(p, p.State) {
		return nil, false, nil
	}
	list, more, err := s.store.ListDataSubjectRequests(ctx, p.State, offset, limit)
	if err != nil || len(list) == 0 {
		return nil, false, err
	}
	if err := s.recordSubjectRead(ctx, p, p.State, strings.TrimSuffix(subjectPrefix, "/")); err != nil {
		return nil, false, err
	}
	out := make([]DataSubjectView, len(list))
	for i, d := range list {
		out[i] = s.subjectView(d)
	}
	return out, more, nil
}

// DecideDataSubjectRequest records a decision: GRANTED, or DEFERRED (with
// reasons and a review date to come), RESTRICTED or REFUSED with reasons.
// A decision after another is a reconsideration (a deferral reviewed, a
// refusal revisited): it is added, never replacing, so that the record
// keeps every decision and who took it; the last one stands.
func (s *Service) DecideDataSubjectRequest(ctx context.Context, p identity.Principal, id, etag string, dec DataSubjectDecision) (DataSubjectView, error) {
	now := s.now()
	var vs errs.Violations
	if !slices.Contains(SubjectDecisions, dec.Decision) {
		vs.Add("decision.decision", "required: one of %s", strings.Join(SubjectDecisions, ", "))
	}
	if dec.Decision != SubjectGranted && strings.TrimSpace(dec.Reasons) == "" {
		vs.Add("decision.reasons", "required unless the request is GRANTED: say why, for the person and for oversight")
	}
	checkText(&vs, "decision.reasons", dec.Reasons)
	checkReview(&vs, "decision.review_time", dec.ReviewTime, dec.Decision == SubjectDeferred, dec.Decision != SubjectDeferred && dec.Decision != "", now)
	if err := vs.Err(errs.Invalid, "invalid decision"); err != nil {
		return DataSubjectView{}, err
	}
	return s.updateSubject(ctx, p, id, etag, func(d *DataSubjectRequest) *trail.Transition {
		var from string
		if last := d.Decision(); last != nil {
			from = last.Decision
		}
		d.Decisions = append(slices.Clone(d.Decisions), DataSubjectDecision{
			Decision: dec.Decision, Reasons: dec.Reasons, ReviewTime: dec.ReviewTime, DecidedBy: actorOf(p), DecideTime: now,
		})
		return &trail.Transition{From: from, To: dec.Decision}
	})
}

// RecordDataSubjectInforming records that the person was informed of a
// measure concerning them (DONE), or that informing them is deferred, with
// reasons and, optionally, a date to review it. The last record stands.
func (s *Service) RecordDataSubjectInforming(ctx context.Context, p identity.Principal, id, etag string, in DataSubjectInforming) (DataSubjectView, error) {
	now := s.now()
	var vs errs.Violations
	if !slices.Contains(InformingStatuses, in.Status) {
		vs.Add("informing.status", "required: one of %s", strings.Join(InformingStatuses, ", "))
	}
	if in.Status == InformingDeferred && strings.TrimSpace(in.Reasons) == "" {
		vs.Add("informing.reasons", "required when informing the person is deferred: say why")
	}
	checkText(&vs, "informing.reasons", in.Reasons)
	checkReview(&vs, "informing.review_time", in.ReviewTime, false, in.Status == InformingDone, now)
	if err := vs.Err(errs.Invalid, "invalid informing"); err != nil {
		return DataSubjectView{}, err
	}
	return s.updateSubject(ctx, p, id, etag, func(d *DataSubjectRequest) *trail.Transition {
		d.Informing = &DataSubjectInforming{Status: in.Status, Reasons: in.Reasons, ReviewTime: in.ReviewTime, RecordedBy: actorOf(p), RecordTime: now}
		return nil
	})
}

// checkText refuses a text no store keeps as given: one that is not UTF-8,
// or holds NUL, which PostgreSQL's JSON refuses.
func checkText(vs *errs.Violations, field, s string) {
	switch {
	case !utf8.ValidString(s):
		vs.Add(field, "is not valid UTF-8 text")
	case strings.ContainsRune(s, 0):
		vs.Add(field, "contains a NUL character; remove it")
	}
}

// checkReview checks a review date: required says it must be given, none
// that it must not be (only a deferral is reviewed); one given must be to
// come.
func checkReview(vs *errs.Violations, field string, t time.Time, required, none bool, now time.Time) {
	switch {
	case t.IsZero() && required:
		vs.Add(field, "required for a deferral: when it is to be reviewed")
	case t.IsZero():
	case none:
		vs.Add(field, "only a deferral has a review date; leave it out")
	case !t.After(now):
		vs.Add(field, "%s has passed: a review date must be to come", t.UTC().Format(time.RFC3339))
	}
}

// updateSubject applies change to a data subject's request the caller may
// see, in one transaction with its audit event, after checking the etag.
func (s *Service) updateSubject(ctx context.Context, p identity.Principal, id, etag string, change func(*DataSubjectRequest) *trail.Transition) (DataSubjectView, error) {
	cur, err := s.visibleSubject(ctx, p, id)
	if err != nil {
		return DataSubjectView{}, err
	}
	updated, err := s.store.UpdateDataSubjectRequest(ctx, id, func(d *DataSubjectRequest) (trail.Event, error) {
		if etag != "" && etag != d.Etag() {
			return trail.Event{}, errs.New(errs.Conflict, "data subject's request %s was changed by someone else; get it again and retry", id)
		}
		tr := change(d)
		d.UpdateTime = s.now()
		return s.subjectEvent(ctx, p, *d, tr), nil
	})
	if err != nil {
		return DataSubjectView{}, trail.Concerning(err, "", cur.State)
	}
	return s.subjectView(updated), nil
}
