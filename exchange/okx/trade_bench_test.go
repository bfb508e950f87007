package okx

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"arb/exchange"
	"arb/exchange/internal/gate"
	"arb/exchange/num"
)

// --- allocation guards (tests, not only benchmarks) ---

// The bytes of an order request — rounding, body, timestamp, signature —
// are built in reused buffers without allocating.
func TestOrderBuildAllocs(t *testing.T) {
	c := newTestClientOffline(t)
	in := c.inst(1)
	b := newOrderBuf(docSecret)
	clid := exchange.MustID("alloc1")
	now := time.Unix(1_700_000_000, 123_000_000)
	n := testing.AllocsPerRun(1000, func() {
		r, why := roundOrder(&in.Instrument, exchange.Buy, 3000055, 12345)
		if why != "" {
			t.Fatal(why)
		}
		b.path = append(b.path[:0], pathPlaceOrder...)
		b.body = appendRESTOrder(b.body[:0], in, &clid, exchange.Buy, "ioc", r)
		b.ts = appendISO(b.ts[:0], now)
		b.sg.sign(b.ts, methodPOST.b, b.path, b.body)
	})
	if n != 0 {
		t.Fatalf("REST order build+sign: %v allocs", n)
	}
	n = testing.AllocsPerRun(1000, func() {
		r, _ := roundOrder(&in.Instrument, exchange.Sell, 3000055, 12345)
		b.body = appendWSOrder(b.body[:0], 42, 1_700_000_005_000, 10001, in, &clid, exchange.Sell, "ioc", r)
	})
	if n != 0 {
		t.Fatalf("WS order build: %v allocs", n)
	}
}

// The REST order request as handed to net/http allocates only the
// request's shallow copy (its context) and the three header strings.
func TestOrderRequestAllocs(t *testing.T) {
	c := newTestClientOffline(t)
	c.clock.ok.Store(true)
	in := c.inst(1)
	b := newOrderBuf(docSecret)
	b.url = c.urlPlace
	clid := exchange.MustID("alloc1")
	ctx := context.Background()
	n := testing.AllocsPerRun(1000, func() {
		r, _ := roundOrder(&in.Instrument, exchange.Buy, 3000055, 12345)
		b.path = append(b.path[:0], pathPlaceOrder...)
		b.body = appendRESTOrder(b.body[:0], in, &clid, exchange.Buy, "ioc", r)
		req, err := c.newRequest(ctx, opPlace, methodPOST, b, true)
		if err != nil || req.URL.Path != pathPlaceOrder || req.ContentLength != int64(len(b.body)) {
			t.Fatal(err)
		}
	})
	if n > 4 {
		t.Fatalf("REST order request: %v allocs, want ≤ 4", n)
	}
}

// Reading an order acknowledgement and a private push allocates nothing.
func TestReplyParseAllocs(t *testing.T) {
	c := newTestClientOffline(t)
	in := c.inst(1)
	ack := sharedDoc(t, "rest_place_order_response.json", "payload")
	push := sharedDoc(t, "ws_orders_push.json", "push")
	e := newEnvelope(4, 0)
	clid := exchange.MustID("oktswap6")
	n := testing.AllocsPerRun(1000, func() {
		if err := e.parse(ack); err != nil {
			t.Fatal(err)
		}
		var st exchange.OrderState
		if err := c.readAck(e, &clid, &st); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("ack: %v allocs", n)
	}
	pe := newEnvelope(listLimit, 0)
	n = testing.AllocsPerRun(1000, func() {
		if err := pe.parse(push); err != nil {
			t.Fatal(err)
		}
		r := &pe.rows[0]
		if _, err := orderStateFrom(r, testVenue, &in.Instrument); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := fillFrom(r, fillFromPush, testVenue, &in.Instrument); !ok || err != nil {
			t.Fatal(ok, err)
		}
	})
	if n != 0 {
		t.Fatalf("orders push: %v allocs", n)
	}
}

// --- building and signing one order: arb vs the textbook path ---

// textbookOrder is the usual client: a struct through encoding/json, a
// new HMAC per call, time.Format, and net/http's request with headers set
// one by one.
type textbookOrder struct {
	InstID  string `json:"instId"`
	TdMode  string `json:"tdMode"`
	ClOrdID string `json:"clOrdId"`
	Side    string `json:"side"`
	OrdType string `json:"ordType"`
	Px      string `json:"px"`
	Sz      string `json:"sz"`
}

func textbookRequest(base, secret string, creds Credentials, px, sz string) (*http.Request, error) {
	body, err := json.Marshal(textbookOrder{InstID: "BTC-USDT", TdMode: "cash", ClOrdID: "bench1", Side: "buy", OrdType: "ioc", Px: px, Sz: sz})
	if err != nil {
		return nil, err
	}
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "POST" + pathPlaceOrder + string(body)))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	req, err := http.NewRequest(http.MethodPost, base+pathPlaceOrder, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("OK-ACCESS-KEY", creds.Key)
	req.Header.Set("OK-ACCESS-SIGN", sig)
	req.Header.Set("OK-ACCESS-TIMESTAMP", ts)
	req.Header.Set("OK-ACCESS-PASSPHRASE", creds.Passphrase)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("expTime", strconv.FormatInt(time.Now().Add(5*time.Second).UnixMilli(), 10))
	return req, nil
}

// BenchmarkOrderBuild: building and signing one order request.
//
//	textbook:  encoding/json + hmac.New + time.Format + http.NewRequest + Header.Set
//	arb-http:  what PlaceOrder's REST path builds (newRequest: rounding, body, sign, net/http request)
//	arb-bytes: the bytes alone (rounding, body, timestamp, signature into reused buffers)
//	arb-ws:    the WebSocket order frame (the socket is logged in once; no per-order signature)
func BenchmarkOrderBuild(b *testing.B) {
	c := newTestClientOffline(b)
	in := c.inst(1)
	clid := exchange.MustID("bench1")
	b.Run("textbook", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			px := num.Format(int64(num.FloorTo(3000055, 10)), 2)
			sz := num.Format(12345, 8)
			if _, err := textbookRequest(c.cfg.RESTURL, docSecret, testCreds, px, sz); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("arb-http", func(b *testing.B) {
		ob := newOrderBuf(docSecret)
		ob.url = c.urlPlace
		ctx := context.Background()
		c.clock.ok.Store(true)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r, _ := roundOrder(&in.Instrument, exchange.Buy, 3000055, 12345)
			ob.path = append(ob.path[:0], pathPlaceOrder...)
			ob.body = appendRESTOrder(ob.body[:0], in, &clid, exchange.Buy, "ioc", r)
			if _, err := c.newRequest(ctx, opPlace, methodPOST, ob, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("arb-bytes", func(b *testing.B) {
		ob := newOrderBuf(docSecret)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r, _ := roundOrder(&in.Instrument, exchange.Buy, 3000055, 12345)
			ob.path = append(ob.path[:0], pathPlaceOrder...)
			ob.body = appendRESTOrder(ob.body[:0], in, &clid, exchange.Buy, "ioc", r)
			ob.ts = appendISO(ob.ts[:0], time.Now())
			ob.sg.sign(ob.ts, methodPOST.b, ob.path, ob.body)
		}
	})
	b.Run("arb-ws", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r, _ := roundOrder(&in.Instrument, exchange.Buy, 3000055, 12345)
			buf = appendWSOrder(buf[:0], uint64(i+1), time.Now().UnixMilli()+5000, 10001, in, &clid, exchange.Buy, "ioc", r)
		}
	})
}

// --- order to first byte on the wire ---

// stampConn records when bytes of a new request first arrive: the first
// Read returning data after arm.
type stampConn struct {
	net.Conn
	armed atomic.Bool
	at    chan time.Time
}

func (s *stampConn) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	if n > 0 && s.armed.CompareAndSwap(true, false) {
		s.at <- time.Now()
	}
	return n, err
}

// stampListener wraps every accepted connection in a stampConn and hands
// it to conns.
type stampListener struct {
	net.Listener
	conns chan *stampConn
}

func (l *stampListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &stampConn{Conn: c, at: make(chan time.Time, 1)}
	l.conns <- sc
	return sc, nil
}

// unlimit replaces the gate's documented budgets by unbounded ones (the
// benchmark sends thousands of orders per second to a local server).
func unlimit(c *Client) {
	bs := slices.Clone(c.budgets)
	for i := range bs {
		bs[i].Limit = 1 << 40
	}
	c.gate = gate.New(gate.Config{Budgets: bs})
}

// wireBench measures PlaceOrder's call to the first byte of the request at
// the server, b.N orders, and reports p50/p99.
func wireBench(b *testing.B, entry OrderEntry) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sl := &stampListener{Listener: ln, conns: make(chan *stampConn, 16)}
	ack := []byte(`{"code":"0","msg":"","data":[{"clOrdId":"","ordId":"312269865356374016","tag":"","ts":"1695190491421","sCode":"0","sMsg":""}],"inTime":"1","outTime":"2"}`)
	mux := http.NewServeMux()
	mux.HandleFunc(pathTime, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"code":"0","msg":"","data":[{"ts":"%d"}]}`, time.Now().UnixMilli())
	})
	mux.HandleFunc(InstrumentsPath, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"code":"0","msg":"","data":[{"instId":"BTC-USDT","instIdCode":10001}]}`)
	})
	mux.HandleFunc(pathPlaceOrder, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(ack)
	})
	up := websocket.Upgrader{}
	mux.HandleFunc(PrivatePath, func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.ReadMessage() // login
		conn.WriteMessage(websocket.TextMessage, []byte(`{"event":"login","code":"0","msg":"","connId":"a4d3ae55"}`))
		var out []byte
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if string(msg) == "ping" {
				conn.WriteMessage(websocket.TextMessage, []byte("pong"))
				continue
			}
			i := bytes.Index(msg, []byte(`"id":"`))
			j := bytes.IndexByte(msg[i+6:], '"')
			out = append(out[:0], `{"id":"`...)
			out = append(out, msg[i+6:i+6+j]...)
			out = append(out, `","op":"order","data":[{"clOrdId":"","ordId":"12345689","tag":"","ts":"1695190491421","sCode":"0","sMsg":""}],"code":"0","msg":"","inTime":"1","outTime":"2"}`...)
			conn.WriteMessage(websocket.TextMessage, out)
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(sl)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	c, err := NewClient(ClientConfig{Venue: testVenue, RESTURL: base, PrivateWSURL: "ws://" + ln.Addr().String(),
		Credentials: testCreds, Instruments: tradeInsts(), OrderEntry: entry, MaxInFlight: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	unlimit(c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	if entry == OrderEntryWS {
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
		for !c.ows.up() {
			time.Sleep(time.Millisecond) // benchmark setup only
		}
	}
	defer wg.Wait()
	defer cancel()
	// The connection that will carry orders: REST's idle keep-alive
	// connection (opened by Start's time requests) or the order socket.
	var conn *stampConn
	for len(sl.conns) > 0 {
		conn = <-sl.conns
	}
	order := func(prefix byte, i int) time.Duration {
		var idb [20]byte
		clid, _ := exchange.IDFromBytes(strconv.AppendInt(append(idb[:0], prefix), int64(i), 10))
		req := exchange.OrderRequest{ClientID: clid, Inst: 1, Side: exchange.Buy, Px: 3000055, Qty: 12345, TIF: exchange.IOC}
		conn.armed.Store(true)
		t0 := time.Now()
		if _, err := c.PlaceOrder(ctx, req); err != nil {
			b.Fatal(err)
		}
		c.inflight.remove(clid) // the private stream would report it final
		select {
		case t1 := <-conn.at:
			return t1.Sub(t0)
		default:
			b.Fatal("the order did not travel on the expected connection")
		}
		return 0
	}
	for i := 0; i < 200; i++ { // warm up
		order('w', i)
	}
	lat := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lat[i] = order('b', i)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	if entry == OrderEntryWS && c.Stats().OrdersWS.Load() == 0 || entry == OrderEntryREST && c.Stats().OrdersREST.Load() == 0 {
		b.Fatal("orders did not take the measured path")
	}
}

// BenchmarkOrderToWire: from the PlaceOrder call to the first byte of the
// request arriving at a loopback server (p50/p99 reported; ns/op is the
// full round trip including the server's answer).
func BenchmarkOrderToWire(b *testing.B) {
	b.Run("rest", func(b *testing.B) { wireBench(b, OrderEntryREST) })
	b.Run("ws", func(b *testing.B) { wireBench(b, OrderEntryWS) })
}
