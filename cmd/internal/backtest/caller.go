package backtest

import (
	"container/heap"

	"arb/exchange"
	"arb/strategy/execute"
)

// caller is the executor's Caller in a backtest: each call reaches its
// simulated venue after the venue's latency (for 0: at the same time, once
// the record being processed is done with), is answered there on the book
// of that moment, and the answer — with the order's fills, as a venue's response and private
// stream deliver them — comes back after the latency again.
type caller engine

// Start implements execute.Caller.
func (c *caller) Start(call execute.Call) {
	e := (*engine)(c)
	var v *simVenue
	if int(call.Req.Venue) < len(e.sims) {
		v = e.sims[call.Req.Venue]
	}
	if v == nil {
		ev := execute.Result(&call, exchange.OrderState{}, &exchange.Error{Kind: exchange.KindRejected, Msg: "no simulated venue"})
		e.drv.Deliver(e.ctx, &ev)
		return
	}
	// Even at zero latency the call is made after the record being
	// processed is done with, not inside the executor's Submit: the
	// daemon's executor runs on its own goroutine, so the loop decides
	// every plan of a batch on the inventory as it was, and the order
	// meets the venue's book before the next record changes it.
	e.sched.push(schedItem{t: e.clock + v.latency, arrive: true, call: call})
}

// execute makes the call on the venue now and returns the events of its
// answer: the result, then the fills it reports.
func (e *engine) execute(v *simVenue, call *execute.Call) []execute.Event {
	var st exchange.OrderState
	var err error
	var evs []execute.Event
	switch call.Kind {
	case execute.CallPlace:
		st, err = v.PlaceOrder(e.ctx, call.Req)
		if err == nil {
			if o := v.orders[call.Req.ClientID]; o != nil {
				for i := range o.fills {
					evs = append(evs, execute.Event{Kind: execute.EvFill, Fill: o.fills[i]})
				}
			}
		}
	case execute.CallCancel:
		st, err = v.CancelOrder(e.ctx, call.Req.Inst, call.Req.ClientID)
	case execute.CallQuery:
		st, err = v.QueryOrder(e.ctx, call.Req.Inst, call.Req.ClientID)
	case execute.CallFetchFills:
		fills, _ := v.FillsSince(e.ctx, call.Req.Inst, call.Since)
		for i := range fills {
			evs = append(evs, execute.Event{Kind: execute.EvFill, Fill: fills[i]})
		}
		return append(evs, execute.Result(call, st, nil))
	}
	return append([]execute.Event{execute.Result(call, st, err)}, evs...)
}

func (e *engine) deliver(evs []execute.Event) {
	for i := range evs {
		e.drv.Deliver(e.ctx, &evs[i])
	}
}

// fire handles a scheduled item at its time.
func (e *engine) fire(it schedItem) {
	if it.arrive {
		v := e.sims[it.call.Req.Venue]
		evs := e.execute(v, &it.call)
		e.sched.push(schedItem{t: e.clock + v.latency, evs: evs})
		return
	}
	e.deliver(it.evs)
}

// schedItem is a call arriving at its venue, or an answer arriving back.
type schedItem struct {
	t      int64
	seq    uint64
	arrive bool
	call   execute.Call
	evs    []execute.Event
}

// schedQueue orders items by time, then by scheduling order.
type schedQueue struct {
	items []schedItem
	seq   uint64
}

func (q *schedQueue) Len() int { return len(q.items) }
func (q *schedQueue) Less(i, j int) bool {
	a, b := &q.items[i], &q.items[j]
	return a.t < b.t || (a.t == b.t && a.seq < b.seq)
}
func (q *schedQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *schedQueue) Push(x any)    { q.items = append(q.items, x.(schedItem)) }
func (q *schedQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return it
}
func (q *schedQueue) push(it schedItem) {
	q.seq++
	it.seq = q.seq
	heap.Push(q, it)
}
func (q *schedQueue) pop() schedItem   { return heap.Pop(q).(schedItem) }
func (q *schedQueue) peek() *schedItem { return &q.items[0] }
