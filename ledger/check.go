package ledger

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// MaxViolations caps what Check reports.
const MaxViolations = 100

// Violation is one broken property found by Check.
type Violation struct {
	Rule string // balanced, balance, asset_total, fill_tx, trade_pnl, trade_symbol, fill_count
	Msg  string
}

func (v Violation) String() string { return v.Rule + ": " + v.Msg }

// Check verifies the whole ledger from its parts, the slow way: every
// transaction balances per asset; every balance equals the sum of its
// account's entries; every asset's balances sum to zero; every fill has
// its transaction with exactly the entries the fill implies; every trade's
// PnL equals the PnL recomputed from its fills and gas, and its fills share
// its symbol. It returns the first MaxViolations violations, none when the
// books are right. Unlike the assertions made while applying, it does not
// panic: it is what `arb ledger check` reports.
func (l *Ledger) Check() []Violation {
	var out []Violation
	add := func(rule, format string, args ...any) bool {
		if len(out) < MaxViolations {
			out = append(out, Violation{Rule: rule, Msg: fmt.Sprintf(format, args...)})
		}
		return len(out) < MaxViolations
	}
	sums := map[Account]decimal.Decimal{}
	fillTxs := 0
	for _, tx := range l.txs {
		if err := balanced(tx); err != nil && !add("balanced", "%v", err) {
			return out
		}
		if len(tx.Entries) == 0 && !add("balanced", "transaction %s has no entries", tx.ID) {
			return out
		}
		for _, e := range tx.Entries {
			sums[e.Account] = sums[e.Account].Add(e.Amount)
		}
		if tx.Kind == TxFill {
			fillTxs++
		}
	}
	totals := map[string]decimal.Decimal{}
	for _, a := range l.accounts {
		if !l.balances[a].Equal(sums[a]) && !add("balance", "%s holds %s but its entries sum to %s", a, l.balances[a], sums[a]) {
			return out
		}
		totals[a.Asset] = totals[a.Asset].Add(l.balances[a])
	}
	for a := range sums {
		if _, ok := l.balances[a]; !ok && !add("balance", "%s has entries but no balance", a) {
			return out
		}
	}
	for asset, t := range totals {
		if !t.IsZero() && !add("asset_total", "the balances of %s sum to %s, not zero", asset, t) {
			return out
		}
	}
	if fillTxs != len(l.fills) && !add("fill_count", "%d fills but %d fill transactions", len(l.fills), fillTxs) {
		return out
	}
	for _, f := range l.fills {
		tx := l.txByID[FillTxID(f.Venue, f.VenueFillID)]
		if tx == nil {
			if !add("fill_tx", "fill %s/%s has no transaction", f.Venue, f.VenueFillID) {
				return out
			}
			continue
		}
		if want := FillEntries(&f.Fill); !sameEntries(tx.Entries, want) &&
			!add("fill_tx", "transaction %s does not hold the entries of its fill", tx.ID) {
			return out
		}
	}
	for _, id := range l.tradeIDs {
		r := l.trades[id]
		fills := make([]Fill, len(r.Fills))
		for i, f := range r.Fills {
			fills[i] = f.Fill
			if f.TradeID != r.ID && !add("trade_pnl", "trade %s holds fill %s/%s of trade %s", r.ID, f.Venue, f.VenueFillID, f.TradeID) {
				return out
			}
			if sym := r.Symbol(); f.Symbol != sym && !add("trade_symbol", "trade %s (%s) has fill %s/%s of %s", r.ID, sym, f.Venue, f.VenueFillID, f.Symbol) {
				return out
			}
		}
		want := ComputeTradePnL(fills, r.Gas)
		if !want.Equal(&r.PnL) && !add("trade_pnl", "trade %s: net %s recorded, %s from its fills", r.ID, r.PnL.Net, want.Net) {
			return out
		}
	}
	return out
}

// FillEntries returns the entries of a fill's transaction, as applyFill
// books them. Stores and checks rebuild them with it.
func FillEntries(f *Fill) []Entry {
	var b entryBuilder
	base, quote := f.Qty, f.Qty.Mul(f.Price)
	if f.Side == "sell" {
		base, quote = base.Neg(), quote.Neg()
	}
	b.add(Account{Holdings, f.Venue, f.Base}, base)
	b.add(Account{Trading, f.Venue, f.Base}, base.Neg())
	b.add(Account{Holdings, f.Venue, f.Quote}, quote.Neg())
	b.add(Account{Trading, f.Venue, f.Quote}, quote)
	if !f.Fee.IsZero() {
		b.add(Account{Holdings, f.Venue, f.FeeAsset}, f.Fee.Neg())
		b.add(Account{Fees, f.Venue, f.FeeAsset}, f.Fee)
	}
	return b.done()
}
