package directory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

// Service applies the directory's rules on top of a Store: who may read and
// write, how agencies are validated, and how requests are routed.
//
// Each successful change is stored with its audit event (DESIGN §6), built
// from the call the gRPC server put in the context (trail.Call), and the call
// is then marked recorded so that the server does not record it again.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a Service over store. now is the clock; nil means
// time.Now.
func NewService(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
}

var _ identity.TrustSource = (*Service)(nil)

// event is the audit event of a successful change of resource, which
// involves state.
func event(ctx context.Context, now time.Time, p identity.Principal, resource, state string) trail.Event {
	return trail.NewEvent(ctx, now, trail.ActorOf(p), "OK", trail.Details{Resource: resource, States: []string{state}})
}

// concerning makes *err a refusal of a call that concerned state, whose
// auditors see every attempt at changing its directory entries, refused
// ones included (trail.Refusal).
func concerning(err *error, state string) { *err = trail.Concerning(*err, "", state) }

// AgencyTrust tells the identity layer which state an agency belongs to, its
// kind (which decides the roles that count there), and which issuers that
// state trusts.
func (s *Service) AgencyTrust(ctx context.Context, agencyID string) (identity.AgencyTrust, error) {
	a, err := s.store.GetAgency(ctx, agencyID)
	if err != nil {
		return identity.AgencyTrust{}, err
	}
	st, err := s.store.GetState(ctx, a.State)
	if err != nil {
		return identity.AgencyTrust{}, fmt.Errorf("state of agency %s: %w", agencyID, err)
	}
	return identity.AgencyTrust{State: st.Code, Kind: string(a.Kind), Active: a.Active, TrustedIssuers: st.TrustedIssuers}, nil
}

var _ identity.IssuerSource = (*Service)(nil)

// IssuerEntries tells the identity layer which states trust issuer, and
// through which claim mapping each reads its tokens.
func (s *Service) IssuerEntries(ctx context.Context, issuer string) ([]identity.IssuerEntry, error) {
	states, err := s.store.ListStates(ctx)
	if err != nil {
		return nil, err
	}
	return IssuerEntries(states, issuer), nil
}

// IssuerEntries returns the states of states that trust issuer, with the
// claim mapping each gives it (the default when it lists none).
func IssuerEntries(states []State, issuer string) []identity.IssuerEntry {
	var out []identity.IssuerEntry
	for _, st := range states {
		if slices.Contains(st.TrustedIssuers, issuer) {
			out = append(out, identity.IssuerEntry{State: st.Code, Mapping: st.MappingOf(issuer)})
		}
	}
	return out
}

// MappingOf returns the claim mapping the state gives issuer: its entry in
// ClaimMappings, else the default.
func (s State) MappingOf(issuer string) identity.ClaimMapping {
	for _, m := range s.ClaimMappings {
		if m.Issuer == issuer {
			return m.Clone()
		}
	}
	return identity.DefaultMapping(issuer)
}

// ListStates returns every state.
func (s *Service) ListStates(ctx context.Context, _ identity.Principal) ([]State, error) {
	return s.store.ListStates(ctx)
}

// GetState returns the state with the ISO code (any case).
func (s *Service) GetState(ctx context.Context, _ identity.Principal, code string) (State, error) {
	return s.store.GetState(ctx, strings.ToUpper(code))
}

// StateChange is the part of a state an administrator may change. Nil
// fields are left alone.
type StateChange struct {
	DisplayNames      *map[string]string
	OfficialLanguages *[]string
	AcceptedLanguages *[]string
	TimeZone          *string
	TrustedIssuers    *[]string
	ClaimMappings     *[]identity.ClaimMapping
	// Instruments replaces the state's instrument entries whole.
	Instruments *[]StateInstrument
	// RetentionAfterClose sets the state's retention (DESIGN §10); zero
	// removes it, leaving the deployment's default.
	RetentionAfterClose *time.Duration
	// Witness sets the state's witness (DESIGN §6.1); the zero value
	// removes it. Only a directory_admin of the state's OVERSIGHT agency
	// may give it (see requireOversightOf).
	Witness *StateWitness
}

// UpdateState applies change to the state, for a directory_admin of that
// state. etag is required and must match the state's current one: a state
// holds the trust of all its users, so a change made blind to a concurrent
// one (an issuer added by a colleague, then dropped by a stale full list)
// could lock them out. A change that would leave the state with no trusted
// issuer, or that removes the issuer of the caller's own token, is refused
// (errs.FailedPrecondition): both are how an administrator locks a state out,
// and only an administrator signed in through another issuer may drop one.
func (s *Service) UpdateState(ctx context.Context, p identity.Principal, code, etag string, change StateChange) (_ State, err error) {
	code = strings.ToUpper(code)
	defer concerning(&err, code)
	// Whether p may change the witness, read before the transaction (fn
	// must not call the store); it counts only if the witness changes, so
	// that a full replacement sending back the witness it read stays open
	// to every directory_admin of the state.
	var witnessErr, mappingErr error
	if change.Witness != nil {
		if witnessErr = s.requireOversightOf(ctx, p, code, "change its witness"); witnessErr != nil && errs.CodeOf(witnessErr) != errs.PermissionDenied {
			return State{}, witnessErr
		}
	}
	// Likewise whether p may change a claim mapping naming an OVERSIGHT
	// agency: one who may map a provider's value to the oversight agency
	// may sign in as it, and so change the witness.
	if change.ClaimMappings != nil {
		if mappingErr = s.requireOversightOf(ctx, p, code, "change a claim mapping to its OVERSIGHT agencies"); mappingErr != nil && errs.CodeOf(mappingErr) != errs.PermissionDenied {
			return State{}, mappingErr
		}
	}
	if err := requireAdminOf(p, code); err != nil {
		// One who may not change the state at all, asking to change its
		// witness, learns who may.
		return State{}, cmp.Or(witnessErr, err)
	}
	// A designated authority must be an agency of the state. Read before
	// the transaction, since fn must not call the store; an agency is never
	// deleted, so what is read stays true.
	var own []Agency
	if change.Instruments != nil || change.ClaimMappings != nil {
		page, err := s.store.ListAgencies(ctx, AgencyQuery{
			Filter: query.Compare{Field: "state", Op: query.Eq, Value: code},
		})
		if err != nil {
			return State{}, err
		}
		own = page.Agencies
	}
	updated, err := s.store.UpdateState(ctx, code, func(st *State) (trail.Event, error) {
		if witnessErr != nil && *change.Witness != st.Witness {
			return trail.Event{}, witnessErr
		}
		if mappingErr != nil && oversightMappingChanged(st.ClaimMappings, *change.ClaimMappings, own) {
			return trail.Event{}, mappingErr
		}
		if etag != "" && etag != st.Etag() {
			return trail.Event{}, errs.New(errs.Conflict, "state %s was changed by someone else; get it again and retry", code)
		}
		next := *st
		setIfGiven(&next.DisplayNames, change.DisplayNames)
		setIfGiven(&next.OfficialLanguages, change.OfficialLanguages)
		setIfGiven(&next.AcceptedLanguages, change.AcceptedLanguages)
		setIfGiven(&next.TimeZone, change.TimeZone)
		setIfGiven(&next.TrustedIssuers, change.TrustedIssuers)
		setIfGiven(&next.Instruments, change.Instruments)
		setIfGiven(&next.RetentionAfterClose, change.RetentionAfterClose)
		setIfGiven(&next.Witness, change.Witness)
		if change.ClaimMappings != nil {
			next.ClaimMappings = *change.ClaimMappings
		} else if change.TrustedIssuers != nil {
			// An issuer no longer trusted takes its mapping with it.
			next.ClaimMappings = slices.DeleteFunc(slices.Clone(next.ClaimMappings), func(m identity.ClaimMapping) bool {
				return !slices.Contains(next.TrustedIssuers, m.Issuer)
			})
		}
		if err := validateState(next, "state."); err != nil {
			return trail.Event{}, err
		}
		if change.Instruments != nil {
			if err := validateAuthorities(next, own, "state.instruments").Err(errs.Invalid, "invalid state"); err != nil {
				return trail.Event{}, err
			}
		}
		if change.TrustedIssuers != nil {
			if err := checkTrustKept(*st, next, p); err != nil {
				return trail.Event{}, err
			}
		}
		// Checked last, so that a change that must never be made says
		// why, not only that the etag is missing.
		if etag == "" {
			return trail.Event{}, (errs.Violations{{Field: "state.etag",
				Description: "required: send the etag you read, so that a concurrent change is not overwritten"}}).Err(errs.Invalid, "etag required")
		}
		now := s.now().UTC()
		next.UpdateTime = now
		*st = next
		return event(ctx, now, p, "states/"+code, code), nil
	})
	if err != nil {
		return State{}, err
	}
	return updated, nil
}

// GetAgency returns the agency with the id.
func (s *Service) GetAgency(ctx context.Context, _ identity.Principal, id string) (Agency, error) {
	return s.store.GetAgency(ctx, id)
}

// ListAgencies returns a page of agencies.
func (s *Service) ListAgencies(ctx context.Context, _ identity.Principal, q AgencyQuery) (AgencyPage, error) {
	return s.store.ListAgencies(ctx, q)
}

// CreateAgency adds an active agency to the caller's state, for a
// directory_admin of that state. An empty State defaults to the caller's.
// A new agency can only add places where a role counts, never take one
// away, so the lock-out rules of UpdateAgency have nothing to refuse here;
// it is how an administrator makes the replacement those rules ask for.
// An agency deactivated by mistake is activated again (ActivateAgency).
func (s *Service) CreateAgency(ctx context.Context, p identity.Principal, a Agency) (_ Agency, err error) {
	if a.State == "" {
		a.State = p.State
	}
	defer concerning(&err, a.State)
	if err := requireAdminOf(p, a.State); err != nil {
		return Agency{}, err
	}
	if !strings.HasPrefix(a.ID, strings.ToLower(a.State)+"-") {
		return Agency{}, (errs.Violations{{Field: "agency_id",
			Description: fmt.Sprintf("must start with the state code %q", strings.ToLower(a.State)+"-")}}).Err(errs.Invalid, "invalid agency id")
	}
	if err := validateAgency(a, "agency."); err != nil {
		return Agency{}, err
	}
	if a.Kind == Oversight {
		if err := s.requireOversightOf(ctx, p, a.State, "create or change its OVERSIGHT agencies"); err != nil {
			return Agency{}, err
		}
	}
	a.Active = true
	now := s.now().UTC()
	a.UpdateTime = now
	created, err := s.store.CreateAgency(ctx, a, event(ctx, now, p, "agencies/"+a.ID, a.State))
	if err != nil {
		return Agency{}, err
	}
	return created, nil
}

// AgencyChange is the part of an agency an administrator may change. Nil
// fields are left alone.
type AgencyChange struct {
	// State, when not empty, must be the agency's current state: an agency
	// never moves to another state.
	State             string
	Kind              *Kind
	DisplayNames      *map[string]string
	Receives          *[]cooperation.RequestType
	AcceptedLanguages *[]string
	ContactPoints     *[]ContactPoint
}

// setIfGiven sets *field to the value of a change, when the change gives one.
func setIfGiven[T any](field *T, change *T) {
	if change != nil {
		*field = *change
	}
}

// UpdateAgency applies change to the agency, for a directory_admin of its
// state. etag is required and must match the agency's current one, as for a
// state: an agency's kind decides which roles count there, so a change made
// blind to a concurrent one could lock its users out. A change of kind that
// would lock users out is refused (see checkAgencyKept).
func (s *Service) UpdateAgency(ctx context.Context, p identity.Principal, id, etag string, change AgencyChange) (Agency, error) {
	return s.updateAgency(ctx, p, id, etag, "agency.", func(a *Agency) error {
		if change.State != "" && change.State != a.State {
			return (errs.Violations{{Field: "agency.state",
				Description: fmt.Sprintf("an agency cannot move to another state (it belongs to %s)", a.State)}}).Err(errs.Invalid, "invalid agency")
		}
		setIfGiven(&a.Kind, change.Kind)
		setIfGiven(&a.DisplayNames, change.DisplayNames)
		setIfGiven(&a.Receives, change.Receives)
		setIfGiven(&a.AcceptedLanguages, change.AcceptedLanguages)
		setIfGiven(&a.ContactPoints, change.ContactPoints)
		return validateAgency(*a, "agency.")
	})
}

// DeactivateAgency marks the agency inactive, for a directory_admin of its
// state, with the agency's current etag (required, as for UpdateAgency).
// Deactivating an inactive agency changes nothing and succeeds. A
// deactivation that would lock users out is refused (see checkAgencyKept).
func (s *Service) DeactivateAgency(ctx context.Context, p identity.Principal, id, etag string) (Agency, error) {
	return s.updateAgency(ctx, p, id, etag, "", func(a *Agency) error {
		a.Active = false
		return nil
	})
}

// ActivateAgency marks an inactive agency active again, the reverse of
// DeactivateAgency, under the same rules: a directory_admin of its state,
// with the agency's current etag (required). An activation only gives back
// places where roles count, never takes one away, so the lockout checks
// that updateAgency applies have nothing to refuse. Activating an active
// agency is not an error.
func (s *Service) ActivateAgency(ctx context.Context, p identity.Principal, id, etag string) (Agency, error) {
	return s.updateAgency(ctx, p, id, etag, "", func(a *Agency) error {
		a.Active = true
		return nil
	})
}

// updateAgency applies change to the agency id in one store transaction,
// then the rules every agency change obeys: the lockout checks, then the
// etag. prefix is where the request keeps the etag ("agency." in an
// UpdateAgencyRequest, "" in a DeactivateAgencyRequest).
func (s *Service) updateAgency(ctx context.Context, p identity.Principal, id, etag, prefix string, change func(*Agency) error) (Agency, error) {
	// Check the role first so that a prosecutor learns nothing from the
	// store's answer; the state is checked against the stored agency.
	if !p.HasRole(identity.DirectoryAdmin) {
		return Agency{}, errs.New(errs.PermissionDenied, "only a directory_admin may change the directory")
	}
	// The name of the caller's state, for the refusals below: an agency
	// the caller may change belongs to it. Read before the transaction,
	// since fn must not call the store.
	name := p.State
	if st, err := s.store.GetState(ctx, p.State); err == nil {
		name = stateName(st)
	}
	// Whether p may make an agency of its state an active OVERSIGHT agency
	// or stop one being one (see requireOversightOf), read here for the
	// same reason; it counts only for such a change.
	oversightErr := s.requireOversightOf(ctx, p, p.State, "create or change its OVERSIGHT agencies")
	if oversightErr != nil && errs.CodeOf(oversightErr) != errs.PermissionDenied {
		return Agency{}, oversightErr
	}
	// The agency's state, once read: its auditors see the refusals below.
	state := ""
	updated, err := s.store.UpdateAgency(ctx, id, func(a *Agency, peers []Agency) (trail.Event, error) {
		state = a.State
		if err := requireAdminOf(p, a.State); err != nil {
			return trail.Event{}, err
		}
		if etag != "" && etag != a.Etag() {
			return trail.Event{}, errs.New(errs.Conflict, "agency %s was changed by someone else; get it again and retry", id)
		}
		next := *a
		if err := change(&next); err != nil {
			return trail.Event{}, err
		}
		if err := checkAgencyKept(name, *a, next, peers, p, prefix); err != nil {
			return trail.Event{}, err
		}
		if oversightErr != nil && a.isOversight() != next.isOversight() {
			return trail.Event{}, oversightErr
		}
		// Checked last, so that a change that must never be made says
		// why, not only that the etag is missing.
		if etag == "" {
			return trail.Event{}, (errs.Violations{{Field: prefix + "etag",
				Description: "required: send the etag you read, so that a concurrent change is not overwritten"}}).Err(errs.Invalid, "etag required")
		}
		now := s.now().UTC()
		next.UpdateTime = now
		*a = next
		return event(ctx, now, p, "agencies/"+id, a.State), nil
	})
	if err != nil {
		concerning(&err, state)
		return Agency{}, err
	}
	return updated, nil
}

// checkTrustKept refuses a change of a state's trusted issuers from old to
// next that would lock its users out: none left, or the issuer vouching for
// the caller's own token removed (the caller could not undo it).
func checkTrustKept(old, next State, p identity.Principal) error {
	var vs errs.Violations
	switch {
	case len(next.TrustedIssuers) == 0:
		vs.Add("state.trusted_issuers", "this change would leave %s with no trusted token issuer: none of its users could sign in", stateName(old))
	case p.Issuer != "" && slices.Contains(old.TrustedIssuers, p.Issuer) && !slices.Contains(next.TrustedIssuers, p.Issuer):
		vs.Add("state.trusted_issuers", "this change removes %s, the issuer of your own token; ask another administrator, signed in through another issuer, to remove it", p.Issuer)
	}
	return vs.Err(errs.FailedPrecondition, "the trusted issuers of "+old.Code+" were not changed")
}

// stateName is the state's English name, else its code.
func stateName(st State) string {
	if n := st.DisplayNames["en"]; n != "" {
		return n
	}
	return st.Code
}

// MayChangeState says whether p may change the state code or its
// agencies: the permission UpdateState and CreateAgency check, for a check
// made before the input is looked at.
func (s *Service) MayChangeState(ctx context.Context, p identity.Principal, code string) error {
	code = strings.ToUpper(code)
	// The state's auditors see the refused attempts too, as UpdateState's.
	return trail.Concerning(requireAdminOf(p, code), "", code)
}

// MayChangeWitness says whether p may change the witness of state code: the
// permission UpdateState checks when its change names the witness, for a
// check made before the input is looked at.
func (s *Service) MayChangeWitness(ctx context.Context, p identity.Principal, code string) error {
	code = strings.ToUpper(code)
	return trail.Concerning(s.requireOversightOf(ctx, p, code, "change its witness"), "", code)
}

// MayChangeAgency says whether p may change agency id: the permission
// UpdateAgency, DeactivateAgency and ActivateAgency check, for a check made
// before the input is looked at. An agency that does not exist is left for
// the change itself to report.
func (s *Service) MayChangeAgency(ctx context.Context, p identity.Principal, id string) error {
	// The role first, as updateAgency checks it.
	if !p.HasRole(identity.DirectoryAdmin) {
		return requireAdminOf(p, "")
	}
	a, err := s.store.GetAgency(ctx, id)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return nil
		}
		return err
	}
	// The agency's state's auditors see the refused attempts too, as
	// updateAgency's.
	return trail.Concerning(requireAdminOf(p, a.State), "", a.State)
}

// requireOversightOf refuses a change of the state's witness by anyone but a
// directory_admin of its OVERSIGHT agency (DESIGN §6.1): the witness is how
// the state's oversight body checks the audit log independently of the
// operator, so neither the central authority's administrators (who also
// administer the directory) nor another state may point it elsewhere. For
// the same reason it guards what decides who that is: making an agency an
// active OVERSIGHT agency or stopping one being one (creation, kind,
// deactivation, activation), and a claim mapping naming an OVERSIGHT agency
// (else a central authority's administrator could make their own agency
// OVERSIGHT, change the witness and turn it back). action says what was
// asked, for the refusal. The caller's agency is read before the change's
// transaction (fn must not call the store); an agency never changes state,
// and a kind changed meanwhile only matters to a change made in that
// instant, as for every role check made when a call starts.
func (s *Service) requireOversightOf(ctx context.Context, p identity.Principal, code, action string) error {
	if p.HasRole(identity.DirectoryAdmin) && p.State == code {
		a, err := s.store.GetAgency(ctx, p.Agency)
		if err != nil && !errors.Is(err, errs.ErrNotFound) {
			return err
		}
		if err == nil && a.State == code && a.isOversight() {
			return nil
		}
	}
	return errs.New(errs.PermissionDenied, "only a directory_admin of the oversight agency (kind OVERSIGHT) of %s may %s; "+
		"your agency %s is not; ask that agency's directory administrator", code, action, p.Agency)
}

// isOversight reports whether a is an active OVERSIGHT agency: one whose
// directory_admins may change its state's witness.
func (a Agency) isOversight() bool { return a.Kind == Oversight && a.Active }

// oversightMappingChanged reports whether the claim mappings next add,
// change or remove a mapping naming an OVERSIGHT agency among agencies
// (active or not: one activated later is guarded by requireOversightOf)
// in old's place.
func oversightMappingChanged(old, next []identity.ClaimMapping, agencies []Agency) bool {
	names := func(m identity.ClaimMapping) bool {
		for _, id := range m.AgencyValues {
			if slices.ContainsFunc(agencies, func(a Agency) bool { return a.ID == id && a.Kind == Oversight }) {
				return true
			}
		}
		return false
	}
	changed := func(from, to []identity.ClaimMapping) bool {
		for _, m := range from {
			if !names(m) {
				continue
			}
			i := slices.IndexFunc(to, func(n identity.ClaimMapping) bool { return n.Issuer == m.Issuer })
			if i < 0 || !to[i].Equal(m) {
				return true
			}
		}
		return false
	}
	return changed(old, next) || changed(next, old)
}

func requireAdminOf(p identity.Principal, state string) error {
	if !p.HasRole(identity.DirectoryAdmin) {
		return errs.New(errs.PermissionDenied, "only a directory_admin may change the directory")
	}
	if p.State != state {
		return errs.New(errs.PermissionDenied, "a directory_admin of %s may not change the directory entries of %s", p.State, state)
	}
	return nil
}

// ResolveRoute returns the agency of requestedState that must receive a
// request of type t and priority pr under legalBasis (optional), with the
// reason. When the state records, for that instrument, an authority
// designated for the request's stage (see stagesOf) that is active and
// receives t, that agency; else the state's active 24/7 contact point for
// urgent or emergency preservation, else its active central authority that
// receives t.
func (s *Service) ResolveRoute(ctx context.Context, _ identity.Principal, requestedState string, t cooperation.RequestType, pr cooperation.Priority, legalBasis string) (Agency, string, error) {
	code := strings.ToUpper(requestedState)
	if legalBasis != "" && !slices.Contains(LegalBases, legalBasis) {
		return Agency{}, "", (errs.Violations{{Field: "legal_basis",
			Description: fmt.Sprintf("must be one of %s", strings.Join(LegalBases, ", "))}}).Err(errs.Invalid, "unknown legal basis")
	}
	st, err := s.store.GetState(ctx, code)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return Agency{}, "", (errs.Violations{{Field: "requested_state",
				Description: fmt.Sprintf("%s is not a participating state", code)}}).Err(errs.Invalid, "unknown state")
		}
		return Agency{}, "", err
	}
	page, err := s.store.ListAgencies(ctx, AgencyQuery{
		Filter: activeAgenciesOf(code),
		Limit:  1000,
	})
	if err != nil {
		return Agency{}, "", err
	}
	if si, ok := st.Instrument(legalBasis); ok {
		for _, stage := range stagesOf(t, pr) {
			id, ok := si.Authority(stage)
			if !ok {
				continue
			}
			for _, a := range page.Agencies {
				if a.ID == id && slices.Contains(a.Receives, t) {
					return a, fmt.Sprintf("%s designated %s as its %s authority under %s", code, id, stage, legalBasis), nil
				}
			}
		}
	}
	receiving := func(k Kind) (Agency, bool) {
		for _, a := range page.Agencies {
			if a.Kind == k && slices.Contains(a.Receives, t) {
				return a, true
			}
		}
		return Agency{}, false
	}
	if t == cooperation.DataPreservation && (pr == cooperation.Urgent || pr == cooperation.Emergency) {
		if a, ok := receiving(ContactPoint247); ok {
			return a, fmt.Sprintf("%s preservation goes to the 24/7 contact point of %s", strings.ToLower(string(pr)), code), nil
		}
	}
	if a, ok := receiving(CentralAuthority); ok {
		return a, fmt.Sprintf("%s requests go to the central authority of %s", t, code), nil
	}
	return Agency{}, "", errs.New(errs.FailedPrecondition,
		"%s has no active agency that receives %s requests", code, t)
}

// stagesOf are the stages whose designated authority receives a request of
// type t and priority pr, the first that has one: an urgent preservation
// goes to the 24/7 point the instrument names (Budapest Art 35), else to its
// preservation authority; everything else is mutual assistance.
func stagesOf(t cooperation.RequestType, pr cooperation.Priority) []string {
	if t != cooperation.DataPreservation {
		return []string{StageMutualAssistance}
	}
	if pr == cooperation.Urgent || pr == cooperation.Emergency {
		return []string{StageContactPoint247, StagePreservation}
	}
	return []string{StagePreservation}
}
