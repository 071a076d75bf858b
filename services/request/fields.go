package request

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/comity-mla/comity/services/errs"
)

// A Request field's tags are its one description: `json` is its name, the
// snake_case name of the stored document and of the API, and `class` says
// how the rules treat it, a comma-separated list of
//   - metadata or content (exactly one): metadata is what callers who may
//     see only metadata (auditors) get (redact); content is everything else;
//   - server: not the drafter's to set: reset on create, kept on update;
//   - immutable: never changes once the request exists (a store refuses
//     such an update, CheckImmutable).
//
// Adding a field to Request is adding it with both tags; the rules below
// follow, and TestFieldsClassified fails on a field without them.

// requestField is one top-level field of Request as its tags classify it.
type requestField struct {
	index     int
	name      string
	metadata  bool
	server    bool
	immutable bool
}

// requestFields are Request's fields in declaration order, classified once.
var requestFields = classifyFields(reflect.TypeFor[Request]())

// classifyFields reads the class tags of struct type t. A missing or
// unknown class is a programming error, reported by TestFieldsClassified.
func classifyFields(t reflect.Type) []requestField {
	out := make([]requestField, 0, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		f := requestField{index: i, name: name}
		for c := range strings.SplitSeq(sf.Tag.Get("class"), ",") {
			switch c {
			case "metadata":
				f.metadata = true
			case "server":
				f.server = true
			case "immutable":
				f.immutable = true
			}
		}
		out = append(out, f)
	}
	return out
}

// fieldsErr describes what is wrong with the tags of struct type t: a field
// without a name, or not exactly one of metadata and content, or an unknown
// class, or an immutable field that == cannot compare. It is nil for
// Request.
func fieldsErr(t reflect.Type) error {
	for i := range t.NumField() {
		sf := t.Field(i)
		if name, _, _ := strings.Cut(sf.Tag.Get("json"), ","); name == "" || name == "-" {
			return fmt.Errorf("%s.%s has no json name", t.Name(), sf.Name)
		}
		var visibility int
		for c := range strings.SplitSeq(sf.Tag.Get("class"), ",") {
			switch c {
			case "metadata", "content":
				visibility++
			case "server", "immutable":
			default:
				return fmt.Errorf("%s.%s: unknown class %q", t.Name(), sf.Name, c)
			}
		}
		if strings.Contains(sf.Tag.Get("class"), "immutable") && !sf.Type.Comparable() {
			return fmt.Errorf("%s.%s is immutable but not comparable", t.Name(), sf.Name)
		}
		if visibility != 1 {
			return fmt.Errorf("%s.%s must be exactly one of metadata and content", t.Name(), sf.Name)
		}
	}
	return nil
}

// copyFields sets in dst the fields of src that keep selects.
func copyFields(dst *Request, src Request, keep func(requestField) bool) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
	for _, f := range requestFields {
		if keep(f) {
			d.Field(f.index).Set(s.Field(f.index))
		}
	}
}

func isServer(f requestField) bool   { return f.server }
func isMetadata(f requestField) bool { return f.metadata }

// KeepServerFields sets in r the fields of cur that are not the drafter's
// to set (class server): identity, parties, lifecycle and the times.
func (r *Request) KeepServerFields(cur Request) {
	copyFields(r, cur, isServer)
}

// resetServerFields zeroes the fields of r that are not the drafter's to
// set: what a create body says of them is ignored.
func resetServerFields(r *Request) {
	copyFields(r, Request{}, isServer)
}

// redact returns the metadata of r (class metadata): parties, type,
// priority, legal basis, status, deadlines and dates.
func redact(r Request) Request {
	var out Request
	copyFields(&out, r, isMetadata)
	return out
}

// CheckImmutable refuses next as the new state of cur when it changes a
// field that never changes once the request exists (class immutable): what
// identifies the request and its requesting side. The store calls it in
// Update, on both engines.
func CheckImmutable(cur, next Request) error {
	c, n := reflect.ValueOf(cur), reflect.ValueOf(next)
	for _, f := range requestFields {
		if !f.immutable {
			continue
		}
		if was, is := c.Field(f.index), n.Field(f.index); !was.Equal(is) {
			return errs.New(errs.Invalid, "the %s of request %s cannot change from %q to %q",
				strings.ReplaceAll(f.name, "_", " "), cur.ID, was.Interface(), is.Interface())
		}
	}
	return nil
}
