package binance

import (
	"testing"

	"arb/exchange"
	"arb/exchange/num"
)

// steady is a synced session with pre-rendered frames in Binance's format
// that keep it in steady state: each frame continues the previous one.
type steady struct {
	h      *harness
	frames [][]byte
	next   int
}

var btcScale = num.Scale{Px: 2, Qty: 8}

// newSteady builds a BTCUSDT session on channel ch with n frames of a
// typical 100 ms update: 10 bid and 10 ask levels changed near the top
// (depth), a new best bid/ask (bbo), or a 20-level book (depth20).
func newSteady(t testing.TB, ch string, n int) *steady {
	cfg := baseConfig(ch, 1000, exchange.Instrument{ID: 1, Venue: 1, Symbol: "BTCUSDT", Scale: btcScale})
	st := &steady{h: newHarness(t, cfg, int64(1e9))}
	px := func(k int) num.Price { return num.Price(6_000_000 + k) } // 60000.00 + k cents
	book := func(u uint64, shift int) (bids, asks []exchange.Level) {
		for k := 0; k < 20; k++ {
			bids = append(bids, exchange.Level{Px: px(-1 - k + shift), Qty: num.Qty(1e6 * (1 + int64(k+int(u))%7))})
			asks = append(asks, exchange.Level{Px: px(1 + k + shift), Qty: num.Qty(1e6 * (1 + int64(k+int(u))%5))})
		}
		return bids, asks
	}
	switch ch {
	case ChannelDepth:
		st.h.s.NeedSnapshot()
		b, a := book(100, 0)
		st.h.s.ApplySnapshot(0, snapshotBody(btcScale, 100, b, a), 1)
		st.h.s.HandleFrame(depthFrame("BTCUSDT", btcScale, 1_700_000_000_000, 101, 101, nil, nil), 2)
		for k := 0; k < n; k++ {
			u := uint64(102 + 3*k)
			b, a := book(u, 0)
			// Change quantities of the top 8 levels, delete and re-add two
			// levels deeper, as a busy 100 ms window does.
			bids := append([]exchange.Level(nil), b[:8]...)
			asks := append([]exchange.Level(nil), a[:8]...)
			if k%2 == 0 {
				bids = append(bids, exchange.Level{Px: b[12].Px}, exchange.Level{Px: b[13].Px})
				asks = append(asks, exchange.Level{Px: a[12].Px}, exchange.Level{Px: a[13].Px})
			} else {
				bids = append(bids, b[12], b[13])
				asks = append(asks, a[12], a[13])
			}
			st.frames = append(st.frames, depthFrame("BTCUSDT", btcScale, 1_700_000_000_000+int64(k)*100, u, u+2, bids, asks))
		}
	case ChannelBBO:
		for k := 0; k < n; k++ {
			b, a := book(uint64(k), k%3)
			st.frames = append(st.frames, tickerFrame("BTCUSDT", btcScale, uint64(1000+k), b[0], a[0]))
		}
	case ChannelDepth20:
		for k := 0; k < n; k++ {
			b, a := book(uint64(k), k%3)
			st.frames = append(st.frames, partialFrame("BTCUSDT", 20, btcScale, uint64(1000+k), b, a))
		}
	}
	st.h.drain()
	return st
}

// step handles the next frame.
func (st *steady) step(t testing.TB) {
	st.h.s.HandleFrame(st.frames[st.next%len(st.frames)], int64(3+st.next))
	st.next++
}

// TestSteadyStateAllocs: from frame to published event, steady state
// allocates nothing, on every channel, including the quiet-book refresh.
func TestSteadyStateAllocs(t *testing.T) {
	for _, ch := range []string{ChannelDepth, ChannelBBO, ChannelDepth20} {
		t.Run(ch, func(t *testing.T) {
			st := newSteady(t, ch, 300)
			st.step(t) // warm up (scratch sized)
			pub := st.h.stats.Published.Load()
			allocs := testing.AllocsPerRun(200, func() {
				st.step(t)
				st.h.s.Refresh(int64(st.next) * 1e9)
				if st.h.ring.Len() > st.h.ring.Cap()/2 {
					st.h.drain() // the consumer (drain itself allocates only in the test)
				}
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per frame", allocs)
			}
			if got := st.h.stats.Published.Load() - pub; got < 200 {
				t.Fatalf("only %d events published: not steady state", got)
			}
			if n := st.h.stats.Rejects(exchange.RejectSequence) + st.h.stats.Rejects(exchange.RejectSyntax) + st.h.stats.Gaps.Load(); n != 0 {
				t.Fatalf("steady frames rejected: %d", n)
			}
		})
	}
}

// TestFullRingAllocs: when the consumer stalls, conflation keeps the reader
// allocation-free too.
func TestFullRingAllocs(t *testing.T) {
	st := newSteady(t, ChannelDepth, 5000)
	for k := 0; st.h.ring.Len() < st.h.ring.Cap(); k++ {
		if k == len(st.frames) {
			t.Fatal("ring never filled")
		}
		st.step(t)
	}
	allocs := testing.AllocsPerRun(100, func() { st.step(t) })
	if allocs != 0 || st.h.stats.Conflated.Load() == 0 {
		t.Fatalf("allocs %v conflated %d", allocs, st.h.stats.Conflated.Load())
	}
}
