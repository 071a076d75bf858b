package request

import (
	"context"
	"slices"
	"sort"

	"github.com/comity-mla/comity/services/identity"
)

// PairStatistics aggregates the requests from one state to another.
type PairStatistics struct {
	RequestingState          string
	RequestedState           string
	ByStatus                 map[Status]int
	MedianHoursToAcknowledge float64
	MedianHoursToAnswer      float64
	Overdue                  int
	RefusalsByGround         map[string]int
}

// Statistics returns aggregates per pair of states that involve the
// caller's state: counts by status (drafts excluded), median times to
// acknowledge and to answer, overdue requests and refusals by ground. It
// holds no case data, and counts only the requests the caller's state may
// know of (DESIGN §3): its own outgoing ones, and incoming ones once
// transmitted to it, so that no count tells the requested state of a request
// still being prepared.
func (s *Service) Statistics(ctx context.Context, p identity.Principal) ([]PairStatistics, error) {
	rows, err := s.store.StatisticsRows(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	type key struct{ from, to string }
	pairs := map[key]*PairStatistics{}
	ack := map[key][]float64{}
	answer := map[key][]float64{}
	for _, r := range rows {
		known := r.RequestingState == p.State || r.RequestedState == p.State && !r.TransmitTime.IsZero()
		if r.Status == Draft || !known {
			continue
		}
		k := key{r.RequestingState, r.RequestedState}
		ps := pairs[k]
		if ps == nil {
			ps = &PairStatistics{RequestingState: k.from, RequestedState: k.to, ByStatus: map[Status]int{}, RefusalsByGround: map[string]int{}}
			pairs[k] = ps
		}
		ps.ByStatus[r.Status]++
		if Overdue(r, now) {
			ps.Overdue++
		}
		if r.Refusal != nil {
			for _, g := range r.Refusal.Grounds {
				ps.RefusalsByGround[g]++
			}
		}
		if !r.TransmitTime.IsZero() && !r.AcknowledgeTime.IsZero() {
			ack[k] = append(ack[k], r.AcknowledgeTime.Sub(r.TransmitTime).Hours())
		}
		if !r.AcknowledgeTime.IsZero() && !r.AnswerTime.IsZero() {
			answer[k] = append(answer[k], r.AnswerTime.Sub(r.AcknowledgeTime).Hours())
		}
	}
	out := make([]PairStatistics, 0, len(pairs))
	for k, ps := range pairs {
		ps.MedianHoursToAcknowledge = median(ack[k])
		ps.MedianHoursToAnswer = median(answer[k])
		out = append(out, *ps)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].RequestingState != out[j].RequestingState {
			return out[i].RequestingState < out[j].RequestingState
		}
		return out[i].RequestedState < out[j].RequestedState
	})
	return out, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
