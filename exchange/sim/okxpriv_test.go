package sim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"arb/exchange/num"
)

// okxLoginMsg is the documented login: sign = base64 HMAC-SHA256(secret,
// timestamp + "GET" + "/users/self/verify"), timestamp in seconds.
func okxLoginMsg(key, pass, secret string, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	return fmt.Sprintf(`{"op":"login","args":[{"apiKey":%q,"passphrase":%q,"timestamp":%q,"sign":%q}]}`,
		key, pass, ts, hmacB64(secret, ts+"GET/users/self/verify"))
}

// okxPrivate dials /ws/v5/private, logs in and subscribes to orders (SPOT)
// and account.
func okxPrivate(t testing.TB, s *Sim) *wsClient {
	t.Helper()
	c := dial(t, mustURLs(t, s, "okx").Private)
	c.sendText(okxLoginMsg(TestOKXKey, TestOKXPassphrase, TestOKXSecret, s.now()))
	if m := c.next(10 * time.Second); !strings.Contains(string(m), `"event":"login","code":"0"`) {
		t.Fatalf("login: %s", m)
	}
	c.sendText(`{"id":"s1","op":"subscribe","args":[{"channel":"orders","instType":"SPOT"},{"channel":"account"}]}`)
	c.reply(10*time.Second, func(m []byte) bool {
		return strings.Contains(string(m), `"channel":"account"`) && strings.Contains(string(m), `"event":"subscribe"`)
	})
	return c
}

// instIDCode reads an instrument's instIdCode from the public instruments
// endpoint, as a client does.
func instIDCode(t testing.TB, s *Sim, inst string) int64 {
	t.Helper()
	_, _, b := httpGet(t, mustURLs(t, s, "okx").REST+"/api/v5/public/instruments?instType=SPOT&instId="+inst)
	var r struct {
		Data []struct {
			InstIDCode int64 `json:"instIdCode"`
		}
	}
	if json.Unmarshal(b, &r); len(r.Data) != 1 || r.Data[0].InstIDCode == 0 {
		t.Fatalf("instruments: %s", b)
	}
	return r.Data[0].InstIDCode
}

// okxPushes reads orders-channel pushes until pred accepts one.
func okxPushes(t testing.TB, c *wsClient, pred func(map[string]any) bool) []map[string]any {
	t.Helper()
	var out []map[string]any
	for {
		m := c.next(10 * time.Second)
		var p struct {
			Arg  struct{ Channel string }
			Data []map[string]any
		}
		if json.Unmarshal(m, &p) != nil || p.Arg.Channel != "orders" || len(p.Data) == 0 {
			continue
		}
		out = append(out, p.Data[0])
		if pred(p.Data[0]) {
			return out
		}
	}
}

// TestOKXPrivateLogin: the documented login and its errors.
func TestOKXPrivateLogin(t *testing.T) {
	s, clk := tradeSim(t, nil, nil)
	url := mustURLs(t, s, "okx").Private
	for _, tc := range []struct {
		name string
		msg  string
		code string
	}{
		{"expired", okxLoginMsg(TestOKXKey, TestOKXPassphrase, TestOKXSecret, clk.Now().Add(-31*time.Second)), "60006"},
		{"bad sign", okxLoginMsg(TestOKXKey, TestOKXPassphrase, "nope", clk.Now()), "60007"},
		{"wrong passphrase", okxLoginMsg(TestOKXKey, "nope", TestOKXSecret, clk.Now()), "60024"},
		{"unknown key", okxLoginMsg("nope", TestOKXPassphrase, TestOKXSecret, clk.Now()), "60009"},
		{"bad timestamp", `{"op":"login","args":[{"apiKey":"k","passphrase":"p","timestamp":"x","sign":"s"}]}`, "60004"},
	} {
		c := dial(t, url)
		c.sendText(tc.msg)
		if m := c.next(10 * time.Second); !strings.Contains(string(m), `"event":"error","code":"`+tc.code+`"`) {
			t.Errorf("%s: %s", tc.name, m)
		}
	}
	c := dial(t, url)
	c.sendText(`{"op":"subscribe","args":[{"channel":"orders","instType":"SPOT"}]}`)
	if m := c.next(10 * time.Second); !strings.Contains(string(m), `"code":"60011"`) {
		t.Fatalf("subscribe before login: %s", m)
	}
	c.sendText(okxLoginMsg(TestOKXKey, TestOKXPassphrase, TestOKXSecret, clk.Now()))
	var doc struct{ Success json.RawMessage }
	json.Unmarshal(docField(t, "okx/ws_login_request_example.json", "success_response"), &doc.Success)
	m := c.next(10 * time.Second)
	if err := shapeDiff(m, doc.Success); err != nil {
		t.Fatalf("%v: %s", err, m)
	}
	c.sendText(okxLoginMsg(TestOKXKey, TestOKXPassphrase, TestOKXSecret, clk.Now()))
	if m := c.next(10 * time.Second); !strings.Contains(string(m), `"code":"60031"`) {
		t.Fatalf("second login: %s", m)
	}
	c.sendText("ping")
	if m := c.next(10 * time.Second); string(m) != "pong" {
		t.Fatalf("ping: %s", m)
	}
}

// TestOKXOrdersChannel: op "order" by instIdCode; the orders channel pushes
// live, one update per fill (fillSz/fillPx/tradeId/fillFee per update,
// accFillSz/fee totals, fees negative) and canceled for the IOC remainder;
// the account channel pushes the changed currencies; the reply is in the
// documented form and the formats are the documented ones.
func TestOKXOrdersChannel(t *testing.T) {
	s, _ := tradeSim(t, nil, nil)
	c := okxPrivate(t, s)
	code := instIDCode(t, s, "BTC-USDT")
	sc := scaleOf(s, "BTC-USDT")
	_, asks, _, _ := s.Book("okx", "BTC-USDT")
	qty := asks[0].Qty + asks[1].Qty + 10_000
	c.sendText(fmt.Sprintf(`{"id":"o1","op":"order","args":[{"instIdCode":%d,"tdMode":"cash","clOrdId":"okws1","side":"buy","ordType":"ioc","px":"%s","sz":"%s"}]}`,
		code, num.Format(int64(asks[1].Px), sc.Px), num.Format(int64(qty), sc.Qty)))
	rep := c.reply(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"op":"order"`) })
	var doc struct {
		Success json.RawMessage `json:"success_response"`
		Push    json.RawMessage `json:"push"`
	}
	loadDoc(t, "okx/ws_place_order.json", &doc)
	// subCode is in the docs' response parameters, not in their example.
	if err := shapeDiff(withoutKeys(t, rep, "subCode"), doc.Success); err != nil || !strings.Contains(string(rep), `"sCode":"0"`) {
		t.Fatalf("%v: %s", err, rep)
	}
	pushes := okxPushes(t, c, func(d map[string]any) bool { return d["state"] == "canceled" })
	fills := s.Fills("okx")
	if len(pushes) != 4 || len(fills) != 2 {
		t.Fatalf("%d pushes, %d fills: %v", len(pushes), len(fills), pushes)
	}
	var acc int64
	for i, wantState := range []string{"live", "partially_filled", "partially_filled", "canceled"} {
		p := pushes[i]
		if p["state"] != wantState || p["clOrdId"] != "okws1" {
			t.Fatalf("push %d: %v", i, p)
		}
		if i == 1 || i == 2 {
			f := fills[i-1]
			acc += int64(f.Qty)
			if p["fillSz"] != num.Format(int64(f.Qty), sc.Qty) || p["fillPx"] != num.Format(int64(f.Px), sc.Px) ||
				p["tradeId"] != f.TradeID || p["fillFee"] != "-"+amount8(f.Fee, true) || p["fillFeeCcy"] != "BTC" ||
				p["accFillSz"] != num.Format(acc, sc.Qty) || p["execType"] != "T" {
				t.Fatalf("fill push %d: %v vs %+v", i, p, f)
			}
		}
	}
	var total int64
	for _, f := range fills {
		total += f.Fee
	}
	if pushes[3]["fee"] != "-"+amount8(total, true) || pushes[3]["accFillSz"] != num.Format(acc, sc.Qty) {
		t.Fatalf("final totals %v", pushes[3])
	}
	var od struct {
		Push struct{ Data []json.RawMessage }
	}
	loadDoc(t, "okx/ws_orders_push.json", &od)
	for i, p := range pushes {
		if err := shapeDiff(mustJSON(p), od.Push.Data[0]); err != nil {
			t.Errorf("push %d: %v", i, err)
		}
	}
	// The account channel: the changed currencies with their balances.
	m := c.until(10*time.Second, func(m []byte) bool {
		return strings.Contains(string(m), `"channel":"account"`) && strings.Contains(string(m), `"data"`)
	})
	var acct struct {
		Data []struct {
			Details []struct{ Ccy, CashBal, AvailBal, FrozenBal string }
		}
	}
	json.Unmarshal(m, &acct)
	if len(acct.Data) != 1 || len(acct.Data[0].Details) != 2 {
		t.Fatalf("account push %s", m)
	}
	for _, d := range acct.Data[0].Details {
		free, locked, _ := s.Balance("okx", d.Ccy)
		if d.AvailBal != amount8(free.V, true) || d.FrozenBal != amount8(locked.V, true) {
			t.Fatalf("account %+v vs %v %v", d, free, locked)
		}
	}
	// cancel-order by instIdCode on a resting order.
	bids, _, _, _ := s.Book("okx", "BTC-USDT")
	c.sendText(fmt.Sprintf(`{"id":"o2","op":"order","args":[{"instIdCode":%d,"tdMode":"cash","clOrdId":"rest2","side":"buy","ordType":"limit","px":"%s","sz":"0.01"}]}`,
		code, num.Format(int64(bids[0].Px-1000), sc.Px)))
	okxPushes(t, c, func(d map[string]any) bool { return d["clOrdId"] == "rest2" && d["state"] == "live" })
	c.sendText(fmt.Sprintf(`{"id":"c2","op":"cancel-order","args":[{"instIdCode":%d,"clOrdId":"rest2"}]}`, code))
	if rep := c.reply(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"id":"c2"`) }); !strings.Contains(string(rep), `"sCode":"0"`) {
		t.Fatalf("cancel: %s", rep)
	}
	if p := okxPushes(t, c, func(d map[string]any) bool { return d["clOrdId"] == "rest2" }); p[0]["state"] != "canceled" || p[0]["cancelSource"] != "1" {
		t.Fatalf("cancel push %v", p)
	}
	// Errors: no instIdCode, an unknown one, a bad id, a duplicate clOrdId
	// of a pending order, not logged in.
	for _, tc := range []struct{ msg, code string }{
		{`{"id":"e1","op":"order","args":[{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"ioc","px":"1","sz":"1"}]}`, `"code":"50014"`},
		{`{"id":"e2","op":"order","args":[{"instIdCode":1,"tdMode":"cash","side":"buy","ordType":"ioc","px":"1","sz":"1"}]}`, `"code":"51001"`},
		{`{"id":"e-3","op":"order","args":[{"instIdCode":1}]}`, `"code":"60013"`},
	} {
		c.sendText(tc.msg)
		if rep := c.reply(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"op":"order"`) }); !strings.Contains(string(rep), tc.code) {
			t.Errorf("%s: %s", tc.msg, rep)
		}
	}
	c.sendText(fmt.Sprintf(`{"id":"o3","op":"order","args":[{"instIdCode":%d,"tdMode":"cash","clOrdId":"pend1","side":"buy","ordType":"limit","px":"%s","sz":"0.01"}]}`, code, num.Format(int64(bids[0].Px-1000), sc.Px)))
	c.reply(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"id":"o3"`) })
	c.sendText(fmt.Sprintf(`{"id":"o4","op":"order","args":[{"instIdCode":%d,"tdMode":"cash","clOrdId":"pend1","side":"buy","ordType":"limit","px":"%s","sz":"0.01"}]}`, code, num.Format(int64(bids[0].Px-1000), sc.Px)))
	if rep := c.reply(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"id":"o4"`) }); !strings.Contains(string(rep), `"sCode":"51016"`) {
		t.Fatalf("duplicate: %s", rep)
	}
	c2 := dial(t, mustURLs(t, s, "okx").Private)
	c2.sendText(`{"id":"x","op":"order","args":[{}]}`)
	if rep := c2.next(10 * time.Second); !strings.Contains(string(rep), `"code":"60011"`) {
		t.Fatalf("order before login: %s", rep)
	}
}

// TestOKXWSAckFaults: a delayed op "order" reply comes after the pushes; a
// lost one never comes while the order exists once.
func TestOKXWSAckFaults(t *testing.T) {
	s, _ := tradeSim(t, nil, nil)
	c := okxPrivate(t, s)
	code := instIDCode(t, s, "BTC-USDT")
	sc := scaleOf(s, "BTC-USDT")
	_, asks, _, _ := s.Book("okx", "BTC-USDT")
	px := num.Format(int64(asks[0].Px), sc.Px)
	s.Inject("okx", Fault{Kind: FaultDelayAck, Duration: 200 * time.Millisecond})
	begin := time.Now()
	c.sendText(fmt.Sprintf(`{"id":"d1","op":"order","args":[{"instIdCode":%d,"tdMode":"cash","clOrdId":"dl1","side":"buy","ordType":"ioc","px":"%s","sz":"0.001"}]}`, code, px))
	first := c.until(10*time.Second, func(m []byte) bool {
		return strings.Contains(string(m), `"state":"filled"`) || strings.Contains(string(m), `"id":"d1"`)
	})
	if !strings.Contains(string(first), `"state":"filled"`) {
		t.Fatalf("reply before the fill: %s", first)
	}
	c.until(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"id":"d1"`) })
	if time.Since(begin) < 200*time.Millisecond {
		t.Fatal("not delayed")
	}
	s.Inject("okx", Fault{Kind: FaultLoseAck})
	c.sendText(fmt.Sprintf(`{"id":"l1","op":"order","args":[{"instIdCode":%d,"tdMode":"cash","clOrdId":"lost1","side":"buy","ordType":"ioc","px":"%s","sz":"0.001"}]}`, code, px))
	c.until(10*time.Second, func(m []byte) bool {
		return strings.Contains(string(m), `"clOrdId":"lost1"`) && strings.Contains(string(m), `"state":"filled"`)
	})
	c.sendText("ping")
	for {
		m := c.next(10 * time.Second)
		if strings.Contains(string(m), `"id":"l1"`) {
			t.Fatalf("the lost reply came: %s", m)
		}
		if string(m) == "pong" {
			break
		}
	}
	if st, _, ok := queryByClient(t, s, "okx", "lost1"); !ok || st != "filled" || len(s.OrdersByClientID("okx", "lost1")) != 1 {
		t.Fatalf("lost order %s %v", st, ok)
	}
}
