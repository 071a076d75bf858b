// Package refusal is how a Comity service says, in a gRPC status, that it
// refused a genuine token (identity.RefusedError), and how its client reads
// that back: the servers write it (grpcserver), the clients of the directory
// read it (directoryclient), neither through the other's package.
//
// The ErrorInfo detail of an UNAUTHENTICATED status that refuses a genuine
// token carries the state of the agency the token named, when the
// directory knows it, so that a service that asked
// the directory with the caller's token records the refusal for that
// state's auditors as the directory itself would. The state of an agency
// is directory data every user may read. It also carries the agency and
// roles the token claimed through its issuer's claim mapping, which a
// service that cannot read the mapping itself (the directory refused the
// token) records as who the token claimed to be; the caller, who holds the
// token, learns nothing new from them.
package refusal

import (
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/internal/enum"
)

const (
	refusalDomain    = "identity.comity"
	refusalReason    = "TOKEN_REFUSED"
	refusalStateKey  = "agency_state"
	refusalAgencyKey = "agency"
	refusalRolesKey  = "roles"
)

// Status is the UNAUTHENTICATED status that refuses the genuine token of r,
// with what r.Claimed says as an ErrorInfo detail.
func Status(r *identity.RefusedError) *status.Status {
	st := status.New(codes.Unauthenticated, r.Err.Error())
	if r.Claimed.State == "" && r.Claimed.Agency == "" {
		return st
	}
	info := &errdetails.ErrorInfo{Domain: refusalDomain, Reason: refusalReason,
		Metadata: map[string]string{refusalStateKey: r.Claimed.State, refusalAgencyKey: r.Claimed.Agency,
			refusalRolesKey: strings.Join(enum.Strings(r.Claimed.Roles), ",")}}
	if withDetails, err := st.WithDetails(info); err == nil {
		return withDetails
	}
	return st
}

// FromStatus returns the refusal of a genuine token that a Comity
// service answered with st (an UNAUTHENTICATED status; see Status), with
// the state of the token's agency as Claimed.State when the service knew it.
// It returns false for any other status.
func FromStatus(st *status.Status) (*identity.RefusedError, bool) {
	if st.Code() != codes.Unauthenticated {
		return nil, false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == refusalDomain && info.GetReason() == refusalReason {
			md := info.GetMetadata()
			var roles []identity.Role
			for _, name := range strings.Split(md[refusalRolesKey], ",") {
				if r, ok := identity.ParseRole(name); ok {
					roles = append(roles, r)
				}
			}
			return &identity.RefusedError{
				Claimed: identity.Principal{State: md[refusalStateKey], Agency: md[refusalAgencyKey], Roles: roles},
				Err:     errs.New(errs.Unauthenticated, "%s", st.Message()),
			}, true
		}
	}
	return nil, false
}
