package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// Urgent requests received by telephone (DESIGN §5.3): the requested
// state's 24/7 point or central authority records one on behalf of the
// requesting agency, with the fields known so far; a prosecutor of that
// agency confirms it in writing, completing them. Both are the draft's
// form in another mode: recording asks also how the request came, and
// neither saves itself as it is filled, since each post is an act of its
// own.

// oralFieldPaths are the intake's fields of the recording form.
var oralFieldPaths = []string{"requesting_agency", "intake.channel", "intake.received_time", "intake.caller", "intake"}

// modeAction points the form of a confirmation or a recording at its own
// route, under its own title.
func (v *draftView) modeAction(pg *page) {
	switch v.Form.Mode {
	case "confirm":
		v.Action = "/requests/" + url.PathEscape(v.Form.ID) + "/confirm"
		pg.Title = pg.T("confirm.title")
	case "oral":
		v.Action = "/requests/oral"
		pg.Title = pg.T("oral.title")
	}
}

// oralRoutes are the routes of this file, for Routes.
func (c *Console) oralRoutes(h func(http.HandlerFunc) http.Handler, routes map[string]http.Handler) {
	routes["GET /requests/oral"] = h(c.oralForm)
	routes["POST /requests/oral"] = h(c.recordOral)
	routes["GET /requests/{id}/confirm"] = h(c.confirmForm)
	routes["POST /requests/{id}/confirm"] = h(c.confirm)
}

// oralForm shows the empty recording form.
func (c *Console) oralForm(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	if !slices.Contains(s.Roles, "central_authority") {
		// Like the navigation, which does not lead here: recording a call
		// is the requested side's 24/7 point's or central authority's.
		c.renderError(w, r, pg, http.StatusForbidden, pg.T("oral.only_central_authority"))
		return
	}
	f := draftForm{Mode: "oral", RequestID: newRequestID(), IntakeChannel: requestv1.Intake_PHONE.String()}
	f.ensureRows()
	c.showDraft(w, r, pg, s, http.StatusOK, draftView{Form: f})
}

// recordOral records the request: done, the user goes to its page;
// refused, the form comes back with the complaints next to the fields.
func (c *Console) recordOral(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("error.invalid"))
		return
	}
	f := parseDraftForm(r)
	f.ID, f.Etag, f.Mode = "", "", "oral"
	f.RequestingAgency = r.PostFormValue("requesting_agency")
	f.IntakeChannel, f.IntakeReceived, f.IntakeCaller = r.PostFormValue("intake.channel"), r.PostFormValue("intake.received_time"), r.PostFormValue("intake.caller")
	if r.PostFormValue("add") != "" {
		c.showDraft(w, r, pg, s, http.StatusOK, draftView{Form: f})
		return
	}
	req, bad := f.toRequest(pg)
	received, ok := formTime(f.IntakeReceived)
	if !ok {
		bad = append(bad, violation{Field: "intake.received_time", Text: pg.T("prosecutor.parse.time")})
	}
	var err error
	var resp *requestv1.RecordOralRequestResponse
	if len(bad) == 0 {
		agency := ""
		if f.RequestingAgency != "" {
			agency = "agencies/" + f.RequestingAgency
		}
		resp, err = c.be.Requests.RecordOralRequest(outgoing(r.Context(), r, s), &requestv1.RecordOralRequestRequest{
			Request: req, RequestingAgency: agency, RequestId: followUpKey(f.RequestID),
			Intake: &requestv1.Intake{Channel: requestv1.Intake_Channel(requestv1.Intake_Channel_value[f.IntakeChannel]),
				ReceivedTime: received, Caller: f.IntakeCaller},
		})
		if err == nil {
			id := strings.TrimPrefix(resp.GetRequest().GetName(), "requests/")
			http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=record_oral", http.StatusSeeOther)
			return
		}
		if !isFormRefusal(err) {
			c.serviceError(w, r, pg, err)
			return
		}
	}
	c.showDraft(w, r, pg, s, refusalCode(err), draftView{Form: f, Errors: draftErrors(pg, f, err, bad)})
}

// refusalCode is the status of a form shown again after a refusal: 409
// when someone else acted first, else 400.
func refusalCode(err error) int {
	if c := status.Code(err); c == codes.Aborted || c == codes.AlreadyExists {
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

// confirmForm shows the request recorded from a call in the draft's form,
// for a prosecutor of the requesting agency to complete and confirm.
func (c *Console) confirmForm(w http.ResponseWriter, r *http.Request) {
	s, pg, id, ok := c.requestVisit(w, r)
	if !ok {
		return
	}
	resp, err := c.be.Requests.GetRequest(outgoing(r.Context(), r, s), &requestv1.GetRequestRequest{Name: "requests/" + id})
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	f := draftFormOf(resp.GetRequest())
	f.Mode = "confirm"
	c.showDraft(w, r, pg, s, http.StatusOK, draftView{Form: f})
}

// confirm confirms the request in writing with the form's fields: the
// service checks the safeguards then, and a refusal comes back next to the
// fields.
func (c *Console) confirm(w http.ResponseWriter, r *http.Request) {
	s, pg, id, ok := c.requestVisit(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("error.invalid"))
		return
	}
	f := parseDraftForm(r)
	f.ID, f.Mode = id, "confirm"
	if r.PostFormValue("add") != "" {
		c.showDraft(w, r, pg, s, http.StatusOK, draftView{Form: f})
		return
	}
	req, bad := f.toRequest(pg)
	var err error
	if len(bad) == 0 {
		req.Etag = ""
		_, err = c.be.Requests.ConfirmInWriting(outgoing(r.Context(), r, s), &requestv1.ConfirmInWritingRequest{
			Name: "requests/" + id, Etag: f.Etag, Request: req})
		if err == nil {
			http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=confirm", http.StatusSeeOther)
			return
		}
		if !isFormRefusal(err) {
			c.serviceError(w, r, pg, err)
			return
		}
	}
	c.showDraft(w, r, pg, s, refusalCode(err), draftView{Form: f, Errors: draftErrors(pg, f, err, bad)})
}
