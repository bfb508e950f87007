package paper

import (
	"context"
	"sync"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// The test instrument: BTC-USDT with 2 price and 8 quantity decimals,
// tick 0.10, step 0.0001, min qty 0.0001, min notional 5.
var btc = exchange.Instrument{ID: 1, Venue: 1, Symbol: "BTCUSDT", Canonical: "BTC-USDT", Base: "BTC", Quote: "USDT",
	Scale: num.Scale{Px: 2, Qty: 8}, Tick: 10, Step: 10_000, MinQty: 10_000, MinNotional: 500}

func px(s string) num.Price { v, _ := num.ParseString(s, 2); return num.Price(v) }
func qty(s string) num.Qty  { v, _ := num.ParseString(s, 8); return num.Qty(v) }

// market is a mutable book source.
type market struct {
	mu   sync.Mutex
	book exchange.BookTop
	ok   bool
}

func (m *market) books(exchange.InstrumentID) (exchange.BookTop, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.book, m.ok
}

func (m *market) set(seq uint64, recv int64, bids, asks [][2]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := exchange.BookTop{Seq: seq, RecvTS: recv, Venue: 1, Inst: 1}
	for i, l := range bids {
		b.Bids[i] = exchange.Level{Px: px(l[0]), Qty: qty(l[1])}
	}
	for i, l := range asks {
		b.Asks[i] = exchange.Level{Px: px(l[0]), Qty: qty(l[1])}
	}
	b.NBids, b.NAsks = uint8(len(bids)), uint8(len(asks))
	m.book, m.ok = b, true
}

// recorder is a private sink.
type recorder struct {
	mu     sync.Mutex
	orders []exchange.OrderState
	fills  []exchange.Fill
}

func (r *recorder) OnOrder(s exchange.OrderState) {
	r.mu.Lock()
	r.orders = append(r.orders, s)
	r.mu.Unlock()
}
func (r *recorder) OnFill(f exchange.Fill) { r.mu.Lock(); r.fills = append(r.fills, f); r.mu.Unlock() }
func (r *recorder) OnStream(bool)          {}

type clock struct{ t int64 }

func (c *clock) now() int64 { return c.t }

func newVenue(t *testing.T, m *market, c *clock, edit func(*Config)) *Venue {
	t.Helper()
	cfg := Config{Venue: 1, Name: "paperx", Instruments: []exchange.Instrument{btc}, FeeBps: 10,
		Balances: map[string]num.Amount{"USDT": num.AmountOf(1_000_000, 0), "BTC": num.AmountOf(2, 0)},
		Books:    m.books, Now: c.now}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func cid(s string) exchange.ID { return exchange.MustID(s) }

func balance(t *testing.T, v *Venue, asset string) string {
	t.Helper()
	bs, _ := v.Balances(context.Background())
	for _, b := range bs {
		if b.Asset == asset {
			return b.Total.String()
		}
	}
	t.Fatalf("no %s balance", asset)
	return ""
}

// TestFillFromBook: an IOC buy walks the asks up to its limit, one fill
// per level, the remainder expires; balances and fees move exactly; the
// sink sees the acceptance, the fills and the final state.
func TestFillFromBook(t *testing.T) {
	m, c := &market{}, &clock{t: 1e18}
	m.set(7, c.t, [][2]string{{"59999.90", "1"}}, [][2]string{{"60000.00", "0.1"}, {"60000.10", "0.05"}, {"60000.50", "9"}})
	v := newVenue(t, m, c, nil)
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go v.RunPrivate(ctx, rec)
	for v.sink.Load() == nil {
		time.Sleep(time.Millisecond)
	}
	// 60000.19 rounds down to the tick: 60000.10; 0.20005 down to 0.2000.
	st, err := v.PlaceOrder(ctx, exchange.OrderRequest{ClientID: cid("a1"), Venue: 1, Inst: 1, Side: exchange.Buy,
		Px: px("60000.19"), Qty: qty("0.20005"), TIF: exchange.IOC})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != exchange.StatusExpired || st.FilledQty != qty("0.15") || st.Px != px("60000.10") || st.Qty != qty("0.2") {
		t.Fatalf("state %+v", st)
	}
	// 0.1 × 60000 + 0.05 × 60000.10 = 6000 + 3000.005 = 9000.005 USDT,
	// fee 10 bps of each fill: 6 + 3.000005 (rounded up to 10 decimals).
	if got := st.FilledQuote.String(); got != "9000.00500000" {
		t.Errorf("filled quote %s", got)
	}
	if got := balance(t, v, "USDT"); got != "990990.99499500" {
		t.Errorf("USDT %s, want 1000000 − 9000.005 − 9.000005", got)
	}
	if got := balance(t, v, "BTC"); got != "2.15000000" {
		t.Errorf("BTC %s", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.fills) != 2 || rec.fills[0].Fee.String() != "6.00000000" || rec.fills[1].Fee.String() != "3.00000500" ||
		rec.fills[1].FeeAsset.String() != "USDT" || rec.fills[0].TradeID == rec.fills[1].TradeID {
		t.Errorf("fills %+v", rec.fills)
	}
	if len(rec.orders) != 2 || rec.orders[0].Status != exchange.StatusNew || rec.orders[1].Status != exchange.StatusExpired {
		t.Errorf("states %+v", rec.orders)
	}
	fs, _ := v.FillsSince(ctx, 1, 0)
	if len(fs) != 2 {
		t.Errorf("FillsSince %d fills", len(fs))
	}
}

// TestLiquidityNotReused: two orders on one book state cannot both take
// the same displayed quantity; a new book state brings it back.
func TestLiquidityNotReused(t *testing.T) {
	m, c := &market{}, &clock{t: 1e18}
	m.set(1, c.t, [][2]string{{"59999.90", "0.3"}}, [][2]string{{"60000.00", "0.1"}})
	v := newVenue(t, m, c, func(c *Config) { c.FeeInBase = true })
	ctx := context.Background()
	sell := func(id string) exchange.OrderState {
		st, err := v.PlaceOrder(ctx, exchange.OrderRequest{ClientID: cid(id), Venue: 1, Inst: 1, Side: exchange.Sell, Px: px("59999.90"), Qty: qty("0.2"), TIF: exchange.IOC})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := sell("s1"); st.FilledQty != qty("0.2") || st.Status != exchange.StatusFilled {
		t.Fatalf("first %+v", st)
	}
	if st := sell("s2"); st.FilledQty != qty("0.1") {
		t.Fatalf("second took %d, want the 0.1 left", st.FilledQty)
	}
	m.set(2, c.t, [][2]string{{"59999.90", "0.3"}}, nil)
	if st := sell("s3"); st.FilledQty != qty("0.2") {
		t.Fatalf("after a new book state: %+v", st)
	}
	// Fees in base: 0.5 BTC sold, 10 bps each = 0.0005 BTC.
	if got := balance(t, v, "BTC"); got != "1.49950000" {
		t.Errorf("BTC %s", got)
	}
}

// TestRefusals: filters, balance, GTC, a duplicate id (answered with the
// first order's state), an unusable book (expires unfilled), FOK.
func TestRefusals(t *testing.T) {
	m, c := &market{}, &clock{t: 1e18}
	m.set(1, c.t, [][2]string{{"59999.90", "0.3"}}, [][2]string{{"60000.00", "0.1"}})
	v := newVenue(t, m, c, nil)
	ctx := context.Background()
	place := func(id string, side exchange.Side, p, q string, tif exchange.TimeInForce) (exchange.OrderState, error) {
		return v.PlaceOrder(ctx, exchange.OrderRequest{ClientID: cid(id), Venue: 1, Inst: 1, Side: side, Px: px(p), Qty: qty(q), TIF: tif})
	}
	for _, tc := range []struct {
		name, id, p, q string
		side           exchange.Side
		tif            exchange.TimeInForce
		kind           exchange.ErrorKind
	}{
		{"min qty", "r1", "60000", "0.00001", exchange.Buy, exchange.IOC, exchange.KindRejected},
		{"min notional", "r2", "1", "0.001", exchange.Buy, exchange.IOC, exchange.KindRejected},
		{"balance", "r3", "60000", "20", exchange.Buy, exchange.IOC, exchange.KindRejected},
		{"base balance", "r4", "60000", "3", exchange.Sell, exchange.IOC, exchange.KindRejected},
		{"gtc", "r5", "60000", "0.01", exchange.Buy, exchange.GTC, exchange.KindRejected},
		{"bad id", "r-6", "60000", "0.01", exchange.Buy, exchange.IOC, exchange.KindRejected},
	} {
		if _, err := place(tc.id, tc.side, tc.p, tc.q, tc.tif); exchange.KindOf(err) != tc.kind {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.kind)
		}
	}
	first, err := place("d1", exchange.Buy, "60000", "0.01", exchange.IOC)
	if err != nil {
		t.Fatal(err)
	}
	st, err := place("d1", exchange.Buy, "60000", "0.01", exchange.IOC)
	if exchange.KindOf(err) != exchange.KindDuplicate || st != first {
		t.Errorf("duplicate: %v %+v", err, st)
	}
	// FOK: 0.2 is more than the 0.09 left at 60000.
	if st, err := place("f1", exchange.Buy, "60000", "0.2", exchange.FOK); err != nil || st.FilledQty != 0 || st.Status != exchange.StatusExpired {
		t.Errorf("FOK: %+v %v", st, err)
	}
	// A stale book, then an old one: expired unfilled.
	m.mu.Lock()
	m.book.Flags |= exchange.FlagStale
	m.mu.Unlock()
	if st, _ := place("k1", exchange.Buy, "60000", "0.01", exchange.IOC); st.Status != exchange.StatusExpired || st.FilledQty != 0 {
		t.Errorf("stale book: %+v", st)
	}
	m.set(5, c.t-int64(6*time.Second), nil, [][2]string{{"60000.00", "0.1"}})
	if st, _ := place("k2", exchange.Buy, "60000", "0.01", exchange.IOC); st.Status != exchange.StatusExpired || st.FilledQty != 0 {
		t.Errorf("old book: %+v", st)
	}
	if v.Stats().NoBook.Load() != 2 {
		t.Errorf("NoBook = %d", v.Stats().NoBook.Load())
	}
	// Nothing stays locked.
	bs, _ := v.Balances(ctx)
	for _, b := range bs {
		if !b.Locked.IsZero() {
			t.Errorf("%s locked %s", b.Asset, b.Locked)
		}
	}
	if _, err := v.QueryOrder(ctx, 1, cid("nope")); exchange.KindOf(err) != exchange.KindNotFound {
		t.Errorf("query unknown: %v", err)
	}
}

// TestLatency: the fill happens Latency after the call; a caller that
// gives up meanwhile gets KindUnknownOutcome and finds the order by a
// query, filled once, at the time it was due; a cancel during the latency
// cancels it unfilled.
func TestLatency(t *testing.T) {
	m := &market{}
	now := time.Now().UnixNano()
	m.set(1, now+int64(time.Hour), [][2]string{{"59999.90", "1"}}, [][2]string{{"60000.00", "1"}})
	v := newVenue(t, m, &clock{}, func(c *Config) { c.Latency = 50 * time.Millisecond; c.Now = nil })
	req := exchange.OrderRequest{ClientID: cid("l1"), Venue: 1, Inst: 1, Side: exchange.Buy, Px: px("60000"), Qty: qty("0.01"), TIF: exchange.IOC}
	start := time.Now()
	if st, err := v.PlaceOrder(context.Background(), req); err != nil || st.Status != exchange.StatusFilled {
		t.Fatalf("%+v %v", st, err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("filled after %v, before the latency", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	req.ClientID = cid("l2")
	if _, err := v.PlaceOrder(ctx, req); exchange.KindOf(err) != exchange.KindUnknownOutcome {
		t.Fatalf("gave up: %v", err)
	}
	st, err := v.QueryOrder(context.Background(), 1, req.ClientID)
	if err != nil || st.Status != exchange.StatusNew {
		t.Fatalf("during the latency: %+v %v", st, err)
	}
	if oo, _ := v.OpenOrders(context.Background(), 0); len(oo) != 1 {
		t.Errorf("open orders %d", len(oo))
	}
	deadline := time.Now().Add(10 * time.Second)
	for st.Status == exchange.StatusNew && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		st, _ = v.QueryOrder(context.Background(), 1, req.ClientID)
	}
	if st.Status != exchange.StatusFilled || st.FilledQty != qty("0.01") {
		t.Fatalf("after the latency: %+v", st)
	}
	// Cancel during the latency.
	req.ClientID = cid("l3")
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel2()
	v.PlaceOrder(ctx2, req)
	cs, err := v.CancelOrder(context.Background(), 1, req.ClientID)
	if err != nil || cs.Status != exchange.StatusCanceled {
		t.Fatalf("cancel: %+v %v", cs, err)
	}
	fs, _ := v.FillsSince(context.Background(), 0, 0)
	if len(fs) != 2 {
		t.Errorf("%d fills, want 2 (l1, l2)", len(fs))
	}
}

func TestNewErrors(t *testing.T) {
	m := &market{}
	for _, edit := range []func(*Config){
		func(c *Config) { c.Books = nil },
		func(c *Config) { c.Balances = map[string]num.Amount{"DOGE": num.AmountOf(1, 0)} },
		func(c *Config) { c.Balances = map[string]num.Amount{"BTC": num.AmountOf(1, 9)} },
		func(c *Config) { c.FeeBps = -1 },
	} {
		cfg := Config{Venue: 1, Instruments: []exchange.Instrument{btc}, Books: m.books}
		edit(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) passed", cfg)
		}
	}
}

// TestWideScale: with prices and quantities of 8 decimals each (a quote
// balance kept at 16 decimals: 100000 USDT is 10^21 units, past int64) the
// account is still exact and its balances reported at 8 decimals.
func TestWideScale(t *testing.T) {
	wide := btc
	wide.Scale = num.Scale{Px: 8, Qty: 8}
	wide.Tick, wide.MinNotional = 1_000_000, 500_000_000
	m, c := &market{}, &clock{t: 1e18}
	m.mu.Lock()
	m.book = exchange.BookTop{Seq: 1, RecvTS: c.t, Venue: 1, Inst: 1, NAsks: 1}
	m.book.Asks[0] = exchange.Level{Px: 6_000_000_000_000, Qty: 100_000_000} // 60000, 1 BTC
	m.ok = true
	m.mu.Unlock()
	v, err := New(Config{Venue: 1, Name: "w", Instruments: []exchange.Instrument{wide}, FeeBps: 10, Books: m.books, Now: c.now,
		Balances: map[string]num.Amount{"USDT": num.AmountOf(100_000, 0), "BTC": num.AmountOf(2, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := v.PlaceOrder(context.Background(), exchange.OrderRequest{ClientID: cid("w1"), Venue: 1, Inst: 1, Side: exchange.Buy,
		Px: 6_000_000_000_000, Qty: 12_340_000, TIF: exchange.IOC})
	if err != nil || st.FilledQty != 12_340_000 {
		t.Fatalf("%+v %v", st, err)
	}
	// 0.1234 × 60000 = 7404, fee 7.404.
	if got := balance(t, v, "USDT"); got != "92588.59600000" {
		t.Errorf("USDT %s", got)
	}
	if got := balance(t, v, "BTC"); got != "2.12340000" {
		t.Errorf("BTC %s", got)
	}
}
