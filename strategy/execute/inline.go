package execute

import (
	"context"
	"sync"

	"arb/exchange"
)

// Inline is a Caller for backtests: it makes each call at once, on the
// calling goroutine, and hands its result to the driver (which queues it
// and processes it after the current step). With simulated venues and a
// simulated clock the whole execution is synchronous and deterministic.
// Set Driver after NewDriver (the driver needs its caller first).
type Inline struct {
	Driver *Driver
	Venues []Venue // by VenueID
	Ctx    context.Context
}

// Start implements Caller.
func (c *Inline) Start(call Call) {
	ctx := c.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	var v Venue
	if int(call.Req.Venue) < len(c.Venues) {
		v = c.Venues[call.Req.Venue]
	}
	if v == nil {
		ev := Result(&call, exchange.OrderState{}, &exchange.Error{Kind: exchange.KindRejected, Msg: "no trading client for the venue"})
		c.Driver.Deliver(ctx, &ev)
		return
	}
	var st exchange.OrderState
	var err error
	switch call.Kind {
	case CallPlace:
		st, err = v.PlaceOrder(ctx, call.Req)
	case CallCancel:
		st, err = v.CancelOrder(ctx, call.Req.Inst, call.Req.ClientID)
	case CallQuery:
		st, err = v.QueryOrder(ctx, call.Req.Inst, call.Req.ClientID)
	case CallFetchFills:
		var fills []exchange.Fill
		fills, err = v.FillsSince(ctx, call.Req.Inst, call.Since)
		for i := range fills {
			c.Driver.Deliver(ctx, &Event{Kind: EvFill, Fill: fills[i]})
		}
	}
	ev := Result(&call, st, err)
	c.Driver.Deliver(ctx, &ev)
}

// MemJournal is a Journal in memory, deduplicating by entry ID like
// JetStream: for backtests and tests. It is safe for concurrent use.
type MemJournal struct {
	mu   sync.Mutex
	ids  map[string]bool
	data [][]byte
	// Fail, if set, makes Append fail (for tests).
	Fail func() error
}

// Append implements Journal.
func (j *MemJournal) Append(_ context.Context, es []Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.Fail != nil {
		if err := j.Fail(); err != nil {
			return err
		}
	}
	if j.ids == nil {
		j.ids = map[string]bool{}
	}
	for _, e := range es {
		if j.ids[e.ID] {
			continue
		}
		j.ids[e.ID] = true
		j.data = append(j.data, append([]byte(nil), e.Data...))
	}
	return nil
}

// Replay implements Journal.
func (j *MemJournal) Replay(ctx context.Context, fn func([]byte) error) error {
	j.mu.Lock()
	data := append([][]byte(nil), j.data...)
	j.mu.Unlock()
	for _, d := range data {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// Len returns how many entries are stored.
func (j *MemJournal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.data)
}

// Entries returns a copy of the stored entries, oldest first.
func (j *MemJournal) Entries() [][]byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([][]byte(nil), j.data...)
}
