package request_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// memStore is a hand-written in-memory request.Store for the domain's
// tests: it keeps what the contract says (references numbered per state and
// year, versions, history with sequence numbers, the events of each change,
// idempotency keys, messages and attachments) and nothing of SQL. List and
// StatisticsRows, which need the query compiler, are left to the
// conformance suite of the real stores.
type memStore struct {
	mu        sync.Mutex
	requests  map[string]request.Request
	sequences map[string]int
	// keys holds, per idempotency key (without its digest), the request
	// it created and the digest of the body that created it.
	keys        map[request.IdempotencyKey]request.IdempotencyKey
	history     []request.HistoryEntry
	events      []trail.Event
	messages    []request.Message
	attachments []request.Attachment
	subjects    map[string]request.DataSubjectRequest
}

func newMemStore() *memStore {
	return &memStore{requests: map[string]request.Request{}, sequences: map[string]int{}, keys: map[request.IdempotencyKey]request.IdempotencyKey{}}
}

var errNotKept = errors.New("memStore: lists are the real stores' (storetest)")

// put stores r as it is, as if its lifecycle had brought it there.
func (m *memStore) put(r request.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[r.ID] = r
}

func (m *memStore) RecordEvent(_ context.Context, e trail.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}

func (m *memStore) Create(_ context.Context, r request.Request, key request.IdempotencyKey, ch request.Change) (request.Request, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if key.Key != "" {
		k := key
		k.BodySHA256 = ""
		if first, ok := m.keys[k]; ok {
			if first.BodySHA256 != key.BodySHA256 {
				return request.Request{}, false, request.KeyReused(key.Key)
			}
			return m.requests[first.Key], false, nil
		}
		m.keys[k] = request.IdempotencyKey{Key: r.ID, BodySHA256: key.BodySHA256}
	}
	year := fmt.Sprintf("%s-%d", r.RequestingState, r.CreateTime.Year())
	m.sequences[year]++
	r.Reference = fmt.Sprintf("%s-%06d", year, m.sequences[year])
	r.Version = 1
	m.requests[r.ID] = r
	m.write(r, ch)
	return r, true, nil
}

// write records a change's history entry and event; m.mu is held.
func (m *memStore) write(r request.Request, ch request.Change) {
	if h := ch.History; h != nil {
		e := *h
		e.Seq, e.RequestID, e.Reference = int64(len(m.history)+1), r.ID, r.Reference
		m.history = append(m.history, e)
	}
	m.events = append(m.events, ch.Event)
}

func (m *memStore) Get(_ context.Context, id string) (request.Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.requests[id]
	if !ok {
		return request.Request{}, errs.New(errs.NotFound, "request %q not found", id)
	}
	return r, nil
}

func (m *memStore) List(context.Context, request.ListQuery) (request.Page, error) {
	return request.Page{}, errNotKept
}

func (m *memStore) Update(_ context.Context, id string, fn func(*request.Request) (request.Change, error)) (request.Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.requests[id]
	if !ok {
		return request.Request{}, errs.New(errs.NotFound, "request %q not found", id)
	}
	next := cur
	ch, err := fn(&next)
	if err != nil {
		return request.Request{}, err
	}
	next.Version = cur.Version + 1
	m.requests[id] = next
	m.write(next, ch)
	return next, nil
}

func (m *memStore) UpdatePair(_ context.Context, id, other string, fn func(r, o *request.Request) (request.Change, *request.Change, error)) (request.Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == other {
		return request.Request{}, fmt.Errorf("memStore: UpdatePair of request %s with itself", id)
	}
	cur, ok := m.requests[id]
	if !ok {
		return request.Request{}, errs.New(errs.NotFound, "request %q not found", id)
	}
	oCur, ok := m.requests[other]
	if !ok {
		return request.Request{}, errs.New(errs.NotFound, "request %q not found", other)
	}
	next, oNext := cur, oCur
	ch, oCh, err := fn(&next, &oNext)
	if err != nil {
		return request.Request{}, err
	}
	next.Version = cur.Version + 1
	m.requests[id] = next
	m.write(next, ch)
	if oCh != nil {
		oNext.Version = oCur.Version + 1
		m.requests[other] = oNext
		m.write(oNext, *oCh)
	}
	return next, nil
}

// those returns the elements of xs that keep keeps, in order.
func those[T any](xs []T, keep func(T) bool) []T {
	var out []T
	for _, x := range xs {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

func (m *memStore) History(_ context.Context, id string) ([]request.HistoryEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return those(m.history, func(h request.HistoryEntry) bool { return h.RequestID == id }), nil
}

func (m *memStore) HistoryAfter(_ context.Context, after int64, limit int) ([]request.HistoryEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := those(m.history, func(h request.HistoryEntry) bool { return h.Seq > after })
	return out[:min(limit, len(out))], nil
}

func (m *memStore) LastHistorySeq(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.history)), nil
}

func (m *memStore) CreateMessage(_ context.Context, msg request.Message, ev trail.Event) (request.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.requests[msg.RequestID]; ok && r.ContentErased() {
		return request.Message{}, request.ContentErasedErr(r)
	}
	m.messages, m.events = append(m.messages, msg), append(m.events, ev)
	return msg, nil
}

func (m *memStore) ListMessages(_ context.Context, requestID string, offset, limit int) ([]request.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := those(m.messages, func(msg request.Message) bool { return msg.RequestID == requestID })
	out = out[min(offset, len(out)):]
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *memStore) CreateAttachment(_ context.Context, a request.Attachment, ev trail.Event) (request.Attachment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.requests[a.RequestID]; ok && r.ContentErased() {
		return request.Attachment{}, request.ContentErasedErr(r)
	}
	m.attachments, m.events = append(m.attachments, a), append(m.events, ev)
	return a, nil
}

func (m *memStore) GetAttachment(_ context.Context, requestID, id string) (request.Attachment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.attachments, func(a request.Attachment) bool { return a.RequestID == requestID && a.ID == id })
	if i < 0 {
		return request.Attachment{}, errs.New(errs.NotFound, "attachment %q not found", id)
	}
	return m.attachments[i], nil
}

func (m *memStore) ListAttachments(_ context.Context, requestID string) ([]request.Attachment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return those(m.attachments, func(a request.Attachment) bool { return a.RequestID == requestID }), nil
}

func (m *memStore) StatisticsRows(context.Context, request.StatisticsRowsQuery) ([]request.Request, error) {
	return nil, errNotKept
}
