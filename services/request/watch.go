package request

import (
	"context"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

// History returns the status changes of a request the caller may see, with
// the reasons the caller may read (reasonFor).
func (s *Service) History(ctx context.Context, p identity.Principal, id string) ([]HistoryEntry, error) {
	r, err := s.visible(ctx, p, id)
	if err != nil {
		return nil, err
	}
	h, err := s.store.History(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	for i := range h {
		h[i].Reason = reasonFor(p, r, h[i])
	}
	return h, nil
}

// Watch calls send with every status change that p may see, from now until
// ctx ends or send fails, with the reasons p may read. It calls started once
// it has fixed "now", so that a caller can tell its client that every later
// change will arrive. It follows the store's history through the Service's
// one feed, so it sees changes made by every replica.
//
// The stream ends with an error when p's token expires (Principal.Expiry),
// when p's agency is deactivated or stops trusting p's issuer, and when p's
// client falls so far behind that a change would be lost. It is refused when
// p's user or agency has as many streams open as WatchLimits allow.
func (s *Service) Watch(ctx context.Context, p identity.Principal, started func() error, send func(HistoryEntry) error) error {
	var expired <-chan time.Time
	if !p.Expiry.IsZero() {
		left := time.Until(p.Expiry)
		if left <= 0 {
			return tokenExpired(p)
		}
		t := time.NewTimer(left)
		defer t.Stop()
		expired = t.C
	}
	sub, err := s.feed.subscribe(ctx, p)
	if err != nil {
		return err
	}
	defer s.feed.unsubscribe(sub)
	if err := started(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-expired:
			return tokenExpired(p)
		case e := <-sub.ch:
			if err := send(e); err != nil {
				return err
			}
		case <-sub.done:
			// What was queued before the end still goes out.
			for {
				select {
				case e := <-sub.ch:
					if err := send(e); err != nil {
						return err
					}
				default:
					return sub.err
				}
			}
		}
	}
}

func tokenExpired(p identity.Principal) error {
	return errs.New(errs.Unauthenticated, "your token expired at %s, so this watch has ended; sign in again and watch again",
		p.Expiry.UTC().Format(time.RFC3339))
}
