package sim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Bybit private websocket (/v5/private) and order entry (/v5/trade). Both
// authenticate with {"op":"auth","args":[apiKey, expires (ms), hex
// HMAC-SHA256(secret, "GET/realtime" + expires)]}, expires in the future.
// /v5/private carries the topics order, execution, execution.fast (each
// all-in-one or ".spot"; the two kinds cannot be mixed in one request) and
// wallet; nothing is sent on subscribing, nothing replayed. /v5/trade takes
// order.create and order.cancel with a header whose X-BAPI-TIMESTAMP
// follows the REST timing rule, and a reqId of at most 36 characters that
// may not repeat on the connection (20006); the answer is only an
// acknowledgement, the order's fate comes on the private topics.

// bybitSession is a private or trade connection's state.
type bybitSession struct {
	authed bool
	topics map[string]bool // subscribed private topics
	reqIDs map[string]struct{}
}

// bybitPrivateTopics are the private topics the simulator pushes, each
// all-in-one or spot.
var bybitPrivateTopics = map[string]bool{
	"order": true, "order.spot": true, "execution": true, "execution.spot": true,
	"execution.fast": true, "execution.fast.spot": true, "wallet": true,
}

// maxReqIDs bounds the reqIds a trade connection remembers for the
// duplicate check (the oldest half is forgotten when full).
const maxReqIDs = 4096

// bybitPrivReq is a message on a private or trade connection (the private
// stream names its request id req_id, the trade stream reqId).
type bybitPrivReq struct {
	ReqID  *string           `json:"req_id"`
	ReqID2 *string           `json:"reqId"`
	Op     string            `json:"op"`
	Args   []json.RawMessage `json:"args"`
	Header map[string]string `json:"header"`
}

// bybitPrivateRequest answers one message on a /v5/private or /v5/trade
// connection (caller holds Sim.mu).
func (v *venue) bybitPrivateRequest(c *conn, data []byte) {
	now := v.s.now()
	trade := c.role == roleTrade
	var req bybitPrivReq
	if err := json.Unmarshal(data, &req); err != nil || req.Op == "" {
		if trade {
			c.send(bybitTradeReply("", "", 10001, "params error: request not json", nil, c.id, nil))
		} else {
			c.send(bybitReply(false, "error:request not json", c.id, nil, ""))
		}
		return
	}
	c.touch()
	switch req.Op {
	case "ping":
		if trade {
			c.send(fmt.Appendf(nil, `{"retCode":0,"retMsg":"OK","op":"pong","data":["%d"],"connId":%q}`, now.UnixMilli(), c.id))
			return
		}
		b := []byte(`{`)
		if req.ReqID != nil {
			r, _ := json.Marshal(*req.ReqID)
			b = fmt.Appendf(b, `"req_id":%s,`, r)
		}
		c.send(fmt.Appendf(b, `"op":"pong","args":["%d"],"conn_id":%q}`, now.UnixMilli(), c.id))
	case "auth":
		n := v.logRequest(now, "ws", "auth")
		v.finishRequest(n, 200, false, 0)
		v.bybitAuthWS(c, &req, now)
	case "subscribe", "unsubscribe":
		if trade {
			c.send(bybitTradeReply(reqIDOf(&req), req.Op, 10001, "params error: unsupported op", nil, c.id, nil))
			return
		}
		n := v.logRequest(now, "ws", req.Op)
		v.finishRequest(n, 200, false, 0)
		v.bybitPrivateSubscribe(c, &req)
	case "order.create", "order.cancel":
		if !trade {
			c.send(bybitReply(false, "error:unsupported op "+req.Op, c.id, req.ReqID, req.Op))
			return
		}
		v.bybitTradeOp(c, &req, now)
	default:
		if trade {
			c.send(bybitTradeReply(reqIDOf(&req), req.Op, 10001, "params error: unsupported op", nil, c.id, nil))
		} else {
			c.send(bybitReply(false, "error:unsupported op "+req.Op, c.id, req.ReqID, req.Op))
		}
	}
}

func reqIDOf(r *bybitPrivReq) string {
	if r.ReqID2 != nil {
		return *r.ReqID2
	}
	if r.ReqID != nil {
		return *r.ReqID
	}
	return ""
}

// bybitAuthWS checks an auth message. The private stream answers
// {"success","ret_msg","op":"auth","conn_id"}, the trade stream
// {"retCode","retMsg","op":"auth","connId"} (0, 10001 bad args, 10002
// expired, 10003 unknown key, 10004 bad sign, 20001 repeated auth; the
// private stream's failure texts are the simulator's own, the docs print
// only success).
func (v *venue) bybitAuthWS(c *conn, req *bybitPrivReq, now time.Time) {
	trade := c.role == roleTrade
	answer := func(code int, msg string) {
		if trade {
			c.send(fmt.Appendf(nil, `{"retCode":%d,"retMsg":%q,"op":"auth","connId":%q}`, code, msg, c.id))
			return
		}
		b := fmt.Appendf(nil, `{"success":%t,"ret_msg":%q,"op":"auth",`, code == 0, map[bool]string{true: "", false: msg}[code == 0])
		if req.ReqID != nil {
			r, _ := json.Marshal(*req.ReqID)
			b = fmt.Appendf(b, `"req_id":%s,`, r)
		}
		c.send(fmt.Appendf(b, `"conn_id":%q}`, c.id))
	}
	if c.by.authed {
		answer(20001, "Repeat auth")
		return
	}
	var key, sig string
	var expires json.Number
	if len(req.Args) != 3 || json.Unmarshal(req.Args[0], &key) != nil || json.Unmarshal(req.Args[2], &sig) != nil {
		answer(10001, "Params Error")
		return
	}
	dec := json.NewDecoder(strings.NewReader(string(req.Args[1])))
	dec.UseNumber()
	if dec.Decode(&expires) != nil {
		var s string
		if json.Unmarshal(req.Args[1], &s) != nil {
			answer(10001, "Params Error")
			return
		}
		expires = json.Number(s)
	}
	exp, err := strconv.ParseInt(expires.String(), 10, 64)
	if err != nil {
		answer(10001, "Params Error")
		return
	}
	if exp <= now.UnixMilli() {
		answer(10002, "Request expired")
		return
	}
	if key != v.cfg.APIKey {
		answer(10003, "API key is invalid.")
		return
	}
	if !strings.EqualFold(sig, hmacHexSim(v.cfg.APISecret, "GET/realtime"+expires.String())) {
		answer(10004, "Invalid sign")
		return
	}
	c.by.authed = true
	if !trade {
		c.push = func(ev privEvent) { v.bybitPush(c, ev) }
	}
	answer(0, "OK")
}

// hmacHexSim is hex HMAC-SHA256 (Bybit's and Binance's HMAC form).
func hmacHexSim(secret, payload string) string { return binanceSign(secret, payload) }

// bybitPrivateSubscribe subscribes to private topics (after auth).
func (v *venue) bybitPrivateSubscribe(c *conn, req *bybitPrivReq) {
	fail := func(msg string) { c.send(bybitReply(false, msg, c.id, req.ReqID, req.Op)) }
	if !c.by.authed {
		fail("Request not authorized")
		return
	}
	if len(req.Args) == 0 {
		fail("error:args must not be empty")
		return
	}
	var topics []string
	allInOne, categorised := false, false
	for _, a := range req.Args {
		var t string
		if json.Unmarshal(a, &t) != nil || !bybitPrivateTopics[t] {
			fail("error:handler not found,topic:" + string(a))
			return
		}
		if strings.HasSuffix(t, ".spot") {
			categorised = true
		} else if t != "wallet" {
			allInOne = true
		}
		topics = append(topics, t)
	}
	if allInOne && categorised {
		fail("error:all-in-one and categorised topics cannot be subscribed in one request")
		return
	}
	if c.by.topics == nil {
		c.by.topics = map[string]bool{}
	}
	for _, t := range topics {
		if req.Op == "subscribe" {
			c.by.topics[t] = true
		} else {
			delete(c.by.topics, t)
		}
	}
	c.send(bybitReply(true, "", c.id, req.ReqID, req.Op))
}

// bybitTradeReply is the /v5/trade answer.
func bybitTradeReply(reqID, op string, code int, msg string, data any, connID string, hdr map[string]string) []byte {
	if data == nil {
		data = struct{}{}
	}
	d, _ := json.Marshal(data)
	m, _ := json.Marshal(msg)
	b := fmt.Appendf(nil, `{"reqId":%q,"retCode":%d,"retMsg":%s,"op":%q,"data":%s,"retExtInfo":{}`, reqID, code, m, op, d)
	if hdr != nil {
		h, _ := json.Marshal(hdr)
		b = fmt.Appendf(b, `,"header":%s`, h)
	}
	return fmt.Appendf(b, `,"connId":%q}`, connID)
}

// bybitTradeOp runs order.create or order.cancel on a trade connection.
// The per-second limits are the REST endpoints' (shared per UID); the
// answer's header carries them as the REST headers do.
func (v *venue) bybitTradeOp(c *conn, req *bybitPrivReq, now time.Time) {
	reqID := reqIDOf(req)
	n := v.logRequest(now, "ws", req.Op)
	endpoint := "POST /v5/order/create"
	if req.Op == "order.cancel" {
		endpoint = "POST /v5/order/cancel"
	}
	limit := bybitEndpointLimit[endpoint]
	w := v.limits[endpoint]
	if w == nil {
		w = &window{}
		v.limits[endpoint] = w
	}
	header := func(reset time.Time) map[string]string {
		used, end := w.peek(now, time.Second)
		if !reset.IsZero() {
			end = reset
		}
		return map[string]string{"X-Bapi-Limit": strconv.Itoa(limit), "X-Bapi-Limit-Status": strconv.Itoa(max(limit-used, 0)),
			"X-Bapi-Limit-Reset-Timestamp": strconv.FormatInt(end.UnixMilli(), 10),
			"Traceid":                      fmt.Sprintf("%032x", hashKey("trace", v.cfg.Name, strconv.FormatUint(v.reqSeq, 10))), "Timenow": strconv.FormatInt(now.UnixMilli(), 10)}
	}
	answer := func(code int, msg string, data any, limited bool, retry time.Duration, hdr map[string]string) []byte {
		v.finishRequest(n, 200, limited, retry)
		return bybitTradeReply(reqID, req.Op, code, msg, data, c.id, hdr)
	}
	if !c.by.authed {
		c.send(answer(10007, "User authentication failed.", nil, false, 0, nil))
		return
	}
	if len(reqID) > 36 {
		c.send(answer(10001, "params error: reqId is too long", nil, false, 0, nil))
		return
	}
	if reqID != "" {
		if _, dup := c.by.reqIDs[reqID]; dup {
			c.send(answer(20006, "reqId is duplicated", nil, false, 0, nil))
			return
		}
		if len(c.by.reqIDs) >= maxReqIDs {
			clear(c.by.reqIDs)
		}
		c.by.reqIDs[reqID] = struct{}{}
	}
	ts := req.Header["X-BAPI-TIMESTAMP"]
	if ts == "" {
		c.send(answer(10001, "params error: X-BAPI-TIMESTAMP is required", nil, false, 0, nil))
		return
	}
	if code, msg := bybitCheckTime(ts, req.Header["X-BAPI-RECV-WINDOW"], now); code != 0 {
		c.send(answer(code, msg, nil, false, 0, nil))
		return
	}
	if len(req.Args) != 1 {
		c.send(answer(10001, "params error: args must hold one order", nil, false, 0, nil))
		return
	}
	if refused, _, retry := v.admit(now); refused {
		c.send(answer(10006, "Too many visits!", nil, true, retry, header(now.Add(retry))))
		return
	}
	if cnt, end := w.hit(now, time.Second); cnt > limit {
		c.send(answer(10006, "Too many visits!", nil, true, end.Sub(now), header(time.Time{})))
		return
	}
	var o bybitOrderReq
	if json.Unmarshal(req.Args[0], &o) != nil {
		c.send(answer(10001, "params error: args", nil, false, 0, header(time.Time{})))
		return
	}
	var res bybitResult
	if req.Op == "order.create" {
		res = v.bybitCreate(&o, "ws", now)
	} else {
		res = v.bybitCancel(&o, now)
	}
	msg := answer(res.code, res.msg, res.result, false, 0, header(time.Time{}))
	switch res.ack.kind {
	case FaultLoseAck:
		v.finishRequest(n, 0, false, 0)
	case FaultDelayAck:
		time.AfterFunc(res.ack.delay, func() {
			v.s.mu.Lock()
			defer v.s.mu.Unlock()
			c.send(msg)
		})
	default:
		c.send(msg)
	}
}

// bybitPush sends an account event to an authenticated private connection
// on the topics it subscribed (caller holds Sim.mu). The docs print no
// sequence of order states for a spot order: the simulator pushes New on
// acceptance, then the order and one execution per fill, then the end
// state (Cancelled or PartiallyFilledCanceled for an IOC/FOK remainder or
// a cancel); each execution in a message of its own (the docs allow
// several of one order in one message).
func (v *venue) bybitPush(c *conn, ev privEvent) {
	ts := ev.at.UnixMilli()
	id := func(kind string) string {
		return fmt.Sprintf("%d%s-%x", v.orders.nextExec, kind, hashKey("push", v.cfg.Name, strconv.FormatInt(ts, 10), kind)&0xffffffffffff)
	}
	if ev.exec != nil {
		e := ev.exec
		for _, topic := range []string{"order", "order.spot"} {
			if c.by.topics[topic] {
				d, _ := json.Marshal(v.bybitOrderPush(e.ord))
				c.send(fmt.Appendf(nil, `{"id":%q,"topic":%q,"creationTime":%d,"data":[%s]}`, id("order"), topic, ts, d))
			}
		}
		if e.kind != execTrade {
			return
		}
		for _, topic := range []string{"execution", "execution.spot"} {
			if c.by.topics[topic] {
				d, _ := json.Marshal(v.bybitExecPush(e.fill))
				c.send(fmt.Appendf(nil, `{"topic":%q,"id":%q,"creationTime":%d,"data":[%s]}`, topic, id("exec"), ts, d))
			}
		}
		for _, topic := range []string{"execution.fast", "execution.fast.spot"} {
			if c.by.topics[topic] {
				f := e.fill
				sym := e.ord.vb.sym
				link := e.ord.echoClientID()
				if f.Maker {
					link = "" // the docs: orderLinkId is "" for maker fills
				}
				seq, _ := strconv.ParseInt(f.TradeID, 10, 64)
				d, _ := json.Marshal(map[string]any{"category": "spot", "symbol": v.symbolName(sym), "execId": f.TradeID,
					"execPrice": string(appendDec(nil, int64(f.Px), sym.scale.Px, sym.tickDec)),
					"execQty":   string(appendDec(nil, int64(f.Qty), sym.scale.Qty, sym.stepDec)),
					"orderId":   f.OrderID, "isMaker": f.Maker, "orderLinkId": link, "side": bybitSide(f.Side),
					"execTime": strconv.FormatInt(f.Time.UnixMilli(), 10), "seq": seq})
				c.send(fmt.Appendf(nil, `{"topic":%q,"creationTime":%d,"data":[%s]}`, topic, ts, d))
			}
		}
		return
	}
	if !c.by.topics["wallet"] {
		return
	}
	var coins []any
	for _, a := range ev.assets {
		coins = append(coins, v.bybitCoinView(a, v.acct.assets[a]))
	}
	d, _ := json.Marshal(v.bybitWalletView(coins))
	c.send(fmt.Appendf(nil, `{"id":%q,"topic":"wallet","creationTime":%d,"data":[%s]}`, id("wallet"), ts, d))
}

// bybitOrderPush is an order as the order topic prints it (the documented
// field set of the topic, which differs a little from the REST one).
func (v *venue) bybitOrderPush(o *order) map[string]any {
	m := v.bybitOrderView(o)
	delete(m, "isLeverage")
	m["category"] = "spot"
	m["closedPnl"] = "0"
	m["feeCurrency"] = "" // deprecated for spot: see cumFeeDetail
	m["rpiTakerAccess"] = false
	m["rpiMatchedQty"] = "0"
	return m
}

// bybitExecPush is one fill as the execution topic prints it.
func (v *venue) bybitExecPush(f *Fill) map[string]any {
	m := v.bybitExecView(f)
	m["category"] = "spot"
	m["isLeverage"] = "0"
	m["marketUnit"] = ""
	m["execPnl"] = "0"
	m["createType"] = "CreateByUser"
	m["extraFees"] = []any{}
	return m
}

// bybitWalletView is the account as the wallet topic and wallet-balance
// print it (coins: the ones given).
func (v *venue) bybitWalletView(coins []any) map[string]any {
	total := ratStr(v.accountUSD(), 8)
	if coins == nil {
		coins = []any{}
	}
	return map[string]any{
		"accountIMRate": "0", "accountIMRateByMp": "0", "accountMMRate": "0", "accountMMRateByMp": "0",
		"totalEquity": total, "totalWalletBalance": total, "totalMarginBalance": total, "totalAvailableBalance": total,
		"totalPerpUPL": "0", "totalInitialMargin": "0", "totalInitialMarginByMp": "0", "totalMaintenanceMargin": "0",
		"totalMaintenanceMarginByMp": "0", "coin": coins, "accountLTV": "0", "accountType": "UNIFIED",
	}
}
