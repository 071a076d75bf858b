package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/trail"
)

// The purpose of a read (DESIGN §10): before the console shows a request's
// content (its page, its action forms, its messages and attachments) it asks
// the user once per session and request what they read it for, keeps the
// answer in a cookie sealed for the session, and sends it with every call
// made for that request, so that the audit event of each read says why the
// content was read. The service records "undeclared" for a read without it;
// no page of the console shows a request's content before asking.

// maxPurposes bounds the requests whose purpose the cookie keeps: the
// oldest answer is forgotten first (and asked again when needed), so that
// the cookie stays well below what browsers keep.
const maxPurposes = 20

// purposeCookie is what the purpose cookie holds: the answers of one
// session, newest last.
type purposeCookie struct {
	// Started and Who bind the answers to the session they were given in:
	// a new sign-in asks again.
	Started int64           `json:"s"`
	Who     string          `json:"w"`
	Answers []purposeAnswer `json:"a"`
}

// purposeAnswer is the purpose declared for one request.
type purposeAnswer struct {
	Request string `json:"r"`
	Purpose string `json:"p"`
}

// purposeCookieName is the purpose cookie's name, with the __Host- prefix
// over HTTPS as the other cookies.
func (n cookieNames) purpose() string {
	if n.secure {
		return "__Host-comity-purpose"
	}
	return "comity-purpose"
}

// sessionWho is who the session is for, as the purpose cookie records it:
// a digest, whose size does not depend on the user's name.
func sessionWho(s *session) string {
	sum := sha256.Sum256([]byte(s.Provider + "\x00" + s.Agency + "\x00" + s.Name))
	return hex.EncodeToString(sum[:12])
}

// readPurposes are the answers the user gave in this session; none when the
// cookie is absent, tampered with or from another session.
func (c *Console) readPurposes(r *http.Request, s *session) purposeCookie {
	out := purposeCookie{Started: s.Started, Who: sessionWho(s)}
	ck, err := r.Cookie(c.cookies.purpose())
	if err != nil {
		return out
	}
	var pc purposeCookie
	if c.sealer.open(c.cookies.purpose(), ck.Value, &pc) != nil || pc.Started != s.Started || pc.Who != out.Who {
		return out
	}
	return pc
}

// purposeOf is the purpose the user declared for the request id in this
// session, "" when none.
func (s *session) purposeOf(id string) string {
	for _, a := range s.purposes.Answers {
		if a.Request == id {
			return a.Purpose
		}
	}
	return ""
}

// withPurpose returns ctx carrying the purpose declared for the request of
// the path, if any (withReadPurpose).
func withPurpose(ctx context.Context, r *http.Request, s *session) context.Context {
	return withReadPurpose(ctx, s.purposeOf(r.PathValue("id")))
}

// needPurpose sends the user to declare their purpose when they have not
// for the request id in this session, and says so; an htmx request is told
// to go there (HX-Redirect), as an expired session is.
func (c *Console) needPurpose(w http.ResponseWriter, r *http.Request, s *session, id string) bool {
	if s.purposeOf(id) != "" {
		return false
	}
	next := r.URL.Path
	if r.URL.RawQuery != "" {
		next += "?" + r.URL.RawQuery
	}
	to := "/requests/" + url.PathEscape(id) + "/purpose?next=" + url.QueryEscape(next)
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusUnauthorized)
		return true
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return true
}

// purposeView is what the purpose page shows.
type purposeView struct {
	ID, Next string
	Options  []option
	// Chosen is the choice sent back without a valid purpose, "" at first.
	Chosen  string
	Invalid bool
}

// purposeNext is where the user goes after declaring: the page of the
// request they asked for, never elsewhere.
func purposeNext(id, next string) string {
	base := "/requests/" + url.PathEscape(id)
	next = localPath(next)
	path, _, _ := strings.Cut(next, "?")
	if path != base && !strings.HasPrefix(path, base+"/") {
		return base
	}
	return next
}

// purposeForm asks the purpose: GET /requests/{id}/purpose. It reads
// nothing of the request: it is what comes before any read.
func (c *Console) purposeForm(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	id := r.PathValue("id")
	if !requestIDPattern.MatchString(id) {
		c.renderError(w, r, pg, http.StatusNotFound, pg.T("error.not_found"))
		return
	}
	c.showPurpose(w, r, pg, http.StatusOK, purposeView{ID: id, Next: purposeNext(id, r.URL.Query().Get("next")), Chosen: s.purposeOf(id)})
}

// declarePurpose keeps the declared purpose in the session and goes on to
// the page asked for: POST /requests/{id}/purpose.
func (c *Console) declarePurpose(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	id := r.PathValue("id")
	if !requestIDPattern.MatchString(id) {
		c.renderError(w, r, pg, http.StatusNotFound, pg.T("error.not_found"))
		return
	}
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("authority.bad_form"))
		return
	}
	purpose, next := r.PostForm.Get("purpose"), purposeNext(id, r.PostForm.Get("next"))
	if !slices.Contains(trail.Purposes, purpose) {
		c.showPurpose(w, r, pg, http.StatusBadRequest, purposeView{ID: id, Next: next, Chosen: purpose, Invalid: true})
		return
	}
	pc := s.purposes
	pc.Answers = slices.DeleteFunc(slices.Clone(pc.Answers), func(a purposeAnswer) bool { return a.Request == id })
	pc.Answers = append(pc.Answers, purposeAnswer{Request: id, Purpose: purpose})
	if n := len(pc.Answers); n > maxPurposes {
		pc.Answers = pc.Answers[n-maxPurposes:]
	}
	sealed, err := c.sealer.seal(c.cookies.purpose(), pc)
	for errors.Is(err, errCookieTooLarge) && len(pc.Answers) > 1 {
		// Never more than a browser keeps: the oldest answers go first.
		pc.Answers = pc.Answers[1:]
		sealed, err = c.sealer.seal(c.cookies.purpose(), pc)
	}
	if err != nil {
		c.fail(w, r, pg, err)
		return
	}
	// The answers last as long as the session may.
	http.SetCookie(w, c.cookies.cookie(c.cookies.purpose(), sealed, time.Unix(s.Started, 0).Add(c.cfg.MaxSessionAge).Sub(c.now())))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) showPurpose(w http.ResponseWriter, r *http.Request, pg page, code int, v purposeView) {
	v.Options = purposeChoices(pg)
	pg.Title = pg.T("purpose.title")
	c.render(w, r, code, PurposePage(pg, v))
}
