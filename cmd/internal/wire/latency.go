package wire

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/strategy/execute"
)

// latencies measures the order path of the trades this daemon opens:
//
//   - plan to send: from the plan's decision (Plan.TS) to each entry
//     order's call, as the executor makes it (arb_plan_to_send_seconds);
//   - tick to order: from the socket read of the book frame that made the
//     plan (the newer leg's BookTop.RecvTS) to the first order byte
//     written, as the trading client reports it just before the write
//     (OnOrderWrite; a paper venue's send is its write)
//     (arb_tick_to_order_seconds);
//   - plan to both legs on the wire: from the plan's decision to the
//     later of its two entry orders' writes.
//
// The histograms feed the metrics; the last samples of each give exact
// quantiles for /api/v1/status and BENCHMARKS.md. Called on the order
// path only (a few times per trade), under one mutex.
type latencies struct {
	mu                              sync.Mutex
	pend                            [64]sendRec // entry orders sent, most recent last
	next                            int
	tickToOrder, planToSend, toBoth samples
	tickH, planH, bothH             exchange.Hist
	appends                         samples // journal appends (all, not only entries')
}

// appended records one journal append's duration.
func (l *latencies) appended(d time.Duration) {
	l.mu.Lock()
	l.appends.add(int64(d))
	l.mu.Unlock()
}

type sendRec struct {
	cid        exchange.ID
	venue      exchange.VenueID
	trade      execute.TradeID
	tick, plan int64
	wrote      int64
}

// samples keeps the last len(buf) values (ns).
type samples struct {
	buf [8192]int64
	n   uint64
}

func (s *samples) add(v int64) {
	s.buf[s.n%uint64(len(s.buf))] = v
	s.n++
}

// quantiles returns the values at the given quantiles of the samples kept,
// and how many were taken in all.
func (s *samples) quantiles(qs ...float64) ([]int64, uint64) {
	n := min(s.n, uint64(len(s.buf)))
	if n == 0 {
		return make([]int64, len(qs)), 0
	}
	c := slices.Clone(s.buf[:n])
	slices.Sort(c)
	out := make([]int64, len(qs))
	for i, q := range qs {
		k := int(q*float64(n) + 0.5)
		out[i] = c[min(max(k-1, 0), int(n)-1)]
	}
	return out, s.n
}

// sending records an entry order about to be sent at now.
func (l *latencies) sending(c *execute.Call, now int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pend[l.next] = sendRec{cid: c.Req.ClientID, venue: c.Req.Venue, trade: c.Trade, tick: c.TickTS, plan: c.PlanTS}
	l.next = (l.next + 1) % len(l.pend)
	if c.PlanTS > 0 {
		l.planToSend.add(now - c.PlanTS)
		l.planH.Observe(now - c.PlanTS)
	}
}

// wrote records that the order with client id cid on venue v was written
// at at.
func (l *latencies) wrote(v exchange.VenueID, cid exchange.ID, at int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var me *sendRec
	for i := range l.pend {
		if r := &l.pend[i]; r.cid == cid && r.venue == v {
			me = r
			break
		}
	}
	if me == nil || me.wrote != 0 {
		return // not an entry order's first send
	}
	me.wrote = at
	var other *sendRec
	for i := range l.pend {
		if r := &l.pend[i]; r != me && r.trade == me.trade && r.wrote != 0 {
			other = r
		}
	}
	if other == nil { // the first leg on the wire
		if me.tick > 0 {
			l.tickToOrder.add(at - me.tick)
			l.tickH.Observe(at - me.tick)
		}
		return
	}
	if me.plan > 0 {
		d := max(at, other.wrote) - me.plan
		l.toBoth.add(d)
		l.bothH.Observe(d)
	}
}

// LatencyReport is the order path's latency figures (ns) over the last
// samples: what /api/v1/status shows under "latency".
type LatencyReport struct {
	TickToOrderP50 int64  `json:"tick_to_order_p50_ns"`
	TickToOrderP99 int64  `json:"tick_to_order_p99_ns"`
	TickToOrderN   uint64 `json:"tick_to_order_samples"`
	PlanToSendP50  int64  `json:"plan_to_send_p50_ns"`
	PlanToSendP99  int64  `json:"plan_to_send_p99_ns"`
	PlanToSendN    uint64 `json:"plan_to_send_samples"`
	PlanToBothP50  int64  `json:"plan_to_both_legs_p50_ns"`
	PlanToBothP99  int64  `json:"plan_to_both_legs_p99_ns"`
	PlanToBothN    uint64 `json:"plan_to_both_legs_samples"`
	// JournalAppend is every write-ahead append (records of one executor
	// step, acknowledged by JetStream).
	JournalAppendP50 int64  `json:"journal_append_p50_ns"`
	JournalAppendP99 int64  `json:"journal_append_p99_ns"`
	JournalAppendN   uint64 `json:"journal_append_samples"`
	// Handoff is the ring probe's (Options.LatencyProbe), else nil.
	Handoff *HandoffReport `json:"handoff,omitempty"`
}

func (l *latencies) report() LatencyReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	var r LatencyReport
	var q []int64
	q, r.TickToOrderN = l.tickToOrder.quantiles(0.5, 0.99)
	r.TickToOrderP50, r.TickToOrderP99 = q[0], q[1]
	q, r.PlanToSendN = l.planToSend.quantiles(0.5, 0.99)
	r.PlanToSendP50, r.PlanToSendP99 = q[0], q[1]
	q, r.PlanToBothN = l.toBoth.quantiles(0.5, 0.99)
	r.PlanToBothP50, r.PlanToBothP99 = q[0], q[1]
	q, r.JournalAppendN = l.appends.quantiles(0.5, 0.99)
	r.JournalAppendP50, r.JournalAppendP99 = q[0], q[1]
	return r
}

// ringProbe measures, when Options.LatencyProbe is set, the hand-off from
// a feed to the strategy loop through the ring, and — in the same run, for
// the same events at the same moments — what a Go channel would take: each
// push is stamped (the ring's push hook, on the feed's goroutine) and the
// stamp is also sent on a buffered channel whose receiver goroutine does
// nothing else; the ring's hand-off is the loop's clock when it took the
// batch minus the stamp, the channel's the receiver's clock minus the
// stamp. Both consumers park while no event comes. Measurement only: a
// production daemon has no probe (the hook is nil).
type ringProbe struct {
	pushed [RingCapacity]atomic.Int64 // push time by sequence mod capacity
	ch     chan int64

	mu         sync.Mutex
	ring, chn  samples
	chanDrops  uint64
	readToTake samples
}

func newRingProbe() *ringProbe { return &ringProbe{ch: make(chan int64, 1024)} }

// onPush is the ring's push hook.
func (p *ringProbe) onPush(seq uint64) {
	now := time.Now().UnixNano()
	p.pushed[seq%RingCapacity].Store(now)
	select {
	case p.ch <- now:
	default:
		p.mu.Lock()
		p.chanDrops++
		p.mu.Unlock()
	}
}

// observe is the loop's Observe: the ring hand-off of sequence seq.
func (p *ringProbe) observe(seq uint64, taken int64) {
	if t := p.pushed[seq%RingCapacity].Load(); t > 0 && taken >= t {
		p.mu.Lock()
		p.ring.add(taken - t)
		p.mu.Unlock()
	}
}

// run is the channel's receiver.
func (p *ringProbe) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case t := <-p.ch:
			now := time.Now().UnixNano()
			p.mu.Lock()
			p.chn.add(now - t)
			p.mu.Unlock()
		}
	}
}

// HandoffReport is the ring probe's figures (ns).
type HandoffReport struct {
	RingP50     int64  `json:"ring_handoff_p50_ns"`
	RingP99     int64  `json:"ring_handoff_p99_ns"`
	RingN       uint64 `json:"ring_handoff_samples"`
	ChanP50     int64  `json:"chan_handoff_p50_ns"`
	ChanP99     int64  `json:"chan_handoff_p99_ns"`
	ChanN       uint64 `json:"chan_handoff_samples"`
	ChanDropped uint64 `json:"chan_dropped"`
}

func (p *ringProbe) report() *HandoffReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	var r HandoffReport
	var q []int64
	q, r.RingN = p.ring.quantiles(0.5, 0.99)
	r.RingP50, r.RingP99 = q[0], q[1]
	q, r.ChanN = p.chn.quantiles(0.5, 0.99)
	r.ChanP50, r.ChanP99 = q[0], q[1]
	r.ChanDropped = p.chanDrops
	return &r
}
