package grpcserver

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/errs"
)

// TestPatternWords: every pattern of the protos' validation rules has
// words, so that no caller is shown a regular expression.
func TestPatternWords(t *testing.T) {
	files := []protoreflect.FileDescriptor{
		auditv1.File_comity_audit_v1_audit_proto,
		directoryv1.File_comity_directory_v1_directory_proto,
		requestv1.File_comity_request_v1_request_proto,
	}
	var patterns []string
	var walk func(fr *validate.FieldRules)
	walk = func(fr *validate.FieldRules) {
		if p := fr.GetString().GetPattern(); p != "" {
			patterns = append(patterns, p)
		}
		if items := fr.GetRepeated().GetItems(); items != nil {
			walk(items)
		}
		if m := fr.GetMap(); m != nil {
			walk(m.GetKeys())
			walk(m.GetValues())
		}
	}
	var messages func(ms protoreflect.MessageDescriptors)
	messages = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			md := ms.Get(i)
			for j := range md.Fields().Len() {
				fr, _ := proto.GetExtension(md.Fields().Get(j).Options(), validate.E_Field).(*validate.FieldRules)
				walk(fr)
			}
			messages(md.Messages())
		}
	}
	for _, f := range files {
		messages(f.Messages())
	}
	if len(patterns) < 10 {
		t.Fatalf("found %d patterns in the protos; the walk misses rules", len(patterns))
	}
	for _, p := range patterns {
		if _, ok := patternWords[p]; !ok {
			t.Errorf("pattern %s has no words in patternWords", p)
		}
	}
}

// TestDescribe: the validator's violations are worded by rule, with the
// values an enum takes, and no regular expression or rule syntax.
func TestDescribe(t *testing.T) {
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		msg  proto.Message
		want map[string]string // field → words the description must hold
	}{
		{"an enum left unset", &directoryv1.ResolveRouteRequest{RequestedState: "UZ", RequestType: directoryv1.RequestType_DATA_PRESERVATION},
			map[string]string{"priority": "is required: one of ROUTINE, URGENT"}},
		{"an undefined enum value", &directoryv1.ResolveRouteRequest{RequestedState: "UZ", RequestType: 99, Priority: directoryv1.Priority_URGENT},
			map[string]string{"request_type": "99 is not one of DATA_PRESERVATION, SUBSCRIBER_INFORMATION, TRAFFIC_DATA"}},
		{"an e-mail address", &directoryv1.Agency{Name: "agencies/kz-gpo", DisplayNames: map[string]string{"en": "x"},
			ContactPoints: []*directoryv1.ContactPoint{{Role: "desk", Email: "not-an-address"}}},
			map[string]string{"contact_points[0].email": "not an e-mail address"}},
		{"a name", &requestv1.GetRequestRequest{Name: "requests/a:b"},
			map[string]string{"name": "must be a request's name"}},
		{"a long text", &directoryv1.ContactPoint{Role: strings.Repeat("x", 201)},
			map[string]string{"role": "must be at most 200 characters"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := interceptors{validator: v}.validate(tc.msg)
			if err == nil {
				t.Fatal("valid")
			}
			got := err.Error()
			for field, words := range tc.want {
				if !strings.Contains(got, field+": "+words) {
					t.Errorf("error %q does not say %q", got, field+": "+words)
				}
			}
			for _, internal := range []string{"regex", "in list [", "^", "value must"} {
				if strings.Contains(got, internal) {
					t.Errorf("error %q shows the validator's internals (%q)", got, internal)
				}
			}
		})
	}
}

// TestNULRefused: a text holding the NUL character is refused where it is,
// in any message, nested or listed or in a map, with every other violation
// of the call, and a text without one passes.
func TestNULRefused(t *testing.T) {
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	ic := interceptors{validator: v}
	create := &requestv1.CreateRequestRequest{Request: &requestv1.Request{
		FactsSummary: "funds\x00moved",
		Persons:      []*requestv1.Person{{FullName: "Aigerim"}, {FullName: "Bo\x00lat"}},
	}}
	agency := &directoryv1.Agency{Name: "agencies/kz-gpo", DisplayNames: map[string]string{"en": "GPO\x00", "kk\x00": "БП"}}
	for _, tc := range []struct {
		name string
		msg  proto.Message
		want []string
	}{
		{"nested and listed", create, []string{"request.facts_summary", "request.persons[1].full_name"}},
		{"a map's value and key", agency, []string{`display_names["en"]`, `display_names["kk\x00"]`}},
		{"none", &requestv1.GetRequestRequest{Name: "requests/r1"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var e *errs.Error
			if err := ic.validate(tc.msg); errors.As(err, &e) {
				for _, vi := range e.Violations {
					if strings.Contains(vi.Description, "NUL character") {
						got = append(got, vi.Field)
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("NUL refused at %q, want %q", got, tc.want)
			}
		})
	}
}
