package binance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"arb/exchange"
	"arb/exchange/num"
)

// Reconciliation and balances over REST: openOrders, myTrades, account.

const (
	tradesPageLimit   = 1000 // myTrades maximum
	maxTradePages     = 100  // per instrument and call: 100000 fills
	maxTradeWindows   = 400  // 24 h windows searched for the first fill (about 13 months)
	maxOwnerLookups   = 64   // order lookups per FillsSince to learn client order ids
	dayMs             = 24 * 60 * 60 * 1000
	openPerSymbolCost = weightOpenSymbol
)

// OpenOrders lists the account's open orders on inst (GET
// /api/v3/openOrders, weight 6 per symbol), or on every configured
// instrument when inst is 0 (one call without symbol, weight 80, when that
// is cheaper than one per symbol). Orders on symbols this client does not
// trade are left out.
func (c *Client) OpenOrders(ctx context.Context, inst exchange.InstrumentID) ([]exchange.OrderState, error) {
	if err := c.ensureTime(ctx); err != nil {
		return nil, err
	}
	var ins []*tradeInst
	if inst != 0 {
		in := c.inst(inst)
		if in == nil {
			return nil, c.refuse("instrument %d is not configured", inst)
		}
		ins = append(ins, in)
	} else if len(c.insts)*openPerSymbolCost <= weightOpenAll {
		for i := range c.insts {
			ins = append(ins, &c.insts[i])
		}
	} else {
		ins = append(ins, nil) // one call for the whole account
	}
	var out []exchange.OrderState
	for _, in := range ins {
		var err error
		if out, err = c.openOrders(ctx, in, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (c *Client) openOrders(ctx context.Context, in *tradeInst, out []exchange.OrderState) ([]exchange.OrderState, error) {
	b := c.getBuf()
	defer c.putBuf(b)
	weight := weightOpenAll
	body, err := c.signedGet(ctx, b, "/api/v3/openOrders", func(p *paramList) {
		if in != nil {
			p.str("symbol", in.Symbol)
			weight = weightOpenSymbol
		}
	}, &weight)
	if err != nil {
		return out, fmt.Errorf("openOrders: %w", err)
	}
	return c.parseOpenOrders(b, body, out)
}

// parseOpenOrders reads an openOrders answer, appending the orders on
// configured symbols to out (and updating the tracker).
func (c *Client) parseOpenOrders(b *reqBuf, body []byte, out []exchange.OrderState) ([]exchange.OrderState, error) {
	s := &b.sc
	s.Reset(body)
	n := 0
	if s.Array() {
		for s.More() {
			if n++; n > maxOrdersPerMsg {
				s.Fail(errTooMany)
				break
			}
			readOrder(s, &b.ro)
			if s.Err() != nil {
				break
			}
			if c.instBySym(b.ro.symbol) == nil {
				continue // another symbol of the account
			}
			b.ro.fills = b.ro.fills[:0]
			var st exchange.OrderState
			if _, _, err := c.convertOrder(&b.ro, &st, nil); err != nil {
				return out, c.replyError("open order", err, body)
			}
			c.track.observe(&st, b.ro.orderID, c.cfg.Now())
			out = append(out, st)
		}
	}
	if !s.End() {
		return out, c.replyError("openOrders", errSyntaxOr(s), body)
	}
	return out, nil
}

// replyError turns an unusable read reply into an error: a value that does
// not fit the scale breaks the invariant (circuit opened), anything else
// is counted as a bad reply and is retryable.
func (c *Client) replyError(what string, err error, raw []byte) error {
	if errors.Is(err, errNotFit) {
		c.breakInvariant(what+": "+err.Error(), raw)
		return &exchange.Error{Kind: exchange.KindRejected, Venue: c.cfg.Name, Msg: "broken invariant: " + what, Err: err}
	}
	c.badReply(what, err, raw)
	return &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Msg: "unreadable " + what, Err: err}
}

// signedGet performs a signed GET of path with the parameters set by
// params (recvWindow and timestamp added), retrying once after a -1021.
// *weight is read after params ran.
func (c *Client) signedGet(ctx context.Context, b *reqBuf, path string, params func(*paramList), weight *int) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		p := &b.params
		p.reset()
		params(p)
		p.int("recvWindow", c.cfg.RecvWindow.Milliseconds())
		p.int("timestamp", c.timestampMs())
		b.body = c.appendSigned(b, p.appendQuery(b.body[:0]))
		costs := readCosts(*weight)
		rep, err := c.send(ctx, b, http.MethodGet, c.url(path), opRead, costs[:]...)
		if err != nil {
			var e *exchange.Error
			if attempt == 0 && errors.As(err, &e) && e.Code == "-1021" && c.resync(ctx) == nil {
				continue
			}
			return nil, err
		}
		return rep.body, nil
	}
}

// FillsSince lists the fills on inst (every configured instrument when 0)
// executed at or after since, in milliseconds (Binance's precision), oldest
// first (GET /api/v3/myTrades, weight 20 per page). It finds the first
// fill with 24-hour startTime/endTime windows from since (Binance allows
// at most 24 h per window) and then pages with fromId, which is not time
// bounded, so every later fill is listed. myTrades does not carry the
// client order id: it comes from the client's memory of its orders, else
// from one order lookup (weight 4) per unknown order, at most 64 per call.
func (c *Client) FillsSince(ctx context.Context, inst exchange.InstrumentID, since int64) ([]exchange.Fill, error) {
	if err := c.ensureTime(ctx); err != nil {
		return nil, err
	}
	var ins []*tradeInst
	if inst != 0 {
		in := c.inst(inst)
		if in == nil {
			return nil, c.refuse("instrument %d is not configured", inst)
		}
		ins = append(ins, in)
	} else {
		for i := range c.insts {
			ins = append(ins, &c.insts[i])
		}
	}
	var out []exchange.Fill
	lookups := 0
	for _, in := range ins {
		var err error
		if out, err = c.fillsSince(ctx, in, since, out, &lookups); err != nil {
			return nil, err
		}
	}
	if len(ins) > 1 {
		sort.SliceStable(out, func(i, j int) bool { return out[i].TS < out[j].TS })
	}
	return out, nil
}

func (c *Client) fillsSince(ctx context.Context, in *tradeInst, since int64, out []exchange.Fill, lookups *int) ([]exchange.Fill, error) {
	startMs := since / 1e6
	if startMs < 0 {
		startMs = 0
	}
	nowMs := c.timestampMs()
	if nowMs-startMs > maxTradeWindows*dayMs {
		return out, c.errorf(exchange.KindRejected, "myTrades: since is more than %d days back", maxTradeWindows)
	}
	var page []exchange.Fill
	var lastID int64
	var err error
	for w := 0; ; w++ {
		if w > maxTradeWindows { // cannot happen: checked above
			return out, c.errorf(exchange.KindRejected, "myTrades: since is more than %d days back", maxTradeWindows)
		}
		end := startMs + dayMs - 1
		last := end >= nowMs
		if last {
			end = nowMs
		}
		if startMs > end {
			return out, nil
		}
		from, to := startMs, end
		page, lastID, err = c.tradesPage(ctx, in, func(p *paramList) {
			p.int("startTime", from)
			p.int("endTime", to)
		}, weightTrades, page[:0], lookups)
		if err != nil {
			return out, err
		}
		out = append(out, page...)
		if len(page) > 0 {
			if last && len(page) < tradesPageLimit {
				return out, nil
			}
			break
		}
		if last {
			return out, nil
		}
		startMs = end + 1
	}
	for p := 0; ; p++ {
		if p == maxTradePages {
			return out, c.errorf(exchange.KindRejected, "myTrades: more than %d fills since %d on %s", maxTradePages*tradesPageLimit, since, in.Symbol)
		}
		from := lastID + 1
		var n int64
		page, n, err = c.tradesPage(ctx, in, func(p *paramList) { p.int("fromId", from) }, weightTrades, page[:0], lookups)
		if err != nil {
			return out, err
		}
		out = append(out, page...)
		if len(page) < tradesPageLimit {
			return out, nil
		}
		lastID = n
	}
}

// orderFills lists one order's fills (myTrades with orderId, weight 5).
func (c *Client) orderFills(ctx context.Context, in *tradeInst, orderID int64, dst []exchange.Fill) ([]exchange.Fill, error) {
	lookups := maxOwnerLookups // the owner is known by the caller
	out, _, err := c.tradesPage(ctx, in, func(p *paramList) { p.int("orderId", orderID) }, weightTradesByID, dst, &lookups)
	return out, err
}

// tradesPage fetches one myTrades page (limit 1000) and converts it,
// returning the last trade id.
func (c *Client) tradesPage(ctx context.Context, in *tradeInst, params func(*paramList), weight int, dst []exchange.Fill, lookups *int) ([]exchange.Fill, int64, error) {
	b := c.getBuf()
	defer c.putBuf(b)
	body, err := c.signedGet(ctx, b, "/api/v3/myTrades", func(p *paramList) {
		p.str("symbol", in.Symbol)
		params(p)
		p.int("limit", tradesPageLimit)
	}, &weight)
	if err != nil {
		return dst, 0, fmt.Errorf("myTrades: %w", err)
	}
	dst, unknown, lastID, err := c.parseTrades(b, body, in, dst)
	if err != nil {
		return dst, 0, err
	}
	for _, i := range unknown {
		f := &dst[i]
		oid, _ := parseUintID(f.VenueOrderID.Bytes())
		if id, ok := c.track.owner(oid); ok {
			f.ClientID = id
			continue
		}
		if *lookups >= maxOwnerLookups {
			continue
		}
		*lookups++
		st, err := c.queryOrderByID(ctx, in, oid)
		if err != nil {
			return dst, 0, fmt.Errorf("myTrades: client order id of order %d: %w", oid, err)
		}
		f.ClientID = st.ClientID
	}
	return dst, lastID, nil
}

// parseTrades reads a myTrades page of in, appending its fills to dst;
// unknown lists the indexes in dst whose client order id is not known.
func (c *Client) parseTrades(b *reqBuf, body []byte, in *tradeInst, dst []exchange.Fill) (_ []exchange.Fill, unknown []int, lastID int64, _ error) {
	s := &b.sc
	s.Reset(body)
	var t rawTrade
	n := 0
	if s.Array() {
		for s.More() {
			if n++; n > maxFillsPerMsg {
				s.Fail(errTooMany)
				break
			}
			readTrade(s, &t)
			if s.Err() != nil {
				break
			}
			var f exchange.Fill
			if err := c.convertTrade(in, &t, &f); err != nil {
				return dst, nil, 0, c.replyError("myTrades entry", err, body)
			}
			if id, ok := c.track.owner(t.orderID); ok {
				f.ClientID = id
			} else {
				unknown = append(unknown, len(dst))
			}
			lastID = t.id
			dst = append(dst, f)
		}
	}
	if !s.End() {
		return dst, nil, 0, c.replyError("myTrades", errSyntaxOr(s), body)
	}
	return dst, unknown, lastID, nil
}

// convertTrade turns a myTrades entry into a Fill (client order id left to
// the caller).
func (c *Client) convertTrade(in *tradeInst, t *rawTrade, f *exchange.Fill) error {
	if !t.hasID || !t.hasOrderID || !t.hasBuyer {
		return errMissing
	}
	if len(t.symbol) > 0 && string(t.symbol) != in.Symbol {
		return errUnknownSymbol
	}
	px, err := fixedNum(t.price, in.Scale.Px)
	if err != nil {
		return err
	}
	qty, err := fixedNum(t.qty, in.Scale.Qty)
	if err != nil {
		return err
	}
	fee, err := amount(t.commission)
	if err != nil {
		return err
	}
	asset, ok := exchange.IDFromBytes(t.asset)
	if !ok {
		return errBadValue
	}
	side := exchange.Sell
	if t.isBuyer {
		side = exchange.Buy
	}
	*f = exchange.Fill{Venue: c.cfg.Venue, Inst: in.ID, Side: side, Maker: t.isMaker, TradeID: numID(t.id),
		VenueOrderID: numID(t.orderID), Px: num.Price(px), Qty: num.Qty(qty), Fee: fee, FeeAsset: asset, TS: msToNs(t.time)}
	return nil
}

// parseUintID reads a decimal id.
func parseUintID(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

// Balances returns every asset the account holds (GET /api/v3/account
// with omitZeroBalances=true, weight 20): Total = free + locked, exactly.
func (c *Client) Balances(ctx context.Context) ([]exchange.Balance, error) {
	if err := c.ensureTime(ctx); err != nil {
		return nil, err
	}
	b := c.getBuf()
	defer c.putBuf(b)
	weight := weightAccount
	body, err := c.signedGet(ctx, b, "/api/v3/account", func(p *paramList) { p.str("omitZeroBalances", "true") }, &weight)
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	return c.parseBalances(b, body)
}

func (c *Client) parseBalances(b *reqBuf, body []byte) ([]exchange.Balance, error) {
	var raw []rawBalance
	b.sc.Reset(body)
	readAccount(&b.sc, &raw)
	if !b.sc.End() {
		return nil, c.replyError("account", errSyntaxOr(&b.sc), body)
	}
	out := make([]exchange.Balance, 0, len(raw))
	for _, r := range raw {
		free, err := amount(r.free)
		if err != nil {
			return nil, c.replyError("account balance", err, body)
		}
		locked, err := amount(r.locked)
		if err != nil {
			return nil, c.replyError("account balance", err, body)
		}
		total, ok := addAmount(free, locked)
		if !ok || len(r.asset) == 0 {
			return nil, c.replyError("account balance", errBadValue, body)
		}
		out = append(out, exchange.Balance{Venue: c.cfg.Venue, Asset: string(r.asset), Total: total, Locked: locked})
	}
	return out, nil
}

// addAmount adds two exact decimals at the finer exponent; false on
// overflow.
func addAmount(a, b num.Amount) (num.Amount, bool) {
	d := a.Dec
	if b.Dec > d {
		d = b.Dec
	}
	x, ok1 := a.In(d)
	y, ok2 := b.In(d)
	if !ok1 || !ok2 {
		return num.Amount{}, false
	}
	s := x + y
	if (x > 0 && y > 0 && s < 0) || (x < 0 && y < 0 && s >= 0) {
		return num.Amount{}, false
	}
	return num.Amount{V: s, Dec: d}, true
}
