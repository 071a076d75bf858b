package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// TestEveryRouteKnowsItsCall: for every route of the three services'
// http annotations and the hand-written ones, a call with a parameter no
// field takes is refused before reaching a service, naming the parameter
// and the RPC the route serves: the route table finds every route
// grpc-gateway routes (its pattern as runtime.Pattern writes it), and
// knows which call it is. No route is left unchecked (logged as such).
func TestEveryRouteKnowsItsCall(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// No service answers at these addresses: no call may get that far.
	h, err := NewHandler(ctx, Config{DirectoryAddr: "127.0.0.1:1", RequestAddr: "127.0.0.1:1", AuditAddr: "127.0.0.1:1",
		Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	routes, err := newRouteTable([]protoreflect.ServiceDescriptor{
		directoryv1.File_comity_directory_v1_directory_proto.Services().Get(0),
		requestv1.File_comity_request_v1_request_proto.Services().Get(0),
		auditv1.File_comity_audit_v1_audit_proto.Services().Get(0),
	}, streamRoutes())
	if err != nil {
		t.Fatal(err)
	}
	if len(routes.routes) < 40 {
		t.Fatalf("%d routes; the annotations have more", len(routes.routes))
	}
	for _, rt := range routes.routes {
		t.Run(rt.httpMethod+" "+rt.template, func(t *testing.T) {
			var path []string
			for _, s := range rt.segs {
				switch s {
				case "*":
					s = "x1"
				case "**":
					s = "x1/x2"
				}
				path = append(path, s)
			}
			u := "/" + strings.Join(path, "/")
			if rt.verb != "" {
				u += ":" + rt.verb
			}
			req := httptest.NewRequest(rt.httpMethod, u+"?zzz=1", strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			var body struct {
				Message string `json:"message"`
				Details []struct {
					FieldViolations []struct{ Field string } `json:"fieldViolations"`
				} `json:"details"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != http.StatusBadRequest || !strings.Contains(body.Message, "not a parameter of "+string(rt.rpc.Name())) ||
				len(body.Details) != 1 || len(body.Details[0].FieldViolations) != 1 || body.Details[0].FieldViolations[0].Field != "zzz" {
				t.Errorf("%s %s?zzz=1 = %d %s; want 400 naming zzz, not a parameter of %s", rt.httpMethod, u, w.Code, w.Body, rt.rpc.Name())
			}
		})
	}
	for _, e := range logs.FilterMessageSnippet("without a known request message").All() {
		t.Errorf("a route the table does not know: %v", e.ContextMap())
	}
}

// FuzzBodyError: bodyError, which explains why a body does not decode,
// never refuses a body protojson takes (it would blame the wrong thing),
// and its refusals are INVALID_ARGUMENT naming a field, in UTF-8 (or they
// could not be sent).
func FuzzBodyError(f *testing.F) {
	routes, err := newRouteTable([]protoreflect.ServiceDescriptor{
		directoryv1.File_comity_directory_v1_directory_proto.Services().Get(0),
		requestv1.File_comity_request_v1_request_proto.Services().Get(0),
	}, nil)
	if err != nil {
		f.Fatal(err)
	}
	var withBody []*route
	for _, rt := range routes.routes {
		if rt.body != "" {
			withBody = append(withBody, rt)
		}
	}
	for _, b := range []string{`{}`, `{"type":"DATA_PRESERVATION","identifiers":[{"kind":"PHONE"}]}`, `{"priority":1}`,
		`{"identifiers":[{"startTime":"2026-01-01T00:00:00Z"}]}`, `{"offence":{"maximumPenaltyYears":"7"}}`, `{"x":1}`, "{\n\"a\":}",
		`{"displayNames":{"ru":"x"}}`, `{"receives":["DATA_PRESERVATION"]}`, `[]`, `1`, `{"etag":null}`, "{\"body\":\"\xff\"}"} {
		for i := range withBody {
			f.Add(uint8(i), []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, i uint8, body []byte) {
		rt := withBody[int(i)%len(withBody)]
		err := bodyError(rt, body)
		msg := rt.rpc.Input()
		target := dynamicpb.NewMessage(msg)
		var into proto.Message = target
		if rt.body != "*" {
			into = target.Mutable(fieldAt(msg, rt.body)).Message().Interface()
		}
		if protojson.Unmarshal(body, into) == nil && json.Valid(body) {
			if err != nil {
				t.Fatalf("%s: protojson takes %q, bodyError refuses it: %v", rt.template, body, err)
			}
			return
		}
		if err == nil {
			return
		}
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || !utf8.ValidString(st.Message()) {
			t.Fatalf("%q: %v", body, err)
		}
		if _, merr := protojson.Marshal(st.Proto()); merr != nil {
			t.Fatalf("%q: the refusal cannot be sent: %v", body, merr)
		}
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 && br.GetFieldViolations()[0].GetField() != "" {
				return
			}
		}
		t.Fatalf("%q: the refusal names no field: %v", body, err)
	})
}
