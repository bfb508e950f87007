package bybit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"arb/exchange"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/internal/wsx"
)

// privateSubscribe subscribes the spot order and execution topics
// (docs/v5/websocket/private/order.mdx, execution.mdx). Both are
// categorised topics: Bybit refuses a request that mixes them with the
// all-in-one "order"/"execution".
var privateSubscribe = []byte(`{"req_id":"sub","op":"subscribe","args":["order.spot","execution.spot"]}`)

// Errors that end a private session.
var (
	errPrivateAuth  = errors.New("bybit: private stream authentication refused")
	errPrivateSub   = errors.New("bybit: private stream subscription refused")
	errPrivateFrame = errors.New("bybit: unreadable private frame (it may have held a fill): reconnecting")
)

// RunPrivate keeps the private stream until ctx ends: it connects to
// /v5/private, authenticates ({"op":"auth"} with expires and the HMAC of
// "GET/realtime"+expires), subscribes order.spot and execution.spot, and
// delivers every order state and fill of a configured instrument to sink.
// After every (re)subscription it reconciles over REST — open orders, the
// orders this client has in flight, and fills since ReconcileOverlap before
// the last fill seen — because Bybit replays nothing a dropped stream
// missed; then it reports the stream up. While the stream is down (and for
// an order the stream has been silent about for PollStaleAfter) it polls
// the orders this client placed by client id, with their fills, so the same
// events arrive. It reconnects with jittered backoff and returns ctx's
// error. RunPrivate may run once at a time.
func (c *Client) RunPrivate(ctx context.Context, sink exchange.PrivateSink) error {
	if sink == nil {
		return errors.New("bybit: RunPrivate: nil sink")
	}
	if !c.private.CompareAndSwap(false, true) {
		return errors.New("bybit: RunPrivate is already running")
	}
	defer c.private.Store(false)
	c.sink.Store(&sinkBox{s: sink})
	defer c.sink.Store(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.pollLoop(ctx)
	}()
	defer func() { <-done }()
	bo := wsx.Backoff{Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax, Rand: c.cfg.Rand}
	var gen uint64
	for {
		gen++
		start := c.cfg.Now()
		err := c.privateSession(ctx, gen)
		c.streamDown(gen)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			level := slog.LevelWarn
			if errors.Is(err, errPrivateAuth) {
				level = slog.LevelError
			}
			c.cfg.Logger.Log(ctx, level, "bybit: private stream ended", slog.String("venue", c.cfg.Name), slog.String("err", err.Error()))
		}
		if time.Duration(c.cfg.Now()-start) > c.cfg.IdleMax {
			bo.Reset()
		}
		if err := wsx.Sleep(ctx, bo.Next()); err != nil {
			return err
		}
	}
}

// streamState is guarded by deliverMu: which session may report the
// stream up, and whether it did.
type streamState struct {
	gen uint64
	up  bool
}

// streamUpAfter reports the stream up for session gen (after its
// reconciliation), unless that session already ended.
func (c *Client) streamUpAfter(gen uint64) {
	c.deliverMu.Lock()
	defer c.deliverMu.Unlock()
	if c.stream.gen != gen || c.stream.up {
		return
	}
	c.stream.up = true
	c.streamUp.Store(true)
	if b := c.sink.Load(); b != nil {
		b.s.OnStream(true)
	}
}

// streamDown ends session gen: later reports from it are ignored, and a
// stream reported up is reported down.
func (c *Client) streamDown(gen uint64) {
	c.deliverMu.Lock()
	defer c.deliverMu.Unlock()
	c.stream.gen = gen + 1
	c.streamUp.Store(false)
	if c.stream.up {
		c.stream.up = false
		if b := c.sink.Load(); b != nil {
			b.s.OnStream(false)
		}
	}
}

// privateSession runs one connection: dial, auth, subscribe, reconcile (in
// its own goroutine while frames are read), read until the connection ends.
func (c *Client) privateSession(ctx context.Context, gen uint64) error {
	c.deliverMu.Lock()
	c.stream.gen = gen
	c.deliverMu.Unlock()
	conn, err := wsx.Dial(ctx, c.cfg.PrivateURL, wsx.DialConfig{MaxFrame: 4 << 20, Now: c.cfg.Now, NetDialContext: c.cfg.NetDialContext})
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-sctx.Done()
		conn.CloseWith(wsx.ClosedByOwner)
	}()
	go conn.Watchdog(sctx, c.cfg.IdleMax)
	go conn.KeepAlive(sctx, c.cfg.PingEvery, pingMsg, false)
	setupTimer := time.AfterFunc(c.cfg.RequestTimeout, func() { conn.CloseWith(wsx.ClosedIdle) })
	defer setupTimer.Stop()
	if err := conn.WriteText(appendPrivateAuth(nil, &c.cfg.Credentials, c.venueNowMs()+int64(wsAuthWindow/time.Millisecond))); err != nil {
		return err
	}
	var s jsonscan.Scanner
	var f wsFrame
	state := 0 // 0 auth sent, 1 subscribe sent, 2 subscribed
	reconciled := make(chan struct{})
	defer func() {
		cancel()
		if state == 2 {
			<-reconciled
		}
	}()
	for {
		b, _, err := conn.ReadFrame()
		if err != nil {
			if state < 2 && conn.Cause() == wsx.ClosedIdle {
				return fmt.Errorf("bybit: private stream: no auth/subscribe reply within %v", c.cfg.RequestTimeout)
			}
			return err
		}
		if perr := parseWSFrame(&s, b, &f); perr != nil {
			c.stats.BadFrames.Add(1)
			c.warn("bybit: unreadable private frame", slog.String("err", perr.Error()), slog.String("frame", excerpt(b)))
			return errPrivateFrame
		}
		switch {
		case len(f.topic) > 0:
			if err := c.handlePush(&s, &f, b); err != nil {
				return err
			}
		case string(f.op) == "auth":
			if !f.success && !(f.hasRetCode && f.retCode == 0) {
				return fmt.Errorf("%w: %s", errPrivateAuth, f.retMsg)
			}
			if err := conn.WriteText(privateSubscribe); err != nil {
				return err
			}
			state = 1
		case string(f.op) == "subscribe":
			if !f.success {
				return fmt.Errorf("%w: %s", errPrivateSub, f.retMsg)
			}
			if state == 1 {
				state = 2
				setupTimer.Stop()
				c.stats.PrivateConnects.Add(1)
				go func() {
					defer close(reconciled)
					c.reconcileLoop(sctx, gen)
				}()
			}
		case string(f.op) == "pong" || string(f.op) == "ping":
		default:
			c.stats.Skipped.Add(1)
		}
	}
}

// appendPrivateAuth appends the private stream's auth message with a req_id.
func appendPrivateAuth(dst []byte, cred *Credentials, expiresMs int64) []byte {
	dst = append(dst, `{"req_id":"auth",`...)
	return append(dst, appendWSAuth(nil, cred, expiresMs)[1:]...)
}

// handlePush delivers a topic push. A frame whose data cannot be read
// ends the session: it may have held a fill, and the reconnect's
// reconciliation recovers it.
func (c *Client) handlePush(s *jsonscan.Scanner, f *wsFrame, b []byte) error {
	var err error
	switch string(f.topic) {
	case "order.spot", "order":
		err = eachOrder(s, f.data, c.pushOrder)
	case "execution.spot", "execution":
		err = eachExec(s, f.data, c.pushExec)
	default:
		c.stats.Skipped.Add(1)
		return nil
	}
	if err != nil {
		c.stats.BadFrames.Add(1)
		c.warn("bybit: unreadable private push", slog.String("err", err.Error()), slog.String("frame", excerpt(b)))
		return errPrivateFrame
	}
	return nil
}

// pushOrder delivers one order of a push.
func (c *Client) pushOrder(o *orderFields) error {
	var st exchange.OrderState
	res, err := toOrderState(c.insts, c.cfg.Venue, o, &st)
	switch res {
	case convOK:
		c.deliverOrder(&st)
	case convSkip:
		c.stats.Skipped.Add(1)
	case convBroken:
		c.halt(fmt.Sprintf("order %s on %s: %v (does not fit the instrument's scale)", o.linkID, o.symbol, err))
	default:
		c.stats.BadFrames.Add(1)
		c.warn("bybit: order update not understood", slog.String("orderLinkId", string(o.linkID)),
			slog.String("orderStatus", string(o.status)), slog.String("err", errString(err)))
	}
	return nil
}

// pushExec delivers one execution of a push; one that cannot become a
// Fill halts trading (brokenFill).
func (c *Client) pushExec(x *execFields) error {
	var f exchange.Fill
	res, inferred, err := toFill(c.insts, c.cfg.Venue, x, &f)
	switch res {
	case convOK:
		if inferred {
			c.stats.FeeAssetInferred.Add(1)
		}
		c.deliverFill(&f)
	case convSkip:
		c.stats.Skipped.Add(1)
	default:
		c.brokenFill(x, err)
	}
	return nil
}

// deliverOrder records an order state in the tracker and hands it to the
// sink (if RunPrivate runs).
func (c *Client) deliverOrder(st *exchange.OrderState) {
	c.mu.Lock()
	c.tr.onState(st, c.cfg.Now())
	c.mu.Unlock()
	b := c.sink.Load()
	if b == nil {
		return
	}
	c.deliverMu.Lock()
	b.s.OnOrder(*st)
	c.deliverMu.Unlock()
	c.stats.OrdersDelivered.Add(1)
}

// deliverFill records a fill and hands it to the sink, once per trade id
// for the orders this client tracks (the stream, polling and the
// reconciliation may each report it); other fills as they come (the
// consumer deduplicates by trade id).
func (c *Client) deliverFill(f *exchange.Fill) {
	c.mu.Lock()
	_, dup := c.tr.onFill(f, c.cfg.Now())
	c.mu.Unlock()
	if dup {
		c.stats.FillsRepeated.Add(1)
		return
	}
	for {
		last := c.lastFill.Load()
		if f.TS <= last || c.lastFill.CompareAndSwap(last, f.TS) {
			break
		}
	}
	b := c.sink.Load()
	if b == nil {
		return
	}
	c.deliverMu.Lock()
	b.s.OnFill(*f)
	c.deliverMu.Unlock()
	c.stats.FillsDelivered.Add(1)
}

// reconcileLoop runs the reconciliation of session gen until it succeeds
// (then reports the stream up) or the session ends.
func (c *Client) reconcileLoop(ctx context.Context, gen uint64) {
	bo := wsx.Backoff{Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax, Rand: newJitter(c.cfg.Now())}
	for {
		err := c.reconcile(ctx)
		if err == nil {
			c.stats.Reconciliations.Add(1)
			c.streamUpAfter(gen)
			return
		}
		if ctx.Err() != nil {
			return
		}
		c.warn("bybit: reconciliation failed; retrying", slog.String("err", err.Error()))
		wait := bo.Next()
		var e *exchange.Error
		if errors.As(err, &e) && e.RetryAfter > wait {
			wait = e.RetryAfter
		}
		if wsx.Sleep(ctx, wait) != nil {
			return
		}
	}
}

// reconcile delivers what the stream may have missed: the open orders,
// the fills since ReconcileOverlap before the last one seen (or
// ReconcileFrom), and the state of every order this client has in flight. A fill that cannot be represented has halted trading
// already; the reconciliation still counts as done (retrying would not
// change the venue's answer).
func (c *Client) reconcile(ctx context.Context) error {
	since := c.lastFill.Load()
	if since == 0 {
		since = c.cfg.ReconcileFrom
	}
	since -= int64(c.cfg.ReconcileOverlap)
	open, err := c.OpenOrders(ctx, 0)
	if err != nil {
		return err
	}
	for i := range open {
		c.deliverOrder(&open[i])
	}
	// Fills before the in-flight orders' states: the tracker then knows
	// which fills arrived, and the polls fetch fills only for orders whose
	// fills still do not add up (none, normally), so a missed fill is
	// delivered once.
	fills, err := c.FillsSince(ctx, 0, since)
	for i := range fills {
		c.deliverFill(&fills[i])
	}
	if err != nil && !errors.Is(err, errBrokenFill) {
		return err
	}
	c.mu.Lock()
	items := c.tr.due(nil, c.cfg.Now(), false, 0, 0)
	c.mu.Unlock()
	for _, it := range items {
		if err := c.pollOne(ctx, it); err != nil {
			return err
		}
	}
	return nil
}

// pollLoop polls in-flight orders by client id while RunPrivate runs.
func (c *Client) pollLoop(ctx context.Context) {
	step := max(c.cfg.PollEvery/2, 5*time.Millisecond)
	t := time.NewTicker(step)
	defer t.Stop()
	var items []pollItem
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		items = c.tr.due(items[:0], c.cfg.Now(), c.streamUp.Load(), c.cfg.PollEvery, c.cfg.PollStaleAfter)
		c.mu.Unlock()
		for _, it := range items {
			if ctx.Err() != nil {
				return
			}
			if err := c.pollOne(ctx, it); err != nil && exchange.KindOf(err) != exchange.KindNotFound {
				c.warn("bybit: polling an order failed", slog.String("orderLinkId", it.id.String()), slog.String("err", err.Error()))
			}
		}
	}
}

// pollOne queries one order by client id, delivers its state and, when
// its filled quantity exceeds the fills delivered, its fills.
func (c *Client) pollOne(ctx context.Context, it pollItem) error {
	c.stats.Polls.Add(1)
	in := c.insts.get(it.inst)
	if in == nil {
		return errBadInst
	}
	st, err := c.QueryOrder(ctx, it.inst, it.id)
	if err != nil {
		if exchange.KindOf(err) == exchange.KindNotFound {
			return nil // QueryOrder told the tracker
		}
		return err
	}
	c.deliverOrder(&st)
	c.mu.Lock()
	need := c.tr.needFills(it.id)
	c.mu.Unlock()
	if !need {
		return nil
	}
	err = c.fillsOfOrder(ctx, in, it.id, c.deliverFill)
	if errors.Is(err, errBrokenFill) {
		return nil
	}
	return err
}
