package grpcapi

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/query/aip"
)

// FuzzUpdateMask feeds the update masks of states and agencies arbitrary
// comma-separated paths, as in ?updateMask=. A mask is either refused with
// one Invalid update_mask violation, or gives updatable paths only, each
// named by the mask (or all of them for "*"). The updatable fields are
// listed here to check the field_behavior annotations aip.UpdatePaths reads;
// the ignored ones (output-only, identifier, immutable, etag) are dropped.
func FuzzUpdateMask(f *testing.F) {
	type target struct {
		msg       proto.Message
		updatable []string
	}
	targets := []target{
		{&directoryv1.State{}, []string{"display_names", "official_languages", "accepted_languages", "time_zone", "trusted_issuers", "claim_mappings", "instruments", "retention_after_close", "witness"}},
		{&directoryv1.Agency{}, []string{"kind", "display_names", "receives", "accepted_languages", "contact_points"}},
	}
	for _, tg := range targets {
		if got := aip.WritableFields(tg.msg.ProtoReflect().Descriptor()); !slices.Equal(got, tg.updatable) {
			f.Fatalf("writable fields of %s = %q, want %q", tg.msg.ProtoReflect().Descriptor().FullName(), got, tg.updatable)
		}
	}
	for _, tg := range targets {
		fields := tg.msg.ProtoReflect().Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if got := aip.ProtoPath(fd.JSONName()); got != string(fd.Name()) {
				f.Fatalf("ProtoPath(%q) = %q, want %q", fd.JSONName(), got, fd.Name())
			}
			f.Add(false, fd.JSONName())
			f.Add(true, string(fd.Name()))
		}
	}
	for _, seed := range []string{
		"", "*", "*,kind", "kind,colour", "displayNames.en", "contactPoints.phone", "name,etag,updateTime", "active", "state,active,kind",
		"trustedIssuers,timeZone", "Kind", "kind,,receives", "..", "\xff", "display_names.*",
	} {
		f.Add(false, seed)
		f.Add(true, seed)
	}
	f.Fuzz(func(t *testing.T, agency bool, mask string) {
		tg := targets[0]
		if agency {
			tg = targets[1]
		}
		raw := strings.Split(mask, ",")
		paths, err := aip.UpdatePaths(&fieldmaskpb.FieldMask{Paths: raw}, tg.msg, "it")
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Invalid || len(e.Violations) != 1 ||
				e.Violations[0].Field != "update_mask" || e.Violations[0].Description == "" {
				t.Fatalf("updateMask %q: %v; want one Invalid update_mask violation", mask, err)
			}
			return
		}
		if (mask == "*" || mask == "") && !slices.Equal(paths, tg.updatable) {
			t.Fatalf("updateMask %q = %q, want every updatable field", mask, paths)
		}
		for _, p := range paths {
			if !slices.Contains(tg.updatable, p) {
				t.Fatalf("updateMask %q gave %q, which is not updatable", mask, p)
			}
			if mask != "*" && !slices.ContainsFunc(raw, func(r string) bool { return aip.ProtoPath(r) == p }) {
				t.Fatalf("updateMask %q gave %q, which it does not name", mask, p)
			}
		}
	})
}
