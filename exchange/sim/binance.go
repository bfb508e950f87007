package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
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
	// Sent as the raw event on every stream connection, combined ones
	// included: it belongs to no stream (the docs show only the raw form).
	return fmt.Appendf(nil, `{"e":"serverShutdown","E":%d}`, now.UnixMilli())
}

// broadcastShutdown sends serverShutdown on every connection — on the
// WebSocket API as {"event":{…}} without subscriptionId, as documented —
// and, with d > 0, closes them all d later.
func (v *venue) broadcastShutdown(now time.Time, d time.Duration) {
	for c := range v.conns {
		if c.role == roleWSAPI {
			c.send(fmt.Appendf(nil, `{"event":{"e":"serverShutdown","E":%d}}`, now.UnixMilli()))
			continue
		}
		c.send(binanceShutdownEvent(now))
	}
	v.closeLater(d)
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

// --- REST: market data (trading is in binance_trade.go) ---

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
			map[string]any{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": binanceOrders10s},
			map[string]any{"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": binanceOrdersDay},
			map[string]any{"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
		},
		"exchangeFilters": []any{}, "symbols": syms,
	})
}
