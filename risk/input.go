package risk

import (
	"math"

	"arb/exchange"
)

// Input is everything a rule can read about one plan: the plan itself, its two
// legs, the account, the clock and per-venue health. The wiring fills it from
// the detector's plan and the portfolio (risk does not import strategy or
// ledger); Evaluate then computes the derived fields (marked "derived" below)
// itself, so a rule never sees a derived value that disagrees with its inputs,
// and recomputes them after a clip.
//
// Numbers are float64 where they are amounts or ratios (converted by the
// caller from exchange/num integers with num.Float; rules only compare and
// take ratios of them) and int64 where they are counts or ids. Units are in
// the names: _bps basis points, _pct percent, _share a fraction of 1, _ms
// milliseconds; amounts are in the instrument's base or quote asset, and
// account amounts in the account currency (the quote, e.g. USDT).
//
// Rules see the fields under the names in the expr tags (plan.qty,
// buy.book_age_ms, account.drawdown_pct, now.hour, ...). Fields tagged "-"
// are not visible by name.
type Input struct {
	Plan    PlanView    `expr:"plan"`
	Buy     LegView     `expr:"buy"`
	Sell    LegView     `expr:"sell"`
	Account AccountView `expr:"account"`
	Now     ClockView   `expr:"now"`

	// Venues holds per-venue health indexed by exchange.VenueID. Rules reach
	// an entry with venue("name"), resolved to the index when the rules load.
	Venues [exchange.MaxVenues]VenueView `expr:"-"`

	// UnixNano is the decision time from the injected clock; Evaluate derives
	// Now from it (UTC).
	UnixNano int64 `expr:"-"`
}

// PlanView is the detector's dual-leg plan: buy Qty on Buy.Venue, sell it on
// Sell.Venue.
type PlanView struct {
	Instrument int64   `expr:"instrument"` // exchange.InstrumentID
	Symbol     string  `expr:"symbol"`     // canonical, e.g. "BTC-USDT"
	Base       string  `expr:"base"`       // "BTC"
	Quote      string  `expr:"quote"`      // "USDT"
	Qty        float64 `expr:"qty"`        // base units; a clip lowers it
	EdgeBps    float64 `expr:"edge_bps"`   // expected net edge after fees, slippage and gas
	Seq        int64   `expr:"seq"`        // the detector's plan sequence number

	Notional  float64 `expr:"notional"`   // derived: qty × buy.price (quote)
	NetQuote  float64 `expr:"net_quote"`  // derived: edge_bps/1e4 × notional (quote)
	SpreadBps float64 `expr:"spread_bps"` // derived: (sell.price − buy.price)/buy.price × 1e4; NaN if buy.price ≤ 0
}

// LegView is one leg of the plan and the state of its venue.
type LegView struct {
	Venue        string  `expr:"venue"`         // configured venue name
	VenueID      int64   `expr:"venue_id"`      // exchange.VenueID
	Price        float64 `expr:"price"`         // limit price, quote per base
	FeeBps       float64 `expr:"fee_bps"`       // taker fee
	BookAgeMs    float64 `expr:"book_age_ms"`   // age of the book the plan was priced on
	Seq          int64   `expr:"seq"`           // the book's venue sequence number (0 = unknown)
	Stale        bool    `expr:"stale"`         // the book is marked stale (resyncing)
	BaseBalance  float64 `expr:"base_balance"`  // free base on this venue
	QuoteBalance float64 `expr:"quote_balance"` // free quote on this venue
	BasePosition float64 `expr:"base_position"` // total base held on this venue
	ErrorRate    float64 `expr:"error_rate"`    // recent order error fraction, 0..1
	LatencyMs    float64 `expr:"latency_ms"`    // recent order round-trip latency

	// Derived: the same after the plan fills (buy leg: +qty base and
	// −notional×(1+fee) quote; sell leg: −qty base and +qty×price×(1−fee)
	// quote).
	BasePositionAfter float64 `expr:"base_position_after"`
	BaseBalanceAfter  float64 `expr:"base_balance_after"`
	QuoteBalanceAfter float64 `expr:"quote_balance_after"`
}

// AccountView is the account across venues, in the account currency.
type AccountView struct {
	Equity           float64 `expr:"equity"`             // mark-to-market equity now
	StartEquity      float64 `expr:"start_equity"`       // at the start of the UTC day
	PeakEquity       float64 `expr:"peak_equity"`        // the day's peak so far (see DayTracker)
	RealizedPnlToday float64 `expr:"realized_pnl_today"` // since the start of the UTC day
	UnrealizedPnl    float64 `expr:"unrealized_pnl"`     // open inventory at mark
	OpenTrades       int64   `expr:"open_trades"`        // plans sent and not finished
	ResidualExposure float64 `expr:"residual_exposure"`  // value of unhedged inventory left by one-legged fills
	BaseValue        float64 `expr:"base_value"`         // value of plan.base held across all venues

	PnlToday       float64 `expr:"pnl_today"`        // derived: realized_pnl_today + unrealized_pnl
	DrawdownPct    float64 `expr:"drawdown_pct"`     // derived: (peak − equity)/peak × 100; NaN if peak ≤ 0
	BaseShare      float64 `expr:"base_share"`       // derived: base_value/equity; NaN if equity ≤ 0
	BaseShareAfter float64 `expr:"base_share_after"` // derived: (base_value + notional)/equity, the share if the buy leg fills and the sell leg does not
}

// ClockView is the decision time in UTC, derived from Input.UnixNano.
type ClockView struct {
	Hour        int64 `expr:"hour"`          // 0..23
	Minute      int64 `expr:"minute"`        // 0..59
	MinuteOfDay int64 `expr:"minute_of_day"` // 0..1439
	Weekday     int64 `expr:"weekday"`       // 0 = Sunday .. 6 = Saturday
}

// VenueView is one venue's health, reached by venue("name").
type VenueView struct {
	Name      string  `expr:"name"`
	Connected bool    `expr:"connected"`
	ErrorRate float64 `expr:"error_rate"`
	LatencyMs float64 `expr:"latency_ms"`
}

// derive computes every derived field from the inputs. It is called once per
// Evaluate and again after a clip; it allocates nothing. An undefined ratio
// (zero or negative denominator) is NaN, and a rule that reads it fails, which
// rejects: no equity means no trading rather than a silently passing limit.
func (in *Input) derive() {
	in.derivePlan()
	a := &in.Account
	a.PnlToday = a.RealizedPnlToday + a.UnrealizedPnl
	peak := a.PeakEquity
	if a.Equity > peak {
		peak = a.Equity // a stale peak never hides a drawdown: the peak is at least now
	}
	if peak > 0 {
		a.DrawdownPct = (peak - a.Equity) / peak * 100
	} else {
		a.DrawdownPct = math.NaN()
	}
	if a.Equity > 0 {
		a.BaseShare = a.BaseValue / a.Equity
	} else {
		a.BaseShare = math.NaN()
	}
	in.deriveShareAfter()

	const day = 86400
	sec := in.UnixNano / 1e9
	if in.UnixNano < 0 && in.UnixNano%1e9 != 0 {
		sec-- // floor, for times before 1970 (tests only)
	}
	days := sec / day
	sod := sec - days*day
	if sod < 0 {
		sod += day
		days--
	}
	n := &in.Now
	n.Hour = sod / 3600
	n.Minute = sod % 3600 / 60
	n.MinuteOfDay = sod / 60
	n.Weekday = ((days+4)%7 + 7) % 7 // 1970-01-01 was a Thursday
}

// derivePlan computes the fields that depend on plan.qty.
func (in *Input) derivePlan() {
	p, b, s := &in.Plan, &in.Buy, &in.Sell
	p.Notional = p.Qty * b.Price
	p.NetQuote = p.EdgeBps * 1e-4 * p.Notional
	if b.Price > 0 {
		p.SpreadBps = (s.Price - b.Price) / b.Price * 1e4
	} else {
		p.SpreadBps = math.NaN()
	}
	b.BasePositionAfter = b.BasePosition + p.Qty
	b.BaseBalanceAfter = b.BaseBalance + p.Qty
	b.QuoteBalanceAfter = b.QuoteBalance - p.Notional*(1+b.FeeBps*1e-4)
	s.BasePositionAfter = s.BasePosition - p.Qty
	s.BaseBalanceAfter = s.BaseBalance - p.Qty
	s.QuoteBalanceAfter = s.QuoteBalance + p.Qty*s.Price*(1-s.FeeBps*1e-4)
}

func (in *Input) deriveShareAfter() {
	a := &in.Account
	if a.Equity > 0 {
		a.BaseShareAfter = (a.BaseValue + in.Plan.Notional) / a.Equity
	} else {
		a.BaseShareAfter = math.NaN()
	}
}

// rederive recomputes what a change of plan.qty changes.
func (in *Input) rederive() {
	in.derivePlan()
	in.deriveShareAfter()
}

// DayTracker keeps the UTC day's opening and peak equity from a stream of
// equity marks, so that account.drawdown_pct is measured from the day's peak
// and not from whatever equity the last plan happened to see. Feed it every
// mark (not only those at plan time). It is not safe for concurrent use: call
// it from the goroutine that fills Input.
type DayTracker struct {
	day         int64
	start, peak float64
	ok          bool
}

// Mark records an equity mark at unixNano. A mark on a new UTC day starts the
// day (start = peak = equity). Non-finite marks are ignored and reported false.
func (d *DayTracker) Mark(unixNano int64, equity float64) bool {
	if math.IsNaN(equity) || math.IsInf(equity, 0) {
		return false
	}
	day := unixNano / (86400 * 1e9)
	if unixNano < 0 && unixNano%(86400*1e9) != 0 {
		day--
	}
	if !d.ok || day != d.day {
		d.day, d.start, d.peak, d.ok = day, equity, equity, true
		return true
	}
	if equity > d.peak {
		d.peak = equity
	}
	return true
}

// Fill copies the day's start and peak equity into a. Before the first mark
// they are zero, which makes drawdown_pct undefined (NaN) and rejects any plan
// that a drawdown rule sees.
func (d *DayTracker) Fill(a *AccountView) {
	a.StartEquity, a.PeakEquity = d.start, d.peak
}

// DefaultSample returns a plausible healthy input that the default rules
// allow: 0.05 BTC bought on binance at 60 000 and sold on okx at 60 060, with
// 12 bps of net edge, fresh books and a 100 000 USDT account. `arb rules
// check` evaluates a rules file against it when no sample is given.
func DefaultSample() Input {
	var in Input
	in.Venues[1] = VenueView{Name: "binance", Connected: true, ErrorRate: 0.001, LatencyMs: 35}
	in.Venues[2] = VenueView{Name: "okx", Connected: true, ErrorRate: 0.002, LatencyMs: 48}
	in.Venues[3] = VenueView{Name: "bybit", Connected: true, ErrorRate: 0.001, LatencyMs: 41}
	in.Plan = PlanView{Instrument: 1, Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT",
		Qty: 0.05, EdgeBps: 12, Seq: 1}
	in.Buy = LegView{Venue: "binance", VenueID: 1, Price: 60000, FeeBps: 1, BookAgeMs: 40, Seq: 918273645,
		BaseBalance: 0.4, QuoteBalance: 40000, BasePosition: 0.4, ErrorRate: 0.001, LatencyMs: 35}
	in.Sell = LegView{Venue: "okx", VenueID: 2, Price: 60060, FeeBps: 1, BookAgeMs: 55, Seq: 55221,
		BaseBalance: 0.5, QuoteBalance: 30000, BasePosition: 0.5, ErrorRate: 0.002, LatencyMs: 48}
	in.Account = AccountView{Equity: 100000, StartEquity: 99800, PeakEquity: 100150,
		RealizedPnlToday: 180, UnrealizedPnl: 20, OpenTrades: 1, ResidualExposure: 0, BaseValue: 18000}
	in.UnixNano = 1_767_225_600e9 + 14*3600e9 + 30*60e9 // 2026-01-01 14:30 UTC, a Thursday
	in.derive()
	return in
}
