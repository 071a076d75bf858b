package audit

import (
	"context"
	"fmt"
	"slices"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/trail"
)

type pendingEvent struct {
	done  chan struct{}
	index uint64
	err   error
}

// maxGroup bounds the ids of one grouped lookup and the entries of one
// grouped index write: a run of producers sending full relay batches still
// writes in transactions of a few thousand rows.
const maxGroup = 4096

// maxIndexBacklog is how many logged entries may wait for their index write
// before Appends wait for it too.
const maxIndexBacklog = 1 << 16

// lookupGroup looks up the ids of every request in one query; they share
// the answer.
func (s *Service) lookupGroup(ctx context.Context, reqs [][]string) []groupResult[map[string]uint64] {
	var ids []string
	for _, r := range reqs {
		ids = append(ids, r...)
	}
	known, err := s.index.Lookup(ctx, ids)
	out := make([]groupResult[map[string]uint64], len(reqs))
	for i := range out {
		out[i] = groupResult[map[string]uint64]{resp: known, err: err}
	}
	return out
}

// putGroup indexes the entries of every request in one Put. Should it fail,
// each request is tried on its own, so that one bad request fails alone.
func (s *Service) putGroup(ctx context.Context, reqs [][]Entry) []groupResult[struct{}] {
	out := make([]groupResult[struct{}], len(reqs))
	if len(reqs) > 1 {
		var all []Entry
		for _, r := range reqs {
			all = append(all, r...)
		}
		if s.index.Put(ctx, all) == nil {
			return out
		}
	}
	for i, r := range reqs {
		out[i].err = s.index.Put(ctx, r)
	}
	return out
}

// Producers are the services whose events the audit log holds, the only
// ones that may append to it (MayAppend).
var Producers = []string{mtls.Directory, mtls.Request}

// MayAppend is the rule of who may append events to the audit log: a
// producing service (Producers), by its service token p, and each its own
// events only; over mTLS, peer is the identity the caller's certificate
// names ("" without mTLS), which must be the token's. The audit server's
// mTLS policy lets only the producers' certificates call Append
// (auditd.Callers, made from Producers).
func MayAppend(p identity.Principal, peer string, events []trail.Event) error {
	if peer != "" && p.Service != "" && peer != p.Service {
		return errs.New(errs.PermissionDenied, "the token names %s but the certificate %s", p.Service, peer)
	}
	for i, e := range events {
		if p.Service != "" && e.Service != p.Service {
			return errs.New(errs.PermissionDenied, "events[%d] is of %q: %s may append only its own events", i, e.Service, p.Service)
		}
	}
	if !slices.Contains(Producers, p.Service) {
		return errs.New(errs.PermissionDenied, "only the Comity services may append to the audit log")
	}
	return nil
}

// Append logs events for a producing service and returns their indexes in
// order, if p (over mTLS, with the certificate naming peer) may append them
// (MayAppend). An event already logged (same id) keeps its index and is not
// logged again, also when two calls race.
func (s *Service) Append(ctx context.Context, p identity.Principal, peer string, events []trail.Event) ([]uint64, error) {
	if err := MayAppend(p, peer, events); err != nil {
		return nil, err
	}
	// The events appended are the record; an event about the delivery
	// itself would only double the log.
	return s.appendEvents(ctx, events)
}

// RecordEvent logs an event of the audit service itself (an auditor's read,
// a denied call). It implements Recorder.
func (s *Service) RecordEvent(ctx context.Context, e trail.Event) error {
	_, err := s.appendEvents(ctx, []trail.Event{e})
	return err
}

var _ trail.Recorder = (*Service)(nil)

func (s *Service) appendEvents(ctx context.Context, events []trail.Event) ([]uint64, error) {
	var vs errs.Violations
	for i, e := range events {
		if e.ID == "" {
			vs.Add(fmt.Sprintf("events[%d].id", i), "required")
		}
	}
	if err := vs.Err(errs.Invalid, "invalid events"); err != nil {
		return nil, err
	}
	// Encoded before anything is registered, so that an event that cannot
	// be logged fails the call alone.
	leaves := make([][]byte, len(events))
	for i, e := range events {
		leaf, err := Leaf(e)
		if err != nil {
			return nil, errs.Wrap(err, errs.Invalid, "events[%d] cannot be logged", i)
		}
		leaves[i] = leaf
	}

	s.mu.Lock()
	if err := s.flushUnindexed(ctx); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	// Each event is either pending already (another call, or an earlier
	// copy in this one, is on it) or becomes this call's to resolve.
	waits := make([]*pendingEvent, len(events))
	var mine []Entry
	var minePending []*pendingEvent
	for i, e := range events {
		if pe, ok := s.pending[e.ID]; ok {
			waits[i] = pe
			continue
		}
		pe := &pendingEvent{done: make(chan struct{})}
		s.pending[e.ID] = pe
		waits[i] = pe
		mine = append(mine, Entry{Event: e, Leaf: leaves[i]})
		minePending = append(minePending, pe)
	}
	s.mu.Unlock()

	if len(mine) > 0 {
		// Others may be waiting for these events: see them through even
		// if the caller goes away.
		s.resolve(context.WithoutCancel(ctx), mine, minePending)
	}
	out := make([]uint64, len(events))
	for i, pe := range waits {
		select {
		case <-pe.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if pe.err != nil {
			return nil, pe.err
		}
		out[i] = pe.index
	}
	return out, nil
}

// resolve settles the pending events of entries, registered by the caller:
// those the index knows get their index; the others are logged and indexed.
//
// The lookup runs after the events were registered as pending, and an event
// leaves pending only once it is indexed: so an event logged by an earlier
// call is either still pending (and waited for, not looked up) or found by
// the lookup. It cannot be logged twice.
func (s *Service) resolve(ctx context.Context, entries []Entry, pes []*pendingEvent) {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.Event.ID
	}
	known, err := s.lookups.do(ctx, ids)
	if err != nil {
		s.settle(entries, pes, fmt.Errorf("look up audit events: %w", err))
		return
	}
	var found, fresh []Entry
	var foundPending, freshPending []*pendingEvent
	for i, e := range entries {
		if idx, ok := known[e.Event.ID]; ok {
			e.Index = idx
			found = append(found, e)
			foundPending = append(foundPending, pes[i])
		} else {
			fresh = append(fresh, e)
			freshPending = append(freshPending, pes[i])
		}
	}
	if len(found) > 0 {
		s.settle(found, foundPending, nil)
	}
	if len(fresh) > 0 {
		s.logAndIndex(ctx, fresh, freshPending)
	}
}

// logAndIndex appends the leaves of entries, settles their pending events
// and queues them for the index.
//
// An event is acknowledged once it is in the log: the index is written
// behind (maxIndexBacklog bounds how far), and the event stays pending, so
// found without the index, until it is indexed. A crash before that loses
// nothing: Recover indexes the log's tail before the service serves again.
func (s *Service) logAndIndex(ctx context.Context, entries []Entry, pes []*pendingEvent) {
	leaves := make([][]byte, len(entries))
	for i, e := range entries {
		leaves[i] = e.Leaf
	}
	indexes, err := s.log.Append(ctx, leaves)
	if err != nil {
		s.settle(entries, pes, fmt.Errorf("append to the audit log: %w", err))
		return
	}
	s.mu.Lock()
	for i := range entries {
		entries[i].Index = indexes[i]
		pes[i].index = indexes[i]
		close(pes[i].done)
	}
	// The caller's answer waits here while the index lags too far behind,
	// so that producers cannot outrun it.
	for s.indexing >= maxIndexBacklog {
		s.indexed.Wait()
	}
	s.indexing += len(entries)
	s.writers.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.writers.Done()
		_, err := s.puts.do(ctx, entries)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.indexing -= len(entries)
		s.indexed.Broadcast()
		if err != nil {
			// Logged but not indexed: they stay pending, so that neither
			// a retry nor a concurrent call logs them again, and the next
			// Append (or Flush) indexes them.
			s.unindexed = append(s.unindexed, entries...)
			return
		}
		for _, e := range entries {
			delete(s.pending, e.Event.ID)
		}
	}()
}

// Flush waits until the spool's events being logged are, and every event
// logged so far is indexed (or its index write has failed), and retries the
// failed index writes: a service about to stop calls it before closing its
// log and index. Nothing is lost without it: Recover indexes what the index
// lacks from the log, and logs what the spool holds.
func (s *Service) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.drainers.Wait() // which may start index writes
		s.writers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushUnindexed(ctx)
}

// settle resolves the pending events of entries with their indexes, or
// with err, and forgets them.
func (s *Service) settle(entries []Entry, pes []*pendingEvent, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range entries {
		if err != nil {
			pes[i].err = err
		} else {
			pes[i].index = e.Index
		}
		close(pes[i].done)
		delete(s.pending, e.Event.ID)
	}
}

// flushUnindexed retries indexing logged entries; s.mu is held.
func (s *Service) flushUnindexed(ctx context.Context) error {
	if len(s.unindexed) == 0 {
		return nil
	}
	if err := s.index.Put(ctx, s.unindexed); err != nil {
		return fmt.Errorf("audit index unavailable: %w", err)
	}
	for _, e := range s.unindexed {
		delete(s.pending, e.Event.ID)
	}
	s.unindexed = nil
	return nil
}
