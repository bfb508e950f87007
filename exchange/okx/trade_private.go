package okx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/internal/wsx"
)

// subscribeOrders is the orders-channel subscription for spot (README
// §4.2; instId omitted: every spot instrument of the account).
var subscribeOrders = []byte(`{"op":"subscribe","args":[{"channel":"orders","instType":"SPOT"}]}`)

// Errors that end a stream session.
var (
	errStreamNotice = errors.New("okx: private stream: venue announced a disconnect (notice)")
	// errBadPush: a message or fill could not be read, so a fill may be
	// missing; the reconnect's reconciliation reads it over REST.
	errBadPush = errors.New("okx: private stream: unreadable message or fill; reconnecting to reconcile")
)

// RunPrivate keeps the private order stream until ctx ends: connect to
// /ws/v5/private, log in, subscribe to the orders channel (instType SPOT),
// reconcile over REST (fills since the newest one seen minus
// ReconcileOverlap, open orders, and every in-flight order this client
// placed), report the stream up, then deliver every push's order state and
// fill to sink. OKX replays nothing a dropped stream missed, so every
// (re)connect reconciles; while the stream is down the in-flight orders
// are polled by client order id every PollEvery, so their states and fills
// still arrive. Fills already delivered (same instrument and trade id,
// among the last 8192) are not delivered again. Calls to sink come from
// this goroutine only. It returns ctx's error, or an error at once for a
// nil sink or a second concurrent call.
func (c *Client) RunPrivate(ctx context.Context, sink exchange.PrivateSink) error {
	if sink == nil {
		return errors.New("okx: RunPrivate: nil sink")
	}
	if !c.privRunning.CompareAndSwap(false, true) {
		return errors.New("okx: RunPrivate is already running")
	}
	defer c.privRunning.Store(false)
	ps := &privateStream{c: c, sink: sink, env: newEnvelope(listLimit, 0)}
	ps.logs.Logger = c.log
	bo := wsx.Backoff{Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax, Rand: c.randPriv}
	for {
		up, err := ps.session(ctx)
		if up {
			c.stats.StreamUp.Store(0)
			sink.OnStream(false)
			bo.Reset()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ps.log("okx: private stream down; polling in-flight orders until it is back", slog.Any("err", err), slog.Bool("was_up", up))
		if err := ps.pollFor(ctx, bo.Next()); err != nil {
			return ctx.Err()
		}
	}
}

// privateStream is RunPrivate's state; owned by its goroutine.
type privateStream struct {
	c       *Client
	sink    exchange.PrivateSink
	env     *envelope
	logs    feed.LogLimiter
	scratch []inflightEntry
}

func (ps *privateStream) log(msg string, attrs ...slog.Attr) {
	ps.logs.Log(ps.c.cfg.Now().UnixNano(), msg, attrs...)
}

// session runs one connection; up reports whether it got as far as
// reporting the stream up.
func (ps *privateStream) session(ctx context.Context) (up bool, err error) {
	c := ps.c
	conn, err := c.dialPrivate(ctx, c.cfg.PrivateWSURL)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-sctx.Done(); conn.Close() }()
	if err := conn.WriteText(subscribeOrders); err != nil {
		return false, fmt.Errorf("okx: subscribing: %w", err)
	}
	if err := ps.awaitSubscribed(conn); err != nil {
		return false, err
	}
	go conn.KeepAlive(sctx, c.cfg.PingEvery, pingFrame, true)
	go conn.Watchdog(sctx, c.cfg.silenceLimit())
	// Subscribed first, then reconciled: whatever changes during the
	// reconciliation is already queued on the socket.
	if err := ps.reconcile(sctx); err != nil {
		return false, fmt.Errorf("okx: reconciliation: %w", err)
	}
	c.stats.StreamConnects.Add(1)
	c.stats.StreamUp.Store(1)
	ps.sink.OnStream(true)
	for {
		frame, _, err := conn.ReadFrame()
		if err != nil {
			return true, err
		}
		if err := ps.handle(frame); err != nil {
			return true, err
		}
	}
}

// awaitSubscribed reads until the orders subscription is acknowledged.
// An order push that arrives first (a race the docs do not rule out) is
// delivered like any other.
func (ps *privateStream) awaitSubscribed(conn *wsx.Conn) error {
	stop := time.AfterFunc(loginTimeout, func() { conn.CloseWith(wsx.ClosedIdle) })
	defer stop.Stop()
	for {
		frame, _, err := conn.ReadFrame()
		if err != nil {
			return fmt.Errorf("okx: waiting for the subscribe reply: %w", err)
		}
		if string(frame) == "pong" {
			continue
		}
		if err := ps.env.parse(frame); err != nil {
			ps.bad(frame, err)
			return errBadPush
		}
		switch string(ps.env.event) {
		case "subscribe":
			if string(ps.env.channel) == "orders" {
				return nil
			}
		case "error":
			return &exchange.Error{Kind: exchange.KindRejected, Venue: ps.c.cfg.Name, Code: string(ps.env.code), Msg: "subscribe: " + text(ps.env.msg)}
		case "":
			if string(ps.env.channel) == "orders" && !ps.deliverRows() {
				return errBadPush
			}
		}
	}
}

// handle processes one frame of a subscribed stream.
func (ps *privateStream) handle(frame []byte) error {
	if string(frame) == "pong" {
		return nil
	}
	env := ps.env
	if err := env.parse(frame); err != nil {
		ps.bad(frame, err)
		return errBadPush
	}
	switch string(env.event) {
	case "":
		if string(env.channel) == "orders" && !ps.deliverRows() {
			return errBadPush
		}
	case "notice":
		return errStreamNotice
	case "error":
		code := string(env.code)
		ps.log("okx: private stream: venue error", slog.String("code", code), slog.String("msg", text(env.msg)))
		if authCode(code) {
			return &exchange.Error{Kind: exchange.KindAuth, Venue: ps.c.cfg.Name, Code: code, Msg: text(env.msg)}
		}
	}
	// subscribe, channel-conn-count and other events need nothing.
	return nil
}

func (ps *privateStream) bad(frame []byte, err error) {
	ps.c.stats.BadReplies.Add(1)
	ps.log("okx: private stream: unreadable message", slog.Any("err", err), slog.String("excerpt", excerpt(frame)))
}

// deliverRows delivers every order update of an orders push: its state,
// and its fill when the update carries one (tradeId with a non-zero
// fillSz). Rows of instruments this client does not trade (other tools on
// the account) are skipped. It reports false when a fill could not be
// read: the caller reconciles rather than lose it. (An unreadable order
// state alone is counted and logged; the next state or the
// reconciliation brings a newer one.)
func (ps *privateStream) deliverRows() bool {
	ok := true
	c := ps.c
	for i := range ps.env.rows {
		r := &ps.env.rows[i]
		in := c.instBySym(r.get(fInstID))
		if in == nil {
			continue
		}
		if st, err := c.convertOrder(r, in); err == nil {
			ps.sink.OnOrder(st)
			c.trackState(&st)
		} else {
			ps.log("okx: private stream: bad order update", slog.Any("err", err), slog.String("inst", in.Symbol))
		}
		f, has, err := fillFrom(r, fillFromPush, c.cfg.Venue, &in.Instrument)
		switch {
		case err != nil:
			if errors.Is(err, errScale) {
				c.scaleViolation("fill", in, r)
			} else {
				c.stats.BadReplies.Add(1)
			}
			ps.log("okx: private stream: bad fill", slog.Any("err", err), slog.String("inst", in.Symbol))
			ok = false
		case has:
			ps.deliverFill(f)
		}
	}
	return ok
}

// deliverFill gives f to the sink unless it was delivered before, and
// advances the reconciliation watermark.
func (ps *privateStream) deliverFill(f exchange.Fill) {
	c := ps.c
	if !c.fills.add(fillKey{inst: f.Inst, id: f.TradeID}) {
		c.stats.FillsRepeated.Add(1)
		return
	}
	ps.sink.OnFill(f)
	c.stats.FillsDelivered.Add(1)
	ps.advance(f.TS)
}

// reconcile reads what a dropped stream may have missed: the fills since
// the watermark (minus the overlap), the open orders, and the state of
// every in-flight order that is no longer open.
func (ps *privateStream) reconcile(ctx context.Context) error {
	c := ps.c
	// What is read now is complete up to about now: the next
	// reconciliation starts there (minus the overlap) even if no fill came.
	readAt := c.clock.now(c.cfg.Now()).UnixNano()
	since := c.watermark.Load() - int64(c.cfg.ReconcileOverlap)
	fills, err := c.listFills(ctx, nil, nil, since)
	if err != nil {
		return err
	}
	for _, f := range fills {
		ps.deliverFill(f)
	}
	open, err := c.OpenOrders(ctx, 0)
	if err != nil {
		return err
	}
	isOpen := make(map[exchange.ID]bool, len(open))
	for i := range open {
		ps.sink.OnOrder(open[i])
		c.trackState(&open[i])
		isOpen[open[i].ClientID] = true
	}
	ps.scratch = c.inflight.snapshot(ps.scratch[:0])
	for _, e := range ps.scratch {
		if isOpen[e.clid] {
			continue
		}
		if err := ps.pollOne(ctx, e); err != nil {
			return err
		}
	}
	ps.advance(readAt)
	c.stats.Reconciliations.Add(1)
	return nil
}

// advance moves the fill watermark forward to ts (never back).
func (ps *privateStream) advance(ts int64) {
	for {
		w := ps.c.watermark.Load()
		if ts <= w || ps.c.watermark.CompareAndSwap(w, ts) {
			return
		}
	}
}

// pollFor polls the in-flight orders every PollEvery for d (the reconnect
// backoff). It returns ctx's error if ctx ends.
func (ps *privateStream) pollFor(ctx context.Context, d time.Duration) error {
	c := ps.c
	deadline := c.cfg.Now().Add(d)
	for {
		ps.scratch = c.inflight.snapshot(ps.scratch[:0])
		if len(ps.scratch) > 0 {
			c.stats.PollRounds.Add(1)
			for _, e := range ps.scratch {
				if err := ps.pollOne(ctx, e); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					ps.log("okx: polling an in-flight order failed", slog.Any("err", err), slog.String("client_order_id", e.clid.String()))
				}
			}
		}
		left := deadline.Sub(c.cfg.Now())
		if left <= 0 {
			return nil
		}
		if err := wsx.Sleep(ctx, min(left, c.cfg.PollEvery)); err != nil {
			return err
		}
	}
}

// pollOne queries one in-flight order by client id, delivers its state,
// and, when it filled more than polling has delivered fills for, reads the
// order's fills (GET trade/fills?ordId=…) and delivers the new ones. The
// order stops being tracked once it is final and its fills are all in; an
// order the venue does not know after its request expired (plus the
// request timeout) was never placed and stops being tracked too.
func (ps *privateStream) pollOne(ctx context.Context, e inflightEntry) error {
	c := ps.c
	in := c.inst(e.inst)
	if in == nil {
		c.inflight.remove(e.clid)
		return nil
	}
	st, err := c.queryOrder(ctx, in, e.clid)
	if err != nil {
		if exchange.KindOf(err) == exchange.KindNotFound {
			now := c.cfg.Now()
			if now.UnixNano()-e.sent > int64(c.absenceGrace()) {
				c.inflight.remove(e.clid)
				c.sent.absentAfter(e.clid, c.clock.now(now).UnixNano(), c.absenceGrace())
			}
			return nil
		}
		return err
	}
	ps.sink.OnOrder(st)
	c.sent.mark(e.clid, sentExists)
	c.inflight.seen(e.clid, st.VenueOrderID)
	if st.FilledQty > e.filled {
		fills, err := c.listFills(ctx, in, st.VenueOrderID.Bytes(), e.sent-int64(time.Hour))
		if err != nil {
			return err
		}
		var sum int64
		for _, f := range fills {
			sum += int64(f.Qty)
			ps.deliverFill(f)
		}
		if sum < int64(st.FilledQty) {
			// The fills list lags the order's state: try again next round.
			return nil
		}
		c.inflight.setFilled(e.clid, st.FilledQty)
	}
	if st.Status.Final() {
		c.inflight.remove(e.clid)
	}
	return nil
}
