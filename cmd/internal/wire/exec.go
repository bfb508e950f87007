package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/config"
	"arb/cmd/internal/httpapi"
	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/execute"
	"arb/strategy/spread"
)

// execution connects strategy/execute to the daemon: the trading client of
// every venue that trades (trading.go), the executor's Service with its
// journal on JetStream, the private streams feeding it, the venues'
// balances feeding the detector's inventory, and the numbers the risk
// rules, the API and the metrics read (open trades, per-venue error rate
// and acknowledgement latency, residual exposure, latencies, PnL).
//
// The Service is built over the listings of the venues that have joined;
// a venue that joins late brings a new one (restart), built once no trade
// is in flight (the desk pauses new plans and waits, see Daemon.join), so
// no reservation is lost in the swap and the new service's journal replay
// finds every trade closed.
type execution struct {
	d   *Daemon
	log *slog.Logger
	jr  *bus.Journal
	cfg execute.Config // everything but Instruments

	mu       sync.Mutex // traders and listings, restarts
	traders  [exchange.MaxVenues + 1]trader
	listings [exchange.MaxVenues + 1][]exchange.Instrument
	run      atomic.Pointer[serviceRun]
	sinks    [exchange.MaxVenues + 1]forwardSink
	refresh  [exchange.MaxVenues + 1]chan struct{}

	health   [exchange.MaxVenues + 1]venueHealth
	balanced [exchange.MaxVenues + 1]atomic.Bool // the venue's balances were fetched once
	balErrs  [exchange.MaxVenues + 1]atomic.Uint64
	lat      latencies
	ledger   *ledgerLink

	flat, residual atomic.Uint64 // trades closed since start, by result
	exposure       atomic.Uint64 // float64 bits: residual exposure in the account currency
	openTrades     atomic.Int64  // the service's open trades, for risk
	pnlReady       atomic.Bool   // the PnL book has read the journal
	started        chan struct{} // closed once the first service runs
	startOnce      sync.Once
	halted         atomic.Bool // the kill switch as last applied
	// owner is this daemon's hold on the journal (bus.JournalOwner): nil
	// until acquired, and nil with the embedded server, which no other
	// daemon can write to.
	owner     atomic.Pointer[bus.JournalOwner]
	ownerWait bool // an external server: the executor starts once the journal is held
}

// serviceRun is one running Service.
type serviceRun struct {
	svc   *execute.Service
	sinks [exchange.MaxVenues + 1]exchange.PrivateSink
	stop  context.CancelFunc
	done  chan struct{}
}

// forwardSink is the private sink a venue's client keeps for its life; it
// forwards to the current service (dropping events while none runs: a new
// service reconciles at start).
type forwardSink struct {
	x *execution
	v exchange.VenueID
}

func (f *forwardSink) to() exchange.PrivateSink {
	if r := f.x.run.Load(); r != nil {
		return r.sinks[f.v]
	}
	return nil
}

// OnOrder implements exchange.PrivateSink.
func (f *forwardSink) OnOrder(st exchange.OrderState) {
	if s := f.to(); s != nil {
		s.OnOrder(st)
	}
}

// OnFill implements exchange.PrivateSink.
func (f *forwardSink) OnFill(fl exchange.Fill) {
	if s := f.to(); s != nil {
		s.OnFill(fl)
	}
}

// OnStream implements exchange.PrivateSink.
func (f *forwardSink) OnStream(up bool) {
	if s := f.to(); s != nil {
		s.OnStream(up)
	}
}

// execConfig maps the config's execution section onto execute.Config
// (Registry, Quotes and FeeRates are the caller's; Instruments come with
// the venues).
func execConfig(cfg *config.Config, reg *exchange.Registry) (execute.Config, error) {
	ec := execute.DefaultConfig()
	e := &cfg.Execution
	ec.Prefix, ec.MaxOpen, ec.KeepClosed, ec.Registry = e.Prefix, e.MaxOpen, e.KeepClosed, reg
	ec.Default = resolvePolicy(execute.DefaultPolicy(), &e.Policy)
	venueID := func(name string) exchange.VenueID {
		for i, v := range cfg.Venues {
			if v.Name == name {
				return exchange.VenueID(i + 1)
			}
		}
		return 0
	}
	isPool := func(name string) bool {
		id := venueID(name)
		return id != 0 && cfg.Venues[id-1].Kind == config.KindUniswap
	}
	add := func(pp config.PairPolicy) {
		p := execute.PairPolicy{BuyVenue: venueID(pp.BuyVenue), SellVenue: venueID(pp.SellVenue),
			Policy: resolvePolicy(ec.Default, &pp.Policy)}
		if pp.Symbol != "" {
			p.Inst, _ = assetID(reg, pp.Symbol)
		}
		ec.Pairs = append(ec.Pairs, p)
	}
	// The first match wins: the operator's pairs that name a pool venue,
	// then the pools' sequential policies, then the other pairs (a
	// catch-all written for the CEX venues does not make a pool's swap
	// and its hedge concurrent).
	for _, pp := range e.Pairs {
		if isPool(pp.BuyVenue) || isPool(pp.SellVenue) {
			add(pp)
		}
	}
	for i, v := range cfg.Venues {
		if v.Kind == config.KindUniswap {
			ec.Pairs = append(ec.Pairs, poolPolicies(ec.Default, exchange.VenueID(i+1), v.Chain)...)
		}
	}
	for _, pp := range e.Pairs {
		if !isPool(pp.BuyVenue) && !isPool(pp.SellVenue) {
			add(pp)
		}
	}
	return ec, nil
}

// poolPolicies are the executor's policies for the pairs of a pool venue:
// sequential, the swap first (First is the pool's side: buy when the plan
// buys on the pool), so the CEX hedge is sized to the swap's receipt and a
// reverted swap ends the trade flat without a hedge. An IOC swap stays
// "new" until it is mined, so the executor waits FinalTimeout (at least
// 30 s, or three blocks of a simulated chain) before cancelling it, and
// the trade's deadline leaves two minutes after that.
func poolPolicies(base execute.Policy, pool exchange.VenueID, ch *config.Chain) []execute.PairPolicy {
	p := base
	p.Mode = execute.Sequential
	final := 30 * time.Second
	if ch != nil && ch.Sim != nil && 3*ch.Sim.BlockTime > final {
		final = 3 * ch.Sim.BlockTime
	}
	p.FinalTimeout = max(p.FinalTimeout, final)
	p.Deadline = max(p.Deadline, p.FinalTimeout+2*time.Minute)
	buy, sell := p, p
	buy.First, sell.First = exchange.Buy, exchange.Sell
	return []execute.PairPolicy{{BuyVenue: pool, Policy: buy}, {SellVenue: pool, Policy: sell}}
}

// resolvePolicy returns base with the keys p sets.
func resolvePolicy(base execute.Policy, p *config.Policy) execute.Policy {
	if p.Mode != nil {
		base.Mode, _ = execute.ParseMode(*p.Mode)
	}
	if p.First != nil {
		base.First = exchange.Buy
		if *p.First == "sell" {
			base.First = exchange.Sell
		}
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setD := func(dst *time.Duration, v *time.Duration) {
		if v != nil {
			*dst = *v
		}
	}
	setI(&base.RetryMax, p.RetryMax)
	setI(&base.RetrySlippageBps, p.RetrySlippageBps)
	setD(&base.RetryWindow, p.RetryWindow)
	setI(&base.UnwindMax, p.UnwindMax)
	setI(&base.UnwindSlippageBps, p.UnwindSlippageBps)
	setI(&base.UnwindMaxLossBps, p.UnwindMaxLossBps)
	setD(&base.UnwindWindow, p.UnwindWindow)
	setD(&base.AckTimeout, p.AckTimeout)
	setD(&base.FinalTimeout, p.FinalTimeout)
	setD(&base.QueryInterval, p.QueryInterval)
	setD(&base.NotFoundAfter, p.NotFoundAfter)
	setD(&base.ResendWindow, p.ResendWindow)
	setI(&base.MaxResends, p.MaxResends)
	setD(&base.FillTimeout, p.FillTimeout)
	setD(&base.Deadline, p.Deadline)
	return base
}

func newExecution(d *Daemon) (*execution, error) {
	ec, err := execConfig(d.cfg, d.reg)
	if err != nil {
		return nil, err
	}
	ec.Quotes, ec.FeeRates = d.quotes, d.feeRate
	x := &execution{d: d, log: d.log.With("component", "execution"), jr: journalOf(d), cfg: ec,
		started: make(chan struct{}), ownerWait: d.emb == nil}
	x.jr.OnAppend = x.lat.appended
	x.ledger = newLedgerLink(d, x.jr)
	for v := range x.sinks {
		x.sinks[v] = forwardSink{x: x, v: exchange.VenueID(v)}
		x.refresh[v] = make(chan struct{}, 1)
	}
	return x, nil
}

// addVenue builds venue v's trading client over its listings (none for a
// venue whose kind has no client in this build). It runs nothing.
func (x *execution) addVenue(v *venue, listings []exchange.Instrument) error {
	vid := v.id
	t, err := x.d.newTrader(v, listings, func(id exchange.ID, at int64) { x.lat.wrote(vid, id, at) })
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.listings[vid] = listings
	if t != nil {
		x.traders[vid] = t
	}
	return nil
}

// trading reports whether venue v has a trading client.
func (x *execution) trading(v exchange.VenueID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.traders[v] != nil
}

func (x *execution) trader(v exchange.VenueID) trader {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.traders[v]
}

// newService builds a Service over the venues that trade now.
func (x *execution) newService() (*execute.Service, error) {
	x.mu.Lock()
	ec := x.cfg
	venues := make([]execute.Venue, len(x.d.reg.Venues))
	for v := 1; v < len(venues); v++ {
		if t := x.traders[v]; t != nil {
			venues[v] = t
			ec.Instruments = append(ec.Instruments, x.listings[v]...)
		}
	}
	x.mu.Unlock()
	sc := execute.ServiceConfig{
		Executor: ec, Journal: x.jr, Venues: venues, Clock: wallClock{}, Logger: x.d.log,
		Hooks:  execute.Hooks{Persisted: x.persisted, Closed: x.closed, Abandoned: x.abandoned},
		OnSend: x.onSend, OnCall: x.onCall,
	}
	if o := x.owner.Load(); o != nil {
		// Daemons sharing the server share the epoch counter: their trade
		// ids (and client order ids) never collide in the ledger.
		sc.Epochs = o.AllocEpoch
	}
	return execute.NewService(sc)
}

// journalOf is the daemon's executor journal: arb.exec.<kind> in
// ARB_EVENTS, or arb.exec.<instance>.<kind> when fleet.instance names
// this daemon, so daemons of one fleet sharing a server each replay only
// their own trades.
func journalOf(d *Daemon) *bus.Journal {
	if id := d.cfg.Fleet.Instance; id != "" {
		return d.bus.JournalIn(bus.StreamName, bus.JournalPrefix+id+".")
	}
	return d.bus.Journal()
}

type wallClock struct{}

func (wallClock) Now() int64 { return time.Now().UnixNano() }

// startVenue runs venue v's trading client: its connections, its private
// stream into the service, and its balance refresher.
func (x *execution) startVenue(v *venue, run func(string, func(context.Context) error)) {
	t := x.trader(v.id)
	if t == nil {
		return
	}
	name := v.cfg.Name
	run("trading "+name, canceledOK(t.Run))
	run("private stream "+name, canceledOK(func(ctx context.Context) error { return t.RunPrivate(ctx, &x.sinks[v.id]) }))
	run("balances "+name, func(ctx context.Context) error { return x.balanceLoop(ctx, v) })
}

// canceledOK makes a goroutine's context.Canceled a clean end.
func canceledOK(f func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
}

// start runs everything: each trading venue, the ledger link, the
// service.
func (x *execution) start(ctx context.Context, run func(string, func(context.Context) error)) {
	for _, v := range x.d.venues {
		if v.joined() {
			x.startVenue(v, run)
		}
	}
	x.ledger.start(ctx, run)
	run("execution", func(ctx context.Context) error {
		if err := x.own(ctx, run); err != nil {
			return err
		}
		if err := x.startService(ctx); err != nil {
			return err
		}
		x.startOnce.Do(func() { close(x.started) })
		x.watchExposure(ctx)
		return nil
	})
}

// own takes the journal's ownership before the executor replays it (see
// bus.JournalOwner): with an external NATS server another daemon could be
// trading from the same journal. It waits up to 1.5 TTL for a crashed
// predecessor's key to expire, then fails the daemon naming the holder;
// once held, the key is renewed until the daemon stops, and losing it to
// another daemon stops this one. The embedded server admits no other
// process, so it needs no key.
func (x *execution) own(ctx context.Context, run func(string, func(context.Context) error)) error {
	if !x.ownerWait {
		return nil
	}
	host, _ := os.Hostname()
	o, err := x.jr.Owner(ctx, bus.OwnerInfo{Instance: x.d.instance, Host: host, PID: os.Getpid(), Since: time.Now().UTC()}, x.d.ownerTTL, x.d.log)
	if err != nil {
		return err
	}
	if err := o.Acquire(ctx, o.TTL()+o.TTL()/2); err != nil {
		return err
	}
	x.owner.Store(o)
	run("journal owner", o.Run)
	return nil
}

// ownsJournal reports whether this daemon may write the journal now: it
// holds the ownership key (always, with the embedded server).
func (x *execution) ownsJournal() bool {
	if !x.ownerWait {
		return true
	}
	o := x.owner.Load()
	return o != nil && o.Held()
}

// startService builds and runs a new service (the current one, if any,
// must have stopped).
func (x *execution) startService(ctx context.Context) error {
	svc, err := x.newService()
	if err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	sctx, stop := context.WithCancel(ctx)
	r := &serviceRun{svc: svc, stop: stop, done: make(chan struct{})}
	for v := range r.sinks {
		r.sinks[v] = svc.Sink(exchange.VenueID(v))
	}
	x.run.Store(r)
	go func() {
		defer close(r.done)
		svc.Run(sctx)
	}()
	if _, halted := x.d.desk.risk.Halted(); halted {
		go x.halt(ctx)
	}
	return nil
}

// restart replaces the service by one over the venues that trade now.
// The caller guarantees that no plan of this run is in flight.
func (x *execution) restart(ctx context.Context) error {
	select {
	case <-x.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	if old := x.run.Load(); old != nil {
		old.stop()
		<-old.done
	}
	return x.startService(ctx)
}

// service returns the running service, or nil.
func (x *execution) service() *execute.Service {
	if r := x.run.Load(); r != nil {
		return r.svc
	}
	return nil
}

// ready reports whether the executor takes plans: started, start-up
// reconciliation done, journal healthy; why not otherwise.
func (x *execution) ready() (bool, string) {
	svc := x.service()
	switch {
	case x.ownerWait && x.owner.Load() == nil:
		return false, "executor: waiting for the journal's ownership (" + bus.JournalBucket + ")"
	case !x.ownsJournal():
		return false, "executor: the journal's ownership key is not renewed (NATS out of reach?)"
	case svc == nil:
		return false, "executor: starting"
	case !svc.Ready():
		st := svc.Stats()
		return false, fmt.Sprintf("executor: reconciling %d unfinished trades from the journal", st.Open)
	}
	return true, ""
}

// halt applies the kill switch to the executor: no new plans, open orders
// cancelled, every trade closed or reported.
func (x *execution) halt(ctx context.Context) {
	x.halted.Store(true)
	if svc := x.service(); svc != nil {
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := svc.Halt(hctx); err != nil {
			x.log.Error("executor halt did not complete", "err", err)
		}
	}
}

// resume lifts the kill switch for the executor.
func (x *execution) resume(ctx context.Context) {
	x.halted.Store(false)
	if svc := x.service(); svc != nil {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := svc.Resume(rctx); err != nil {
			x.log.Error("executor resume did not complete", "err", err)
		}
	}
}

// Hooks and callbacks (the service's goroutines).

func (x *execution) persisted(rec *execute.Record) { x.ledger.record(rec) }

// closed is Hooks.Closed: count the trade, then fetch both venues'
// balances and, on the loop, apply them and release the plan's
// reservation (a trade recovered from the journal was not reserved in
// this run: only the balances).
func (x *execution) closed(t *execute.Trade) {
	op := t.Opening()
	x.ledger.closed(t)
	if t.State() == execute.StateClosedFlat {
		x.flat.Add(1)
	} else {
		x.residual.Add(1)
	}
	plan := op.Plan
	venues := [2]exchange.VenueID{op.Legs[execute.LegBuy].Venue, op.Legs[execute.LegSell].Venue}
	go x.afterTrade(plan, venues)
}

// afterTrade fetches the venues' balances and hands them with the release
// of the plan's reservation to the loop.
func (x *execution) afterTrade(plan spread.PlanID, venues [2]exchange.VenueID) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got [2][]exchange.Balance
	var ok [2]bool
	for i, v := range venues {
		if i == 1 && v == venues[0] {
			got[1], ok[1] = got[0], ok[0]
			continue
		}
		got[i], ok[i] = x.fetchBalances(ctx, v)
	}
	x.d.desk.onLoop(func(det *spread.Detector) {
		for i, v := range venues {
			if ok[i] {
				x.applyBalances(det.Inventory(), v, got[i])
			}
		}
		x.d.desk.release(det, plan)
	})
}

func (x *execution) abandoned(_ execute.TradeID, plan spread.PlanID) {
	x.d.desk.onLoop(func(det *spread.Detector) { x.d.desk.release(det, plan) })
}

// onSend sees a call just before it is made: for an entry place, the
// plan-to-send latency, and the order's times for tick-to-order when its
// client reports the write (paper venues do not: their send is the write).
func (x *execution) onSend(c *execute.Call) {
	if c.Kind != execute.CallPlace || c.Purpose != execute.PurposeEntry || c.Attempt != 0 {
		return
	}
	now := time.Now().UnixNano()
	x.lat.sending(c, now)
	if x.d.venues[c.Req.Venue-1].mode == modePaper {
		x.lat.wrote(c.Req.Venue, c.Req.ClientID, now)
	}
}

// onCall sees a venue call when it returns: acknowledgement latency and
// error rate per venue, for places.
func (x *execution) onCall(c *execute.Call, took time.Duration, err error) {
	if c.Kind != execute.CallPlace || int(c.Req.Venue) >= len(x.health) {
		return
	}
	x.health[c.Req.Venue].observe(took, err)
}

// Balances.

// fetchBalances asks venue v for its balances, counting a failure.
func (x *execution) fetchBalances(ctx context.Context, v exchange.VenueID) ([]exchange.Balance, bool) {
	t := x.trader(v)
	if t == nil {
		return nil, false
	}
	bs, err := t.Balances(ctx)
	if err != nil {
		x.balErrs[v].Add(1)
		if n := x.balErrs[v].Load(); n == 1 || n%10 == 0 {
			x.log.Warn("balances not fetched", "venue", x.d.reg.VenueName(v), "err", err, "failures", n)
		}
		return nil, false
	}
	return bs, true
}

// applyBalances sets the inventory's amounts of venue v to what the venue
// reports (loop goroutine): every asset of the venue's listings, an asset
// it does not report being zero; floored to the inventory's decimals; the
// detector's reservations for plans in flight stay held.
func (x *execution) applyBalances(inv *spread.Inventory, v exchange.VenueID, bs []exchange.Balance) {
	x.mu.Lock()
	listings := x.listings[v]
	x.mu.Unlock()
	seen := map[string]bool{}
	set := func(name string, amt num.Amount) {
		a, ok := inv.Asset(name)
		if !ok {
			return
		}
		units := floorTo(amt, inv.Decimals(a))
		inv.Set(v, a, units-inv.Reserved(v, a))
	}
	for _, b := range bs {
		seen[b.Asset] = true
		set(b.Asset, b.Total)
	}
	for _, l := range listings {
		for _, name := range []string{l.Base, l.Quote} {
			if !seen[name] {
				seen[name] = true
				set(name, num.Amount{})
			}
		}
	}
	x.balanced[v].Store(true)
}

// floorTo converts an amount to an integer of 10^-dec units, rounding
// toward zero (a balance is never overstated).
func floorTo(a num.Amount, dec uint8) int64 {
	if a.Dec <= dec {
		if v, ok := num.Rescale(a.V, a.Dec, dec); ok {
			return v
		}
		return math.MaxInt64
	}
	return a.V / num.Pow10(a.Dec-dec)
}

// balanceLoop fetches venue v's balances at start (retrying with backoff
// until they come), every BalanceRefresh, and when asked (refresh).
func (x *execution) balanceLoop(ctx context.Context, v *venue) error {
	every := x.d.cfg.Execution.BalanceRefresh
	retry := time.Second
	for {
		wait := every
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		bs, ok := x.fetchBalances(fctx, v.id)
		cancel()
		if ok {
			retry = time.Second
			x.d.desk.onLoop(func(det *spread.Detector) { x.applyBalances(det.Inventory(), v.id, bs) })
		} else {
			wait, retry = retry, min(retry*2, 30*time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-x.refresh[v.id]:
			t.Stop()
		}
	}
}

// balancesReady reports the trading venues whose balances have not come
// yet.
func (x *execution) balancesMissing() []string {
	var out []string
	for _, v := range x.d.venues {
		if v.joined() && x.trading(v.id) && !x.balanced[v.id].Load() {
			out = append(out, v.cfg.Name)
		}
	}
	return out
}

// watchExposure keeps the residual exposure (the value of what trades left
// unhedged, closed or still open, at the books' mids) and the open trade
// count current for the risk rules and the metrics, once a second.
func (x *execution) watchExposure(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if svc := x.service(); svc != nil {
			x.openTrades.Store(int64(svc.Stats().Open))
			qctx, cancel := context.WithTimeout(ctx, time.Second)
			exps, err := svc.Exposures(qctx)
			cancel()
			if err == nil {
				x.exposure.Store(math.Float64bits(x.value(exps)))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// value prices exposures at the freshest mid of each instrument (quote
// units; NaN when an instrument with a position has no price).
func (x *execution) value(exps []execute.Exposure) float64 {
	snap := x.d.snapshot()
	total := 0.0
	for _, e := range exps {
		pos := e.Residual + e.Open
		if pos == 0 {
			continue
		}
		a := x.d.reg.Asset(e.Inst)
		mid := math.NaN()
		if snap != nil {
			for _, r := range snap.Rows {
				if r.Inst == e.Inst && !r.Stale && r.Bid > 0 && r.Ask > 0 {
					mid = (num.Float(int64(r.Bid), a.Scale.Px) + num.Float(int64(r.Ask), a.Scale.Px)) / 2
					break
				}
			}
		}
		total += math.Abs(num.Float(int64(pos), a.Scale.Qty)) * mid
	}
	return total
}

// venueHealth is one venue's recent order outcomes, for the risk rules'
// venue error_rate and latency_ms: time-decayed sums over its place calls
// (weights halving every healthHalfLife), so a venue that stops being
// asked (the rules skip it) recovers as time passes instead of staying
// judged by its last call. The error rate is errors ÷ calls, with at least
// healthMinCalls calls in the denominator (one failure in a quiet hour is
// not a 100 % error rate); the latency is the weighted mean of answered
// calls, 0 when their weight has decayed below one half (unknown). The
// histogram is arb_order_ack_seconds.
type venueHealth struct {
	mu             sync.Mutex
	at             int64 // time of the last decay, Unix ns
	calls, errs    float64
	latW, latSumMs float64
	ack            exchange.Hist
	ok, fail       atomic.Uint64
	kinds          [8]atomic.Uint64 // failures by exchange.ErrorKind
}

const (
	healthHalfLife = time.Minute
	healthMinCalls = 10
)

// decay ages the sums to now (mu held).
func (h *venueHealth) decay(now int64) {
	if h.at != 0 && now > h.at {
		f := math.Exp2(-float64(now-h.at) / float64(healthHalfLife))
		h.calls, h.errs, h.latW, h.latSumMs = h.calls*f, h.errs*f, h.latW*f, h.latSumMs*f
	}
	if now > h.at {
		h.at = now
	}
}

func (h *venueHealth) observe(took time.Duration, err error) {
	if err != nil {
		h.fail.Add(1)
		if k := exchange.KindOf(err); int(k) < len(h.kinds) {
			h.kinds[k].Add(1)
		}
	} else {
		h.ok.Add(1)
		h.ack.Observe(int64(took))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.decay(time.Now().UnixNano())
	h.calls++
	if err != nil {
		h.errs++
		return
	}
	h.latW++
	h.latSumMs += float64(took) / 1e6
}

// view returns the error fraction and the acknowledgement latency (ms).
func (h *venueHealth) view() (errRate, latencyMs float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.decay(time.Now().UnixNano())
	errRate = h.errs / max(h.calls, healthMinCalls)
	if h.latW >= 0.5 {
		latencyMs = h.latSumMs / h.latW
	}
	return errRate, latencyMs
}

// status is the executor's part of /api/v1/status.
func (x *execution) status() *httpapi.ExecutionStatus {
	lat := x.lat.report()
	if x.d.probe != nil {
		lat.Handoff = x.d.probe.report()
	}
	st := &httpapi.ExecutionStatus{PlansInFlight: x.d.desk.inflight.Load(), Halted: x.halted.Load(), Latency: lat}
	if e := math.Float64frombits(x.exposure.Load()); !math.IsNaN(e) && !math.IsInf(e, 0) {
		// NaN (no price for a position) cannot be JSON: it is null, and
		// the status still answers.
		e = round2(e)
		st.ResidualExposure = &e
	}
	if svc := x.service(); svc != nil {
		s := svc.Stats()
		st.Ready, st.Halted, st.OpenTrades = s.Ready, s.Halted, s.Open
		st.Opened, st.ClosedFlat, st.ClosedResidual, st.Recovered = s.Executor.Opened, s.Executor.ClosedFlat, s.Executor.ClosedResidual, s.Executor.Recovered
		st.JournalErrors, st.Rebuilds, st.PushesDropped, st.Anomalies = s.JournalErrors, s.Rebuilds, s.PushesDropped, s.Executor.Anomalies
	}
	return st
}

// mode says how the daemon's venues trade: "live", "sim", "paper", or
// "mixed" when they differ (venues without a trading client left out).
func (d *Daemon) mode() string {
	m := ""
	for _, v := range d.venues {
		switch {
		case v.mode == modeNone:
		case m == "":
			m = v.mode
		case m != v.mode:
			return "mixed"
		}
	}
	if m == "" {
		return modeNone
	}
	return m
}

// registerMetrics exports the executor's numbers, read at scrape time.
func (x *execution) registerMetrics(reg *prometheus.Registry) {
	d := x.d
	x.ledger.registerMetrics(reg)
	reg.MustRegister(httpapi.NewCounterFamily("arb_trades_total",
		"Trades closed since start, by result: closed_flat, or closed_residual (a residual or an order never resolved, reported).",
		[]string{"result"}, func(emit httpapi.Emit) {
			emit(float64(x.flat.Load()), execute.StateClosedFlat.String())
			emit(float64(x.residual.Load()), execute.StateClosedResidual.String())
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_trades_open",
		"Trades open now (entry legs out, or being retried or unwound).", nil, func(emit httpapi.Emit) {
			if svc := x.service(); svc != nil {
				emit(float64(svc.Stats().Open))
			}
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_executor_ready",
		"1 while the executor takes plans (journal replayed, start-up reconciliation done, journal healthy).",
		nil, func(emit httpapi.Emit) {
			v := 0.0
			if ok, _ := x.ready(); ok {
				v = 1
			}
			emit(v)
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_residual_exposure_quote",
		"Value in the account currency of what trades left unhedged (closed trades' residuals and open trades' imbalance), at the books' mids.",
		nil, func(emit httpapi.Emit) { emit(math.Float64frombits(x.exposure.Load())) }))
	reg.MustRegister(httpapi.NewHistogramFamily("arb_order_ack_seconds",
		"Order placement round trips answered by the venue (the call to its acknowledgement), per venue.",
		[]string{"venue"}, func(emit httpapi.EmitHistogram) {
			for _, v := range d.venues {
				if x.trading(v.id) {
					emit(httpapi.HistogramFromHist(&x.health[v.id].ack), v.cfg.Name)
				}
			}
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_orders_total",
		"Order placements per venue by result: ok, or the error's kind (rejected, rate_limited, unknown_outcome, ...).",
		[]string{"venue", "result"}, func(emit httpapi.Emit) {
			for _, v := range d.venues {
				if !x.trading(v.id) {
					continue
				}
				h := &x.health[v.id]
				emit(float64(h.ok.Load()), v.cfg.Name, "ok")
				for k := range h.kinds {
					if n := h.kinds[k].Load(); n > 0 {
						emit(float64(n), v.cfg.Name, exchange.ErrorKind(k).String())
					}
				}
			}
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_order_error_rate",
		"Recent fraction of failed order placements per venue (the risk rules' venue error_rate).",
		[]string{"venue"}, func(emit httpapi.Emit) {
			for _, v := range d.venues {
				if x.trading(v.id) {
					e, _ := x.health[v.id].view()
					emit(e, v.cfg.Name)
				}
			}
		}))
	reg.MustRegister(httpapi.NewHistogramFamily("arb_journal_append_seconds",
		"Write-ahead appends of the executor's records to JetStream, from the call to the last acknowledgement.",
		nil, func(emit httpapi.EmitHistogram) { emit(httpapi.HistogramFromHist(&x.jr.AppendLatency)) }))
	reg.MustRegister(httpapi.NewHistogramFamily("arb_plan_to_send_seconds",
		"From a plan's decision to each of its entry orders' calls.", nil, func(emit httpapi.EmitHistogram) {
			emit(httpapi.HistogramFromHist(&x.lat.planH))
		}))
	reg.MustRegister(httpapi.NewHistogramFamily("arb_tick_to_order_seconds",
		"From the socket read of the book frame that made a plan to its first order byte written.", nil, func(emit httpapi.EmitHistogram) {
			emit(httpapi.HistogramFromHist(&x.lat.tickH))
		}))
	reg.MustRegister(httpapi.NewHistogramFamily("arb_plan_to_both_legs_seconds",
		"From a plan's decision until both its entry orders were written.", nil, func(emit httpapi.EmitHistogram) {
			emit(httpapi.HistogramFromHist(&x.lat.bothH))
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_venue_circuit_open",
		"1 while a venue's trading client refuses to send (ban, Retry-After, repeated errors); /api/v1/status says why and until when.",
		[]string{"venue"}, func(emit httpapi.Emit) {
			for _, v := range d.venues {
				if t := x.trader(v.id); t != nil {
					o := 0.0
					if t.Circuit().Open {
						o = 1
					}
					emit(o, v.cfg.Name)
				}
			}
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_venue_rate_limit_used_ratio",
		"Share of each documented request budget a venue's trading client has spent in the budget's current window (the client stops a configured headroom below 1).",
		[]string{"venue", "budget"}, func(emit httpapi.Emit) {
			for _, v := range d.venues {
				if r, ok := x.trader(v.id).(exchange.RateLimitReporter); ok {
					for _, b := range r.RateLimits() {
						if b.Limit > 0 {
							emit(float64(b.Used)/float64(b.Limit), v.cfg.Name, b.Budget)
						}
					}
				}
			}
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_venue_rate_limit_blocked",
		"1 while a venue's Retry-After (HTTP 429) or ban (HTTP 418) blocks every request of its trading client.",
		[]string{"venue"}, func(emit httpapi.Emit) {
			for _, v := range d.venues {
				if r, ok := x.trader(v.id).(exchange.RateLimitReporter); ok {
					b := 0.0
					if rl := r.RateLimits(); len(rl) > 0 && rl[0].BlockedUntil != 0 {
						b = 1
					}
					emit(b, v.cfg.Name)
				}
			}
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_balance_fetch_errors_total",
		"Failed balance fetches per venue (retried with backoff).", []string{"venue"}, func(emit httpapi.Emit) {
			for _, v := range d.venues {
				if x.trading(v.id) {
					emit(float64(x.balErrs[v.id].Load()), v.cfg.Name)
				}
			}
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_executor_journal_errors_total",
		"Journal appends that failed (nothing of them was sent; the executor rebuilt from the journal).", nil, func(emit httpapi.Emit) {
			if svc := x.service(); svc != nil {
				emit(float64(svc.Stats().JournalErrors))
			}
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_executor_pushes_dropped_total",
		"Private-stream events dropped on a full queue (the venue's orders are queried instead).", nil, func(emit httpapi.Emit) {
			if svc := x.service(); svc != nil {
				emit(float64(svc.Stats().PushesDropped))
			}
		}))
}
