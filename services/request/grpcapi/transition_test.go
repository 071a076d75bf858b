package grpcapi

import (
	"testing"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// TestLifecycleResponsesCarryRequest checks what transition relies on: the
// response of every lifecycle call (a request message with a name and an
// etag, as lifecycleRequest) has the request in its field `request`. The
// actions on a data subject's request (DESIGN §10) have a name and an etag
// too, but act on that resource and answer with it.
func TestLifecycleResponsesCarryRequest(t *testing.T) {
	want := (&requestv1.Request{}).ProtoReflect().Descriptor().FullName()
	subject := (&requestv1.DataSubjectRequest{}).ProtoReflect().Descriptor().FullName()
	subjects := 0
	methods := requestv1.File_comity_request_v1_request_proto.Services().ByName("RequestService").Methods()
	lifecycle := 0
	for i := range methods.Len() {
		m := methods.Get(i)
		in := m.Input().Fields()
		if in.ByName("name") == nil || in.ByName("etag") == nil {
			continue
		}
		if f := m.Output().Fields().ByName("data_subject_request"); f != nil && f.Message() != nil && f.Message().FullName() == subject {
			subjects++
			continue
		}
		lifecycle++
		f := m.Output().Fields().ByName("request")
		if f == nil || f.Message() == nil || f.Message().FullName() != want || f.IsList() {
			t.Errorf("%s: the response %s has no field `request` of type %s", m.Name(), m.Output().FullName(), want)
		}
	}
	// The twelve lifecycle actions of DESIGN §5, from Submit to Close,
	// the fifteen of §5.1–§5.5 that act on a request by name, and the
	// eight of §10 (from :acknowledgeConditions to :liftLegalHold).
	if lifecycle != 35 {
		t.Errorf("%d lifecycle calls found, want 35", lifecycle)
	}
	// :decide and :recordInforming.
	if subjects != 2 {
		t.Errorf("%d actions on a data subject's request found, want 2", subjects)
	}
}
