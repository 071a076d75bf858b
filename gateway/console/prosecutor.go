package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// The prosecutor's actions on a request of their own agency. The services
// decide whether the user may take one; these lists only keep the request's
// page from offering what its status rules out (services/request/lifecycle.go).
func init() {
	before := []requestv1.Request_Status{
		requestv1.Request_DRAFT, requestv1.Request_SUBMITTED, requestv1.Request_TRANSMITTED,
		requestv1.Request_ACKNOWLEDGED, requestv1.Request_CLARIFICATION_REQUESTED, requestv1.Request_ACCEPTED,
		requestv1.Request_PARTIALLY_EXECUTED, requestv1.Request_POSTPONED, requestv1.Request_CONDITIONS_PROPOSED,
		requestv1.Request_AWAITING_REQUESTER_DECISION,
	}
	registerActions(
		requestAction{ID: "edit", Label: "action.edit", Roles: []string{"prosecutor"}, Side: requestingSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_DRAFT}},
		requestAction{ID: "submit", Label: "action.submit", Roles: []string{"prosecutor"}, Side: requestingSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_DRAFT}},
		requestAction{ID: "answer", Label: "action.answer", Roles: []string{"prosecutor"}, Side: requestingSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_CLARIFICATION_REQUESTED}},
		requestAction{ID: "withdraw", Label: "action.withdraw", Roles: []string{"prosecutor"}, Side: requestingSide,
			Statuses: before, Danger: true, Show: func(r *requestv1.Request) bool { return r.GetOwner() != "" }},
		// A request recorded from a call has no owner until confirmed:
		// the requesting state's central authority may withdraw it.
		requestAction{ID: "withdraw", Label: "action.withdraw", Roles: []string{"central_authority"}, Side: requestingSide,
			Statuses: before, Danger: true, Show: func(r *requestv1.Request) bool { return r.GetOwner() == "" }},
		requestAction{ID: "confirm", Label: "action.confirm", Roles: []string{"prosecutor"}, Side: requestingSide,
			Statuses: statusesPending, Show: unconfirmed},
		requestAction{ID: "close", Label: "action.close", Roles: []string{"prosecutor", "central_authority"}, Side: requestingSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_EXECUTED, requestv1.Request_REFUSED, requestv1.Request_WITHDRAWN}},
	)
}

// Bounds of the repeatable rows of the form, as the API bounds them.
const (
	maxIdentifierRows = 500
	maxPersonRows     = 100
	maxRelatedRows    = 20
)

// formTimeLayout is how datetime-local inputs send a moment; the form says
// it is UTC.
const formTimeLayout = "2006-01-02T15:04"

// identifierRow is one identifier as the form holds it.
type identifierRow struct {
	Kind, Value, Start, End string
}

// personRow is one person as the form holds it. Representatives are one
// a line: "full name; capacity; address".
type personRow struct {
	FullName, DateOfBirth, Nationality, Role  string
	Kind, PlaceOfBirth, Residence, Occupation string
	RegisteredAddress, RegistrationNumber     string
	Representatives                           string
}

// relatedRow is one relation of the draft to another request, as the form
// holds it: the kind and the other request's id.
type relatedRow struct {
	Kind, Request string
}

// personFieldNames are the fields of a person's row, as the service names
// them.
var personFieldNames = []string{"full_name", "kind", "date_of_birth", "place_of_birth", "nationality", "role", "residence",
	"occupation", "registered_address", "registration_number", "representatives"}

// draftForm is the new-request form as the user filled it, kept as text so
// that a refused form comes back exactly as it was sent.
type draftForm struct {
	// ID is the draft's id once it is saved; empty for a new one.
	ID   string
	Etag string
	// RequestID is the idempotency key of the create: a form posted twice
	// creates one draft.
	RequestID string

	Type, Priority, EmergencyReason string
	RequestedState, RequestedAgency string
	LegalBasis, TreatyCitation      string
	CaseReference                   string
	OffenceDescription              string
	LegalQualification, StatuteText string
	MaximumPenaltyYears             string
	DeathPenaltyPossible            bool
	DeathPenaltyAssurance           string
	FactsSummary                    string
	Persons                         []personRow
	Identifiers                     []identifierRow
	DataCategories                  string
	NecessityAndProportionality     string
	JudicialAuthorisationReference  string
	UseLimitations                  string
	Confidential                    bool
	Language                        string
	RequestedResponseTime           string
	Related                         []relatedRow

	// The content of DESIGN §5.1, §5.4 and §5.5.
	CustodianProvider, CustodianCountry       string
	CustodianService, CustodianAccount        string
	FollowUpIntended                          bool
	FollowUpType                              string
	InvestigatingAuthority, InvestigatingCase string
	Purpose                                   string
	ProcedureFormat, ProcedureCertification   string
	ContactName, ContactPhone, ContactEmail   string
	ContactHours, ContactTimeZone             string
	ConfidentialObtained                      bool
	ConfidentialityReason                     string

	// Mode is "" for a draft, "confirm" for the written confirmation of a
	// request recorded from a call, "oral" for recording one (oral.go).
	Mode string
	// The call's intake, when recording one.
	RequestingAgency, IntakeChannel, IntakeReceived, IntakeCaller string
}

// newRequestID is a fresh idempotency key for a create.
func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// formFields are the field paths of the form, as the service names them,
// most specific first so that a complaint lands on its row.
func (f draftForm) formFields() []string {
	var fields []string
	for i := range f.Related {
		fields = append(fields, fmt.Sprintf("related_requests[%d].kind", i), fmt.Sprintf("related_requests[%d].request", i),
			fmt.Sprintf("related_requests[%d]", i))
	}
	for i := range f.Identifiers {
		for _, k := range []string{"kind", "value", "start_time", "end_time"} {
			fields = append(fields, fmt.Sprintf("identifiers[%d].%s", i, k))
		}
		fields = append(fields, fmt.Sprintf("identifiers[%d]", i))
	}
	for i := range f.Persons {
		for _, k := range personFieldNames {
			fields = append(fields, fmt.Sprintf("persons[%d].%s", i, k))
		}
		fields = append(fields, fmt.Sprintf("persons[%d]", i))
	}
	if f.Mode == "oral" {
		fields = append(fields, oralFieldPaths...)
	}
	return append(fields, draftFieldPaths...)
}

// draftFieldPaths are the form's single fields.
var draftFieldPaths = []string{
	"type", "priority", "emergency_reason", "requested_state", "requested_agency", "legal_basis",
	"treaty_citation", "case_reference", "offence.description", "offence.legal_qualification",
	"offence.statute_text", "offence.maximum_penalty_years", "offence.death_penalty_possible",
	"offence.death_penalty_assurance", "offence", "facts_summary", "persons", "identifiers", "data_categories",
	"necessity_and_proportionality", "judicial_authorisation_reference", "use_limitations",
	"language", "requested_response_time", "related_requests",
	"custodian.provider", "custodian.country", "custodian.service", "custodian.account_reference", "custodian",
	"follow_up_intended.intended", "follow_up_intended.production_type", "follow_up_intended",
	"investigating_authority.name", "investigating_authority.case_number", "investigating_authority", "purpose",
	"requested_procedure.format", "requested_procedure.certification", "requested_procedure",
	"contact.full_name", "contact.phone", "contact.email", "contact.hours", "contact.time_zone", "contact",
	"confidentiality.request", "confidentiality.obtained_information", "confidentiality.reason", "confidentiality", "confidential",
}

// inputID is the HTML id of a field path: "identifiers[0].value" is
// "identifiers-0-value".
func inputID(field string) string {
	return strings.NewReplacer(".", "-", "[", "-", "]", "").Replace(field)
}

// parseDraftForm reads the form. It does not check the content: the
// service does.
func parseDraftForm(r *http.Request) draftForm {
	g := func(k string) string { return strings.TrimRight(r.PostFormValue(k), "\r\n") }
	f := draftForm{
		ID: g("id"), Etag: g("etag"), RequestID: g("request_id"),
		Type: g("type"), Priority: g("priority"), EmergencyReason: g("emergency_reason"),
		RequestedState: g("requested_state"), RequestedAgency: g("requested_agency"),
		LegalBasis: g("legal_basis"), TreatyCitation: g("treaty_citation"), CaseReference: g("case_reference"),
		OffenceDescription: g("offence.description"), LegalQualification: g("offence.legal_qualification"),
		StatuteText: g("offence.statute_text"), MaximumPenaltyYears: strings.TrimSpace(g("offence.maximum_penalty_years")),
		DeathPenaltyPossible:  g("offence.death_penalty_possible") == "true",
		DeathPenaltyAssurance: g("offence.death_penalty_assurance"), FactsSummary: g("facts_summary"),
		DataCategories: g("data_categories"), NecessityAndProportionality: g("necessity_and_proportionality"),
		JudicialAuthorisationReference: g("judicial_authorisation_reference"), UseLimitations: g("use_limitations"),
		Confidential: g("confidentiality.request") == "true", Language: strings.TrimSpace(g("language")),
		RequestedResponseTime: g("requested_response_time"),

		CustodianProvider: g("custodian.provider"), CustodianCountry: strings.TrimSpace(g("custodian.country")),
		CustodianService: g("custodian.service"), CustodianAccount: g("custodian.account_reference"),
		FollowUpIntended: g("follow_up_intended.intended") == "true", FollowUpType: g("follow_up_intended.production_type"),
		InvestigatingAuthority: g("investigating_authority.name"), InvestigatingCase: g("investigating_authority.case_number"),
		Purpose: g("purpose"), ProcedureFormat: g("requested_procedure.format"), ProcedureCertification: g("requested_procedure.certification"),
		ContactName: g("contact.full_name"), ContactPhone: g("contact.phone"), ContactEmail: g("contact.email"),
		ContactHours: g("contact.hours"), ContactTimeZone: strings.TrimSpace(g("contact.time_zone")),
		ConfidentialObtained: g("confidentiality.obtained_information") == "true", ConfidentialityReason: g("confidentiality.reason"),
	}
	if !requestIDPattern.MatchString(f.ID) {
		f.ID = ""
	}
	rows := func(key string, max int) int {
		n, err := strconv.Atoi(r.PostFormValue(key))
		if err != nil || n < 0 {
			return 0
		}
		return min(n, max)
	}
	for i := range rows("identifier_rows", maxIdentifierRows) {
		k := func(s string) string { return g(fmt.Sprintf("identifiers[%d].%s", i, s)) }
		f.Identifiers = append(f.Identifiers, identifierRow{Kind: k("kind"), Value: k("value"), Start: k("start_time"), End: k("end_time")})
	}
	for i := range rows("related_rows", maxRelatedRows) {
		k := func(s string) string { return strings.TrimSpace(g(fmt.Sprintf("related_requests[%d].%s", i, s))) }
		f.Related = append(f.Related, relatedRow{Kind: k("kind"), Request: k("request")})
	}
	for i := range rows("person_rows", maxPersonRows) {
		k := func(s string) string { return g(fmt.Sprintf("persons[%d].%s", i, s)) }
		f.Persons = append(f.Persons, personRow{FullName: k("full_name"), DateOfBirth: k("date_of_birth"), Nationality: k("nationality"), Role: k("role"),
			Kind: k("kind"), PlaceOfBirth: k("place_of_birth"), Residence: k("residence"), Occupation: k("occupation"),
			RegisteredAddress: k("registered_address"), RegistrationNumber: k("registration_number"), Representatives: k("representatives")})
	}
	switch r.PostFormValue("add") {
	case "identifier":
		if len(f.Identifiers) < maxIdentifierRows {
			f.Identifiers = append(f.Identifiers, identifierRow{})
		}
	case "person":
		if len(f.Persons) < maxPersonRows {
			f.Persons = append(f.Persons, personRow{})
		}
	case "related":
		if len(f.Related) < maxRelatedRows {
			f.Related = append(f.Related, relatedRow{})
		}
	}
	f.ensureRows()
	return f
}

// ensureRows leaves at least one row of each repeatable group to fill in.
func (f *draftForm) ensureRows() {
	if len(f.Identifiers) == 0 {
		f.Identifiers = []identifierRow{{}}
	}
	if len(f.Persons) == 0 {
		f.Persons = []personRow{{}}
	}
	if len(f.Related) == 0 {
		f.Related = []relatedRow{{}}
	}
}

// lines are the non-blank lines of s.
func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// formTime reads a datetime-local value as UTC; "" is no time.
func formTime(s string) (*timestamppb.Timestamp, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, true
	}
	for _, layout := range []string{formTimeLayout, formTimeLayout + ":05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return timestamppb.New(t), true
		}
	}
	return nil, false
}

// showTime is a moment as a datetime-local input shows it, in UTC.
func showTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(formTimeLayout)
}

// toRequest is the draft the form describes. What the form cannot even
// read (a number or a date that is none) comes back as complaints about
// those fields; every rule on the content is the service's.
func (f draftForm) toRequest(pg page) (*requestv1.Request, []violation) {
	var bad []violation
	complain := func(field, id string) {
		bad = append(bad, violation{Field: field, Text: pg.T(id)})
	}
	req := &requestv1.Request{
		Type:            directoryv1.RequestType(directoryv1.RequestType_value[f.Type]),
		Priority:        directoryv1.Priority(directoryv1.Priority_value[f.Priority]),
		EmergencyReason: f.EmergencyReason, RequestedState: f.RequestedState,
		LegalBasis:     requestv1.Request_LegalBasis(requestv1.Request_LegalBasis_value[f.LegalBasis]),
		TreatyCitation: f.TreatyCitation, CaseReference: f.CaseReference,
		Offence: &requestv1.Offence{
			Description: f.OffenceDescription, LegalQualification: f.LegalQualification,
			StatuteText: f.StatuteText, DeathPenaltyPossible: f.DeathPenaltyPossible,
			DeathPenaltyAssurance: f.DeathPenaltyAssurance,
		},
		FactsSummary: f.FactsSummary, DataCategories: lines(f.DataCategories),
		NecessityAndProportionality:    f.NecessityAndProportionality,
		JudicialAuthorisationReference: f.JudicialAuthorisationReference,
		UseLimitations:                 f.UseLimitations, Confidential: f.Confidential, Language: f.Language,
		Etag: f.Etag,
	}
	if f.RequestedAgency != "" {
		req.RequestedAgency = "agencies/" + f.RequestedAgency
	}
	if f.MaximumPenaltyYears != "" {
		n, err := strconv.ParseInt(f.MaximumPenaltyYears, 10, 32)
		if err != nil {
			complain("offence.maximum_penalty_years", "prosecutor.parse.number")
		}
		req.Offence.MaximumPenaltyYears = int32(n)
	}
	if ts, ok := formTime(f.RequestedResponseTime); ok {
		req.RequestedResponseTime = ts
	} else {
		complain("requested_response_time", "prosecutor.parse.time")
	}
	for _, r := range f.Related {
		if r == (relatedRow{}) {
			continue
		}
		// A relation without a kind is sent as such, for the service to
		// refuse next to the field; the id may be given with its
		// "requests/" or without.
		req.RelatedRequests = append(req.RelatedRequests, &requestv1.RelatedRequest{
			Kind:    requestv1.RelatedRequest_Kind(requestv1.RelatedRequest_Kind_value[r.Kind]),
			Request: "requests/" + strings.TrimPrefix(r.Request, "requests/")})
	}
	for _, p := range f.Persons {
		if p == (personRow{}) {
			continue
		}
		person := &requestv1.Person{
			FullName: p.FullName, DateOfBirth: p.DateOfBirth, Nationality: strings.ToUpper(p.Nationality), Role: p.Role,
			Kind:         requestv1.Person_Kind(requestv1.Person_Kind_value[p.Kind]),
			PlaceOfBirth: p.PlaceOfBirth, Residence: p.Residence, Occupation: p.Occupation,
			RegisteredAddress: p.RegisteredAddress, RegistrationNumber: p.RegistrationNumber,
		}
		for _, l := range lines(p.Representatives) {
			parts := strings.SplitN(l, ";", 3)
			rep := &requestv1.Representative{FullName: strings.TrimSpace(parts[0])}
			if len(parts) > 1 {
				rep.Capacity = strings.TrimSpace(parts[1])
			}
			if len(parts) > 2 {
				rep.Address = strings.TrimSpace(parts[2])
			}
			person.Representatives = append(person.Representatives, rep)
		}
		req.Persons = append(req.Persons, person)
	}
	f.contentTo(req)
	for i, id := range f.Identifiers {
		if id == (identifierRow{}) {
			continue
		}
		x := &requestv1.Identifier{Kind: requestv1.Identifier_Kind(requestv1.Identifier_Kind_value[id.Kind]), Value: id.Value}
		var ok bool
		if x.StartTime, ok = formTime(id.Start); !ok {
			complain(fmt.Sprintf("identifiers[%d].start_time", i), "prosecutor.parse.time")
		}
		if x.EndTime, ok = formTime(id.End); !ok {
			complain(fmt.Sprintf("identifiers[%d].end_time", i), "prosecutor.parse.time")
		}
		req.Identifiers = append(req.Identifiers, x)
	}
	return req, bad
}

// draftFormOf is the form of a saved draft.
func draftFormOf(req *requestv1.Request) draftForm {
	f := draftForm{
		ID: strings.TrimPrefix(req.GetName(), "requests/"), Etag: req.GetEtag(),
		Type: enumName(req.GetType().String(), req.GetType() == 0), Priority: enumName(req.GetPriority().String(), req.GetPriority() == 0),
		EmergencyReason: req.GetEmergencyReason(), RequestedState: req.GetRequestedState(),
		RequestedAgency: strings.TrimPrefix(req.GetRequestedAgency(), "agencies/"),
		LegalBasis:      enumName(req.GetLegalBasis().String(), req.GetLegalBasis() == 0),
		TreatyCitation:  req.GetTreatyCitation(), CaseReference: req.GetCaseReference(),
		OffenceDescription: req.GetOffence().GetDescription(), LegalQualification: req.GetOffence().GetLegalQualification(),
		StatuteText:          req.GetOffence().GetStatuteText(),
		DeathPenaltyPossible: req.GetOffence().GetDeathPenaltyPossible(), DeathPenaltyAssurance: req.GetOffence().GetDeathPenaltyAssurance(),
		FactsSummary: req.GetFactsSummary(), DataCategories: strings.Join(req.GetDataCategories(), "\n"),
		NecessityAndProportionality:    req.GetNecessityAndProportionality(),
		JudicialAuthorisationReference: req.GetJudicialAuthorisationReference(),
		UseLimitations:                 req.GetUseLimitations(), Confidential: req.GetConfidential(), Language: req.GetLanguage(),
		RequestedResponseTime: showTime(req.GetRequestedResponseTime()),
	}
	if n := req.GetOffence().GetMaximumPenaltyYears(); n != 0 {
		f.MaximumPenaltyYears = strconv.Itoa(int(n))
	}
	for _, r := range req.GetRelatedRequests() {
		f.Related = append(f.Related, relatedRow{Kind: enumName(r.GetKind().String(), r.GetKind() == 0),
			Request: strings.TrimPrefix(r.GetRequest(), "requests/")})
	}
	f.contentOf(req)
	for _, p := range req.GetPersons() {
		row := personRow{FullName: p.GetFullName(), DateOfBirth: p.GetDateOfBirth(), Nationality: p.GetNationality(), Role: p.GetRole(),
			Kind:         enumName(p.GetKind().String(), p.GetKind() == 0),
			PlaceOfBirth: p.GetPlaceOfBirth(), Residence: p.GetResidence(), Occupation: p.GetOccupation(),
			RegisteredAddress: p.GetRegisteredAddress(), RegistrationNumber: p.GetRegistrationNumber()}
		var reps []string
		for _, r := range p.GetRepresentatives() {
			reps = append(reps, strings.TrimRight(r.GetFullName()+"; "+r.GetCapacity()+"; "+r.GetAddress(), "; "))
		}
		row.Representatives = strings.Join(reps, "\n")
		f.Persons = append(f.Persons, row)
	}
	for _, id := range req.GetIdentifiers() {
		f.Identifiers = append(f.Identifiers, identifierRow{
			Kind: enumName(id.GetKind().String(), id.GetKind() == 0), Value: id.GetValue(),
			Start: showTime(id.GetStartTime()), End: showTime(id.GetEndTime()),
		})
	}
	f.ensureRows()
	return f
}

// enumName is an enum value's name for a select, "" when unset (the
// select's empty choice).
func enumName(name string, unset bool) string {
	if unset {
		return ""
	}
	return name
}

// option is a choice of a select.
type option struct {
	Value, Label string
}

// optionGroup is a labelled group of choices.
type optionGroup struct {
	Label   string
	Options []option
}

// draftChoices are the choices the form offers, from the API's enums and
// the directory.
type draftChoices struct {
	Types, Priorities, LegalBases, IdentifierKinds []option
	PersonKinds, Channels, RelationKinds           []option
	States                                         []option
	Agencies                                       []optionGroup
}

// enumOptions are an enum's defined values but the unspecified one, each
// labelled by prefix+name.
func enumOptions(pg page, prefix string, names map[int32]string) []option {
	var nums []int32
	for n := range names {
		if n != 0 {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	out := make([]option, 0, len(nums))
	for _, n := range nums {
		out = append(out, option{Value: names[n], Label: pg.T(prefix + names[n])})
	}
	return out
}

// choices reads the states and agencies the request may go to: those of
// other states than the user's, active, grouped by state. Which of them
// receives what is the service's to say.
func (c *Console) choices(ctx context.Context, pg page, own string) (draftChoices, map[string]string, error) {
	ch := draftChoices{
		Types:           enumOptions(pg, "type.", directoryv1.RequestType_name),
		Priorities:      enumOptions(pg, "priority.", directoryv1.Priority_name),
		LegalBases:      enumOptions(pg, "legal_basis.", requestv1.Request_LegalBasis_name),
		IdentifierKinds: enumOptions(pg, "field.identifier_kind.", requestv1.Identifier_Kind_name),
		PersonKinds:     enumOptions(pg, "person.kind.", requestv1.Person_Kind_name),
		// A request drafted here (PORTAL) is created, not recorded.
		Channels: slices.DeleteFunc(enumOptions(pg, "intake.channel.", requestv1.Intake_Channel_name),
			func(o option) bool { return o.Value == requestv1.Intake_PORTAL.String() }),
		RelationKinds: enumOptions(pg, "relation.", requestv1.RelatedRequest_Kind_name),
	}
	states, err := c.be.Directory.ListStates(ctx, &directoryv1.ListStatesRequest{})
	if err != nil {
		return ch, nil, err
	}
	agencyState := map[string]string{}
	groups := map[string]*optionGroup{}
	for _, st := range states.GetStates() {
		if st.GetCode() == own {
			continue
		}
		ch.States = append(ch.States, option{Value: st.GetCode(), Label: pg.T("state."+st.GetCode()) + " (" + st.GetCode() + ")"})
		groups[st.GetCode()] = &optionGroup{Label: pg.T("state."+st.GetCode()) + " (" + st.GetCode() + ")"}
	}
	token := ""
	for range 20 {
		resp, err := c.be.Directory.ListAgencies(ctx, &directoryv1.ListAgenciesRequest{PageSize: 1000, PageToken: token, Filter: "active = true", OrderBy: "state"})
		if err != nil {
			return ch, nil, err
		}
		for _, a := range resp.GetAgencies() {
			g := groups[a.GetState()]
			if g == nil {
				continue
			}
			id := strings.TrimPrefix(a.GetName(), "agencies/")
			agencyState[id] = a.GetState()
			label := id
			if n := localName(a.GetDisplayNames(), pg.Lang, ""); n != "" {
				label = n + " (" + id + ")"
			}
			g.Options = append(g.Options, option{Value: id, Label: label})
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	for _, st := range ch.States {
		if g := groups[st.Value]; len(g.Options) > 0 {
			ch.Agencies = append(ch.Agencies, *g)
		}
	}
	return ch, agencyState, nil
}

// checklistItem is a safeguard as the checklist shows it: its label, and
// whether the service found it unmet. Which fields it covers is all the
// console knows of it; the rule itself is the service's.
type checklistItem struct {
	ID, Label string
	// State is "met", "unmet" or "unknown" (not checked yet).
	State string
}

// safeguardItems are the checklist's items and the field paths whose
// complaints make each unmet.
var safeguardItems = []struct {
	id     string
	fields []string
}{
	{"legal_basis", []string{"legal_basis"}},
	{"treaty_citation", []string{"treaty_citation"}},
	{"offence", []string{"offence.description", "offence.legal_qualification"}},
	{"penalty", []string{"offence.maximum_penalty_years"}},
	{"death_penalty", []string{"offence.death_penalty_assurance"}},
	{"facts", []string{"facts_summary"}},
	{"identifiers", []string{"identifiers"}},
	{"necessity", []string{"necessity_and_proportionality"}},
	{"judicial", []string{"judicial_authorisation_reference"}},
	{"emergency", []string{"emergency_reason"}},
	{"language", []string{"language"}},
	{"custodian", []string{"custodian"}},
	{"follow_up", []string{"follow_up_intended"}},
	{"receiver", []string{"requested_agency", "requested_state"}},
}

// checklist marks each safeguard met or not from the violations of a
// validate-only submit; checked false means the service was not asked yet.
func checklist(pg page, vs []violation, checked bool) []checklistItem {
	out := make([]checklistItem, 0, len(safeguardItems))
	for _, it := range safeguardItems {
		state := "unknown"
		if checked {
			state = "met"
			for _, v := range vs {
				if placeOf(v.Field, it.fields) != "" {
					state = "unmet"
				}
			}
		}
		out = append(out, checklistItem{ID: it.id, Label: pg.T("checklist." + it.id), State: state})
	}
	return out
}

// draftView is what the new-request form shows.
type draftView struct {
	Form    draftForm
	Choices draftChoices
	Errors  *formErrors
	// Checklist is the safeguards as the service judged the saved draft.
	Checklist []checklistItem
	// Checked says whether the service judged it (the draft is saved).
	Checked bool
	// Notice is a status line: "draft saved at …" or why it was not.
	Notice string
	// Action is where the form posts.
	Action string
}

// violationsOf are the complaints of a refusal, field paths without the
// "request." prefix that create and update complaints carry.
func violationsOf(pg page, err error) []violation {
	vs := violations(pg, status.Convert(err))
	for i := range vs {
		vs[i].Field = strings.TrimPrefix(vs[i].Field, "request.")
	}
	return vs
}

// draftErrors places the complaints of a refusal (or of the form's own
// reading, bad) on the form's fields.
func draftErrors(pg page, f draftForm, err error, bad []violation) *formErrors {
	fe := &formErrors{placed: map[string][]violation{}}
	var vs []violation
	if err != nil {
		st := status.Convert(err)
		fe.Detail, fe.Message = st.Message(), refusalMessage(pg, st.Code())
		vs = violationsOf(pg, err)
	} else {
		fe.Message = pg.T("error.invalid")
	}
	fields := f.formFields()
	for _, v := range append(bad, vs...) {
		if p := placeOf(v.Field, fields); p != "" {
			fe.placed[p] = append(fe.placed[p], v)
		} else {
			fe.Unplaced = append(fe.Unplaced, v)
		}
	}
	return fe
}

// newRequest shows the empty form.
func (c *Console) newRequest(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	f := draftForm{RequestID: newRequestID()}
	f.ensureRows()
	c.showDraft(w, r, pg, s, http.StatusOK, draftView{Form: f})
}

// editRequest shows a saved draft in the form, with its checklist.
func (c *Console) editRequest(w http.ResponseWriter, r *http.Request) {
	s, pg, id, ok := c.requestVisit(w, r)
	if !ok {
		return
	}
	ctx := outgoing(r.Context(), r, s)
	resp, err := c.be.Requests.GetRequest(ctx, &requestv1.GetRequestRequest{Name: "requests/" + id})
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	v := draftView{Form: draftFormOf(resp.GetRequest())}
	if r.URL.Query().Get("saved") == "1" {
		v.Notice = pg.T("prosecutor.saved_at", map[string]any{"Time": c.now().UTC().Format("15:04") + " UTC"})
	}
	vs, err := c.check(ctx, pg, v.Form)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	v.Checked, v.Checklist = true, checklist(pg, vs, true)
	if len(vs) > 0 {
		v.Errors = placeOnly(v.Form, vs)
	}
	c.showDraft(w, r, pg, s, http.StatusOK, v)
}

// placeOnly puts the safeguards' complaints next to their fields, without
// a general complaint: the draft is saved, it just is not ready yet.
func placeOnly(f draftForm, vs []violation) *formErrors {
	fe := &formErrors{placed: map[string][]violation{}}
	fields := f.formFields()
	for _, v := range vs {
		if p := placeOf(v.Field, fields); p != "" {
			fe.placed[p] = append(fe.placed[p], v)
		}
	}
	return fe
}

// check asks the service whether the saved draft could be submitted now
// (validate_only): its complaints, or none.
func (c *Console) check(ctx context.Context, pg page, f draftForm) ([]violation, error) {
	_, err := c.be.Requests.SubmitRequest(ctx, &requestv1.SubmitRequestRequest{
		Name: "requests/" + f.ID, Etag: f.Etag, ValidateOnly: true,
	})
	switch {
	case err == nil:
		return nil, nil
	case isFormRefusal(err):
		return violationsOf(pg, err), nil
	}
	return nil, err
}

// showDraft renders the form with its choices.
func (c *Console) showDraft(w http.ResponseWriter, r *http.Request, pg page, s *session, code int, v draftView) {
	ctx := outgoing(r.Context(), r, s)
	ch, _, err := c.choices(ctx, pg, s.State)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	v.Choices = ch
	if v.Form.ID == "" {
		v.Action = "/requests/new"
		pg.Title = pg.T("new.title")
	} else {
		v.Action = "/requests/" + url.PathEscape(v.Form.ID) + "/edit"
		pg.Title = pg.T("edit.title")
	}
	v.modeAction(&pg)
	if !v.Checked {
		v.Checklist = checklist(pg, nil, false)
	}
	c.render(w, r, code, DraftPage(pg, v))
}

// saveDraft creates the draft (the first save, idempotent by the form's
// request id) or updates it (with its etag). A plain post then goes to the
// draft's form; an htmx post (the form saving itself as it is filled)
// answers the checklist, the field complaints, the new etag and a status
// line, and leaves the user's input alone.
func (c *Console) saveDraft(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("error.invalid"))
		return
	}
	f := parseDraftForm(r)
	if id := r.PathValue("id"); id != "" {
		if !requestIDPattern.MatchString(id) {
			c.renderError(w, r, pg, http.StatusNotFound, pg.T("error.not_found"))
			return
		}
		f.ID = id
	}
	live := r.Header.Get("HX-Request") == "true"
	if r.PostFormValue("add") != "" && !live {
		// Another row: the same form again, one row longer, nothing saved.
		c.showDraft(w, r, pg, s, http.StatusOK, draftView{Form: f})
		return
	}
	ctx := outgoing(r.Context(), r, s)
	ch, agencyState, err := c.choices(ctx, pg, s.State)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	if f.RequestedState == "" && f.RequestedAgency != "" {
		// The agency chosen says its state.
		f.RequestedState = agencyState[f.RequestedAgency]
	}
	req, bad := f.toRequest(pg)
	var saved *requestv1.Request
	if len(bad) == 0 {
		saved, err = c.writeDraft(ctx, f, req)
	}
	if len(bad) > 0 || err != nil {
		if err != nil && !isFormRefusal(err) {
			c.serviceError(w, r, pg, err)
			return
		}
		fe := draftErrors(pg, f, err, bad)
		if live {
			notice := pg.T("prosecutor.not_saved")
			if c := status.Code(err); c == codes.Aborted || c == codes.AlreadyExists {
				// Nothing to mark on a field: say why.
				notice = fe.Message
			}
			c.render(w, r, http.StatusOK, draftLive(pg, f, fe, checklist(pg, nil, false), false, notice))
			return
		}
		code := http.StatusBadRequest
		if status.Code(err) == codes.Aborted || status.Code(err) == codes.AlreadyExists {
			code = http.StatusConflict
		}
		c.showDraftWith(w, r, pg, code, draftView{Form: f, Choices: ch, Errors: fe})
		return
	}
	id := strings.TrimPrefix(saved.GetName(), "requests/")
	if !live {
		http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"/edit?saved=1", http.StatusSeeOther)
		return
	}
	f.ID, f.Etag = id, saved.GetEtag()
	vs, err := c.check(ctx, pg, f)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	c.render(w, r, http.StatusOK, draftLive(pg, f, placeOnly(f, vs), checklist(pg, vs, true), true,
		pg.T("prosecutor.saved_at", map[string]any{"Time": c.now().UTC().Format("15:04") + " UTC"})))
}

// showDraftWith renders the form with choices already read.
func (c *Console) showDraftWith(w http.ResponseWriter, r *http.Request, pg page, code int, v draftView) {
	if v.Form.ID == "" {
		v.Action = "/requests/new"
		pg.Title = pg.T("new.title")
	} else {
		v.Action = "/requests/" + url.PathEscape(v.Form.ID) + "/edit"
		pg.Title = pg.T("edit.title")
	}
	v.modeAction(&pg)
	if v.Checklist == nil {
		v.Checklist = checklist(pg, nil, false)
	}
	c.render(w, r, code, DraftPage(pg, v))
}

// writeDraft creates or updates the draft.
func (c *Console) writeDraft(ctx context.Context, f draftForm, req *requestv1.Request) (*requestv1.Request, error) {
	if f.ID == "" {
		key := f.RequestID
		if key == "" {
			key = newRequestID()
		}
		resp, err := c.be.Requests.CreateRequest(ctx, &requestv1.CreateRequestRequest{Request: req, RequestId: key})
		return resp.GetRequest(), err
	}
	req.Name = "requests/" + f.ID
	resp, err := c.be.Requests.UpdateRequest(ctx, &requestv1.UpdateRequestRequest{Request: req})
	return resp.GetRequest(), err
}

// actionView is what an action's page shows.
type actionView struct {
	ID, Title string
	Row       requestRow
	Href      string // the request's page
	Etag      string
	// Questions are the clarification questions the requested side asked
	// (answer).
	Questions string
	// Text is what the user wrote (reason, answers), kept on a refusal.
	Text string
	// Attachments are the request's files the answers may refer to.
	Attachments []option
	Chosen      []string
	Checklist   []checklistItem
	Errors      *formErrors
}

// actionFields are the field each action's form has, as the service
// names it.
var actionFields = map[string][]string{
	"withdraw": {"reason"}, "answer": {"answers", "attachments"}, "close": nil, "submit": nil,
}

// loadAction reads the request an action is about.
func (c *Console) loadAction(w http.ResponseWriter, r *http.Request, action string) (page, *session, context.Context, *requestv1.Request, zones, bool) {
	s, pg, id, ok := c.requestVisit(w, r)
	if !ok {
		return page{}, nil, nil, nil, nil, false
	}
	ctx := outgoing(r.Context(), r, s)
	z, err := c.zones(ctx)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return pg, s, nil, nil, nil, false
	}
	resp, err := c.be.Requests.GetRequest(ctx, &requestv1.GetRequestRequest{Name: "requests/" + id})
	if err != nil {
		c.serviceError(w, r, pg, err)
		return pg, s, nil, nil, nil, false
	}
	pg.Title = pg.T("action." + action)
	return pg, s, ctx, resp.GetRequest(), z, true
}

// actionPage shows an action's form: GET /requests/{id}/{action}.
func (c *Console) actionPage(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, _, ctx, req, z, ok := c.loadAction(w, r, action)
		if !ok {
			return
		}
		v, err := c.actionView(ctx, pg, z, req, action)
		if err != nil {
			c.serviceError(w, r, pg, err)
			return
		}
		if action == "submit" {
			vs, err := c.check(ctx, pg, draftFormOf(req))
			if err != nil {
				c.serviceError(w, r, pg, err)
				return
			}
			v.Checklist = checklist(pg, vs, true)
			if len(vs) > 0 {
				v.Errors = &formErrors{Message: pg.T("prosecutor.not_ready"), Unplaced: vs, placed: map[string][]violation{}}
			}
		}
		c.render(w, r, http.StatusOK, ActionPage(pg, v))
	}
}

// actionView is the action's page for req.
func (c *Console) actionView(ctx context.Context, pg page, z zones, req *requestv1.Request, action string) (actionView, error) {
	v := actionView{ID: action, Title: pg.T("action." + action), Row: c.row(pg, z, req), Etag: req.GetEtag()}
	v.Href = v.Row.Href
	if action != "answer" {
		return v, nil
	}
	// The questions being answered are the last round's, kept on the
	// request.
	if qs := req.GetClarifications(); len(qs) > 0 {
		v.Questions = qs[len(qs)-1].GetQuestion()
	}
	atts, err := c.be.Requests.ListAttachments(ctx, &requestv1.ListAttachmentsRequest{Parent: req.GetName()})
	if err != nil {
		return v, err
	}
	for _, a := range atts.GetAttachments() {
		v.Attachments = append(v.Attachments, option{Value: a.GetName(), Label: a.GetFilename()})
	}
	return v, nil
}

// doAction takes an action: POST /requests/{id}/{action}. Done, it goes
// to the request's page with a confirmation; refused, the form comes back
// with the user's input and the service's complaints.
func (c *Console) doAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, s, ctx, req, z, ok := c.loadAction(w, r, action)
		if !ok {
			return
		}
		if err := r.ParseForm(); err != nil {
			c.renderError(w, r, pg, http.StatusBadRequest, pg.T("error.invalid"))
			return
		}
		etag, text := r.PostFormValue("etag"), r.PostFormValue("text")
		var err error
		switch action {
		case "submit":
			_, err = c.be.Requests.SubmitRequest(ctx, &requestv1.SubmitRequestRequest{Name: req.GetName(), Etag: etag})
		case "withdraw":
			_, err = c.be.Requests.WithdrawRequest(ctx, &requestv1.WithdrawRequestRequest{Name: req.GetName(), Etag: etag, Reason: text})
		case "close":
			_, err = c.be.Requests.CloseRequest(ctx, &requestv1.CloseRequestRequest{Name: req.GetName(), Etag: etag})
		case "answer":
			_, err = c.be.Requests.ProvideClarification(ctx, &requestv1.ProvideClarificationRequest{
				Name: req.GetName(), Etag: etag, Answers: text, Attachments: r.PostForm["attachments"],
			})
		}
		if err == nil {
			http.Redirect(w, r, "/requests/"+url.PathEscape(strings.TrimPrefix(req.GetName(), "requests/"))+"?done="+action, http.StatusSeeOther)
			return
		}
		if !isFormRefusal(err) {
			c.serviceError(w, r, pg, err)
			return
		}
		code := http.StatusBadRequest
		if status.Code(err) == codes.Aborted {
			code = http.StatusConflict
		}
		if action == "submit" && status.Code(err) != codes.Aborted && !aboutStatus(violationsOf(pg, err)) {
			// The refused safeguards next to their fields: the draft's form.
			f := draftFormOf(req)
			vs := violationsOf(pg, err)
			fe := draftErrors(pg, f, err, nil)
			fe.Message = pg.T("prosecutor.not_ready")
			c.showDraft(w, r, pg, s, code, draftView{Form: f, Errors: fe, Checked: true, Checklist: checklist(pg, vs, true)})
			return
		}
		v, verr := c.actionView(ctx, pg, z, req, action)
		if verr != nil {
			c.serviceError(w, r, pg, verr)
			return
		}
		v.Etag, v.Text, v.Chosen = etag, text, r.PostForm["attachments"]
		fe, _ := formError(pg, err, append(actionFields[action], "text")...)
		// The service calls the text "reason" or "answers": one field here.
		for _, f := range actionFields[action] {
			if f != "attachments" {
				fe.placed["text"] = append(fe.placed["text"], fe.placed[f]...)
			}
		}
		v.Errors = fe
		c.render(w, r, code, ActionPage(pg, v))
	}
}

// aboutStatus says whether a refusal is about the request's status rather
// than its content: then the draft's form has nothing to show.
func aboutStatus(vs []violation) bool {
	for _, v := range vs {
		if v.Field == "status" {
			return true
		}
	}
	return false
}

// prosecutorRoutes are the routes of this file, for Routes.
func (c *Console) prosecutorRoutes(h func(http.HandlerFunc) http.Handler, routes map[string]http.Handler) {
	routes["GET /requests/new"] = h(c.newRequest)
	routes["POST /requests/new"] = h(c.saveDraft)
	routes["GET /requests/{id}/edit"] = h(c.editRequest)
	routes["POST /requests/{id}/edit"] = h(c.saveDraft)
	for _, a := range []string{"submit", "withdraw", "close", "answer"} {
		routes["GET /requests/{id}/"+a] = h(c.actionPage(a))
		routes["POST /requests/{id}/"+a] = h(c.doAction(a))
	}
}
