package aip

import "strings"

// ProtoPath turns a field path as REST callers write it, in JSON names
// (lowerCamelCase, e.g. `trustedIssuers` in ?updateMask=), into the proto
// field path (`trusted_issuers`) that update masks are checked against.
func ProtoPath(jsonPath string) string {
	var b strings.Builder
	for _, r := range jsonPath {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
