package main

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzPracticeFlagValues feeds arbitrary text to the parsers of --item,
// --condition and --person. None may panic; a refusal names its flag; what
// is accepted is what the text says: written back in the flag's syntax, it
// reads the same.
func FuzzPracticeFlagValues(f *testing.F) {
	for _, s := range []string{
		"0/connection logs=PROVIDED", "1/subscriber data=not_retained:Kept 6 months only: deleted", "499/x=IMPOSSIBLE:",
		"-1/x=PROVIDED", "500/x=PROVIDED", "0/=PROVIDED", "0/x", "/x=PROVIDED", "0x10/x=PROVIDED", " 7 / a=b =REFUSED:r",
		"DELETE_BY:2026-12-31=Delete after the trial", "RETURN:2026-12-31T18:00:00+05:00=x=y", "CONFIDENTIAL", "other=", "DELETE_BY:=x",
		"Ivan Ivanov:suspect;date-of-birth=1990-01-02;nationality=kz", "Example LLP;kind=LEGAL;representative=A/director/Tashkent",
		"X;kind=", ";;", ":", "\x00", "é/é=PROVIDED", strings.Repeat("9", 40) + "/x=PROVIDED",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if it, err := parseItem(s); err != nil {
			if !strings.Contains(err.Error(), "--item") {
				t.Fatalf("parseItem(%q): %v does not name --item", s, err)
			}
		} else {
			if it.GetIdentifierIndex() < 0 || it.GetIdentifierIndex() >= 500 || it.GetOutcome() == 0 || it.GetDataCategory() == "" {
				t.Fatalf("parseItem(%q) accepted %v", s, it)
			}
			back := fmt.Sprintf("%d/%s=%s:%s", it.GetIdentifierIndex(), it.GetDataCategory(), it.GetOutcome(), it.GetReason())
			again, err := parseItem(back)
			if err != nil || !proto.Equal(it, again) {
				t.Fatalf("parseItem(%q) = %v, but %q reads %v, %v", s, it, back, again, err)
			}
		}
		if c, err := parseCondition(s); err != nil {
			if !strings.Contains(err.Error(), "--condition") {
				t.Fatalf("parseCondition(%q): %v does not name --condition", s, err)
			}
		} else if c.GetKind() == 0 {
			t.Fatalf("parseCondition(%q) accepted %v", s, c)
		}
		if p, err := parsePerson(s); err != nil {
			if !strings.Contains(err.Error(), "--person") {
				t.Fatalf("parsePerson(%q): %v does not name --person", s, err)
			}
		} else if strings.TrimSpace(p.GetFullName()) == "" || strings.Contains(p.GetFullName(), ";") {
			t.Fatalf("parsePerson(%q) accepted %v", s, p)
		}
	})
}
