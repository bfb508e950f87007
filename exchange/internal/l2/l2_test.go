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
				if string(side.Raw(i).Px()) != strconv.Itoa(int(side.Level(i).Px)) ||
					string(side.Raw(i).Qty()) != strconv.Itoa(int(side.Level(i).Qty)) {
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
	lv := s.levels()
	lo, hi := 0, len(lv)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if (s.bid && px > lv[m].Px) || (!s.bid && px < lv[m].Px) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(lv) && lv[lo].Px == px
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
			t.Fatalf("bid=%v len=%d px=%d: search (%d,%v), bisection (%d,%v)", s.bid, s.Len(), px, gi, gf, wi, wf)
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
				t.Fatalf("bid=%v len=%d px=%d: search (%d,%v), bisection (%d,%v)", s.bid, s.Len(), probe, gi, gf, wi, wf)
			}
		}
	})
}

// flatSide is the side as it was before the backing array had room at both
// ends: one array, worst level first, every insert and delete moving the
// levels above it, a full side dropping its worst level by moving all the
// others. It is the reference the current Side is checked against.
type flatSide struct {
	lv        []exchange.Level
	raw       [][2]string
	depth     int
	bid       bool
	truncated bool
}

func (f *flatSide) set(px num.Price, qty num.Qty, pxRaw, qtyRaw string) {
	i := 0
	for i < len(f.lv) && ((f.bid && f.lv[i].Px < px) || (!f.bid && f.lv[i].Px > px)) {
		i++
	}
	found := i < len(f.lv) && f.lv[i].Px == px
	r := [2]string{pxRaw, qtyRaw}
	switch {
	case qty == 0:
		if found {
			f.lv = slices.Delete(f.lv, i, i+1)
			f.raw = slices.Delete(f.raw, i, i+1)
		}
	case found:
		f.lv[i].Qty, f.raw[i] = qty, r
	case len(f.lv) == f.depth:
		f.truncated = true
		if i > 0 {
			copy(f.lv[:i-1], f.lv[1:i])
			copy(f.raw[:i-1], f.raw[1:i])
			f.lv[i-1], f.raw[i-1] = exchange.Level{Px: px, Qty: qty}, r
		}
	default:
		f.lv = slices.Insert(f.lv, i, exchange.Level{Px: px, Qty: qty})
		f.raw = slices.Insert(f.raw, i, r)
	}
}

// TestMatchesFlatArray applies the same updates to sides of many depths
// (full ones dropping their worst levels too) and to the flat reference,
// in the patterns venues send — random prices, changes near the top,
// snapshots inserted best first and worst first, resets — and compares the
// levels, their wire strings and the truncation flag after every step.
func TestMatchesFlatArray(t *testing.T) {
	for _, depth := range []int{1, 2, 3, 5, 8, 13, 25, 64, 400} {
		for seed := uint64(1); seed <= 6; seed++ {
			rng := rand.New(rand.NewPCG(seed, uint64(depth)))
			b := New(depth, true)
			ref := [2]*flatSide{{depth: depth, bid: true}, {depth: depth}}
			sides := [2]*Side{&b.Bids, &b.Asks}
			span := 3*depth + 10
			for step := 0; step < 4000; step++ {
				k := rng.IntN(2)
				var pxs []num.Price
				var qtys []num.Qty
				switch op := rng.IntN(100); {
				case op < 2: // a snapshot, best first or worst first
					b.Reset()
					ref = [2]*flatSide{{depth: depth, bid: true}, {depth: depth}}
					n := rng.IntN(span)
					for j := 0; j < n; j++ {
						pxs = append(pxs, num.Price(1000+j))
						qtys = append(qtys, num.Qty(1+rng.IntN(9)))
					}
					if rng.IntN(2) == 0 {
						slices.Reverse(pxs)
					}
				case op < 60: // near the best
					best := num.Price(1000)
					if sides[k].Len() > 0 {
						best = sides[k].Level(0).Px
					}
					d := num.Price(rng.IntN(6))
					if k == 0 {
						pxs = []num.Price{best - 2 + d}
					} else {
						pxs = []num.Price{best + 2 - d}
					}
					qtys = []num.Qty{num.Qty(rng.IntN(4))}
				default: // anywhere
					pxs = []num.Price{num.Price(1000 + rng.IntN(span))}
					qtys = []num.Qty{num.Qty(rng.IntN(4))}
				}
				for j, px := range pxs {
					kk := k
					if len(pxs) > 1 {
						kk = j & 1 // a snapshot fills both sides
					}
					pr, qr := strconv.Itoa(int(px)), strconv.Itoa(int(qtys[j]))+"."+strconv.Itoa(step%1000)
					if err := sides[kk].SetRaw(px, qtys[j], []byte(pr), []byte(qr)); err != nil {
						t.Fatal(err)
					}
					ref[kk].set(px, qtys[j], pr, qr)
				}
				for kk := range sides {
					s, f := sides[kk], ref[kk]
					if s.Len() != len(f.lv) || s.Truncated() != f.truncated {
						t.Fatalf("depth %d seed %d step %d side %d: len %d truncated %v, reference %d %v", depth, seed, step, kk, s.Len(), s.Truncated(), len(f.lv), f.truncated)
					}
					for i := 0; i < s.Len(); i++ {
						w := len(f.lv) - 1 - i
						r := s.Raw(i)
						txt, n := r.Text()
						if s.Level(i) != f.lv[w] || string(r.Px()) != f.raw[w][0] || string(r.Qty()) != f.raw[w][1] ||
							string(txt[:n]) != f.raw[w][0]+":"+f.raw[w][1]+":" {
							t.Fatalf("depth %d seed %d step %d side %d level %d: %v %q %q, reference %v %q", depth, seed, step, kk, i, s.Level(i), r.Px(), r.Qty(), f.lv[w], f.raw[w])
						}
					}
				}
			}
		}
	}
}

// BenchmarkSnapshot inserts a 400-level side best first, as OKX and Bybit
// snapshots list their levels (every level goes to the bottom of the side),
// into a side of depth 400 keeping the wire strings.
func BenchmarkSnapshot(b *testing.B) {
	bk := New(400, true)
	pxr, qr := make([][]byte, 400), []byte("0.1234")
	for i := range pxr {
		pxr[i] = []byte(strconv.Itoa(100000 + i))
	}
	b.ReportAllocs()
	for b.Loop() {
		bk.Reset()
		for i := range pxr {
			_ = bk.Asks.SetRaw(num.Price(100000+i), 1, pxr[i], qr)
		}
	}
}

// BenchmarkFullSide inserts a level near the top of a full 400-level side
// with wire strings (which drops its worst level), deletes it and puts the
// worst level back.
func BenchmarkFullSide(b *testing.B) {
	bk := New(400, true)
	for i := 0; i < 400; i++ {
		_ = bk.Bids.SetRaw(num.Price(100000-2*i), 1, []byte("100000"), []byte("1"))
	}
	worst := num.Price(100000 - 2*399)
	b.ReportAllocs()
	var i int
	for b.Loop() {
		px := num.Price(100001 - 2*(i%4))
		_ = bk.Bids.SetRaw(px, 1, []byte("100001"), []byte("1"))
		_ = bk.Bids.SetRaw(px, 0, nil, nil)
		_ = bk.Bids.SetRaw(worst, 1, []byte("99202"), []byte("1"))
		i++
	}
}
