package request

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

// MinNecessityLength is the least number of characters a necessity and
// proportionality statement must have to be of real substance.
const MinNecessityLength = 100

// The legal bases, identifier kinds and the like are proto enum value names.
const (
	bilateralTreaty = "BILATERAL_TREATY"
	translation     = "TRANSLATION"
)

// Identifier kinds.
const (
	IPAddress    = "IP_ADDRESS"
	Email        = "EMAIL"
	Phone        = "PHONE"
	Account      = "ACCOUNT"
	URL          = "URL"
	Domain       = "DOMAIN"
	CryptoWallet = "CRYPTO_WALLET"
	Device       = "DEVICE"
)

var (
	phonePattern  = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	domainPattern = regexp.MustCompile(`^(?i)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$`)
	walletPattern = regexp.MustCompile(`^[A-Za-z0-9:_-]{20,128}$`)
)

// needsTimeRange are the request types whose identifiers must each say for
// which period data is sought.
var needsTimeRange = []cooperation.RequestType{cooperation.SubscriberInformation, cooperation.TrafficData, cooperation.ContentData}

// safeguards checks every safeguard of DESIGN §5 that a request must meet to
// be submitted or transmitted, and returns all violations at once. receiver
// is the requested agency as the directory has it now; attachments are the
// request's attachments (a translation into an accepted language satisfies
// the language rule).
func safeguards(r Request, receiver directory.Agency, attachments []Attachment) errs.Violations {
	var vs errs.Violations
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }

	if r.LegalBasis == "" {
		vs.AddReason("legal_basis", "LEGAL_BASIS_REQUIRED", "a legal basis is required")
	} else if r.LegalBasis == bilateralTreaty && blank(r.TreatyCitation) {
		vs.AddReason("treaty_citation", "TREATY_CITATION_REQUIRED", "a bilateral treaty must be cited")
	}
	if blank(r.Offence.Description) {
		vs.AddReason("offence.description", "OFFENCE_DESCRIPTION_REQUIRED", "the offence must be described")
	}
	if blank(r.Offence.LegalQualification) {
		vs.AddReason("offence.legal_qualification", "LEGAL_QUALIFICATION_REQUIRED", "the legal qualification of the offence is required")
	}
	if r.Offence.MaximumPenaltyYears <= 0 {
		vs.AddReason("offence.maximum_penalty_years", "MAXIMUM_PENALTY_REQUIRED", "the maximum penalty is required")
	}
	if blank(r.FactsSummary) {
		vs.AddReason("facts_summary", "FACTS_SUMMARY_REQUIRED", "a summary of the facts is required")
	}
	if len(r.Identifiers) == 0 {
		vs.AddReason("identifiers", "IDENTIFIER_REQUIRED", "at least one identifier is required")
	}
	for i, id := range r.Identifiers {
		field := fmt.Sprintf("identifiers[%d]", i)
		if msg := checkIdentifier(id.Kind, id.Value); msg != "" {
			reason := identifierReason(id.Kind, id.Value)
			vs.AddReason(field+".value", reason, "%s", msg)
		}
		if slices.Contains(needsTimeRange, r.Type) {
			switch {
			case id.StartTime.IsZero() || id.EndTime.IsZero():
				vs.AddReason(field+".start_time", "TIME_RANGE_REQUIRED", "%s requests need a time range (start and end) for each identifier", r.Type)
			case !id.StartTime.Before(id.EndTime):
				vs.AddReason(field+".end_time", "TIME_RANGE_INVERTED", "must be after start_time")
			}
		} else if !id.StartTime.IsZero() && !id.EndTime.IsZero() && !id.StartTime.Before(id.EndTime) {
			vs.AddReason(field+".end_time", "TIME_RANGE_INVERTED", "must be after start_time")
		}
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(r.NecessityAndProportionality)); n < MinNecessityLength {
		vs.AddReason("necessity_and_proportionality", "NECESSITY_TOO_SHORT", "a statement of real substance is required (at least %d characters, not %d)", MinNecessityLength, n)
	}
	if r.Type == cooperation.ContentData && blank(r.JudicialAuthorisationReference) {
		vs.AddReason("judicial_authorisation_reference", "JUDICIAL_AUTHORISATION_REQUIRED", "content data requires a judicial authorisation")
	}
	if r.Offence.DeathPenaltyPossible && blank(r.Offence.DeathPenaltyAssurance) {
		vs.AddReason("offence.death_penalty_assurance", "DEATH_PENALTY_ASSURANCE_REQUIRED", "the death penalty is possible: an assurance is required")
	}
	if r.Priority == cooperation.Emergency && blank(r.EmergencyReason) {
		vs.AddReason("emergency_reason", "EMERGENCY_REASON_REQUIRED", "an emergency needs a stated reason (risk to life or safety)")
	}
	preservationSafeguards(r, &vs)
	if !languageAccepted(r.Language, receiver, attachments) {
		if r.Language == "" {
			vs.AddReason("language", "LANGUAGE_REQUIRED", "the request language is required")
		} else {
			vs.AddReason("language", "LANGUAGE_NOT_ACCEPTED", "%s does not accept %q and no translation into %s is attached",
				receiver.ID, r.Language, strings.Join(receiver.AcceptedLanguages, " or "))
		}
	}
	contents(r, &vs)
	return vs
}

func languageAccepted(lang string, receiver directory.Agency, attachments []Attachment) bool {
	accepts := func(l string) bool {
		for _, a := range receiver.AcceptedLanguages {
			if l != "" && strings.EqualFold(primaryLanguage(a), primaryLanguage(l)) {
				return true
			}
		}
		return false
	}
	if accepts(lang) {
		return true
	}
	for _, a := range attachments {
		if a.Kind == translation && accepts(a.Language) {
			return true
		}
	}
	return false
}

// primaryLanguage is the language subtag of a BCP-47 tag ("ru" of "ru-KZ").
func primaryLanguage(tag string) string {
	if i := strings.IndexByte(tag, '-'); i >= 0 {
		return tag[:i]
	}
	return tag
}

// identifierReason is the reason code of checkIdentifier's complaint about
// an identifier: no value, no kind, or a value that is not of its kind.
func identifierReason(kind, value string) string {
	switch {
	case strings.TrimSpace(value) == "":
		return "IDENTIFIER_VALUE_REQUIRED"
	case !slices.Contains(identifierKinds, kind):
		return "IDENTIFIER_KIND_REQUIRED"
	}
	return "IDENTIFIER_INVALID"
}

// identifierKinds are the kinds of identifier checkIdentifier knows.
var identifierKinds = []string{IPAddress, Email, Phone, Account, URL, Domain, CryptoWallet, Device}

// checkIdentifier returns why value is not a valid identifier of kind, or "".
func checkIdentifier(kind, value string) string {
	v := strings.TrimSpace(value)
	if v == "" {
		return "a value is required"
	}
	switch kind {
	case IPAddress:
		if _, err := netip.ParseAddr(v); err == nil {
			return ""
		}
		if _, err := netip.ParseAddrPort(v); err == nil {
			return ""
		}
		return fmt.Sprintf("%q is not an IP address (with an optional port, e.g. 203.0.113.7:443)", v)
	case Email:
		a, err := mail.ParseAddress(v)
		if err != nil || a.Address != v || a.Name != "" {
			return fmt.Sprintf("%q is not an e-mail address", v)
		}
	case Phone:
		if !phonePattern.MatchString(strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(v)) {
			return fmt.Sprintf("%q is not a telephone number in international format (+ and 7 to 15 digits)", v)
		}
	case URL:
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Sprintf("%q is not an http or https URL", v)
		}
	case Domain:
		if !domainPattern.MatchString(v) || len(v) > 253 {
			return fmt.Sprintf("%q is not a domain name", v)
		}
	case CryptoWallet:
		if !walletPattern.MatchString(v) {
			return fmt.Sprintf("%q is not a wallet address", v)
		}
	case Account, Device:
	default:
		return "the kind of identifier is required"
	}
	return ""
}

// ResponseTimePast is the reason code of a requested response time that has
// passed: the requested side cannot meet it.
const ResponseTimePast = "REQUESTED_RESPONSE_TIME_PAST"

// checkResponseTime adds to vs a requested response time that
// is no longer in the future. A request does not wait for a date that has
// passed to be refused: it is refused when it is drafted with one, updated
// to one, and submitted after its date has passed.
func (s *Service) checkResponseTime(r Request, vs *errs.Violations) {
	if t := r.RequestedResponseTime; !t.IsZero() && !t.After(s.now()) {
		vs.AddReason("requested_response_time", ResponseTimePast, "the requested response time %s is in the past: the requested side cannot meet it; "+
			"set a later date, or none", t.UTC().Format(time.RFC3339))
	}
}

// checkSafeguardsFor checks every safeguard against the requested agency as
// the directory has it now and the request's attachments, and those of its
// legal basis between the two states (treatySafeguards); at submission,
// also that the requested response time has not passed; and, depending on
// the caller p, that each related request is one p may see. It reports
// whether the legal basis is unconfirmed, for the request to show, and the
// outcome of each check, for the call's event (safeguardOutcomes), which a
// refusal on them carries too (withOutcomes).
func (s *Service) checkSafeguardsFor(ctx context.Context, p identity.Principal, r Request, a act) (unconfirmed bool, _ []trail.Safeguard, _ error) {
	vs, c, err := s.safeguardViolations(ctx, r, a)
	if err != nil {
		return false, nil, err
	}
	if err := s.checkRelations(ctx, p, r, &vs); err != nil {
		return false, nil, err
	}
	outcomes := safeguardOutcomes(c, vs)
	err = vs.Err(errs.FailedPrecondition, fmt.Sprintf("request %s does not meet the safeguards", r.Reference))
	return c.unconfirmed, outcomes, withOutcomes(r, err, outcomes)
}

// safeguardViolations is what checkSafeguardsFor finds but the relations,
// as violations, and what it checked them against.
func (s *Service) safeguardViolations(ctx context.Context, r Request, a act) (errs.Violations, checked, error) {
	receiver, err := s.dir.Agency(ctx, r.RequestedAgency)
	if err != nil {
		return nil, checked{}, fmt.Errorf("requested agency %s: %w", r.RequestedAgency, err)
	}
	atts, err := s.store.ListAttachments(ctx, r.ID)
	if err != nil {
		return nil, checked{}, err
	}
	tr, err := s.dir.Instruments(ctx, r.RequestingState, r.RequestedState)
	if err != nil {
		return nil, checked{}, fmt.Errorf("instruments between %s and %s: %w", r.RequestingState, r.RequestedState, err)
	}
	vs := safeguards(r, withInstrumentLanguages(receiver, r, tr), atts)
	treaty, unconfirmed := treatySafeguards(r, tr)
	vs = append(vs, treaty...)
	if a == actSubmit {
		s.checkResponseTime(r, &vs)
	}
	checkReceiverActive(receiver, &vs)
	return vs, checked{r: r, tr: tr, a: a, unconfirmed: unconfirmed}, nil
}

// productionTypes are the types of request that produce data, which a
// preservation's follow-up is one of.
var productionTypes = []cooperation.RequestType{cooperation.SubscriberInformation, cooperation.TrafficData,
	cooperation.ContentData, cooperation.OtherAssistance}

// countryCode is an ISO 3166-1 alpha-2 code as the API takes it.
var countryCode = regexp.MustCompile(`^[A-Za-z]{2}$`)

// preservationSafeguards adds to vs what a preservation lacks of Budapest
// 29(2)(d) and (f): who holds the data (the provider and its country are
// required; the service and the account reference are optional, given
// when known) and the production request that will follow, by type.
func preservationSafeguards(r Request, vs *errs.Violations) {
	if r.Type != cooperation.DataPreservation {
		return
	}
	c := r.Custodian
	if c == nil {
		c = &Custodian{}
	}
	if strings.TrimSpace(c.Provider) == "" {
		vs.AddReason("custodian.provider", "CUSTODIAN_PROVIDER_REQUIRED", "a preservation must name the provider holding the data (Budapest 29(2)(d))")
	}
	if !countryCode.MatchString(c.Country) {
		vs.AddReason("custodian.country", "CUSTODIAN_COUNTRY_REQUIRED", "a preservation must give the country where the provider holds the data, as a 2-letter code such as UZ")
	}
	f := r.FollowUpIntended
	if f == nil || !f.Intended {
		vs.AddReason("follow_up_intended.intended", "FOLLOW_UP_REQUIRED", "a preservation must say that a request for the data will follow (Budapest 29(2)(f))")
	}
	if f == nil || !slices.Contains(productionTypes, f.ProductionType) {
		vs.AddReason("follow_up_intended.production_type", "FOLLOW_UP_TYPE_REQUIRED",
			"the type of the request that will follow is required: SUBSCRIBER_INFORMATION, TRAFFIC_DATA, CONTENT_DATA or OTHER_ASSISTANCE")
	}
}

// relationKinds are the kinds a relation may be submitted with.
var relationKinds = []RelationKind{FollowUpOf, ExtensionOf, Supersedes, SpawnedBy}

// checkRelations adds to vs each related request of r that does not say
// how it relates, that names r itself or a request named before, or that
// is not a request p may see. An unknown request and one p may not see get
// the same words: a relation tells no one what exists beyond their view.
func (s *Service) checkRelations(ctx context.Context, p identity.Principal, r Request, vs *errs.Violations) error {
	seen := map[string]bool{}
	for i, rr := range r.RelatedRequests {
		field := fmt.Sprintf("related_requests[%d]", i)
		if !slices.Contains(relationKinds, rr.Kind) {
			vs.Add(field+".kind", "say how the request relates: FOLLOW_UP_OF, EXTENSION_OF, SUPERSEDES or SPAWNED_BY")
		}
		switch {
		case rr.Request == r.ID:
			vs.Add(field, "a request cannot be related to itself")
			continue
		case seen[rr.Request]:
			vs.Add(field, "requests/%s is named twice; name each related request once", rr.Request)
			continue
		}
		seen[rr.Request] = true
		other, err := s.store.Get(ctx, rr.Request)
		if err != nil && !errors.Is(err, errs.ErrNotFound) {
			return err
		}
		if err != nil || accessOf(p, other) == noAccess {
			vs.Add(field, "there is no request requests/%s that you may see", rr.Request)
		}
	}
	return nil
}

// checkReceiverActive adds to vs a requested agency the directory has
// deactivated since the request was drafted: nobody there would receive it.
func checkReceiverActive(receiver directory.Agency, vs *errs.Violations) {
	if !receiver.Active {
		vs.Add("requested_agency", "%s is deactivated", receiver.ID)
	}
}

// checkAcceptance checks the assessments the requested side records when it
// accepts r: dual criminality (MET, or NOT_REQUIRED for a preservation) and
// the human-rights review, with a note when it found concerns. reviewed says
// whether a review was given at all.
func checkAcceptance(r Request, a Acceptance, reviewed bool) error {
	var vs errs.Violations
	switch a.DualCriminality {
	case "MET":
	case "NOT_REQUIRED":
		if r.Type != cooperation.DataPreservation {
			vs.Add("dual_criminality", "NOT_REQUIRED applies to preservation only; assess dual criminality for %s", r.Type)
		}
	default:
		vs.Add("dual_criminality", "the dual-criminality assessment is required (MET, or NOT_REQUIRED for preservation)")
	}
	if !reviewed {
		vs.Add("human_rights_review", "the human-rights review is required")
	} else if a.HumanRightsConcerns && strings.TrimSpace(a.HumanRightsNote) == "" {
		vs.Add("human_rights_review.note", "concerns need a note saying what they are and why execution is still acceptable")
	}
	return vs.Err(errs.FailedPrecondition, "the acceptance lacks its assessments")
}

// RefusalGrounds are the grounds a refusal may give (DESIGN §5), as proto
// enum value names.
var RefusalGrounds = []string{
	"POLITICAL_OFFENCE", "ESSENTIAL_INTERESTS", "DUAL_CRIMINALITY_NOT_MET", "HUMAN_RIGHTS_CONCERNS",
	"DEATH_PENALTY_NO_ASSURANCE", "NE_BIS_IN_IDEM", "IMMUNITY", "INSUFFICIENT_INFORMATION", "OTHER",
	// DESIGN §5.2.
	"NOT_IN_CONFORMITY", "DOMESTIC_LAW_PROHIBITS", "CONTRARY_TO_LEGAL_SYSTEM", "PERSECUTION", "PRESS_FREEDOM",
}

// checkRefusal checks a refusal: a ground that is not one of
// RefusalGrounds (an unset enum among them) is bad input
// (INVALID_ARGUMENT); no ground at all, or no explanation, is a refusal that
// does not say why (FAILED_PRECONDITION).
func checkRefusal(f Refusal) error {
	var bad errs.Violations
	for i, g := range f.Grounds {
		if !slices.Contains(RefusalGrounds, g) {
			bad.Add(fmt.Sprintf("grounds[%d]", i), "%s is not a ground", g)
		}
	}
	if err := bad.Err(errs.Invalid, "invalid refusal"); err != nil {
		return err
	}
	var vs errs.Violations
	if len(f.Grounds) == 0 {
		vs.Add("grounds", "at least one ground for refusal is required")
	}
	if strings.TrimSpace(f.Explanation) == "" {
		vs.Add("explanation", "an explanation is required")
	}
	return vs.Err(errs.FailedPrecondition, "the refusal lacks its grounds")
}
