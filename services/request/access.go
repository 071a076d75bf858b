package request

import (
	"slices"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/query"
)

// access is how much of a request a caller may see.
type access int

const (
	// noAccess: the request does not exist for the caller (NOT_FOUND).
	noAccess access = iota
	// metadataAccess: parties, type, status and dates; no narrative,
	// identifiers, messages or attachments (auditors).
	metadataAccess
	// fullAccess: everything.
	fullAccess
)

// caseRoles are the roles that work on cases. A user holding none of them
// (an auditor, or a directory administrator) never sees case content.
var caseRoles = []identity.Role{identity.Prosecutor, identity.CentralAuthority, identity.LiaisonOfficer}

func worksOnCases(p identity.Principal) bool {
	for _, r := range caseRoles {
		if p.HasRole(r) {
			return true
		}
	}
	return false
}

// accessOf applies the need-to-know rules of DESIGN §3:
//   - users of the requesting agency, and the requesting state's central
//     authority and liaison officers, at any status;
//   - users of the requested agency, and liaison officers of the requested
//     state, once it has been transmitted (never a draft);
//   - auditors of either state see metadata only (the requested state's
//     once transmitted).
func accessOf(p identity.Principal, r Request) access {
	transmitted := !r.TransmitTime.IsZero()
	if worksOnCases(p) {
		switch {
		case p.Agency == r.RequestingAgency,
			p.State == r.RequestingState && (p.HasRole(identity.CentralAuthority) || p.HasRole(identity.LiaisonOfficer)),
			transmitted && p.Agency == r.RequestedAgency,
			transmitted && p.State == r.RequestedState && p.HasRole(identity.LiaisonOfficer):
			return fullAccess
		}
	}
	if p.HasRole(identity.Auditor) && (p.State == r.RequestingState || transmitted && p.State == r.RequestedState) {
		return metadataAccess
	}
	return noAccess
}

// visibleTo is accessOf as a filter for the store: the requests p may see
// at all. It must select exactly the requests for which accessOf is not
// noAccess.
func visibleTo(p identity.Principal) query.Expr {
	eq := func(field string, v any) query.Expr { return query.Compare{Field: field, Op: query.Eq, Value: v} }
	transmittedAnd := func(e query.Expr) query.Expr { return query.And{Left: eq("transmitted", true), Right: e} }
	var terms []query.Expr
	if worksOnCases(p) {
		terms = append(terms, eq("requestingAgency", p.Agency), transmittedAnd(eq("requestedAgency", p.Agency)))
		if p.HasRole(identity.CentralAuthority) || p.HasRole(identity.LiaisonOfficer) {
			terms = append(terms, eq("requestingState", p.State))
		}
		if p.HasRole(identity.LiaisonOfficer) {
			terms = append(terms, transmittedAnd(eq("requestedState", p.State)))
		}
	}
	if p.HasRole(identity.Auditor) {
		terms = append(terms, eq("requestingState", p.State), transmittedAnd(eq("requestedState", p.State)))
	}
	if len(terms) == 0 {
		return nil
	}
	e := terms[0]
	for _, t := range terms[1:] {
		e = query.Or{Left: e, Right: t}
	}
	return e
}

// reasonFor is the reason of history entry e of r as p may read it. Reasons
// are case content: metadata-only callers get none. What the requesting side
// said before it transmitted the request (why a central authority returned
// a draft to its prosecutor, why a prosecutor withdrew a submission) is its
// internal business: the requested side, which sees the history once the
// request is transmitted, does not get those reasons.
func reasonFor(p identity.Principal, r Request, e HistoryEntry) string {
	switch {
	case accessOf(p, r) != fullAccess:
		return ""
	case beforeTransmission(e) && p.State != r.RequestingState:
		return ""
	}
	return e.Reason
}

// beforeTransmission reports whether e happened while the request was still
// with the requesting side: a change from no status, DRAFT or SUBMITTED to
// anything but TRANSMITTED. A request is transmitted once (nothing leads back
// to SUBMITTED), so every later entry starts from a later status.
func beforeTransmission(e HistoryEntry) bool {
	switch e.From {
	case "", Draft, Submitted:
		return e.To != Transmitted
	}
	return false
}

// Snapshot is what a history entry keeps of r as it is right after the
// change: its metadata (redact), on which Watch decides who may see the
// change and applies its filter, and its clarifications, which the watch
// sends to those who may read them. No narrative: the history outlives
// nothing that the request's own row does not, and carries no more of it.
func Snapshot(r Request) *Request {
	s := redact(r)
	s.Clarifications = slices.Clone(r.Clarifications)
	return &s
}
