package grpcapi

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/query/aip"
)

// FuzzUpdateMask feeds the update of a request arbitrary update masks, given
// as the comma-separated paths of ?updateMask=. A mask is either refused
// with one Invalid update_mask violation that names a path as the caller
// wrote it, or it is accepted, and then applying the update changes only the
// fields it reports as touched.
func FuzzUpdateMask(f *testing.F) {
	// Every field of Request and Offence is addressable by its JSON name:
	// ProtoPath must map that name back to the proto name.
	offence := (&requestv1.Offence{}).ProtoReflect().Descriptor()
	for _, md := range []protoreflect.MessageDescriptor{(&requestv1.Request{}).ProtoReflect().Descriptor(), offence} {
		for i := range md.Fields().Len() {
			fd := md.Fields().Get(i)
			if got := aip.ProtoPath(fd.JSONName()); got != string(fd.Name()) {
				f.Fatalf("%s: ProtoPath(%q) = %q, want %q", md.FullName(), fd.JSONName(), got, fd.Name())
			}
			path := fd.JSONName()
			if md == offence {
				path = "offence." + path
			}
			f.Add(path)
		}
	}
	for _, seed := range []string{
		"", "*", "*,factsSummary", "facts_summary,colour", "offence.motive", "persons.fullName",
		"offence.legalQualification,offence", "name,etag,createTime", "deadlines.answerBy",
		"offence..description", ".", ",", "FactsSummary", "facts_Summary", "offence.*", "*.type",
		"acceptance.conditions", "\xff", "type,type",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, mask string) {
		raw := strings.Split(mask, ",")
		apply, touched, err := updateFromProto(fullRequest(), &fieldmaskpb.FieldMask{Paths: raw})
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Invalid || len(e.Violations) != 1 ||
				e.Violations[0].Field != "update_mask" || e.Violations[0].Description == "" {
				t.Fatalf("updateMask %q: %v; want one Invalid update_mask violation", mask, err)
			}
			if !slices.ContainsFunc(raw, func(p string) bool { return strings.Contains(e.Violations[0].Description, strconv.Quote(p)) }) {
				t.Fatalf("updateMask %q: %q names none of the paths as sent", mask, e.Violations[0].Description)
			}
			return
		}
		if mask == "" || mask == "*" {
			if !slices.Equal(touched, requestWritable) {
				t.Fatalf("updateMask %q touches %q, want every writable field", mask, touched)
			}
		}
		for _, top := range touched {
			if !slices.Contains(requestWritable, top) {
				t.Fatalf("updateMask %q touches %q, which is not writable", mask, top)
			}
		}
		// Only the touched fields change: putting them back gives the
		// request as it was.
		was := current()
		got := current()
		apply(&got)
		for _, top := range touched {
			copyField(&got, &was, top)
		}
		if !reflect.DeepEqual(got, was) {
			t.Fatalf("updateMask %q (touching %q) changed other fields:\n got %+v\nwant %+v", mask, touched, got, was)
		}
	})
}
