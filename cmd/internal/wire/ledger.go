package wire

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/config"
	"arb/cmd/internal/httpapi"
	"arb/cmd/internal/ledgerfeed"
	"arb/exchange"
	"arb/exchange/num"
	"arb/ledger"
	"arb/ledger/pgstore"
	"arb/strategy/execute"
)

// ledgerLink feeds the double-entry ledger from the executor and answers
// /api/v1/pnl, /api/v1/positions' filled amounts and the risk rules'
// realized_pnl_today from it.
//
// The executor's journal (arb.exec.>) is the truth about what was
// executed; the ledger's events (arb.ledger.fill.<venue>,
// arb.ledger.trade: package ledger's wire form) are derived from it. Every
// fill and trade state the executor persists is queued and published with
// its deduplication id, retried until JetStream stores it. A daemon that
// crashed between a journal append and the ledger publish, or a queue that
// overflowed, loses nothing: once the ledger has caught up with the stream
// (at start, and again after an overflow), the journal is read and every
// fill the ledger lacks, and every closed trade it does not hold closed, is
// published (backfill). The ledger applies an event at most once (its fill
// ids and trade states are its idempotency keys), so publishing twice is
// harmless.
//
// The ledger itself is ledgerfeed's: in PostgreSQL with a DSN
// (postgres.dsn or ARB_PG_DSN; the store is opened with retries, trading
// does not wait for it), else in memory, rebuilt from the stream at start.
type ledgerLink struct {
	d     *Daemon
	log   *slog.Logger
	jr    *bus.Journal
	codec *execute.Codec
	acct  string
	equiv map[string]bool

	feed    atomic.Pointer[ledgerfeed.Feed]
	ready   atomic.Bool // caught up with the stream and backfilled once
	q       chan ledgerEvent
	resync  chan struct{}
	today   atomic.Uint64 // float64 bits: realized net of trades opened today (account currency)
	pub     atomic.Uint64 // events published
	pubErrs atomic.Uint64 // publish attempts that failed (retried)
	dropped atomic.Uint64 // events not queued (queue full): backfilled
	filled  atomic.Uint64 // events published by backfills
	pending atomic.Int64  // events queued or being published

	mu    sync.Mutex
	opens map[execute.TradeID]execute.Opening // open trades' openings, for their state events
}

// ledgerQueue bounds the ledger events waiting to be published.
const ledgerQueue = 8192

type ledgerEvent struct {
	fill  *ledger.Fill
	trade *ledger.Trade
}

func newLedgerLink(d *Daemon, jr *bus.Journal) *ledgerLink {
	acct := d.reg.Assets[1].Quote
	return &ledgerLink{d: d, log: d.log.With("component", "ledger"), jr: jr, codec: execute.NewCodec(d.reg),
		acct: acct, equiv: quoteEquivalents(d.cfg, acct),
		q: make(chan ledgerEvent, ledgerQueue), resync: make(chan struct{}, 1), opens: map[execute.TradeID]execute.Opening{}}
}

// start runs the ledger feed (with its store when a DSN is set), the
// publisher, the backfill and the day's PnL for risk.
func (lk *ledgerLink) start(ctx context.Context, run func(string, func(context.Context) error)) {
	run("ledger publisher", lk.publish)
	run("ledger", func(ctx context.Context) error {
		var store *pgstore.Store
		dsn, err := lk.d.cfg.Postgres.EffectiveDSN()
		if err != nil {
			return err
		}
		for wait := time.Second; dsn != "" && store == nil; wait = min(2*wait, 30*time.Second) {
			if store, err = pgstore.Open(ctx, dsn); err == nil {
				break
			}
			lk.log.Error("ledger store (PostgreSQL) not reachable; retrying (trading goes on, events wait in JetStream)", "err", err)
			if !sleepCtx(ctx, wait) {
				return nil
			}
		}
		if store != nil {
			defer store.Close()
		}
		feed, err := ledgerfeed.New(lk.d.bus.JetStream(), store, ledgerFeedConfig(lk.d.cfg), lk.d.log)
		if err != nil {
			return err
		}
		lk.feed.Store(feed)
		fctx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan error, 1)
		go func() { done <- feed.Run(fctx) }()
		select {
		case <-feed.Ready():
		case err := <-done:
			return canceledNil(err)
		case <-ctx.Done():
			return nil
		}
		lk.backfillRetry(ctx)
		lk.ready.Store(true)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			lk.updateToday()
			select {
			case <-ctx.Done():
				return nil
			case err := <-done:
				return canceledNil(err)
			case <-lk.resync:
				lk.backfillRetry(ctx)
			case <-t.C:
			}
		}
	})
}

func canceledNil(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// record is called for every record the executor persisted (its
// goroutine): fills and trade states become ledger events. A closed
// trade's event is published by closed, with its legs.
func (lk *ledgerLink) record(rec *execute.Record) {
	switch rec.Kind {
	case execute.RecFill:
		if f, ok := lk.fill(rec); ok {
			lk.enqueue(ledgerEvent{fill: &f})
		}
	case execute.RecOpen:
		if rec.Open != nil {
			lk.mu.Lock()
			lk.opens[rec.Trade] = *rec.Open
			lk.mu.Unlock()
			lk.enqueue(ledgerEvent{trade: lk.tradeOf(rec.Trade, rec.Open, execute.StateOpen, rec.TS)})
		}
	case execute.RecTransition:
		if rec.To.Closed() {
			return
		}
		lk.mu.Lock()
		op, ok := lk.opens[rec.Trade]
		lk.mu.Unlock()
		if ok {
			lk.enqueue(ledgerEvent{trade: lk.tradeOf(rec.Trade, &op, rec.To, 0)})
		}
	}
}

// closed publishes a closed trade as the Trades contract shows it.
func (lk *ledgerLink) closed(t *execute.Trade) {
	lk.mu.Lock()
	delete(lk.opens, t.ID())
	lk.mu.Unlock()
	if tr, ok := lk.tradeView(t.View(lk.d.reg)); ok {
		lk.enqueue(ledgerEvent{trade: &tr})
	}
}

func (lk *ledgerLink) enqueue(ev ledgerEvent) {
	lk.pending.Add(1)
	select {
	case lk.q <- ev:
	default:
		lk.pending.Add(-1)
		// The publisher is behind (NATS slow or down): the backfill
		// publishes what the ledger lacks from the journal.
		lk.dropped.Add(1)
		select {
		case lk.resync <- struct{}{}:
		default:
		}
	}
}

// publish stores queued events in JetStream, each retried until stored.
func (lk *ledgerLink) publish(ctx context.Context) error {
	for {
		var ev ledgerEvent
		select {
		case <-ctx.Done():
			return nil
		case ev = <-lk.q:
		}
		done := lk.publishRetry(ctx, ev)
		lk.pending.Add(-1)
		if !done {
			return nil
		}
	}
}

// publishRetry stores ev, retried until it is stored; false when ctx
// ended first.
func (lk *ledgerLink) publishRetry(ctx context.Context, ev ledgerEvent) bool {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := lk.publishOne(ctx, ev)
		if err == nil {
			lk.pub.Add(1)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if errors.Is(err, ledger.ErrBadEvent) {
			lk.log.Error("ledger event refused before publishing (a bug: not retried)", "err", err)
			return true
		}
		lk.pubErrs.Add(1)
		if n := lk.pubErrs.Load(); n == 1 || n%100 == 0 {
			lk.log.Warn("ledger event not stored; retrying", "err", err, "failures", n)
		}
		if !sleepCtx(ctx, wait) {
			return false
		}
	}
}

func (lk *ledgerLink) publishOne(ctx context.Context, ev ledgerEvent) error {
	if ev.fill != nil {
		return ledgerfeed.PublishFill(ctx, lk.d.bus, "arb", *ev.fill)
	}
	return ledgerfeed.PublishTrade(ctx, lk.d.bus, "arb", *ev.trade)
}

// fill turns a fill record into the ledger's fill.
func (lk *ledgerLink) fill(rec *execute.Record) (ledger.Fill, bool) {
	f := &rec.Fill
	a := lk.d.reg.Asset(f.Inst)
	if a == nil || f.Qty <= 0 {
		return ledger.Fill{}, false
	}
	out := ledger.Fill{Venue: lk.d.reg.VenueName(f.Venue), VenueFillID: f.TradeID.String(), ClientOrderID: f.ClientID.String(),
		Symbol: a.Symbol, Base: a.Base, Quote: a.Quote, Side: f.Side.String(),
		Price: decimal.New(int64(f.Px), -int32(a.Scale.Px)), Qty: decimal.New(int64(f.Qty), -int32(a.Scale.Qty)),
		Fee: decimal.New(f.Fee.V, -int32(f.Fee.Dec)), FeeAsset: f.FeeAsset.String(), TS: time.Unix(0, f.TS).UTC()}
	if rec.Trade != 0 {
		out.TradeID = rec.Trade.String()
	}
	if out.TS.Unix() <= 0 {
		out.TS = time.Unix(0, rec.TS).UTC()
	}
	// A rate for a fee in a third asset (the ledger derives base and quote
	// rates itself and checks any given one against them).
	if out.FeeAsset != "" && out.FeeAsset != out.Base && out.FeeAsset != out.Quote && !rec.FeeRate.IsZero() {
		out.FeeQuoteRate = decimal.New(rec.FeeRate.V, -int32(rec.FeeRate.Dec))
	}
	if out.Fee.IsZero() {
		out.FeeAsset, out.FeeQuoteRate = "", decimal.Decimal{}
	}
	return out, true
}

// ledgerFeedConfig is the ledger feed's config for cfg: named daemons
// sharing a server each keep their own durable consumer (the feed deletes
// and recreates it at its store's position: a shared one would be fought
// over); an unnamed one keeps the default.
func ledgerFeedConfig(cfg *config.Config) ledgerfeed.Config {
	var lc ledgerfeed.Config
	if id := cfg.Fleet.Instance; id != "" {
		lc.Durable = "arb-ledger-" + id
	}
	return lc
}

// tradeOf is a trade's ledger event from its opening (no legs: they are
// published with the closed state).
func (lk *ledgerLink) tradeOf(id execute.TradeID, op *execute.Opening, state execute.State, openedAt int64) *ledger.Trade {
	sc := op.Scale
	t := &ledger.Trade{ID: id.String(), PlanID: op.Plan.String(), Symbol: op.Symbol,
		BuyVenue: lk.d.reg.VenueName(op.Legs[execute.LegBuy].Venue), SellVenue: lk.d.reg.VenueName(op.Legs[execute.LegSell].Venue),
		State: state.String(), Qty: decimal.New(int64(op.Qty), -int32(sc.Qty)),
		ExpectedNetQuote: decimal.New(int64(op.ExpectedNet), -int32(sc.Px)), OpenedAt: time.Unix(0, openedAt).UTC()}
	if openedAt == 0 {
		t.OpenedAt = time.Unix(0, op.PlanTS).UTC()
	}
	return t
}

// tradeView converts the executor's view (the Trades contract) into the
// ledger's trade event.
func (lk *ledgerLink) tradeView(v execute.TradeView) (ledger.Trade, bool) {
	dec := func(s string) decimal.Decimal {
		if s == "" {
			return decimal.Decimal{}
		}
		d, _ := decimal.NewFromString(s)
		return d
	}
	t := ledger.Trade{ID: v.ID, PlanID: v.PlanID, Symbol: v.Symbol, BuyVenue: v.BuyVenue, SellVenue: v.SellVenue,
		State: v.State, Qty: dec(v.Qty), ExpectedNetQuote: dec(v.ExpectedNetQuote), RealizedNetQuote: dec(v.RealizedNetQuote),
		ResidualBase: dec(v.ResidualBase), OpenedAt: v.OpenedAt, ClosedAt: v.ClosedAt}
	for _, l := range v.Legs {
		leg := ledger.Leg{Venue: l.Venue, Side: l.Side, Purpose: l.Purpose, ClientOrderID: l.ClientOrderID,
			VenueOrderID: l.VenueOrderID, Price: dec(l.Price), Qty: dec(l.Qty), FilledQty: dec(l.FilledQty),
			AvgPrice: dec(l.AvgPrice), Fee: dec(l.Fee), FeeAsset: l.FeeAsset, Status: l.Status}
		// An order's cost without a fill (gas of a reverted swap) is the
		// leg's gas; a fill's gas comes with the fill as its fee.
		if gas, q := dec(l.Gas), dec(l.GasQuote); gas.IsPositive() {
			if q.IsPositive() || l.GasAsset == t.Quote() {
				leg.Gas, leg.GasAsset, leg.GasQuote = gas, l.GasAsset, q
			} else {
				lk.log.Error("a leg's gas has no rate into the quote: not booked in the ledger", "trade", v.ID,
					"client_order_id", l.ClientOrderID, "gas", l.Gas, "asset", l.GasAsset)
			}
		}
		t.Legs = append(t.Legs, leg)
	}
	if err := t.Validate(); err != nil {
		lk.log.Error("trade not published to the ledger: it does not validate (a bug)", "trade", v.ID, "err", err)
		return t, false
	}
	return t, true
}

// backfillRetry runs backfill until it succeeds or ctx ends.
func (lk *ledgerLink) backfillRetry(ctx context.Context) {
	for wait := time.Second; ctx.Err() == nil; wait = min(2*wait, 30*time.Second) {
		err := lk.backfill(ctx)
		if err == nil {
			return
		}
		lk.log.Error("ledger backfill from the journal failed; retrying", "err", err)
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// backfill reads the journal and publishes every fill the ledger lacks and
// every closed trade it does not hold closed (see ledgerLink).
func (lk *ledgerLink) backfill(ctx context.Context) error {
	feed := lk.feed.Load()
	type pending struct {
		op       execute.Opening
		agg      tradeAgg
		closed   bool
		state    execute.State
		residual int64
		at       int64
		intents  map[exchange.ID]*execute.Record // by client order id
		legs     []ledger.Leg                    // legs with gas of their own (a reverted swap)
	}
	trades := map[execute.TradeID]*pending{}
	var fills []ledger.Fill
	err := lk.jr.Replay(ctx, func(data []byte) error {
		rec, err := lk.codec.Unmarshal(data)
		if err != nil {
			return err
		}
		switch rec.Kind {
		case execute.RecOpen:
			id := rec.Trade.String()
			closedInLedger := false
			feed.View(func(l *ledger.Ledger) {
				r := l.Trade(id)
				closedInLedger = r != nil && r.Seen() && ledger.Closed(r.Trade.State)
			})
			if !closedInLedger && rec.Open != nil {
				trades[rec.Trade] = &pending{op: *rec.Open, intents: map[exchange.ID]*execute.Record{}}
			}
		case execute.RecIntent:
			if p := trades[rec.Trade]; p != nil {
				r := rec
				p.intents[rec.Req.ClientID] = &r
			}
		case execute.RecState:
			// An order's cost without a fill (gas of a reverted swap) is
			// booked as its leg's gas, as the closed trade's view does.
			p := trades[rec.Trade]
			if p == nil || rec.State.Fee.IsZero() {
				return nil
			}
			if rec.FeeRate.IsZero() {
				lk.log.Error("a leg's gas has no rate into the quote: not booked in the ledger", "trade", rec.Trade.String(),
					"client_order_id", rec.State.ClientID.String(), "gas", rec.State.Fee.String(), "asset", rec.State.FeeAsset.String())
				return nil
			}
			if in := p.intents[rec.State.ClientID]; in != nil && !hasLeg(p.legs, rec.State.ClientID.String()) {
				p.legs = append(p.legs, lk.gasLeg(in, &rec, p.op.Scale))
				p.agg.feeQ = p.agg.feeQ.Add(p.legs[len(p.legs)-1].GasQuote)
			}
		case execute.RecFill:
			f, ok := lk.fill(&rec)
			if !ok {
				return nil
			}
			if p := trades[rec.Trade]; p != nil {
				p.agg.add(&rec, p.op.Scale)
			}
			have := false
			feed.View(func(l *ledger.Ledger) { have = l.Transaction(ledger.FillTxID(f.Venue, f.VenueFillID)) != nil })
			if !have {
				fills = append(fills, f)
			}
		case execute.RecTransition:
			if p := trades[rec.Trade]; p != nil && rec.To.Closed() {
				p.closed, p.state, p.residual, p.at = true, rec.To, int64(rec.Residual), rec.TS
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	n := 0
	for i := range fills {
		if err := ledgerfeed.PublishFill(ctx, lk.d.bus, "arb", fills[i]); err != nil {
			return err
		}
		n++
	}
	for id, p := range trades {
		if !p.closed {
			continue
		}
		t := lk.tradeOf(id, &p.op, p.state, 0)
		closedAt := time.Unix(0, p.at).UTC()
		t.ClosedAt = &closedAt
		t.ResidualBase = decimal.New(p.residual, -int32(p.op.Scale.Qty))
		t.RealizedNetQuote = p.agg.realized(p.op.Scale)
		t.Legs = p.legs
		if err := ledgerfeed.PublishTrade(ctx, lk.d.bus, "arb", *t); err != nil {
			return err
		}
		n++
	}
	if n > 0 {
		lk.filled.Add(uint64(n))
		lk.log.Info("ledger backfilled from the journal", "events", n)
	}
	return nil
}

// updateToday recomputes the realized net of today's trades for risk.
func (lk *ledgerLink) updateToday() {
	feed := lk.feed.Load()
	if feed == nil {
		return
	}
	midnight := time.Now().UTC().Truncate(24 * time.Hour)
	net := 0.0
	feed.View(func(l *ledger.Ledger) {
		for _, t := range l.PnL(ledger.Filter{Since: midnight}).Totals {
			if lk.equiv[t.Quote] {
				f, _ := t.Net.Float64()
				net += f
			}
		}
	})
	lk.today.Store(math.Float64bits(net))
}

// realizedToday is the risk rules' account.realized_pnl_today.
func (lk *ledgerLink) realizedToday() float64 { return math.Float64frombits(lk.today.Load()) }

// report is /api/v1/pnl: the ledger's PnL of every trade, summed over the
// account currency and its equivalents.
func (lk *ledgerLink) report() (httpapi.PnLReport, bool) {
	feed := lk.feed.Load()
	if feed == nil || !lk.ready.Load() {
		return httpapi.PnLReport{}, false
	}
	var rep ledger.PnLReport
	feed.View(func(l *ledger.Ledger) { rep = l.PnL(ledger.Filter{}) })
	out := httpapi.PnLReport{Currency: lk.acct, AsOf: time.Now().UTC()}
	var gross, fees, net decimal.Decimal
	for _, t := range rep.Totals {
		if lk.equiv[t.Quote] {
			gross, fees, net = gross.Add(t.Gross), fees.Add(t.Fees).Add(t.Gas), net.Add(t.Net)
			out.Trades += uint64(t.Trades)
		}
	}
	out.Realized, out.Fees, out.Net = gross.String(), fees.String(), net.String()
	for _, p := range rep.Pairs {
		_, q, _ := strings.Cut(p.Symbol, "-")
		if !lk.equiv[q] {
			continue
		}
		out.Pairs = append(out.Pairs, httpapi.PairPnL{Symbol: p.Symbol, BuyVenue: p.BuyVenue, SellVenue: p.SellVenue,
			Trades: uint64(p.Trades), Realized: p.Gross.String(), Fees: p.Fees.Add(p.Gas).String()})
	}
	return out, true
}

// holdings returns the ledger's holdings per venue and asset (what arb's
// fills moved), or nil before the ledger is ready.
func (lk *ledgerLink) holdings() map[posKey]decimal.Decimal {
	feed := lk.feed.Load()
	if feed == nil || !lk.ready.Load() {
		return nil
	}
	out := map[posKey]decimal.Decimal{}
	feed.View(func(l *ledger.Ledger) {
		for _, b := range l.Balances(ledger.Filter{}) {
			out[posKey{b.Venue, b.Asset}] = b.Balance
		}
	})
	return out
}

type posKey struct{ venue, asset string }

// hasLeg reports whether legs hold the order with this client id.
func hasLeg(legs []ledger.Leg, clientID string) bool {
	for i := range legs {
		if legs[i].ClientOrderID == clientID {
			return true
		}
	}
	return false
}

// gasLeg is the ledger leg of an order whose state carries a cost without
// a fill (in: its intent record; st: the state record), valued with the
// rate recorded with the state.
func (lk *ledgerLink) gasLeg(in, st *execute.Record, sc num.Scale) ledger.Leg {
	q, s := &in.Req, &st.State
	gas := decimal.New(s.Fee.V, -int32(s.Fee.Dec))
	leg := ledger.Leg{Venue: lk.d.reg.VenueName(q.Venue), Side: q.Side.String(), Purpose: in.Purpose.String(),
		ClientOrderID: q.ClientID.String(), VenueOrderID: s.VenueOrderID.String(),
		Price: decimal.New(int64(q.Px), -int32(sc.Px)), Qty: decimal.New(int64(q.Qty), -int32(sc.Qty)),
		FilledQty: decimal.New(int64(s.FilledQty), -int32(sc.Qty)), Status: s.Status.String(),
		Fee: gas, FeeAsset: s.FeeAsset.String(), Gas: gas, GasAsset: s.FeeAsset.String(),
		GasQuote: gas.Mul(decimal.New(st.FeeRate.V, -int32(st.FeeRate.Dec)))}
	return leg
}

// tradeAgg sums a trade's fills for its realized net (as
// execute.Trade.Realized computes it).
type tradeAgg struct {
	buyN, sellN, bought, sold, feeQ decimal.Decimal
}

func (a *tradeAgg) add(rec *execute.Record, sc num.Scale) {
	f := &rec.Fill
	q := decimal.New(int64(f.Qty), -int32(sc.Qty))
	n := decimal.New(int64(f.Px), -int32(sc.Px)).Mul(q)
	if f.Side == exchange.Buy {
		a.buyN, a.bought = a.buyN.Add(n), a.bought.Add(q)
	} else {
		a.sellN, a.sold = a.sellN.Add(n), a.sold.Add(q)
	}
	a.feeQ = a.feeQ.Add(decimal.New(f.Fee.V, -int32(f.Fee.Dec)).Mul(decimal.New(rec.FeeRate.V, -int32(rec.FeeRate.Dec))))
}

func (a *tradeAgg) realized(sc num.Scale) decimal.Decimal {
	r := a.sellN.Sub(a.buyN).Sub(a.feeQ)
	places := int32(sc.Px) + int32(sc.Qty)
	switch c := a.bought.Cmp(a.sold); {
	case c > 0:
		r = r.Add(a.buyN.Mul(a.bought.Sub(a.sold)).Div(a.bought).Truncate(places))
	case c < 0:
		owed := a.sellN.Mul(a.sold.Sub(a.bought)).Div(a.sold)
		if !owed.Equal(owed.Truncate(places)) {
			owed = owed.Truncate(places).Add(decimal.New(1, -places))
		}
		r = r.Sub(owed)
	}
	return r
}

// registerMetrics exports the ledger's lag (issue 13's
// arb_ledger_lag_events): the stream's events the ledger has not committed
// yet, growing while PostgreSQL is down. Absent until the feed runs.
func (lk *ledgerLink) registerMetrics(reg *prometheus.Registry) {
	reg.MustRegister(httpapi.NewGaugeFamily("arb_ledger_lag_events",
		"Events in the JetStream log the ledger has not committed yet (pending for its consumer plus those held while PostgreSQL is down).",
		nil, func(emit httpapi.Emit) {
			if f := lk.feed.Load(); f != nil {
				emit(float64(f.Lag()))
			}
		}))
}
