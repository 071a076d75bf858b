package comity_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"

	"github.com/comity-mla/comity/clients/go/client"
	"github.com/comity-mla/comity/clients/go/client/requests"
	"github.com/comity-mla/comity/clients/go/models"
	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

// TestCompleteCase runs the complete case of a cooperation request, as
// gatewaytest.CompleteCase does with hand-written HTTP, through the client
// go-swagger generated from the served OpenAPI document alone: create
// (retried under the same request id), update, submit, transmit,
// acknowledge, clarify, answer with an uploaded translation, accept,
// execute with uploaded evidence, extend the preservation, list and
// download the attachments, read the history, close.
func TestCompleteCase(t *testing.T) {
	suite := gatewaytest.StartSuite(t)
	tokens := suite.Client(t)
	prosecutor := httptransport.BearerToken(tokens.Token("kz-gpo", identity.Prosecutor))
	kzCA := httptransport.BearerToken(tokens.Token("kz-gpo", identity.CentralAuthority))
	uzCA := httptransport.BearerToken(tokens.Token("uz-247", identity.CentralAuthority))

	u, err := url.Parse(suite.BaseURL)
	if err != nil {
		t.Fatal(err)
	}
	rt := httptransport.New(u.Host, client.DefaultBasePath, []string{u.Scheme})
	// The files go as they are: their media type has no codec of its own.
	rt.Producers["application/pdf"] = runtime.ByteStreamProducer()
	rt.Consumers["application/pdf"] = runtime.ByteStreamConsumer()
	api := client.New(rt, strfmt.Default).Requests

	now := time.Now().UTC()
	start, end := strfmt.DateTime(now.Add(-72*time.Hour)), strfmt.DateTime(now.Add(-24*time.Hour))
	draft := &models.Request{
		Type: models.RequestTypeDATAPRESERVATION.Pointer(), Priority: models.PriorityURGENT.Pointer(), RequestedState: "UZ",
		LegalBasis: models.LegalBasisCISITCRIMEAGREEMENT2018.Pointer(), CaseReference: "KZ-CASE-2026-1187",
		Offence: &models.Offence{
			Description:         "Unauthorised access to the payment system of a regional bank and transfer of funds",
			LegalQualification:  "Article 205 of the Criminal Code of the Republic of Kazakhstan",
			StatuteText:         "Unlawful access to information in an information system...",
			MaximumPenaltyYears: 7,
		},
		FactsSummary: "Between 3 and 5 March the bank's payment gateway was accessed from an address hosted abroad.",
		Persons:      []*models.Person{{FullName: "Unknown person", Role: "suspect"}},
		Identifiers: []*models.Identifier{{
			Kind: models.IdentifierKindIPADDRESS.Pointer(), Value: "203.0.113.7:443", StartTime: &start, EndTime: &end,
		}},
		DataCategories: []string{"connection logs", "subscriber of the address"},
		// A preservation names who holds the data and the production
		// request that will follow (Budapest 29(2)(d), (f)).
		Custodian:        &models.Custodian{Provider: "Example Hosting LLC", Country: "UZ", Service: "virtual servers"},
		FollowUpIntended: &models.FollowUpIntended{Intended: true, ProductionType: models.RequestTypeTRAFFICDATA.Pointer()},
		NecessityAndProportionality: "The logs are the only way to identify the intruder; they are kept for 30 days only, " +
			"so preservation is needed now; only the three days of the intrusion are concerned.",
		Language:       "ru",
		UseLimitations: "For the criminal proceedings in case KZ-CASE-2026-1187 only.",
	}
	requestID := "4f7c1a52-8d0e-4a8b-9b1e-6f35c1d2e001"
	created, err := api.CreateRequest(requests.NewCreateRequestParams().WithBody(draft).WithRequestID(&requestID), prosecutor)
	if err != nil {
		t.Fatalf("create: %v", describe(err))
	}
	req := created.Payload
	if req.Name == "" || req.RequestedAgency != "agencies/uz-247" || *req.Status != models.RequestStatusDRAFT {
		t.Fatalf("created: name %q, requested agency %q, status %v", req.Name, req.RequestedAgency, *req.Status)
	}
	again, err := api.CreateRequest(requests.NewCreateRequestParams().WithBody(draft).WithRequestID(&requestID), prosecutor)
	if err != nil {
		t.Fatalf("create again: %v", describe(err))
	}
	if again.Payload.Name != req.Name {
		t.Fatalf("a retried create made a second request: %s and %s", req.Name, again.Payload.Name)
	}
	// The path parameter is the request's id, the last part of its name.
	id := strings.TrimPrefix(req.Name, "requests/")

	const facts = "Between 3 and 5 March the bank's payment gateway was accessed from an address hosted in Uzbekistan."
	updated, err := api.UpdateRequest(requests.NewUpdateRequestParams().WithRequest(id).
		WithBody(requests.UpdateRequestBody{Etag: req.Etag, FactsSummary: facts}), prosecutor)
	if err != nil {
		t.Fatalf("update: %v", describe(err))
	}
	if updated.Payload.FactsSummary != facts || len(updated.Payload.DataCategories) != 2 {
		t.Fatalf("update: facts %q, data categories %v", updated.Payload.FactsSummary, updated.Payload.DataCategories)
	}

	status := func(step string, r *models.Request, err error, want models.RequestStatus) *models.Request {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", step, describe(err))
		}
		if r.Status == nil || *r.Status != want {
			t.Fatalf("%s: status %v, want %s", step, r.Status, want)
		}
		return r
	}
	submitted, err := api.SubmitRequest(requests.NewSubmitRequestParams().WithRequest(id).WithBody(&models.SubmitRequestBody{}), prosecutor)
	status("submit", payload(submitted, err), err, models.RequestStatusSUBMITTED)
	transmitted, err := api.TransmitRequest(requests.NewTransmitRequestParams().WithRequest(id).WithBody(&models.TransmitRequestBody{}), kzCA)
	r := status("transmit", payload(transmitted, err), err, models.RequestStatusTRANSMITTED)
	if d := time.Until(time.Time(*r.Deadlines.AcknowledgeBy)); d < 23*time.Hour || d > 24*time.Hour {
		t.Errorf("urgent acknowledgement deadline is %v away, want 24h", d)
	}
	acked, err := api.AcknowledgeRequest(requests.NewAcknowledgeRequestParams().WithRequest(id).WithBody(&models.AcknowledgeRequestBody{}), uzCA)
	status("acknowledge", payload(acked, err), err, models.RequestStatusACKNOWLEDGED)
	asked, err := api.RequestClarification(requests.NewRequestClarificationParams().WithRequest(id).
		WithBody(&models.RequestClarificationBody{Questions: "Please provide the translation into Uzbek."}), uzCA)
	status("requestClarification", payload(asked, err), err, models.RequestStatusCLARIFICATIONREQUESTED)

	upload := func(who runtime.ClientAuthInfoWriter, kind models.AttachmentKind, language, filename string, content []byte) *models.Attachment {
		t.Helper()
		sum := sha256.Sum256(content)
		p := requests.NewUploadAttachmentParams().WithRequest(id).WithKind(string(kind)).
			WithContentDisposition(`attachment; filename="` + filename + `"`).
			WithReprDigest("sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":").
			WithBody(io.NopCloser(bytes.NewReader(content)))
		if language != "" {
			p.WithLanguage(&language)
		}
		ok, err := api.UploadAttachment(p, who, requests.WithContentTypeApplicationPdf)
		if err != nil {
			t.Fatalf("upload %s: %v", filename, describe(err))
		}
		if ok.Payload.Filename != filename || ok.Payload.MediaType != "application/pdf" || ok.ReprDigest == "" {
			t.Fatalf("upload %s: %+v, Repr-Digest %q", filename, ok.Payload, ok.ReprDigest)
		}
		return ok.Payload
	}
	translation := upload(prosecutor, models.AttachmentKindTRANSLATION, "uz", "tarjima.pdf", []byte("%PDF-1.7 translation into Uzbek"))
	answered, err := api.ProvideClarification(requests.NewProvideClarificationParams().WithRequest(id).
		WithBody(&models.ProvideClarificationBody{Answers: "Translation attached.", Attachments: []string{translation.Name}}), prosecutor)
	status("provideClarification", payload(answered, err), err, models.RequestStatusACKNOWLEDGED)
	accepted, err := api.AcceptRequest(requests.NewAcceptRequestParams().WithRequest(id).WithBody(&models.AcceptRequestBody{
		DualCriminality:   models.DualCriminalityNOTREQUIRED.Pointer(),
		HumanRightsReview: &models.HumanRightsReview{Concerns: false, Note: "No concerns."},
		Conditions:        "Data to be used for these proceedings only.",
	}), uzCA)
	r = status("accept", payload(accepted, err), err, models.RequestStatusACCEPTED)
	if r.Acceptance == nil || r.Acceptance.DualCriminality == nil || *r.Acceptance.DualCriminality != models.DualCriminalityNOTREQUIRED {
		t.Errorf("acceptance not recorded: %+v", r.Acceptance)
	}

	evidence := make([]byte, 3<<20+17)
	_, _ = rand.Read(evidence)
	ev := upload(uzCA, models.AttachmentKindEVIDENCE, "", "preservation-confirmation.pdf", evidence)
	executed, err := api.ExecuteRequest(requests.NewExecuteRequestParams().WithRequest(id).
		WithBody(&models.ExecuteRequestBody{ResponseSummary: "Logs of 203.0.113.7 preserved.", Attachments: []string{ev.Name}}), uzCA)
	r = status("execute", payload(executed, err), err, models.RequestStatusEXECUTED)
	expires := time.Time(*r.Deadlines.PreservationExpiresAt)
	if d := time.Until(expires); d < 89*24*time.Hour || d > 90*24*time.Hour {
		t.Errorf("preservation expires in %v, want 90 days", d)
	}
	extended, err := api.ExtendPreservation(requests.NewExtendPreservationParams().WithRequest(id).WithBody(&models.ExtendPreservationBody{}), uzCA)
	r = status("extendPreservation", payload(extended, err), err, models.RequestStatusEXECUTED)
	if d := time.Time(*r.Deadlines.PreservationExpiresAt).Sub(expires); d != 90*24*time.Hour {
		t.Errorf("extension added %v, want 90 days", d)
	}

	// The requesting side lists the attachments and downloads the
	// evidence, byte for byte.
	list, err := api.ListAttachments(requests.NewListAttachmentsParams().WithRequest(id), prosecutor)
	if err != nil {
		t.Fatalf("list attachments: %v", describe(err))
	}
	var names []string
	for _, a := range list.Payload.Attachments {
		names = append(names, a.Filename+" "+string(*a.Kind))
	}
	slices.Sort(names)
	if want := []string{"preservation-confirmation.pdf EVIDENCE", "tarjima.pdf TRANSLATION"}; !slices.Equal(names, want) {
		t.Errorf("attachments %v, want %v", names, want)
	}
	var got bytes.Buffer
	dl, err := api.DownloadAttachment(requests.NewDownloadAttachmentParams().WithRequest(id).
		WithAttachment(strings.TrimPrefix(ev.Name, req.Name+"/attachments/")), prosecutor, &got)
	if err != nil {
		t.Fatalf("download: %v", describe(err))
	}
	sum := sha256.Sum256(evidence)
	if !bytes.Equal(got.Bytes(), evidence) {
		t.Fatalf("download: %d bytes, identical false (want %d)", got.Len(), len(evidence))
	}
	if want := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"; dl.ReprDigest != want {
		t.Errorf("Repr-Digest = %q, want %q", dl.ReprDigest, want)
	}
	if !strings.Contains(dl.ContentDisposition, "preservation-confirmation.pdf") || dl.ContentLength != int64(len(evidence)) {
		t.Errorf("Content-Disposition %q, Content-Length %d", dl.ContentDisposition, dl.ContentLength)
	}

	closed, err := api.CloseRequest(requests.NewCloseRequestParams().WithRequest(id).WithBody(&models.CloseRequestBody{}), prosecutor)
	status("close", payload(closed, err), err, models.RequestStatusCLOSED)

	history, err := api.GetRequestHistory(requests.NewGetRequestHistoryParams().WithRequest(id), prosecutor)
	if err != nil {
		t.Fatalf("history: %v", describe(err))
	}
	var steps []string
	for _, ch := range history.Payload.Changes {
		steps = append(steps, ch.Action+" by "+ch.Actor.Subject+"@"+ch.Actor.Agency+" → "+string(*ch.ToStatus))
	}
	want := []string{
		"create by dev:kz-gpo:prosecutor@agencies/kz-gpo → DRAFT",
		"submit by dev:kz-gpo:prosecutor@agencies/kz-gpo → SUBMITTED",
		"transmit by dev:kz-gpo:central_authority@agencies/kz-gpo → TRANSMITTED",
		"acknowledge by dev:uz-247:central_authority@agencies/uz-247 → ACKNOWLEDGED",
		"requestClarification by dev:uz-247:central_authority@agencies/uz-247 → CLARIFICATION_REQUESTED",
		"provideClarification by dev:kz-gpo:prosecutor@agencies/kz-gpo → ACKNOWLEDGED",
		"accept by dev:uz-247:central_authority@agencies/uz-247 → ACCEPTED",
		"execute by dev:uz-247:central_authority@agencies/uz-247 → EXECUTED",
		"extendPreservation by dev:uz-247:central_authority@agencies/uz-247 → EXECUTED",
		"close by dev:kz-gpo:prosecutor@agencies/kz-gpo → CLOSED",
	}
	if !slices.Equal(steps, want) {
		t.Errorf("history:\n%s\nwant:\n%s", strings.Join(steps, "\n"), strings.Join(want, "\n"))
	}
}

// TestRefusalIsTyped checks that an error answer reaches the caller of the
// generated client as the API's google.rpc.Status, its message and
// details, not as an opaque failure: a request that does not exist.
func TestRefusalIsTyped(t *testing.T) {
	suite := gatewaytest.StartSuite(t)
	u, _ := url.Parse(suite.BaseURL)
	api := client.New(httptransport.New(u.Host, client.DefaultBasePath, []string{u.Scheme}), strfmt.Default).Requests
	tok := httptransport.BearerToken(suite.Client(t).Token("kz-gpo", identity.Prosecutor))
	_, err := api.GetRequest(requests.NewGetRequestParams().WithRequest("no-such-request"), tok)
	var refused *requests.GetRequestDefault
	if !errors.As(err, &refused) {
		t.Fatalf("GetRequest of a missing request: %v (%T), want a *requests.GetRequestDefault", err, err)
	}
	if refused.Code() != 404 || refused.Payload == nil || refused.Payload.Message == "" {
		t.Fatalf("GetRequest of a missing request: %d %+v, want 404 with a message", refused.Code(), refused.Payload)
	}
}

// payload is the request an answer of a custom method carries.
func payload[T interface{ GetPayload() *models.Request }](ok T, err error) *models.Request {
	if err != nil {
		return nil
	}
	return ok.GetPayload()
}

// describe spells out an error answer: its status and message, which the
// generated errors' own text leaves as a pointer.
func describe(err error) error {
	var st interface {
		Code() int
		GetPayload() *models.RPCStatus
	}
	if errors.As(err, &st) && st.GetPayload() != nil {
		return errors.New(strings.TrimSpace(err.Error()) + ": " + st.GetPayload().Message)
	}
	return err
}
