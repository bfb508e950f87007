package binance

import (
	"errors"

	"arb/exchange"
	"arb/exchange/num"
)

// Refusals of roundOrder: the order is refused before any request.
var (
	errNonPositive = errors.New("price and quantity must be positive")
	errPxRounds    = errors.New("price rounds to zero on the tick grid")
	errQtyRounds   = errors.New("quantity rounds to zero on the step grid")
	errMinQty      = errors.New("quantity below LOT_SIZE minQty")
	errMinNotional = errors.New("price × quantity below NOTIONAL minNotional")
	errOverflow    = errors.New("price × quantity overflows")
)

// roundOrder puts a limit order on the venue's grid without ever making it
// worse than requested: a buy limit is rounded down to the tick, a sell
// limit up, the quantity down to the step; then the LOT_SIZE minimum and
// the NOTIONAL minimum (on the rounded price and quantity) are checked.
//
// Tick, Step, MinQty and MinNotional are in the instrument's Scale (the
// filters are parsed into it, and ParseInstruments refuses a filter finer
// than the scale), so the rounding is integer arithmetic on the same grid
// and exact: it is the decimal rounding the venue applies, with no
// allocation on the order path. TestRoundMatchesDecimal checks it against
// shopspring/decimal over random inputs.
func roundOrder(in *exchange.Instrument, side exchange.Side, px num.Price, qty num.Qty) (num.Price, num.Qty, error) {
	if px <= 0 || qty <= 0 {
		return 0, 0, errNonPositive
	}
	if in.Tick > 0 {
		if side == exchange.Buy {
			px = num.Price(num.FloorTo(int64(px), int64(in.Tick)))
		} else {
			c := num.CeilTo(int64(px), int64(in.Tick))
			if c < int64(px) { // overflowed
				return 0, 0, errOverflow
			}
			px = num.Price(c)
		}
		if px <= 0 {
			return 0, 0, errPxRounds
		}
	}
	if in.Step > 0 {
		qty = num.Qty(num.FloorTo(int64(qty), int64(in.Step)))
		if qty <= 0 {
			return 0, 0, errQtyRounds
		}
	}
	if in.MinQty > 0 && qty < in.MinQty {
		return 0, 0, errMinQty
	}
	if in.MinNotional > 0 {
		// floor(px·qty) ≥ m ⟺ px·qty ≥ m for an integer m, so the floored
		// notional decides exactly.
		n, ok := num.Notional(px, qty, in.Scale)
		if !ok {
			return 0, 0, errOverflow
		}
		if n < in.MinNotional {
			return 0, 0, errMinNotional
		}
	}
	return px, qty, nil
}
