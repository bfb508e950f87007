package binance

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"arb/exchange"
	"arb/exchange/internal/gate"
	"arb/exchange/num"
)

// Request weights (rest-api.md; successful placements and cancels cost 0
// since 2026-04-02, failed ones the documented weight, which the gate
// spends up front).
const (
	weightOrder      = 1
	weightCancel     = 1
	weightQuery      = 4
	weightOpenSymbol = 6
	weightOpenAll    = 80
	weightTrades     = 20
	weightTradesByID = 5
	weightAccount    = 20
	weightTime       = 1
)

var (
	orderCosts = [...]gate.Cost{{Budget: bWeight, Units: weightOrder}, {Budget: bOrders10s, Units: 1}, {Budget: bOrdersDay, Units: 1}, {Budget: bRaw, Units: 1}}
	queryCosts = [...]gate.Cost{{Budget: bWeight, Units: weightQuery}, {Budget: bRaw, Units: 1}}
)

func readCosts(weight int) [2]gate.Cost {
	return [2]gate.Cost{{Budget: bWeight, Units: weight}, {Budget: bRaw, Units: 1}}
}

// refuse counts and returns a refusal made before anything was sent.
func (c *Client) refuse(format string, a ...any) *exchange.Error {
	c.stats.Refused.Add(1)
	return c.errorf(exchange.KindRejected, format, a...)
}

func sideName(s exchange.Side) string {
	if s == exchange.Sell {
		return "SELL"
	}
	return "BUY"
}

func tifName(t exchange.TimeInForce) (string, bool) {
	switch t {
	case exchange.IOC:
		return "IOC", true
	case exchange.GTC:
		return "GTC", true
	case exchange.FOK:
		return "FOK", true
	}
	return "", false
}

// PlaceOrder sends one LIMIT order (LIMIT IOC for arbitrage legs) with
// newClientOrderId = req.ClientID and newOrderRespType FULL, over the
// WebSocket API while its connection is up (OrderEntry auto/ws) and REST
// otherwise. The price and quantity are rounded to the symbol's grid,
// never against the request (a buy limit down, a sell limit up, the
// quantity down), and the LOT_SIZE and NOTIONAL minimums are checked first:
// a violation is a KindRejected error and nothing is sent.
//
// A KindUnknownOutcome error (timeout, connection lost after the write,
// 5XX, -1006, -1007, an unreadable answer) means the order may exist; it is
// never resent by the client: resolve it with QueryOrder by the same
// ClientID. A ClientID already sent by this client is not sent blindly
// again (Binance accepts a client order id again once the earlier order is
// filled or expired, which for an IOC is at once): the earlier order is
// looked up first; if it exists the answer is KindDuplicate with its
// state, if it cannot exist any more (unknown to the venue and older than
// the recvWindow plus RequestTimeout, or refused for certain) the order is
// sent, and otherwise the answer is KindUnknownOutcome.
//
// Fills of the FULL answer, and the resulting state, are also delivered to
// the private sink when RunPrivate is running.
func (c *Client) PlaceOrder(ctx context.Context, req exchange.OrderRequest) (exchange.OrderState, error) {
	in := c.inst(req.Inst)
	if in == nil {
		return exchange.OrderState{}, c.refuse("instrument %d is not configured", req.Inst)
	}
	if req.Venue != 0 && req.Venue != c.cfg.Venue {
		return exchange.OrderState{}, c.refuse("order for venue %d sent to venue %d", req.Venue, c.cfg.Venue)
	}
	if !exchange.ValidClientID(req.ClientID) {
		return exchange.OrderState{}, c.refuse("client order id %q: need 1–%d letters and digits", req.ClientID.String(), exchange.ClientIDMax)
	}
	if req.Side != exchange.Buy && req.Side != exchange.Sell {
		return exchange.OrderState{}, c.refuse("invalid side %d", req.Side)
	}
	tif, ok := tifName(req.TIF)
	if !ok {
		return exchange.OrderState{}, c.refuse("invalid time in force %d", req.TIF)
	}
	px, qty, err := roundOrder(&in.Instrument, req.Side, req.Px, req.Qty)
	if err != nil {
		return exchange.OrderState{}, c.refuse("%s: %v", in.Symbol, err)
	}
	if h := c.halted.Load(); h != nil {
		return exchange.OrderState{}, c.refuse("trading halted: %s", h.reason)
	}
	if rec, ok := c.track.sentRec(req.ClientID); ok && !rec.refused {
		return c.resubmit(ctx, in, req, px, qty, tif, rec)
	}
	return c.place(ctx, in, req, px, qty, tif, false)
}

// place admits, tracks and sends one order; after a -1021 (timestamp
// outside the recvWindow: refused before the matching engine, so nothing
// can have executed) it re-measures the server time and sends it once more
// with the same client order id.
//
// replace allows the send although the id is tracked in flight (see
// tracker.send); without it a concurrent PlaceOrder with the same id gets
// KindDuplicate and sends nothing.
func (c *Client) place(ctx context.Context, in *tradeInst, req exchange.OrderRequest, px num.Price, qty num.Qty, tif string, replace bool) (exchange.OrderState, error) {
	if err := c.ensureTime(ctx); err != nil {
		return exchange.OrderState{}, err
	}
	idx := c.instIndex(in)
	for attempt := 0; ; attempt++ {
		if err := c.admit(orderCosts[:]...); err != nil {
			c.stats.Refused.Add(1)
			return exchange.OrderState{}, err
		}
		switch c.track.send(req.ClientID, idx, c.cfg.Now(), replace || attempt > 0) {
		case sendFull:
			return exchange.OrderState{}, c.refuse("%d orders already in flight (MaxTracked)", c.cfg.MaxTracked)
		case sendBusy:
			c.stats.Refused.Add(1)
			return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindDuplicate, Venue: c.cfg.Name,
				Msg: "client order id " + req.ClientID.String() + " is in flight already; not sent again"}
		}
		st, err := c.placeVia(ctx, in, req, px, qty, tif)
		if err == nil {
			return st, nil
		}
		var e *exchange.Error
		if !errors.As(err, &e) {
			return st, err
		}
		switch e.Kind {
		case exchange.KindRejected, exchange.KindAuth, exchange.KindRateLimited, exchange.KindRetryable:
			// The venue holds no order for this request.
			c.track.refused(req.ClientID)
		}
		if e.Code == "-1021" && attempt == 0 {
			if rerr := c.resync(ctx); rerr == nil {
				continue
			}
		}
		return st, err
	}
}

// placeVia sends over the WebSocket API when it is usable, else REST.
func (c *Client) placeVia(ctx context.Context, in *tradeInst, req exchange.OrderRequest, px num.Price, qty num.Qty, tif string) (exchange.OrderState, error) {
	b := c.getBuf()
	defer c.putBuf(b)
	if c.cfg.OrderEntry != OrderEntryREST {
		if conn := c.ws.usable(); conn != nil {
			st, err, sent := c.placeWS(ctx, b, conn, in, req, px, qty, tif)
			if sent {
				return st, err
			}
			// The socket went away before the request left: REST.
		}
	}
	return c.placeREST(ctx, b, in, req, px, qty, tif)
}

// orderParams fills b.params with an order's parameters, in REST order
// (symbol first, timestamp last), the numbers formatted into b's buffers.
func (c *Client) orderParams(b *reqBuf, in *tradeInst, req *exchange.OrderRequest, px num.Price, qty num.Qty, tif string) {
	p := &b.params
	p.reset()
	p.str("symbol", in.Symbol)
	p.str("side", sideName(req.Side))
	p.str("type", "LIMIT")
	p.str("timeInForce", tif)
	p.bytes("quantity", num.AppendTrim(b.qtyBuf[:0], int64(qty), in.Scale.Qty))
	p.bytes("price", num.AppendTrim(b.pxBuf[:0], int64(px), in.Scale.Px))
	// Copied into the buffer: a slice of req would make every caller's
	// request escape to the heap.
	p.bytes("newClientOrderId", append(b.cidBuf[:0], req.ClientID.Bytes()...))
	p.str("newOrderRespType", "FULL")
	p.int("recvWindow", c.cfg.RecvWindow.Milliseconds())
	p.int("timestamp", c.timestampMs())
}

// appendSigned appends "&signature=<sig>" over everything in dst (the
// query string or form body as sent), escaped for a query string.
func (c *Client) appendSigned(b *reqBuf, dst []byte) []byte {
	n := len(dst)
	dst = append(dst, "&signature="...)
	sig := b.sg.appendSig(b.sigBuf[:0], dst[:n])
	return appendQueryEscaped(dst, sig)
}

func (c *Client) placeREST(ctx context.Context, b *reqBuf, in *tradeInst, req exchange.OrderRequest, px num.Price, qty num.Qty, tif string) (exchange.OrderState, error) {
	c.orderParams(b, in, &req, px, qty, tif)
	b.body = c.appendSigned(b, b.params.appendQuery(b.body[:0]))
	b.order = req.ClientID
	c.stats.OrdersREST.Add(1)
	rep, err := c.send(ctx, b, http.MethodPost, c.orderURL, opPlace)
	if err != nil {
		return exchange.OrderState{}, err
	}
	b.sc.Reset(rep.body)
	readOrder(&b.sc, &b.ro)
	if !b.sc.End() {
		return exchange.OrderState{}, c.unreadableOrder(errSyntaxOr(&b.sc), rep.body)
	}
	return c.finishOrder(b, rep.body, true, true)
}

// unreadableOrder is the answer to an order whose 2XX reply cannot be
// read: the venue accepted the request, so the outcome is unknown.
func (c *Client) unreadableOrder(err error, raw []byte) error {
	c.badReply("order reply", err, raw)
	c.stats.UnknownOutcomes.Add(1)
	return &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name, Msg: "unreadable order reply", Err: err}
}

// finishOrder converts the order in b.ro; when deliver is set it hands its
// fills and state to the sink, and when observe is set it updates the
// tracker.
func (c *Client) finishOrder(b *reqBuf, raw []byte, deliver, observe bool) (exchange.OrderState, error) {
	var st exchange.OrderState
	fills, idx, err := c.convertOrder(&b.ro, &st, b.fills[:0])
	b.fills = fills[:0]
	if err != nil {
		if errors.Is(err, errNotFit) {
			c.breakInvariant(fmt.Sprintf("order %s: %v", st.ClientID.String(), err), raw)
		} else {
			c.badReply("order", err, raw)
		}
		c.stats.UnknownOutcomes.Add(1)
		return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name, Msg: "order reply not usable", Err: err}
	}
	if deliver {
		if sink := c.sinkOf(); sink != nil {
			for i := range fills {
				c.deliverFill(sink, idx, &fills[i], b.ro.fills[i].tradeID)
			}
			sink.OnOrder(st)
		}
	}
	if observe {
		c.track.observe(&st, b.ro.orderID, c.cfg.Now())
	}
	return st, nil
}

// deliverFill hands f to sink unless it was delivered before.
func (c *Client) deliverFill(sink exchange.PrivateSink, idx int, f *exchange.Fill, tradeID int64) {
	if !c.track.markFill(idx, tradeID, f.ClientID, f.Qty) {
		c.stats.FillsSuppressed.Add(1)
		return
	}
	c.stats.FillsDelivered.Add(1)
	sink.OnFill(*f)
}

// convertOrder turns a raw order into st (and, for a FULL answer, its
// fills appended to dst), returning the instrument index.
func (c *Client) convertOrder(r *rawOrder, st *exchange.OrderState, dst []exchange.Fill) ([]exchange.Fill, int, error) {
	*st = exchange.OrderState{Venue: c.cfg.Venue}
	cid := r.clientID
	if len(r.origClientID) > 0 { // a cancel answer: clientOrderId is the cancel's own id
		cid = r.origClientID
	}
	if id, ok := exchange.IDFromBytes(cid); ok && len(cid) > 0 {
		st.ClientID = id
	} else {
		return dst, 0, errBadValue
	}
	in := c.instBySym(r.symbol)
	if in == nil {
		return dst, 0, errUnknownSymbol
	}
	idx := c.instIndex(in)
	st.Inst = in.ID
	var ok bool
	if st.Status, ok = parseStatus(r.status); !ok {
		return dst, idx, errBadValue
	}
	if st.Side, ok = parseSide(r.side); !ok {
		return dst, idx, errBadValue
	}
	if st.TIF, ok = parseTIF(r.tif); !ok {
		return dst, idx, errBadValue
	}
	if !r.hasOrderID {
		return dst, idx, errMissing
	}
	st.VenueOrderID = numID(r.orderID)
	px, err := fixedNum(r.price, in.Scale.Px)
	if err != nil {
		return dst, idx, err
	}
	qty, err := fixedNum(r.origQty, in.Scale.Qty)
	if err != nil {
		return dst, idx, err
	}
	filled, err := fixedNum(r.executedQty, in.Scale.Qty)
	if err != nil {
		return dst, idx, err
	}
	st.Px, st.Qty, st.FilledQty = num.Price(px), num.Qty(qty), num.Qty(filled)
	if len(r.cumQuote) > 0 {
		if st.FilledQuote, err = amount(r.cumQuote); err != nil {
			return dst, idx, err
		}
	}
	ts := r.updateTime
	if r.transactTime > ts {
		ts = r.transactTime
	}
	if ts == 0 {
		ts = r.time
	}
	st.TS = msToNs(ts)
	n0 := len(dst)
	for i := range r.fills {
		rf := &r.fills[i]
		if !rf.hasID {
			return dst[:n0], idx, errMissing
		}
		f := exchange.Fill{Venue: c.cfg.Venue, Inst: in.ID, Side: st.Side, TradeID: numID(rf.tradeID),
			ClientID: st.ClientID, VenueOrderID: st.VenueOrderID, TS: st.TS}
		p, err := fixedNum(rf.price, in.Scale.Px)
		if err != nil {
			return dst[:n0], idx, err
		}
		q, err := fixedNum(rf.qty, in.Scale.Qty)
		if err != nil {
			return dst[:n0], idx, err
		}
		f.Px, f.Qty = num.Price(p), num.Qty(q)
		if f.Fee, err = amount(rf.commission); err != nil {
			return dst[:n0], idx, err
		}
		if f.FeeAsset, ok = exchange.IDFromBytes(rf.asset); !ok {
			return dst[:n0], idx, errBadValue
		}
		// A FULL answer's fills are the order's own immediate matches: a
		// taker (an IOC order never rests, so it is never the maker).
		f.Maker = false
		dst = append(dst, f)
	}
	return dst, idx, nil
}

func (c *Client) instIndex(in *tradeInst) int { return int(c.byID[in.ID]) - 1 }

// resubmit handles a PlaceOrder whose client order id this client sent
// before (see PlaceOrder).
func (c *Client) resubmit(ctx context.Context, in *tradeInst, req exchange.OrderRequest, px num.Price, qty num.Qty, tif string, rec sentRec) (exchange.OrderState, error) {
	st, err := c.QueryOrder(ctx, in.ID, req.ClientID)
	switch {
	case err == nil:
		return st, &exchange.Error{Kind: exchange.KindDuplicate, Venue: c.cfg.Name,
			Msg: fmt.Sprintf("client order id %s already used by order %s (%s); not sent again", req.ClientID.String(), st.VenueOrderID.String(), st.Status)}
	case exchange.KindOf(err) != exchange.KindNotFound:
		return exchange.OrderState{}, err
	}
	// Unknown to the venue. The earlier request can no longer execute once
	// its timestamp is older than the recvWindow (checked again before the
	// matching engine) plus the longest a request takes.
	if age := time.Duration(c.cfg.Now() - rec.at); age < c.cfg.RecvWindow+c.cfg.RequestTimeout {
		c.stats.UnknownOutcomes.Add(1)
		return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name,
			Msg: fmt.Sprintf("client order id %s was sent %v ago and is not known yet; query again after %v", req.ClientID.String(), age.Round(time.Millisecond), c.cfg.RecvWindow+c.cfg.RequestTimeout)}
	}
	return c.place(ctx, in, req, px, qty, tif, true)
}

// QueryOrder returns the venue's state of the order with this client
// order id (GET /api/v3/order by origClientOrderId, weight 4), or a
// KindNotFound error (-2013; also -2026: canceled or expired without a
// fill more than 90 days ago).
func (c *Client) QueryOrder(ctx context.Context, inst exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error) {
	in := c.inst(inst)
	if in == nil {
		return exchange.OrderState{}, c.refuse("instrument %d is not configured", inst)
	}
	if clientID.IsZero() {
		return exchange.OrderState{}, c.refuse("empty client order id")
	}
	return c.orderRequest(ctx, http.MethodGet, in, clientID, 0, opRead, queryCosts[:])
}

// queryOrderByID looks an order up by its venue order id.
func (c *Client) queryOrderByID(ctx context.Context, in *tradeInst, orderID int64) (exchange.OrderState, error) {
	return c.orderRequest(ctx, http.MethodGet, in, exchange.ID{}, orderID, opRead, queryCosts[:])
}

// CancelOrder cancels the order with this client order id (DELETE
// /api/v3/order, weight 1). An order that is no longer open answers
// KindNotFound ("Unknown order sent."): an IOC is final at once, so
// cancelling one is only useful for GTC orders.
func (c *Client) CancelOrder(ctx context.Context, inst exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error) {
	in := c.inst(inst)
	if in == nil {
		return exchange.OrderState{}, c.refuse("instrument %d is not configured", inst)
	}
	if clientID.IsZero() {
		return exchange.OrderState{}, c.refuse("empty client order id")
	}
	costs := readCosts(weightCancel)
	return c.orderRequest(ctx, http.MethodDelete, in, clientID, 0, opCancel, costs[:])
}

// orderRequest performs GET or DELETE /api/v3/order for one order (by
// client order id, or by venue order id when clientID is empty), with one
// retry after a -1021, and updates the tracker.
func (c *Client) orderRequest(ctx context.Context, method string, in *tradeInst, clientID exchange.ID, orderID int64, op opKind, costs []gate.Cost) (exchange.OrderState, error) {
	return c.orderRequestOpt(ctx, method, in, clientID, orderID, op, costs, true)
}

func (c *Client) orderRequestOpt(ctx context.Context, method string, in *tradeInst, clientID exchange.ID, orderID int64, op opKind, costs []gate.Cost, observe bool) (exchange.OrderState, error) {
	if err := c.ensureTime(ctx); err != nil {
		return exchange.OrderState{}, err
	}
	b := c.getBuf()
	defer c.putBuf(b)
	for attempt := 0; ; attempt++ {
		p := &b.params
		p.reset()
		p.str("symbol", in.Symbol)
		if clientID.IsZero() {
			p.int("orderId", orderID)
		} else {
			p.bytes("origClientOrderId", clientID.Bytes())
		}
		p.int("recvWindow", c.cfg.RecvWindow.Milliseconds())
		p.int("timestamp", c.timestampMs())
		b.body = c.appendSigned(b, p.appendQuery(b.body[:0]))
		rep, err := c.send(ctx, b, method, c.orderURL, op, costs...)
		if err != nil {
			var e *exchange.Error
			if attempt == 0 && errors.As(err, &e) && e.Code == "-1021" && c.resync(ctx) == nil {
				continue
			}
			return exchange.OrderState{}, err
		}
		b.sc.Reset(rep.body)
		readOrder(&b.sc, &b.ro)
		if !b.sc.End() {
			err := errSyntaxOr(&b.sc)
			c.badReply("order answer", err, rep.body)
			kind := exchange.KindRetryable
			if op == opCancel {
				kind = exchange.KindUnknownOutcome
			}
			return exchange.OrderState{}, &exchange.Error{Kind: kind, Venue: c.cfg.Name, Msg: "unreadable order answer", Err: err}
		}
		b.ro.fills = b.ro.fills[:0] // only a new order's FULL answer carries fills
		return c.finishOrder(b, rep.body, false, observe)
	}
}

// ensureTime measures the server-time offset if it was never measured.
func (c *Client) ensureTime(ctx context.Context) error {
	if c.synced.Load() {
		return nil
	}
	return c.syncTime(ctx)
}

// resync re-measures the offset after a -1021.
func (c *Client) resync(ctx context.Context) error {
	return c.syncTime(ctx)
}

// timestampMs is the request timestamp: local time plus the measured
// lower bound of the server's offset, floored to the millisecond, so it is
// never ahead of the venue's clock.
func (c *Client) timestampMs() int64 {
	t := c.cfg.Now() + c.offset.Load()
	ms := t / 1e6
	if t < 0 && t%1e6 != 0 {
		ms--
	}
	return ms
}

// syncTime measures the server-time offset with three GET /api/v3/time
// round trips. Each gives a lower bound: the venue read serverTime (ms,
// floored) at some instant between send (t0) and receipt (t1), so its
// clock minus ours is at least serverTime − t1; the largest bound is kept.
func (c *Client) syncTime(ctx context.Context) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	best, got := int64(math.MinInt64), 0
	var lastErr error
	for i := 0; i < 3; i++ {
		ms, t1, err := c.serverTime(ctx)
		if err != nil {
			lastErr = err
			break
		}
		if lb := ms*1e6 - t1; lb > best {
			best = lb
		}
		got++
	}
	if got == 0 {
		return fmt.Errorf("binance: server time: %w", lastErr)
	}
	if c.synced.Load() {
		c.stats.TimeResyncs.Add(1)
	}
	c.offset.Store(best)
	c.synced.Store(true)
	return nil
}

// serverTime performs GET /api/v3/time and returns serverTime (ms) and the
// local time the answer arrived.
func (c *Client) serverTime(ctx context.Context) (int64, int64, error) {
	b := c.getBuf()
	defer c.putBuf(b)
	b.body = b.body[:0]
	costs := readCosts(weightTime)
	rep, err := c.send(ctx, b, http.MethodGet, c.url("/api/v3/time"), opRead, costs[:]...)
	t1 := c.cfg.Now()
	if err != nil {
		return 0, 0, err
	}
	ms, err := parseServerTime(&b.sc, rep.body)
	if err != nil {
		c.badReply("server time", err, rep.body)
		return 0, 0, &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Msg: "unreadable server time", Err: err}
	}
	return ms, t1, nil
}
