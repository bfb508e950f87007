package spread

import (
	"encoding/binary"
	"math/big"
	"testing"

	"arb/exchange"
	"arb/exchange/num"
)

// FuzzParseDecimal: config amounts are outside input. Whatever the text,
// parsing never panics, and an accepted amount round-trips exactly through
// its decimal form and converts to other scales by exact floor/ceil.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "1", "0.0005", "1.50", "12345.678901234567", "", ".5", "5.", "-1", "1e3", "00.10", "9223372036854775807", "9223372036854775808", "0.0000000000000000001"} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, to uint8) {
		d, err := parseDecimal(s)
		if err != nil {
			return
		}
		want, ok := new(big.Rat).SetString(s)
		if !ok || want.Sign() < 0 {
			t.Fatalf("%q accepted as %+v", s, d)
		}
		got := new(big.Rat).SetFrac(big.NewInt(d.mant), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.dec)), nil))
		if got.Cmp(want) != 0 {
			t.Fatalf("%q parsed as %s", s, got.RatString())
		}
		to %= num.MaxDecimals + 1
		for _, ceil := range []bool{false, true} {
			v, err := d.at(to, ceil)
			if err != nil {
				continue // out of range at a finer scale
			}
			x := new(big.Rat).SetFrac(big.NewInt(v), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(to)), nil))
			unit := new(big.Rat).SetFrac64(1, 1)
			unit.Quo(unit, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(to)), nil)))
			diff := new(big.Rat).Sub(x, want)
			if ceil && (diff.Sign() < 0 || diff.Cmp(unit) >= 0) || !ceil && (diff.Sign() > 0 || new(big.Rat).Neg(diff).Cmp(unit) >= 0) {
				t.Fatalf("%q at %d (ceil %v) = %d", s, to, ceil, v)
			}
		}
	})
}

// FuzzOnBook feeds arbitrary levels (any sign, any magnitude, any order,
// any counts and flags) for two venues. The detector must never panic, and
// any plan it emits must be feasible when recomputed exactly by the model.
func FuzzOnBook(f *testing.F) {
	seed := func(levels ...int64) []byte {
		b := make([]byte, 0, 4+16*len(levels))
		b = append(b, 3, 3, 3, 3)
		for _, v := range levels {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		return b
	}
	// book lays out one book's three bids and three asks in the ten-level
	// slots the decoder reads.
	book := func(bids, asks [6]int64) []int64 {
		out := make([]int64, 40)
		copy(out, bids[:])
		copy(out[20:], asks[:])
		return out
	}
	forward := append(book([6]int64{99900, 100, 99800, 100, 99700, 100}, [6]int64{100000, 300, 100100, 400, 100200, 500}),
		book([6]int64{101000, 300, 100900, 200, 100800, 100}, [6]int64{101100, 10, 101200, 10, 101300, 10})...)
	f.Add(seed(forward...))
	f.Add(seed(1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62,
		1<<62+5, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62))
	f.Add(seed(-5, 3, 0, 0, 7, -1))
	rev := make([]int64, 0, 80)
	for i := range int64(10) { // venue 1 bids high, venue 2 asks low: the reverse direction
		rev = append(rev, 110000-i*10, 100)
	}
	for i := range int64(10) {
		rev = append(rev, 110100+i*10, 100)
	}
	for i := range int64(10) {
		rev = append(rev, 99000-i*10, 100)
	}
	for i := range int64(10) {
		rev = append(rev, 99100+i*10, 100)
	}
	f.Add(seed(rev...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 4 {
			return
		}
		m := modelCase{
			scale: num.Scale{Px: 2, Qty: 3}, feeABps: 7.5, feeBBps: 10, slipBps: 1, thrBps: 2,
			gasA: "0.10", wBaseA: "0.001", wQuoteB: "1", nTrades: 5,
			quoteBalA: "90000000000000000", baseBalB: "9000000000000000", maxNotional: "90000000000000000",
			stepA: 1, stepB: 1, minNotA: "1", minNotB: "1",
		}
		e, _ := detectorFor(t, &m, 1)
		books := [2]exchange.BookTop{{Venue: 1, Inst: 1, RecvTS: t0}, {Venue: 2, Inst: 1, RecvTS: t0}}
		counts := data[:4]
		data = data[4:]
		next := func() int64 {
			if len(data) < 8 {
				return 0
			}
			v := int64(binary.LittleEndian.Uint64(data))
			data = data[8:]
			return v
		}
		for k := range books {
			b := &books[k]
			b.NBids, b.NAsks = counts[2*k]%(exchange.TopK+2), counts[2*k+1]%(exchange.TopK+2)
			if counts[2*k]&0x80 != 0 {
				b.Flags |= exchange.FlagStale
			}
			for i := range exchange.TopK {
				b.Bids[i] = exchange.Level{Px: num.Price(next()), Qty: num.Qty(next())}
			}
			for i := range exchange.TopK {
				b.Asks[i] = exchange.Level{Px: num.Price(next()), Qty: num.Qty(next())}
			}
		}
		for k := range books {
			for _, p := range e.d.OnBook(&books[k], t0) {
				buy, sell := &books[p.Buy.Venue-1], &books[p.Sell.Venue-1]
				mm := m
				if p.Buy.Venue == 2 { // the reverse direction: venue 2's costs and balances (see detectorFor)
					mm.feeABps, mm.feeBBps, mm.gasA, mm.gasB = m.feeBBps, m.feeABps, m.gasB, m.gasA
					mm.wBaseA, mm.wQuoteB, mm.quoteBalA, mm.baseBalB = "0.009", "9.99", "1000000", "1000"
					mm.stepA, mm.stepB, mm.minQtyA, mm.minQtyB = m.stepB, m.stepA, m.minQtyB, m.minQtyA
					mm.minNotA, mm.minNotB = m.minNotB, m.minNotA
				}
				mm.asks = append([]exchange.Level(nil), buy.Asks[:buy.NAsks]...)
				mm.bids = append([]exchange.Level(nil), sell.Bids[:sell.NBids]...)
				if _, ok := mm.evalQ(int64(p.Qty)); !ok {
					t.Fatalf("plan %+v is not feasible in the exact model", p)
				}
			}
		}
	})
}
