package okx

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"arb/exchange"
)

// runPrivate starts RunPrivate with a recording sink; the cleanup stops it
// and checks it returned ctx's error.
func runPrivate(t *testing.T, c *Client) *recSink {
	t.Helper()
	sink := newRecSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.RunPrivate(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("RunPrivate returned %v", err)
		}
	})
	return sink
}

// pushFill is the documented orders push with its fill fields set.
func pushFill(t testing.TB, clid, tradeID, fillSz, accFillSz, state string, fillTime time.Time) []byte {
	return []byte(docWith(t, "ws_orders_push.json", "push", map[string]any{
		"clOrdId": clid, "tradeId": tradeID, "fillSz": fillSz, "accFillSz": accFillSz, "sz": "0.001", "state": state,
		"fillTime": fmt.Sprint(fillTime.UnixMilli()), "uTime": fmt.Sprint(fillTime.UnixMilli()), "ordId": "4521977078" + clid[1:],
	}))
}

// restFill is a row of GET trade/fills.
func restFill(clid, tradeID, billID, fillSz string, at time.Time) string {
	return fmt.Sprintf(`{"side":"sell","fillSz":%q,"fillPx":"31527.1","fee":"-0.02522168","feeCcy":"USDT","ordId":"4521977078%s","instType":"SPOT","instId":"BTC-USDT","clOrdId":%q,"billId":%q,"tradeId":%q,"fillTime":"%d","execType":"M","ts":"%d","subType":"1"}`,
		fillSz, clid[1:], clid, billID, tradeID, at.UnixMilli(), at.UnixMilli()+1)
}

// venueFills is a mutable REST fills list (newest first, as OKX returns it).
type venueFills struct {
	mu   sync.Mutex
	rows []string
}

func (v *venueFills) add(row string) {
	v.mu.Lock()
	v.rows = append([]string{row}, v.rows...)
	v.mu.Unlock()
}

func (v *venueFills) handler(r recorded) reply {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, row := range v.rows {
		if ord := reqField(r, "ordId"); ord != "" && !strings.Contains(row, `"ordId":"`+ord+`"`) {
			continue
		}
		out = append(out, row)
	}
	return reply{body: `{"code":"0","msg":"","data":[` + strings.Join(out, ",") + `]}`}
}

func TestPrivateStreamDelivers(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	c := newTestClient(t, f, nil)
	sink := runPrivate(t, c)
	ws := <-f.streams
	sink.wait(t, "stream up", func(s *recSink) bool { return len(s.ups) == 1 && s.ups[0] })
	sub := <-ws.frames
	var got, doc map[string]any
	json.Unmarshal(sub, &got)
	json.Unmarshal(sharedDoc(t, "ws_orders_push.json", "subscribe_request_single"), &doc)
	if got["op"] != doc["op"] || fmt.Sprint(got["args"]) != "[map[channel:orders instType:SPOT]]" {
		t.Fatalf("subscribe %s", sub)
	}
	now := time.Now()
	frame := pushFill(t, "p1", "242589207", "0.001", "0.001", "filled", now)
	ws.send(frame)
	ws.send(frame) // OKX: "the same message may be sent more than once"
	sink.wait(t, "two order updates", func(s *recSink) bool { return len(s.orders) == 2 })
	waitUntil(t, "the repeat counted", func() bool { return c.Stats().FillsRepeated.Load() == 1 })
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.fills) != 1 {
		t.Fatalf("%d fills delivered for one trade", len(sink.fills))
	}
	fl := sink.fills[0]
	if fl.ClientID.String() != "p1" || fl.Qty != 100000 || fl.Px != 3152710 || fl.Fee.String() != "0.02522168" || fl.FeeAsset.String() != "USDT" ||
		!fl.Maker || fl.TS != now.UnixMilli()*1e6 || fl.Side != exchange.Sell {
		t.Fatalf("%+v", fl)
	}
	if st := sink.orders[0]; st.Status != exchange.StatusFilled || st.FilledQty != 100000 {
		t.Fatalf("%+v", st)
	}
	if c.Stats().FillsRepeated.Load() != 1 || c.Stats().Reconciliations.Load() != 1 {
		t.Fatalf("repeated %d reconciliations %d", c.Stats().FillsRepeated.Load(), c.Stats().Reconciliations.Load())
	}
	f.checkSigned(t)
}

// A stream dropped mid-order: the fill that happened while it was down is
// delivered by the reconciliation after the reconnect, exactly once, and
// the fill delivered before the drop is not delivered again although the
// reconciliation re-reads it.
func TestReconnectReconciles(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	var fills venueFills
	f.handle(pathFills, fills.handler)
	c := newTestClient(t, f, nil)
	sink := runPrivate(t, c)
	ws := <-f.streams
	sink.wait(t, "stream up", func(s *recSink) bool { return len(s.ups) == 1 })

	t0 := time.Now()
	fills.add(restFill("a1", "1001", "9001", "0.0003", t0))
	ws.send(pushFill(t, "a1", "1001", "0.0003", "0.0003", "partially_filled", t0))
	sink.wait(t, "fill A", func(s *recSink) bool { return s.fillCount("1001") == 1 })

	ws.drop()
	sink.wait(t, "stream down", func(s *recSink) bool { return len(s.ups) == 2 && !s.ups[1] })
	// The rest of the order fills while the stream is down: the venue
	// knows it (REST), the dead stream never says.
	t1 := t0.Add(5 * time.Millisecond)
	fills.add(restFill("a1", "1002", "9002", "0.0007", t1))

	ws2 := <-f.streams
	_ = ws2
	sink.wait(t, "stream up again", func(s *recSink) bool { return len(s.ups) == 3 && s.ups[2] })
	sink.wait(t, "fill B", func(s *recSink) bool { return s.fillCount("1002") == 1 })
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.fillCount("1001") != 1 || sink.fillCount("1002") != 1 || len(sink.fills) != 2 {
		t.Fatalf("fills %+v", sink.fills)
	}
	if b := sink.fills[1]; b.Qty != 70000 || b.ClientID.String() != "a1" || b.TS != t1.UnixMilli()*1e6 {
		t.Fatalf("%+v", b)
	}
	if c.Stats().Reconciliations.Load() != 2 {
		t.Fatal("no reconciliation after the reconnect")
	}
	f.checkSigned(t)
}

// While no private stream is reachable, the orders this client placed are
// polled by client order id, so their states and fills still arrive; an
// order polled to its final state stops being tracked.
func TestPollWhileStreamDown(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	f.wsRefuse.Store(true)
	var fills venueFills
	f.handle(pathFills, fills.handler)
	var mu sync.Mutex
	state, acc := "live", "0"
	f.handle(pathOrder, func(r recorded) reply {
		if r.method == "POST" {
			return reply{body: docWith(t, "rest_place_order_response.json", "payload", map[string]any{"clOrdId": reqField(r, "clOrdId"), "ordId": "4521977078"})}
		}
		mu.Lock()
		defer mu.Unlock()
		return reply{body: docWith(t, "rest_order_details_response.json", "response", map[string]any{
			"clOrdId": reqField(r, "clOrdId"), "ordId": "4521977078", "state": state, "accFillSz": acc, "sz": "0.001",
			"px": "31527.1", "ordType": "ioc", "avgPx": "31527.1"})}
	})
	c := newTestClient(t, f, nil)
	sink := runPrivate(t, c)
	if _, err := c.PlaceOrder(runCtx(t), ioc("x", exchange.Sell, 3152710, 100000)); err != nil {
		t.Fatal(err)
	}
	sink.wait(t, "a polled live state", func(s *recSink) bool { return len(s.orders) > 0 })
	now := time.Now()
	fills.add(restFill("x", "7001", "8001", "0.0003", now))
	mu.Lock()
	state, acc = "canceled", "0.0003" // IOC: 30% filled, the rest expired
	mu.Unlock()
	sink.wait(t, "the fill", func(s *recSink) bool { return s.fillCount("7001") == 1 })
	sink.wait(t, "final state", func(s *recSink) bool {
		o := s.orders[len(s.orders)-1]
		return o.Status == exchange.StatusCanceled && o.FilledQty == 30000
	})
	waitUntil(t, "order no longer tracked", func() bool { return c.inflight.len() == 0 })
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.ups) != 0 || sink.fillCount("7001") != 1 {
		t.Fatalf("ups %v fills %d", sink.ups, len(sink.fills))
	}
	if q := f.last("GET", pathFills).query; !strings.Contains(q, "ordId=4521977078") {
		t.Fatal(q)
	}
}

// A fill finer than the instrument's scale on the stream halts trading and
// is not delivered.
func TestStreamScaleViolation(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	c := newTestClient(t, f, nil)
	sink := runPrivate(t, c)
	ws := <-f.streams
	sink.wait(t, "stream up", func(s *recSink) bool { return len(s.ups) == 1 })
	ws.send(pushFill(t, "s1", "55", "0.000000001", "0.000000001", "partially_filled", time.Now()))
	waitUntil(t, "halt", func() bool { return c.Circuit().Open })
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.fills) != 0 || c.Stats().ScaleViolations.Load() == 0 {
		t.Fatal("delivered or not counted")
	}
}

// OKX's 64008 notice (service upgrade) makes the stream reconnect at once.
func TestStreamNoticeReconnects(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	c := newTestClient(t, f, nil)
	sink := runPrivate(t, c)
	ws := <-f.streams
	sink.wait(t, "stream up", func(s *recSink) bool { return len(s.ups) == 1 })
	ws.send([]byte(`{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a4d3ae55"}`))
	<-f.streams
	sink.wait(t, "stream up again", func(s *recSink) bool { return len(s.ups) == 3 })
}

// An unreadable push may have carried a fill: the stream reconnects and
// the reconciliation delivers the fill from REST.
func TestUnreadablePushReconciles(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	var fills venueFills
	f.handle(pathFills, fills.handler)
	c := newTestClient(t, f, nil)
	sink := runPrivate(t, c)
	ws := <-f.streams
	sink.wait(t, "stream up", func(s *recSink) bool { return len(s.ups) == 1 })
	now := time.Now()
	fills.add(restFill("u1", "3003", "9303", "0.0003", now))
	ws.send([]byte(`{"arg":{"channel":"orders","instType":"SPOT"},"data":[{"instId":"BTC-USDT","tradeId":"3003","fillSz":"0.0003","fillPx":`)) // truncated
	<-f.streams
	sink.wait(t, "the fill from the reconciliation", func(s *recSink) bool { return s.fillCount("3003") == 1 })
	sink.wait(t, "down and up", func(s *recSink) bool { return len(s.ups) == 3 })
	if c.Stats().BadReplies.Load() == 0 {
		t.Fatal("not counted")
	}
}
