package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// Bybit v5 trading over REST, category spot on a UNIFIED account: signed
// requests (X-BAPI-* headers, hex HMAC-SHA256 over timestamp + key +
// recv_window + payload), create (Limit GTC rests, IOC, FOK), cancel,
// realtime orders (open orders, or any recent order by orderId/
// orderLinkId), execution list, wallet balance, server time; per-endpoint
// limits per second with the X-Bapi-Limit headers (over: retCode 10006).
//
// Error codes: for category spot the simulator answers from the docs'
// "Spot Trade" table — 170121 invalid symbol, 170131 "Balance
// insufficient", 170134/170136/170137/170140 for price, quantity and value
// filters, 170213 "Order does not exist." — and so, for a reused
// orderLinkId, 170141 "Duplicate clientOrderId" of the same table rather
// than 110072 "OrderLinkedID is duplicate" from the UTA/derivatives table
// (whose neighbours are position and margin codes). The docs list both
// and do not say which a spot UTA order gets; a client must treat both as
// a duplicate.

// bybitEndpointLimit is the documented per-UID limit per second of the
// private endpoints the simulator serves.
var bybitEndpointLimit = map[string]int{
	"POST /v5/order/create":          20,
	"POST /v5/order/cancel":          20,
	"GET /v5/order/realtime":         50,
	"GET /v5/execution/list":         50,
	"GET /v5/account/wallet-balance": 50,
}

func (v *venue) bybitREST(mux *http.ServeMux) {
	public := func(pattern string, h restHandler) { mux.HandleFunc(pattern, v.restRoute(pattern, restLimits{}, h)) }
	private := func(pattern string, h restHandler) {
		mux.HandleFunc(pattern, v.restRoute(pattern, v.bybitLimits(pattern), h))
	}
	public("GET /v5/market/instruments-info", v.bybitInstruments)
	public("GET /v5/market/time", v.bybitTime)
	private("POST /v5/order/create", v.bybitSigned(v.bybitCreateOrder))
	private("POST /v5/order/cancel", v.bybitSigned(v.bybitCancelOrder))
	private("GET /v5/order/realtime", v.bybitSigned(v.bybitOrderRealtime))
	private("GET /v5/execution/list", v.bybitSigned(v.bybitExecutions))
	private("GET /v5/account/wallet-balance", v.bybitSigned(v.bybitWalletBalance))
}

// bybitLimits counts an endpoint's requests per second: over its limit a
// request gets retCode 10006; every answer carries X-Bapi-Limit (the
// limit), X-Bapi-Limit-Status (what is left) and
// X-Bapi-Limit-Reset-Timestamp (when the window ends, Unix ms).
func (v *venue) bybitLimits(endpoint string) restLimits {
	limit := bybitEndpointLimit[endpoint]
	win := func() *window {
		w := v.limits[endpoint]
		if w == nil {
			w = &window{}
			v.limits[endpoint] = w
		}
		return w
	}
	return restLimits{
		before: func(_ *http.Request, _ []byte, now time.Time) (bool, int, time.Duration) {
			if n, end := win().hit(now, time.Second); n > limit {
				return true, 429, end.Sub(now)
			}
			return false, 0, 0
		},
		after: func(_ *http.Request, c *capture, now time.Time) {
			if c.hdr.Get("X-Bapi-Limit") != "" {
				return // a limited answer carries its own
			}
			n, end := win().peek(now, time.Second)
			c.hdr.Set("X-Bapi-Limit", strconv.Itoa(limit))
			c.hdr.Set("X-Bapi-Limit-Status", strconv.Itoa(max(limit-n, 0)))
			c.hdr.Set("X-Bapi-Limit-Reset-Timestamp", strconv.FormatInt(end.UnixMilli(), 10))
		},
	}
}

func bybitWrite(w http.ResponseWriter, now time.Time, code int, msg string, result any) {
	if result == nil {
		result = struct{}{}
	}
	writeJSON(w, 200, bybitResp{RetCode: code, RetMsg: msg, Result: result, RetExtInfo: struct{}{}, Time: now.UnixMilli()})
}

func (v *venue) bybitTime(w http.ResponseWriter, _ *http.Request, now time.Time) {
	bybitWrite(w, now, 0, "OK", map[string]string{"timeSecond": strconv.FormatInt(now.Unix(), 10),
		"timeNano": strconv.FormatInt(now.UnixNano(), 10)})
}

// bybitSign is the documented HMAC signature: lower-case hex of
// HMAC-SHA256(secret, timestamp + api_key + recv_window + payload), the
// payload being the raw JSON body (POST) or the query string (GET).
func bybitSign(secret, ts, key, recvWindow, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + key + recvWindow + payload))
	return hex.EncodeToString(m.Sum(nil))
}

// bybitSigned reads the body, checks the X-BAPI headers (the signed payload
// is the body of a POST, the query string of a GET) and runs h under
// Sim.mu.
func (v *venue) bybitSigned(h func(w http.ResponseWriter, r *http.Request, body []byte, now time.Time)) restHandler {
	return func(w http.ResponseWriter, r *http.Request, now time.Time) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			bybitWrite(w, now, 10001, "params error: body", nil)
			return
		}
		payload := string(body)
		if r.Method == "GET" {
			payload = r.URL.RawQuery
		}
		if !v.bybitAuth(w, r, payload, now) {
			return
		}
		v.s.mu.Lock()
		defer v.s.mu.Unlock()
		h(w, r, body, now)
	}
}

// bybitCheckTime is the documented timing rule: server − recv_window ≤
// timestamp < server + 1000 (10002 otherwise).
func bybitCheckTime(ts, rw string, now time.Time) (int, string) {
	if rw == "" {
		rw = "5000"
	}
	tsN, err1 := strconv.ParseInt(ts, 10, 64)
	rwN, err2 := strconv.ParseInt(rw, 10, 64)
	if err1 != nil || err2 != nil || rwN <= 0 {
		return 10001, "params error: invalid timestamp or recv_window"
	}
	server := now.UnixMilli()
	if !(server-rwN <= tsN && tsN < server+1000) {
		return 10002, fmt.Sprintf("invalid request, please check your server timestamp or recv_window param. req_timestamp[%d],server_timestamp[%d],recv_window[%d]", tsN, server, rwN)
	}
	return 0, ""
}

// bybitAuth checks the X-BAPI headers; it writes the error and returns false
// when they fail. Bybit answers these with HTTP 200 and a retCode.
func (v *venue) bybitAuth(w http.ResponseWriter, r *http.Request, payload string, now time.Time) bool {
	h := r.Header
	key, ts, sign, rw := h.Get("X-BAPI-API-KEY"), h.Get("X-BAPI-TIMESTAMP"), h.Get("X-BAPI-SIGN"), h.Get("X-BAPI-RECV-WINDOW")
	if key == "" || ts == "" || sign == "" {
		bybitWrite(w, now, 10003, "API key is invalid.", nil)
		return false
	}
	if code, msg := bybitCheckTime(ts, rw, now); code != 0 {
		bybitWrite(w, now, code, msg, nil)
		return false
	}
	if rw == "" {
		rw = "5000"
	}
	if key != v.cfg.APIKey {
		bybitWrite(w, now, 10003, "API key is invalid.", nil)
		return false
	}
	if !hmac.Equal([]byte(strings.ToLower(sign)), []byte(bybitSign(v.cfg.APISecret, ts, key, rw, payload))) {
		bybitWrite(w, now, 10004, "error sign! origin_string["+ts+key+rw+payload+"]", nil)
		return false
	}
	return true
}

type bybitOrderReq struct {
	Category    string `json:"category"`
	Symbol      string `json:"symbol"`
	Side        string `json:"side"`
	OrderType   string `json:"orderType"`
	Qty         string `json:"qty"`
	Price       string `json:"price"`
	TimeInForce string `json:"timeInForce"`
	OrderLinkID string `json:"orderLinkId"`
	OrderID     string `json:"orderId"` // cancel
}

// bybitResult is the outcome of an order operation: retCode, retMsg and
// result, and the acknowledgement fault to apply.
type bybitResult struct {
	code   int
	msg    string
	result any
	ack    ackFault
}

// bybitLinkIDOK: at most 36 letters, digits, '-' and '_' ("" = none).
func bybitLinkIDOK(s string) bool {
	if len(s) > 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// bybitCreate validates and places one order (caller holds Sim.mu).
func (v *venue) bybitCreate(req *bybitOrderReq, via string, now time.Time) bybitResult {
	bad := func(msg string) bybitResult { return bybitResult{code: 10001, msg: "params error: " + msg} }
	if req.Category != "spot" {
		return bad("the simulator trades category spot only")
	}
	var side exchange.Side
	switch req.Side {
	case "Buy":
		side = exchange.Buy
	case "Sell":
		side = exchange.Sell
	default:
		return bybitResult{code: 170117, msg: "Invalid side."}
	}
	if req.OrderType != "Limit" {
		// Market orders are real but not simulated.
		return bybitResult{code: 170116, msg: "Invalid orderType."}
	}
	tif := req.TimeInForce
	switch tif {
	case "":
		tif = "GTC" // the documented default
	case "GTC", "IOC", "FOK":
	default: // PostOnly is real but not simulated
		return bybitResult{code: 170115, msg: "Invalid timeInForce."}
	}
	if !bybitLinkIDOK(req.OrderLinkID) {
		return bad("orderLinkId invalid")
	}
	vb := v.venueSymbolOf(req.Symbol)
	if vb == nil {
		return bybitResult{code: 170121, msg: "Invalid symbol."}
	}
	px, qty, failed := parseOrderNumbers(vb.sym, req.Price, req.Qty)
	switch failed {
	case "":
	case "precision_price", "price":
		return bybitResult{code: 170134, msg: "Order price decimal too long."}
	case "precision_qty":
		return bybitResult{code: 170137, msg: "Order volume decimal too long"}
	case "qty":
		return bybitResult{code: 170136, msg: "Order quantity lower than the minimum."}
	default:
		return bybitResult{code: 170140, msg: "Transaction amount lower than the minimum."}
	}
	pl, why := v.place(placeReq{vb: vb, side: side, px: px, qty: qty, tif: tif, clientID: req.OrderLinkID, via: via}, now)
	switch why {
	case refuseDuplicate:
		return bybitResult{code: 170141, msg: "Duplicate clientOrderId"}
	case refuseBalance:
		return bybitResult{code: 170131, msg: "Balance insufficient"}
	}
	return bybitResult{code: 0, msg: "OK", result: map[string]string{"orderId": pl.ord.id, "orderLinkId": req.OrderLinkID}, ack: pl.ack}
}

// bybitFind looks an order up by orderId (preferred) or orderLinkId.
func (v *venue) bybitFind(orderID, linkID string) *order {
	if orderID != "" {
		return v.orders.byID[orderID]
	}
	if linkID != "" {
		if o := v.orders.byClient[linkID]; o != nil && o.clientSent {
			return o
		}
	}
	return nil
}

// bybitCancel cancels by orderId or orderLinkId (caller holds Sim.mu).
func (v *venue) bybitCancel(req *bybitOrderReq, now time.Time) bybitResult {
	if req.Category != "spot" {
		return bybitResult{code: 10001, msg: "params error: the simulator trades category spot only"}
	}
	if v.venueSymbolOf(req.Symbol) == nil {
		return bybitResult{code: 170121, msg: "Invalid symbol."}
	}
	if req.OrderID == "" && req.OrderLinkID == "" {
		return bybitResult{code: 10001, msg: "params error: orderId or orderLinkId is required"}
	}
	o := v.bybitFind(req.OrderID, req.OrderLinkID)
	if o == nil || v.symbolName(o.vb.sym) != req.Symbol || !v.cancel(o, "", now) {
		return bybitResult{code: 170213, msg: "Order does not exist."}
	}
	return bybitResult{code: 0, msg: "OK", result: map[string]string{"orderId": o.id, "orderLinkId": o.echoClientID()}}
}

func (v *venue) bybitCreateOrder(w http.ResponseWriter, _ *http.Request, body []byte, now time.Time) {
	var req bybitOrderReq
	if err := json.Unmarshal(body, &req); err != nil {
		bybitWrite(w, now, 10001, "params error: request body is not valid json", nil)
		return
	}
	res := v.bybitCreate(&req, "rest", now)
	setAck(w, res.ack)
	bybitWrite(w, now, res.code, res.msg, res.result)
}

func (v *venue) bybitCancelOrder(w http.ResponseWriter, _ *http.Request, body []byte, now time.Time) {
	var req bybitOrderReq
	if err := json.Unmarshal(body, &req); err != nil {
		bybitWrite(w, now, 10001, "params error: request body is not valid json", nil)
		return
	}
	res := v.bybitCancel(&req, now)
	bybitWrite(w, now, res.code, res.msg, res.result)
}

// bybitStatus is the order's orderStatus: spot orders ended with part
// filled (an IOC remainder, or a cancel) are PartiallyFilledCanceled.
func bybitStatus(o *order) string {
	switch o.status {
	case stNew:
		return "New"
	case stPartial:
		return "PartiallyFilled"
	case stFilled:
		return "Filled"
	}
	if o.filled > 0 {
		return "PartiallyFilledCanceled"
	}
	return "Cancelled"
}

func bybitSide(s exchange.Side) string {
	if s == exchange.Sell {
		return "Sell"
	}
	return "Buy"
}

// bybitCancelType says why an order ended without filling.
func bybitCancelType(o *order) string {
	switch o.status {
	case stCanceled:
		return "CancelByUser"
	case stExpired:
		// The docs list no cancelType for an expired IOC/FOK remainder;
		// UNKNOWN is what they print for orders not cancelled by anyone.
		return "UNKNOWN"
	}
	return "UNKNOWN"
}

// bybitOrderView is an order as GET /v5/order/realtime and the order
// topic print it. For spot, cumExecFee is deprecated in favour of
// cumFeeDetail ({feeCoin: amount}); both are given.
func (v *venue) bybitOrderView(o *order) map[string]any {
	sym := o.vb.sym
	leaves := int64(0)
	if o.open() {
		leaves = o.qty - o.filled
	}
	lv, _ := quoteUnits(sym, o.px, leaves)
	feeDetail := map[string]string{}
	if o.fee > 0 {
		feeDetail[o.feeAsset] = amount8(o.fee, true)
	}
	avg := o.avgPx(int(sym.scale.Px)+8, true)
	if avg == "" {
		avg = "0"
	}
	return map[string]any{
		"orderId": o.id, "orderLinkId": o.echoClientID(), "blockTradeId": "", "symbol": v.symbolName(sym),
		"price": string(appendDec(nil, o.px, sym.scale.Px, sym.tickDec)), "qty": string(appendDec(nil, o.qty, sym.scale.Qty, sym.stepDec)),
		"side": bybitSide(o.side), "isLeverage": "0", "positionIdx": 0, "orderStatus": bybitStatus(o),
		"cancelType": bybitCancelType(o), "rejectReason": "EC_NoError", "avgPrice": avg,
		"leavesQty": string(appendDec(nil, leaves, sym.scale.Qty, sym.stepDec)), "leavesValue": amount8(lv, true),
		"cumExecQty":   string(appendDec(nil, o.filled, sym.scale.Qty, sym.stepDec)),
		"cumExecValue": o.quoteStr(8, true), "cumExecFee": amount8(o.fee, true), "cumFeeDetail": feeDetail,
		"timeInForce": o.tif, "orderType": "Limit", "stopOrderType": "", "orderIv": "",
		"triggerPrice": "0", "takeProfit": "0", "stopLoss": "0", "tpTriggerBy": "", "slTriggerBy": "",
		"triggerDirection": 0, "triggerBy": "", "lastPriceOnCreated": "", "reduceOnly": false,
		"closeOnTrigger": false, "smpType": "None", "smpGroup": 0, "smpOrderId": "", "tpslMode": "",
		"tpLimitPrice": "", "slLimitPrice": "", "placeType": "",
		"createdTime": strconv.FormatInt(o.created.UnixMilli(), 10), "updatedTime": strconv.FormatInt(o.updated.UnixMilli(), 10),
	}
}

// bybitCursor pages a newest-first list of ids: the cursor names the last
// id of the previous page (escaped as the venue escapes its cursors).
func bybitCursor[T any](items []T, id func(T) string, cursor string, limit int) (page []T, next string, ok bool) {
	start := 0
	if cursor != "" {
		c, err := url.QueryUnescape(cursor)
		if err != nil {
			return nil, "", false
		}
		c = strings.TrimPrefix(c, "id=")
		start = -1
		for i, it := range items {
			if id(it) == c {
				start = i + 1
				break
			}
		}
		if start < 0 {
			return nil, "", false
		}
	}
	end := min(start+limit, len(items))
	page = items[start:end]
	if end < len(items) && len(page) > 0 {
		next = url.QueryEscape("id=" + id(page[len(page)-1]))
	}
	return page, next, true
}

// bybitLimitParam reads limit in [1, max] with a default.
func bybitLimitParam(s string, def, maxN int) (int, bool) {
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxN {
		return 0, false
	}
	return n, true
}

// bybitOrderRealtime is GET /v5/order/realtime: with orderId or
// orderLinkId the order in whatever state (openOnly is then ignored); else
// the open orders (openOnly=0, the default) or the recently closed ones
// (openOnly=1, the last 500), newest first, limit 1–50 (default 20),
// cursor paging.
func (v *venue) bybitOrderRealtime(w http.ResponseWriter, r *http.Request, _ []byte, now time.Time) {
	q := r.URL.Query()
	if q.Get("category") != "spot" {
		bybitWrite(w, now, 10001, "params error: category only support spot", nil)
		return
	}
	limit, ok := bybitLimitParam(q.Get("limit"), 20, 50)
	if !ok {
		bybitWrite(w, now, 10001, "params error: limit must be in [1, 50]", nil)
		return
	}
	sym := q.Get("symbol")
	var list []*order
	switch {
	case q.Get("orderId") != "" || q.Get("orderLinkId") != "":
		if o := v.bybitFind(q.Get("orderId"), q.Get("orderLinkId")); o != nil && v.bybitRecent(o) && (sym == "" || v.symbolName(o.vb.sym) == sym) {
			list = append(list, o)
		}
	case q.Get("openOnly") == "1":
		all := v.orders.all()
		for i := len(all) - 1; i >= 0 && len(list) < 500; i-- {
			if o := all[i]; !o.open() && (sym == "" || v.symbolName(o.vb.sym) == sym) {
				list = append(list, o)
			}
		}
	default:
		for i := len(v.orders.open) - 1; i >= 0; i-- {
			if o := v.orders.open[i]; sym == "" || v.symbolName(o.vb.sym) == sym {
				list = append(list, o)
			}
		}
	}
	page, next, ok := bybitCursor(list, func(o *order) string { return o.id }, q.Get("cursor"), limit)
	if !ok {
		bybitWrite(w, now, 10001, "params error: cursor invalid", nil)
		return
	}
	out := []any{}
	for _, o := range page {
		out = append(out, v.bybitOrderView(o))
	}
	bybitWrite(w, now, 0, "OK", map[string]any{"list": out, "nextPageCursor": next, "category": "spot"})
}

// bybitRecent reports whether /v5/order/realtime still shows an order:
// open, or among the last 500 closed ones (the documented retention).
func (v *venue) bybitRecent(o *order) bool {
	if o.open() {
		return true
	}
	all := v.orders.all()
	n := 0
	for i := len(all) - 1; i >= 0; i-- {
		if all[i] == o {
			return true
		}
		if !all[i].open() {
			if n++; n >= 500 {
				return false
			}
		}
	}
	return false
}

// bybitExecView is one fill as /v5/execution/list prints it.
func (v *venue) bybitExecView(f *Fill) map[string]any {
	sym := v.s.syms[v.s.symIdx[f.Symbol]]
	o := v.orders.byID[f.OrderID]
	link, oqty, opx, leaves := "", "", "", "0"
	if o != nil {
		link = o.echoClientID()
		oqty = string(appendDec(nil, o.qty, sym.scale.Qty, sym.stepDec))
		opx = string(appendDec(nil, o.px, sym.scale.Px, sym.tickDec))
		// leavesQty after this execution: the order's quantity less what
		// had filled up to and including it.
		var done int64
		for _, of := range o.fills {
			done += int64(of.Qty)
			if of.TradeID == f.TradeID {
				break
			}
		}
		leaves = string(appendDec(nil, o.qty-done, sym.scale.Qty, sym.stepDec))
	}
	val, _ := quoteUnits(sym, int64(f.Px), int64(f.Qty))
	rate := v.feeE2
	if f.Maker {
		rate = v.makerFeeE2
	}
	seq, _ := strconv.ParseInt(f.TradeID, 10, 64)
	return map[string]any{
		"symbol": v.symbolName(sym), "orderType": "Limit", "underlyingPrice": "", "orderLinkId": link, "side": bybitSide(f.Side),
		"indexPrice": "", "orderId": f.OrderID, "stopOrderType": "UNKNOWN", "leavesQty": leaves,
		"execTime": strconv.FormatInt(f.Time.UnixMilli(), 10), "feeCurrency": f.FeeAsset, "isMaker": f.Maker,
		"execFee": amount8(f.Fee, true), "feeRate": fmtBig(big.NewInt(rate), 6, 6, true), "execId": f.TradeID, "tradeIv": "",
		"blockTradeId": "", "markPrice": "", "execPrice": string(appendDec(nil, int64(f.Px), sym.scale.Px, sym.tickDec)), "markIv": "",
		"orderQty": oqty, "orderPrice": opx, "execValue": amount8(val, true), "execType": "Trade",
		"execQty": string(appendDec(nil, int64(f.Qty), sym.scale.Qty, sym.stepDec)), "closedSize": "", "extraFees": "", "seq": seq,
	}
}

// bybitExecutions is GET /v5/execution/list: fills newest first, filtered
// by symbol, orderId, orderLinkId and execType, in a time window of at most
// 7 days (default the last 7 days; with only startTime the 7 days after it,
// with only endTime the 7 days before), limit 1–100 (default 50), cursor
// paging.
func (v *venue) bybitExecutions(w http.ResponseWriter, r *http.Request, _ []byte, now time.Time) {
	q := r.URL.Query()
	if q.Get("category") != "spot" {
		bybitWrite(w, now, 10001, "params error: category only support spot", nil)
		return
	}
	limit, ok := bybitLimitParam(q.Get("limit"), 50, 100)
	if !ok {
		bybitWrite(w, now, 10001, "params error: limit must be in [1, 100]", nil)
		return
	}
	const week = int64(7 * 24 * time.Hour / time.Millisecond)
	ms := func(name string) (int64, bool, bool) {
		s := q.Get(name)
		if s == "" {
			return 0, false, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, true, err == nil
	}
	start, hasStart, ok1 := ms("startTime")
	end, hasEnd, ok2 := ms("endTime")
	if !ok1 || !ok2 {
		bybitWrite(w, now, 10001, "params error: startTime or endTime invalid", nil)
		return
	}
	switch {
	case hasStart && hasEnd:
		if end < start || end-start > week {
			bybitWrite(w, now, 10001, "params error: The time range between startTime and endTime cannot exceed 7 days", nil)
			return
		}
	case hasStart:
		end = start + week
	case hasEnd:
		start = end - week
	default:
		end = now.UnixMilli()
		start = end - week
	}
	if et := q.Get("execType"); et != "" && et != "Trade" {
		bybitWrite(w, now, 0, "OK", map[string]any{"nextPageCursor": "", "category": "spot", "list": []any{}})
		return
	}
	var list []*Fill
	for i := len(v.orders.fills) - 1; i >= 0; i-- {
		f := &v.orders.fills[i]
		t := f.Time.UnixMilli()
		if t < start || t > end {
			continue
		}
		if s := q.Get("symbol"); s != "" && v.symbolName(v.s.syms[v.s.symIdx[f.Symbol]]) != s {
			continue
		}
		if id := q.Get("orderId"); id != "" && f.OrderID != id {
			continue
		}
		if link := q.Get("orderLinkId"); link != "" {
			if o := v.orders.byID[f.OrderID]; o == nil || !o.clientSent || o.clientID != link {
				continue
			}
		}
		list = append(list, f)
	}
	page, next, ok := bybitCursor(list, func(f *Fill) string { return f.TradeID }, q.Get("cursor"), limit)
	if !ok {
		bybitWrite(w, now, 10001, "params error: cursor invalid", nil)
		return
	}
	out := []any{}
	for _, f := range page {
		out = append(out, v.bybitExecView(f))
	}
	bybitWrite(w, now, 0, "OK", map[string]any{"nextPageCursor": next, "category": "spot", "list": out})
}

// bybitCoinView is one coin of the wallet: walletBalance = free + locked,
// locked = reserved by open spot orders.
func (v *venue) bybitCoinView(a string, h *holding) map[string]any {
	wb := amount8(h.free+h.locked, true)
	return map[string]any{
		"availableToBorrow": "", "bonus": "0", "accruedInterest": "0", "availableToWithdraw": "", "totalOrderIM": "0",
		"equity": wb, "totalPositionMM": "0", "usdValue": ratStr(v.usdValue(a, h.free+h.locked), 8), "spotHedgingQty": "0",
		"unrealisedPnl": "0", "collateralSwitch": true, "borrowAmount": "0", "totalPositionIM": "0", "walletBalance": wb,
		"cumRealisedPnl": "0", "locked": amount8(h.locked, true), "marginCollateral": true, "coin": a, "spotBorrow": "0",
	}
}

// bybitWalletBalance is GET /v5/account/wallet-balance?accountType=UNIFIED:
// without coin only the coins held, with coin=A,B those coins.
func (v *venue) bybitWalletBalance(w http.ResponseWriter, r *http.Request, _ []byte, now time.Time) {
	q := r.URL.Query()
	if q.Get("accountType") != "UNIFIED" {
		bybitWrite(w, now, 10001, "params error: accountType only support UNIFIED", nil)
		return
	}
	var only map[string]bool
	if c := q.Get("coin"); c != "" {
		only = map[string]bool{}
		for _, x := range strings.Split(c, ",") {
			only[x] = true
		}
	}
	coins := []any{}
	for _, a := range v.acct.names {
		h := v.acct.assets[a]
		if only == nil && h.free == 0 && h.locked == 0 || only != nil && !only[a] {
			continue
		}
		coins = append(coins, v.bybitCoinView(a, h))
	}
	bybitWrite(w, now, 0, "OK", map[string]any{"list": []any{v.bybitWalletView(coins)}})
}
