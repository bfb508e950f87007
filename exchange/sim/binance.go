package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"arb/exchange"
)

// Binance spot emulation: raw and combined market streams with live
// SUBSCRIBE, diff depth (1000 ms and 100 ms), bookTicker and partial depth,
// the REST depth snapshot consistent with the diff stream, exchangeInfo,
// time, and signed LIMIT IOC/FOK orders with the FULL/RESULT/ACK responses.

type binanceViews struct {
	sym     string // lower-case stream symbol
	diff    [2]binanceDiffView
	ticker  book // top of book as last sent on bookTicker
	partial []binancePartial
	tmp     delta
}

// binanceDiffView is one diff-depth stream: every `every` steps it sends
// each level touched since its last event with the level's quantity now (0
// if gone), with U = last u + 1. Sending every touched level — not the net
// difference between two states — is what lets a client start from any
// snapshot inside the interval, as the documented procedure does.
type binanceDiffView struct {
	name    string
	every   uint64
	touched [2]map[int64]struct{} // bids, asks: prices changed since the last event
	lastU   uint64
}

// maxTouched caps a diff view's touched set. Past it (a stale pause of many
// minutes) the view drops what it gathered and skips to the current state:
// clients see a gap in U and resync, rather than a silently wrong book.
const maxTouched = 1 << 16

func (dv *binanceDiffView) touch(d *delta, u uint64) {
	if len(dv.touched[0])+len(dv.touched[1])+d.n() > maxTouched {
		dv.reset(u)
		return
	}
	for i, ls := range [2][]lvl{d.bids, d.asks} {
		for _, l := range ls {
			dv.touched[i][l.px] = struct{}{}
		}
	}
}

func (dv *binanceDiffView) reset(u uint64) {
	clear(dv.touched[0])
	clear(dv.touched[1])
	dv.lastU = u
}

// pending returns the touched levels with their current quantities, best
// first.
func (dv *binanceDiffView) pending(dst *delta, b *book) {
	dst.bids, dst.asks = dst.bids[:0], dst.asks[:0]
	for i, sd := range []*side{&b.bids, &b.asks} {
		out := &dst.bids
		if i == 1 {
			out = &dst.asks
		}
		for px := range dv.touched[i] {
			q := int64(0)
			if j, ok := sd.find(px); ok {
				q = sd.l[j].qty
			}
			*out = append(*out, lvl{px, q})
		}
		slices.SortFunc(*out, func(a, c lvl) int {
			if sd.better(a.px, c.px) {
				return -1
			}
			if a.px == c.px {
				return 0
			}
			return 1
		})
	}
}

type binancePartial struct {
	name  string
	n     int
	every uint64
}

// stepsFor converts a venue's push interval into steps (at least one).
func (s *Sim) stepsFor(d time.Duration) uint64 {
	n := uint64((d + s.cfg.StepInterval/2) / s.cfg.StepInterval)
	return max(1, n)
}

func (v *venue) initViews(vb *vbook) {
	switch v.cfg.Kind {
	case KindBinance:
		v.initBinanceViews(vb)
	case KindOKX:
		v.initOKXViews(vb)
	case KindBybit:
		v.initBybitViews(vb)
	}
}

func (v *venue) initBinanceViews(vb *vbook) {
	sym := strings.ToLower(v.symbolName(vb.sym))
	e100, e1000 := v.s.stepsFor(100*time.Millisecond), v.s.stepsFor(time.Second)
	bn := &binanceViews{sym: sym}
	bn.diff[0] = binanceDiffView{name: sym + "@depth@100ms", every: e100, lastU: vb.seq}
	bn.diff[1] = binanceDiffView{name: sym + "@depth", every: e1000, lastU: vb.seq}
	for i := range bn.diff {
		bn.diff[i].touched = [2]map[int64]struct{}{{}, {}}
	}
	bn.ticker = newBook()
	bn.ticker.copyTop(&vb.pub, 1)
	for _, n := range []int{5, 10, 20} {
		bn.partial = append(bn.partial,
			binancePartial{name: fmt.Sprintf("%s@depth%d", sym, n), n: n, every: e1000},
			binancePartial{name: fmt.Sprintf("%s@depth%d@100ms", sym, n), n: n, every: e100})
	}
	vb.bn = bn
}

// publish sends what a book's step produced on the venue's channels.
func (v *venue) publish(vb *vbook, changed bool, now time.Time) {
	switch v.cfg.Kind {
	case KindBinance:
		v.binancePublish(vb, changed, now)
	case KindOKX:
		v.okxPublish(vb, changed, now)
	case KindBybit:
		v.bybitPublish(vb, changed, now)
	}
}

func (v *venue) binancePublish(vb *vbook, changed bool, now time.Time) {
	bn := vb.bn
	if changed {
		for i := range bn.diff {
			bn.diff[i].touch(&vb.chg, vb.seq)
		}
	}
	if now.Before(vb.staleUntil) {
		return // views keep accumulating: the first event after covers the pause
	}
	var fx stepFaults
	if changed {
		fx = v.takeFaults(vb, now)
	}
	E := now.UnixMilli()
	for i := range bn.diff {
		dv := &bn.diff[i]
		if fx.gap { // the state exists but this stream never sends it
			dv.reset(vb.seq)
			continue
		}
		if vb.steps%dv.every != 0 || dv.lastU == vb.seq {
			continue
		}
		dv.pending(&bn.tmp, &vb.pub)
		U := dv.lastU + 1
		dv.reset(vb.seq)
		if bn.tmp.empty() {
			continue
		}
		if len(v.subs[dv.name]) == 0 {
			continue
		}
		msg := binanceDiffMsg(nil, v.symbolName(vb.sym), vb.sym, E, U, vb.seq, wireDelta(vb, &bn.tmp, &fx))
		if fx.malform != 0 {
			msg = corrupt(msg, fx.malform)
		}
		v.binanceFanout(dv.name, msg)
	}
	pb, pa := vb.pub.bids.l, vb.pub.asks.l
	if len(pb) > 0 && len(pa) > 0 && (!sameTop(&bn.ticker, &vb.pub, 1) || fx.crossed) {
		bn.ticker.copyTop(&vb.pub, 1)
		name := bn.sym + "@bookTicker"
		if len(v.subs[name]) > 0 {
			bids := pb[:1]
			if fx.crossed {
				bids = crossedTop(vb, bids, pa)
			}
			b := append([]byte(nil), `{"u":`...)
			b = appendU(b, vb.seq)
			b = append(b, `,"s":"`...)
			b = append(b, v.symbolName(vb.sym)...)
			b = append(b, `","b":"`...)
			b = appendFixed8(b, bids[0].px, vb.sym.scale.Px)
			b = append(b, `","B":"`...)
			b = appendFixed8(b, bids[0].qty, vb.sym.scale.Qty)
			b = append(b, `","a":"`...)
			b = appendFixed8(b, pa[0].px, vb.sym.scale.Px)
			b = append(b, `","A":"`...)
			b = appendFixed8(b, pa[0].qty, vb.sym.scale.Qty)
			b = append(b, `"}`...)
			v.binanceFanout(name, b)
		}
	}
	for _, p := range bn.partial {
		if vb.steps%p.every != 0 || len(v.subs[p.name]) == 0 {
			continue
		}
		bids, asks := vb.pub.bids.top(p.n), vb.pub.asks.top(p.n)
		if fx.crossed {
			bids = crossedTop(vb, bids, asks)
		}
		v.binanceFanout(p.name, binancePartialMsg(nil, vb.sym, vb.seq, bids, asks))
	}
}

func binanceDiffMsg(b []byte, venueSym string, sym *symbol, E int64, U, u uint64, d *delta) []byte {
	b = append(b, `{"e":"depthUpdate","E":`...)
	b = appendI(b, E)
	b = append(b, `,"s":"`...)
	b = append(b, venueSym...)
	b = append(b, `","U":`...)
	b = appendU(b, U)
	b = append(b, `,"u":`...)
	b = appendU(b, u)
	b = append(b, `,"b":`...)
	b = appendBinanceLevels(b, d.bids, sym)
	b = append(b, `,"a":`...)
	b = appendBinanceLevels(b, d.asks, sym)
	return append(b, '}')
}

func binancePartialMsg(b []byte, sym *symbol, seq uint64, bids, asks []lvl) []byte {
	b = append(b, `{"lastUpdateId":`...)
	b = appendU(b, seq)
	b = append(b, `,"bids":`...)
	b = appendBinanceLevels(b, bids, sym)
	b = append(b, `,"asks":`...)
	b = appendBinanceLevels(b, asks, sym)
	return append(b, '}')
}

// binanceFanout sends an event raw to /ws subscribers and wrapped as
// {"stream":…,"data":…} to combined ones (wrapping once).
func (v *venue) binanceFanout(stream string, raw []byte) {
	var wrapped []byte
	for c := range v.subs[stream] {
		if !c.combined {
			c.send(raw)
			continue
		}
		if wrapped == nil {
			wrapped = binanceWrap(stream, raw)
		}
		c.send(wrapped)
	}
}

func binanceWrap(stream string, raw []byte) []byte {
	b := make([]byte, 0, len(raw)+len(stream)+20)
	b = append(b, `{"stream":"`...)
	b = append(b, stream...)
	b = append(b, `","data":`...)
	b = append(b, raw...)
	return append(b, '}')
}

func binanceShutdownEvent(now time.Time) []byte {
	// Sent as the raw event on every connection, combined ones included: it
	// belongs to no stream (the docs show only the raw form).
	return fmt.Appendf(nil, `{"e":"serverShutdown","E":%d}`, now.UnixMilli())
}

func (v *venue) sendUnknownSymbol(base, quote string, now time.Time) int {
	n := 0
	for c := range v.conns {
		if len(c.subs) == 0 {
			continue
		}
		var msg []byte
		switch v.cfg.Kind {
		case KindBinance:
			sym := base + quote
			msg = fmt.Appendf(nil, `{"e":"depthUpdate","E":%d,"s":"%s","U":1,"u":1,"b":[["1.00000000","1.00000000"]],"a":[]}`, now.UnixMilli(), sym)
			if c.combined {
				msg = binanceWrap(strings.ToLower(sym)+"@depth@100ms", msg)
			}
		case KindOKX:
			msg = fmt.Appendf(nil, `{"arg":{"channel":"books","instId":"%s-%s"},"action":"update","data":[{"asks":[],"bids":[["1","1","0","1"]],"ts":"%d","checksum":0,"prevSeqId":1,"seqId":2}]}`, base, quote, now.UnixMilli())
		case KindBybit:
			msg = fmt.Appendf(nil, `{"topic":"orderbook.50.%s%s","type":"delta","ts":%d,"data":{"s":"%s%s","b":[["1.00","1.000"]],"a":[],"u":2,"seq":2},"cts":%d}`, base, quote, now.UnixMilli(), base, quote, now.UnixMilli())
		}
		if c.send(msg) {
			n++
		}
	}
	return n
}

// --- streams and control messages ---

// binanceStreamKinds are the stream types the simulator produces.
var binanceStreamKinds = map[string]bool{
	"depth": true, "depth@100ms": true, "bookTicker": true,
	"depth5": true, "depth10": true, "depth20": true,
	"depth5@100ms": true, "depth10@100ms": true, "depth20@100ms": true,
}

// binanceSilentKinds are real Binance stream types the simulator accepts but
// never sends (it models books, not trades or tickers).
var binanceSilentKinds = map[string]bool{
	"aggTrade": true, "trade": true, "ticker": true, "miniTicker": true, "avgPrice": true,
	"ticker_1h": true, "ticker_4h": true, "ticker_1d": true,
}

// validBinanceStream checks a stream name's syntax. A well-formed name for a
// symbol the venue does not list is accepted and stays silent, as on
// Binance, which does not check symbols on subscription.
func validBinanceStream(s string) bool {
	sym, kind, ok := strings.Cut(s, "@")
	if !ok || sym == "" || len(sym) > 20 {
		return false
	}
	for i := 0; i < len(sym); i++ {
		c := sym[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return binanceStreamKinds[kind] || binanceSilentKinds[kind] || strings.HasPrefix(kind, "kline_")
}

// binanceStreamsFromURL reads the streams named in a /ws/… or
// /stream?streams=… URL.
func binanceStreamsFromURL(r *http.Request) (streams []string, combined bool, err error) {
	p := r.URL.Path
	var list string
	switch {
	case p == "/ws" || p == "/ws/":
	case strings.HasPrefix(p, "/ws/"):
		list = strings.TrimPrefix(p, "/ws/")
	case p == "/stream" || p == "/stream/":
		combined = true
		list = r.URL.Query().Get("streams")
	default:
		return nil, false, errors.New("Invalid request: unknown path")
	}
	if list == "" {
		return nil, combined, nil
	}
	for _, st := range strings.Split(list, "/") {
		if !validBinanceStream(st) {
			return nil, false, fmt.Errorf("Invalid request: invalid stream name %q", st)
		}
		streams = append(streams, st)
	}
	if len(streams) > maxSubs {
		return nil, false, errors.New("Invalid request: too many streams")
	}
	return streams, combined, nil
}

// binanceMsgLimit is Binance's limit of incoming messages per second per
// connection; a connection over it is closed.
const binanceMsgLimit = 5

type binanceRequest struct {
	Method *string           `json:"method"`
	Params []json.RawMessage `json:"params"`
	ID     json.RawMessage   `json:"id"`
}

// binanceControl answers one message from a client (caller holds Sim.mu).
// Errors use Binance's {"error":{"code":…,"msg":…},"id":…} wrapper around
// the documented {code,msg} error messages.
func (v *venue) binanceControl(c *conn, data []byte) {
	now := v.s.now().UnixNano()
	if now-c.winStart >= int64(time.Second) {
		c.winStart, c.winCount = now, 0
	}
	c.winCount++
	if c.winCount > binanceMsgLimit {
		c.kill()
		return
	}
	var req binanceRequest
	if err := json.Unmarshal(data, &req); err != nil {
		c.send(binanceWSError(nil, 3, "Invalid JSON: expected value at line 1 column 1"))
		return
	}
	id := req.ID
	if !validBinanceID(id) {
		c.send(binanceWSError(nil, 2, "Invalid request: request ID must be an unsigned integer"))
		return
	}
	if req.Method == nil {
		c.send(binanceWSError(id, 2, "Invalid request: missing field `method`"))
		return
	}
	switch *req.Method {
	case "SUBSCRIBE", "UNSUBSCRIBE":
		var streams []string
		for _, p := range req.Params {
			var st string
			if json.Unmarshal(p, &st) != nil || !validBinanceStream(st) {
				c.send(binanceWSError(id, 2, "Invalid request: invalid stream name "+string(p)))
				return
			}
			streams = append(streams, st)
		}
		for _, st := range streams {
			if *req.Method == "UNSUBSCRIBE" {
				v.unsubscribe(c, st)
			} else if !v.subscribe(c, st) {
				c.send(binanceWSError(id, 2, "Invalid request: too many streams"))
				return
			}
		}
		c.send(binanceResult(id, "null"))
	case "LIST_SUBSCRIPTIONS":
		list := make([]string, 0, len(c.subs))
		for k := range c.subs {
			list = append(list, k)
		}
		slices.Sort(list)
		b, _ := json.Marshal(list)
		c.send(binanceResult(id, string(b)))
	case "SET_PROPERTY":
		var name string
		var val bool
		if len(req.Params) != 2 || json.Unmarshal(req.Params[0], &name) != nil {
			c.send(binanceWSError(id, 2, "Invalid request: property name must be a string"))
			return
		}
		if name != "combined" {
			c.send(binanceWSError(id, 0, "Unknown property"))
			return
		}
		if json.Unmarshal(req.Params[1], &val) != nil {
			c.send(binanceWSError(id, 1, "Invalid value type: expected Boolean"))
			return
		}
		c.combined = val
		c.send(binanceResult(id, "null"))
	case "GET_PROPERTY":
		var name string
		if len(req.Params) != 1 || json.Unmarshal(req.Params[0], &name) != nil {
			c.send(binanceWSError(id, 2, "Invalid request: property name must be a string"))
			return
		}
		if name != "combined" {
			c.send(binanceWSError(id, 0, "Unknown property"))
			return
		}
		c.send(binanceResult(id, strconv.FormatBool(c.combined)))
	default:
		c.send(binanceWSError(id, 2, fmt.Sprintf("Invalid request: unknown variant %s, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`", strconv.Quote(*req.Method))))
	}
}

// validBinanceID accepts what Binance takes as a request id: an unsigned
// integer, a string of up to 36 characters, or null/absent.
func validBinanceID(id json.RawMessage) bool {
	if len(id) == 0 || string(id) == "null" {
		return true
	}
	if _, err := strconv.ParseUint(string(id), 10, 64); err == nil {
		return true
	}
	var s string
	return json.Unmarshal(id, &s) == nil && len(s) <= 36
}

func binanceResult(id json.RawMessage, result string) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	return fmt.Appendf(nil, `{"result":%s,"id":%s}`, result, id)
}

func binanceWSError(id json.RawMessage, code int, msg string) []byte {
	m, _ := json.Marshal(msg)
	if len(id) == 0 {
		return fmt.Appendf(nil, `{"error":{"code":%d,"msg":%s}}`, code, m)
	}
	return fmt.Appendf(nil, `{"error":{"code":%d,"msg":%s},"id":%s}`, code, m, id)
}

// --- REST ---

const binanceWeightLimit = 6000 // REQUEST_WEIGHT per minute (enums.md sample)

func (v *venue) binanceREST(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v3/time", v.binanceWrap(func(*http.Request) int { return 1 }, v.binanceTime))
	mux.HandleFunc("GET /api/v3/exchangeInfo", v.binanceWrap(func(*http.Request) int { return 20 }, v.binanceExchangeInfo))
	mux.HandleFunc("GET /api/v3/depth", v.binanceWrap(binanceDepthWeight, v.binanceDepth))
	mux.HandleFunc("POST /api/v3/order", v.binanceWrap(func(*http.Request) int { return 1 }, v.binanceOrder))
}

func binanceDepthWeight(r *http.Request) int {
	l, err := strconv.Atoi(r.URL.Query().Get("limit"))
	switch {
	case err != nil || l <= 100:
		return 5
	case l <= 500:
		return 25
	case l <= 1000:
		return 50
	}
	return 250
}

type binanceErr struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func binanceError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, binanceErr{code, msg})
}

// binanceWrap applies the rate-limit fault and weight accounting, and sets
// X-MBX-USED-WEIGHT-1M on every response.
func (v *venue) binanceWrap(weight func(*http.Request) int, h func(http.ResponseWriter, *http.Request, time.Time)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := v.s
		now := s.now()
		s.mu.Lock()
		minute := now.Unix() / 60
		if v.weight.minute != minute {
			v.weight.minute, v.weight.used = minute, 0
		}
		v.weight.used += weight(r)
		used := v.weight.used
		fault := v.rl.left > 0
		status, retry := v.rl.status, v.rl.retryAfter
		if fault {
			v.rl.left--
		}
		s.mu.Unlock()
		w.Header().Set("X-MBX-USED-WEIGHT-1M", strconv.Itoa(used))
		if !fault && used > binanceWeightLimit {
			fault, status, retry = true, 429, time.Duration(60-now.Unix()%60)*time.Second
		}
		if fault {
			w.Header().Set("Retry-After", strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10))
			if status == 418 {
				binanceError(w, 418, -1003, fmt.Sprintf("Way too much request weight used; IP banned until %d. Please use WebSocket Streams for live updates to avoid bans.", now.Add(retry).UnixMilli()))
				return
			}
			binanceError(w, 429, -1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")
			return
		}
		h(w, r, now)
	}
}

func (v *venue) binanceTime(w http.ResponseWriter, _ *http.Request, now time.Time) {
	writeJSON(w, 200, map[string]int64{"serverTime": now.UnixMilli()})
}

func (v *venue) binanceDepth(w http.ResponseWriter, r *http.Request, _ time.Time) {
	q := r.URL.Query()
	name := q.Get("symbol")
	if name == "" {
		binanceError(w, 400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
		return
	}
	limit := 100
	if ls := q.Get("limit"); ls != "" {
		l, err := strconv.Atoi(ls)
		if err != nil || l <= 0 {
			binanceError(w, 400, -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.")
			return
		}
		limit = min(l, 5000) // Binance truncates limits above 5000
	}
	v.s.mu.Lock()
	vb := v.venueSymbolOf(name)
	if vb == nil {
		v.s.mu.Unlock()
		binanceError(w, 400, -1121, "Invalid symbol.")
		return
	}
	// The snapshot is the last published state, so lastUpdateId names
	// exactly the book the diff stream continues from.
	msg := binancePartialMsg(nil, vb.sym, vb.seq, vb.pub.bids.top(limit), vb.pub.asks.top(limit))
	v.s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Write(msg)
}

func (v *venue) binanceExchangeInfo(w http.ResponseWriter, r *http.Request, now time.Time) {
	only := r.URL.Query().Get("symbol")
	f8 := func(x int64, dec uint8) string { return string(appendFixed8(nil, x, dec)) }
	var syms []any
	for _, vb := range v.books {
		s := vb.sym
		name := v.symbolName(s)
		if only != "" && only != name {
			continue
		}
		syms = append(syms, map[string]any{
			"symbol": name, "status": "TRADING", "baseAsset": s.base, "baseAssetPrecision": 8,
			"quoteAsset": s.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
			"baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
			"orderTypes":     []string{"LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"},
			"icebergAllowed": true, "ocoAllowed": true, "otoAllowed": true, "opoAllowed": false,
			"quoteOrderQtyMarketAllowed": true, "allowTrailingStop": false, "cancelReplaceAllowed": false,
			"amendAllowed": false, "pegInstructionsAllowed": false, "isSpotTradingAllowed": true, "isMarginTradingAllowed": false,
			"filters": []any{
				map[string]any{"filterType": "PRICE_FILTER", "minPrice": f8(s.tick, s.scale.Px), "maxPrice": "1000000.00000000", "tickSize": f8(s.tick, s.scale.Px)},
				map[string]any{"filterType": "LOT_SIZE", "minQty": f8(max(s.minQty, s.step), s.scale.Qty), "maxQty": "9000.00000000", "stepSize": f8(s.step, s.scale.Qty)},
				map[string]any{"filterType": "NOTIONAL", "minNotional": f8(s.minNotnl, s.scale.Px), "applyMinToMarket": true,
					"maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5},
			},
			"permissions": []string{}, "permissionSets": [][]string{{"SPOT"}},
			"defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": []string{"NONE"},
		})
	}
	if only != "" && len(syms) == 0 {
		binanceError(w, 400, -1121, "Invalid symbol.")
		return
	}
	writeJSON(w, 200, map[string]any{
		"timezone": "UTC", "serverTime": now.UnixMilli(),
		"rateLimits": []any{
			map[string]any{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": binanceWeightLimit},
			map[string]any{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
			map[string]any{"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
		},
		"exchangeFilters": []any{}, "symbols": syms,
	})
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
// signature.
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

var binanceClientIDOK = func(s string) bool {
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

func (v *venue) binanceOrder(w http.ResponseWriter, r *http.Request, now time.Time) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		binanceError(w, 400, -1000, "An unknown error occurred while processing the request.")
		return
	}
	key := r.Header.Get("X-MBX-APIKEY")
	if key == "" {
		binanceError(w, 401, -2014, "API-key format invalid.")
		return
	}
	if key != v.cfg.APIKey {
		binanceError(w, 401, -2015, "Invalid API-key, IP, or permissions for action.")
		return
	}
	payload, sig := binanceTotalParams(r.URL.RawQuery, string(body))
	if sig == "" {
		binanceError(w, 400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
		return
	}
	want := binanceSign(v.cfg.APISecret, payload)
	if !hmac.Equal([]byte(strings.ToLower(sig)), []byte(want)) { // Binance compares case-insensitively
		binanceError(w, 401, -1022, "Signature for this request is not valid.")
		return
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
		binanceError(w, 400, -1100, "Illegal characters found in a parameter.")
		return
	}
	for k, vs := range params {
		if len(vs) > 1 {
			binanceError(w, 400, -1101, fmt.Sprintf("Duplicate values for parameter '%s'.", k))
			return
		}
	}
	get := params.Get
	for _, p := range []string{"symbol", "side", "type", "timestamp"} {
		if get(p) == "" {
			binanceError(w, 400, -1102, fmt.Sprintf("Mandatory parameter '%s' was not sent, was empty/null, or malformed.", p))
			return
		}
	}
	if code, msg := binanceCheckTime(get("timestamp"), get("recvWindow"), now); code != 0 {
		binanceError(w, 400, code, msg)
		return
	}
	if v.venueSymbolOf(get("symbol")) == nil { // bySym is read-only after New
		binanceError(w, 400, -1121, "Invalid symbol.")
		return
	}
	var side exchange.Side
	switch get("side") {
	case "BUY":
		side = exchange.Buy
	case "SELL":
		side = exchange.Sell
	default:
		binanceError(w, 400, -1100, "Illegal characters found in parameter 'side'; legal range is 'BUY, SELL'.")
		return
	}
	if get("type") != "LIMIT" {
		// The simulator fills limit orders only; other types are real but refused here.
		binanceError(w, 400, -1116, "Invalid orderType.")
		return
	}
	for _, p := range []string{"timeInForce", "quantity", "price"} {
		if get(p) == "" {
			binanceError(w, 400, -1102, fmt.Sprintf("Mandatory parameter '%s' was not sent, was empty/null, or malformed.", p))
			return
		}
	}
	tif := get("timeInForce")
	switch tif {
	case "IOC", "FOK":
	case "GTC":
		binanceError(w, 400, -2010, "Order would rest on the book: the simulator fills IOC and FOK orders only.")
		return
	default:
		binanceError(w, 400, -1115, "Invalid timeInForce.")
		return
	}
	respType := get("newOrderRespType")
	if respType == "" {
		respType = "FULL" // LIMIT orders default to FULL
	}
	if respType != "ACK" && respType != "RESULT" && respType != "FULL" {
		binanceError(w, 400, -1100, "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK, RESULT, FULL'.")
		return
	}
	clientID := get("newClientOrderId")
	if clientID != "" && !binanceClientIDOK(clientID) {
		binanceError(w, 400, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_.]{1,36}$'.")
		return
	}

	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	vb := v.venueSymbolOf(get("symbol"))
	if vb == nil {
		binanceError(w, 400, -1121, "Invalid symbol.")
		return
	}
	px, qty, failed := parseOrderNumbers(vb.sym, get("price"), get("quantity"))
	switch failed {
	case "":
	case "precision_price":
		binanceError(w, 400, -1111, "Parameter 'price' has too much precision.")
		return
	case "precision_qty":
		binanceError(w, 400, -1111, "Parameter 'quantity' has too much precision.")
		return
	case "price":
		binanceError(w, 400, -1013, "Filter failure: PRICE_FILTER")
		return
	case "qty":
		binanceError(w, 400, -1013, "Filter failure: LOT_SIZE")
		return
	default:
		binanceError(w, 400, -1013, "Filter failure: NOTIONAL")
		return
	}
	if clientID == "" {
		clientID = "sim" + strconv.FormatUint(v.orders.nextOrder+1, 36) + "x" + strconv.FormatInt(now.UnixNano()%1e9, 36)
	}
	if _, dup := v.orders.byClient[clientID]; dup {
		binanceError(w, 400, -2010, "Duplicate order sent.")
		return
	}
	var partial float64
	if f, ok := v.takeOrderFault(); ok {
		v.record(f.Kind, vb.sym.cfg.Symbol, vb.seq, now, "client order id "+clientID)
		if f.Kind == FaultRejectOrder {
			binanceError(w, 400, -2010, "Account has insufficient balance for requested action.")
			return
		}
		partial = f.Fraction
	}
	ord := &order{id: v.newOrderID(), clientID: clientID, vb: vb, side: side, px: px, qty: qty, tif: tif, created: now}
	v.orders.add(ord)
	v.execute(ord, now, partial)

	sym := vb.sym
	idNum, _ := strconv.ParseInt(ord.id, 10, 64)
	ack := binanceAck{Symbol: v.symbolName(sym), OrderID: idNum, OrderListID: -1, ClientOrderID: clientID, TransactTime: now.UnixMilli()}
	w.Header().Set("X-MBX-ORDER-COUNT-10S", "1")
	w.Header().Set("X-MBX-ORDER-COUNT-1D", strconv.Itoa(len(v.orders.ring)))
	if respType == "ACK" {
		writeJSON(w, 200, ack)
		return
	}
	status := "FILLED"
	if ord.filled < ord.qty { // an IOC/FOK remainder expires, also with nothing filled
		status = "EXPIRED"
	}
	sideS := "BUY"
	if side == exchange.Sell {
		sideS = "SELL"
	}
	res := binanceResultResp{binanceAck: ack,
		Price:               string(appendFixed8(nil, px, sym.scale.Px)),
		OrigQty:             string(appendFixed8(nil, qty, sym.scale.Qty)),
		ExecutedQty:         string(appendFixed8(nil, ord.filled, sym.scale.Qty)),
		OrigQuoteOrderQty:   "0.00000000",
		CummulativeQuoteQty: fmtBig(ord.quote, int(sym.scale.Px+sym.scale.Qty), 8, false),
		Status:              status, TimeInForce: tif, Type: "LIMIT", Side: sideS,
		WorkingTime: now.UnixMilli(), SelfTradePreventionMode: "NONE"}
	if respType == "RESULT" {
		writeJSON(w, 200, res)
		return
	}
	full := binanceFullResp{binanceResultResp: res, Fills: []binanceFill{}}
	for _, f := range ord.fills {
		tid, _ := strconv.ParseInt(f.TradeID, 10, 64)
		full.Fills = append(full.Fills, binanceFill{
			Price: string(appendFixed8(nil, int64(f.Px), sym.scale.Px)), Qty: string(appendFixed8(nil, int64(f.Qty), sym.scale.Qty)),
			Commission: fmtBig(big.NewInt(f.Fee), feeDec, 8, false), CommissionAsset: f.FeeAsset, TradeID: tid})
	}
	writeJSON(w, 200, full)
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
		if err != nil || rw < 0 {
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
