package console

import (
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// violation is one complaint of a service about one field.
type violation struct {
	// Field is the field's path as the service names it, e.g.
	// "offence.description" or "identifiers[0].value".
	Field string
	// Text is the complaint in the user's language when the console knows
	// the service's reason code, else the service's own words.
	Text string
	// Detail is the service's own words when Text is the console's: they
	// may name what the console's text cannot (the languages an agency
	// accepts, the value refused).
	Detail string
}

// formErrors is what a service said was wrong with a form, so that the form
// shows each complaint next to its field and the rest above the form.
type formErrors struct {
	// Message is the general complaint, in the user's language.
	Message string
	// Detail is the service's own message.
	Detail string
	// Unplaced are the complaints about fields the form does not show.
	Unplaced []violation
	placed   map[string][]violation
}

// formError returns what a form shows of err: false when err is not a
// refusal of the form's content (the caller then shows c.serviceError).
// fields are the paths of the form's fields; a complaint about a field
// goes to the first of fields that is the field itself or contains it
// ("identifiers" holds "identifiers[0].value").
func formError(pg page, err error, fields ...string) (*formErrors, bool) {
	return formErrorRenumbered(pg, err, nil, fields...)
}

// formErrorRenumbered is formError with the complaints' field paths
// turned into the form's by renumber, when set.
func formErrorRenumbered(pg page, err error, renumber func(string) string, fields ...string) (*formErrors, bool) {
	if !isFormRefusal(err) {
		return nil, false
	}
	st := status.Convert(err)
	fe := &formErrors{Message: refusalMessage(pg, st.Code()), Detail: st.Message(), placed: map[string][]violation{}}
	for _, v := range violations(pg, st) {
		if renumber != nil {
			v.Field = renumber(v.Field)
		}
		if f := placeOf(v.Field, fields); f != "" {
			fe.placed[f] = append(fe.placed[f], v)
		} else {
			fe.Unplaced = append(fe.Unplaced, v)
		}
	}
	return fe, true
}

// isFormRefusal says whether err refuses the form's content (rather than
// the user or the service being unavailable).
func isFormRefusal(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.AlreadyExists, codes.Aborted:
		return true
	}
	return false
}

// refusalMessage is the general complaint above a form the service refused
// with code.
func refusalMessage(pg page, code codes.Code) string {
	switch code {
	case codes.Aborted:
		return pg.T("error.conflict")
	case codes.AlreadyExists:
		return pg.T("error.already_exists")
	}
	return pg.T("error.invalid")
}

// For returns the complaints about the form's field.
func (fe *formErrors) For(field string) []violation {
	if fe == nil {
		return nil
	}
	return fe.placed[field]
}

// Has says whether the form's field has complaints.
func (fe *formErrors) Has(field string) bool { return len(fe.For(field)) > 0 }

// Any says whether there is anything to show.
func (fe *formErrors) Any() bool { return fe != nil }

func placeOf(field string, fields []string) string {
	for _, f := range fields {
		if field == f || strings.HasPrefix(field, f+".") || strings.HasPrefix(field, f+"[") {
			return f
		}
	}
	return ""
}

// violations are the field complaints a status carries, as BadRequest or
// PreconditionFailure details. A complaint is shown in the user's language
// when the catalog has "violation.<reason>" for its reason code (the
// BadRequest field violation's reason, or the precondition violation's
// type), with the field's label as {{.Field}}; else in the service's words.
func violations(pg page, st *status.Status) []violation {
	var out []violation
	add := func(field, reason, desc string) {
		v := violation{Field: field, Text: desc}
		if reason != "" {
			if t := pg.T("violation."+reason, map[string]any{"Field": fieldLabel(pg, field)}); t != "violation."+reason {
				v.Text, v.Detail = t, desc
			}
		}
		out = append(out, v)
	}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				add(v.GetField(), v.GetReason(), v.GetDescription())
			}
		case *errdetails.PreconditionFailure:
			for _, v := range d.GetViolations() {
				add(v.GetSubject(), v.GetType(), v.GetDescription())
			}
		}
	}
	return out
}

// fieldLabel is the label of a field path in the user's language: the
// message "field.<path>" with indexes dropped ("identifiers[0].value" is
// "field.identifiers.value"), else the path itself.
func fieldLabel(pg page, path string) string {
	id := "field." + indexless(path)
	if t := pg.T(id); t != id {
		return t
	}
	return path
}

// indexless drops the indexes of a field path: "identifiers[0].value" is
// "identifiers.value".
func indexless(path string) string {
	var b strings.Builder
	skip := false
	for _, r := range path {
		switch {
		case r == '[':
			skip = true
		case r == ']':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}
