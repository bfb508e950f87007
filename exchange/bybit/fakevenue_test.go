package bybit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
)

// A fake Bybit for the trading client's unit tests: an httptest server with
// the REST endpoints and the two private websockets, answering with the
// documented examples (/work/shared/venue-docs/bybit, read at run time) as
// templates whose fields are overwritten with the model's values. It checks
// every signature independently of the client (hmacRFC2104 in
// sign_test.go) and the documented timestamp rule on its own clock. Tests
// script exceptions per endpoint; exchange/sim is the end-to-end venue.

// docsDir is the shared venue documentation, relative to this package.
const docsDir = "../../../shared/venue-docs/bybit/"

// docFile reads a documented example; field selects the object inside the
// file ("payload", "response", …), "" the whole file.
func docFile(t testing.TB, name, field string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(docsDir, name))
	if err != nil {
		t.Fatalf("venue docs: %v (the tests read ../shared/venue-docs at run time)", err)
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if field == "" {
		return m
	}
	v, ok := m[field].(map[string]any)
	if !ok {
		t.Fatalf("%s has no object %q", name, field)
	}
	return v
}

// docBytes returns a documented example compacted.
func docBytes(t testing.TB, name, field string) []byte {
	b, err := json.Marshal(docFile(t, name, field))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deepCopy copies a JSON-decoded value.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

type fakeOrder struct {
	id, link, symbol, side, tif string
	px, qty, filled, quote      decimal.Decimal
	status                      string
	created                     int64 // ms
}

type fakeExec struct {
	id, orderID, link, symbol, side string
	px, qty, fee                    decimal.Decimal
	feeCcy                          string
	ts                              int64 // ms
}

// fakeVenue is the fake Bybit. Fields under mu are the model and the
// counters; tests set hooks before the client starts.
type fakeVenue struct {
	t           testing.TB
	key, secret string
	srv         *httptest.Server
	up          websocket.Upgrader

	clock func() time.Time // the venue's clock before offset (default time.Now)

	mu        sync.Mutex
	offset    time.Duration       // venue clock = clock() + offset
	hits      map[string]int      // by path (REST) and by ws op
	script    map[string][]string // path → raw answers to serve next ("HTTP <code>\n<headers>\n\n<body>" or a JSON body)
	orders    []*fakeOrder
	byLink    map[string]*fakeOrder
	execs     []*fakeExec
	fraction  decimal.Decimal // share of each order that fills
	nextID    int
	symbols   map[string][2]string // symbol → base, quote
	priv      []*fakeConn
	trade     []*fakeConn
	privDeny  bool // refuse private stream upgrades
	holdPush  bool // do not push (the stream "misses" events)
	dropTrade bool // drop the trade socket after executing the next order, without a reply
	tradeDeny bool // refuse trade socket upgrades
	silentWS  bool // trade socket: execute but never reply
	badFill   string
	delay     time.Duration // answer creates this late (after executing them)
}

func (f *fakeVenue) setCreateDelay(d time.Duration) {
	f.mu.Lock()
	f.delay = d
	f.mu.Unlock()
}

type fakeConn struct {
	mu sync.Mutex
	ws *websocket.Conn
}

func (c *fakeConn) write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

const (
	fakeKey    = "fake-bybit-key"
	fakeSecret = "fake-bybit-secret"
)

func newFakeVenue(t testing.TB) *fakeVenue {
	f := &fakeVenue{
		t: t, key: fakeKey, secret: fakeSecret, clock: time.Now,
		hits: map[string]int{}, script: map[string][]string{}, byLink: map[string]*fakeOrder{},
		fraction: decimal.NewFromInt(1),
		symbols:  map[string][2]string{"BTCUSDT": {"BTC", "USDT"}, "ETHUSDT": {"ETH", "USDT"}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v5/market/time", f.handleTime)
	mux.HandleFunc("POST /v5/order/create", f.signed(f.handleCreate))
	mux.HandleFunc("POST /v5/order/cancel", f.signed(f.handleCancel))
	mux.HandleFunc("GET /v5/order/realtime", f.signed(f.handleOrders))
	mux.HandleFunc("GET /v5/order/history", f.signed(f.handleOrders))
	mux.HandleFunc("GET /v5/execution/list", f.signed(f.handleExecs))
	mux.HandleFunc("GET /v5/account/wallet-balance", f.signed(f.handleWallet))
	mux.HandleFunc("GET /v5/private", f.handlePrivate)
	mux.HandleFunc("GET /v5/trade", f.handleTrade)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.mu.Lock()
		for _, c := range append(f.priv, f.trade...) {
			c.ws.Close()
		}
		f.mu.Unlock()
		f.srv.Close()
	})
	return f
}

func (f *fakeVenue) restURL() string { return f.srv.URL }
func (f *fakeVenue) wsURL() string   { return "ws" + strings.TrimPrefix(f.srv.URL, "http") }

func (f *fakeVenue) nowMs() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clock().Add(f.offset).UnixMilli()
}

func (f *fakeVenue) hit(k string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[k]
}

func (f *fakeVenue) push(path string, answers ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[path] = append(f.script[path], answers...)
}

// envelope writes {"retCode","retMsg","result","retExtInfo":{},"time"}.
func (f *fakeVenue) envelope(w http.ResponseWriter, code int, msg string, result any, hdr map[string]string) {
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	if result == nil {
		result = map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"retCode": code, "retMsg": msg, "result": result, "retExtInfo": map[string]any{}, "time": f.nowMs()})
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// scripted serves the next scripted answer for the path, if any.
func (f *fakeVenue) scripted(w http.ResponseWriter, path string) bool {
	f.mu.Lock()
	q := f.script[path]
	if len(q) == 0 {
		f.mu.Unlock()
		return false
	}
	a := q[0]
	f.script[path] = q[1:]
	f.mu.Unlock()
	status := 200
	if strings.HasPrefix(a, "HTTP ") {
		head, body, _ := strings.Cut(a, "\n\n")
		lines := strings.Split(head, "\n")
		status, _ = strconv.Atoi(strings.TrimPrefix(lines[0], "HTTP "))
		for _, l := range lines[1:] {
			k, v, _ := strings.Cut(l, ": ")
			w.Header().Set(k, strings.ReplaceAll(v, "$NOW", strconv.FormatInt(f.nowMs(), 10)))
		}
		a = body
	}
	a = strings.ReplaceAll(a, "$NOW", strconv.FormatInt(f.nowMs(), 10))
	w.WriteHeader(status)
	io.WriteString(w, a)
	return true
}

func (f *fakeVenue) handleTime(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.URL.Path]++
	f.mu.Unlock()
	if f.scripted(w, r.URL.Path) {
		return
	}
	now := f.clock().Add(f.offsetNow())
	resp := docFile(f.t, "rest_server_time_response.json", "response")
	resp["result"] = map[string]any{"timeSecond": strconv.FormatInt(now.Unix(), 10), "timeNano": strconv.FormatInt(now.UnixNano(), 10)}
	resp["time"] = now.UnixMilli()
	b, _ := json.Marshal(resp)
	w.Write(b)
}

func (f *fakeVenue) offsetNow() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.offset
}

// signed checks the X-BAPI headers the documented way before h runs.
func (f *fakeVenue) signed(h func(w http.ResponseWriter, r *http.Request, payload []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.hits[r.URL.Path]++
		f.mu.Unlock()
		if f.scripted(w, r.URL.Path) {
			return
		}
		payload := body
		if r.Method == http.MethodGet {
			payload = []byte(r.URL.RawQuery)
		}
		key, ts, sig, rw := r.Header.Get(HeaderAPIKey), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSign), r.Header.Get(HeaderRecvWindow)
		want := hex.EncodeToString(hmacRFC2104([]byte(f.secret), []byte(ts+key+rw+string(payload))))
		if key != f.key || !hmac.Equal([]byte(sig), []byte(want)) {
			f.envelope(w, 10004, "error sign!", nil, nil)
			return
		}
		tsN, _ := strconv.ParseInt(ts, 10, 64)
		rwN, _ := strconv.ParseInt(rw, 10, 64)
		server := f.nowMs()
		if !(server-rwN <= tsN && tsN < server+1000) {
			f.envelope(w, 10002, fmt.Sprintf("invalid request, please check your server timestamp or recv_window param. req_timestamp[%d],server_timestamp[%d],recv_window[%d]", tsN, server, rwN), nil, nil)
			return
		}
		h(w, r, body)
	}
}

type createReq struct {
	Category, Symbol, Side, OrderType, Qty, Price, TimeInForce, OrderLinkID string
}

func (f *fakeVenue) parseCreate(body []byte) (createReq, error) {
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		return createReq{}, err
	}
	c := createReq{Category: m["category"], Symbol: m["symbol"], Side: m["side"], OrderType: m["orderType"],
		Qty: m["qty"], Price: m["price"], TimeInForce: m["timeInForce"], OrderLinkID: m["orderLinkId"]}
	if c.Category != "spot" || c.OrderType != "Limit" || (c.Side != "Buy" && c.Side != "Sell") || c.Qty == "" || c.Price == "" {
		return c, fmt.Errorf("bad order %s", body)
	}
	return c, nil
}

// execute books an order and its fill (the model: each order fills
// fraction of its quantity at its limit price in one execution; fee 0.1%
// of what is received). It returns the order, or an error code.
func (f *fakeVenue) execute(c createReq) (*fakeOrder, int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.byLink[c.OrderLinkID]; dup && c.OrderLinkID != "" {
		return nil, 170141, "Duplicate clientOrderId"
	}
	if _, ok := f.symbols[c.Symbol]; !ok {
		return nil, 170121, "Invalid symbol."
	}
	f.nextID++
	now := f.clock().Add(f.offset).UnixMilli()
	o := &fakeOrder{id: fmt.Sprintf("19%017d", f.nextID), link: c.OrderLinkID, symbol: c.Symbol, side: c.Side, tif: c.TimeInForce,
		px: decimal.RequireFromString(c.Price), qty: decimal.RequireFromString(c.Qty), created: now}
	o.filled = o.qty.Mul(f.fraction)
	o.quote = o.filled.Mul(o.px)
	switch {
	case o.filled.Equal(o.qty):
		o.status = "Filled"
	case o.filled.IsZero():
		o.status = "Cancelled"
	default:
		o.status = "PartiallyFilledCanceled"
	}
	f.orders = append(f.orders, o)
	f.byLink[o.link] = o
	if o.filled.IsPositive() {
		x := &fakeExec{id: fmt.Sprintf("e%07d-%s", f.nextID, o.link), orderID: o.id, link: o.link, symbol: o.symbol, side: o.side, px: o.px, qty: o.filled, ts: now}
		thousandth := decimal.New(1, -3)
		if o.side == "Buy" {
			x.fee, x.feeCcy = o.filled.Mul(thousandth), f.symbols[o.symbol][0]
		} else {
			x.fee, x.feeCcy = o.quote.Mul(thousandth), f.symbols[o.symbol][1]
		}
		if f.badFill != "" {
			x.px = decimal.RequireFromString(f.badFill)
		}
		f.execs = append(f.execs, x)
		if !f.holdPush {
			f.pushLocked(f.orderPush(o), f.execPush(x))
		}
	} else if !f.holdPush {
		f.pushLocked(f.orderPush(o))
	}
	return o, 0, ""
}

// pushLocked sends frames to every private connection (mu held).
func (f *fakeVenue) pushLocked(frames ...[]byte) {
	for _, c := range f.priv {
		for _, b := range frames {
			c.write(b)
		}
	}
}

// orderJSON is the documented order object (rest_order_realtime_response)
// with the model's values.
func (f *fakeVenue) orderJSON(o *fakeOrder, tmpl map[string]any) map[string]any {
	m := deepCopy(tmpl).(map[string]any)
	avg := "0"
	if o.filled.IsPositive() {
		avg = o.quote.Div(o.filled).String()
	}
	for k, v := range map[string]any{
		"category": "spot", "orderId": o.id, "orderLinkId": o.link, "symbol": o.symbol, "price": o.px.String(), "qty": o.qty.String(),
		"side": o.side, "orderStatus": o.status, "avgPrice": avg, "leavesQty": "0", "leavesValue": "0",
		"cumExecQty": o.filled.String(), "cumExecValue": o.quote.String(), "timeInForce": o.tif, "orderType": "Limit",
		"createdTime": strconv.FormatInt(o.created, 10), "updatedTime": strconv.FormatInt(o.created+1, 10),
	} {
		m[k] = v
	}
	return m
}

func (f *fakeVenue) orderPush(o *fakeOrder) []byte {
	p := docFile(f.t, "ws_order_push.json", "payload")
	p["topic"] = "order.spot"
	item := p["data"].([]any)[0].(map[string]any)
	p["data"] = []any{f.orderJSON(o, item)}
	b, _ := json.Marshal(p)
	return b
}

// execJSON is the documented execution object with the model's values.
func (f *fakeVenue) execJSON(x *fakeExec, tmpl map[string]any) map[string]any {
	m := deepCopy(tmpl).(map[string]any)
	for k, v := range map[string]any{
		"category": "spot", "symbol": x.symbol, "execId": x.id, "execPrice": x.px.String(), "execQty": x.qty.String(),
		"execFee": x.fee.String(), "feeCurrency": x.feeCcy, "orderId": x.orderID, "orderLinkId": x.link, "side": x.side,
		"execTime": strconv.FormatInt(x.ts, 10), "execType": "Trade", "isMaker": false, "execValue": x.px.Mul(x.qty).String(),
		"orderType": "Limit", "leavesQty": "0",
	} {
		m[k] = v
	}
	return m
}

func (f *fakeVenue) execPush(x *fakeExec) []byte {
	p := docFile(f.t, "ws_execution_push.json", "payload")
	p["topic"] = "execution.spot"
	item := p["data"].([]any)[0].(map[string]any)
	p["data"] = []any{f.execJSON(x, item)}
	b, _ := json.Marshal(p)
	return b
}

func (f *fakeVenue) handleCreate(w http.ResponseWriter, r *http.Request, body []byte) {
	c, err := f.parseCreate(body)
	if err != nil {
		f.envelope(w, 10001, err.Error(), nil, nil)
		return
	}
	hdr := map[string]string{"X-Bapi-Limit": "20", "X-Bapi-Limit-Status": "19", "X-Bapi-Limit-Reset-Timestamp": strconv.FormatInt(f.nowMs(), 10)}
	o, code, msg := f.execute(c)
	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return // the client gave up: the answer is lost
		}
	}
	if code != 0 {
		f.envelope(w, code, msg, nil, hdr)
		return
	}
	resp := docFile(f.t, "rest_create_order_response.json", "payload")
	resp["result"] = map[string]any{"orderId": o.id, "orderLinkId": o.link}
	resp["time"] = f.nowMs()
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	b, _ := json.Marshal(resp)
	w.Write(b)
}

func (f *fakeVenue) handleCancel(w http.ResponseWriter, r *http.Request, body []byte) {
	var m map[string]string
	json.Unmarshal(body, &m)
	f.mu.Lock()
	o := f.byLink[m["orderLinkId"]]
	f.mu.Unlock()
	if o == nil {
		f.envelope(w, 170213, "Order does not exist.", nil, nil)
		return
	}
	if o.status != "New" && o.status != "PartiallyFilled" {
		f.envelope(w, 170142, "Order has been cancelled", nil, nil)
		return
	}
	f.envelope(w, 0, "OK", map[string]any{"orderId": o.id, "orderLinkId": o.link}, nil)
}

func (f *fakeVenue) handleOrders(w http.ResponseWriter, r *http.Request, _ []byte) {
	q := r.URL.Query()
	tmpl := docFile(f.t, "rest_order_realtime_response.json", "response")
	item := tmpl["result"].(map[string]any)["list"].([]any)[0].(map[string]any)
	list := []any{}
	f.mu.Lock()
	for _, o := range f.orders {
		if link := q.Get("orderLinkId"); link != "" && o.link != link {
			continue
		}
		if q.Get("orderLinkId") == "" && (o.status == "Filled" || strings.Contains(o.status, "Cancel")) {
			continue // open orders only
		}
		if s := q.Get("symbol"); s != "" && o.symbol != s {
			continue
		}
		list = append(list, f.orderJSON(o, item))
	}
	f.mu.Unlock()
	res := tmpl["result"].(map[string]any)
	res["list"], res["nextPageCursor"], res["category"] = list, "", "spot"
	tmpl["time"] = f.nowMs()
	b, _ := json.Marshal(tmpl)
	w.Write(b)
}

// handleExecs serves execution/list newest first, two per page (so the
// client follows cursors), within startTime..endTime.
func (f *fakeVenue) handleExecs(w http.ResponseWriter, r *http.Request, _ []byte) {
	q := r.URL.Query()
	tmpl := docFile(f.t, "rest_execution_list_response.json", "response")
	item := tmpl["result"].(map[string]any)["list"].([]any)[0].(map[string]any)
	var match []*fakeExec
	f.mu.Lock()
	for i := len(f.execs) - 1; i >= 0; i-- {
		x := f.execs[i]
		if s := q.Get("symbol"); s != "" && x.symbol != s {
			continue
		}
		if l := q.Get("orderLinkId"); l != "" && x.link != l {
			continue
		}
		if st := q.Get("startTime"); st != "" {
			a, _ := strconv.ParseInt(st, 10, 64)
			b, _ := strconv.ParseInt(q.Get("endTime"), 10, 64)
			if b-a > 7*24*3600*1000 {
				f.mu.Unlock()
				f.envelope(w, 10001, "startTime and endTime must be within 7 days", nil, nil)
				return
			}
			if x.ts < a || x.ts > b {
				continue
			}
		}
		match = append(match, x)
	}
	f.mu.Unlock()
	start, _ := strconv.Atoi(q.Get("cursor"))
	end := min(start+2, len(match))
	list := []any{}
	for _, x := range match[min(start, len(match)):end] {
		list = append(list, f.execJSON(x, item))
	}
	res := tmpl["result"].(map[string]any)
	res["list"], res["category"], res["nextPageCursor"] = list, "spot", ""
	if end < len(match) {
		res["nextPageCursor"] = strconv.Itoa(end)
	}
	tmpl["time"] = f.nowMs()
	b, _ := json.Marshal(tmpl)
	w.Write(b)
}

func (f *fakeVenue) handleWallet(w http.ResponseWriter, r *http.Request, _ []byte) {
	if r.URL.RawQuery != "accountType=UNIFIED" {
		f.envelope(w, 10001, "accountType", nil, nil)
		return
	}
	b := docBytes(f.t, "rest_wallet_balance_response.json", "response")
	w.Write(b)
}

// wsAuthOK checks an auth message the documented way.
func (f *fakeVenue) wsAuthOK(msg []byte) bool {
	var m struct {
		Op   string            `json:"op"`
		Args []json.RawMessage `json:"args"`
	}
	if json.Unmarshal(msg, &m) != nil || m.Op != "auth" || len(m.Args) != 3 {
		return false
	}
	var key, sig string
	var expires int64
	if json.Unmarshal(m.Args[0], &key) != nil || json.Unmarshal(m.Args[1], &expires) != nil || json.Unmarshal(m.Args[2], &sig) != nil {
		return false
	}
	want := hex.EncodeToString(hmacRFC2104([]byte(f.secret), []byte("GET/realtime"+strconv.FormatInt(expires, 10))))
	return key == f.key && sig == want && expires > f.nowMs()
}

func (f *fakeVenue) handlePrivate(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	deny := f.privDeny
	f.hits["ws:private"]++
	f.mu.Unlock()
	if deny {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	ws, err := f.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &fakeConn{ws: ws}
	defer ws.Close()
	_, msg, err := ws.ReadMessage()
	if err != nil {
		return
	}
	authResp := docFile(f.t, "ws_ping_pong_and_subscribe.json", "auth_success_response")
	if !f.wsAuthOK(msg) {
		authResp["success"], authResp["ret_msg"] = false, "Params Error"
		b, _ := json.Marshal(authResp)
		c.write(b)
		return
	}
	b, _ := json.Marshal(authResp)
	c.write(b)
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			f.dropPriv(c)
			return
		}
		var m struct {
			ReqID string   `json:"req_id"`
			Op    string   `json:"op"`
			Args  []string `json:"args"`
		}
		json.Unmarshal(msg, &m)
		f.mu.Lock()
		f.hits["ws:private:"+m.Op]++
		f.mu.Unlock()
		switch m.Op {
		case "ping":
			c.write([]byte(`{"success":true,"ret_msg":"pong","conn_id":"fake","req_id":"` + m.ReqID + `","op":"ping"}`))
		case "subscribe":
			ok := len(m.Args) == 2 && m.Args[0] == "order.spot" && m.Args[1] == "execution.spot"
			if ok { // subscribed before the reply: pushes flow once it is read
				f.mu.Lock()
				f.priv = append(f.priv, c)
				f.mu.Unlock()
			}
			c.write([]byte(`{"success":` + strconv.FormatBool(ok) + `,"ret_msg":"","op":"subscribe","conn_id":"fake","req_id":"` + m.ReqID + `"}`))
		}
	}
}

func (f *fakeVenue) dropPriv(c *fakeConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range f.priv {
		if p == c {
			f.priv = append(f.priv[:i], f.priv[i+1:]...)
			return
		}
	}
}

// killPrivate closes every private connection (the stream drops).
func (f *fakeVenue) killPrivate() {
	f.mu.Lock()
	conns := f.priv
	f.priv = nil
	f.mu.Unlock()
	for _, c := range conns {
		c.ws.Close()
	}
}

// killTrade closes every trade connection.
func (f *fakeVenue) killTrade() {
	f.mu.Lock()
	conns := f.trade
	f.trade = nil
	f.mu.Unlock()
	for _, c := range conns {
		c.ws.Close()
	}
}

func (f *fakeVenue) set(fn func(f *fakeVenue)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeVenue) privConns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.priv)
}

func (f *fakeVenue) handleTrade(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	deny := f.tradeDeny
	f.mu.Unlock()
	if deny {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	ws, err := f.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &fakeConn{ws: ws}
	defer ws.Close()
	f.mu.Lock()
	f.hits["ws:trade"]++
	f.trade = append(f.trade, c)
	f.mu.Unlock()
	_, msg, err := ws.ReadMessage()
	if err != nil {
		return
	}
	tmpl := docFile(f.t, "ws_trade_order_create.json", "")
	auth := tmpl["auth_response"].(map[string]any)
	if !f.wsAuthOK(msg) {
		auth["retCode"], auth["retMsg"] = 10004, "Invalid sign"
		b, _ := json.Marshal(auth)
		c.write(b)
		return
	}
	b, _ := json.Marshal(auth)
	c.write(b)
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var m struct {
			ReqID  string            `json:"reqId"`
			Header map[string]string `json:"header"`
			Op     string            `json:"op"`
			Args   []json.RawMessage `json:"args"`
		}
		if err := json.Unmarshal(msg, &m); err != nil {
			continue
		}
		f.mu.Lock()
		f.hits["ws:trade:"+m.Op]++
		drop, silent := f.dropTrade, f.silentWS
		f.dropTrade = false
		f.mu.Unlock()
		switch m.Op {
		case "ping":
			p := tmpl["ping_response"].(map[string]any)
			b, _ := json.Marshal(p)
			c.write(b)
			continue
		case "order.create":
		default:
			continue
		}
		reply := deepCopy(tmpl["order_create_response"]).(map[string]any)
		reply["reqId"] = m.ReqID
		hdr := reply["header"].(map[string]any)
		now := f.nowMs()
		hdr["X-Bapi-Limit"], hdr["X-Bapi-Limit-Status"], hdr["Timenow"] = "20", "18", strconv.FormatInt(now, 10)
		hdr["X-Bapi-Limit-Reset-Timestamp"] = strconv.FormatInt(now, 10)
		ts, _ := strconv.ParseInt(m.Header["X-BAPI-TIMESTAMP"], 10, 64)
		rw, _ := strconv.ParseInt(m.Header["X-BAPI-RECV-WINDOW"], 10, 64)
		if rw == 0 {
			rw = 5000
		}
		if !(now-rw <= ts && ts < now+1000) || len(m.Args) != 1 || len(m.ReqID) > 36 {
			reply["retCode"], reply["retMsg"], reply["data"] = 10002, "timestamp outside the window", map[string]any{}
			b, _ := json.Marshal(reply)
			c.write(b)
			continue
		}
		cr, err := f.parseCreate(m.Args[0])
		if err != nil {
			reply["retCode"], reply["retMsg"], reply["data"] = 10001, err.Error(), map[string]any{}
			b, _ := json.Marshal(reply)
			c.write(b)
			continue
		}
		o, code, emsg := f.execute(cr)
		if drop {
			ws.Close()
			return
		}
		if silent {
			continue
		}
		if code != 0 {
			reply["retCode"], reply["retMsg"], reply["data"] = code, emsg, map[string]any{}
		} else {
			reply["data"] = map[string]any{"orderId": o.id, "orderLinkId": o.link}
		}
		b, _ := json.Marshal(reply)
		c.write(b)
	}
}

// testInstruments are the fake's instruments with Bybit's documented
// BTCUSDT filters (rest_instruments_spot_response.json: tick 0.1, step
// 0.000001, min qty 0.000011, min amount 5).
func testInstruments() []exchange.Instrument {
	return []exchange.Instrument{
		{ID: 1, Venue: 3, Symbol: "BTCUSDT", Canonical: "BTC-USDT", Base: "BTC", Quote: "USDT", Scale: num.Scale{Px: 2, Qty: 6},
			Tick: 10, Step: 1, MinQty: 11, MinNotional: 500},
		{ID: 2, Venue: 3, Symbol: "ETHUSDT", Canonical: "ETH-USDT", Base: "ETH", Quote: "USDT", Scale: num.Scale{Px: 2, Qty: 5},
			Tick: 1, Step: 10, MinQty: 10, MinNotional: 100},
		{ID: 3, Venue: 3, Symbol: "ICPUSDT", Canonical: "ICP-USDT", Base: "ICP", Quote: "USDT", Scale: num.Scale{Px: 3, Qty: 2},
			Tick: 1, Step: 1},
	}
}

func testCredentials(t testing.TB) Credentials {
	c, err := NewCredentials(fakeKey, fakeSecret)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newTestClient returns a started client on the fake venue.
func newTestClient(t testing.TB, f *fakeVenue, mut func(*ClientConfig)) *Client {
	t.Helper()
	cfg := ClientConfig{
		Venue: 3, Name: "bybit-fake", RESTURL: f.restURL(), WSURL: f.wsURL(),
		Credentials: testCredentials(t), Instruments: testInstruments(),
		OrderEntry: OrderEntryREST, BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		PollEvery: 20 * time.Millisecond, PollStaleAfter: 200 * time.Millisecond, PingEvery: time.Second,
		TimeSyncEvery: -1,
	}
	if mut != nil {
		mut(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitUntil polls cond until it holds or a generous deadline passes.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recSink records private events.
type recSink struct {
	mu     sync.Mutex
	orders []exchange.OrderState
	fills  []exchange.Fill
	stream []bool
}

func (s *recSink) OnOrder(o exchange.OrderState) {
	s.mu.Lock()
	s.orders = append(s.orders, o)
	s.mu.Unlock()
}
func (s *recSink) OnFill(f exchange.Fill) { s.mu.Lock(); s.fills = append(s.fills, f); s.mu.Unlock() }
func (s *recSink) OnStream(up bool)       { s.mu.Lock(); s.stream = append(s.stream, up); s.mu.Unlock() }

func (s *recSink) fillsOf(id string) []exchange.Fill {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []exchange.Fill
	for _, f := range s.fills {
		if f.ClientID.String() == id {
			out = append(out, f)
		}
	}
	return out
}

// distinctFills returns the fills of id deduplicated by trade id (the
// consumer's job), and how many deliveries there were.
func (s *recSink) distinctFills(id string) (map[exchange.ID]exchange.Fill, int) {
	all := s.fillsOf(id)
	m := map[exchange.ID]exchange.Fill{}
	for _, f := range all {
		if prev, ok := m[f.TradeID]; ok && prev != f {
			panic(fmt.Sprintf("trade %s delivered with different contents:\n%+v\n%+v", f.TradeID, prev, f))
		}
		m[f.TradeID] = f
	}
	return m, len(all)
}

func (s *recSink) lastOrder(id string) (exchange.OrderState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.orders) - 1; i >= 0; i-- {
		if s.orders[i].ClientID.String() == id {
			return s.orders[i], true
		}
	}
	return exchange.OrderState{}, false
}

func (s *recSink) streamLog() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.stream...)
}

// runPrivate starts RunPrivate and waits for the stream to be up.
func runPrivate(t testing.TB, c *Client) (*recSink, context.CancelFunc) {
	t.Helper()
	sink := &recSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.RunPrivate(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("RunPrivate did not return")
		}
	})
	waitUntil(t, "private stream up", func() bool { l := sink.streamLog(); return len(l) > 0 && l[len(l)-1] })
	return sink, cancel
}

func decimalOf(s string) decimal.Decimal { return decimal.RequireFromString(s) }
