package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// OKX v5 trading over REST: signed requests (OK-ACCESS-* headers, base64
// HMAC-SHA256 over timestamp + METHOD + requestPath + body, ±30 s), place
// order (limit rests; ioc, fok), order details by ordId or clOrdId, cancel,
// pending orders, fills (last 3 days, billId paging), account balance,
// system time; the documented per-endpoint request limits (HTTP 429, code
// 50011). OKX documents no rate-limit headers and none are sent.

func (v *venue) okxREST(mux *http.ServeMux) {
	route := func(pattern string, per int, byInst bool, h restHandler) {
		mux.HandleFunc(pattern, v.restRoute(pattern, v.okxLimits(pattern, per, byInst), h))
	}
	route("GET /api/v5/public/instruments", 20, false, v.okxInstruments)
	route("GET /api/v5/public/time", 10, false, v.okxTime)
	route("POST /api/v5/trade/order", 60, true, v.okxSigned(v.okxPlaceOrder))
	route("GET /api/v5/trade/order", 60, true, v.okxSigned(v.okxGetOrder))
	route("POST /api/v5/trade/cancel-order", 60, true, v.okxSigned(v.okxCancelOrder))
	route("GET /api/v5/trade/orders-pending", 60, false, v.okxSigned(v.okxPending))
	route("GET /api/v5/trade/fills", 60, false, v.okxSigned(v.okxFills))
	route("GET /api/v5/account/balance", 10, false, v.okxSigned(v.okxBalance))
}

// okxLimits applies an endpoint's documented limit of per requests per 2
// seconds (per instrument for the order endpoints, "User ID + Instrument
// ID"): over it, HTTP 429 code 50011.
func (v *venue) okxLimits(endpoint string, per int, byInst bool) restLimits {
	return restLimits{before: func(r *http.Request, body []byte, now time.Time) (bool, int, time.Duration) {
		key := endpoint
		if byInst {
			inst := r.URL.Query().Get("instId")
			if inst == "" {
				var b struct {
					InstID string `json:"instId"`
				}
				json.Unmarshal(body, &b)
				inst = b.InstID
			}
			key += " " + inst
		}
		w := v.limits[key]
		if w == nil {
			w = &window{}
			v.limits[key] = w
		}
		if n, end := w.hit(now, 2*time.Second); n > per {
			return true, 429, end.Sub(now)
		}
		return false, 0, 0
	}}
}

func (v *venue) okxTime(w http.ResponseWriter, _ *http.Request, now time.Time) {
	writeJSON(w, 200, okxResp{Code: "0", Msg: "", Data: []any{map[string]string{"ts": strconv.FormatInt(now.UnixMilli(), 10)}}})
}

// okxSign is the documented REST signature: base64 of
// HMAC-SHA256(secret, timestamp + METHOD + requestPath + body).
func okxSign(secret, prehash string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(prehash))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

const okxTimeLayout = "2006-01-02T15:04:05.000Z"

// okxSigned reads the body, checks the OK-ACCESS headers and runs h under
// Sim.mu.
func (v *venue) okxSigned(h func(w http.ResponseWriter, r *http.Request, body []byte, now time.Time)) restHandler {
	return func(w http.ResponseWriter, r *http.Request, now time.Time) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			writeJSON(w, 400, okxResp{Code: "50000", Msg: "Body can not be empty.", Data: []any{}})
			return
		}
		if !v.okxAuth(w, r, body, now) {
			return
		}
		v.s.mu.Lock()
		defer v.s.mu.Unlock()
		h(w, r, body, now)
	}
}

// okxAuth checks the four OK-ACCESS headers and the signature; it writes the
// error and returns false when they fail.
func (v *venue) okxAuth(w http.ResponseWriter, r *http.Request, body []byte, now time.Time) bool {
	h := r.Header
	fail := func(code, msg string) bool {
		writeJSON(w, 401, okxResp{Code: code, Msg: msg, Data: []any{}})
		return false
	}
	key, sign, ts, pass := h.Get("OK-ACCESS-KEY"), h.Get("OK-ACCESS-SIGN"), h.Get("OK-ACCESS-TIMESTAMP"), h.Get("OK-ACCESS-PASSPHRASE")
	switch {
	case key == "":
		return fail("50103", "Request header OK-ACCESS-KEY can not be empty.")
	case pass == "":
		return fail("50104", "Request header OK-ACCESS-PASSPHRASE can not be empty.")
	case sign == "":
		return fail("50106", "Request header OK-ACCESS-SIGN can not be empty.")
	case ts == "":
		return fail("50107", "Request header OK-ACCESS-TIMESTAMP can not be empty.")
	}
	t, err := time.Parse(okxTimeLayout, ts)
	if err != nil {
		return fail("50112", "Invalid OK-ACCESS-TIMESTAMP")
	}
	if d := now.Sub(t); d > 30*time.Second || d < -30*time.Second {
		return fail("50102", "Timestamp request expired")
	}
	if key != v.cfg.APIKey {
		return fail("50111", "Invalid OK-ACCESS-KEY")
	}
	if pass != v.cfg.Passphrase {
		return fail("50105", "Invalid OK-ACCESS-PASSPHRASE")
	}
	path := r.URL.Path
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	want := okxSign(v.cfg.APISecret, ts+r.Method+path+string(body))
	if !hmac.Equal([]byte(sign), []byte(want)) {
		return fail("50113", "Invalid Sign")
	}
	return true
}

// okxOrderReq is a place-order request: REST POST /api/v5/trade/order, or
// one arg of a WebSocket op "order" (which names the instrument by
// instIdCode).
type okxOrderReq struct {
	InstID     string          `json:"instId"`
	InstIDCode json.RawMessage `json:"instIdCode"`
	TdMode     string          `json:"tdMode"`
	ClOrdID    string          `json:"clOrdId"`
	Tag        string          `json:"tag"`
	Side       string          `json:"side"`
	OrdType    string          `json:"ordType"`
	Px         string          `json:"px"`
	Sz         string          `json:"sz"`
}

type okxOrderAck struct {
	ClOrdID string `json:"clOrdId"`
	OrdID   string `json:"ordId"`
	Tag     string `json:"tag"`
	TS      string `json:"ts"`
	SCode   string `json:"sCode"`
	SMsg    string `json:"sMsg"`
	SubCode string `json:"subCode"`
}

type okxOrderResp struct {
	Code    string        `json:"code"`
	Msg     string        `json:"msg"`
	Data    []okxOrderAck `json:"data"`
	InTime  string        `json:"inTime"`
	OutTime string        `json:"outTime"`
}

// okxClOrdIDOK: up to 32 case-sensitive letters and digits ("" = none).
func okxClOrdIDOK(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// okxPlaceResult is the outcome of one place-order: a top-level error
// (code ≠ 0 with no data: a parameter error), or an ack whose sCode says
// whether the order was accepted.
type okxPlaceResult struct {
	code, msg string // top level: "0", "1" (failed, see ack), or a parameter error with no data
	ack       okxOrderAck
	fault     ackFault
}

// okxPlace validates and places one order (caller holds Sim.mu). vb is the
// instrument already resolved by the transport (REST instId, WebSocket
// instIdCode).
func (v *venue) okxPlace(req *okxOrderReq, vb *vbook, via string, now time.Time) okxPlaceResult {
	param := func(name string) okxPlaceResult {
		return okxPlaceResult{code: "51000", msg: "Parameter " + name + " error"}
	}
	fail := func(sCode, sMsg string) okxPlaceResult {
		return okxPlaceResult{code: "1", msg: "All operations failed",
			ack: okxOrderAck{ClOrdID: req.ClOrdID, Tag: req.Tag, TS: strconv.FormatInt(now.UnixMilli(), 10), SCode: sCode, SMsg: sMsg}}
	}
	var side exchange.Side
	switch req.Side {
	case "buy":
		side = exchange.Buy
	case "sell":
		side = exchange.Sell
	default:
		return param("side")
	}
	var tif string
	switch req.OrdType {
	case "limit":
		tif = "GTC"
	case "ioc":
		tif = "IOC"
	case "fok":
		tif = "FOK"
	default: // market, post_only, … are real but not simulated
		return param("ordType")
	}
	if req.TdMode != "cash" {
		return param("tdMode")
	}
	if !okxClOrdIDOK(req.ClOrdID) {
		return param("clOrdId")
	}
	px, qty, failed := parseOrderNumbers(vb.sym, req.Px, req.Sz)
	switch failed {
	case "":
	case "price", "precision_price":
		return fail("51006", "Order price is not within the price limit or not a multiple of the tick size.")
	case "qty", "precision_qty":
		return fail("51121", "Order quantity must be a multiple of the lot size.")
	default:
		return fail("51020", "Your order should meet or exceed the minimum order amount.")
	}
	pl, why := v.place(placeReq{vb: vb, side: side, px: px, qty: qty, tif: tif, clientID: req.ClOrdID, via: via}, now)
	switch why {
	case refuseDuplicate:
		return fail("51016", "Client order ID already exists.")
	case refuseBalance:
		ccy := vb.sym.quote
		if side == exchange.Sell {
			ccy = vb.sym.base
		}
		return fail("51008", "Order failed. Insufficient "+ccy+" balance in account.")
	}
	return okxPlaceResult{code: "0", ack: okxOrderAck{ClOrdID: req.ClOrdID, OrdID: pl.ord.id, Tag: req.Tag,
		TS: strconv.FormatInt(pl.ord.created.UnixMilli(), 10), SCode: "0", SMsg: "Order placed"}, fault: pl.ack}
}

func (v *venue) okxPlaceOrder(w http.ResponseWriter, _ *http.Request, body []byte, now time.Time) {
	var req okxOrderReq
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, 400, okxResp{Code: "50002", Msg: "JSON syntax error", Data: []any{}})
		return
	}
	inTime := strconv.FormatInt(now.UnixMicro(), 10)
	vb := v.venueSymbolOf(req.InstID)
	if vb == nil {
		writeJSON(w, 200, okxResp{Code: "51001", Msg: "Instrument ID, Instrument ID code or Spread ID doesn't exist.", Data: []any{}})
		return
	}
	res := v.okxPlace(&req, vb, "rest", now)
	if res.code != "0" && res.code != "1" {
		writeJSON(w, 200, okxResp{Code: res.code, Msg: res.msg, Data: []any{}})
		return
	}
	setAck(w, res.fault)
	writeJSON(w, 200, okxOrderResp{Code: res.code, Msg: res.msg, Data: []okxOrderAck{res.ack}, InTime: inTime,
		OutTime: strconv.FormatInt(v.s.now().UnixMicro(), 10)})
}

var okxStateNames = [...]string{"", "live", "partially_filled", "filled", "canceled", "canceled"}

func okxSide(s exchange.Side) string {
	if s == exchange.Sell {
		return "sell"
	}
	return "buy"
}

func okxOrdType(tif string) string {
	switch tif {
	case "IOC":
		return "ioc"
	case "FOK":
		return "fok"
	}
	return "limit"
}

// okxFee prints a fee as OKX does: negative when charged ("-0.00000192834"),
// "0" when none.
func okxFee(fee int64) string {
	if fee == 0 {
		return "0"
	}
	return "-" + amount8(fee, true)
}

// okxOrderView is an order as GET /api/v5/trade/order and orders-pending
// print it (the documented field set). The fill fields describe its last
// fill.
func (v *venue) okxOrderView(o *order) map[string]any {
	sym := o.vb.sym
	var fillPx, fillSz, tradeID, fillTime string
	if n := len(o.fills); n > 0 {
		f := o.fills[n-1]
		fillPx, fillSz, tradeID = string(okxPx(nil, int64(f.Px), sym)), string(okxSz(nil, int64(f.Qty), sym)), f.TradeID
		fillTime = strconv.FormatInt(f.Time.UnixMilli(), 10)
	}
	return map[string]any{
		"accFillSz": string(okxSz(nil, o.filled, sym)), "algoClOrdId": "", "algoId": "", "attachAlgoClOrdId": "",
		"attachAlgoOrds": []any{}, "avgPx": o.avgPx(int(sym.scale.Px)+8, true), "cTime": strconv.FormatInt(o.created.UnixMilli(), 10),
		"cancelSource": "", "cancelSourceReason": "", "category": "normal", "ccy": "", "clOrdId": o.echoClientID(),
		"fee": okxFee(o.fee), "feeCcy": o.feeAsset, "fillPx": fillPx, "fillSz": fillSz, "fillTime": fillTime,
		"instId": sym.cfg.Symbol, "instType": "SPOT", "isTpLimit": "false", "lever": "", "linkedAlgoOrd": map[string]string{"algoId": ""},
		"ordId": o.id, "ordType": okxOrdType(o.tif), "pnl": "0", "posSide": "net", "px": string(okxPx(nil, o.px, sym)),
		"pxType": "", "pxUsd": "", "pxVol": "", "quickMgnType": "", "rebate": "0", "rebateCcy": o.feeAsset, "reduceOnly": "false",
		"side": okxSide(o.side), "slOrdPx": "", "slTriggerPx": "", "slTriggerPxType": "", "source": "", "state": okxStateNames[o.status],
		"stpId": "", "stpMode": "cancel_maker", "sz": string(okxSz(nil, o.qty, sym)), "tag": "", "tdMode": "cash", "tgtCcy": "",
		"tpOrdPx": "", "tpTriggerPx": "", "tpTriggerPxType": "", "tradeId": tradeID, "tradeQuoteCcy": sym.quote,
		"uTime": strconv.FormatInt(o.updated.UnixMilli(), 10),
	}
}

// okxGetOrder is GET /api/v5/trade/order: by ordId, or by clOrdId (the
// latest order with it, as documented); instId is required.
func (v *venue) okxGetOrder(w http.ResponseWriter, r *http.Request, _ []byte, _ time.Time) {
	q := r.URL.Query()
	if q.Get("instId") == "" {
		writeJSON(w, 200, okxResp{Code: "50014", Msg: "Parameter instId can not be empty.", Data: []any{}})
		return
	}
	if v.venueSymbolOf(q.Get("instId")) == nil {
		writeJSON(w, 200, okxResp{Code: "51001", Msg: "Instrument ID, Instrument ID code or Spread ID doesn't exist.", Data: []any{}})
		return
	}
	var ord *order
	switch {
	case q.Get("ordId") != "":
		ord = v.orders.byID[q.Get("ordId")]
	case q.Get("clOrdId") != "":
		if o := v.orders.byClient[q.Get("clOrdId")]; o != nil && o.clientSent {
			ord = o
		}
	default:
		writeJSON(w, 200, okxResp{Code: "50014", Msg: "Parameter ordId can not be empty.", Data: []any{}})
		return
	}
	if ord == nil || ord.vb.sym.cfg.Symbol != q.Get("instId") {
		writeJSON(w, 200, okxResp{Code: "51603", Msg: "Order does not exist", Data: []any{}})
		return
	}
	writeJSON(w, 200, okxResp{Code: "0", Msg: "", Data: []any{v.okxOrderView(ord)}})
}

// okxCancel cancels by ordId (preferred) or clOrdId (caller holds Sim.mu).
func (v *venue) okxCancel(instID, ordID, clOrdID string, now time.Time) okxPlaceResult {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	if ordID == "" && clOrdID == "" {
		return okxPlaceResult{code: "50014", msg: "Parameter ordId can not be empty."}
	}
	var ord *order
	if ordID != "" {
		ord = v.orders.byID[ordID]
	} else if o := v.orders.byClient[clOrdID]; o != nil && o.clientSent {
		ord = o
	}
	if ord == nil || ord.vb.sym.cfg.Symbol != instID || !v.cancel(ord, "", now) {
		return okxPlaceResult{code: "1", msg: "All operations failed", ack: okxOrderAck{ClOrdID: clOrdID, OrdID: ordID, TS: ts,
			SCode: "51400", SMsg: "Order cancellation failed as the order has been filled, canceled or does not exist."}}
	}
	return okxPlaceResult{code: "0", ack: okxOrderAck{ClOrdID: ord.echoClientID(), OrdID: ord.id,
		TS: strconv.FormatInt(ord.created.UnixMilli(), 10), SCode: "0", SMsg: ""}}
}

// okxCancelOrder is POST /api/v5/trade/cancel-order.
func (v *venue) okxCancelOrder(w http.ResponseWriter, _ *http.Request, body []byte, now time.Time) {
	var req struct {
		InstID  string `json:"instId"`
		OrdID   string `json:"ordId"`
		ClOrdID string `json:"clOrdId"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, 400, okxResp{Code: "50002", Msg: "JSON syntax error", Data: []any{}})
		return
	}
	if v.venueSymbolOf(req.InstID) == nil {
		writeJSON(w, 200, okxResp{Code: "51001", Msg: "Instrument ID, Instrument ID code or Spread ID doesn't exist.", Data: []any{}})
		return
	}
	inTime := strconv.FormatInt(now.UnixMicro(), 10)
	res := v.okxCancel(req.InstID, req.OrdID, req.ClOrdID, now)
	if res.code != "0" && res.code != "1" {
		writeJSON(w, 200, okxResp{Code: res.code, Msg: res.msg, Data: []any{}})
		return
	}
	ack := map[string]string{"clOrdId": res.ack.ClOrdID, "ordId": res.ack.OrdID, "ts": res.ack.TS, "sCode": res.ack.SCode, "sMsg": res.ack.SMsg}
	writeJSON(w, 200, map[string]any{"code": res.code, "msg": res.msg, "data": []any{ack}, "inTime": inTime,
		"outTime": strconv.FormatInt(v.s.now().UnixMicro(), 10)})
}

// okxLimit reads a limit parameter: default and maximum 100 (larger values
// are taken as 100).
func okxLimit(s string) (int, bool) {
	if s == "" {
		return 100, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, false
	}
	return min(n, 100), true
}

// okxPage applies OKX's id paging to items sorted newest first (ids
// descending): after returns those older than the id, before those newer;
// limit keeps the ones nearest to the cursor (the newest without one).
func okxPage[T any](items []T, id func(T) uint64, after, before string, limit int) ([]T, bool) {
	var a, b uint64
	var err error
	if after != "" {
		if a, err = strconv.ParseUint(after, 10, 64); err != nil {
			return nil, false
		}
	}
	if before != "" {
		if b, err = strconv.ParseUint(before, 10, 64); err != nil {
			return nil, false
		}
	}
	var out []T
	for _, it := range items {
		x := id(it)
		if after != "" && x >= a || before != "" && x <= b {
			continue
		}
		out = append(out, it)
	}
	if len(out) > limit {
		if before != "" && after == "" {
			out = out[len(out)-limit:] // the ones right after the cursor
		} else {
			out = out[:limit]
		}
	}
	return out, true
}

// okxPending is GET /api/v5/trade/orders-pending: open orders, newest first,
// filtered by instType, instId, ordType and state, paged by ordId.
func (v *venue) okxPending(w http.ResponseWriter, r *http.Request, _ []byte, _ time.Time) {
	q := r.URL.Query()
	limit, ok := okxLimit(q.Get("limit"))
	if !ok {
		writeJSON(w, 200, okxResp{Code: "51000", Msg: "Parameter limit error", Data: []any{}})
		return
	}
	var list []*order
	if it := q.Get("instType"); it == "" || it == "SPOT" {
		for i := len(v.orders.open) - 1; i >= 0; i-- {
			o := v.orders.open[i]
			if inst := q.Get("instId"); inst != "" && o.vb.sym.cfg.Symbol != inst {
				continue
			}
			if ot := q.Get("ordType"); ot != "" && okxOrdType(o.tif) != ot {
				continue
			}
			if st := q.Get("state"); st != "" && okxStateNames[o.status] != st {
				continue
			}
			list = append(list, o)
		}
	}
	page, ok := okxPage(list, func(o *order) uint64 { n, _ := strconv.ParseUint(o.id, 10, 64); return n }, q.Get("after"), q.Get("before"), limit)
	if !ok {
		writeJSON(w, 200, okxResp{Code: "51000", Msg: "Parameter after error", Data: []any{}})
		return
	}
	data := []any{}
	for _, o := range page {
		data = append(data, v.okxOrderView(o))
	}
	writeJSON(w, 200, okxResp{Code: "0", Msg: "", Data: data})
}

// okxFeeRate prints a fill's fee rate as OKX does: negative for a charge.
func (v *venue) okxFeeRate(maker bool) string {
	e2 := v.feeE2
	if maker {
		e2 = v.makerFeeE2
	}
	if e2 == 0 {
		return "0"
	}
	return "-" + fmtBig(big.NewInt(e2), 6, 6, true)
}

// okxFillView is one fill as GET /api/v5/trade/fills prints it.
func (v *venue) okxFillView(f *Fill) map[string]any {
	sym := v.s.syms[v.s.symIdx[f.Symbol]]
	execType, ms := "T", strconv.FormatInt(f.Time.UnixMilli(), 10)
	if f.Maker {
		execType = "M"
	}
	subType := "1"
	if f.Side == exchange.Sell {
		subType = "2"
	}
	cid := f.ClientID
	if o := v.orders.byID[f.OrderID]; o != nil {
		cid = o.echoClientID()
	} else if strings.HasPrefix(cid, "sim") {
		cid = ""
	}
	return map[string]any{
		"side": okxSide(f.Side), "fillSz": string(okxSz(nil, int64(f.Qty), sym)), "fillPx": string(okxPx(nil, int64(f.Px), sym)),
		"fillPxVol": "", "fillFwdPx": "", "fee": okxFee(f.Fee), "fillPnl": "0", "ordId": f.OrderID, "feeRate": v.okxFeeRate(f.Maker),
		"instType": "SPOT", "fillPxUsd": "", "instId": f.Symbol, "clOrdId": cid, "posSide": "net",
		"billId": strconv.FormatUint(f.bill, 10), "subType": subType, "fillMarkVol": "", "tag": "", "fillTime": ms,
		"execType": execType, "fillIdxPx": "", "tradeId": f.TradeID, "fillMarkPx": "", "feeCcy": f.FeeAsset, "ts": ms,
		"tradeQuoteCcy": sym.quote,
	}
}

// okxFills is GET /api/v5/trade/fills: the last 3 days' fills, newest
// first, filtered by instType, instId and ordId, paged by billId (after:
// older, before: newer) or by fill time with begin and end (inclusive —
// the docs say "filter", not which end is open; inclusive never loses a
// fill at the boundary millisecond), limit 100.
func (v *venue) okxFills(w http.ResponseWriter, r *http.Request, _ []byte, now time.Time) {
	q := r.URL.Query()
	limit, ok := okxLimit(q.Get("limit"))
	if !ok {
		writeJSON(w, 200, okxResp{Code: "51000", Msg: "Parameter limit error", Data: []any{}})
		return
	}
	ms := func(name string) (int64, bool) {
		s := q.Get(name)
		if s == "" {
			return 0, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	begin, ok1 := ms("begin")
	end, ok2 := ms("end")
	if !ok1 || !ok2 {
		writeJSON(w, 200, okxResp{Code: "51000", Msg: "Parameter begin error", Data: []any{}})
		return
	}
	oldest := now.Add(-3 * 24 * time.Hour).UnixMilli()
	var list []*Fill
	if it := q.Get("instType"); it == "" || it == "SPOT" {
		for i := len(v.orders.fills) - 1; i >= 0; i-- {
			f := &v.orders.fills[i]
			t := f.Time.UnixMilli()
			if t < oldest || begin != 0 && t < begin || end != 0 && t > end {
				continue
			}
			if inst := q.Get("instId"); inst != "" && f.Symbol != inst {
				continue
			}
			if oid := q.Get("ordId"); oid != "" && f.OrderID != oid {
				continue
			}
			list = append(list, f)
		}
	}
	page, ok := okxPage(list, func(f *Fill) uint64 { return f.bill }, q.Get("after"), q.Get("before"), limit)
	if !ok {
		writeJSON(w, 200, okxResp{Code: "51000", Msg: "Parameter after error", Data: []any{}})
		return
	}
	data := []any{}
	for _, f := range page {
		data = append(data, v.okxFillView(f))
	}
	writeJSON(w, 200, okxResp{Code: "0", Msg: "", Data: data})
}

// usdValue values an amount (10^-8 units) of asset in USD the simulator's
// way: USDT and USDC at 1, other assets at the mid of their USDT book on
// this venue, 0 when there is none. OKX and Bybit print such valuations
// next to balances; they are informational.
func (v *venue) usdValue(asset string, units int64) *big.Rat {
	x := big.NewRat(units, 100_000_000)
	if asset == "USDT" || asset == "USDC" {
		return x
	}
	for _, vb := range v.books {
		if vb.sym.base == asset && vb.sym.quote == "USDT" && len(vb.live.bids.l) > 0 && len(vb.live.asks.l) > 0 {
			mid := big.NewRat(vb.live.bids.l[0].px+vb.live.asks.l[0].px, 2*num.Pow10(vb.sym.scale.Px))
			return x.Mul(x, mid)
		}
	}
	return new(big.Rat)
}

// accountUSD is the whole account valued by usdValue.
func (v *venue) accountUSD() *big.Rat {
	total := new(big.Rat)
	for _, a := range v.acct.names {
		h := v.acct.assets[a]
		total.Add(total, v.usdValue(a, h.free+h.locked))
	}
	return total
}

func ratStr(r *big.Rat, dec int) string {
	return fmtBig(new(big.Int).Quo(new(big.Int).Mul(r.Num(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(dec)), nil)), r.Denom()), dec, dec, true)
}

// okxBalance is GET /api/v5/account/balance[?ccy=A,B]: the currencies held
// (a currency with nothing is omitted, as documented), cashBal = free +
// frozen, availBal = free, frozenBal = ordFrozen = locked by open orders.
func (v *venue) okxBalance(w http.ResponseWriter, r *http.Request, _ []byte, now time.Time) {
	var only map[string]bool
	if c := r.URL.Query().Get("ccy"); c != "" {
		only = map[string]bool{}
		for _, x := range strings.Split(c, ",") {
			only[x] = true
		}
	}
	details := []any{}
	total := new(big.Rat)
	for _, a := range v.acct.names {
		h := v.acct.assets[a]
		if h.free == 0 && h.locked == 0 || only != nil && !only[a] {
			continue
		}
		cash := amount8(h.free+h.locked, true)
		usd := v.usdValue(a, h.free+h.locked)
		total.Add(total, usd)
		u := strconv.FormatInt(v.acct.updated.UnixMilli(), 10)
		details = append(details, map[string]any{
			"autoLendStatus": "off", "autoLendMtAmt": "0", "availBal": amount8(h.free, true), "availEq": amount8(h.free, true),
			"borrowFroz": "0", "cashBal": cash, "ccy": a, "crossLiab": "0", "colRes": "0", "collateralEnabled": false,
			"collateralRestrict": false, "colBorrAutoConversion": "0", "disEq": ratStr(usd, 8), "eq": cash, "eqUsd": ratStr(usd, 8),
			"smtSyncEq": "0", "spotCopyTradingEq": "0", "fixedBal": "0", "frozenBal": amount8(h.locked, true), "frpType": "0",
			"imr": "", "interest": "0", "isoEq": "0", "isoLiab": "0", "isoUpl": "0", "liab": "0", "maxLoan": "0", "mgnRatio": "",
			"mmr": "", "notionalLever": "", "ordFrozen": amount8(h.locked, true), "rewardBal": "0", "spotInUseAmt": "",
			"clSpotInUseAmt": "", "maxSpotInUse": "", "spotIsoBal": "0", "stgyEq": "0", "twap": "0", "uTime": u, "upl": "0",
			"uplLiab": "0", "spotBal": "", "openAvgPx": "", "accAvgPx": "", "spotUpl": "", "spotUplRatio": "", "totalPnl": "",
			"totalPnlRatio": "",
		})
	}
	tot := ratStr(total, 8)
	writeJSON(w, 200, okxResp{Code: "0", Msg: "", Data: []any{map[string]any{
		"adjEq": tot, "availEq": tot, "borrowFroz": "0", "delta": "0", "deltaLever": "0", "deltaNeutralStatus": "0",
		"details": details, "imr": "0", "isoEq": "0", "mgnRatio": "", "mmr": "0", "notionalUsd": "0", "notionalUsdForBorrow": "0",
		"notionalUsdForFutures": "0", "notionalUsdForOption": "0", "notionalUsdForSwap": "0", "ordFroz": "", "totalEq": tot,
		"uTime": strconv.FormatInt(now.UnixMilli(), 10), "upl": "0",
	}}})
}
