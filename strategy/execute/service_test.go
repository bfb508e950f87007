package execute

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/spread"
)

// fakeVenue is a venue for the driver and service tests: IOC orders fill
// at once (fill decides how much), fills are pushed to a sink if one is
// set and always listed by FillsSince. Safe for concurrent use.
type fakeVenue struct {
	mu     sync.Mutex
	id     exchange.VenueID
	orders map[exchange.ID]*exchange.OrderState
	placed map[exchange.ID]int // place requests that created an order, per client id
	fills  []exchange.Fill
	next   int
	fill   func(req exchange.OrderRequest) num.Qty
	sink   exchange.PrivateSink
	// block, when set, makes every call wait for ctx to end (a venue
	// that never answers) until it is cleared.
	block atomic.Bool
}

func newFakeVenue(id exchange.VenueID) *fakeVenue {
	return &fakeVenue{id: id, orders: map[exchange.ID]*exchange.OrderState{}, placed: map[exchange.ID]int{},
		fill: func(req exchange.OrderRequest) num.Qty { return req.Qty }}
}

func (v *fakeVenue) wait(ctx context.Context) error {
	if v.block.Load() {
		<-ctx.Done()
		return fmt.Errorf("fake venue %d: %w", v.id, ctx.Err())
	}
	return nil
}

func (v *fakeVenue) PlaceOrder(ctx context.Context, req exchange.OrderRequest) (exchange.OrderState, error) {
	if err := v.wait(ctx); err != nil {
		return exchange.OrderState{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if o := v.orders[req.ClientID]; o != nil {
		return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindDuplicate}
	}
	v.next++
	st := &exchange.OrderState{Venue: v.id, Inst: req.Inst, Side: req.Side, TIF: req.TIF, ClientID: req.ClientID,
		VenueOrderID: exchange.MustID(fmt.Sprintf("o%d", v.next)), Px: req.Px, Qty: req.Qty}
	q := v.fill(req)
	st.FilledQty = q
	st.Status = exchange.StatusFilled
	if q < req.Qty {
		st.Status = exchange.StatusExpired
	}
	v.orders[req.ClientID] = st
	v.placed[req.ClientID]++
	if q > 0 {
		f := exchange.Fill{Venue: v.id, Inst: req.Inst, Side: req.Side, TradeID: exchange.MustID(fmt.Sprintf("f%d", v.next)),
			ClientID: req.ClientID, VenueOrderID: st.VenueOrderID, Px: req.Px, Qty: q, TS: time.Now().UnixNano()}
		v.fills = append(v.fills, f)
		if v.sink != nil {
			v.sink.OnFill(f)
		}
	}
	return *st, nil
}

func (v *fakeVenue) CancelOrder(ctx context.Context, inst exchange.InstrumentID, cid exchange.ID) (exchange.OrderState, error) {
	return v.QueryOrder(ctx, inst, cid)
}

func (v *fakeVenue) QueryOrder(ctx context.Context, _ exchange.InstrumentID, cid exchange.ID) (exchange.OrderState, error) {
	if err := v.wait(ctx); err != nil {
		return exchange.OrderState{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if o := v.orders[cid]; o != nil {
		return *o, nil
	}
	return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindNotFound}
}

func (v *fakeVenue) FillsSince(ctx context.Context, _ exchange.InstrumentID, since int64) ([]exchange.Fill, error) {
	if err := v.wait(ctx); err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []exchange.Fill
	for _, f := range v.fills {
		if f.TS >= since {
			out = append(out, f)
		}
	}
	return out, nil
}

// testQuotes: A at 99.90/100.00, B at 101.00/101.10 (inside the retry
// budget of a sell at 101).
func testQuotes(v exchange.VenueID, _ exchange.InstrumentID) (num.Price, num.Price, bool) {
	if v == venueB {
		return 10100, 10110, true
	}
	return 9990, 10000, true
}

type wallClock struct{}

func (wallClock) Now() int64 { return time.Now().UnixNano() }

// fastPolicy keeps the service tests short in wall time.
func fastPolicy() Policy {
	p := DefaultPolicy()
	p.AckTimeout = 200 * time.Millisecond
	p.NotFoundAfter = 300 * time.Millisecond
	p.QueryInterval = 50 * time.Millisecond
	p.FinalTimeout = 200 * time.Millisecond
	p.FillTimeout = 100 * time.Millisecond
	p.RetryWindow = 300 * time.Millisecond
	p.UnwindWindow = 300 * time.Millisecond
	p.ResendWindow = 100 * time.Millisecond
	p.Deadline = 5 * time.Second
	return p
}

func serviceConfig(j Journal, venues ...*fakeVenue) ServiceConfig {
	cfg := DefaultConfig()
	cfg.Default = fastPolicy()
	cfg.Registry = testRegistry()
	cfg.Instruments = testInstruments()
	cfg.Quotes = testQuotes
	vs := make([]Venue, 3)
	for _, v := range venues {
		vs[v.id] = v
	}
	return ServiceConfig{Executor: cfg, Journal: j, Venues: vs, Clock: wallClock{}, TickEvery: 5 * time.Millisecond, RestartEvery: 20 * time.Millisecond}
}

// waitFor polls cond until it holds or the (generous) deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func testPlan(id spread.PlanID, qty num.Qty) spread.Plan {
	return spread.Plan{ID: id, Symbol: "BTC-USDT", Scale: testScale, Qty: qty, NetQuote: 50, TS: time.Now().UnixNano(),
		Buy:  spread.Leg{Venue: venueA, Inst: btc, Side: exchange.Buy, LimitPx: 10000, Qty: qty},
		Sell: spread.Leg{Venue: venueB, Inst: btc, Side: exchange.Sell, LimitPx: 10100, Qty: qty}}
}

func runService(t *testing.T, s *Service) (cancel func()) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	}
}

func TestServiceTrades(t *testing.T) {
	a, b := newFakeVenue(venueA), newFakeVenue(venueB)
	// B fills 70% of entries: every trade hedges with a retry.
	b.fill = func(req exchange.OrderRequest) num.Qty {
		if req.Qty == 1000 {
			return 700
		}
		return req.Qty
	}
	j := &MemJournal{}
	var closed atomic.Int64
	cfg := serviceConfig(j, a, b)
	cfg.Hooks.Closed = func(*Trade) { closed.Add(1) }
	var calls atomic.Int64
	cfg.OnCall = func(*Call, time.Duration, error) { calls.Add(1) }
	s, err := NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.sink, b.sink = s.Sink(venueA), s.Sink(venueB)
	stop := runService(t, s)
	defer stop()
	waitFor(t, "ready", s.Ready)
	const n = 20
	for i := 1; i <= n; i++ {
		p := testPlan(spread.PlanID(i), 1000)
		if err := s.Submit(&p, 0, func(err error) { t.Errorf("plan %d refused: %v", i, err) }); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every trade closed", func() bool { return closed.Load() == n })
	st := s.Stats()
	if st.Executor.ClosedFlat != n || st.Open != 0 {
		t.Fatalf("stats %+v", st)
	}
	ctx := context.Background()
	views, err := s.Trades(ctx, 5)
	if err != nil || len(views) != 5 {
		t.Fatalf("views: %v, %d", err, len(views))
	}
	v := views[0]
	if v.State != "closed_flat" || len(v.Legs) != 3 || v.Legs[2].Purpose != "retry" || v.ResidualBase != "0" || v.ClosedAt == nil {
		t.Fatalf("view %+v", v)
	}
	b1, _ := json.Marshal(v)
	var m map[string]any
	if err := json.Unmarshal(b1, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "plan_id", "symbol", "buy_venue", "sell_venue", "state", "qty", "expected_net_quote",
		"realized_net_quote", "residual_base", "opened_at", "closed_at", "legs"} {
		if _, ok := m[k]; !ok {
			t.Errorf("trade view lacks %q", k)
		}
	}
	if len(m) != 13 {
		t.Errorf("trade view has %d keys, the contract 13", len(m))
	}
	if open, _ := s.OpenOrders(ctx); len(open) != 0 {
		t.Fatalf("open orders %+v", open)
	}
	if calls.Load() < 3*n {
		t.Fatalf("%d calls for %d trades", calls.Load(), n)
	}
	for _, v := range []*fakeVenue{a, b} {
		for cid, k := range v.placed {
			if k != 1 {
				t.Errorf("venue %d: %d orders for intent %s", v.id, k, cid)
			}
		}
	}
}

// TestServiceRecoversBeforeReady: a trade left open by a crash is
// finished from the journal before the service takes plans.
func TestServiceRecoversBeforeReady(t *testing.T) {
	a, b := newFakeVenue(venueA), newFakeVenue(venueB)
	j := &MemJournal{}
	// First life: B never answers; the process dies with the trade open.
	b.block.Store(true)
	s1, err := NewService(serviceConfig(j, a, b))
	if err != nil {
		t.Fatal(err)
	}
	stop := runService(t, s1)
	waitFor(t, "ready", s1.Ready)
	p := testPlan(1, 1000)
	if err := s1.Submit(&p, 0, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the buy leg filled", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.fills) == 1 })
	stop()

	// Second life: B answers now, but slowly at first (the sell order
	// never reached it: not found only after the receive window).
	b.block.Store(false)
	s2, err := NewService(serviceConfig(j, a, b))
	if err != nil {
		t.Fatal(err)
	}
	var closed atomic.Int64
	s2.cfg.Hooks.Closed = func(*Trade) { closed.Add(1) }
	s2.d.cfg.Hooks.Closed = s2.cfg.Hooks.Closed
	stop2 := runService(t, s2)
	defer stop2()
	waitFor(t, "the recovered trade closed", func() bool { return closed.Load() == 1 })
	waitFor(t, "ready", s2.Ready)
	st := s2.Stats()
	if st.Executor.Recovered != 1 {
		t.Fatalf("recovered %d", st.Executor.Recovered)
	}
	views, err := s2.Trades(context.Background(), 10)
	if err != nil || len(views) != 1 {
		t.Fatalf("%v %d", err, len(views))
	}
	// The sell leg never reached B in the first life and, after the
	// receive window, counts as not placed; the hedge sells on B.
	v := views[0]
	if v.State != "closed_flat" {
		t.Fatalf("recovered trade %+v", v)
	}
	if v.Legs[1].Status != "not_placed" || v.Legs[2].Purpose != "retry" {
		t.Fatalf("legs %+v", v.Legs)
	}
}

func TestServiceRefuses(t *testing.T) {
	a, b := newFakeVenue(venueA), newFakeVenue(venueB)
	s, err := NewService(serviceConfig(&MemJournal{}, a, b))
	if err != nil {
		t.Fatal(err)
	}
	p := testPlan(1, 1000)
	if err := s.Submit(&p, 0, nil); !errors.Is(err, ErrNotReady) {
		t.Fatalf("before Run: %v", err)
	}
	stop := runService(t, s)
	defer stop()
	waitFor(t, "ready", s.Ready)
	ctx := context.Background()
	if err := s.Halt(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Submit(&p, 0, nil); !errors.Is(err, ErrHalted) {
		t.Fatalf("halted: %v", err)
	}
	if err := s.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	refused := make(chan error, 1)
	bad := p
	bad.Buy.Venue = 2 // both legs on B: not executable
	bad.Buy.Inst = btc
	bad.Sell.Venue = 2
	if err := s.Submit(&bad, 0, func(err error) { refused <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-refused; !errors.Is(err, ErrPlan) {
		t.Fatalf("bad plan: %v", err)
	}
}

// TestServiceCallTimeout: a venue that never answers is given up on at
// the policy's AckTimeout; the outcome is unknown and resolved by query.
func TestServiceCallTimeout(t *testing.T) {
	a, b := newFakeVenue(venueA), newFakeVenue(venueB)
	b.block.Store(true)
	var timeouts atomic.Int64
	cfg := serviceConfig(&MemJournal{}, a, b)
	cfg.OnCall = func(c *Call, took time.Duration, err error) {
		if c.Req.Venue == venueB && exchange.KindOf(err) == exchange.KindUnknownOutcome {
			timeouts.Add(1)
		}
	}
	var closed atomic.Int64
	cfg.Hooks.Closed = func(*Trade) { closed.Add(1) }
	s, err := NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := runService(t, s)
	defer stop()
	waitFor(t, "ready", s.Ready)
	p := testPlan(1, 1000)
	if err := s.Submit(&p, 0, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "calls to B timed out", func() bool { return timeouts.Load() >= 2 })
	b.block.Store(false)
	waitFor(t, "the trade closed", func() bool { return closed.Load() == 1 })
}

// TestServiceSinkOverflow: private events beyond the queue are dropped,
// counted, and made up for by queries.
func TestServiceSinkOverflow(t *testing.T) {
	a, b := newFakeVenue(venueA), newFakeVenue(venueB)
	cfg := serviceConfig(&MemJournal{}, a, b)
	cfg.Pushes = 1
	s, err := NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := s.Sink(venueA)
	for i := 0; i < 10; i++ {
		sink.OnStream(true) // nobody drains yet: all but one dropped
	}
	if s.dropped.Load() != 9 || !s.lost[venueA].Load() {
		t.Fatalf("dropped %d", s.dropped.Load())
	}
	stop := runService(t, s)
	defer stop()
	waitFor(t, "the lost flag handled", func() bool { return !s.lost[venueA].Load() })
	waitFor(t, "stats", func() bool { return s.Stats().PushesDropped == 9 })
}

func TestInlineBacktest(t *testing.T) {
	a, b := newFakeVenue(venueA), newFakeVenue(venueB)
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}
	a.fill = func(req exchange.OrderRequest) num.Qty { return req.Qty }
	cfg := DefaultConfig()
	cfg.Registry = testRegistry()
	cfg.Instruments = testInstruments()
	cfg.Quotes = testQuotes
	in := &Inline{Venues: []Venue{nil, a, b}}
	j := &MemJournal{}
	var logs bytes.Buffer
	d, err := NewDriver(DriverConfig{Executor: cfg, Journal: j, Clock: clock, Caller: in,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	in.Driver = d
	ctx := context.Background()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The fake's fills carry wall-clock times; the fetch asks from the
	// simulated clock, so ask from the beginning.
	p := testPlan(1, 1000)
	if _, err := d.Submit(ctx, &p, 0); err != nil {
		t.Fatal(err)
	}
	// Both legs answered inline; the fills are fetched once FillTimeout
	// passes on the simulated clock.
	ex := d.Executor()
	if ex.OpenTrades() != 1 {
		t.Fatalf("open %d", ex.OpenTrades())
	}
	for i := 0; i < 10 && ex.OpenTrades() > 0; i++ {
		clock.now += int64(time.Second)
		d.Tick(ctx)
	}
	views := ex.Views(1)
	if len(views) != 1 || views[0].State != "closed_flat" || views[0].RealizedNetQuote != "1" {
		t.Fatalf("%+v", views)
	}
	// One JSON log line per transition, with the trade id.
	var states []string
	for _, line := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "trade transition" {
			if m["trade"] != views[0].ID {
				t.Fatalf("transition line without the trade id: %s", line)
			}
			states = append(states, m["state"].(string))
		}
	}
	if fmt.Sprint(states) != "[open closed_flat]" {
		t.Fatalf("transitions logged: %v", states)
	}
	// The journal rebuilds it.
	d2, _ := NewDriver(DriverConfig{Executor: cfg, Journal: j, Clock: clock, Caller: in})
	if err := d2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if v := d2.Executor().Views(1); len(v) != 1 || v[0].RealizedNetQuote != "1" || v[0].ID != views[0].ID {
		t.Fatalf("rebuilt %+v", v)
	}
	if d2.Executor().Epoch() <= ex.Epoch() {
		t.Fatalf("epoch %d after %d", d2.Executor().Epoch(), ex.Epoch())
	}
}

type fakeClock struct{ now int64 }

func (c *fakeClock) Now() int64 { return c.now }

// TestDriverJournalFailure: an append that fails sends nothing; the
// driver rebuilds from the journal and the trade goes on.
func TestDriverJournalFailure(t *testing.T) {
	a, b := newFakeVenue(venueA), newFakeVenue(venueB)
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}
	cfg := DefaultConfig()
	cfg.Registry = testRegistry()
	cfg.Instruments = testInstruments()
	cfg.Quotes = testQuotes
	in := &Inline{Venues: []Venue{nil, a, b}}
	failing := false
	j := &MemJournal{Fail: func() error {
		if failing {
			return errors.New("nats down")
		}
		return nil
	}}
	abandoned := 0
	d, err := NewDriver(DriverConfig{Executor: cfg, Journal: j, Clock: clock, Caller: in,
		Hooks: Hooks{Abandoned: func(TradeID, spread.PlanID) { abandoned++ }}})
	if err != nil {
		t.Fatal(err)
	}
	in.Driver = d
	ctx := context.Background()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	failing = true
	p := testPlan(1, 1000)
	if _, err := d.Submit(ctx, &p, 0); err != nil {
		t.Fatalf("accepted plans are reported by the hooks, not by Submit: %v", err)
	}
	if d.Failed() == nil || d.Ready() || len(a.orders)+len(b.orders) != 0 {
		t.Fatalf("failed %v, ready %v, orders %d+%d", d.Failed(), d.Ready(), len(a.orders), len(b.orders))
	}
	if _, err := d.Submit(ctx, &p, 0); !errors.Is(err, ErrNotReady) {
		t.Fatalf("while failed: %v", err)
	}
	failing = false
	clock.now += int64(2 * time.Second)
	d.Tick(ctx)
	if d.Failed() != nil || !d.Ready() || abandoned != 1 {
		t.Fatalf("after rebuild: failed %v, ready %v, abandoned %d", d.Failed(), d.Ready(), abandoned)
	}
}
