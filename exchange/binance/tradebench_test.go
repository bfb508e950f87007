package binance

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/shopspring/decimal"

	"arb/exchange"
)

// benchClient is a client of btcusdt with a measured offset; it does no
// I/O unless pointed at a server.
func benchClient(tb testing.TB, rest, ws string, entry string) *Client {
	tb.Helper()
	c, err := NewClient(ClientConfig{Venue: 1, Name: "binance-bench", RESTURL: rest, WSAPIURL: ws, Credentials: hmacCreds(tb),
		Instruments: []exchange.Instrument{btcusdt()}, OrderEntry: entry, Logger: discard(),
		OrdersPer10s: 1 << 30, OrdersPerDay: 1 << 30, WeightPerMinute: 1 << 30, RawPer5m: 1 << 30})
	if err != nil {
		tb.Fatal(err)
	}
	c.synced.Store(true)
	return c
}

// TestOrderBuildNoAllocs: building and signing one order — rounding,
// parameters, the REST body with its HMAC signature, and the WebSocket
// API frame with its sorted-payload signature — allocates nothing.
func TestOrderBuildNoAllocs(t *testing.T) {
	c := benchClient(t, "http://127.0.0.1:1", "ws://127.0.0.1:1/ws-api/v3", OrderEntryREST)
	b := c.getBuf()
	in := c.inst(3)
	req := order("alloc1", exchange.Buy, "30000.01", "0.01234")
	n := testing.AllocsPerRun(1000, func() {
		px, qty, err := roundOrder(&in.Instrument, req.Side, req.Px, req.Qty)
		if err != nil {
			t.Fatal(err)
		}
		c.orderParams(b, in, &req, px, qty, "IOC")
		b.body = c.appendSigned(b, b.params.appendQuery(b.body[:0]))
		c.orderParams(b, in, &req, px, qty, "IOC")
		b.body = c.appendWSSigned(b, false, 12345, "order.place")
	})
	if n != 0 {
		t.Fatalf("%v allocs per order", n)
	}
}

// textbookREST is how a typical client builds the same request: url.Values,
// decimal formatting, a new HMAC per call, an http.Request.
func textbookREST(urlStr, key, secret string, sym, side string, px, qty decimal.Decimal, cid string, ts int64) (*http.Request, error) {
	v := url.Values{}
	v.Set("symbol", sym)
	v.Set("side", side)
	v.Set("type", "LIMIT")
	v.Set("timeInForce", "IOC")
	v.Set("quantity", qty.String())
	v.Set("price", px.String())
	v.Set("newClientOrderId", cid)
	v.Set("newOrderRespType", "FULL")
	v.Set("recvWindow", "5000")
	v.Set("timestamp", strconv.FormatInt(ts, 10))
	q := v.Encode()
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(q))
	body := q + "&signature=" + hex.EncodeToString(m.Sum(nil))
	r, err := http.NewRequest(http.MethodPost, urlStr, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("X-MBX-APIKEY", key)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r, nil
}

// textbookWS builds the order.place frame with a params map, sorted keys,
// fmt, a new HMAC and encoding/json.
func textbookWS(key, secret string, sym, side string, px, qty decimal.Decimal, cid string, ts int64, id int) ([]byte, error) {
	params := map[string]any{"symbol": sym, "side": side, "type": "LIMIT", "timeInForce": "IOC", "quantity": qty.String(),
		"price": px.String(), "newClientOrderId": cid, "newOrderRespType": "FULL", "recvWindow": 5000, "timestamp": ts, "apiKey": key}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, params[k])
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strings.Join(parts, "&")))
	params["signature"] = hex.EncodeToString(m.Sum(nil))
	return json.Marshal(map[string]any{"id": strconv.Itoa(id), "method": "order.place", "params": params})
}

// BenchmarkOrderBuild: one order request built and signed, the client's
// path against the textbook one, REST and WebSocket API.
func BenchmarkOrderBuild(b *testing.B) {
	c := benchClient(b, "http://127.0.0.1:1", "ws://127.0.0.1:1/ws-api/v3", OrderEntryREST)
	buf := c.getBuf()
	in := c.inst(3)
	req := order("bench1", exchange.Buy, "30000.01", "0.01234")
	pxD, qtyD := decimal.New(int64(req.Px), -2), decimal.New(int64(req.Qty), -5)
	b.Run("rest/fast", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			px, qty, _ := roundOrder(&in.Instrument, req.Side, req.Px, req.Qty)
			c.orderParams(buf, in, &req, px, qty, "IOC")
			buf.body = c.appendSigned(buf, buf.params.appendQuery(buf.body[:0]))
		}
	})
	b.Run("rest/fast+http.Request", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			px, qty, _ := roundOrder(&in.Instrument, req.Side, req.Px, req.Qty)
			c.orderParams(buf, in, &req, px, qty, "IOC")
			buf.body = c.appendSigned(buf, buf.params.appendQuery(buf.body[:0]))
			buf.rd.Reset(buf.body)
			r, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, c.orderURL, &buf.rd)
			c.setHeaders(r, true)
		}
	})
	b.Run("rest/textbook", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := textbookREST(c.orderURL, fakeKey, fakeSecret, "BTCUSDT", "BUY", pxD, qtyD, "bench1", 1660801715431); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ws/fast", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			px, qty, _ := roundOrder(&in.Instrument, req.Side, req.Px, req.Qty)
			c.orderParams(buf, in, &req, px, qty, "IOC")
			buf.body = c.appendWSSigned(buf, false, uint64(i), "order.place")
		}
	})
	b.Run("ws/textbook", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := textbookWS(fakeKey, fakeSecret, "BTCUSDT", "BUY", pxD, qtyD, "bench1", 1660801715431, i); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// firstByteConn records when the first bytes of a request arrive at the
// loopback server: after arm, the next Read that returns data stores its
// time.
type firstByteConn struct {
	net.Conn
	armed *atomic.Bool
	at    *atomic.Int64
}

func (c *firstByteConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.armed.CompareAndSwap(true, false) {
		c.at.Store(time.Now().UnixNano())
	}
	return n, err
}

type firstByteListener struct {
	net.Listener
	armed *atomic.Bool
	at    *atomic.Int64
}

func (l *firstByteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &firstByteConn{Conn: c, armed: l.armed, at: l.at}, nil
}

// fullAnswer is a FULL answer of a filled IOC, the shape of the documented
// one.
func fullAnswer(cid string) []byte {
	return []byte(`{"symbol":"BTCUSDT","orderId":12569099453,"orderListId":-1,"clientOrderId":"` + cid + `","transactTime":1660801715793,` +
		`"price":"30000.01000000","origQty":"0.01234000","executedQty":"0.01234000","origQuoteOrderQty":"0.000000",` +
		`"cummulativeQuoteQty":"370.20012340","status":"FILLED","timeInForce":"IOC","type":"LIMIT","side":"BUY",` +
		`"workingTime":1660801715793,"fills":[{"price":"30000.01000000","qty":"0.01234000","commission":"0.00001234",` +
		`"commissionAsset":"BTC","tradeId":1650422481}],"selfTradePreventionMode":"NONE"}`)
}

// nopSink discards what the client delivers.
type nopSink struct{}

func (nopSink) OnOrder(exchange.OrderState) {}
func (nopSink) OnFill(exchange.Fill)        {}
func (nopSink) OnStream(bool)               {}

// latencyServer is a loopback venue answering every order at once with a
// FULL answer (REST and WebSocket API), recording first-byte times.
type latencyServer struct {
	srv   *httptest.Server
	armed atomic.Bool
	at    atomic.Int64
}

func newLatencyServer(tb testing.TB) *latencyServer {
	ls := &latencyServer{}
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v3/order", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.Write(fullAnswer(r.PostForm.Get("newClientOrderId")))
	})
	mux.HandleFunc("/api/v3/time", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"serverTime":%d}`, time.Now().UnixMilli())
	})
	mux.HandleFunc("/ws-api/v3", func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		var req struct {
			ID     string `json:"id"`
			Params struct {
				Cid string `json:"newClientOrderId"`
			} `json:"params"`
		}
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if json.Unmarshal(msg, &req) != nil {
				continue
			}
			out := `{"id":"` + req.ID + `","status":200,"result":` + string(fullAnswer(req.Params.Cid)) + `}`
			ws.WriteMessage(websocket.TextMessage, []byte(out))
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ls.srv = httptest.NewUnstartedServer(mux)
	ls.srv.Listener = &firstByteListener{Listener: ln, armed: &ls.armed, at: &ls.at}
	ls.srv.Start()
	tb.Cleanup(ls.srv.Close)
	return ls
}

// BenchmarkOrderToWire: PlaceOrder over loopback, from the call to the
// first request byte read by the server (p50/p99 reported), REST and
// WebSocket API order entry. Each iteration is one full order round trip;
// allocs/op counts the client and the in-process server together.
func BenchmarkOrderToWire(b *testing.B) {
	for _, path := range []string{"rest", "ws"} {
		b.Run(path, func(b *testing.B) {
			ls := newLatencyServer(b)
			entry := OrderEntryREST
			if path == "ws" {
				entry = OrderEntryAuto
			}
			c := benchClient(b, ls.srv.URL, "ws"+strings.TrimPrefix(ls.srv.URL, "http")+"/ws-api/v3", entry)
			c.setSink(nopSink{})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); c.Run(ctx) }()
			defer func() { cancel(); <-done }()
			if path == "ws" {
				eventually(b, 10*time.Second, "order socket", func() bool { return c.ws.usable() != nil })
			}
			// Warm up: connections open and pooled buffers grown.
			reqs := make([]exchange.OrderRequest, b.N+64)
			for i := range reqs {
				reqs[i] = order("o"+strconv.Itoa(i), exchange.Buy, "30000.01", "0.01234")
			}
			for i := 0; i < 64; i++ {
				if _, err := c.PlaceOrder(ctx, reqs[b.N+i]); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ls.armed.Store(true)
				t0 := time.Now()
				if _, err := c.PlaceOrder(ctx, reqs[i]); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Duration(ls.at.Load()-t0.UnixNano()))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
			if path == "ws" && c.Stats().OrdersWS.Load() == 0 {
				b.Fatal("no order went over the socket")
			}
		})
	}
}
