package grpcapi

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/grpcserver"
	"github.com/comity-mla/comity/services/platform/grpcserver/healthtest"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/fsblob"
	"github.com/comity-mla/comity/services/request/store"
	"github.com/comity-mla/comity/services/trail"
)

// kindsTrust is the directory as the token verifier asks it: every agency
// active, trusting issuer, of the kind its id ends with (-ca a central
// authority, -gpo a prosecution, -aud oversight).
type kindsTrust struct{ issuer string }

func (k kindsTrust) AgencyTrust(_ context.Context, id string) (identity.AgencyTrust, error) {
	kind := "PROSECUTION"
	switch {
	case strings.HasSuffix(id, "-ca"):
		kind = "CENTRAL_AUTHORITY"
	case strings.HasSuffix(id, "-aud"):
		kind = "OVERSIGHT"
	}
	return identity.AgencyTrust{State: strings.ToUpper(id[:2]), Kind: kind, Active: true, TrustedIssuers: []string{k.issuer}}, nil
}

// liveAPI is the request service served over gRPC on 127.0.0.1, with real
// tokens of a development issuer.
type liveAPI struct {
	client  requestv1.RequestServiceClient
	store   *store.Store
	dataDir string
}

func startAPI(t *testing.T) *liveAPI {
	t.Helper()
	dir := t.TempDir()
	dev, err := identity.EnsureDevIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := identity.NewVerifier([]identity.Issuer{dev}, kindsTrust{issuer: dev.ID})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlitedb.Open(t.Context(), filepath.Join(dir, "requests.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := store.New(t.Context(), sqldb.FromSQLite(db))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := fsblob.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := request.NewService(request.Config{Store: st, Blobs: blobs, Directory: twoStates{}, Trust: twoStates{}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := grpcserver.New(grpcserver.Config{Name: "request", Listener: lis, Logger: zaptest.NewLogger(t), Auth: verifier,
		Audit: &grpcserver.AuditConfig{Service: "comity-request", Recorder: st, DigestKey: make(trail.DigestKey, trail.DigestKeySize)}})
	if err != nil {
		t.Fatal(err)
	}
	requestv1.RegisterRequestServiceServer(srv.GRPC(), NewServer(svc))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	healthtest.WaitServing(t, conn, 10*time.Second, done)
	return &liveAPI{client: requestv1.NewRequestServiceClient(conn), store: st, dataDir: dir}
}

// as returns a context calling with a token for subject at agency with role.
func (a *liveAPI) as(t *testing.T, subject, agency string, role identity.Role) context.Context {
	t.Helper()
	tok, err := identity.MintDevToken(a.dataDir, identity.TokenRequest{Agency: agency, Roles: []identity.Role{role}, Subject: subject}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
}

// events returns the events in the outbox on resource.
func (a *liveAPI) events(t *testing.T, resource string) []trail.Event {
	t.Helper()
	entries, err := a.store.PendingEvents(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []trail.Event
	for _, e := range entries {
		if e.Event.Resource == resource {
			out = append(out, e.Event)
		}
	}
	return out
}

// violationFields are the fields of a gRPC error's BadRequest details.
func violationFields(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

// TestDataSubjectRequestOverGRPC: a central authority records a person's
// request on one of its state's cases, defers it, then grants it, and
// records that the person was informed, as a client sees it over gRPC;
// bad inputs are refused naming their fields, a stale etag is ABORTED,
// and another state's central authority finds nothing.
func TestDataSubjectRequestOverGRPC(t *testing.T) {
	api := startAPI(t)
	ca := api.as(t, "ca-kz", "kz-ca", identity.CentralAuthority)
	prosecutor := api.as(t, "p-kz", "kz-gpo", identity.Prosecutor)
	uzCA := api.as(t, "ca-uz", "uz-ca", identity.CentralAuthority)

	created, err := api.client.CreateRequest(prosecutor, &requestv1.CreateRequestRequest{Request: &requestv1.Request{
		Type: directoryv1.RequestType_SUBSCRIBER_INFORMATION, Priority: directoryv1.Priority_ROUTINE, RequestedState: "UZ",
		FactsSummary: "An account was used for fraud."}})
	if err != nil {
		t.Fatal(err)
	}
	received := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	in := func() *requestv1.DataSubjectRequest {
		return &requestv1.DataSubjectRequest{
			Person:      &requestv1.DataSubject{FullName: "Aidar Example", DateOfBirth: "1990-05-17"},
			Right:       requestv1.DataSubjectRequest_ACCESS,
			Requests:    []string{created.GetRequest().GetName()},
			ReceiveTime: timestamppb.New(received),
			Description: "He asks what is held on him.",
		}
	}

	for _, tc := range []struct {
		name   string
		change func(*requestv1.DataSubjectRequest)
		code   codes.Code
		field  string
	}{
		{"no person", func(d *requestv1.DataSubjectRequest) { d.Person = nil }, codes.InvalidArgument, "data_subject_request.person"},
		{"no right", func(d *requestv1.DataSubjectRequest) { d.Right = 0 }, codes.InvalidArgument, "data_subject_request.right"},
		{"received in the future", func(d *requestv1.DataSubjectRequest) { d.ReceiveTime = timestamppb.New(time.Now().Add(time.Hour)) },
			codes.InvalidArgument, "data_subject_request.receive_time"},
		{"not a request name", func(d *requestv1.DataSubjectRequest) { d.Requests = []string{"cases/1"} },
			codes.InvalidArgument, "data_subject_request.requests[0]"},
		{"an unknown request", func(d *requestv1.DataSubjectRequest) { d.Requests = append(d.Requests, "requests/no-such") },
			codes.InvalidArgument, "data_subject_request.requests[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := in()
			tc.change(d)
			_, err := api.client.CreateDataSubjectRequest(ca, &requestv1.CreateDataSubjectRequestRequest{DataSubjectRequest: d})
			if status.Code(err) != tc.code || !slices.Contains(violationFields(err), tc.field) {
				t.Errorf("= %v; want %v naming %s", err, tc.code, tc.field)
			}
		})
	}
	if _, err := api.client.CreateDataSubjectRequest(prosecutor, &requestv1.CreateDataSubjectRequestRequest{DataSubjectRequest: in()}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a prosecutor records: %v; want PERMISSION_DENIED", err)
	}

	resp, err := api.client.CreateDataSubjectRequest(ca, &requestv1.CreateDataSubjectRequestRequest{DataSubjectRequest: in()})
	if err != nil {
		t.Fatal(err)
	}
	d := resp.GetDataSubjectRequest()
	switch {
	case !strings.HasPrefix(d.GetName(), "dataSubjectRequests/"), d.GetState() != "KZ", d.GetAgency() != "agencies/kz-ca",
		d.GetPerson().GetFullName() != "Aidar Example", d.GetRight() != requestv1.DataSubjectRequest_ACCESS,
		!slices.Equal(d.GetRequests(), []string{created.GetRequest().GetName()}), !d.GetReceiveTime().AsTime().Equal(received),
		d.GetRecordedBy().GetSubject() != "ca-kz", d.GetRecordedBy().GetAgency() != "agencies/kz-ca", d.GetDecision() != nil, d.GetEtag() == "":
		t.Fatalf("recorded %v", d)
	}

	review := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	if _, err := api.client.DecideDataSubjectRequest(ca, &requestv1.DecideDataSubjectRequestRequest{Name: d.GetName(),
		Decision: &requestv1.DataSubjectDecision{Decision: requestv1.DataSubjectDecision_DEFERRED, Reasons: "covert"}}); status.Code(err) != codes.InvalidArgument ||
		!slices.Equal(violationFields(err), []string{"decision.review_time"}) {
		t.Errorf("a deferral without a review date: %v; want INVALID_ARGUMENT naming decision.review_time", err)
	}
	deferred, err := api.client.DecideDataSubjectRequest(ca, &requestv1.DecideDataSubjectRequestRequest{Name: d.GetName(), Etag: d.GetEtag(),
		Decision: &requestv1.DataSubjectDecision{Decision: requestv1.DataSubjectDecision_DEFERRED, Reasons: "Telling him now would warn the suspects.",
			ReviewTime: timestamppb.New(review)}})
	if err != nil {
		t.Fatal(err)
	}
	dd := deferred.GetDataSubjectRequest()
	if dd.GetDecision().GetDecision() != requestv1.DataSubjectDecision_DEFERRED || !dd.GetDecision().GetReviewTime().AsTime().Equal(review) ||
		dd.GetDecision().GetDecidedBy().GetSubject() != "ca-kz" || len(dd.GetDecisions()) != 1 || dd.GetOverdue() || dd.GetEtag() == d.GetEtag() {
		t.Errorf("deferred: %v", dd)
	}
	if _, err := api.client.DecideDataSubjectRequest(ca, &requestv1.DecideDataSubjectRequestRequest{Name: d.GetName(), Etag: d.GetEtag(),
		Decision: &requestv1.DataSubjectDecision{Decision: requestv1.DataSubjectDecision_GRANTED}}); status.Code(err) != codes.Aborted {
		t.Errorf("a decision with the etag before the deferral: %v; want ABORTED", err)
	}
	granted, err := api.client.DecideDataSubjectRequest(ca, &requestv1.DecideDataSubjectRequestRequest{Name: d.GetName(), Etag: dd.GetEtag(),
		Decision: &requestv1.DataSubjectDecision{Decision: requestv1.DataSubjectDecision_GRANTED}})
	if err != nil {
		t.Fatal(err)
	}
	if g := granted.GetDataSubjectRequest(); g.GetDecision().GetDecision() != requestv1.DataSubjectDecision_GRANTED || len(g.GetDecisions()) != 2 ||
		g.GetDecisions()[0].GetDecision() != requestv1.DataSubjectDecision_DEFERRED {
		t.Errorf("granted: decision %v, decisions %v; want GRANTED after the deferral", g.GetDecision(), g.GetDecisions())
	}
	informed, err := api.client.RecordDataSubjectInforming(ca, &requestv1.RecordDataSubjectInformingRequest{Name: d.GetName(),
		Informing: &requestv1.DataSubjectInforming{Status: requestv1.DataSubjectInforming_DONE}})
	if err != nil {
		t.Fatal(err)
	}
	if in := informed.GetDataSubjectRequest().GetInforming(); in.GetStatus() != requestv1.DataSubjectInforming_DONE || in.GetRecordedBy().GetSubject() != "ca-kz" {
		t.Errorf("informing %v", in)
	}

	got, err := api.client.GetDataSubjectRequest(ca, &requestv1.GetDataSubjectRequestRequest{Name: d.GetName()})
	if err != nil || len(got.GetDataSubjectRequest().GetDecisions()) != 2 {
		t.Fatalf("read back: %v, %v", got, err)
	}
	if _, err := api.client.GetDataSubjectRequest(uzCA, &requestv1.GetDataSubjectRequestRequest{Name: d.GetName()}); status.Code(err) != codes.NotFound {
		t.Errorf("UZ's central authority reads KZ's: %v; want NOT_FOUND", err)
	}
	if _, err := api.client.GetDataSubjectRequest(ca, &requestv1.GetDataSubjectRequestRequest{Name: "requests/" + strings.TrimPrefix(d.GetName(), "dataSubjectRequests/")}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a request's name: %v; want INVALID_ARGUMENT", err)
	}
	list, err := api.client.ListDataSubjectRequests(uzCA, &requestv1.ListDataSubjectRequestsRequest{})
	if err != nil || len(list.GetDataSubjectRequests()) != 0 {
		t.Errorf("UZ's list: %v, %v; want none", list, err)
	}

	// Every change and the read: one event each, on KZ's trail, with the
	// method called; the refused calls on it too, UZ's attempt included
	// (on KZ's trail, and as the caller's view on UZ's: trail.RefusalEvents).
	var actions []string
	for _, e := range api.events(t, d.GetName()) {
		action := strings.TrimPrefix(e.Action, "/comity.request.v1.RequestService/") + " " + strings.Join(e.States, ",")
		switch {
		case e.Outcome == "OK" && e.Actor.Subject == "ca-kz":
		case e.Outcome == "OK":
			t.Errorf("event %+v; want ca-kz's", e)
		default:
			action += " " + e.Outcome + " " + e.Actor.Subject
		}
		actions = append(actions, action)
	}
	want := []string{"CreateDataSubjectRequest KZ", "DecideDataSubjectRequest KZ INVALID_ARGUMENT ca-kz", "DecideDataSubjectRequest KZ",
		"DecideDataSubjectRequest KZ ABORTED ca-kz", "DecideDataSubjectRequest KZ", "RecordDataSubjectInforming KZ", "GetDataSubjectRequest KZ",
		"GetDataSubjectRequest UZ NOT_FOUND ca-uz", "GetDataSubjectRequest KZ NOT_FOUND ca-uz"}
	if !slices.Equal(actions, want) {
		t.Errorf("events %q; want %q", actions, want)
	}
}

// TestDataSubjectRequestListPages: the list is newest first, in pages
// whose token carries on where the last stopped.
func TestDataSubjectRequestListPages(t *testing.T) {
	api := startAPI(t)
	ca := api.as(t, "ca-kz", "kz-ca", identity.CentralAuthority)
	var names []string
	for i := range 5 {
		resp, err := api.client.CreateDataSubjectRequest(ca, &requestv1.CreateDataSubjectRequestRequest{DataSubjectRequest: &requestv1.DataSubjectRequest{
			Person: &requestv1.DataSubject{FullName: "Person"}, Right: requestv1.DataSubjectRequest_ERASURE,
			ReceiveTime: timestamppb.New(time.Now().Add(-time.Duration(10-i) * time.Hour)),
		}})
		if err != nil {
			t.Fatal(err)
		}
		names = append([]string{resp.GetDataSubjectRequest().GetName()}, names...)
	}
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatalf("more pages than 5 records in pages of 2 make")
		}
		resp, err := api.client.ListDataSubjectRequests(ca, &requestv1.ListDataSubjectRequestsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range resp.GetDataSubjectRequests() {
			got = append(got, d.GetName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if !slices.Equal(got, names) {
		t.Errorf("listed %q; want the newest first, %q", got, names)
	}
	if _, err := api.client.ListDataSubjectRequests(ca, &requestv1.ListDataSubjectRequestsRequest{PageToken: "not a token"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a bad page token: %v; want INVALID_ARGUMENT", err)
	}
}
