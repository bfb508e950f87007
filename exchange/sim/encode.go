package sim

import (
	"strconv"

	"arb/exchange/num"
)

// Wire formats of numbers, one per venue, as each venue prints them in its
// documentation.

// appendFixed8 prints v (10^-dec units) with exactly 8 decimals, as Binance
// does ("25.35190000").
func appendFixed8(dst []byte, v int64, dec uint8) []byte {
	return num.AppendFixed(dst, v*num.Pow10(8-dec), 8)
}

// appendDec prints v (10^-dec units) with exactly out ≤ dec decimals; v must
// be a multiple of 10^(dec-out) (prices on the tick grid, sizes on the step
// grid), as Bybit prints ("30247.20").
func appendDec(dst []byte, v int64, dec, out uint8) []byte {
	if out >= dec {
		return num.AppendFixed(dst, v*num.Pow10(out-dec), out)
	}
	return num.AppendFixed(dst, v/num.Pow10(dec-out), out)
}

func appendU(dst []byte, u uint64) []byte { return strconv.AppendUint(dst, u, 10) }
func appendI(dst []byte, i int64) []byte  { return strconv.AppendInt(dst, i, 10) }

// appendBinanceLevels appends [["px","qty"],…] with 8 decimals; qty 0
// prints as "0.00000000", as Binance sends deletes.
func appendBinanceLevels(dst []byte, l []lvl, sym *symbol) []byte {
	dst = append(dst, '[')
	for i, x := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `["`...)
		dst = appendFixed8(dst, x.px, sym.scale.Px)
		dst = append(dst, `","`...)
		dst = appendFixed8(dst, x.qty, sym.scale.Qty)
		dst = append(dst, `"]`...)
	}
	return append(dst, ']')
}

// okxPx and okxSz print OKX's trimmed decimals ("8476.98", "8477", "0").
func okxPx(dst []byte, v int64, sym *symbol) []byte { return num.AppendTrim(dst, v, sym.scale.Px) }
func okxSz(dst []byte, v int64, sym *symbol) []byte { return num.AppendTrim(dst, v, sym.scale.Qty) }

// okxOrders is the order count the simulator reports for a level: a stable
// function of its size (the simulator does not model single orders).
func okxOrders(qty, step int64) int64 {
	if qty == 0 {
		return 0
	}
	return 1 + (qty/step)%17
}

// appendOKXLevels appends [["px","sz","0","orders"],…].
func appendOKXLevels(dst []byte, l []lvl, sym *symbol) []byte {
	dst = append(dst, '[')
	for i, x := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `["`...)
		dst = okxPx(dst, x.px, sym)
		dst = append(dst, `","`...)
		dst = okxSz(dst, x.qty, sym)
		dst = append(dst, `","0","`...)
		dst = appendI(dst, okxOrders(x.qty, sym.step))
		dst = append(dst, `"]`...)
	}
	return append(dst, ']')
}

// appendBybitLevels appends [["px","size"],…]: prices with the tick's
// written decimals, sizes with the step's, a delete as "0".
func appendBybitLevels(dst []byte, l []lvl, sym *symbol) []byte {
	dst = append(dst, '[')
	for i, x := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `["`...)
		dst = appendDec(dst, x.px, sym.scale.Px, sym.tickDec)
		dst = append(dst, `","`...)
		if x.qty == 0 {
			dst = append(dst, '0')
		} else {
			dst = appendDec(dst, x.qty, sym.scale.Qty, sym.stepDec)
		}
		dst = append(dst, `"]`...)
	}
	return append(dst, ']')
}

// wireDelta returns the update as it goes on the wire for this step's faults:
// with a crossing bid on top (FaultCrossed) and with padding deletes of far
// levels that do not exist (FaultHugeFrame).
func wireDelta(vb *vbook, d *delta, fx *stepFaults) *delta {
	if !fx.crossed && fx.hugeSize == 0 {
		return d
	}
	out := &delta{bids: append([]lvl(nil), d.bids...), asks: append([]lvl(nil), d.asks...)}
	t := vb.sym.tick
	if fx.crossed && len(vb.pub.asks.l) > 0 {
		// The crossing bid replaces any change of the update at its price:
		// when the market just moved down, that price is often a bid level
		// the update deletes, and a client applying the levels in order
		// would delete the crossing bid again — the fault would be lost.
		px := vb.pub.asks.l[0].px + t
		out.bids = append(out.bids[:0], lvl{px, vb.sym.step})
		for _, l := range d.bids {
			if l.px != px {
				out.bids = append(out.bids, l)
			}
		}
	}
	if fx.hugeSize > 0 {
		far := vb.targetMid()
		if n := len(vb.pub.asks.l); n > 0 {
			far = vb.pub.asks.l[n-1].px
		}
		far = max(far, vb.live.worstAsk())
		for k := int64(1); k <= int64(fx.hugeSize/18+1); k++ {
			out.asks = append(out.asks, lvl{far + (1000+k)*t, 0})
		}
	}
	return out
}

func (b *book) worstAsk() int64 {
	if n := len(b.asks.l); n > 0 {
		return b.asks.l[n-1].px
	}
	return 0
}

// crossedTop returns the top levels with the best bid moved above the best
// ask, for top-of-book channels under FaultCrossed.
func crossedTop(vb *vbook, bids, asks []lvl) []lvl {
	if len(asks) == 0 || len(bids) == 0 {
		return bids
	}
	out := append([]lvl(nil), bids...)
	out[0].px = asks[0].px + vb.sym.tick
	return out
}
