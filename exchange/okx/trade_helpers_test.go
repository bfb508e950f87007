package okx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"arb/exchange"
	"arb/exchange/num"
)

// sharedDocs is the venue documentation folder, read at run time (never
// copied into the repository).
var sharedDocs = filepath.Join("..", "..", "..", "shared", "venue-docs", "okx")

// sharedDoc returns the compact JSON of a member of a shared docs file.
func sharedDoc(t testing.TB, file string, path ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(sharedDocs, file))
	if err != nil {
		t.Fatalf("venue docs: %v", err)
	}
	cur := raw
	for _, p := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cur, &m); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var ok bool
		if cur, ok = m[p]; !ok {
			t.Fatalf("%s: no member %q", file, p)
		}
	}
	var out bytes.Buffer
	if err := json.Compact(&out, cur); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// docSecret is the documented example SecretKey (rest_auth_signing_rule.json).
const docSecret = "22582BD0CFF14C41EDBF1AB98506286D"

var testCreds = Credentials{Key: "test-key-0001", Secret: docSecret, Passphrase: "test-pass"}

// tradeInsts are BTC-USDT (tick 0.1, step 0.00000001, min 0.00001) and
// ETH-USDT (tick 0.01, step 0.000001, min 0.001) in scales that hold them.
func tradeInsts() []exchange.Instrument {
	return []exchange.Instrument{
		{ID: 1, Venue: testVenue, Symbol: "BTC-USDT", Canonical: "BTC-USDT", Base: "BTC", Quote: "USDT",
			Scale: num.Scale{Px: 2, Qty: 8}, Tick: 10, Step: 1, MinQty: 1000},
		{ID: 2, Venue: testVenue, Symbol: "ETH-USDT", Canonical: "ETH-USDT", Base: "ETH", Quote: "USDT",
			Scale: num.Scale{Px: 2, Qty: 8}, Tick: 1, Step: 100, MinQty: 100000},
	}
}

// fakeClock is a settable clock for the client.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration)     { c.ns.Add(int64(d)) }
func (c *fakeClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Since(t time.Time) int64 { return c.ns.Load() - t.UnixNano() }

// reply is what a fake handler answers: status, body, headers.
type reply struct {
	status int
	body   string
	header map[string]string
	// hangup closes the connection without any answer after reading the
	// request (a lost acknowledgement).
	hangup bool
}

// recorded is one request the fake received.
type recorded struct {
	method, path, query, body string
	header                    http.Header
	at                        time.Time // server clock at receipt
}

// fakeVenue is an OKX v5 stand-in: REST endpoints answered by per-path
// handlers, every signed request checked (signature over
// timestamp+METHOD+path?query+body with the known secret, the timestamp
// never ahead of the server clock and within 30 s behind), and
// /ws/v5/private with login, the orders subscription and order entry.
type fakeVenue struct {
	t    testing.TB
	srv  *httptest.Server
	skew atomic.Int64 // server clock = time.Now() + skew
	// enforceTS answers a timestamp more than 30 s off the server clock
	// with 50102 (HTTP 401), as OKX does, instead of recording an error.
	enforceTS atomic.Bool

	mu       sync.Mutex
	handlers map[string]func(r recorded) reply
	reqs     []recorded
	sigErrs  []string

	// WebSocket side.
	wsRefuse  atomic.Bool // answer the upgrade with 503
	logins    atomic.Int32
	streams   chan *fakeVenueWS // subscribed orders streams, in order
	orderConn chan *fakeVenueWS // logged-in connections without a subscription yet
	wsOrder   func(ws *fakeVenueWS, req map[string]any) []byte
	wsFrames  sync.Map // conn → received frames
}

// fakeVenueWS is one server-side websocket connection.
type fakeVenueWS struct {
	c      *websocket.Conn
	wmu    sync.Mutex
	closed chan struct{}
	frames chan []byte // everything the client sent after login
}

func (w *fakeVenueWS) send(b []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.c.WriteMessage(websocket.TextMessage, b)
}

func (w *fakeVenueWS) drop() { w.c.Close() }

func newFakeVenue(t testing.TB) *fakeVenue {
	f := &fakeVenue{t: t, handlers: map[string]func(recorded) reply{},
		streams: make(chan *fakeVenueWS, 16), orderConn: make(chan *fakeVenueWS, 16)}
	f.handlers[pathTime] = func(r recorded) reply {
		return reply{body: fmt.Sprintf(`{"code":"0","msg":"","data":[{"ts":"%d"}]}`, f.now().UnixMilli())}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", f.serveREST)
	mux.HandleFunc(PrivatePath, f.serveWS)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVenue) now() time.Time { return time.Now().Add(time.Duration(f.skew.Load())) }

// handle sets the handler of a path (without query).
func (f *fakeVenue) handle(path string, h func(r recorded) reply) {
	f.mu.Lock()
	f.handlers[path] = h
	f.mu.Unlock()
}

// count returns how many requests reached path (method "" = any).
func (f *fakeVenue) count(method, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.reqs {
		if r.path == path && (method == "" || r.method == method) {
			n++
		}
	}
	return n
}

// last returns the last request to path (method "" = any).
func (f *fakeVenue) last(method, path string) recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.reqs) - 1; i >= 0; i-- {
		if f.reqs[i].path == path && (method == "" || f.reqs[i].method == method) {
			return f.reqs[i]
		}
	}
	f.t.Fatalf("no request to %s", path)
	return recorded{}
}

func (f *fakeVenue) checkSigned(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.sigErrs {
		t.Error(e)
	}
}

func (f *fakeVenue) serveREST(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, body: string(body), header: r.Header.Clone(), at: f.now()}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	expired := false
	if r.URL.Path != pathTime && r.URL.Path != InstrumentsPath {
		expired = f.verify(rec)
	}
	h := f.handlers[r.URL.Path]
	f.mu.Unlock()
	if expired {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"msg":"Timestamp request expired","code":"50102"}`)
		return
	}
	if h == nil {
		http.Error(w, `{"code":"50000","msg":"no handler"}`, http.StatusNotFound)
		return
	}
	rp := h(rec)
	if rp.hangup {
		hj, _ := w.(http.Hijacker)
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	if rp.status == 0 {
		rp.status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rp.status)
	io.WriteString(w, rp.body)
}

// verify checks a signed request (under f.mu); it reports a timestamp
// outside ±30 s when enforceTS is set.
func (f *fakeVenue) verify(r recorded) (expired bool) {
	ts := r.header.Get("OK-ACCESS-TIMESTAMP")
	path := r.path
	if r.query != "" {
		path += "?" + r.query
	}
	want := refHMAC(docSecret, ts+r.method+path+r.body)
	bad := func(format string, a ...any) { f.sigErrs = append(f.sigErrs, fmt.Sprintf(format, a...)) }
	if got := r.header.Get("OK-ACCESS-SIGN"); got != want {
		bad("%s %s: sign %q, want %q", r.method, path, got, want)
	}
	if r.header.Get("OK-ACCESS-KEY") != testCreds.Key || r.header.Get("OK-ACCESS-PASSPHRASE") != testCreds.Passphrase {
		bad("%s %s: key or passphrase header wrong", r.method, path)
	}
	at, err := time.Parse("2006-01-02T15:04:05.000Z", ts)
	if err != nil {
		bad("%s %s: timestamp %q: %v", r.method, path, ts, err)
		return false
	}
	if at.After(r.at) {
		bad("%s %s: timestamp %s ahead of the server clock %s", r.method, path, at, r.at)
	}
	if r.at.Sub(at) > 30*time.Second {
		if f.enforceTS.Load() {
			return true
		}
		bad("%s %s: timestamp %s more than 30 s behind %s", r.method, path, at, r.at)
	}
	return false
}

func (f *fakeVenue) restURL() string { return f.srv.URL }
func (f *fakeVenue) wsURL() string   { return "ws" + strings.TrimPrefix(f.srv.URL, "http") }

var venueUpgrader = websocket.Upgrader{}

func (f *fakeVenue) serveWS(w http.ResponseWriter, r *http.Request) {
	if f.wsRefuse.Load() {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	c, err := venueUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws := &fakeVenueWS{c: c, closed: make(chan struct{}), frames: make(chan []byte, 64)}
	defer close(ws.closed)
	defer c.Close()
	// login
	_, msg, err := c.ReadMessage()
	if err != nil {
		return
	}
	var login struct {
		Op   string
		Args []map[string]string
	}
	if json.Unmarshal(msg, &login) != nil || login.Op != "login" || len(login.Args) != 1 {
		ws.send([]byte(`{"event":"error","code":"60012","msg":"Invalid request","connId":"a4d3ae55"}`))
		return
	}
	a := login.Args[0]
	sec, _ := strconv.ParseInt(a["timestamp"], 10, 64)
	now := f.now()
	if a["apiKey"] != testCreds.Key || a["passphrase"] != testCreds.Passphrase ||
		a["sign"] != refHMAC(docSecret, a["timestamp"]+"GET/users/self/verify") {
		ws.send([]byte(`{"event":"error","code":"60009","msg":"Login failed.","connId":"a4d3ae55"}`))
		return
	}
	if sec > now.Unix() || now.Unix()-sec > 30 {
		f.mu.Lock()
		f.sigErrs = append(f.sigErrs, fmt.Sprintf("ws login timestamp %d vs server %d", sec, now.Unix()))
		f.mu.Unlock()
		ws.send([]byte(`{"event":"error","code":"60006","msg":"Timestamp request expired","connId":"a4d3ae55"}`))
		return
	}
	f.logins.Add(1)
	ws.send([]byte(`{"event":"login","code":"0","msg":"","connId":"a4d3ae55"}`))
	announced := false
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if string(msg) == "ping" {
			ws.send([]byte("pong"))
			continue
		}
		select {
		case ws.frames <- msg:
		default:
		}
		var req map[string]any
		if json.Unmarshal(msg, &req) != nil {
			continue
		}
		switch req["op"] {
		case "subscribe":
			ws.send([]byte(`{"event":"subscribe","arg":{"channel":"orders","instType":"SPOT"},"connId":"a4d3ae55"}`))
			f.streams <- ws
		case "order":
			if !announced {
				announced = true
				f.orderConn <- ws
			}
			f.mu.Lock()
			h := f.wsOrder
			f.mu.Unlock()
			if h != nil {
				if out := h(ws, req); out != nil {
					ws.send(out)
				}
			}
		}
	}
}

// setWSOrder sets the order-entry handler (nil reply = no answer).
func (f *fakeVenue) setWSOrder(h func(ws *fakeVenueWS, req map[string]any) []byte) {
	f.mu.Lock()
	f.wsOrder = h
	f.mu.Unlock()
}

// newTestClient returns a client against f with mod applied.
func newTestClient(t testing.TB, f *fakeVenue, mod func(*ClientConfig)) *Client {
	t.Helper()
	cfg := ClientConfig{Venue: testVenue, Name: "okx-test", RESTURL: f.restURL(), PrivateWSURL: f.wsURL(),
		Credentials: testCreds, Instruments: tradeInsts(), OrderEntry: OrderEntryREST,
		Logger: testTradeLogger(t), BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		PollEvery: 20 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// logBuf collects log lines for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testTradeLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// recSink records private events.
type recSink struct {
	mu     sync.Mutex
	orders []exchange.OrderState
	fills  []exchange.Fill
	ups    []bool
	ch     chan struct{} // signalled on every event
}

func newRecSink() *recSink { return &recSink{ch: make(chan struct{}, 1024)} }

func (s *recSink) OnOrder(o exchange.OrderState) {
	s.mu.Lock()
	s.orders = append(s.orders, o)
	s.mu.Unlock()
	s.poke()
}

func (s *recSink) OnFill(f exchange.Fill) {
	s.mu.Lock()
	s.fills = append(s.fills, f)
	s.mu.Unlock()
	s.poke()
}

func (s *recSink) OnStream(up bool) {
	s.mu.Lock()
	s.ups = append(s.ups, up)
	s.mu.Unlock()
	s.poke()
}

func (s *recSink) poke() {
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

// wait blocks until cond (checked under the lock) holds, failing after a
// generous deadline.
func (s *recSink) wait(t testing.TB, what string, cond func(s *recSink) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		s.mu.Lock()
		ok := cond(s)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("timed out waiting for %s; orders %d fills %d ups %v", what, len(s.orders), len(s.fills), s.ups)
		}
	}
}

func (s *recSink) fillCount(tradeID string) int {
	n := 0
	for _, f := range s.fills {
		if f.TradeID.String() == tradeID {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds (20 s deadline).
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mustKind fails unless err has kind k.
func mustKind(t testing.TB, err error, k exchange.ErrorKind) *exchange.Error {
	t.Helper()
	var e *exchange.Error
	if exchange.KindOf(err) != k {
		t.Fatalf("error %v: kind %s, want %s", err, exchange.KindOf(err), k)
	}
	if !errors.As(err, &e) {
		t.Fatalf("not an *exchange.Error: %v", err)
	}
	return e
}

func runCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// docWith returns a documented reply with the fields of its first data row
// replaced by set (nil value deletes).
func docWith(t testing.TB, file, member string, set map[string]any) string {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(sharedDoc(t, file, member), &env); err != nil {
		t.Fatal(err)
	}
	if len(set) > 0 {
		row := env["data"].([]any)[0].(map[string]any)
		for k, v := range set {
			if v == nil {
				delete(row, k)
			} else {
				row[k] = v
			}
		}
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// reqField returns a field of a request's JSON body or query.
func reqField(r recorded, k string) string {
	if r.method == http.MethodGet {
		q, _ := url.ParseQuery(r.query)
		return q.Get(k)
	}
	var m map[string]any
	json.Unmarshal([]byte(r.body), &m)
	s, _ := m[k].(string)
	return s
}

// installDocHandlers answers the trading endpoints with the documented
// examples, echoing the request's clOrdId and instId.
func installDocHandlers(t testing.TB, f *fakeVenue) {
	f.handle(pathPlaceOrder, func(r recorded) reply {
		if r.method == http.MethodGet {
			return reply{body: docWith(t, "rest_order_details_response.json", "response",
				map[string]any{"clOrdId": reqField(r, "clOrdId"), "instId": reqField(r, "instId")})}
		}
		return reply{body: docWith(t, "rest_place_order_response.json", "payload", map[string]any{"clOrdId": reqField(r, "clOrdId")})}
	})
	f.handle(pathBalance, func(r recorded) reply {
		return reply{body: string(sharedDoc(t, "rest_account_balance_response.json", "response"))}
	})
	f.handle(pathFills, func(r recorded) reply {
		return reply{body: string(sharedDoc(t, "rest_fills_response.json", "response_fills"))}
	})
	f.handle(pathFillsHistory, func(r recorded) reply {
		return reply{body: string(sharedDoc(t, "rest_fills_response.json", "response_fills_history"))}
	})
	f.handle(pathOrdersPending, func(r recorded) reply { return reply{body: `{"code":"0","msg":"","data":[]}`} })
}
