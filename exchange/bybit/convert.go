package bybit

import (
	"errors"

	"arb/exchange"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/num"
)

// Outcomes of converting a venue order or execution into our types.
type convResult uint8

const (
	convOK      convResult = iota
	convSkip               // not ours to report: another category or symbol, a non-trade execution
	convBad                // malformed: missing or unparsable field
	convBroken             // well-formed but not representable in the instrument's scale: a broken invariant
	convUnknown            // an order status this client does not know
)

// Errors naming what was wrong with one item (preallocated).
var (
	errItemSide   = errors.New("bybit: side is not Buy or Sell")
	errItemID     = errors.New("bybit: missing or too long id")
	errItemTime   = errors.New("bybit: bad timestamp")
	errItemStatus = errors.New("bybit: unknown orderStatus")
)

// instruments is the client's table of configured instruments.
type instruments struct {
	list  []exchange.Instrument
	bySym map[string]int32
	byID  []int32 // InstrumentID → index+1
}

func newInstruments(list []exchange.Instrument) *instruments {
	t := &instruments{list: list, bySym: make(map[string]int32, len(list))}
	maxID := 0
	for _, in := range list {
		maxID = max(maxID, int(in.ID))
	}
	t.byID = make([]int32, maxID+1)
	for i, in := range list {
		t.bySym[in.Symbol] = int32(i)
		t.byID[in.ID] = int32(i + 1)
	}
	return t
}

// bySymbol returns the instrument of a Bybit symbol, or nil (no allocation:
// the map lookup by string(b) is not materialized).
func (t *instruments) bySymbol(sym []byte) *exchange.Instrument {
	i, ok := t.bySym[string(sym)]
	if !ok {
		return nil
	}
	return &t.list[i]
}

// get returns the instrument with id, or nil.
func (t *instruments) get(id exchange.InstrumentID) *exchange.Instrument {
	if int(id) >= len(t.byID) || t.byID[id] == 0 {
		return nil
	}
	return &t.list[t.byID[id]-1]
}

func parseSide(b []byte) (exchange.Side, bool) {
	switch string(b) {
	case "Buy":
		return exchange.Buy, true
	case "Sell":
		return exchange.Sell, true
	}
	return 0, false
}

// orderStatus maps Bybit's orderStatus (docs/v5/enum.mdx#orderstatus).
// PartiallyFilledCanceled is spot's IOC remainder cancelled after a partial
// fill; Untriggered/Triggered are conditional orders (not placed by this
// client, reported as new); Deactivated is a cancelled conditional order.
func orderStatus(b []byte) (exchange.OrderStatus, bool) {
	switch string(b) {
	case "New", "Created", "Untriggered", "Triggered":
		return exchange.StatusNew, true
	case "PartiallyFilled":
		return exchange.StatusPartiallyFilled, true
	case "Filled":
		return exchange.StatusFilled, true
	case "Cancelled", "PartiallyFilledCanceled", "Deactivated":
		return exchange.StatusCanceled, true
	case "Rejected":
		return exchange.StatusRejected, true
	}
	return 0, false
}

func tifOf(b []byte) exchange.TimeInForce {
	switch string(b) {
	case "IOC":
		return exchange.IOC
	case "FOK":
		return exchange.FOK
	case "GTC", "PostOnly":
		return exchange.GTC
	}
	return 0
}

// msToNs parses a millisecond timestamp written as a string ("1672364262444").
func msToNs(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	v, err := jsonscan.ParseInt(b)
	if err != nil || v < 0 || v > 1<<62/1_000_000 {
		return 0, false
	}
	return v * 1_000_000, true
}

// fixedOrZero parses a decimal in dec decimals; "" is 0.
func fixedOrZero(b []byte, dec uint8) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	return num.ParseUnsigned(b, dec)
}

// scaleErr says whether a number error means "does not fit the scale"
// (a broken invariant) rather than "not a number" (malformed input).
func scaleErr(err error) convResult {
	if errors.Is(err, num.ErrPrecision) || errors.Is(err, num.ErrRange) {
		return convBroken
	}
	return convBad
}

// toOrderState converts one order object. Orders of other categories or of
// symbols this client does not trade are skipped.
func toOrderState(t *instruments, venue exchange.VenueID, o *orderFields, st *exchange.OrderState) (convResult, error) {
	if len(o.category) > 0 && string(o.category) != "spot" {
		return convSkip, nil
	}
	inst := t.bySymbol(o.symbol)
	if inst == nil {
		return convSkip, nil
	}
	*st = exchange.OrderState{Venue: venue, Inst: inst.ID, TIF: tifOf(o.tif)}
	var ok bool
	if st.Side, ok = parseSide(o.side); !ok {
		return convBad, errItemSide
	}
	if st.Status, ok = orderStatus(o.status); !ok {
		return convUnknown, errItemStatus
	}
	if st.ClientID, ok = exchange.IDFromBytes(o.linkID); !ok {
		return convBad, errItemID
	}
	if st.VenueOrderID, ok = exchange.IDFromBytes(o.orderID); !ok || len(o.orderID) == 0 {
		return convBad, errItemID
	}
	v, err := fixedOrZero(o.price, inst.Scale.Px)
	if err != nil {
		return scaleErr(err), err
	}
	st.Px = num.Price(v)
	if v, err = fixedOrZero(o.qty, inst.Scale.Qty); err != nil {
		return scaleErr(err), err
	}
	st.Qty = num.Qty(v)
	if v, err = fixedOrZero(o.cumQty, inst.Scale.Qty); err != nil {
		return scaleErr(err), err
	}
	st.FilledQty = num.Qty(v)
	if len(o.cumValue) > 0 {
		if st.FilledQuote, err = num.ParseAmount(o.cumValue); err != nil {
			return convBad, err
		}
	}
	if st.TS, ok = msToNs(o.updated); !ok {
		return convBad, errItemTime
	}
	return convOK, nil
}

// toFill converts one execution. Executions of other categories or
// symbols, and executions that are not trades (execType other than
// "Trade"), are skipped. A fee without a currency is given the asset
// Bybit charges spot fees in — the one received: base on a buy, quote on
// a sell — and inferred is set so the caller counts it.
func toFill(t *instruments, venue exchange.VenueID, x *execFields, f *exchange.Fill) (res convResult, inferred bool, err error) {
	if len(x.category) > 0 && string(x.category) != "spot" {
		return convSkip, false, nil
	}
	inst := t.bySymbol(x.symbol)
	if inst == nil {
		return convSkip, false, nil
	}
	if len(x.execType) > 0 && string(x.execType) != "Trade" {
		return convSkip, false, nil
	}
	*f = exchange.Fill{Venue: venue, Inst: inst.ID, Maker: x.isMaker}
	var ok bool
	if f.Side, ok = parseSide(x.side); !ok {
		return convBad, false, errItemSide
	}
	if f.TradeID, ok = exchange.IDFromBytes(x.execID); !ok || len(x.execID) == 0 {
		return convBad, false, errItemID
	}
	if f.ClientID, ok = exchange.IDFromBytes(x.linkID); !ok {
		return convBad, false, errItemID
	}
	if f.VenueOrderID, ok = exchange.IDFromBytes(x.orderID); !ok {
		return convBad, false, errItemID
	}
	px, err := num.ParseUnsigned(x.price, inst.Scale.Px)
	if err != nil {
		return scaleErr(err), false, err
	}
	qty, err := num.ParseUnsigned(x.qty, inst.Scale.Qty)
	if err != nil {
		return scaleErr(err), false, err
	}
	if px <= 0 || qty <= 0 {
		return convBad, false, errShape
	}
	f.Px, f.Qty = num.Price(px), num.Qty(qty)
	if len(x.fee) > 0 {
		if f.Fee, err = num.ParseAmount(x.fee); err != nil {
			return convBad, false, err
		}
	}
	if f.FeeAsset, ok = exchange.IDFromBytes(x.feeCurrency); !ok {
		return convBad, false, errItemID
	}
	if f.FeeAsset.IsZero() && !f.Fee.IsZero() {
		asset := inst.Quote
		if f.Side == exchange.Buy {
			asset = inst.Base
		}
		f.FeeAsset, _ = exchange.MakeID(asset)
		inferred = true
	}
	if f.TS, ok = msToNs(x.execTime); !ok || f.TS == 0 {
		return convBad, false, errItemTime
	}
	return convOK, inferred, nil
}
