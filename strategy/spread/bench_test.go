package spread

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/book"
)

// market is a synthetic 3-venue × n-instrument setup with a cycle of events
// in which a small share of updates opens a dislocation.
type market struct {
	reg    *exchange.Registry
	d      *Detector
	events []exchange.BookTop
}

func newMarket(tb testing.TB, nInst int, vol bool, seed uint64) *market {
	tb.Helper()
	s := num.Scale{Px: 2, Qty: 5}
	reg := &exchange.Registry{Venues: []exchange.VenueInfo{{}, {ID: 1, Name: "a"}, {ID: 2, Name: "b"}, {ID: 3, Name: "c"}}}
	reg.Assets = append(reg.Assets, exchange.Asset{})
	c := DefaultConfig()
	c.Cooldown = 0 // every dislocation plans: the plan path is measured too
	c.MinEdgeBps = 2
	if vol {
		c.VolK, c.SlippageVolMult, c.VolHalfLife = 1, 0.1, time.Millisecond
	}
	c.MaxNotional = []Amount{{"USDT", "50000"}}
	for v := exchange.VenueID(1); v <= 3; v++ {
		vc := DefaultVenueConfig(v)
		vc.TakerFeeBps = 7.5
		vc.Withdraw = []Amount{{"USDT", "1"}}
		vc.StaleAge = time.Hour
		c.Venues = append(c.Venues, vc)
	}
	for i := 1; i <= nInst; i++ {
		base := fmt.Sprintf("C%02d", i)
		id := exchange.InstrumentID(i)
		reg.Assets = append(reg.Assets, exchange.Asset{ID: id, Symbol: base + "-USDT", Base: base, Quote: "USDT", Scale: s})
		for v := range c.Venues {
			c.Venues[v].Withdraw = append(c.Venues[v].Withdraw, Amount{base, "0.001"})
			c.Instruments = append(c.Instruments, exchange.Instrument{ID: id, Venue: exchange.VenueID(v + 1), Symbol: base + "USDT",
				Canonical: base + "-USDT", Base: base, Quote: "USDT", Scale: s, Tick: 1, Step: 10, MinNotional: 500})
		}
	}
	d, err := New(reg, book.New(reg), c)
	if err != nil {
		tb.Fatal(err)
	}
	m := &market{reg: reg, d: d}
	m.fund()
	r := rand.New(rand.NewPCG(seed, 3))
	const perBook = 64
	for k := range perBook {
		for i := 1; i <= nInst; i++ {
			mid := int64(1000_00 * i)
			for v := exchange.VenueID(1); v <= 3; v++ {
				ev := exchange.BookTop{Venue: v, Inst: exchange.InstrumentID(i), Seq: uint64(k), NBids: exchange.TopK, NAsks: exchange.TopK}
				m0 := mid + int64(r.IntN(21)) - 10
				if r.IntN(40) == 0 { // a dislocation on one venue
					m0 += int64(r.IntN(2)*2-1) * mid / 100
				}
				for l := range exchange.TopK {
					ev.Bids[l] = exchange.Level{Px: num.Price(m0 - 5 - int64(l)*3), Qty: num.Qty(10000 + r.IntN(200000))}
					ev.Asks[l] = exchange.Level{Px: num.Price(m0 + 5 + int64(l)*3), Qty: num.Qty(10000 + r.IntN(200000))}
				}
				m.events = append(m.events, ev)
			}
		}
	}
	return m
}

func (m *market) fund() {
	inv := m.d.Inventory()
	for a := AssetID(1); int(a) < inv.NumAssets(); a++ {
		for v := exchange.VenueID(1); v <= 3; v++ {
			inv.Set(v, a, 1<<50)
		}
	}
}

// run feeds every event once at 1 µs intervals from ts and returns the
// number of plans and the next ts.
func (m *market) run(ts int64) (int, int64) {
	plans := 0
	for i := range m.events {
		ev := &m.events[i]
		ev.RecvTS = ts
		plans += len(m.d.OnBook(ev, ts))
		ts += 1000
	}
	return plans, ts
}

// TestOnBookDoesNotAllocate covers the per-event path with and without
// plans, with and without the volatility terms, after warm-up.
func TestOnBookDoesNotAllocate(t *testing.T) {
	for _, vol := range []bool{false, true} {
		m := newMarket(t, 20, vol, 1)
		plans, ts := m.run(t0) // warm-up
		if plans == 0 {
			t.Fatal("the event cycle produces no plans: the plan path is not measured")
		}
		i := 0
		allocs := testing.AllocsPerRun(5*len(m.events), func() {
			ev := &m.events[i%len(m.events)]
			ev.RecvTS = ts
			m.d.OnBook(ev, ts)
			ts += 1000
			i++
			if i%len(m.events) == 0 {
				m.fund()
			}
		})
		if allocs != 0 {
			t.Errorf("vol=%v: OnBook allocates %v per event", vol, allocs)
		}
		if m.d.Stats().Plans.Load() < 2*uint64(plans) {
			t.Errorf("vol=%v: plans stopped during the measurement", vol)
		}
	}
}

// BenchmarkDetector: 3 venues × 20 instruments loaded, events cycling over
// them (about 2.5 % of updates open a dislocation, planned with zero
// cooldown). Reports ns/op and the p50/p99 of single OnBook calls.
func BenchmarkDetector(b *testing.B) {
	m := newMarket(b, 20, false, 2)
	_, ts := m.run(t0)
	benchDetector(b, m, ts)
}

// BenchmarkDetectorVol is BenchmarkDetector with the volatility terms on.
func BenchmarkDetectorVol(b *testing.B) {
	m := newMarket(b, 20, true, 2)
	_, ts := m.run(t0)
	benchDetector(b, m, ts)
}

func benchDetector(b *testing.B, m *market, ts int64) {
	const maxSamples = 1 << 20
	lat := make([]int64, 0, min(b.N, maxSamples))
	b.ReportAllocs()
	b.ResetTimer()
	n := len(m.events)
	for i := 0; i < b.N; i++ {
		ev := &m.events[i%n]
		ev.RecvTS = ts
		start := time.Now()
		m.d.OnBook(ev, ts)
		if len(lat) < cap(lat) {
			lat = append(lat, int64(time.Since(start)))
		}
		ts += 1000
		if i%n == n-1 {
			m.fund()
		}
	}
	b.StopTimer()
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
	}
	b.ReportMetric(float64(m.d.Stats().Plans.Load())/float64(m.d.Stats().Events.Load()), "plans/event")
}

// TestRecentPlansConcurrentRead: the status API reads recent plans while the
// detector emits them (run with -race).
func TestRecentPlansConcurrentRead(t *testing.T) {
	m := newMarket(t, 5, false, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf []Plan
		for range 200 {
			buf = m.d.RecentPlans(buf[:0])
			for i := 1; i < len(buf); i++ {
				if buf[i].ID >= buf[i-1].ID {
					t.Errorf("recent plans not newest first: %d then %d", buf[i-1].ID, buf[i].ID)
					return
				}
			}
		}
	}()
	ts := t0
	for range 5 {
		_, ts = m.run(ts)
		m.fund()
	}
	<-done
	got := m.d.RecentPlans(nil)
	if len(got) != DefaultRecentPlans || uint64(got[0].ID) != m.d.Stats().Plans.Load() {
		t.Fatalf("%d recent plans, newest %d of %d", len(got), got[0].ID, m.d.Stats().Plans.Load())
	}
}
