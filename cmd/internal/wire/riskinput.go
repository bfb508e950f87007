package wire

import (
	"time"

	"arb/cmd/internal/httpapi"
	"arb/exchange"
	"arb/exchange/num"
	"arb/risk"
	"arb/strategy/book"
	"arb/strategy/spread"
)

// The parts of the desk's decision that the backtest (cmd/internal/backtest)
// shares with the daemon, so that a replay asks the risk engine the same
// question the daemon asked and records its answer in the same form: the
// plan and legs of the risk input, and the plan's status line.

// PlanInput resets in to a decision at now (Unix ns) about p and fills its
// plan and both legs: prices, fees, book ages and sequences, the legs'
// balances (before the plan: the detector reserved the plan's own amounts
// when it emitted it, and the rules' _after fields subtract them, so they
// are added back), positions and staleness. The caller adds the venues'
// health and the account.
func PlanInput(in *risk.Input, reg *exchange.Registry, inv *spread.Inventory, store *book.Store, p *spread.Plan, now int64) {
	*in = risk.Input{UnixNano: now}
	asset := reg.Asset(p.Buy.Inst)
	sc := p.Scale
	in.Plan = risk.PlanView{Instrument: int64(p.Buy.Inst), Symbol: p.Symbol, Base: asset.Base, Quote: asset.Quote,
		Qty: num.Float(int64(p.Qty), sc.Qty), EdgeBps: p.NetBps, Seq: int64(p.ID)}
	planLeg(&in.Buy, reg, inv, store, &p.Buy, sc, now)
	planLeg(&in.Sell, reg, inv, store, &p.Sell, sc, now)
}

func planLeg(lv *risk.LegView, reg *exchange.Registry, inv *spread.Inventory, store *book.Store, l *spread.Leg, sc num.Scale, now int64) {
	lv.Venue, lv.VenueID = reg.VenueName(l.Venue), int64(l.Venue)
	lv.Price, lv.FeeBps = num.Float(int64(l.LimitPx), sc.Px), l.FeeBps
	lv.BookAgeMs, lv.Seq = float64(now-l.BookRecvTS)/1e6, int64(l.BookSeq)
	la := reg.Asset(l.Inst)
	own := func(a spread.AssetID) int64 {
		if a == l.ReserveAsset {
			return l.Reserve
		}
		return 0
	}
	if b, ok := inv.Asset(la.Base); ok {
		lv.BaseBalance = num.Float(inv.Balance(l.Venue, b)+own(b), inv.Decimals(b))
		lv.BasePosition = num.Float(inv.Total(l.Venue, b), inv.Decimals(b))
	}
	if q, ok := inv.Asset(la.Quote); ok {
		lv.QuoteBalance = num.Float(inv.Balance(l.Venue, q)+own(q), inv.Decimals(q))
	}
	if b := store.Book(l.Venue, l.Inst); b != nil {
		lv.Stale = b.Stale()
	}
}

// PlanStatus is p's line in /api/v1/status and its JetStream plan event,
// with the risk decision dec about the input in: the decision, and after
// a clip the approved quantity (approved false when the clip leaves less
// than one step) and the rule. Execution is left to the caller.
func PlanStatus(p *spread.Plan, in *risk.Input, dec risk.Decision, approved num.Qty, clipOK bool) httpapi.PlanStatus {
	sc := p.Scale
	st := httpapi.PlanStatus{
		ID: p.ID.String(), TS: time.Unix(0, p.TS).UTC(), Symbol: p.Symbol,
		BuyVenue: in.Buy.Venue, SellVenue: in.Sell.Venue,
		Qty: num.Format(int64(p.Qty), sc.Qty), BuyLimit: num.Format(int64(p.Buy.LimitPx), sc.Px),
		SellLimit: num.Format(int64(p.Sell.LimitPx), sc.Px), GrossBps: round2(p.GrossBps), NetBps: round2(p.NetBps),
		NetQuote: num.Format(int64(p.NetQuote), sc.Px), Decision: dec.Verdict.String(),
		RulesVersion: dec.Version(),
	}
	switch {
	case dec.Verdict == risk.Clip:
		if clipOK {
			st.ApprovedQty = num.Format(int64(approved), sc.Qty)
		}
		st.Rule, st.Message = dec.Rule(), dec.Message()
	case !dec.Verdict.Pass():
		st.Rule, st.Message = dec.Rule(), dec.Message()
	}
	return st
}

// OrderStep is the order step both legs of p accept: the least common
// multiple of their venues' steps (the detector sizes plans on the same
// grid); steps holds each listing's.
func OrderStep(steps map[ListingKey]num.Qty, p *spread.Plan) num.Qty {
	a, b := steps[ListingKey{p.Buy.Venue, p.Buy.Inst}], steps[ListingKey{p.Sell.Venue, p.Sell.Inst}]
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	x, y := int64(a), int64(b)
	for y != 0 {
		x, y = y, x%y
	}
	return num.Qty(int64(a) / x * int64(b))
}

// ListingKey names one listing: a venue's instrument.
type ListingKey struct {
	V exchange.VenueID
	I exchange.InstrumentID
}
