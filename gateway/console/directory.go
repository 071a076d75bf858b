package console

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
)

// The directory administrator's pages: their state's entry (languages, time
// zone, trusted issuers), its agencies with their contact points, and the
// deactivation and activation of an agency. Every read and change is the
// directory service's, with the user's token: the service decides who may
// change what (a directory_admin of the agency's state), refuses a stale
// etag and any change that would lock users out, and the pages show its
// answer.

// directoryPageSize bounds the agencies the state's page lists: a state has
// a few dozen.
const directoryPageSize = 1000

// agencyIDPattern is what an agency id in a URL may be (the directory's own
// rule for names), so that nothing else reaches the service.
var agencyIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// contactView is a contact point as the pages show it.
type contactView struct {
	Role, FullName, Phone, Email, Hours string
	AlwaysAvailable                     bool
}

// agencyView is an agency as the pages show it.
type agencyView struct {
	ID, Href, Name, State string
	Kind, KindCode        string
	Active                bool
	Etag                  string
	Receives              []string
	AcceptedLanguages     []string
	Contacts              []contactView
	Updated               moment
}

// stateView is the administrator's state as the page shows it.
type stateView struct {
	Code, Name                           string
	OfficialLanguages, AcceptedLanguages []string
	TimeZone                             string
	TrustedIssuers                       []string
	Updated                              moment
	// Etag is the state's, for the witness form.
	Etag string
	// WitnessURL and WitnessKey are the state's witness (DESIGN §6.1),
	// empty when it records none.
	WitnessURL, WitnessKey string
}

// witnessFormView is the form setting or clearing the state's witness,
// offered only to a directory_admin of the state's OVERSIGHT agency (the
// only one the directory lets change it).
type witnessFormView struct {
	// URL and Key are what the form shows: the witness recorded, or what
	// the user sent when it was refused.
	URL, Key string
	Errors   *formErrors
}

// directoryView is what the state's page shows.
type directoryView struct {
	State    stateView
	Agencies []agencyView
	// Admin says that the user holds directory_admin, for the page to
	// offer the changes (which the service may still refuse).
	Admin bool
	// Witness is the witness form, nil when the user may not change it.
	Witness *witnessFormView
	// Done is the change just made ("witness.set", "witness.cleared").
	Done string
}

// agencyPageView is what an agency's page shows.
type agencyPageView struct {
	Agency agencyView
	// Admin: as in directoryView, and the agency is of the user's state.
	Admin bool
	// Done is the change just made ("deactivated", "activated"), to say so.
	Done string
}

// agencyChangeView is the confirmation form of a deactivation or an
// activation.
type agencyChangeView struct {
	Agency agencyView
	// Action is "deactivate" or "activate".
	Action string
	Errors *formErrors
}

// localName is the name of names (by BCP 47 tag) in the user's language,
// else in Russian, English, or any; fallback when there is none.
func localName(names map[string]string, lang, fallback string) string {
	base, _, _ := strings.Cut(lang, "-")
	for _, tag := range []string{lang, base, "ru", "en"} {
		if n := names[tag]; n != "" {
			return n
		}
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if names[k] != "" {
			return names[k]
		}
	}
	return fallback
}

// agencyOf converts an agency of the directory for the pages.
func agencyOf(pg page, z zones, a *directoryv1.Agency) agencyView {
	id := strings.TrimPrefix(a.GetName(), "agencies/")
	v := agencyView{
		ID: id, Href: "/directory/agencies/" + url.PathEscape(id),
		Name:  localName(a.GetDisplayNames(), pg.Lang, id),
		State: a.GetState(), Kind: pg.T("kind." + a.GetKind().String()),
		KindCode: strings.ToLower(a.GetKind().String()), Active: a.GetActive(), Etag: a.GetEtag(),
		AcceptedLanguages: a.GetAcceptedLanguages(),
		Updated:           z.at(a.GetUpdateTime(), a.GetState()),
	}
	for _, t := range a.GetReceives() {
		v.Receives = append(v.Receives, pg.T("type."+t.String()))
	}
	for _, cp := range a.GetContactPoints() {
		v.Contacts = append(v.Contacts, contactView{
			Role: cp.GetRole(), FullName: cp.GetFullName(), Phone: cp.GetPhone(), Email: cp.GetEmail(),
			Hours: cp.GetHours(), AlwaysAvailable: cp.GetAlwaysAvailable(),
		})
	}
	return v
}

// hasRole says whether the signed-in user holds role, for what a page
// offers; the services decide what the user may do.
func hasRole(s *session, role string) bool { return s != nil && slices.Contains(s.Roles, role) }

// directoryPage shows the user's state and its agencies.
func (c *Console) directoryPage(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	v, ok := c.directoryOf(w, r, pg, s)
	if !ok {
		return
	}
	switch d := r.URL.Query().Get("done"); d {
	case "witness.set", "witness.cleared":
		v.Done = d
	}
	pg.Title = pg.T("directory.title", map[string]any{"State": v.State.Name})
	c.render(w, r, http.StatusOK, DirectoryPage(pg, v))
}

// directoryOf reads the user's state and its agencies, or answers the
// request itself (a refusal, the service unavailable) and returns false.
func (c *Console) directoryOf(w http.ResponseWriter, r *http.Request, pg page, s *session) (directoryView, bool) {
	if !stateCodePattern.MatchString(s.State) {
		c.renderError(w, r, pg, http.StatusForbidden, pg.T("directory.no_state"))
		return directoryView{}, false
	}
	ctx := outgoing(r.Context(), r, s)
	z, err := c.zones(ctx)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return directoryView{}, false
	}
	st, err := c.be.Directory.GetState(ctx, &directoryv1.GetStateRequest{Name: "states/" + s.State})
	if err != nil {
		c.serviceError(w, r, pg, err)
		return directoryView{}, false
	}
	list, err := c.be.Directory.ListAgencies(ctx, &directoryv1.ListAgenciesRequest{
		PageSize: directoryPageSize, Filter: `state = "` + s.State + `"`, OrderBy: "name",
	})
	if err != nil {
		c.serviceError(w, r, pg, err)
		return directoryView{}, false
	}
	state := st.GetState()
	v := directoryView{Admin: hasRole(s, "directory_admin"), State: stateView{
		Code: state.GetCode(), Name: localName(state.GetDisplayNames(), pg.Lang, state.GetCode()),
		OfficialLanguages: state.GetOfficialLanguages(), AcceptedLanguages: state.GetAcceptedLanguages(),
		TimeZone: state.GetTimeZone(), TrustedIssuers: state.GetTrustedIssuers(),
		Updated: z.at(state.GetUpdateTime(), state.GetCode()), Etag: state.GetEtag(),
		WitnessURL: state.GetWitness().GetUrl(), WitnessKey: state.GetWitness().GetPublicKey(),
	}}
	for _, a := range list.GetAgencies() {
		v.Agencies = append(v.Agencies, agencyOf(pg, z, a))
		// The form is offered to whom the directory lets change the
		// witness: a directory_admin of the state's oversight agency.
		if v.Admin && a.GetName() == "agencies/"+s.Agency && a.GetKind() == directoryv1.Agency_OVERSIGHT {
			v.Witness = &witnessFormView{URL: v.State.WitnessURL, Key: v.State.WitnessKey}
		}
	}
	return v, true
}

// witnessChange sets the state's witness (action "set") or clears it
// ("clear") with the etag the page was shown with. The directory decides
// who may (a directory_admin of the state's OVERSIGHT agency: anyone else
// is refused, 403, whatever they post); a refused value or a stale etag
// shows the page again with the complaint next to its field.
func (c *Console) witnessChange(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	if !stateCodePattern.MatchString(s.State) {
		c.renderError(w, r, pg, http.StatusForbidden, pg.T("directory.no_state"))
		return
	}
	sent := witnessFormView{URL: strings.TrimSpace(r.PostFormValue("url")), Key: strings.TrimSpace(r.PostFormValue("public_key"))}
	state := &directoryv1.State{Name: "states/" + s.State, Etag: r.PostFormValue("etag")}
	done := "witness.cleared"
	if r.PostFormValue("action") != "clear" {
		state.Witness = &directoryv1.StateWitness{Url: sent.URL, PublicKey: sent.Key}
		done = "witness.set"
	}
	_, err := c.be.Directory.UpdateState(outgoing(r.Context(), r, s), &directoryv1.UpdateStateRequest{
		State: state, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"witness"}},
	})
	if err == nil {
		http.Redirect(w, r, "/directory?done="+done, http.StatusSeeOther)
		return
	}
	// A complaint about the etag (hidden) stays above the form, in sight.
	fe, isForm := formError(pg, err, "state.witness.url", "state.witness.public_key")
	if !isForm {
		c.serviceError(w, r, pg, err)
		return
	}
	v, ok := c.directoryOf(w, r, pg, s)
	if !ok {
		return
	}
	if v.Witness == nil {
		// No longer the oversight agency's admin: the page as it is.
		c.serviceError(w, r, pg, err)
		return
	}
	code := http.StatusBadRequest
	if status.Code(err) == codes.Aborted {
		// Someone changed the state meanwhile: the page shows the witness
		// recorded now, and the form what the user sent.
		code = http.StatusConflict
	}
	sent.Errors = fe
	v.Witness = &sent
	pg.Title = pg.T("directory.title", map[string]any{"State": v.State.Name})
	c.render(w, r, code, DirectoryPage(pg, v))
}

// agencyFromPath reads the agency the URL names, or answers the request
// itself (not found, a refusal) and returns false.
func (c *Console) agencyFromPath(w http.ResponseWriter, r *http.Request, pg page, s *session) (agencyView, bool) {
	id := r.PathValue("id")
	if !agencyIDPattern.MatchString(id) {
		c.renderError(w, r, pg, http.StatusNotFound, pg.T("directory.no_agency"))
		return agencyView{}, false
	}
	ctx := outgoing(r.Context(), r, s)
	z, err := c.zones(ctx)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return agencyView{}, false
	}
	resp, err := c.be.Directory.GetAgency(ctx, &directoryv1.GetAgencyRequest{Name: "agencies/" + id})
	if err != nil {
		c.serviceError(w, r, pg, err)
		return agencyView{}, false
	}
	return agencyOf(pg, z, resp.GetAgency()), true
}

// agencyPage shows one agency with its contact points, and offers its
// deactivation or activation to an administrator of its state.
func (c *Console) agencyPage(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	a, ok := c.agencyFromPath(w, r, pg, s)
	if !ok {
		return
	}
	v := agencyPageView{Agency: a, Admin: hasRole(s, "directory_admin") && a.State == s.State}
	switch d := r.URL.Query().Get("done"); d {
	case "deactivate", "activate":
		v.Done = d
	}
	pg.Title = a.Name
	c.render(w, r, http.StatusOK, AgencyPage(pg, v))
}

// agencyChangeForm shows the confirmation form of action ("deactivate" or
// "activate"), saying what the change does.
func (c *Console) agencyChangeForm(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.signedIn(w, r)
		if !ok {
			return
		}
		pg := c.page(w, r, s)
		a, ok := c.agencyFromPath(w, r, pg, s)
		if !ok {
			return
		}
		pg.Title = pg.T("agency."+action+".title", map[string]any{"Agency": a.Name})
		c.render(w, r, http.StatusOK, AgencyChangePage(pg, agencyChangeView{Agency: a, Action: action}))
	}
}

// agencyChange deactivates or activates the agency with the etag the form
// was shown with: a change made meanwhile by someone else is refused by the
// service (a conflict), and the form is shown again with the agency as it
// is now.
func (c *Console) agencyChange(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.signedIn(w, r)
		if !ok {
			return
		}
		pg := c.page(w, r, s)
		id := r.PathValue("id")
		if !agencyIDPattern.MatchString(id) {
			c.renderError(w, r, pg, http.StatusNotFound, pg.T("directory.no_agency"))
			return
		}
		ctx := outgoing(r.Context(), r, s)
		name, etag := "agencies/"+id, r.PostFormValue("etag")
		var err error
		if action == "deactivate" {
			_, err = c.be.Directory.DeactivateAgency(ctx, &directoryv1.DeactivateAgencyRequest{Name: name, Etag: etag})
		} else {
			_, err = c.be.Directory.ActivateAgency(ctx, &directoryv1.ActivateAgencyRequest{Name: name, Etag: etag})
		}
		if err == nil {
			http.Redirect(w, r, "/directory/agencies/"+url.PathEscape(id)+"?done="+action, http.StatusSeeOther)
			return
		}
		fe, isForm := formError(pg, err, "etag")
		if !isForm {
			c.serviceError(w, r, pg, err)
			return
		}
		a, ok := c.agencyFromPath(w, r, pg, s)
		if !ok {
			return
		}
		code := http.StatusBadRequest
		if status.Code(err) == codes.Aborted {
			code = http.StatusConflict
		}
		pg.Title = pg.T("agency."+action+".title", map[string]any{"Agency": a.Name})
		c.render(w, r, code, AgencyChangePage(pg, agencyChangeView{Agency: a, Action: action, Errors: fe}))
	}
}
