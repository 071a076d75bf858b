package grpcserver

import (
	"fmt"
	"strings"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// patternWords says in words what each pattern of the .proto files'
// validation rules asks for, so that a caller reads "must be an e-mail
// address", not the regular expression. TestPatternWords fails when a
// pattern of the protos is missing here.
var patternWords = map[string]string{
	`^requests/[A-Za-z0-9-]{1,64}$`:                                "must be a request's name: requests/ and its id (1 to 64 letters, digits or -)",
	`^requests/[A-Za-z0-9-]{1,64}/attachments/[A-Za-z0-9-]{1,64}$`: "must be an attachment's name: requests/<id>/attachments/<id>",
	`^agencies/[a-z0-9][a-z0-9-]{0,62}$`:                           "must be an agency's name: agencies/ and its id, e.g. agencies/kz-gpo",
	`^(agencies/[a-z0-9][a-z0-9-]{0,62})?$`:                        "must be empty or an agency's name: agencies/ and its id, e.g. agencies/kz-gpo",
	`^states/[A-Za-z]{2}$`:                                         "must be a state's name: states/ and its two-letter code, e.g. states/KZ",
	`^[a-z]{2}-[a-z0-9][a-z0-9-]{0,59}$`:                           "must be an agency id: its state's code in lower case, -, then lower-case letters, digits or -, e.g. kz-gpo",
	`^[A-Za-z]{2}$`:                                                "must be a two-letter state code (ISO 3166-1 alpha-2), e.g. KZ",
	`^([A-Za-z]{2})?$`:                                             "must be empty or a two-letter state code (ISO 3166-1 alpha-2), e.g. KZ",
	`^[A-Z]{2}$`:                                                   "must be a two-letter state code in capitals (ISO 3166-1 alpha-2), e.g. KZ",
	`^([A-Z]{2})?$`:                                                "must be empty or a two-letter country code in capitals (ISO 3166-1 alpha-2), e.g. KZ",
	`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`:                             "must be a language tag (BCP 47), e.g. ru or uz-Latn",
	`^([a-z]{2,3}(-[A-Za-z0-9]{2,8})*)?$`:                          "must be empty or a language tag (BCP 47), e.g. ru or uz-Latn",
	`^[0-9a-f]{64}$`:                                               "must be a SHA-256 digest: 64 lower-case hexadecimal digits",
	`^([0-9a-f]{64})?$`:                                            "must be empty or a SHA-256 digest: 64 lower-case hexadecimal digits",
	`^([0-9]{4}-[0-9]{2}-[0-9]{2})?$`:                              "must be empty or a date written YYYY-MM-DD, e.g. 1985-04-12",
	`^(\+[0-9][0-9 ()-]{5,30})?$`:                                  "must be empty or a telephone number in international form, e.g. +77172712400",
	`^([^@\s]+@[^@\s]+\.[^@\s]+)?$`:                                "not an e-mail address: write it as name@example.org",
	`^([A-Za-z0-9_-]{1,128})?$`:                                    "must be empty or 1 to 128 letters, digits, _ or -",
	`^([0-9]{1,12}(\.[0-9]{1,2})?)?$`:                              "must be empty or an amount: digits, with at most two after a point, e.g. 1500.00",
	`^([A-Z]{3})?$`:                                                "must be empty or a currency code in capitals (ISO 4217), e.g. KZT",
	`^([a-z-]{1,40})?$`:                                            "must be empty or a purpose category: lower-case letters and -, e.g. stated-proceedings or undeclared",
	`^dataSubjectRequests/[A-Za-z0-9-]{1,64}$`:                     "must be a data subject's request's name: dataSubjectRequests/ and its id (1 to 64 letters, digits or -)",
	`^[A-Z][A-Z0-9_]{0,63}$`:                                       "must be a check's name: a capital letter, then up to 63 capitals, digits or _, e.g. LEGAL_BASIS",
	`^[A-Z][A-Z0-9_]{0,39}$`:                                       "must be an outcome: a capital letter, then up to 39 capitals, digits or _, e.g. PASSED",
}

// describe words a protovalidate violation for the caller, by its rule id,
// instead of the validator's own message ("must not be in list [0]",
// "does not match regex pattern ^…"): what the field must be, and for an
// enum the values it takes. A rule without words here keeps the
// validator's message, less its "value " prefix.
func describe(v *protovalidate.Violation) string {
	rule := v.Proto.GetRuleId()
	fd := v.FieldDescriptor
	var ed protoreflect.EnumDescriptor
	if fd != nil {
		ed = fd.Enum()
		if fd.IsMap() {
			ed = fd.MapValue().Enum()
		}
	}
	n := func() uint64 {
		if !v.RuleValue.IsValid() {
			return 0
		}
		switch x := v.RuleValue.Interface().(type) {
		case uint64:
			return x
		case int64:
			return uint64(max(x, 0))
		}
		return 0
	}
	_, kind, _ := strings.Cut(rule, ".")
	switch {
	case rule == "required" || rule == "enum.not_in" && enumNumber(v) == 0:
		if ed != nil {
			return "is required: one of " + strings.Join(enumNames(ed), ", ")
		}
		if fd == nil {
			// A oneof: the field is its name.
			return "is required: give one of its fields"
		}
		return "is required"
	case rule == "enum.defined_only" || rule == "enum.in" || rule == "enum.not_in":
		if ed != nil {
			return fmt.Sprintf("%s is not one of %s", enumShow(ed, enumNumber(v)), strings.Join(enumNames(ed), ", "))
		}
	case rule == "string.pattern":
		pattern := ""
		if v.RuleValue.IsValid() {
			pattern = v.RuleValue.String()
		}
		if w, ok := patternWords[pattern]; ok {
			return w
		}
		return "is not in the form this field takes"
	case rule == "string.min_len" && n() == 1:
		return "is required"
	case rule == "string.min_len":
		return fmt.Sprintf("must be at least %d characters", n())
	case rule == "string.max_len":
		return fmt.Sprintf("must be at most %d characters", n())
	case rule == "bytes.max_len":
		return fmt.Sprintf("must be at most %d bytes", n())
	case rule == "repeated.min_items" && n() == 1:
		return "is required: give at least one"
	case rule == "repeated.min_items":
		return fmt.Sprintf("must have at least %d items", n())
	case rule == "repeated.max_items":
		return fmt.Sprintf("must have at most %d items", n())
	case rule == "repeated.unique":
		return "must not give the same value twice"
	case rule == "map.max_pairs":
		return fmt.Sprintf("must have at most %d entries", n())
	case rule == "string.uuid":
		return "must be a UUID, e.g. 0f8fad5b-d9cb-469f-a165-70867728950e"
	case rule == "string.const" && v.RuleValue.IsValid():
		return fmt.Sprintf("must be %q", v.RuleValue.String())
	case kind == "gte_lte" || kind == "gt" || kind == "gte" || kind == "lt" || kind == "lte" || kind == "gt_lt":
		// The validator's words for ranges are words already ("value must
		// be greater than or equal to 0 and less than or equal to 10000").
	}
	msg := v.Proto.GetMessage()
	if msg == "" {
		return "is not valid"
	}
	return strings.TrimPrefix(msg, "value ")
}

func enumNumber(v *protovalidate.Violation) protoreflect.EnumNumber {
	if !v.FieldValue.IsValid() {
		return 0
	}
	n, _ := v.FieldValue.Interface().(protoreflect.EnumNumber)
	return n
}

// enumNames are the names an enum takes as input: all but the zero value.
func enumNames(ed protoreflect.EnumDescriptor) []string {
	var out []string
	for i := range ed.Values().Len() {
		if ev := ed.Values().Get(i); ev.Number() != 0 {
			out = append(out, string(ev.Name()))
		}
	}
	return out
}

func enumShow(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) string {
	if ev := ed.Values().ByNumber(n); ev != nil {
		return string(ev.Name())
	}
	return fmt.Sprint(int32(n))
}
