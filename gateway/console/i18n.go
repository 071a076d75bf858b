package console

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// The console's messages, one file per language. Russian is the bundle's
// default: go-i18n falls back to it (and only to it) for a message missing
// in the user's language, which TestCatalogComplete rules out.
//
//go:embed locales/*.json
var localeFiles embed.FS

// Language is a language the console offers.
type Language struct {
	Tag  string // BCP 47, e.g. uz-Latn
	Name string // its own name for itself
}

// Languages are the console's languages, in the order the language menu
// lists them. Kazakh, Kyrgyz, Tajik, Turkmen and Uzbek await review by
// native speakers.
var Languages = []Language{
	{"ru", "Русский"}, {"en", "English"}, {"kk", "Қазақша"}, {"ky", "Кыргызча"},
	{"tg", "Тоҷикӣ"}, {"tk", "Türkmençe"}, {"uz-Latn", "Oʻzbekcha"},
}

// catalog holds every language's messages.
type catalog struct {
	bundle  *i18n.Bundle
	ids     []string // message ids of the default language
	matcher language.Matcher
}

func loadCatalog() (*catalog, error) {
	b := i18n.NewBundle(language.Russian)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	var tags []language.Tag
	for _, l := range Languages {
		f := path.Join("locales", l.Tag+".json")
		mf, err := b.LoadMessageFileFS(localeFiles, f)
		if err != nil {
			return nil, fmt.Errorf("console: messages %s: %w", f, err)
		}
		tags = append(tags, mf.Tag)
	}
	data, err := fs.ReadFile(localeFiles, "locales/ru.json")
	if err != nil {
		return nil, err
	}
	var ru map[string]string
	if err := json.Unmarshal(data, &ru); err != nil {
		return nil, fmt.Errorf("console: messages ru.json: %w", err)
	}
	c := &catalog{bundle: b, matcher: language.NewMatcher(tags)}
	for id := range ru {
		c.ids = append(c.ids, id)
	}
	return c, nil
}

// pick returns the console language for a user who asked for lang (the
// language menu) or whose browser says accept; Russian when none fits.
func (c *catalog) pick(lang, accept string) string {
	for _, l := range Languages {
		if l.Tag == lang {
			return l.Tag
		}
	}
	prefs, _, err := language.ParseAcceptLanguage(accept)
	if err != nil || len(prefs) == 0 {
		return "ru"
	}
	_, i, conf := c.matcher.Match(prefs...)
	if conf < language.High && conf != language.Exact {
		// A language we have no file for: Russian, the region's common
		// language, then English through the bundle.
		return "ru"
	}
	return Languages[i].Tag
}

// localizer returns the text of message ids in lang, falling back to
// Russian then English.
func (c *catalog) localizer(lang string) func(id string, data ...map[string]any) string {
	loc := i18n.NewLocalizer(c.bundle, lang, "ru", "en")
	return func(id string, data ...map[string]any) string {
		cfg := &i18n.LocalizeConfig{MessageID: id}
		if len(data) > 0 {
			cfg.TemplateData = data[0]
		}
		s, err := loc.Localize(cfg)
		if err != nil && s == "" {
			// Never happens with a complete catalog (see the test); the id
			// is better than an empty label.
			return id
		}
		return s
	}
}

// setLanguage remembers the language the user chose and goes back to the
// page the choice was made on.
func (c *Console) setLanguage(w http.ResponseWriter, r *http.Request) {
	lang := c.i18n.pick(r.PostFormValue("lang"), "")
	if r.PostFormValue("lang") != lang {
		pg := c.page(w, r, nil)
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("error.bad_language"))
		return
	}
	http.SetCookie(w, c.cookies.cookie(c.cookies.lang, lang, 365*24*time.Hour))
	http.Redirect(w, r, localPath(r.PostFormValue("return")), http.StatusSeeOther)
}

// langOf is the language of the request: the user's choice, else the
// browser's preference.
func (c *Console) langOf(r *http.Request) string {
	var chosen string
	if ck, err := r.Cookie(c.cookies.lang); err == nil {
		chosen = ck.Value
	}
	return c.i18n.pick(chosen, strings.TrimSpace(r.Header.Get("Accept-Language")))
}
