package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// FuzzDataProtectionFlagValues feeds arbitrary text to the parsers of the
// flags of DESIGN §10: --use-condition, --retention-after-close, --purpose
// and a data subject's request's name. None may panic; a refusal names its
// flag; what is accepted is what the API takes.
func FuzzDataProtectionFlagValues(f *testing.F) {
	for _, s := range []string{
		"NO_ONWARD_TRANSFER=Not without consent", "delete_by:2027-12-31=Delete after the trial", "REPORT_USE:2027-06-30T12:00:00+05:00=x=y",
		"RETURN:", "OTHER", "=x", ":", "1d", "5y", "43800h", "1825D", "0d", "101y", "36500d", "36501d", "-1d", "9223372036854775807d", "1e9h",
		"default", " DEFAULT ", "execution", "Stated-Proceedings", "undeclared", "dataSubjectRequests/0192f0c4-aa", "dataSubjectRequests/", "../x",
		"\x00", "é", strings.Repeat("9", 40) + "y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := parseConditionFlag("use-condition", s); err != nil {
			if !strings.Contains(err.Error(), "--use-condition") {
				t.Fatalf("parseConditionFlag(%q): %v does not name --use-condition", s, err)
			}
		} else {
			if c.GetKind() == 0 {
				t.Fatalf("parseConditionFlag(%q) accepted %v", s, c)
			}
			// The same text as --condition reads the same.
			if again, err := parseCondition(s); err != nil || !proto.Equal(c, again) {
				t.Fatalf("--use-condition %q reads %v, --condition %v, %v", s, c, again, err)
			}
		}
		if d, err := parseRetention(s); err != nil {
			if !strings.Contains(err.Error(), "--retention-after-close") {
				t.Fatalf("parseRetention(%q): %v does not name --retention-after-close", s, err)
			}
		} else if d == nil {
			if !strings.EqualFold(strings.TrimSpace(s), "default") {
				t.Fatalf("parseRetention(%q) removed the state's retention", s)
			}
		} else if v := d.AsDuration(); v < 24*time.Hour || v > 100*365*24*time.Hour || d.CheckValid() != nil {
			t.Fatalf("parseRetention(%q) accepted %v", s, v)
		}
		if p, err := readPurpose("--purpose", s); err != nil {
			if !strings.Contains(err.Error(), "--purpose") {
				t.Fatalf("readPurpose(%q): %v does not name --purpose", s, err)
			}
		} else if p != "" && !slices.Contains(readPurposes, p) {
			t.Fatalf("readPurpose(%q) accepted %q", s, p)
		}
		if n, err := subjectRequestName(s); err == nil {
			id := strings.TrimPrefix(n, "dataSubjectRequests/")
			if !subjectRequestPattern.MatchString(id) || strings.ContainsAny(id, "/?#.%") {
				t.Fatalf("subjectRequestName(%q) = %q: not a name to put in a URL path", s, n)
			}
		}
	})
}
