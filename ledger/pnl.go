package ledger

import (
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

// TradePnL is a trade's money, computed from its fills and booked gas
// only, in the trade's quote asset. Every figure is exact (sums and
// products of the wire decimals; no division anywhere).
//
// Fills are matched first in, first out in the order of (ts, venue,
// venue_fill_id), so the result does not depend on the order fills
// arrived in. Gross is what the matched quantity made: for each matched
// piece, (sell price − buy price) × quantity. Whatever is not matched is
// the residual: ResidualBase (positive long, negative short) held at
// ResidualCost, the signed sum of quantity × price of the open lots; it is
// unrealized, marked to a mid by Unrealized.
type TradePnL struct {
	BoughtBase   decimal.Decimal `json:"bought_base"`
	SoldBase     decimal.Decimal `json:"sold_base"`
	BuyQuote     decimal.Decimal `json:"buy_quote"`  // Σ price × qty of buys
	SellQuote    decimal.Decimal `json:"sell_quote"` // Σ price × qty of sells
	Gross        decimal.Decimal `json:"gross_quote"`
	FeesQuote    decimal.Decimal `json:"fees_quote"` // Σ fee × fee_quote_rate
	GasQuote     decimal.Decimal `json:"gas_quote"`
	Net          decimal.Decimal `json:"net_quote"` // Gross − FeesQuote − GasQuote
	ResidualBase decimal.Decimal `json:"residual_base"`
	ResidualCost decimal.Decimal `json:"residual_cost_quote"`
}

// Unrealized returns the residual's profit or loss at mid: ResidualBase ×
// mid − ResidualCost.
func (p *TradePnL) Unrealized(mid decimal.Decimal) decimal.Decimal {
	return p.ResidualBase.Mul(mid).Sub(p.ResidualCost)
}

// lot is an open piece of a position: positive qty long, negative short.
type lot struct {
	qty decimal.Decimal
	px  decimal.Decimal
}

// ComputeTradePnL computes a trade's PnL from its fills and gas (see
// TradePnL). It does not modify fills.
func ComputeTradePnL(fills []Fill, gas []GasBooking) TradePnL {
	var p TradePnL
	order := make([]*Fill, len(fills))
	for i := range fills {
		order[i] = &fills[i]
	}
	slices.SortStableFunc(order, fillOrder)
	var lots []lot // all of one sign
	for _, f := range order {
		notional := f.Qty.Mul(f.Price)
		signed := f.Qty
		if f.Side == "buy" {
			p.BoughtBase = p.BoughtBase.Add(f.Qty)
			p.BuyQuote = p.BuyQuote.Add(notional)
		} else {
			p.SoldBase = p.SoldBase.Add(f.Qty)
			p.SellQuote = p.SellQuote.Add(notional)
			signed = signed.Neg()
		}
		p.FeesQuote = p.FeesQuote.Add(f.FeeQuote())
		// Close open lots of the other sign, oldest first.
		for len(lots) > 0 && !signed.IsZero() && lots[0].qty.Sign() != signed.Sign() {
			m := decimal.Min(lots[0].qty.Abs(), signed.Abs())
			if lots[0].qty.Sign() > 0 { // long lot closed by a sell
				p.Gross = p.Gross.Add(m.Mul(f.Price.Sub(lots[0].px)))
				lots[0].qty = lots[0].qty.Sub(m)
				signed = signed.Add(m)
			} else { // short lot closed by a buy
				p.Gross = p.Gross.Add(m.Mul(lots[0].px.Sub(f.Price)))
				lots[0].qty = lots[0].qty.Add(m)
				signed = signed.Sub(m)
			}
			if lots[0].qty.IsZero() {
				lots = lots[1:]
			}
		}
		if !signed.IsZero() {
			lots = append(lots, lot{qty: signed, px: f.Price})
		}
	}
	for _, g := range gas {
		p.GasQuote = p.GasQuote.Add(g.Quote)
	}
	for _, lt := range lots {
		p.ResidualBase = p.ResidualBase.Add(lt.qty)
		p.ResidualCost = p.ResidualCost.Add(lt.qty.Mul(lt.px))
	}
	p.Net = p.Gross.Sub(p.FeesQuote).Sub(p.GasQuote)
	return p
}

// fillOrder orders fills by time, then venue, then venue fill id.
func fillOrder(a, b *Fill) int {
	if c := a.TS.Compare(b.TS); c != 0 {
		return c
	}
	if c := strings.Compare(a.Venue, b.Venue); c != 0 {
		return c
	}
	return strings.Compare(a.VenueFillID, b.VenueFillID)
}

// Equal reports whether two PnLs are equal in value, field by field.
func (p *TradePnL) Equal(q *TradePnL) bool {
	return p.BoughtBase.Equal(q.BoughtBase) && p.SoldBase.Equal(q.SoldBase) && p.BuyQuote.Equal(q.BuyQuote) &&
		p.SellQuote.Equal(q.SellQuote) && p.Gross.Equal(q.Gross) && p.FeesQuote.Equal(q.FeesQuote) &&
		p.GasQuote.Equal(q.GasQuote) && p.Net.Equal(q.Net) && p.ResidualBase.Equal(q.ResidualBase) &&
		p.ResidualCost.Equal(q.ResidualCost)
}
