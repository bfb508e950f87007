package binance

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/shopspring/decimal"
)

// fakeVenue is a small Binance spot written from the documentation for the
// client's unit tests: signed REST (order, query, cancel, openOrders,
// myTrades, account, time) and the WebSocket API (order.place,
// session.logon, userDataStream.subscribe[.signature], ping), with the
// documented answers and error bodies, a server clock that may run ahead
// of or behind ours, HMAC and Ed25519 signature checks, and hooks that
// inject faults. It counts every request, so tests can assert that
// nothing was sent (or resent). It is not the simulator: exchange/sim is
// the end-to-end venue; this one is small enough to read next to a test.
type fakeVenue struct {
	t      testing.TB
	srv    *httptest.Server
	apiKey string
	secret string
	edPub  ed25519.PublicKey

	mu          sync.Mutex
	offset      time.Duration // server clock − local clock
	hits        map[string]int
	hitTimes    map[string][]time.Time
	orders      map[string]*fakeOrder // by client order id (latest)
	byID        map[int64]*fakeOrder
	trades      []fakeTrade
	nextOrder   int64
	nextTrade   int64
	fillFrac    decimal.Decimal // fraction of an IOC order that fills (default 1)
	restHook    func(w http.ResponseWriter, r *http.Request, route string) bool
	wsHook      func(c *fakeWS, method string, id json.RawMessage, params map[string]any) bool
	streams     map[*fakeWS]bool // subscribed stream connections
	refuseWS    bool             // new WebSocket connections are refused
	silent      bool             // executionReports are not pushed
	balances    map[string][2]string
	dupReuse    bool // Binance's rule: a client id may be reused once the order is final
	symbolScale map[string][2]int32
}

type fakeOrder struct {
	sym, clientID, side, tif string
	id                       int64
	px, qty, filled, quote   decimal.Decimal
	status                   string
	time                     int64
}

type fakeTrade struct {
	sym               string
	id, orderID, time int64
	px, qty, fee      decimal.Decimal
	feeAsset          string
	buyer, maker      bool
	clientID          string
}

const (
	fakeKey    = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
	fakeSecret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
)

func newFakeVenue(t testing.TB) *fakeVenue {
	f := &fakeVenue{t: t, apiKey: fakeKey, secret: fakeSecret,
		hits: map[string]int{}, hitTimes: map[string][]time.Time{},
		orders: map[string]*fakeOrder{}, byID: map[int64]*fakeOrder{}, streams: map[*fakeWS]bool{},
		nextOrder: 12569099453, nextTrade: 1650422481, fillFrac: decimal.NewFromInt(1),
		balances:    map[string][2]string{"BTC": {"1.3447112", "0.08600000"}, "USDT": {"1021.21000000", "0.00000000"}},
		dupReuse:    true,
		symbolScale: map[string][2]int32{"BTCUSDT": {2, 5}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v3/", f.rest)
	mux.HandleFunc("/ws-api/v3", f.wsAPI)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.close)
	return f
}

func (f *fakeVenue) close() {
	f.mu.Lock()
	for c := range f.streams {
		c.conn.Close()
	}
	f.mu.Unlock()
	f.srv.CloseClientConnections()
	f.srv.Close()
}

func (f *fakeVenue) restURL() string { return f.srv.URL }
func (f *fakeVenue) wsURL() string {
	return "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ws-api/v3"
}

func (f *fakeVenue) serverNow() time.Time { return time.Now().Add(f.offset) }

// hit counts a request by route.
func (f *fakeVenue) hit(route string) {
	f.mu.Lock()
	f.hits[route]++
	f.hitTimes[route] = append(f.hitTimes[route], time.Now())
	f.mu.Unlock()
}

func (f *fakeVenue) count(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[route]
}

func (f *fakeVenue) times(route string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.hitTimes[route]...)
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fakeErr(w http.ResponseWriter, status, code int, msg string) {
	writeJSONBody(w, status, map[string]any{"code": code, "msg": msg})
}

// checkSigned verifies signature and timing of a REST request and returns
// its parameters (query and body merged), or writes the error.
func (f *fakeVenue) checkSigned(w http.ResponseWriter, r *http.Request, body string) (url.Values, bool) {
	if r.Header.Get("X-MBX-APIKEY") != f.apiKey {
		fakeErr(w, 401, -2015, "Invalid API-key, IP, or permissions for action.")
		return nil, false
	}
	total := r.URL.RawQuery + body
	i := strings.LastIndex(total, "&signature=")
	if i < 0 {
		fakeErr(w, 400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
		return nil, false
	}
	payload, sig := total[:i], total[i+len("&signature="):]
	if f.edPub != nil {
		raw, err := url.QueryUnescape(sig)
		s, err2 := base64.StdEncoding.DecodeString(raw)
		if err != nil || err2 != nil || !ed25519.Verify(f.edPub, []byte(payload), s) {
			fakeErr(w, 400, -1022, "Signature for this request is not valid.")
			return nil, false
		}
	} else if !hmac.Equal([]byte(strings.ToLower(sig)), []byte(hmacHex(f.secret, payload))) {
		fakeErr(w, 400, -1022, "Signature for this request is not valid.")
		return nil, false
	}
	vals, err := url.ParseQuery(payload)
	if err != nil {
		fakeErr(w, 400, -1100, "Illegal characters found in a parameter.")
		return nil, false
	}
	if code, msg := f.checkTime(vals.Get("timestamp"), vals.Get("recvWindow")); code != 0 {
		fakeErr(w, 400, code, msg)
		return nil, false
	}
	return vals, true
}

func hmacHex(secret, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

// checkTime applies rest-api.md's rule: timestamp < serverTime + 1000 and
// serverTime − timestamp ≤ recvWindow.
func (f *fakeVenue) checkTime(ts, rw string) (int, string) {
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
	}
	win := int64(5000)
	if rw != "" {
		win, _ = strconv.ParseInt(rw, 10, 64)
	}
	st := f.serverNow().UnixMilli()
	if t >= st+1000 {
		return -1021, "Timestamp for this request was 1000ms ahead of the server's time."
	}
	if st-t > win {
		return -1021, "Timestamp for this request is outside of the recvWindow."
	}
	return 0, ""
}

func (f *fakeVenue) rest(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	f.hit(route)
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body))) // hooks may read it again
	f.mu.Lock()
	hook := f.restHook
	f.mu.Unlock()
	if hook != nil && hook(w, r, route) {
		return
	}
	w.Header().Set("X-MBX-USED-WEIGHT-1M", "7")
	if route == "GET /api/v3/time" {
		writeJSONBody(w, 200, map[string]int64{"serverTime": f.serverNow().UnixMilli()})
		return
	}
	vals, ok := f.checkSigned(w, r, string(body))
	if !ok {
		return
	}
	switch route {
	case "POST /api/v3/order":
		status, v := f.placeOrder(vals)
		if status == 200 {
			w.Header().Set("X-MBX-ORDER-COUNT-10S", "1")
			w.Header().Set("X-MBX-ORDER-COUNT-1D", "1")
		}
		writeJSONBody(w, status, v)
	case "GET /api/v3/order":
		f.mu.Lock()
		o := f.find(vals)
		var v map[string]any
		if o != nil {
			v = o.result(false)
		}
		f.mu.Unlock()
		if o == nil {
			fakeErr(w, 400, -2013, "Order does not exist.")
			return
		}
		writeJSONBody(w, 200, v)
	case "DELETE /api/v3/order":
		f.mu.Lock()
		o := f.find(vals)
		var v map[string]any
		if o != nil && (o.status == "NEW" || o.status == "PARTIALLY_FILLED") {
			o.status = "CANCELED"
			v = o.result(false)
			v["origClientOrderId"] = o.clientID
			v["clientOrderId"] = "cancel" + strconv.FormatInt(o.id, 10)
		}
		f.mu.Unlock()
		if v == nil {
			fakeErr(w, 400, -2011, "Unknown order sent.")
			return
		}
		writeJSONBody(w, 200, v)
	case "GET /api/v3/openOrders":
		f.mu.Lock()
		out := []any{}
		for _, o := range f.sortedOrders() {
			if (vals.Get("symbol") == "" || vals.Get("symbol") == o.sym) && (o.status == "NEW" || o.status == "PARTIALLY_FILLED") {
				out = append(out, o.result(false))
			}
		}
		f.mu.Unlock()
		writeJSONBody(w, 200, out)
	case "GET /api/v3/myTrades":
		writeJSONBody(w, 200, f.myTrades(vals))
	case "GET /api/v3/account":
		f.mu.Lock()
		var bal []any
		var names []string
		for a := range f.balances {
			names = append(names, a)
		}
		sort.Strings(names)
		for _, a := range names {
			bal = append(bal, map[string]string{"asset": a, "free": f.balances[a][0], "locked": f.balances[a][1]})
		}
		f.mu.Unlock()
		writeJSONBody(w, 200, map[string]any{"makerCommission": 15, "canTrade": true,
			"commissionRates": map[string]string{"maker": "0.00150000"}, "balances": bal, "permissions": []string{"SPOT"}, "uid": 354937868})
	default:
		fakeErr(w, 404, -1000, "no such route in the fake")
	}
}

func (f *fakeVenue) sortedOrders() []*fakeOrder {
	var out []*fakeOrder
	for _, o := range f.byID {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (f *fakeVenue) find(vals url.Values) *fakeOrder {
	if id := vals.Get("origClientOrderId"); id != "" {
		if o := f.orders[id]; o != nil && o.sym == vals.Get("symbol") {
			return o
		}
		return nil
	}
	id, _ := strconv.ParseInt(vals.Get("orderId"), 10, 64)
	return f.byID[id]
}

// placeOrder executes a LIMIT order against an infinitely deep book at the
// limit price: an IOC fills fillFrac of its quantity (at least one step)
// and expires the rest (EXPIRED, as Binance reports a partly filled IOC).
// The commission is 0.1% of what is received, in that asset.
func (f *fakeVenue) placeOrder(vals url.Values) (int, any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sym := vals.Get("symbol")
	if _, ok := f.symbolScale[sym]; !ok {
		return 400, map[string]any{"code": -1121, "msg": "Invalid symbol."}
	}
	cid := vals.Get("newClientOrderId")
	if o := f.orders[cid]; o != nil {
		final := o.status == "FILLED" || o.status == "EXPIRED" || o.status == "CANCELED"
		if !final || !f.dupReuse {
			return 400, map[string]any{"code": -2010, "msg": "Duplicate order sent."}
		}
	}
	px, err1 := decimal.NewFromString(vals.Get("price"))
	qty, err2 := decimal.NewFromString(vals.Get("quantity"))
	if err1 != nil || err2 != nil {
		return 400, map[string]any{"code": -1102, "msg": "Mandatory parameter 'price' was not sent, was empty/null, or malformed."}
	}
	f.nextOrder++
	o := &fakeOrder{sym: sym, clientID: cid, side: vals.Get("side"), tif: vals.Get("timeInForce"), id: f.nextOrder,
		px: px, qty: qty, quote: decimal.Zero, status: "NEW", time: f.serverNow().UnixMilli()}
	f.orders[cid] = o
	f.byID[o.id] = o
	f.push(o.report("NEW", nil))
	var fills []any
	if o.tif != "GTC" {
		fillQty := qty.Mul(f.fillFrac).Truncate(int32(f.symbolScale[sym][1]))
		if fillQty.Sign() > 0 {
			t := f.execute(o, fillQty)
			fills = append(fills, map[string]any{"price": t.px.StringFixed(8), "qty": t.qty.StringFixed(8),
				"commission": t.fee.StringFixed(8), "commissionAsset": t.feeAsset, "tradeId": t.id})
		}
		if o.filled.LessThan(o.qty) {
			o.status = "EXPIRED"
			f.push(o.report("EXPIRED", nil))
		}
	}
	res := o.result(true)
	if vals.Get("newOrderRespType") == "FULL" {
		if fills == nil {
			fills = []any{}
		}
		res["fills"] = fills
	}
	return 200, res
}

func (f *fakeVenue) execute(o *fakeOrder, qty decimal.Decimal) fakeTrade {
	f.nextTrade++
	t := fakeTrade{sym: o.sym, id: f.nextTrade, orderID: o.id, time: f.serverNow().UnixMilli(), px: o.px, qty: qty,
		buyer: o.side == "BUY", clientID: o.clientID}
	if o.side == "BUY" {
		t.fee, t.feeAsset = qty.Mul(decimal.RequireFromString("0.001")).Round(8), "BTC"
	} else {
		t.fee, t.feeAsset = qty.Mul(o.px).Mul(decimal.RequireFromString("0.001")).Round(8), "USDT"
	}
	f.trades = append(f.trades, t)
	o.filled = o.filled.Add(qty)
	o.quote = o.quote.Add(qty.Mul(o.px))
	o.status = "PARTIALLY_FILLED"
	if o.filled.Equal(o.qty) {
		o.status = "FILLED"
	}
	f.push(o.report("TRADE", &t))
	return t
}

// fillResting fills a resting (GTC) order's remainder, as a match against
// a later taker would.
func (f *fakeVenue) fillResting(cid string) fakeTrade {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[cid]
	t := f.execute(o, o.qty.Sub(o.filled))
	f.trades[len(f.trades)-1].maker = true
	t.maker = true
	return t
}

func (o *fakeOrder) result(withTransact bool) map[string]any {
	m := map[string]any{"symbol": o.sym, "orderId": o.id, "orderListId": -1, "clientOrderId": o.clientID,
		"price": o.px.StringFixed(8), "origQty": o.qty.StringFixed(8), "executedQty": o.filled.StringFixed(8),
		"cummulativeQuoteQty": o.quote.StringFixed(8), "status": o.status, "timeInForce": o.tif, "type": "LIMIT",
		"side": o.side, "workingTime": o.time, "selfTradePreventionMode": "NONE"}
	if withTransact {
		m["transactTime"] = o.time
	} else {
		m["time"], m["updateTime"] = o.time, o.time
		m["isWorking"] = true
	}
	return m
}

// report is an executionReport of o (x = execType), with the trade's
// fields for x=TRADE.
func (o *fakeOrder) report(x string, t *fakeTrade) map[string]any {
	ev := map[string]any{"e": "executionReport", "E": time.Now().UnixMilli(), "s": o.sym, "c": o.clientID, "S": o.side,
		"o": "LIMIT", "f": o.tif, "q": o.qty.StringFixed(8), "p": o.px.StringFixed(8), "P": "0.00000000", "F": "0.00000000",
		"g": -1, "C": "", "x": x, "X": o.status, "r": "NONE", "i": o.id, "l": "0.00000000", "z": o.filled.StringFixed(8),
		"L": "0.00000000", "n": "0", "N": nil, "T": o.time, "t": -1, "v": 3, "I": 8641984, "w": true, "m": false, "M": false,
		"O": o.time, "Z": o.quote.StringFixed(8), "Y": "0.00000000", "Q": "0.00000000", "W": o.time, "V": "NONE"}
	if t != nil {
		ev["l"], ev["L"], ev["n"], ev["N"], ev["t"], ev["T"], ev["m"] = t.qty.StringFixed(8), t.px.StringFixed(8), t.fee.StringFixed(8), t.feeAsset, t.id, t.time, t.maker
	}
	return ev
}

func (f *fakeVenue) myTrades(vals url.Values) []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	sym := vals.Get("symbol")
	out := []any{}
	limit := 500
	if l := vals.Get("limit"); l != "" {
		limit, _ = strconv.Atoi(l)
	}
	from, _ := strconv.ParseInt(vals.Get("fromId"), 10, 64)
	start, _ := strconv.ParseInt(vals.Get("startTime"), 10, 64)
	end, _ := strconv.ParseInt(vals.Get("endTime"), 10, 64)
	oid, _ := strconv.ParseInt(vals.Get("orderId"), 10, 64)
	if vals.Get("startTime") != "" && vals.Get("endTime") != "" && end-start > dayMs {
		f.t.Errorf("myTrades window %d ms over 24 h", end-start)
	}
	for _, t := range f.trades {
		if t.sym != sym || oid != 0 && t.orderID != oid || from != 0 && t.id < from ||
			vals.Get("startTime") != "" && t.time < start || vals.Get("endTime") != "" && t.time > end {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, map[string]any{"symbol": t.sym, "id": t.id, "orderId": t.orderID, "orderListId": -1,
			"price": t.px.StringFixed(8), "qty": t.qty.StringFixed(8), "quoteQty": t.qty.Mul(t.px).StringFixed(8),
			"commission": t.fee.StringFixed(8), "commissionAsset": t.feeAsset, "time": t.time,
			"isBuyer": t.buyer, "isMaker": t.maker, "isBestMatch": true})
	}
	return out
}

// push sends an executionReport to every subscribed stream (f.mu held).
func (f *fakeVenue) push(ev map[string]any) {
	if f.silent {
		return
	}
	for c := range f.streams {
		c.send(map[string]any{"subscriptionId": c.subID, "event": ev})
	}
}

// dropStreams closes every stream connection.
func (f *fakeVenue) dropStreams() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.streams {
		c.conn.Close()
		delete(f.streams, c)
	}
}

func (f *fakeVenue) streamCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.streams)
}

// fakeWS is one WebSocket API connection of the fake.
type fakeWS struct {
	f        *fakeVenue
	conn     *websocket.Conn
	wmu      sync.Mutex
	subID    int
	loggedOn bool
}

func (c *fakeWS) send(v any) {
	b, _ := json.Marshal(v)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.WriteMessage(websocket.TextMessage, b)
}

func (c *fakeWS) answer(id json.RawMessage, status int, result any, errCode int, errMsg string) {
	m := map[string]any{"id": id, "status": status}
	if status == 200 {
		m["result"] = result
	} else {
		m["error"] = map[string]any{"code": errCode, "msg": errMsg}
	}
	c.send(m)
}

var fakeUpgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (f *fakeVenue) wsAPI(w http.ResponseWriter, r *http.Request) {
	f.hit("WS connect")
	f.mu.Lock()
	refuse := f.refuseWS
	f.mu.Unlock()
	if refuse {
		http.Error(w, "refused", http.StatusServiceUnavailable)
		return
	}
	ws, err := fakeUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &fakeWS{f: f, conn: ws}
	defer func() {
		f.mu.Lock()
		delete(f.streams, c)
		f.mu.Unlock()
		ws.Close()
	}()
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params map[string]any  `json:"params"`
		}
		dec := json.NewDecoder(strings.NewReader(string(msg)))
		dec.UseNumber()
		if err := dec.Decode(&req); err != nil {
			c.answer(nil, 400, nil, -1135, "Invalid JSON Request")
			continue
		}
		f.hit("WS " + req.Method)
		f.mu.Lock()
		hook := f.wsHook
		f.mu.Unlock()
		if hook != nil && hook(c, req.Method, req.ID, req.Params) {
			continue
		}
		f.wsRequest(c, req.ID, req.Method, req.Params)
	}
}

// wsParams checks a signed WebSocket API request (or a logged-on one
// without apiKey/signature) and returns its parameters as strings.
func (f *fakeVenue) wsParams(c *fakeWS, id json.RawMessage, params map[string]any) (url.Values, bool) {
	vals := url.Values{}
	var keys []string
	for k, v := range params {
		vals.Set(k, fmt.Sprint(v))
		if k != "signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if vals.Get("signature") == "" && c.loggedOn {
		if code, msg := f.checkTime(vals.Get("timestamp"), vals.Get("recvWindow")); code != 0 {
			c.answer(id, 400, nil, code, msg)
			return nil, false
		}
		return vals, true
	}
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+vals.Get(k))
	}
	payload := strings.Join(parts, "&")
	if vals.Get("apiKey") != f.apiKey {
		c.answer(id, 401, nil, -2015, "Invalid API-key, IP, or permissions for action.")
		return nil, false
	}
	sig := vals.Get("signature")
	if f.edPub != nil {
		s, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || !ed25519.Verify(f.edPub, []byte(payload), s) {
			c.answer(id, 400, nil, -1022, "Signature for this request is not valid.")
			return nil, false
		}
	} else if !hmac.Equal([]byte(sig), []byte(hmacHex(f.secret, payload))) {
		c.answer(id, 400, nil, -1022, "Signature for this request is not valid.")
		return nil, false
	}
	if code, msg := f.checkTime(vals.Get("timestamp"), vals.Get("recvWindow")); code != 0 {
		c.answer(id, 400, nil, code, msg)
		return nil, false
	}
	return vals, true
}

func (f *fakeVenue) wsRequest(c *fakeWS, id json.RawMessage, method string, params map[string]any) {
	switch method {
	case "ping":
		c.answer(id, 200, map[string]any{}, 0, "")
	case "session.logon":
		if f.edPub == nil {
			c.answer(id, 400, nil, -4056, "HMAC_SHA256 API key is not supported.")
			return
		}
		if _, ok := f.wsParams(c, id, params); ok {
			c.loggedOn = true
			c.answer(id, 200, map[string]any{"apiKey": f.apiKey, "userDataStream": false}, 0, "")
		}
	case "userDataStream.subscribe":
		if !c.loggedOn {
			c.answer(id, 401, nil, -2015, "Invalid API-key, IP, or permissions for action.")
			return
		}
		f.subscribe(c, id)
	case "userDataStream.subscribe.signature":
		if _, ok := f.wsParams(c, id, params); ok {
			f.subscribe(c, id)
		}
	case "order.place":
		vals, ok := f.wsParams(c, id, params)
		if !ok {
			return
		}
		status, v := f.placeOrder(vals)
		if status != 200 {
			m := v.(map[string]any)
			c.answer(id, status, nil, m["code"].(int), m["msg"].(string))
			return
		}
		c.send(map[string]any{"id": id, "status": 200, "result": v, "rateLimits": []any{
			map[string]any{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50, "count": 1},
			map[string]any{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000, "count": 3},
		}})
	default:
		c.answer(id, 400, nil, -1020, "This operation is not supported.")
	}
}

func (f *fakeVenue) subscribe(c *fakeWS, id json.RawMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.streams[c] {
		c.answer(id, 400, nil, -2035, "User Data Stream subscription already active.")
		return
	}
	f.streams[c] = true
	c.answer(id, 200, map[string]any{"subscriptionId": c.subID}, 0, "")
}
