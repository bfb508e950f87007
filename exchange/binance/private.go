package binance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/internal/wsx"
	"arb/exchange/num"
)

// The private stream: the WebSocket API user data stream (the listenKey
// stream was retired for spot on 2026-02-20). See doc.go, "Private
// stream".

// streamMargin is how far before the last point the stream is known to
// have delivered everything a reconciliation starts: execution times (T)
// precede event times (E), and events of different symbols need not
// arrive in time order.
const streamMargin = 5 * time.Second

// Ids of the subscription requests (the stream connection carries no
// others but the keep-alive's "ka").
const (
	idLogon     = "1"
	idSubscribe = "2"
)

var (
	errNoSink  = errors.New("binance: RunPrivate: nil sink")
	errRunning = errors.New("binance: RunPrivate is already running")
)

// RunPrivate keeps the private stream running until ctx ends: connect to
// WSAPIURL, subscribe (HMAC keys: userDataStream.subscribe.signature;
// Ed25519 keys: session.logon then userDataStream.subscribe), reconcile
// over REST (open orders, fills since the stream was last known complete,
// and the state of every order in flight), then report OnStream(true) and
// deliver executionReports as OrderState and Fill events. On a drop it
// reports OnStream(false) and reconnects with backoff (at once after
// serverShutdown). Meanwhile, and whenever an order in flight has had no
// news for a while, the orders this client placed are polled by client
// order id, so the same events still arrive. Fills reach the sink once
// (by trade id, within the tracker's window) whichever path reports them.
// It returns ctx's error, or an error if sink is nil or RunPrivate is
// already running.
func (c *Client) RunPrivate(ctx context.Context, sink exchange.PrivateSink) error {
	if sink == nil {
		return errNoSink
	}
	if !c.privRunning.CompareAndSwap(false, true) {
		return errRunning
	}
	defer c.privRunning.Store(false)
	c.setSink(sink)
	defer c.setSink(nil)
	var up atomic.Bool
	var wg sync.WaitGroup
	pctx, cancel := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.pollLoop(pctx, sink, &up)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()
	bo := wsx.Backoff{Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax, Rand: c.rngPriv}
	since := c.cfg.ReconcileFrom
	for ctx.Err() == nil {
		started := time.Now()
		res := c.streamOnce(ctx, sink, &up, since)
		if res.reconciled {
			since = res.completeUntil
		}
		if ctx.Err() != nil {
			break
		}
		if res.subscribed && time.Since(started) >= c.cfg.BackoffMax {
			bo.Reset()
		}
		if res.immediate {
			bo.Reset()
			continue
		}
		if wsx.Sleep(ctx, max(bo.Next(), res.wait)) != nil {
			break
		}
	}
	return ctx.Err()
}

// streamResult is how one connection of the private stream ended.
type streamResult struct {
	subscribed bool
	reconciled bool
	// completeUntil is the venue time (Unix ns) up to which every event
	// was delivered, less streamMargin: the next reconciliation starts
	// there.
	completeUntil int64
	immediate     bool          // serverShutdown or eventStreamTerminated: reconnect at once
	wait          time.Duration // a rate limit's Retry-After: no new connection before
}

// streamState orders the OnStream reports of one connection: the
// reconciliation reports up, the reader reports down, and down wins.
type streamState struct {
	mu      sync.Mutex
	up      bool
	dropped bool
}

func (c *Client) streamOnce(ctx context.Context, sink exchange.PrivateSink, up *atomic.Bool, since int64) (res streamResult) {
	conn, err := c.dialAPI(ctx, c.cfg.WSAPIURL, false)
	if err != nil {
		c.log.warn(c.cfg.Now(), "binance: private stream: dial failed", slog.String("venue", c.cfg.Name), slog.String("error", err.Error()))
		res.wait = retryWait(err)
		return res
	}
	defer conn.close()
	var sc jsonscan.Scanner
	if err := c.subscribe(ctx, conn, &sc); err != nil {
		lvl := slog.LevelWarn
		if exchange.KindOf(err) == exchange.KindAuth {
			lvl = slog.LevelError
		}
		c.cfg.Logger.Log(ctx, lvl, "binance: private stream: subscription failed", slog.String("venue", c.cfg.Name), slog.String("error", err.Error()))
		res.wait = retryWait(err)
		return res
	}
	res.subscribed = true
	subscribedAt := c.venueNow()
	c.stats.StreamConnects.Add(1)

	var st streamState
	var reconciled atomic.Bool
	rctx, rcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		bo := wsx.Backoff{Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax, Rand: c.rngRecon}
		for rctx.Err() == nil {
			err := c.reconcile(rctx, sink, since)
			if err == nil {
				reconciled.Store(true)
				st.mu.Lock()
				if !st.dropped {
					st.up = true
					up.Store(true)
					sink.OnStream(true)
				}
				st.mu.Unlock()
				return
			}
			if rctx.Err() != nil {
				return
			}
			c.log.warn(c.cfg.Now(), "binance: reconciliation failed; retrying", slog.String("venue", c.cfg.Name), slog.String("error", err.Error()))
			if wsx.Sleep(rctx, bo.Next()) != nil {
				return
			}
		}
	}()

	var ev userEvent
	var lastE int64
read:
	for {
		frame, _, err := conn.ws.ReadFrame()
		if err != nil {
			break
		}
		if perr := parseUserEvent(&sc, frame, &ev); perr != nil {
			c.badReply("private stream frame", perr, frame)
			continue
		}
		if ev.E > lastE {
			lastE = ev.E
		}
		switch ev.kind {
		case evExecution:
			c.stats.Events.Add(1)
			c.handleExec(sink, &ev)
		case evTerminated:
			c.stats.Events.Add(1)
			c.log.warn(c.cfg.Now(), "binance: private stream: eventStreamTerminated; resubscribing", slog.String("venue", c.cfg.Name))
			res.immediate = true
			break read
		case evShutdown:
			c.stats.Events.Add(1)
			res.immediate = true
			break read
		case evResponse:
			var r wsResponse
			if err := parseWSResponse(&sc, frame, &r); err != nil {
				c.badReply("private stream answer", err, frame)
				continue
			}
			if r.status != 200 {
				// A revoked session ({"id":null,"status":401,…}) or an
				// error to our keep-alive: the subscription cannot be
				// trusted any more.
				c.cfg.Logger.Error("binance: private stream: error answer; reconnecting", slog.String("venue", c.cfg.Name),
					slog.Int64("status", r.status), slog.String("excerpt", excerpt(frame)))
				break read
			}
		default:
			c.stats.Events.Add(1) // account and balance updates: balances are fetched with Balances
		}
	}
	rcancel()
	wg.Wait()
	st.mu.Lock()
	st.dropped = true
	if st.up {
		up.Store(false)
		sink.OnStream(false)
	}
	st.mu.Unlock()
	c.stats.StreamDrops.Add(1)
	if reconciled.Load() {
		res.reconciled = true
		until := subscribedAt
		if e := msToNs(lastE); e > until {
			until = e
		}
		res.completeUntil = until - int64(streamMargin)
	}
	return res
}

// venueNow is the venue's clock by the measured offset (a lower bound).
func (c *Client) venueNow() int64 { return c.cfg.Now() + c.offset.Load() }

// subscribe authenticates and subscribes a stream connection, reading its
// answers (any event before them is not ours yet and is dropped).
func (c *Client) subscribe(ctx context.Context, conn *wsConn, sc *jsonscan.Scanner) error {
	if err := c.ensureTime(ctx); err != nil {
		return err
	}
	// A connection that never answers is closed after RequestTimeout,
	// which ends the blocked read below.
	t := time.AfterFunc(c.cfg.RequestTimeout, func() { conn.ws.CloseWith(wsx.ClosedIdle) })
	defer t.Stop()
	b := c.getBuf()
	defer c.putBuf(b)
	if c.cfg.Credentials.Type() == KeyEd25519 {
		b.params.reset()
		b.params.int("recvWindow", c.cfg.RecvWindow.Milliseconds())
		b.params.int("timestamp", c.timestampMs())
		if err := c.streamCall(ctx, conn, sc, b, 1, "session.logon"); err != nil {
			return fmt.Errorf("session.logon: %w", err)
		}
		b.params.reset()
		b.body = b.params.appendWSRequest(b.body[:0], 2, "userDataStream.subscribe", nil)
		if err := c.streamAwait(ctx, conn, sc, b, idSubscribe); err != nil {
			return fmt.Errorf("userDataStream.subscribe: %w", err)
		}
		return nil
	}
	b.params.reset()
	b.params.int("recvWindow", c.cfg.RecvWindow.Milliseconds())
	b.params.int("timestamp", c.timestampMs())
	if err := c.streamCall(ctx, conn, sc, b, 2, "userDataStream.subscribe.signature"); err != nil {
		return fmt.Errorf("userDataStream.subscribe.signature: %w", err)
	}
	return nil
}

// streamCall signs b.params as method with id and waits for the answer.
func (c *Client) streamCall(ctx context.Context, conn *wsConn, sc *jsonscan.Scanner, b *reqBuf, id uint64, method string) error {
	b.body = c.appendWSSigned(b, false, id, method)
	want := idLogon
	if id == 2 {
		want = idSubscribe
	}
	return c.streamAwait(ctx, conn, sc, b, want)
}

// streamAwait writes b.body and reads frames until the answer with id
// want; a -1021 answer re-measures the server time before returning.
func (c *Client) streamAwait(ctx context.Context, conn *wsConn, sc *jsonscan.Scanner, b *reqBuf, want string) error {
	if err := c.admit(subscribeCosts[:]...); err != nil {
		return err
	}
	if err := conn.ws.WriteText(b.body); err != nil {
		return err
	}
	for {
		frame, _, err := conn.ws.ReadFrame()
		if err != nil {
			return err
		}
		if err := parseWSResponse(sc, frame, &b.wr); err != nil || string(b.wr.id) != want {
			continue // an event or the keep-alive's answer
		}
		c.observeWSLimits(c.now(), &b.wr)
		if b.wr.status == 200 {
			return nil
		}
		e := c.wsError(c.now(), b, opRead)
		if e.Code == "-1021" {
			_ = c.resync(ctx)
		}
		return e
	}
}

// handleExec delivers one executionReport: its fill (x=TRADE) and the
// order's state.
func (c *Client) handleExec(sink exchange.PrivateSink, ev *userEvent) {
	x := &ev.exec
	in := c.instBySym(x.symbol)
	if in == nil {
		return // an order of the account on a symbol this client does not trade
	}
	idx := c.instIndex(in)
	var st exchange.OrderState
	var f exchange.Fill
	isFill, err := c.convertExec(in, ev, &st, &f)
	if err != nil {
		if errors.Is(err, errNotFit) {
			c.breakInvariant("executionReport: "+err.Error(), nil)
			return
		}
		c.badReply("executionReport", err, nil)
		return
	}
	if isFill {
		c.deliverFill(sink, idx, &f, x.tradeID)
	}
	sink.OnOrder(st)
	c.track.observe(&st, x.orderID, c.cfg.Now())
}

// convertExec turns an executionReport into an order state and, for
// x=TRADE, a fill.
func (c *Client) convertExec(in *tradeInst, ev *userEvent, st *exchange.OrderState, f *exchange.Fill) (bool, error) {
	x := &ev.exec
	*st = exchange.OrderState{Venue: c.cfg.Venue, Inst: in.ID}
	cid := x.clientID
	if len(x.origClientID) > 0 { // a cancel: c is the cancel request's id, C the order's
		cid = x.origClientID
	}
	var ok bool
	if st.ClientID, ok = exchange.IDFromBytes(cid); !ok || st.ClientID.IsZero() {
		return false, errBadValue
	}
	if !x.hasOrderID {
		return false, errMissing
	}
	st.VenueOrderID = numID(x.orderID)
	if st.Status, ok = parseStatus(x.status); !ok {
		return false, errBadValue
	}
	if st.Side, ok = parseSide(x.side); !ok {
		return false, errBadValue
	}
	if st.TIF, ok = parseTIF(x.tif); !ok {
		return false, errBadValue
	}
	px, err := fixedNum(x.price, in.Scale.Px)
	if err != nil {
		return false, err
	}
	qty, err := fixedNum(x.qty, in.Scale.Qty)
	if err != nil {
		return false, err
	}
	cum, err := fixedNum(x.cumQty, in.Scale.Qty)
	if err != nil {
		return false, err
	}
	st.Px, st.Qty, st.FilledQty = num.Price(px), num.Qty(qty), num.Qty(cum)
	if len(x.cumQuote) > 0 {
		if st.FilledQuote, err = amount(x.cumQuote); err != nil {
			return false, err
		}
	}
	ts := x.txTime
	if ts == 0 {
		ts = ev.E
	}
	st.TS = msToNs(ts)
	if string(x.execType) != "TRADE" {
		return false, nil
	}
	if x.tradeID < 0 {
		return false, errMissing
	}
	lp, err := fixedNum(x.lastPrice, in.Scale.Px)
	if err != nil {
		return false, err
	}
	lq, err := fixedNum(x.lastQty, in.Scale.Qty)
	if err != nil {
		return false, err
	}
	fee, err := amount(x.commission)
	if err != nil {
		return false, err
	}
	asset, ok := exchange.IDFromBytes(x.commAsset)
	if !ok {
		return false, errBadValue
	}
	*f = exchange.Fill{Venue: c.cfg.Venue, Inst: in.ID, Side: st.Side, Maker: x.maker, TradeID: numID(x.tradeID),
		ClientID: st.ClientID, VenueOrderID: st.VenueOrderID, Px: num.Price(lp), Qty: num.Qty(lq), Fee: fee, FeeAsset: asset, TS: st.TS}
	return true, nil
}

// reconcile is the REST reconciliation after a (re)subscription: open
// orders, fills since since, and the state of every order in flight that
// is not open. Everything goes to the sink (fills once).
func (c *Client) reconcile(ctx context.Context, sink exchange.PrivateSink, since int64) error {
	opens, err := c.OpenOrders(ctx, 0)
	if err != nil {
		return err
	}
	open := make(map[exchange.ID]bool, len(opens))
	for _, st := range opens {
		open[st.ClientID] = true
		sink.OnOrder(st)
	}
	fills, err := c.FillsSince(ctx, 0, since)
	if err != nil {
		return err
	}
	for i := range fills {
		f := &fills[i]
		in := c.inst(f.Inst)
		tid, _ := parseUintID(f.TradeID.Bytes())
		c.deliverFill(sink, c.instIndex(in), f, tid)
	}
	for _, it := range c.track.all(nil) {
		if open[it.id] {
			continue
		}
		if err := c.pollOne(ctx, sink, it); err != nil {
			return err
		}
	}
	c.stats.Reconciliations.Add(1)
	return nil
}

// pollLoop polls the orders in flight: every PollEvery while the stream is
// down, and those without news for 5×PollEvery while it is up (a silent
// stream).
func (c *Client) pollLoop(ctx context.Context, sink exchange.PrivateSink, up *atomic.Bool) {
	tick := max(c.cfg.PollEvery/2, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	var items []pollItem
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		quiet := c.cfg.PollEvery
		if up.Load() {
			quiet *= 5
		}
		items = c.track.due(items[:0], c.cfg.Now(), int64(quiet))
		for _, it := range items {
			if ctx.Err() != nil {
				return
			}
			if err := c.pollOne(ctx, sink, it); err != nil && ctx.Err() == nil {
				c.log.warn(c.cfg.Now(), "binance: poll failed", slog.String("venue", c.cfg.Name), slog.String("error", err.Error()))
			}
		}
	}
}

// pollOne queries one order in flight and delivers its state and any
// fills not delivered yet (myTrades by orderId). An order the venue does
// not know is dropped from tracking once it can no longer execute.
func (c *Client) pollOne(ctx context.Context, sink exchange.PrivateSink, it pollItem) error {
	in := &c.insts[it.f.inst]
	c.stats.Polls.Add(1)
	st, orderID, err := c.queryQuiet(ctx, in, it.id)
	now := c.cfg.Now()
	if err != nil {
		if exchange.KindOf(err) == exchange.KindNotFound {
			if time.Duration(now-it.f.sentAt) >= c.cfg.RecvWindow+c.cfg.RequestTimeout {
				c.track.refused(it.id)
				c.cfg.Logger.Info("binance: order never reached the venue; no longer tracked", slog.String("venue", c.cfg.Name),
					slog.String("client_order_id", it.id.String()))
				return nil
			}
			c.track.touch(it.id, now)
			return nil
		}
		c.track.touch(it.id, now)
		return err
	}
	if st.FilledQty > it.f.fillsGot {
		fills, err := c.orderFills(ctx, in, orderID, nil)
		if err != nil {
			c.track.touch(it.id, now)
			return err
		}
		idx := c.instIndex(in)
		for i := range fills {
			f := &fills[i]
			f.ClientID = st.ClientID
			tid, _ := parseUintID(f.TradeID.Bytes())
			c.deliverFill(sink, idx, f, tid)
		}
	}
	sink.OnOrder(st)
	c.track.observe(&st, orderID, now)
	if !st.Status.Final() {
		c.track.touch(it.id, now)
	}
	return nil
}

// queryQuiet is QueryOrder without updating the tracker (the poller does
// it once the fills are delivered), returning the venue order id.
func (c *Client) queryQuiet(ctx context.Context, in *tradeInst, clientID exchange.ID) (exchange.OrderState, int64, error) {
	st, err := c.orderRequestOpt(ctx, "GET", in, clientID, 0, opRead, queryCosts[:], false)
	if err != nil {
		return st, 0, err
	}
	oid, _ := parseUintID(st.VenueOrderID.Bytes())
	return st, oid, nil
}
