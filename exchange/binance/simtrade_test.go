package binance

import (
	"context"
	"errors"
	"github.com/shopspring/decimal"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/exchange/sim"
)

// The trading client against exchange/sim, the simulator written from the
// venues' documentation independently of this package (the issue's
// "Must show" list for Binance).

// tradeEnv is one simulated Binance venue and a trading client of it,
// sharing a clock the test moves (the market steps only when told to).
type tradeEnv struct {
	sim   *sim.Sim
	c     *Client
	clock atomic.Int64
	insts []exchange.Instrument
	urls  sim.URLs
}

func (e *tradeEnv) advance(d time.Duration) { e.clock.Add(int64(d)) }

func startTradeSim(t *testing.T, mod func(*ClientConfig)) *tradeEnv {
	return startTradeSimClock(t, false, mod)
}

// startTradeSimClock is startTradeSim; with realClock the simulator and
// the client use the wall clock (the private stream's timers, the poller
// and the keep-alive need time to pass), else a clock the test moves.
func startTradeSimClock(t *testing.T, realClock bool, mod func(*ClientConfig)) *tradeEnv {
	t.Helper()
	e := &tradeEnv{}
	e.clock.Store(time.Now().UnixNano())
	sc := sim.DefaultConfig()
	sc.Venues = sc.Venues[:1] // binance
	sc.ManualStep = true
	sc.Dislocation.Prob, sc.Quiet.Prob = 0, 0
	// The instruments the client gets from exchangeInfo are in the scale
	// Binance writes (quoteAssetPrecision/baseAssetPrecision: 8 and 8);
	// the simulator keeps its books in the same scale, so the test's prices
	// and the simulator's fills compare as plain integers.
	for i := range sc.Symbols {
		sc.Symbols[i].Scale = num.Scale{Px: 8, Qty: 8}
	}
	if !realClock {
		sc.Clock = func() time.Time { return time.Unix(0, e.clock.Load()) }
	}
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e.sim = s
	e.urls, _ = s.URLs("binance")
	var want []exchange.Instrument
	for k, sy := range sc.Symbols {
		vs, _ := s.VenueSymbol("binance", sy.Symbol)
		want = append(want, exchange.Instrument{ID: exchange.InstrumentID(k + 1), Venue: 1, Symbol: vs, Canonical: sy.Symbol, Scale: sy.Scale})
	}
	// The filters come from the simulator's exchangeInfo, as in the daemon.
	e.insts, err = FetchInstruments(context.Background(), http.DefaultClient, e.urls.REST, "binance", want)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := NewHMACCredentials(sim.TestBinanceKey, sim.TestBinanceSecret)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ClientConfig{Venue: 1, Name: "binance", RESTURL: e.urls.REST, WSAPIURL: e.urls.Private,
		Credentials: creds, Instruments: e.insts, OrderEntry: OrderEntryREST, RequestTimeout: 5 * time.Second,
		PollEvery: 50 * time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Logger: discard(), Now: func() int64 { return e.clock.Load() }}
	if realClock {
		cfg.Now = nil
	}
	if mod != nil {
		mod(&cfg)
	}
	e.c, err = NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// btcBuy is an IOC buy of qty BTC (8 decimals) priced 0.2% above the
// simulator's best ask, so it crosses.
func (e *tradeEnv) btcBuy(t *testing.T, cid string, qty int64) exchange.OrderRequest {
	t.Helper()
	_, asks, _, ok := e.sim.Book("binance", "BTC-USDT")
	if !ok || len(asks) == 0 {
		t.Fatal("no book")
	}
	return exchange.OrderRequest{ClientID: exchange.MustID(cid), Venue: 1, Inst: 1, Side: exchange.Buy,
		Px: asks[0].Px + asks[0].Px/500, Qty: num.Qty(qty), TIF: exchange.IOC}
}

func (e *tradeEnv) simFills(cid string) []sim.Fill {
	var out []sim.Fill
	for _, f := range e.sim.Fills("binance") {
		if f.ClientID == cid {
			out = append(out, f)
		}
	}
	return out
}

// sameFills checks the client's fills against the simulator's: one each,
// same trade ids, prices, quantities, fees and fee assets, exactly.
func sameFills(t *testing.T, got []exchange.Fill, want []sim.Fill) {
	t.Helper()
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%d fills, simulator made %d", len(got), len(want))
	}
	byID := map[string]sim.Fill{}
	for _, w := range want {
		byID[w.TradeID] = w
	}
	for _, g := range got {
		w, ok := byID[g.TradeID.String()]
		if !ok {
			t.Fatalf("fill %s not made by the simulator", g.TradeID.String())
		}
		delete(byID, w.TradeID)
		if g.Px != w.Px || g.Qty != w.Qty || g.Fee.Cmp(num.AmountOf(w.Fee, w.FeeDec)) != 0 || g.FeeAsset.String() != w.FeeAsset ||
			g.Side != w.Side || g.Maker != w.Maker || g.VenueOrderID.String() != w.OrderID || g.ClientID.String() != w.ClientID {
			t.Fatalf("fill %+v (fee %s), simulator %+v", g, g.Fee, w)
		}
	}
}

func balanceOf(t *testing.T, bs []exchange.Balance, asset string) num.Amount {
	t.Helper()
	for _, b := range bs {
		if b.Asset == asset {
			return b.Total
		}
	}
	return num.Amount{}
}

func simTotal(t *testing.T, s *sim.Sim, asset string) num.Amount {
	t.Helper()
	free, locked, ok := s.Balance("binance", asset)
	if !ok {
		t.Fatalf("no %s", asset)
	}
	tot, _ := addAmount(free, locked)
	return tot
}

// TestSimRoundTrip: place → fill → query → balances, with exact
// quantities and fees: the fills delivered equal the simulator's, the
// query agrees, and the balances moved by exactly the fills.
func TestSimRoundTrip(t *testing.T) {
	e := startTradeSim(t, nil)
	ctx := context.Background()
	sink := newSinkRec()
	e.c.setSink(sink)
	before, err := e.c.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := e.btcBuy(t, "rt1", 1_000_000) // 0.01 BTC
	st, err := e.c.PlaceOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != exchange.StatusFilled || st.FilledQty != 1_000_000 || st.Qty != 1_000_000 {
		t.Fatalf("%+v", st)
	}
	fills := sink.fillsOf("rt1")
	sameFills(t, fills, e.simFills("rt1"))
	q, err := e.c.QueryOrder(ctx, 1, req.ClientID)
	if err != nil || q.Status != exchange.StatusFilled || q.FilledQty != st.FilledQty || q.VenueOrderID != st.VenueOrderID ||
		q.FilledQuote.Cmp(st.FilledQuote) != 0 {
		t.Fatalf("query %+v %v", q, err)
	}
	after, err := e.c.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// BTC: + qty − fee (fees in BTC on a buy); USDT: − Σ px × qty.
	// Exact decimals: a notional in the 8+8-decimal scale overflows int64.
	dec := func(a num.Amount) decimal.Decimal { return decimal.New(a.V, -int32(a.Dec)) }
	sc := e.insts[0].Scale
	wantBTC, wantUSDT := dec(balanceOf(t, before, "BTC")), dec(balanceOf(t, before, "USDT"))
	for _, f := range fills {
		wantBTC = wantBTC.Add(decimal.New(int64(f.Qty), -int32(sc.Qty))).Sub(dec(f.Fee))
		wantUSDT = wantUSDT.Sub(decimal.New(int64(f.Px), -int32(sc.Px)).Mul(decimal.New(int64(f.Qty), -int32(sc.Qty))))
	}
	if got := dec(balanceOf(t, after, "BTC")); !got.Equal(wantBTC) || !got.Equal(dec(simTotal(t, e.sim, "BTC"))) {
		t.Fatalf("BTC %s, want %s", got, wantBTC)
	}
	if got := dec(balanceOf(t, after, "USDT")); !got.Equal(wantUSDT) || !got.Equal(dec(simTotal(t, e.sim, "USDT"))) {
		t.Fatalf("USDT %s, want %s", got, wantUSDT)
	}
}

// TestSimLostAckResolvedByQuery: the simulator executes an order and
// loses its answer; the client reports an unknown outcome, a query by the
// client order id resolves it, and a resubmission does not reach the venue:
// one order for the intent.
func TestSimLostAckResolvedByQuery(t *testing.T) {
	e := startTradeSim(t, nil)
	ctx := context.Background()
	start := e.clock.Load()
	if err := e.sim.Inject("binance", sim.Fault{Kind: sim.FaultLoseAck}); err != nil {
		t.Fatal(err)
	}
	req := e.btcBuy(t, "lost1", 200_000)
	_, err := e.c.PlaceOrder(ctx, req)
	if kindOf(err) != exchange.KindUnknownOutcome {
		t.Fatalf("%v", err)
	}
	st, err := e.c.QueryOrder(ctx, 1, req.ClientID)
	if err != nil || st.Status != exchange.StatusFilled || st.FilledQty != 200_000 {
		t.Fatalf("query %+v %v", st, err)
	}
	if _, err := e.c.PlaceOrder(ctx, req); kindOf(err) != exchange.KindDuplicate {
		t.Fatalf("resubmission: %v", err)
	}
	if n := len(e.sim.OrdersByClientID("binance", "lost1")); n != 1 {
		t.Fatalf("%d orders for one intent", n)
	}
	// The reconciliation path finds the fill the lost answer carried.
	fills, err := e.c.FillsSince(ctx, 1, start)
	if err != nil {
		t.Fatal(err)
	}
	sameFills(t, fills, e.simFills("lost1"))
}

// TestSimResubmitSameClientID: sending the same client order id again —
// after a fill (which Binance would accept as a new order), and while the
// first is still open — never creates a second order.
func TestSimResubmitSameClientID(t *testing.T) {
	e := startTradeSim(t, nil)
	ctx := context.Background()
	req := e.btcBuy(t, "dup1", 100_000)
	first, err := e.c.PlaceOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		st, err := e.c.PlaceOrder(ctx, req)
		if kindOf(err) != exchange.KindDuplicate || st.VenueOrderID != first.VenueOrderID {
			t.Fatalf("resubmission %d: %+v %v", i, st, err)
		}
	}
	// A resting order: the venue itself refuses the duplicate.
	_, asks, _, _ := e.sim.Book("binance", "BTC-USDT")
	gtc := exchange.OrderRequest{ClientID: exchange.MustID("dup2"), Venue: 1, Inst: 1, Side: exchange.Sell,
		Px: asks[0].Px * 2, Qty: 100_000, TIF: exchange.GTC}
	if _, err := e.c.PlaceOrder(ctx, gtc); err != nil {
		t.Fatal(err)
	}
	fresh := startTradeSimClientOnly(t, e) // another process: no memory of dup2
	if _, err := fresh.PlaceOrder(ctx, gtc); kindOf(err) != exchange.KindDuplicate {
		t.Fatalf("venue duplicate: %v", err)
	}
	if d := e.sim.DuplicateClientIDs("binance"); len(d) != 0 {
		t.Fatalf("duplicate orders %v", d)
	}
}

// startTradeSimClientOnly returns a second client of e's simulator.
func startTradeSimClientOnly(t *testing.T, e *tradeEnv) *Client {
	t.Helper()
	c, err := NewClient(e.c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSimRetryAfterObeyed: after a 429 and after a 418, the simulator
// receives no request before Retry-After has passed (counted there), while
// orders, queries and balances are refused locally; the 418 opens the
// circuit with its reason until the ban ends.
func TestSimRetryAfterObeyed(t *testing.T) {
	e := startTradeSim(t, nil)
	ctx := context.Background()
	if err := e.c.syncTime(ctx); err != nil {
		t.Fatal(err)
	}
	tries := func(tag string) {
		if _, err := e.c.PlaceOrder(ctx, e.btcBuy(t, tag+"o", 100_000)); kindOf(err) != exchange.KindRateLimited {
			t.Fatalf("%s order: %v", tag, err)
		}
		if _, err := e.c.QueryOrder(ctx, 1, exchange.MustID("x")); kindOf(err) != exchange.KindRateLimited {
			t.Fatalf("%s query: %v", tag, err)
		}
		if _, err := e.c.Balances(ctx); kindOf(err) != exchange.KindRateLimited {
			t.Fatalf("%s balances: %v", tag, err)
		}
	}
	for _, tc := range []struct {
		status int
		retry  time.Duration
	}{{429, 3 * time.Second}, {418, 2 * time.Minute}} {
		if err := e.sim.Inject("binance", sim.Fault{Kind: sim.FaultRateLimit, Status: tc.status, RetryAfter: tc.retry}); err != nil {
			t.Fatal(err)
		}
		t0 := time.Unix(0, e.clock.Load())
		_, err := e.c.PlaceOrder(ctx, e.btcBuy(t, "rl"+itoa(tc.status), 100_000))
		var ee *exchange.Error
		if !errors.As(err, &ee) || ee.Kind != exchange.KindRateLimited || ee.RetryAfter != tc.retry || ee.HTTPStatus != tc.status {
			t.Fatalf("%d: %v", tc.status, err)
		}
		cb := e.c.Circuit()
		if !cb.Open || cb.Until != t0.Add(tc.retry).UnixNano() || !strings.Contains(cb.Reason, itoa(tc.status)) {
			t.Fatalf("circuit %+v", cb)
		}
		for k, at := range []time.Duration{0, tc.retry / 2, tc.retry - time.Millisecond} {
			e.clock.Store(t0.Add(at).UnixNano())
			tries(itoa(tc.status) + "t" + itoa(k))
		}
		for _, r := range e.sim.Requests("binance") {
			if r.At.After(t0) && r.At.Before(t0.Add(tc.retry)) {
				t.Fatalf("%d: request %s at +%v, before Retry-After", tc.status, r.Endpoint, r.At.Sub(t0))
			}
		}
		e.clock.Store(t0.Add(tc.retry + time.Millisecond).UnixNano())
		if _, err := e.c.PlaceOrder(ctx, e.btcBuy(t, "ok"+itoa(tc.status), 100_000)); err != nil {
			t.Fatalf("after Retry-After: %v", err)
		}
		if cb := e.c.Circuit(); cb.Open {
			t.Fatalf("still open %+v", cb)
		}
	}
	for _, r := range e.sim.Requests("binance") {
		if r.Status == 418 && r.Limited && r.Endpoint != "POST /api/v3/order" {
			t.Fatalf("escalated: %+v", r)
		}
	}
}

// TestSimPartialFill30: a 30% partial fill of an IOC is reported exactly:
// EXPIRED with 30% filled, fills summing to it.
func TestSimPartialFill30(t *testing.T) {
	e := startTradeSim(t, nil)
	ctx := context.Background()
	sink := newSinkRec()
	e.c.setSink(sink)
	if err := e.sim.Inject("binance", sim.Fault{Kind: sim.FaultPartialFill, Fraction: 0.3}); err != nil {
		t.Fatal(err)
	}
	st, err := e.c.PlaceOrder(ctx, e.btcBuy(t, "p30", 1_000_000)) // 0.01 BTC
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != exchange.StatusExpired || st.FilledQty != 300_000 || st.Qty != 1_000_000 {
		t.Fatalf("%+v", st)
	}
	var sum num.Qty
	for _, f := range sink.fillsOf("p30") {
		sum += f.Qty
	}
	if sum != 300_000 {
		t.Fatalf("fills sum to %d", sum)
	}
	sameFills(t, sink.fillsOf("p30"), e.simFills("p30"))
	q, err := e.c.QueryOrder(ctx, 1, exchange.MustID("p30"))
	if err != nil || q.Status != exchange.StatusExpired || q.FilledQty != 300_000 {
		t.Fatalf("%+v %v", q, err)
	}
}

// streamEnv starts the client's Run (order socket) and RunPrivate against
// a wall-clock simulator and waits for both.
func streamEnv(t *testing.T, mod func(*ClientConfig)) (*tradeEnv, *sinkRec) {
	t.Helper()
	e := startTradeSimClock(t, true, func(cfg *ClientConfig) {
		cfg.OrderEntry = OrderEntryAuto
		if mod != nil {
			mod(cfg)
		}
	})
	runBG(t, func(ctx context.Context) { e.c.Run(ctx) })
	sink := startPrivate(t, e.c)
	if e.c.cfg.OrderEntry != OrderEntryREST {
		eventually(t, 10*time.Second, "order socket", func() bool { return e.c.ws.usable() != nil })
	}
	return e, sink
}

// TestSimStreamRoundTrip: over the WebSocket API (order.place) with the
// user data stream up: the fills reach the sink once although both the
// answer and the stream report them, equal to the simulator's; the stream
// delivers the final state.
func TestSimStreamRoundTrip(t *testing.T) {
	e, sink := streamEnv(t, nil)
	req := e.btcBuy(t, "wsrt1", 2_000_000)
	st, err := e.c.PlaceOrder(context.Background(), req)
	if err != nil || st.Status != exchange.StatusFilled || st.FilledQty != 2_000_000 {
		t.Fatalf("%+v %v", st, err)
	}
	if e.c.Stats().OrdersWS.Load() != 1 || e.c.Stats().OrdersREST.Load() != 0 {
		t.Fatal("not sent over the WebSocket API")
	}
	if o := e.sim.OrdersByClientID("binance", "wsrt1"); len(o) != 1 || o[0].Via != "ws" {
		t.Fatalf("%+v", o)
	}
	want := e.simFills("wsrt1")
	sink.waitFor(t, 5*time.Second, "the stream's final state and fills", func(s *sinkRec) bool {
		n := 0
		for _, o := range s.orders {
			if o.ClientID == req.ClientID && o.Status == exchange.StatusFilled {
				n++
			}
		}
		return n >= 2 && e.c.Stats().FillsSuppressed.Load() >= uint64(len(want))
	})
	sameFills(t, sink.fillsOf("wsrt1"), want)
}

// TestSimStreamDropMidOrder: the simulator cuts the private stream when
// the next order is accepted (before any of its events) and loses that
// order's answer: the client reports an unknown outcome, reconnects,
// reconciles over REST and delivers the fill exactly once — with polling
// (the default) and with the poller out of the way (PollEvery an hour), so
// the reconnect's reconciliation alone must find it.
func TestSimStreamDropMidOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		poll time.Duration
	}{{"with polling", 0}, {"reconciliation only", time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			e, sink := streamEnv(t, func(cfg *ClientConfig) {
				cfg.RequestTimeout = time.Second // the lost answer's wait
				if tc.poll != 0 {
					cfg.PollEvery = tc.poll
				}
			})
			for _, f := range []sim.Fault{{Kind: sim.FaultStreamDrop, NextOrder: true}, {Kind: sim.FaultLoseAck}} {
				if err := e.sim.Inject("binance", f); err != nil {
					t.Fatal(err)
				}
			}
			req := e.btcBuy(t, "mid1", 500_000)
			_, err := e.c.PlaceOrder(context.Background(), req)
			if kindOf(err) != exchange.KindUnknownOutcome {
				t.Fatalf("%v", err)
			}
			sink.waitFor(t, 15*time.Second, "the fill", func(s *sinkRec) bool { return len(s.fills) > 0 && s.lastUp() })
			// Give any second delivery its chance: a further reconciliation.
			recs := e.c.Stats().Reconciliations.Load()
			e.sim.Inject("binance", sim.Fault{Kind: sim.FaultStreamDrop})
			eventually(t, 15*time.Second, "another reconciliation", func() bool { return e.c.Stats().Reconciliations.Load() > recs })
			sameFills(t, sink.fillsOf("mid1"), e.simFills("mid1"))
			sink.mu.Lock()
			streams := append([]bool(nil), sink.streams...)
			sink.mu.Unlock()
			if len(streams) < 3 || streams[1] {
				t.Fatalf("stream reports %v", streams)
			}
			if n := len(e.sim.OrdersByClientID("binance", "mid1")); n != 1 {
				t.Fatalf("%d orders", n)
			}
		})
	}
}

// TestSimEd25519Session: with the simulator's Ed25519 test key, the
// order socket and the private stream log on (session.logon) and the
// stream subscribes without a signature; orders and fills as with HMAC.
func TestSimEd25519Session(t *testing.T) {
	creds, err := NewCredentials(sim.TestBinanceEd25519Key, sim.TestBinanceEd25519PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	e, sink := streamEnv(t, func(cfg *ClientConfig) { cfg.Credentials = creds })
	st, err := e.c.PlaceOrder(context.Background(), e.btcBuy(t, "ed1", 100_000))
	if err != nil || st.Status != exchange.StatusFilled {
		t.Fatalf("%+v %v", st, err)
	}
	sink.waitFor(t, 5*time.Second, "fill", func(s *sinkRec) bool { return len(s.fills) > 0 })
	sameFills(t, sink.fillsOf("ed1"), e.simFills("ed1"))
	var logons, signed int
	for _, r := range e.sim.Requests("binance") {
		switch r.Endpoint {
		case "session.logon":
			logons++
		case "userDataStream.subscribe.signature":
			signed++
		}
	}
	if logons != 2 || signed != 0 {
		t.Fatalf("logons %d, signature subscriptions %d", logons, signed)
	}
}

// TestSimSilentStream: the stream stays open but goes silent and the
// order's answer is lost: the order in flight without news is polled, so
// its fill still arrives, once, while the stream is still reported up.
func TestSimSilentStream(t *testing.T) {
	e, sink := streamEnv(t, func(cfg *ClientConfig) { cfg.RequestTimeout = time.Second })
	for _, f := range []sim.Fault{{Kind: sim.FaultStreamSilent}, {Kind: sim.FaultLoseAck}} {
		if err := e.sim.Inject("binance", f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.c.PlaceOrder(context.Background(), e.btcBuy(t, "quiet1", 300_000)); kindOf(err) != exchange.KindUnknownOutcome {
		t.Fatalf("%v", err)
	}
	sink.waitFor(t, 10*time.Second, "the fill by polling", func(s *sinkRec) bool { return len(s.fills) > 0 })
	sameFills(t, sink.fillsOf("quiet1"), e.simFills("quiet1"))
	if e.c.Stats().Polls.Load() == 0 {
		t.Fatal("not polled")
	}
}

// TestOnOrderWrite: the hook sees each order's client id once per send,
// over the WebSocket API and over REST, not for queries, at a time between
// the call and its answer.
func TestOnOrderWrite(t *testing.T) {
	for _, entry := range []string{OrderEntryAuto, OrderEntryREST} {
		t.Run(entry, func(t *testing.T) {
			type wrote struct {
				id exchange.ID
				at int64
			}
			var mu sync.Mutex
			var seen []wrote
			e, _ := streamEnv(t, func(cfg *ClientConfig) {
				cfg.OrderEntry = entry
				cfg.OnOrderWrite = func(id exchange.ID, at int64) {
					mu.Lock()
					seen = append(seen, wrote{id, at})
					mu.Unlock()
				}
			})
			req := e.btcBuy(t, "hook"+entry, 1_000_000)
			before := time.Now().UnixNano()
			if _, err := e.c.PlaceOrder(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			after := time.Now().UnixNano()
			if _, err := e.c.QueryOrder(context.Background(), 1, req.ClientID); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 || seen[0].id != req.ClientID || seen[0].at < before || seen[0].at > after {
				t.Fatalf("hook saw %+v (call %d..%d)", seen, before, after)
			}
		})
	}
}
