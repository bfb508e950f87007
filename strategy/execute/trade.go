package execute

import (
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// Trade is the state machine of one dual-leg trade. It does no I/O, starts
// no goroutine and reads no clock: time comes in through Step and Tick,
// venue answers through Step, and what it decides comes out as Ready
// (records to persist, then calls to make).
//
// Its durable state is the fold of its records: every change of it is made
// by apply, from a record that Ready also hands out, and replaying the same
// records into a new Trade (Restore) rebuilds it exactly. The rest (calls in
// flight, timers, stream states) is volatile and is rebuilt by Recover,
// which queries whatever was unresolved.
//
// A Trade is owned by one goroutine (the executor's).
type Trade struct {
	// Durable.
	id         TradeID
	open       Opening
	state      State
	openedAt   int64
	phaseAt    int64 // when the current state (or its window, after a recovery) began
	deadline   int64
	closedAt   int64
	residual   num.Qty // as recorded at close
	unresolved uint8   // as recorded at close
	orders     [MaxOrders]order
	n          int
	fills      []fillEntry

	// Volatile.
	now        int64
	env        *env
	out        *Ready
	streamUp   [2]bool // per plan leg's venue
	fillWaitAt int64   // when the wait for missing fills began (0 = not waiting)
	fetching   bool
	fetchAt    int64
	anomalies  uint32
	reported   num.Qty // the residual the executor's exposure counts for this closed trade
	halted     bool    // kill switch: no new orders, live ones cancelled
}

// env is what trades share with their executor: the book prices for
// retries and unwinds, and fee conversion rates.
type env struct {
	quotes   Quotes
	feeRates FeeRates
}

// orderPhase is what is durably known about an order's existence.
type orderPhase uint8

const (
	phasePending   orderPhase = iota + 1 // intent persisted (maybe sent); no venue answer yet
	phaseLive                            // the venue knows it; not final
	phaseFinal                           // final status known: no further fills
	phaseNotPlaced                       // proven never on the venue
)

// order is one order of a trade.
type order struct {
	// Durable.
	purpose     Purpose
	leg         uint8
	req         exchange.OrderRequest
	intentAt    int64
	sentAt      int64 // latest send (intent or resend)
	resends     uint8
	phase       orderPhase
	status      exchange.OrderStatus // last venue status (0 = none yet)
	reason      Reason               // RecFailed
	venueID     exchange.ID
	stateFilled num.Qty // cumulative filled quantity the venue reported
	fillQty     num.Qty // Σ fills received
	// What the order cost without a fill (an on-chain leg's gas), in
	// gasAsset, and the rate into the leg's quote recorded with it.
	gas      num.Amount
	gasAsset exchange.ID
	gasRate  num.Amount

	// Volatile.
	call      CallKind // in flight (0 = none)
	callAt    int64
	unknown   bool // the outcome of a send is unknown: resolve by query
	resendDue bool
	next      int64 // earliest next query or resend
	liveAt    int64 // when seen live
	cancelAt  int64 // when a cancel was sent (0 = none)
	recheck   bool  // query once: the stream came back
	indexed   bool  // the executor knows its venue order id
}

// fillEntry is one counted execution: its identity for deduplication and
// what the view and the ledger need.
type fillEntry struct {
	order   uint8
	fill    exchange.Fill
	feeRate num.Amount
}

func (o *order) done() bool { return o.phase == phaseFinal || o.phase == phaseNotPlaced }

// filled is the best knowledge of the order's executed quantity: fills may
// arrive before the state that counts them, and the other way round.
func (o *order) filled() num.Qty {
	if o.fillQty > o.stateFilled {
		return o.fillQty
	}
	return o.stateFilled
}

// ID returns the trade's id.
func (t *Trade) ID() TradeID { return t.id }

// State returns the trade's state.
func (t *Trade) State() State { return t.state }

// Opening returns what the trade opened with.
func (t *Trade) Opening() *Opening { return &t.open }

// Deadline returns the time by which the trade closes, Unix ns.
func (t *Trade) Deadline() int64 { return t.deadline }

// Anomalies counts inputs that contradicted the trade (a state or fill
// for another order, a fill beyond an order's quantity): ignored or
// accepted as the venue's truth, and worth a log line.
func (t *Trade) Anomalies() uint32 { return t.anomalies }

// Position returns the base bought and sold so far, over every order.
func (t *Trade) Position() (bought, sold num.Qty) {
	for i := 0; i < t.n; i++ {
		o := &t.orders[i]
		if o.req.Side == exchange.Buy {
			bought += o.filled()
		} else {
			sold += o.filled()
		}
	}
	return bought, sold
}

// Residual returns base bought minus base sold: zero when flat.
func (t *Trade) Residual() num.Qty {
	b, s := t.Position()
	return b - s
}

// Unresolved returns how many orders are neither final nor proven absent.
func (t *Trade) Unresolved() int {
	k := 0
	for i := 0; i < t.n; i++ {
		if !t.orders[i].done() {
			k++
		}
	}
	return k
}

// Orders returns how many orders the trade has decided.
func (t *Trade) Orders() int { return t.n }

// Order returns the request of order i.
func (t *Trade) Order(i int) *exchange.OrderRequest { return &t.orders[i].req }

// init prepares t (possibly reused) for a new trade.
func (t *Trade) init(id TradeID, e *env, out *Ready) {
	fills := t.fills[:0]
	*t = Trade{id: id, env: e, out: out, fills: fills}
}

// emit appends rec to the Ready and applies it: the only way durable state
// changes while running.
func (t *Trade) emit(rec Record) {
	rec.Trade = t.id
	rec.TS = t.now
	switch rec.Kind {
	case RecIntent:
		rec.ClientID = rec.Req.ClientID
	case RecResend, RecState, RecFailed, RecFill:
		rec.ClientID = t.orders[rec.Order].req.ClientID
	}
	// Amounts in their shortest form, as the journal writes them back:
	// the state a replay rebuilds is the state that ran.
	rec.State.FilledQuote = trim(rec.State.FilledQuote)
	rec.State.Fee = trim(rec.State.Fee)
	rec.Fill.Fee = trim(rec.Fill.Fee)
	rec.FeeRate = trim(rec.FeeRate)
	t.out.Records = append(t.out.Records, rec)
	t.apply(&t.out.Records[len(t.out.Records)-1])
}

func (t *Trade) call(k CallKind, i int) {
	o := &t.orders[i]
	c := Call{Kind: k, Trade: t.id, Order: uint8(i), Req: o.req, At: t.now, Attempt: o.resends, Timeout: t.open.Policy.AckTimeout,
		Purpose: o.purpose, PlanTS: t.open.PlanTS, TickTS: t.open.TickTS}
	if k != CallPlace {
		c.Req.Px, c.Req.Qty, c.Req.TIF = 0, 0, 0
	}
	t.out.Calls = append(t.out.Calls, c)
	o.call, o.callAt = k, t.now
}

// apply folds one record into the durable state. It is deterministic and
// reads nothing but rec and the state: Restore replays through it.
// Halt is the kill switch for this trade: no new order, live ones
// cancelled, and it closes as it stands (its residual reported) once its
// orders are resolved.
func (t *Trade) Halt() { t.halted = true }

// Resume lifts Halt.
func (t *Trade) Resume() { t.halted = false }

func (t *Trade) apply(rec *Record) {
	switch rec.Kind {
	case RecOpen:
		if rec.Open != &t.open {
			t.open = *rec.Open
		}
		t.state = StateOpen
		t.openedAt, t.phaseAt = rec.TS, rec.TS
		t.deadline = rec.TS + int64(t.open.Policy.Deadline)
	case RecIntent:
		if int(rec.Order) != t.n || t.n >= MaxOrders {
			t.anomalies++
			return
		}
		o := &t.orders[t.n]
		*o = order{purpose: rec.Purpose, leg: rec.Leg, req: rec.Req, intentAt: rec.TS, sentAt: rec.TS, phase: phasePending}
		t.n++
	case RecResend:
		if o := t.orderAt(rec.Order); o != nil {
			o.resends, o.sentAt = rec.Attempt, rec.TS
		}
	case RecState:
		if o := t.orderAt(rec.Order); o != nil {
			st := &rec.State
			if o.venueID.IsZero() {
				o.venueID = st.VenueOrderID
			}
			if st.FilledQty > o.stateFilled {
				o.stateFilled = st.FilledQty
			}
			if !st.Fee.IsZero() && o.gas.IsZero() {
				o.gas, o.gasAsset, o.gasRate = st.Fee, st.FeeAsset, rec.FeeRate
			}
			switch {
			case st.Status.Final():
				o.phase, o.status = phaseFinal, st.Status
			case o.phase != phaseFinal:
				o.phase, o.status = phaseLive, st.Status
			}
		}
	case RecFailed:
		if o := t.orderAt(rec.Order); o != nil {
			o.reason = rec.Reason
			if rec.Reason == ReasonRejected {
				o.phase, o.status = phaseFinal, exchange.StatusRejected
			} else {
				o.phase = phaseNotPlaced
			}
		}
	case RecFill:
		o := t.orderAt(rec.Order)
		if o == nil {
			return
		}
		t.fills = append(t.fills, fillEntry{order: rec.Order, fill: rec.Fill, feeRate: rec.FeeRate})
		o.fillQty += rec.Fill.Qty
		if o.venueID.IsZero() {
			o.venueID = rec.Fill.VenueOrderID
		}
		if o.phase == phasePending || o.phase == phaseNotPlaced {
			// A fill proves the order exists, whatever was believed.
			o.phase = phaseLive
		}
	case RecTransition:
		t.state, t.phaseAt = rec.To, rec.TS
		if rec.To.Closed() {
			t.closedAt, t.residual, t.unresolved = rec.TS, rec.Residual, rec.Unresolved
		}
	case RecRecover:
		t.phaseAt = rec.TS
		t.deadline = rec.TS + int64(t.open.Policy.Deadline)
	}
}

func (t *Trade) orderAt(i uint8) *order {
	if int(i) >= t.n {
		t.anomalies++
		return nil
	}
	return &t.orders[i]
}

// start emits the trade's opening (t.open, filled by the caller) and its
// entry intents. The open record points at t.open, which lives as long as
// the trade.
func (t *Trade) start(now int64) {
	t.now = now
	t.emit(Record{Kind: RecOpen, Open: &t.open})
	if t.open.Policy.Mode == Sequential {
		leg := LegBuy
		if t.open.Policy.First == exchange.Sell {
			leg = LegSell
		}
		lp := &t.open.Legs[leg]
		t.intent(PurposeEntry, leg, lp.Side, lp.Limit, lp.Qty)
		return
	}
	for leg := range t.open.Legs {
		lp := &t.open.Legs[leg]
		t.intent(PurposeEntry, leg, lp.Side, lp.Limit, lp.Qty)
	}
}

// intent decides a new order and asks for it to be placed.
func (t *Trade) intent(p Purpose, leg int, side exchange.Side, px num.Price, qty num.Qty) {
	if t.n >= MaxOrders {
		t.anomalies++
		return
	}
	lp := &t.open.Legs[leg]
	req := exchange.OrderRequest{
		ClientID: ClientID(t.open.Prefix, t.id, t.n, p, side),
		Venue:    lp.Venue, Inst: lp.Inst, Side: side, Px: px, Qty: qty, TIF: exchange.IOC,
	}
	i := t.n
	t.emit(Record{Kind: RecIntent, Order: uint8(i), Purpose: p, Leg: uint8(leg), Req: req})
	t.call(CallPlace, i)
}

// Step feeds one event to the trade at time now, then lets it decide.
// Events that do not fit (an unknown order, a state of another order) are
// counted as anomalies and ignored.
func (t *Trade) Step(now int64, ev *Event) {
	t.now = now
	switch ev.Kind {
	case EvStream:
		for leg := range t.open.Legs {
			if t.open.Legs[leg].Venue != ev.Venue {
				continue
			}
			t.streamUp[leg] = ev.Up
			if !ev.Up {
				continue
			}
			// Back up: whatever the stream missed is asked for now.
			for i := 0; i < t.n; i++ {
				if o := &t.orders[i]; o.leg == uint8(leg) && o.phase == phaseLive {
					o.recheck = true
				}
			}
		}
		t.service()
		t.advance()
		return
	case EvFillsFetched:
		if t.fetching {
			t.fetching = false
			t.fillWaitAt = now
		}
		t.service()
		t.advance()
		return
	}
	o := t.orderAt(ev.Order)
	if o == nil {
		return
	}
	current := t.callDone(o, ev)
	switch ev.Kind {
	case EvPlaced, EvCanceled, EvQueried:
		// A state is the venue's truth, whichever call it answers.
		t.observe(int(ev.Order), &ev.State)
		if current && (ev.Kind == EvQueried || ev.Kind == EvCanceled) {
			o.next = now + int64(t.open.Policy.QueryInterval)
		}
	case EvOrder:
		t.observe(int(ev.Order), &ev.State)
	case EvPlaceFailed:
		// An error answering an older send (a late 429 after a resend
		// went out) says nothing about the current one.
		if ev.Attempt == o.resends {
			t.placeFailed(int(ev.Order), ev.Err, ev.RetryAfter)
		}
	case EvQueryFailed:
		t.queryFailed(int(ev.Order), ev, current)
	case EvCancelFailed:
		if !current {
			break
		}
		// Whatever the cancel found (not found, unknown), the order's
		// state is what a query says.
		if !o.done() {
			o.next = now + max(int64(ev.RetryAfter), 0)
			if o.phase == phasePending {
				o.unknown = true
			}
		}
	case EvFill:
		t.fill(int(ev.Order), &ev.Fill)
	default:
		t.anomalies++
	}
	t.service()
	t.advance()
}

// callDone clears the call in flight if ev answers it, and reports
// whether it does. An answer to a call already given up on, or to an older
// send, is not the current call's: its state is still the venue's truth,
// but its errors are about a request that no longer matters.
func (t *Trade) callDone(o *order, ev *Event) bool {
	var want CallKind
	switch ev.Kind {
	case EvPlaced, EvPlaceFailed:
		want = CallPlace
	case EvCanceled, EvCancelFailed:
		want = CallCancel
	case EvQueried, EvQueryFailed:
		want = CallQuery
	default:
		return false
	}
	if o.call == want && ev.CallAt == o.callAt && ev.Attempt == o.resends {
		o.call = 0
		return true
	}
	return false
}

// observe takes a venue's state of order i and records it if it tells
// something new.
func (t *Trade) observe(i int, st *exchange.OrderState) {
	o := &t.orders[i]
	if st.ClientID != o.req.ClientID || st.Venue != o.req.Venue {
		t.anomalies++
		return
	}
	if st.Status == 0 || st.FilledQty < 0 || st.Fee.V < 0 {
		t.anomalies++
		return
	}
	news := st.FilledQty > o.stateFilled ||
		!st.Fee.IsZero() && o.gas.IsZero() ||
		o.venueID.IsZero() && !st.VenueOrderID.IsZero() ||
		st.Status.Final() && o.phase != phaseFinal ||
		!st.Status.Final() && (o.phase == phasePending || o.phase == phaseNotPlaced)
	if o.phase == phaseFinal && st.FilledQty > o.stateFilled {
		// More filled after final: the venue contradicts itself. Its
		// largest figure stands.
		t.anomalies++
	}
	if o.phase == phaseNotPlaced {
		// Proven absent, yet here it is: the truth wins, and
		// compensation reacts to it.
		t.anomalies++
	}
	o.unknown = false
	if !news {
		return
	}
	rec := Record{Kind: RecState, Order: uint8(i), State: *st}
	if !st.Fee.IsZero() {
		// No fill price to value it at: the order's limit price is the
		// base's rate (the quote's is 1).
		rec.FeeRate = t.rateOf(o, st.Fee, &st.FeeAsset, o.req.Px)
	}
	t.emit(rec)
	if o.phase == phaseLive && o.liveAt == 0 {
		o.liveAt = t.now
	}
}

func (t *Trade) placeFailed(i int, kind exchange.ErrorKind, retryAfter time.Duration) {
	o := &t.orders[i]
	if o.phase != phasePending {
		return // already known from elsewhere (a push, a query)
	}
	p := &t.open.Policy
	switch kind {
	case exchange.KindRejected, exchange.KindAuth:
		t.emit(Record{Kind: RecFailed, Order: uint8(i), Reason: ReasonRejected})
	case exchange.KindRateLimited, exchange.KindRetryable:
		// Refused before the venue accepted anything: the same intent may
		// go again, with the same client id, after the pause.
		wait := int64(retryAfter)
		if wait <= 0 {
			wait = int64(p.QueryInterval)
		}
		o.resendDue, o.next = true, t.now+wait
	default:
		// Unknown outcome, duplicate client id (an order with it exists),
		// anything unclassified: resolved by a query, never guessed.
		o.unknown, o.next = true, t.now
	}
}

func (t *Trade) queryFailed(i int, ev *Event, current bool) {
	o := &t.orders[i]
	p := &t.open.Policy
	if current {
		next := t.now + int64(p.QueryInterval)
		if ev.Err == exchange.KindRateLimited && t.now+int64(ev.RetryAfter) > next {
			next = t.now + int64(ev.RetryAfter)
		}
		o.next = next
	}
	if ev.Err != exchange.KindNotFound || o.phase != phasePending || o.resendDue {
		// A venue that forgot an order it acknowledged (retention) tells
		// nothing new: the order stays as known until the deadline.
		return
	}
	// "Not found" proves absence only for a query sent once the latest
	// send is older than the venue's receive window: before that, the
	// request may still arrive. (A late answer to an old query counts by
	// when that query was sent.)
	if ev.CallAt < o.sentAt+int64(p.NotFoundAfter) {
		if current {
			o.next = max(o.next, o.sentAt+int64(p.NotFoundAfter))
		}
		return
	}
	o.unknown = false
	o.resendDue, o.next = true, t.now
}

// resend sends order i again with its client id, or gives it up as not
// placed once its resend window or count is spent.
func (t *Trade) resend(i int) {
	o := &t.orders[i]
	p := &t.open.Policy
	o.resendDue = false
	if int(o.resends) >= p.MaxResends || t.now > o.intentAt+int64(p.ResendWindow) {
		t.emit(Record{Kind: RecFailed, Order: uint8(i), Reason: ReasonNotPlaced})
		return
	}
	t.emit(Record{Kind: RecResend, Order: uint8(i), Attempt: o.resends + 1})
	t.call(CallPlace, i)
}

func (t *Trade) fill(i int, f *exchange.Fill) {
	o := &t.orders[i]
	if f.Venue != o.req.Venue || f.Inst != o.req.Inst || f.Side != o.req.Side || f.Qty <= 0 || f.Px <= 0 || f.TradeID.IsZero() {
		t.anomalies++
		return
	}
	for k := range t.fills {
		e := &t.fills[k].fill
		if e.TradeID == f.TradeID && e.Venue == f.Venue && e.Inst == f.Inst {
			return // the same execution by another path
		}
	}
	if o.fillQty+f.Qty > o.req.Qty {
		t.anomalies++ // more than ordered: counted anyway, it happened
	}
	rec := Record{Kind: RecFill, Order: uint8(i), Fill: *f, FeeRate: t.feeRate(o, f)}
	// A fill matched by its venue order id is ours all the same: the
	// record names the client order id the ledger files it under.
	rec.Fill.ClientID = o.req.ClientID
	t.emit(rec)
	o.unknown = false
	if o.liveAt == 0 {
		o.liveAt = t.now
	}
}

// feeRate returns the rate converting f's fee into its leg's quote.
func (t *Trade) feeRate(o *order, f *exchange.Fill) num.Amount {
	return t.rateOf(o, f.Fee, &f.FeeAsset, f.Px)
}

// rateOf is the rate that converts fee (in asset) into order o's quote:
// 1 for the quote, basePx for the base, FeeRates for a third asset; zero
// (not converted) when there is no fee or no rate.
func (t *Trade) rateOf(o *order, fee num.Amount, asset *exchange.ID, basePx num.Price) num.Amount {
	if fee.IsZero() || asset.IsZero() {
		return num.Amount{}
	}
	lp := &t.open.Legs[o.leg]
	switch string(asset.Bytes()) {
	case lp.Quote:
		return num.Amount{V: 1}
	case lp.Base:
		return num.Amount{V: int64(basePx), Dec: t.open.Scale.Px}
	}
	if t.env != nil && t.env.feeRates != nil {
		if r, ok := t.env.feeRates(asset, lp.Quote); ok {
			return r
		}
	}
	return num.Amount{}
}

// Tick moves the trade's clock to now: calls that went unanswered are
// given up on, unresolved orders queried, live ones cancelled, missing
// fills fetched, windows and the deadline enforced.
func (t *Trade) Tick(now int64) {
	t.now = now
	t.service()
	t.advance()
}

// Settled reports whether the trade is closed with every order resolved
// and every fill in. A closed trade that is not settled goes on querying
// its unresolved orders and fetching missing fills (no decisions): the
// deadline ends the trading, not the bookkeeping.
func (t *Trade) Settled() bool {
	return t.state.Closed() && t.Unresolved() == 0 && t.fillsComplete()
}

// service takes every action that is due at t.now: the deadline, calls
// given up on, resends, queries, cancels and fill fetches.
func (t *Trade) service() {
	if t.Settled() {
		return
	}
	now := t.now
	if now >= t.deadline && !t.state.Closed() {
		t.expire()
	}
	p := &t.open.Policy
	allDone := true
	for i := 0; i < t.n; i++ {
		o := &t.orders[i]
		if o.done() {
			continue
		}
		allDone = false
		if o.call != 0 {
			if now-o.callAt < int64(p.AckTimeout) {
				continue
			}
			// No answer in time: given up on. A place's outcome is now
			// unknown; anything else is simply asked again.
			if o.call == CallPlace {
				o.unknown = true
			}
			o.call, o.next = 0, now
		}
		if o.resendDue {
			if now >= o.next {
				if t.state.Closed() {
					// No new sends after the close: the intent is given up.
					o.resendDue = false
					t.emit(Record{Kind: RecFailed, Order: uint8(i), Reason: ReasonNotPlaced})
				} else {
					t.resend(i)
				}
			}
			continue
		}
		if o.phase == phasePending {
			// Sent, not answered, no call in flight: after a lost call or a
			// recovery. Only the venue knows.
			o.unknown = true
		}
		if o.unknown {
			if now >= o.next {
				t.call(CallQuery, i)
			}
			continue
		}
		// Live: an IOC should be final at once. Cancel it past
		// FinalTimeout; poll it while the stream is down, after the
		// cancel, and once when the stream comes back.
		if o.liveAt == 0 {
			o.liveAt = now
		}
		switch {
		case o.cancelAt == 0 && (t.halted || now >= o.liveAt+int64(p.FinalTimeout)):
			t.call(CallCancel, i)
			o.cancelAt = now
		case o.recheck || now >= o.next && (!t.streamUp[o.leg] || o.cancelAt != 0):
			o.recheck = false
			t.call(CallQuery, i)
		}
	}
	if allDone && t.fillWaitAt == 0 && !t.fillsComplete() {
		t.fillWaitAt = now
	}
	if allDone && t.fillWaitAt != 0 {
		if t.fetching && now-t.fetchAt >= int64(p.AckTimeout) {
			t.fetching, t.fillWaitAt = false, now
		}
		if !t.fetching && now >= t.fillWaitAt+int64(p.FillTimeout) && !t.fillsComplete() {
			t.fetchFills()
		}
	}
}

// fetchFills asks for the fills of every venue where an order misses some.
func (t *Trade) fetchFills() {
	var asked [2]bool
	for i := 0; i < t.n; i++ {
		o := &t.orders[i]
		if o.fillQty >= o.filled() || asked[o.leg] {
			continue
		}
		asked[o.leg] = true
		since := t.openedAt
		for k := 0; k < t.n; k++ {
			if t.orders[k].leg == o.leg && t.orders[k].intentAt < since {
				since = t.orders[k].intentAt
			}
		}
		t.out.Calls = append(t.out.Calls, Call{Kind: CallFetchFills, Trade: t.id, Order: uint8(i),
			Req: exchange.OrderRequest{Venue: o.req.Venue, Inst: o.req.Inst}, Since: since - int64(time.Second), At: t.now,
			Timeout: t.open.Policy.AckTimeout})
	}
	t.fetching, t.fetchAt = true, t.now
}

// expire closes the trade at its deadline, cancelling what is still live.
// What is unresolved goes on being resolved (Settled).
func (t *Trade) expire() {
	for i := 0; i < t.n; i++ {
		o := &t.orders[i]
		if o.phase == phaseLive && o.call == 0 && o.cancelAt == 0 {
			t.call(CallCancel, i)
			o.cancelAt = t.now
		}
		o.resendDue = false
	}
	t.close()
}

// close records the end of the trade.
func (t *Trade) close() {
	res := t.Residual()
	unres := t.Unresolved()
	to := StateClosedFlat
	if res != 0 || unres != 0 {
		to = StateClosedResidual
	}
	t.emit(Record{Kind: RecTransition, To: to, Residual: res, Unresolved: uint8(unres), QtyDecimals: t.open.Scale.Qty})
}

func (t *Trade) transition(to State) {
	if t.state != to {
		t.emit(Record{Kind: RecTransition, To: to})
	}
}

func (t *Trade) fillsComplete() bool {
	for i := 0; i < t.n; i++ {
		if o := &t.orders[i]; o.fillQty < o.filled() {
			return false
		}
	}
	return true
}

// count returns how many orders have purpose p.
func (t *Trade) count(p Purpose) int {
	k := 0
	for i := 0; i < t.n; i++ {
		if t.orders[i].purpose == p {
			k++
		}
	}
	return k
}

// advance decides what follows from what is known: the second leg of a
// sequential pair, a retry, an unwind, or the close. Nothing is decided
// while an order is unresolved.
func (t *Trade) advance() {
	if t.state.Closed() {
		return
	}
	if t.halted {
		// Kill switch: nothing new goes out; the trade closes as it
		// stands once its orders are resolved.
		for i := 0; i < t.n; i++ {
			if !t.orders[i].done() {
				return
			}
		}
		t.tryClose()
		return
	}
	p := &t.open.Policy
	if p.Mode == Sequential && t.state == StateOpen && t.n == 1 && t.orders[0].done() {
		first := &t.orders[0]
		leg := LegSell
		if first.leg == LegSell {
			leg = LegBuy
		}
		lp := &t.open.Legs[leg]
		if q := t.size(leg, first.filled(), lp.Limit); q > 0 {
			t.intent(PurposeEntry, leg, lp.Side, lp.Limit, q)
			return
		}
		// Nothing to match (no fill, or below the venue's minimum): what
		// the first leg filled is compensated below.
	}
	for i := 0; i < t.n; i++ {
		if !t.orders[i].done() {
			return
		}
	}
	imb := t.Residual()
	if imb == 0 {
		t.tryClose()
		return
	}
	if t.state == StateOpen || t.state == StateHedging {
		if t.retryOpen() {
			// The short leg: the sell leg when long base, the buy leg when short.
			leg := LegSell
			if imb < 0 {
				leg = LegBuy
			}
			lp := &t.open.Legs[leg]
			if t.size(leg, abs(imb), 0) > 0 {
				t.transition(StateHedging)
				if px, ok := t.retryPrice(leg); ok {
					if q := t.size(leg, abs(imb), px); q > 0 {
						t.intent(PurposeRetry, leg, lp.Side, px, q)
						return
					}
				} else if t.now < t.phaseAt+int64(p.RetryWindow) {
					return // wait for the book to come back inside the budget
				}
			}
		}
		t.transition(StateUnwinding)
	}
	if t.unwindOpen() {
		// The long leg's venue: sell the excess where it was bought, or buy
		// back where it was sold.
		leg, side := LegBuy, exchange.Sell
		if imb < 0 {
			leg, side = LegSell, exchange.Buy
		}
		if t.size(leg, abs(imb), 0) > 0 {
			if px, ok := t.unwindPrice(leg, side); ok {
				if q := t.size(leg, abs(imb), px); q > 0 {
					t.intent(PurposeUnwind, leg, side, px, q)
					return
				}
			} else if t.now < t.phaseAt+int64(p.UnwindWindow) {
				return
			}
		}
	}
	t.tryClose()
}

// retryOpen reports whether another retry may be sent now.
func (t *Trade) retryOpen() bool {
	p := &t.open.Policy
	if t.count(PurposeRetry) >= p.RetryMax {
		return false
	}
	return t.state == StateOpen || t.now < t.phaseAt+int64(p.RetryWindow)
}

// unwindOpen reports whether another unwind may be sent now.
func (t *Trade) unwindOpen() bool {
	p := &t.open.Policy
	return t.count(PurposeUnwind) < p.UnwindMax && t.now < t.phaseAt+int64(p.UnwindWindow)
}

// tryClose closes the trade once every fill is in; until then it waits
// (and Tick fetches them after FillTimeout).
func (t *Trade) tryClose() {
	if !t.fillsComplete() {
		if t.fillWaitAt == 0 {
			t.fillWaitAt = t.now
		}
		return
	}
	t.close()
}

// size returns the largest quantity ≤ want that the leg's venue accepts:
// a multiple of its step, at least its minimum quantity and, when px > 0,
// at least its minimum notional at px. 0 when there is none: a remainder
// the venue would reject is a residual, never an order.
func (t *Trade) size(leg int, want num.Qty, px num.Price) num.Qty {
	f := &t.open.Legs[leg].Filters
	q := num.Qty(num.FloorTo(int64(want), int64(f.Step)))
	if q <= 0 || q < f.MinQty {
		return 0
	}
	if px > 0 && f.MinNotional > 0 {
		if n, ok := num.Notional(px, q, t.open.Scale); !ok || n < f.MinNotional {
			return 0
		}
	}
	return q
}

// retryPrice returns the limit of a retry on leg: the plan's limit moved by
// the slippage budget, if the venue's book is inside it.
func (t *Trade) retryPrice(leg int) (num.Price, bool) {
	lp := &t.open.Legs[leg]
	bps := int64(t.open.Policy.RetrySlippageBps)
	bid, ask, ok := t.quote(lp)
	if !ok {
		return 0, false
	}
	tick := int64(lp.Filters.Tick)
	if lp.Side == exchange.Buy {
		c, ok := num.MulDiv(int64(lp.Limit), 10000+bps, 10000)
		cap := num.Price(num.FloorTo(c, tick))
		return cap, ok && cap > 0 && ask <= cap
	}
	c, ok := num.MulDivCeil(int64(lp.Limit), 10000-bps, 10000)
	cap := num.Price(num.CeilTo(c, tick))
	return cap, ok && cap > 0 && bid >= cap
}

// unwindPrice returns the limit of an unwind on leg: through the book by
// the unwind slippage, and never past the loss bound from the plan's price.
func (t *Trade) unwindPrice(leg int, side exchange.Side) (num.Price, bool) {
	lp := &t.open.Legs[leg]
	p := &t.open.Policy
	bid, ask, ok := t.quote(lp)
	if !ok {
		return 0, false
	}
	tick := int64(lp.Filters.Tick)
	s, loss := int64(p.UnwindSlippageBps), int64(p.UnwindMaxLossBps)
	if side == exchange.Sell {
		px, ok1 := num.MulDivCeil(int64(bid), 10000-s, 10000)
		bound, ok2 := num.MulDivCeil(int64(lp.Limit), 10000-loss, 10000)
		px, bound = num.CeilTo(px, tick), num.CeilTo(bound, tick)
		if !ok1 || !ok2 || int64(bid) < bound {
			return 0, false
		}
		return num.Price(max(px, bound)), px > 0 || bound > 0
	}
	px, ok1 := num.MulDiv(int64(ask), 10000+s, 10000)
	bound, ok2 := num.MulDiv(int64(lp.Limit), 10000+loss, 10000)
	px, bound = num.FloorTo(px, tick), num.FloorTo(bound, tick)
	if !ok1 || !ok2 || int64(ask) > bound {
		return 0, false
	}
	px = min(px, bound)
	return num.Price(px), px > 0
}

func (t *Trade) quote(lp *LegPlan) (bid, ask num.Price, ok bool) {
	if t.env == nil || t.env.quotes == nil {
		return 0, 0, false
	}
	bid, ask, ok = t.env.quotes(lp.Venue, lp.Inst)
	return bid, ask, ok && bid > 0 && ask > 0
}

// trim drops an amount's trailing fraction zeros ("1.50" → "1.5").
func trim(a num.Amount) num.Amount {
	for a.Dec > 0 && a.V%10 == 0 {
		a.V /= 10
		a.Dec--
	}
	return a
}

func abs(q num.Qty) num.Qty {
	if q < 0 {
		return -q
	}
	return q
}

// recover prepares a trade rebuilt from the journal to run again: the
// deadline and the current window restart now (recorded), every
// unresolved order is queried, and missing fills are fetched at once.
func (t *Trade) recover(now int64) {
	t.now = now
	if t.Settled() {
		return
	}
	if !t.state.Closed() {
		t.emit(Record{Kind: RecRecover})
	}
	for i := 0; i < t.n; i++ {
		o := &t.orders[i]
		o.call, o.resendDue = 0, false
		o.next = now
		if o.phase == phasePending {
			o.unknown = true
		}
	}
	if !t.fillsComplete() {
		t.fillWaitAt = now - int64(t.open.Policy.FillTimeout)
	}
	t.service()
	t.advance()
}
