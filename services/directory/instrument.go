package directory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

// The legal bases a request may name, as the request proto's
// Request.LegalBasis value names. The directory cannot import the request
// proto, so they are strings checked against this list.
const (
	ChisinauConvention2002     = "CHISINAU_CONVENTION_2002"
	MinskConvention1993        = "MINSK_CONVENTION_1993"
	CISITCrimeAgreement2018    = "CIS_IT_CRIME_AGREEMENT_2018"
	UNCybercrimeConvention2024 = "UN_CYBERCRIME_CONVENTION_2024"
	UNTOC2000                  = "UNTOC_2000"
	BudapestConvention         = "BUDAPEST_CONVENTION"
	BilateralTreaty            = "BILATERAL_TREATY"
	Reciprocity                = "RECIPROCITY"
)

// LegalBases lists every legal basis.
var LegalBases = []string{ChisinauConvention2002, MinskConvention1993, CISITCrimeAgreement2018,
	UNCybercrimeConvention2024, UNTOC2000, BudapestConvention, BilateralTreaty, Reciprocity}

// ProfiledBases are the legal bases that are instruments with a profile in
// the directory: a bilateral treaty is named by its citation and
// reciprocity is no instrument, so neither is recorded per state.
var ProfiledBases = []string{ChisinauConvention2002, MinskConvention1993, CISITCrimeAgreement2018,
	UNCybercrimeConvention2024, UNTOC2000, BudapestConvention}

// Profiled says whether legal basis b is an instrument the directory keeps a
// profile of.
func Profiled(b string) bool { return slices.Contains(ProfiledBases, b) }

// InstrumentStatus says whether an instrument binds a state.
type InstrumentStatus string

// The statuses of an instrument for a state. Unknown stays unknown: the
// directory never infers a ratification it has no source for.
const (
	InForce    InstrumentStatus = "IN_FORCE"
	NotInForce InstrumentStatus = "NOT_IN_FORCE"
	Unknown    InstrumentStatus = "UNKNOWN"
)

// InstrumentStatuses lists every status.
var InstrumentStatuses = []InstrumentStatus{InForce, NotInForce, Unknown}

// The stages of a request for which a state may designate an authority
// under an instrument.
const (
	StageMutualAssistance = "MUTUAL_ASSISTANCE"
	StagePreservation     = "PRESERVATION"
	StageContactPoint247  = "CONTACT_POINT_24_7"
)

// Stages lists every stage.
var Stages = []string{StageMutualAssistance, StagePreservation, StageContactPoint247}

// RefusalGrounds are the refusal grounds an instrument profile may allow, as
// the request proto's Refusal.Ground value names.
var RefusalGrounds = []string{"POLITICAL_OFFENCE", "ESSENTIAL_INTERESTS", "DUAL_CRIMINALITY_NOT_MET",
	"HUMAN_RIGHTS_CONCERNS", "DEATH_PENALTY_NO_ASSURANCE", "NE_BIS_IN_IDEM", "IMMUNITY",
	"INSUFFICIENT_INFORMATION", "OTHER", "NOT_IN_CONFORMITY", "DOMESTIC_LAW_PROHIBITS",
	"CONTRARY_TO_LEGAL_SYSTEM", "PERSECUTION", "PRESS_FREEDOM"}

// Reservation is a reservation or declaration a state made to an
// instrument, e.g. Budapest Art 29(4).
type Reservation struct {
	// Article is the article it concerns, e.g. "29(4)".
	Article string
	Text    string
}

// DesignatedAuthority is the agency a state designated under an instrument
// for one stage of a request.
type DesignatedAuthority struct {
	// Stage is one of Stages.
	Stage string
	// Agency is the agency id, e.g. kz-gpo.
	Agency string
}

// StateInstrument is what the directory records of one instrument for one
// state.
type StateInstrument struct {
	// LegalBasis is one of ProfiledBases.
	LegalBasis string
	Status     InstrumentStatus
	// InForceSince is the date (YYYY-MM-DD) it entered into force for the
	// state; empty when not known.
	InForceSince string
	Reservations []Reservation
	Authorities  []DesignatedAuthority
	// Source cites where this entry comes from (a treaty office page, an
	// official gazette), as text.
	Source string
	// Confirmed is set by the state's administrators once they have checked
	// the entry; the shipped seed confirms nothing.
	Confirmed bool
}

// Authority returns the agency the state designated for stage, if any.
func (si StateInstrument) Authority(stage string) (string, bool) {
	for _, a := range si.Authorities {
		if a.Stage == stage {
			return a.Agency, true
		}
	}
	return "", false
}

// HasReservation says whether the state made a reservation to article.
func (si StateInstrument) HasReservation(article string) bool {
	return slices.ContainsFunc(si.Reservations, func(r Reservation) bool { return r.Article == article })
}

// Instrument returns the state's entry for legal basis b, if it has one.
func (s State) Instrument(b string) (StateInstrument, bool) {
	for _, si := range s.Instruments {
		if si.LegalBasis == b {
			return si, true
		}
	}
	return StateInstrument{}, false
}

// StatusOf is the status of legal basis b for the state: Unknown when the
// state records nothing of it.
func (s State) StatusOf(b string) InstrumentStatus {
	if si, ok := s.Instrument(b); ok {
		return si.Status
	}
	return Unknown
}

// Instrument is the profile of an instrument, the same for every state: what
// a request under it must contain, on which grounds it may be refused, its
// clocks and its language rule.
type Instrument struct {
	// LegalBasis is one of ProfiledBases.
	LegalBasis  string
	DisplayName string
	// RequiredFields are the request field paths a request under the
	// instrument must fill, e.g. "offence.statute_text".
	RequiredFields []string
	// RefusalGrounds are the grounds (of RefusalGrounds) on which the
	// instrument allows a refusal.
	RefusalGrounds []string
	// AcknowledgeWithin and AnswerWithin are the instrument's own clocks;
	// zero when it sets none (the deployment's policy applies).
	AcknowledgeWithin time.Duration
	AnswerWithin      time.Duration
	// Languages are languages a request under the instrument may be in
	// whatever the requested agency lists (e.g. Russian under the CIS
	// instruments); LanguageRule says so in words, with its article.
	Languages    []string
	LanguageRule string
	// Rank orders instruments, best first (1 is best).
	Rank   int
	Source string
}

// ApplicableInstrument is an instrument between a requesting and a requested
// state, with its status for each.
type ApplicableInstrument struct {
	Instrument
	RequestingStatus InstrumentStatus
	RequestedStatus  InstrumentStatus
	// Unconfirmed is set when either status is Unknown or either state's
	// entry is not confirmed by its administrators.
	Unconfirmed bool
}

// BothInForce says whether the instrument is recorded in force for both
// states.
func (a ApplicableInstrument) BothInForce() bool {
	return a.RequestingStatus == InForce && a.RequestedStatus == InForce
}

// Applicable returns the instruments of profiles whose status is not
// NotInForce for either state, best first: those in force for both before
// any with an unknown status, then by rank.
func Applicable(profiles []Instrument, requesting, requested State) []ApplicableInstrument {
	var out []ApplicableInstrument
	for _, p := range profiles {
		a, b := requesting.StatusOf(p.LegalBasis), requested.StatusOf(p.LegalBasis)
		if a == NotInForce || b == NotInForce {
			continue
		}
		x, _ := requesting.Instrument(p.LegalBasis)
		y, _ := requested.Instrument(p.LegalBasis)
		out = append(out, ApplicableInstrument{Instrument: p, RequestingStatus: a, RequestedStatus: b,
			Unconfirmed: a != InForce || b != InForce || !x.Confirmed || !y.Confirmed})
	}
	slices.SortStableFunc(out, func(x, y ApplicableInstrument) int {
		if bx, by := x.BothInForce(), y.BothInForce(); bx != by {
			if bx {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(x.Rank, y.Rank), cmp.Compare(x.LegalBasis, y.LegalBasis))
	})
	return out
}

var (
	articlePattern   = regexp.MustCompile(`^[0-9]+[a-z]?(\([0-9a-z]+\))*$`)
	fieldPathPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
)

// validateInstruments checks a state's instrument entries; prefix is the
// field path of the list, e.g. "state.instruments".
func validateInstruments(list []StateInstrument, prefix string) errs.Violations {
	var vs errs.Violations
	seen := map[string]bool{}
	for i, si := range list {
		at := fmt.Sprintf("%s[%d].", prefix, i)
		switch {
		case si.LegalBasis == BilateralTreaty || si.LegalBasis == Reciprocity:
			vs.Add(at+"legal_basis", "%s is not recorded per state: a request names its bilateral treaty by citation, and reciprocity is no instrument", si.LegalBasis)
		case !Profiled(si.LegalBasis):
			vs.Add(at+"legal_basis", "must be one of %s", strings.Join(ProfiledBases, ", "))
		case seen[si.LegalBasis]:
			vs.Add(at+"legal_basis", "%s has another entry above; give each instrument one", si.LegalBasis)
		}
		seen[si.LegalBasis] = true
		if !slices.Contains(InstrumentStatuses, si.Status) {
			vs.Add(at+"status", "must be IN_FORCE, NOT_IN_FORCE or UNKNOWN")
		}
		if si.InForceSince != "" {
			if _, err := time.Parse(time.DateOnly, si.InForceSince); err != nil {
				vs.Add(at+"in_force_since", "%q is not a date (YYYY-MM-DD)", si.InForceSince)
			} else if si.Status != InForce {
				vs.Add(at+"in_force_since", "only an instrument IN_FORCE has a date of entry into force")
			}
		}
		for j, r := range si.Reservations {
			if !articlePattern.MatchString(r.Article) {
				vs.Add(fmt.Sprintf("%sreservations[%d].article", at, j), "%q is not an article, e.g. 29(4)", r.Article)
			}
			if strings.TrimSpace(r.Text) == "" {
				vs.Add(fmt.Sprintf("%sreservations[%d].text", at, j), "required: what the reservation says")
			}
			badText(&vs, fmt.Sprintf("%sreservations[%d].text", at, j), r.Text)
		}
		stages := map[string]bool{}
		for j, a := range si.Authorities {
			field := fmt.Sprintf("%sauthorities[%d].", at, j)
			switch {
			case !slices.Contains(Stages, a.Stage):
				vs.Add(field+"stage", "must be one of %s", strings.Join(Stages, ", "))
			case stages[a.Stage]:
				vs.Add(field+"stage", "%s has another authority above; designate one per stage", a.Stage)
			}
			stages[a.Stage] = true
			if !agencyID.MatchString(a.Agency) {
				vs.Add(field+"agency", "%q is not an agency id, e.g. kz-gpo", a.Agency)
			}
		}
		if strings.TrimSpace(si.Source) == "" {
			vs.Add(at+"source", "required: cite where this comes from (treaty office page, official gazette)")
		}
		badText(&vs, at+"source", si.Source)
	}
	return vs
}

// badText adds to vs a text that no store can keep as written: bytes that
// are not UTF-8 (an import file in another encoding; JSON would replace
// them) or the NUL character (PostgreSQL refuses it).
func badText(vs *errs.Violations, field, text string) {
	switch {
	case !utf8.ValidString(text):
		vs.Add(field, "is not UTF-8 text: save the file as UTF-8 and import it again")
	case strings.ContainsRune(text, 0):
		vs.Add(field, "contains the NUL character, which no text may hold")
	}
}

// validateAuthorities checks that each designated authority of st is an
// agency of st itself.
func validateAuthorities(st State, agencies []Agency, prefix string) errs.Violations {
	var vs errs.Violations
	for i, si := range st.Instruments {
		for j, a := range si.Authorities {
			if !agencyID.MatchString(a.Agency) {
				continue // reported by validateInstruments
			}
			if !slices.ContainsFunc(agencies, func(ag Agency) bool { return ag.ID == a.Agency }) {
				vs.Add(fmt.Sprintf("%s[%d].authorities[%d].agency", prefix, i, j), "%s is not an agency of %s", a.Agency, st.Code)
			}
		}
	}
	return vs
}

// CheckInstrument checks an instrument profile read from a snapshot; prefix
// is its field path.
func CheckInstrument(in Instrument, prefix string) errs.Violations {
	var vs errs.Violations
	if !Profiled(in.LegalBasis) {
		vs.Add(prefix+"legal_basis", "must be one of %s", strings.Join(ProfiledBases, ", "))
	}
	if strings.TrimSpace(in.DisplayName) == "" {
		vs.Add(prefix+"display_name", "required")
	}
	for i, f := range in.RequiredFields {
		if !fieldPathPattern.MatchString(f) {
			vs.Add(fmt.Sprintf("%srequired_fields[%d]", prefix, i), "%q is not a request field path, e.g. offence.statute_text", f)
		}
	}
	for i, g := range in.RefusalGrounds {
		if !slices.Contains(RefusalGrounds, g) {
			vs.Add(fmt.Sprintf("%srefusal_grounds[%d]", prefix, i), "unknown refusal ground %q", g)
		}
	}
	if in.AcknowledgeWithin < 0 {
		vs.Add(prefix+"acknowledge_within", "must not be negative")
	}
	if in.AnswerWithin < 0 {
		vs.Add(prefix+"answer_within", "must not be negative")
	}
	if in.Rank < 1 {
		vs.Add(prefix+"rank", "must be 1 or more (1 is best)")
	}
	if strings.TrimSpace(in.Source) == "" {
		vs.Add(prefix+"source", "required: cite the instrument's text")
	}
	badText(&vs, prefix+"source", in.Source)
	badText(&vs, prefix+"display_name", in.DisplayName)
	badText(&vs, prefix+"language_rule", in.LanguageRule)
	return vs
}

// InstrumentStore is the part of the Store that keeps instrument profiles.
type InstrumentStore interface {
	// ListInstruments returns every instrument profile, best rank first.
	ListInstruments(ctx context.Context) ([]Instrument, error)
	// SeedInstruments stores the profiles that are not stored yet and, for
	// each state of instruments (by code) whose instruments were never
	// recorded, its entries, in one transaction; it reports how many states
	// it gave entries. It overwrites nothing: a profile already stored, or
	// a state whose entries an administrator has edited (even to none),
	// keeps what it has. A state not in the store is skipped. It writes no
	// audit event, as Seed.
	SeedInstruments(ctx context.Context, profiles []Instrument, instruments map[string][]StateInstrument) (int, error)
}

// ListInstruments returns every instrument profile, best first.
func (s *Service) ListInstruments(ctx context.Context, _ identity.Principal) ([]Instrument, error) {
	return s.store.ListInstruments(ctx)
}

// ApplicableInstruments returns the instruments between the two states (ISO
// codes, any case) that are not recorded as not in force for either, best
// first (see Applicable). An unknown state is errs.Invalid naming the field.
func (s *Service) ApplicableInstruments(ctx context.Context, _ identity.Principal, requesting, requested string) ([]ApplicableInstrument, error) {
	var vs errs.Violations
	states := make([]State, 2)
	for i, c := range []struct{ field, code string }{{"requesting_state", requesting}, {"requested_state", requested}} {
		code := strings.ToUpper(c.code)
		st, err := s.store.GetState(ctx, code)
		switch {
		case err == nil:
			states[i] = st
		case errors.Is(err, errs.ErrNotFound):
			vs.Add(c.field, "%q is not a participating state", code)
		default:
			return nil, err
		}
	}
	if err := vs.Err(errs.Invalid, "unknown state"); err != nil {
		return nil, err
	}
	profiles, err := s.store.ListInstruments(ctx)
	if err != nil {
		return nil, err
	}
	return Applicable(profiles, states[0], states[1]), nil
}

// PreservationDualCriminalityArticle is the Budapest Convention's article
// under which a state may reserve the right to refuse a preservation where
// dual criminality is not met (Art 29(4)).
const PreservationDualCriminalityArticle = "29(4)"

// ReservesPreservationDualCriminality says whether the state's entry for
// the Budapest Convention records the Art 29(4) reservation: the one case in
// which a preservation may be refused on DUAL_CRIMINALITY_NOT_MET (DESIGN
// §5.2).
func (s State) ReservesPreservationDualCriminality() bool {
	si, ok := s.Instrument(BudapestConvention)
	return ok && si.HasReservation(PreservationDualCriminalityArticle)
}

// Treaties is what the directory records of the instruments between a
// requesting and a requested state: every profile, and each state's entries.
type Treaties struct {
	Profiles   []Instrument
	Requesting State
	Requested  State
}

// Profile returns the profile of legal basis b, if the directory has one.
func (t Treaties) Profile(b string) (Instrument, bool) {
	for _, p := range t.Profiles {
		if p.LegalBasis == b {
			return p, true
		}
	}
	return Instrument{}, false
}
