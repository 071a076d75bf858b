package grpcapi_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/grpcapi"
)

// The events of reads carry the reader's purpose through the API both ways
// and in their leaves; the leaves logged before the purpose existed decode
// to no purpose and encode back to the very bytes logged, so that their
// inclusion proofs and `comityctl audit verify` (which compares the API's
// event with the leaf's) hold as before.
func TestPurposeInLeavesAndTheAPI(t *testing.T) {
	for _, tc := range []struct {
		name, leaf, purpose string
	}{
		{"a read logged before purposes", `{"id":"01a24f19-ece4-7cd8-9be6-80ebdfb3a380","time":"2026-03-01T08:31:00Z","actor":{"subject":"dev:uz-247:central_authority","agency":"uz-247","roles":["central_authority"],"issuer":"https://dev.comity.example"},"service":"comity-request","action":"/comity.request.v1.RequestService/GetRequest","resource":"requests/01a24f19-ecda-7cec-8adc-67f388d79b32","states":["KZ","UZ"],"outcome":"OK","request_hmac":"` + plainDigest + `"}`, ""},
		{"an aggregate logged before purposes", `{"id":"01a24f19-ece4-7cd8-9be6-80ebdfb3a381","time":"2026-03-01T08:31:00Z","actor":{"address":"198.51.100.7"},"service":"comity-request","action":"/comity.audit.v1/UnauthenticatedCalls","resource":"requests/x","outcome":"UNAUTHENTICATED","count":3}`, ""},
		{"a read with a declared purpose", `{"id":"01a24f19-ece4-7cd8-9be6-80ebdfb3a382","time":"2026-03-01T08:32:00Z","actor":{"subject":"dev:kz-gpo:prosecutor","agency":"kz-gpo","roles":["prosecutor"]},"service":"comity-request","action":"/comity.request.v1.RequestService/DownloadAttachment","resource":"requests/01a24f19-ecda-7cec-8adc-67f388d79b32/attachments/a","states":["KZ","UZ"],"outcome":"OK","purpose":"stated-proceedings"}`, "stated-proceedings"},
		{"a read without one", `{"id":"01a24f19-ece4-7cd8-9be6-80ebdfb3a383","time":"2026-03-01T08:33:00Z","actor":{"subject":"dev:kz-gpo:prosecutor","agency":"kz-gpo"},"service":"comity-request","action":"/comity.request.v1.RequestService/ListMessages","resource":"requests/01a24f19-ecda-7cec-8adc-67f388d79b32/messages","states":["KZ"],"outcome":"OK","purpose":"undeclared"}`, "undeclared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := audit.ParseLeaf([]byte(tc.leaf))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Purpose != tc.purpose {
				t.Errorf("the leaf decodes to purpose %q; want %q", ev.Purpose, tc.purpose)
			}
			again, err := audit.Leaf(ev)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, []byte(tc.leaf)) {
				t.Errorf("the leaf encodes back to other bytes:\n got %s\nwant %s", again, tc.leaf)
			}
			shown := grpcapi.EventToProto(ev)
			if shown.GetPurpose() != tc.purpose {
				t.Errorf("the API shows purpose %q; want %q", shown.GetPurpose(), tc.purpose)
			}
			// What a producer sends is what is logged, purpose included.
			back, err := audit.Leaf(grpcapi.EventFromProto(shown))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, []byte(tc.leaf)) {
				t.Errorf("the event sent through the API is logged as other bytes:\n got %s\nwant %s", back, tc.leaf)
			}
			// comityctl audit verify's check of an entry.
			logged, err := audit.ParseLeaf(back)
			if err != nil || !proto.Equal(grpcapi.EventToProto(logged), shown) {
				t.Errorf("the entry's event does not match its leaf: %v", err)
			}
		})
	}
}
