package request_test

import (
	"context"
	"slices"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
)

// Erase is the store's erasure as the contract says it: fn's change, and
// with scope.Content the messages deleted, the history's reasons and
// snapshot clarifications removed, the file names cleared; the attachments
// in scope not yet erased marked at the request's UpdateTime. A change
// without an event writes none.
func (m *memStore) Erase(_ context.Context, id string, scope request.EraseScope, fn func(*request.Request) (request.Change, error)) (request.Request, []request.Attachment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.requests[id]
	if !ok {
		return request.Request{}, nil, errs.New(errs.NotFound, "request %q not found", id)
	}
	next := cur
	ch, err := fn(&next)
	if err != nil {
		return request.Request{}, nil, err
	}
	if scope.Content {
		m.messages = slices.DeleteFunc(m.messages, func(msg request.Message) bool { return msg.RequestID == id })
		for i := range m.history {
			if h := &m.history[i]; h.RequestID == id {
				h.Reason = ""
				if h.Snapshot != nil {
					s := *h.Snapshot
					s.Clarifications = nil
					h.Snapshot = &s
				}
			}
		}
	}
	var marked []request.Attachment
	for i := range m.attachments {
		a := &m.attachments[i]
		if a.RequestID != id {
			continue
		}
		if scope.Content {
			a.Filename = ""
		}
		if a.EraseTime.IsZero() && (scope.Content || slices.Contains(scope.Attachments, a.ID)) {
			a.EraseTime = next.UpdateTime
			marked = append(marked, *a)
		}
	}
	next.Version = cur.Version + 1
	m.requests[id] = next
	if ch.Event.ID != "" || ch.History != nil {
		m.write(next, ch)
	}
	return next, marked, nil
}

func (m *memStore) Compact(context.Context) error { return nil }
