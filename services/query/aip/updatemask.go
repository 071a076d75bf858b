package aip

import (
	"fmt"
	"slices"
	"strings"

	"go.einride.tech/aip/fieldbehavior"
	"go.einride.tech/aip/fieldmask"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/comity-mla/comity/services/errs"
)

// etagField is the concurrency token of AIP-154: sent back on update, but
// not content an update changes, and carrying no field_behavior.
const etagField = "etag"

// ignoredBehaviors are the field behaviors an update never changes: what
// the server sets (OUTPUT_ONLY), the name (IDENTIFIER) and what is fixed at
// creation (IMMUTABLE, which the caller checks against the stored value
// itself).
var ignoredBehaviors = []annotations.FieldBehavior{
	annotations.FieldBehavior_OUTPUT_ONLY,
	annotations.FieldBehavior_IDENTIFIER,
	annotations.FieldBehavior_IMMUTABLE,
}

// UpdatePaths returns the paths (proto names) an update of msg's type
// changes, read from its update_mask and from the field_behavior
// annotations of its fields (AIP-134, AIP-203):
//
//   - an absent mask or `*` means every writable top-level field;
//   - output-only, identifier and immutable fields, and the etag, are
//     ignored wherever they appear, explicitly named or not. The gateway
//     infers a PATCH's mask from the JSON body, so a resource read with GET
//     and sent back names them all; refusing them would refuse
//     read-modify-write;
//   - a path into a nested message (offence.description) changes that
//     field only; a path into a repeated field or a map, or into a
//     well-known type, is refused: such a field is replaced whole;
//   - a path that is no field of msg is refused.
//
// REST callers may write paths in JSON names (factsSummary); what names
// msg's type in the errors (e.g. "an agency").
func UpdatePaths(mask *fieldmaskpb.FieldMask, msg proto.Message, what string) ([]string, error) {
	md := msg.ProtoReflect().Descriptor()
	if len(mask.GetPaths()) == 0 || fieldmask.IsFullReplacement(mask) {
		return WritableFields(md), nil
	}
	invalid := func(format string, args ...any) error {
		return (errs.Violations{{Field: "update_mask", Description: fmt.Sprintf(format, args...)}}).Err(errs.Invalid, "invalid update mask")
	}
	var paths []string
	for _, raw := range mask.GetPaths() {
		path := ProtoPath(raw)
		if path == fieldmask.WildcardPath {
			return nil, invalid("%q must be the only path of the mask", raw)
		}
		keep, whole, known := writablePath(md, path)
		switch {
		case whole != "":
			return nil, invalid("%q cannot be updated on its own; update %q whole", raw, whole)
		case !known || fieldmask.Validate(&fieldmaskpb.FieldMask{Paths: []string{path}}, msg) != nil:
			return nil, invalid("%q is not a field of %s", raw, what)
		}
		if keep && !slices.Contains(paths, path) {
			paths = append(paths, path)
		}
	}
	return paths, nil
}

// WritableFields returns the top-level fields of md an update may change,
// in proto order: those without an ignored behavior, etag aside.
func WritableFields(md protoreflect.MessageDescriptor) []string {
	var out []string
	fields := md.Fields()
	for i := range fields.Len() {
		if f := fields.Get(i); !ignored(f) {
			out = append(out, string(f.Name()))
		}
	}
	return out
}

// writablePath reports whether path changes something in md: keep is
// false when one of its fields is ignored. A path through a repeated field,
// a map or a well-known type names in whole the field to update whole;
// known is false when a segment is no field.
func writablePath(md protoreflect.MessageDescriptor, path string) (keep bool, whole string, known bool) {
	segments := strings.Split(path, ".")
	for i, seg := range segments {
		if md == nil {
			return false, "", false
		}
		f := md.Fields().ByName(protoreflect.Name(seg))
		switch {
		case f == nil:
			return false, "", false
		case ignored(f):
			return false, "", true
		case i == len(segments)-1:
			return true, "", true
		case f.IsList() || f.IsMap() || f.Message() == nil || strings.HasPrefix(string(f.Message().FullName()), "google.protobuf."):
			if f.IsList() || f.IsMap() || f.Message() != nil {
				return false, strings.Join(segments[:i+1], "."), true
			}
			return false, "", false
		}
		md = f.Message()
	}
	return true, "", true
}

func ignored(f protoreflect.FieldDescriptor) bool {
	if f.Name() == etagField {
		return true
	}
	return slices.ContainsFunc(ignoredBehaviors, func(b annotations.FieldBehavior) bool { return fieldbehavior.Has(f, b) })
}
