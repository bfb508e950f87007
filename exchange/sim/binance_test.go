package sim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"arb/exchange/num"
)

type binanceDiff struct {
	E  string     `json:"e"`
	U  uint64     `json:"U"`
	LU uint64     `json:"u"`
	S  string     `json:"s"`
	B  [][]string `json:"b"`
	A  [][]string `json:"a"`
}

// binanceDiffOf decodes a diff event exactly (encoding/json would match "u"
// and "U" case-insensitively, so go through a map).
func binanceDiffOf(t testing.TB, m []byte) binanceDiff {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(m, &raw); err != nil {
		t.Fatalf("%v: %s", err, m)
	}
	var d binanceDiff
	for k, dst := range map[string]any{"e": &d.E, "U": &d.U, "u": &d.LU, "s": &d.S, "b": &d.B, "a": &d.A} {
		if err := json.Unmarshal(raw[k], dst); err != nil {
			t.Fatalf("field %s: %v: %s", k, err, m)
		}
	}
	return d
}

func TestBinanceStreamShapes(t *testing.T) {
	s := newSim(t, nil)
	u := mustURLs(t, s, "binance")
	for _, tc := range []struct {
		stream, fixture string
	}{
		{"btcusdt@depth@100ms", "binance/ws_diff_depth_payload.json"},
		{"btcusdt@bookTicker", "binance/ws_bookTicker_payload.json"},
		{"btcusdt@depth5@100ms", "binance/ws_partial_depth_payload.json"},
		{"ethusdt@depth20", "binance/ws_partial_depth_payload.json"},
		{"btcusdt@depth", "binance/ws_diff_depth_payload.json"},
	} {
		t.Run(tc.stream, func(t *testing.T) {
			want := loadPayload(t, tc.fixture)
			raw := dial(t, u.WSBase+"/ws/"+tc.stream)
			comb := dial(t, u.WSBase+"/stream?streams="+tc.stream+"/solusdt@bookTicker")
			raw.flush(KindBinance) // subscribed (in the URL, at the handshake) and nothing before the steps
			comb.flush(KindBinance)
			steps(s, 25)
			m := raw.next(2 * time.Second)
			if err := shapeDiff(m, want); err != nil {
				t.Fatalf("raw: %v\n%s", err, m)
			}
			w := comb.until(2*time.Second, func(b []byte) bool { return strings.Contains(string(b), `"stream":"`+tc.stream+`"`) })
			var env map[string]json.RawMessage
			json.Unmarshal(w, &env)
			if len(env) != 2 || env["data"] == nil {
				t.Fatalf("combined wrapper: %s", w)
			}
			if err := shapeDiff(env["data"], want); err != nil {
				t.Fatalf("combined: %v", err)
			}
			if strings.Contains(tc.stream, "bookTicker") || strings.Contains(tc.stream, "@depth@") {
				for _, p := range []string{`"b":"`, `"a":"`, `["`} {
					_ = p
				}
			}
		})
	}
}

func TestBinanceNumberFormat(t *testing.T) {
	s := newSim(t, nil)
	c := dial(t, mustURLs(t, s, "binance").WSBase+"/ws/btcusdt@depth@100ms")
	c.flush(KindBinance)
	steps(s, 3)
	d := binanceDiffOf(t, c.next(2*time.Second))
	for _, l := range append(d.B, d.A...) {
		for _, x := range l {
			if i := strings.IndexByte(x, '.'); i < 0 || len(x)-i-1 != 8 {
				t.Fatalf("%q is not printed with 8 decimals", x)
			}
		}
	}
}

func TestBinanceLiveSubscribe(t *testing.T) {
	s := newSim(t, nil)
	u := mustURLs(t, s, "binance")
	c := dial(t, u.WS)
	want := loadPayload(t, "binance/ws_subscribe_response.json")
	c.sendText(`{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms","btcusdt@aggTrade"],"id":1}`)
	r := c.next(time.Second)
	if string(r) != `{"result":null,"id":1}` {
		t.Fatalf("subscribe answer %s", r)
	}
	if err := shapeDiff(r, want); err != nil {
		t.Fatal(err)
	}
	c.sendText(`{"method":"LIST_SUBSCRIPTIONS","id":2}`)
	if r := c.next(time.Second); string(r) != `{"result":["btcusdt@aggTrade","btcusdt@depth@100ms"],"id":2}` {
		t.Fatalf("list: %s", r)
	}
	for _, tc := range []struct{ req, want string }{
		{`{"method":"SUBSCRIBEX","params":[],"id":3}`, `{"error":{"code":2,"msg":"Invalid request: unknown variant \"SUBSCRIBEX\", expected one of`},
		{`{"method":"SUBSCRIBE","params":["btcusdt@nonsense"],"id":4}`, `{"error":{"code":2,"msg":"Invalid request: invalid stream name`},
		{`{"params":[],"id":5}`, `{"error":{"code":2,"msg":"Invalid request: missing field`},
		{`{"method":"SUBSCRIBE","params":[],"id":-1}`, `{"error":{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"}}`},
		{`{not json`, `{"error":{"code":3,"msg":"Invalid JSON`},
	} {
		time.Sleep(250 * time.Millisecond) // stay under 5 messages per second
		c.sendText(tc.req)
		if r := c.next(time.Second); !strings.HasPrefix(string(r), tc.want) {
			t.Errorf("%s → %s, want prefix %s", tc.req, r, tc.want)
		}
	}
	steps(s, 2)
	d := binanceDiffOf(t, c.until(time.Second, func(b []byte) bool { return strings.Contains(string(b), "depthUpdate") }))
	if d.S != "BTCUSDT" {
		t.Fatalf("symbol %q", d.S)
	}
	// Invalid stream in the URL: refused before the upgrade.
	code, _, body := httpGet(t, u.REST+"/ws/btcusdt@bogus")
	if code != 400 || !strings.Contains(string(body), `"code":-1100`) {
		t.Fatalf("bad URL stream: %d %s", code, body)
	}
}

func TestBinanceMessageRateLimit(t *testing.T) {
	s := newSim(t, nil)
	c := dial(t, mustURLs(t, s, "binance").WS)
	for i := range 7 {
		c.c.WriteMessage(1, []byte(fmt.Sprintf(`{"method":"LIST_SUBSCRIPTIONS","id":%d}`, i)))
	}
	if !c.waitClosed(patience) {
		t.Fatal("connection over 5 messages/s not closed")
	}
}

// TestBinanceSyncProcedure runs the documented procedure against the
// simulator with an obviously-right map book: buffer the diff stream, fetch
// the snapshot, drop u ≤ lastUpdateId, check the first event brackets
// lastUpdateId+1 and every later U = previous u + 1, and compare every state
// with BookAt. Orders taken in between must show up in the stream.
func TestBinanceSyncProcedure(t *testing.T) {
	for _, tc := range []struct{ name, path, stream string }{
		{"100ms raw", "/ws/btcusdt@depth@100ms", ""},
		{"1000ms combined", "/stream?streams=btcusdt@depth", "btcusdt@depth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, nil)
			u := mustURLs(t, s, "binance")
			sc := scaleOf(s, "BTC-USDT")
			c := dial(t, u.WSBase+tc.path)
			c.flush(KindBinance)
			steps(s, 15)
			_, hdr, body := httpGet(t, u.REST+"/api/v3/depth?symbol=BTCUSDT&limit=1000")
			if hdr.Get("X-MBX-USED-WEIGHT-1M") == "" {
				t.Fatal("no weight header")
			}
			var snap struct {
				LastUpdateID uint64     `json:"lastUpdateId"`
				Bids         [][]string `json:"bids"`
				Asks         [][]string `json:"asks"`
			}
			if err := json.Unmarshal(body, &snap); err != nil {
				t.Fatal(err)
			}
			if err := shapeDiff(body, loadPayload(t, "binance/rest_depth_snapshot_response.json")); err != nil {
				t.Fatal(err)
			}
			ref := newRef()
			ref.apply(t, sc, snap.Bids, snap.Asks)
			checkAt(t, s, "binance", "BTC-USDT", snap.LastUpdateID, ref, sc)
			for i := range 40 {
				s.Step()
				if i%7 == 3 { // take liquidity from both sides
					side := []string{"BUY", "SELL"}[i%2]
					bids, asks, _, _ := s.Book("binance", "BTC-USDT")
					px := asks[2].Px
					if side == "SELL" {
						px = bids[2].Px
					}
					binanceOrderReq(t, s, url.Values{"symbol": {"BTCUSDT"}, "side": {side}, "type": {"LIMIT"},
						"timeInForce": {"IOC"}, "quantity": {"0.0100"}, "price": {num.Format(int64(px), 2)}})
				}
			}
			want, _ := s.Seq("binance", "BTC-USDT")
			s.Step() // the fills above may sit in the next state
			want, _ = s.Seq("binance", "BTC-USDT")
			steps(s, 10) // flush the 1000 ms stream
			book := snap.LastUpdateID
			started := false
			applied := 0
			for _, m := range c.flush(KindBinance) {
				if tc.stream != "" {
					var env struct {
						Stream string          `json:"stream"`
						Data   json.RawMessage `json:"data"`
					}
					json.Unmarshal(m, &env)
					if env.Stream != tc.stream {
						t.Fatalf("stream %q", env.Stream)
					}
					m = env.Data
				}
				d := binanceDiffOf(t, m)
				if d.LU <= book && !started {
					continue
				}
				if !started {
					if !(d.U <= book+1 && book+1 <= d.LU) {
						t.Fatalf("first event [%d,%d] does not contain lastUpdateId+1=%d", d.U, d.LU, book+1)
					}
					started = true
				} else if d.U != book+1 {
					t.Fatalf("gap: U=%d after u=%d", d.U, book)
				}
				ref.apply(t, sc, d.B, d.A)
				book = d.LU
				checkAt(t, s, "binance", "BTC-USDT", book, ref, sc)
				applied++
			}
			if applied == 0 || book < want {
				t.Fatalf("applied %d events, book at %d, want ≥ %d", applied, book, want)
			}
			// The full reconstructed book equals the venue's whole book.
			gb, ga := ref.levels(t, sc, 1000)
			sb, sa, seq, _ := s.Book("binance", "BTC-USDT")
			if seq == book && (!levelsEqual(gb, sb) || !levelsEqual(ga, sa)) {
				t.Fatal("full book differs")
			}
		})
	}
}

// binanceSignedQuery signs params (in the given order) with the test secret.
func binanceSignedQuery(params url.Values, secret string, now time.Time) string {
	if params.Get("timestamp") == "" {
		params.Set("timestamp", strconv.FormatInt(now.UnixMilli(), 10))
	}
	q := params.Encode()
	return q + "&signature=" + binanceSign(secret, q)
}

func binanceOrderReq(t testing.TB, s *Sim, p url.Values) (int, []byte) {
	t.Helper()
	u := mustURLs(t, s, "binance")
	q := binanceSignedQuery(p, TestBinanceSecret, s.now())
	code, _, body := httpDo(t, "POST", u.REST+"/api/v3/order?"+q, map[string]string{"X-MBX-APIKEY": TestBinanceKey}, "")
	return code, body
}

func TestBinanceSignatureVectors(t *testing.T) {
	var f struct {
		Vectors []struct {
			Name   string
			Inputs struct {
				SecretKey        string     `json:"secretKey"`
				ParamsInOrder    [][]string `json:"params_in_order"`
				SignaturePayload string     `json:"signature_payload"`
			}
			Expected string
		}
	}
	loadJSON(t, "binance/auth_hmac_rest_vectors.json", &f)
	if len(f.Vectors) != 2 {
		t.Fatal("vectors missing")
	}
	for _, v := range f.Vectors {
		if got := binanceSign(v.Inputs.SecretKey, v.Inputs.SignaturePayload); got != v.Expected {
			t.Errorf("%s: %s, want %s", v.Name, got, v.Expected)
		}
		// The payload rule: query + body, signature removed, no separator.
		q := v.Inputs.SignaturePayload
		mid := strings.Index(q, "&type=")
		p, sig := binanceTotalParams(q[:mid], q[mid+1:]+"&signature="+v.Expected)
		if sig != v.Expected || binanceSign(v.Inputs.SecretKey, p) == v.Expected {
			t.Errorf("%s: split payload must concatenate without '&' (and so sign differently)", v.Name)
		}
		p, sig = binanceTotalParams(q+"&signature="+v.Expected, "")
		if p != q || sig != v.Expected {
			t.Errorf("%s: query payload %q sig %q", v.Name, p, sig)
		}
	}
	// A venue configured with the documented key verifies the documented
	// signature end to end (only the clock check fails: 2017 timestamp).
	s := newSim(t, func(c *Config) {
		c.Venues[0].APIKey = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
		c.Venues[0].APISecret = f.Vectors[0].Inputs.SecretKey
		c.Clock = func() time.Time { return time.UnixMilli(1499827319559 + 100) }
	})
	u := mustURLs(t, s, "binance")
	code, _, body := httpDo(t, "POST", u.REST+"/api/v3/order?"+f.Vectors[0].Inputs.SignaturePayload+"&signature="+f.Vectors[0].Expected,
		map[string]string{"X-MBX-APIKEY": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"}, "")
	// Signature and time pass; LTCBTC is not listed.
	if code != 400 || !strings.Contains(string(body), `-1121`) {
		t.Fatalf("documented vector end to end: %d %s", code, body)
	}
	code, _, body = httpDo(t, "POST", u.REST+"/api/v3/order?"+f.Vectors[0].Inputs.SignaturePayload+"&signature="+strings.ToUpper(f.Vectors[0].Expected),
		map[string]string{"X-MBX-APIKEY": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"}, "")
	if !strings.Contains(string(body), `-1121`) {
		t.Fatalf("upper-case signature must be accepted: %d %s", code, body)
	}
	// The same with the body carrying part of the parameters.
	q := f.Vectors[0].Inputs.SignaturePayload
	mid := strings.Index(q, "&type=")
	qs, bs := q[:mid], q[mid+1:]
	sig := binanceSign(f.Vectors[0].Inputs.SecretKey, qs+bs)
	code, _, body = httpDo(t, "POST", u.REST+"/api/v3/order?"+qs, map[string]string{
		"X-MBX-APIKEY": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
		"Content-Type": "application/x-www-form-urlencoded"}, bs+"&signature="+sig)
	if !strings.Contains(string(body), `-1121`) {
		t.Fatalf("query+body signature: %d %s", code, body)
	}
}

func TestBinanceAuthErrors(t *testing.T) {
	s := newSim(t, nil)
	u := mustURLs(t, s, "binance")
	now := time.Now()
	base := func() url.Values {
		return url.Values{"symbol": {"BTCUSDT"}, "side": {"BUY"}, "type": {"LIMIT"}, "timeInForce": {"IOC"}, "quantity": {"0.0010"}, "price": {"1000.00"}}
	}
	errShape := loadPayload(t, "binance/rest_error_payload.json")
	for _, tc := range []struct {
		name   string
		key    string
		query  func() string
		status int
		code   int
	}{
		{"no key", "", func() string { return binanceSignedQuery(base(), TestBinanceSecret, now) }, 401, -2014},
		{"wrong key", "nope", func() string { return binanceSignedQuery(base(), TestBinanceSecret, now) }, 401, -2015},
		{"bad signature", TestBinanceKey, func() string { return binanceSignedQuery(base(), "wrong", now) }, 401, -1022},
		{"no signature", TestBinanceKey, func() string { return base().Encode() + "&timestamp=1" }, 400, -1102},
		{"ahead", TestBinanceKey, func() string { return binanceSignedQuery(base(), TestBinanceSecret, now.Add(1500*time.Millisecond)) }, 400, -1021},
		{"too old", TestBinanceKey, func() string { return binanceSignedQuery(base(), TestBinanceSecret, now.Add(-6*time.Second)) }, 400, -1021},
		{"recvWindow over max", TestBinanceKey, func() string {
			p := base()
			p.Set("recvWindow", "60001")
			return binanceSignedQuery(p, TestBinanceSecret, now)
		}, 400, -1131},
		{"old within recvWindow", TestBinanceKey, func() string {
			p := base()
			p.Set("recvWindow", "20000")
			p.Set("price", "1000.05") // off the 0.10 tick: reaches the filters
			return binanceSignedQuery(p, TestBinanceSecret, now.Add(-10*time.Second))
		}, 400, -1013},
		{"bad timeInForce", TestBinanceKey, func() string {
			p := base()
			p.Set("timeInForce", "GTX")
			return binanceSignedQuery(p, TestBinanceSecret, now)
		}, 400, -1115},
		{"MARKET refused", TestBinanceKey, func() string {
			p := base()
			p.Set("type", "MARKET")
			return binanceSignedQuery(p, TestBinanceSecret, now)
		}, 400, -1116},
		{"too precise", TestBinanceKey, func() string {
			p := base()
			p.Set("quantity", "0.000000001")
			return binanceSignedQuery(p, TestBinanceSecret, now)
		}, 400, -1111},
		{"below notional", TestBinanceKey, func() string {
			p := base()
			p.Set("quantity", "0.0001")
			p.Set("price", "10.00")
			return binanceSignedQuery(p, TestBinanceSecret, now)
		}, 400, -1013},
		{"unknown symbol", TestBinanceKey, func() string {
			p := base()
			p.Set("symbol", "XRPUSDT")
			return binanceSignedQuery(p, TestBinanceSecret, now)
		}, 400, -1121},
	} {
		hdr := map[string]string{}
		if tc.key != "" {
			hdr["X-MBX-APIKEY"] = tc.key
		}
		code, _, body := httpDo(t, "POST", u.REST+"/api/v3/order?"+tc.query(), hdr, "")
		var e binanceErr
		json.Unmarshal(body, &e)
		if code != tc.status || e.Code != tc.code {
			t.Errorf("%s: HTTP %d %s, want %d code %d", tc.name, code, body, tc.status, tc.code)
		}
		if err := shapeDiff(body, errShape); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestBinanceRESTShapes(t *testing.T) {
	s := newSim(t, nil)
	u := mustURLs(t, s, "binance")
	_, _, body := httpGet(t, u.REST+"/api/v3/exchangeInfo")
	if err := shapeDiff(body, loadPayload(t, "binance/rest_exchangeInfo_response.json"), "sors"); err != nil {
		t.Fatal(err)
	}
	var info struct {
		Symbols []struct {
			Symbol  string            `json:"symbol"`
			Filters []json.RawMessage `json:"filters"`
		} `json:"symbols"`
	}
	json.Unmarshal(body, &info)
	if len(info.Symbols) != 3 || len(info.Symbols[0].Filters) != 3 {
		t.Fatalf("exchangeInfo: %s", body)
	}
	for i, f := range []string{"filter_PRICE_FILTER", "filter_LOT_SIZE", "filter_NOTIONAL"} {
		if err := shapeDiff(info.Symbols[0].Filters[i], loadPayload(t, "binance/"+f+".json")); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if !strings.Contains(string(info.Symbols[0].Filters[0]), `"tickSize":"0.10000000"`) {
		t.Errorf("tick: %s", info.Symbols[0].Filters[0])
	}
	code, _, body := httpGet(t, u.REST+"/api/v3/time")
	var tm map[string]int64
	if json.Unmarshal(body, &tm); code != 200 || tm["serverTime"] == 0 {
		t.Fatalf("time: %s", body)
	}
	code, _, body = httpGet(t, u.REST+"/api/v3/depth?symbol=FOOUSDT")
	if code != 400 || !strings.Contains(string(body), "-1121") {
		t.Fatalf("depth unknown symbol: %d %s", code, body)
	}
	_, _, body = httpGet(t, u.REST+"/api/v3/depth?symbol=ETHUSDT&limit=5")
	var snap struct{ Bids, Asks [][]string }
	json.Unmarshal(body, &snap)
	if len(snap.Bids) != 5 || len(snap.Asks) != 5 {
		t.Fatalf("limit 5: %s", body)
	}
}

// TestBinanceDiffViewOverflow: a view that gathered more touched levels than
// it may keep skips to the current state, so the next event shows a gap in
// U instead of a wrong book.
func TestBinanceDiffViewOverflow(t *testing.T) {
	dv := binanceDiffView{touched: [2]map[int64]struct{}{{}, {}}, lastU: 10}
	d := &delta{}
	for i := range 1000 {
		d.bids = append(d.bids, lvl{int64(i), 1})
	}
	u := uint64(10)
	for k := range 70 {
		for i := range d.bids {
			d.bids[i].px = int64(k*1000 + i)
		}
		u++
		dv.touch(d, u)
	}
	if dv.lastU == 10 || len(dv.touched[0]) > maxTouched {
		t.Fatalf("overflow not handled: lastU %d, %d touched", dv.lastU, len(dv.touched[0]))
	}
}
