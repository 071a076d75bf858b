// Package directoryclient lets other services ask the agency directory over
// gRPC: who an agency is, which issuers its state trusts, a state's time zone,
// and which agency must receive a request.
//
// Answers are cached for a short time and shared by every caller, since any
// authenticated user may read the whole directory. Until services have their
// own identities (mTLS), each call forwards the end user's `authorization`
// metadata from the incoming context, and the directory checks it.
package directoryclient

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/grpcapi"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

const (
	defaultCacheTTL    = 30 * time.Second
	defaultCallTimeout = 5 * time.Second
)

type options struct {
	cacheTTL    time.Duration
	callTimeout time.Duration
}

// Option configures a Client.
type Option func(*options)

// WithCacheTTL sets how long answers (including "not found") are kept;
// the default is 30s. Zero or less disables the cache.
func WithCacheTTL(d time.Duration) Option {
	return func(o *options) { o.cacheTTL = d }
}

// WithCallTimeout sets the deadline of every call to the directory; the
// default is 5s. Zero or less keeps the default: a call is never left without
// a deadline.
func WithCallTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.callTimeout = d
		}
	}
}

// Client reads the agency directory over gRPC. It is safe for concurrent use.
type Client struct {
	api         directoryv1.DirectoryServiceClient
	callTimeout time.Duration
	flights     singleflight.Group
	agencies    *cache[directory.Agency]
	states      *cache[directory.State]
	routes      *cache[directory.Agency]
	allStates   *cache[[]directory.State]
	instruments *cache[[]directory.Instrument]
}

var (
	_ identity.TrustSource  = (*Client)(nil)
	_ identity.IssuerSource = (*Client)(nil)
)

// New returns a Client that calls the directory over conn.
func New(conn grpc.ClientConnInterface, opts ...Option) *Client {
	o := options{cacheTTL: defaultCacheTTL, callTimeout: defaultCallTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	return &Client{
		api:         directoryv1.NewDirectoryServiceClient(conn),
		callTimeout: o.callTimeout,
		agencies:    newCache("agency", o.cacheTTL, cloneAgency),
		states:      newCache("state", o.cacheTTL, cloneState),
		routes:      newCache("route", o.cacheTTL, cloneAgency),
		allStates:   newCache("states", o.cacheTTL, cloneStates),
		instruments: newCache("instruments", o.cacheTTL, cloneInstruments),
	}
}

// AgencyTrust implements identity.TrustSource: the agency's state, kind and
// active flag, and the issuers its state trusts. An agency the directory
// does not know, or an id no agency can have, is an error matching
// errs.ErrNotFound. The directory is asked with the caller's token and
// checks it with the same rules: when it refuses a genuine token (its
// agency unknown or deactivated, a role its agency may not hold, …) the
// error is an *identity.RefusedError with the agency's state when the
// directory knows it. See Agency for the other errors.
func (c *Client) AgencyTrust(ctx context.Context, agencyID string) (identity.AgencyTrust, error) {
	a, err := c.Agency(ctx, agencyID)
	if errors.Is(err, errs.ErrInvalid) {
		// The directory refuses a malformed id; for a token naming one, the
		// answer that matters is that no such agency exists.
		return identity.AgencyTrust{}, errs.New(errs.NotFound, "agency %q is not in the directory", agencyID)
	}
	if err != nil {
		return identity.AgencyTrust{}, err
	}
	st, err := c.State(ctx, a.State)
	if err != nil {
		return identity.AgencyTrust{}, fmt.Errorf("state of agency %s: %w", agencyID, err)
	}
	return identity.AgencyTrust{State: st.Code, Kind: string(a.Kind), Active: a.Active, TrustedIssuers: st.TrustedIssuers}, nil
}

// IssuerEntries implements identity.IssuerSource: the states that trust
// issuer, with the claim mapping each gives it, from ListStates asked with
// the caller's token. Errors are those of AgencyTrust.
func (c *Client) IssuerEntries(ctx context.Context, issuer string) ([]identity.IssuerEntry, error) {
	states, err := c.States(ctx)
	if err != nil {
		return nil, err
	}
	return directory.IssuerEntries(states, issuer), nil
}

// States returns every participating state. Errors are those of Agency.
func (c *Client) States(ctx context.Context) ([]directory.State, error) {
	return lookup(ctx, c, c.allStates, "all", func(ctx context.Context) ([]directory.State, error) {
		resp, err := c.api.ListStates(ctx, &directoryv1.ListStatesRequest{})
		if err != nil {
			return nil, err
		}
		out := make([]directory.State, len(resp.GetStates()))
		for i, st := range resp.GetStates() {
			out[i] = grpcapi.StateFromProto(st)
		}
		return out, nil
	})
}

// Agency returns the agency with id, e.g. `kz-gpo`. Errors match
// errs.ErrNotFound (no such agency), errs.ErrInvalid (a malformed id),
// errs.ErrUnauthenticated (no credentials in ctx, or credentials the
// directory refuses), errs.ErrPermissionDenied, or errs.ErrUnavailable (the
// directory cannot be reached in time); a ctx that ends first gives its error.
func (c *Client) Agency(ctx context.Context, id string) (directory.Agency, error) {
	return lookup(ctx, c, c.agencies, id, func(ctx context.Context) (directory.Agency, error) {
		resp, err := c.api.GetAgency(ctx, &directoryv1.GetAgencyRequest{Name: "agencies/" + id})
		return answer(resp.GetAgency(), err, grpcapi.AgencyFromProto)
	})
}

// State returns the state with the ISO 3166-1 alpha-2 code (any case). Errors
// are those of Agency.
func (c *Client) State(ctx context.Context, code string) (directory.State, error) {
	code = strings.ToUpper(code)
	return lookup(ctx, c, c.states, code, func(ctx context.Context) (directory.State, error) {
		resp, err := c.api.GetState(ctx, &directoryv1.GetStateRequest{Name: "states/" + code})
		return answer(resp.GetState(), err, grpcapi.StateFromProto)
	})
}

// ResolveRoute returns the agency of requestedState that must receive a
// request of type t and priority p. A state without an active agency that
// receives t is an error matching errs.ErrFailedPrecondition, whose message
// says so; an unknown state, type or priority matches errs.ErrInvalid. The
// other errors are those of Agency. Only answers are cached, never errors.
func (c *Client) ResolveRoute(ctx context.Context, requestedState string, t cooperation.RequestType, p cooperation.Priority) (directory.Agency, error) {
	return c.ResolveRouteUnder(ctx, requestedState, t, p, "")
}

// ResolveRouteUnder is ResolveRoute for a request under legalBasis (a
// value name of the request's LegalBasis; empty for none): an authority the
// state designated for it and the request's stage receives it. Errors are
// those of ResolveRoute; an unknown legal basis matches errs.ErrInvalid.
func (c *Client) ResolveRouteUnder(ctx context.Context, requestedState string, t cooperation.RequestType, p cooperation.Priority, legalBasis string) (directory.Agency, error) {
	requestedState = strings.ToUpper(requestedState)
	key := requestedState + "/" + string(t) + "/" + string(p) + "/" + legalBasis
	return lookup(ctx, c, c.routes, key, func(ctx context.Context) (directory.Agency, error) {
		resp, err := c.api.ResolveRoute(ctx, &directoryv1.ResolveRouteRequest{
			RequestedState: requestedState,
			RequestType:    grpcapi.RequestTypeToProto(t),
			// grpcapi has no PriorityToProto; the enum value names are the
			// domain values, as for request types.
			Priority:   directoryv1.Priority(directoryv1.Priority_value[string(p)]),
			LegalBasis: legalBasis,
		})
		return answer(resp.GetAgency(), err, grpcapi.AgencyFromProto)
	})
}

// InstrumentProfiles returns every instrument profile, best first. Errors
// are those of Agency.
func (c *Client) InstrumentProfiles(ctx context.Context) ([]directory.Instrument, error) {
	return lookup(ctx, c, c.instruments, "all", func(ctx context.Context) ([]directory.Instrument, error) {
		resp, err := c.api.ListInstruments(ctx, &directoryv1.ListInstrumentsRequest{})
		if err != nil {
			return nil, err
		}
		out := make([]directory.Instrument, len(resp.GetInstruments()))
		for i, in := range resp.GetInstruments() {
			out[i] = grpcapi.InstrumentFromProto(in)
		}
		return out, nil
	})
}

// Instruments returns what the directory records of the instruments
// between the two states (ISO codes, any case): the profiles, and each
// state with its entries, from the cached profiles and states. Errors are
// those of Agency; an unknown state matches errs.ErrNotFound.
func (c *Client) Instruments(ctx context.Context, requestingState, requestedState string) (directory.Treaties, error) {
	profiles, err := c.InstrumentProfiles(ctx)
	if err != nil {
		return directory.Treaties{}, err
	}
	from, err := c.State(ctx, requestingState)
	if err != nil {
		return directory.Treaties{}, fmt.Errorf("requesting state %s: %w", requestingState, err)
	}
	to, err := c.State(ctx, requestedState)
	if err != nil {
		return directory.Treaties{}, fmt.Errorf("requested state %s: %w", requestedState, err)
	}
	return directory.Treaties{Profiles: profiles, Requesting: from, Requested: to}, nil
}

// PreservationDualCriminalityReservation says whether the state's entry for
// the Budapest Convention records the Art 29(4) reservation (see
// directory.State.ReservesPreservationDualCriminality). Errors are those of
// State.
func (c *Client) PreservationDualCriminalityReservation(ctx context.Context, state string) (bool, error) {
	st, err := c.State(ctx, state)
	if err != nil {
		return false, err
	}
	return st.ReservesPreservationDualCriminality(), nil
}

// Retention returns the state's retention after close (DESIGN §10), ok
// false when its entry sets none. Errors are those of State.
func (c *Client) Retention(ctx context.Context, state string) (time.Duration, bool, error) {
	st, err := c.State(ctx, state)
	if err != nil {
		return 0, false, err
	}
	return st.RetentionAfterClose, st.RetentionAfterClose > 0, nil
}

// Retentions returns every state's retention after close (zero: the
// state sets none), asked without the caller's token: the anonymous
// ListRetentions, for the request service's retention sweep, which acts
// for no user. It is not cached: a sweep asks once.
func (c *Client) Retentions(ctx context.Context) (map[string]time.Duration, error) {
	resp, err := c.api.ListRetentions(ctx, &directoryv1.ListRetentionsRequest{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Duration, len(resp.GetStates()))
	for _, st := range resp.GetStates() {
		out[st.GetState()] = st.GetRetentionAfterClose().AsDuration()
	}
	return out, nil
}

var errEmptyAnswer = errors.New("directory answered without the resource")

// answer is the resource got of a directory call that failed with err (nil
// when it did not), converted with from: err, or errEmptyAnswer when the
// call answered without it.
func answer[P, T any](got *P, err error, from func(*P) T) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	if got == nil {
		return zero, errEmptyAnswer
	}
	return from(got), nil
}

// Cached values are shared by every caller; each gets its own copy so that
// none sees another's changes.

func cloneAgency(a directory.Agency) directory.Agency {
	a.DisplayNames = maps.Clone(a.DisplayNames)
	a.Receives = slices.Clone(a.Receives)
	a.AcceptedLanguages = slices.Clone(a.AcceptedLanguages)
	a.ContactPoints = slices.Clone(a.ContactPoints)
	return a
}

func cloneState(s directory.State) directory.State {
	s.DisplayNames = maps.Clone(s.DisplayNames)
	s.OfficialLanguages = slices.Clone(s.OfficialLanguages)
	s.AcceptedLanguages = slices.Clone(s.AcceptedLanguages)
	s.TrustedIssuers = slices.Clone(s.TrustedIssuers)
	s.ClaimMappings = slices.Clone(s.ClaimMappings)
	for i, m := range s.ClaimMappings {
		s.ClaimMappings[i] = m.Clone()
	}
	s.Instruments = slices.Clone(s.Instruments)
	for i, si := range s.Instruments {
		s.Instruments[i].Reservations = slices.Clone(si.Reservations)
		s.Instruments[i].Authorities = slices.Clone(si.Authorities)
	}
	return s
}

func cloneInstruments(list []directory.Instrument) []directory.Instrument {
	out := slices.Clone(list)
	for i, in := range out {
		out[i].RequiredFields = slices.Clone(in.RequiredFields)
		out[i].RefusalGrounds = slices.Clone(in.RefusalGrounds)
		out[i].Languages = slices.Clone(in.Languages)
	}
	return out
}

func cloneStates(states []directory.State) []directory.State {
	out := make([]directory.State, len(states))
	for i, s := range states {
		out[i] = cloneState(s)
	}
	return out
}
