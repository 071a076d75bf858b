// Package directory is the agency directory of Comity: the participating
// states, their agencies and contact points, which token issuers each state
// trusts, and which agency must receive a cooperation request.
//
// This package holds the domain types, the Store interface and the rules; the
// gRPC API, the SQLite and the PostgreSQL stores are subpackages.
package directory

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"slices"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/internal/enum"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

// Kind is the kind of an agency. Values are the proto enum value names.
type Kind string

// The agency kinds of DESIGN §4.
const (
	CentralAuthority    Kind = "CENTRAL_AUTHORITY"
	Prosecution         Kind = "PROSECUTION"
	LawEnforcement      Kind = "LAW_ENFORCEMENT"
	ContactPoint247     Kind = "CONTACT_POINT_24_7"
	Oversight           Kind = "OVERSIGHT"
	TrainingInstitution Kind = "TRAINING_INSTITUTION"
)

// Kinds lists every agency kind.
var Kinds = []Kind{CentralAuthority, Prosecution, LawEnforcement, ContactPoint247, Oversight, TrainingInstitution}

// State is a participating state.
type State struct {
	// Code is the ISO 3166-1 alpha-2 code, upper case.
	Code              string
	DisplayNames      map[string]string
	OfficialLanguages []string
	AcceptedLanguages []string
	// TimeZone is an IANA zone name.
	TimeZone string
	// TrustedIssuers are the JWT issuers that may vouch for the state's agencies.
	TrustedIssuers []string
	// ClaimMappings say how the tokens of trusted issuers carry the agency,
	// roles and name; at most one per issuer, each naming one of
	// TrustedIssuers. An issuer without one has the default mapping.
	ClaimMappings []identity.ClaimMapping
	// Instruments are the instruments the directory records for the state
	// (DESIGN §5.6), at most one entry per legal basis. A legal basis
	// without an entry has status Unknown.
	Instruments []StateInstrument
	// RetentionAfterClose is how long the personal data and content of a
	// request of the state (its requesting state) are kept after it is
	// closed, or after its last change if never transmitted (DESIGN §10);
	// zero: the deployment's default.
	RetentionAfterClose time.Duration
	// Witness is the witness the state's oversight body runs (DESIGN
	// §6.1); the zero value: none recorded. Only a directory_admin of the
	// state's OVERSIGHT agency changes it (Service.UpdateState).
	Witness StateWitness
	// Version counts changes; the store sets it. The etag derives from it.
	Version    int64
	UpdateTime time.Time
}

// StateWitness is where a state's witness is reached and the key it
// cosigns the audit log's checkpoints with; auditors derive their witness
// policy from these entries (comityctl audit policy).
type StateWitness struct {
	// URL is the witness's base URL: https, or http on a loopback host.
	URL string
	// PublicKey is its cosignature/v1 note verifier key (algorithm 0x04).
	PublicKey string
}

// IsZero reports whether w records no witness.
func (w StateWitness) IsZero() bool { return w == StateWitness{} }

// Etag is the opaque concurrency token of the state's current version.
func (s State) Etag() string { return etag("states/"+s.Code, s.Version) }

// ContactPoint is a person or desk at an agency.
type ContactPoint struct {
	Role            string
	FullName        string
	Phone           string
	Email           string
	Hours           string
	AlwaysAvailable bool
}

// Agency is an authority of a participating state.
type Agency struct {
	// ID is the slug, e.g. `kz-gpo`.
	ID                string
	State             string
	Kind              Kind
	DisplayNames      map[string]string
	Receives          []cooperation.RequestType
	AcceptedLanguages []string
	ContactPoints     []ContactPoint
	Active            bool
	// Version counts changes; the store sets it. The etag derives from it.
	Version    int64
	UpdateTime time.Time
}

// Etag is the opaque concurrency token of the agency's current version.
func (a Agency) Etag() string { return etag("agencies/"+a.ID, a.Version) }

func etag(name string, version int64) string {
	h := sha256.New()
	h.Write([]byte(name))
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(version))
	h.Write(v[:])
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// AgencySchema declares the fields ListAgencies can filter and order on, in
// the domain's names; the store maps them to its columns.
var AgencySchema = query.Schema{
	{Name: "name", Kind: query.String},
	{Name: "state", Kind: query.String, Upper: true},
	{Name: "kind", Kind: query.Enum, Enum: enum.Strings(Kinds)},
	{Name: "active", Kind: query.Bool},
	{Name: "updateTime", Kind: query.Timestamp},
}

// AgencyQuery selects a page of agencies.
type AgencyQuery struct {
	// Filter is nil for all agencies; its fields are those of AgencySchema.
	Filter query.Expr
	// OrderBy is empty for name order; fields are those of AgencySchema.
	OrderBy []query.Order
	Offset  int
	// Limit is the page size; the store returns at most Limit agencies.
	Limit int
}

// AgencyPage is one page of agencies and the number matching the filter.
type AgencyPage struct {
	Agencies []Agency
	Total    int
}

// Store keeps states and agencies, and the audit outbox of the changes made
// to them. Implementations must be safe for concurrent use, including by
// several processes on one database (PostgreSQL).
//
// Every change a user makes (UpdateState, CreateAgency, UpdateAgency) is
// written together with its audit event, in one transaction: the change is
// never stored without its event, nor the event without its change. An
// event must have an ID; a change offered without one is refused and nothing
// is written. Seed and Import are not user calls and write no events.
//
// Implementations also keep the outbox for delivery (trail.Outbox); the
// directory's domain never reads it, so it is not part of this interface.
type Store interface {
	InstrumentStore

	// Recorder writes an event on its own, e.g. a denied call. An event
	// whose ID is already in the outbox is not written again, and that is
	// no error.
	trail.Recorder

	// ListStates returns every state ordered by code.
	ListStates(ctx context.Context) ([]State, error)
	// GetState returns the state with the code, or an error matching
	// errs.ErrNotFound.
	GetState(ctx context.Context, code string) (State, error)
	// UpdateState reads the state, calls fn on it and writes the result with
	// Version incremented, together with the audit event fn returns, in one
	// transaction. An error from fn is returned as is and nothing is
	// written; a missing state is errs.ErrNotFound and fn is not called; fn
	// changing the code is errs.ErrInvalid. fn must not call the store.
	UpdateState(ctx context.Context, code string, fn func(*State) (trail.Event, error)) (State, error)

	// GetAgency returns the agency, or an error matching errs.ErrNotFound.
	GetAgency(ctx context.Context, id string) (Agency, error)
	// ListAgencies returns a page of the agencies matching q.
	ListAgencies(ctx context.Context, q AgencyQuery) (AgencyPage, error)
	// CreateAgency stores a new agency with Version 1 and its audit event ev,
	// in one transaction. An agency with the same id is
	// errs.ErrAlreadyExists; a state not in the store is
	// errs.ErrFailedPrecondition; in both cases nothing is written.
	CreateAgency(ctx context.Context, a Agency, ev trail.Event) (Agency, error)
	// UpdateAgency reads the agency, calls fn on it and writes the result with
	// Version incremented, together with the audit event fn returns, in one
	// transaction. fn is also given the other agencies of the agency's state
	// (peers, ordered by id), read in the same transaction; concurrent
	// updates of the agencies of one state are serialised, so fn always sees
	// the latest version of the agency and of its peers (the directory's
	// rules look at the whole state: which agencies are left where a role
	// counts). An error from fn is returned as is and nothing is written; a
	// missing agency is errs.ErrNotFound and fn is not called; fn changing
	// ID or State is errs.ErrInvalid. fn must not call the store.
	UpdateAgency(ctx context.Context, id string, fn func(a *Agency, peers []Agency) (trail.Event, error)) (Agency, error)

	// Seed stores states and agencies in one transaction if the store holds
	// no state yet, and reports whether it did. Concurrent callers on one
	// database seed it once. It writes no audit event: seeding is the
	// deployment's act, not a user's call.
	Seed(ctx context.Context, states []State, agencies []Agency) (bool, error)
	// Import stores states and agencies in one transaction, replacing those
	// with the same code or id (their Version is incremented). For each
	// given state that is already stored, keep is called first, inside the
	// transaction, with the stored state and the one to store, which it may
	// change (but not its code). Then keepAgencies is called once, inside
	// the transaction, with every stored agency of the states the given
	// agencies belong to (ordered by id) and the agencies to store, which it
	// may change in place (but not their id or state); agency updates of
	// those states wait meanwhile. keep and keepAgencies may be nil and
	// must not call the store. It writes no audit event: an import is an
	// operator's act on the database (comityctl), not a call of the API.
	// Use the Import function, which applies the directory's rules, rather
	// than this method.
	Import(ctx context.Context, states []State, agencies []Agency, keep func(stored State, imported *State), keepAgencies func(stored, imported []Agency)) error
}

// ImportReport says what an import did that its snapshot did not say.
type ImportReport struct {
	// KeptIssuers are the states whose snapshot listed no trusted issuer and
	// that kept the issuers they had.
	KeptIssuers []string
	// NoIssuer are the states stored with no trusted issuer: new states the
	// snapshot lists without one, or states that had none. None of their
	// users can sign in until one is added.
	NoIssuer []string
	// KeptAgencies are the agencies whose snapshot kind or active flag
	// would have left their state with no active agency where
	// directory_admin (or auditor) counts, and that kept theirs.
	KeptAgencies []KeptAgency
}

// Import stores a snapshot's states and agencies in one transaction (see
// Store.Import). A state the snapshot lists with no trusted issuer keeps the
// issuers it has: a snapshot that leaves a state with none would lock all of
// its users out, and the shipped seed lists none. Only a snapshot naming
// issuers changes them. Likewise an agency whose snapshot kind or active
// flag would leave its state with no active agency where directory_admin
// counts, or none where auditor counts, keeps its own (the rule the API
// enforces on administrators, see Service.UpdateAgency).
func Import(ctx context.Context, store Store, states []State, agencies []Agency) (ImportReport, error) {
	var r ImportReport
	kept := map[string]bool{}
	err := store.Import(ctx, states, agencies, func(stored State, imported *State) {
		// A snapshot without instrument entries (one made before they
		// existed) keeps what the state records, as for issuers.
		if len(imported.Instruments) == 0 {
			imported.Instruments = slices.Clone(stored.Instruments)
		}
		// Likewise its retention: a snapshot that names none keeps the
		// state's (the API removes one).
		if imported.RetentionAfterClose == 0 {
			imported.RetentionAfterClose = stored.RetentionAfterClose
		}
		// And its witness: a snapshot that names none (the shipped seed,
		// one made before witnesses were recorded) keeps the state's.
		if imported.Witness.IsZero() {
			imported.Witness = stored.Witness
		}
		if len(imported.TrustedIssuers) == 0 && len(stored.TrustedIssuers) > 0 {
			imported.TrustedIssuers = slices.Clone(stored.TrustedIssuers)
			imported.ClaimMappings = slices.Clone(stored.ClaimMappings)
			kept[imported.Code] = true
		}
	}, func(stored, imported []Agency) {
		// Called once per transaction attempt: only the last one's
		// report counts.
		r.KeptAgencies = keepAgencies(stored, imported)
	})
	if err != nil {
		return ImportReport{}, err
	}
	for _, st := range states {
		switch {
		case kept[st.Code]:
			r.KeptIssuers = append(r.KeptIssuers, st.Code)
		case len(st.TrustedIssuers) == 0:
			r.NoIssuer = append(r.NoIssuer, st.Code)
		}
	}
	return r, nil
}
