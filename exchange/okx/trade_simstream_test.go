package okx

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/sim"
)

// The private stream and WebSocket order entry against exchange/sim.

// runSimPrivate starts Run (order socket) and RunPrivate on ts.c and waits
// until both are up.
func runSimPrivate(t *testing.T, ts *tradeSim) *recSink {
	t.Helper()
	sink := newRecSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- ts.c.RunPrivate(ctx, sink) }()
	go func() { done <- ts.c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for i := 0; i < 2; i++ {
			if err := <-done; err != context.Canceled {
				t.Errorf("returned %v", err)
			}
		}
	})
	sink.wait(t, "stream up", func(s *recSink) bool { return len(s.ups) > 0 && s.ups[len(s.ups)-1] })
	if ts.c.cfg.OrderEntry != OrderEntryREST {
		waitUntil(t, "order socket up", ts.c.ows.up)
	}
	return sink
}

// fillsOf returns the sink's fills of one client order id.
func (s *recSink) fillsOf(clid string) []exchange.Fill {
	var out []exchange.Fill
	for _, f := range s.fills {
		if f.ClientID.String() == clid {
			out = append(out, f)
		}
	}
	return out
}

// Place over WebSocket → fills on the private stream, exact against the
// venue's record → the order's final state → balances.
func TestSimStreamRoundTrip(t *testing.T) {
	ts := startTradeSim(t, nil, func(c *ClientConfig) { c.OrderEntry = OrderEntryAuto })
	sink := runSimPrivate(t, ts)
	ctx := runCtx(t)
	bal0 := balancesOf(t, ts.c)
	req := exchange.OrderRequest{ClientID: exchange.MustID("srt1"), Inst: 1, Side: exchange.Buy, Px: ts.takeAsk(t), Qty: 1_000_000, TIF: exchange.IOC}
	if _, err := ts.c.PlaceOrder(ctx, req); err != nil {
		t.Fatal(err)
	}
	if ts.c.Stats().OrdersWS.Load() != 1 {
		t.Fatal("the order did not go over WebSocket")
	}
	sink.wait(t, "the fills and the final state", func(s *recSink) bool {
		var q int64
		for _, f := range s.fillsOf("srt1") {
			q += int64(f.Qty)
		}
		return q == int64(req.Qty) && len(s.orders) > 0 && s.orders[len(s.orders)-1].Status == exchange.StatusFilled
	})
	sink.mu.Lock()
	got := sink.fillsOf("srt1")
	sink.mu.Unlock()
	venue := ts.s.Fills(simVenue)
	if len(got) != len(venue) {
		t.Fatalf("%d fills delivered, venue has %d", len(got), len(venue))
	}
	cost, fee := decimal.Zero, decimal.Zero
	for i, f := range got {
		v := venue[i]
		if f.TradeID.String() != v.TradeID || f.Px != v.Px || f.Qty != v.Qty || !dec(f.Fee).Equal(decFixed(v.Fee, v.FeeDec)) ||
			f.FeeAsset.String() != v.FeeAsset || f.Maker != v.Maker || f.VenueOrderID.String() != v.OrderID {
			t.Fatalf("fill %d: %+v\nvenue %+v", i, f, v)
		}
		cost = cost.Add(decFixed(int64(f.Px), 2).Mul(decFixed(int64(f.Qty), 8)))
		fee = fee.Add(dec(f.Fee))
	}
	bal1 := balancesOf(t, ts.c)
	if !bal0["USDT"].Sub(bal1["USDT"]).Equal(cost) || !bal1["BTC"].Sub(bal0["BTC"]).Equal(decFixed(int64(req.Qty), 8).Sub(fee)) {
		t.Fatalf("balances %v → %v, cost %s fee %s", bal0, bal1, cost, fee)
	}
	waitUntil(t, "order no longer in flight", func() bool { return ts.c.inflight.len() == 0 })
}

// The private stream is cut when the order is accepted, before any of its
// events is pushed (nothing is replayed): the reconnect's REST
// reconciliation delivers every fill, each exactly once.
func TestSimStreamDroppedMidOrder(t *testing.T) {
	for _, entry := range []OrderEntry{OrderEntryREST, OrderEntryAuto} {
		t.Run(string(entry), func(t *testing.T) {
			ts := startTradeSim(t, nil, func(c *ClientConfig) { c.OrderEntry = entry })
			sink := runSimPrivate(t, ts)
			ctx := runCtx(t)
			if err := ts.s.Inject(simVenue, sim.Fault{Kind: sim.FaultStreamDrop, NextOrder: true}); err != nil {
				t.Fatal(err)
			}
			req := exchange.OrderRequest{ClientID: exchange.MustID("drop1"), Inst: 1, Side: exchange.Buy, Px: ts.takeAsk(t), Qty: 2_000_000, TIF: exchange.IOC}
			if _, err := ts.c.PlaceOrder(ctx, req); err != nil {
				// Over WebSocket the order rides a /ws/v5/private connection
				// too, and the drop cuts it before the reply: an unknown
				// outcome, resolved by a query.
				mustKind(t, err, exchange.KindUnknownOutcome)
				if entry == OrderEntryREST {
					t.Fatal(err)
				}
				if st, err := ts.c.QueryOrder(ctx, 1, req.ClientID); err != nil || st.FilledQty != req.Qty {
					t.Fatalf("%+v %v", st, err)
				}
			}
			if n := len(ts.s.OrdersByClientID(simVenue, "drop1")); n != 1 {
				t.Fatalf("%d orders at the venue", n)
			}
			sink.wait(t, "every fill of the order", func(s *recSink) bool {
				var q int64
				for _, f := range s.fillsOf("drop1") {
					q += int64(f.Qty)
				}
				return q >= int64(req.Qty)
			})
			sink.wait(t, "the stream back up", func(s *recSink) bool { return len(s.ups) >= 3 && s.ups[len(s.ups)-1] })
			sink.mu.Lock()
			defer sink.mu.Unlock()
			venue := ts.s.Fills(simVenue)
			got := sink.fillsOf("drop1")
			if len(got) != len(venue) {
				t.Fatalf("%d fills delivered, venue has %d", len(got), len(venue))
			}
			seen := map[string]int{}
			for _, f := range got {
				seen[f.TradeID.String()]++
			}
			for _, v := range venue {
				if seen[v.TradeID] != 1 {
					t.Fatalf("trade %s delivered %d times", v.TradeID, seen[v.TradeID])
				}
			}
			if ts.c.Stats().Reconciliations.Load() < 2 {
				t.Fatal("no reconciliation after the drop")
			}
		})
	}
}

// A lost WebSocket acknowledgement: unknown outcome, resolved by a query,
// one order at the venue; the fill still arrives once on the stream.
func TestSimWSLostAck(t *testing.T) {
	ts := startTradeSim(t, nil, func(c *ClientConfig) { c.OrderEntry = OrderEntryAuto; c.RequestTimeout = 500 * time.Millisecond })
	sink := runSimPrivate(t, ts)
	ctx := runCtx(t)
	if err := ts.s.Inject(simVenue, sim.Fault{Kind: sim.FaultLoseAck}); err != nil {
		t.Fatal(err)
	}
	req := exchange.OrderRequest{ClientID: exchange.MustID("wslost1"), Inst: 1, Side: exchange.Buy, Px: ts.takeAsk(t), Qty: 100_000, TIF: exchange.IOC}
	_, err := ts.c.PlaceOrder(ctx, req)
	mustKind(t, err, exchange.KindUnknownOutcome)
	st, err := ts.c.QueryOrder(ctx, 1, req.ClientID)
	if err != nil || st.Status != exchange.StatusFilled {
		t.Fatalf("%+v %v", st, err)
	}
	_, err = ts.c.PlaceOrder(ctx, req)
	mustKind(t, err, exchange.KindDuplicate)
	if n := len(ts.s.OrdersByClientID(simVenue, "wslost1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
	sink.wait(t, "the fill", func(s *recSink) bool { return len(s.fillsOf("wslost1")) > 0 })
}

// A private stream gone silent (open, but nothing arrives, not even pongs)
// is given up after the silence limit and replaced.
func TestSimStreamSilent(t *testing.T) {
	ts := startTradeSim(t, nil, func(c *ClientConfig) { c.PingEvery = 200 * time.Millisecond })
	sink := runSimPrivate(t, ts)
	if err := ts.s.Inject(simVenue, sim.Fault{Kind: sim.FaultStreamSilent}); err != nil {
		t.Fatal(err)
	}
	sink.wait(t, "down and up again", func(s *recSink) bool { return len(s.ups) >= 3 && s.ups[len(s.ups)-1] })
}

// A rate-limited WebSocket order (60014): nothing reaches the venue before
// the wait has passed — counted at the simulator.
func TestSimWSRateLimit(t *testing.T) {
	ts := startTradeSim(t, nil, func(c *ClientConfig) { c.OrderEntry = OrderEntryAuto })
	runSimPrivate(t, ts)
	ctx := runCtx(t)
	const retry = time.Second
	if err := ts.s.Inject(simVenue, sim.Fault{Kind: sim.FaultRateLimit, RetryAfter: retry}); err != nil {
		t.Fatal(err)
	}
	req := exchange.OrderRequest{ClientID: exchange.MustID("wsrl1"), Inst: 1, Side: exchange.Buy, Px: ts.takeAsk(t), Qty: 100_000, TIF: exchange.IOC}
	_, err := ts.c.PlaceOrder(ctx, req)
	if e := mustKind(t, err, exchange.KindRateLimited); e.Code != "60014" || e.RetryAfter < retry {
		t.Fatalf("%+v", e)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := ts.c.PlaceOrder(ctx, req)
		if err == nil {
			break
		}
		e := mustKind(t, err, exchange.KindRateLimited)
		if time.Now().After(deadline) {
			t.Fatal("never admitted again")
		}
		<-time.After(min(e.RetryAfter, 100*time.Millisecond))
	}
	var limitedAt time.Time
	for _, r := range ts.s.Requests(simVenue) {
		switch {
		case r.Limited:
			if !limitedAt.IsZero() {
				t.Fatalf("refused twice: %+v", r)
			}
			limitedAt = r.At
		case !limitedAt.IsZero() && r.At.Before(limitedAt.Add(retry)):
			t.Fatalf("%s %v after the refusal", r.Endpoint, r.At.Sub(limitedAt))
		}
	}
	if limitedAt.IsZero() || ts.c.Stats().OrdersWS.Load() != 2 {
		t.Fatalf("limited at %v, %d WS orders", limitedAt, ts.c.Stats().OrdersWS.Load())
	}
}
