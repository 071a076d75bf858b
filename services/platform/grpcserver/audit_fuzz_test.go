package grpcserver

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/grpcapi"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

// captured is an trail.Recorder that keeps what it is given.
type captured struct {
	mu     sync.Mutex
	events []trail.Event
}

func (c *captured) RecordEvent(_ context.Context, e trail.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	return nil
}

// anyAddr is a peer address that prints as anything.
type anyAddr string

func (a anyAddr) Network() string { return "tcp" }
func (a anyAddr) String() string  { return string(a) }

var _ net.Addr = anyAddr("")

// FuzzEventsAppendable builds audit events from arbitrary call inputs
// through the server's own path (the audit interceptor's call, a principal
// as the auth interceptor sets it, states a refusal carries, the outcome the
// handler returns, the aggregate of unauthenticated calls) and through
// trail.NewEvent as the domain calls it, and checks that the audit service's
// Append accepts every one: the protovalidate rules of its AppendRequest (as
// the audit service's server applies them), the proto encoding (strings must
// be UTF-8) and the log's leaf encoding. An event Append refused would stop
// its producer's delivery (issue 10, item 1).
func FuzzEventsAppendable(f *testing.F) {
	validator, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	key := make(trail.DigestKey, trail.DigestKeySize)
	long := strings.Repeat("A", 300)
	f.Add("/comity.request.v1.RequestService/SubmitRequest", "requests/"+long+":submit", "", "", "", "", "", "", "", []byte(nil), uint8(0))
	f.Add("/comity.directory.v1.DirectoryService/DeactivateAgency", "agencies/"+strings.Repeat("x", 400), "dev:kz-gpo:directory_admin",
		"kz-gpo", "directory_admin,directory_admin", "comity-dev", "KZ", "KZ,UZ,kz,KZZ", "198.51.100.7:1", []byte{0x0a, 0x03, 'a', 'b', 'c'}, uint8(1))
	f.Add("/comity.request.v1.RequestService/GetRequest", "requests/\xff\u202e\x00", "\xff"+long, strings.Repeat("é", 101),
		strings.Repeat("r,", 40), "\x7f"+long, "\xffZ", ",,A,ZZZZ", "\xff", []byte{0xff, 0xff}, uint8(2))
	f.Add("", "", "", "", "", "", "", "", "", []byte(nil), uint8(3))
	f.Fuzz(func(t *testing.T, method, resource, subject, agency, roles, issuer, state, noted, addr string, request []byte, outcome uint8) {
		rec := &captured{}
		ic := interceptors{logger: zap.NewNop(), audit: &AuditConfig{Service: "comity-request", Recorder: rec, DigestKey: key}}
		anon, err := newAnonymous(ic.audit, zap.NewNop(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		ic.anonymous = anon
		// The request message the call carried: the fuzzer's bytes, with
		// the resource's name in it.
		msg := &requestv1.UpdateRequestRequest{}
		if proto.Unmarshal(request, msg) != nil {
			msg.Reset()
		}
		if resource != "" {
			if msg.Request == nil {
				msg.Request = &requestv1.Request{}
			}
			msg.Request.Name = resource
		}
		ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: anyAddr(addr)})
		ctx, readOnly := ic.auditCall(ctx, method, msg)
		// The last outcome is an anonymous caller's: no principal.
		outcomes := []codes.Code{codes.NotFound, codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition, codes.Unauthenticated}
		code := outcomes[int(outcome)%len(outcomes)]
		err = trail.Concerning(status.Error(code, "refused"), "", strings.Split(noted, ",")...)
		if int(outcome)%len(outcomes) != len(outcomes)-1 {
			var rs []identity.Role
			for _, r := range strings.Split(roles, ",") {
				rs = append(rs, identity.Role(r))
			}
			err = withCaller(err, identity.Principal{Subject: subject, Agency: agency, Roles: rs, Issuer: issuer, State: state})
		}
		ic.recordRefused(ctx, readOnly, method, mapError(ctx, zap.NewNop(), method, err))
		ic.anonymous.flush(time.Time{})
		// The domain's own events, with what it adds.
		actor := trail.Actor{Subject: subject, Agency: agency, Roles: strings.Split(roles, ","), Issuer: issuer, Address: addr}
		rec.events = append(rec.events, trail.NewEvent(ctx, time.Now(), actor, "OK", trail.Details{
			Resource: resource, States: strings.Split(state+","+noted, ","),
			Transition: &trail.Transition{From: subject, To: agency},
			// Only a category reaches an event; whatever else would, the
			// event must still be one Append accepts.
			Purpose: issuer,
		}))
		if len(rec.events) < 2 {
			t.Fatalf("%s of %s on %q recorded %d events; want the call's and the domain's", code, method, resource, len(rec.events))
		}
		for _, e := range rec.events {
			appendable(t, validator, e)
			if again := trail.Bounded(e); !equalEvents(again, e) {
				t.Errorf("Bounded changes a bounded event:\n%+v\n%+v", e, again)
			}
		}
	})
}

// appendable fails t unless Append would accept e.
func appendable(t *testing.T, validator protovalidate.Validator, e trail.Event) {
	t.Helper()
	req := &auditv1.AppendRequest{Events: []*auditv1.Event{grpcapi.EventToProto(e)}}
	if err := validator.Validate(req); err != nil {
		var verr *protovalidate.ValidationError
		if errors.As(err, &verr) {
			t.Fatalf("Append refuses %+v: %v", e, verr)
		}
		t.Fatalf("validate %+v: %v", e, err)
	}
	if _, err := proto.Marshal(req); err != nil {
		t.Fatalf("event %+v does not encode: %v", e, err)
	}
	if _, err := audit.Leaf(e); err != nil {
		t.Fatalf("event %+v cannot be logged: %v", e, err)
	}
}

func equalEvents(a, b trail.Event) bool {
	x, _ := audit.Leaf(a)
	y, _ := audit.Leaf(b)
	return string(x) == string(y)
}
