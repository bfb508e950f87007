package ledger

import (
	"cmp"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Filter selects what a report covers. Zero values select everything.
type Filter struct {
	Since  time.Time // fills at or after; trades opened at or after
	Venue  string    // fills on the venue; trades with a leg (buy or sell venue) there
	Symbol string    // canonical BASE-QUOTE
}

func (f *Filter) fill(r *FillRecord) bool {
	return (f.Since.IsZero() || !r.TS.Before(f.Since)) && (f.Venue == "" || r.Venue == f.Venue) &&
		(f.Symbol == "" || r.Symbol == f.Symbol)
}

func (f *Filter) trade(r *TradeRecord) bool {
	if f.Symbol != "" && r.Symbol() != f.Symbol {
		return false
	}
	if !f.Since.IsZero() && r.openedAt().Before(f.Since) {
		return false
	}
	if f.Venue != "" {
		if r.Seen() && (r.Trade.BuyVenue == f.Venue || r.Trade.SellVenue == f.Venue) {
			return true
		}
		for _, fl := range r.Fills {
			if fl.Venue == f.Venue {
				return true
			}
		}
		return false
	}
	return true
}

// openedAt is the trade's opening time, or its first fill's time before
// the trade event arrived.
func (r *TradeRecord) openedAt() time.Time {
	if r.Seen() {
		return r.Trade.OpenedAt
	}
	var t time.Time
	for _, f := range r.Fills {
		if t.IsZero() || f.TS.Before(t) {
			t = f.TS
		}
	}
	return t
}

// BalanceRow is one venue's holding of one asset: the design's
// `arb ledger balances` object.
type BalanceRow struct {
	Venue   string          `json:"venue"`
	Asset   string          `json:"asset"`
	Balance decimal.Decimal `json:"balance"`
}

// AccountBalance is one account's balance.
type AccountBalance struct {
	Account Account
	Balance decimal.Decimal
}

// Balances returns the holdings (positions, inventory) per venue and
// asset, sorted by venue then asset, filtered by venue and by the asset
// being the base or quote of Symbol. Since does not apply.
func (l *Ledger) Balances(f Filter) []BalanceRow {
	var out []BalanceRow
	base, quote := splitSymbol(f.Symbol)
	for _, a := range l.accounts {
		if a.Kind != Holdings || (f.Venue != "" && a.Venue != f.Venue) ||
			(f.Symbol != "" && a.Asset != base && a.Asset != quote) {
			continue
		}
		out = append(out, BalanceRow{Venue: a.Venue, Asset: a.Asset, Balance: l.balances[a]})
	}
	slices.SortFunc(out, func(x, y BalanceRow) int {
		return cmp.Or(cmp.Compare(x.Venue, y.Venue), cmp.Compare(x.Asset, y.Asset))
	})
	return out
}

// AccountBalances returns every account's balance, sorted by name.
func (l *Ledger) AccountBalances() []AccountBalance {
	out := make([]AccountBalance, 0, len(l.accounts))
	for _, a := range l.accounts {
		out = append(out, AccountBalance{Account: a, Balance: l.balances[a]})
	}
	slices.SortFunc(out, func(x, y AccountBalance) int { return cmp.Compare(x.Account.String(), y.Account.String()) })
	return out
}

func splitSymbol(s string) (base, quote string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// FillsOf returns the fills the filter selects, in the order booked.
func (l *Ledger) FillsOf(f Filter) []*FillRecord {
	var out []*FillRecord
	for _, r := range l.fills {
		if f.fill(r) {
			out = append(out, r)
		}
	}
	return out
}

// TradeView is one trade for `arb ledger trades` and /api/v1/trades: the
// contract's trade object (the latest event, flattened) with the ledger's
// own accounting beside it under "ledger".
type TradeView struct {
	Trade
	Ledger TradeLedger `json:"ledger"`
}

// TradeLedger is the ledger's view of a trade.
type TradeLedger struct {
	Fills int `json:"fills"`
	TradePnL
	// SlippageQuote is Net − ExpectedNetQuote: what the trade made against
	// what the plan expected (negative: worse than expected).
	SlippageQuote decimal.Decimal `json:"slippage_quote"`
}

// TradesOf returns the trades the filter selects, newest first (by opening
// time). A trade whose event has not arrived yet has only its id, symbol
// and opening time (its first fill's) filled in and an empty state.
func (l *Ledger) TradesOf(f Filter) []TradeView {
	var out []TradeView
	for _, id := range l.tradeIDs {
		r := l.trades[id]
		if !f.trade(r) {
			continue
		}
		t := r.Trade
		if !r.Seen() {
			t = Trade{ID: r.ID, Symbol: r.Symbol(), OpenedAt: r.openedAt()}
		}
		out = append(out, TradeView{Trade: t, Ledger: TradeLedger{Fills: len(r.Fills), TradePnL: r.PnL,
			SlippageQuote: r.PnL.Net.Sub(t.ExpectedNetQuote)}})
	}
	slices.SortStableFunc(out, func(x, y TradeView) int {
		return cmp.Or(y.OpenedAt.Compare(x.OpenedAt), cmp.Compare(y.ID, x.ID))
	})
	return out
}

// PnLReport sums the trades a filter selects, per quote asset, per pair
// (symbol, buy venue, sell venue) and per venue.
type PnLReport struct {
	Totals []PnLTotal `json:"totals"`
	Pairs  []PairPnL  `json:"pairs"`
	Venues []VenuePnL `json:"venues"`
}

// PnLTotal is the sum over trades with one quote asset.
type PnLTotal struct {
	Quote    string          `json:"quote"`
	Trades   int             `json:"trades"`
	Closed   int             `json:"closed"`
	Wins     int             `json:"wins"`     // closed with Net > 0
	WinRate  float64         `json:"win_rate"` // Wins / Closed (0 with none closed); a ratio, for display
	Gross    decimal.Decimal `json:"gross_quote"`
	Fees     decimal.Decimal `json:"fees_quote"`
	Gas      decimal.Decimal `json:"gas_quote"`
	Net      decimal.Decimal `json:"net_quote"`
	Expected decimal.Decimal `json:"expected_net_quote"`
	Residual int             `json:"with_residual"` // trades holding a residual position
}

// PairPnL is the sum over the trades of one symbol between two venues.
type PairPnL struct {
	Symbol    string          `json:"symbol"`
	BuyVenue  string          `json:"buy_venue"`
	SellVenue string          `json:"sell_venue"`
	Trades    int             `json:"trades"`
	Wins      int             `json:"wins"`
	Gross     decimal.Decimal `json:"gross_quote"`
	Fees      decimal.Decimal `json:"fees_quote"`
	Gas       decimal.Decimal `json:"gas_quote"`
	Net       decimal.Decimal `json:"net_quote"`
	Expected  decimal.Decimal `json:"expected_net_quote"`
}

// VenuePnL is the activity on one venue in one quote asset, over the fills
// selected: volume, fees, and the quote cash flow of trading (sells minus
// buys minus fees: a venue's share of an arbitrage is not a profit on its
// own, the pair's is).
type VenuePnL struct {
	Venue    string          `json:"venue"`
	Quote    string          `json:"quote"`
	Fills    int             `json:"fills"`
	Notional decimal.Decimal `json:"notional_quote"`
	Fees     decimal.Decimal `json:"fees_quote"`
	CashFlow decimal.Decimal `json:"cash_flow_quote"`
}

// PnL returns the PnL report for the filter.
func (l *Ledger) PnL(f Filter) PnLReport {
	var rep PnLReport
	totals := map[string]*PnLTotal{}
	type pairKey struct{ sym, buy, sell string }
	pairs := map[pairKey]*PairPnL{}
	for _, id := range l.tradeIDs {
		r := l.trades[id]
		if !f.trade(r) {
			continue
		}
		_, quote := splitSymbol(r.Symbol())
		t := totals[quote]
		if t == nil {
			t = &PnLTotal{Quote: quote}
			totals[quote] = t
		}
		closed := r.Seen() && Closed(r.Trade.State)
		win := closed && r.PnL.Net.Sign() > 0
		t.Trades++
		if closed {
			t.Closed++
		}
		if win {
			t.Wins++
		}
		if !r.PnL.ResidualBase.IsZero() {
			t.Residual++
		}
		t.Gross, t.Fees, t.Gas, t.Net = t.Gross.Add(r.PnL.Gross), t.Fees.Add(r.PnL.FeesQuote), t.Gas.Add(r.PnL.GasQuote), t.Net.Add(r.PnL.Net)
		t.Expected = t.Expected.Add(r.Trade.ExpectedNetQuote)
		k := pairKey{r.Symbol(), r.Trade.BuyVenue, r.Trade.SellVenue}
		p := pairs[k]
		if p == nil {
			p = &PairPnL{Symbol: k.sym, BuyVenue: k.buy, SellVenue: k.sell}
			pairs[k] = p
		}
		p.Trades++
		if win {
			p.Wins++
		}
		p.Gross, p.Fees, p.Gas, p.Net = p.Gross.Add(r.PnL.Gross), p.Fees.Add(r.PnL.FeesQuote), p.Gas.Add(r.PnL.GasQuote), p.Net.Add(r.PnL.Net)
		p.Expected = p.Expected.Add(r.Trade.ExpectedNetQuote)
	}
	for _, t := range totals {
		if t.Closed > 0 {
			t.WinRate = float64(t.Wins) / float64(t.Closed)
		}
		rep.Totals = append(rep.Totals, *t)
	}
	slices.SortFunc(rep.Totals, func(x, y PnLTotal) int { return cmp.Compare(x.Quote, y.Quote) })
	for _, p := range pairs {
		rep.Pairs = append(rep.Pairs, *p)
	}
	slices.SortFunc(rep.Pairs, func(x, y PairPnL) int {
		return cmp.Or(cmp.Compare(x.Symbol, y.Symbol), cmp.Compare(x.BuyVenue, y.BuyVenue), cmp.Compare(x.SellVenue, y.SellVenue))
	})
	type venueKey struct{ venue, quote string }
	venues := map[venueKey]*VenuePnL{}
	for _, r := range l.fills {
		if !f.fill(r) {
			continue
		}
		k := venueKey{r.Venue, r.Quote}
		v := venues[k]
		if v == nil {
			v = &VenuePnL{Venue: r.Venue, Quote: r.Quote}
			venues[k] = v
		}
		n := r.Qty.Mul(r.Price)
		v.Fills++
		v.Notional = v.Notional.Add(n)
		v.Fees = v.Fees.Add(r.FeeQuote)
		if r.Side == "buy" {
			n = n.Neg()
		}
		v.CashFlow = v.CashFlow.Add(n).Sub(r.FeeQuote)
	}
	for _, v := range venues {
		rep.Venues = append(rep.Venues, *v)
	}
	slices.SortFunc(rep.Venues, func(x, y VenuePnL) int {
		return cmp.Or(cmp.Compare(x.Venue, y.Venue), cmp.Compare(x.Quote, y.Quote))
	})
	return rep
}

// Marks are current mids, keyed by canonical symbol ("BTC-USDT" → mid in
// USDT), an input from the books.
type Marks map[string]decimal.Decimal

// Valuation is the ledger marked to current mids, in one currency.
type Valuation struct {
	Currency string          `json:"currency"`
	Equity   decimal.Decimal `json:"equity"` // Σ holdings × price in Currency
	// Unrealized is the residual positions of trades quoted in Currency,
	// marked to their symbol's mid (TradePnL.Unrealized).
	Unrealized decimal.Decimal `json:"unrealized"`
	// Unpriced lists assets held but without a mid against Currency; they
	// are not in Equity.
	Unpriced []string `json:"unpriced,omitempty"`
}

// Value marks the ledger to mids in currency: every asset A is priced by
// the mid of A-currency (currency itself at 1).
func (l *Ledger) Value(currency string, mids Marks) Valuation {
	v := Valuation{Currency: currency}
	unpriced := map[string]bool{}
	for _, a := range l.accounts {
		if a.Kind != Holdings {
			continue
		}
		bal := l.balances[a]
		if bal.IsZero() {
			continue
		}
		var px decimal.Decimal
		if a.Asset == currency {
			px = decimal.NewFromInt(1)
		} else if m, ok := mids[a.Asset+"-"+currency]; ok {
			px = m
		} else {
			unpriced[a.Asset] = true
			continue
		}
		v.Equity = v.Equity.Add(bal.Mul(px))
	}
	for _, id := range l.tradeIDs {
		r := l.trades[id]
		if r.PnL.ResidualBase.IsZero() {
			continue
		}
		if _, q := splitSymbol(r.Symbol()); q != currency {
			continue
		}
		if m, ok := mids[r.Symbol()]; ok {
			v.Unrealized = v.Unrealized.Add(r.PnL.Unrealized(m))
		}
	}
	for a := range unpriced {
		v.Unpriced = append(v.Unpriced, a)
	}
	slices.Sort(v.Unpriced)
	return v
}

// EquityMark is the equity at one moment and the day's peak, for the
// drawdown rule.
type EquityMark struct {
	Valuation
	Day      string          `json:"day"`      // UTC date of the peak, YYYY-MM-DD
	DayPeak  decimal.Decimal `json:"day_peak"` // highest equity marked this UTC day
	Drawdown decimal.Decimal `json:"drawdown"` // DayPeak − Equity, ≥ 0
}

// MarkEquity values the ledger at now and keeps the UTC day's peak: the
// first mark of a day starts its peak. Callers mark periodically (the
// daemon, on its status tick); now is injected.
func (l *Ledger) MarkEquity(currency string, mids Marks, now time.Time) EquityMark {
	v := l.Value(currency, mids)
	day := now.UTC().Format(time.DateOnly)
	if !l.peakSeen || day != l.peakDay || v.Equity.GreaterThan(l.peak) {
		l.peak, l.peakDay, l.peakSeen = v.Equity, day, true
	}
	return EquityMark{Valuation: v, Day: day, DayPeak: l.peak, Drawdown: l.peak.Sub(v.Equity)}
}
