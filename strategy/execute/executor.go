package execute

import (
	"errors"
	"fmt"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/spread"
)

// Config parameterizes an Executor.
type Config struct {
	// Prefix starts every client order id (1–8 letters and digits): it
	// tells arb's orders from anything else on the account. Default "arb".
	Prefix string
	// Default is the policy of every pair no entry of Pairs matches.
	Default Policy
	// Pairs overrides the policy per pair; the first match wins.
	Pairs []PairPolicy
	// Registry names venues and instruments (views, journal records).
	Registry *exchange.Registry
	// Instruments are the venues' listings with their filters, in the
	// canonical instrument's scale: retries and unwinds are sized by them.
	Instruments []exchange.Instrument
	// MaxOpen caps the trades open at once; Open refuses beyond it.
	MaxOpen int
	// KeepClosed is how many closed trades stay in memory, for the views
	// and for late fills of their orders.
	KeepClosed int
	// Quotes prices retries and unwinds (required).
	Quotes Quotes
	// FeeRates converts fees charged in a third asset (optional: without
	// it such fees are recorded with no rate and left out of the realized
	// net).
	FeeRates FeeRates
}

// Defaults of Config.
const (
	DefaultPrefix     = "arb"
	DefaultMaxOpen    = 64
	DefaultKeepClosed = 1024
)

// DefaultConfig returns a Config with defaults; Registry, Instruments and
// Quotes are the caller's.
func DefaultConfig() Config {
	return Config{Prefix: DefaultPrefix, Default: DefaultPolicy(), MaxOpen: DefaultMaxOpen, KeepClosed: DefaultKeepClosed}
}

// Validate checks c, naming the offending field.
func (c *Config) Validate() error {
	if !validPrefix(c.Prefix) {
		return fmt.Errorf("%w: prefix: %q is not 1–%d letters and digits", ErrConfig, c.Prefix, MaxPrefix)
	}
	if err := c.Default.Validate(); err != nil {
		return fmt.Errorf("default policy: %w", err)
	}
	for i := range c.Pairs {
		if err := c.Pairs[i].Policy.Validate(); err != nil {
			return fmt.Errorf("pairs[%d]: %w", i, err)
		}
	}
	switch {
	case c.Registry == nil:
		return fmt.Errorf("%w: registry is required", ErrConfig)
	case c.Quotes == nil:
		return fmt.Errorf("%w: quotes is required", ErrConfig)
	case c.MaxOpen < 1 || c.MaxOpen > 1<<16:
		return fmt.Errorf("%w: max_open: %d outside 1..65536", ErrConfig, c.MaxOpen)
	case c.KeepClosed < 1 || c.KeepClosed > 1<<20:
		return fmt.Errorf("%w: keep_closed: %d outside 1..1048576", ErrConfig, c.KeepClosed)
	}
	for _, in := range c.Instruments {
		if c.Registry.Asset(in.ID) == nil || c.Registry.VenueName(in.Venue) == "" {
			return fmt.Errorf("%w: instrument %s on venue %d is not in the registry", ErrConfig, in.Canonical, in.Venue)
		}
	}
	return nil
}

// Errors of Executor.Open.
var (
	ErrNotStarted = errors.New("execute: executor not started (Recover first)")
	ErrBusy       = errors.New("execute: too many open trades")
	ErrPlan       = errors.New("execute: plan not executable")
)

// Stats are an executor's counters. The executor's goroutine writes them;
// Driver and Service copy them for other goroutines.
type Stats struct {
	Opened         uint64 // trades opened
	ClosedFlat     uint64 // trades closed flat
	ClosedResidual uint64 // trades closed with a residual or unresolved orders
	Recovered      uint64 // unfinished trades taken over from the journal
	Anomalies      uint64 // inputs that contradicted a trade
	Foreign        uint64 // states and fills of orders that are not arb's
	OrphanFills    uint64 // fills of arb's orders whose trade is no longer in memory (recorded)
	Stale          uint64 // call results and states for trades no longer in memory
}

// Exposure is the base position trades left or hold on one instrument.
type Exposure struct {
	Inst exchange.InstrumentID
	// Residual is the signed sum of the residuals of closed trades
	// (base bought − sold), over every trade in the journal replayed at
	// start and every one closed since.
	Residual num.Qty
	// Open is the signed imbalance of the trades still open.
	Open num.Qty
}

// Executor owns every trade: it opens them from plans, routes events to
// them, ticks them, aggregates their Ready output, and rebuilds unfinished
// ones from the journal after a restart. Like Trade it is pure and owned by
// one goroutine; Driver is the loop around it that does the I/O.
type Executor struct {
	cfg     Config
	env     env
	filters map[uint32]Filters // venue<<16 | instrument

	epoch    uint32
	seq      uint32
	maxEpoch uint32
	started  bool

	trades   map[TradeID]*Trade // open and kept closed
	open     []*Trade
	settling []*Trade // closed, not settled: still resolving orders and fills
	closed   []*Trade // ring of the last KeepClosed closed trades
	chead    int
	free     []*Trade
	byOrder  map[voKey]route // venue order id → order, for fills that carry no client id
	recov    map[TradeID]bool

	prefixes []string // client id prefixes of recovered trades, ours first
	orphans  [1024]fillKey
	ohead    int

	stream   [exchange.MaxVenues + 1]bool
	residual []num.Qty // per instrument: Σ residuals of closed trades
	out      Ready
	stats    Stats
	now      int64
	halted   bool
}

type voKey struct {
	venue exchange.VenueID
	id    exchange.ID
}

type route struct {
	trade TradeID
	order uint8
}

type fillKey struct {
	venue exchange.VenueID
	inst  exchange.InstrumentID
	id    exchange.ID
}

// New returns an executor. It takes no plan until Recover has run (with or
// without records restored before it).
func New(cfg Config) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Executor{
		cfg: cfg, env: env{quotes: cfg.Quotes, feeRates: cfg.FeeRates},
		filters:  make(map[uint32]Filters, len(cfg.Instruments)),
		trades:   make(map[TradeID]*Trade, cfg.MaxOpen+min(cfg.KeepClosed, 1024)),
		byOrder:  make(map[voKey]route),
		recov:    map[TradeID]bool{},
		prefixes: []string{cfg.Prefix},
		residual: make([]num.Qty, len(cfg.Registry.Assets)),
	}
	for _, in := range cfg.Instruments {
		e.filters[listing(in.Venue, in.ID)] = Filters{Tick: in.Tick, Step: in.Step, MinQty: in.MinQty, MinNotional: in.MinNotional}
	}
	e.out.Records = make([]Record, 0, 64)
	e.out.Calls = make([]Call, 0, 64)
	return e, nil
}

func listing(v exchange.VenueID, i exchange.InstrumentID) uint32 { return uint32(v)<<16 | uint32(i) }

// Config returns the executor's configuration.
func (e *Executor) Config() *Config { return &e.cfg }

// Stats returns the executor's counters.
func (e *Executor) Stats() Stats { return e.stats }

// Epoch returns the epoch of the trades this executor opens (0 before
// Recover).
func (e *Executor) Epoch() uint32 { return e.epoch }

// Started reports whether Recover has run.
func (e *Executor) Started() bool { return e.started }

// Recovered reports whether every trade taken over from the journal is
// closed: until then new plans are refused and the daemon is not ready.
func (e *Executor) Recovered() bool { return e.started && len(e.recov) == 0 }

// OpenTrades returns how many trades are open.
func (e *Executor) OpenTrades() int { return len(e.open) }

// Trade returns the trade with this id if it is in memory, else nil.
func (e *Executor) Trade(id TradeID) *Trade { return e.trades[id] }

// Ready returns what to persist and then what to send. Valid until Advance.
func (e *Executor) Ready() *Ready { return &e.out }

// Advance tells the executor the last Ready was persisted and its calls
// made (or handed to something that will make them).
func (e *Executor) Advance() { e.out.reset() }

// PolicyFor returns the policy that applies to a plan.
func (e *Executor) PolicyFor(buy, sell exchange.VenueID, inst exchange.InstrumentID) *Policy {
	for i := range e.cfg.Pairs {
		if e.cfg.Pairs[i].matches(buy, sell, inst) {
			return &e.cfg.Pairs[i].Policy
		}
	}
	return &e.cfg.Default
}

// Open starts a trade from an approved plan at time now; qty overrides
// the plan's quantity when positive (a risk clip: a multiple of both
// venues' steps). Its first Ready holds the open record, the entry
// intents, and their place calls.
func (e *Executor) Open(now int64, p *spread.Plan, qty num.Qty) (TradeID, error) {
	if !e.started {
		return 0, ErrNotStarted
	}
	if !e.Recovered() {
		return 0, fmt.Errorf("%w: recovery not finished", ErrNotStarted)
	}
	if e.halted {
		return 0, ErrHalted
	}
	if len(e.open) >= e.cfg.MaxOpen {
		return 0, ErrBusy
	}
	if qty <= 0 {
		qty = p.Qty
	}
	if e.seq == ^uint32(0) {
		return 0, fmt.Errorf("%w: trade ids of epoch %d exhausted", ErrBusy, e.epoch)
	}
	id := TradeID(uint64(e.epoch)<<32 | uint64(e.seq+1))
	t := e.alloc()
	t.init(id, &e.env, &e.out)
	if err := e.opening(&t.open, p, qty); err != nil {
		e.free = append(e.free, t)
		return 0, err
	}
	e.seq++
	for leg := range t.open.Legs {
		t.streamUp[leg] = e.stream[t.open.Legs[leg].Venue]
	}
	t.start(now)
	e.trades[id] = t
	e.open = append(e.open, t)
	e.stats.Opened++
	return id, nil
}

// opening fills op from plan p.
func (e *Executor) opening(op *Opening, p *spread.Plan, qty num.Qty) error {
	if qty <= 0 || qty > p.Qty || p.Buy.Side != exchange.Buy || p.Sell.Side != exchange.Sell ||
		p.Buy.LimitPx <= 0 || p.Sell.LimitPx <= 0 || p.Buy.Venue == p.Sell.Venue && p.Buy.Inst == p.Sell.Inst {
		return fmt.Errorf("%w: %s: quantity, sides or limits", ErrPlan, p.ID)
	}
	*op = Opening{Plan: p.ID, Symbol: p.Symbol, Scale: p.Scale, Qty: qty, ExpectedNet: p.NetQuote, PlanTS: p.TS,
		TickTS: max(p.Buy.BookRecvTS, p.Sell.BookRecvTS),
		Prefix: e.cfg.Prefix, Policy: *e.PolicyFor(p.Buy.Venue, p.Sell.Venue, p.Buy.Inst)}
	if qty < p.Qty {
		// A clipped plan's edge scales with its size (floor).
		if n, ok := num.MulDiv(int64(max(p.NetQuote, 0)), int64(qty), int64(p.Qty)); ok && p.NetQuote >= 0 {
			op.ExpectedNet = num.Quote(n)
		}
	}
	for leg, pl := range [2]*spread.Leg{&p.Buy, &p.Sell} {
		f, ok := e.filters[listing(pl.Venue, pl.Inst)]
		a := e.cfg.Registry.Asset(pl.Inst)
		if !ok || a == nil {
			return fmt.Errorf("%w: %s: venue %d has no listing of instrument %d", ErrPlan, p.ID, pl.Venue, pl.Inst)
		}
		if a.Scale != p.Scale {
			return fmt.Errorf("%w: %s: scale of %s differs from the plan's", ErrPlan, p.ID, a.Symbol)
		}
		if f.Step > 0 && qty%f.Step != 0 {
			return fmt.Errorf("%w: %s: quantity %d is not a multiple of venue %d's step %d", ErrPlan, p.ID, qty, pl.Venue, f.Step)
		}
		op.Legs[leg] = LegPlan{Venue: pl.Venue, Inst: pl.Inst, Side: pl.Side, Limit: pl.LimitPx, Qty: qty,
			Base: a.Base, Quote: a.Quote, Filters: f}
	}
	return nil
}

func (e *Executor) alloc() *Trade {
	if n := len(e.free); n > 0 {
		t := e.free[n-1]
		e.free = e.free[:n-1]
		return t
	}
	return &Trade{fills: make([]fillEntry, 0, 16)}
}

// Step delivers one event at time now.
func (e *Executor) Step(now int64, ev *Event) {
	e.now = now
	switch ev.Kind {
	case EvStream:
		if int(ev.Venue) < len(e.stream) {
			e.stream[ev.Venue] = ev.Up
		}
		for _, t := range e.open {
			t.Step(now, ev)
		}
		for _, t := range e.settling {
			t.Step(now, ev)
		}
		e.settleAll()
		return
	case EvOrder, EvFill:
		if !e.route(ev) {
			return
		}
	}
	t := e.trades[ev.Trade]
	if t == nil {
		e.stats.Stale++
		return
	}
	a := t.anomalies
	t.Step(now, ev)
	e.stats.Anomalies += uint64(t.anomalies - a)
	e.index(t)
	e.settle(t)
}

// route sets ev.Trade and ev.Order from the client order id (or venue
// order id) an EvOrder or EvFill carries. It returns false when the event
// is not for a trade in memory; a fill of one of arb's orders whose trade
// is gone is recorded anyway, so no fill is ever lost.
func (e *Executor) route(ev *Event) bool {
	cid, vid, venue := &ev.State.ClientID, &ev.State.VenueOrderID, ev.State.Venue
	if ev.Kind == EvFill {
		cid, vid, venue = &ev.Fill.ClientID, &ev.Fill.VenueOrderID, ev.Fill.Venue
	}
	id, n, ok := e.parseClientID(cid)
	if !ok && !vid.IsZero() {
		if r, found := e.byOrder[voKey{venue, *vid}]; found {
			id, n, ok = r.trade, int(r.order), true
		}
	}
	if !ok {
		e.stats.Foreign++
		return false
	}
	ev.Trade, ev.Order = id, uint8(n)
	if e.trades[id] != nil {
		return true
	}
	if ev.Kind == EvFill {
		e.orphanFill(ev)
	} else {
		e.stats.Stale++
	}
	return false
}

func (e *Executor) parseClientID(cid *exchange.ID) (TradeID, int, bool) {
	if cid.IsZero() {
		return 0, 0, false
	}
	for _, p := range e.prefixes {
		if id, n, ok := ParseClientID(p, cid); ok {
			return id, n, true
		}
	}
	return 0, 0, false
}

// orphanFill records a fill of an arb order whose trade is no longer in
// memory (closed long ago, or never replayed): the ledger counts it.
func (e *Executor) orphanFill(ev *Event) {
	f := &ev.Fill
	if f.TradeID.IsZero() || f.Qty <= 0 {
		e.stats.Anomalies++
		return
	}
	k := fillKey{f.Venue, f.Inst, f.TradeID}
	for i := range e.orphans {
		if e.orphans[i] == k {
			return
		}
	}
	e.orphans[e.ohead] = k
	e.ohead = (e.ohead + 1) % len(e.orphans)
	e.stats.OrphanFills++
	e.out.Records = append(e.out.Records, Record{Kind: RecFill, Trade: ev.Trade, Order: ev.Order, TS: e.now, ClientID: f.ClientID, Fill: *f})
}

// index remembers the venue order ids of t's orders, for fills that carry
// only those.
func (e *Executor) index(t *Trade) {
	for i := 0; i < t.n; i++ {
		o := &t.orders[i]
		if o.indexed || o.venueID.IsZero() {
			continue
		}
		o.indexed = true
		k := voKey{o.req.Venue, o.venueID}
		if _, ok := e.byOrder[k]; !ok {
			e.byOrder[k] = route{t.id, uint8(i)}
		}
	}
}

// Tick moves every open trade's clock to now.
func (e *Executor) Tick(now int64) {
	e.now = now
	for _, t := range e.open {
		a := t.anomalies
		t.Tick(now)
		e.stats.Anomalies += uint64(t.anomalies - a)
		e.index(t)
	}
	for _, t := range e.settling {
		t.Tick(now)
		e.index(t)
		e.exposure(t)
	}
	e.settleAll()
}

func (e *Executor) settleAll() {
	for i := 0; i < len(e.open); {
		t := e.open[i]
		if t.state.Closed() {
			e.settle(t)
			continue // e.open[i] is now another trade
		}
		i++
	}
	e.dropSettled()
}

// dropSettled removes settled trades from the settling list.
func (e *Executor) dropSettled() {
	for i := 0; i < len(e.settling); {
		if t := e.settling[i]; t.Settled() {
			last := len(e.settling) - 1
			e.settling[i] = e.settling[last]
			e.settling[last] = nil
			e.settling = e.settling[:last]
			continue
		}
		i++
	}
}

// Settling returns how many closed trades are still resolving orders or
// fills.
func (e *Executor) Settling() int { return len(e.settling) }

// settle moves t from the open list to the closed ring once it closed.
func (e *Executor) settle(t *Trade) {
	if !t.state.Closed() {
		return
	}
	k := -1
	for i, o := range e.open {
		if o == t {
			k = i
			break
		}
	}
	if k < 0 {
		e.exposure(t) // already settled: a late event for a closed trade
		e.dropSettled()
		return
	}
	last := len(e.open) - 1
	e.open[k] = e.open[last]
	e.open[last] = nil
	e.open = e.open[:last]
	e.closedTrade(t)
	if !t.Settled() {
		e.settling = append(e.settling, t)
	}
}

// closedTrade counts a closed trade and keeps it for views and late fills,
// evicting the oldest kept one.
func (e *Executor) closedTrade(t *Trade) {
	switch {
	case !e.started:
		// Closed before this start (replayed): counted by the run that
		// closed it.
	case t.state == StateClosedFlat:
		e.stats.ClosedFlat++
	default:
		e.stats.ClosedResidual++
	}
	t.reported = 0
	e.exposure(t)
	delete(e.recov, t.id)
	if len(e.closed) < e.cfg.KeepClosed {
		e.closed = append(e.closed, t)
		return
	}
	old := e.closed[e.chead]
	e.closed[e.chead] = t
	e.chead = (e.chead + 1) % len(e.closed)
	e.forget(old)
}

// exposure brings the residual sum up to date with a closed trade's
// position, which a late fill may still change.
func (e *Executor) exposure(t *Trade) {
	r := t.Residual()
	if inst := t.open.Legs[LegBuy].Inst; int(inst) < len(e.residual) {
		e.residual[inst] += r - t.reported
	}
	t.reported = r
}

func (e *Executor) forget(t *Trade) {
	for i, x := range e.settling {
		if x == t {
			last := len(e.settling) - 1
			e.settling[i] = e.settling[last]
			e.settling[last] = nil
			e.settling = e.settling[:last]
			break
		}
	}
	delete(e.trades, t.id)
	for i := 0; i < t.n; i++ {
		if o := &t.orders[i]; !o.venueID.IsZero() {
			delete(e.byOrder, voKey{o.req.Venue, o.venueID})
		}
	}
	e.free = append(e.free, t)
}

// Halt is the kill switch: Open refuses plans, and every open trade stops
// sending new orders, cancels its live ones and closes as it stands once
// they are resolved.
func (e *Executor) Halt() {
	e.halted = true
	for _, t := range e.open {
		t.Halt()
	}
}

// Resume lifts Halt: plans are taken again. Trades halted meanwhile stay
// as they were decided.
func (e *Executor) Resume() { e.halted = false }

// Halted reports whether the kill switch is on.
func (e *Executor) Halted() bool { return e.halted }

// Exposures returns the residual and open base positions per instrument
// (only instruments with one).
func (e *Executor) Exposures() []Exposure {
	var out []Exposure
	open := make(map[exchange.InstrumentID]num.Qty)
	for _, t := range e.open {
		open[t.open.Legs[LegBuy].Inst] += t.Residual()
	}
	for i, r := range e.residual {
		inst := exchange.InstrumentID(i)
		if r != 0 || open[inst] != 0 {
			out = append(out, Exposure{Inst: inst, Residual: r, Open: open[inst]})
		}
	}
	return out
}

// Restore folds one record read back from the journal into the executor,
// before Recover. Records must come in the order they were persisted;
// duplicates are harmless. Records of trades no longer open are kept only
// as far as KeepClosed allows.
func (e *Executor) Restore(rec *Record) error {
	if e.started {
		return errors.New("execute: Restore after Recover")
	}
	if ep := rec.Trade.Epoch(); ep > e.maxEpoch {
		e.maxEpoch = ep
	}
	switch rec.Kind {
	case RecEpoch:
		if rec.Epoch > e.maxEpoch {
			e.maxEpoch = rec.Epoch
		}
		return nil
	case RecOpen:
		if rec.Open == nil {
			return fmt.Errorf("execute: open record of %s without opening", rec.Trade)
		}
		if e.trades[rec.Trade] != nil {
			return nil
		}
		t := e.alloc()
		t.init(rec.Trade, &e.env, &e.out)
		t.apply(rec)
		e.trades[rec.Trade] = t
		e.open = append(e.open, t)
		e.addPrefix(rec.Open.Prefix)
		return nil
	}
	t := e.trades[rec.Trade]
	if t == nil {
		return nil // a trade closed and forgotten, or an orphan fill
	}
	if rec.Kind == RecFill && t.hasFill(&rec.Fill) {
		return nil
	}
	if rec.Kind == RecIntent && int(rec.Order) < t.n {
		return nil
	}
	t.apply(rec)
	e.index(t)
	e.settle(t)
	return nil
}

func (t *Trade) hasFill(f *exchange.Fill) bool {
	for k := range t.fills {
		e := &t.fills[k].fill
		if e.TradeID == f.TradeID && e.Venue == f.Venue && e.Inst == f.Inst {
			return true
		}
	}
	return false
}

func (e *Executor) addPrefix(p string) {
	for _, q := range e.prefixes {
		if q == p {
			return
		}
	}
	e.prefixes = append(e.prefixes, p)
}

// Recover starts the executor at time now after the journal was restored:
// it takes a new epoch (above every one in the journal, and at least the
// clock's Unix seconds, so ids stay unique even if old records were
// trimmed), records it, and sets every unfinished trade to resolve its
// orders with the venues. Plans are refused until those trades close
// (Recovered). An executor with nothing to restore calls Recover too.
func (e *Executor) Recover(now int64) { e.RecoverAt(now, 0) }

// NextEpoch is the least epoch Recover may take at time now: above every
// epoch in the journal, and at least the clock's Unix seconds.
func (e *Executor) NextEpoch(now int64) uint32 {
	ep := e.maxEpoch + 1
	if s := uint32(now / 1e9); now > 0 && s > ep {
		ep = s
	}
	return ep
}

// RecoverAt is Recover taking epoch (an epoch handed out by a counter
// shared with other executors, so trade ids stay unique across them) if it
// is at least NextEpoch(now), else NextEpoch(now).
func (e *Executor) RecoverAt(now int64, epoch uint32) {
	if e.started {
		return
	}
	ep := max(epoch, e.NextEpoch(now))
	e.epoch, e.seq, e.started = ep, 0, true
	e.out.Records = append(e.out.Records, Record{Kind: RecEpoch, TS: now, Epoch: ep})
	for _, t := range e.open {
		for leg := range t.open.Legs {
			t.streamUp[leg] = e.stream[t.open.Legs[leg].Venue]
		}
		t.halted = e.halted
		t.recover(now)
		e.recov[t.id] = true
		e.stats.Recovered++
	}
	for _, t := range e.settling {
		t.recover(now)
	}
	e.settleAll()
}

// Trades calls fn for every trade in memory, open ones first, then closed
// ones newest first, until fn returns false.
func (e *Executor) Trades(fn func(*Trade) bool) {
	for i := len(e.open) - 1; i >= 0; i-- {
		if !fn(e.open[i]) {
			return
		}
	}
	n := len(e.closed)
	for k := 0; k < n; k++ {
		// chead is the oldest once the ring is full; newest is just before it.
		i := (e.chead - 1 - k + 2*n) % n
		if len(e.closed) < e.cfg.KeepClosed {
			i = n - 1 - k
		}
		if !fn(e.closed[i]) {
			return
		}
	}
}
