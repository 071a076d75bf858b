package request

import (
	"cmp"
	"reflect"
	"slices"
	"strings"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
)

// treatySafeguards checks a request against what the directory records of
// its legal basis between the two states (DESIGN §5.6): recorded NOT_IN_FORCE
// for either state is refused, naming the legal basis and the state; the
// instrument's required fields must be filled. It reports whether the legal
// basis is unconfirmed (its status UNKNOWN for either state), which does not
// stop the request. A bilateral treaty (cited, see safeguards) and
// reciprocity have no profile, and neither has a legal basis the directory
// keeps no profile of.
func treatySafeguards(r Request, tr directory.Treaties) (vs errs.Violations, unconfirmed bool) {
	if !directory.Profiled(r.LegalBasis) {
		return nil, false
	}
	for _, st := range []directory.State{tr.Requesting, tr.Requested} {
		switch st.StatusOf(r.LegalBasis) {
		case directory.NotInForce:
			vs.AddReason("legal_basis", "LEGAL_BASIS_NOT_IN_FORCE", "%s is not in force for %s according to the directory", r.LegalBasis, st.Code)
		case directory.Unknown:
			unconfirmed = true
		}
	}
	p, ok := tr.Profile(r.LegalBasis)
	if !ok {
		return vs, unconfirmed
	}
	for _, path := range p.RequiredFields {
		filled, known := fieldFilled(r, path)
		switch {
		case !known:
			vs.AddReason("legal_basis", "INSTRUMENT_FIELD_UNKNOWN", "the directory's profile of %s requires %q, which is no field of a request; ask the directory's administrators to correct it", r.LegalBasis, path)
		case !filled:
			vs.AddReason(path, "REQUIRED_BY_INSTRUMENT", "required under %s", cmp.Or(p.DisplayName, r.LegalBasis))
		}
	}
	return vs, unconfirmed
}

// withInstrumentLanguages returns receiver accepting also the languages the
// instrument of r's legal basis accepts whatever the agency lists (Russian
// under the CIS instruments), unless the instrument is recorded not in force.
func withInstrumentLanguages(receiver directory.Agency, r Request, tr directory.Treaties) directory.Agency {
	p, ok := tr.Profile(r.LegalBasis)
	if !ok || len(p.Languages) == 0 ||
		tr.Requesting.StatusOf(r.LegalBasis) == directory.NotInForce || tr.Requested.StatusOf(r.LegalBasis) == directory.NotInForce {
		return receiver
	}
	receiver.AcceptedLanguages = slices.Clone(receiver.AcceptedLanguages)
	for _, l := range p.Languages {
		if !slices.Contains(receiver.AcceptedLanguages, l) {
			receiver.AcceptedLanguages = append(receiver.AcceptedLanguages, l)
		}
	}
	return receiver
}

// fieldFilled says whether the request field at path (its proto name, the
// json name of Request, dotted for nested messages: "offence.statute_text")
// is filled: a text not blank, a number not zero, a list not empty, a
// message present. known is false when path names no field of a request.
func fieldFilled(r Request, path string) (filled, known bool) {
	v := reflect.ValueOf(r)
	for part := range strings.SplitSeq(path, ".") {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				// The message is absent: its fields are not filled, if
				// they exist.
				return false, fieldExists(v.Type().Elem(), part)
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return false, false
		}
		f, ok := fieldByJSON(v.Type(), part)
		if !ok {
			return false, false
		}
		v = v.FieldByIndex(f.Index)
	}
	switch v.Kind() {
	case reflect.String:
		return strings.TrimSpace(v.String()) != "", true
	case reflect.Slice, reflect.Map:
		return v.Len() > 0, true
	default:
		return !v.IsZero(), true
	}
}

func fieldExists(t reflect.Type, name string) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	_, ok := fieldByJSON(t, name)
	return ok
}

// fieldByJSON finds the field of struct type t whose json name is name.
func fieldByJSON(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name && name != "" && name != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
