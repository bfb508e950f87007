package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// fuzzSim is a simulator that is not started: handlers are called directly.
func fuzzSim(t testing.TB) *Sim {
	c := testConfig()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fuzzControl feeds one client message to a venue's control parser and
// checks that every answer is valid JSON (or OKX's "pong") and the
// subscription tables stay consistent.
func fuzzControl(t *testing.T, s *Sim, venue string, data []byte) {
	v := s.byName[venue]
	c := &conn{v: v, id: "fuzz", out: make(chan []byte, 1024), done: make(chan struct{}), subs: map[string]struct{}{}}
	s.mu.Lock()
	switch v.cfg.Kind {
	case KindBinance:
		v.binanceControl(c, data)
	case KindOKX:
		v.okxControl(c, data)
	case KindBybit:
		v.bybitControl(c, data)
	}
	for k := range c.subs {
		if _, ok := v.subs[k][c]; !ok {
			t.Fatalf("subscription %q not in the venue table", k)
		}
	}
	v.unregister(c)
	s.mu.Unlock()
	close(c.out)
	for m := range c.out {
		if string(m) != "pong" && !json.Valid(m) {
			t.Fatalf("invalid answer %q to %q", m, data)
		}
	}
}

func FuzzBinanceControl(f *testing.F) {
	f.Add([]byte(loadPayload(f, "binance/ws_subscribe_request.json")))
	for _, s := range []string{`{"method":"LIST_SUBSCRIPTIONS","id":2}`, `{"method":"SET_PROPERTY","params":["combined",true],"id":5}`,
		`{"method":"GET_PROPERTY","params":["combined"],"id":"x"}`, `{"method":"UNSUBSCRIBE","params":["btcusdt@depth"],"id":312}`, `{`} {
		f.Add([]byte(s))
	}
	s := fuzzSim(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzControl(t, s, "binance", data) })
}

func FuzzOKXControl(f *testing.F) {
	var sub struct{ Request json.RawMessage }
	loadJSON(f, "okx/ws_subscribe_tickers.json", &sub)
	f.Add([]byte(sub.Request))
	for _, s := range []string{"ping", `{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}`,
		`{"id":"1","op":"unsubscribe","args":[{"channel":"bbo-tbt","instId":"ETH-USDT"}]}`} {
		f.Add([]byte(s))
	}
	s := fuzzSim(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzControl(t, s, "okx", data) })
}

func FuzzBybitControl(f *testing.F) {
	var pp struct {
		Subs []string `json:"subscribe_examples_verbatim_text"`
	}
	loadJSON(f, "bybit/ws_ping_pong_and_subscribe.json", &pp)
	for _, s := range []string{`{"req_id":"100001","op":"ping"}`, `{"op":"subscribe","args":["orderbook.50.BTCUSDT","orderbook.1.BTCUSDT"]}`,
		`{"op":"unsubscribe","args":["orderbook.200.SOLUSDT"]}`} {
		f.Add([]byte(s))
	}
	s := fuzzSim(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzControl(t, s, "bybit", data) })
}

func FuzzBinanceStreamName(f *testing.F) {
	for _, s := range []string{"btcusdt@depth", "btcusdt@depth@100ms", "bnbusdt@depth20@100ms", "x@kline_1m", "@", "a@b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validBinanceStream(s) && (!strings.Contains(s, "@") || strings.HasPrefix(s, "@")) {
			t.Fatalf("accepted %q", s)
		}
	})
}

// FuzzBinanceOrder sends signed orders with arbitrary parameters: the answer
// is always JSON, and the venue's book stays uncrossed with fills only at or
// better than the limit.
func FuzzBinanceOrder(f *testing.F) {
	var vec struct {
		Vectors []struct {
			Inputs struct {
				Payload string `json:"signature_payload"`
			}
		}
	}
	loadJSON(f, "binance/auth_hmac_rest_vectors.json", &vec)
	f.Add(vec.Vectors[0].Inputs.Payload)
	f.Add("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.0100&price=60010.00")
	f.Add("symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=FOK&quantity=1&price=1.0&newOrderRespType=RESULT")
	s := fuzzSim(f)
	v := s.byName["binance"]
	h := v.handler().ServeHTTP
	f.Fuzz(func(t *testing.T, q string) {
		q = strings.ReplaceAll(q, "signature=", "")
		q += "&timestamp=" + strconv.FormatInt(time.Now().UnixMilli(), 10)
		req := httptest.NewRequest("POST", "/api/v3/order?"+url0(q)+"&signature="+binanceSign(TestBinanceSecret, url0(q)), nil)
		req.Header.Set("X-MBX-APIKEY", TestBinanceKey)
		rec := httptest.NewRecorder()
		h(rec, req)
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer %q", rec.Body.String())
		}
		checkBooks(t, s)
	})
}

func FuzzOKXOrder(f *testing.F) {
	f.Add(`{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"b15","side":"buy","ordType":"ioc","px":"60010.1","sz":"0.01"}`)
	f.Add(`{"instId":"ETH-USDT","tdMode":"cash","side":"sell","ordType":"limit","px":"1","sz":"2"}`)
	f.Add(`{"instId":1}`)
	s := fuzzSim(f)
	v := s.byName["okx"]
	h := v.handler().ServeHTTP
	f.Fuzz(func(t *testing.T, body string) {
		ts := time.Now().UTC().Format(okxTimeLayout)
		req := httptest.NewRequest("POST", "/api/v5/trade/order", strings.NewReader(body))
		req.Header.Set("OK-ACCESS-KEY", TestOKXKey)
		req.Header.Set("OK-ACCESS-PASSPHRASE", TestOKXPassphrase)
		req.Header.Set("OK-ACCESS-TIMESTAMP", ts)
		req.Header.Set("OK-ACCESS-SIGN", okxSign(TestOKXSecret, ts+"POST/api/v5/trade/order"+body))
		rec := httptest.NewRecorder()
		h(rec, req)
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer %q", rec.Body.String())
		}
		checkBooks(t, s)
	})
}

func FuzzBybitOrder(f *testing.F) {
	file, err := os.Open("testdata/bybit/rest_create_order_request_examples.txt")
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "{") {
			f.Add(l)
		}
	}
	file.Close()
	f.Add(`{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.0100","price":"60010.00","timeInForce":"IOC","orderLinkId":"a"}`)
	s := fuzzSim(f)
	v := s.byName["bybit"]
	h := v.handler().ServeHTTP
	f.Fuzz(func(t *testing.T, body string) {
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		req := httptest.NewRequest("POST", "/v5/order/create", strings.NewReader(body))
		req.Header.Set("X-BAPI-API-KEY", TestBybitKey)
		req.Header.Set("X-BAPI-TIMESTAMP", ts)
		req.Header.Set("X-BAPI-RECV-WINDOW", "5000")
		req.Header.Set("X-BAPI-SIGN", bybitSign(TestBybitSecret, ts, TestBybitKey, "5000", body))
		rec := httptest.NewRecorder()
		h(rec, req)
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer %q", rec.Body.String())
		}
		checkBooks(t, s)
	})
}

// checkBooks: every live book is uncrossed and every fill respected its
// order's limit.
func checkBooks(t *testing.T, s *Sim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.venues {
		for _, vb := range v.books {
			if vb.live.crossed() {
				t.Fatal("crossed book")
			}
		}
		for _, o := range v.orders.ring {
			for _, fl := range o.fills {
				if o.side == 1 && int64(fl.Px) > o.px || o.side == 2 && int64(fl.Px) < o.px {
					t.Fatalf("fill at %d through limit %d", fl.Px, o.px)
				}
			}
			if o.filled > o.qty {
				t.Fatal("overfilled")
			}
		}
	}
}

// url0 keeps a fuzzed query printable ASCII so it survives the request line.
func url0(q string) string {
	b := []byte(q)
	for i, c := range b {
		if c <= ' ' || c >= 0x7f || c == '#' || c == '%' {
			b[i] = '_'
		}
	}
	return string(b)
}

// checkAccounts: no balance is negative, and what each asset has locked is
// exactly what the open orders reserve.
func checkAccounts(t *testing.T, s *Sim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.venues {
		want := map[string]int64{}
		for _, o := range v.orders.open {
			rem := o.qty - o.filled
			if o.side == exchange.Buy {
				q, _ := quoteUnits(o.vb.sym, o.px, rem)
				want[o.vb.sym.quote] += q
			} else {
				want[o.vb.sym.base] += baseUnits(o.vb.sym, rem)
			}
		}
		for a, h := range v.acct.assets {
			if h.free < 0 || h.locked < 0 || h.locked != want[a] {
				t.Fatalf("%s %s: free %d locked %d, open orders reserve %d", v.cfg.Name, a, h.free, h.locked, want[a])
			}
		}
	}
}

// fuzzConn is a connection of the given role that is not on the network:
// what the venue sends it stays in its queue.
func fuzzConn(s *Sim, venue string, role connRole) *conn {
	v := s.byName[venue]
	c := &conn{v: v, id: "fuzz", out: make(chan []byte, 1<<12), done: make(chan struct{}), subs: map[string]struct{}{}, role: role}
	s.mu.Lock()
	v.conns[c] = struct{}{}
	v.private[c] = struct{}{}
	v.openSession(c, httptest.NewRequest("GET", "/", nil), s.now())
	s.mu.Unlock()
	return c
}

// fuzzPrivate feeds messages to a private connection and checks every
// answer is JSON (or OKX's "pong"), and the books and accounts stay sound.
func fuzzPrivate(t *testing.T, s *Sim, c *conn, msgs ...[]byte) {
	s.mu.Lock()
	for _, m := range msgs {
		switch {
		case c.role == roleWSAPI:
			c.v.wsapiRequest(c, m)
		case c.v.cfg.Kind == KindOKX:
			c.v.okxPrivateRequest(c, m)
		default:
			c.v.bybitPrivateRequest(c, m)
		}
	}
	s.mu.Unlock()
	for {
		select {
		case m := <-c.out:
			if string(m) != "pong" && !json.Valid(m) {
				t.Fatalf("invalid frame %q after %q", m, msgs)
			}
			continue
		default:
		}
		break
	}
	checkBooks(t, s)
	checkAccounts(t, s)
}

// FuzzWSAPIRequest: arbitrary Binance WebSocket API requests, on a
// connection that subscribed to the user data stream first.
func FuzzWSAPIRequest(f *testing.F) {
	for _, rel := range []string{"binance/wsapi_order_place.json", "binance/wsapi_order_status.json", "binance/wsapi_account_status.json",
		"binance/wsapi_myTrades.json", "binance/wsapi_time.json", "binance/wsapi_userDataStream_subscribe_signature.json"} {
		f.Add(string(docField(f, rel, "request")))
	}
	f.Add(`{"id":"1","method":"userDataStream.subscribe"}`)
	f.Add(`{"id":2,"method":"order.place","params":{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC","price":"1000.00","quantity":"0.0100","timestamp":1}}`)
	f.Add(`{"id":null,"method":"session.logout","params":{"x":[1]}}`)
	s := fuzzSim(f)
	f.Fuzz(func(t *testing.T, req string) {
		c := fuzzConn(s, "binance", roleWSAPI)
		sub, _ := json.Marshal(map[string]any{"id": "s", "method": "userDataStream.subscribe.signature",
			"params": map[string]any{"apiKey": TestBinanceKey, "timestamp": s.now().UnixMilli(),
				"signature": binanceSign(TestBinanceSecret, "apiKey="+TestBinanceKey+"&timestamp="+strconv.FormatInt(s.now().UnixMilli(), 10))}})
		// A fuzzed request with a signature of its own: re-sign its params
		// when it has any, so that the checks behind the signature run.
		fuzzPrivate(t, s, c, sub, []byte(req), resignWSAPI(s, req))
		c.kill()
		s.mu.Lock()
		s.byName["binance"].unregister(c)
		s.mu.Unlock()
	})
}

// resignWSAPI returns req with a fresh timestamp, the test key and a valid
// HMAC signature over its params (req itself when it is not an object with
// params).
func resignWSAPI(s *Sim, req string) []byte {
	var r map[string]any
	if json.Unmarshal([]byte(req), &r) != nil {
		return []byte(req)
	}
	p, ok := r["params"].(map[string]any)
	if !ok {
		return []byte(req)
	}
	p["apiKey"] = TestBinanceKey
	p["timestamp"] = s.now().UnixMilli()
	delete(p, "signature")
	raw, _ := json.Marshal(p)
	var rp map[string]json.RawMessage
	json.Unmarshal(raw, &rp)
	bp, e := wsapiParams(rp)
	if e != nil {
		return []byte(req)
	}
	p["signature"] = binanceSign(TestBinanceSecret, wsapiPayload(bp))
	out, _ := json.Marshal(r)
	return out
}

// FuzzOKXPrivateRequest: arbitrary messages on a logged-in OKX private
// connection subscribed to orders and account.
func FuzzOKXPrivateRequest(f *testing.F) {
	var ord struct {
		Request json.RawMessage `json:"request"`
	}
	loadDoc(f, "okx/ws_place_order.json", &ord)
	f.Add(string(ord.Request))
	f.Add(`{"id":"1","op":"order","args":[{"instIdCode":1,"tdMode":"cash","side":"buy","ordType":"ioc","px":"60000","sz":"0.01"}]}`)
	f.Add(`{"id":"2","op":"cancel-order","args":[{"instIdCode":1,"clOrdId":"x"}]}`)
	f.Add(`{"op":"subscribe","args":[{"channel":"orders","instType":"ANY","instId":"BTC-USDT"}]}`)
	f.Add("ping")
	s := fuzzSim(f)
	code := s.okxInstIDCode("okx", "BTC-USDT")
	f.Fuzz(func(t *testing.T, msg string) {
		c := fuzzConn(s, "okx", rolePrivate)
		ts := strconv.FormatInt(s.now().Unix(), 10)
		login := fmt.Sprintf(`{"op":"login","args":[{"apiKey":%q,"passphrase":%q,"timestamp":%q,"sign":%q}]}`,
			TestOKXKey, TestOKXPassphrase, ts, okxSign(TestOKXSecret, ts+"GET/users/self/verify"))
		sub := `{"op":"subscribe","args":[{"channel":"orders","instType":"SPOT"},{"channel":"account"}]}`
		// The seeds name instIdCode 1; let them reach the real instrument.
		real := strings.ReplaceAll(msg, `"instIdCode":1,`, fmt.Sprintf(`"instIdCode":%d,`, code))
		fuzzPrivate(t, s, c, []byte(login), []byte(sub), []byte(msg), []byte(real))
		c.kill()
		s.mu.Lock()
		s.byName["okx"].unregister(c)
		s.mu.Unlock()
	})
}

// FuzzBybitPrivateRequest: arbitrary messages on authenticated Bybit
// private and trade connections.
func FuzzBybitPrivateRequest(f *testing.F) {
	var tr struct {
		Create json.RawMessage `json:"order_create_request"`
	}
	loadDoc(f, "bybit/ws_trade_order_create.json", &tr)
	f.Add(string(tr.Create))
	f.Add(`{"reqId":"x","header":{"X-BAPI-TIMESTAMP":"NOW"},"op":"order.create","args":[{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.0100","price":"60000.00","timeInForce":"GTC","orderLinkId":"a"}]}`)
	f.Add(`{"reqId":"y","header":{"X-BAPI-TIMESTAMP":"NOW"},"op":"order.cancel","args":[{"category":"spot","symbol":"BTCUSDT","orderLinkId":"a"}]}`)
	f.Add(`{"op":"subscribe","args":["order","execution","wallet"]}`)
	f.Add(`{"req_id":"1","op":"ping"}`)
	s := fuzzSim(f)
	f.Fuzz(func(t *testing.T, msg string) {
		msg = strings.ReplaceAll(msg, "NOW", strconv.FormatInt(s.now().UnixMilli(), 10))
		exp := strconv.FormatInt(s.now().Add(time.Minute).UnixMilli(), 10)
		auth := fmt.Sprintf(`{"op":"auth","args":[%q,%s,%q]}`, TestBybitKey, exp, bybitSign(TestBybitSecret, "", "", "", "GET/realtime"+exp))
		for _, role := range []connRole{rolePrivate, roleTrade} {
			c := fuzzConn(s, "bybit", role)
			fuzzPrivate(t, s, c, []byte(auth), []byte(`{"op":"subscribe","args":["order","execution","execution.fast","wallet"]}`), []byte(msg))
			c.kill()
			s.mu.Lock()
			s.byName["bybit"].unregister(c)
			s.mu.Unlock()
		}
	})
}

// FuzzTradingREST: arbitrary parameters on every signed trading endpoint
// of the three venues (each request signed properly, so the parsing behind
// the signature runs): answers are JSON, books and accounts stay sound.
func FuzzTradingREST(f *testing.F) {
	f.Add(uint8(0), "symbol=BTCUSDT&origClientOrderId=a")
	f.Add(uint8(1), "symbol=BTCUSDT&orderId=5&newClientOrderId=b")
	f.Add(uint8(2), "symbol=BTCUSDT&startTime=1&endTime=99999999")
	f.Add(uint8(3), "omitZeroBalances=true")
	f.Add(uint8(4), `{"instId":"BTC-USDT","clOrdId":"x"}`)
	f.Add(uint8(5), "instType=SPOT&after=1&limit=5")
	f.Add(uint8(6), "instId=BTC-USDT&clOrdId=x")
	f.Add(uint8(7), `{"category":"spot","symbol":"BTCUSDT","orderLinkId":"x"}`)
	f.Add(uint8(8), "category=spot&openOnly=1&cursor=id%3D1")
	f.Add(uint8(9), "category=spot&startTime=1&limit=100")
	f.Add(uint8(10), "accountType=UNIFIED&coin=BTC,USDT")
	s := fuzzSim(f)
	type ep struct{ venue, method, path string }
	eps := []ep{
		{"binance", "GET", "/api/v3/order"}, {"binance", "DELETE", "/api/v3/order"}, {"binance", "GET", "/api/v3/myTrades"},
		{"binance", "GET", "/api/v3/account"}, {"okx", "POST", "/api/v5/trade/cancel-order"}, {"okx", "GET", "/api/v5/trade/fills"},
		{"okx", "GET", "/api/v5/trade/order"}, {"bybit", "POST", "/v5/order/cancel"}, {"bybit", "GET", "/v5/order/realtime"},
		{"bybit", "GET", "/v5/execution/list"}, {"bybit", "GET", "/v5/account/wallet-balance"}, {"okx", "GET", "/api/v5/trade/orders-pending"},
		{"okx", "GET", "/api/v5/account/balance"}, {"binance", "GET", "/api/v3/openOrders"},
	}
	handlers := map[string]http.Handler{}
	for _, v := range s.venues {
		handlers[v.cfg.Name] = v.handler()
	}
	f.Fuzz(func(t *testing.T, which uint8, in string) {
		e := eps[int(which)%len(eps)]
		in = url0(in)
		var req *http.Request
		switch e.venue {
		case "binance":
			q := strings.ReplaceAll(in, "signature=", "") + "&timestamp=" + strconv.FormatInt(s.now().UnixMilli(), 10)
			req = httptest.NewRequest(e.method, e.path+"?"+q+"&signature="+binanceSign(TestBinanceSecret, q), nil)
			req.Header.Set("X-MBX-APIKEY", TestBinanceKey)
		case "okx":
			pq, body := e.path, ""
			if e.method == "GET" {
				pq += "?" + in
			} else {
				body = in
			}
			ts := s.now().UTC().Format(okxTimeLayout)
			req = httptest.NewRequest(e.method, pq, strings.NewReader(body))
			req.Header.Set("OK-ACCESS-KEY", TestOKXKey)
			req.Header.Set("OK-ACCESS-PASSPHRASE", TestOKXPassphrase)
			req.Header.Set("OK-ACCESS-TIMESTAMP", ts)
			req.Header.Set("OK-ACCESS-SIGN", okxSign(TestOKXSecret, ts+e.method+req.URL.RequestURI()+body))
		default:
			pq, payload, body := e.path, in, ""
			if e.method == "GET" {
				pq += "?" + in
			} else {
				body = in
			}
			req = httptest.NewRequest(e.method, pq, strings.NewReader(body))
			if e.method == "GET" {
				payload = req.URL.RawQuery
			}
			ts := strconv.FormatInt(s.now().UnixMilli(), 10)
			req.Header.Set("X-BAPI-API-KEY", TestBybitKey)
			req.Header.Set("X-BAPI-TIMESTAMP", ts)
			req.Header.Set("X-BAPI-RECV-WINDOW", "5000")
			req.Header.Set("X-BAPI-SIGN", bybitSign(TestBybitSecret, ts, TestBybitKey, "5000", payload))
		}
		rec := httptest.NewRecorder()
		handlers[e.venue].ServeHTTP(rec, req)
		if b := rec.Body.Bytes(); !json.Valid(b) && !(rec.Code == 403 && string(b) == "access too frequent") {
			t.Fatalf("%s %s: answer %q", e.method, e.path, b)
		}
		checkBooks(t, s)
		checkAccounts(t, s)
	})
}

// FuzzConfigBalances: arbitrary starting balances are either refused by
// Validate (naming the field) or give exactly that balance.
func FuzzConfigBalances(f *testing.F) {
	for _, s := range []string{"100000", "0.00000001", "1.5", "-1", "1e5", "10000000000.1", "", "0x10"} {
		f.Add("USDT", s)
	}
	f.Fuzz(func(t *testing.T, asset, amt string) {
		c := testConfig()
		c.Venues = c.Venues[:1]
		c.Venues[0].Balances = map[string]string{asset: amt}
		s, err := New(c)
		if err != nil {
			if !strings.Contains(err.Error(), "balances") {
				t.Fatalf("refused without naming balances: %v", err)
			}
			return
		}
		want, perr := num.ParseString(amt, 8)
		free, _, ok := s.Balance("binance", asset)
		if perr != nil || !ok || free.V != want || free.Dec != 8 {
			t.Fatalf("balance %q %q: %v %v (parse %v)", asset, amt, free, ok, perr)
		}
	})
}
