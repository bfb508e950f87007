package uniswap

import (
	"math"

	"github.com/holiman/uint256"

	"arb/exchange"
	"arb/exchange/num"
)

// Pool is a pair's state in the instrument's terms: its reserves of the
// base and quote tokens (token units) and what converts them to the
// instrument's fixed point. It is a plain value: the feed builds one per
// block and derives the book and the gas cost from it.
type Pool struct {
	Base, Quote uint256.Int // reserves, token units
	BaseDec     uint8       // ERC-20 decimals of the base token
	QuoteDec    uint8       // ERC-20 decimals of the quote token
	Scale       num.Scale   // the canonical instrument's scale
}

// pow10u returns 10^d as a uint256 (d ≤ 77).
func pow10u(d uint) uint256.Int {
	var z uint256.Int
	z.Exp(uint256.NewInt(10), uint256.NewInt(uint64(d)))
	return z
}

// baseUnit returns the base token units in one Qty unit: 10^(BaseDec − Scale.Qty).
func (p *Pool) baseUnit() uint256.Int { return pow10u(uint(p.BaseDec - p.Scale.Qty)) }

// BaseUnits converts q (Qty units) to base token units.
func (p *Pool) BaseUnits(q num.Qty) uint256.Int {
	u := p.baseUnit()
	var z uint256.Int
	z.Mul(uint256.NewInt(uint64(q)), &u)
	return z
}

// QuoteUnits converts a PQ amount (10^-(Px+Qty) quote, i.e. price × qty in
// the instrument's units) to quote token units, rounded down or up.
func (p *Pool) QuoteUnits(pq *uint256.Int, up bool) uint256.Int {
	return rescale(pq, uint(p.Scale.Px)+uint(p.Scale.Qty), uint(p.QuoteDec), up)
}

// rescale converts v from 10^-from units to 10^-to units, rounding down or up.
func rescale(v *uint256.Int, from, to uint, up bool) uint256.Int {
	var z uint256.Int
	if to >= from {
		m := pow10u(to - from)
		z.Mul(v, &m)
		return z
	}
	d := pow10u(from - to)
	var r uint256.Int
	z.DivMod(v, &d, &r)
	if up && !r.IsZero() {
		z.AddUint64(&z, 1)
	}
	return z
}

// Depth is how the synthetic book is cut: Levels cumulative sizes growing
// by Ratio, the largest FractionBps of the base reserve.
type Depth struct {
	Levels      int    // 1..exchange.TopK
	Ratio       uint64 // ≥ 2
	FractionBps uint64 // 1..5000: the deepest level as a share of the base reserve
}

// DefaultDepth is ten levels doubling up to 10 % of the base reserve.
var DefaultDepth = Depth{Levels: exchange.TopK, Ratio: 2, FractionBps: 1000}

// Book writes p's synthetic depth into b's levels (the caller sets the
// header fields). Asks are what buying base from the pool costs, bids what
// selling base into it pays, each level the exact getAmountIn/getAmountOut
// difference between two cumulative sizes divided by the level's quantity:
// ask prices rounded up, bid prices down, so that walking the levels to any
// level boundary never understates a buy's cost nor overstates a sale's
// proceeds (and between boundaries the chord of a convex cost lies above
// it). Levels whose rounded prices would not be strictly ordered are
// merged. It reports false, with b's sides emptied, when the pool is empty
// or too small for one level at the instrument's scale. It does not
// allocate.
func (p *Pool) Book(d Depth, b *exchange.BookTop) bool {
	b.NBids, b.NAsks = 0, 0
	if p.Base.IsZero() || p.Quote.IsZero() || p.BaseDec < p.Scale.Qty {
		return false
	}
	unit := p.baseUnit()
	var maxQ uint256.Int
	maxQ.Div(&p.Base, &unit)
	maxQ.Mul(&maxQ, uint256.NewInt(d.FractionBps))
	maxQ.Div(&maxQ, uint256.NewInt(10000))
	if !maxQ.IsUint64() || maxQ.Uint64() > math.MaxInt64/2 {
		maxQ.SetUint64(math.MaxInt64 / 2)
	}
	top := maxQ.Uint64()
	var sizes [exchange.TopK]uint64
	n := 0
	// Cumulative sizes top/Ratio^(Levels−1), ..., top/Ratio, top.
	s := top
	for i := d.Levels - 1; i >= 0; i-- {
		sizes[i] = s
		s /= d.Ratio
	}
	// Drop leading zero or repeated sizes (tiny pools).
	k := 0
	for i := 0; i < d.Levels; i++ {
		if sizes[i] == 0 || k > 0 && sizes[i] <= sizes[k-1] {
			continue
		}
		sizes[k] = sizes[i]
		k++
	}
	n = k
	if n == 0 {
		return false
	}
	// PQ units per quote token unit conversion: price = Δtokens ·
	// 10^(Px+Qty) / (10^QuoteDec · Δq).
	pxq := uint(p.Scale.Px) + uint(p.Scale.Qty)
	na := p.side(sizes[:n], &unit, pxq, true, &b.Asks)
	nb := p.side(sizes[:n], &unit, pxq, false, &b.Bids)
	if na == 0 || nb == 0 {
		return false
	}
	b.NAsks, b.NBids = uint8(na), uint8(nb)
	return true
}

// side fills one side's levels from the cumulative sizes and returns how
// many it wrote.
func (p *Pool) side(sizes []uint64, unit *uint256.Int, pxq uint, ask bool, out *[exchange.TopK]exchange.Level) int {
	n := 0
	var prevAmt uint256.Int // tokens at the previous written boundary
	var prevQ uint64
	for _, q := range sizes {
		var amt uint256.Int
		var qu uint256.Int
		qu.Mul(uint256.NewInt(q), unit)
		var err error
		if ask {
			amt, err = AmountIn(&qu, &p.Quote, &p.Base)
		} else {
			amt, err = AmountOut(&qu, &p.Base, &p.Quote)
		}
		if err != nil {
			break
		}
		// Price of (prevQ, q]; merged backwards while not strictly ordered.
		startQ, startAmt := prevQ, prevAmt
		for {
			px, ok := p.levelPx(&amt, &startAmt, q-startQ, pxq, ask)
			if !ok {
				return n
			}
			if n == 0 || ask && px > out[n-1].Px || !ask && px < out[n-1].Px {
				if px <= 0 {
					return n
				}
				out[n] = exchange.Level{Px: px, Qty: num.Qty(q - startQ)}
				n++
				break
			}
			// Not strictly ordered after rounding: merge with the previous level.
			n--
			startQ -= uint64(out[n].Qty)
			startAmt = p.amountAt(startQ, unit, ask)
		}
		prevQ, prevAmt = q, amt
	}
	return n
}

// amountAt is the cost (ask) or proceeds (bid) of q Qty units; q is a size
// already computed once without error, so it cannot fail.
func (p *Pool) amountAt(q uint64, unit *uint256.Int, ask bool) uint256.Int {
	if q == 0 {
		return uint256.Int{}
	}
	var qu uint256.Int
	qu.Mul(uint256.NewInt(q), unit)
	if ask {
		a, _ := AmountIn(&qu, &p.Quote, &p.Base)
		return a
	}
	a, _ := AmountOut(&qu, &p.Base, &p.Quote)
	return a
}

// levelPx is (amt − start) tokens over dq Qty units as a price in Px
// units, rounded up for asks and down for bids.
func (p *Pool) levelPx(amt, start *uint256.Int, dq uint64, pxq uint, ask bool) (num.Price, bool) {
	var diff uint256.Int
	if _, under := diff.SubOverflow(amt, start); under {
		return 0, false
	}
	// diff tokens · 10^pxq / (10^QuoteDec · dq)
	m := pow10u(pxq)
	var numr, den, q, r uint256.Int
	if _, o := numr.MulOverflow(&diff, &m); o {
		return 0, false
	}
	qd := pow10u(uint(p.QuoteDec))
	if _, o := den.MulOverflow(&qd, uint256.NewInt(dq)); o || den.IsZero() {
		return 0, false
	}
	q.DivMod(&numr, &den, &r)
	if ask && !r.IsZero() {
		q.AddUint64(&q, 1)
	}
	if !q.IsUint64() || q.Uint64() > math.MaxInt64 {
		return 0, false
	}
	return num.Price(q.Uint64()), true
}

// Mid returns the pool's price (quote per base, reserves ratio) in Px
// units, rounded down, and false if it does not fit.
func (p *Pool) Mid() (num.Price, bool) {
	if p.Base.IsZero() {
		return 0, false
	}
	// Quote·10^(Px+BaseDec) / (Base·10^QuoteDec)
	var numr, den uint256.Int
	m := pow10u(uint(p.Scale.Px) + uint(p.BaseDec))
	if _, o := numr.MulOverflow(&p.Quote, &m); o {
		return 0, false
	}
	qd := pow10u(uint(p.QuoteDec))
	if _, o := den.MulOverflow(&p.Base, &qd); o {
		return 0, false
	}
	numr.Div(&numr, &den)
	if !numr.IsUint64() || numr.Uint64() > math.MaxInt64 {
		return 0, false
	}
	return num.Price(numr.Uint64()), true
}

// NativeToken says which of the pair's tokens is the chain's wrapped
// native token (WETH), in which gas is paid.
type NativeToken uint8

// Native token positions.
const (
	NativeBase  NativeToken = iota + 1 // the base token is WETH: gas is valued at the pool's price
	NativeQuote                        // the quote token is WETH: gas is a quote amount as it is
)

// GasQuote values gasWei (wei of the native token) in the instrument's
// quote, Px units, rounded up (a cost is never understated): at the
// pool's own reserves ratio when the base is the native token. Wei are
// taken as 10^-18 native, converted to the wrapped token's decimals. It
// reports false when the value does not fit.
func (p *Pool) GasQuote(gasWei *uint256.Int, native NativeToken) (num.Quote, bool) {
	var v uint256.Int
	switch native {
	case NativeBase:
		if p.Base.IsZero() {
			return 0, false
		}
		// wei → base token units → quote token units at Quote/Base → Px units.
		w := rescale(gasWei, 18, uint(p.BaseDec), true)
		var t uint256.Int
		if _, o := t.MulOverflow(&w, &p.Quote); o {
			return 0, false
		}
		var r uint256.Int
		t.DivMod(&t, &p.Base, &r)
		if !r.IsZero() {
			t.AddUint64(&t, 1)
		}
		v = rescale(&t, uint(p.QuoteDec), uint(p.Scale.Px), true)
	case NativeQuote:
		v = rescale(gasWei, 18, uint(p.Scale.Px), true)
	default:
		return 0, false
	}
	if !v.IsUint64() || v.Uint64() > math.MaxInt64 {
		return 0, false
	}
	return num.Quote(v.Uint64()), true
}
