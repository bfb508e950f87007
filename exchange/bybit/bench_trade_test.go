package bybit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"arb/exchange"
	"arb/exchange/internal/gate"
	"arb/exchange/internal/jsonscan"
)

// --- building and signing one order request ---

// benchReq is the order both paths build: a buy of 0.012345 BTC at 30000.
var benchReq = exchange.OrderRequest{ClientID: exchange.MustID("arb1700000000leg1a0"), Venue: 3, Inst: 1, Side: exchange.Buy,
	Px: 3000007, Qty: 12345, TIF: exchange.IOC}

// textbookOrder is how an order request is commonly built: a struct,
// encoding/json, a fresh HMAC, hex, net/http's constructor and Header.Set.
type textbookOrder struct {
	Category    string `json:"category"`
	Symbol      string `json:"symbol"`
	Side        string `json:"side"`
	OrderType   string `json:"orderType"`
	Qty         string `json:"qty"`
	Price       string `json:"price"`
	TimeInForce string `json:"timeInForce"`
	OrderLinkID string `json:"orderLinkId"`
}

func textbookRequest(ctx context.Context, base, key, secret string, ts int64, req *exchange.OrderRequest, in *exchange.Instrument) (*http.Request, error) {
	px := float64(req.Px) / 100 // the textbook rounds in float
	px = float64(int64(px*10)) / 10
	body, err := json.Marshal(textbookOrder{Category: "spot", Symbol: in.Symbol, Side: "Buy", OrderType: "Limit",
		Qty: strconv.FormatFloat(float64(req.Qty)/1e6, 'f', -1, 64), Price: strconv.FormatFloat(px, 'f', -1, 64),
		TimeInForce: "IOC", OrderLinkID: req.ClientID.String()})
	if err != nil {
		return nil, err
	}
	tss := strconv.FormatInt(ts, 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(tss + key + "5000" + string(body)))
	sig := hex.EncodeToString(m.Sum(nil))
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v5/order/create", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-BAPI-API-KEY", key)
	r.Header.Set("X-BAPI-TIMESTAMP", tss)
	r.Header.Set("X-BAPI-RECV-WINDOW", "5000")
	r.Header.Set("X-BAPI-SIGN", sig)
	return r, nil
}

// offlineClient is a client that does no I/O, for the build benchmarks.
func offlineClient(tb testing.TB) *Client {
	c, err := NewClient(ClientConfig{Venue: 3, RESTURL: "https://api.bybit.com", Credentials: testCredentials(tb),
		Instruments: testInstruments(), OrderEntry: OrderEntryREST})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// BenchmarkOrderBuildSign: from an OrderRequest to a signed request ready
// for the transport. arb-rest = rounding and filters, the body into the
// slot's buffer, signing, the reused request with ctx; arb-ws = rounding,
// filters and the order.create message (the socket is authenticated once);
// textbook = struct + encoding/json + hmac.New + hex + http.NewRequest +
// Header.Set.
func BenchmarkOrderBuildSign(b *testing.B) {
	c := offlineClient(b)
	in := &c.insts.list[0]
	ctx := context.Background()
	b.Run("arb-rest", func(b *testing.B) {
		s, _ := c.take(ctx)
		defer s.release()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			o, err := prepareOrder(in, &benchReq)
			if err != nil {
				b.Fatal(err)
			}
			s.body = appendOrderBody(s.body[:0], &o)
			req := s.restRequest(ctx, 1700000000000+int64(i))
			if req.ContentLength == 0 {
				b.Fatal("empty")
			}
		}
	})
	b.Run("arb-rest-body", func(b *testing.B) {
		// The body and its signature only, without the http.Request.
		s, _ := c.take(ctx)
		defer s.release()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			o, err := prepareOrder(in, &benchReq)
			if err != nil {
				b.Fatal(err)
			}
			s.body = appendOrderBody(s.body[:0], &o)
			s.sg.sign(1700000000000+int64(i), s.body)
		}
	})
	b.Run("arb-ws", func(b *testing.B) {
		s, _ := c.take(ctx)
		defer s.release()
		t := newTradeSocket(c)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			o, err := prepareOrder(in, &benchReq)
			if err != nil {
				b.Fatal(err)
			}
			s.reqID = t.appendReqID(s.reqID[:0], s.idx, uint64(i+1))
			s.msg = appendWSOrder(s.msg[:0], s.reqID, 1700000000000+int64(i), c.rwStr, &o)
		}
	})
	b.Run("hmac-only", func(b *testing.B) {
		// The floor both paths share: one HMAC-SHA256 of the same string
		// with a keyed state reused (no request, no body).
		s, _ := c.take(ctx)
		defer s.release()
		o, _ := prepareOrder(in, &benchReq)
		s.body = appendOrderBody(s.body[:0], &o)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			s.sg.sign(1700000000000+int64(i), s.body)
		}
	})
	b.Run("textbook", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			req, err := textbookRequest(ctx, "https://api.bybit.com", fakeKey, fakeSecret, 1700000000000+int64(i), &benchReq, in)
			if err != nil || req.ContentLength == 0 {
				b.Fatal(err)
			}
		}
	})
}

// TestOrderBuildAllocs: building and signing allocate only what net/http's
// API forces (the header strings, one allocation for both, and the
// request copy that carries ctx); the WS message and the answer parsing
// allocate nothing.
func TestOrderBuildAllocs(t *testing.T) {
	c := offlineClient(t)
	in := &c.insts.list[0]
	ctx := context.Background()
	s, _ := c.take(ctx)
	defer s.release()
	if n := testing.AllocsPerRun(200, func() {
		o, _ := prepareOrder(in, &benchReq)
		s.body = appendOrderBody(s.body[:0], &o)
		s.sg.sign(1700000000000, s.body)
	}); n != 0 {
		t.Errorf("build + sign: %v allocs", n)
	}
	if n := testing.AllocsPerRun(200, func() {
		s.restRequest(ctx, 1700000000000)
	}); n != 2 {
		t.Errorf("restRequest: %v allocs, want 2 (header string, WithContext)", n)
	}
	ts := newTradeSocket(c)
	if n := testing.AllocsPerRun(200, func() {
		o, _ := prepareOrder(in, &benchReq)
		s.reqID = ts.appendReqID(s.reqID[:0], s.idx, 12345)
		s.msg = appendWSOrder(s.msg[:0], s.reqID, 1700000000000, c.rwStr, &o)
	}); n != 0 {
		t.Errorf("ws message: %v allocs", n)
	}
	ack := []byte(`{"retCode":0,"retMsg":"OK","result":{"orderId":"1321003749386327552","orderLinkId":"arb1700000000leg1a0"},"retExtInfo":{},"time":1672211918471}`)
	var env envelope
	var a orderAck
	if n := testing.AllocsPerRun(200, func() {
		parseEnvelope(&s.scan, ack, &env)
		parseOrderAck(&s.scan, env.result, &a)
	}); n != 0 {
		t.Errorf("REST ack parse: %v allocs", n)
	}
	o, _ := prepareOrder(in, &benchReq)
	reply := []byte(`{"reqId":"x","retCode":0,"retMsg":"OK","op":"order.create","data":{"orderId":"a4c1718e-fe53-4659-a118-1f6ecce04ad9","orderLinkId":"arb1700000000leg1a0"},"retExtInfo":{},"header":{"X-Bapi-Limit":"20","X-Bapi-Limit-Status":"19","X-Bapi-Limit-Reset-Timestamp":"1711001595208","Traceid":"38b7","Timenow":"1711001595209"},"connId":"c"}`)
	s.reply = append(s.reply[:0], reply...)
	c.trade = ts
	if n := testing.AllocsPerRun(200, func() {
		if _, err := ts.reply(s, &o, 1); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("WS reply: %v allocs", n)
	}
}

// --- order to the first byte on the wire, over loopback ---

// wireStamp records when the first byte of a request reached the socket
// (the write system call), for connections dialed through it.
type wireStamp struct {
	base  time.Time
	first atomic.Int64 // first byte written by the client, ns since base; 0 = not yet
	read  atomic.Int64 // first byte read by the venue, ns since base; 0 = not yet
}

// stampListener wraps the venue's accepted connections to record when the
// first byte of a request is read.
type stampListener struct {
	net.Listener
	w *wireStamp
}

func (l stampListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &readStampConn{Conn: c, w: l.w}, nil
}

type readStampConn struct {
	net.Conn
	w *wireStamp
}

func (c *readStampConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.w.read.CompareAndSwap(0, int64(time.Since(c.w.base)))
	}
	return n, err
}

func (w *wireStamp) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &stampConn{Conn: c, w: w}, nil
}

type stampConn struct {
	net.Conn
	w *wireStamp
}

func (c *stampConn) Write(p []byte) (int, error) {
	c.w.first.CompareAndSwap(0, int64(time.Since(c.w.base)))
	return c.Conn.Write(p)
}

// benchVenue answers order requests at once with a fixed acknowledgement:
// REST POST /v5/order/create, and order.create on /v5/trade after auth.
// With w, its connections record when they read a request's first byte.
func benchVenue(tb testing.TB, w *wireStamp) *httptest.Server {
	ack := []byte(`{"retCode":0,"retMsg":"OK","result":{"orderId":"1321003749386327552","orderLinkId":"x"},"retExtInfo":{},"time":1672211918471}`)
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v5/market/time", func(w http.ResponseWriter, r *http.Request) {
		n := time.Now()
		fmt.Fprintf(w, `{"retCode":0,"retMsg":"OK","result":{"timeSecond":"%d","timeNano":"%d"},"retExtInfo":{},"time":%d}`, n.Unix(), n.UnixNano(), n.UnixMilli())
	})
	mux.HandleFunc("POST /v5/order/create", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Bapi-Limit", "20")
		w.Header().Set("X-Bapi-Limit-Status", "19")
		w.Write(ack)
	})
	mux.HandleFunc("GET /v5/trade", func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
		ws.WriteMessage(websocket.TextMessage, []byte(`{"retCode":0,"retMsg":"OK","op":"auth","connId":"b"}`))
		var out []byte
		for {
			_, m, err := ws.ReadMessage()
			if err != nil {
				return
			}
			i := bytes.Index(m, []byte(`"reqId":"`))
			if i < 0 {
				continue
			}
			id := m[i+9:]
			id = id[:bytes.IndexByte(id, '"')]
			out = append(out[:0], `{"reqId":"`...)
			out = append(out, id...)
			out = append(out, `","retCode":0,"retMsg":"OK","op":"order.create","data":{"orderId":"a4c1718e","orderLinkId":"x"},"retExtInfo":{},"header":{"X-Bapi-Limit":"20","X-Bapi-Limit-Status":"19","Timenow":"1711001595209"},"connId":"b"}`...)
			ws.WriteMessage(websocket.TextMessage, out)
		}
	})
	srv := httptest.NewUnstartedServer(mux)
	if w != nil {
		srv.Listener = stampListener{Listener: srv.Listener, w: w}
	}
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv
}

// wireClient is a client on the bench venue whose REST transport and
// websockets dial through w, with the rate budgets lifted (the benchmark
// sends far more than Bybit's 20 orders/s).
func wireClient(tb testing.TB, srv *httptest.Server, w *wireStamp, entry string) *Client {
	tr := &http.Transport{DialContext: w.dial, MaxIdleConnsPerHost: 4, ForceAttemptHTTP2: false}
	tb.Cleanup(tr.CloseIdleConnections)
	c, err := NewClient(ClientConfig{Venue: 3, RESTURL: srv.URL, WSURL: "ws" + strings.TrimPrefix(srv.URL, "http"),
		Credentials: testCredentials(tb), Instruments: testInstruments(), OrderEntry: entry,
		HTTPClient: &http.Client{Transport: tr}, NetDialContext: w.dial, PingEvery: time.Hour, TimeSyncEvery: -1})
	if err != nil {
		tb.Fatal(err)
	}
	c.gate = gate.New(gate.Config{Budgets: []gate.Budget{
		{Name: "IP", Limit: 1 << 30, Window: time.Second}, {Name: "create", Limit: 1 << 30, Window: time.Second},
		{Name: "cancel", Limit: 1 << 30, Window: time.Second}, {Name: "realtime", Limit: 1 << 30, Window: time.Second},
		{Name: "history", Limit: 1 << 30, Window: time.Second}, {Name: "execution", Limit: 1 << 30, Window: time.Second},
		{Name: "wallet", Limit: 1 << 30, Window: time.Second},
	}})
	if err := c.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if entry != OrderEntryREST {
		select {
		case <-c.trade.authd:
		case <-time.After(20 * time.Second):
			tb.Fatal("trade socket not authenticated")
		}
	}
	return c
}

// orderToWire places n orders one after the other and returns, for each,
// the time from the PlaceOrder call to the first byte written to the
// socket, and to the first byte the venue read, sorted.
func orderToWire(tb testing.TB, c *Client, w *wireStamp, n int, ids []exchange.ID) (out, in []time.Duration) {
	lat := make([]time.Duration, 0, n)
	lin := make([]time.Duration, 0, n)
	// A deadline within OrderTimeout (so REST needs no timer context of
	// its own), renewed every 256 orders.
	var dl deadlines
	defer dl.stop()
	req := benchReq
	for i := 0; i < n; i++ {
		ctx := dl.ctx(i)
		req.ClientID = ids[i%len(ids)]
		w.first.Store(0)
		w.read.Store(0)
		t0 := time.Since(w.base)
		if _, err := c.PlaceOrder(ctx, req); err != nil {
			tb.Fatal(err)
		}
		if f := w.first.Load(); f > 0 {
			lat = append(lat, time.Duration(f)-t0)
		}
		if f := w.read.Load(); f > 0 {
			lin = append(lin, time.Duration(f)-t0)
		}
		// Settle the order (as its final state on the stream would), so
		// its id may be reused and the tracker does not fill up.
		st := exchange.OrderState{ClientID: req.ClientID, Status: exchange.StatusFilled}
		c.mu.Lock()
		c.tr.onState(&st, c.cfg.Now())
		c.tr = resetTracker(c.tr, i)
		c.mu.Unlock()
	}
	slices.Sort(lat)
	slices.Sort(lin)
	return lat, lin
}

// deadlines hands out a context with a deadline 4 s ahead, renewed every
// 256 calls.
type deadlines struct {
	c      context.Context
	cancel context.CancelFunc
}

func (d *deadlines) ctx(i int) context.Context {
	if d.c == nil || i%256 == 0 {
		d.stop()
		d.c, d.cancel = context.WithTimeout(context.Background(), 4*time.Second)
	}
	return d.c
}

func (d *deadlines) stop() {
	if d.cancel != nil {
		d.cancel()
	}
}

// resetTracker starts a fresh tracker now and then so that ids repeat
// without being refused as known.
func resetTracker(t *tracker, i int) *tracker {
	if (i+1)%1024 == 0 {
		return newTracker(len(t.ents))
	}
	return t
}

func benchIDs(n int) []exchange.ID {
	ids := make([]exchange.ID, n)
	for i := range ids {
		ids[i] = exchange.MustID("w" + strconv.Itoa(i))
	}
	return ids
}

func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[min(len(lat)-1, int(float64(len(lat))*p))]
}

// BenchmarkOrderToWire: PlaceOrder over loopback, REST (keep-alive
// HTTP/1.1) and WS order entry; reports the latency from the call to the
// first byte written to the socket (write: the client's system call) and
// to the first byte the venue read (read: includes the venue goroutine's
// wake-up on the same cores), p50 and p99, besides the full round trip
// (ns/op) and its allocations (client and in-process venue together).
func BenchmarkOrderToWire(b *testing.B) {
	for _, entry := range []string{OrderEntryREST, OrderEntryWS} {
		b.Run(entry, func(b *testing.B) {
			w := &wireStamp{base: time.Now()}
			srv := benchVenue(b, w)
			c := wireClient(b, srv, w, entry)
			ids := benchIDs(1024)
			orderToWire(b, c, w, 200, ids) // warm up: connections, buffers
			c.mu.Lock()
			c.tr = newTracker(len(c.tr.ents))
			c.mu.Unlock()
			b.ReportAllocs()
			b.ResetTimer()
			lat, lin := orderToWire(b, c, w, b.N, ids)
			b.StopTimer()
			b.ReportMetric(float64(pct(lat, 0.50).Nanoseconds()), "p50-write-ns")
			b.ReportMetric(float64(pct(lat, 0.99).Nanoseconds()), "p99-write-ns")
			b.ReportMetric(float64(pct(lin, 0.50).Nanoseconds()), "p50-read-ns")
			b.ReportMetric(float64(pct(lin, 0.99).Nanoseconds()), "p99-read-ns")
		})
	}
}

// minAllocs is testing.AllocsPerRun's least of three runs: it counts the
// whole process, and goroutines other tests left behind can only add.
func minAllocs(f func()) float64 {
	m := testing.AllocsPerRun(300, f)
	for i := 0; i < 2; i++ {
		m = min(m, testing.AllocsPerRun(300, f))
	}
	return m
}

// TestOrderRoundTripAllocs: one PlaceOrder round trip over loopback
// allocates no more than the transport alone allocates for the same
// exchange, plus the header string over REST. The baselines are a
// prebuilt net/http POST of the same bytes (its answer read into a reused
// buffer) and the same message and reply through gorilla/websocket alone.
// The venue runs in this process, so both sides count its allocations;
// it parses our distinct header values with one more allocation than the
// baseline's, hence the bound of 2 over REST.
func TestOrderRoundTripAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts of loopback round trips: not under -race or -short")
	}
	srv := benchVenue(t, nil)
	ctx := context.Background()
	measure := func(entry string) (ours, transport float64) {
		w := &wireStamp{base: time.Now()}
		c := wireClient(t, srv, w, entry)
		ids := benchIDs(1024)
		orderToWire(t, c, w, 100, ids)
		c.mu.Lock()
		c.tr = newTracker(len(c.tr.ents))
		c.mu.Unlock()
		i := 0
		dctx, cancel := context.WithTimeout(ctx, 4*time.Second) // a deadline within OrderTimeout: no per-order timer
		defer cancel()
		ours = minAllocs(func() {
			req := benchReq
			req.ClientID = ids[i%len(ids)]
			i++
			if _, err := c.PlaceOrder(dctx, req); err != nil {
				t.Fatal(err)
			}
			st := exchange.OrderState{ClientID: req.ClientID, Status: exchange.StatusFilled}
			c.mu.Lock()
			c.tr.onState(&st, c.cfg.Now())
			c.tr = resetTracker(c.tr, i)
			c.mu.Unlock()
		})
		if entry != OrderEntryREST {
			// The same exchange with gorilla/websocket alone: the message
			// written, the reply read (the venue's side runs in this
			// process and is counted in both).
			ws, _, err := websocket.DefaultDialer.Dial(c.cfg.TradeURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"auth"}`))
			ws.ReadMessage()
			o, _ := prepareOrder(&c.insts.list[0], &benchReq)
			msg := appendWSOrder(nil, []byte("x0001"), 1, "5000", &o)
			buf := make([]byte, 0, 4096)
			transport = minAllocs(func() {
				ws.WriteMessage(websocket.TextMessage, msg)
				_, r, err := ws.NextReader()
				if err != nil {
					t.Fatal(err)
				}
				buf = buf[:0]
				for {
					if len(buf) == cap(buf) {
						buf = append(buf, 0)[:len(buf)]
					}
					n, err := r.Read(buf[len(buf):cap(buf)])
					buf = buf[:len(buf)+n]
					if err != nil {
						break
					}
				}
			})
			return ours, transport
		}
		body := []byte(`{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.012345","price":"30000","timeInForce":"IOC","orderLinkId":"w1"}`)
		hc := c.cfg.HTTPClient
		var buf []byte
		rd := bytes.NewReader(body)
		base, _ := http.NewRequest(http.MethodPost, srv.URL+"/v5/order/create", nil)
		base.Header = http.Header{"Content-Type": {"application/json"}, "X-Bapi-Api-Key": {"k"}, "X-Bapi-Recv-Window": {"5000"},
			"X-Bapi-Timestamp": {"1700000000000"}, "X-Bapi-Sign": {strings.Repeat("a", 64)}}
		base.Body = io.NopCloser(rd)
		base.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		transport = minAllocs(func() {
			rd.Reset(body)
			req := base.WithContext(dctx)
			req.ContentLength = int64(len(body))
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(resp.Body, &buf)
			resp.Body.Close()
			var s jsonscan.Scanner
			var env envelope
			parseEnvelope(&s, buf, &env)
		})
		return ours, transport
	}
	ours, transport := measure(OrderEntryREST)
	t.Logf("REST PlaceOrder: %.0f allocs; the same POST with net/http alone: %.0f", ours, transport)
	if ours > transport+2 {
		t.Errorf("REST PlaceOrder allocates %.0f, net/http alone %.0f: more than the header string", ours, transport)
	}
	ws, wsTransport := measure(OrderEntryWS)
	t.Logf("WS PlaceOrder: %.0f allocs; the same message and reply with gorilla/websocket alone: %.0f", ws, wsTransport)
	if ws > wsTransport {
		t.Errorf("WS PlaceOrder allocates %.0f, gorilla/websocket alone %.0f", ws, wsTransport)
	}
}
