package sim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bybitAuthMsg is the documented auth: signature = hex
// HMAC-SHA256(secret, "GET/realtime" + expires), expires in ms, future.
func bybitAuthMsg(key, secret string, expires int64) string {
	e := strconv.FormatInt(expires, 10)
	return fmt.Sprintf(`{"req_id":"a1","op":"auth","args":[%q,%s,%q]}`, key, e, hmacHex(secret, "GET/realtime"+e))
}

// bybitPrivate dials /v5/private, authenticates and subscribes to topics.
func bybitPrivate(t testing.TB, s *Sim, topics ...string) *wsClient {
	t.Helper()
	c := dial(t, mustURLs(t, s, "bybit").Private)
	c.sendText(bybitAuthMsg(TestBybitKey, TestBybitSecret, s.now().Add(10*time.Second).UnixMilli()))
	if m := c.next(10 * time.Second); !strings.Contains(string(m), `"success":true`) || !strings.Contains(string(m), `"op":"auth"`) {
		t.Fatalf("auth: %s", m)
	}
	args, _ := json.Marshal(topics)
	c.sendText(`{"op":"subscribe","args":` + string(args) + `}`)
	if m := c.next(10 * time.Second); !strings.Contains(string(m), `"success":true`) {
		t.Fatalf("subscribe: %s", m)
	}
	return c
}

// bybitTopicPush returns the first push of topic that satisfies pred; the
// frames it passes over stay for later reads.
func bybitTopicPush(t testing.TB, c *wsClient, topic string, pred func(map[string]any) bool) map[string]any {
	t.Helper()
	var got map[string]any
	c.reply(10*time.Second, func(m []byte) bool {
		var p struct {
			Topic string
			Data  []map[string]any
		}
		if json.Unmarshal(m, &p) != nil || p.Topic != topic || len(p.Data) == 0 || !pred(p.Data[0]) {
			return false
		}
		got = p.Data[0]
		return true
	})
	return got
}

// TestBybitPrivateAuth: the documented auth, its failures, topics and the
// private pong.
func TestBybitPrivateAuth(t *testing.T) {
	s, clk := tradeSim(t, nil, nil)
	url := mustURLs(t, s, "bybit").Private
	for _, tc := range []struct{ name, msg string }{
		{"expired", bybitAuthMsg(TestBybitKey, TestBybitSecret, clk.Now().Add(-time.Second).UnixMilli())},
		{"bad sign", bybitAuthMsg(TestBybitKey, "nope", clk.Now().Add(time.Second).UnixMilli())},
		{"unknown key", bybitAuthMsg("nope", TestBybitSecret, clk.Now().Add(time.Second).UnixMilli())},
		{"bad args", `{"op":"auth","args":["k"]}`},
	} {
		c := dial(t, url)
		c.sendText(tc.msg)
		if m := c.next(10 * time.Second); !strings.Contains(string(m), `"success":false`) {
			t.Errorf("%s: %s", tc.name, m)
		}
	}
	c := dial(t, url)
	c.sendText(`{"op":"subscribe","args":["order"]}`)
	if m := c.next(10 * time.Second); !strings.Contains(string(m), `"success":false`) {
		t.Fatalf("subscribe before auth: %s", m)
	}
	c.sendText(bybitAuthMsg(TestBybitKey, TestBybitSecret, clk.Now().Add(time.Second).UnixMilli()))
	m := c.next(10 * time.Second)
	var docAuth struct {
		Success json.RawMessage `json:"auth_success_response"`
	}
	loadDoc(t, "bybit/ws_ping_pong_and_subscribe.json", &docAuth)
	if err := shapeDiff(withoutKeys(t, m, "req_id"), docAuth.Success); err != nil {
		t.Fatalf("%v: %s", err, m)
	}
	c.sendText(`{"op":"subscribe","args":["order","execution.spot"]}`)
	if m := c.next(10 * time.Second); !strings.Contains(string(m), `"success":false`) {
		t.Fatalf("all-in-one mixed with categorised: %s", m)
	}
	c.sendText(`{"req_id":"p1","op":"ping"}`)
	m = c.next(10 * time.Second)
	var pp struct {
		Pongs []json.RawMessage `json:"pong_examples_verbatim"`
	}
	loadDoc(t, "bybit/ws_ping_pong_and_subscribe.json", &pp)
	if err := shapeDiff(m, pp.Pongs[3]); err != nil { // the private pong
		t.Fatalf("%v: %s", err, m)
	}
}

// TestBybitPrivateTopics: order.create on /v5/trade (documented header
// and reqId rules); the order topic pushes New, then PartiallyFilled per
// fill and PartiallyFilledCanceled for the IOC remainder; the execution
// topic one execution per fill with the fill's exact figures; the fast
// topic the same executions without fees; the wallet topic the changed
// coins. Formats as documented.
func TestBybitPrivateTopics(t *testing.T) {
	s, _ := tradeSim(t, nil, nil)
	c := bybitPrivate(t, s, "order.spot", "execution.spot", "execution.fast.spot")
	w := bybitPrivate(t, s, "wallet")
	tr := dial(t, mustURLs(t, s, "bybit").Trade)
	tr.sendText(bybitAuthMsg(TestBybitKey, TestBybitSecret, s.now().Add(10*time.Second).UnixMilli()))
	m := tr.next(10 * time.Second)
	var doc struct {
		AuthResponse   json.RawMessage `json:"auth_response"`
		CreateResponse json.RawMessage `json:"order_create_response"`
		PingResponse   json.RawMessage `json:"ping_response"`
	}
	loadDoc(t, "bybit/ws_trade_order_create.json", &doc)
	if err := shapeDiff(m, doc.AuthResponse); err != nil || !strings.Contains(string(m), `"retCode":0`) {
		t.Fatalf("trade auth %v: %s", err, m)
	}
	sc := scaleOf(s, "BTC-USDT")
	_, asks, _, _ := s.Book("bybit", "BTC-USDT")
	qty := asks[0].Qty + asks[1].Qty + 10_000
	order := func(reqID, link, px, q, tif string, ts time.Time) []byte {
		tr.sendText(fmt.Sprintf(`{"reqId":%q,"header":{"X-BAPI-TIMESTAMP":"%d","X-BAPI-RECV-WINDOW":"8000"},"op":"order.create","args":[{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":%q,"price":%q,"timeInForce":%q,"orderLinkId":%q}]}`,
			reqID, ts.UnixMilli(), q, px, tif, link))
		return tr.reply(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"reqId":"`+reqID+`"`) })
	}
	rep := order("r1", "byws1", string(appendDec(nil, int64(asks[1].Px), sc.Px, 2)), string(appendDec(nil, int64(qty), sc.Qty, 4)), "IOC", s.now())
	if err := shapeDiff(rep, doc.CreateResponse); err != nil || !strings.Contains(string(rep), `"retCode":0`) || !strings.Contains(string(rep), `"orderLinkId":"byws1"`) {
		t.Fatalf("order.create %v: %s", err, rep)
	}
	fills := s.Fills("bybit")
	if len(fills) != 2 {
		t.Fatalf("%d fills", len(fills))
	}
	var states []string
	for {
		o := bybitTopicPush(t, c, "order.spot", func(map[string]any) bool { return true })
		states = append(states, o["orderStatus"].(string))
		var od struct {
			Payload struct{ Data []json.RawMessage }
		}
		loadDoc(t, "bybit/ws_order_push.json", &od)
		if err := shapeDiff(withoutKeys(t, mustJSON(o), "cumFeeDetail"), withoutKeys(t, od.Payload.Data[0], "cumFeeDetail")); err != nil {
			t.Fatalf("order push: %v", err)
		}
		if o["orderStatus"] == "PartiallyFilledCanceled" {
			if o["cumExecQty"] != string(appendDec(nil, int64(fills[0].Qty+fills[1].Qty), sc.Qty, 4)) || o["cumFeeDetail"].(map[string]any)["BTC"] != amount8(fills[0].Fee+fills[1].Fee, true) {
				t.Fatalf("final order push %v", o)
			}
			break
		}
	}
	if strings.Join(states, ",") != "New,PartiallyFilled,PartiallyFilled,PartiallyFilledCanceled" {
		t.Fatalf("order states %v", states)
	}
	var ed struct {
		Payload struct{ Data []json.RawMessage }
	}
	loadDoc(t, "bybit/ws_execution_push.json", &ed)
	var fd struct {
		Payload struct{ Data []json.RawMessage }
	}
	loadDoc(t, "bybit/ws_execution_fast_push.json", &fd)
	for i, f := range fills {
		e := bybitTopicPush(t, c, "execution.spot", func(d map[string]any) bool { return d["execId"] == f.TradeID })
		if e["execQty"] != string(appendDec(nil, int64(f.Qty), sc.Qty, 4)) || e["execPrice"] != string(appendDec(nil, int64(f.Px), sc.Px, 2)) ||
			e["execFee"] != amount8(f.Fee, true) || e["feeCurrency"] != "BTC" || e["orderLinkId"] != "byws1" {
			t.Fatalf("execution %d: %v vs %+v", i, e, f)
		}
		if err := shapeDiff(mustJSON(e), ed.Payload.Data[0]); err != nil {
			t.Fatalf("execution push: %v", err)
		}
		fe := bybitTopicPush(t, c, "execution.fast.spot", func(d map[string]any) bool { return d["execId"] == f.TradeID })
		if err := shapeDiff(mustJSON(fe), fd.Payload.Data[0]); err != nil {
			t.Fatalf("fast execution push: %v", err)
		}
	}
	wl := bybitTopicPush(t, w, "wallet", func(map[string]any) bool { return true })
	var wd struct {
		Payload struct{ Data []json.RawMessage }
	}
	loadDoc(t, "bybit/ws_wallet_push.json", &wd)
	if err := shapeDiff(mustJSON(wl), wd.Payload.Data[0]); err != nil {
		t.Fatalf("wallet push: %v", err)
	}
	for _, ci := range wl["coin"].([]any) {
		co := ci.(map[string]any)
		free, locked, _ := s.Balance("bybit", co["coin"].(string))
		if co["walletBalance"] != amount8(free.V+locked.V, true) || co["locked"] != amount8(locked.V, true) {
			t.Fatalf("wallet coin %v vs %v %v", co, free, locked)
		}
	}
	// The trade stream's rules: a repeated reqId, a stale timestamp, a
	// reused orderLinkId; ping.
	if rep := order("r1", "byws2", "1000.00", "0.0100", "IOC", s.now()); !strings.Contains(string(rep), `"retCode":20006`) {
		t.Fatalf("repeated reqId: %s", rep)
	}
	if rep := order("r2", "byws3", "1000.00", "0.0100", "IOC", s.now().Add(-10*time.Second)); !strings.Contains(string(rep), `"retCode":10002`) {
		t.Fatalf("stale timestamp: %s", rep)
	}
	if rep := order("r3", "byws1", "1000.00", "0.0100", "IOC", s.now()); !strings.Contains(string(rep), `"retCode":170141`) {
		t.Fatalf("reused orderLinkId: %s", rep)
	}
	tr.sendText(`{"op":"ping"}`)
	if m := tr.reply(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"op":"pong"`) }); shapeDiff(m, doc.PingResponse) != nil {
		t.Fatalf("trade pong: %s", m)
	}
	// order.cancel on a resting order, over the trade stream.
	bids, _, _, _ := s.Book("bybit", "BTC-USDT")
	order("r4", "rest4", string(appendDec(nil, int64(bids[0].Px-1000), sc.Px, 2)), "0.0100", "GTC", s.now())
	tr.sendText(fmt.Sprintf(`{"reqId":"r5","header":{"X-BAPI-TIMESTAMP":"%d"},"op":"order.cancel","args":[{"category":"spot","symbol":"BTCUSDT","orderLinkId":"rest4"}]}`, s.now().UnixMilli()))
	if rep := tr.reply(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"reqId":"r5"`) }); !strings.Contains(string(rep), `"retCode":0`) {
		t.Fatalf("order.cancel: %s", rep)
	}
	if o := bybitTopicPush(t, c, "order.spot", func(d map[string]any) bool { return d["orderLinkId"] == "rest4" && d["orderStatus"] != "New" }); o["orderStatus"] != "Cancelled" || o["cancelType"] != "CancelByUser" {
		t.Fatalf("cancel push %v", o)
	}
}

// TestBybitTradeAckFaults: a delayed order.create answer comes after the
// pushes; a lost one never comes while the order exists once.
func TestBybitTradeAckFaults(t *testing.T) {
	s, _ := tradeSim(t, nil, nil)
	c := bybitPrivate(t, s, "order")
	tr := dial(t, mustURLs(t, s, "bybit").Trade)
	tr.sendText(bybitAuthMsg(TestBybitKey, TestBybitSecret, s.now().Add(10*time.Second).UnixMilli()))
	tr.next(10 * time.Second)
	sc := scaleOf(s, "BTC-USDT")
	_, asks, _, _ := s.Book("bybit", "BTC-USDT")
	px := string(appendDec(nil, int64(asks[0].Px), sc.Px, 2))
	send := func(reqID, link string) {
		tr.sendText(fmt.Sprintf(`{"reqId":%q,"header":{"X-BAPI-TIMESTAMP":"%d"},"op":"order.create","args":[{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.0010","price":%q,"timeInForce":"IOC","orderLinkId":%q}]}`,
			reqID, s.now().UnixMilli(), px, link))
	}
	s.Inject("bybit", Fault{Kind: FaultDelayAck, Duration: 200 * time.Millisecond})
	begin := time.Now()
	send("d1", "dl1")
	bybitTopicPush(t, c, "order", func(d map[string]any) bool { return d["orderLinkId"] == "dl1" && d["orderStatus"] == "Filled" })
	tr.reply(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"reqId":"d1"`) })
	if time.Since(begin) < 200*time.Millisecond {
		t.Fatal("not delayed")
	}
	s.Inject("bybit", Fault{Kind: FaultLoseAck})
	send("l1", "lost1")
	bybitTopicPush(t, c, "order", func(d map[string]any) bool { return d["orderLinkId"] == "lost1" && d["orderStatus"] == "Filled" })
	tr.sendText(`{"op":"ping"}`)
	for {
		m := tr.next(10 * time.Second)
		if strings.Contains(string(m), `"reqId":"l1"`) {
			t.Fatalf("the lost answer came: %s", m)
		}
		if strings.Contains(string(m), `"op":"pong"`) {
			break
		}
	}
	if st, filled, ok := queryByClient(t, s, "bybit", "lost1"); !ok || st != "Filled" || filled != "0.0010" || len(s.OrdersByClientID("bybit", "lost1")) != 1 {
		t.Fatalf("lost order %s %s %v", st, filled, ok)
	}
}
