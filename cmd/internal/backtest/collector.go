package backtest

import (
	"encoding/csv"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
	"arb/risk"
	"arb/strategy/execute"
	"arb/strategy/spread"
)

// collector accumulates what the report says, in memory bounded by the
// configuration (pairs, venues, hours of the window), not by the number
// of events or trades: trades are written to trades.csv as they close.
type collector struct {
	e   *engine
	csv *csv.Writer

	events, frames, bookEvents   uint64
	plans, approved, clipped     uint64
	rejected, refused            uint64
	trades, flat, residual       uint64
	fills                        uint64
	realized, gross, fees, expct decimal.Decimal
	wins                         uint64
	// today is the realized net of the trades opened on UTC day day
	// (the risk rules' account.realized_pnl_today, as the daemon's
	// ledger sums it).
	today            decimal.Decimal
	day              int64
	peak, maxDD      decimal.Decimal
	equity, drawdown series
	hourly           []decimal.Decimal
	warnings         []string

	pairs   []pairAcc
	pairIdx map[[2]int]int // (buy slot, sell slot) → pair
	peers   [][]peer       // by book slot
	edges   []EdgeBucket
	venues  []venueAcc
	tfees   map[execute.TradeID]decimal.Decimal
}

type peer struct {
	slot          int
	buyHere, sell int // pair indexes: buy on this slot / sell on this slot
}

type pairAcc struct {
	row                           PairRow
	realized, fees, expct, volume decimal.Decimal
	active                        bool
	peak                          float64
	episode                       uint64
	planned                       bool
	traded                        bool
}

type venueAcc struct {
	fills        uint64
	bought, sold decimal.Decimal
	fees         decimal.Decimal
}

func newCollector(e *engine) *collector {
	c := &collector{e: e, pairIdx: map[[2]int]int{}, edges: newEdgeBuckets(), venues: make([]venueAcc, len(e.venues)),
		tfees: map[execute.TradeID]decimal.Decimal{}}
	ls := e.det.Listings()
	c.peers = make([][]peer, e.store.Len())
	for _, a := range ls {
		for _, b := range ls {
			if a.Slot == b.Slot || a.Inst != b.Inst || a.Venue == b.Venue {
				continue
			}
			key := [2]int{a.Slot, b.Slot} // buy on a, sell on b
			if _, ok := c.pairIdx[key]; !ok {
				c.pairIdx[key] = len(c.pairs)
				c.pairs = append(c.pairs, pairAcc{row: PairRow{Symbol: e.reg.Asset(a.Inst).Symbol,
					BuyVenue: e.reg.VenueName(a.Venue), SellVenue: e.reg.VenueName(b.Venue)}})
			}
		}
	}
	for _, a := range ls {
		for _, b := range ls {
			if a.Slot == b.Slot || a.Inst != b.Inst || a.Venue == b.Venue {
				continue
			}
			c.peers[a.Slot] = append(c.peers[a.Slot], peer{slot: b.Slot, buyHere: c.pairIdx[[2]int{a.Slot, b.Slot}], sell: c.pairIdx[[2]int{b.Slot, a.Slot}]})
		}
	}
	return c
}

func (c *collector) warn(format string, args ...any) {
	if len(c.warnings) < 100 {
		c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
	}
}

// usable is a book the edge tracker compares: fresh, two-sided, not too old.
func (c *collector) usable(b *exchange.BookTop, now int64) bool {
	if b == nil || b.Stale() || b.NBids == 0 || b.NAsks == 0 || b.Crossed() {
		return false
	}
	return now-b.RecvTS <= int64(5*time.Second)
}

// book notes one published event: episodes of a positive top-of-book
// gross edge between its book and each peer's, with their peak.
func (c *collector) book(ev *exchange.BookTop, now int64) {
	c.bookEvents++
	slot, ok := c.e.store.Index(ev.Venue, ev.Inst)
	if !ok {
		return
	}
	trading := now >= c.e.tradeFrom
	for _, p := range c.peers[slot] {
		o := c.e.store.At(p.slot)
		up := c.usable(ev, now) && c.usable(o, now)
		var buyHere, sellHere float64 // edges in bps
		if up {
			a, b := float64(ev.Asks[0].Px), float64(o.Bids[0].Px)
			buyHere = (b - a) / a * 1e4
			a, b = float64(o.Asks[0].Px), float64(ev.Bids[0].Px)
			sellHere = (b - a) / a * 1e4
		}
		c.episode(p.buyHere, up && buyHere > 0, buyHere, trading)
		c.episode(p.sell, up && sellHere > 0, sellHere, trading)
	}
}

func (c *collector) episode(i int, on bool, bps float64, trading bool) {
	pa := &c.pairs[i]
	switch {
	case on && !pa.active:
		pa.active, pa.peak, pa.planned, pa.traded = true, bps, false, false
		pa.episode++
		if trading {
			pa.row.Opportunities++
		}
	case on:
		pa.peak = max(pa.peak, bps)
	case pa.active:
		pa.active = false
		if trading {
			c.closeEpisode(pa)
		}
	}
}

func (c *collector) closeEpisode(pa *pairAcc) {
	b := &c.edges[edgeBucket(pa.peak)]
	b.Opportunities++
	if pa.planned {
		b.Planned++
	}
	if pa.traded {
		b.Traded++
	}
}

// plan notes a plan in the trading window; it returns the plan's pair and
// episode.
func (c *collector) plan(p *spread.Plan) (int, uint64) {
	c.plans++
	bs, _ := c.e.store.Index(p.Buy.Venue, p.Buy.Inst)
	ss, _ := c.e.store.Index(p.Sell.Venue, p.Sell.Inst)
	i, ok := c.pairIdx[[2]int{bs, ss}]
	if !ok {
		return -1, 0
	}
	pa := &c.pairs[i]
	pa.row.Plans++
	pa.planned = true
	return i, pa.episode
}

func (c *collector) decision(p *spread.Plan, pair int, d risk.Decision) {
	switch {
	case d.Verdict == risk.Clip:
		c.clipped++
		c.approved++
	case d.Verdict.Pass():
		c.approved++
	default:
		c.rejected++
	}
	if pair < 0 {
		return
	}
	if d.Verdict.Pass() {
		c.pairs[pair].row.Approved++
	} else {
		c.pairs[pair].row.Rejected++
	}
}

// persisted is the executor's Persisted hook: fills move the detector's
// inventory (base, quote and fee on the fill's venue) and are counted.
func (e *engine) persisted(r *execute.Record) {
	if r.Kind != execute.RecFill {
		return
	}
	f := &r.Fill
	c := e.col
	c.fills++
	a := e.reg.Asset(f.Inst)
	sc := a.Scale
	inv := e.det.Inventory()
	notional := dec(int64(f.Px), sc.Px).Mul(dec(int64(f.Qty), sc.Qty))
	base, _ := inv.Asset(a.Base)
	quote, _ := inv.Asset(a.Quote)
	qn := notional.Shift(int32(inv.Decimals(quote))).Round(0).IntPart() // inventory units (exact at the quote's decimals)
	bq, _ := num.Rescale(int64(f.Qty), sc.Qty, inv.Decimals(base))
	va := &c.venues[f.Venue]
	va.fills++
	if f.Side == exchange.Buy {
		inv.Adjust(f.Venue, base, bq)
		inv.Adjust(f.Venue, quote, -qn)
		va.bought = va.bought.Add(notional)
	} else {
		inv.Adjust(f.Venue, base, -bq)
		inv.Adjust(f.Venue, quote, qn)
		va.sold = va.sold.Add(notional)
	}
	if !f.Fee.IsZero() {
		if fa, ok := inv.Asset(f.FeeAsset.String()); ok {
			fv, _ := f.Fee.In(inv.Decimals(fa))
			inv.Adjust(f.Venue, fa, -fv)
		}
		fq := decimal.New(f.Fee.V, -int32(f.Fee.Dec)).Mul(decimal.New(r.FeeRate.V, -int32(r.FeeRate.Dec)))
		va.fees = va.fees.Add(fq)
		c.tfees[r.Trade] = c.tfees[r.Trade].Add(fq)
	}
}

func dec(v int64, d uint8) decimal.Decimal { return decimal.New(v, -int32(d)) }

// closed is the executor's Closed hook.
func (e *engine) closed(t *execute.Trade) {
	c := e.col
	op := t.Opening()
	pi, ok := e.desk.plans[op.Plan]
	if ok {
		delete(e.desk.plans, op.Plan)
		e.det.Inventory().Release(&pi.p)
	}
	e.open--
	for i := 0; i < t.Orders(); i++ { // the venues forget the trade's orders
		if r := t.Order(i); int(r.Venue) < len(e.sims) && e.sims[r.Venue] != nil {
			e.sims[r.Venue].forget(r.ClientID)
		}
	}
	if ok {
		if d := pi.p.TS / int64(24*time.Hour); d == c.day {
			c.today = c.today.Add(t.Realized())
		} else if d > c.day {
			c.day, c.today = d, t.Realized()
		}
	}
	fees := c.tfees[t.ID()]
	delete(c.tfees, t.ID())
	if e.clock < e.tradeFrom {
		return
	}
	v := t.View(e.reg)
	realized := t.Realized()
	expected := dec(int64(op.ExpectedNet), op.Scale.Px)
	c.trades++
	if t.State() == execute.StateClosedFlat {
		c.flat++
	} else {
		c.residual++
	}
	c.realized = c.realized.Add(realized)
	c.fees = c.fees.Add(fees)
	c.gross = c.gross.Add(realized).Add(fees)
	c.expct = c.expct.Add(expected)
	if realized.IsPositive() {
		c.wins++
	}
	if c.realized.GreaterThan(c.peak) {
		c.peak = c.realized
	}
	dd := c.peak.Sub(c.realized)
	if dd.GreaterThan(c.maxDD) {
		c.maxDD = dd
	}
	ms := e.clock / 1e6
	eq, _ := c.realized.Float64()
	ddf, _ := dd.Float64()
	c.equity.add(Point{ms, eq})
	c.drawdown.add(Point{ms, -ddf})
	h := int((e.clock - e.tradeFrom) / int64(time.Hour))
	for len(c.hourly) <= h {
		c.hourly = append(c.hourly, decimal.Zero)
	}
	c.hourly[h] = c.hourly[h].Add(realized)
	if ok && pi.pair >= 0 {
		pa := &c.pairs[pi.pair]
		pa.row.Trades++
		if realized.IsPositive() {
			pa.row.Wins++
		}
		pa.realized = pa.realized.Add(realized)
		pa.fees = pa.fees.Add(fees)
		pa.expct = pa.expct.Add(expected)
		pa.volume = pa.volume.Add(dec(int64(op.Qty), op.Scale.Qty))
		if pa.episode == pi.episode {
			pa.traded = true
		}
	}
	if c.csv != nil {
		row := tradeRow{id: v.ID, plan: v.PlanID, symbol: v.Symbol, buy: v.BuyVenue, sell: v.SellVenue, state: v.State, qty: v.Qty,
			opened: v.OpenedAt.Format(time.RFC3339Nano), expected: v.ExpectedNetQuote, realized: realized.String(),
			fees: fees.String(), residual: v.ResidualBase, edgeBps: pi.p.NetBps, orders: len(v.Legs)}
		if v.ClosedAt != nil {
			row.closed = v.ClosedAt.Format(time.RFC3339Nano)
		}
		for _, l := range v.Legs {
			if l.Purpose == "entry" && l.Side == "buy" {
				row.buyAvg = l.AvgPrice
			}
			if l.Purpose == "entry" && l.Side == "sell" {
				row.sellAvg = l.AvgPrice
			}
		}
		if err := writeTrade(c.csv, &row); err != nil {
			c.warn("trades.csv: %v", err)
		}
	}
}

// abandoned is the executor's Abandoned hook (a journal failure; the
// backtest's journal never fails, so this is a broken invariant).
func (e *engine) abandoned(id execute.TradeID, plan spread.PlanID) {
	if pi, ok := e.desk.plans[plan]; ok {
		delete(e.desk.plans, plan)
		e.det.Inventory().Release(&pi.p)
	}
	e.open--
	e.col.warn("trade %s abandoned", id)
}

// report assembles the Report.
func (e *engine) report(pre *preamble) *Report {
	c := e.col
	r := &Report{Version: ReportVersion, Params: append([]Param{}, e.opt.Params...),
		Events: c.events, Frames: c.frames, BookEvents: c.bookEvents, Plans: c.plans, Approved: c.approved, Clipped: c.clipped,
		Rejected: c.rejected, Refused: c.refused, Trades: c.trades, ClosedFlat: c.flat, Residual: c.residual, Fills: c.fills,
		RealizedPnL: c.realized.String(), GrossPnL: c.gross.String(), Fees: c.fees.String(), ExpectedNet: c.expct.String(),
		MaxDrawdown: c.maxDD.String(), Warnings: append([]string{}, c.warnings...)}
	r.Recording = RecordingInfo{ID: pre.meta.Recording, From: rfc(pre.first), To: rfc(pre.last), TradeFrom: rfc(e.tradeFrom), TradeTo: rfc(e.tradeTo)}
	for _, f := range e.opt.Data {
		r.Recording.Files = append(r.Recording.Files, filepath.Base(f))
	}
	if c.trades > 0 {
		r.WinRate = round4(float64(c.wins) / float64(c.trades))
	}
	if !c.expct.IsZero() {
		r.CaptureRatio = round4(c.realized.Div(c.expct).InexactFloat64())
	}
	hours := int((e.tradeTo - e.tradeFrom + int64(time.Hour) - 1) / int64(time.Hour))
	r.Hours = max(hours, len(c.hourly))
	xs := make([]float64, r.Hours)
	for i := range c.hourly {
		xs[i] = c.hourly[i].InexactFloat64()
	}
	r.SharpeHourly = round4(sharpe(xs))
	r.SharpeAnnualized = round4(r.SharpeHourly * 93.59487165438072) // √8760
	for i := range c.pairs {
		pa := &c.pairs[i]
		if pa.active && e.clock >= e.tradeFrom {
			pa.active = false
			c.closeEpisode(pa)
		}
		row := pa.row
		row.RealizedPnL, row.Fees, row.ExpectedNet, row.Volume = pa.realized.String(), pa.fees.String(), pa.expct.String(), pa.volume.String()
		if row.Trades > 0 {
			row.WinRate = round4(float64(row.Wins) / float64(row.Trades))
		}
		r.Pairs = append(r.Pairs, row)
	}
	sort.SliceStable(r.Pairs, func(i, j int) bool {
		a, b := r.Pairs[i], r.Pairs[j]
		if a.Symbol != b.Symbol {
			return a.Symbol < b.Symbol
		}
		if a.BuyVenue != b.BuyVenue {
			return a.BuyVenue < b.BuyVenue
		}
		return a.SellVenue < b.SellVenue
	})
	for i := 1; i < len(e.venues); i++ {
		v, s, va := e.venues[i], e.sims[i], &c.venues[i]
		st := v.stats()
		var rej uint64
		for k := 0; k < exchange.NumRejectReasons; k++ {
			rej += st.Rejects(exchange.RejectReason(k))
		}
		r.Venues = append(r.Venues, VenueRow{Venue: v.name, Orders: s.Orders, Fills: va.fills, Rejected: s.Rejected, Unfilled: s.Unfilled,
			NoBook: s.NoBook, Bought: va.bought.String(), Sold: va.sold.String(), Fees: va.fees.String(),
			Messages: st.Messages.Load(), FeedReject: rej, Resyncs: st.Resyncs.Load(), Gaps: st.Gaps.Load(),
			Reconnects: st.Reconnects.Load(), Orphans: v.orphans()})
		r.Orders += s.Orders
	}
	e.risk.Counters(func(rule, action string, n uint64) {
		if action != "pass" && n > 0 {
			r.Rejections = append(r.Rejections, RuleRow{Rule: rule, Action: action, Count: n})
		}
	})
	sort.Slice(r.Rejections, func(i, j int) bool {
		a, b := r.Rejections[i], r.Rejections[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Action < b.Action
	})
	r.EdgeBuckets = c.edges
	for o := spread.Outcome(1); int(o) < spread.NumOutcomes; o++ {
		var n uint64
		for _, p := range e.det.Pairs() {
			n += e.det.PairStats(p.ID).Outcome(o)
		}
		r.Outcomes = append(r.Outcomes, Count{Name: o.String(), Count: n})
	}
	r.Equity = append([]Point{{T: e.tradeFrom / 1e6}}, c.equity.pts...)
	r.Drawdown = append([]Point{{T: e.tradeFrom / 1e6}}, c.drawdown.pts...)
	return r
}

// realizedToday is account.realized_pnl_today at now.
func (c *collector) realizedToday(now int64) float64 {
	if now/int64(24*time.Hour) != c.day {
		return 0
	}
	f, _ := c.today.Float64()
	return f
}
