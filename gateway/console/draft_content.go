package console

import (
	"strings"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// contentTo sets on req the content of DESIGN §5.1, §5.4 and §5.5 the form
// holds; a group left empty is not sent, so that a draft without it stays
// without it.
func (f draftForm) contentTo(req *requestv1.Request) {
	if c := (&requestv1.Custodian{Provider: f.CustodianProvider, Country: strings.ToUpper(f.CustodianCountry),
		Service: f.CustodianService, AccountReference: f.CustodianAccount}); c.Provider+c.Country+c.Service+c.AccountReference != "" {
		req.Custodian = c
	}
	if f.FollowUpIntended || f.FollowUpType != "" {
		req.FollowUpIntended = &requestv1.FollowUpIntended{Intended: f.FollowUpIntended,
			ProductionType: directoryv1.RequestType(directoryv1.RequestType_value[f.FollowUpType])}
	}
	if f.InvestigatingAuthority+f.InvestigatingCase != "" {
		req.InvestigatingAuthority = &requestv1.InvestigatingAuthority{Name: f.InvestigatingAuthority, CaseNumber: f.InvestigatingCase}
	}
	req.Purpose = f.Purpose
	if f.ProcedureFormat+f.ProcedureCertification != "" {
		req.RequestedProcedure = &requestv1.RequestedProcedure{Format: f.ProcedureFormat, Certification: f.ProcedureCertification}
	}
	if c := (&requestv1.Contact{FullName: f.ContactName, Phone: f.ContactPhone, Email: f.ContactEmail, Hours: f.ContactHours,
		TimeZone: f.ContactTimeZone}); c.FullName+c.Phone+c.Email+c.Hours+c.TimeZone != "" {
		req.Contact = c
	}
	// confidential mirrors confidentiality.request, for the clients that
	// know only it.
	req.Confidentiality = &requestv1.Confidentiality{Request: f.Confidential, ObtainedInformation: f.ConfidentialObtained,
		Reason: f.ConfidentialityReason}
}

// contentOf fills the form's content of DESIGN §5.1, §5.4 and §5.5 from
// req.
func (f *draftForm) contentOf(req *requestv1.Request) {
	cu := req.GetCustodian()
	f.CustodianProvider, f.CustodianCountry = cu.GetProvider(), cu.GetCountry()
	f.CustodianService, f.CustodianAccount = cu.GetService(), cu.GetAccountReference()
	fu := req.GetFollowUpIntended()
	f.FollowUpIntended = fu.GetIntended()
	f.FollowUpType = enumName(fu.GetProductionType().String(), fu.GetProductionType() == 0)
	f.InvestigatingAuthority, f.InvestigatingCase = req.GetInvestigatingAuthority().GetName(), req.GetInvestigatingAuthority().GetCaseNumber()
	f.Purpose = req.GetPurpose()
	f.ProcedureFormat, f.ProcedureCertification = req.GetRequestedProcedure().GetFormat(), req.GetRequestedProcedure().GetCertification()
	ct := req.GetContact()
	f.ContactName, f.ContactPhone, f.ContactEmail, f.ContactHours, f.ContactTimeZone =
		ct.GetFullName(), ct.GetPhone(), ct.GetEmail(), ct.GetHours(), ct.GetTimeZone()
	if c := req.GetConfidentiality(); c != nil {
		f.Confidential = c.GetRequest() || req.GetConfidential()
		f.ConfidentialObtained, f.ConfidentialityReason = c.GetObtainedInformation(), c.GetReason()
	}
}
