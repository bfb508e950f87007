package binance

import (
	"math/rand/v2"
	"slices"
	"testing"

	"arb/exchange"
	"arb/exchange/num"
)

// depthWork is a realistic diff-depth workload for one BTCUSDT book: a
// 1000-level snapshot per side, then frames of 20 level changes each, in
// Binance's combined-stream format. Most changes land within a few levels of
// the best price (quantity changes, deletes and inserts at the top, as a
// busy 100 ms window has them); one in ten lands anywhere in the book. The generator keeps its own book (sorted slices) so that every
// frame is consistent with the state before it: deletes name levels that
// exist, inserts prices that do not, and each side stays between 960 and 1000 levels (the session's Depth, so
// nothing is truncated).
type depthWork struct {
	snapshot []byte
	frames   [][]byte
	// levels of every frame as the session parses them (for the apply
	// benchmark, which must not include the parse).
	bids, asks [][]exchange.Level
	// the generator's book after the last frame (best first)
	endBids, endAsks []exchange.Level
}

const (
	depthWorkLevels  = 1000
	depthWorkChanges = 20
)

func newDepthWork(tb testing.TB, nFrames int, seed uint64) *depthWork {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 0xdeb7))
	mid := int64(6_000_000) // 60000.00
	// bids descending, asks ascending: index 0 is the best level.
	var bids, asks []exchange.Level
	for k := int64(0); k < depthWorkLevels; k++ {
		bids = append(bids, exchange.Level{Px: num.Price(mid - 1 - 2*k), Qty: num.Qty(1e6 * (1 + rng.Int64N(500)))})
		asks = append(asks, exchange.Level{Px: num.Price(mid + 1 + 2*k), Qty: num.Qty(1e6 * (1 + rng.Int64N(500)))})
	}
	w := &depthWork{snapshot: snapshotBody(btcScale, 999, bids, asks)}
	// change returns one level change on side lv (best first) and applies it.
	change := func(lv []exchange.Level, bid bool, touched map[num.Price]bool) ([]exchange.Level, exchange.Level) {
		for {
			// Calibrated on the captured NKNUSDT session (../shared/realframes):
			// of its 376 level changes, 65% were within 8 levels of the best
			// price, 24% within 32 and 11% deeper (none past 128). The tail
			// here reaches anywhere in the book, which is harder.
			var pos int
			switch r := rng.IntN(100); {
			case r < 65:
				pos = rng.IntN(8)
			case r < 90:
				pos = 8 + rng.IntN(24)
			default:
				pos = rng.IntN(len(lv))
			}
			px := lv[pos].Px
			op := rng.IntN(3)
			switch {
			case op == 0 && len(lv) > depthWorkLevels-40: // delete
				if touched[px] {
					continue
				}
				touched[px] = true
				return slices.Delete(lv, pos, pos+1), exchange.Level{Px: px}
			case op == 1 && len(lv) < depthWorkLevels: // insert a price next to pos, if free
				np := px + 1
				if bid {
					np = px - 1
				}
				if pos > 0 && lv[pos-1].Px == np || pos+1 < len(lv) && lv[pos+1].Px == np || touched[np] || np <= 0 {
					continue
				}
				touched[np] = true
				l := exchange.Level{Px: np, Qty: num.Qty(1e6 * (1 + rng.Int64N(500)))}
				at := pos + 1
				return slices.Insert(lv, at, l), l
			default: // new quantity
				if touched[px] {
					continue
				}
				touched[px] = true
				lv[pos].Qty = num.Qty(1e6 * (1 + rng.Int64N(500)))
				return lv, lv[pos]
			}
		}
	}
	id := uint64(1001)
	for f := 0; f < nFrames; f++ {
		var fb, fa []exchange.Level
		touched := map[num.Price]bool{}
		for c := 0; c < depthWorkChanges; c++ {
			var l exchange.Level
			if c%2 == 0 {
				bids, l = change(bids, true, touched)
				fb = append(fb, l)
			} else {
				asks, l = change(asks, false, touched)
				fa = append(fa, l)
			}
		}
		// Binance lists a frame's levels best first per side.
		slices.SortFunc(fb, func(a, b exchange.Level) int { return int(b.Px - a.Px) })
		slices.SortFunc(fa, func(a, b exchange.Level) int { return int(a.Px - b.Px) })
		w.frames = append(w.frames, depthFrame("BTCUSDT", btcScale, 1_700_000_000_000+int64(f)*100, id, id+19, fb, fa))
		w.bids, w.asks = append(w.bids, fb), append(w.asks, fa)
		id += 20
	}
	w.endBids, w.endAsks = bids, asks
	return w
}

// syncedOn returns a BTCUSDT depth session synced on w's snapshot.
func (w *depthWork) syncedOn(tb testing.TB) *harness {
	tb.Helper()
	h := newHarness(tb, baseConfig(ChannelDepth, 1000, exchange.Instrument{ID: 1, Venue: 1, Symbol: "BTCUSDT", Scale: btcScale}), int64(1e9))
	h.s.NeedSnapshot()
	h.s.ApplySnapshot(0, w.snapshot, 1)
	h.s.HandleFrame(depthFrame("BTCUSDT", btcScale, 1_700_000_000_000, 1000, 1000, nil, nil), 2)
	if !h.s.Synced() {
		tb.Fatal("depth work session did not sync")
	}
	h.drain()
	return h
}

// TestDepthWorkIsRealistic keeps the benchmark honest: the frames are
// accepted in order with no gap or rejection, the session's book equals
// the generator's, each side stays between 960 and 1000 levels (the session's Depth, so
// nothing is truncated). and most changes are
// near the top.
func TestDepthWorkIsRealistic(t *testing.T) {
	w := newDepthWork(t, 400, 1)
	h := w.syncedOn(t)
	for k, fr := range w.frames {
		h.s.HandleFrame(fr, int64(10+k))
		h.drain()
	}
	st := &h.stats
	if st.Gaps.Load() != 0 || st.Rejects(exchange.RejectSequence)+st.Rejects(exchange.RejectSyntax)+st.Rejects(exchange.RejectNumber)+st.Rejects(exchange.RejectCrossed) != 0 || !h.s.Synced() {
		t.Fatalf("workload not accepted cleanly: gaps %d, synced %v", st.Gaps.Load(), h.s.Synced())
	}
	b := h.s.books[0].l2
	got := func(s interface {
		Len() int
		Level(int) exchange.Level
	}) []exchange.Level {
		var out []exchange.Level
		for i := 0; i < s.Len(); i++ {
			out = append(out, s.Level(i))
		}
		return out
	}
	if g := got(&b.Bids); !slices.Equal(g, w.endBids) {
		t.Fatalf("session bids (%d) differ from the generator's (%d)", len(g), len(w.endBids))
	}
	if g := got(&b.Asks); !slices.Equal(g, w.endAsks) {
		t.Fatalf("session asks (%d) differ from the generator's (%d)", len(g), len(w.endAsks))
	}
	if n := b.Bids.Len(); n < depthWorkLevels-50 || n > depthWorkLevels+50 {
		t.Fatalf("bids drifted to %d levels", n)
	}
	near := 0
	for _, f := range w.bids {
		for _, l := range f {
			if l.Px >= w.endBids[min(20, len(w.endBids)-1)].Px {
				near++
			}
		}
	}
	if total := len(w.bids) * depthWorkChanges / 2; near < total/2 {
		t.Fatalf("only %d of %d bid changes near the top", near, total)
	}
}

// BenchmarkDepthFrame is issue 9's measure of the diff-depth hot path: a
// 20-change combined-stream frame into a 1000-level book, with the parse
// (frame → routed, fixed-point levels) and the book apply (those levels
// into the L2 book, with the floor bookkeeping) measured separately, and
// the whole HandleFrame (parse, sequence check, apply, top-10 cut, publish)
// for reference.
func BenchmarkDepthFrame(b *testing.B) {
	const n = 2048
	w := newDepthWork(b, n, 1)
	b.Run("parse", func(b *testing.B) {
		h := w.syncedOn(b)
		p := &h.s.p
		var k int
		b.ReportAllocs()
		for b.Loop() {
			p.parseFrame(w.frames[k%n])
			lb, la, err := p.levelsIn(p.streamBook(), btcScale)
			if err != nil || len(lb)+len(la) != depthWorkChanges {
				b.Fatalf("parse: %v", err)
			}
			k++
		}
	})
	b.Run("apply", func(b *testing.B) {
		h := w.syncedOn(b)
		bk := &h.s.books[0]
		var k int
		b.ReportAllocs()
		for b.Loop() {
			if k == n { // the frames are consistent with one pass only
				b.StopTimer()
				h = w.syncedOn(b)
				bk = &h.s.books[0]
				k = 0
				b.StartTimer()
			}
			h.s.applyDiff(bk, w.bids[k], w.asks[k])
			k++
		}
	})
	b.Run("handleFrame", func(b *testing.B) {
		h := w.syncedOn(b)
		var ev exchange.BookTop
		var k int
		b.ReportAllocs()
		for b.Loop() {
			if k == n {
				b.StopTimer()
				h = w.syncedOn(b)
				k = 0
				b.StartTimer()
			}
			h.s.HandleFrame(w.frames[k], int64(10+k))
			h.ring.TryPop(&ev)
			k++
		}
	})
}

// TestDepthFrameAllocs: the two halves BenchmarkDepthFrame measures — the
// parse of a 20-change frame and its apply to a 1000-level book — allocate
// nothing.
func TestDepthFrameAllocs(t *testing.T) {
	w := newDepthWork(t, 256, 2)
	h := w.syncedOn(t)
	p, bk := &h.s.p, &h.s.books[0]
	k := 0
	parse := testing.AllocsPerRun(200, func() {
		p.parseFrame(w.frames[k%len(w.frames)])
		if _, _, err := p.levelsIn(p.streamBook(), btcScale); err != nil {
			t.Fatal(err)
		}
		k++
	})
	k = 0
	apply := testing.AllocsPerRun(200, func() {
		h.s.applyDiff(bk, w.bids[k], w.asks[k])
		k++
	})
	if parse != 0 || apply != 0 {
		t.Fatalf("allocations per frame: parse %v, apply %v", parse, apply)
	}
}
