// Package grpcapi serves the audit service's gRPC API: it checks the shape
// of each request, converts it, calls audit.Service and converts back.
package grpcapi

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/lists"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/query/aip"
	"github.com/comity-mla/comity/services/trail"
)

// Server implements auditv1.AuditServiceServer.
type Server struct {
	auditv1.UnimplementedAuditServiceServer
	svc *audit.Service
}

var _ auditv1.AuditServiceServer = (*Server)(nil)

// NewServer returns a Server over svc.
func NewServer(svc *audit.Service) *Server { return &Server{svc: svc} }

// Append implements auditv1.AuditServiceServer.
func (s *Server) Append(ctx context.Context, req *auditv1.AppendRequest) (*auditv1.AppendResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	events := make([]trail.Event, len(req.GetEvents()))
	for i, e := range req.GetEvents() {
		events[i] = EventFromProto(e)
	}
	peer, _ := mtls.PeerName(ctx)
	indexes, err := s.svc.Append(ctx, p, peer, events)
	if err != nil {
		return nil, err
	}
	return &auditv1.AppendResponse{Indexes: indexes}, nil
}

// GetCheckpoint implements auditv1.AuditServiceServer.
func (s *Server) GetCheckpoint(ctx context.Context, _ *auditv1.GetCheckpointRequest) (*auditv1.GetCheckpointResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	cp, key, err := s.svc.Checkpoint(ctx, p)
	if err != nil {
		return nil, err
	}
	return &auditv1.GetCheckpointResponse{Checkpoint: CheckpointToProto(cp), PublicKey: key, WitnessPolicy: string(s.svc.WitnessPolicy())}, nil
}

// ListEntries implements auditv1.AuditServiceServer. The page token is the
// last index of the previous page, so pages stay stable while the log grows.
func (s *Server) ListEntries(ctx context.Context, req *auditv1.ListEntriesRequest) (*auditv1.ListEntriesResponse, error) {
	p, filter, err := callerAndFilter(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	desc, err := newestFirst(req.GetOrderBy())
	if err != nil {
		return nil, err
	}
	// A token is the last index of the previous page; a newest-first
	// list's carries a "d", so that it is not taken for the other order's.
	t, descToken := strings.CutPrefix(req.GetPageToken(), "d")
	last := int64(-1)
	if req.GetPageToken() != "" {
		if last, err = strconv.ParseInt(t, 10, 64); err != nil || last < 0 || descToken != desc || desc && last == 0 {
			return nil, (errs.Violations{{Field: "page_token", Description: "not a page token of this list (in this order)"}}).Err(errs.Invalid, "invalid page token")
		}
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = 100
	}
	var entries []audit.Entry
	if desc {
		entries, err = s.svc.EntriesNewestFirst(ctx, p, filter, uint64(max(last, 0)), size+1)
	} else {
		entries, err = s.svc.Entries(ctx, p, filter, last, size+1)
	}
	if err != nil {
		return nil, err
	}
	resp := &auditv1.ListEntriesResponse{}
	if len(entries) > size {
		entries = entries[:size]
		resp.NextPageToken = strconv.FormatUint(entries[size-1].Index, 10)
		if desc {
			resp.NextPageToken = "d" + resp.NextPageToken
		}
	}
	resp.Entries = lists.Convert(entries, EntryToProto)
	return resp, nil
}

// callerAndFilter returns the caller and the parsed AIP-160 filter of a
// call that reads entries.
func callerAndFilter(ctx context.Context, filter string) (identity.Principal, query.Expr, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return identity.Principal{}, nil, err
	}
	e, err := aip.ParseFilter(filter, audit.EntrySchema)
	if err != nil {
		return identity.Principal{}, nil, err
	}
	return p, e, nil
}

// newestFirst reads a ListEntries order_by: "index" (or nothing) is log
// order, "index desc" newest first.
func newestFirst(orderBy string) (bool, error) {
	switch f := strings.Fields(orderBy); {
	case len(f) == 0, len(f) == 1 && f[0] == "index", len(f) == 2 && f[0] == "index" && f[1] == "asc":
		return false, nil
	case len(f) == 2 && f[0] == "index" && f[1] == "desc":
		return true, nil
	}
	return false, (errs.Violations{{Field: "order_by",
		Description: fmt.Sprintf("%q is not an order of the audit trail: write index (oldest first) or index desc (newest first)", orderBy)}}).Err(errs.Invalid, "invalid order")
}

// GetEntry implements auditv1.AuditServiceServer.
func (s *Server) GetEntry(ctx context.Context, req *auditv1.GetEntryRequest) (*auditv1.GetEntryResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	e, proof, size, cp, err := s.svc.EntryProof(ctx, p, req.GetIndex(), req.GetTreeSize())
	if err != nil {
		return nil, err
	}
	return &auditv1.GetEntryResponse{Entry: EntryToProto(e), TreeSize: size, InclusionProof: proof, Checkpoint: CheckpointToProto(cp)}, nil
}

// GetConsistencyProof implements auditv1.AuditServiceServer.
func (s *Server) GetConsistencyProof(ctx context.Context, req *auditv1.GetConsistencyProofRequest) (*auditv1.GetConsistencyProofResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	proof, to, cp, err := s.svc.ConsistencyProof(ctx, p, req.GetFrom(), req.GetTo())
	if err != nil {
		return nil, err
	}
	return &auditv1.GetConsistencyProofResponse{From: req.GetFrom(), To: to, Proof: proof, Checkpoint: CheckpointToProto(cp)}, nil
}

// ExportBundle implements auditv1.AuditServiceServer.
func (s *Server) ExportBundle(ctx context.Context, req *auditv1.ExportBundleRequest) (*auditv1.ExportBundleResponse, error) {
	p, filter, err := callerAndFilter(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	limit := int(req.GetMaxEntries())
	if limit == 0 {
		limit = 10000
	}
	b, err := s.svc.Export(ctx, p, filter, limit, req.GetConsistencyFrom())
	if err != nil {
		return nil, err
	}
	out := &auditv1.Bundle{
		PublicKey: b.PublicKey, WitnessPolicy: string(b.WitnessPolicy), Checkpoint: CheckpointToProto(b.Checkpoint), Filter: req.GetFilter(),
		ConsistencyFrom: b.ConsistencyFrom, ConsistencyProof: b.ConsistencyProof,
	}
	for _, e := range b.Entries {
		out.Entries = append(out.Entries, &auditv1.ProvenEntry{Entry: EntryToProto(e.Entry), InclusionProof: e.Proof})
	}
	return &auditv1.ExportBundleResponse{Bundle: out}, nil
}

// EventToProto converts an event to its API form.
func EventToProto(e trail.Event) *auditv1.Event {
	out := &auditv1.Event{
		Id: e.ID, Time: timestamppb.New(e.Time), Service: e.Service, Action: e.Action, Resource: e.Resource,
		States: e.States, Outcome: e.Outcome, RequestHmac: e.RequestHMAC, Count: e.Count, Purpose: e.Purpose,
		Actor: &auditv1.Actor{Subject: e.Actor.Subject, Agency: e.Actor.Agency, Roles: e.Actor.Roles, Issuer: e.Actor.Issuer,
			Address: e.Actor.Address},
	}
	if e.Transition != nil {
		out.Transition = &auditv1.Transition{From: e.Transition.From, To: e.Transition.To}
	}
	for _, g := range e.Safeguards {
		out.Safeguards = append(out.Safeguards, &auditv1.Safeguard{Check: g.Check, Outcome: g.Outcome})
	}
	return out
}

// EventFromProto converts an API event to the domain.
func EventFromProto(e *auditv1.Event) trail.Event {
	out := trail.Event{
		ID: e.GetId(), Time: e.GetTime().AsTime().UTC(), Service: e.GetService(), Action: e.GetAction(),
		Resource: e.GetResource(), States: e.GetStates(), Outcome: e.GetOutcome(), RequestHMAC: e.GetRequestHmac(),
		Count: e.GetCount(), Purpose: e.GetPurpose(),
		Actor: trail.Actor{Subject: e.GetActor().GetSubject(), Agency: e.GetActor().GetAgency(),
			Roles: e.GetActor().GetRoles(), Issuer: e.GetActor().GetIssuer(), Address: e.GetActor().GetAddress()},
	}
	if t := e.GetTransition(); t != nil {
		out.Transition = &trail.Transition{From: t.GetFrom(), To: t.GetTo()}
	}
	for _, g := range e.GetSafeguards() {
		out.Safeguards = append(out.Safeguards, trail.Safeguard{Check: g.GetCheck(), Outcome: g.GetOutcome()})
	}
	return out
}

// EntryToProto converts an entry to its API form.
func EntryToProto(e audit.Entry) *auditv1.Entry {
	return &auditv1.Entry{Index: e.Index, Event: EventToProto(e.Event), Leaf: e.Leaf}
}

// CheckpointToProto converts a checkpoint to its API form.
func CheckpointToProto(c audit.Checkpoint) *auditv1.Checkpoint {
	return &auditv1.Checkpoint{Note: string(c.Note), Origin: c.Origin, Size: c.Size, RootHash: c.RootHash}
}
