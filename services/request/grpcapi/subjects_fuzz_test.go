package grpcapi

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

// FuzzDataSubjectRequest feeds the data subjects' requests handlers
// arbitrary inputs, past the API's own checks (protovalidate), on a real
// SQLite store: a create, then a decision and an informing on what it
// made. Each call either succeeds, and then what was sent is what reads
// back, or is refused as INVALID_ARGUMENT with violations that each name a
// field of the call and say what is wrong; nothing is an internal error.
func FuzzDataSubjectRequest(f *testing.F) {
	f.Add("Aidar Example", "1990-05-17", "by post", "What do you hold?", int32(1), int64(-3600), int32(0), "own", int32(1), "", int64(0), int32(1), "")
	f.Add("A", "", "", "", int32(3), int64(-1), int32(999_999_999), "", int32(2), "covert", int64(86400), int32(2), "later")
	f.Add("", "x", "", "", int32(0), int64(0), int32(0), "requests/none", int32(4), "", int64(-60), int32(0), "")
	f.Add("N\x00UL", "", "", "", int32(9), int64(1<<40), int32(-1), "requests/", int32(-1), "\x00", int64(1<<40), int32(7), "\x00")
	f.Add("Name", "", "", "", int32(2), int64(-60), int32(0), "own,own", int32(3), "partly", int64(3600), int32(1), "")
	s := sqliteServer(f)
	own, err := s.CreateRequest(identity.NewContext(f.Context(), identity.Principal{Subject: "p-kz", Agency: "kz-gpo", State: "KZ",
		Roles: []identity.Role{identity.Prosecutor}}), &requestv1.CreateRequestRequest{Request: &requestv1.Request{
		Type: directoryv1.RequestType_SUBSCRIBER_INFORMATION, Priority: directoryv1.Priority_ROUTINE, RequestedState: "UZ"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, dob, contact, description string, right int32, receiveAgo int64, nanos int32, requests string,
		decision int32, reasons string, reviewIn int64, informing int32, informReasons string) {
		for _, s := range []string{name, dob, contact, description, requests, reasons, informReasons} {
			if !utf8.ValidString(s) {
				// A proto string is UTF-8 on the wire: the transport
				// refuses such a message before any handler.
				return
			}
		}
		ca := as(t, "ca-kz", "kz-gpo", identity.CentralAuthority)
		var names []string
		if requests != "" {
			names = strings.Split(strings.ReplaceAll(requests, "own", own.GetRequest().GetName()), ",")
		}
		now := time.Now()
		in := &requestv1.DataSubjectRequest{
			Person: &requestv1.DataSubject{FullName: name, DateOfBirth: dob, Contact: contact}, Right: requestv1.DataSubjectRequest_Right(right),
			Requests: names, ReceiveTime: &timestamppb.Timestamp{Seconds: now.Unix() - receiveAgo, Nanos: nanos}, Description: description,
		}
		created, err := s.CreateDataSubjectRequest(ca, &requestv1.CreateDataSubjectRequestRequest{DataSubjectRequest: in})
		if err != nil {
			refusedNaming(t, "create", err, "data_subject_request.")
			return
		}
		d := created.GetDataSubjectRequest()
		if d.GetPerson().GetFullName() != name || d.GetPerson().GetContact() != contact || d.GetDescription() != description ||
			d.GetRight() != in.GetRight() || strings.Join(d.GetRequests(), ",") != strings.Join(names, ",") ||
			!d.GetReceiveTime().AsTime().Equal(in.GetReceiveTime().AsTime().Truncate(time.Microsecond)) {
			t.Fatalf("sent %v\nrecorded %v", in, d)
		}
		got, err := s.GetDataSubjectRequest(ca, &requestv1.GetDataSubjectRequestRequest{Name: d.GetName()})
		if err != nil || got.GetDataSubjectRequest().GetEtag() != d.GetEtag() || got.GetDataSubjectRequest().GetPerson().GetFullName() != name {
			t.Fatalf("read back %v, %v; want what was recorded", got, err)
		}

		dec := &requestv1.DataSubjectDecision{Decision: requestv1.DataSubjectDecision_Decision(decision), Reasons: reasons}
		if reviewIn != 0 {
			dec.ReviewTime = &timestamppb.Timestamp{Seconds: now.Unix() + reviewIn}
		}
		decided, err := s.DecideDataSubjectRequest(ca, &requestv1.DecideDataSubjectRequestRequest{Name: d.GetName(), Etag: d.GetEtag(), Decision: dec})
		if err != nil {
			refusedNaming(t, "decide", err, "decision.")
		} else if last := decided.GetDataSubjectRequest().GetDecision(); last.GetDecision() != dec.GetDecision() || last.GetReasons() != reasons ||
			len(decided.GetDataSubjectRequest().GetDecisions()) != 1 {
			t.Fatalf("decided %v; want %v", last, dec)
		}

		inf := &requestv1.DataSubjectInforming{Status: requestv1.DataSubjectInforming_Status(informing), Reasons: informReasons}
		recorded, err := s.RecordDataSubjectInforming(ca, &requestv1.RecordDataSubjectInformingRequest{Name: d.GetName(), Informing: inf})
		if err != nil {
			refusedNaming(t, "informing", err, "informing.")
		} else if r := recorded.GetDataSubjectRequest().GetInforming(); r.GetStatus() != inf.GetStatus() || r.GetReasons() != informReasons {
			t.Fatalf("recorded informing %v; want %v", r, inf)
		}
	})
}

// sqliteServer is oralServer for any test or fuzz target.
func sqliteServer(tb testing.TB) *Server {
	svc, _ := sqliteService(tb)
	return NewServer(svc)
}

// refusedNaming fails t unless err is INVALID_ARGUMENT with violations
// that each name a field under prefix and say what is wrong.
func refusedNaming(t *testing.T, call string, err error, prefix string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Invalid || len(e.Violations) == 0 {
		t.Fatalf("%s: %v; want INVALID_ARGUMENT with violations", call, err)
	}
	for _, v := range e.Violations {
		if !strings.HasPrefix(v.Field, prefix) || v.Description == "" {
			t.Fatalf("%s: violation %+v; want a field under %s, described", call, v, prefix)
		}
	}
}
