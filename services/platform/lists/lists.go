// Package lists holds what converting between the API's and the domain's
// lists needs, one place for the services' gRPC layers.
package lists

// Convert converts each of in with f; nil when in is empty, as the API and
// the domain leave an empty list.
func Convert[S, T any](in []S, f func(S) T) []T {
	var out []T
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}
