package okx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/internal/gate"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/internal/wsx"
)

// loginTimeout bounds the websocket login and subscribe handshakes.
const loginTimeout = 10 * time.Second

// privateMaxFrame caps one private websocket message (a push carries a few
// orders; the cap only guards against garbage).
const privateMaxFrame = 1 << 20

// errNotSent marks an order that did not go over WebSocket (socket down or
// busy): nothing was sent, REST may be used.
var errNotSent = errors.New("okx: WebSocket order entry is down")

// dialPrivate connects to url, logs in and waits for the login reply. The
// login's timestamp is the venue's clock in seconds (README §4.2: OKX
// rejects it 30 s later); its sign is the REST construction over
// GET /users/self/verify.
func (c *Client) dialPrivate(ctx context.Context, url string) (*wsx.Conn, error) {
	if !c.clock.ok.Load() {
		if err := c.clock.measure(ctx, c, false); err != nil {
			return nil, err
		}
	}
	if err := c.dialTurn(ctx); err != nil {
		return nil, err
	}
	conn, err := wsx.Dial(ctx, url, wsx.DialConfig{HandshakeTimeout: loginTimeout, MaxFrame: privateMaxFrame,
		Now: func() int64 { return c.cfg.Now().UnixNano() }})
	if err != nil {
		return nil, fmt.Errorf("okx: dial %s: %w", url, err)
	}
	// A handshake that stalls is cut by closing the socket.
	stop := time.AfterFunc(loginTimeout, func() { conn.CloseWith(wsx.ClosedIdle) })
	defer stop.Stop()
	if err := conn.WriteText(WSLogin(c.cfg.Credentials, c.clock.now(c.cfg.Now()))); err != nil {
		conn.Close()
		return nil, fmt.Errorf("okx: sending login: %w", err)
	}
	env := newEnvelope(0, 0)
	for {
		frame, _, err := conn.ReadFrame()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("okx: waiting for the login reply: %w", err)
		}
		if string(frame) == "pong" || env.parse(frame) != nil {
			continue
		}
		switch string(env.event) {
		case "login":
			if env.isCode("0") {
				return conn, nil
			}
			fallthrough
		case "error":
			conn.Close()
			code := string(env.code)
			kind := exchange.KindAuth
			if !authCode(code) {
				kind = exchange.KindRejected
			}
			if code == "60004" || code == "60006" { // timestamp invalid / expired
				c.clock.invalidate()
				_ = c.clock.measure(ctx, c, false)
			}
			return nil, &exchange.Error{Kind: kind, Venue: c.cfg.Name, Code: code, Msg: "login: " + text(env.msg)}
		}
	}
}

// dialTurn spaces this client's websocket dials by minDialInterval: OKX
// allows 3 connection requests per second per IP, shared with the public
// feeds on the host.
func (c *Client) dialTurn(ctx context.Context) error {
	c.dialMu.Lock()
	now := c.cfg.Now()
	at := c.nextDial
	if at.Before(now) {
		at = now
	}
	c.nextDial = at.Add(minDialInterval)
	c.dialMu.Unlock()
	if d := at.Sub(now); d > 0 {
		return wsx.Sleep(ctx, d)
	}
	return nil
}

// --- WebSocket order entry ---

// wsSlots is how many WS orders may await their reply at once; beyond it
// orders take REST.
const wsSlots = 64

// wsResult is one order reply, copied out of the reader's frame.
type wsResult struct {
	lost   bool        // the connection ended before the reply
	code   exchange.ID // top-level code
	sCode  exchange.ID // the order's sCode
	ordID  exchange.ID
	clid   exchange.ID
	ts     int64
	nRows  int
	msgLen int
	msg    [160]byte // sMsg or msg, raw JSON, truncated
}

// wsSlot is one outstanding request: id 0 means free.
type wsSlot struct {
	id    uint64
	ch    chan wsResult // capacity 1
	timer *time.Timer
}

// orderConn is one logged-in order-entry connection. Writes go through
// wsx.Conn's mutex straight from the caller (no queue between the order
// and the socket); one reader goroutine hands replies to the waiting slot.
type orderConn struct {
	ws    *wsx.Conn
	mu    sync.Mutex
	slots [wsSlots]wsSlot
	done  chan struct{} // closed when the reader ended
}

// orderSocket keeps the order-entry connection (see Client.Run).
type orderSocket struct {
	c     *Client
	conn  atomic.Pointer[orderConn]
	codes atomic.Bool // instIdCodes known for at least one instrument
	seq   atomic.Uint64
	frame sync.Pool // *[]byte request frames
	logs  feed.LogLimiter
}

func (o *orderSocket) init(c *Client) {
	o.c = c
	o.frame.New = func() any { b := make([]byte, 0, 512); return &b }
	o.logs.Logger = c.log
}

func (o *orderSocket) codesLoaded() bool { return o.codes.Load() }

// up reports whether the order-entry connection is logged in.
func (o *orderSocket) up() bool { return o.conn.Load() != nil }

// run dials, logs in and serves the order-entry connection until ctx ends,
// reconnecting with backoff.
func (o *orderSocket) run(ctx context.Context) {
	c := o.c
	bo := wsx.Backoff{Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax, Rand: c.randOrder}
	for ctx.Err() == nil {
		conn, err := c.dialPrivate(ctx, c.cfg.OrderWSURL)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			o.logs.Log(c.cfg.Now().UnixNano(), "okx: order-entry socket: connect failed", slog.Any("err", err))
			if wsx.Sleep(ctx, bo.Next()) != nil {
				return
			}
			continue
		}
		oc := &orderConn{ws: conn, done: make(chan struct{})}
		for i := range oc.slots {
			oc.slots[i].ch = make(chan wsResult, 1)
			oc.slots[i].timer = time.NewTimer(time.Hour)
			oc.slots[i].timer.Stop()
		}
		cctx, cancel := context.WithCancel(ctx)
		go func() { <-cctx.Done(); conn.Close() }() // unblocks the reader at shutdown
		go conn.KeepAlive(cctx, c.cfg.PingEvery, pingFrame, true)
		go conn.Watchdog(cctx, c.cfg.silenceLimit())
		o.conn.Store(oc)
		c.stats.OrderSocketUp.Store(1)
		start := c.cfg.Now()
		o.read(oc)
		o.conn.Store(nil)
		c.stats.OrderSocketUp.Store(0)
		cancel()
		conn.Close()
		close(oc.done)
		if ctx.Err() != nil {
			return
		}
		if c.cfg.Now().Sub(start) > time.Minute {
			bo.Reset()
		}
		o.logs.Log(c.cfg.Now().UnixNano(), "okx: order-entry socket dropped; orders go over REST until it is back")
		if wsx.Sleep(ctx, bo.Next()) != nil {
			return
		}
	}
}

// read is the connection's reader: it hands each order reply to its slot.
func (o *orderSocket) read(oc *orderConn) {
	env := newEnvelope(4, 0)
	for {
		frame, _, err := oc.ws.ReadFrame()
		if err != nil {
			return
		}
		if string(frame) == "pong" {
			continue
		}
		if err := env.parse(frame); err != nil {
			o.c.stats.BadReplies.Add(1)
			o.logs.Log(o.c.cfg.Now().UnixNano(), "okx: unreadable order-entry message", slog.Any("err", err), slog.String("excerpt", excerpt(frame)))
			continue
		}
		if len(env.id) > 0 {
			id, err := jsonscan.ParseInt(env.id)
			if err != nil || id <= 0 {
				o.logs.Log(o.c.cfg.Now().UnixNano(), "okx: order-entry reply with a foreign id", slog.String("excerpt", excerpt(frame)))
				continue
			}
			oc.deliver(uint64(id), env)
			continue
		}
		switch string(env.event) {
		case "notice": // 64008: the socket closes soon for an upgrade
			o.logs.Log(o.c.cfg.Now().UnixNano(), "okx: order-entry socket: venue notice, reconnecting", slog.String("code", string(env.code)))
			return
		case "error":
			o.logs.Log(o.c.cfg.Now().UnixNano(), "okx: order-entry socket: venue error", slog.String("code", string(env.code)), slog.String("msg", text(env.msg)))
		}
	}
}

// deliver copies the reply for request id into its slot (if still waited
// for: a reply after the waiter gave up is dropped, the private stream or a
// query tells the order's fate).
func (oc *orderConn) deliver(id uint64, env *envelope) {
	var r wsResult
	r.code, _ = exchange.IDFromBytes(env.code)
	r.nRows = len(env.rows)
	msg := env.msg
	if len(env.rows) > 0 {
		row := &env.rows[0]
		r.sCode, _ = exchange.IDFromBytes(row.get(fSCode))
		r.ordID, _ = exchange.IDFromBytes(row.get(fOrdID))
		r.clid, _ = exchange.IDFromBytes(row.get(fClOrdID))
		r.ts, _ = millisNS(row.get(fTS))
		if sm := row.get(fSMsg); len(sm) > 2 {
			msg = sm
		}
	}
	r.msgLen = copy(r.msg[:], msg)
	oc.mu.Lock()
	s := &oc.slots[id%wsSlots]
	if s.id == id {
		select {
		case s.ch <- r:
		default:
		}
	}
	oc.mu.Unlock()
}

// acquire reserves a slot for request id, or returns nil when all are busy.
func (oc *orderConn) acquire(id uint64) *wsSlot {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	s := &oc.slots[id%wsSlots]
	if s.id != 0 {
		return nil
	}
	s.id = id
	select { // a stale reply from an earlier holder
	case <-s.ch:
	default:
	}
	return s
}

// release frees s and returns a reply that raced with the release, if any.
func (oc *orderConn) release(s *wsSlot) (wsResult, bool) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	s.id = 0
	select {
	case r := <-s.ch:
		return r, true
	default:
		return wsResult{}, false
	}
}

// place sends one order over the order-entry connection. final is false
// when nothing was sent and the caller may use REST instead (socket down,
// every slot busy); then err is errNotSent wrapped in a KindRetryable.
func (o *orderSocket) place(ctx context.Context, in *tradeInst, code int64, clid *exchange.ID, side exchange.Side, typ string, r rounded, ack exchange.OrderState) (st exchange.OrderState, err error, final bool) {
	c := o.c
	oc := o.conn.Load()
	if oc == nil {
		return st, &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Err: errNotSent}, false
	}
	id := o.seq.Add(1)
	s := oc.acquire(id)
	if s == nil {
		return st, &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Msg: "all order-entry slots busy", Err: errNotSent}, false
	}
	now := c.cfg.Now()
	if err := c.gate.Take(now, gate.Cost{Budget: in.bPlace, Units: 1}, gate.Cost{Budget: bSubOrders, Units: 1}); err != nil {
		oc.release(s)
		return st, c.gateError(err), true
	}
	var exp int64
	if c.cfg.Expiry > 0 {
		exp = c.clock.now(now).Add(c.cfg.Expiry).UnixMilli()
	}
	fp := o.frame.Get().(*[]byte)
	*fp = appendWSOrder((*fp)[:0], id, exp, code, in, clid, side, typ, r)
	c.stats.OrdersWS.Add(1)
	if c.cfg.OnOrderWrite != nil {
		c.cfg.OnOrderWrite(*clid, c.cfg.Now().UnixNano())
	}
	werr := oc.ws.WriteText(*fp)
	o.frame.Put(fp) // gorilla copied the frame into its buffer
	if werr != nil {
		oc.release(s)
		oc.ws.CloseWith(wsx.ClosedByPeer)
		if errors.Is(werr, websocket.ErrCloseSent) {
			return st, &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Err: errNotSent}, false
		}
		c.gate.Result(c.cfg.Now(), false, "order socket write")
		return st, &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name, Msg: "order-entry write failed", Err: werr}, true
	}
	wait := c.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		wait = time.Until(dl)
	}
	s.timer.Reset(wait)
	var res wsResult
	got := false
	select {
	case res = <-s.ch:
		got = true
	case <-ctx.Done():
	case <-s.timer.C:
	case <-oc.done:
	}
	s.timer.Stop()
	if late, ok := oc.release(s); ok && !got {
		res, got = late, true
	}
	if !got || res.lost {
		c.gate.Result(c.cfg.Now(), false, "order reply timeout")
		msg := "no reply on the order-entry socket"
		if ctx.Err() != nil {
			msg = "context ended before the reply"
		}
		return st, &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name, Msg: msg, Err: ctx.Err()}, true
	}
	return o.readReply(&res, in, clid, ack)
}

// readReply interprets an order reply like a REST acknowledgement.
func (o *orderSocket) readReply(res *wsResult, in *tradeInst, clid *exchange.ID, ack exchange.OrderState) (exchange.OrderState, error, bool) {
	c := o.c
	now := c.cfg.Now()
	code := res.code.String()
	if code == "0" && (res.sCode.IsZero() || res.sCode.String() == "0") {
		if res.nRows != 1 || res.ordID.IsZero() || (!res.clid.IsZero() && res.clid != *clid) {
			c.gate.Result(now, false, "bad order ack")
			return exchange.OrderState{}, c.unknownAck("WS acknowledgement that does not name our order"), true
		}
		c.gate.Result(now, true, "")
		ack.VenueOrderID, ack.TS = res.ordID, res.ts
		return ack, nil, true
	}
	if !res.sCode.IsZero() && res.sCode.String() != "0" {
		code = res.sCode.String()
	}
	if code == "" || code == "0" {
		c.gate.Result(now, false, "bad order reply")
		return exchange.OrderState{}, c.unknownAck("WS order reply without a code"), true
	}
	kind := classifyTrade(opPlace, 200, code)
	c.gate.Result(now, !breakerFailure(kind), "code "+code)
	e := &exchange.Error{Kind: kind, Venue: c.cfg.Name, Code: code, Msg: text(res.msg[:res.msgLen])}
	if code == codeRateLimit || code == codeSubRateLimit || code == codeWSRateLimit {
		c.venueLimited(now, code, gate.Cost{Budget: in.bPlace, Units: 1}, gate.Cost{Budget: bSubOrders, Units: 1})
		e.RetryAfter = defaultRateWait
	}
	return exchange.OrderState{}, e, true
}
