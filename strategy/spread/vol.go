package spread

import "math"

// volState holds exponentially weighted statistics of one venue pair's
// spread, x = (mid_sell − mid_buy) / mid_buy in bps, sampled whenever either
// book of the pair updates while both are usable. Weights decay with time,
// not with sample count, so a venue that updates ten times as often does not
// shrink the horizon: after a gap of dt the old statistics keep weight
// 2^(−dt/halfLife). The variance is the standard incremental form
// (West 1979) of the exponentially weighted variance.
type volState struct {
	mean, variance float64
	first, last    int64 // sample times, Unix ns
	n              uint64
}

func (v *volState) add(x float64, t int64, halfLifeNs float64) {
	if v.n == 0 {
		*v = volState{mean: x, first: t, last: t, n: 1}
		return
	}
	v.n++
	dt := t - v.last
	if dt <= 0 {
		return // same instant: the first sample at t stands for it
	}
	v.last = t
	alpha := 1 - math.Exp2(-float64(dt)/halfLifeNs)
	diff := x - v.mean
	incr := alpha * diff
	v.mean += incr
	v.variance = (1 - alpha) * (v.variance + diff*incr)
}

// std returns the spread's volatility in bps.
func (v *volState) std() float64 { return math.Sqrt(v.variance) }

// ready reports whether one half-life of observations has accumulated
// (measured between sample times, so it does not depend on the caller's
// clock).
func (v *volState) ready(halfLifeNs int64) bool {
	return v.n > 1 && v.last-v.first >= halfLifeNs
}
