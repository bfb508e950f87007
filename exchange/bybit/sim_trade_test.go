package bybit

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
	"arb/exchange/sim"
)

// The Must-show tests against exchange/sim, the local Bybit written from
// the documentation independently of this client: orders, fills, fees and
// balances are checked against what the simulator itself recorded
// (Orders, Fills, Balance, Requests), exactly.

type simTrade struct {
	t     *testing.T
	sim   *sim.Sim
	c     *Client
	urls  sim.URLs
	insts []exchange.Instrument
	clk   *testClock // shared by the simulator and the client when set
}

// newSimTrade starts a simulator with only the Bybit venue and a frozen
// market (ManualStep: the books move only through our orders), fetches the
// instruments' filters from it, and starts a client.
func newSimTrade(t *testing.T, withClock bool, mut func(*ClientConfig)) *simTrade {
	t.Helper()
	sc := sim.DefaultConfig()
	sc.ManualStep = true
	sc.Venues = slices.DeleteFunc(sc.Venues, func(v sim.VenueConfig) bool { return v.Kind != sim.KindBybit })
	st := &simTrade{t: t}
	if withClock {
		st.clk = newTestClock()
		sc.Clock = st.clk.time
	}
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st.sim = s
	st.urls, _ = s.URLs(simVenue)
	var want []exchange.Instrument
	for i, canon := range simSymbols {
		sym, _ := s.VenueSymbol(simVenue, canon)
		want = append(want, exchange.Instrument{ID: exchange.InstrumentID(i + 1), Venue: 7, Symbol: sym, Canonical: canon, Scale: sc.Symbols[i].Scale})
	}
	st.insts, err = FetchInstruments(context.Background(), nil, st.urls.REST, "bybit-sim", want)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := NewCredentials(sim.TestBybitKey, sim.TestBybitSecret)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ClientConfig{
		Venue: 7, Name: "bybit-sim", RESTURL: st.urls.REST, PrivateURL: st.urls.Private, TradeURL: st.urls.Trade,
		Credentials: cred, Instruments: st.insts, OrderEntry: OrderEntryREST, OrderTimeout: 2 * time.Second,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, PollEvery: 50 * time.Millisecond,
		PollStaleAfter: time.Second, PingEvery: time.Second, TimeSyncEvery: -1, Logger: slog.New(slog.DiscardHandler),
	}
	if st.clk != nil {
		cfg.Now = st.clk.now
	}
	if mut != nil {
		mut(&cfg)
	}
	st.c, err = NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.c.Close() })
	if cfg.OrderEntry != OrderEntryREST {
		select {
		case <-st.c.trade.authd:
		case <-time.After(20 * time.Second):
			t.Fatal("trade socket not authenticated")
		}
	}
	return st
}

// buyAtAsk returns an IOC buy of qty BTC (in the instrument's scale) whose
// limit crosses the simulator's best ask by two ticks.
func (st *simTrade) buyAtAsk(id string, qty num.Qty) exchange.OrderRequest {
	_, asks, _, ok := st.sim.Book(simVenue, "BTC-USDT")
	if !ok || len(asks) == 0 {
		st.t.Fatal("no book")
	}
	return exchange.OrderRequest{ClientID: exchange.MustID(id), Venue: 7, Inst: 1, Side: exchange.Buy,
		Px: asks[0].Px + 2*st.insts[0].Tick, Qty: qty, TIF: exchange.IOC}
}

// createRequests counts the order placements the simulator received, over
// REST and the trade socket.
func (st *simTrade) createRequests() int {
	n := 0
	for _, r := range st.sim.Requests(simVenue) {
		if r.Endpoint == "POST /v5/order/create" || r.Endpoint == "order.create" {
			n++
		}
	}
	return n
}

// simFills returns the simulator's fills of one client id.
func (st *simTrade) simFills(id string) []sim.Fill {
	var out []sim.Fill
	for _, f := range st.sim.Fills(simVenue) {
		if f.ClientID == id {
			out = append(out, f)
		}
	}
	return out
}

// checkFills compares the client's fills of id with the simulator's, field
// by field and exactly.
func (st *simTrade) checkFills(id string, got map[exchange.ID]exchange.Fill) {
	st.t.Helper()
	want := st.simFills(id)
	if len(got) != len(want) || len(want) == 0 {
		st.t.Fatalf("%s: %d fills, the simulator made %d", id, len(got), len(want))
	}
	for _, w := range want {
		f, ok := got[exchange.MustID(w.TradeID)]
		if !ok {
			st.t.Fatalf("%s: fill %s missing", id, w.TradeID)
		}
		if f.Px != w.Px || f.Qty != w.Qty || f.Side != w.Side || f.Maker != w.Maker || f.FeeAsset.String() != w.FeeAsset ||
			f.Fee.Cmp(num.AmountOf(w.Fee, w.FeeDec)) != 0 || f.VenueOrderID.String() != w.OrderID || f.Inst != 1 ||
			f.TS != w.Time.UnixMilli()*1_000_000 {
			st.t.Fatalf("%s: fill %+v, simulator %+v", id, f, w)
		}
	}
}

// TestSimRoundTrip: place → fill → query → balances, over REST and over
// the trade socket: the fill's quantity, price and fee (taker 10 bps, in
// the asset received) are exactly the simulator's, and the balances the
// client reports are the simulator's account.
func TestSimRoundTrip(t *testing.T) {
	for _, entry := range []string{OrderEntryREST, OrderEntryWS} {
		t.Run(entry, func(t *testing.T) {
			st := newSimTrade(t, false, func(c *ClientConfig) { c.OrderEntry = entry })
			sink, _ := runPrivate(t, st.c)
			req := st.buyAtAsk("rt1", 100_000) // 0.001 BTC
			ack, err := st.c.PlaceOrder(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if ack.Status != exchange.StatusNew || ack.VenueOrderID.IsZero() || ack.Qty != 100_000 {
				t.Fatalf("ack %+v", ack)
			}
			waitUntil(t, "fill and final state", func() bool {
				o, ok := sink.lastOrder("rt1")
				d, _ := sink.distinctFills("rt1")
				return ok && o.Status == exchange.StatusFilled && len(d) == len(st.simFills("rt1"))
			})
			fills, deliveries := sink.distinctFills("rt1")
			st.checkFills("rt1", fills)
			if deliveries != len(fills) {
				t.Fatalf("%d deliveries of %d fills", deliveries, len(fills))
			}
			var qty num.Qty
			fee := decimal.Zero
			for _, f := range fills {
				qty += f.Qty
				fee = fee.Add(decimal.New(f.Fee.V, -int32(f.Fee.Dec)))
			}
			// 10 bps of 0.001 BTC received = 0.000001 BTC.
			if qty != 100_000 || !fee.Equal(decimal.RequireFromString("0.000001")) {
				t.Fatalf("filled %d, fee %s", qty, fee)
			}
			q, err := st.c.QueryOrder(context.Background(), 1, exchange.MustID("rt1"))
			if err != nil || q.Status != exchange.StatusFilled || q.FilledQty != 100_000 || q.VenueOrderID != ack.VenueOrderID {
				t.Fatalf("query %+v %v", q, err)
			}
			if os := st.sim.OrdersByClientID(simVenue, "rt1"); len(os) != 1 || os[0].Filled != 100_000 || !strings.EqualFold(os[0].Via, entry) {
				t.Fatalf("simulator orders %+v", os)
			}
			bals, err := st.c.Balances(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, b := range bals {
				free, locked, ok := st.sim.Balance(simVenue, b.Asset)
				if !ok {
					continue
				}
				seen++
				total := decimal.New(free.V, -int32(free.Dec)).Add(decimal.New(locked.V, -int32(locked.Dec)))
				if !decimal.New(b.Total.V, -int32(b.Total.Dec)).Equal(total) || b.Locked.Cmp(locked) != 0 {
					t.Fatalf("%s: client %s/%s, simulator free %s locked %s", b.Asset, b.Total, b.Locked, free, locked)
				}
			}
			free, _, _ := st.sim.Balance(simVenue, "BTC")
			if seen < 2 || free.Cmp(num.AmountOf(100_099_900, 8)) != 0 { // 1 + 0.001 − 0.000001
				t.Fatalf("balances %+v, BTC free %s", bals, free)
			}
		})
	}
}

// TestSimLostAck: the venue executes the order and the answer never comes
// (REST: the connection is closed; socket: the reply is withheld). The
// client reports an unknown outcome and sends nothing more; QueryOrder
// resolves it; a resubmission with the same client id is refused by the
// client; the simulator holds one order for the intent.
func TestSimLostAck(t *testing.T) {
	for _, entry := range []string{OrderEntryREST, OrderEntryWS} {
		t.Run(entry, func(t *testing.T) {
			st := newSimTrade(t, false, func(c *ClientConfig) { c.OrderEntry = entry; c.OrderTimeout = 500 * time.Millisecond })
			if err := st.sim.Inject(simVenue, sim.Fault{Kind: sim.FaultLoseAck}); err != nil {
				t.Fatal(err)
			}
			req := st.buyAtAsk("la1", 100_000)
			_, err := st.c.PlaceOrder(context.Background(), req)
			if exchange.KindOf(err) != exchange.KindUnknownOutcome {
				t.Fatalf("lost ack: %v", err)
			}
			if n := st.createRequests(); n != 1 {
				t.Fatalf("%d placements", n)
			}
			q, err := st.c.QueryOrder(context.Background(), 1, exchange.MustID("la1"))
			if err != nil || q.Status != exchange.StatusFilled || q.FilledQty != 100_000 {
				t.Fatalf("resolved by query: %+v %v", q, err)
			}
			if _, err := st.c.PlaceOrder(context.Background(), req); exchange.KindOf(err) != exchange.KindDuplicate {
				t.Fatalf("resubmission: %v", err)
			}
			if n := st.createRequests(); n != 1 {
				t.Fatalf("%d placements after the resubmission", n)
			}
			if os := st.sim.OrdersByClientID(simVenue, "la1"); len(os) != 1 {
				t.Fatalf("%d orders for one intent", len(os))
			}
		})
	}
}

// TestSimResubmissionNoSecondOrder: a second client (a restarted process:
// it has no memory of the first) resubmits a client id the venue already
// holds: the venue refuses it (170141), the client reports a duplicate,
// and the simulator holds one order.
func TestSimResubmissionNoSecondOrder(t *testing.T) {
	st := newSimTrade(t, false, nil)
	req := st.buyAtAsk("dup1", 100_000)
	if _, err := st.c.PlaceOrder(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	cfg := st.c.Config()
	c2, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c2.PlaceOrder(context.Background(), req)
	var e *exchange.Error
	if !errorsAs(err, &e) || e.Kind != exchange.KindDuplicate || e.Code != "170141" {
		t.Fatalf("resubmission: %v", err)
	}
	if os := st.sim.OrdersByClientID(simVenue, "dup1"); len(os) != 1 || len(st.sim.DuplicateClientIDs(simVenue)) != 0 {
		t.Fatalf("orders %+v", os)
	}
}

// TestSimRateLimits: after the venue's rate-limit answer (retCode 10006
// with its reset time, Bybit's 429) and its IP ban (bare HTTP 403, Bybit's
// 418: at least 10 minutes), no request reaches the simulator before the
// announced time — counted at the simulator — and the circuit says why and
// until when. The simulator and the client share a settable clock.
func TestSimRateLimits(t *testing.T) {
	st := newSimTrade(t, true, nil)
	ctx := context.Background()
	if err := st.sim.Inject(simVenue, sim.Fault{Kind: sim.FaultRateLimit, RetryAfter: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	refusedAt := st.clk.time()
	_, err := st.c.PlaceOrder(ctx, st.buyAtAsk("rl1", 100_000))
	var e *exchange.Error
	if !errorsAs(err, &e) || e.Kind != exchange.KindRateLimited || e.Code != "10006" || e.RetryAfter != 3*time.Second {
		t.Fatalf("10006: %v", err)
	}
	until := refusedAt.Add(3 * time.Second)
	if cb := st.c.Circuit(); !cb.Open || cb.Until != until.UnixNano() {
		t.Fatalf("circuit %+v", cb)
	}
	for st.clk.time().Before(until) {
		if _, err := st.c.PlaceOrder(ctx, st.buyAtAsk("rl2", 100_000)); exchange.KindOf(err) != exchange.KindRateLimited {
			t.Fatalf("at %v: %v", st.clk.time().Sub(refusedAt), err)
		}
		st.c.QueryOrder(ctx, 1, exchange.MustID("rl1"))
		st.c.Balances(ctx)
		st.clk.advance(250 * time.Millisecond)
	}
	st.noRequestsBetween(refusedAt, until)
	if _, err := st.c.PlaceOrder(ctx, st.buyAtAsk("rl2", 100_000)); err != nil {
		t.Fatalf("after the reset: %v", err)
	}

	// The IP ban: 403 "access too frequent".
	if err := st.sim.Inject(simVenue, sim.Fault{Kind: sim.FaultRateLimit, Status: 403}); err != nil {
		t.Fatal(err)
	}
	bannedAt := st.clk.time()
	_, err = st.c.PlaceOrder(ctx, st.buyAtAsk("rl3", 100_000))
	if !errorsAs(err, &e) || e.Kind != exchange.KindRateLimited || e.HTTPStatus != 403 || e.RetryAfter != 10*time.Minute {
		t.Fatalf("403: %v", err)
	}
	until = bannedAt.Add(10 * time.Minute)
	if cb := st.c.Circuit(); !cb.Open || cb.Until != until.UnixNano() || !strings.Contains(cb.Reason, "403") {
		t.Fatalf("circuit %+v", cb)
	}
	for st.clk.time().Before(until) {
		if _, err := st.c.PlaceOrder(ctx, st.buyAtAsk("rl4", 100_000)); exchange.KindOf(err) != exchange.KindRateLimited {
			t.Fatalf("during the ban: %v", err)
		}
		st.c.Balances(ctx)
		st.clk.advance(30 * time.Second)
	}
	st.noRequestsBetween(bannedAt, until)
	if _, err := st.c.PlaceOrder(ctx, st.buyAtAsk("rl4", 100_000)); err != nil {
		t.Fatalf("after the ban: %v", err)
	}
}

// noRequestsBetween fails if the simulator received a request in
// (from, until): the refused one arrived at from.
func (st *simTrade) noRequestsBetween(from, until time.Time) {
	st.t.Helper()
	for _, r := range st.sim.Requests(simVenue) {
		if r.At.After(from) && r.At.Before(until) {
			st.t.Fatalf("%s reached the simulator %v after the refusal, before Retry-After", r.Endpoint, r.At.Sub(from))
		}
	}
}

// TestSimPartialFill: the simulator fills 30% of an IOC order: the final
// state is cancelled with exactly 30% filled, and the fills add up to it
// with their exact fees.
func TestSimPartialFill(t *testing.T) {
	st := newSimTrade(t, false, nil)
	sink, _ := runPrivate(t, st.c)
	if err := st.sim.Inject(simVenue, sim.Fault{Kind: sim.FaultPartialFill, Fraction: 0.3}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.c.PlaceOrder(context.Background(), st.buyAtAsk("pf30", 1_000_000)); err != nil { // 0.01 BTC
		t.Fatal(err)
	}
	waitUntil(t, "final state", func() bool { o, ok := sink.lastOrder("pf30"); return ok && o.Status.Final() })
	o, _ := sink.lastOrder("pf30")
	if o.Status != exchange.StatusCanceled || o.FilledQty != 300_000 || o.Qty != 1_000_000 {
		t.Fatalf("state %+v", o)
	}
	waitUntil(t, "fills", func() bool { d, _ := sink.distinctFills("pf30"); return len(d) == len(st.simFills("pf30")) })
	fills, _ := sink.distinctFills("pf30")
	st.checkFills("pf30", fills)
	var qty num.Qty
	for _, f := range fills {
		qty += f.Qty
	}
	if qty != 300_000 {
		t.Fatalf("fills add up to %d", qty)
	}
	q, err := st.c.QueryOrder(context.Background(), 1, exchange.MustID("pf30"))
	if err != nil || q.FilledQty != 300_000 || q.Status != exchange.StatusCanceled {
		t.Fatalf("query %+v %v", q, err)
	}
}

// TestSimStreamDropMidOrder: the private stream is cut when the order is
// accepted, before any of its events is pushed; the client reconnects and
// its REST reconciliation (with the polling while down) delivers the fill
// exactly once, and the order's final state.
func TestSimStreamDropMidOrder(t *testing.T) {
	st := newSimTrade(t, false, nil)
	sink, _ := runPrivate(t, st.c)
	if err := st.sim.Inject(simVenue, sim.Fault{Kind: sim.FaultStreamDrop, NextOrder: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.c.PlaceOrder(context.Background(), st.buyAtAsk("sd1", 100_000)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "stream down and up again", func() bool { l := sink.streamLog(); return len(l) >= 3 && l[len(l)-1] })
	waitUntil(t, "final state and fills", func() bool {
		o, ok := sink.lastOrder("sd1")
		d, _ := sink.distinctFills("sd1")
		return ok && o.Status == exchange.StatusFilled && len(d) == len(st.simFills("sd1"))
	})
	fills, deliveries := sink.distinctFills("sd1")
	st.checkFills("sd1", fills)
	if deliveries != len(fills) {
		t.Fatalf("%d deliveries of %d fills", deliveries, len(fills))
	}
	if st.c.stats.Reconciliations.Load() < 2 {
		t.Fatalf("reconciliations %d", st.c.stats.Reconciliations.Load())
	}
}

// TestSimStreamSilent: the private stream stays open but says nothing; the
// order is polled after PollStaleAfter and its fill delivered once.
func TestSimStreamSilent(t *testing.T) {
	st := newSimTrade(t, false, func(c *ClientConfig) { c.PollStaleAfter = 300 * time.Millisecond })
	sink, _ := runPrivate(t, st.c)
	if err := st.sim.Inject(simVenue, sim.Fault{Kind: sim.FaultStreamSilent}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.c.PlaceOrder(context.Background(), st.buyAtAsk("si1", 100_000)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "fill despite the silent stream", func() bool {
		d, _ := sink.distinctFills("si1")
		return len(d) == len(st.simFills("si1")) && len(d) > 0
	})
	fills, deliveries := sink.distinctFills("si1")
	st.checkFills("si1", fills)
	if deliveries != len(fills) {
		t.Fatalf("%d deliveries of %d fills", deliveries, len(fills))
	}
}

// TestSimOpenOrdersAndCancel: a GTC order resting below the market is
// listed open, cancelled by client id, and then reported cancelled.
func TestSimOpenOrdersAndCancel(t *testing.T) {
	st := newSimTrade(t, false, nil)
	bids, _, _, _ := st.sim.Book(simVenue, "BTC-USDT")
	req := exchange.OrderRequest{ClientID: exchange.MustID("gtc1"), Inst: 1, Side: exchange.Buy, Px: bids[len(bids)-1].Px - 100*st.insts[0].Tick,
		Qty: 100_000, TIF: exchange.GTC}
	if _, err := st.c.PlaceOrder(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	open, err := st.c.OpenOrders(context.Background(), 0)
	if err != nil || len(open) != 1 || open[0].ClientID.String() != "gtc1" || open[0].Status != exchange.StatusNew || open[0].Px != req.Px {
		t.Fatalf("open orders %+v %v", open, err)
	}
	c, err := st.c.CancelOrder(context.Background(), 1, exchange.MustID("gtc1"))
	if err != nil || c.Status != exchange.StatusCanceled {
		t.Fatalf("cancel %+v %v", c, err)
	}
	if open, err := st.c.OpenOrders(context.Background(), 1); err != nil || len(open) != 0 {
		t.Fatalf("open after cancel %+v %v", open, err)
	}
	// Cancelling again: the order is final; its state, no error.
	if c, err := st.c.CancelOrder(context.Background(), 1, exchange.MustID("gtc1")); err != nil || c.Status != exchange.StatusCanceled {
		t.Fatalf("second cancel %+v %v", c, err)
	}
	if _, err := st.c.CancelOrder(context.Background(), 1, exchange.MustID("nosuch")); exchange.KindOf(err) != exchange.KindNotFound {
		t.Fatalf("cancel of an unknown order: %v", err)
	}
}

// TestSimFillsSince: fills of several orders come back oldest first, each
// once, across the cursor pages.
func TestSimFillsSince(t *testing.T) {
	st := newSimTrade(t, false, nil)
	start := time.Now().Add(-time.Second).UnixNano()
	var mu sync.Mutex
	ids := map[string]bool{}
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("fs%d", i)
		if _, err := st.c.PlaceOrder(context.Background(), st.buyAtAsk(id, 100_000)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		ids[id] = true
		mu.Unlock()
	}
	fills, err := st.c.FillsSince(context.Background(), 0, start)
	if err != nil {
		t.Fatal(err)
	}
	if len(fills) != len(st.sim.Fills(simVenue)) {
		t.Fatalf("%d fills, simulator %d", len(fills), len(st.sim.Fills(simVenue)))
	}
	for i := 1; i < len(fills); i++ {
		if fills[i].TS < fills[i-1].TS {
			t.Fatal("not oldest first")
		}
	}
	byID := map[string]map[exchange.ID]exchange.Fill{}
	for _, f := range fills {
		if byID[f.ClientID.String()] == nil {
			byID[f.ClientID.String()] = map[exchange.ID]exchange.Fill{}
		}
		if _, dup := byID[f.ClientID.String()][f.TradeID]; dup {
			t.Fatalf("fill %s twice", f.TradeID)
		}
		byID[f.ClientID.String()][f.TradeID] = f
	}
	for id := range ids {
		st.checkFills(id, byID[id])
	}
}
