package request

import (
	"context"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// History returns the status changes of a request the caller may see.
// Metadata-only callers get them without reasons.
func (s *Service) History(ctx context.Context, p identity.Principal, id string) ([]HistoryEntry, error) {
	r, err := s.visible(ctx, p, id)
	if err != nil {
		return nil, err
	}
	h, err := s.store.History(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	if accessOf(p, r) != fullAccess {
		for i := range h {
			h[i].Reason = ""
		}
	}
	return h, nil
}

// Watch calls send with every status change that p may see, from now until
// ctx ends or send fails. It calls started once it has fixed "now", so that
// a caller can tell its client that every later change will arrive. It
// follows the store's history feed, so it sees changes made by every
// replica.
func (s *Service) Watch(ctx context.Context, p identity.Principal, started func() error, send func(HistoryEntry) error) error {
	after, err := s.store.LastHistorySeq(ctx)
	if err != nil {
		return err
	}
	if err := started(); err != nil {
		return err
	}
	tick := time.NewTicker(s.watchPoll)
	defer tick.Stop()
	for {
		entries, err := s.store.HistoryAfter(ctx, after, 500)
		if err != nil {
			return err
		}
		for _, e := range entries {
			after = e.Seq
			// Decide on the request as it is now: a requested agency sees
			// a request's history once it has been transmitted to it.
			r, err := s.store.Get(ctx, e.RequestID)
			if err != nil {
				return err
			}
			switch accessOf(p, r) {
			case noAccess:
				continue
			case metadataAccess:
				e.Reason = ""
			}
			if err := send(e); err != nil {
				return err
			}
		}
		if len(entries) == 500 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
