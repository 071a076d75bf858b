package request_test

import (
	"cmp"
	"context"
	"slices"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// The data subjects' requests of memStore: a map, with the store's
// contract (versions, the event of each write, newest first) and nothing
// of SQL.

func (m *memStore) CreateDataSubjectRequest(_ context.Context, d request.DataSubjectRequest, ev trail.Event) (request.DataSubjectRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.subjects == nil {
		m.subjects = map[string]request.DataSubjectRequest{}
	}
	if _, ok := m.subjects[d.ID]; ok {
		return request.DataSubjectRequest{}, errs.New(errs.AlreadyExists, "data subject's request %q already exists", d.ID)
	}
	d.Version = 1
	m.subjects[d.ID] = d
	m.events = append(m.events, ev)
	return d, nil
}

func (m *memStore) GetDataSubjectRequest(_ context.Context, id string) (request.DataSubjectRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.subjects[id]
	if !ok {
		return request.DataSubjectRequest{}, errs.New(errs.NotFound, "data subject's request %q not found", id)
	}
	return d, nil
}

func (m *memStore) ListDataSubjectRequests(_ context.Context, state string, offset, limit int) ([]request.DataSubjectRequest, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []request.DataSubjectRequest
	for _, d := range m.subjects {
		if d.State == state {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b request.DataSubjectRequest) int {
		return cmp.Or(b.ReceiveTime.Compare(a.ReceiveTime), cmp.Compare(b.ID, a.ID))
	})
	out = out[min(offset, len(out)):]
	if limit > 0 && len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

func (m *memStore) UpdateDataSubjectRequest(_ context.Context, id string, fn func(*request.DataSubjectRequest) (trail.Event, error)) (request.DataSubjectRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.subjects[id]
	if !ok {
		return request.DataSubjectRequest{}, errs.New(errs.NotFound, "data subject's request %q not found", id)
	}
	next := cur
	ev, err := fn(&next)
	if err != nil {
		return request.DataSubjectRequest{}, err
	}
	next.Version = cur.Version + 1
	m.subjects[id] = next
	m.events = append(m.events, ev)
	return next, nil
}
