package l2

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"arb/exchange"
	"arb/exchange/num"
)

// model is the obviously-right book: a map of price to quantity per side.
type model struct{ bids, asks map[num.Price]num.Qty }

func (m *model) sorted(bid bool) []exchange.Level {
	src := m.asks
	if bid {
		src = m.bids
	}
	var out []exchange.Level
	for p, q := range src {
		out = append(out, exchange.Level{Px: p, Qty: q})
	}
	slices.SortFunc(out, func(a, b exchange.Level) int {
		if bid {
			return int(b.Px - a.Px)
		}
		return int(a.Px - b.Px)
	})
	return out
}

func levels(s *Side) []exchange.Level {
	var out []exchange.Level
	for i := 0; i < s.Len(); i++ {
		out = append(out, s.Level(i))
	}
	return out
}

// TestAgainstMapModel applies random updates to a book with room for every
// level and to the map model, and compares them after every step.
func TestAgainstMapModel(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		b := New(512, true)
		m := model{bids: map[num.Price]num.Qty{}, asks: map[num.Price]num.Qty{}}
		for step := 0; step < 3000; step++ {
			bid := rng.IntN(2) == 0
			px := num.Price(rng.IntN(300) + 1)
			qty := num.Qty(rng.IntN(4)) // 0 deletes a quarter of the time
			side, mm := &b.Asks, m.asks
			if bid {
				side, mm = &b.Bids, m.bids
			}
			raw := []byte(strconv.Itoa(int(px)))
			if err := side.SetRaw(px, qty, raw, []byte(strconv.Itoa(int(qty)))); err != nil {
				t.Fatal(err)
			}
			if qty == 0 {
				delete(mm, px)
			} else {
				mm[px] = qty
			}
			if got, want := levels(side), m.sorted(bid); !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d: book %v\nmodel %v", seed, step, got, want)
			}
			for i := 0; i < side.Len(); i++ {
				if string(side.Raw(i).Px.Bytes()) != strconv.Itoa(int(side.Level(i).Px)) ||
					string(side.Raw(i).Qty.Bytes()) != strconv.Itoa(int(side.Level(i).Qty)) {
					t.Fatalf("raw strings out of step with levels at %d", i)
				}
			}
		}
	}
}

// TestTruncation: a full side keeps the best levels, drops the worst, and
// never reports a level the model does not have at that rank among the kept.
func TestTruncation(t *testing.T) {
	b := New(3, false)
	for _, p := range []num.Price{10, 11, 12} {
		b.Bids.Set(p, 1)
	}
	b.Bids.Set(9, 1) // worse than all, side full: outside the known range
	if b.Bids.Len() != 3 || b.Bids.Level(2).Px != 10 || !b.Bids.Truncated() {
		t.Fatalf("%v", levels(&b.Bids))
	}
	b.Bids.Set(13, 2) // better: 10 drops out
	if got := levels(&b.Bids); !slices.Equal(got, []exchange.Level{{Px: 13, Qty: 2}, {Px: 12, Qty: 1}, {Px: 11, Qty: 1}}) {
		t.Fatalf("%v", got)
	}
	b.Bids.Set(12, 0)
	b.Bids.Set(50, 0) // deleting an unknown level is a no-op
	if got := levels(&b.Bids); !slices.Equal(got, []exchange.Level{{Px: 13, Qty: 2}, {Px: 11, Qty: 1}}) {
		t.Fatalf("%v", got)
	}
	b.Reset()
	if b.Bids.Len() != 0 || b.Bids.Truncated() {
		t.Fatal("reset")
	}
}

func TestTopAndCrossed(t *testing.T) {
	b := New(64, false)
	for i := 1; i <= 20; i++ {
		b.Bids.Set(num.Price(100-i), num.Qty(i))
		b.Asks.Set(num.Price(100+i), num.Qty(i))
	}
	var ev exchange.BookTop
	b.Top(&ev)
	if ev.NBids != exchange.TopK || ev.Bids[0].Px != 99 || ev.Asks[0].Px != 101 || ev.Asks[9].Px != 110 {
		t.Fatalf("%+v", ev)
	}
	if b.Crossed() {
		t.Fatal("not crossed")
	}
	b.Bids.Set(101, 1)
	if !b.Crossed() {
		t.Fatal("crossed")
	}
	if err := b.Asks.SetRaw(1, 1, make([]byte, RawMax+1), nil); err != ErrRawTooLong {
		t.Fatal(err)
	}
}

func TestNoAllocs(t *testing.T) {
	b := New(1000, true)
	for i := 0; i < 900; i++ {
		b.Asks.Set(num.Price(1000+i), 5)
	}
	var ev exchange.BookTop
	px, qty := []byte("1000.5"), []byte("3")
	n := testing.AllocsPerRun(1000, func() {
		_ = b.Asks.SetRaw(999, 3, px, qty)
		_ = b.Asks.SetRaw(999, 0, px, qty)
		b.Top(&ev)
	})
	if n != 0 {
		t.Fatalf("allocs %v", n)
	}
}

func BenchmarkSetTop(b *testing.B) {
	bk := New(5000, false)
	for i := 0; i < 5000; i++ {
		bk.Bids.Set(num.Price(100000-i), 1)
	}
	b.ReportAllocs()
	var i int
	for b.Loop() {
		px := num.Price(100000 - i%10)
		bk.Bids.Set(px, num.Qty(i%3))
		i++
	}
}

// bisect is the plain binary search the galloping one replaced: the
// reference it is checked against and the baseline it is measured against.
func bisect(s *Side, px num.Price) (int, bool) {
	lo, hi := 0, len(s.lv)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if (s.bid && px > s.lv[m].Px) || (!s.bid && px < s.lv[m].Px) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(s.lv) && s.lv[lo].Px == px
}

// TestSearchMatchesBisection: on sides of every size up to 70 and random
// larger ones, for every price present, between and beyond the levels, the
// galloping search returns what bisection does.
func TestSearchMatchesBisection(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	check := func(s *Side, px num.Price) {
		t.Helper()
		gi, gf := s.search(px)
		wi, wf := bisect(s, px)
		if gi != wi || gf != wf {
			t.Fatalf("bid=%v len=%d px=%d: search (%d,%v), bisection (%d,%v)", s.bid, len(s.lv), px, gi, gf, wi, wf)
		}
	}
	for n := 0; n < 70+200; n++ {
		size := n
		if n >= 70 {
			size = 70 + rng.IntN(3000)
		}
		b := New(size+1, false)
		for k := 0; k < size; k++ {
			b.Bids.Set(num.Price(10+3*k), 1)
			b.Asks.Set(num.Price(10+3*k), 1)
		}
		for px := num.Price(0); px <= num.Price(12+3*size); px++ {
			if size > 70 && rng.IntN(8) != 0 {
				continue
			}
			check(&b.Bids, px)
			check(&b.Asks, px)
		}
	}
}

// BenchmarkSearch compares the galloping search with bisection on a
// 1000-level side, for prices at the top (within 8 levels of the best),
// and uniformly anywhere in the side.
func BenchmarkSearch(b *testing.B) {
	bk := New(1000, false)
	for i := 0; i < 1000; i++ {
		bk.Bids.Set(num.Price(100000-2*i), 1)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	top, any := make([]num.Price, 4096), make([]num.Price, 4096)
	for i := range top {
		top[i] = num.Price(100000 - rng.IntN(16))
		any[i] = num.Price(100000 - rng.IntN(2000))
	}
	for _, c := range []struct {
		name string
		px   []num.Price
	}{{"top", top}, {"anywhere", any}} {
		b.Run(c.name+"/gallop", func(b *testing.B) {
			var i, sink int
			for b.Loop() {
				k, _ := bk.Bids.search(c.px[i&4095])
				sink += k
				i++
			}
			_ = sink
		})
		b.Run(c.name+"/bisect", func(b *testing.B) {
			var i, sink int
			for b.Loop() {
				k, _ := bisect(&bk.Bids, c.px[i&4095])
				sink += k
				i++
			}
			_ = sink
		})
	}
}

// FuzzSearch: for any set of levels (prices from the input) and any probe,
// the galloping search agrees with bisection on both sides.
func FuzzSearch(f *testing.F) {
	f.Add([]byte{1, 5, 9, 200, 3}, uint16(5))
	f.Add([]byte{}, uint16(0))
	f.Add([]byte{255, 254, 1, 0, 7, 7, 7}, uint16(7))
	f.Fuzz(func(t *testing.T, pxs []byte, probe uint16) {
		if len(pxs) > 512 {
			pxs = pxs[:512]
		}
		b := New(len(pxs)+1, false)
		for k, p := range pxs {
			px := num.Price(p)<<8 | num.Price(k&0xff)
			b.Bids.Set(px, 1)
			b.Asks.Set(px, 1)
		}
		for _, s := range []*Side{&b.Bids, &b.Asks} {
			gi, gf := s.search(num.Price(probe))
			wi, wf := bisect(s, num.Price(probe))
			if gi != wi || gf != wf {
				t.Fatalf("bid=%v len=%d px=%d: search (%d,%v), bisection (%d,%v)", s.bid, len(s.lv), probe, gi, gf, wi, wf)
			}
		}
	})
}
