package binance

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"arb/exchange"
)

// startEntry runs the client's Run loop and waits for the order socket.
func startEntry(t *testing.T, c *Client) {
	t.Helper()
	runBG(t, func(ctx context.Context) { c.Run(ctx) })
	eventually(t, 10*time.Second, "order socket up", func() bool { return c.ws.usable() != nil })
}

// TestWSOrderEntry: with the order socket up, an order goes out as a
// signed order.place (the fake verifies the sorted-payload signature) and
// the FULL result becomes the state and fills; REST is not used.
func TestWSOrderEntry(t *testing.T) {
	f := newFakeVenue(t)
	c := clientFor(t, f, func(cfg *ClientConfig) { cfg.OrderEntry = OrderEntryAuto })
	sink := newSinkRec()
	c.setSink(sink)
	startEntry(t, c)
	st, err := c.PlaceOrder(context.Background(), order("ws1", exchange.Sell, "30000.5", "0.002"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != exchange.StatusFilled || st.FilledQty != 200 || st.Px != 3000050 {
		t.Fatalf("%+v", st)
	}
	if f.count("WS order.place") != 1 || f.count("POST /api/v3/order") != 0 || c.Stats().OrdersWS.Load() != 1 {
		t.Fatalf("ws %d rest %d", f.count("WS order.place"), f.count("POST /api/v3/order"))
	}
	fills := sink.fillsOf("ws1")
	// Sell 0.002 at 30000.5: fee 0.1% of 60.001 USDT = 0.060001.
	if len(fills) != 1 || fills[0].Fee.Cmp(amt(t, "0.060001")) != 0 || fills[0].FeeAsset.String() != "USDT" {
		t.Fatalf("%+v", fills)
	}
	// The answer's rateLimits raised the gate's counts.
	if used := c.gate.State(c.now()).Used; used[bOrders10s] < 1 || used[bWeight] < 3 {
		t.Fatalf("gate counts %v", used)
	}
}

// TestWSDownFallsBackToREST: while no order socket can be opened, orders
// go over REST.
func TestWSDownFallsBackToREST(t *testing.T) {
	f := newFakeVenue(t)
	f.refuseWS = true
	c := clientFor(t, f, func(cfg *ClientConfig) { cfg.OrderEntry = OrderEntryAuto })
	runBG(t, func(ctx context.Context) { c.Run(ctx) })
	eventually(t, 10*time.Second, "a refused dial", func() bool { return f.count("WS connect") > 0 })
	if _, err := c.PlaceOrder(context.Background(), order("fb1", exchange.Buy, "30000", "0.001")); err != nil {
		t.Fatal(err)
	}
	if f.count("POST /api/v3/order") != 1 || c.Stats().OrdersREST.Load() != 1 {
		t.Fatal("not sent over REST")
	}
}

// TestWSLostAnswer: the venue executes an order.place and never answers:
// KindUnknownOutcome after RequestTimeout, and the order is not sent again
// over either path; the query finds the one order.
func TestWSLostAnswer(t *testing.T) {
	f := newFakeVenue(t)
	f.wsHook = func(ws *fakeWS, method string, id json.RawMessage, params map[string]any) bool {
		if method != "order.place" {
			return false
		}
		vals, ok := f.wsParams(ws, id, params)
		if ok {
			f.placeOrder(vals) // executed, answer lost
		}
		return true
	}
	c := clientFor(t, f, func(cfg *ClientConfig) {
		cfg.OrderEntry = OrderEntryAuto
		cfg.RequestTimeout = 300 * time.Millisecond
	})
	startEntry(t, c)
	req := order("lostws", exchange.Buy, "30000", "0.001")
	_, err := c.PlaceOrder(context.Background(), req)
	if kindOf(err) != exchange.KindUnknownOutcome || !errors.Is(err, errWSTimeout) {
		t.Fatalf("%v", err)
	}
	if f.count("WS order.place") != 1 || f.count("POST /api/v3/order") != 0 {
		t.Fatal("resent")
	}
	st, err := c.QueryOrder(context.Background(), 3, req.ClientID)
	if err != nil || st.Status != exchange.StatusFilled {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := c.PlaceOrder(context.Background(), req); kindOf(err) != exchange.KindDuplicate {
		t.Fatalf("resubmit: %v", err)
	}
	if f.count("WS order.place") != 1 || f.count("POST /api/v3/order") != 0 {
		t.Fatal("resubmission sent")
	}
}

// TestWSDropAfterWrite: the socket drops after the venue got the request:
// KindUnknownOutcome at once (not after the timeout), never resent.
func TestWSDropAfterWrite(t *testing.T) {
	f := newFakeVenue(t)
	f.wsHook = func(ws *fakeWS, method string, id json.RawMessage, params map[string]any) bool {
		if method != "order.place" {
			return false
		}
		ws.conn.Close()
		return true
	}
	c := clientFor(t, f, func(cfg *ClientConfig) { cfg.OrderEntry = OrderEntryAuto })
	startEntry(t, c)
	start := time.Now()
	_, err := c.PlaceOrder(context.Background(), order("drop1", exchange.Buy, "30000", "0.001"))
	if kindOf(err) != exchange.KindUnknownOutcome || time.Since(start) > 4*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
	if f.count("POST /api/v3/order") != 0 {
		t.Fatal("resent over REST")
	}
}

// TestWSErrorAnswers: a WebSocket API error answer is classified like its
// REST twin: duplicate, and a 429 that blocks the gate.
func TestWSErrorAnswers(t *testing.T) {
	f := newFakeVenue(t)
	status, code, msg := 400, -2010, "Duplicate order sent."
	f.wsHook = func(ws *fakeWS, method string, id json.RawMessage, params map[string]any) bool {
		if method != "order.place" {
			return false
		}
		ws.answer(id, status, nil, code, msg)
		return true
	}
	c := clientFor(t, f, func(cfg *ClientConfig) { cfg.OrderEntry = OrderEntryAuto })
	startEntry(t, c)
	if _, err := c.PlaceOrder(context.Background(), order("d1", exchange.Buy, "30000", "0.001")); kindOf(err) != exchange.KindDuplicate {
		t.Fatal(err)
	}
	f.mu.Lock()
	status, code, msg = 429, -1015, "Too many new orders; current limit is 50 orders per 10 SECOND."
	f.mu.Unlock()
	_, err := c.PlaceOrder(context.Background(), order("d2", exchange.Buy, "30000", "0.001"))
	var e *exchange.Error
	if !errors.As(err, &e) || e.Kind != exchange.KindRateLimited || e.RetryAfter != defaultRetryAfter429 {
		t.Fatal(err)
	}
	if cb := c.Circuit(); !cb.Open {
		t.Fatal("gate not blocked")
	}
}

// TestWSEd25519Session: with an Ed25519 key the order socket logs on
// (session.logon) and orders carry neither apiKey nor signature; the
// private stream logs on and subscribes without params.
func TestWSEd25519Session(t *testing.T) {
	var fix struct {
		Inputs struct {
			PEM string `json:"private_key_pem"`
		}
	}
	if err := json.Unmarshal(venueDoc(t, "auth_ed25519_fix_logon_vector.json"), &fix); err != nil {
		t.Fatal(err)
	}
	creds, err := NewEd25519Credentials(fakeKey, []byte(fix.Inputs.PEM))
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeVenue(t)
	f.edPub = creds.ed.Public().(ed25519.PublicKey)
	var placed url.Values
	f.wsHook = func(ws *fakeWS, method string, id json.RawMessage, params map[string]any) bool {
		if method == "order.place" {
			if _, ok := params["signature"]; ok || params["apiKey"] != nil || !ws.loggedOn {
				t.Errorf("order.place on a logged-on session carries %v", params)
			}
			placed = url.Values{}
		}
		return false
	}
	c := clientFor(t, f, func(cfg *ClientConfig) {
		cfg.OrderEntry = OrderEntryAuto
		cfg.Credentials = creds
	})
	startEntry(t, c)
	if f.count("WS session.logon") != 1 {
		t.Fatal("no logon")
	}
	if _, err := c.PlaceOrder(context.Background(), order("ed1", exchange.Buy, "30000", "0.001")); err != nil || placed == nil {
		t.Fatal(err)
	}
	// REST requests are signed with Ed25519 too.
	if _, err := c.Balances(context.Background()); err != nil {
		t.Fatal(err)
	}
	sink := newSinkRec()
	runBG(t, func(ctx context.Context) { c.RunPrivate(ctx, sink) })
	sink.waitFor(t, 10*time.Second, "stream up", func(s *sinkRec) bool { return s.lastUp() })
	if f.count("WS userDataStream.subscribe") != 1 || f.count("WS session.logon") != 2 {
		t.Fatalf("subscribe %d logon %d", f.count("WS userDataStream.subscribe"), f.count("WS session.logon"))
	}
}
