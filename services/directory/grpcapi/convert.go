package grpcapi

import (
	"maps"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/lists"
)

const (
	statePrefix  = "states/"
	agencyPrefix = "agencies/"
)

// StateToProto converts a domain state to its API form.
func StateToProto(s directory.State) *directoryv1.State {
	return &directoryv1.State{
		Name:              statePrefix + s.Code,
		Code:              s.Code,
		DisplayNames:      s.DisplayNames,
		OfficialLanguages: s.OfficialLanguages,
		AcceptedLanguages: s.AcceptedLanguages,
		TimeZone:          s.TimeZone,
		TrustedIssuers:    s.TrustedIssuers,
		ClaimMappings:     MappingsToProto(s.ClaimMappings),
		Etag:              s.Etag(),
		UpdateTime:        timestamp(s.UpdateTime),
	}
}

// MappingsToProto converts a state's claim mappings to their API form.
func MappingsToProto(ms []identity.ClaimMapping) []*directoryv1.ClaimMapping {
	return lists.Convert(ms, func(m identity.ClaimMapping) *directoryv1.ClaimMapping {
		return &directoryv1.ClaimMapping{
			Issuer: m.Issuer, AgencyClaim: m.AgencyClaim, RolesClaim: m.RolesClaim, NameClaim: m.NameClaim,
			AgencyValues: maps.Clone(m.AgencyValues), RoleValues: maps.Clone(m.RoleValues),
		}
	})
}

// MappingsFromProto converts API claim mappings to the domain.
func MappingsFromProto(ms []*directoryv1.ClaimMapping) []identity.ClaimMapping {
	return lists.Convert(ms, func(m *directoryv1.ClaimMapping) identity.ClaimMapping {
		return identity.ClaimMapping{
			Issuer: m.GetIssuer(), AgencyClaim: m.GetAgencyClaim(), RolesClaim: m.GetRolesClaim(), NameClaim: m.GetNameClaim(),
			AgencyValues: maps.Clone(m.GetAgencyValues()), RoleValues: maps.Clone(m.GetRoleValues()),
		}
	})
}

// StateFromProto converts an API state to the domain; the code comes from
// the name.
func StateFromProto(s *directoryv1.State) directory.State {
	code := strings.ToUpper(strings.TrimPrefix(s.GetName(), statePrefix))
	if code == "" {
		code = strings.ToUpper(s.GetCode())
	}
	return directory.State{
		Code:              code,
		DisplayNames:      s.GetDisplayNames(),
		OfficialLanguages: s.GetOfficialLanguages(),
		AcceptedLanguages: s.GetAcceptedLanguages(),
		TimeZone:          s.GetTimeZone(),
		TrustedIssuers:    s.GetTrustedIssuers(),
		ClaimMappings:     MappingsFromProto(s.GetClaimMappings()),
	}
}

// AgencyToProto converts a domain agency to its API form.
func AgencyToProto(a directory.Agency) *directoryv1.Agency {
	return &directoryv1.Agency{
		Name:              agencyPrefix + a.ID,
		State:             a.State,
		Kind:              directoryv1.Agency_Kind(directoryv1.Agency_Kind_value[string(a.Kind)]),
		DisplayNames:      a.DisplayNames,
		AcceptedLanguages: a.AcceptedLanguages,
		Active:            a.Active,
		Etag:              a.Etag(),
		UpdateTime:        timestamp(a.UpdateTime),
		Receives:          lists.Convert(a.Receives, RequestTypeToProto),
		ContactPoints: lists.Convert(a.ContactPoints, func(c directory.ContactPoint) *directoryv1.ContactPoint {
			return &directoryv1.ContactPoint{
				Role: c.Role, FullName: c.FullName, Phone: c.Phone, Email: c.Email,
				Hours: c.Hours, AlwaysAvailable: c.AlwaysAvailable,
			}
		}),
	}
}

// AgencyFromProto converts an API agency to the domain; the id comes from the
// name. Output-only fields are ignored except Active, which imports keep.
func AgencyFromProto(a *directoryv1.Agency) directory.Agency {
	out := directory.Agency{
		ID:                strings.TrimPrefix(a.GetName(), agencyPrefix),
		State:             strings.ToUpper(a.GetState()),
		Kind:              kindFromProto(a.GetKind()),
		DisplayNames:      a.GetDisplayNames(),
		Receives:          lists.Convert(a.GetReceives(), RequestTypeFromProto),
		AcceptedLanguages: a.GetAcceptedLanguages(),
		ContactPoints:     contactPointsFromProto(a.GetContactPoints()),
		Active:            a.GetActive(),
	}
	return out
}

func kindFromProto(k directoryv1.Agency_Kind) directory.Kind {
	if k == directoryv1.Agency_KIND_UNSPECIFIED {
		return ""
	}
	return directory.Kind(k.String())
}

func contactPointsFromProto(cs []*directoryv1.ContactPoint) []directory.ContactPoint {
	return lists.Convert(cs, func(c *directoryv1.ContactPoint) directory.ContactPoint {
		return directory.ContactPoint{
			Role: c.GetRole(), FullName: c.GetFullName(), Phone: c.GetPhone(), Email: c.GetEmail(),
			Hours: c.GetHours(), AlwaysAvailable: c.GetAlwaysAvailable(),
		}
	})
}

// RequestTypeToProto converts a domain request type to the API enum.
func RequestTypeToProto(t cooperation.RequestType) directoryv1.RequestType {
	return directoryv1.RequestType(directoryv1.RequestType_value[string(t)])
}

// RequestTypeFromProto converts an API request type to the domain; the zero
// value becomes "".
func RequestTypeFromProto(t directoryv1.RequestType) cooperation.RequestType {
	if t == directoryv1.RequestType_REQUEST_TYPE_UNSPECIFIED {
		return ""
	}
	return cooperation.RequestType(t.String())
}

// PriorityFromProto converts an API priority to the domain; the zero value
// becomes "".
func PriorityFromProto(p directoryv1.Priority) cooperation.Priority {
	if p == directoryv1.Priority_PRIORITY_UNSPECIFIED {
		return ""
	}
	return cooperation.Priority(p.String())
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
