package directory

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones are validated on machines without a zoneinfo database

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/witness/witnesskey"
)

// validateAgency checks what the proto rules cannot: that required parts are
// present and that the values are ones the directory knows. prefix is the
// field path of the agency in the caller's message, e.g. "agency.".
func validateAgency(a Agency, prefix string) error {
	var vs errs.Violations
	if !slices.Contains(Kinds, a.Kind) {
		vs.Add(prefix+"kind", "must be one of %v", Kinds)
	}
	if len(a.DisplayNames) == 0 {
		vs.Add(prefix+"display_names", "at least one name is required")
	}
	for i, t := range a.Receives {
		if !slices.Contains(cooperation.RequestTypes, t) {
			vs.Add(fmt.Sprintf("%sreceives[%d]", prefix, i), "unknown request type %q", t)
		}
	}
	if len(a.Receives) > 0 && len(a.AcceptedLanguages) == 0 {
		vs.Add(prefix+"accepted_languages", "an agency that receives requests must accept at least one language")
	}
	for i, c := range a.ContactPoints {
		if c.Phone == "" && c.Email == "" {
			vs.Add(fmt.Sprintf("%scontact_points[%d]", prefix, i), "a phone or an email is required")
		}
	}
	return vs.Err(errs.Invalid, "invalid agency")
}

func validateState(s State, prefix string) error {
	var vs errs.Violations
	if len(s.DisplayNames) == 0 {
		vs.Add(prefix+"display_names", "at least one name is required")
	}
	if len(s.AcceptedLanguages) == 0 {
		vs.Add(prefix+"accepted_languages", "at least one language is required")
	}
	if s.TimeZone == "" {
		vs.Add(prefix+"time_zone", "required")
	} else if _, err := time.LoadLocation(s.TimeZone); err != nil {
		vs.Add(prefix+"time_zone", "%q is not an IANA time zone", s.TimeZone)
	}
	vs = append(vs, mappingViolations(s, prefix)...)
	vs = append(vs, validateInstruments(s.Instruments, prefix+"instruments")...)
	switch d := s.RetentionAfterClose; {
	case d == 0:
	case d < 0:
		vs.Add(prefix+"retention_after_close", "must be a positive duration, at least a day (24h); "+
			"leave it out for the deployment's default")
	case d < MinRetention || d > MaxRetention:
		vs.Add(prefix+"retention_after_close", "%s is not a retention: give at least a day (24h) and at most 100 years (876600h), "+
			"or leave it out for the deployment's default", d)
	}
	vs = append(vs, witnessViolations(s.Witness, prefix+"witness.")...)
	return vs.Err(errs.Invalid, "invalid state")
}

// witnessViolations checks a state's witness with the rules an auditor's
// policy applies (witnesskey.Parse, witnesskey.CheckURL), so that
// the directory never records an entry from which no policy can be made.
// None at all (the zero value) is valid: the state records no witness.
func witnessViolations(w StateWitness, prefix string) errs.Violations {
	var vs errs.Violations
	if w.IsZero() {
		return nil
	}
	if err := witnesskey.CheckURL(w.URL); err != nil {
		vs.Add(prefix+"url", "%s", err.Error())
	}
	switch _, err := witnesskey.Parse(w.PublicKey); {
	case w.PublicKey == "":
		vs.Add(prefix+"public_key", "required with the url: the witness's cosignature/v1 key, <name>+<8 hex digits>+<base64 key>")
	case err != nil:
		vs.Add(prefix+"public_key", "the key %s", err.Error())
	}
	return vs
}

// The bounds of a state's retention after close (DESIGN §10): less than a
// day would erase a case before anyone could look at it once closed; more
// than a century is keeping for ever under another name.
const (
	MinRetention = 24 * time.Hour
	MaxRetention = 876600 * time.Hour // 100 years of 365.25 days
)

// mappingViolations checks a state's claim mappings: each valid, each for
// one of the state's trusted issuers, at most one per issuer.
func mappingViolations(s State, prefix string) errs.Violations {
	var vs errs.Violations
	seen := map[string]bool{}
	for i, m := range s.ClaimMappings {
		at := fmt.Sprintf("%sclaim_mappings[%d].", prefix, i)
		vs = append(vs, m.Violations(at)...)
		switch {
		case m.Issuer == "":
		case seen[m.Issuer]:
			vs.Add(at+"issuer", "%s has another claim mapping above; give each issuer one", m.Issuer)
		case !slices.Contains(s.TrustedIssuers, m.Issuer):
			vs.Add(at+"issuer", "%s is not among the state's trusted_issuers; add it there, or remove this mapping", m.Issuer)
		}
		seen[m.Issuer] = true
	}
	return vs
}

func activeAgenciesOf(state string) query.Expr {
	return query.And{
		Left:  query.Compare{Field: "state", Op: query.Eq, Value: state},
		Right: query.Compare{Field: "active", Op: query.Eq, Value: true},
	}
}

// CheckImported checks an agency read from a snapshot file with the rules a
// created agency must meet, so that imports cannot store what the API would
// refuse.
func CheckImported(a Agency) error {
	var vs errs.Violations
	if !agencyID.MatchString(a.ID) {
		vs.Add("name", "must be agencies/<id> with a lower-case id starting with the state code, e.g. agencies/kz-gpo")
	} else if !strings.HasPrefix(a.ID, strings.ToLower(a.State)+"-") {
		vs.Add("name", "the id must start with the state code %q", strings.ToLower(a.State)+"-")
	}
	if err := vs.Err(errs.Invalid, "invalid agency"); err != nil {
		return err
	}
	return validateAgency(a, "")
}

// CheckImportedState checks a state read from a snapshot file.
func CheckImportedState(s State) error { return validateState(s, "") }

var agencyID = regexp.MustCompile(`^[a-z]{2}-[a-z0-9][a-z0-9-]{0,59}$`)
