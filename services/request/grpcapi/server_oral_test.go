package grpcapi

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/fsblob"
	"github.com/comity-mla/comity/services/request/store"
)

// twoStates is a directory of active agencies named after their state
// (kz-gpo, uz-247), each receiving every type in Russian.
type twoStates struct{}

func (twoStates) Agency(_ context.Context, id string) (directory.Agency, error) {
	return directory.Agency{ID: id, State: strings.ToUpper(id[:2]), Active: true, Receives: cooperation.RequestTypes, AcceptedLanguages: []string{"ru"}}, nil
}

func (d twoStates) ResolveRouteUnder(ctx context.Context, st string, _ cooperation.RequestType, _ cooperation.Priority, _ string) (directory.Agency, error) {
	return d.Agency(ctx, strings.ToLower(st)+"-247")
}

// Instruments records nothing between the two states: every legal basis
// is of unknown status.
func (twoStates) Instruments(_ context.Context, from, to string) (directory.Treaties, error) {
	return directory.Treaties{Requesting: directory.State{Code: from}, Requested: directory.State{Code: to}}, nil
}

func (twoStates) Retention(context.Context, string) (time.Duration, bool, error) {
	return 0, false, nil
}

func (twoStates) PreservationDualCriminalityReservation(context.Context, string) (bool, error) {
	return false, nil
}

func (twoStates) AgencyTrust(_ context.Context, id string) (identity.AgencyTrust, error) {
	return identity.AgencyTrust{State: strings.ToUpper(id[:2]), Kind: "CENTRAL_AUTHORITY", Active: true}, nil
}

// oralServer is a Server on a SQLite store.
func oralServer(t *testing.T) *Server {
	svc, _ := sqliteService(t)
	return NewServer(svc)
}

// sqliteService is a Service on a SQLite store and a blob store in tb's
// temporary directory, with the two-state directory, and its store.
func sqliteService(tb testing.TB) (*request.Service, *store.Store) {
	tb.Helper()
	db, err := sqlitedb.Open(tb.Context(), filepath.Join(tb.TempDir(), "requests.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	st, err := store.New(tb.Context(), sqldb.FromSQLite(db))
	if err != nil {
		tb.Fatal(err)
	}
	blobs, err := fsblob.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := request.NewService(request.Config{Store: st, Blobs: blobs, Directory: twoStates{}, Trust: twoStates{}})
	if err != nil {
		tb.Fatal(err)
	}
	return svc, st
}

func as(t *testing.T, subject, agency string, role identity.Role) context.Context {
	return identity.NewContext(t.Context(), identity.Principal{Subject: subject, Agency: agency, State: strings.ToUpper(agency[:2]),
		Roles: []identity.Role{role}})
}

// fields are the field paths of err's violations.
func fields(err error) []string {
	var e *errs.Error
	if !errors.As(err, &e) {
		return nil
	}
	var out []string
	for _, v := range e.Violations {
		out = append(out, v.Field)
	}
	return out
}

// TestOralRequestCalls: the API of DESIGN §5.3–§5.5 as a client sees it:
// the intake and the confirmation deadline in the answer, errors naming the
// call's fields, the confirmation by update mask, the confidentiality
// declaration and the transfer.
func TestOralRequestCalls(t *testing.T) {
	s := oralServer(t)
	uz := as(t, "ca-uz", "uz-247", identity.CentralAuthority)
	kz := as(t, "p-kz", "kz-gpo", identity.Prosecutor)
	call := func() *requestv1.RecordOralRequestRequest {
		return &requestv1.RecordOralRequestRequest{
			Request: &requestv1.Request{Type: directoryv1.RequestType_DATA_PRESERVATION, Priority: directoryv1.Priority_EMERGENCY,
				EmergencyReason: "A child is missing.", FactsSummary: "Lured through a chat account.",
				Identifiers: []*requestv1.Identifier{{Kind: requestv1.Identifier_IP_ADDRESS, Value: "192.0.2.10"}}},
			RequestingAgency: "agencies/kz-gpo",
			Intake:           &requestv1.Intake{Channel: requestv1.Intake_PHONE, Caller: "A. Sadykov, KZ GPO"},
		}
	}

	bad := call()
	bad.Intake.Channel, bad.Request.Type = requestv1.Intake_PORTAL, 0
	if _, err := s.RecordOralRequest(uz, bad); errs.CodeOf(err) != errs.Invalid || !slices.Equal(fields(err), []string{"intake.channel"}) {
		t.Errorf("from the portal = %v %v; want INVALID_ARGUMENT on intake.channel", err, fields(err))
	}
	bad = call()
	bad.Request.Type = 0
	if _, err := s.RecordOralRequest(uz, bad); errs.CodeOf(err) != errs.Invalid || !slices.Equal(fields(err), []string{"request.type"}) {
		t.Errorf("no type = %v %v; want INVALID_ARGUMENT on request.type", err, fields(err))
	}
	bad = call()
	bad.Intake.ReceivedTime = &timestamppb.Timestamp{Seconds: -1 << 40}
	if _, err := s.RecordOralRequest(uz, bad); errs.CodeOf(err) != errs.Invalid || !slices.Equal(fields(err), []string{"intake.received_time"}) {
		t.Errorf("a time out of range = %v %v; want INVALID_ARGUMENT on intake.received_time", err, fields(err))
	}

	resp, err := s.RecordOralRequest(uz, call())
	if err != nil {
		t.Fatal(err)
	}
	r := resp.GetRequest()
	switch {
	case r.GetStatus() != requestv1.Request_ACKNOWLEDGED || r.GetOwner() != "" || r.GetRequestingAgency() != "agencies/kz-gpo" || r.GetRequestedAgency() != "agencies/uz-247":
		t.Errorf("recorded: %v owner %q from %s to %s", r.GetStatus(), r.GetOwner(), r.GetRequestingAgency(), r.GetRequestedAgency())
	case r.GetIntake().GetChannel() != requestv1.Intake_PHONE || r.GetIntake().GetRecordedBy().GetSubject() != "ca-uz" ||
		r.GetIntake().GetReceivedTime() == nil || r.GetIntake().GetConfirmTime() != nil || r.GetIntake().GetConfirmedBy() != nil:
		t.Errorf("intake %v; want the call, recorded by ca-uz, not confirmed", r.GetIntake())
	case r.GetDeadlines().GetConfirmationDueBy().AsTime().Sub(r.GetIntake().GetReceivedTime().AsTime()).Hours() != 72:
		t.Errorf("deadlines %v; want confirmation 72 h after the call", r.GetDeadlines())
	}
	name := r.GetName()
	// The requested side is told it may not confirm before anything it
	// sends is looked at.
	if err := s.Preauthorize(uz, "", &requestv1.ConfirmInWritingRequest{Name: name}); errs.CodeOf(err) != errs.PermissionDenied {
		t.Errorf("preauthorizing the requested CA's confirmation = %v; want PERMISSION_DENIED", err)
	}

	confirm := &requestv1.ConfirmInWritingRequest{Name: name, Request: &requestv1.Request{
		LegalBasis: requestv1.Request_CHISINAU_CONVENTION_2002, Language: "ru",
		Offence:                     &requestv1.Offence{Description: "Grooming", LegalQualification: "Article 134", MaximumPenaltyYears: 10},
		NecessityAndProportionality: strings.Repeat("The chat logs are the only trace of who lured the child. ", 3),
		Confidentiality:             &requestv1.Confidentiality{Request: true},
		Custodian:                   &requestv1.Custodian{Provider: "Example Telecom LLC", Country: "UZ"},
		FollowUpIntended:            &requestv1.FollowUpIntended{Intended: true, ProductionType: directoryv1.RequestType_TRAFFIC_DATA},
	}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"legal_basis", "language", "offence", "necessityAndProportionality", "confidentiality",
		"custodian", "followUpIntended"}}}
	_, err = s.ConfirmInWriting(kz, confirm)
	if errs.CodeOf(err) != errs.FailedPrecondition || !slices.Equal(fields(err), []string{"request.confidentiality.reason"}) {
		t.Errorf("confidential without a reason = %v %v; want FAILED_PRECONDITION on request.confidentiality.reason", err, fields(err))
	}
	confirm.Request.Confidentiality.Reason = "The suspect would flee."
	c, err := s.ConfirmInWriting(kz, confirm)
	if err != nil {
		t.Fatal(err)
	}
	if cr := c.GetRequest(); cr.GetOwner() != "p-kz" || cr.GetIntake().GetConfirmedBy().GetSubject() != "p-kz" || cr.GetIntake().GetConfirmTime() == nil ||
		cr.GetDeadlines().GetConfirmationDueBy() != nil || !cr.GetConfidential() || cr.GetFactsSummary() != "Lured through a chat account." {
		t.Errorf("confirmed: owner %q intake %v deadlines %v confidential %v facts %q", cr.GetOwner(), cr.GetIntake(), cr.GetDeadlines(),
			cr.GetConfidential(), cr.GetFactsSummary())
	}
	if _, err := s.ConfirmInWriting(kz, confirm); errs.CodeOf(err) != errs.FailedPrecondition || !slices.Equal(fields(err), []string{"intake.confirm_time"}) {
		t.Errorf("confirmed twice = %v %v; want FAILED_PRECONDITION on intake.confirm_time", err, fields(err))
	}

	d, err := s.DeclareConfidentialityImpossible(uz, &requestv1.DeclareConfidentialityImpossibleRequest{Name: name, Explanation: "Notification is mandatory."})
	if err != nil {
		t.Fatal(err)
	}
	if dr := d.GetRequest(); dr.GetStatus() != requestv1.Request_AWAITING_REQUESTER_DECISION ||
		dr.GetConfidentialityDeclaration().GetResumeStatus() != requestv1.Request_ACKNOWLEDGED {
		t.Errorf("declared: %v %v", dr.GetStatus(), dr.GetConfidentialityDeclaration())
	}
	p, err := s.ProceedRequest(kz, &requestv1.ProceedRequestRequest{Name: name})
	if err != nil || p.GetRequest().GetStatus() != requestv1.Request_ACKNOWLEDGED || p.GetRequest().GetConfidentialityDeclaration().GetProceedTime() == nil {
		t.Errorf("proceeded: %v, %v", p.GetRequest().GetConfidentialityDeclaration(), err)
	}
	tr, err := s.TransferOwnership(kz, &requestv1.TransferOwnershipRequest{Name: name, Owner: "p-kz-2", Reason: "Leave."})
	if err != nil || tr.GetRequest().GetOwner() != "p-kz-2" {
		t.Errorf("transferred: owner %q, %v", tr.GetRequest().GetOwner(), err)
	}
}

// TestConfirmInWritingWithNothingToAdd: a call recorded with every field a
// written request has is confirmed as it stands, by a confirmation that
// sends no request: the recorded fields stay (none is taken as cleared).
func TestConfirmInWritingWithNothingToAdd(t *testing.T) {
	s := oralServer(t)
	uz := as(t, "ca-uz", "uz-247", identity.CentralAuthority)
	kz := as(t, "p-kz", "kz-gpo", identity.Prosecutor)
	resp, err := s.RecordOralRequest(uz, &requestv1.RecordOralRequestRequest{
		Request: &requestv1.Request{Type: directoryv1.RequestType_DATA_PRESERVATION, Priority: directoryv1.Priority_EMERGENCY,
			EmergencyReason: "A child is missing.", FactsSummary: "Lured through a chat account.",
			Identifiers: []*requestv1.Identifier{{Kind: requestv1.Identifier_IP_ADDRESS, Value: "192.0.2.10"}},
			LegalBasis:  requestv1.Request_CHISINAU_CONVENTION_2002, Language: "ru",
			Offence:                     &requestv1.Offence{Description: "Grooming", LegalQualification: "Article 134", MaximumPenaltyYears: 10},
			NecessityAndProportionality: strings.Repeat("The chat logs are the only trace of who lured the child. ", 3),
			Custodian:                   &requestv1.Custodian{Provider: "Example Telecom LLC", Country: "UZ"},
			FollowUpIntended:            &requestv1.FollowUpIntended{Intended: true, ProductionType: directoryv1.RequestType_TRAFFIC_DATA}},
		RequestingAgency: "agencies/kz-gpo",
		Intake:           &requestv1.Intake{Channel: requestv1.Intake_PHONE, Caller: "A. Sadykov, KZ GPO"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.ConfirmInWriting(kz, &requestv1.ConfirmInWritingRequest{Name: resp.GetRequest().GetName()})
	if err != nil {
		t.Fatalf("confirming a complete record as it stands: %v %v", err, fields(err))
	}
	if cr := c.GetRequest(); cr.GetOwner() != "p-kz" || cr.GetIntake().GetConfirmTime() == nil || cr.GetFactsSummary() != "Lured through a chat account." ||
		cr.GetOffence().GetDescription() != "Grooming" || cr.GetCustodian().GetProvider() != "Example Telecom LLC" {
		t.Errorf("confirmed as it stands: %v", cr)
	}
}
