package console

import (
	"encoding/json"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"testing"
)

// TestCatalogComplete fails when a language lacks a message of another, has
// an empty one, or when a message id used by the code is missing: go-i18n
// would fall back to Russian only, silently.
func TestCatalogComplete(t *testing.T) {
	files := map[string]map[string]string{}
	all := map[string]bool{}
	for _, l := range Languages {
		data, err := fs.ReadFile(localeFiles, path.Join("locales", l.Tag+".json"))
		if err != nil {
			t.Fatalf("language %s has no message file: %v", l.Tag, err)
		}
		var m map[string]string
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("locales/%s.json: %v", l.Tag, err)
		}
		files[l.Tag] = m
		for id := range m {
			all[id] = true
		}
	}
	for _, l := range Languages {
		t.Run(l.Tag, func(t *testing.T) {
			for id := range all {
				if text, ok := files[l.Tag][id]; !ok || text == "" {
					t.Errorf("locales/%s.json lacks message %q", l.Tag, id)
				}
			}
			loc := mustCatalog(t).localizer(l.Tag)
			for id := range all {
				if got := loc(id, map[string]any{"Reference": "X", "State": "Y"}); got == id {
					t.Errorf("%s: %q is shown as its id", l.Tag, id)
				}
			}
		})
	}
	// Every id the code asks for exists.
	for _, id := range usedMessageIDs(t) {
		if !all[id] {
			t.Errorf("the code uses message %q, which no language has", id)
		}
	}
}

// usedMessageIDs are the literal message ids in the console's sources.
func usedMessageIDs(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`"((?:common|dashboard|deadline|error|field|layout|request|signin)\.[a-z_]+)"`)
	var ids []string
	for _, f := range []string{"console.go", "signin.go", "pages.go", "i18n.go", "views.templ"} {
		data, err := fs.ReadFile(sourceFS, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			if !slices.Contains(ids, m[1]) {
				ids = append(ids, m[1])
			}
		}
	}
	if len(ids) < 40 {
		t.Fatalf("found only %d message ids in the sources: the pattern no longer matches them", len(ids))
	}
	return ids
}

func mustCatalog(t *testing.T) *catalog {
	t.Helper()
	c, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLanguagePick: a chosen language wins, else the browser's; a language
// without a file falls back to Russian.
func TestLanguagePick(t *testing.T) {
	c := mustCatalog(t)
	for _, tc := range []struct{ chosen, accept, want string }{
		{"en", "ru", "en"},
		{"", "kk-KZ,kk;q=0.9", "kk"},
		{"", "uz-Latn-UZ", "uz-Latn"},
		{"", "de-DE,de;q=0.9", "ru"},
		{"", "", "ru"},
		{"xx", "en-GB", "en"},
	} {
		t.Run(tc.chosen+"/"+tc.accept, func(t *testing.T) {
			if got := c.pick(tc.chosen, tc.accept); got != tc.want {
				t.Errorf("pick(%q, %q) = %q, want %q", tc.chosen, tc.accept, got, tc.want)
			}
		})
	}
}
