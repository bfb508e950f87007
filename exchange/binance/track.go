package binance

import (
	"sync"

	"arb/exchange"
	"arb/exchange/num"
)

// tracker is the client's memory of its own orders, bounded:
//
//   - flights: orders sent (or whose outcome is unknown) and not yet known
//     final; the poller queries them while the private stream is down or
//     silent, so their states and fills still arrive.
//   - sent: every client order id sent, with when; Binance accepts a
//     client order id again once the earlier order is filled or expired,
//     so an IOC resubmitted with the same id would be a second order. A
//     PlaceOrder with a remembered id is resolved by a query first (see
//     resubmit).
//   - owners: venue order id → client order id (myTrades does not carry
//     the client order id).
//   - seen: trade ids already handed to the sink, so the same execution
//     reported by the response, the stream, the poller and the
//     reconciliation reaches the sink once (within the window).
//
// Each map is preallocated to its cap and evicts in FIFO order, so the
// steady state allocates nothing. One mutex guards all of it; it is held
// for map operations only, never across I/O.
type tracker struct {
	mu      sync.Mutex
	max     int
	flights map[exchange.ID]flight

	sent     map[exchange.ID]sentRec
	sentRing []exchange.ID
	sentHead int

	owners     map[int64]exchange.ID
	ownersRing []int64
	ownersHead int

	seen     map[fillKey]struct{}
	seenRing []fillKey
	seenHead int
}

// flight is one order in flight.
type flight struct {
	inst     int   // instrument index
	sentAt   int64 // local Unix ns of the (last) send
	lastNews int64 // local Unix ns of the last state seen
	orderID  int64 // venue order id, 0 until known
	filled   num.Qty
	fillsGot num.Qty // quantity covered by fills delivered
}

// sentRec is what the client remembers of a client order id it sent.
type sentRec struct {
	at      int64 // local Unix ns of the last send
	refused bool  // the last send was refused for certain: no order exists
}

type fillKey struct {
	inst    int
	tradeID int64
}

func (t *tracker) init(max int) {
	t.max = max
	t.flights = make(map[exchange.ID]flight, max)
	n := 16 * max
	t.sent = make(map[exchange.ID]sentRec, n)
	t.sentRing = make([]exchange.ID, 0, n)
	t.owners = make(map[int64]exchange.ID, n)
	t.ownersRing = make([]int64, 0, n)
	t.seen = make(map[fillKey]struct{}, n)
	t.seenRing = make([]fillKey, 0, n)
}

// sentRec returns what is remembered of id, if it was sent.
func (t *tracker) sentRec(id exchange.ID) (sentRec, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.sent[id]
	return r, ok
}

// sendResult is what send decided.
type sendResult uint8

const (
	sendOK   sendResult = iota
	sendFull            // MaxTracked orders in flight
	sendBusy            // the id is in flight already (a concurrent or unresolved send)
)

// send records that id is about to be sent on inst at now and tracks it in
// flight — atomically, so two concurrent PlaceOrder calls with one id
// cannot both send. An id already in flight is refused (sendBusy) unless
// replace is set (the caller established that the earlier send can no
// longer execute, or it is the same send retried after a -1021).
func (t *tracker) send(id exchange.ID, inst int, now int64, replace bool) sendResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.flights[id]; ok {
		if !replace {
			return sendBusy
		}
	} else if len(t.flights) >= t.max {
		return sendFull
	}
	t.flights[id] = flight{inst: inst, sentAt: now, lastNews: now}
	if _, ok := t.sent[id]; !ok {
		if len(t.sentRing) < cap(t.sentRing) {
			t.sentRing = append(t.sentRing, id)
		} else {
			delete(t.sent, t.sentRing[t.sentHead])
			t.sentRing[t.sentHead] = id
			t.sentHead = (t.sentHead + 1) % len(t.sentRing)
		}
	}
	t.sent[id] = sentRec{at: now}
	return sendOK
}

// refused records that the last send of id was refused for certain (the
// venue holds no order for it): it is no longer in flight, and sending it
// again needs no lookup first.
func (t *tracker) refused(id exchange.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.flights, id)
	if r, ok := t.sent[id]; ok {
		r.refused = true
		t.sent[id] = r
	}
}

// observe records a state of one of the account's orders: its owner
// mapping, and for a tracked order its progress (removed when final). now
// is local Unix ns.
func (t *tracker) observe(st *exchange.OrderState, orderID int64, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if orderID != 0 && !st.ClientID.IsZero() {
		t.own(orderID, st.ClientID)
	}
	f, ok := t.flights[st.ClientID]
	if !ok {
		return
	}
	if st.Status.Final() {
		delete(t.flights, st.ClientID)
		return
	}
	f.lastNews = now
	if orderID != 0 {
		f.orderID = orderID
	}
	if st.FilledQty > f.filled {
		f.filled = st.FilledQty
	}
	t.flights[st.ClientID] = f
}

func (t *tracker) own(orderID int64, id exchange.ID) {
	if _, ok := t.owners[orderID]; !ok {
		if len(t.ownersRing) < cap(t.ownersRing) {
			t.ownersRing = append(t.ownersRing, orderID)
		} else {
			delete(t.owners, t.ownersRing[t.ownersHead])
			t.ownersRing[t.ownersHead] = orderID
			t.ownersHead = (t.ownersHead + 1) % len(t.ownersRing)
		}
	}
	t.owners[orderID] = id
}

// owner returns the client order id of a venue order id, if known.
func (t *tracker) owner(orderID int64) (exchange.ID, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.owners[orderID]
	return id, ok
}

// markFill records a delivered fill of order clientID (qty counts toward
// the flight's delivered quantity); it returns false if the fill was
// already delivered.
func (t *tracker) markFill(inst int, tradeID int64, clientID exchange.ID, qty num.Qty) bool {
	k := fillKey{inst, tradeID}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.seen[k]; ok {
		return false
	}
	if len(t.seenRing) < cap(t.seenRing) {
		t.seenRing = append(t.seenRing, k)
	} else {
		delete(t.seen, t.seenRing[t.seenHead])
		t.seenRing[t.seenHead] = k
		t.seenHead = (t.seenHead + 1) % len(t.seenRing)
	}
	t.seen[k] = struct{}{}
	if f, ok := t.flights[clientID]; ok {
		f.fillsGot += qty
		t.flights[clientID] = f
	}
	return true
}

// pollItem is an in-flight order the poller should query.
type pollItem struct {
	id exchange.ID
	f  flight
}

// due appends the flights without news (a state or a poll) for quietNs.
func (t *tracker) due(dst []pollItem, now int64, quietNs int64) []pollItem {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, f := range t.flights {
		if now-f.lastNews >= quietNs {
			dst = append(dst, pollItem{id, f})
		}
	}
	return dst
}

// all appends every tracked flight (for reconciliation).
func (t *tracker) all(dst []pollItem) []pollItem {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, f := range t.flights {
		dst = append(dst, pollItem{id, f})
	}
	return dst
}

// touch marks a flight as polled at now without a new state (so a silent
// order is not polled in a tight loop).
func (t *tracker) touch(id exchange.ID, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, ok := t.flights[id]; ok {
		f.lastNews = now
		t.flights[id] = f
	}
}

// inFlight reports whether id is tracked in flight.
func (t *tracker) inFlight(id exchange.ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.flights[id]
	return ok
}
