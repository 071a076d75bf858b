package trail_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/comity-mla/comity/services/trail"
)

func TestCut(t *testing.T) {
	long := "requests/" + strings.Repeat("A", 300)
	for _, tc := range []struct {
		name, in string
		limit    int
		// prefix is what the result begins with; same means unchanged.
		prefix string
		same   bool
	}{
		{"short and clean", "requests/abc", 300, "", true},
		{"exactly the bound", strings.Repeat("é", 300), 300, "", true},
		{"too long", long, 300, "requests/AAA", false},
		{"bidirectional override", "requests/\u202efdp.exe", 300, "requests/\ufffdfdp.exe…[cut sha256:", false},
		{"control character", "agencies/kz\x00gpo", 100, "agencies/kz\ufffdgpo…[cut sha256:", false},
		{"invalid UTF-8", "requests/\xff\xfe", 300, "requests/\ufffd", false},
		{"bound below the mark", long, 10, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := trail.Cut(tc.in, tc.limit)
			if tc.same {
				if got != tc.in {
					t.Fatalf("Cut(%q) = %q; want it unchanged", tc.in, got)
				}
				return
			}
			if got == tc.in || !strings.HasPrefix(got, tc.prefix) {
				t.Errorf("Cut(%q, %d) = %q; want it to begin with %q", tc.in, tc.limit, got, tc.prefix)
			}
			if n := utf8.RuneCountInString(got); n > tc.limit || !utf8.ValidString(got) {
				t.Errorf("Cut(%q, %d) = %q: %d characters, valid UTF-8 %v", tc.in, tc.limit, got, n, utf8.ValidString(got))
			}
			if again := trail.Cut(got, tc.limit); again != got {
				t.Errorf("Cut changes its own result %q into %q", got, again)
			}
		})
	}
	if a, b := trail.Cut(long+"x", 300), trail.Cut(long+"y", 300); a == b {
		t.Errorf("two long names differing at their end are cut alike: %q", a)
	}
}

func TestBoundedRolesAndStates(t *testing.T) {
	e := trail.Bounded(trail.Event{
		Actor:  trail.Actor{Roles: []string{"auditor", "auditor", "", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}},
		States: []string{"UZ", "KZ", "kz", "KZZ", "", "KZ", "\u212aZ"}, RequestHMAC: "not a digest",
	})
	if got := strings.Join(e.Actor.Roles, ","); got != "auditor,a,b,c,d,e,f,g,h,i" {
		t.Errorf("roles = %s; want auditor and the next 9, once each", got)
	}
	if got := strings.Join(e.States, ","); got != "KZ,UZ" {
		t.Errorf("states = %s; want KZ,UZ", got)
	}
	if e.RequestHMAC != "" || e.Service != "unknown" || e.Action != "unknown" || e.Outcome != "unknown" {
		t.Errorf("Bounded left %+v", e)
	}
}

func TestDigestKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit", "digest.key")
	key, err := trail.EnsureDigestKey(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != trail.DigestKeySize || info.Mode().Perm() != 0o600 {
		t.Errorf("EnsureDigestKey made a key of %d bytes, mode %v; want 32 bytes, 0600", len(key), info.Mode().Perm())
	}
	again, err := trail.EnsureDigestKey(path)
	if err != nil || string(again) != string(key) {
		t.Errorf("EnsureDigestKey a second time = %x, %v; want the same key", again, err)
	}
	if a, b := key.Sum([]byte("m")), trail.DigestKey(make([]byte, 32)).Sum([]byte("m")); a == b || len(a) != 64 {
		t.Errorf("Sum under two keys = %s, %s", a, b)
	}
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"none given", "", "--audit-digest-key"},
		{"missing", filepath.Join(dir, "nope.key"), "no such file"},
		{"too short", short, "holds 7 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := trail.LoadDigestKey(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadDigestKey(%q) = %v; want an error saying %q", tc.path, err, tc.want)
			}
		})
	}
}

func TestBoundedSafeguards(t *testing.T) {
	var many []trail.Safeguard
	for range 70 {
		many = append(many, trail.Safeguard{Check: "LEGAL_BASIS", Outcome: "PASSED"})
	}
	for _, tc := range []struct {
		name string
		in   []trail.Safeguard
		want int
	}{
		{"well-formed", []trail.Safeguard{{"DEATH_PENALTY_ASSURANCE", "NOT_APPLICABLE"}, {"GROUND", "HUMAN_RIGHTS_CONCERNS"}}, 2},
		{"malformed left out", []trail.Safeguard{{"legal_basis", "PASSED"}, {"LEGAL_BASIS", "passed"}, {"", "PASSED"},
			{"LEGAL BASIS", "PASSED"}, {strings.Repeat("A", 65), "PASSED"}, {"A", strings.Repeat("B", 41)}, {"LEGAL_BASIS", "FAILED"}}, 1},
		{"at most 64", many, trail.MaxSafeguards},
		{"none well-formed is none", []trail.Safeguard{{"x", "y"}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := trail.Bounded(trail.Event{Safeguards: tc.in}).Safeguards
			if len(got) != tc.want {
				t.Fatalf("Bounded keeps %d safeguards %v; want %d", len(got), got, tc.want)
			}
			if tc.want == 0 && got != nil {
				t.Errorf("Bounded keeps an empty list, which the leaf would show as \"safeguards\":[]")
			}
			for _, g := range got {
				if !trail.ValidSafeguard(g) {
					t.Errorf("Bounded keeps %v", g)
				}
			}
		})
	}
}
