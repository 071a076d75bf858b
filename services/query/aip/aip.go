// Package aip parses the `filter` (AIP-160) and `order_by` (AIP-132) strings
// of list requests into the values of package query, so that neither the
// domain nor the stores depend on the AIP syntax.
//
// Filters accept this subset of AIP-160:
//
//   - comparisons field OP value, where OP is one of = != < <= > >=, and field
//     is a name declared in the query.Schema (dotted names such as
//     sender.agency are looked up whole);
//   - AND, OR, NOT and the "-" negation, with parentheses; as in AIP-160, OR
//     binds tighter than AND, so a AND b OR c means a AND (b OR c);
//   - values by the field's Kind: String a quoted string ("..." or '...');
//     Bool true or false; Int a decimal (or 0x hex) integer, optionally
//     negative; Timestamp an RFC 3339 time either quoted,
//     createTime > "2026-01-01T00:00:00Z", or as
//     createTime > timestamp("2026-01-01T00:00:00Z"); Enum one of Field.Enum,
//     bare (kind = CENTRAL_AUTHORITY) or quoted (kind = "CENTRAL_AUTHORITY").
//
// Bool and Enum fields take only = and !=. Anything else is refused: the ":"
// (has) operator, functions other than timestamp(), bare words (free-text
// search), conditions side by side without AND or OR, and comparisons whose
// left side is not a field.
//
// Order-bys are AIP-132: declared field names separated by commas, each
// optionally followed by "asc" or "desc" (lower case), each at most once.
//
// Every refusal is an *errs.Error with Code errs.Invalid and one violation of
// field "filter" or "order_by" whose description tells the user what is wrong.
package aip

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/comity-mla/comity/services/errs"
)

// Limits on the input, so that parsing stays cheap whatever a caller sends.
const (
	// MaxLength is the longest filter or order_by accepted, in characters.
	MaxLength = 2048
	// MaxDepth is how deeply a filter may nest parentheses.
	MaxDepth = 32
)

// The violation fields.
const (
	filterField  = "filter"
	orderByField = "order_by"
)

// invalid returns the error for a bad filter or order_by: one violation of
// field whose description is the formatted text.
func invalid(field string, format string, args ...any) *errs.Error {
	return &errs.Error{
		Code:    errs.Invalid,
		Message: "invalid " + field,
		Violations: []errs.Violation{{
			Field:       field,
			Description: fmt.Sprintf(format, args...),
		}},
	}
}

// checkSize refuses input that is not UTF-8 or longer than MaxLength.
func checkSize(field, s string) error {
	if !utf8.ValidString(s) {
		return invalid(field, "the %s is not valid UTF-8 text", field)
	}
	if n := utf8.RuneCountInString(s); n > MaxLength {
		return invalid(field, "the %s is %d characters long; the limit is %d", field, n, MaxLength)
	}
	return nil
}

// quote quotes user text for a description, shortened when long.
func quote(s string) string {
	const maxRunes = 40
	if utf8.RuneCountInString(s) <= maxRunes {
		return strconv.Quote(s)
	}
	runes := []rune(s)
	return strconv.Quote(string(runes[:maxRunes])) + "…"
}

// list joins names for a description.
func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
