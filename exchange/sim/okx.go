package sim

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"time"
)

// OKX v5 emulation: /ws/v5/public with books (snapshot, then updates linked
// by prevSeqId, CRC32 checksum, keep-alive updates), books5 and bbo-tbt;
// text ping/pong; REST public instruments, signed place-order and order
// details.

// okxBooksDepth is the depth of the books channel.
const okxBooksDepth = 400

type okxViews struct {
	inst string
	// instIdCode is the instrument's integer code, which WebSocket order
	// operations name it by since the 2026 change (GET
	// /api/v5/public/instruments serves it).
	instIdCode int64
	books      book   // top 400 as last sent
	lastSeq    uint64 // seqId of the last books push
	sinceSend  uint64 // steps since the last books push
	keepSteps  uint64
	bbo        book // top 1 as last sent on bbo-tbt
	books5     book // top 5 as last sent on books5
	tmp        delta
}

func (v *venue) initOKXViews(vb *vbook) {
	ok := &okxViews{inst: v.symbolName(vb.sym), books: newBook(), bbo: newBook(), books5: newBook(),
		lastSeq: vb.seq, keepSteps: v.s.stepsFor(v.s.cfg.OKX.KeepAlive)}
	ok.books.copyTop(&vb.pub, okxBooksDepth)
	ok.bbo.copyTop(&vb.pub, 1)
	ok.books5.copyTop(&vb.pub, 5)
	// A six-digit code derived from the instrument (stable across runs and
	// configurations, like the venue's own), unique on the venue.
	code := 100_000 + int64(hashKey("instIdCode", ok.inst)%900_000)
	for v.byCode[code] != nil {
		code++
	}
	ok.instIdCode = code
	v.byCode[code] = vb
	vb.ok = ok
}

func okxKey(channel, inst string) string { return channel + ":" + inst }

func (v *venue) okxPublish(vb *vbook, changed bool, now time.Time) {
	if now.Before(vb.staleUntil) {
		return
	}
	var fx stepFaults
	if changed {
		fx = v.takeFaults(vb, now)
	}
	ok := vb.ok
	ts := now.UnixMilli()
	key := okxKey("books", ok.inst)
	switch {
	case fx.gap:
		ok.books.copyTop(&vb.pub, okxBooksDepth)
		ok.lastSeq = vb.seq
		ok.sinceSend = 0
	default:
		diffTop(&ok.tmp, &ok.books, &vb.pub, okxBooksDepth)
		if ok.tmp.empty() {
			ok.sinceSend++
			if ok.sinceSend >= ok.keepSteps { // keep-alive: empty update, prevSeqId == seqId
				ok.sinceSend = 0
				if len(v.subs[key]) > 0 {
					cs := v.okxChecksum(vb.sym, ok.books.bids.top(25), ok.books.asks.top(25))
					v.fanout(key, okxBooksMsg(nil, "update", ok.inst, vb.sym, &delta{}, ts, cs, int64(ok.lastSeq), ok.lastSeq))
				}
			}
			break
		}
		prev := ok.lastSeq
		ok.books.copyTop(&vb.pub, okxBooksDepth)
		ok.lastSeq = vb.seq
		ok.sinceSend = 0
		if len(v.subs[key]) == 0 {
			break
		}
		bids, asks := vb.pub.bids.top(25), vb.pub.asks.top(25)
		if fx.crossed && len(asks) > 0 { // the checksum matches the crossed book the client would hold
			bids = append([]lvl{{asks[0].px + vb.sym.tick, vb.sym.step}}, vb.pub.bids.top(24)...)
		}
		cs := v.okxChecksum(vb.sym, bids, asks)
		if fx.checksum {
			cs ^= 0x2a
		}
		msg := okxBooksMsg(nil, "update", ok.inst, vb.sym, wireDelta(vb, &ok.tmp, &fx), ts, cs, int64(prev), vb.seq)
		if fx.malform != 0 {
			msg = corrupt(msg, fx.malform)
		}
		v.fanout(key, msg)
	}
	if !sameTop(&ok.bbo, &vb.pub, 1) || fx.crossed {
		ok.bbo.copyTop(&vb.pub, 1)
		if k := okxKey("bbo-tbt", ok.inst); len(v.subs[k]) > 0 {
			bids := vb.pub.bids.top(1)
			if fx.crossed {
				bids = crossedTop(vb, bids, vb.pub.asks.top(1))
			}
			v.fanout(k, okxTopMsg(nil, "bbo-tbt", ok.inst, vb.sym, bids, vb.pub.asks.top(1), ts, vb.seq))
		}
	}
	if !sameTop(&ok.books5, &vb.pub, 5) || fx.crossed {
		ok.books5.copyTop(&vb.pub, 5)
		if k := okxKey("books5", ok.inst); len(v.subs[k]) > 0 {
			bids := vb.pub.bids.top(5)
			if fx.crossed {
				bids = crossedTop(vb, bids, vb.pub.asks.top(5))
			}
			v.fanout(k, okxTopMsg(nil, "books5", ok.inst, vb.sym, bids, vb.pub.asks.top(5), ts, vb.seq))
		}
	}
}

// okxChecksum is OKX's documented checksum over the strings the simulator
// sends, or 0 with ChecksumZero (production OKX since June 2026).
func (v *venue) okxChecksum(sym *symbol, bids, asks []lvl) int64 {
	if v.cfg.ChecksumZero {
		return 0
	}
	return int64(okxChecksumOf(okxCheckString(sym, bids, asks)))
}

// okxCheckString interleaves the top 25 bids and asks as
// "bidPx:bidSz:askPx:askSz:…", continuing with one side when the other ends.
func okxCheckString(sym *symbol, bids, asks []lvl) []byte {
	var b []byte
	for i := 0; i < 25 && (i < len(bids) || i < len(asks)); i++ {
		if i < len(bids) {
			if len(b) > 0 {
				b = append(b, ':')
			}
			b = okxPx(b, bids[i].px, sym)
			b = append(b, ':')
			b = okxSz(b, bids[i].qty, sym)
		}
		if i < len(asks) {
			if len(b) > 0 {
				b = append(b, ':')
			}
			b = okxPx(b, asks[i].px, sym)
			b = append(b, ':')
			b = okxSz(b, asks[i].qty, sym)
		}
	}
	return b
}

// okxChecksumOf is CRC32 (IEEE) read as a signed 32-bit integer.
func okxChecksumOf(s []byte) int32 { return int32(crc32.ChecksumIEEE(s)) }

func appendOKXArg(b []byte, channel, inst string) []byte {
	b = append(b, `{"channel":"`...)
	b = append(b, channel...)
	b = append(b, `","instId":"`...)
	b = append(b, inst...)
	return append(b, `"}`...)
}

func okxBooksMsg(b []byte, action, inst string, sym *symbol, d *delta, ts int64, checksum int64, prevSeq int64, seq uint64) []byte {
	b = append(b, `{"arg":`...)
	b = appendOKXArg(b, "books", inst)
	b = append(b, `,"action":"`...)
	b = append(b, action...)
	b = append(b, `","data":[{"asks":`...)
	b = appendOKXLevels(b, d.asks, sym)
	b = append(b, `,"bids":`...)
	b = appendOKXLevels(b, d.bids, sym)
	b = append(b, `,"ts":"`...)
	b = appendI(b, ts)
	b = append(b, `","checksum":`...)
	b = appendI(b, checksum)
	b = append(b, `,"prevSeqId":`...)
	b = appendI(b, prevSeq)
	b = append(b, `,"seqId":`...)
	b = appendU(b, seq)
	return append(b, `}]}`...)
}

// okxTopMsg is a bbo-tbt or books5 push (full snapshots, no action,
// prevSeqId or checksum; books5 also names its instId in the data).
func okxTopMsg(b []byte, channel, inst string, sym *symbol, bids, asks []lvl, ts int64, seq uint64) []byte {
	b = append(b, `{"arg":`...)
	b = appendOKXArg(b, channel, inst)
	b = append(b, `,"data":[{"asks":`...)
	b = appendOKXLevels(b, asks, sym)
	b = append(b, `,"bids":`...)
	b = appendOKXLevels(b, bids, sym)
	if channel == "books5" {
		b = append(b, `,"instId":"`...)
		b = append(b, inst...)
		b = append(b, '"')
	}
	b = append(b, `,"ts":"`...)
	b = appendI(b, ts)
	b = append(b, `","seqId":`...)
	b = appendU(b, seq)
	return append(b, `}]}`...)
}

func okxNotice(connID string) []byte {
	return fmt.Appendf(nil, `{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"%s"}`, connID)
}

type okxArg struct {
	Channel string `json:"channel"`
	InstID  string `json:"instId"`
}

type okxRequest struct {
	ID   string   `json:"id,omitempty"`
	Op   string   `json:"op"`
	Args []okxArg `json:"args"`
}

func okxError(id, code, msg, connID string) []byte {
	m, _ := json.Marshal(msg)
	if id != "" {
		return fmt.Appendf(nil, `{"id":%q,"event":"error","code":"%s","msg":%s,"connId":"%s"}`, id, code, m, connID)
	}
	return fmt.Appendf(nil, `{"event":"error","code":"%s","msg":%s,"connId":"%s"}`, code, m, connID)
}

// okxControl answers one client message (caller holds Sim.mu).
func (v *venue) okxControl(c *conn, data []byte) {
	if string(data) == "ping" {
		c.touch()
		c.send([]byte("pong"))
		return
	}
	var req okxRequest
	if err := json.Unmarshal(data, &req); err != nil || (req.Op != "subscribe" && req.Op != "unsubscribe") || len(req.Args) == 0 {
		c.send(okxError(req.ID, "60012", "Invalid request: "+string(data), c.id))
		return
	}
	c.touch()
	now := v.s.now()
	for _, a := range req.Args {
		vb := v.venueSymbolOf(a.InstID)
		if vb == nil || (a.Channel != "books" && a.Channel != "books5" && a.Channel != "bbo-tbt") {
			c.send(okxError(req.ID, "60018", fmt.Sprintf("Wrong URL or channel:%s,instId:%s doesn't exist. Please use the correct URL, channel and parameters referring to API document.", a.Channel, a.InstID), c.id))
			continue
		}
		key := okxKey(a.Channel, a.InstID)
		ack := []byte(`{`)
		if req.ID != "" {
			ack = fmt.Appendf(ack, `"id":%q,`, req.ID)
		}
		ack = append(ack, `"event":"`...)
		ack = append(ack, req.Op...)
		ack = append(ack, `","arg":`...)
		ack = appendOKXArg(ack, a.Channel, a.InstID)
		ack = append(ack, `,"connId":"`...)
		ack = append(ack, c.id...)
		ack = append(ack, `"}`...)
		if req.Op == "unsubscribe" {
			v.unsubscribe(c, key)
			c.send(ack)
			continue
		}
		if _, already := c.subs[key]; already {
			c.send(ack)
			continue
		}
		if !v.subscribe(c, key) {
			c.send(okxError(req.ID, "60012", "Invalid request: too many subscriptions", c.id))
			continue
		}
		c.send(ack)
		// A new subscriber gets the channel's last sent state, which the
		// next update links to.
		ok := vb.ok
		ts := now.UnixMilli()
		switch a.Channel {
		case "books":
			cs := v.okxChecksum(vb.sym, ok.books.bids.top(25), ok.books.asks.top(25))
			c.send(okxBooksMsg(nil, "snapshot", ok.inst, vb.sym, &delta{bids: ok.books.bids.l, asks: ok.books.asks.l}, ts, cs, -1, ok.lastSeq))
		case "books5":
			c.send(okxTopMsg(nil, "books5", ok.inst, vb.sym, ok.books5.bids.l, ok.books5.asks.l, ts, vb.seq))
		case "bbo-tbt":
			c.send(okxTopMsg(nil, "bbo-tbt", ok.inst, vb.sym, ok.bbo.bids.l, ok.bbo.asks.l, ts, vb.seq))
		}
	}
}

// --- REST: public (trading is in okx_trade.go) ---

type okxResp struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
	Data []any  `json:"data"`
}

func (v *venue) okxInstruments(w http.ResponseWriter, r *http.Request, now time.Time) {
	q := r.URL.Query()
	it := q.Get("instType")
	if it == "" {
		writeJSON(w, 400, okxResp{Code: "50014", Msg: "Parameter instType can not be empty.", Data: []any{}})
		return
	}
	data := []any{}
	if it == "SPOT" { // the simulator lists spot instruments only
		only := q.Get("instId")
		for _, vb := range v.books {
			s := vb.sym
			if only != "" && only != s.cfg.Symbol {
				continue
			}
			list := strconv.FormatInt(now.Add(-365*24*time.Hour).UnixMilli(), 10)
			data = append(data, map[string]any{
				"auctionEndTime": "", "baseCcy": s.base, "ctMult": "", "ctType": "", "ctVal": "", "ctValCcy": "",
				"contTdSwTime": "", "expTime": "", "futureSettlement": false, "instFamily": "", "instId": s.cfg.Symbol,
				"instType": "SPOT", "lever": "", "listTime": list, "instIdCode": vb.ok.instIdCode,
				"lotSz": string(okxSz(nil, s.step, s)), "minSz": string(okxSz(nil, max(s.minQty, s.step), s)),
				"tickSz":       string(okxPx(nil, s.tick, s)),
				"maxIcebergSz": "9999999999.0000000000000000", "maxLmtAmt": "20000000", "maxLmtSz": "9999999999",
				"maxMktAmt": "1000000", "maxMktSz": "1000000", "maxStopSz": "1000000",
				"maxTriggerSz": "9999999999.0000000000000000", "maxTwapSz": "9999999999.0000000000000000",
				"optType": "", "openType": "", "quoteCcy": s.quote, "tradeQuoteCcyList": []string{s.quote},
				"settleCcy": "", "state": "live", "ruleType": "normal", "stk": "", "uly": "",
			})
		}
		if only != "" && len(data) == 0 {
			writeJSON(w, 200, okxResp{Code: "51001", Msg: "Instrument ID or Spread ID doesn't exist.", Data: []any{}})
			return
		}
	}
	writeJSON(w, 200, okxResp{Code: "0", Msg: "", Data: data})
}
