package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// messagePageSize is how many messages a request's page reads at most.
const messagePageSize = 1000

// timelineEntry is a status change or a message on a request's timeline.
type timelineEntry struct {
	At moment
	// Change is set for a status change, Message for a message.
	Change  *historyEntry
	Message *messageEntry
}

// messageEntry is a message as the timeline shows it.
type messageEntry struct {
	Body, Author, Agency, Visibility string
}

// correspondence is what a request's page shows of its messages and
// attachments, for every user the service lets read them.
type correspondence struct {
	// ID is the request's id.
	ID string
	// Timeline is the history and the messages in time order.
	Timeline []timelineEntry
	// Messages says whether the user may read the messages at all (the
	// service answered the list); the form to write one is shown then.
	Messages bool
	// Attachments are the request's files, when the user may see them.
	Attachments     []attachmentEntry
	AttachmentsRead bool
	// Visibilities are the choices of who may read a new message.
	Visibilities []option
	// Form is what the user wrote in the message form, kept on a refusal.
	Form         messageForm
	Errors       *formErrors
	UploadErrors *formErrors
	// UploadForm is what the user chose in the upload form, kept on a
	// refusal.
	UploadForm  uploadForm
	UploadKinds []option
	// Uploaded is the file just uploaded (htmx answer), for the notice.
	Uploaded string
}

// messageForm is the message form as the user filled it.
type messageForm struct {
	Body, Visibility string
}

// correspondence reads the request's messages and attachments and merges
// the messages into the timeline of its history (changes, oldest first, as
// history shows them). A user the service does not let read them sees the
// history alone.
func (c *Console) correspondence(ctx context.Context, pg page, z zones, req *requestv1.Request,
	changes []*requestv1.StatusChange, history []historyEntry) correspondence {
	co := correspondence{
		ID:           strings.TrimPrefix(req.GetName(), "requests/"),
		Visibilities: enumOptions(pg, "message.visibility.", requestv1.Message_Visibility_name),
		UploadKinds:  enumOptions(pg, "attachment.kind.", requestv1.Attachment_Kind_name),
	}
	from, to := req.GetRequestingState(), req.GetRequestedState()
	type stamped struct {
		e    timelineEntry
		unix int64
		nano int32
	}
	var all []stamped
	for i := range history {
		if i >= len(changes) {
			break
		}
		t := changes[i].GetTime()
		all = append(all, stamped{timelineEntry{At: history[i].At, Change: &history[i]}, t.GetSeconds(), t.GetNanos()})
	}
	msgs, err := c.be.Requests.ListMessages(ctx, &requestv1.ListMessagesRequest{Parent: req.GetName(), PageSize: messagePageSize})
	if err == nil {
		co.Messages = true
		for _, m := range msgs.GetMessages() {
			t := m.GetCreateTime()
			all = append(all, stamped{timelineEntry{At: z.at(t, from, to), Message: &messageEntry{
				Body:       m.GetBody(),
				Author:     firstNonEmpty(m.GetAuthor().GetDisplayName(), m.GetAuthor().GetSubject()),
				Agency:     strings.TrimPrefix(m.GetAuthor().GetAgency(), "agencies/"),
				Visibility: pg.T("message.visibility." + m.GetVisibility().String()),
			}}, t.GetSeconds(), t.GetNanos()})
		}
	}
	slices.SortStableFunc(all, func(a, b stamped) int {
		if a.unix != b.unix {
			return int(a.unix - b.unix)
		}
		return int(a.nano - b.nano)
	})
	for _, s := range all {
		co.Timeline = append(co.Timeline, s.e)
	}
	co.Attachments, co.AttachmentsRead = c.attachmentList(ctx, z, req)
	return co
}

// postMessage adds a message to a request: POST /requests/{id}/messages.
// Refused, the request's page comes back with the text kept.
func (c *Console) postMessage(w http.ResponseWriter, r *http.Request) {
	s, pg, id, ok := c.requestVisit(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("error.invalid"))
		return
	}
	form := messageForm{Body: r.PostFormValue("body"), Visibility: r.PostFormValue("visibility")}
	ctx := outgoing(r.Context(), r, s)
	_, err := c.be.Requests.CreateMessage(ctx, &requestv1.CreateMessageRequest{
		Parent: "requests/" + id,
		Message: &requestv1.Message{
			Body:       form.Body,
			Visibility: requestv1.Message_Visibility(requestv1.Message_Visibility_value[form.Visibility]),
		},
	})
	if err == nil {
		http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=message#messages", http.StatusSeeOther)
		return
	}
	fe, ok := formError(pg, err, "message.body", "message.visibility")
	if !ok {
		c.serviceError(w, r, pg, err)
		return
	}
	code := http.StatusBadRequest
	if status.Code(err) == codes.Aborted {
		code = http.StatusConflict
	}
	c.renderRequest(w, r, code, func(co *correspondence) { co.Form, co.Errors = form, fe })
}

// renderRequest renders the request's page as requestPage does, with
// change applied to what it shows of messages and attachments: a refused
// message or upload comes back on the page it was sent from, input kept.
func (c *Console) renderRequest(w http.ResponseWriter, r *http.Request, code int, change func(*correspondence)) {
	c.requestPageWith(w, r, code, change)
}
