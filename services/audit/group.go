package audit

import (
	"context"
	"sync"
)

// group runs the calls made while an earlier one is running together, in
// one run of its function (group commit): the index answers a lookup of a
// thousand ids or writes a thousand entries in about the time it takes for
// one, and on PostgreSQL a write's cost is mostly its commit.
//
// A run starts as soon as a call arrives and nothing is running: there is no
// timer, so a lone call waits for nothing, and calls that arrive during a run
// share the next one.
type group[Req, Resp any] struct {
	// run answers reqs, one result per request, with a context that does
	// not end with any caller's: a caller leaving does not cancel the
	// others' work.
	run func(ctx context.Context, reqs []Req) []groupResult[Resp]
	// size counts a request towards max.
	size func(Req) int
	// max bounds the requests of a run by their total size; the first is
	// always taken.
	max int

	mu      sync.Mutex
	queue   []*groupCall[Req, Resp]
	running bool
}

type groupResult[Resp any] struct {
	resp Resp
	err  error
}

type groupCall[Req, Resp any] struct {
	req  Req
	res  groupResult[Resp]
	done chan struct{}
}

// do queues req for the next run and waits for its result, or for ctx to end
// (the run then still happens, its result discarded).
func (g *group[Req, Resp]) do(ctx context.Context, req Req) (Resp, error) {
	c := &groupCall[Req, Resp]{req: req, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if !g.running {
		g.running = true
		// A worker per busy spell rather than one for the Service's
		// lifetime: nothing to stop when the Service is dropped.
		go g.work(context.WithoutCancel(ctx))
	}
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.res.resp, c.res.err
	case <-ctx.Done():
		var zero Resp
		return zero, ctx.Err()
	}
}

// work runs the queued calls until the queue is empty.
func (g *group[Req, Resp]) work(ctx context.Context) {
	for {
		g.mu.Lock()
		n, total := 0, 0
		for n < len(g.queue) && (n == 0 || total+g.size(g.queue[n].req) <= g.max) {
			total += g.size(g.queue[n].req)
			n++
		}
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		calls := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()

		reqs := make([]Req, n)
		for i, c := range calls {
			reqs[i] = c.req
		}
		results := g.run(ctx, reqs)
		for i, c := range calls {
			c.res = results[i]
			close(c.done)
		}
	}
}
