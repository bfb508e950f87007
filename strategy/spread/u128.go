package spread

import "math/bits"

// u128 is an unsigned 128-bit integer. The detector's exact edge test
// multiplies notionals in units of 10^-(Px+Qty) quote by rates in 10^-8, which
// needs up to ~2^110 for realistic books; every operation that could exceed
// 128 bits is checked, and an overflow aborts the evaluation (counted) rather
// than wrapping into a wrong decision.
type u128 struct{ hi, lo uint64 }

func mul64(a, b uint64) u128 {
	hi, lo := bits.Mul64(a, b)
	return u128{hi, lo}
}

func (x u128) isZero() bool { return x.hi == 0 && x.lo == 0 }

func (x u128) cmp(y u128) int {
	switch {
	case x.hi < y.hi:
		return -1
	case x.hi > y.hi:
		return 1
	case x.lo < y.lo:
		return -1
	case x.lo > y.lo:
		return 1
	}
	return 0
}

func (x u128) less(y u128) bool { return x.cmp(y) < 0 }

// add returns x+y and false on overflow.
func (x u128) add(y u128) (u128, bool) {
	lo, c := bits.Add64(x.lo, y.lo, 0)
	hi, c2 := bits.Add64(x.hi, y.hi, c)
	return u128{hi, lo}, c2 == 0
}

// sub returns x-y; the caller guarantees x ≥ y.
func (x u128) sub(y u128) u128 {
	lo, b := bits.Sub64(x.lo, y.lo, 0)
	hi, _ := bits.Sub64(x.hi, y.hi, b)
	return u128{hi, lo}
}

// mul returns x*m and false on overflow.
func (x u128) mul(m uint64) (u128, bool) {
	h1, l1 := bits.Mul64(x.lo, m)
	h2, l2 := bits.Mul64(x.hi, m)
	if h2 != 0 {
		return u128{}, false
	}
	hi, c := bits.Add64(h1, l2, 0)
	return u128{hi, l1}, c == 0
}

// divSmall returns floor(x/d) and the remainder; d > 0.
func (x u128) divSmall(d uint64) (u128, uint64) {
	qhi := x.hi / d
	r := x.hi % d
	qlo, r := bits.Div64(r, x.lo, d)
	return u128{qhi, qlo}, r
}

// divCeilSmall returns ceil(x/d); d > 0.
func (x u128) divCeilSmall(d uint64) u128 {
	q, r := x.divSmall(d)
	if r != 0 {
		q, _ = q.add(u128{0, 1}) // cannot overflow: q < x when d > 1, and d == 1 leaves r == 0
	}
	return q
}

// div returns floor(x/d) for d > 0 by shift-and-subtract. It is used only on
// the rare path where d does not fit 64 bits.
func (x u128) div(d u128) u128 {
	if d.hi == 0 {
		q, _ := x.divSmall(d.lo)
		return q
	}
	var q, r u128
	for i := 127; i >= 0; i-- {
		// r = r<<1 | bit i of x; r < d < 2^128 before the shift and d.hi > 0,
		// so r < 2^127 and the shift cannot overflow.
		r = u128{r.hi<<1 | r.lo>>63, r.lo << 1}
		if i >= 64 {
			r.lo |= (x.hi >> (i - 64)) & 1
		} else {
			r.lo |= (x.lo >> i) & 1
		}
		if !r.less(d) {
			r = r.sub(d)
			if i >= 64 {
				q.hi |= 1 << (i - 64)
			} else {
				q.lo |= 1 << i
			}
		}
	}
	return q
}

// int64 returns x as an int64 and false if it does not fit.
func (x u128) int64() (int64, bool) {
	if x.hi != 0 || x.lo > 1<<63-1 {
		return 0, false
	}
	return int64(x.lo), true
}

// float returns x as a float64 (ratios only).
func (x u128) float() float64 { return float64(x.hi)*18446744073709551616.0 + float64(x.lo) }
