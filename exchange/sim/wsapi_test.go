package sim

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// wsapiSign builds a SIGNED WebSocket API request's params the documented
// way (web-socket-api.md, "SIGNED request security"): every param but
// signature, sorted by name, joined name=value with '&', no
// percent-encoding; HMAC-SHA256 hex with secret, or, when edPEM is given,
// Ed25519 base64 with that private key.
func wsapiSign(t testing.TB, params map[string]any, secret, edPEM string) map[string]any {
	t.Helper()
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+fmt.Sprint(params[k]))
	}
	payload := strings.Join(parts, "&")
	if edPEM == "" {
		params["signature"] = hmacHex(secret, payload)
		return params
	}
	blk, _ := pem.Decode([]byte(edPEM))
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	params["signature"] = base64.StdEncoding.EncodeToString(ed25519.Sign(k.(ed25519.PrivateKey), []byte(payload)))
	return params
}

// wsapiCall sends one request and returns the answer with its id.
func wsapiCall(t testing.TB, c *wsClient, id, method string, params map[string]any) map[string]any {
	t.Helper()
	req := map[string]any{"id": id, "method": method}
	if params != nil {
		req["params"] = params
	}
	b, _ := json.Marshal(req)
	c.sendText(string(b))
	m := c.reply(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"id":"`+id+`"`) })
	return jsonOf(t, m)
}

func signedNow(s *Sim, kv ...any) map[string]any {
	p := map[string]any{"apiKey": TestBinanceKey, "timestamp": s.now().UnixMilli()}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i].(string)] = kv[i+1]
	}
	return p
}

// TestWSAPISignatureVectors: the documented WebSocket API signing examples
// (payload construction and HMAC) recompute, and the simulator accepts the
// documented signed requests verbatim when its account holds the documented
// key.
func TestWSAPISignatureVectors(t *testing.T) {
	type vec struct {
		Name   string
		Inputs struct {
			SecretKey string `json:"secretKey"`
			Payload   string `json:"signature_payload"`
		}
		Expected string
	}
	var a, b struct{ Vectors []vec }
	loadDoc(t, "binance/auth_hmac_wsapi_vectors.json", &a)
	loadDoc(t, "binance/auth_hmac_wsapi_method_vectors.json", &b)
	all := append(a.Vectors, b.Vectors...)
	if len(all) != 7 {
		t.Fatalf("%d vectors", len(all))
	}
	for _, v := range all {
		if got := hmacHex(v.Inputs.SecretKey, v.Inputs.Payload); got != v.Expected {
			t.Errorf("%s: test signer %s, want %s", v.Name, got, v.Expected)
		}
		if got := binanceSign(v.Inputs.SecretKey, v.Inputs.Payload); got != v.Expected {
			t.Errorf("%s: simulator %s, want %s", v.Name, got, v.Expected)
		}
		// The simulator's payload from the params (split back out of the
		// documented payload) is the documented payload.
		p := bnParams{}
		for _, kv := range strings.Split(v.Inputs.Payload, "&") {
			k, val, _ := strings.Cut(kv, "=")
			p[k] = val
		}
		p["signature"] = v.Expected
		if got := wsapiPayload(p); got != v.Inputs.Payload {
			t.Errorf("%s: payload %q, want %q", v.Name, got, v.Inputs.Payload)
		}
	}
	// End to end: the documented requests, signature as printed.
	docKey, docSecret := "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", b.Vectors[0].Inputs.SecretKey
	for _, tc := range []struct {
		file, method string
		at           int64 // the request's timestamp
		wantCode     string
	}{
		// Signature and time pass; 0.00847 is off the simulated BTCUSDT's
		// 0.0001 step, so the order stops at the LOT_SIZE filter.
		{"binance/wsapi_order_place.json", "order.place", 1660801715431, `"code":-1013`},
		{"binance/wsapi_order_status.json", "order.status", 1660801720951, `"code":-2013`},
		{"binance/wsapi_account_status.json", "account.status", 1660801839480, `"status":200`},
		{"binance/wsapi_myTrades.json", "myTrades", 1661955125250, `"status":200`},
	} {
		clk := &fakeClock{t: time.UnixMilli(tc.at + 100)}
		s := newSim(t, func(c *Config) {
			c.Venues[0].APIKey, c.Venues[0].APISecret = docKey, docSecret
			c.Clock = clk.Now
		})
		c := dial(t, mustURLs(t, s, "binance").Private)
		c.sendText(string(docField(t, tc.file, "request")))
		if m := c.next(10 * time.Second); !strings.Contains(string(m), tc.wantCode) {
			t.Errorf("%s: %s", tc.method, m)
		}
	}
}

// TestWSAPIEd25519: the Ed25519 primitive reproduces the documented FIX
// logon vector; the default test key logs a session on, which then trades
// and subscribes to the user data stream without apiKey and signature.
func TestWSAPIEd25519(t *testing.T) {
	var vec struct {
		Inputs struct {
			PEM     string `json:"private_key_pem"`
			Payload string `json:"payload_with_SOH_shown_as_\\u0001"`
		}
		Expected string
	}
	loadDoc(t, "binance/auth_ed25519_fix_logon_vector.json", &vec)
	blk, _ := pem.Decode([]byte(vec.Inputs.PEM))
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	payload := "A\x01EXAMPLE\x01SPOT\x011\x0120240627-11:17:25.223"
	if got := base64.StdEncoding.EncodeToString(ed25519.Sign(k.(ed25519.PrivateKey), []byte(payload))); got != vec.Expected {
		t.Fatalf("Ed25519 over the FIX logon payload: %s, want %s", got, vec.Expected)
	}
	// The default key pair is a pair.
	blk, _ = pem.Decode([]byte(TestBinanceEd25519PrivateKeyPEM))
	priv, _ := x509.ParsePKCS8PrivateKey(blk.Bytes)
	pub, _ := parseEd25519Public(TestBinanceEd25519PublicKeyPEM)
	if !pub.Equal(priv.(ed25519.PrivateKey).Public()) {
		t.Fatal("the default Ed25519 public key is not the private key's")
	}

	s, _ := tradeSim(t, nil, nil)
	c := dial(t, mustURLs(t, s, "binance").Private)
	// An HMAC key cannot log on.
	if r := wsapiCall(t, c, "l0", "session.logon", wsapiSign(t, signedNow(s), TestBinanceSecret, "")); r["status"] == float64(200) {
		t.Fatalf("HMAC logon accepted: %v", r)
	}
	// A wrong Ed25519 signature is refused.
	bad := signedNow(s)
	bad["apiKey"] = TestBinanceEd25519Key
	bad["signature"] = base64.StdEncoding.EncodeToString(make([]byte, 64))
	if r := wsapiCall(t, c, "l1", "session.logon", bad); !strings.Contains(fmt.Sprint(r["error"]), "-1022") {
		t.Fatalf("bad Ed25519 signature: %v", r)
	}
	p := signedNow(s)
	p["apiKey"] = TestBinanceEd25519Key
	r := wsapiCall(t, c, "l2", "session.logon", wsapiSign(t, p, "", TestBinanceEd25519PrivateKeyPEM))
	res, _ := r["result"].(map[string]any)
	if r["status"] != float64(200) || res["apiKey"] != TestBinanceEd25519Key || res["userDataStream"] != false {
		t.Fatalf("logon: %v", r)
	}
	var logon struct{ Result json.RawMessage }
	json.Unmarshal(docField(t, "binance/wsapi_session_logon.json", "session_logon_response"), &logon)
	if err := shapeDiff(mustJSON(r["result"]), logon.Result); err != nil {
		t.Fatal(err)
	}
	if r := wsapiCall(t, c, "u1", "userDataStream.subscribe", nil); r["status"] != float64(200) || fmt.Sprint(r["result"]) != "map[subscriptionId:0]" {
		t.Fatalf("subscribe: %v", r)
	}
	// Logged on: order.place needs only its timestamp.
	sc := scaleOf(s, "BTC-USDT")
	_, asks, _, _ := s.Book("binance", "BTC-USDT")
	r = wsapiCall(t, c, "o1", "order.place", map[string]any{"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "IOC",
		"price": num.Format(int64(asks[0].Px), sc.Px), "quantity": "0.0010", "newClientOrderId": "ed1", "timestamp": s.now().UnixMilli()})
	if r["status"] != float64(200) {
		t.Fatalf("order.place on a logged-on session: %v", r)
	}
	ev := c.until(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"x":"TRADE"`) })
	if !strings.Contains(string(ev), `"subscriptionId":0`) || !strings.Contains(string(ev), `"c":"ed1"`) {
		t.Fatalf("event %s", ev)
	}
	// session.logout ends the logon subscription.
	wsapiCall(t, c, "lo", "session.logout", nil)
	c.until(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"eventStreamTerminated"`) })
	if r := wsapiCall(t, c, "st", "session.status", nil); r["result"].(map[string]any)["apiKey"] != nil {
		t.Fatalf("status after logout: %v", r)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// eventsUntil reads user data events until pred holds for one, returning
// them all in order.
func eventsUntil(t testing.TB, c *wsClient, pred func(map[string]any) bool) []map[string]any {
	t.Helper()
	var out []map[string]any
	for {
		m := c.next(10 * time.Second)
		var env struct {
			SubscriptionID *int           `json:"subscriptionId"`
			Event          map[string]any `json:"event"`
		}
		if json.Unmarshal(m, &env) != nil || env.Event == nil {
			continue // a response, not an event
		}
		out = append(out, env.Event)
		if pred(env.Event) {
			return out
		}
	}
}

// TestWSAPIUserDataStream: userDataStream.subscribe.signature with the HMAC
// key; an IOC buy through two levels and expiring in part yields NEW, one
// TRADE per fill (l/L/n/N/t exactly the fill, z/Z running totals, X
// PARTIALLY_FILLED then … ), EXPIRED with eR, then outboundAccountPosition
// with the changed balances; formats as documented.
func TestWSAPIUserDataStream(t *testing.T) {
	s, _ := tradeSim(t, map[string]string{"USDT": "100000", "BTC": "1"}, nil)
	c := dial(t, mustURLs(t, s, "binance").Private)
	r := wsapiCall(t, c, "s1", "userDataStream.subscribe.signature", wsapiSign(t, signedNow(s), TestBinanceSecret, ""))
	if r["status"] != float64(200) || fmt.Sprint(r["result"]) != "map[subscriptionId:0]" {
		t.Fatalf("subscribe: %v", r)
	}
	if r := wsapiCall(t, c, "s2", "userDataStream.subscribe.signature", wsapiSign(t, signedNow(s), TestBinanceSecret, "")); !strings.Contains(fmt.Sprint(r["error"]), "-2035") {
		t.Fatalf("second subscription: %v", r)
	}
	if r := wsapiCall(t, c, "ss", "session.subscriptions", nil); fmt.Sprint(r["result"]) != "[map[subscriptionId:0]]" {
		t.Fatalf("subscriptions: %v", r)
	}
	sc := scaleOf(s, "BTC-USDT")
	_, asks, _, _ := s.Book("binance", "BTC-USDT")
	qty := asks[0].Qty + asks[1].Qty + 10_000 // more than two levels: the rest expires
	r = wsapiCall(t, c, "p1", "order.place", wsapiSign(t, signedNow(s, "symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "IOC", "price", num.Format(int64(asks[1].Px), sc.Px), "quantity", num.Format(int64(qty), sc.Qty),
		"newClientOrderId", "uds1"), TestBinanceSecret, ""))
	if r["status"] != float64(200) {
		t.Fatalf("order.place: %v", r)
	}
	// The docs' FULL example omits selfTradePreventionMode although they
	// say FULL carries every field of RESULT, which has it.
	if err := shapeDiff(withoutKeys(t, mustJSON(r), "selfTradePreventionMode"), docField(t, "binance/wsapi_order_place.json", "response_FULL")); err != nil {
		t.Fatal(err)
	}
	evs := eventsUntil(t, c, func(e map[string]any) bool { return e["e"] == "outboundAccountPosition" })
	fills := s.Fills("binance")
	if len(evs) != 5 || len(fills) != 2 {
		t.Fatalf("%d events, %d fills: %v", len(evs), len(fills), evs)
	}
	want := []struct{ x, X string }{{"NEW", "NEW"}, {"TRADE", "PARTIALLY_FILLED"}, {"TRADE", "PARTIALLY_FILLED"}, {"EXPIRED", "EXPIRED"}}
	var z num.Qty
	for i, w := range want {
		e := evs[i]
		if e["x"] != w.x || e["X"] != w.X || e["c"] != "uds1" || e["s"] != "BTCUSDT" {
			t.Fatalf("event %d: %v", i, e)
		}
		if w.x == "TRADE" {
			f := fills[i-1]
			z += f.Qty
			if e["l"] != string(appendFixed8(nil, int64(f.Qty), sc.Qty)) || e["L"] != string(appendFixed8(nil, int64(f.Px), sc.Px)) ||
				e["n"] != amount8(f.Fee, false) || e["N"] != "BTC" || fmt.Sprint(int64(e["t"].(float64))) != f.TradeID ||
				e["z"] != string(appendFixed8(nil, int64(z), sc.Qty)) || e["m"] != false {
				t.Fatalf("TRADE %d: %v vs fill %+v", i, e, f)
			}
		} else if e["t"] != float64(-1) || e["N"] != nil {
			t.Fatalf("%s event with fill fields: %v", w.x, e)
		}
	}
	if evs[3]["eR"] != "UNFILLED_IOC_QUANTITY_EXPIRED" || evs[3]["z"] != string(appendFixed8(nil, int64(z), sc.Qty)) {
		t.Fatalf("EXPIRED: %v", evs[3])
	}
	var doc struct {
		Payload struct{ Event json.RawMessage }
	}
	loadDoc(t, "binance/user_data_executionReport.json", &doc)
	for i, e := range evs[:4] {
		// "v" appears only for orders expired by STP; "W" while an order
		// works on the book; "eR" on expiry (conditional fields).
		if err := shapeDiff(withoutKeys(t, mustJSON(e), "eR"), withoutKeys(t, doc.Payload.Event, "v"), "W"); err != nil {
			t.Errorf("executionReport %d: %v", i, err)
		}
	}
	loadDoc(t, "binance/user_data_outboundAccountPosition.json", &doc)
	if err := shapeDiff(mustJSON(evs[4]), doc.Payload.Event); err != nil {
		t.Fatal(err)
	}
	for _, b := range evs[4]["B"].([]any) {
		bal := b.(map[string]any)
		free, locked, _ := s.Balance("binance", bal["a"].(string))
		if bal["f"] != amount8(free.V, false) || bal["l"] != amount8(locked.V, false) {
			t.Fatalf("position %v, simulator %v %v", bal, free, locked)
		}
	}
	// A resting order: NEW with W, then CANCELED by order.cancel (c the
	// cancel's id, C the order's), each followed by the account position.
	bids, _, _, _ := s.Book("binance", "BTC-USDT")
	wsapiCall(t, c, "p2", "order.place", wsapiSign(t, signedNow(s, "symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "price", num.Format(int64(bids[0].Px-1000), sc.Px), "quantity", "0.0100", "newClientOrderId", "gtc1"), TestBinanceSecret, ""))
	evs = eventsUntil(t, c, func(e map[string]any) bool { return e["e"] == "outboundAccountPosition" })
	if evs[0]["x"] != "NEW" || evs[0]["w"] != true || evs[0]["W"] == nil {
		t.Fatalf("resting NEW %v", evs[0])
	}
	r = wsapiCall(t, c, "c1", "order.cancel", wsapiSign(t, signedNow(s, "symbol", "BTCUSDT", "origClientOrderId", "gtc1", "newClientOrderId", "cx1"), TestBinanceSecret, ""))
	if r["status"] != float64(200) || r["result"].(map[string]any)["status"] != "CANCELED" {
		t.Fatalf("order.cancel %v", r)
	}
	evs = eventsUntil(t, c, func(e map[string]any) bool { return e["e"] == "outboundAccountPosition" })
	if evs[0]["x"] != "CANCELED" || evs[0]["c"] != "cx1" || evs[0]["C"] != "gtc1" {
		t.Fatalf("CANCELED %v", evs[0])
	}
	// Unsubscribe: eventStreamTerminated, then nothing more.
	if r := wsapiCall(t, c, "un", "userDataStream.unsubscribe", nil); r["status"] != float64(200) {
		t.Fatalf("unsubscribe %v", r)
	}
	if r := wsapiCall(t, c, "un2", "userDataStream.unsubscribe", nil); !strings.Contains(fmt.Sprint(r["error"]), "-2036") {
		t.Fatalf("second unsubscribe %v", r)
	}
	placeIOC(t, s, "binance", exchange.Buy, num.Format(int64(asks[2].Px), sc.Px), "0.0010", "after1", "IOC")
	if r := wsapiCall(t, c, "t1", "time", nil); r["result"] == nil {
		t.Fatalf("time %v", r)
	}
	for _, m := range c.drain(50 * time.Millisecond) {
		if strings.Contains(string(m), "executionReport") {
			t.Fatalf("event after unsubscribe: %s", m)
		}
	}
}

// TestWSAPIMethods: order.status, openOrders.status, myTrades,
// account.status and time answer in the documented shapes, with rateLimits
// unless returnRateLimits=false.
func TestWSAPIMethods(t *testing.T) {
	s, _ := tradeSim(t, nil, nil)
	sc := scaleOf(s, "BTC-USDT")
	_, asks, _, _ := s.Book("binance", "BTC-USDT")
	placeIOC(t, s, "binance", exchange.Buy, num.Format(int64(asks[1].Px), sc.Px), "0.0200", "m1", "IOC")
	c := dial(t, mustURLs(t, s, "binance").Private)
	check := func(name string, got map[string]any, doc []byte, optional ...string) {
		t.Helper()
		if got["status"] != float64(200) {
			t.Fatalf("%s: %v", name, got)
		}
		if err := shapeDiff(mustJSON(got), doc, optional...); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	var st struct{ Response json.RawMessage }
	loadDoc(t, "binance/wsapi_order_status.json", &st)
	check("order.status", wsapiCall(t, c, "q1", "order.status", wsapiSign(t, signedNow(s, "symbol", "BTCUSDT", "origClientOrderId", "m1"), TestBinanceSecret, "")),
		withoutKeys(t, st.Response, "trailingDelta", "trailingTime", "strategyId", "strategyType", "preventedMatchId", "preventedQuantity"))
	var acct, trades, tm struct{ Response json.RawMessage }
	loadDoc(t, "binance/wsapi_account_status.json", &acct)
	check("account.status", wsapiCall(t, c, "a1", "account.status", wsapiSign(t, signedNow(s), TestBinanceSecret, "")), acct.Response)
	loadDoc(t, "binance/wsapi_myTrades.json", &trades)
	check("myTrades", wsapiCall(t, c, "t1", "myTrades", wsapiSign(t, signedNow(s, "symbol", "BTCUSDT"), TestBinanceSecret, "")), trades.Response)
	loadDoc(t, "binance/wsapi_time.json", &tm)
	check("time", wsapiCall(t, c, "t2", "time", nil), tm.Response)
	oo := wsapiCall(t, c, "oo", "openOrders.status", wsapiSign(t, signedNow(s, "symbol", "BTCUSDT"), TestBinanceSecret, ""))
	if fmt.Sprint(oo["result"]) != "[]" {
		t.Fatalf("openOrders.status %v", oo)
	}
	// returnRateLimits=false on the URL drops rateLimits.
	c2 := dial(t, mustURLs(t, s, "binance").Private+"?returnRateLimits=false")
	if r := wsapiCall(t, c2, "t3", "time", nil); r["rateLimits"] != nil {
		t.Fatalf("rateLimits despite returnRateLimits=false: %v", r)
	}
	// Errors: unknown method, missing apiKey, bad signature, old timestamp.
	for _, tc := range []struct {
		method string
		params map[string]any
		code   string
	}{
		{"order.fly", nil, "-1020"},
		{"account.status", map[string]any{"timestamp": s.now().UnixMilli()}, "-1102"},
		{"account.status", wsapiSign(t, signedNow(s), "wrong", ""), "-1022"},
		{"account.status", wsapiSign(t, map[string]any{"apiKey": TestBinanceKey, "timestamp": s.now().Add(-time.Minute).UnixMilli()}, TestBinanceSecret, ""), "-1021"},
	} {
		if r := wsapiCall(t, c, "e", tc.method, tc.params); !strings.Contains(fmt.Sprint(r["error"]), tc.code) {
			t.Errorf("%s: %v, want %s", tc.method, r, tc.code)
		}
	}
}

// TestWSAPIFaults: rate limits (429 with data.retryAfter, then the 418 ban
// for a request inside it), delayed and lost order.place answers (the order
// is done and its events pushed), serverShutdown in the WebSocket API form.
func TestWSAPIFaults(t *testing.T) {
	s, clk := tradeSim(t, nil, nil)
	c := dial(t, mustURLs(t, s, "binance").Private)
	s.Inject("binance", Fault{Kind: FaultRateLimit, RetryAfter: 2 * time.Second, Ban: time.Minute})
	r := wsapiCall(t, c, "r1", "time", nil)
	e, _ := r["error"].(map[string]any)
	data, _ := e["data"].(map[string]any)
	if r["status"] != float64(429) || e["code"] != float64(-1003) || data["retryAfter"] != float64(clk.Now().Add(2*time.Second).UnixMilli()) {
		t.Fatalf("429: %v", r)
	}
	r = wsapiCall(t, c, "r2", "time", nil)
	e, _ = r["error"].(map[string]any)
	data, _ = e["data"].(map[string]any)
	if r["status"] != float64(418) || data["retryAfter"] != float64(clk.Now().Add(time.Minute).UnixMilli()) {
		t.Fatalf("418: %v", r)
	}
	clk.Add(time.Minute)
	if r := wsapiCall(t, c, "r3", "time", nil); r["status"] != float64(200) {
		t.Fatalf("after the ban: %v", r)
	}

	wsapiCall(t, c, "s1", "userDataStream.subscribe.signature", wsapiSign(t, signedNow(s), TestBinanceSecret, ""))
	sc := scaleOf(s, "BTC-USDT")
	_, asks, _, _ := s.Book("binance", "BTC-USDT")
	place := func(id, cid string) {
		b, _ := json.Marshal(map[string]any{"id": id, "method": "order.place", "params": wsapiSign(t, signedNow(s, "symbol", "BTCUSDT",
			"side", "BUY", "type", "LIMIT", "timeInForce", "IOC", "price", num.Format(int64(asks[0].Px), sc.Px), "quantity", "0.0010",
			"newClientOrderId", cid), TestBinanceSecret, "")})
		c.sendText(string(b))
	}
	s.Inject("binance", Fault{Kind: FaultDelayAck, Duration: 200 * time.Millisecond})
	begin := time.Now()
	place("d1", "delay1")
	// The fill is pushed before the answer arrives.
	first := c.until(10*time.Second, func(m []byte) bool {
		return strings.Contains(string(m), `"x":"TRADE"`) || strings.Contains(string(m), `"id":"d1"`)
	})
	if !strings.Contains(string(first), `"x":"TRADE"`) {
		t.Fatalf("answer before the fill: %s", first)
	}
	c.until(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), `"id":"d1"`) })
	if time.Since(begin) < 200*time.Millisecond {
		t.Fatalf("answered after %v", time.Since(begin))
	}
	s.Inject("binance", Fault{Kind: FaultLoseAck})
	place("l1", "lost1")
	c.until(10*time.Second, func(m []byte) bool {
		return strings.Contains(string(m), `"x":"TRADE"`) && strings.Contains(string(m), "lost1")
	})
	// The next request is answered; the lost one never is.
	if r := wsapiCall(t, c, "after", "time", nil); r["status"] != float64(200) {
		t.Fatal("connection unusable after a lost answer")
	}
	for _, m := range c.drain(50 * time.Millisecond) {
		if strings.Contains(string(m), `"id":"l1"`) {
			t.Fatalf("the lost answer came: %s", m)
		}
	}
	if n := len(s.OrdersByClientID("binance", "lost1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
	if err := s.Inject("binance", Fault{Kind: FaultServerShutdown}); err != nil {
		t.Fatal(err)
	}
	m := c.until(10*time.Second, func(m []byte) bool { return strings.Contains(string(m), "serverShutdown") })
	var doc struct{ Payload json.RawMessage }
	loadDoc(t, "binance/wsapi_serverShutdown_event.json", &doc)
	if err := shapeDiff(m, doc.Payload); err != nil {
		t.Fatalf("%v: %s", err, m)
	}
}
