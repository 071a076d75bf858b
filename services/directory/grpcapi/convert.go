package grpcapi

import (
	"maps"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
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
	var retention *durationpb.Duration
	if s.RetentionAfterClose > 0 {
		retention = durationpb.New(s.RetentionAfterClose)
	}
	return &directoryv1.State{
		Name:                statePrefix + s.Code,
		Code:                s.Code,
		DisplayNames:        s.DisplayNames,
		OfficialLanguages:   s.OfficialLanguages,
		AcceptedLanguages:   s.AcceptedLanguages,
		TimeZone:            s.TimeZone,
		TrustedIssuers:      s.TrustedIssuers,
		ClaimMappings:       MappingsToProto(s.ClaimMappings),
		Instruments:         StateInstrumentsToProto(s.Instruments),
		RetentionAfterClose: retention,
		Witness:             WitnessToProto(s.Witness),
		Etag:                s.Etag(),
		UpdateTime:          timestamp(s.UpdateTime),
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
		Code:                code,
		DisplayNames:        s.GetDisplayNames(),
		OfficialLanguages:   s.GetOfficialLanguages(),
		AcceptedLanguages:   s.GetAcceptedLanguages(),
		TimeZone:            s.GetTimeZone(),
		TrustedIssuers:      s.GetTrustedIssuers(),
		ClaimMappings:       MappingsFromProto(s.GetClaimMappings()),
		Instruments:         StateInstrumentsFromProto(s.GetInstruments()),
		RetentionAfterClose: retentionFromProto(s.GetRetentionAfterClose()),
		Witness:             WitnessFromProto(s.GetWitness()),
	}
}

// WitnessToProto converts a state's witness to its API form: absent for
// none.
func WitnessToProto(w directory.StateWitness) *directoryv1.StateWitness {
	if w.IsZero() {
		return nil
	}
	return &directoryv1.StateWitness{Url: w.URL, PublicKey: w.PublicKey}
}

// WitnessFromProto converts an API witness to the domain: absent (or
// empty) is none.
func WitnessFromProto(w *directoryv1.StateWitness) directory.StateWitness {
	return directory.StateWitness{URL: w.GetUrl(), PublicKey: w.GetPublicKey()}
}

// retentionFromProto is a state's retention: zero for none. One that is
// not a valid Duration (seconds and nanos of different signs, or beyond
// ten thousand years) is negative, for validation to refuse; one beyond
// what time.Duration holds saturates, and is refused as over a century.
func retentionFromProto(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	if d.CheckValid() != nil {
		return -1
	}
	return d.AsDuration()
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

// StateInstrumentsToProto converts a state's instrument entries to their API
// form.
func StateInstrumentsToProto(list []directory.StateInstrument) []*directoryv1.StateInstrument {
	return lists.Convert(list, func(si directory.StateInstrument) *directoryv1.StateInstrument {
		return &directoryv1.StateInstrument{
			LegalBasis:   si.LegalBasis,
			Status:       StatusToProto(si.Status),
			InForceSince: si.InForceSince,
			Reservations: lists.Convert(si.Reservations, func(r directory.Reservation) *directoryv1.Reservation {
				return &directoryv1.Reservation{Article: r.Article, Text: r.Text}
			}),
			Authorities: lists.Convert(si.Authorities, func(a directory.DesignatedAuthority) *directoryv1.DesignatedAuthority {
				return &directoryv1.DesignatedAuthority{
					Stage:  directoryv1.DesignatedAuthority_Stage(directoryv1.DesignatedAuthority_Stage_value[a.Stage]),
					Agency: agencyPrefix + a.Agency,
				}
			}),
			Source:    si.Source,
			Confirmed: si.Confirmed,
		}
	})
}

// StateInstrumentsFromProto converts API instrument entries to the domain;
// unset enums become "" (refused by the domain's validation, naming the
// field).
func StateInstrumentsFromProto(list []*directoryv1.StateInstrument) []directory.StateInstrument {
	return lists.Convert(list, func(si *directoryv1.StateInstrument) directory.StateInstrument {
		out := directory.StateInstrument{
			LegalBasis:   si.GetLegalBasis(),
			InForceSince: si.GetInForceSince(),
			Source:       si.GetSource(),
			Confirmed:    si.GetConfirmed(),
		}
		if st := si.GetStatus(); st != directoryv1.StateInstrument_STATUS_UNSPECIFIED {
			out.Status = directory.InstrumentStatus(st.String())
		}
		out.Reservations = lists.Convert(si.GetReservations(), func(r *directoryv1.Reservation) directory.Reservation {
			return directory.Reservation{Article: r.GetArticle(), Text: r.GetText()}
		})
		out.Authorities = lists.Convert(si.GetAuthorities(), func(a *directoryv1.DesignatedAuthority) directory.DesignatedAuthority {
			d := directory.DesignatedAuthority{Agency: strings.TrimPrefix(a.GetAgency(), agencyPrefix)}
			if st := a.GetStage(); st != directoryv1.DesignatedAuthority_STAGE_UNSPECIFIED {
				d.Stage = st.String()
			}
			return d
		})
		return out
	})
}

// StatusToProto converts an instrument status to the API enum.
func StatusToProto(s directory.InstrumentStatus) directoryv1.StateInstrument_Status {
	return directoryv1.StateInstrument_Status(directoryv1.StateInstrument_Status_value[string(s)])
}

// StatusFromProto converts an API instrument status to the domain; the zero
// value becomes "".
func StatusFromProto(s directoryv1.StateInstrument_Status) directory.InstrumentStatus {
	if s == directoryv1.StateInstrument_STATUS_UNSPECIFIED {
		return ""
	}
	return directory.InstrumentStatus(s.String())
}

// InstrumentToProto converts an instrument profile to its API form.
func InstrumentToProto(in directory.Instrument) *directoryv1.Instrument {
	return &directoryv1.Instrument{
		LegalBasis: in.LegalBasis, DisplayName: in.DisplayName,
		RequiredFields: in.RequiredFields, RefusalGrounds: in.RefusalGrounds,
		AcknowledgeWithin: duration(in.AcknowledgeWithin), AnswerWithin: duration(in.AnswerWithin),
		Languages: in.Languages, LanguageRule: in.LanguageRule, Rank: int32(in.Rank), Source: in.Source,
	}
}

// InstrumentFromProto converts an API instrument profile to the domain.
func InstrumentFromProto(in *directoryv1.Instrument) directory.Instrument {
	return directory.Instrument{
		LegalBasis: in.GetLegalBasis(), DisplayName: in.GetDisplayName(),
		RequiredFields: in.GetRequiredFields(), RefusalGrounds: in.GetRefusalGrounds(),
		AcknowledgeWithin: in.GetAcknowledgeWithin().AsDuration(), AnswerWithin: in.GetAnswerWithin().AsDuration(),
		Languages: in.GetLanguages(), LanguageRule: in.GetLanguageRule(), Rank: int(in.GetRank()), Source: in.GetSource(),
	}
}

// ApplicableToProto converts an applicable instrument to its API form.
func ApplicableToProto(a directory.ApplicableInstrument) *directoryv1.ApplicableInstrument {
	return &directoryv1.ApplicableInstrument{
		Instrument:            InstrumentToProto(a.Instrument),
		RequestingStateStatus: StatusToProto(a.RequestingStatus),
		RequestedStateStatus:  StatusToProto(a.RequestedStatus),
		Unconfirmed:           a.Unconfirmed,
	}
}

// ApplicableFromProto converts an API applicable instrument to the domain.
func ApplicableFromProto(a *directoryv1.ApplicableInstrument) directory.ApplicableInstrument {
	return directory.ApplicableInstrument{
		Instrument:       InstrumentFromProto(a.GetInstrument()),
		RequestingStatus: StatusFromProto(a.GetRequestingStateStatus()),
		RequestedStatus:  StatusFromProto(a.GetRequestedStateStatus()),
		Unconfirmed:      a.GetUnconfirmed(),
	}
}

func duration(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}
