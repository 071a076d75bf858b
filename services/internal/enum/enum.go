// Package enum turns the values of Comity's string enums (roles, statuses,
// request types, …) into plain strings, for the schemas, messages and
// events that want them.
package enum

// Strings returns values as strings, in order. It is never nil, so that
// an empty list encodes as one (JSON [] rather than null).
func Strings[S ~string](values []S) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
