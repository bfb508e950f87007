package execute

import (
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
)

// TradeView is a trade as the HTTP API (/api/v1/trades) and the ledger
// show it: exactly the Trades contract of design.md. Decimals are strings,
// times RFC 3339 UTC; closed_at is null while the trade is open.
type TradeView struct {
	ID               string     `json:"id"`
	PlanID           string     `json:"plan_id"`
	Symbol           string     `json:"symbol"`
	BuyVenue         string     `json:"buy_venue"`
	SellVenue        string     `json:"sell_venue"`
	State            string     `json:"state"`
	Qty              string     `json:"qty"`
	ExpectedNetQuote string     `json:"expected_net_quote"`
	RealizedNetQuote string     `json:"realized_net_quote"`
	ResidualBase     string     `json:"residual_base"`
	OpenedAt         time.Time  `json:"opened_at"`
	ClosedAt         *time.Time `json:"closed_at"`
	Legs             []LegView  `json:"legs"`
}

// LegView is one order a trade sent.
//
// Status is the venue's order status (new, partially_filled, filled,
// canceled, expired, rejected) once the venue told it; before that
// "pending" (sent, not answered) or "unknown" (the answer was lost, or only
// fills told of it, and a query is resolving it), and "not_placed" when it
// is proven the order never reached the venue.
type LegView struct {
	Venue         string `json:"venue"`
	Side          string `json:"side"`
	Purpose       string `json:"purpose"`
	ClientOrderID string `json:"client_order_id"`
	VenueOrderID  string `json:"venue_order_id"`
	Price         string `json:"price"`
	Qty           string `json:"qty"`
	FilledQty     string `json:"filled_qty"`
	AvgPrice      string `json:"avg_price"`
	Fee           string `json:"fee"`
	FeeAsset      string `json:"fee_asset"`
	Status        string `json:"status"`
	// Gas is the part of Fee the order cost without a fill (an on-chain
	// leg's gas of a reverted swap or of its cancellation), in GasAsset,
	// and GasQuote its value in the leg's quote: what the ledger books as
	// the leg's gas (fills' fees come with the fills). Not in the Trades
	// contract's JSON.
	Gas      string `json:"-"`
	GasAsset string `json:"-"`
	GasQuote string `json:"-"`
}

// OrderView is an order with its trade: a row of /api/v1/orders.
type OrderView struct {
	TradeID string `json:"trade_id"`
	Symbol  string `json:"symbol"`
	LegView
}

func dec(v int64, d uint8) decimal.Decimal { return decimal.New(v, -int32(d)) }

func amount(a num.Amount) decimal.Decimal { return decimal.New(a.V, -int32(a.Dec)) }

// View returns the trade's view; reg names its venues.
func (t *Trade) View(reg *exchange.Registry) TradeView {
	op := &t.open
	sc := op.Scale
	v := TradeView{
		ID: t.id.String(), PlanID: op.Plan.String(), Symbol: op.Symbol,
		BuyVenue: reg.VenueName(op.Legs[LegBuy].Venue), SellVenue: reg.VenueName(op.Legs[LegSell].Venue),
		State: t.state.String(), Qty: num.Format(int64(op.Qty), sc.Qty),
		ExpectedNetQuote: num.Format(int64(op.ExpectedNet), sc.Px),
		RealizedNetQuote: t.Realized().String(),
		ResidualBase:     num.Format(int64(t.Residual()), sc.Qty),
		OpenedAt:         time.Unix(0, t.openedAt).UTC(),
		Legs:             make([]LegView, t.n),
	}
	if t.state.Closed() {
		c := time.Unix(0, t.closedAt).UTC()
		v.ClosedAt = &c
	}
	for i := 0; i < t.n; i++ {
		v.Legs[i] = t.legView(i, reg)
	}
	return v
}

func (t *Trade) legView(i int, reg *exchange.Registry) LegView {
	o := &t.orders[i]
	sc := t.open.Scale
	lv := LegView{
		Venue: reg.VenueName(o.req.Venue), Side: o.req.Side.String(), Purpose: o.purpose.String(),
		ClientOrderID: o.req.ClientID.String(), VenueOrderID: o.venueID.String(),
		Price: num.Format(int64(o.req.Px), sc.Px), Qty: num.Format(int64(o.req.Qty), sc.Qty),
		FilledQty: num.Format(int64(o.filled()), sc.Qty),
	}
	switch {
	case o.phase == phaseNotPlaced:
		lv.Status = "not_placed"
	case o.status != 0:
		lv.Status = o.status.String()
	case o.phase == phasePending && !o.unknown:
		lv.Status = "pending"
	default:
		lv.Status = "unknown"
	}
	var notional, qty, fee, feeQuote decimal.Decimal
	var asset exchange.ID
	mixed := false
	for k := range t.fills {
		fe := &t.fills[k]
		if int(fe.order) != i {
			continue
		}
		f := &fe.fill
		notional = notional.Add(dec(int64(f.Px), sc.Px).Mul(dec(int64(f.Qty), sc.Qty)))
		qty = qty.Add(dec(int64(f.Qty), sc.Qty))
		if f.Fee.IsZero() {
			continue
		}
		if asset.IsZero() {
			asset = f.FeeAsset
		} else if asset != f.FeeAsset {
			mixed = true
		}
		fee = fee.Add(amount(f.Fee))
		feeQuote = feeQuote.Add(amount(f.Fee).Mul(amount(fe.feeRate)))
	}
	if !o.gas.IsZero() {
		gas, gasQuote := amount(o.gas), amount(o.gas).Mul(amount(o.gasRate))
		lv.Gas, lv.GasAsset, lv.GasQuote = gas.String(), o.gasAsset.String(), gasQuote.String()
		switch {
		case asset.IsZero():
			asset = o.gasAsset
		case asset != o.gasAsset:
			mixed = true
		}
		fee = fee.Add(gas)
		feeQuote = feeQuote.Add(gasQuote)
	}
	if qty.IsPositive() {
		lv.AvgPrice = notional.DivRound(qty, int32(sc.Px)+int32(sc.Qty)).String()
	}
	lv.Fee, lv.FeeAsset = fee.String(), asset.String()
	if mixed {
		lv.Fee, lv.FeeAsset = feeQuote.String(), t.open.Legs[o.leg].Quote
	}
	return lv
}

// Realized returns the trade's realized net in the quote currency, from
// its fills: sell proceeds minus buy cost minus fees (converted with the
// rate recorded with each fill; a fee recorded without a rate is left
// out), and minus what orders cost without a fill (gas of a reverted
// swap, at the rate recorded with its state). It is exact when the trade is flat. A residual is inventory, not
// PnL: its cost (a long residual at the average buy price, a short one at
// the average sell price) is taken out of the cash flow, rounded against
// the trade to 10^-(px+qty decimals).
func (t *Trade) Realized() decimal.Decimal {
	sc := t.open.Scale
	var buyN, sellN, bought, sold, fees decimal.Decimal
	for k := range t.fills {
		fe := &t.fills[k]
		f := &fe.fill
		n := dec(int64(f.Px), sc.Px).Mul(dec(int64(f.Qty), sc.Qty))
		q := dec(int64(f.Qty), sc.Qty)
		if f.Side == exchange.Buy {
			buyN, bought = buyN.Add(n), bought.Add(q)
		} else {
			sellN, sold = sellN.Add(n), sold.Add(q)
		}
		fees = fees.Add(amount(f.Fee).Mul(amount(fe.feeRate)))
	}
	for i := 0; i < t.n; i++ {
		// What an order cost without a fill (gas of a reverted swap).
		if o := &t.orders[i]; !o.gas.IsZero() {
			fees = fees.Add(amount(o.gas).Mul(amount(o.gasRate)))
		}
	}
	r := sellN.Sub(buyN).Sub(fees)
	places := int32(sc.Px) + int32(sc.Qty)
	switch c := bought.Cmp(sold); {
	case c > 0: // long residual: its cost is inventory; value it down
		held := buyN.Mul(bought.Sub(sold)).Div(bought).Truncate(places)
		r = r.Add(held)
	case c < 0: // short residual: its proceeds are owed; value them up
		owed := sellN.Mul(sold.Sub(bought)).Div(sold)
		if !owed.Equal(owed.Truncate(places)) {
			owed = owed.Truncate(places).Add(decimal.New(1, -places))
		}
		r = r.Sub(owed)
	}
	return r
}

// Views returns the views of the last limit trades in memory (open and
// kept closed), newest first.
func (e *Executor) Views(limit int) []TradeView {
	ts := make([]*Trade, 0, len(e.open)+len(e.closed))
	e.Trades(func(t *Trade) bool { ts = append(ts, t); return true })
	sort.Slice(ts, func(i, j int) bool { return ts[i].id > ts[j].id })
	if limit > 0 && len(ts) > limit {
		ts = ts[:limit]
	}
	out := make([]TradeView, len(ts))
	for i, t := range ts {
		out[i] = t.View(e.cfg.Registry)
	}
	return out
}

// OpenOrders returns the orders of open trades that are not resolved
// (sent and not final), oldest trade first.
func (e *Executor) OpenOrders() []OrderView {
	var out []OrderView
	ts := append([]*Trade(nil), e.open...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].id < ts[j].id })
	for _, t := range ts {
		for i := 0; i < t.n; i++ {
			if !t.orders[i].done() {
				out = append(out, OrderView{TradeID: t.id.String(), Symbol: t.open.Symbol, LegView: t.legView(i, e.cfg.Registry)})
			}
		}
	}
	return out
}
