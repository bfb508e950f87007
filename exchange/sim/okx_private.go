package sim

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// OKX private websocket (/ws/v5/private): login (sign = base64
// HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify"), timestamp
// in seconds, valid 30 s), the orders channel (instType SPOT or ANY,
// optional instId; one push per order change, nothing on subscribing) and
// the account channel (the currencies an event changed), and order entry on
// the same connection: op "order" and "cancel-order", the instrument named
// by instIdCode (instId is ignored there since the 2026 change).

// okxSession is a private connection's state.
type okxSession struct {
	loggedIn bool
	orders   []okxOrdersSub // orders channel subscriptions
	account  *okxAccountSub
}

type okxOrdersSub struct{ instType, instID string }

type okxAccountSub struct{ ccy string }

// okxLoginArg is one login arg.
type okxLoginArg struct {
	APIKey     string `json:"apiKey"`
	Passphrase string `json:"passphrase"`
	Timestamp  string `json:"timestamp"`
	Sign       string `json:"sign"`
}

type okxPrivReq struct {
	ID   string            `json:"id"`
	Op   string            `json:"op"`
	Args []json.RawMessage `json:"args"`
}

func okxEvent(id, event, code, msg, connID string) []byte {
	b := []byte(`{`)
	if id != "" {
		b = fmt.Appendf(b, `"id":%q,`, id)
	}
	m, _ := json.Marshal(msg)
	return fmt.Appendf(b, `"event":%q,"code":%q,"msg":%s,"connId":%q}`, event, code, m, connID)
}

// okxIDOK: a request id is 1–32 letters and digits.
func okxIDOK(id string) bool { return id != "" && okxClOrdIDOK(id) }

// okxPrivateRequest answers one message on a private connection (caller
// holds Sim.mu).
func (v *venue) okxPrivateRequest(c *conn, data []byte) {
	if string(data) == "ping" {
		c.touch()
		c.send([]byte("pong"))
		return
	}
	var req okxPrivReq
	if err := json.Unmarshal(data, &req); err != nil || req.Op == "" {
		c.send(okxError(req.ID, "60012", "Invalid request: "+string(data), c.id))
		return
	}
	c.touch()
	now := v.s.now()
	switch req.Op {
	case "login":
		n := v.logRequest(now, "ws", "login")
		v.finishRequest(n, 200, false, 0)
		v.okxLogin(c, &req, now)
	case "subscribe", "unsubscribe":
		n := v.logRequest(now, "ws", req.Op)
		v.finishRequest(n, 200, false, 0)
		v.okxPrivateSubscribe(c, &req)
	case "order", "cancel-order":
		v.okxWSOrder(c, &req, now)
	default:
		c.send(okxError(req.ID, "60012", "Invalid request: "+string(data), c.id))
	}
}

// okxLogin checks a login: 60004 bad timestamp, 60006 more than 30 s off,
// 60024 wrong passphrase, 60007 bad sign, 60009 unknown key, 60031 a
// second login on the connection.
func (v *venue) okxLogin(c *conn, req *okxPrivReq, now time.Time) {
	fail := func(code, msg string) { c.send(okxEvent(req.ID, "error", code, msg, c.id)) }
	if c.ok.loggedIn {
		fail("60031", "The WebSocket endpoint does not allow multiple or repeated logins.")
		return
	}
	var a okxLoginArg
	if len(req.Args) != 1 || json.Unmarshal(req.Args[0], &a) != nil {
		fail("60012", "Invalid request")
		return
	}
	ts, err := strconv.ParseInt(a.Timestamp, 10, 64)
	if err != nil {
		fail("60004", "Invalid timestamp")
		return
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 30*time.Second || d < -30*time.Second {
		fail("60006", "Timestamp request expired")
		return
	}
	if a.APIKey != v.cfg.APIKey {
		fail("60009", "Login failed.")
		return
	}
	if a.Passphrase != v.cfg.Passphrase {
		fail("60024", "Wrong passphrase")
		return
	}
	if a.Sign != okxSign(v.cfg.APISecret, a.Timestamp+"GET"+"/users/self/verify") {
		fail("60007", "Invalid sign")
		return
	}
	c.ok.loggedIn = true
	c.push = func(ev privEvent) { v.okxPush(c, ev) }
	c.send(okxEvent(req.ID, "login", "0", "", c.id))
}

// okxPrivateSubscribe handles subscribe/unsubscribe of orders and account.
func (v *venue) okxPrivateSubscribe(c *conn, req *okxPrivReq) {
	if !c.ok.loggedIn {
		c.send(okxEvent(req.ID, "error", "60011", "Please log in", c.id))
		return
	}
	if len(req.Args) == 0 {
		c.send(okxError(req.ID, "60012", "Invalid request", c.id))
		return
	}
	for _, raw := range req.Args {
		var a struct {
			Channel  string `json:"channel"`
			InstType string `json:"instType"`
			InstID   string `json:"instId"`
			Ccy      string `json:"ccy"`
		}
		if json.Unmarshal(raw, &a) != nil {
			c.send(okxError(req.ID, "60012", "Invalid request", c.id))
			return
		}
		var arg []byte
		switch a.Channel {
		case "orders":
			switch a.InstType {
			case "SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY":
			default:
				c.send(okxError(req.ID, "60012", "Invalid request: instType", c.id))
				return
			}
			if a.InstID != "" && v.venueSymbolOf(a.InstID) == nil {
				c.send(okxError(req.ID, "60018", fmt.Sprintf("Wrong URL or channel:%s,instId:%s doesn't exist. Please use the correct URL, channel and parameters referring to API document.", a.Channel, a.InstID), c.id))
				continue
			}
			sub := okxOrdersSub{instType: a.InstType, instID: a.InstID}
			arg = fmt.Appendf(nil, `{"channel":"orders","instType":%q`, a.InstType)
			if a.InstID != "" {
				arg = fmt.Appendf(arg, `,"instId":%q`, a.InstID)
			}
			arg = append(arg, '}')
			i := -1
			for k, s := range c.ok.orders {
				if s == sub {
					i = k
				}
			}
			if req.Op == "subscribe" && i < 0 {
				c.ok.orders = append(c.ok.orders, sub)
			} else if req.Op == "unsubscribe" && i >= 0 {
				c.ok.orders = append(c.ok.orders[:i], c.ok.orders[i+1:]...)
			}
		case "account":
			arg = []byte(`{"channel":"account"`)
			if a.Ccy != "" {
				arg = fmt.Appendf(arg, `,"ccy":%q`, a.Ccy)
			}
			arg = append(arg, '}')
			if req.Op == "subscribe" {
				c.ok.account = &okxAccountSub{ccy: a.Ccy}
			} else {
				c.ok.account = nil
			}
		default:
			c.send(okxError(req.ID, "60018", fmt.Sprintf("Wrong URL or channel:%s,instId:%s doesn't exist. Please use the correct URL, channel and parameters referring to API document.", a.Channel, a.InstID), c.id))
			continue
		}
		ack := []byte(`{`)
		if req.ID != "" {
			ack = fmt.Appendf(ack, `"id":%q,`, req.ID)
		}
		ack = fmt.Appendf(ack, `"event":%q,"arg":%s,"connId":%q}`, req.Op, arg, c.id)
		c.send(ack)
		if req.Op == "subscribe" {
			// Each new subscription of a private channel is told how many
			// connections of the sub-account carry it (limit 30).
			n := 0
			for o := range v.private {
				if o.ok != nil && (a.Channel == "orders" && len(o.ok.orders) > 0 || a.Channel == "account" && o.ok.account != nil) {
					n++
				}
			}
			c.send(fmt.Appendf(nil, `{"event":"channel-conn-count","channel":%q,"connCount":"%d","connId":%q}`, a.Channel, n, c.id))
		}
	}
}

// okxOpReply is the answer to an op "order" / "cancel-order".
func okxOpReply(id, op, code, msg string, data []okxOrderAck, inTime time.Time, outTime time.Time) []byte {
	if data == nil {
		data = []okxOrderAck{}
	}
	d, _ := json.Marshal(data)
	m, _ := json.Marshal(msg)
	return fmt.Appendf(nil, `{"id":%q,"op":%q,"data":%s,"code":%q,"msg":%s,"inTime":"%d","outTime":"%d"}`,
		id, op, d, code, m, inTime.UnixMicro(), outTime.UnixMicro())
}

// okxWSOrder places or cancels one order sent on the private connection.
// The id (1–32 letters and digits) is required; the instrument is named by
// instIdCode; the per-instrument limit is shared with REST. The simulator
// does not apply expTime.
func (v *venue) okxWSOrder(c *conn, req *okxPrivReq, now time.Time) {
	n := v.logRequest(now, "ws", req.Op)
	reply := func(code, msg string, data []okxOrderAck, limited bool, retry time.Duration) []byte {
		v.finishRequest(n, 200, limited, retry)
		return okxOpReply(req.ID, req.Op, code, msg, data, now, v.s.now())
	}
	if !c.ok.loggedIn {
		c.send(reply("60011", "Please log in", nil, false, 0))
		return
	}
	if !okxIDOK(req.ID) || len(req.Args) != 1 {
		c.send(reply("60013", "Invalid args", nil, false, 0))
		return
	}
	var a okxOrderReq
	var cx struct {
		OrdID   string `json:"ordId"`
		ClOrdID string `json:"clOrdId"`
	}
	if json.Unmarshal(req.Args[0], &a) != nil || json.Unmarshal(req.Args[0], &cx) != nil {
		c.send(reply("60013", "Invalid args", nil, false, 0))
		return
	}
	if len(a.InstIDCode) == 0 || string(a.InstIDCode) == "null" {
		c.send(reply("50014", "Parameter instIdCode can not be empty.", nil, false, 0))
		return
	}
	code, err := strconv.ParseInt(strings.Trim(string(a.InstIDCode), `"`), 10, 64)
	vb := v.byCode[code]
	if err != nil || vb == nil {
		c.send(reply("51001", "Instrument ID, Instrument ID code or Spread ID doesn't exist.", nil, false, 0))
		return
	}
	if refused, _, retry := v.admit(now); refused {
		c.send(reply("60014", "Requests too frequent.", nil, true, retry))
		return
	}
	key := "POST /api/v5/trade/order " + vb.sym.cfg.Symbol
	if req.Op == "cancel-order" {
		key = "POST /api/v5/trade/cancel-order " + vb.sym.cfg.Symbol
	}
	w := v.limits[key]
	if w == nil {
		w = &window{}
		v.limits[key] = w
	}
	if cnt, end := w.hit(now, 2*time.Second); cnt > 60 {
		c.send(reply("50011", "Rate limit reached. Please refer to API documentation and throttle requests accordingly.", nil, true, end.Sub(now)))
		return
	}
	var res okxPlaceResult
	if req.Op == "order" {
		res = v.okxPlace(&a, vb, "ws", now)
	} else {
		res = v.okxCancel(vb.sym.cfg.Symbol, cx.OrdID, cx.ClOrdID, now)
	}
	if res.code != "0" && res.code != "1" {
		c.send(reply(res.code, res.msg, nil, false, 0))
		return
	}
	msg := reply(res.code, res.msg, []okxOrderAck{res.ack}, false, 0)
	switch res.fault.kind {
	case FaultLoseAck:
		v.finishRequest(n, 0, false, 0)
	case FaultDelayAck:
		time.AfterFunc(res.fault.delay, func() {
			v.s.mu.Lock()
			defer v.s.mu.Unlock()
			c.send(msg)
		})
	default:
		c.send(msg)
	}
}

// okxPush sends an account event to a logged-in private connection as its
// subscriptions want it (caller holds Sim.mu).
func (v *venue) okxPush(c *conn, ev privEvent) {
	if ev.exec != nil {
		o := ev.exec.ord
		for _, s := range c.ok.orders {
			if s.instType != "SPOT" && s.instType != "ANY" || s.instID != "" && s.instID != o.vb.sym.cfg.Symbol {
				continue
			}
			b, _ := json.Marshal(v.okxOrderPush(ev.exec))
			c.send(fmt.Appendf(nil, `{"arg":{"channel":"orders","instType":%q,"instId":%q,"uid":%q},"data":[%s]}`,
				s.instType, o.vb.sym.cfg.Symbol, okxUID, b))
			break // one push per connection even with overlapping subscriptions
		}
		return
	}
	if c.ok.account == nil {
		return
	}
	var details []any
	for _, a := range ev.assets {
		if c.ok.account.ccy != "" && c.ok.account.ccy != a {
			continue
		}
		h := v.acct.assets[a]
		u := strconv.FormatInt(v.acct.updated.UnixMilli(), 10)
		usd := v.usdValue(a, h.free+h.locked)
		details = append(details, map[string]any{
			"ccy": a, "cashBal": amount8(h.free+h.locked, true), "availBal": amount8(h.free, true), "frozenBal": amount8(h.locked, true),
			"ordFrozen": amount8(h.locked, true), "eq": amount8(h.free+h.locked, true), "availEq": amount8(h.free, true),
			"eqUsd": ratStr(usd, 8), "disEq": ratStr(usd, 8), "liab": "0", "upl": "0", "uTime": u,
		})
	}
	if len(details) == 0 {
		return
	}
	total := new(big.Rat)
	for _, a := range v.acct.names {
		h := v.acct.assets[a]
		total.Add(total, v.usdValue(a, h.free+h.locked))
	}
	b, _ := json.Marshal(map[string]any{"uTime": strconv.FormatInt(ev.at.UnixMilli(), 10), "totalEq": ratStr(total, 8),
		"isoEq": "0", "adjEq": ratStr(total, 8), "imr": "0", "mmr": "0", "notionalUsd": "0", "mgnRatio": "", "details": details})
	c.send(fmt.Appendf(nil, `{"arg":{"channel":"account","uid":%q},"data":[%s]}`, okxUID, b))
}

// okxUID is the account's user id as the private pushes name it.
const okxUID = "614488474791936"

// okxOrderPush is one order change as the orders channel pushes it (the
// documented field set). fillSz/fillPx/tradeId/fillFee/fillFeeCcy/fillTime/
// execType describe this update's fill (empty, or "0", without one);
// accFillSz/avgPx/fee are the totals; fees are negative when charged. The
// docs do not say which states an IOC order passes through: the simulator
// pushes live on acceptance, one update per fill, and canceled for an
// unfilled remainder (cancelSource 14, IOC, or 13, FOK; 1 for a cancel by
// request).
func (v *venue) okxOrderPush(ev *execEvent) map[string]any {
	o := ev.ord
	sym := o.vb.sym
	m := v.okxOrderView(o)
	for _, k := range []string{"cancelSourceReason", "attachAlgoClOrdId"} {
		delete(m, k)
	}
	fillSz, fillPx, tradeID, fillFee, fillFeeCcy, fillTime, execType, lastPx, fillNotional := "0", "", "", "0", "", "", "", "", ""
	if ev.kind == execTrade {
		f := ev.fill
		fillSz, fillPx, tradeID = string(okxSz(nil, int64(f.Qty), sym)), string(okxPx(nil, int64(f.Px), sym)), f.TradeID
		fillFee, fillFeeCcy, fillTime = okxFee(f.Fee), f.FeeAsset, strconv.FormatInt(f.Time.UnixMilli(), 10)
		execType, lastPx = "T", fillPx
		if f.Maker {
			execType = "M"
		}
		val, _ := quoteUnits(sym, int64(f.Px), int64(f.Qty))
		fillNotional = ratStr(v.usdValue(sym.quote, val), 8)
	}
	cancelSource := ""
	switch ev.kind {
	case execCanceled:
		cancelSource = "1"
	case execExpired:
		cancelSource = "14"
		if o.tif == "FOK" {
			cancelSource = "13"
		}
	}
	avg := o.avgPx(int(sym.scale.Px)+8, true)
	if avg == "" {
		avg = "0"
	}
	m["avgPx"] = avg
	m["fillSz"], m["fillPx"], m["tradeId"], m["fillTime"] = fillSz, fillPx, tradeID, fillTime
	m["fillFee"], m["fillFeeCcy"], m["execType"], m["lastPx"] = fillFee, fillFeeCcy, execType, lastPx
	m["fillNotionalUsd"], m["fillPnl"], m["fillPxVol"], m["fillPxUsd"] = fillNotional, "0", "", ""
	m["fillMarkVol"], m["fillFwdPx"], m["fillMarkPx"], m["fillIdxPx"] = "", "", "", ""
	m["cancelSource"], m["amendResult"], m["amendSource"], m["code"], m["msg"] = cancelSource, "", "", "0", ""
	m["notionalUsd"], m["reqId"], m["lever"], m["attachAlgoClOrdId"] = "", "", "0", ""
	m["uTime"] = strconv.FormatInt(ev.at.UnixMilli(), 10)
	return m
}

// okxInstIDCode returns the instIdCode of an OKX instrument (tests and
// tools; the venue serves it in GET /api/v5/public/instruments).
func (s *Sim) okxInstIDCode(venue, canonical string) int64 {
	_, vb, err := s.book(venue, canonical)
	if err != nil || vb.ok == nil {
		return 0
	}
	return vb.ok.instIdCode
}
