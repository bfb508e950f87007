package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Binance WebSocket API (/ws-api/v3, web-socket-api.md): requests
// {"id","method","params"} answered {"id","status","result"|"error",
// "rateLimits"}; SIGNED requests carry apiKey and signature (every param but
// signature, sorted by name, name=value joined by '&' without
// percent-encoding; hex HMAC-SHA256 or base64 Ed25519) unless the
// connection logged on with session.logon (Ed25519 keys only). The user
// data stream runs on the same connection: userDataStream.subscribe (after
// session.logon) or userDataStream.subscribe.signature (any key type), then
// events {"subscriptionId":N,"event":{…}} — executionReport per order
// change, outboundAccountPosition per account change — until
// userDataStream.unsubscribe or session.logout (eventStreamTerminated).
// Nothing is sent on subscribing and nothing is replayed after a reconnect,
// as documented.

// wsapiSession is a WebSocket API connection's state.
type wsapiSession struct {
	logonKey     string // API key authenticated by session.logon ("" = none)
	logonSince   int64  // ms
	connected    int64  // ms
	rateLimits   bool   // answers carry rateLimits (returnRateLimits)
	sub          int    // the active user data subscription's id, -1 = none
	subLogon     bool   // the subscription was made with userDataStream.subscribe (ended by session.logout)
	nextSub      int    // subscription ids are counted per connection from 0
	subsLifetime int
}

// maxSubscriptionIDs is the documented lifetime limit of subscription ids
// per connection (-2042).
const maxSubscriptionIDs = 65535

// wsapiReq is one request; params keep their JSON text.
type wsapiReq struct {
	ID     json.RawMessage            `json:"id"`
	Method string                     `json:"method"`
	Params map[string]json.RawMessage `json:"params"`
}

// wsapiWeights are the documented request weights (order placement and
// cancellation 0 when they succeed, since 2026-04-02).
var wsapiWeights = map[string]int{
	"ping": 1, "time": 1, "session.logon": 2, "session.status": 2, "session.logout": 2,
	"session.subscriptions": 2, "userDataStream.subscribe": 2, "userDataStream.subscribe.signature": 2,
	"userDataStream.unsubscribe": 2, "order.place": 1, "order.status": 4, "order.cancel": 1,
	"openOrders.status": 6, "myTrades": 20, "account.status": 20,
}

// wsapiRequest answers one message on a WebSocket API connection (caller
// holds Sim.mu).
func (v *venue) wsapiRequest(c *conn, data []byte) {
	now := v.s.now()
	var req wsapiReq
	if err := json.Unmarshal(data, &req); err != nil || req.Method == "" {
		c.send(wsapiErrorMsg(nil, 400, -1135, "Invalid JSON Request", nil))
		return
	}
	id := req.ID
	if !validBinanceID(id) {
		c.send(wsapiErrorMsg(nil, 400, -1100, "Illegal characters found in parameter 'id'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.", nil))
		return
	}
	n := v.logRequest(now, "ws", req.Method)
	weight, known := wsapiWeights[req.Method]
	if !known {
		v.finishRequest(n, 400, false, 0)
		c.send(wsapiErrorMsg(id, 400, -1020, "This operation is not supported.", nil))
		return
	}
	if req.Method == "openOrders.status" && !bytes.Contains(data, []byte(`"symbol"`)) {
		weight = 80
	}
	refused, status, retry := v.admit(now)
	if !refused {
		if over, r := v.binanceOverWeight(now); over {
			refused, status, retry = true, 429, r
		}
	}
	if refused {
		v.useWeight(weight, now)
		v.finishRequest(n, status, true, retry)
		msg := "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."
		if status == 418 {
			msg = fmt.Sprintf("Way too much request weight used; IP banned until %d. Please use WebSocket Streams for live updates to avoid bans.", now.Add(retry).UnixMilli())
		}
		data := fmt.Sprintf(`{"serverTime":%d,"retryAfter":%d}`, now.UnixMilli(), now.Add(retry).UnixMilli())
		c.send(wsapiErrorMsg(id, status, -1003, msg, json.RawMessage(data), v.wsapiRateLimits(c, now, false)))
		return
	}
	p, e := wsapiParams(req.Params)
	var res any
	var ack ackFault
	if e == nil {
		res, e, ack = v.wsapiDo(c, req.Method, p, now)
	}
	status = 200
	if e != nil {
		status = e.status
	}
	if (req.Method == "order.place" || req.Method == "order.cancel") && e == nil {
		weight = 0
	}
	v.useWeight(weight, now)
	rl := c.bn.rateLimits && p["returnRateLimits"] != "false"
	var msg []byte
	if e != nil {
		msg = wsapiErrorMsg(id, e.status, e.code, e.msg, nil, v.wsapiRateLimitsIf(rl, c, now, req.Method == "order.place"))
	} else {
		b, _ := json.Marshal(res)
		msg = wsapiResultMsg(id, b, v.wsapiRateLimitsIf(rl, c, now, req.Method == "order.place"))
	}
	switch ack.kind {
	case FaultLoseAck:
		v.finishRequest(n, 0, false, 0) // the order executed; its answer is withheld
		return
	case FaultDelayAck:
		v.finishRequest(n, status, false, 0)
		time.AfterFunc(ack.delay, func() {
			v.s.mu.Lock()
			defer v.s.mu.Unlock()
			c.send(msg)
		})
		return
	}
	v.finishRequest(n, status, false, 0)
	c.send(msg)
}

// wsapiParams converts params to their string forms: a string's value, a
// number's or boolean's JSON text. Arrays and objects are refused.
func wsapiParams(raw map[string]json.RawMessage) (bnParams, *bnErr) {
	p := bnParams{}
	for k, v := range raw {
		t := bytes.TrimSpace(v)
		switch {
		case len(t) == 0 || string(t) == "null":
			continue
		case t[0] == '"':
			var s string
			if json.Unmarshal(t, &s) != nil {
				return nil, bnE(400, -1130, fmt.Sprintf("Data sent for parameter '%s' is not valid.", k))
			}
			p[k] = s
		case t[0] == '{' || t[0] == '[':
			return nil, bnE(400, -1130, fmt.Sprintf("Data sent for parameter '%s' is not valid.", k))
		default:
			p[k] = string(t)
		}
	}
	return p, nil
}

// wsapiPayload is the signed payload of a WebSocket API request: every
// param except signature, sorted by name, name=value joined by '&', values
// as they are (no percent-encoding).
func wsapiPayload(p bnParams) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		if k != "signature" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(p[k])
	}
	return b.String()
}

// wsapiAuth authenticates a SIGNED request: with apiKey and signature in
// the params (HMAC or Ed25519, by the key), or on a connection logged on
// with session.logon; timestamp and recvWindow follow the timing rule in
// both cases. It returns the key used.
func (v *venue) wsapiAuth(c *conn, p bnParams, now time.Time) (string, *bnErr) {
	key := p["apiKey"]
	if key == "" && c.bn.logonKey == "" {
		return "", bnMissing("apiKey")
	}
	if key != "" {
		if key != v.cfg.APIKey && (v.cfg.Ed25519APIKey == "" || key != v.cfg.Ed25519APIKey) {
			return "", bnE(401, -2015, "Invalid API-key, IP, or permissions for action.")
		}
		sig := p["signature"]
		if sig == "" {
			return "", bnMissing("signature")
		}
		payload := wsapiPayload(p)
		if key == v.cfg.Ed25519APIKey {
			if !v.binanceEd25519OK(payload, sig) {
				return "", bnE(400, -1022, "Signature for this request is not valid.")
			}
		} else if !strings.EqualFold(sig, binanceSign(v.cfg.APISecret, payload)) {
			return "", bnE(400, -1022, "Signature for this request is not valid.")
		}
	} else {
		key = c.bn.logonKey
	}
	if p["timestamp"] == "" {
		return "", bnMissing("timestamp")
	}
	if code, msg := binanceCheckTime(p["timestamp"], p["recvWindow"], now); code != 0 {
		return "", bnE(400, code, msg)
	}
	return key, nil
}

// wsapiDo runs one method (caller holds Sim.mu).
func (v *venue) wsapiDo(c *conn, method string, p bnParams, now time.Time) (any, *bnErr, ackFault) {
	bn := c.bn
	switch method {
	case "ping":
		return struct{}{}, nil, ackFault{}
	case "time":
		return map[string]int64{"serverTime": now.UnixMilli()}, nil, ackFault{}
	case "session.status":
		return v.wsapiSessionStatus(c, now), nil, ackFault{}
	case "session.subscriptions":
		out := []map[string]int{}
		if bn.sub >= 0 {
			out = append(out, map[string]int{"subscriptionId": bn.sub})
		}
		return out, nil, ackFault{}
	case "session.logon":
		if p["apiKey"] == "" {
			return nil, bnMissing("apiKey"), ackFault{}
		}
		if p["apiKey"] == v.cfg.APIKey {
			// session.logon takes Ed25519 keys only; the docs give no
			// code for another key type, the simulator answers -1002.
			return nil, bnE(400, -1002, "You are not authorized to execute this request. (session.logon requires an Ed25519 API key)"), ackFault{}
		}
		key, e := v.wsapiAuth(c, p, now)
		if e != nil {
			return nil, e, ackFault{}
		}
		bn.logonKey, bn.logonSince = key, now.UnixMilli()
		return v.wsapiSessionStatus(c, now), nil, ackFault{}
	case "session.logout":
		if bn.sub >= 0 && bn.subLogon {
			v.wsapiEndSubscription(c, now)
		}
		bn.logonKey, bn.logonSince = "", 0
		return v.wsapiSessionStatus(c, now), nil, ackFault{}
	case "userDataStream.subscribe", "userDataStream.subscribe.signature":
		if method == "userDataStream.subscribe" {
			if bn.logonKey == "" {
				// Documented as needing a connection authenticated with
				// session.logon; no code is given for the refusal.
				return nil, bnE(400, -1002, "You are not authorized to execute this request."), ackFault{}
			}
		} else if _, e := v.wsapiAuth(c, p, now); e != nil {
			return nil, e, ackFault{}
		}
		if bn.sub >= 0 {
			return nil, bnE(400, -2035, "User Data Stream subscription already active."), ackFault{}
		}
		if bn.subsLifetime >= maxSubscriptionIDs {
			return nil, bnE(400, -2042, "Maximum subscription ID reached for this connection."), ackFault{}
		}
		bn.sub, bn.subLogon = bn.nextSub, method == "userDataStream.subscribe"
		bn.nextSub++
		bn.subsLifetime++
		c.streamOn = true
		c.push = func(ev privEvent) { v.wsapiPush(c, ev) }
		return map[string]int{"subscriptionId": bn.sub}, nil, ackFault{}
	case "userDataStream.unsubscribe":
		if bn.sub < 0 {
			return nil, bnE(400, -2036, "User Data Stream subscription not active."), ackFault{}
		}
		if id, ok := p["subscriptionId"]; ok && id != strconv.Itoa(bn.sub) {
			return nil, bnE(400, -2036, "User Data Stream subscription not active."), ackFault{}
		}
		v.wsapiEndSubscription(c, now)
		return struct{}{}, nil, ackFault{}
	}
	// The SIGNED trading and account methods.
	if _, e := v.wsapiAuth(c, p, now); e != nil {
		return nil, e, ackFault{}
	}
	switch method {
	case "order.place":
		return v.binanceNewOrder(p, "ws", now)
	case "order.status":
		return v.binanceQueryOrder(p, "ws", now)
	case "order.cancel":
		return v.binanceCancelOrder(p, "ws", now)
	case "openOrders.status":
		return v.binanceOpenOrders(p, "ws", now)
	case "myTrades":
		return v.binanceMyTrades(p, "ws", now)
	case "account.status":
		return v.binanceAccount(p, "ws", now)
	}
	return nil, bnE(400, -1020, "This operation is not supported."), ackFault{}
}

// wsapiEndSubscription ends the connection's user data subscription with
// eventStreamTerminated (caller holds Sim.mu).
func (v *venue) wsapiEndSubscription(c *conn, now time.Time) {
	bn := c.bn
	c.send(fmt.Appendf(nil, `{"subscriptionId":%d,"event":{"e":"eventStreamTerminated","E":%d}}`, bn.sub, now.UnixMilli()))
	bn.sub, bn.subLogon = -1, false
	c.streamOn = false
	c.push = nil
}

type wsapiStatus struct {
	APIKey           *string `json:"apiKey"`
	AuthorizedSince  *int64  `json:"authorizedSince"`
	ConnectedSince   int64   `json:"connectedSince"`
	ReturnRateLimits bool    `json:"returnRateLimits"`
	ServerTime       int64   `json:"serverTime"`
	UserDataStream   bool    `json:"userDataStream"`
}

func (v *venue) wsapiSessionStatus(c *conn, now time.Time) wsapiStatus {
	st := wsapiStatus{ConnectedSince: c.bn.connected, ReturnRateLimits: c.bn.rateLimits, ServerTime: now.UnixMilli(),
		UserDataStream: c.bn.sub >= 0}
	if c.bn.logonKey != "" {
		k, t := c.bn.logonKey, c.bn.logonSince
		st.APIKey, st.AuthorizedSince = &k, &t
	}
	return st
}

type wsapiRateLimit struct {
	RateLimitType string `json:"rateLimitType"`
	Interval      string `json:"interval"`
	IntervalNum   int    `json:"intervalNum"`
	Limit         int    `json:"limit"`
	Count         int    `json:"count"`
}

func (v *venue) wsapiRateLimitsIf(on bool, c *conn, now time.Time, orders bool) []wsapiRateLimit {
	if !on {
		return nil
	}
	return v.wsapiRateLimits(c, now, orders)
}

// wsapiRateLimits is the rateLimits array: the order counts (for order
// placement) and the minute's request weight.
func (v *venue) wsapiRateLimits(_ *conn, now time.Time, orders bool) []wsapiRateLimit {
	var out []wsapiRateLimit
	if orders {
		c10, _ := v.orders10s.peek(now, 10*time.Second)
		cd, _ := v.ordersDay.peek(now, 24*time.Hour)
		out = append(out, wsapiRateLimit{"ORDERS", "SECOND", 10, binanceOrders10s, c10}, wsapiRateLimit{"ORDERS", "DAY", 1, binanceOrdersDay, cd})
	}
	used, _ := v.weight.peek(now, time.Minute)
	return append(out, wsapiRateLimit{"REQUEST_WEIGHT", "MINUTE", 1, binanceWeightLimit, used})
}

func wsapiID(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return json.RawMessage("null")
	}
	return id
}

func wsapiResultMsg(id json.RawMessage, result []byte, rl []wsapiRateLimit) []byte {
	b := fmt.Appendf(nil, `{"id":%s,"status":200,"result":%s`, wsapiID(id), result)
	if rl != nil {
		r, _ := json.Marshal(rl)
		b = fmt.Appendf(b, `,"rateLimits":%s`, r)
	}
	return append(b, '}')
}

func wsapiErrorMsg(id json.RawMessage, status, code int, msg string, data json.RawMessage, rl ...[]wsapiRateLimit) []byte {
	m, _ := json.Marshal(msg)
	b := fmt.Appendf(nil, `{"id":%s,"status":%d,"error":{"code":%d,"msg":%s`, wsapiID(id), status, code, m)
	if data != nil {
		b = fmt.Appendf(b, `,"data":%s`, data)
	}
	b = append(b, '}')
	if len(rl) > 0 && rl[0] != nil {
		r, _ := json.Marshal(rl[0])
		b = fmt.Appendf(b, `,"rateLimits":%s`, r)
	}
	return append(b, '}')
}

// wsapiPush sends an account event to a connection with a user data
// subscription (caller holds Sim.mu).
func (v *venue) wsapiPush(c *conn, ev privEvent) {
	if c.bn.sub < 0 {
		return
	}
	var event []byte
	if ev.exec != nil {
		event = v.binanceExecutionReport(ev.exec)
	} else {
		event = v.binanceAccountPosition(ev.assets, ev.at)
	}
	c.send(fmt.Appendf(nil, `{"subscriptionId":%d,"event":%s}`, c.bn.sub, event))
}

// binanceExecutionReport encodes one order change as the executionReport
// event, in the documented field order. x is the execution type, X the
// status after it; l/L/n/N/t/m describe the fill of a TRADE; z/Z are the
// running totals; eR appears on expiry, W while the order works on the
// book.
func (v *venue) binanceExecutionReport(ev *execEvent) []byte {
	o := ev.ord
	sym := o.vb.sym
	sc := sym.scale
	f8 := func(x int64, dec uint8) string { return string(appendFixed8(nil, x, dec)) }
	x := map[execKind]string{execNew: "NEW", execTrade: "TRADE", execExpired: "EXPIRED", execCanceled: "CANCELED"}[ev.kind]
	c, origC := o.clientID, ""
	if ev.kind == execCanceled {
		c, origC = ev.cancelClientID, o.clientID
	}
	lq, lp, n, nAsset, tid, maker, lastQuote := f8(0, sc.Qty), f8(0, sc.Px), "0", "null", int64(-1), false, "0.00000000"
	if ev.kind == execTrade {
		f := ev.fill
		lq, lp = f8(int64(f.Qty), sc.Qty), f8(int64(f.Px), sc.Px)
		n, nAsset, tid, maker = amount8(f.Fee, false), strconv.Quote(f.FeeAsset), idInt(f.TradeID), f.Maker
		q, _ := quoteUnits(sym, int64(f.Px), int64(f.Qty))
		lastQuote = amount8(q, false)
	}
	onBook := o.tif == "GTC" && o.open()
	at := ev.at.UnixMilli()
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"e":"executionReport","E":%d,"s":%q,"c":%q,"S":%q,"o":"LIMIT","f":%q,"q":%q,"p":%q,"P":"0.00000000","F":"0.00000000","g":-1,"C":%q,"x":%q,"X":%q,"r":"NONE","i":%d,"l":%q,"z":%q,"L":%q,"n":%q,"N":%s,"T":%d,"t":%d,"I":%d,"w":%t,"m":%t,"M":false,"O":%d,"Z":%q,"Y":%q,"Q":"0.00000000"`,
		at, v.symbolName(sym), c, binanceSide(o.side), o.tif, f8(o.qty, sc.Qty), f8(o.px, sc.Px), origC, x,
		binanceStatusNames[o.status], idInt(o.id), lq, f8(o.filled, sc.Qty), lp, n, nAsset, at, tid, v.newExecID(), onBook, maker,
		o.created.UnixMilli(), o.quoteStr(8, false), lastQuote)
	if onBook {
		fmt.Fprintf(&b, `,"W":%d`, o.created.UnixMilli())
	}
	b.WriteString(`,"V":"NONE"`)
	if ev.kind == execExpired {
		reason := "UNFILLED_IOC_QUANTITY_EXPIRED"
		if o.tif == "FOK" {
			reason = "UNFILLED_FOK_ORDER_EXPIRED"
		}
		fmt.Fprintf(&b, `,"eR":%q`, reason)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// binanceAccountPosition encodes outboundAccountPosition with the assets
// the change touched.
func (v *venue) binanceAccountPosition(assets []string, at time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"e":"outboundAccountPosition","E":%d,"u":%d,"B":[`, at.UnixMilli(), v.acct.updated.UnixMilli())
	for i, a := range assets {
		if i > 0 {
			b.WriteByte(',')
		}
		h := v.acct.assets[a]
		fmt.Fprintf(&b, `{"a":%q,"f":%q,"l":%q}`, a, amount8(h.free, false), amount8(h.locked, false))
	}
	b.WriteString("]}")
	return b.Bytes()
}
