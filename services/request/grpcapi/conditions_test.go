package grpcapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/grpcserver"
	"github.com/comity-mla/comity/services/request"
)

// devTrust is a directory in which every agency is an active central
// authority of the state its id starts with, trusting the dev issuer.
type devTrust struct{}

func (devTrust) AgencyTrust(_ context.Context, id string) (identity.AgencyTrust, error) {
	return identity.AgencyTrust{State: strings.ToUpper(id[:2]), Kind: "CENTRAL_AUTHORITY", Active: true,
		TrustedIssuers: []string{identity.DevIssuerID}}, nil
}

// grpcSuite is the request service served over gRPC on 127.0.0.1 with the
// interceptors every deployment runs (tokens verified, input validated,
// errors mapped, refusals audited), on a SQLite store.
type grpcSuite struct {
	client  requestv1.RequestServiceClient
	dataDir string
}

func startGRPC(t *testing.T) grpcSuite {
	t.Helper()
	svc, st := sqliteService(t)
	dataDir := t.TempDir()
	dev, err := identity.EnsureDevIssuer(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := identity.NewVerifier([]identity.Issuer{dev}, devTrust{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := grpcserver.New(grpcserver.Config{Name: "request", Listener: l, Logger: zap.NewNop(), Auth: verifier,
		Audit: &grpcserver.AuditConfig{Service: "comity-request", Recorder: st}})
	if err != nil {
		t.Fatal(err)
	}
	requestv1.RegisterRequestServiceServer(srv.GRPC(), NewServer(svc))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// Wait for the health check, never a sleep.
	health := healthpb.NewHealthClient(conn)
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server is not serving: %v %v", resp.GetStatus(), err)
		}
	}
	return grpcSuite{client: requestv1.NewRequestServiceClient(conn), dataDir: dataDir}
}

// as is a context whose calls carry a dev token for subject of agency with
// role.
func (s grpcSuite) as(t *testing.T, subject, agency string, role identity.Role) context.Context {
	t.Helper()
	tok, err := identity.MintDevToken(s.dataDir, identity.TokenRequest{Agency: agency, Roles: []identity.Role{role}, Subject: subject}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
}

// violated returns err's gRPC code and the fields its details name, bad
// request or precondition, with their descriptions joined.
func violated(err error) (codes.Code, []string, string) {
	st := status.Convert(err)
	var fields, words []string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fields, words = append(fields, v.GetField()), append(words, v.GetDescription())
			}
		case *errdetails.PreconditionFailure:
			for _, v := range d.GetViolations() {
				fields, words = append(fields, v.GetSubject()), append(words, v.GetDescription())
			}
		}
	}
	return st.Code(), fields, strings.Join(words, "\n")
}

// download returns the content of attachment name as ctx's caller gets it.
func (s grpcSuite) download(ctx context.Context, name string) (string, error) {
	stream, err := s.client.DownloadAttachment(ctx, &requestv1.DownloadAttachmentRequest{Name: name})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return b.String(), nil
		}
		if err != nil {
			return "", err
		}
		b.Write(msg.GetChunk())
	}
}

// TestUseConditionsOverGRPC: DESIGN §10's use conditions as a client of
// the gRPC API sees them, with real tokens and the interceptors: bad use
// conditions refused naming use_conditions[i]; the binding conditions in
// the answer; EVIDENCE refused to the requesting side, naming each
// condition, until it acknowledges them, never to the requested side; an
// onward transfer refused under NO_ONWARD_TRANSFER and allowed once
// consent is granted; a refused consent that stays refused; a report of
// use that clears its deadline; the wrong side refused PERMISSION_DENIED.
func TestUseConditionsOverGRPC(t *testing.T) {
	s := startGRPC(t)
	c := s.client
	uz := s.as(t, "ca-uz", "uz-247", identity.CentralAuthority)
	kz := s.as(t, "ca-kz", "kz-gpo", identity.CentralAuthority)

	rec, err := c.RecordOralRequest(uz, &requestv1.RecordOralRequestRequest{
		Request: &requestv1.Request{Type: directoryv1.RequestType_DATA_PRESERVATION, Priority: directoryv1.Priority_EMERGENCY,
			EmergencyReason: "A child is missing.", FactsSummary: "Lured through a chat account.",
			Identifiers: []*requestv1.Identifier{{Kind: requestv1.Identifier_IP_ADDRESS, Value: "192.0.2.10"}}},
		RequestingAgency: "agencies/kz-gpo",
		Intake:           &requestv1.Intake{Channel: requestv1.Intake_PHONE, Caller: "A. Sadykov, KZ GPO"},
	})
	if err != nil {
		t.Fatal(err)
	}
	name := rec.GetRequest().GetName()
	now := time.Now().Truncate(time.Second)
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(d)) }
	accept := func(use ...*requestv1.Condition) *requestv1.AcceptRequestRequest {
		return &requestv1.AcceptRequestRequest{Name: name, DualCriminality: requestv1.Acceptance_NOT_REQUIRED,
			HumanRightsReview: &requestv1.HumanRightsReview{}, UseConditions: use}
	}

	_, err = c.AcceptRequest(uz, accept(&requestv1.Condition{}))
	if code, fields, _ := violated(err); code != codes.InvalidArgument || !slices.Equal(fields, []string{"use_conditions[0].kind"}) {
		t.Errorf("a condition of no kind = %v %v; want INVALID_ARGUMENT on use_conditions[0].kind", code, fields)
	}
	_, err = c.AcceptRequest(uz, accept(&requestv1.Condition{Kind: requestv1.Condition_CONFIDENTIAL},
		&requestv1.Condition{Kind: requestv1.Condition_OTHER}, &requestv1.Condition{Kind: requestv1.Condition_DELETE_BY},
		&requestv1.Condition{Kind: requestv1.Condition_REPORT_USE, DueTime: at(-time.Hour)},
		&requestv1.Condition{Kind: requestv1.Condition_RETURN, DueTime: &timestamppb.Timestamp{Seconds: -1 << 40}}))
	if code, fields, _ := violated(err); code != codes.InvalidArgument ||
		!slices.Equal(fields, []string{"use_conditions[4].due_time"}) {
		t.Errorf("a due time out of range = %v %v; want INVALID_ARGUMENT on use_conditions[4].due_time", code, fields)
	}
	_, err = c.AcceptRequest(uz, accept(&requestv1.Condition{Kind: requestv1.Condition_CONFIDENTIAL},
		&requestv1.Condition{Kind: requestv1.Condition_OTHER}, &requestv1.Condition{Kind: requestv1.Condition_DELETE_BY},
		&requestv1.Condition{Kind: requestv1.Condition_REPORT_USE, DueTime: at(-time.Hour)}))
	if code, fields, _ := violated(err); code != codes.InvalidArgument ||
		!slices.Equal(fields, []string{"use_conditions[1].text", "use_conditions[2].due_time", "use_conditions[3].due_time"}) {
		t.Errorf("bad use conditions = %v %v; want INVALID_ARGUMENT on use_conditions[1].text, [2].due_time, [3].due_time", code, fields)
	}

	use := []*requestv1.Condition{
		{Kind: requestv1.Condition_NO_ONWARD_TRANSFER, Text: "Not to third states."},
		{Kind: requestv1.Condition_DELETE_BY, DueTime: at(400 * 24 * time.Hour)},
		{Kind: requestv1.Condition_REPORT_USE, DueTime: at(30 * 24 * time.Hour)},
	}
	acc, err := c.AcceptRequest(uz, accept(use...))
	if err != nil {
		t.Fatal(err)
	}
	r := acc.GetRequest()
	if len(r.GetBindingConditions()) != 3 || r.GetBindingConditions()[0].GetText() != "Not to third states." ||
		!r.GetDeadlines().GetReportUseBy().AsTime().Equal(use[2].GetDueTime().AsTime()) ||
		!r.GetDeadlines().GetEvidenceEraseBy().AsTime().Equal(use[1].GetDueTime().AsTime()) {
		t.Errorf("accepted: binding %v deadlines %v; want the 3 use conditions binding and their deadlines", r.GetBindingConditions(), r.GetDeadlines())
	}

	content := "subscriber records"
	sum := sha256.Sum256([]byte(content))
	up, err := c.UploadAttachment(uz)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Send(&requestv1.UploadAttachmentRequest{Part: &requestv1.UploadAttachmentRequest_Metadata{Metadata: &requestv1.AttachmentUpload{
		Parent: name, Kind: requestv1.Attachment_EVIDENCE, Filename: "records.txt", MediaType: "text/plain",
		Sha256: hex.EncodeToString(sum[:]), SizeBytes: int64(len(content))}}}); err != nil {
		t.Fatal(err)
	}
	if err := up.Send(&requestv1.UploadAttachmentRequest{Part: &requestv1.UploadAttachmentRequest_Chunk{Chunk: []byte(content)}}); err != nil {
		t.Fatal(err)
	}
	att, err := up.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	evidence := att.GetAttachment().GetName()

	_, err = s.download(kz, evidence)
	code, fields, words := violated(err)
	if code != codes.FailedPrecondition || !slices.Equal(fields, []string{"binding_conditions[0]", "binding_conditions[1]", "binding_conditions[2]"}) ||
		!strings.Contains(words, "NO_ONWARD_TRANSFER (Not to third states.)") || !strings.Contains(words, ":acknowledgeConditions") {
		t.Errorf("the requesting side downloading the evidence = %v %v %q; want FAILED_PRECONDITION naming the 3 conditions and how to acknowledge them",
			code, fields, words)
	}
	if got, err := s.download(uz, evidence); err != nil || got != content {
		t.Errorf("the requested side downloading its evidence = %q, %v; want it", got, err)
	}
	if _, err := c.AcknowledgeConditions(uz, &requestv1.AcknowledgeConditionsRequest{Name: name}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("the requested side acknowledging = %v; want PERMISSION_DENIED", err)
	}
	ack, err := c.AcknowledgeConditions(kz, &requestv1.AcknowledgeConditionsRequest{Name: name, Etag: r.GetEtag()})
	if err != nil {
		t.Fatal(err)
	}
	if a := ack.GetRequest().GetConditionsAcknowledgement(); a.GetConditions() != 3 || a.GetAcknowledgedBy().GetSubject() != "ca-kz" {
		t.Errorf("acknowledgement %v; want the 3 conditions acknowledged by ca-kz", a)
	}
	if got, err := s.download(kz, evidence); err != nil || got != content {
		t.Errorf("the requesting side downloading the evidence once acknowledged = %q, %v; want it", got, err)
	}

	transfer := &requestv1.RecordOnwardTransferRequest{Name: name, Recipient: "KG GPO", Authorisation: "Joint investigation team."}
	_, err = c.RecordOnwardTransfer(kz, transfer)
	if code, fields, _ := violated(err); code != codes.FailedPrecondition || !slices.Equal(fields, []string{"consent"}) {
		t.Errorf("a transfer without consent = %v %v; want FAILED_PRECONDITION on consent", code, fields)
	}
	_, err = c.RequestConsent(kz, &requestv1.RequestConsentRequest{Name: name, Kind: requestv1.Consent_ONWARD_TRANSFER, Purpose: "The joint team."})
	if code, fields, _ := violated(err); code != codes.InvalidArgument || !slices.Equal(fields, []string{"recipient"}) {
		t.Errorf("an onward transfer consent to no one = %v %v; want INVALID_ARGUMENT on recipient", code, fields)
	}
	for _, recipient := range []string{"TJ GP", "KG GPO"} {
		if _, err := c.RequestConsent(kz, &requestv1.RequestConsentRequest{Name: name, Kind: requestv1.Consent_ONWARD_TRANSFER,
			Purpose: "The joint team.", Recipient: recipient}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GrantConsent(kz, &requestv1.GrantConsentRequest{Name: name, Consent: 2}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("the requesting side granting = %v; want PERMISSION_DENIED", err)
	}
	if _, err := c.RefuseConsent(uz, &requestv1.RefuseConsentRequest{Name: name, Consent: 1, Reason: "TJ is not in the team."}); err != nil {
		t.Fatal(err)
	}
	granted, err := c.GrantConsent(uz, &requestv1.GrantConsentRequest{Name: name, Consent: 2, Terms: "For the team only."})
	if err != nil {
		t.Fatal(err)
	}
	if cs := granted.GetRequest().GetConsents(); len(cs) != 2 || cs[0].GetDecision() != requestv1.Consent_REFUSED ||
		cs[1].GetDecision() != requestv1.Consent_GRANTED || cs[1].GetAnswer() != "For the team only." || cs[1].GetNumber() != 2 {
		t.Errorf("consents %v; want 1 REFUSED, 2 GRANTED with its terms", cs)
	}
	if _, err := c.GrantConsent(uz, &requestv1.GrantConsentRequest{Name: name, Consent: 1}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("granting the refused consent = %v; want FAILED_PRECONDITION", err)
	}
	transfer.Consent = 1
	if _, err := c.RecordOnwardTransfer(kz, transfer); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("a transfer on the refused consent = %v; want FAILED_PRECONDITION", err)
	}
	transfer.Consent = 2
	moved, err := c.RecordOnwardTransfer(kz, transfer)
	if err != nil {
		t.Fatal(err)
	}
	if ot := moved.GetRequest().GetOnwardTransfers(); len(ot) != 1 || ot[0].GetConsent() != 2 || ot[0].GetRecipient() != "KG GPO" {
		t.Errorf("onward transfers %v; want the transfer to KG GPO on consent 2", ot)
	}

	if _, err := c.ReportUse(kz, &requestv1.ReportUseRequest{Name: name}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a report without text = %v; want INVALID_ARGUMENT", err)
	}
	reported, err := c.ReportUse(kz, &requestv1.ReportUseRequest{Name: name, Text: "Used to find the child; no trial yet."})
	if err != nil {
		t.Fatal(err)
	}
	if got := reported.GetRequest(); got.GetDeadlines().GetReportUseBy() != nil || len(got.GetUseReports()) != 1 || got.GetOverdue() {
		t.Errorf("reported: report_use_by %v, reports %v, overdue %v; want no deadline, the report", got.GetDeadlines().GetReportUseBy(), got.GetUseReports(), got.GetOverdue())
	}
	if _, err := c.ReportUse(uz, &requestv1.ReportUseRequest{Name: name, Text: "x"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("the requested side reporting use = %v; want PERMISSION_DENIED", err)
	}
}

// TestBindingConditionsToProto: binding_conditions are those of an
// accepted proposal, then the acceptance's use conditions; a pending
// proposal binds nothing.
func TestBindingConditionsToProto(t *testing.T) {
	due := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	r := request.Request{ID: "r1", Status: request.Accepted,
		ConditionsProposal: &request.ConditionsProposal{Decision: "ACCEPTED", Conditions: []request.Condition{{Kind: request.ReturnBy, DueTime: due}}},
		Acceptance:         &request.Acceptance{UseConditions: []request.Condition{{Kind: request.OtherCondition, Text: "Tell us the verdict."}}},
	}
	want := []*requestv1.Condition{{Kind: requestv1.Condition_RETURN, DueTime: timestamppb.New(due)},
		{Kind: requestv1.Condition_OTHER, Text: "Tell us the verdict."}}
	got := RequestToProto(request.View{Request: r}).GetBindingConditions()
	if !slices.EqualFunc(got, want, func(a, b *requestv1.Condition) bool { return proto.Equal(a, b) }) {
		t.Errorf("binding conditions %v, want %v", got, want)
	}
	r.ConditionsProposal.Decision = "PENDING"
	if got := RequestToProto(request.View{Request: r}).GetBindingConditions(); len(got) != 1 || got[0].GetKind() != requestv1.Condition_OTHER {
		t.Errorf("with the proposal pending: %v; want the acceptance's condition only", got)
	}
}

// TestConsentKindsAreTheProtos: the domain's kinds of consent are exactly
// the proto's set values.
func TestConsentKindsAreTheProtos(t *testing.T) {
	var protos []string
	values := requestv1.Consent_KIND_UNSPECIFIED.Descriptor().Values()
	for i := range values.Len() {
		if v := values.Get(i); v.Number() != 0 {
			protos = append(protos, string(v.Name()))
		}
	}
	if !slices.Equal(protos, request.ConsentKinds) {
		t.Errorf("the domain's %v, the proto's %v", request.ConsentKinds, protos)
	}
}
