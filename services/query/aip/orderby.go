package aip

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"go.einride.tech/aip/ordering"

	"github.com/comity-mla/comity/services/query"
)

// ParseOrderBy parses an AIP-132 order_by, such as "priority desc, createTime",
// into orders over the fields of s. An empty (or all-space) order_by yields
// nil, nil: the store's default order.
//
// A bad order_by yields an *errs.Error of code errs.Invalid with one violation
// of field "order_by". A mistake in s itself yields a plain (internal) error.
func ParseOrderBy(orderBy string, s query.Schema) ([]query.Order, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := checkSize(orderByField, orderBy); err != nil {
		return nil, err
	}
	if strings.TrimSpace(orderBy) == "" {
		return nil, nil
	}
	var ob ordering.OrderBy
	if err := ob.UnmarshalString(orderBy); err != nil {
		return nil, orderBySyntaxError(orderBy)
	}
	orders := make([]query.Order, 0, len(ob.Fields))
	seen := make(map[string]bool, len(ob.Fields))
	for _, f := range ob.Fields {
		if _, ok := s.Lookup(f.Path); !ok {
			return nil, invalid(orderByField, "unknown field %q; the fields you can order by are %s",
				f.Path, list(s.Names()))
		}
		if seen[f.Path] {
			return nil, invalid(orderByField, "field %q appears more than once", f.Path)
		}
		seen[f.Path] = true
		orders = append(orders, query.Order{Field: f.Path, Desc: f.Desc})
	}
	return orders, nil
}

// orderBySyntaxError finds what einride refused in orderBy and says so;
// einride's own errors do not say where.
func orderBySyntaxError(orderBy string) error {
	for i, r := range orderBy {
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '_' && r != ' ' && r != ',' && r != '.' {
			return invalid(orderByField, "unexpected character %q at column %d; "+
				`write field names separated by commas, each optionally followed by "desc"`,
				r, utf8.RuneCountInString(orderBy[:i])+1)
		}
	}
	off := 0
	for item := range strings.SplitSeq(orderBy, ",") {
		col := utf8.RuneCountInString(orderBy[:off]) + 1
		off += len(item) + 1
		switch words := strings.Fields(item); {
		case len(words) == 0:
			return invalid(orderByField, "empty item at column %d; separate field names with single commas", col)
		case len(words) == 2 && words[1] != "asc" && words[1] != "desc":
			return invalid(orderByField, `%s: the direction after a field must be "asc" or "desc", not %s`,
				quote(strings.TrimSpace(item)), quote(words[1]))
		case len(words) > 2:
			return invalid(orderByField, `%s is not a field name optionally followed by "asc" or "desc"; `+
				"separate fields with commas", quote(strings.TrimSpace(item)))
		}
	}
	return invalid(orderByField, `write field names separated by commas, each optionally followed by "desc"`)
}

// ParseList parses what a List call asks of its items: its filter against
// s (ParseFilter) and its order_by against order (ParseOrderBy), the
// filter's error first.
func ParseList(filter, orderBy string, s, order query.Schema) (query.Expr, []query.Order, error) {
	f, err := ParseFilter(filter, s)
	if err != nil {
		return nil, nil, err
	}
	o, err := ParseOrderBy(orderBy, order)
	if err != nil {
		return nil, nil, err
	}
	return f, o, nil
}
