package console

import (
	"net/url"
	"slices"
	"strings"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// side is a party to a request, as a user stands to it.
type side int

const (
	// requestingSide is the users of the requesting state.
	requestingSide side = iota + 1
	// requestedSide is the users of the requested state.
	requestedSide
)

// requestAction is an action on a request that the request's page offers.
// Each is a page of its own, /requests/{id}/{ID}: a form asking exactly
// what the action needs. The services decide whether the user may take it
// and refuse otherwise; the page offers only the actions that the request's
// status, the user's side and roles make possible at all, so that users are
// not shown buttons that can only fail.
type requestAction struct {
	// ID is the action's path segment, e.g. "transmit".
	ID string
	// Label is the message id of the link's text.
	Label string
	// Roles are the roles that may take it (any of them).
	Roles []string
	// Side is the party whose users take it.
	Side side
	// Statuses are the statuses the request may be in.
	Statuses []requestv1.Request_Status
	// Danger marks actions that end or refuse something, for the page to
	// set them apart.
	Danger bool
	// Types, when set, are the only request types it applies to (an
	// extension, to preservations).
	Types []directoryv1.RequestType
	// Show, when set, says whether the request's state beyond its status
	// allows the action at all (a grant needs an extension asked for).
	Show func(*requestv1.Request) bool
}

// doneMessage is the confirmation the request's page shows after the
// action named id succeeded (its form redirects to the page with
// ?done=id), and that id: the message "action.<id>.done" when id is a
// registered action, a posted message or an upload, and the catalog has it;
// else nothing.
func doneMessage(pg page, id string) (string, string) {
	if id != "message" && id != "upload" && id != "record_oral" && !slices.ContainsFunc(requestActions, func(a requestAction) bool { return a.ID == id }) {
		return "", ""
	}
	msg := "action." + id + ".done"
	if t := pg.T(msg); t != msg {
		return id, t
	}
	return "", ""
}

// requestActions are every action the console offers on a request, in the
// order the request's page lists them. The files of each user group
// register theirs (registerActions, from init).
var requestActions []requestAction

func registerActions(as ...requestAction) {
	requestActions = append(requestActions, as...)
}

// actionLink is an action as the request's page links to it.
type actionLink struct {
	ID, Href, Label string
	Danger          bool
}

// actionsFor are the actions the user may find on the request's page.
func actionsFor(pg page, s *session, req *requestv1.Request) []actionLink {
	if s == nil {
		return nil
	}
	var userSide side
	switch s.State {
	case req.GetRequestingState():
		userSide = requestingSide
	case req.GetRequestedState():
		userSide = requestedSide
	default:
		return nil
	}
	id := strings.TrimPrefix(req.GetName(), "requests/")
	var out []actionLink
	for _, a := range requestActions {
		if a.Side != userSide || !slices.Contains(a.Statuses, req.GetStatus()) ||
			!slices.ContainsFunc(a.Roles, func(r string) bool { return slices.Contains(s.Roles, r) }) ||
			(a.Types != nil && !slices.Contains(a.Types, req.GetType())) || (a.Show != nil && !a.Show(req)) ||
			slices.ContainsFunc(out, func(l actionLink) bool { return l.ID == a.ID }) {
			// An action registered for several roles is linked once.
			continue
		}
		out = append(out, actionLink{
			ID: a.ID, Href: "/requests/" + url.PathEscape(id) + "/" + a.ID,
			Label: pg.T(a.Label), Danger: a.Danger,
		})
	}
	return out
}

// navLink is an entry of the header's navigation.
type navLink struct {
	Href, Label string
	Current     bool
}

// navigation is where the user's roles lead: every page's header lists it.
func navigation(pg page) []navLink {
	if pg.User == nil {
		return nil
	}
	has := func(r string) bool { return slices.Contains(pg.User.Roles, r) }
	links := []struct {
		href, label string
		show        bool
	}{
		{"/", "nav.requests", has("prosecutor") || has("central_authority") || has("liaison_officer")},
		{"/requests/new", "nav.new_request", has("prosecutor")},
		{"/authority", "nav.authority", has("central_authority")},
		{"/requests/oral", "nav.record_oral", has("central_authority")},
		{"/subjects", "nav.subjects", has("central_authority")},
		{"/liaison", "nav.liaison", has("liaison_officer")},
		{"/audit", "nav.audit", has("auditor")},
		{"/directory", "nav.directory", has("directory_admin")},
		{"/statistics", "nav.statistics", true},
	}
	path, _, _ := strings.Cut(pg.Path, "?")
	var out []navLink
	for _, l := range links {
		if l.show {
			out = append(out, navLink{Href: l.href, Label: pg.T(l.label), Current: path == l.href})
		}
	}
	return out
}
