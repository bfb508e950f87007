package binance

import (
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
)

// TestRoundMatchesDecimal: roundOrder against a slow, obviously right
// model in shopspring/decimal (the venue's decimal rule: price a multiple
// of tickSize, quantity of stepSize, notional = price × quantity) over
// random instruments and requests. The seed is printed on failure.
func TestRoundMatchesDecimal(t *testing.T) {
	seed := uint64(20261121)
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := 0; i < 20000; i++ {
		sc := num.Scale{Px: uint8(rng.IntN(9)), Qty: uint8(rng.IntN(9))}
		in := exchange.Instrument{Scale: sc,
			Tick:   num.Price(pick(rng, 0, 1, 5, 10, 25, 100, 1000)),
			Step:   num.Qty(pick(rng, 0, 1, 2, 10, 100, 1000)),
			MinQty: num.Qty(pick(rng, 0, 1, 10, 1000)), MinNotional: num.Quote(pick(rng, 0, 1, 500, 100000))}
		side := exchange.Side(1 + rng.IntN(2))
		px := num.Price(rng.Int64N(10_000_000) - 5)
		qty := num.Qty(rng.Int64N(1_000_000) - 5)
		gotPx, gotQty, err := roundOrder(&in, side, px, qty)
		wantPx, wantQty, ok := decimalRound(in, side, px, qty)
		if (err == nil) != ok {
			t.Fatalf("seed %d case %d: %+v side %v px %d qty %d: err %v, model ok %v", seed, i, in, side, px, qty, err, ok)
		}
		if ok && (gotPx != wantPx || gotQty != wantQty) {
			t.Fatalf("seed %d case %d: got %d/%d want %d/%d", seed, i, gotPx, gotQty, wantPx, wantQty)
		}
		if ok && (side == exchange.Buy && gotPx > px || side == exchange.Sell && gotPx < px || gotQty > qty) {
			t.Fatalf("seed %d case %d: worse than requested", seed, i)
		}
	}
}

func pick(rng *rand.Rand, xs ...int64) int64 { return xs[rng.IntN(len(xs))] }

// decimalRound is the model: the same rule written in decimals.
func decimalRound(in exchange.Instrument, side exchange.Side, px num.Price, qty num.Qty) (num.Price, num.Qty, bool) {
	p := decimal.New(int64(px), -int32(in.Scale.Px))
	q := decimal.New(int64(qty), -int32(in.Scale.Qty))
	if p.Sign() <= 0 || q.Sign() <= 0 {
		return 0, 0, false
	}
	if in.Tick > 0 {
		tick := decimal.New(int64(in.Tick), -int32(in.Scale.Px))
		n := p.Div(tick)
		if side == exchange.Buy {
			n = n.Floor()
		} else {
			n = n.Ceil()
		}
		p = n.Mul(tick)
		if p.Sign() <= 0 {
			return 0, 0, false
		}
	}
	if in.Step > 0 {
		step := decimal.New(int64(in.Step), -int32(in.Scale.Qty))
		q = q.Div(step).Floor().Mul(step)
		if q.Sign() <= 0 {
			return 0, 0, false
		}
	}
	if in.MinQty > 0 && q.LessThan(decimal.New(int64(in.MinQty), -int32(in.Scale.Qty))) {
		return 0, 0, false
	}
	if in.MinNotional > 0 && p.Mul(q).LessThan(decimal.New(int64(in.MinNotional), -int32(in.Scale.Px))) {
		return 0, 0, false
	}
	return num.Price(p.Shift(int32(in.Scale.Px)).IntPart()), num.Qty(q.Shift(int32(in.Scale.Qty)).IntPart()), true
}

// TestRoundOrderCases: the documented direction on a few fixed cases.
func TestRoundOrderCases(t *testing.T) {
	in := btcusdt()
	in.Tick, in.Step = 10, 100 // 0.10, 0.00100
	for _, tc := range []struct {
		side     exchange.Side
		px, qty  int64
		wpx, wq  int64
		rejected bool
	}{
		{exchange.Buy, 3000019, 1299, 3000010, 1200, false},
		{exchange.Sell, 3000011, 1299, 3000020, 1200, false},
		{exchange.Sell, 3000010, 1200, 3000010, 1200, false}, // on the grid: unchanged
		{exchange.Buy, 3000019, 99, 0, 0, true},              // qty rounds to 0
		{exchange.Buy, 1000, 100000, 1000, 100000, false},    // 10.00 × 1 ≥ 5 USDT
	} {
		px, q, err := roundOrder(&in, tc.side, num.Price(tc.px), num.Qty(tc.qty))
		if (err != nil) != tc.rejected || !tc.rejected && (int64(px) != tc.wpx || int64(q) != tc.wq) {
			t.Errorf("%+v: %d %d %v", tc, px, q, err)
		}
	}
	if _, _, err := roundOrder(&in, exchange.Buy, 400, 100000); err != errMinNotional { // 4.00 × 1 < 5
		t.Errorf("min notional: %v", err)
	}
}
