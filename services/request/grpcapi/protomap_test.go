package grpcapi

import (
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/request"
)

var actorName = (&requestv1.Actor{}).ProtoReflect().Descriptor().FullName()

// fillMessage sets every field of m, nested ones included, to a value
// other than its zero: a string names its field, an enum is its first
// value, a list has two elements.
func fillMessage(m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		value := func(newMessage func() protoreflect.Value) protoreflect.Value {
			switch {
			case fd.Message() != nil && fd.Message().FullName() == timestampName:
				return protoreflect.ValueOfMessage(timestamppb.New(t1).ProtoReflect())
			case fd.Message() != nil:
				v := newMessage()
				fillMessage(v.Message())
				return v
			case fd.Kind() == protoreflect.EnumKind:
				return protoreflect.ValueOfEnum(fd.Enum().Values().Get(1).Number())
			case fd.Kind() == protoreflect.StringKind && fd.ContainingMessage().FullName() == actorName && fd.Name() == "agency":
				// An actor's agency is a resource name in the API.
				return protoreflect.ValueOfString(agencyPrefix + "v-agency")
			case fd.Kind() == protoreflect.StringKind:
				return protoreflect.ValueOfString("v-" + string(fd.Name()))
			case fd.Kind() == protoreflect.BoolKind:
				return protoreflect.ValueOfBool(true)
			case fd.Kind() == protoreflect.Int32Kind:
				return protoreflect.ValueOfInt32(7)
			}
			return protoreflect.ValueOfInt64(7)
		}
		if fd.IsList() {
			l := m.Mutable(fd).List()
			l.Append(value(l.NewElement))
			l.Append(value(l.NewElement))
			continue
		}
		m.Set(fd, value(func() protoreflect.Value { return m.NewField(fd) }))
	}
}

// TestRequestEveryField fills every field of an API request, output-only
// ones included, and converts it to the domain and back: a field that a
// conversion misses, in either direction, fails. The domain side is read
// with fromMessage and the resource names by hand, as a store's read would
// give it.
func TestRequestEveryField(t *testing.T) {
	full := &requestv1.Request{}
	fillMessage(full.ProtoReflect())
	full.Name, full.RequestingAgency, full.RequestedAgency = "requests/r1", "agencies/kz-gpo", "agencies/uz-247"
	full.RelatedRequests = []*requestv1.RelatedRequest{{Kind: requestv1.RelatedRequest_FOLLOW_UP_OF, Request: "requests/r2"},
		{Kind: requestv1.RelatedRequest_SPAWNED_BY, Request: "requests/r3"}}
	full.Preservation.HeldBy = "requests/r4"
	full.Preservation.HeldAlsoBy = []string{"requests/r5", "requests/r6"}
	for _, c := range full.Clarifications {
		c.AskedBy.Agency, c.AnsweredBy.Agency = "agencies/uz-247", "agencies/kz-gpo"
		c.AnswerAttachments = []string{"requests/r1/attachments/a1", "requests/r1/attachments/a2"}
	}
	// Attachments of deliveries are names in the API, ids in the domain.
	for _, ex := range append([]*requestv1.Execution{full.Execution}, full.Deliveries...) {
		ex.Attachments = []string{"requests/r1/attachments/a1", "requests/r1/attachments/a2"}
		for _, it := range ex.Items {
			it.Attachments = []string{"requests/r1/attachments/a3"}
		}
	}

	var r request.Request
	fromMessage(full.ProtoReflect(), reflect.ValueOf(&r).Elem(), nil, "related_requests", "clarifications")
	for _, ex := range append([]*request.Execution{r.Execution}, pointers(r.Deliveries)...) {
		ex.Attachments = []string{"a1", "a2"}
		for i := range ex.Items {
			ex.Items[i].Attachments = []string{"a3"}
		}
	}
	r.ID, r.Version = "r1", 4
	r.RequestingAgency, r.RequestedAgency = "kz-gpo", "uz-247"
	r.RelatedRequests = []request.RelatedRequest{{Kind: request.FollowUpOf, Request: "r2"}, {Kind: request.SpawnedBy, Request: "r3"}}
	r.Preservation.HeldBy = "r4"
	r.Preservation.HeldAlsoBy = []string{"r5", "r6"}
	review := full.GetAcceptance().GetHumanRightsReview()
	r.Acceptance.HumanRightsConcerns, r.Acceptance.HumanRightsNote = review.GetConcerns(), review.GetNote()
	for _, c := range full.Clarifications {
		actor := func(a *requestv1.Actor) request.Actor {
			return request.Actor{Subject: a.Subject, Name: a.DisplayName, Agency: strings.TrimPrefix(a.Agency, agencyPrefix)}
		}
		r.Clarifications = append(r.Clarifications, request.Clarification{
			Question: c.Question, AskedBy: actor(c.AskedBy), AskTime: c.AskTime.AsTime(),
			Answer: c.Answer, AnsweredBy: actor(c.AnsweredBy), AnswerTime: c.AnswerTime.AsTime(),
			AnswerAttachments: []string{"a1", "a2"},
		})
	}
	full.Etag = r.Etag()

	got := RequestToProto(request.View{Request: r, Overdue: full.Overdue, MetadataOnly: full.MetadataOnly})
	if !proto.Equal(got, full) {
		t.Errorf("RequestToProto\n got: %v\nwant: %v", prototext.Format(got), prototext.Format(full))
	}
	if back := requestFromProto(full); !proto.Equal(writableOnly(RequestToProto(request.View{Request: back})), writableOnly(full)) {
		t.Errorf("the writable fields did not survive requestFromProto")
	}
}

// pointers returns a pointer to each element of s.
func pointers[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// TestDomainFieldsHaveAPINames checks that every field of the domain
// request, nested ones included, has the field of the same name in the API
// message, but those converted by hand.
func TestDomainFieldsHaveAPINames(t *testing.T) {
	byHand := map[string]bool{
		"Request.id": true, "Request.version": true, // the name; the etag
		"Request.transmit_time": true, "Request.acknowledge_time": true, "Request.answer_time": true, // not in the API
		"Acceptance.human_rights_concerns": true, "Acceptance.human_rights_note": true, // human_rights_review
		"Actor.name":                    true, // display_name
		"Postponement.paused_answer_by": true, // the answer deadline set aside while postponed: the domain's own
	}
	var check func(t reflect.Type, md protoreflect.MessageDescriptor)
	check = func(rt reflect.Type, md protoreflect.MessageDescriptor) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			key := rt.Name() + "." + string(fieldName(f))
			fd := md.Fields().ByName(fieldName(f))
			switch {
			case byHand[key]:
			case fd == nil:
				t.Errorf("%s (%s) has no field of that name in %s", key, f.Name, md.FullName())
			case fd.Message() != nil && fd.Message().FullName() != timestampName:
				et := f.Type
				for et.Kind() == reflect.Pointer || et.Kind() == reflect.Slice {
					et = et.Elem()
				}
				check(et, fd.Message())
			}
		}
	}
	check(reflect.TypeFor[request.Request](), (&requestv1.Request{}).ProtoReflect().Descriptor())
}
