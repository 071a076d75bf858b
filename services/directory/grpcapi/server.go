// Package grpcapi serves the directory's gRPC API: it checks the shape of
// each request, converts it to the domain, calls directory.Service and
// converts the answer back. No rule of the directory lives here.
package grpcapi

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"

	"go.einride.tech/aip/fieldbehavior"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/lists"
	"github.com/comity-mla/comity/services/platform/paging"
	"github.com/comity-mla/comity/services/query/aip"
)

// Server implements directoryv1.DirectoryServiceServer.
type Server struct {
	directoryv1.UnimplementedDirectoryServiceServer
	svc *directory.Service
}

var _ directoryv1.DirectoryServiceServer = (*Server)(nil)

// NewServer returns a Server over svc.
func NewServer(svc *directory.Service) *Server { return &Server{svc: svc} }

// ListStates implements directoryv1.DirectoryServiceServer.
func (s *Server) ListStates(ctx context.Context, _ *directoryv1.ListStatesRequest) (*directoryv1.ListStatesResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	states, err := s.svc.ListStates(ctx, p)
	if err != nil {
		return nil, err
	}
	return &directoryv1.ListStatesResponse{States: lists.Convert(states, StateToProto)}, nil
}

// GetState implements directoryv1.DirectoryServiceServer.
func (s *Server) GetState(ctx context.Context, req *directoryv1.GetStateRequest) (*directoryv1.GetStateResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.svc.GetState(ctx, p, req.GetName()[len(statePrefix):])
	if err != nil {
		return nil, err
	}
	return &directoryv1.GetStateResponse{State: StateToProto(st)}, nil
}

// UpdateState implements directoryv1.DirectoryServiceServer.
func (s *Server) UpdateState(ctx context.Context, req *directoryv1.UpdateStateRequest) (*directoryv1.UpdateStateResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetState()
	if len(in.GetName()) <= len(statePrefix) {
		return nil, (errs.Violations{{Field: "state.name", Description: "required, e.g. states/KZ"}}).Err(errs.Invalid, "invalid state")
	}
	paths, err := aip.UpdatePaths(req.GetUpdateMask(), in, "a state")
	if err != nil {
		return nil, err
	}
	var ch directory.StateChange
	for _, path := range paths {
		switch path {
		case "display_names":
			v := in.GetDisplayNames()
			ch.DisplayNames = &v
		case "official_languages":
			v := in.GetOfficialLanguages()
			ch.OfficialLanguages = &v
		case "accepted_languages":
			v := in.GetAcceptedLanguages()
			ch.AcceptedLanguages = &v
		case "time_zone":
			v := in.GetTimeZone()
			ch.TimeZone = &v
		case "trusted_issuers":
			v := in.GetTrustedIssuers()
			ch.TrustedIssuers = &v
		case "claim_mappings":
			v := MappingsFromProto(in.GetClaimMappings())
			ch.ClaimMappings = &v
		case "instruments":
			v := StateInstrumentsFromProto(in.GetInstruments())
			ch.Instruments = &v
		case "retention_after_close":
			v := retentionFromProto(in.GetRetentionAfterClose())
			ch.RetentionAfterClose = &v
		case "witness":
			// Absent clears it.
			v := WitnessFromProto(in.GetWitness())
			ch.Witness = &v
		case "witness.url", "witness.public_key":
			// A url without its key (or the reverse) is half a witness.
			return nil, (errs.Violations{{Field: "update_mask", Description: fmt.Sprintf("%q cannot be updated on its own; update \"witness\" whole (its url and public_key together)", path)}}).Err(errs.Invalid, "invalid update mask")
		default:
			return nil, unmapped("state", path)
		}
	}
	st, err := s.svc.UpdateState(ctx, p, in.GetName()[len(statePrefix):], in.GetEtag(), ch)
	if err != nil {
		return nil, err
	}
	return &directoryv1.UpdateStateResponse{State: StateToProto(st)}, nil
}

// ListAgencies implements directoryv1.DirectoryServiceServer.
func (s *Server) ListAgencies(ctx context.Context, req *directoryv1.ListAgenciesRequest) (*directoryv1.ListAgenciesResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	page, err := paging.Parse(req, 50, 1000)
	if err != nil {
		return nil, err
	}
	filter, order, err := aip.ParseList(req.GetFilter(), req.GetOrderBy(), directory.AgencySchema, directory.AgencySchema)
	if err != nil {
		return nil, err
	}
	res, err := s.svc.ListAgencies(ctx, p, directory.AgencyQuery{Filter: filter, OrderBy: order, Offset: page.Offset, Limit: page.Size})
	if err != nil {
		return nil, err
	}
	return &directoryv1.ListAgenciesResponse{
		Agencies:      lists.Convert(res.Agencies, AgencyToProto),
		NextPageToken: page.Next(res.Total),
		TotalSize:     int32(res.Total),
	}, nil
}

// GetAgency implements directoryv1.DirectoryServiceServer.
func (s *Server) GetAgency(ctx context.Context, req *directoryv1.GetAgencyRequest) (*directoryv1.GetAgencyResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.GetAgency(ctx, p, req.GetName()[len(agencyPrefix):])
	if err != nil {
		return nil, err
	}
	return &directoryv1.GetAgencyResponse{Agency: AgencyToProto(a)}, nil
}

// CreateAgency implements directoryv1.DirectoryServiceServer.
func (s *Server) CreateAgency(ctx context.Context, req *directoryv1.CreateAgencyRequest) (*directoryv1.CreateAgencyResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	// What the directory sets (active, update_time) is not the caller's
	// to give: a new agency is active.
	in := proto.Clone(req.GetAgency()).(*directoryv1.Agency)
	fieldbehavior.ClearFields(in, annotations.FieldBehavior_OUTPUT_ONLY, annotations.FieldBehavior_IDENTIFIER)
	a := AgencyFromProto(in)
	a.ID = req.GetAgencyId()
	a, err = s.svc.CreateAgency(ctx, p, a)
	if err != nil {
		return nil, err
	}
	return &directoryv1.CreateAgencyResponse{Agency: AgencyToProto(a)}, nil
}

// UpdateAgency implements directoryv1.DirectoryServiceServer.
func (s *Server) UpdateAgency(ctx context.Context, req *directoryv1.UpdateAgencyRequest) (*directoryv1.UpdateAgencyResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetAgency()
	id := in.GetName()
	if len(id) <= len(agencyPrefix) || id[:len(agencyPrefix)] != agencyPrefix {
		return nil, (errs.Violations{{Field: "agency.name", Description: "required, e.g. agencies/kz-gpo"}}).Err(errs.Invalid, "invalid agency")
	}
	// The state of an agency cannot change (IMMUTABLE): sending it is
	// allowed, clients send back what they got, and the service refuses a
	// different one. "active" (OUTPUT_ONLY) has its own methods.
	paths, err := aip.UpdatePaths(req.GetUpdateMask(), in, "an agency")
	if err != nil {
		return nil, err
	}
	d := AgencyFromProto(in)
	ch := directory.AgencyChange{State: d.State}
	for _, path := range paths {
		switch path {
		case "kind":
			ch.Kind = &d.Kind
		case "display_names":
			ch.DisplayNames = &d.DisplayNames
		case "receives":
			ch.Receives = &d.Receives
		case "accepted_languages":
			ch.AcceptedLanguages = &d.AcceptedLanguages
		case "contact_points":
			ch.ContactPoints = &d.ContactPoints
		default:
			return nil, unmapped("agency", path)
		}
	}
	a, err := s.svc.UpdateAgency(ctx, p, id[len(agencyPrefix):], in.GetEtag(), ch)
	if err != nil {
		return nil, err
	}
	return &directoryv1.UpdateAgencyResponse{Agency: AgencyToProto(a)}, nil
}

// DeactivateAgency implements directoryv1.DirectoryServiceServer.
func (s *Server) DeactivateAgency(ctx context.Context, req *directoryv1.DeactivateAgencyRequest) (*directoryv1.DeactivateAgencyResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.DeactivateAgency(ctx, p, req.GetName()[len(agencyPrefix):], req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &directoryv1.DeactivateAgencyResponse{Agency: AgencyToProto(a)}, nil
}

// ActivateAgency implements directoryv1.DirectoryServiceServer.
func (s *Server) ActivateAgency(ctx context.Context, req *directoryv1.ActivateAgencyRequest) (*directoryv1.ActivateAgencyResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.ActivateAgency(ctx, p, req.GetName()[len(agencyPrefix):], req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &directoryv1.ActivateAgencyResponse{Agency: AgencyToProto(a)}, nil
}

// ResolveRoute implements directoryv1.DirectoryServiceServer.
func (s *Server) ResolveRoute(ctx context.Context, req *directoryv1.ResolveRouteRequest) (*directoryv1.ResolveRouteResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	a, why, err := s.svc.ResolveRoute(ctx, p, req.GetRequestedState(),
		RequestTypeFromProto(req.GetRequestType()), PriorityFromProto(req.GetPriority()), req.GetLegalBasis())
	if err != nil {
		return nil, err
	}
	return &directoryv1.ResolveRouteResponse{Agency: AgencyToProto(a), Rationale: why}, nil
}

// ListInstruments implements directoryv1.DirectoryServiceServer.
func (s *Server) ListInstruments(ctx context.Context, _ *directoryv1.ListInstrumentsRequest) (*directoryv1.ListInstrumentsResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	list, err := s.svc.ListInstruments(ctx, p)
	if err != nil {
		return nil, err
	}
	return &directoryv1.ListInstrumentsResponse{Instruments: lists.Convert(list, InstrumentToProto)}, nil
}

// ListApplicableInstruments implements directoryv1.DirectoryServiceServer.
func (s *Server) ListApplicableInstruments(ctx context.Context, req *directoryv1.ListApplicableInstrumentsRequest) (*directoryv1.ListApplicableInstrumentsResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	list, err := s.svc.ApplicableInstruments(ctx, p, req.GetRequestingState(), req.GetRequestedState())
	if err != nil {
		return nil, err
	}
	return &directoryv1.ListApplicableInstrumentsResponse{Instruments: lists.Convert(list, ApplicableToProto)}, nil
}

// unmapped is the error for a writable field (by its field_behavior) that
// the update does not carry to the domain: a field added to the proto
// without its case above.
func unmapped(what, path string) error {
	return fmt.Errorf("update of %s: writable field %q has no domain mapping", what, path)
}

// Preauthorize implements grpcserver.Preauthorizer: the directory's writes
// check the caller's role and state before the shape of what they send,
// so that a PATCH by someone who may not make it is refused as such, not
// for its body.
func (s *Server) Preauthorize(ctx context.Context, _ string, req any) error {
	p, ok := identity.FromContext(ctx)
	if !ok {
		return nil
	}
	switch r := req.(type) {
	case *directoryv1.UpdateStateRequest:
		code, ok := strings.CutPrefix(r.GetState().GetName(), statePrefix)
		if !ok {
			return nil
		}
		// A change naming the witness is open to fewer (DESIGN §6.1): the
		// refusal says who may make it. A full replacement is left to
		// UpdateState, which refuses it only if the witness changes.
		if slices.ContainsFunc(r.GetUpdateMask().GetPaths(), func(p string) bool { return aip.ProtoPath(p) == "witness" }) {
			return s.svc.MayChangeWitness(ctx, p, code)
		}
		return s.svc.MayChangeState(ctx, p, code)
	case *directoryv1.CreateAgencyRequest:
		state := r.GetAgency().GetState()
		if state == "" {
			state = p.State
		}
		return s.svc.MayChangeState(ctx, p, state)
	case *directoryv1.UpdateAgencyRequest:
		return s.mayChangeAgency(ctx, p, r.GetAgency().GetName())
	case *directoryv1.DeactivateAgencyRequest:
		return s.mayChangeAgency(ctx, p, r.GetName())
	case *directoryv1.ActivateAgencyRequest:
		return s.mayChangeAgency(ctx, p, r.GetName())
	}
	return nil
}

func (s *Server) mayChangeAgency(ctx context.Context, p identity.Principal, name string) error {
	id, ok := strings.CutPrefix(name, agencyPrefix)
	if !ok || id == "" {
		return nil
	}
	return s.svc.MayChangeAgency(ctx, p, id)
}

// GetCaller implements directoryv1.DirectoryServiceServer: the principal
// the caller's token authenticates, as every service sees it once the
// issuer's claim mapping has been applied, so that a console shows who is
// signed in without reading the token itself.
func (s *Server) GetCaller(ctx context.Context, _ *directoryv1.GetCallerRequest) (*directoryv1.GetCallerResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	return &directoryv1.GetCallerResponse{Caller: CallerToProto(p)}, nil
}

// CallerToProto converts a principal to its API form.
func CallerToProto(p identity.Principal) *directoryv1.Caller {
	c := &directoryv1.Caller{Name: "caller", Subject: p.Subject, DisplayName: p.Name, State: p.State, Issuer: p.Issuer}
	if p.Agency != "" {
		c.Agency = agencyPrefix + p.Agency
	}
	for _, r := range p.Roles {
		c.Roles = append(c.Roles, string(r))
	}
	if !p.Expiry.IsZero() {
		c.ExpireTime = timestamppb.New(p.Expiry)
	}
	return c
}

// ListRetentions implements directoryv1.DirectoryServiceServer. It needs
// no token (directoryd makes it an anonymous read): a state's retention is
// its published rule, and the request service's retention sweep, which
// acts for no user, reads it.
func (s *Server) ListRetentions(ctx context.Context, _ *directoryv1.ListRetentionsRequest) (*directoryv1.ListRetentionsResponse, error) {
	states, err := s.svc.ListStates(ctx, identity.Principal{})
	if err != nil {
		return nil, err
	}
	resp := &directoryv1.ListRetentionsResponse{}
	for _, st := range states {
		r := &directoryv1.StateRetention{State: st.Code}
		if st.RetentionAfterClose > 0 {
			r.RetentionAfterClose = durationpb.New(st.RetentionAfterClose)
		}
		resp.States = append(resp.States, r)
	}
	return resp, nil
}

// ListTrustedIssuers implements directoryv1.DirectoryServiceServer. It
// needs no token (directoryd makes it an anonymous read): issuer URLs are
// public, and a sign-in page needs them before anyone has signed in.
func (s *Server) ListTrustedIssuers(ctx context.Context, _ *directoryv1.ListTrustedIssuersRequest) (*directoryv1.ListTrustedIssuersResponse, error) {
	states, err := s.svc.ListStates(ctx, identity.Principal{})
	if err != nil {
		return nil, err
	}
	resp := &directoryv1.ListTrustedIssuersResponse{}
	for _, st := range states {
		resp.States = append(resp.States, &directoryv1.StateIssuers{State: st.Code, Issuers: st.TrustedIssuers})
	}
	return resp, nil
}
