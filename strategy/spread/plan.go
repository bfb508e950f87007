package spread

import (
	"arb/exchange"
	"arb/exchange/num"
)

// PlanID identifies a plan: a deterministic counter (Config.PlanIDBase + n).
type PlanID uint64

const hexDigits = "0123456789abcdef"

// AppendTo appends the id's text form, "p" and 16 lowercase hex digits
// (e.g. p00000000000000ff): fixed width, alphanumeric only, so it fits every
// venue's client-order-id alphabet and JetStream message ids. It does not
// allocate when dst has room.
func (id PlanID) AppendTo(dst []byte) []byte {
	dst = append(dst, 'p')
	for sh := 60; sh >= 0; sh -= 4 {
		dst = append(dst, hexDigits[(uint64(id)>>sh)&0xf])
	}
	return dst
}

// String returns the id's text form (see AppendTo).
func (id PlanID) String() string {
	var b [17]byte
	return string(id.AppendTo(b[:0]))
}

// Plan is one dual-leg trade: buy Qty on Buy's venue, sell Qty on Sell's
// venue, each leg an IOC limited to the worst level the plan walked, so the
// legs cannot fill worse than planned. Amounts are in Scale (shared by both
// legs' instruments). Plan holds no pointers except strings owned by the
// configuration, so it may be copied freely.
type Plan struct {
	ID     PlanID
	Symbol string    // pair label: the canonical symbol, or "BUY/SELL" across equivalent quotes
	Scale  num.Scale // of Qty, prices and Quote amounts
	Qty    num.Qty
	Buy    Leg
	Sell   Leg

	// GrossQuote is sell proceeds minus buy cost at the walked levels
	// (VWAP), before any cost; GrossBps is it relative to Buy.Notional.
	GrossQuote num.Quote
	GrossBps   float64
	// NetQuote is GrossQuote minus both taker fees, the slippage allowance,
	// gas and the amortized rebalancing cost (floor of the exact value);
	// NetBps is it relative to Buy.Notional and is ≥ ThresholdBps.
	NetQuote num.Quote
	NetBps   float64

	FeesQuote      num.Quote // taker fees on both legs (rounded up)
	SlippageQuote  num.Quote // slippage allowance on both legs (rounded up)
	GasQuote       num.Quote // gas of both legs
	RebalanceQuote num.Quote // amortized withdrawal + network fees (rounded up)

	ThresholdBps float64 // MinEdgeBps + VolK × VolBps at decision time
	SlippageBps  float64 // per-leg allowance used
	VolBps       float64 // the pair's spread volatility at decision time
	TS           int64   // decision time (the caller's now), Unix ns
}

// Leg is one side of a Plan.
type Leg struct {
	Venue    exchange.VenueID
	Inst     exchange.InstrumentID
	Symbol   string // the venue's own symbol
	Side     exchange.Side
	LimitPx  num.Price // worst level walked: the IOC limit
	Qty      num.Qty
	Notional num.Quote // VWAP notional of the planned fill (buy rounded up, sell down)
	Levels   uint8     // book levels walked
	FeeBps   float64
	FeeAsset string // "" = the quote asset

	// The book state the plan was computed from.
	BookSeq    uint64
	BookExchTS int64
	BookRecvTS int64

	// Reserve is the amount of ReserveAsset (in Inventory units) taken from
	// the available balance when the plan was emitted: the buy leg's quote
	// at its limit including the fee, the sell leg's base quantity.
	ReserveAsset AssetID
	Reserve      int64
}
