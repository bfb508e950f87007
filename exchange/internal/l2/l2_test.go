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
