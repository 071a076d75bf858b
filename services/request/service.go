package request

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

// Directory is what the request service asks the agency directory: which
// agency receives a request, and what an agency accepts.
type Directory interface {
	// Agency returns an agency, or errs.ErrNotFound.
	Agency(ctx context.Context, id string) (directory.Agency, error)
	// ResolveRouteUnder returns the agency that must receive a request
	// under legalBasis (empty for none: an authority the state designated
	// for that instrument and the request's stage receives it), or
	// errs.ErrFailedPrecondition when the state has none.
	ResolveRouteUnder(ctx context.Context, requestedState string, t cooperation.RequestType, p cooperation.Priority, legalBasis string) (directory.Agency, error)
	// Instruments returns what the directory records of the instruments
	// between the two states (DESIGN §5.6): the instrument profiles and
	// both states with their entries. An unknown state is
	// errs.ErrNotFound.
	Instruments(ctx context.Context, requestingState, requestedState string) (directory.Treaties, error)
	// PreservationDualCriminalityReservation says whether the state's
	// profile records the Budapest Art 29(4) reservation, the one case in
	// which a preservation may be refused on DUAL_CRIMINALITY_NOT_MET.
	PreservationDualCriminalityReservation(ctx context.Context, state string) (bool, error)
	// Retention returns how long the personal data and content of a
	// request whose requesting state is state are kept after it is closed
	// (DESIGN §10): the state's value in the directory, or ok false when
	// the directory records none and the deployment's default applies. An
	// unknown state is errs.ErrNotFound.
	Retention(ctx context.Context, state string) (d time.Duration, ok bool, err error)
}

// Config configures a Service.
type Config struct {
	Store     Store
	Blobs     Blobs
	Directory Directory
	// Policy is the deadline policy; the zero value means DefaultPolicy.
	Policy Policy
	// MaxAttachmentBytes bounds one attachment; zero means 100 MiB.
	MaxAttachmentBytes int64
	// Trust says whether an agency is still active and which issuers its
	// state trusts: open watch streams are ended when that changes.
	Trust identity.TrustSource
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Watch bounds the watch streams.
	Watch WatchLimits
	// Transfers bounds the attachment uploads and downloads in progress.
	Transfers TransferLimits
	// Retention is the deployment's default retention after close (DESIGN
	// §10), for a state whose directory entry sets none; zero means
	// DefaultRetention.
	Retention time.Duration
	// Retentions lists the directory's states, each with the retention
	// after close it sets (zero: none, the deployment's Retention
	// applies): the states whose requests the retention sweep looks at,
	// state by state. The sweep acts for no user, so it is asked without
	// one: requestd gives it the directory's anonymous ListRetentions.
	// nil: the sweep erases nothing under the retention policy (it
	// finishes pending erasures and erases evidence under conditions
	// still).
	Retentions func(ctx context.Context) (map[string]time.Duration, error)
	// OnSweep, when set, is told the outcome of each sweep of RunSweeps.
	OnSweep func(SweepReport, error)
}

// DefaultRetention is how long a request's personal data and content are
// kept after it is closed when neither the deployment nor the requesting
// state says otherwise: five years (43800h).
const DefaultRetention = 43800 * time.Hour

// Service applies the rules of cooperation requests on top of a Store.
type Service struct {
	store     Store
	blobs     Blobs
	dir       Directory
	policy    Policy
	maxAttach int64
	now       func() time.Time
	feed      *feed
	transfers *transfers
	// The retention policy (erasure.go).
	retention    time.Duration
	retentionsOf func(context.Context) (map[string]time.Duration, error)
	onSweep      func(SweepReport, error)
	compactDue   atomic.Bool
}

// NewService returns a Service.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Blobs == nil || cfg.Directory == nil || cfg.Trust == nil {
		return nil, errors.New("request: Store, Blobs, Directory and Trust are required")
	}
	if cfg.Policy.Acknowledge == nil {
		cfg.Policy = DefaultPolicy()
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxAttachmentBytes == 0 {
		cfg.MaxAttachmentBytes = 100 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	limits, err := cfg.Watch.withDefaults()
	if err != nil {
		return nil, err
	}
	tl, err := cfg.Transfers.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Retention < 0 {
		return nil, errors.New("request: the retention after close must not be negative")
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	return &Service{
		store: cfg.Store, blobs: cfg.Blobs, dir: cfg.Directory, policy: cfg.Policy,
		maxAttach: cfg.MaxAttachmentBytes, now: func() time.Time { return cfg.Now().UTC().Truncate(time.Microsecond) },
		feed: newFeed(cfg.Store, cfg.Trust, limits), transfers: newTransfers(tl),
		retention: cfg.Retention, retentionsOf: cfg.Retentions, onSweep: cfg.OnSweep,
	}, nil
}

// View is a request as one caller may see it.
type View struct {
	Request
	// Overdue is computed at the time of the read.
	Overdue bool
	// MetadataOnly is true when the caller sees metadata only (auditors).
	MetadataOnly bool
}

func (s *Service) view(ctx context.Context, p identity.Principal, r Request) View {
	now := s.now()
	v := View{Request: s.withEraseBy(ctx, withPreservationNow(r, now), nil), Overdue: Overdue(r, now)}
	// An erased request is its metadata: nothing of it is content any more.
	if accessOf(p, r) == metadataAccess || r.ContentErased() {
		v.Request, v.MetadataOnly = redact(v.Request), true
	}
	return v
}

func notFound(id string) error { return errs.New(errs.NotFound, "request %q not found", id) }

func actorOf(p identity.Principal) Actor {
	return Actor{Subject: p.Subject, Name: p.Name, Agency: p.Agency}
}

// event is the audit event of a successful call on r.
func (s *Service) event(ctx context.Context, p identity.Principal, r Request, from, to Status) trail.Event {
	return s.eventOn(ctx, p, r, "requests/"+r.ID, from, to)
}

// eventOn is the audit event of a successful call on resource, which is r
// or under it.
func (s *Service) eventOn(ctx context.Context, p identity.Principal, r Request, resource string, from, to Status) trail.Event {
	d := trail.Details{Resource: resource, States: states(r)}
	if to != "" && from != to {
		d.Transition = &trail.Transition{From: string(from), To: string(to)}
	}
	return trail.NewEvent(ctx, s.now(), trail.ActorOf(p), "OK", d)
}

// states are the states whose auditors see events on r: the requesting
// state always, the requested state once r has been transmitted to it (a
// draft is none of its business, DESIGN §3).
func states(r Request) []string {
	if r.TransmitTime.IsZero() {
		return []string{r.RequestingState}
	}
	st := []string{r.RequestingState, r.RequestedState}
	slices.Sort(st)
	return slices.Compact(st)
}

// recordRead writes the audit event of a read of full content, with the
// purpose the reader declared or "undeclared" (DESIGN §10): the event of
// every read of content says why, and no other event does.
func (s *Service) recordRead(ctx context.Context, p identity.Principal, r Request, resource string) error {
	e := s.eventOn(ctx, p, r, resource, "", "")
	e.Purpose = trail.ReadPurpose(ctx)
	if err := s.store.RecordEvent(ctx, e); err != nil {
		return fmt.Errorf("record read: %w", err)
	}
	return nil
}

// Create stores a new draft for a prosecutor of the caller's agency. The
// requested agency defaults to the directory's route; a given one must be an
// active agency of the requested state that receives the type. Retrying with
// the same requestID and the same body returns the same request; the same
// requestID with another body is refused (AIP-155). A requestID belongs to
// the caller alone: issuer, subject and agency.
func (s *Service) Create(ctx context.Context, p identity.Principal, d Request, requestID string) (View, error) {
	if !p.HasRole(identity.Prosecutor) {
		return View{}, errs.New(errs.PermissionDenied, "only a prosecutor may create a request")
	}
	d.RequestedState = strings.ToUpper(d.RequestedState)
	d.RequestingState = p.State
	if err := checkShape(d); err != nil {
		return View{}, err
	}
	var vs errs.Violations
	s.checkResponseTime(d, &vs)
	if err := vs.Err(errs.Invalid, "invalid request"); err != nil {
		return View{}, err
	}
	key := IdempotencyKey{Issuer: p.Issuer, Subject: p.Subject, Agency: p.Agency, Key: requestID}
	if requestID != "" {
		// The digest is of the body as the caller sent it, before the
		// route is resolved: a retry after the directory changed is still
		// the same request.
		sum, err := BodyDigest(d)
		if err != nil {
			return View{}, err
		}
		key.BodySHA256 = sum
	}
	receiver, err := s.receiver(ctx, d)
	if err != nil {
		return View{}, err
	}
	now := s.now()
	id, err := uuid.NewV7()
	if err != nil {
		return View{}, fmt.Errorf("request id: %w", err)
	}
	r := d
	resetServerFields(&r)
	// After the digest: a retry of a body sent before confidentiality
	// existed is still the same request.
	mirrorConfidentiality(&r, d.Confidentiality != nil, d.Confidential)
	r.ID = id.String()
	r.RequestingAgency, r.RequestingState, r.Owner = p.Agency, p.State, p.Subject
	r.RequestedAgency = receiver.ID
	r.Status = Draft
	r.CreateTime, r.UpdateTime = now, now
	ch := Change{
		History: &HistoryEntry{To: Draft, Action: "create", Actor: actorOf(p), Time: now},
		Event:   s.event(ctx, p, r, "", Draft),
	}
	return s.createOnce(ctx, p, r, key, ch, requestID)
}

// createOnce stores the new request r with its change, once per
// idempotency key: a retry with the key answers with the request the first
// call made, to a caller who may still read it, and is recorded as a call
// on it.
func (s *Service) createOnce(ctx context.Context, p identity.Principal, r Request, key IdempotencyKey, ch Change, requestID string) (View, error) {
	created, fresh, err := s.store.Create(ctx, r, key, ch)
	if err != nil {
		return View{}, err
	}
	if !fresh && accessOf(p, created) != fullAccess {
		// A replay answers with the whole request: the caller must be
		// entitled to read it, like any read. The key is the caller's own,
		// so this holds unless their roles changed since; say only that
		// the key is taken.
		return View{}, KeyReused(requestID)
	}
	if !fresh {
		// A retry changed nothing, but it is a call on that request.
		if err := s.store.RecordEvent(ctx, s.event(ctx, p, created, "", "")); err != nil {
			return View{}, fmt.Errorf("record retried %s: %w", ch.History.Action, err)
		}
	}
	return s.view(ctx, p, created), nil
}

// receiver returns the agency that will receive d: the one given, checked,
// or the directory's route.
func (s *Service) receiver(ctx context.Context, d Request) (directory.Agency, error) {
	if d.RequestedAgency == "" {
		a, err := s.dir.ResolveRouteUnder(ctx, d.RequestedState, d.Type, d.Priority, d.LegalBasis)
		if err != nil {
			return directory.Agency{}, err
		}
		return a, nil
	}
	a, err := s.dir.Agency(ctx, d.RequestedAgency)
	var vs errs.Violations
	switch {
	case errors.Is(err, errs.ErrNotFound):
		vs.Add("requested_agency", "agency %q is not in the directory", d.RequestedAgency)
	case err != nil:
		return directory.Agency{}, err
	case a.State != d.RequestedState:
		vs.Add("requested_agency", "%s is an agency of %s, not of the requested state %s", a.ID, a.State, d.RequestedState)
	case !a.Active:
		vs.Add("requested_agency", "%s is deactivated", a.ID)
	case !slices.Contains(a.Receives, d.Type):
		vs.Add("requested_agency", "%s does not receive %s requests", a.ID, d.Type)
	}
	if err := vs.Err(errs.FailedPrecondition, "the requested agency cannot receive this request"); err != nil {
		return directory.Agency{}, err
	}
	return a, nil
}

// Get returns a request the caller may see, and records the read of its
// full content.
//
// id may also be the request's reference (KZ-2026-000042, in any case): the
// reference is an alias of the name for reading only. The answer is the
// same as by id, NOT_FOUND included for a request p may not see.
func (s *Service) Get(ctx context.Context, p identity.Principal, id string) (View, error) {
	var r Request
	var err error
	if IsReference(id) {
		r, err = s.visibleByReference(ctx, p, id)
	} else {
		r, err = s.visible(ctx, p, id)
	}
	if err != nil {
		return View{}, err
	}
	v := s.view(ctx, p, r)
	if !v.MetadataOnly {
		if err := s.recordRead(ctx, p, r, "requests/"+r.ID); err != nil {
			return View{}, err
		}
	}
	return v, nil
}

// referencePattern is a request's reference: requesting state, year and
// per-state sequence (KZ-2026-000042). No id matches it: ids are UUIDs,
// whose first group has eight characters.
var referencePattern = regexp.MustCompile(`^[A-Za-z]{2}-[0-9]{4}-[0-9]{6,}$`)

// IsReference reports whether s has the form of a request's reference
// rather than of an id.
func IsReference(s string) bool { return referencePattern.MatchString(s) }

// visibleByReference is visible for the request with reference ref (any
// case). NOT_FOUND names ref, never the id: a caller who may not see the
// request learns nothing a reference that does not exist would not tell.
func (s *Service) visibleByReference(ctx context.Context, p identity.Principal, ref string) (Request, error) {
	ref = strings.ToUpper(ref)
	page, err := s.store.List(ctx, ListQuery{Filter: query.Compare{Field: "reference", Op: query.Eq, Value: ref}, Limit: 1})
	if err != nil {
		return Request{}, err
	}
	if len(page.Requests) == 0 {
		return Request{}, notFound(ref)
	}
	r, err := s.visible(ctx, p, page.Requests[0].ID)
	if errs.CodeOf(err) == errs.NotFound {
		// A refusal is on the parties' trail under the request's name.
		return Request{}, trail.Concerning(notFound(ref), "requests/"+page.Requests[0].ID, states(page.Requests[0])...)
	}
	return r, err
}

// visible loads a request and hides it (NOT_FOUND) from a caller with no
// need to know.
func (s *Service) visible(ctx context.Context, p identity.Principal, id string) (Request, error) {
	r, err := s.store.Get(ctx, id)
	if errors.Is(err, errs.ErrNotFound) && IsReference(id) {
		// Whether or not the reference exists: only GetRequest takes one.
		return Request{}, errs.New(errs.NotFound, "request %q not found: a reference names a request only to get it "+
			"(GET /v1/requests/%s); this method takes the request's name, requests/{id}", id, id)
	}
	if errors.Is(err, errs.ErrNotFound) {
		return Request{}, notFound(id)
	}
	if err != nil {
		return Request{}, err
	}
	if accessOf(p, r) == noAccess {
		return Request{}, concerns(r, notFound(id))
	}
	return r, nil
}

// concerns returns err as a refusal of a call on r: the parties' auditors
// see every attempt on the request, refused ones included (trail.Refusal).
// Every error a method returns once it has read the request it acts on
// goes through it.
func concerns(r Request, err error) error { return trail.Concerning(err, "", states(r)...) }

// ListOptions is what a caller asks of List: a filter on RequestSchema's
// fields, an order, and a page.
type ListOptions struct {
	Filter  query.Expr
	OrderBy []query.Order
	Offset  int
	Limit   int
}

// ListCountLimit is how far past a page's end a list counts the requests
// matching: counting every match would make each page of a large store cost
// the whole store (a dashboard of 50 rows over 100,000 requests). Beyond it,
// the total says "more than" (ListResult.Total).
const ListCountLimit = 1000

// ListResult is a page of a list.
type ListResult struct {
	Views []View
	// Total is the number of requests matching, counted up to
	// ListCountLimit past the page's end: when more match, it is that
	// point plus one, a lower bound.
	Total int
	// More says that another page follows.
	More bool
}

// List returns the requests the caller may see that match the options, as
// metadata: a list never carries narratives, so that only Get (audited)
// reads full content.
func (s *Service) List(ctx context.Context, p identity.Principal, o ListOptions) (ListResult, error) {
	vis := visibleTo(p)
	if vis == nil {
		return ListResult{}, nil
	}
	filter := vis
	if o.Filter != nil {
		filter = query.And{Left: vis, Right: rewriteOverdue(o.Filter, s.now())}
	}
	order := o.OrderBy
	if len(order) == 0 {
		order = []query.Order{{Field: "createTime", Desc: true}}
	}
	q := ListQuery{Filter: filter, OrderBy: order, Offset: o.Offset, Limit: o.Limit}
	if o.Limit > 0 {
		q.CountLimit = max(o.Offset, 0) + o.Limit + ListCountLimit
	}
	page, err := s.store.List(ctx, q)
	if err != nil {
		return ListResult{}, err
	}
	out := make([]View, len(page.Requests))
	retention := map[string]time.Duration{}
	for i, r := range page.Requests {
		out[i] = View{Request: redact(s.withEraseBy(ctx, r, retention)), Overdue: Overdue(r, s.now()), MetadataOnly: true}
	}
	return ListResult{Views: out, Total: page.Total, More: page.More}, nil
}

// Update changes a draft, for its owning prosecutor, only in DRAFT. apply
// sets the fields the caller changes; touched names them (proto field
// names). When the type, priority, requested state or agency change, the
// route is checked or resolved again.
func (s *Service) Update(ctx context.Context, p identity.Principal, id, etag string, apply func(*Request), touched []string) (_ View, err error) {
	cur, err := s.visible(ctx, p, id)
	if err != nil {
		return View{}, err
	}
	defer func() { err = concerns(cur, err) }()
	if err := s.authorise(p, cur, actUpdate, etag); err != nil {
		return View{}, err
	}
	next := cur
	apply(&next)
	next.RequestedState = strings.ToUpper(next.RequestedState)
	next.KeepServerFields(cur)
	mirrorConfidentialityTouched(&next, touched)
	if err := checkShape(next); err != nil {
		return View{}, err
	}
	if slices.Contains(touched, "requested_response_time") && !next.RequestedResponseTime.Equal(cur.RequestedResponseTime) {
		// A date that has passed since it was set is left for the
		// submission to refuse (a GET then PATCH sends it back unchanged);
		// one set now must be to come.
		var vs errs.Violations
		s.checkResponseTime(next, &vs)
		if err := vs.Err(errs.Invalid, "invalid request"); err != nil {
			return View{}, err
		}
	}
	if slices.ContainsFunc(touched, func(f string) bool {
		return f == "type" || f == "priority" || f == "requested_state" || f == "requested_agency"
	}) {
		if !slices.Contains(touched, "requested_agency") && next.RequestedState != cur.RequestedState {
			next.RequestedAgency = ""
		}
		receiver, err := s.receiver(ctx, next)
		if err != nil {
			return View{}, err
		}
		next.RequestedAgency = receiver.ID
	}
	next.UpdateTime = s.now()
	updated, err := s.store.Update(ctx, id, func(r *Request) (Change, error) {
		// The directory was asked outside the transaction: refuse if the
		// draft changed meanwhile rather than overwrite that change.
		if r.Version != cur.Version {
			return Change{}, errs.New(errs.Conflict, "request %s was changed by someone else; get it again and retry", id)
		}
		*r = next
		return Change{Event: s.event(ctx, p, next, Draft, Draft)}, nil
	})
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, p, updated), nil
}

// MayUpdate says whether p may update request id now: the checks of
// Update that come before the draft's content (NOT_FOUND for a request p
// may not see, then who may update it and in which status), for a check
// made before the input is looked at.
func (s *Service) MayUpdate(ctx context.Context, p identity.Principal, id string) error {
	cur, err := s.visible(ctx, p, id)
	if err != nil {
		return err
	}
	return concerns(cur, s.authorise(p, cur, actUpdate, ""))
}

// checkShape checks what every draft must have: a type, a priority and a
// requested state other than the requesting one.
func checkShape(r Request) error {
	var vs errs.Violations
	if !slices.Contains(cooperation.RequestTypes, r.Type) {
		vs.Add("type", "the request type is required")
	}
	if r.Priority != cooperation.Routine && r.Priority != cooperation.Urgent && r.Priority != cooperation.Emergency {
		vs.Add("priority", "the priority is required")
	}
	switch {
	case r.RequestedState == "":
		vs.Add("requested_state", "the requested state is required")
	case r.RequestedState == r.RequestingState:
		vs.Add("requested_state", "a cooperation request goes to another state than %s", r.RequestingState)
	}
	return vs.Err(errs.Invalid, "invalid request")
}
