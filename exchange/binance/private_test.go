package binance

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"arb/exchange"
)

// startPrivate runs RunPrivate and waits for the stream to be up.
func startPrivate(t *testing.T, c *Client) *sinkRec {
	t.Helper()
	sink := newSinkRec()
	runBG(t, func(ctx context.Context) { c.RunPrivate(ctx, sink) })
	sink.waitFor(t, 10*time.Second, "stream up", func(s *sinkRec) bool { return s.lastUp() })
	return sink
}

// TestPrivateStreamEvents: an HMAC key subscribes with
// userDataStream.subscribe.signature; the executionReports of an order
// arrive as states and one fill, although the REST answer and the stream
// both report it.
func TestPrivateStreamEvents(t *testing.T) {
	f := newFakeVenue(t)
	c := clientFor(t, f, nil)
	sink := startPrivate(t, c)
	if f.count("WS userDataStream.subscribe.signature") != 1 || c.Stats().Reconciliations.Load() != 1 {
		t.Fatal("not subscribed and reconciled")
	}
	req := order("st1", exchange.Buy, "30000", "0.003")
	if _, err := c.PlaceOrder(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, 5*time.Second, "final state from the stream", func(s *sinkRec) bool {
		n := 0
		for _, o := range s.orders {
			if o.ClientID == req.ClientID && o.Status == exchange.StatusFilled {
				n++
			}
		}
		return n >= 2 // the REST answer's and the stream's
	})
	fills := sink.fillsOf("st1")
	if len(fills) != 1 || fills[0].Qty != 300 {
		t.Fatalf("%d fills: %+v", len(fills), fills)
	}
	if c.Stats().FillsSuppressed.Load() != 1 {
		t.Fatalf("suppressed %d", c.Stats().FillsSuppressed.Load())
	}
}

// TestPartialIOCExpired: a partly filled IOC ends EXPIRED with the filled
// part reported exactly (30% of 0.01 = 0.003).
func TestPartialIOCExpired(t *testing.T) {
	f := newFakeVenue(t)
	f.fillFrac = decimalOf("0.3")
	c := clientFor(t, f, nil)
	sink := startPrivate(t, c)
	st, err := c.PlaceOrder(context.Background(), order("p30", exchange.Sell, "30000", "0.01"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != exchange.StatusExpired || st.FilledQty != 300 || st.Qty != 1000 || !st.Status.Final() {
		t.Fatalf("%+v", st)
	}
	sink.waitFor(t, 5*time.Second, "expired on the stream", func(s *sinkRec) bool {
		for _, o := range s.orders {
			if o.ClientID == st.ClientID && o.Status == exchange.StatusExpired && o.TS != 0 {
				return len(s.fills) == 1
			}
		}
		return false
	})
	if f := sink.fillsOf("p30"); len(f) != 1 || f[0].Qty != 300 || f[0].Fee.Cmp(amt(t, "0.09")) != 0 {
		t.Fatalf("%+v", f)
	}
}

// TestStreamDropPollsThenReconciles: the stream drops while an order
// rests; it fills while no stream can connect; the poller (querying by
// client order id) delivers the fill and the final state; when the stream
// is back the reconciliation delivers nothing twice. The sink sees
// up, down, up.
func TestStreamDropPollsThenReconciles(t *testing.T) {
	f := newFakeVenue(t)
	c := clientFor(t, f, nil)
	sink := startPrivate(t, c)
	gtc := order("rest1", exchange.Sell, "31000", "0.004")
	gtc.TIF = exchange.GTC
	if _, err := c.PlaceOrder(context.Background(), gtc); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.refuseWS = true
	f.mu.Unlock()
	f.dropStreams()
	sink.waitFor(t, 5*time.Second, "stream down", func(s *sinkRec) bool { return !s.lastUp() })
	f.fillResting("rest1")
	sink.waitFor(t, 5*time.Second, "fill by polling", func(s *sinkRec) bool { return len(s.fills) == 1 })
	if c.Stats().Polls.Load() == 0 {
		t.Fatal("not polled")
	}
	fl := sink.fillsOf("rest1")[0]
	if fl.Qty != 400 || !fl.Maker || fl.Px != 3100000 {
		t.Fatalf("%+v", fl)
	}
	f.mu.Lock()
	f.refuseWS = false
	f.mu.Unlock()
	sink.waitFor(t, 10*time.Second, "stream back", func(s *sinkRec) bool { return s.lastUp() })
	if n := len(sink.fillsOf("rest1")); n != 1 {
		t.Fatalf("%d fills after reconciliation", n)
	}
	sink.mu.Lock()
	streams := append([]bool(nil), sink.streams...)
	sink.mu.Unlock()
	if len(streams) != 3 || !streams[0] || streams[1] || !streams[2] {
		t.Fatalf("stream reports %v", streams)
	}
}

// TestReconnectReconciliationDeliversMissedFill: with polling out of the
// way (PollEvery an hour), a fill that happens while the stream is down is
// delivered by the reconciliation after the reconnect, exactly once.
func TestReconnectReconciliationDeliversMissedFill(t *testing.T) {
	f := newFakeVenue(t)
	c := clientFor(t, f, func(cfg *ClientConfig) { cfg.PollEvery = time.Hour })
	sink := startPrivate(t, c)
	gtc := order("miss1", exchange.Buy, "29000", "0.002")
	gtc.TIF = exchange.GTC
	if _, err := c.PlaceOrder(context.Background(), gtc); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.refuseWS = true
	f.mu.Unlock()
	f.dropStreams()
	sink.waitFor(t, 5*time.Second, "stream down", func(s *sinkRec) bool { return !s.lastUp() })
	f.fillResting("miss1")
	if len(sink.fillsOf("miss1")) != 0 {
		t.Fatal("fill delivered while down without polling")
	}
	recs := c.Stats().Reconciliations.Load()
	f.mu.Lock()
	f.refuseWS = false
	f.mu.Unlock()
	sink.waitFor(t, 10*time.Second, "stream back", func(s *sinkRec) bool { return s.lastUp() })
	if c.Stats().Reconciliations.Load() != recs+1 {
		t.Fatal("no reconciliation")
	}
	fills := sink.fillsOf("miss1")
	if len(fills) != 1 || fills[0].Qty != 200 || fills[0].ClientID != gtc.ClientID {
		t.Fatalf("%+v", fills)
	}
	sink.mu.Lock()
	final := false
	for _, o := range sink.orders {
		final = final || o.ClientID == gtc.ClientID && o.Status == exchange.StatusFilled
	}
	sink.mu.Unlock()
	if !final {
		t.Fatal("final state not delivered by the reconciliation")
	}
}

// TestSilentStreamPolled: a stream that stays connected but delivers
// nothing: orders without news are polled, so their fills still arrive.
func TestSilentStreamPolled(t *testing.T) {
	f := newFakeVenue(t)
	c := clientFor(t, f, nil)
	sink := startPrivate(t, c)
	f.mu.Lock()
	f.silent = true
	f.mu.Unlock()
	gtc := order("quiet1", exchange.Buy, "29000", "0.002")
	gtc.TIF = exchange.GTC
	if _, err := c.PlaceOrder(context.Background(), gtc); err != nil {
		t.Fatal(err)
	}
	f.fillResting("quiet1")
	sink.waitFor(t, 5*time.Second, "fill by polling a silent stream", func(s *sinkRec) bool { return len(s.fills) == 1 })
	if !sink.lastUp() {
		t.Fatal("stream reported down")
	}
}

// TestServerShutdownResubscribes: serverShutdown and
// eventStreamTerminated make the client resubscribe at once.
func TestServerShutdownResubscribes(t *testing.T) {
	f := newFakeVenue(t)
	c := clientFor(t, f, nil)
	sink := startPrivate(t, c)
	for i, ev := range []any{
		map[string]any{"event": map[string]any{"e": "serverShutdown", "E": time.Now().UnixMilli()}},
		map[string]any{"subscriptionId": 0, "event": map[string]any{"e": "eventStreamTerminated", "E": time.Now().UnixMilli()}},
	} {
		before := f.count("WS userDataStream.subscribe.signature")
		f.mu.Lock()
		for s := range f.streams {
			s.send(ev)
		}
		f.mu.Unlock()
		eventually(t, 10*time.Second, "resubscribed", func() bool {
			return f.count("WS userDataStream.subscribe.signature") > before && f.streamCount() == 1
		})
		sink.waitFor(t, 10*time.Second, "up again", func(s *sinkRec) bool { return s.lastUp() && len(s.streams) >= 3+2*i })
	}
	if c.Stats().StreamDrops.Load() != 2 {
		t.Fatalf("drops %d", c.Stats().StreamDrops.Load())
	}
}

// TestStreamAuthFailureBacksOff: a subscription refused for the key is
// logged and retried with backoff, never reported up.
func TestStreamAuthFailureBacksOff(t *testing.T) {
	f := newFakeVenue(t)
	f.apiKey = "someoneElse"
	c := clientFor(t, f, func(cfg *ClientConfig) {
		cfg.Credentials, _ = NewHMACCredentials(fakeKey, fakeSecret)
	})
	sink := newSinkRec()
	runBG(t, func(ctx context.Context) { c.RunPrivate(ctx, sink) })
	eventually(t, 10*time.Second, "three attempts", func() bool { return f.count("WS userDataStream.subscribe.signature") >= 3 })
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.streams) != 0 {
		t.Fatalf("reported %v", sink.streams)
	}
	var _ = json.Marshal
}

// TestNoReconnectDuringBan: after a 418, a dropped private stream is not
// redialled (a connection is a weighted request) while the ban lasts: the
// client's attempt is refused by its own gate, which tells it to wait for
// the rest of the ban; the venue sees no connection.
func TestNoReconnectDuringBan(t *testing.T) {
	f := newFakeVenue(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	c := clientFor(t, f, func(cfg *ClientConfig) { cfg.Now = clock.Load; cfg.BackoffMax = 20 * time.Millisecond })
	startPrivate(t, c)
	f.restHook = func(w http.ResponseWriter, r *http.Request, route string) bool {
		if route == "POST /api/v3/order" {
			w.Header().Set("Retry-After", "120")
			fakeErr(w, 418, -1003, "Way too much request weight used; IP banned until 1659146400000.")
			return true
		}
		return false
	}
	if _, err := c.PlaceOrder(context.Background(), order("ban1", exchange.Buy, "30000", "0.001")); kindOf(err) != exchange.KindRateLimited {
		t.Fatal(err)
	}
	connects := f.count("WS connect")
	refused := c.gate.State(c.now()).Refused
	f.dropStreams()
	eventually(t, 10*time.Second, "a refused reconnect", func() bool { return c.gate.State(c.now()).Refused >= refused+1 })
	if n := f.count("WS connect"); n != connects {
		t.Fatalf("%d connections during the ban", n-connects)
	}
}
