package sim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Bybit v5 emulation: /v5/public/spot with orderbook.1 (snapshots only,
// re-sent unchanged every 3 s), orderbook.50 and orderbook.200 (snapshot,
// then deltas), JSON ping/pong; REST instruments-info, signed order create
// and order query.
//
// Sequence fields. Every orderbook topic (orderbook.1/50/200.<SYM>) has its
// own update id u, global to the venue (every subscriber sees the same
// numbers, as on the live venue), which goes up by exactly one per push of
// that topic: the level-50 docs' "next u should follow previous u + 1". A
// topic pushes only when its top-N view changed, so the topics' u values
// drift apart. seq is the cross sequence of the book state a push was taken
// from (vbook.seq, shared by all depths, strictly increasing per state):
// "smaller = older" across depths, "not guaranteed to be continuous" on one
// topic. BookAt is keyed by seq.

// bybitDepths are the spot depths the simulator serves besides 1. Depth 1000
// is real but would exceed the simulator's 400 levels; it is refused.
var bybitDepths = [2]int{50, 200}

type bybitViews struct {
	sym         string
	depth       [2]bybitTopicView // orderbook.50, orderbook.200
	ob1         bybitTopicView    // orderbook.1: top 1 as last sent
	ob1Since    uint64            // steps since the last orderbook.1 push
	resendSteps uint64
	tmp         delta
}

// bybitTopicView is what one topic last pushed: its levels (top n of the
// state named by seq) and its update id. A new subscriber's snapshot is
// exactly this, so levels, u and seq always belong to one state, even while
// market data is paused (FaultStale) and the book has moved on.
type bybitTopicView struct {
	topic string
	n     int
	last  book
	u     uint64 // u of the last push (or the starting u before any)
	seq   uint64 // cross sequence of the state last was taken from
}

// take records a push of the state vb.pub: the view becomes its top n, the
// topic's u advances by one (whether or not the push reaches the wire: a
// skipped push is a gap in u).
func (tv *bybitTopicView) take(vb *vbook) {
	tv.last.copyTop(&vb.pub, tv.n)
	tv.u++
	tv.seq = vb.seq
}

// snapshotMsg encodes the view as a snapshot.
func (tv *bybitTopicView) snapshotMsg(vb *vbook, venueSym string, ts int64) []byte {
	return bybitMsg(nil, tv.topic, "snapshot", vb.sym, venueSym, &delta{bids: tv.last.bids.l, asks: tv.last.asks.l}, ts, tv.u, tv.seq)
}

func (v *venue) initBybitViews(vb *vbook) {
	sym := v.symbolName(vb.sym)
	// Each topic starts at its own u (drawn from a source of its own, so the
	// book's randomness is untouched): an adapter that confused topics, or
	// u with seq, would not get away with it.
	rng := rand.New(rand.NewPCG(v.s.cfg.Seed, hashKey("bybit-u", v.cfg.Name, vb.sym.cfg.Symbol)))
	startU := func() uint64 { return 1_000_000 + rng.Uint64N(100_000_000) }
	by := &bybitViews{sym: sym, resendSteps: v.s.stepsFor(v.s.cfg.Bybit.Level1Resend)}
	by.ob1 = bybitTopicView{topic: "orderbook.1." + sym, n: 1, last: newBook(), u: startU(), seq: vb.seq}
	by.ob1.last.copyTop(&vb.pub, 1)
	for i, n := range bybitDepths {
		dv := &by.depth[i]
		*dv = bybitTopicView{topic: fmt.Sprintf("orderbook.%d.%s", n, sym), n: n, last: newBook(), u: startU(), seq: vb.seq}
		dv.last.copyTop(&vb.pub, n)
	}
	vb.by = by
}

func bybitMsg(b []byte, topic, typ string, sym *symbol, venueSym string, d *delta, ts int64, u, seq uint64) []byte {
	b = append(b, `{"topic":"`...)
	b = append(b, topic...)
	b = append(b, `","type":"`...)
	b = append(b, typ...)
	b = append(b, `","ts":`...)
	b = appendI(b, ts)
	b = append(b, `,"data":{"s":"`...)
	b = append(b, venueSym...)
	b = append(b, `","b":`...)
	b = appendBybitLevels(b, d.bids, sym)
	b = append(b, `,"a":`...)
	b = appendBybitLevels(b, d.asks, sym)
	b = append(b, `,"u":`...)
	b = appendU(b, u)
	b = append(b, `,"seq":`...)
	b = appendU(b, seq)
	b = append(b, `},"cts":`...)
	b = appendI(b, ts-1) // the matching engine's time, just before the push
	return append(b, '}')
}

func (v *venue) bybitPublish(vb *vbook, changed bool, now time.Time) {
	if now.Before(vb.staleUntil) {
		// The views keep what they last sent: the first push after the
		// pause covers everything it missed.
		return
	}
	by := vb.by
	var fx stepFaults
	// Stream faults wait for a state that changes the top 50, so that every
	// depth topic pushes it.
	if changed && !sameTop(&by.depth[0].last, &vb.pub, by.depth[0].n) {
		fx = v.takeFaults(vb, now)
	}
	ts := now.UnixMilli()
	for i := range by.depth {
		dv := &by.depth[i]
		diffTop(&by.tmp, &dv.last, &vb.pub, dv.n)
		if by.tmp.empty() {
			continue // the top n did not change: no push, u stays
		}
		dv.take(vb)
		if fx.gap {
			continue // the push exists (u is used up) but never goes out
		}
		if len(v.subs[dv.topic]) == 0 {
			continue
		}
		msg := bybitMsg(nil, dv.topic, "delta", vb.sym, by.sym, wireDelta(vb, &by.tmp, &fx), ts, dv.u, dv.seq)
		if fx.malform != 0 {
			msg = corrupt(msg, fx.malform)
		}
		v.fanout(dv.topic, msg)
	}
	ob := &by.ob1
	if !sameTop(&ob.last, &vb.pub, 1) || fx.crossed {
		ob.take(vb)
		by.ob1Since = 0
		if len(v.subs[ob.topic]) > 0 {
			bids := ob.last.bids.l
			if fx.crossed {
				bids = crossedTop(vb, bids, ob.last.asks.l)
			}
			v.fanout(ob.topic, bybitMsg(nil, ob.topic, "snapshot", vb.sym, by.sym, &delta{bids: bids, asks: ob.last.asks.l}, ts, ob.u, ob.seq))
		}
	} else if by.ob1Since++; by.ob1Since >= by.resendSteps {
		// Level 1 unchanged: re-sent as is, same u (and seq), as the docs say.
		by.ob1Since = 0
		if len(v.subs[ob.topic]) > 0 {
			v.fanout(ob.topic, ob.snapshotMsg(vb, by.sym, ts))
		}
	}
}

// bybitResnapshot sends a snapshot of the current state on both depth
// topics, each with its next u (FaultSnapshot). With restart (FaultRestart,
// a service restart) every topic, orderbook.1 included, starts again at
// u = 1, which its snapshot announces; seq, the state's cross sequence, does
// not restart (the book did not change). It acts even during a FaultStale
// pause: the snapshot is one consistent state, and the views continue from
// it.
func (v *venue) bybitResnapshot(vb *vbook, restart bool, now time.Time) {
	by := vb.by
	ts := now.UnixMilli()
	views := []*bybitTopicView{&by.depth[0], &by.depth[1]}
	if restart {
		views = append(views, &by.ob1)
		by.ob1Since = 0
	}
	for _, tv := range views {
		if restart {
			tv.u = 0 // take makes it 1
		}
		tv.take(vb)
		if len(v.subs[tv.topic]) > 0 {
			v.fanout(tv.topic, tv.snapshotMsg(vb, by.sym, ts))
		}
	}
}

type bybitRequest struct {
	ReqID *string           `json:"req_id"`
	Op    string            `json:"op"`
	Args  []json.RawMessage `json:"args"`
}

// bybitReply builds the public-stream answer to subscribe/ping:
// {"success","ret_msg","conn_id","req_id"(when sent),"op"}.
func bybitReply(success bool, retMsg, connID string, reqID *string, op string) []byte {
	m, _ := json.Marshal(retMsg)
	b := fmt.Appendf(nil, `{"success":%t,"ret_msg":%s,"conn_id":"%s",`, success, m, connID)
	if reqID != nil {
		r, _ := json.Marshal(*reqID)
		b = fmt.Appendf(b, `"req_id":%s,`, r)
	}
	return fmt.Appendf(b, `"op":"%s"}`, op)
}

// bybitControl answers one client message (caller holds Sim.mu).
func (v *venue) bybitControl(c *conn, data []byte) {
	var req bybitRequest
	if err := json.Unmarshal(data, &req); err != nil {
		c.send(bybitReply(false, "error:request not json", c.id, nil, ""))
		return
	}
	switch req.Op {
	case "ping":
		c.touch()
		c.send(bybitReply(true, "pong", c.id, req.ReqID, "ping"))
		return
	case "subscribe", "unsubscribe":
	default:
		c.send(bybitReply(false, "error:unsupported op "+req.Op, c.id, req.ReqID, req.Op))
		return
	}
	if len(req.Args) == 0 || len(req.Args) > 10 { // spot: at most 10 args per request
		c.send(bybitReply(false, "error:args size must be between 1 and 10", c.id, req.ReqID, req.Op))
		return
	}
	topics := make([]string, 0, len(req.Args))
	books := make([]*vbook, 0, len(req.Args))
	depths := make([]int, 0, len(req.Args))
	for _, a := range req.Args {
		var t string
		if json.Unmarshal(a, &t) != nil {
			c.send(bybitReply(false, "error:args must be strings", c.id, req.ReqID, req.Op))
			return
		}
		parts := strings.Split(t, ".")
		var vb *vbook
		depth := 0
		if len(parts) == 3 && parts[0] == "orderbook" {
			vb = v.venueSymbolOf(parts[2])
			depth, _ = strconv.Atoi(parts[1])
		}
		if vb == nil || (depth != 1 && depth != 50 && depth != 200) {
			c.send(bybitReply(false, "error:handler not found,topic:"+t, c.id, req.ReqID, req.Op))
			return
		}
		if _, dup := c.subs[t]; dup && req.Op == "subscribe" {
			c.send(bybitReply(false, "error:already subscribed,topic:"+t, c.id, req.ReqID, req.Op))
			return
		}
		topics, books, depths = append(topics, t), append(books, vb), append(depths, depth)
	}
	c.touch()
	if req.Op == "unsubscribe" {
		for _, t := range topics {
			v.unsubscribe(c, t)
		}
		c.send(bybitReply(true, "", c.id, req.ReqID, req.Op))
		return
	}
	for _, t := range topics {
		if !v.subscribe(c, t) {
			c.send(bybitReply(false, "error:too many topics", c.id, req.ReqID, req.Op))
			return
		}
	}
	c.send(bybitReply(true, "subscribe", c.id, req.ReqID, req.Op))
	ts := v.s.now().UnixMilli()
	for i := range topics {
		vb, by := books[i], books[i].by
		// The snapshot is the topic as last pushed (levels, u and seq of one
		// state), which the topic's next delta continues with u + 1.
		tv := &by.ob1
		switch depths[i] {
		case 50:
			tv = &by.depth[0]
		case 200:
			tv = &by.depth[1]
		}
		c.send(tv.snapshotMsg(vb, by.sym, ts))
	}
}

// --- REST: public (trading is in bybit_trade.go) ---

type bybitResp struct {
	RetCode    int    `json:"retCode"`
	RetMsg     string `json:"retMsg"`
	Result     any    `json:"result"`
	RetExtInfo any    `json:"retExtInfo"`
	Time       int64  `json:"time"`
}

func (v *venue) bybitInstruments(w http.ResponseWriter, r *http.Request, now time.Time) {
	q := r.URL.Query()
	if q.Get("category") != "spot" { // the simulator lists spot only
		bybitWrite(w, now, 10001, "params error: category only support spot", nil)
		return
	}
	only := q.Get("symbol")
	list := []any{}
	for i, vb := range v.books {
		s := vb.sym
		name := v.symbolName(s)
		if only != "" && only != name {
			continue
		}
		step := string(appendDec(nil, s.step, s.scale.Qty, s.stepDec))
		list = append(list, map[string]any{
			"symbolId": i + 1, "symbol": name, "baseCoin": s.base, "quoteCoin": s.quote, "innovation": "0",
			"status": "Trading", "marginTrading": "none", "stTag": "0",
			"lotSizeFilter": map[string]any{
				"basePrecision": step, "quotePrecision": "0.00000001",
				"minOrderQty": string(appendDec(nil, max(s.minQty, s.step), s.scale.Qty, s.stepDec)),
				"maxOrderQty": "9000", "minOrderAmt": string(okxPx(nil, s.minNotnl, s)), "maxOrderAmt": "9000000",
				"maxLimitOrderQty": "9000", "maxMarketOrderQty": "4500", "postOnlyMaxLimitOrderSize": "60000",
			},
			"priceFilter":    map[string]any{"tickSize": s.cfg.Tick},
			"riskParameters": map[string]any{"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"},
			"symbolType":     "",
		})
	}
	bybitWrite(w, now, 0, "OK", map[string]any{"category": "spot", "list": list})
}
