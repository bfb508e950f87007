package bybit

import (
	"context"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// TestPrivateStreamPartialFill: an IOC order 30% filled arrives on the
// private stream as an order state (cancelled with 30% filled) and one
// fill with the exact quantity, price and fee.
func TestPrivateStreamPartialFill(t *testing.T) {
	f := newFakeVenue(t)
	f.set(func(f *fakeVenue) { f.fraction = decimalOf("0.3") })
	c := newTestClient(t, f, nil)
	sink, _ := runPrivate(t, c)
	// Sell 0.01 BTC at 30000.05 → 30000.1 (rounded up), 30% = 0.003.
	if _, err := c.PlaceOrder(context.Background(), placeReq("pf1", exchange.Sell, 3000005, 10000)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "fill and final state", func() bool {
		st, ok := sink.lastOrder("pf1")
		return ok && st.Status.Final() && len(sink.fillsOf("pf1")) == 1
	})
	st, _ := sink.lastOrder("pf1")
	if st.Status != exchange.StatusCanceled || st.FilledQty != 3000 || st.Qty != 10000 || st.Px != 3000010 ||
		st.FilledQuote.Cmp(num.AmountOf(900003, 4)) != 0 {
		t.Fatalf("order %+v", st)
	}
	fl := sink.fillsOf("pf1")[0]
	// fee 0.1% of the quote received: 90.0003 × 0.001 = 0.0900003 USDT
	if fl.Qty != 3000 || fl.Px != 3000010 || fl.Side != exchange.Sell || fl.FeeAsset.String() != "USDT" ||
		fl.Fee.Cmp(num.AmountOf(900003, 7)) != 0 || fl.Maker || fl.TradeID.IsZero() || fl.VenueOrderID != st.VenueOrderID {
		t.Fatalf("fill %+v", fl)
	}
	waitUntil(t, "tracker settles", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.tr.liveCount() == 0 })
}

// TestReconnectReconcilesMissedFill: the stream drops, an order executes
// while it is down (no polling: PollEvery is long), the stream comes back:
// the reconciliation delivers the missed fill and the order's final state,
// the fill exactly once; the sink saw the stream up, down, up.
func TestReconnectReconcilesMissedFill(t *testing.T) {
	f := newFakeVenue(t)
	c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.PollEvery = time.Hour; cfg.PollStaleAfter = time.Hour })
	sink, _ := runPrivate(t, c)
	// An earlier fill, delivered by the stream.
	if _, err := c.PlaceOrder(context.Background(), placeReq("rc0", exchange.Buy, 3000000, 1000)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "first fill", func() bool { return len(sink.fillsOf("rc0")) == 1 })
	f.set(func(f *fakeVenue) { f.privDeny = true })
	f.killPrivate()
	waitUntil(t, "stream down", func() bool { l := sink.streamLog(); return !l[len(l)-1] })
	if _, err := c.PlaceOrder(context.Background(), placeReq("rc1", exchange.Buy, 3000000, 2000)); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.fillsOf("rc1")); n != 0 {
		t.Fatalf("fill delivered while the stream is down and polling is off: %d", n)
	}
	f.set(func(f *fakeVenue) { f.privDeny = false })
	waitUntil(t, "stream up again", func() bool { l := sink.streamLog(); return len(l) == 3 && l[2] })
	fills, deliveries := sink.distinctFills("rc1")
	if len(fills) != 1 || deliveries != 1 {
		t.Fatalf("missed fill: %d distinct, %d deliveries", len(fills), deliveries)
	}
	for _, fl := range fills {
		if fl.Qty != 2000 || fl.Px != 3000000 || fl.Fee.Cmp(num.AmountOf(2, 6)) != 0 || fl.FeeAsset.String() != "BTC" {
			t.Fatalf("fill %+v", fl)
		}
	}
	if st, ok := sink.lastOrder("rc1"); !ok || st.Status != exchange.StatusFilled || st.FilledQty != 2000 {
		t.Fatalf("order after reconciliation: %+v %v", st, ok)
	}
	// The earlier fill is inside the overlap: re-delivered at most once
	// more, identical (the consumer deduplicates by trade id).
	if d, n := sink.distinctFills("rc0"); len(d) != 1 || n != 1 {
		t.Fatalf("rc0: %d distinct, %d deliveries", len(d), n)
	}
	if got := sink.streamLog(); len(got) != 3 || !got[0] || got[1] || !got[2] {
		t.Fatalf("stream log %v", got)
	}
	if c.stats.Reconciliations.Load() != 2 || c.stats.PrivateConnects.Load() != 2 {
		t.Fatalf("reconciliations %d connects %d", c.stats.Reconciliations.Load(), c.stats.PrivateConnects.Load())
	}
}

// TestPollingWhileDown: with the private stream unreachable, the orders
// this client placed are polled by client id and their state and fills
// delivered; the stream is never reported up.
func TestPollingWhileDown(t *testing.T) {
	f := newFakeVenue(t)
	f.set(func(f *fakeVenue) { f.privDeny = true; f.fraction = decimalOf("0.5") })
	c := newTestClient(t, f, nil)
	sink := &recSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.RunPrivate(ctx, sink) }()
	defer func() { cancel(); <-done }()
	if _, err := c.PlaceOrder(context.Background(), placeReq("pd1", exchange.Buy, 3000000, 4000)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "polled fill", func() bool { return len(sink.fillsOf("pd1")) >= 1 })
	waitUntil(t, "polled final state", func() bool { st, ok := sink.lastOrder("pd1"); return ok && st.Status.Final() })
	st, _ := sink.lastOrder("pd1")
	if st.FilledQty != 2000 || st.Status != exchange.StatusCanceled {
		t.Fatalf("state %+v", st)
	}
	if d, _ := sink.distinctFills("pd1"); len(d) != 1 {
		t.Fatalf("fills %v", d)
	}
	waitUntil(t, "polling stops", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.tr.liveCount() == 0 })
	polls := c.stats.Polls.Load()
	if polls == 0 || len(sink.streamLog()) != 0 {
		t.Fatalf("polls %d stream %v", polls, sink.streamLog())
	}
}

// TestSilentStreamPolled: the stream is up but says nothing about an
// order: after PollStaleAfter it is polled and its fill delivered.
func TestSilentStreamPolled(t *testing.T) {
	f := newFakeVenue(t)
	c := newTestClient(t, f, nil)
	sink, _ := runPrivate(t, c)
	f.set(func(f *fakeVenue) { f.holdPush = true })
	if _, err := c.PlaceOrder(context.Background(), placeReq("ss1", exchange.Buy, 3000000, 1000)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "fill despite the silent stream", func() bool { return len(sink.fillsOf("ss1")) == 1 })
	if c.stats.Polls.Load() == 0 {
		t.Fatal("not polled")
	}
}

// TestWSOrderEntry: with OrderEntry auto the order goes over the trade
// socket; with the socket down it goes over REST; a socket that drops
// after the venue executed the order gives an unknown outcome, never a
// resend, and QueryOrder resolves it.
func TestWSOrderEntry(t *testing.T) {
	f := newFakeVenue(t)
	c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.OrderEntry = OrderEntryAuto; cfg.OrderTimeout = 500 * time.Millisecond })
	<-c.trade.authd
	st, err := c.PlaceOrder(context.Background(), placeReq("ws1", exchange.Buy, 3000000, 1000))
	if err != nil || st.VenueOrderID.IsZero() || st.Status != exchange.StatusNew {
		t.Fatalf("ws place: %+v %v", st, err)
	}
	if c.stats.OrdersWS.Load() != 1 || c.stats.OrdersREST.Load() != 0 || f.hit("ws:trade:order.create") != 1 {
		t.Fatalf("ws %d rest %d", c.stats.OrdersWS.Load(), c.stats.OrdersREST.Load())
	}
	// Venue error over the socket: the duplicate.
	c.mu.Lock()
	c.tr = newTracker(64) // forget ws1, so the venue decides
	c.mu.Unlock()
	if _, err := c.PlaceOrder(context.Background(), placeReq("ws1", exchange.Buy, 3000000, 1000)); exchange.KindOf(err) != exchange.KindDuplicate {
		t.Fatalf("duplicate over ws: %v", err)
	}
	// Lost acknowledgement: executed, then the socket drops.
	f.set(func(f *fakeVenue) { f.dropTrade = true })
	_, err = c.PlaceOrder(context.Background(), placeReq("ws2", exchange.Sell, 3000000, 1000))
	if exchange.KindOf(err) != exchange.KindUnknownOutcome {
		t.Fatalf("lost ack: %v", err)
	}
	if f.hit("/v5/order/create") != 0 {
		t.Fatal("resent over REST")
	}
	q, err := c.QueryOrder(context.Background(), 1, exchange.MustID("ws2"))
	if err != nil || q.Status != exchange.StatusFilled {
		t.Fatalf("query: %+v %v", q, err)
	}
	// Silent socket: no reply before the deadline.
	waitUntil(t, "trade socket back", c.trade.ready)
	f.set(func(f *fakeVenue) { f.silentWS = true })
	if _, err := c.PlaceOrder(context.Background(), placeReq("ws3", exchange.Sell, 3000000, 1000)); exchange.KindOf(err) != exchange.KindUnknownOutcome {
		t.Fatalf("silent: %v", err)
	}
	f.set(func(f *fakeVenue) { f.silentWS = false; f.tradeDeny = true })
	f.killTrade()
	waitUntil(t, "trade socket down", func() bool { return !c.trade.ready() })
	// Socket down: REST.
	if _, err := c.PlaceOrder(context.Background(), placeReq("ws4", exchange.Buy, 3000000, 1000)); err != nil {
		t.Fatal(err)
	}
	if f.hit("/v5/order/create") != 1 || c.stats.OrdersREST.Load() != 1 {
		t.Fatalf("fallback: creates %d", f.hit("/v5/order/create"))
	}
	f.mu.Lock()
	n := len(f.orders)
	f.mu.Unlock()
	if n != 4 { // ws1, ws2, ws3, ws4
		t.Fatalf("%d orders on the venue", n)
	}
	for len(c.slots) != c.cfg.MaxInFlight {
		t.Fatalf("slots %d", len(c.slots))
	}
}

// TestWSTimestampError: over the trade socket, a 10002 reply re-measures
// the offset and the order is resent once, over the socket.
func TestWSTimestampError(t *testing.T) {
	f := newFakeVenue(t)
	c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.OrderEntry = OrderEntryWS })
	<-c.trade.authd
	f.mu.Lock()
	f.offset = 20 * time.Second
	f.mu.Unlock()
	if _, err := c.PlaceOrder(context.Background(), placeReq("wt1", exchange.Buy, 3000000, 1000)); err != nil {
		t.Fatal(err)
	}
	if f.hit("ws:trade:order.create") != 2 || f.hit("/v5/market/time") != 2 || f.hit("/v5/order/create") != 0 {
		t.Fatalf("ws creates %d, time %d", f.hit("ws:trade:order.create"), f.hit("/v5/market/time"))
	}
}
