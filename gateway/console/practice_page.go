package console

import (
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// requestPractice is what a request's page shows of the content of issue
// 14: relations, the preservation's own state, chain disclosures,
// deliveries item by item, impediments, postponement, conditions,
// confidentiality, the intake of a request recorded from a call and the
// persons concerned.
type requestPractice struct {
	LegalBasisUnconfirmed bool
	// Unconfirmed says that the request was recorded from a call and is
	// not confirmed in writing yet.
	Unconfirmed bool
	Related     []relatedView
	// Preservation is the executed preservation's state, nil before.
	Preservation *preservationView
	Chain        []chainView
	Deliveries   []deliveryView
	Impediments  []impedimentView
	Postponement []field
	Conditions   *conditionsView
	Declaration  []field
	Intake       []field
	Persons      []personView
}

type relatedView struct {
	Kind, Href, ID string
}

type preservationView struct {
	State, StateCode string
	Fields           []field
	Extensions       []extensionView
}

type extensionView struct {
	Days, Reason, RequestedBy, RequestAt string
	Decision, DecisionCode, DecidedBy    string
	DecideAt, DeclineReason              string
}

type chainView struct {
	Provider, Country, Explanation, By, At string
}

type deliveryView struct {
	Number          int
	Summary, By, At string
	Partial         bool
	Items           []itemView
	Attachments     int
}

type itemView struct {
	Identifier, Category, Outcome, OutcomeCode, Reason string
}

type impedimentView struct {
	Kind, Explanation, Expected, By, At string
}

type conditionsView struct {
	Conditions []string
	Cost       string
	Decision   string
	Fields     []field
}

type personView struct {
	Fields []field
}

// practiceOf is the content of issue 14 of req as its page shows it.
func practiceOf(pg page, z zones, req *requestv1.Request) requestPractice {
	from, to := req.GetRequestingState(), req.GetRequestedState()
	at := func(ts *timestamppb.Timestamp) string {
		m := z.at(ts, from, to)
		if !m.Set {
			return ""
		}
		parts := []string{m.UTC}
		for _, zt := range m.Zones {
			parts = append(parts, zt.Time+" "+zt.Zone)
		}
		return strings.Join(parts, " · ")
	}
	fields := func(fs ...field) []field {
		var out []field
		for _, f := range fs {
			if f.Value != "" {
				out = append(out, field{Label: pg.T(f.Label), Value: f.Value})
			}
		}
		return out
	}
	v := requestPractice{LegalBasisUnconfirmed: req.GetLegalBasisUnconfirmed(), Unconfirmed: unconfirmed(req)}
	for _, r := range req.GetRelatedRequests() {
		id := strings.TrimPrefix(r.GetRequest(), "requests/")
		v.Related = append(v.Related, relatedView{Kind: pg.T("relation." + r.GetKind().String()), Href: "/requests/" + url.PathEscape(id), ID: id})
	}
	if p := req.GetPreservation(); p != nil && p.GetState() != requestv1.Preservation_STATE_UNSPECIFIED {
		pv := &preservationView{State: pg.T("preservation.state." + p.GetState().String()), StateCode: strings.ToLower(p.GetState().String())}
		held := ""
		if h := p.GetHeldBy(); h != "" {
			held = strings.TrimPrefix(h, "requests/")
		}
		pv.Fields = fields(
			field{"practice.preservation.expires_at", at(p.GetExpiresAt())},
			field{"practice.preservation.held_by", held},
			field{"practice.preservation.release_reason", p.GetReleaseReason()},
		)
		for _, e := range p.GetExtensions() {
			pv.Extensions = append(pv.Extensions, extensionView{
				Days: strconv.Itoa(int(e.GetDays())), Reason: e.GetReason(), RequestedBy: actorText(e.GetRequestedBy()),
				RequestAt: at(e.GetRequestTime()), Decision: pg.T("extension.decision." + e.GetDecision().String()),
				DecisionCode: strings.ToLower(e.GetDecision().String()), DecidedBy: actorText(e.GetDecidedBy()),
				DecideAt: at(e.GetDecideTime()), DeclineReason: e.GetDeclineReason(),
			})
		}
		v.Preservation = pv
	}
	for _, d := range req.GetChainDisclosures() {
		v.Chain = append(v.Chain, chainView{Provider: d.GetProvider(), Country: d.GetCountry(), Explanation: d.GetExplanation(),
			By: actorText(d.GetDisclosedBy()), At: at(d.GetDiscloseTime())})
	}
	ids := req.GetIdentifiers()
	for i, d := range req.GetDeliveries() {
		dv := deliveryView{Number: i + 1, Summary: d.GetResponseSummary(), By: actorText(d.GetExecutedBy()), At: at(d.GetExecuteTime()),
			Partial: d.GetPartial(), Attachments: len(d.GetAttachments())}
		for _, it := range d.GetItems() {
			ident := strconv.Itoa(int(it.GetIdentifierIndex()) + 1)
			if n := int(it.GetIdentifierIndex()); n >= 0 && n < len(ids) {
				ident += ". " + ids[n].GetValue()
			}
			dv.Items = append(dv.Items, itemView{Identifier: ident, Category: it.GetDataCategory(),
				Outcome: pg.T("outcome." + it.GetOutcome().String()), OutcomeCode: it.GetOutcome().String(), Reason: it.GetReason()})
		}
		v.Deliveries = append(v.Deliveries, dv)
	}
	for _, im := range req.GetImpediments() {
		v.Impediments = append(v.Impediments, impedimentView{Kind: pg.T("impediment.kind." + im.GetKind().String()),
			Explanation: im.GetExplanation(), Expected: at(im.GetExpectedTime()), By: actorText(im.GetReportedBy()), At: at(im.GetReportTime())})
	}
	if pp := req.GetPostponement(); pp != nil {
		v.Postponement = fields(
			field{"practice.postponement.until", at(pp.GetUntil())},
			field{"practice.postponement.reason", pp.GetReason()},
			field{"practice.postponement.by", actorText(pp.GetPostponedBy())},
			field{"practice.postponement.at", at(pp.GetPostponeTime())},
			field{"practice.postponement.resumed", at(pp.GetResumeTime())},
		)
	}
	if cp := req.GetConditionsProposal(); cp != nil {
		cv := &conditionsView{Cost: costText(pg, cp.GetCost()), Decision: pg.T("conditions.decision." + cp.GetDecision().String())}
		for _, cd := range cp.GetConditions() {
			cv.Conditions = append(cv.Conditions, conditionText(pg, z, cd, from, to))
		}
		cv.Fields = fields(
			field{"practice.conditions.proposed_by", actorText(cp.GetProposedBy())},
			field{"practice.conditions.propose_time", at(cp.GetProposeTime())},
			field{"practice.conditions.decided_by", actorText(cp.GetDecidedBy())},
			field{"practice.conditions.decide_time", at(cp.GetDecideTime())},
			field{"practice.conditions.reject_reason", cp.GetRejectReason()},
		)
		v.Conditions = cv
	}
	if d := req.GetConfidentialityDeclaration(); d != nil {
		v.Declaration = fields(
			field{"practice.declaration.explanation", d.GetExplanation()},
			field{"practice.declaration.declared_by", actorText(d.GetDeclaredBy())},
			field{"practice.declaration.declare_time", at(d.GetDeclareTime())},
			field{"practice.declaration.proceed_time", at(d.GetProceedTime())},
		)
	}
	if in := req.GetIntake(); in != nil && in.GetChannel() != requestv1.Intake_CHANNEL_UNSPECIFIED && in.GetChannel() != requestv1.Intake_PORTAL {
		v.Intake = fields(
			field{"practice.intake.channel", pg.T("intake.channel." + in.GetChannel().String())},
			field{"practice.intake.received_time", at(in.GetReceivedTime())},
			field{"practice.intake.caller", in.GetCaller()},
			field{"practice.intake.recorded_by", actorText(in.GetRecordedBy())},
			field{"practice.intake.confirm_time", at(in.GetConfirmTime())},
			field{"practice.intake.confirmed_by", actorText(in.GetConfirmedBy())},
		)
	}
	for _, p := range req.GetPersons() {
		kind := ""
		if p.GetKind() != requestv1.Person_KIND_UNSPECIFIED {
			kind = pg.T("person.kind." + p.GetKind().String())
		}
		var reps []string
		for _, r := range p.GetRepresentatives() {
			reps = append(reps, strings.Join(nonEmpty(r.GetFullName(), r.GetCapacity(), r.GetAddress()), ", "))
		}
		v.Persons = append(v.Persons, personView{Fields: fields(
			field{"field.persons.full_name", p.GetFullName()},
			field{"field.persons.kind", kind},
			field{"field.persons.role", p.GetRole()},
			field{"field.persons.date_of_birth", p.GetDateOfBirth()},
			field{"field.persons.place_of_birth", p.GetPlaceOfBirth()},
			field{"field.persons.nationality", p.GetNationality()},
			field{"field.persons.residence", p.GetResidence()},
			field{"field.persons.occupation", p.GetOccupation()},
			field{"field.persons.registered_address", p.GetRegisteredAddress()},
			field{"field.persons.registration_number", p.GetRegistrationNumber()},
			field{"field.persons.representatives", strings.Join(reps, "; ")},
		)})
	}
	return v
}

// practiceFieldsOf are the request's new content fields (§5.1, §5.4,
// §5.5) as the page's field list shows them, labels as message ids.
func practiceFieldsOf(pg page, req *requestv1.Request) []field {
	yesNo := func(b bool) string {
		if b {
			return pg.T("common.yes")
		}
		return pg.T("common.no")
	}
	cu := req.GetCustodian()
	fu := ""
	if f := req.GetFollowUpIntended(); f != nil && (f.GetIntended() || f.GetProductionType() != 0) {
		fu = yesNo(f.GetIntended())
		if f.GetProductionType() != 0 {
			fu += ": " + pg.T("type."+f.GetProductionType().String())
		}
	}
	conf := ""
	if c := req.GetConfidentiality(); c != nil && (c.GetRequest() || c.GetObtainedInformation() || c.GetReason() != "") {
		var parts []string
		if c.GetRequest() {
			parts = append(parts, pg.T("practice.confidentiality.request"))
		}
		if c.GetObtainedInformation() {
			parts = append(parts, pg.T("practice.confidentiality.obtained_information"))
		}
		if c.GetReason() != "" {
			parts = append(parts, c.GetReason())
		}
		conf = strings.Join(parts, "; ")
	}
	ia, rp, ct := req.GetInvestigatingAuthority(), req.GetRequestedProcedure(), req.GetContact()
	return []field{
		{"field.custodian.provider", cu.GetProvider()},
		{"field.custodian.country", cu.GetCountry()},
		{"field.custodian.service", cu.GetService()},
		{"field.custodian.account_reference", cu.GetAccountReference()},
		{"field.follow_up_intended", fu},
		{"field.investigating_authority.name", ia.GetName()},
		{"field.investigating_authority.case_number", ia.GetCaseNumber()},
		{"field.purpose", req.GetPurpose()},
		{"field.requested_procedure.format", rp.GetFormat()},
		{"field.requested_procedure.certification", rp.GetCertification()},
		{"field.contact", strings.Join(nonEmpty(ct.GetFullName(), ct.GetPhone(), ct.GetEmail(), ct.GetHours(), ct.GetTimeZone()), " · ")},
		{"field.confidentiality", conf},
	}
}

// nonEmpty are the strings given that are not empty.
func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
