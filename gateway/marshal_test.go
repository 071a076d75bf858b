package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

func testMarshalers() (fast jsonMarshaler, reference *runtime.JSONPb) {
	reference = &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}
	return jsonMarshaler{reference}, reference
}

// referenceDecoder is what the gateway had before its decoding shortcut:
// grpc-gateway's decoder, with the gateway's error text.
func referenceDecoder(m *runtime.JSONPb, body []byte) func(v any) error {
	d := m.NewDecoder(bytes.NewReader(body))
	return func(v any) error {
		err := d.Decode(v)
		if err == nil || errors.Is(err, io.EOF) {
			return err
		}
		return fmt.Errorf("request body is not valid JSON for this call: %w", err)
	}
}

// decodeTargets are the shapes generated handlers decode bodies into: a
// message field (`body: "request"`, through a pointer to the field), a
// whole request (`body: "*"`), a map field, a scalar field, and messages
// that take any JSON (Struct, Value).
var decodeTargets = []struct {
	name string
	new  func() any
	// msg returns the decoded message, or the field, to compare.
	msg func(v any) any
}{
	{"message field", func() any { return new(*requestv1.Request) }, func(v any) any { return *v.(**requestv1.Request) }},
	{"whole request", func() any { return &requestv1.SubmitRequestRequest{} }, func(v any) any { return v }},
	{"agency field", func() any { return new(*directoryv1.Agency) }, func(v any) any { return *v.(**directoryv1.Agency) }},
	{"struct", func() any { return &structpb.Struct{} }, func(v any) any { return v }},
	{"value field", func() any { return new(*structpb.Value) }, func(v any) any { return *v.(**structpb.Value) }},
	{"map field", func() any { return new(map[string]string) }, func(v any) any { return *v.(*map[string]string) }},
	{"string field", func() any { return new(string) }, func(v any) any { return *v.(*string) }},
}

var decodeBodies = []string{
	``, ` `, "\n\t ", `{}`, ` {} `, "{}\n", `null`, `[]`, `"x"`, `1`, `true`,
	`{"type": "DATA_PRESERVATION", "priority": "URGENT", "requestedState": "UZ"}`,
	`{"type":"DATA_PRESERVATION"}{"type":"OTHER_ASSISTANCE"}`,
	`{"type":"DATA_PRESERVATION"} trailing`,
	`{"type":"DATA_PRESERVATION"} {`,
	`{"name": "requests/1"} {"name": "requests/2"}`, "{} {}\n{}", `{"name": "requests/1"} {"colour": 1}`, `{} x`,
	`{"type": "NO_SUCH_TYPE"}`, `{"type": 1}`, `{"type": 1.5}`,
	`{"colour": "red"}`, `{"name": "requests/1", "colour": "red"}`,
	`{"name": "requests/1", "etag": "x"}`, `{"name": 1}`, `{"name": null}`,
	`{"offence": {"maximumPenaltyYears": "7"}}`, `{"offence": {"maximumPenaltyYears": 7.0}}`,
	`{"offence": {"maximumPenaltyYears": 1e400}}`, `{"offence": {"maximumPenaltyYears": 01}}`,
	`{"offence": {"maximumPenaltyYears": -0}}`, `{"offence": {"maximumPenaltyYears": +1}}`,
	`{"offence": {"maximumPenaltyYears": 0e}}`, `{"offence": {"maximumPenaltyYears": 7E+}}`, `{"v": 1e-}`,
	`{"persons": [{"fullName": "A"}, {"fullName": "B"}]}`, `{"persons": {}}`, `{"persons": [1]}`,
	`{"dataCategories": ["a", null]}`, `{"requestedResponseTime": "2026-01-02T03:04:05Z"}`,
	`{"requestedResponseTime": "yesterday"}`, `{"requestedResponseTime": null}`,
	`{"kind": "PROSECUTION",`, `{"kind": "PROSECUTION"`, `{"kind"`, `{`, `}`, `[`, `{"a":1,}`, `{'a':1}`,
	`{"displayNames": {"en": "A", "ru": "Б"}}`, `{"displayNames": {"en": "A", "en": "B"}}`,
	`{"a": 1, "a": 2}`, `{"type":"DATA_PRESERVATION","type":"OTHER_ASSISTANCE"}`,
	`{"s": "\ud800"}`, `{"s": "\u00e9\ud83d\ude00"}`, "{\"s\": \"\xff\"}", "{\"s\": \"a\nb\"}", `{"s": "\x"}`,
	"\xef\xbb\xbf{}", `{"factsSummary": "` + strings.Repeat("x", 10000) + `"}`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"v": ` + strings.Repeat("[", 3000) + strings.Repeat("]", 3000) + `}`,
	`{"en": "A"}`, `{"1": "A"}`, `{"en": 1}`, `{"en": null}`,
}

// TestDecodeAsGRPCGateway checks that the gateway decodes every body into
// every kind of target exactly as grpc-gateway's decoder does: the same
// message, the same error text, io.EOF for no body; except that a body with
// something after its JSON value is refused.
func TestDecodeAsGRPCGateway(t *testing.T) {
	for _, body := range decodeBodies {
		checkDecode(t, []byte(body))
	}
}

func FuzzDecodeAsGRPCGateway(f *testing.F) {
	for _, body := range decodeBodies {
		if len(body) < 1000 { // big ones slow the fuzzer down
			f.Add([]byte(body))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkDecode(t, body) })
}

func checkDecode(t *testing.T, body []byte) {
	t.Helper()
	fast, reference := testMarshalers()
	for _, target := range decodeTargets {
		fastDec, refDec := fast.NewDecoder(bytes.NewReader(body)), referenceDecoder(reference, body)
		// A decoder may be asked for several values, one after another.
		for i := range 3 {
			got, want := target.new(), target.new()
			gotErr, wantErr := fastDec.Decode(got), refDec(want)
			// One difference on purpose: a body decoded into a message
			// must be one JSON value; grpc-gateway would leave what
			// follows unread.
			if i == 0 && wantErr == nil && len(bytes.TrimSpace(body)) > 0 && !json.Valid(body) && bodyMessage(target.new()) != nil {
				if fmt.Sprint(gotErr) != "request body is not valid JSON for this call: something follows the JSON value" {
					t.Errorf("%s, body %q: error %v, want the body refused for what follows its value", target.name, body, gotErr)
				}
				break
			}
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || errors.Is(gotErr, io.EOF) != errors.Is(wantErr, io.EOF) {
				t.Errorf("%s, body %q, value %d: error %v, grpc-gateway's %v", target.name, body, i, gotErr, wantErr)
				break
			}
			// After an error the handler answers 400 and drops the target,
			// which grpc-gateway itself can leave half filled in random
			// order (maps).
			if (gotErr == nil || errors.Is(gotErr, io.EOF)) && !sameDecoded(target.msg(got), target.msg(want)) {
				t.Errorf("%s, body %q, value %d: decoded %v, grpc-gateway %v", target.name, body, i, target.msg(got), target.msg(want))
			}
			if gotErr != nil {
				break
			}
		}
	}
}

func sameDecoded(a, b any) bool {
	if am, ok := a.(proto.Message); ok {
		bm := b.(proto.Message)
		// A pointer the decoder did or did not allocate is visible to the
		// handler (a nil message field against an empty one).
		if (am == nil || !am.ProtoReflect().IsValid()) != (bm == nil || !bm.ProtoReflect().IsValid()) {
			return false
		}
		return proto.Equal(am, bm)
	}
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// TestMarshalAsGRPCGateway checks that answers are encoded as grpc-gateway
// encodes them, unpopulated fields included, and that a reused buffer never
// shows through in an earlier answer.
func TestMarshalAsGRPCGateway(t *testing.T) {
	fast, reference := testMarshalers()
	big := &requestv1.Request{Name: "requests/big", FactsSummary: strings.Repeat("x", 100<<10)}
	values := []any{
		&requestv1.Request{},
		&requestv1.Request{Name: "requests/1", Type: directoryv1.RequestType_DATA_PRESERVATION, Persons: []*requestv1.Person{{FullName: "A"}}},
		big,
		&directoryv1.Agency{Name: "agencies/kz-gpo", DisplayNames: map[string]string{"en": "A", "ru": "Б"}},
		(*requestv1.Request)(nil),
		map[string]any{"result": &requestv1.Request{Name: "requests/2"}},
		"text",
	}
	var earlier [][]byte
	var wants [][]byte
	for range 2 {
		for _, v := range values {
			got, err := fast.Marshal(v)
			if err != nil {
				t.Fatalf("Marshal(%T): %v", v, err)
			}
			want, err := reference.Marshal(v)
			if err != nil {
				t.Fatalf("grpc-gateway Marshal(%T): %v", v, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Marshal(%T) = %s, grpc-gateway's %s", v, got, want)
			}
			earlier = append(earlier, got)
			wants = append(wants, want)
		}
	}
	for i := range earlier {
		if !bytes.Equal(earlier[i], wants[i]) {
			t.Errorf("answer %d changed after later answers: %s", i, earlier[i])
		}
	}
	if !strings.Contains(string(earlier[0]), `"status":`) && !strings.Contains(string(earlier[0]), `"status": `) {
		t.Errorf("unpopulated fields missing: %s", earlier[0])
	}
}
