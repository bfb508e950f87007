package exchangetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/ringbuf"
)

// bookSource is where the checker reads the venue's true book: the
// simulator's history (sim.Sim satisfies it), or a fake in the suite's own
// tests.
type bookSource interface {
	BookAt(venue, symbol string, seq uint64) (bids, asks []exchange.Level, ok bool)
}

// event is what the checker remembers of one BookTop: enough to build
// timelines, not the levels (those are verified on arrival).
type event struct {
	at    time.Time // when the checker took it from the ring
	recv  int64     // the event's RecvTS: the adapter's clock
	seq   uint64
	stale bool
	cause exchange.StaleCause
	bad   bool // a fresh event that broke the invariant
}

// Plausibility windows for the event's clocks (the simulator's clock is the
// wall clock, and adapters default Now to time.Now): they catch a
// millisecond or second timestamp left unconverted, not jitter — nor the
// seconds a loaded machine may let an event wait in the ring.
const (
	recvSkewMax  = time.Minute     // |RecvTS − now|
	exchPastMax  = 2 * time.Minute // ExchTS may lag now by this much
	exchAheadMax = 5 * time.Second // and lead it by this much
)

// Caps on what the checker keeps.
const (
	maxEventsPerInst = 1 << 15 // recorded events per instrument
	maxViolations    = 25      // violation texts kept (all are counted)
	ringBatch        = 256     // events read per ring batch
)

// checker is the ring's single consumer. It enforces the invariant on
// every event as it arrives and records per-instrument timelines for the
// fault scenarios. Its run method owns the ring's consumer side; every other
// method is safe from any goroutine.
type checker struct {
	venue     exchange.VenueID
	simVenue  string // the venue's name in the simulator
	insts     []exchange.Instrument
	idx       map[exchange.InstrumentID]int
	depth     int // levels per side the adapter's channel carries (≤ TopK)
	books     bookSource
	ring      *ringbuf.MPSC[exchange.BookTop]
	start     time.Time
	now       func() time.Time
	clockSkew bool // check RecvTS/ExchTS against the wall clock

	mu           sync.Mutex
	events       [][]event
	overflow     bool
	received     uint64
	fresh        uint64
	verified     []uint64 // per instrument
	unverifiable uint64
	unverifSeqs  []string
	nViolations  int
	violations   []string
}

func newChecker(venue exchange.VenueID, simVenue string, insts []exchange.Instrument, depth int,
	books bookSource, ring *ringbuf.MPSC[exchange.BookTop], start time.Time) *checker {
	c := &checker{venue: venue, simVenue: simVenue, insts: insts, idx: map[exchange.InstrumentID]int{},
		depth: depth, books: books, ring: ring, start: start, now: time.Now, clockSkew: true,
		events: make([][]event, len(insts)), verified: make([]uint64, len(insts))}
	for i, in := range insts {
		c.idx[in.ID] = i
	}
	return c
}

// run consumes the ring until ctx ends, then drains what is left and
// returns. It must be the ring's only consumer.
func (c *checker) run(ctx context.Context) {
	for {
		if !c.ring.Wait(ctx, 20*time.Millisecond) {
			if ctx.Err() != nil {
				c.drain()
				return
			}
			continue
		}
		c.drain()
	}
}

// drain reads every event ready in the ring.
func (c *checker) drain() {
	for {
		from, to := c.ring.Batch(ringBatch)
		if from == to {
			return
		}
		for s := from; s < to; s++ {
			c.observe(c.ring.At(s))
		}
		c.ring.Release(to)
	}
}

// observe checks one event and records it.
func (c *checker) observe(ev *exchange.BookTop) {
	now := c.now()
	i, known := c.idx[ev.Inst]
	problem := c.basic(ev, known, now)
	var want string
	verified, unverifiable := false, false
	if problem == "" && !ev.Stale() {
		problem = structural(ev)
		if problem == "" {
			in := &c.insts[i]
			bids, asks, ok := c.books.BookAt(c.simVenue, in.Canonical, ev.Seq)
			if !ok {
				unverifiable = true
			} else if p := compareLevels(ev, bids, asks, c.depth); p != "" {
				problem = p
				want = "\n      venue book at seq: " + fmtLevels(bids, asks, in.Scale, 3)
			} else {
				verified = true
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received++
	if !ev.Stale() {
		c.fresh++
	}
	if problem != "" {
		c.nViolations++
		if len(c.violations) < maxViolations {
			c.violations = append(c.violations, fmt.Sprintf("t=%s %s: %s%s", c.rel(now), c.describe(ev, i, known), problem, want))
		}
	}
	if !known {
		return
	}
	if verified {
		c.verified[i]++
	}
	if unverifiable {
		c.unverifiable++
		if len(c.unverifSeqs) < maxViolations {
			c.unverifSeqs = append(c.unverifSeqs, fmt.Sprintf("%s seq %d at t=%s", c.insts[i].Canonical, ev.Seq, c.rel(now)))
		}
	}
	if len(c.events[i]) >= maxEventsPerInst {
		c.overflow = true
		return
	}
	c.events[i] = append(c.events[i], event{at: now, recv: ev.RecvTS, seq: ev.Seq, stale: ev.Stale(), cause: ev.Cause, bad: problem != ""})
}

// basic checks what every event, stale or fresh, must satisfy.
func (c *checker) basic(ev *exchange.BookTop, known bool, now time.Time) string {
	switch {
	case ev.Venue != c.venue:
		return fmt.Sprintf("venue %d, want %d", ev.Venue, c.venue)
	case !known:
		return fmt.Sprintf("instrument %d is not one of the feed's", ev.Inst)
	case ev.Stale() && ev.Cause == exchange.CauseNone:
		return "stale event with CauseNone (none means fresh)"
	case !ev.Stale() && ev.Cause != exchange.CauseNone:
		return fmt.Sprintf("fresh event with cause %s", ev.Cause)
	}
	if c.clockSkew {
		n := now.UnixNano()
		if d := ev.RecvTS - n; d > int64(recvSkewMax) || -d > int64(recvSkewMax) {
			return fmt.Sprintf("RecvTS %d is %v away from the wall clock (want Unix ns from Config.Now)", ev.RecvTS, time.Duration(d))
		}
		if !ev.Stale() && ev.ExchTS != 0 && (ev.ExchTS < n-int64(exchPastMax) || ev.ExchTS > n+int64(exchAheadMax)) {
			return fmt.Sprintf("ExchTS %d is %v away from the wall clock (want the venue's time in Unix ns)", ev.ExchTS, time.Duration(ev.ExchTS-n))
		}
	}
	return ""
}

// structural checks a fresh event's shape: level counts within TopK, both
// sides sorted strictly best first, positive prices and quantities, not
// crossed, and a venue sequence.
func structural(ev *exchange.BookTop) string {
	if ev.NBids > exchange.TopK || ev.NAsks > exchange.TopK {
		return fmt.Sprintf("NBids %d / NAsks %d over TopK %d", ev.NBids, ev.NAsks, exchange.TopK)
	}
	if ev.Seq == 0 {
		return "fresh event without the venue's sequence (Seq 0)"
	}
	for i := 0; i < int(ev.NBids); i++ {
		l := ev.Bids[i]
		if l.Px <= 0 || l.Qty <= 0 {
			return fmt.Sprintf("bid %d has non-positive price or quantity (%d, %d)", i, l.Px, l.Qty)
		}
		if i > 0 && l.Px >= ev.Bids[i-1].Px {
			return fmt.Sprintf("bids not strictly descending at %d (%d after %d)", i, l.Px, ev.Bids[i-1].Px)
		}
	}
	for i := 0; i < int(ev.NAsks); i++ {
		l := ev.Asks[i]
		if l.Px <= 0 || l.Qty <= 0 {
			return fmt.Sprintf("ask %d has non-positive price or quantity (%d, %d)", i, l.Px, l.Qty)
		}
		if i > 0 && l.Px <= ev.Asks[i-1].Px {
			return fmt.Sprintf("asks not strictly ascending at %d (%d after %d)", i, l.Px, ev.Asks[i-1].Px)
		}
	}
	if ev.Crossed() {
		return fmt.Sprintf("fresh book is crossed (bid %d ≥ ask %d)", ev.Bids[0].Px, ev.Asks[0].Px)
	}
	return ""
}

// compareLevels compares a fresh event with the venue's book at its
// sequence: the event must carry exactly the venue's top
// min(TopK, depth, venue levels) levels per side, equal level by level.
func compareLevels(ev *exchange.BookTop, bids, asks []exchange.Level, depth int) string {
	n := exchange.TopK
	if depth > 0 && depth < n {
		n = depth
	}
	for _, s := range []struct {
		name string
		got  []exchange.Level
		want []exchange.Level
	}{{"bids", ev.Bids[:ev.NBids], bids}, {"asks", ev.Asks[:ev.NAsks], asks}} {
		want := s.want[:min(n, len(s.want))]
		if len(s.got) != len(want) {
			return fmt.Sprintf("differs from the venue at seq %d: %d %s, want %d", ev.Seq, len(s.got), s.name, len(want))
		}
		for k := range want {
			if s.got[k] != want[k] {
				return fmt.Sprintf("differs from the venue at seq %d: %s[%d] = %d@%d, want %d@%d",
					ev.Seq, s.name, k, s.got[k].Qty, s.got[k].Px, want[k].Qty, want[k].Px)
			}
		}
	}
	return ""
}

func (c *checker) rel(t time.Time) string { return rel(c.start, t) }

// rel formats t as milliseconds since start.
func rel(start, t time.Time) string {
	return fmt.Sprintf("%+dms", t.Sub(start).Milliseconds())
}

func (c *checker) describe(ev *exchange.BookTop, i int, known bool) string {
	name := fmt.Sprintf("inst %d", ev.Inst)
	scale := num.Scale{}
	if known {
		name = c.insts[i].Canonical
		scale = c.insts[i].Scale
	}
	if ev.Stale() {
		return fmt.Sprintf("%s stale(%s) seq %d", name, ev.Cause, ev.Seq)
	}
	return fmt.Sprintf("%s fresh seq %d %s", name, ev.Seq, fmtLevels(ev.Bids[:ev.NBids], ev.Asks[:ev.NAsks], scale, 3))
}

// fmtLevels prints the top n levels per side as qty@px in the scale.
func fmtLevels(bids, asks []exchange.Level, s num.Scale, n int) string {
	var b strings.Builder
	side := func(ls []exchange.Level) {
		b.WriteByte('[')
		for k, l := range ls {
			if k == n {
				fmt.Fprintf(&b, " …%d", len(ls))
				break
			}
			if k > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s@%s", num.Format(int64(l.Qty), s.Qty), num.Format(int64(l.Px), s.Px))
		}
		b.WriteByte(']')
	}
	b.WriteString("bids")
	side(bids)
	b.WriteString(" asks")
	side(asks)
	return b.String()
}

// --- queries (any goroutine) ---

// snapshot returns a copy of instrument i's events.
func (c *checker) snapshot(i int) []event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event(nil), c.events[i]...)
}

// latest returns instrument i's newest event.
func (c *checker) latest(i int) (event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.events[i]); n > 0 {
		return c.events[i][n-1], true
	}
	return event{}, false
}

// allFresh reports whether every instrument's newest event is fresh.
func (c *checker) allFresh() bool {
	for i := range c.insts {
		if ev, ok := c.latest(i); !ok || ev.stale {
			return false
		}
	}
	return true
}

// verifiedCount returns how many fresh events of instrument i matched the
// venue.
func (c *checker) verifiedCount(i int) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verified[i]
}

// totals returns the event counters.
func (c *checker) totals() (received, fresh, unverifiable uint64, violations int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.received, c.fresh, c.unverifiable, c.nViolations
}

// --- timeline analysis (pure) ---

// firstAt returns the index of the first event at or after index from that
// arrived no earlier than after and whose staleness is stale, or -1.
func firstAt(evs []event, from int, after time.Time, stale bool) int {
	for k := max(from, 0); k < len(evs); k++ {
		if evs[k].stale == stale && !evs[k].at.Before(after) {
			return k
		}
	}
	return -1
}

// silentCrossing finds the breach of "stale within one message": two
// consecutive events of one instrument, both fresh, the first at a state
// before the faulted one (seq < sf) and the second at or after it (seq ≥
// sf). A book known right before the fault can only become right again
// after it by a rebuild, which the adapter must announce with a stale
// event first. It returns the index of the second event, or -1.
func silentCrossing(evs []event, sf uint64) int {
	for k := 1; k < len(evs); k++ {
		a, b := evs[k-1], evs[k]
		if !a.stale && !b.stale && a.seq < sf && b.seq >= sf {
			return k
		}
	}
	return -1
}

// staleSpans returns how many stale events arrived in [from, to] and the
// longest time the instrument stayed stale in that window (a span still
// open at to counts until to).
func staleSpans(evs []event, from, to time.Time) (n int, longest time.Duration) {
	var open time.Time
	for _, e := range evs {
		if e.at.Before(from) {
			if e.stale && open.IsZero() {
				open = from
			} else if !e.stale {
				open = time.Time{}
			}
			continue
		}
		if e.at.After(to) {
			break
		}
		if e.stale {
			n++
			if open.IsZero() {
				open = e.at
			}
		} else if !open.IsZero() {
			longest = max(longest, e.at.Sub(open))
			open = time.Time{}
		}
	}
	if !open.IsZero() {
		longest = max(longest, to.Sub(open))
	}
	return n, longest
}
