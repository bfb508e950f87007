package strategy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/ringbuf"
	"arb/strategy/book"
	"arb/strategy/spread"
)

const t0 = int64(1_700_000_000_000_000_000)

var scale = num.Scale{Px: 2, Qty: 4}

func registry() *exchange.Registry {
	return &exchange.Registry{
		Venues: []exchange.VenueInfo{{}, {ID: 1, Name: "alpha"}, {ID: 2, Name: "beta"}},
		Assets: []exchange.Asset{{}, {ID: 1, Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT", Scale: scale}},
	}
}

// recorder is a Sink that keeps copies of the plans it receives.
type recorder struct {
	mu    sync.Mutex
	plans []spread.Plan
	ch    chan struct{}
}

func (r *recorder) OnPlan(p *spread.Plan) {
	r.mu.Lock()
	r.plans = append(r.plans, *p)
	r.mu.Unlock()
	if r.ch != nil {
		select {
		case r.ch <- struct{}{}:
		default:
		}
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.plans)
}

type fixture struct {
	reg  *exchange.Registry
	ring *ringbuf.MPSC[exchange.BookTop]
	det  *spread.Detector
	sink *recorder
	now  atomic.Int64
	loop *Loop
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	f := &fixture{reg: registry(), ring: ringbuf.NewMPSC[exchange.BookTop](1024), sink: &recorder{ch: make(chan struct{}, 1)}}
	sc := spread.DefaultConfig()
	sc.MinEdgeBps, sc.SlippageBps, sc.Cooldown, sc.RebalanceTrades = 0, 0, 0, 1
	sc.MaxNotional = []spread.Amount{{Asset: "USDT", Value: "1000000"}}
	for v := exchange.VenueID(1); v <= 2; v++ {
		vc := spread.DefaultVenueConfig(v)
		vc.StaleAge = time.Second
		vc.Withdraw = []spread.Amount{{Asset: "BTC", Value: "0"}, {Asset: "USDT", Value: "0"}}
		sc.Venues = append(sc.Venues, vc)
		sc.Instruments = append(sc.Instruments, exchange.Instrument{ID: 1, Venue: v, Symbol: "BTCUSDT", Canonical: "BTC-USDT",
			Base: "BTC", Quote: "USDT", Scale: scale, Step: 1})
	}
	det, err := spread.New(f.reg, book.New(f.reg), sc)
	if err != nil {
		t.Fatal(err)
	}
	f.det = det
	inv := det.Inventory()
	if err := inv.SetDecimal(1, "USDT", "1000000"); err != nil {
		t.Fatal(err)
	}
	if err := inv.SetDecimal(2, "BTC", "1000"); err != nil {
		t.Fatal(err)
	}
	f.now.Store(t0)
	f.loop, err = New(cfg, f.reg, f.ring, det, f.sink, func() int64 { return f.now.Load() })
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// push publishes a one-level book: bid and ask in cents.
func (f *fixture) push(t testing.TB, v exchange.VenueID, seq uint64, bid, ask int64, recv int64) {
	t.Helper()
	ev := exchange.BookTop{Venue: v, Inst: 1, Seq: seq, RecvTS: recv, ExchTS: recv - 7, NBids: 1, NAsks: 1}
	ev.Bids[0] = exchange.Level{Px: num.Price(bid), Qty: 1_0000}
	ev.Asks[0] = exchange.Level{Px: num.Price(ask), Qty: 1_0000}
	if !f.ring.TryPush(&ev) {
		t.Fatal("ring full")
	}
}

func TestLoopConflatesWithinBatch(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	f.push(t, 1, 1, 9900, 10000, t0)
	f.push(t, 2, 1, 9900, 10000, t0)
	f.push(t, 1, 2, 9900, 10001, t0)
	f.push(t, 1, 3, 9900, 10002, t0)
	if !f.loop.step() {
		t.Fatal("no batch")
	}
	st := f.loop.Stats()
	if st.Events.Load() != 4 || st.Conflated.Load() != 2 || st.Batches.Load() != 1 || st.MaxBatch.Load() != 4 {
		t.Errorf("events %d conflated %d batches %d max %d", st.Events.Load(), st.Conflated.Load(), st.Batches.Load(), st.MaxBatch.Load())
	}
	if n := f.det.Stats().Events.Load(); n != 2 {
		t.Errorf("detector evaluated %d events, want 2 (newest of each book)", n)
	}
	if b := f.det.Books().Book(1, 1); b == nil || b.Seq != 3 {
		t.Errorf("book of venue 1 is %+v, want seq 3", b)
	}
	if f.loop.step() {
		t.Error("second batch from an empty ring")
	}
	// A later batch with a single event for the book is not conflated
	// against the previous batch's entries.
	f.push(t, 1, 4, 9900, 10003, t0)
	f.loop.step()
	if st.Conflated.Load() != 2 || f.det.Books().Book(1, 1).Seq != 4 {
		t.Errorf("conflated %d seq %d", st.Conflated.Load(), f.det.Books().Book(1, 1).Seq)
	}
}

func TestLoopHandsPlansToSink(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	f.push(t, 1, 1, 9900, 10000, t0)
	f.push(t, 2, 1, 9950, 10050, t0) // no edge: no plan
	f.loop.step()
	if f.sink.count() != 0 {
		t.Fatal("sink called without a plan")
	}
	f.push(t, 2, 2, 10100, 10200, t0) // bid 101 > ask 100 on venue 1
	f.loop.step()
	if f.sink.count() != 1 || f.loop.Stats().Plans.Load() != 1 {
		t.Fatalf("%d plans", f.sink.count())
	}
	p := f.sink.plans[0]
	if p.Buy.Venue != 1 || p.Sell.Venue != 2 || p.Qty != 1_0000 || p.NetQuote != 100 || p.TS != t0 {
		t.Errorf("plan %+v", p)
	}
}

func TestSnapshotStaleAgeAndReadiness(t *testing.T) {
	cfg := DefaultConfig()
	f := newFixture(t, cfg)
	s := f.loop.Books()
	if f.loop.Ready() || len(s.Rows) != 2 || !s.Rows[0].Stale || s.Rows[0].Cause != exchange.CauseConnecting || s.Rows[0].Venue != "alpha" {
		t.Fatalf("initial snapshot %+v", s)
	}
	f.push(t, 1, 1, 9900, 10000, t0)
	f.push(t, 2, 1, 9950, 10050, t0)
	f.loop.step()
	if f.loop.Books() != s {
		t.Fatal("republished before the interval")
	}
	f.now.Store(t0 + int64(cfg.SnapshotInterval))
	f.loop.maybePublish(f.now.Load())
	s = f.loop.Books()
	if !f.loop.Ready() || s.TS != t0+int64(cfg.SnapshotInterval) {
		t.Fatalf("not ready after fresh books: %+v", s)
	}
	r := s.Rows[1]
	if r.Venue != "beta" || r.Symbol != "BTC-USDT" || r.VenueSymbol != "BTCUSDT" || r.Bid != 9950 || r.Ask != 10050 ||
		r.BidQty != 1_0000 || r.ExchTS != t0-7 || r.RecvTS != t0 || r.Stale || r.Updates != 1 || r.Scale != scale {
		t.Errorf("row %+v", r)
	}
	// Venue 2 goes quiet past its 1 s stale age; venue 1 keeps updating.
	f.now.Store(t0 + int64(time.Second) + 1)
	f.push(t, 1, 2, 9900, 10000, f.now.Load())
	f.loop.step()
	s = f.loop.Books()
	if f.loop.Ready() || s.Rows[0].Stale || !s.Rows[1].Stale || s.Rows[1].Cause != exchange.CauseAge {
		t.Fatalf("aged book: %+v", s.Rows)
	}
	// A flagged book is stale with the adapter's cause.
	ev := exchange.BookTop{Venue: 2, Inst: 1, RecvTS: f.now.Load()}
	ev.SetStale(exchange.CauseGap, f.now.Load())
	f.ring.TryPush(&ev)
	f.now.Add(int64(cfg.SnapshotInterval))
	f.loop.step()
	if r := f.loop.Books().Rows[1]; !r.Stale || r.Cause != exchange.CauseGap {
		t.Fatalf("flagged book row %+v", r)
	}
}

func TestRunDoAndCancel(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IdleWait = time.Millisecond
	f := newFixture(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.loop.Run(ctx) }()

	ran := make(chan exchange.VenueID, 1)
	if !f.loop.Do(func(d *spread.Detector) {
		usdt, _ := d.Inventory().Asset("USDT")
		d.Inventory().Set(1, usdt, 50_00) // 50 USDT: half a BTC at 100
		ran <- 1
	}) {
		t.Fatal("Do refused")
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("Do not run")
	}
	f.push(t, 1, 1, 9900, 10000, t0)
	f.push(t, 2, 1, 10100, 10200, t0)
	select {
	case <-f.sink.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no plan from the running loop")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	f.sink.mu.Lock()
	defer f.sink.mu.Unlock()
	if p := f.sink.plans[0]; p.Qty != 5000 {
		t.Errorf("plan ignored the balance set through Do: %+v", p)
	}
}

func TestDoQueueIsBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ControlQueue = 2
	f := newFixture(t, cfg)
	n := 0
	fn := func(*spread.Detector) { n++ }
	if !f.loop.Do(fn) || !f.loop.Do(fn) || f.loop.Do(fn) {
		t.Fatal("queue of 2 took 3")
	}
	f.loop.runControls()
	if n != 2 || f.loop.Stats().Controls.Load() != 2 {
		t.Fatalf("ran %d", n)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		field string
		f     func(*Config)
	}{
		{"batch_max", func(c *Config) { c.BatchMax = 0 }},
		{"snapshot_interval", func(c *Config) { c.SnapshotInterval = 0 }},
		{"idle_wait", func(c *Config) { c.IdleWait = -1 }},
		{"control_queue", func(c *Config) { c.ControlQueue = 0 }},
	} {
		cfg := DefaultConfig()
		c.f(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrConfig) || !contains(err.Error(), c.field+":") {
			t.Errorf("%s: %v", c.field, err)
		}
	}
	d := DefaultConfig()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestLoopStepDoesNotAllocate: a batch with conflation, evaluation and a
// plan handed to the sink allocates nothing (snapshots excluded: the clock
// stays inside the interval).
func TestLoopStepDoesNotAllocate(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	f.sink.ch = nil
	var sink countSink
	f.loop.sink = &sink
	inv := f.det.Inventory()
	usdt, _ := inv.Asset("USDT")
	evs := make([]exchange.BookTop, 4)
	for i := range evs {
		v := exchange.VenueID(1 + i%2)
		evs[i] = exchange.BookTop{Venue: v, Inst: 1, RecvTS: t0, NBids: 1, NAsks: 1}
		bid, ask := int64(9900), int64(10000)
		if v == 2 {
			bid, ask = 10100+int64(i), 10200
		}
		evs[i].Bids[0] = exchange.Level{Px: num.Price(bid), Qty: 1_0000}
		evs[i].Asks[0] = exchange.Level{Px: num.Price(ask), Qty: 1_0000}
	}
	n := testing.AllocsPerRun(200, func() {
		for i := range evs {
			evs[i].Seq++
			f.ring.TryPush(&evs[i])
		}
		f.loop.step()
		inv.Set(1, usdt, 1_000_000_00)
	})
	if n != 0 {
		t.Fatalf("step allocates %v", n)
	}
	if sink.n == 0 || f.loop.Stats().Conflated.Load() == 0 {
		t.Fatalf("plans %d conflated %d: the measured path is not the interesting one", sink.n, f.loop.Stats().Conflated.Load())
	}
}

type countSink struct{ n int }

func (s *countSink) OnPlan(*spread.Plan) { s.n++ }

// TestLoopTickToDecision: every evaluated event with a receive time is
// observed once, against the clock read after the whole batch; conflated
// events and events without a receive time are not.
func TestLoopTickToDecision(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	var calls int64
	f.loop.clock = func() int64 { // t0 for the batch's start, t0+10µs after it
		calls++
		if calls%2 == 1 {
			return t0
		}
		return t0 + 10_000
	}
	f.push(t, 1, 1, 9900, 10000, t0-5_000) // conflated by the next one of venue 1
	f.push(t, 1, 2, 9900, 10001, t0-3_000)
	f.push(t, 2, 1, 9900, 10000, t0-4_000)
	if !f.loop.step() {
		t.Fatal("no batch")
	}
	h := &f.loop.Stats().TickToDecision
	_, sum, n := h.Snapshot()
	if n != 2 || sum != 13_000+14_000 {
		t.Fatalf("observed %d events summing %d ns, want 2 summing 27000 (end of batch minus each evaluated RecvTS)", n, sum)
	}
	if calls != 2 {
		t.Errorf("clock read %d times for one batch, want 2 (start and end)", calls)
	}
	f.push(t, 2, 2, 9900, 10000, 0) // no receive time: nothing to measure
	calls = 0
	f.loop.step()
	if _, _, n := h.Snapshot(); n != 2 {
		t.Errorf("an event without RecvTS was observed: count %d", n)
	}
	if calls != 1 {
		t.Errorf("clock read %d times for a batch with nothing to observe, want 1", calls)
	}
}

// BenchmarkLoopStep: one batch of 4 events (2 conflated, 2 evaluated, a
// plan) through step, the path TickToDecision is observed on.
func BenchmarkLoopStep(b *testing.B) {
	f := newFixture(b, DefaultConfig())
	f.sink.ch = nil
	var sink countSink
	f.loop.sink = &sink
	inv := f.det.Inventory()
	usdt, _ := inv.Asset("USDT")
	evs := make([]exchange.BookTop, 4)
	for i := range evs {
		v := exchange.VenueID(1 + i%2)
		evs[i] = exchange.BookTop{Venue: v, Inst: 1, RecvTS: t0, NBids: 1, NAsks: 1}
		bid, ask := int64(9900), int64(10000)
		if v == 2 {
			bid, ask = 10100+int64(i), 10200
		}
		evs[i].Bids[0] = exchange.Level{Px: num.Price(bid), Qty: 1_0000}
		evs[i].Asks[0] = exchange.Level{Px: num.Price(ask), Qty: 1_0000}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range evs {
			evs[j].Seq++
			f.ring.TryPush(&evs[j])
		}
		f.loop.step()
		inv.Set(1, usdt, 1_000_000_00)
	}
}
