package request

import (
	"fmt"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/errs"
)

// Person kinds (DESIGN §5.5): proto enum value names; "" is a natural
// person, as persons recorded before the kind was asked are.
const (
	NaturalPerson = "NATURAL"
	LegalPerson   = "LEGAL"
)

// contents adds to vs what is wrong with the contents of DESIGN §5.5 and
// the confidentiality of §5.4 that a request must get right to be submitted
// (or confirmed in writing): each of these is optional, but what is given
// must be usable by the requested side.
func contents(r Request, vs *errs.Violations) {
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }
	for i, p := range r.Persons {
		field := fmt.Sprintf("persons[%d]", i)
		switch p.Kind {
		case "", NaturalPerson:
		case LegalPerson:
			// Chisinau 7(1)(d): a legal person is identified by its
			// registration or its seat.
			if blank(p.RegistrationNumber) && blank(p.RegisteredAddress) {
				vs.AddReason(field+".registration_number", "LEGAL_PERSON_REGISTRATION_REQUIRED",
					"a legal person needs its registration number or its registered address")
			}
		default:
			vs.AddReason(field+".kind", "PERSON_KIND_INVALID", "%q is not a kind of person (NATURAL or LEGAL)", p.Kind)
		}
		for j, rep := range p.Representatives {
			if blank(rep.FullName) {
				vs.AddReason(fmt.Sprintf("%s.representatives[%d].full_name", field, j), "REPRESENTATIVE_NAME_REQUIRED",
					"a representative's full name is required")
			}
		}
	}
	if c := r.Contact; c != nil {
		// An e-mail address and a telephone number are what they are as
		// identifiers: checkIdentifier says what is wrong with either.
		if e := strings.TrimSpace(c.Email); e != "" {
			if problem := checkIdentifier(Email, e); problem != "" {
				vs.AddReason("contact.email", "CONTACT_EMAIL_INVALID", "%s", problem)
			}
		}
		if ph := strings.TrimSpace(c.Phone); ph != "" {
			if problem := checkIdentifier(Phone, ph); problem != "" {
				vs.AddReason("contact.phone", "CONTACT_PHONE_INVALID", "%s", problem)
			}
		}
		if tz := c.TimeZone; tz != "" && !validTimeZone(tz) {
			vs.AddReason("contact.time_zone", "CONTACT_TIME_ZONE_INVALID", "%q is not an IANA time zone such as Asia/Almaty", tz)
		}
	}
	if a := r.InvestigatingAuthority; a != nil && blank(a.Name) && !blank(a.CaseNumber) {
		vs.AddReason("investigating_authority.name", "INVESTIGATING_AUTHORITY_NAME_REQUIRED", "the case number %q is of which authority? Its name is required", a.CaseNumber)
	}
	// What must stay confidential binds the requested side, which must
	// know why to weigh it (Chisinau 7(1)(f)).
	if c := r.Confidentiality; c != nil && (c.Request || c.ObtainedInformation) && blank(c.Reason) {
		vs.AddReason("confidentiality.reason", "CONFIDENTIALITY_REASON_REQUIRED", "say why the request or the information obtained must stay confidential")
	}
}

// validTimeZone reports whether tz names a zone of the IANA database:
// "UTC" does, but not "" or "Local", which time.LoadLocation also takes
// (the server's own zone is nobody's contact hours).
func validTimeZone(tz string) bool {
	if tz == "Local" || strings.TrimSpace(tz) != tz {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}
