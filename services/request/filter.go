package request

import (
	"fmt"
	"time"

	"github.com/comity-mla/comity/services/query"
)

// Matches reports whether r, as it was at time at, matches filter e on
// RequestSchema's fields: the list's filter applied to one request in
// memory, so that Watch can apply it to each change against the request as
// it was right after that change rather than as it is when the feed reads
// it. overdue is Overdue at at. Every field of RequestSchema is set on a
// request, so SQL's three-valued logic, which the stores follow, gives the
// same answer here. A field or value the schema does not allow is an error;
// aip.ParseFilter has refused those already.
func Matches(e query.Expr, r Request, at time.Time) (bool, error) {
	switch x := e.(type) {
	case nil:
		return true, nil
	case query.And:
		return matchBoth(x.Left, x.Right, r, at, true)
	case *query.And:
		return matchBoth(x.Left, x.Right, r, at, true)
	case query.Or:
		return matchBoth(x.Left, x.Right, r, at, false)
	case *query.Or:
		return matchBoth(x.Left, x.Right, r, at, false)
	case query.Not:
		ok, err := Matches(x.X, r, at)
		return !ok, err
	case *query.Not:
		ok, err := Matches(x.X, r, at)
		return !ok, err
	case query.Compare:
		return compare(x, r, at)
	case *query.Compare:
		return compare(*x, r, at)
	}
	return false, fmt.Errorf("request filter: unexpected %T", e)
}

func matchBoth(left, right query.Expr, r Request, at time.Time, and bool) (bool, error) {
	l, err := Matches(left, r, at)
	if err != nil {
		return false, err
	}
	if l != and {
		// false AND …, true OR …
		return l, nil
	}
	return Matches(right, r, at)
}

// compare evaluates one comparison of a RequestSchema field.
func compare(c query.Compare, r Request, at time.Time) (bool, error) {
	var field any
	switch c.Field {
	case "status":
		field = string(r.Status)
	case "type":
		field = string(r.Type)
	case "priority":
		field = string(r.Priority)
	case "requestingState":
		field = r.RequestingState
	case "requestedState":
		field = r.RequestedState
	case "requestingAgency":
		field = r.RequestingAgency
	case "requestedAgency":
		field = r.RequestedAgency
	case "reference":
		field = r.Reference
	case "overdue":
		field = Overdue(r, at)
	case "createTime":
		field = r.CreateTime
	case "updateTime":
		field = r.UpdateTime
	default:
		return false, fmt.Errorf("request filter: unknown field %q", c.Field)
	}
	var order int
	switch f := field.(type) {
	case string:
		v, ok := c.Value.(string)
		if !ok {
			return false, fmt.Errorf("request filter: %s compared to %T", c.Field, c.Value)
		}
		switch {
		case f < v:
			order = -1
		case f > v:
			order = 1
		}
	case bool:
		v, ok := c.Value.(bool)
		if !ok || (c.Op != query.Eq && c.Op != query.Ne) {
			return false, fmt.Errorf("request filter: %s compared by %s to %T", c.Field, c.Op, c.Value)
		}
		if f != v {
			order = 1
		}
	case time.Time:
		v, ok := c.Value.(time.Time)
		if !ok {
			return false, fmt.Errorf("request filter: %s compared to %T", c.Field, c.Value)
		}
		order = f.Compare(v)
	}
	switch c.Op {
	case query.Eq:
		return order == 0, nil
	case query.Ne:
		return order != 0, nil
	case query.Lt:
		return order < 0, nil
	case query.Le:
		return order <= 0, nil
	case query.Gt:
		return order > 0, nil
	case query.Ge:
		return order >= 0, nil
	}
	return false, fmt.Errorf("request filter: unknown operator %q", c.Op)
}
