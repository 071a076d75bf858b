package request

import (
	"context"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/query"
)

// History returns the status changes of a request the caller may see, with
// the reasons the caller may read (reasonFor).
func (s *Service) History(ctx context.Context, p identity.Principal, id string) (_ []HistoryEntry, err error) {
	r, err := s.visible(ctx, p, id)
	if err != nil {
		return nil, err
	}
	defer func() { err = concerns(r, err) }()
	h, err := s.store.History(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	shown := false
	for i := range h {
		h[i].Reason = reasonFor(p, r, h[i])
		shown = shown || h[i].Reason != ""
	}
	// The reasons are content (a refusal's explanation, a report of use,
	// an onward transfer's recipient): reading them is audited with the
	// reader's purpose, as a Get is (DESIGN §10).
	if shown {
		if err := s.recordRead(ctx, p, r, "requests/"+r.ID+"/history"); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Watch calls send with every status change that p may see and that matches
// filter (see Matches; nil for all), from now until ctx ends or send fails,
// with the reasons p may read and the request as it was right after the
// change as p may see it (HistoryEntry.Snapshot: metadata, and the
// clarifications when p may read the request's content). Both who may see a
// change and whether it matches are decided on the request as it was then. It calls started once
// it has fixed "now", so that a caller can tell its client that every later
// change will arrive. It follows the store's history through the Service's
// one feed, so it sees changes made by every replica.
//
// The stream ends with an error when p's token is no longer accepted
// (Principal.Expiry), when p's agency is deactivated, stops trusting p's
// issuer or changes to a kind where p's roles do not count, and when p's
// client falls so far behind that a change would be lost. It is refused when
// p's user or agency has as many streams open as WatchLimits allow.
//
// send runs in a goroutine of its own, so that a client that stops reading
// (send blocks) cannot keep the stream alive past those ends: Watch returns
// without waiting for it, and a gRPC handler that returns ends its stream,
// which unblocks the send. The stream keeps its place among p's user's and
// agency's streams until both Watch has returned and no send is under way:
// a stream whose send is stuck still counts, so that stuck streams cannot
// pile up beyond the limits.
func (s *Service) Watch(ctx context.Context, p identity.Principal, filter query.Expr, started func() error, send func(HistoryEntry) error) error {
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
	sub, err := s.feed.subscribe(ctx, p, filter)
	if err != nil {
		return err
	}
	if err := started(); err != nil {
		s.feed.unsubscribe(sub)
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	sent := make(chan error, 1)
	go func() { sent <- pump(ctx, sub, send) }()
	defer func() {
		// No further send starts; one under way keeps the place until
		// it returns.
		cancel()
		select {
		case <-sent:
			s.feed.unsubscribe(sub)
		default:
			go func() {
				<-sent
				s.feed.unsubscribe(sub)
			}()
		}
	}()
	done := sub.done
	var grace <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-sent:
			// pump's result goes back into sent for the deferred release.
			sent <- err
			return err
		case <-expired:
			return tokenExpired(p)
		case <-done:
			// The feed ended the stream. What was queued before the end
			// still goes out if the client takes it within drainGrace; a
			// client that does not is not waited for.
			t := time.NewTimer(drainGrace)
			defer t.Stop()
			grace, done = t.C, nil
		case <-grace:
			return sub.err
		}
	}
}

// drainGrace is how long a stream the feed has ended may go on sending
// what was queued for it before the end.
const drainGrace = time.Second

// pump sends sub's changes until ctx ends (nil), send fails (its error) or
// the feed ends sub and the changes queued before are sent (sub.err). It
// starts no send once ctx has ended.
func pump(ctx context.Context, sub *subscription, send func(HistoryEntry) error) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case e := <-sub.ch:
			if ctx.Err() != nil {
				return nil
			}
			if err := send(e); err != nil {
				return err
			}
		case <-sub.done:
			for {
				if ctx.Err() != nil {
					return nil
				}
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

// tokenExpired is the error of a stream whose token the verifier no longer
// accepts. p.Expiry is the token's exp plus the verifier's clock leeway, so
// the message names it as the time the token stopped being accepted, not
// as the time it expired.
func tokenExpired(p identity.Principal) error {
	return errs.New(errs.Unauthenticated, "your token has expired and is no longer accepted since %s, so this watch has ended; sign in again and watch again",
		p.Expiry.UTC().Format(time.RFC3339))
}
