package request

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/trail"
)

// The outcomes of a safeguard on the audit events of :submit, :transmit and
// :confirmInWriting (DESIGN §6.1). They say which checks ran and what they
// found, never what the request says.
const (
	outcomePassed        = "PASSED"
	outcomeFailed        = "FAILED"
	outcomeNotApplicable = "NOT_APPLICABLE"
	// outcomeUnconfirmed is LEGAL_BASIS_IN_FORCE passed with the status of
	// the legal basis unknown to the directory for a state (DESIGN §5.6).
	outcomeUnconfirmed = "UNCONFIRMED"
)

// checked is what a row of safeguardChecks needs to say whether it applied.
type checked struct {
	r           Request
	tr          directory.Treaties
	a           act
	unconfirmed bool
}

// safeguardCheck is one safeguard as audit events name it: the violations
// it covers (by reason code, or by field for the checks whose violations
// carry none) and when it applies (nil: always).
type safeguardCheck struct {
	name    string
	reasons []string
	fields  []string
	applies func(c checked) bool
	// passed, when not nil, is the outcome of the check when it found
	// nothing (PASSED otherwise).
	passed func(c checked) string
}

// otherCheck is the outcome of violations no row of safeguardChecks covers:
// a safeguard added without a row (TestEverySafeguardHasARow catches it)
// still shows as failed rather than hidden.
const otherCheck = "OTHER"

// safeguardChecks are the checks of checkSafeguardsFor, in the order events
// list them: safeguards, treatySafeguards, checkResponseTime,
// checkReceiverActive and checkRelations. Every violation those can give
// is covered by exactly one row.
var safeguardChecks = []safeguardCheck{
	{name: "LEGAL_BASIS", reasons: []string{"LEGAL_BASIS_REQUIRED"}},
	{name: "TREATY_CITATION", reasons: []string{"TREATY_CITATION_REQUIRED"},
		applies: func(c checked) bool { return c.r.LegalBasis == bilateralTreaty }},
	{name: "OFFENCE_DESCRIPTION", reasons: []string{"OFFENCE_DESCRIPTION_REQUIRED"}},
	{name: "LEGAL_QUALIFICATION", reasons: []string{"LEGAL_QUALIFICATION_REQUIRED"}},
	{name: "MAXIMUM_PENALTY", reasons: []string{"MAXIMUM_PENALTY_REQUIRED"}},
	{name: "FACTS_SUMMARY", reasons: []string{"FACTS_SUMMARY_REQUIRED"}},
	{name: "IDENTIFIERS", reasons: []string{"IDENTIFIER_REQUIRED", "IDENTIFIER_VALUE_REQUIRED", "IDENTIFIER_KIND_REQUIRED", "IDENTIFIER_INVALID"}},
	{name: "TIME_RANGES", reasons: []string{"TIME_RANGE_REQUIRED", "TIME_RANGE_INVERTED"},
		applies: func(c checked) bool {
			return slices.Contains(needsTimeRange, c.r.Type) || slices.ContainsFunc(c.r.Identifiers, func(id Identifier) bool {
				return !id.StartTime.IsZero() && !id.EndTime.IsZero()
			})
		}},
	{name: "NECESSITY_AND_PROPORTIONALITY", reasons: []string{"NECESSITY_TOO_SHORT"}},
	{name: "JUDICIAL_AUTHORISATION", reasons: []string{"JUDICIAL_AUTHORISATION_REQUIRED"},
		applies: func(c checked) bool { return c.r.Type == cooperation.ContentData }},
	{name: "DEATH_PENALTY_ASSURANCE", reasons: []string{"DEATH_PENALTY_ASSURANCE_REQUIRED"},
		applies: func(c checked) bool { return c.r.Offence.DeathPenaltyPossible }},
	{name: "EMERGENCY_REASON", reasons: []string{"EMERGENCY_REASON_REQUIRED"},
		applies: func(c checked) bool { return c.r.Priority == cooperation.Emergency }},
	{name: "CUSTODIAN", reasons: []string{"CUSTODIAN_PROVIDER_REQUIRED", "CUSTODIAN_COUNTRY_REQUIRED"}, applies: preservation},
	{name: "FOLLOW_UP_INTENDED", reasons: []string{"FOLLOW_UP_REQUIRED", "FOLLOW_UP_TYPE_REQUIRED"}, applies: preservation},
	{name: "LANGUAGE", reasons: []string{"LANGUAGE_REQUIRED", "LANGUAGE_NOT_ACCEPTED"}},
	{name: "CONTENTS", reasons: []string{"LEGAL_PERSON_REGISTRATION_REQUIRED", "PERSON_KIND_INVALID", "REPRESENTATIVE_NAME_REQUIRED",
		"CONTACT_EMAIL_INVALID", "CONTACT_PHONE_INVALID", "CONTACT_TIME_ZONE_INVALID", "INVESTIGATING_AUTHORITY_NAME_REQUIRED",
		"CONFIDENTIALITY_REASON_REQUIRED"}},
	{name: "LEGAL_BASIS_IN_FORCE", reasons: []string{"LEGAL_BASIS_NOT_IN_FORCE"},
		applies: func(c checked) bool { return directory.Profiled(c.r.LegalBasis) },
		passed: func(c checked) string {
			if c.unconfirmed {
				return outcomeUnconfirmed
			}
			return outcomePassed
		}},
	{name: "TREATY_FIELDS", reasons: []string{"INSTRUMENT_FIELD_UNKNOWN", "REQUIRED_BY_INSTRUMENT"},
		applies: func(c checked) bool {
			p, ok := c.tr.Profile(c.r.LegalBasis)
			return directory.Profiled(c.r.LegalBasis) && ok && len(p.RequiredFields) > 0
		}},
	// Checked at submission only: a date that passes in transit is the
	// requested side's to weigh.
	{name: "RESPONSE_TIME", reasons: []string{ResponseTimePast},
		applies: func(c checked) bool { return c.a == actSubmit && !c.r.RequestedResponseTime.IsZero() }},
	{name: "RECEIVER_ACTIVE", fields: []string{"requested_agency"}},
	{name: "RELATED_REQUESTS", fields: []string{"related_requests"},
		applies: func(c checked) bool { return len(c.r.RelatedRequests) > 0 }},
}

func preservation(c checked) bool { return c.r.Type == cooperation.DataPreservation }

// covers reports whether v is one of the violations of row k.
func (k safeguardCheck) covers(v errs.Violation) bool {
	if v.Reason != "" {
		return slices.Contains(k.reasons, v.Reason)
	}
	return slices.ContainsFunc(k.fields, func(f string) bool {
		return v.Field == f || strings.HasPrefix(v.Field, f+"[") || strings.HasPrefix(v.Field, f+".")
	})
}

// safeguardOutcomes returns the outcome of each row of safeguardChecks for
// the violations vs that checkSafeguardsFor found in c: FAILED when it
// found one of the row's, else NOT_APPLICABLE when the row did not apply,
// else PASSED (or the row's own word for it); and OTHER FAILED after them
// for violations no row covers.
func safeguardOutcomes(c checked, vs errs.Violations) []trail.Safeguard {
	out := make([]trail.Safeguard, 0, len(safeguardChecks)+1)
	covered := make([]bool, len(vs))
	for _, k := range safeguardChecks {
		outcome := outcomePassed
		for i, v := range vs {
			if k.covers(v) {
				covered[i], outcome = true, outcomeFailed
			}
		}
		switch {
		case outcome == outcomeFailed:
		case k.applies != nil && !k.applies(c):
			outcome = outcomeNotApplicable
		case k.passed != nil:
			outcome = k.passed(c)
		}
		out = append(out, trail.Safeguard{Check: k.name, Outcome: outcome})
	}
	if slices.Contains(covered, false) {
		out = append(out, trail.Safeguard{Check: otherCheck, Outcome: outcomeFailed})
	}
	return out
}

// acceptanceOutcomes are the assessments of an :accept (checkAcceptance),
// without their notes: DUAL_CRIMINALITY (MET, NOT_REQUIRED), HUMAN_RIGHTS_REVIEW
// (NO_CONCERNS, CONCERNS_NOTED), DEATH_PENALTY_ASSURANCE (PRESENT,
// NOT_APPLICABLE; ABSENT for a request that got past its checks without
// one, which the submission and transmission refuse) and USE_CONDITIONS
// (NONE, BINDING). An assessment that checkAcceptance refuses is FAILED.
func acceptanceOutcomes(r Request, a Acceptance, reviewed bool) []trail.Safeguard {
	dual := outcomeFailed
	if a.DualCriminality == "MET" || (a.DualCriminality == "NOT_REQUIRED" && r.Type == cooperation.DataPreservation) {
		dual = a.DualCriminality
	}
	review := outcomeFailed
	switch {
	case !reviewed:
	case !a.HumanRightsConcerns:
		review = "NO_CONCERNS"
	case strings.TrimSpace(a.HumanRightsNote) != "":
		review = "CONCERNS_NOTED"
	}
	assurance := outcomeNotApplicable
	if r.Offence.DeathPenaltyPossible {
		assurance = "PRESENT"
		if strings.TrimSpace(r.Offence.DeathPenaltyAssurance) == "" {
			assurance = "ABSENT"
		}
	}
	use := "NONE"
	if len(a.UseConditions) > 0 {
		use = "BINDING"
	}
	return []trail.Safeguard{
		{Check: "DUAL_CRIMINALITY", Outcome: dual}, {Check: "HUMAN_RIGHTS_REVIEW", Outcome: review},
		{Check: "DEATH_PENALTY_ASSURANCE", Outcome: assurance}, {Check: "USE_CONDITIONS", Outcome: use},
	}
}

// refusalOutcomes are what a :refuse says without its explanation:
// each GROUND given (its enum value name as the outcome; FAILED for none)
// and EXPLANATION (GIVEN, FAILED), as checkRefusal checks them before the
// request is read.
func refusalOutcomes(f Refusal) []trail.Safeguard { return groundOutcomes(f, nil) }

// groundOutcomes is refusalOutcomes with the grounds at the indexes
// notAllowed holds NOT_ALLOWED instead of their names.
func groundOutcomes(f Refusal, notAllowed map[int]bool) []trail.Safeguard {
	var out []trail.Safeguard
	for i, g := range f.Grounds {
		if notAllowed[i] {
			g = outcomeNotAllowed
		}
		if sg := (trail.Safeguard{Check: "GROUND", Outcome: g}); !slices.Contains(out, sg) {
			out = append(out, sg)
		}
	}
	if len(out) == 0 {
		out = append(out, trail.Safeguard{Check: "GROUND", Outcome: outcomeFailed})
	}
	explanation := "GIVEN"
	if strings.TrimSpace(f.Explanation) == "" {
		explanation = outcomeFailed
	}
	return append(out, trail.Safeguard{Check: "EXPLANATION", Outcome: explanation})
}

// outcomeNotAllowed is the GROUND outcome of a ground the request may not
// be refused on (a preservation's, see preservationGrounds): the ground
// given is not what the check found.
const outcomeNotAllowed = "NOT_ALLOWED"

// refuseOutcomes are the outcomes of a :refuse of r that checkRefusalOf
// answered with err, built from its violations as safeguardOutcomes builds
// those of a submission: refusalOutcomes with each ground a violation names
// (grounds[i]) NOT_ALLOWED; CONSULTATION FAILED when a violation names the
// consultation, else NOT_REQUIRED for a preservation (which needs none)
// recording none, else HELD; and OTHER FAILED for violations neither
// covers, so that a refused call never reads as all checks passed.
func refuseOutcomes(r Request, f Refusal, err error) []trail.Safeguard {
	var vs errs.Violations
	if e := (*errs.Error)(nil); errors.As(err, &e) {
		vs = e.Violations
	}
	notAllowed := map[int]bool{}
	consultation, other := false, err != nil && len(vs) == 0
	for _, v := range vs {
		var i int
		switch {
		case v.Field == "consultation" || strings.HasPrefix(v.Field, "consultation."):
			consultation = true
		case strings.HasPrefix(v.Field, "grounds["):
			if _, serr := fmt.Sscanf(v.Field, "grounds[%d]", &i); serr == nil && i >= 0 && i < len(f.Grounds) {
				notAllowed[i] = true
			} else {
				other = true
			}
		default:
			other = true
		}
	}
	outcome := "HELD"
	switch {
	case consultation:
		outcome = outcomeFailed
	case r.Type == cooperation.DataPreservation && f.Consultation == nil:
		outcome = "NOT_REQUIRED"
	}
	out := append(groundOutcomes(f, notAllowed), trail.Safeguard{Check: "CONSULTATION", Outcome: outcome})
	if other {
		out = append(out, trail.Safeguard{Check: otherCheck, Outcome: outcomeFailed})
	}
	return out
}

// withOutcomes returns err, a refusal of a call on r on its safeguards, as
// one whose event carries their outcomes (trail.Refusal); nil for nil.
func withOutcomes(r Request, err error, outcomes []trail.Safeguard) error {
	if err == nil {
		return nil
	}
	return &trail.Refusal{Err: err, States: states(r), Safeguards: outcomes}
}
