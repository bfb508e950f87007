package sim

import (
	"bufio"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
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
