package okx

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"arb/exchange"
)

// installInstruments serves instIdCodes for the test instruments.
func installInstruments(f *fakeVenue) {
	f.handle(InstrumentsPath, func(recorded) reply {
		return reply{body: `{"code":"0","msg":"","data":[{"instId":"BTC-USDT","instIdCode":10001,"tickSz":"0.1"},{"instId":"ETH-USDT","instIdCode":10002}]}`}
	})
}

// wsAck answers an order request like the documented success response.
func wsAck(req map[string]any) []byte {
	arg := req["args"].([]any)[0].(map[string]any)
	return []byte(fmt.Sprintf(`{"id":%q,"op":"order","data":[{"clOrdId":%q,"ordId":"12345689","tag":"","ts":"1695190491421","sCode":"0","sMsg":""}],"code":"0","msg":"","inTime":"1695190491421339","outTime":"1695190491423240"}`,
		req["id"], arg["clOrdId"]))
}

// startWSClient starts a client with WebSocket order entry and waits until
// its order socket is logged in.
func startWSClient(t *testing.T, f *fakeVenue, mod func(*ClientConfig)) *Client {
	t.Helper()
	installDocHandlers(t, f)
	installInstruments(f)
	c := newTestClient(t, f, func(cfg *ClientConfig) {
		cfg.OrderEntry = OrderEntryAuto
		cfg.RequestTimeout = 500 * time.Millisecond
		if mod != nil {
			mod(cfg)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitUntil(t, "order socket up", c.ows.up)
	return c
}

func TestWSOrderEntry(t *testing.T) {
	f := newFakeVenue(t)
	f.setWSOrder(func(_ *fakeVenueWS, req map[string]any) []byte { return wsAck(req) })
	c := startWSClient(t, f, nil)
	st, err := c.PlaceOrder(runCtx(t), ioc("w1", exchange.Sell, 3000051, 12345))
	if err != nil {
		t.Fatal(err)
	}
	if st.VenueOrderID.String() != "12345689" || st.Px != 3000060 || st.Status != exchange.StatusNew || st.ClientID.String() != "w1" {
		t.Fatalf("%+v", st)
	}
	if c.Stats().OrdersWS.Load() != 1 || f.count("POST", pathPlaceOrder) != 0 {
		t.Fatal("the order did not go over WebSocket alone")
	}
	ws := <-f.orderConn
	var req map[string]any
	for frame := range ws.frames {
		if json.Unmarshal(frame, &req) == nil && req["op"] == "order" {
			break
		}
	}
	arg := req["args"].([]any)[0].(map[string]any)
	if arg["instIdCode"] != float64(10001) || arg["px"] != "30000.6" || arg["side"] != "sell" || req["expTime"] == nil {
		t.Fatalf("%v", req)
	}
	if _, ok := arg["instId"]; ok {
		t.Fatal("instId sent")
	}
	f.checkSigned(t)
}

func TestWSOrderErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply func(ws *fakeVenueWS, req map[string]any) []byte
		kind  exchange.ErrorKind
	}{
		{"duplicate", func(_ *fakeVenueWS, req map[string]any) []byte {
			return []byte(fmt.Sprintf(`{"id":%q,"op":"order","data":[{"clOrdId":"w1","ordId":"","tag":"","ts":"1","sCode":"51016","sMsg":"Client order ID already exists."}],"code":"1","msg":""}`, req["id"]))
		}, exchange.KindDuplicate},
		{"documented failure 5XXXX", func(_ *fakeVenueWS, req map[string]any) []byte {
			return []byte(fmt.Sprintf(`{"id":%q,"op":"order","data":[{"clOrdId":"","ordId":"","tag":"","ts":"1695190491421","sCode":"51008","sMsg":"Insufficient balance"}],"code":"1","msg":"","inTime":"1","outTime":"2"}`, req["id"]))
		}, exchange.KindRejected},
		{"format error 60013", func(_ *fakeVenueWS, req map[string]any) []byte {
			return []byte(fmt.Sprintf(`{"id":%q,"op":"order","data":[],"code":"60013","msg":"Invalid args","inTime":"1","outTime":"2"}`, req["id"]))
		}, exchange.KindRejected},
		{"endpoint timeout 50004", func(_ *fakeVenueWS, req map[string]any) []byte {
			return []byte(fmt.Sprintf(`{"id":%q,"op":"order","data":[{"clOrdId":"w1","ordId":"","sCode":"50004","sMsg":"timeout"}],"code":"1","msg":""}`, req["id"]))
		}, exchange.KindUnknownOutcome},
		{"no reply", func(*fakeVenueWS, map[string]any) []byte { return nil }, exchange.KindUnknownOutcome},
		{"socket dropped after the write", func(ws *fakeVenueWS, _ map[string]any) []byte { ws.drop(); return nil }, exchange.KindUnknownOutcome},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVenue(t)
			f.setWSOrder(tc.reply)
			c := startWSClient(t, f, nil)
			_, err := c.PlaceOrder(runCtx(t), ioc("w1", exchange.Buy, 3000000, 5000))
			mustKind(t, err, tc.kind)
			if c.Stats().OrdersWS.Load() != 1 || f.count("POST", pathPlaceOrder) != 0 {
				t.Fatalf("sent %d over WS, %d over REST: an order must go exactly once", c.Stats().OrdersWS.Load(), f.count("POST", pathPlaceOrder))
			}
		})
	}
}

// While the order socket is down, orders take REST (auto), or are refused
// without sending (ws).
func TestWSFallback(t *testing.T) {
	f := newFakeVenue(t)
	f.setWSOrder(func(_ *fakeVenueWS, req map[string]any) []byte { return wsAck(req) })
	c := startWSClient(t, f, nil)
	ws := <-waitOrderConn(t, c, f)
	f.wsRefuse.Store(true)
	ws.drop()
	waitUntil(t, "order socket down", func() bool { return !c.ows.up() })
	if _, err := c.PlaceOrder(runCtx(t), ioc("f1", exchange.Buy, 3000000, 5000)); err != nil {
		t.Fatal(err)
	}
	if f.count("POST", pathPlaceOrder) != 1 {
		t.Fatal("no REST fallback")
	}
	f.wsRefuse.Store(false)
	waitUntil(t, "order socket back", c.ows.up)
	if _, err := c.PlaceOrder(runCtx(t), ioc("f2", exchange.Buy, 3000000, 5000)); err != nil {
		t.Fatal(err)
	}
	if f.count("POST", pathPlaceOrder) != 1 || c.Stats().OrdersWS.Load() != 2 {
		t.Fatalf("REST %d WS %d", f.count("POST", pathPlaceOrder), c.Stats().OrdersWS.Load())
	}

	// order_entry ws: nothing sent while down.
	f2 := newFakeVenue(t)
	installDocHandlers(t, f2)
	c2 := newTestClient(t, f2, func(cfg *ClientConfig) { cfg.OrderEntry = OrderEntryWS })
	_, err := c2.PlaceOrder(runCtx(t), ioc("f3", exchange.Buy, 3000000, 5000))
	mustKind(t, err, exchange.KindRetryable)
	if f2.count("POST", pathPlaceOrder) != 0 || c2.inflight.len() != 0 {
		t.Fatal("sent or tracked while the socket was down")
	}
}

// waitOrderConn sends one order so the fake learns the order connection.
func waitOrderConn(t *testing.T, c *Client, f *fakeVenue) chan *fakeVenueWS {
	t.Helper()
	if _, err := c.PlaceOrder(runCtx(t), ioc("probe1", exchange.Buy, 3000000, 5000)); err != nil {
		t.Fatal(err)
	}
	return f.orderConn
}

// A bad login is an auth error and is retried with backoff, not in a loop.
func TestWSLoginRefused(t *testing.T) {
	f := newFakeVenue(t)
	c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.Credentials.Passphrase = "wrong" })
	_, err := c.dialPrivate(runCtx(t), c.cfg.PrivateWSURL)
	if e := mustKind(t, err, exchange.KindAuth); e.Code != "60009" || !strings.Contains(e.Msg, "login") {
		t.Fatalf("%+v", e)
	}
}
