package bybit

import (
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// tracker remembers the client order ids this client sent: for each, what
// the venue has said about the order so far, so that
//   - an order in flight is polled by client id while the private stream is
//     down or silent about it, until it is final and its fills add up;
//   - an id whose order is known to exist is never sent again (Bybit says
//     orderLinkId is "always unique" without saying whether among open
//     orders or forever, so the client does not rely on the venue to refuse
//     a second order for one intent);
//   - an id whose last request had an unknown outcome is not sent again
//     until that request can no longer be accepted: Bybit refuses a request
//     whose timestamp is older than recv_window, so after timestamp +
//     recv_window + resendMargin the first request is dead.
//
// It is a pure data structure: no I/O, no clock (every method takes now,
// Unix ns), not safe for concurrent use (the Client guards it with a mutex).
// Memory is fixed at construction: n entries in a ring reused oldest-first
// among the finished ones, and an open-addressing index of 2n slots.
type tracker struct {
	ents  []tracked
	index []int32 // entry index + 1; 0 = empty slot
	mask  uint64
	next  int // ring position where the search for a reusable entry starts
	live  int // entries not done
}

// resendMargin is added to recv_window before an unknown-outcome id may be
// sent again (clock error and the venue's internal queueing).
const resendMargin = 2 * time.Second

// maxTrackedFills is how many distinct trade ids per order are remembered,
// to add up the order's fills and to deliver each once; past it every
// further fill is delivered and counted (a duplicate then overstates, which
// only ends polling early: the reconciliation after a reconnect still
// covers the order's fills, and the consumer deduplicates by trade id).
const maxTrackedFills = 32

type trackState uint8

const (
	trackFree    trackState = iota // unused entry
	trackSending                   // a request is being sent now
	trackUnknown                   // the last request's outcome is unknown
	trackKnown                     // the venue acknowledged or reported the order
	trackDone                      // final, fills add up: kept to refuse a resubmission
)

type tracked struct {
	id      exchange.ID
	inst    exchange.InstrumentID
	state   trackState
	status  exchange.OrderStatus
	filled  num.Qty // largest cumulative FilledQty reported
	fillQty num.Qty // sum of the distinct fills delivered
	nfills  int
	fills   [maxTrackedFills]exchange.ID // the trade ids delivered
	sentTS  int64                        // venue-clock timestamp of the last request, Unix ns
	since   int64                        // when the last request was sent, local Unix ns
	event   int64                        // last stream/REST news about the order, local Unix ns
	polled  int64                        // last poll, local Unix ns
}

func newTracker(n int) *tracker {
	size := 1
	for size < 2*n {
		size <<= 1
	}
	return &tracker{ents: make([]tracked, n), index: make([]int32, size), mask: uint64(size - 1)}
}

func hashID(id *exchange.ID) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range id.Bytes() {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// find returns the entry index of id, or -1.
func (t *tracker) find(id *exchange.ID) int {
	for i := hashID(id) & t.mask; ; i = (i + 1) & t.mask {
		e := t.index[i]
		if e == 0 {
			return -1
		}
		if t.ents[e-1].id == *id {
			return int(e - 1)
		}
	}
}

func (t *tracker) insertIndex(id *exchange.ID, ent int) {
	i := hashID(id) & t.mask
	for t.index[i] != 0 {
		i = (i + 1) & t.mask
	}
	t.index[i] = int32(ent + 1)
}

// deleteIndex removes id from the index with backward-shift deletion, so
// probe sequences stay unbroken without tombstones.
func (t *tracker) deleteIndex(id *exchange.ID) {
	i := hashID(id) & t.mask
	for {
		e := t.index[i]
		if e == 0 {
			return
		}
		if t.ents[e-1].id == *id {
			break
		}
		i = (i + 1) & t.mask
	}
	for {
		t.index[i] = 0
		j := i
		for {
			j = (j + 1) & t.mask
			e := t.index[j]
			if e == 0 {
				return
			}
			home := hashID(&t.ents[e-1].id) & t.mask
			// Move e back into the hole at i unless its home lies
			// cyclically in (i, j].
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				t.index[i] = e
				i = j
				break
			}
		}
	}
}

// free releases entry k.
func (t *tracker) free(k int) {
	e := &t.ents[k]
	if e.state == trackFree {
		return
	}
	if e.state != trackDone {
		t.live--
	}
	t.deleteIndex(&e.id)
	*e = tracked{}
}

// Outcomes of begin besides ok.
type beginRefusal uint8

const (
	beginOK       beginRefusal = iota
	beginKnown                 // the order exists (or existed): a resubmission would be a second order
	beginInFlight              // a request for this id is being sent right now
	beginTooSoon               // the last request's outcome is unknown and it may still be accepted
	beginFull                  // every entry is an order in flight
)

// begin registers a request for id about to be sent at local time now. It
// refuses when sending could make a second order for the intent; with
// beginTooSoon, wait is how long until a resend is safe.
func (t *tracker) begin(id exchange.ID, inst exchange.InstrumentID, now int64, recvWindow time.Duration) (beginRefusal, time.Duration) {
	if k := t.find(&id); k >= 0 {
		e := &t.ents[k]
		switch e.state {
		case trackKnown, trackDone:
			return beginKnown, 0
		case trackSending:
			return beginInFlight, 0
		case trackUnknown:
			// The request was signed with sentTS on the venue's clock and
			// sent at local time since; it is dead once recv_window passed.
			dead := e.since + int64(recvWindow+resendMargin)
			if now < dead {
				return beginTooSoon, time.Duration(dead - now)
			}
		}
		e.state, e.inst, e.since, e.event, e.polled = trackSending, inst, now, now, now
		return beginOK, 0
	}
	k := t.reusable(now)
	if k < 0 {
		return beginFull, 0
	}
	t.free(k)
	t.ents[k] = tracked{id: id, inst: inst, state: trackSending, since: now, event: now, polled: now}
	t.insertIndex(&id, k)
	t.live++
	return beginOK, 0
}

// abandonAfter is how long a live entry may go without news before it may
// be reused for a new order (an IOC order is final within milliseconds; an
// entry this old belongs to a client whose private stream is not running,
// or to an order the venue never reported).
const abandonAfter = time.Hour

// reusable returns a free or done entry (or one abandoned at now), oldest
// first from the ring position, or -1 when every entry is live.
func (t *tracker) reusable(now int64) int {
	n := len(t.ents)
	for i := 0; i < n; i++ {
		k := (t.next + i) % n
		e := &t.ents[k]
		if e.state == trackFree || e.state == trackDone ||
			(e.state != trackSending && now-e.event > int64(abandonAfter)) {
			t.next = (k + 1) % n
			return k
		}
	}
	return -1
}

// sent records what the request for id came to: known (the venue answered
// with the order), unknown (no answer, or an answer that does not say), or
// neither (a definite rejection: nothing exists, the id is forgotten).
// sentTS is the request's timestamp on the venue's clock (Unix ns).
func (t *tracker) sent(id exchange.ID, known, unknown bool, sentTS, now int64) {
	k := t.find(&id)
	if k < 0 {
		return
	}
	e := &t.ents[k]
	if e.state != trackSending {
		return // news arrived first (the stream is fast): keep it
	}
	switch {
	case known:
		e.state = trackKnown
	case unknown:
		e.state, e.sentTS = trackUnknown, sentTS
	default:
		t.free(k)
		return
	}
	e.event = now
}

// onState applies an order state reported by the venue. It reports whether
// the order is tracked.
func (t *tracker) onState(s *exchange.OrderState, now int64) bool {
	k := t.find(&s.ClientID)
	if k < 0 {
		return false
	}
	e := &t.ents[k]
	if e.state == trackFree {
		return false
	}
	if e.state == trackSending || e.state == trackUnknown {
		e.state = trackKnown
	}
	if s.FilledQty > e.filled {
		e.filled = s.FilledQty
	}
	if s.Status.Final() || !e.status.Final() {
		e.status = s.Status
	}
	e.event = now
	t.settle(k)
	return true
}

// onFill applies a fill. It reports whether the fill's order is tracked
// and, if so, whether this trade id was delivered before (then it must not
// be delivered again).
func (t *tracker) onFill(f *exchange.Fill, now int64) (tracked, dup bool) {
	k := t.find(&f.ClientID)
	if k < 0 {
		return false, false
	}
	e := &t.ents[k]
	if e.state == trackFree {
		return false, false
	}
	if e.state == trackSending || e.state == trackUnknown {
		e.state = trackKnown
	}
	e.event = now
	for i := 0; i < e.nfills && i < maxTrackedFills; i++ {
		if e.fills[i] == f.TradeID {
			return true, true
		}
	}
	if e.nfills < maxTrackedFills {
		e.fills[e.nfills] = f.TradeID
	}
	e.nfills++
	e.fillQty += f.Qty
	t.settle(k)
	return true, false
}

// settle marks entry k done once its order is final and its fills add up.
func (t *tracker) settle(k int) {
	e := &t.ents[k]
	if e.state == trackKnown && e.status.Final() && e.fillQty >= e.filled {
		e.state = trackDone
		t.live--
	}
}

// notFound applies a lookup that found no order for id at local time now:
// an id whose last request had an unknown outcome is forgotten once that
// request can no longer be accepted (see begin). It reports whether the id
// was forgotten.
func (t *tracker) notFound(id exchange.ID, now int64, recvWindow time.Duration) bool {
	k := t.find(&id)
	if k < 0 {
		return false
	}
	e := &t.ents[k]
	if e.state == trackUnknown && now >= e.since+int64(recvWindow+resendMargin) {
		t.free(k)
		return true
	}
	return false
}

// pollItem is one order to query by client id.
type pollItem struct {
	id   exchange.ID
	inst exchange.InstrumentID
	// fills is set when the order reports more filled quantity than the
	// fills delivered add up to: its executions must be fetched too.
	fills bool
}

// due appends to dst the orders to poll at now: every live order when the
// stream is down, otherwise those the stream has said nothing about for
// staleAfter; none polled more often than every. Entries being sent are
// left to their request.
func (t *tracker) due(dst []pollItem, now int64, streamUp bool, every, staleAfter time.Duration) []pollItem {
	if t.live == 0 {
		return dst
	}
	for k := range t.ents {
		e := &t.ents[k]
		if e.state != trackKnown && e.state != trackUnknown {
			continue
		}
		if now-e.polled < int64(every) {
			continue
		}
		if streamUp && now-e.event < int64(staleAfter) {
			continue
		}
		e.polled = now
		dst = append(dst, pollItem{id: e.id, inst: e.inst, fills: e.filled > e.fillQty})
	}
	return dst
}

// needFills reports whether id's order reports more filled quantity than
// its delivered fills add up to.
func (t *tracker) needFills(id exchange.ID) bool {
	k := t.find(&id)
	return k >= 0 && t.ents[k].filled > t.ents[k].fillQty
}

// known reports whether id is tracked and the venue is known to hold (or
// have held) its order.
func (t *tracker) known(id exchange.ID) bool {
	k := t.find(&id)
	return k >= 0 && (t.ents[k].state == trackKnown || t.ents[k].state == trackDone)
}

// liveCount returns how many tracked orders are not done.
func (t *tracker) liveCount() int { return t.live }
