package grpcapi_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/grpcapi"
)

// sha256 of "1", a plain digest as producers sent before the keyed one.
const plainDigest = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"

// A producer of the version before the keyed digest, during a rolling
// upgrade, sends its plain digest in field 10: it must not arrive as a keyed
// request_hmac.
func TestOldProducersPlainDigestIsNotTakenForKeyed(t *testing.T) {
	old := protowire.AppendTag(nil, 1, protowire.BytesType)
	old = protowire.AppendString(old, "01a24f19-ece4-7cd8-9be6-80ebdfb3a378")
	old = protowire.AppendTag(old, 10, protowire.BytesType)
	old = protowire.AppendString(old, plainDigest)
	var ev auditv1.Event
	if err := proto.Unmarshal(old, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.GetRequestHmac() != "" {
		t.Errorf("an old producer's plain digest arrived as request_hmac %q", ev.GetRequestHmac())
	}
	if got := grpcapi.EventFromProto(&ev).RequestHMAC; got != "" {
		t.Errorf("an old producer's plain digest is logged as keyed: %q", got)
	}
}

// Leaves logged before the keyed digest hold a plain one under
// request_sha256: they decode to it under its legacy name, never as keyed,
// and encode back to the very bytes logged, so that what a bundle shows of
// them is what the log holds.
func TestLeavesWithThePlainDigestDecodeAsLegacy(t *testing.T) {
	leaves := []string{
		`{"id":"01a24f19-ece4-7cd8-9be6-80ebdfb3a378","time":"2026-03-01T08:30:00.123456Z","actor":{"subject":"dev:kz-gpo:prosecutor","agency":"kz-gpo","roles":["prosecutor"],"issuer":"https://dev.comity.example"},"service":"comity-request","action":"/comity.request.v1.RequestService/SubmitRequest","resource":"requests/01a24f19-ecda-7cec-8adc-67f388d79b32","states":["KZ","UZ"],"outcome":"OK","transition":{"from":"DRAFT","to":"SUBMITTED"},"request_sha256":"` + plainDigest + `"}`,
		`{"id":"01a24f19-ece4-7cd8-9be6-80ebdfb3a379","time":"2026-03-01T08:30:00Z","actor":{},"service":"comity-directory","action":"/comity.directory.v1.DirectoryService/GetAgency","resource":"agencies/kz-gpo","outcome":"UNAUTHENTICATED","request_sha256":"` + plainDigest + `"}`,
	}
	for i, leaf := range leaves {
		ev, err := audit.ParseLeaf([]byte(leaf))
		if err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		if ev.RequestHMAC != "" || ev.LegacyRequestSHA256 != plainDigest {
			t.Errorf("leaf %d decodes to request_hmac %q, legacy %q; want no keyed digest and the plain one as legacy", i, ev.RequestHMAC, ev.LegacyRequestSHA256)
		}
		again, err := audit.Leaf(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, []byte(leaf)) {
			t.Errorf("leaf %d encodes back to other bytes:\n got %s\nwant %s", i, again, leaf)
		}
		if got := grpcapi.EventToProto(ev).GetRequestHmac(); got != "" {
			t.Errorf("leaf %d is shown through the API with the plain digest as request_hmac %q", i, got)
		}
	}
}
