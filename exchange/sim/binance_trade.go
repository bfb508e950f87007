package sim

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"arb/exchange"
)

// Binance spot trading over REST (rest-api.md): signed requests (HMAC-SHA256
// hex, or Ed25519 base64 with the account's Ed25519 key), new order, query
// and cancel by orderId or client order id, open orders, account trade list
// (myTrades), account information; request weight and order-count headers.
// The order logic is shared with the WebSocket API (binance_wsapi.go), whose
// results have the same shape.

const (
	binanceWeightLimit = 6000   // REQUEST_WEIGHT per minute (enums.md sample)
	binanceOrders10s   = 50     // ORDERS per 10 s (the WebSocket API docs' rateLimits example)
	binanceOrdersDay   = 160000 // ORDERS per day (same example)
)

// bnParams are a request's parameters by name, as strings (REST query and
// body, or a WebSocket API request's params with numbers and booleans in
// their JSON text).
type bnParams map[string]string

// bnErr is a Binance error answer: HTTP (or WebSocket API) status, code and
// message.
type bnErr struct {
	status, code int
	msg          string
}

func bnE(status, code int, msg string) *bnErr { return &bnErr{status, code, msg} }

func bnMissing(p string) *bnErr {
	return bnE(400, -1102, fmt.Sprintf("Mandatory parameter '%s' was not sent, was empty/null, or malformed.", p))
}

func (v *venue) binanceREST(mux *http.ServeMux) {
	w := func(n int) func(*http.Request, int) int { return func(*http.Request, int) int { return n } }
	// Since 2026-04-02 a successful order placement or cancellation costs
	// no request weight; a failed one costs the documented 1.
	orderW := func(_ *http.Request, status int) int {
		if status == 200 {
			return 0
		}
		return 1
	}
	route := func(pattern string, weight func(*http.Request, int) int, h restHandler) {
		mux.HandleFunc(pattern, v.restRoute(pattern, v.binanceLimits(weight), h))
	}
	route("GET /api/v3/time", w(1), v.binanceTime)
	route("GET /api/v3/exchangeInfo", w(20), v.binanceExchangeInfo)
	route("GET /api/v3/depth", func(r *http.Request, _ int) int { return binanceDepthWeight(r) }, v.binanceDepth)
	route("POST /api/v3/order", orderW, v.binanceRESTSigned(v.binanceNewOrder))
	route("GET /api/v3/order", w(4), v.binanceRESTSigned(v.binanceQueryOrder))
	route("DELETE /api/v3/order", orderW, v.binanceRESTSigned(v.binanceCancelOrder))
	route("GET /api/v3/openOrders", func(r *http.Request, _ int) int {
		if r.URL.Query().Get("symbol") == "" {
			return 80
		}
		return 6
	}, v.binanceRESTSigned(v.binanceOpenOrders))
	route("GET /api/v3/myTrades", func(r *http.Request, _ int) int {
		if r.URL.Query().Get("orderId") != "" {
			return 5
		}
		return 20
	}, v.binanceRESTSigned(v.binanceMyTrades))
	route("GET /api/v3/account", w(20), v.binanceRESTSigned(v.binanceAccount))
}

// binanceLimits is the REQUEST_WEIGHT rule: a request that arrives with the
// minute's weight already over 6000 gets HTTP 429 with Retry-After until the
// minute ends — and, like a FaultRateLimit refusal, a request inside that
// Retry-After is answered with the 418 ban; every answer carries
// X-MBX-USED-WEIGHT-1M, the weight used in the current minute including
// this request.
func (v *venue) binanceLimits(weight func(*http.Request, int) int) restLimits {
	return restLimits{
		before: func(_ *http.Request, _ []byte, now time.Time) (bool, int, time.Duration) {
			if over, retry := v.binanceOverWeight(now); over {
				return true, 429, retry
			}
			return false, 0, 0
		},
		after: func(r *http.Request, c *capture, now time.Time) {
			used := v.useWeight(weight(r, c.status), now)
			c.hdr.Set("X-MBX-USED-WEIGHT-1M", strconv.Itoa(used))
		},
	}
}

// binanceOverWeight applies the REQUEST_WEIGHT limit to a request arriving
// now (REST or WebSocket API: the limit is per IP): over it, the request is
// refused until the minute ends, and the venue is limited until then, so a
// request inside that wait is banned (admit). Caller holds Sim.mu.
func (v *venue) binanceOverWeight(now time.Time) (bool, time.Duration) {
	used, end := v.weight.peek(now, time.Minute)
	if used <= binanceWeightLimit {
		return false, 0
	}
	v.rl.until, v.rl.untilStatus = end, 429
	return true, end.Sub(now)
}

// useWeight adds request weight to the current minute and returns the
// minute's total (caller holds Sim.mu).
func (v *venue) useWeight(n int, now time.Time) int {
	if start := now.Truncate(time.Minute); !v.weight.start.Equal(start) {
		v.weight.start, v.weight.n = start, 0
	}
	v.weight.n += n
	return v.weight.n
}

func (v *venue) binanceTime(w http.ResponseWriter, _ *http.Request, now time.Time) {
	writeJSON(w, 200, map[string]int64{"serverTime": now.UnixMilli()})
}

// binanceRESTSigned reads and verifies a SIGNED REST request (API key
// header, signature, timestamp) and runs op on its parameters under
// Sim.mu, writing its result or error.
func (v *venue) binanceRESTSigned(op func(p bnParams, via string, now time.Time) (any, *bnErr, ackFault)) restHandler {
	return func(w http.ResponseWriter, r *http.Request, now time.Time) {
		p, e := v.binanceRESTParams(r, now)
		if e != nil {
			binanceError(w, e.status, e.code, e.msg)
			return
		}
		s := v.s
		s.mu.Lock()
		res, e, ack := op(p, "rest", now)
		var hdr [][2]string
		if e == nil && r.Method == "POST" {
			c10, _ := v.orders10s.peek(now, 10*time.Second)
			cd, _ := v.ordersDay.peek(now, 24*time.Hour)
			hdr = append(hdr, [2]string{"X-MBX-ORDER-COUNT-10S", strconv.Itoa(c10)}, [2]string{"X-MBX-ORDER-COUNT-1D", strconv.Itoa(cd)})
		}
		s.mu.Unlock()
		if e != nil {
			binanceError(w, e.status, e.code, e.msg)
			return
		}
		for _, h := range hdr {
			w.Header().Set(h[0], h[1])
		}
		setAck(w, ack)
		writeJSON(w, 200, res)
	}
}

// binanceRESTParams verifies a SIGNED REST request and returns its
// parameters: X-MBX-APIKEY names the HMAC key or the Ed25519 key; the
// signature covers the query string followed directly by the body, both as
// sent (hex HMAC-SHA256, compared case-insensitively; or base64 Ed25519,
// percent-encoded on the wire); timestamp and recvWindow follow the
// documented timing rule; a parameter given twice is refused.
func (v *venue) binanceRESTParams(r *http.Request, now time.Time) (bnParams, *bnErr) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return nil, bnE(400, -1000, "An unknown error occurred while processing the request.")
	}
	key := r.Header.Get("X-MBX-APIKEY")
	if key == "" {
		return nil, bnE(401, -2014, "API-key format invalid.")
	}
	if key != v.cfg.APIKey && (v.cfg.Ed25519APIKey == "" || key != v.cfg.Ed25519APIKey) {
		return nil, bnE(401, -2015, "Invalid API-key, IP, or permissions for action.")
	}
	payload, sig := binanceTotalParams(r.URL.RawQuery, string(body))
	if sig == "" {
		return nil, bnMissing("signature")
	}
	if key == v.cfg.Ed25519APIKey {
		raw, err := url.QueryUnescape(sig)
		if err != nil || !v.binanceEd25519OK(payload, raw) {
			return nil, bnE(401, -1022, "Signature for this request is not valid.")
		}
	} else if !hmac.Equal([]byte(strings.ToLower(sig)), []byte(binanceSign(v.cfg.APISecret, payload))) {
		return nil, bnE(401, -1022, "Signature for this request is not valid.")
	}
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err == nil && len(body) > 0 {
		var bp url.Values
		bp, err = url.ParseQuery(string(body))
		for k, vs := range bp {
			params[k] = append(params[k], vs...)
		}
	}
	if err != nil {
		return nil, bnE(400, -1100, "Illegal characters found in a parameter.")
	}
	p := bnParams{}
	for k, vs := range params {
		if len(vs) > 1 {
			return nil, bnE(400, -1101, fmt.Sprintf("Duplicate values for parameter '%s'.", k))
		}
		p[k] = vs[0]
	}
	if p["timestamp"] == "" {
		return nil, bnMissing("timestamp")
	}
	if code, msg := binanceCheckTime(p["timestamp"], p["recvWindow"], now); code != 0 {
		return nil, bnE(400, code, msg)
	}
	return p, nil
}

// binanceEd25519OK verifies a base64 Ed25519 signature of payload with the
// account's Ed25519 public key.
func (v *venue) binanceEd25519OK(payload, sigB64 string) bool {
	if v.cfg.Ed25519PublicKey == "" {
		return false
	}
	pub, err := parseEd25519Public(v.cfg.Ed25519PublicKey)
	if err != nil {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	return err == nil && ed25519.Verify(pub, []byte(payload), sig)
}

// binanceSign is the documented HMAC signature: lower-case hex of
// HMAC-SHA256(secret, totalParams).
func binanceSign(secret, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

// binanceTotalParams returns the signed payload — the query string followed
// directly by the body, each without its signature parameter — and the
// signature as sent.
func binanceTotalParams(rawQuery, body string) (payload, sig string) {
	strip := func(s string) string {
		if s == "" {
			return s
		}
		parts := strings.Split(s, "&")
		keep := parts[:0]
		for _, p := range parts {
			if v, ok := strings.CutPrefix(p, "signature="); ok {
				sig = v
				continue
			}
			keep = append(keep, p)
		}
		return strings.Join(keep, "&")
	}
	q := strip(rawQuery)
	b := strip(body)
	return q + b, sig
}

// binanceCheckTime applies the documented timing rule: timestamp (ms, or µs
// when it has 16 digits) must not be more than 1 s ahead of server time nor
// older than recvWindow (default 5000 ms, at most 60000, up to 3 decimals).
func binanceCheckTime(tsS, rwS string, now time.Time) (int, string) {
	ts, err := strconv.ParseInt(tsS, 10, 64)
	if err != nil || ts <= 0 {
		return -1100, "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'."
	}
	tsUs := ts * 1000
	if ts >= 1e14 { // microseconds
		tsUs = ts
	}
	rwUs := int64(5000 * 1000)
	if rwS != "" {
		rw, err := strconv.ParseFloat(rwS, 64)
		if err != nil || rw < 0 || rw != rw {
			return -1100, "Illegal characters found in parameter 'recvWindow'."
		}
		if rw > 60000 {
			return -1131, "recvWindow must be less than 60000"
		}
		rwUs = int64(rw*1000 + 0.5)
	}
	nowUs := now.UnixMicro()
	if tsUs > nowUs+1_000_000 {
		return -1021, "Timestamp for this request was 1000ms ahead of the server's time."
	}
	if nowUs-tsUs > rwUs {
		return -1021, "Timestamp for this request is outside of the recvWindow."
	}
	return 0, ""
}

// binanceClientIDOK applies the server's client order id rule as Binance
// staff quoted it (^[a-zA-Z0-9-_]{1,36}$; the spot docs print none); the
// simulator also takes '.', which another quoted form allows.
func binanceClientIDOK(s string) bool {
	if len(s) == 0 || len(s) > 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// --- answers ---

type binanceAck struct {
	Symbol        string `json:"symbol"`
	OrderID       int64  `json:"orderId"`
	OrderListID   int64  `json:"orderListId"`
	ClientOrderID string `json:"clientOrderId"`
	TransactTime  int64  `json:"transactTime"`
}

type binanceResultResp struct {
	binanceAck
	Price                   string `json:"price"`
	OrigQty                 string `json:"origQty"`
	ExecutedQty             string `json:"executedQty"`
	OrigQuoteOrderQty       string `json:"origQuoteOrderQty"`
	CummulativeQuoteQty     string `json:"cummulativeQuoteQty"`
	Status                  string `json:"status"`
	TimeInForce             string `json:"timeInForce"`
	Type                    string `json:"type"`
	Side                    string `json:"side"`
	WorkingTime             int64  `json:"workingTime"`
	SelfTradePreventionMode string `json:"selfTradePreventionMode"`
}

type binanceFill struct {
	Price           string `json:"price"`
	Qty             string `json:"qty"`
	Commission      string `json:"commission"`
	CommissionAsset string `json:"commissionAsset"`
	TradeID         int64  `json:"tradeId"`
}

type binanceFullResp struct {
	binanceResultResp
	Fills []binanceFill `json:"fills"`
}

// binanceOrderView is an order as GET /api/v3/order, openOrders and
// order.status print it.
type binanceOrderView struct {
	Symbol                  string `json:"symbol"`
	OrderID                 int64  `json:"orderId"`
	OrderListID             int64  `json:"orderListId"`
	ClientOrderID           string `json:"clientOrderId"`
	Price                   string `json:"price"`
	OrigQty                 string `json:"origQty"`
	ExecutedQty             string `json:"executedQty"`
	CummulativeQuoteQty     string `json:"cummulativeQuoteQty"`
	Status                  string `json:"status"`
	TimeInForce             string `json:"timeInForce"`
	Type                    string `json:"type"`
	Side                    string `json:"side"`
	StopPrice               string `json:"stopPrice"`
	IcebergQty              string `json:"icebergQty"`
	Time                    int64  `json:"time"`
	UpdateTime              int64  `json:"updateTime"`
	IsWorking               bool   `json:"isWorking"`
	WorkingTime             int64  `json:"workingTime"`
	OrigQuoteOrderQty       string `json:"origQuoteOrderQty"`
	SelfTradePreventionMode string `json:"selfTradePreventionMode"`
}

// binanceCancelView is the answer to a cancellation.
type binanceCancelView struct {
	Symbol                  string `json:"symbol"`
	OrigClientOrderID       string `json:"origClientOrderId"`
	OrderID                 int64  `json:"orderId"`
	OrderListID             int64  `json:"orderListId"`
	ClientOrderID           string `json:"clientOrderId"`
	TransactTime            int64  `json:"transactTime"`
	Price                   string `json:"price"`
	OrigQty                 string `json:"origQty"`
	ExecutedQty             string `json:"executedQty"`
	OrigQuoteOrderQty       string `json:"origQuoteOrderQty"`
	CummulativeQuoteQty     string `json:"cummulativeQuoteQty"`
	Status                  string `json:"status"`
	TimeInForce             string `json:"timeInForce"`
	Type                    string `json:"type"`
	Side                    string `json:"side"`
	SelfTradePreventionMode string `json:"selfTradePreventionMode"`
}

type binanceTrade struct {
	Symbol          string `json:"symbol"`
	ID              int64  `json:"id"`
	OrderID         int64  `json:"orderId"`
	OrderListID     int64  `json:"orderListId"`
	Price           string `json:"price"`
	Qty             string `json:"qty"`
	QuoteQty        string `json:"quoteQty"`
	Commission      string `json:"commission"`
	CommissionAsset string `json:"commissionAsset"`
	Time            int64  `json:"time"`
	IsBuyer         bool   `json:"isBuyer"`
	IsMaker         bool   `json:"isMaker"`
	IsBestMatch     bool   `json:"isBestMatch"`
}

var binanceStatusNames = [...]string{"", "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED"}

func binanceSide(s exchange.Side) string {
	if s == exchange.Sell {
		return "SELL"
	}
	return "BUY"
}

func idInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func (v *venue) binanceView(o *order) binanceOrderView {
	sc := o.vb.sym.scale
	return binanceOrderView{Symbol: v.symbolName(o.vb.sym), OrderID: idInt(o.id), OrderListID: -1, ClientOrderID: o.clientID,
		Price: string(appendFixed8(nil, o.px, sc.Px)), OrigQty: string(appendFixed8(nil, o.qty, sc.Qty)),
		ExecutedQty: string(appendFixed8(nil, o.filled, sc.Qty)), CummulativeQuoteQty: o.quoteStr(8, false),
		Status: binanceStatusNames[o.status], TimeInForce: o.tif, Type: "LIMIT", Side: binanceSide(o.side),
		StopPrice: "0.00000000", IcebergQty: "0.00000000", Time: o.created.UnixMilli(), UpdateTime: o.updated.UnixMilli(),
		// isWorking: the order is (or was) on the book; IOC and FOK orders
		// never are.
		IsWorking: o.tif == "GTC", WorkingTime: o.created.UnixMilli(), OrigQuoteOrderQty: "0.00000000",
		SelfTradePreventionMode: "NONE"}
}

// --- operations (shared by REST and the WebSocket API; caller holds Sim.mu) ---

// binanceNewOrder is POST /api/v3/order and order.place: a LIMIT order
// (GTC rests, IOC and FOK fill from the book at once), answered as ACK,
// RESULT or FULL (the default for LIMIT).
func (v *venue) binanceNewOrder(p bnParams, via string, now time.Time) (any, *bnErr, ackFault) {
	for _, k := range []string{"symbol", "side", "type"} {
		if p[k] == "" {
			return nil, bnMissing(k), ackFault{}
		}
	}
	vb := v.venueSymbolOf(p["symbol"])
	if vb == nil {
		return nil, bnE(400, -1121, "Invalid symbol."), ackFault{}
	}
	var side exchange.Side
	switch p["side"] {
	case "BUY":
		side = exchange.Buy
	case "SELL":
		side = exchange.Sell
	default:
		return nil, bnE(400, -1100, "Illegal characters found in parameter 'side'; legal range is 'BUY, SELL'."), ackFault{}
	}
	if p["type"] != "LIMIT" {
		// The simulator fills limit orders only; other types are real but refused here.
		return nil, bnE(400, -1116, "Invalid orderType."), ackFault{}
	}
	for _, k := range []string{"timeInForce", "quantity", "price"} {
		if p[k] == "" {
			return nil, bnMissing(k), ackFault{}
		}
	}
	tif := p["timeInForce"]
	if tif != "GTC" && tif != "IOC" && tif != "FOK" {
		return nil, bnE(400, -1115, "Invalid timeInForce."), ackFault{}
	}
	respType := p["newOrderRespType"]
	if respType == "" {
		respType = "FULL" // LIMIT orders default to FULL
	}
	if respType != "ACK" && respType != "RESULT" && respType != "FULL" {
		return nil, bnE(400, -1100, "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK, RESULT, FULL'."), ackFault{}
	}
	clientID := p["newClientOrderId"]
	if clientID != "" && !binanceClientIDOK(clientID) {
		return nil, bnE(400, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_.]{1,36}$'."), ackFault{}
	}
	px, qty, failed := parseOrderNumbers(vb.sym, p["price"], p["quantity"])
	switch failed {
	case "":
	case "precision_price":
		return nil, bnE(400, -1111, "Parameter 'price' has too much precision."), ackFault{}
	case "precision_qty":
		return nil, bnE(400, -1111, "Parameter 'quantity' has too much precision."), ackFault{}
	case "price":
		return nil, bnE(400, -1013, "Filter failure: PRICE_FILTER"), ackFault{}
	case "qty":
		return nil, bnE(400, -1013, "Filter failure: LOT_SIZE"), ackFault{}
	default:
		return nil, bnE(400, -1013, "Filter failure: NOTIONAL"), ackFault{}
	}
	if n, _ := v.orders10s.peek(now, 10*time.Second); n >= binanceOrders10s {
		return nil, bnE(429, -1015, fmt.Sprintf("Too many new orders; current limit is %d orders per 10 SECOND.", binanceOrders10s)), ackFault{}
	}
	if n, _ := v.ordersDay.peek(now, 24*time.Hour); n >= binanceOrdersDay {
		return nil, bnE(429, -1015, fmt.Sprintf("Too many new orders; current limit is %d orders per 1 DAY.", binanceOrdersDay)), ackFault{}
	}
	pl, why := v.place(placeReq{vb: vb, side: side, px: px, qty: qty, tif: tif, clientID: clientID, via: via}, now)
	switch why {
	case refuseDuplicate:
		return nil, bnE(400, -2010, "Duplicate order sent."), ackFault{}
	case refuseBalance:
		return nil, bnE(400, -2010, "Account has insufficient balance for requested action."), ackFault{}
	}
	v.orders10s.hit(now, 10*time.Second)
	v.ordersDay.hit(now, 24*time.Hour)
	ord := pl.ord
	sc := vb.sym.scale
	ack := binanceAck{Symbol: v.symbolName(vb.sym), OrderID: idInt(ord.id), OrderListID: -1, ClientOrderID: ord.clientID, TransactTime: now.UnixMilli()}
	if respType == "ACK" {
		return ack, nil, pl.ack
	}
	res := binanceResultResp{binanceAck: ack,
		Price: string(appendFixed8(nil, px, sc.Px)), OrigQty: string(appendFixed8(nil, qty, sc.Qty)),
		ExecutedQty: string(appendFixed8(nil, ord.filled, sc.Qty)), OrigQuoteOrderQty: "0.00000000",
		CummulativeQuoteQty: ord.quoteStr(8, false), Status: binanceStatusNames[ord.status], TimeInForce: tif,
		Type: "LIMIT", Side: binanceSide(side), WorkingTime: now.UnixMilli(), SelfTradePreventionMode: "NONE"}
	if respType == "RESULT" {
		return res, nil, pl.ack
	}
	full := binanceFullResp{binanceResultResp: res, Fills: []binanceFill{}}
	for _, f := range ord.fills {
		full.Fills = append(full.Fills, binanceFill{
			Price: string(appendFixed8(nil, int64(f.Px), sc.Px)), Qty: string(appendFixed8(nil, int64(f.Qty), sc.Qty)),
			Commission: amount8(f.Fee, false), CommissionAsset: f.FeeAsset, TradeID: idInt(f.TradeID)})
	}
	return full, nil, pl.ack
}

// binanceFind looks an order up by orderId or origClientOrderId (the
// latest order with that id: which one Binance returns after an id was
// reused is not documented). With both, the orderId decides and the client
// id must match it.
func (v *venue) binanceFind(p bnParams) (*order, *bnErr) {
	if p["symbol"] == "" {
		return nil, bnMissing("symbol")
	}
	vb := v.venueSymbolOf(p["symbol"])
	if vb == nil {
		return nil, bnE(400, -1121, "Invalid symbol.")
	}
	id, cid := p["orderId"], p["origClientOrderId"]
	var o *order
	switch {
	case id != "":
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			return nil, bnE(400, -1100, "Illegal characters found in parameter 'orderId'; legal range is '^[0-9]{1,20}$'.")
		}
		o = v.orders.byID[id]
		if o != nil && cid != "" && o.clientID != cid {
			o = nil
		}
	case cid != "":
		o = v.orders.byClient[cid]
	default:
		return nil, bnE(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
	}
	if o != nil && o.vb != vb {
		o = nil
	}
	return o, nil
}

// binanceQueryOrder is GET /api/v3/order and order.status.
func (v *venue) binanceQueryOrder(p bnParams, _ string, _ time.Time) (any, *bnErr, ackFault) {
	o, e := v.binanceFind(p)
	if e != nil {
		return nil, e, ackFault{}
	}
	if o == nil {
		return nil, bnE(400, -2013, "Order does not exist."), ackFault{}
	}
	return v.binanceView(o), nil, ackFault{}
}

// binanceCancelOrder is DELETE /api/v3/order and order.cancel.
func (v *venue) binanceCancelOrder(p bnParams, _ string, now time.Time) (any, *bnErr, ackFault) {
	o, e := v.binanceFind(p)
	if e != nil {
		return nil, e, ackFault{}
	}
	if o == nil || !o.open() {
		return nil, bnE(400, -2011, "Unknown order sent."), ackFault{}
	}
	cid := p["newClientOrderId"]
	if cid != "" && !binanceClientIDOK(cid) {
		return nil, bnE(400, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_.]{1,36}$'."), ackFault{}
	}
	if cid == "" {
		cid = v.generatedClientID(o.id+"c", now)
	}
	v.cancel(o, cid, now)
	sc := o.vb.sym.scale
	return binanceCancelView{Symbol: v.symbolName(o.vb.sym), OrigClientOrderID: o.clientID, OrderID: idInt(o.id), OrderListID: -1,
		ClientOrderID: cid, TransactTime: now.UnixMilli(), Price: string(appendFixed8(nil, o.px, sc.Px)),
		OrigQty: string(appendFixed8(nil, o.qty, sc.Qty)), ExecutedQty: string(appendFixed8(nil, o.filled, sc.Qty)),
		OrigQuoteOrderQty: "0.00000000", CummulativeQuoteQty: o.quoteStr(8, false), Status: "CANCELED",
		TimeInForce: o.tif, Type: "LIMIT", Side: binanceSide(o.side), SelfTradePreventionMode: "NONE"}, nil, ackFault{}
}

// binanceOpenOrders is GET /api/v3/openOrders and openOrders.status: the
// open orders of symbol (or of every symbol), oldest first.
func (v *venue) binanceOpenOrders(p bnParams, _ string, _ time.Time) (any, *bnErr, ackFault) {
	var vb *vbook
	if sym := p["symbol"]; sym != "" {
		if vb = v.venueSymbolOf(sym); vb == nil {
			return nil, bnE(400, -1121, "Invalid symbol."), ackFault{}
		}
	}
	out := []binanceOrderView{}
	for _, o := range v.orders.open {
		if vb == nil || o.vb == vb {
			out = append(out, v.binanceView(o))
		}
	}
	return out, nil, ackFault{}
}

// binanceMyTrades is GET /api/v3/myTrades and myTrades, with the documented
// parameter combinations (symbol plus one of: nothing, orderId, startTime,
// endTime, fromId, startTime+endTime, orderId+fromId; others -1128), a
// window of at most 24 h (-1127) and limit 500 by default (values above
// 1000 are taken as 1000). Trades come oldest first: from fromId on, from
// startTime on, or the most recent ones (no parameter, endTime only); where
// the docs do not say which end of a range a limit keeps, the simulator
// keeps the oldest for ranges with a start and the newest otherwise.
func (v *venue) binanceMyTrades(p bnParams, _ string, _ time.Time) (any, *bnErr, ackFault) {
	if p["symbol"] == "" {
		return nil, bnMissing("symbol"), ackFault{}
	}
	vb := v.venueSymbolOf(p["symbol"])
	if vb == nil {
		return nil, bnE(400, -1121, "Invalid symbol."), ackFault{}
	}
	intParam := func(name string) (int64, bool, *bnErr) {
		s := p[name]
		if s == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, false, bnE(400, -1100, fmt.Sprintf("Illegal characters found in parameter '%s'; legal range is '^[0-9]{1,20}$'.", name))
		}
		return n, true, nil
	}
	orderID, hasOrder, e1 := intParam("orderId")
	start, hasStart, e2 := intParam("startTime")
	end, hasEnd, e3 := intParam("endTime")
	fromID, hasFrom, e4 := intParam("fromId")
	limit, hasLimit, e5 := intParam("limit")
	for _, e := range []*bnErr{e1, e2, e3, e4, e5} {
		if e != nil {
			return nil, e, ackFault{}
		}
	}
	combo := [4]bool{hasOrder, hasStart, hasEnd, hasFrom}
	switch combo {
	case [4]bool{}, [4]bool{true, false, false, false}, [4]bool{false, true, false, false}, [4]bool{false, false, true, false},
		[4]bool{false, false, false, true}, [4]bool{false, true, true, false}, [4]bool{true, false, false, true}:
	default:
		return nil, bnE(400, -1128, "Combination of optional parameters invalid."), ackFault{}
	}
	const day = int64(24 * time.Hour / time.Millisecond)
	if hasStart && hasEnd && (end < start || end-start > day) {
		return nil, bnE(400, -1127, "More than 24 hours between startTime and endTime."), ackFault{}
	}
	if !hasLimit {
		limit = 500
	}
	if limit <= 0 {
		return nil, bnE(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."), ackFault{}
	}
	limit = min(limit, 1000)
	switch {
	case hasStart && !hasEnd:
		end = start + day
	case hasEnd && !hasStart:
		start = end - day
	}
	var sel []Fill
	for _, f := range v.orders.fills {
		if f.Symbol != vb.sym.cfg.Symbol {
			continue
		}
		ms := f.Time.UnixMilli()
		if hasOrder && idInt(f.OrderID) != orderID || hasFrom && idInt(f.TradeID) < fromID ||
			(hasStart || hasEnd) && (ms < start || ms > end) {
			continue
		}
		sel = append(sel, f)
	}
	oldest := hasFrom || hasStart
	if int64(len(sel)) > limit {
		if oldest {
			sel = sel[:limit]
		} else {
			sel = sel[int64(len(sel))-limit:]
		}
	}
	out := []binanceTrade{}
	sc := vb.sym.scale
	for _, f := range sel {
		q, _ := quoteUnits(vb.sym, int64(f.Px), int64(f.Qty))
		out = append(out, binanceTrade{Symbol: v.symbolName(vb.sym), ID: idInt(f.TradeID), OrderID: idInt(f.OrderID), OrderListID: -1,
			Price: string(appendFixed8(nil, int64(f.Px), sc.Px)), Qty: string(appendFixed8(nil, int64(f.Qty), sc.Qty)),
			QuoteQty: amount8(q, false), Commission: amount8(f.Fee, false), CommissionAsset: f.FeeAsset, Time: f.Time.UnixMilli(),
			IsBuyer: f.Side == exchange.Buy, IsMaker: f.Maker, IsBestMatch: true})
	}
	return out, nil, ackFault{}
}

type binanceBalance struct {
	Asset  string `json:"asset"`
	Free   string `json:"free"`
	Locked string `json:"locked"`
}

// binanceAccount is GET /api/v3/account and account.status.
func (v *venue) binanceAccount(p bnParams, _ string, _ time.Time) (any, *bnErr, ackFault) {
	omit := p["omitZeroBalances"] == "true"
	bal := []binanceBalance{}
	for _, a := range v.acct.names {
		h := v.acct.assets[a]
		if omit && h.free == 0 && h.locked == 0 {
			continue
		}
		bal = append(bal, binanceBalance{Asset: a, Free: amount8(h.free, false), Locked: amount8(h.locked, false)})
	}
	rate := func(e2 int64) string { return fmtBig(big.NewInt(e2), 6, 8, false) } // hundredths of a bp → fraction
	return map[string]any{
		"makerCommission": (v.makerFeeE2 + 50) / 100, "takerCommission": (v.feeE2 + 50) / 100,
		"buyerCommission": 0, "sellerCommission": 0,
		"commissionRates": map[string]string{"maker": rate(v.makerFeeE2), "taker": rate(v.feeE2), "buyer": "0.00000000", "seller": "0.00000000"},
		"canTrade":        true, "canWithdraw": true, "canDeposit": true, "brokered": false,
		"requireSelfTradePrevention": false, "preventSor": false, "updateTime": v.acct.updated.UnixMilli(),
		"accountType": "SPOT", "balances": bal, "permissions": []string{"SPOT"}, "uid": 354937868,
	}, nil, ackFault{}
}
