package bybit

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/internal/wsx"
)

// tradePing is the trade socket's heartbeat (docs/v5/websocket/trade/guideline.mdx).
var tradePing = []byte(`{"op":"ping"}`)

// wsAuthWindow is how far in the future an auth message's expires lies.
const wsAuthWindow = 10 * time.Second

// tradeSocket is the WebSocket order entry: one authenticated connection
// to /v5/trade at a time, kept by run (reconnecting with backoff), and
// order.create requests written by PlaceOrder from any goroutine (wsx
// serializes writes). Replies are matched to requests by reqId, which
// carries the order slot and a sequence number; the connection's reader
// copies a reply into its slot and wakes the waiting PlaceOrder. A request
// that was written and gets no reply — the socket dropped, the wait timed
// out — has an unknown outcome.
type tradeSocket struct {
	c     *Client
	conn  atomic.Pointer[wsx.Conn] // set while authenticated
	seq   atomic.Uint64
	gen   atomic.Uint64 // connection generation
	authd chan struct{} // test hook: closed after the first authentication
	first atomic.Bool
}

func newTradeSocket(c *Client) *tradeSocket {
	return &tradeSocket{c: c, authd: make(chan struct{})}
}

// ready reports whether orders can be sent on the socket now.
func (t *tradeSocket) ready() bool { return t.conn.Load() != nil }

// run keeps the trade socket until ctx ends.
func (t *tradeSocket) run(ctx context.Context) {
	c := t.c
	bo := wsx.Backoff{Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax, Rand: c.cfg.Rand}
	for ctx.Err() == nil {
		start := c.cfg.Now()
		err := t.session(ctx)
		t.conn.Store(nil)
		t.failPending()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.warn("bybit: trade socket ended", slog.String("err", err.Error()))
		}
		if time.Duration(c.cfg.Now()-start) > c.cfg.IdleMax {
			bo.Reset()
		}
		if wsx.Sleep(ctx, bo.Next()) != nil {
			return
		}
	}
}

// failPending wakes every request still waiting for a reply: the socket
// it was written on is gone, so its outcome is unknown.
func (t *tradeSocket) failPending() {
	for _, s := range t.c.all {
		s.wmu.Lock()
		if s.pending {
			s.pending, s.lost = false, true
			select {
			case s.done <- struct{}{}:
			default:
			}
		}
		s.wmu.Unlock()
	}
}

// appendWSAuth appends {"op":"auth","args":[api_key, expires, signature]}
// (docs/v5/ws/connect: the signature is hex HMAC-SHA256 of
// "GET/realtime" + expires).
func appendWSAuth(dst []byte, cred *Credentials, expiresMs int64) []byte {
	dst = append(dst, `{"op":"auth","args":["`...)
	dst = append(dst, cred.key...)
	dst = append(dst, `",`...)
	dst = strconv.AppendInt(dst, expiresMs, 10)
	dst = append(dst, `,"`...)
	dst = append(dst, Sign(cred.secret, WSAuthStringToSign(expiresMs))...)
	return append(dst, `"]}`...)
}

var errAuthTimeout = errors.New("bybit: no auth reply")

// session dials, authenticates and reads until the connection ends.
func (t *tradeSocket) session(ctx context.Context) error {
	c := t.c
	conn, err := wsx.Dial(ctx, c.cfg.TradeURL, wsx.DialConfig{MaxFrame: 1 << 20, Now: c.cfg.Now, NetDialContext: c.cfg.NetDialContext})
	if err != nil {
		return err
	}
	gen := t.gen.Add(1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-sctx.Done()
		conn.CloseWith(wsx.ClosedByOwner)
	}()
	go conn.Watchdog(sctx, c.cfg.IdleMax)
	authTimer := time.AfterFunc(c.cfg.RequestTimeout, func() { conn.CloseWith(wsx.ClosedIdle) })
	defer authTimer.Stop()
	if err := conn.WriteText(appendWSAuth(nil, &c.cfg.Credentials, c.venueNowMs()+int64(wsAuthWindow/time.Millisecond))); err != nil {
		return err
	}
	var s jsonscan.Scanner
	var f wsFrame
	authed := false
	for {
		b, _, err := conn.ReadFrame()
		if err != nil {
			if !authed && conn.Cause() == wsx.ClosedIdle {
				return errAuthTimeout
			}
			return err
		}
		if perr := parseWSFrame(&s, b, &f); perr != nil {
			c.stats.BadFrames.Add(1)
			c.warn("bybit: unreadable trade socket frame", slog.String("err", perr.Error()), slog.String("frame", excerpt(b)))
			continue
		}
		switch {
		case string(f.op) == "auth":
			if !f.hasRetCode || f.retCode != 0 {
				cerr := c.codeError(f.retCode, f.retMsg, false, 0, c.cfg.Now())
				return cerr
			}
			authTimer.Stop()
			authed = true
			c.stats.TradeConnects.Add(1)
			t.conn.Store(conn)
			if t.first.CompareAndSwap(false, true) {
				close(t.authd)
			}
			go conn.KeepAlive(sctx, c.cfg.PingEvery, tradePing, false)
		case string(f.op) == "pong" || string(f.op) == "ping":
		case len(f.reqID) > 0:
			t.deliver(gen, f.reqID, b)
		default:
			c.stats.BadFrames.Add(1)
			c.warn("bybit: unexpected trade socket frame", slog.String("frame", excerpt(b)))
		}
	}
}

// reqID layout: the client's 8-byte prefix, the slot in 3 digits, the
// sequence number in decimal; at most 31 characters (Bybit allows 36).
func (t *tradeSocket) appendReqID(dst []byte, slot int, seq uint64) []byte {
	dst = append(dst, t.c.wsReq[:]...)
	dst = append(dst, byte('0'+slot/100), byte('0'+slot/10%10), byte('0'+slot%10))
	return strconv.AppendUint(dst, seq, 10)
}

func (t *tradeSocket) parseReqID(id []byte) (slot int, seq uint64, ok bool) {
	p := t.c.wsReq[:]
	if len(id) < len(p)+4 || string(id[:len(p)]) != string(p) {
		return 0, 0, false
	}
	d := id[len(p) : len(p)+3]
	for _, ch := range d {
		if ch < '0' || ch > '9' {
			return 0, 0, false
		}
	}
	slot = int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0')
	v, err := jsonscan.ParseInt(id[len(p)+3:])
	if err != nil || v <= 0 || slot >= len(t.c.all) {
		return 0, 0, false
	}
	return slot, uint64(v), true
}

// deliver hands a reply to the request waiting for it.
func (t *tradeSocket) deliver(gen uint64, reqID, frame []byte) {
	slot, seq, ok := t.parseReqID(reqID)
	if !ok {
		t.c.stats.BadFrames.Add(1)
		t.c.warn("bybit: trade reply with a reqId that is not ours", slog.String("frame", excerpt(frame)))
		return
	}
	s := t.c.all[slot]
	s.wmu.Lock()
	if s.pending && s.seq == seq {
		s.reply = append(s.reply[:0], frame...)
		s.pending = false
		select {
		case s.done <- struct{}{}:
		default:
		}
		s.wmu.Unlock()
		return
	}
	s.wmu.Unlock()
	t.c.stats.LateReplies.Add(1)
	t.c.warn("bybit: trade reply after its request gave up (resolve by client id)", slog.String("frame", excerpt(frame)))
}

var errTradeDown = &exchange.Error{Kind: exchange.KindRetryable, Msg: "not sent: trade socket down"}

// place sends the order over the socket and waits for its reply. sent
// reports whether anything was written (if not, the caller may use REST).
// A 10002 reply re-measures the offset and resends once.
func (t *tradeSocket) place(ctx context.Context, s *orderSlot, o *preparedOrder) (exchange.OrderState, int64, bool, error) {
	c := t.c
	var st exchange.OrderState
	for attempt := 0; ; attempt++ {
		conn := t.conn.Load()
		if conn == nil {
			if attempt > 0 {
				// The first attempt was refused for its timestamp (nothing
				// happened); the socket is gone for the second.
				return st, 0, true, errTradeDown
			}
			return st, 0, false, errTradeDown
		}
		if err := c.admitWS(); err != nil {
			return st, 0, attempt > 0, err
		}
		seq := t.seq.Add(1)
		s.reqID = t.appendReqID(s.reqID[:0], s.idx, seq)
		tsMs := c.venueNowMs()
		s.msg = appendWSOrder(s.msg[:0], s.reqID, tsMs, c.rwStr, o)
		s.wmu.Lock()
		s.seq, s.pending, s.lost = seq, true, false
		select {
		case <-s.done:
		default:
		}
		s.wmu.Unlock()
		sentAt := c.cfg.Now()
		if c.cfg.OnOrderWrite != nil {
			c.cfg.OnOrderWrite(o.req.ClientID, sentAt)
		}
		c.stats.OrdersWS.Add(1)
		if err := conn.WriteText(s.msg); err != nil {
			s.wmu.Lock()
			s.pending = false
			s.wmu.Unlock()
			conn.CloseWith(wsx.ClosedByPeer)
			c.stats.UnknownOutcome.Add(1)
			c.gate.Result(time.Unix(0, c.cfg.Now()), false, "trade socket write")
			return st, tsMs, true, &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name,
				Msg: "trade socket write failed: the order may have been sent", Err: err}
		}
		s.timer.Reset(c.cfg.OrderTimeout) // Go ≥ 1.23: Reset discards a stale expiry
		select {
		case <-s.done:
		case <-ctx.Done():
		case <-s.timer.C:
		}
		s.timer.Stop()
		s.wmu.Lock()
		pending, lost := s.pending, s.lost
		s.pending = false
		s.wmu.Unlock()
		if pending || lost {
			c.stats.UnknownOutcome.Add(1)
			c.gate.Result(time.Unix(0, c.cfg.Now()), false, "trade socket: no reply")
			msg := "no reply on the trade socket before the deadline"
			if lost {
				msg = "the trade socket dropped before the reply"
			}
			return st, tsMs, true, &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name, Msg: msg, Err: ctx.Err()}
		}
		st, err := t.reply(s, o, tsMs)
		if err != nil && isTimestampError(err) && attempt == 0 {
			if c.resync(ctx, sentAt) == nil {
				continue
			}
		}
		return st, tsMs, true, err
	}
}

// reply reads an order.create reply.
func (t *tradeSocket) reply(s *orderSlot, o *preparedOrder, tsMs int64) (exchange.OrderState, error) {
	c := t.c
	now := c.cfg.Now()
	var f wsFrame
	var st exchange.OrderState
	if err := parseWSFrame(&s.scan, s.reply, &f); err != nil {
		// Matched by reqId, then unreadable: the order may exist.
		c.stats.UnknownOutcome.Add(1)
		return st, &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name, Msg: "unreadable order reply", Err: err}
	}
	var h wsHeader
	_ = parseWSHeader(&s.scan, f.header, &h)
	if len(h.status) > 0 {
		c.observeRemainingBytes(epCreate, h.status, now)
	}
	if !f.hasRetCode {
		c.stats.UnknownOutcome.Add(1)
		return st, &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name, Msg: "order reply without retCode"}
	}
	if f.retCode != 0 {
		var retry time.Duration
		if ms, err := jsonscan.ParseInt(h.reset); err == nil {
			retry = time.Duration(ms*1_000_000 - now)
		}
		return st, c.codeError(f.retCode, f.retMsg, true, retry, now)
	}
	c.gate.Result(time.Unix(0, now), true, "")
	var ack orderAck
	if len(f.data) > 0 {
		if err := parseOrderAck(&s.scan, f.data, &ack); err != nil {
			c.warn("bybit: order acknowledged with unreadable data", slog.String("err", err.Error()))
		}
	}
	ts := tsMs
	if v, err := jsonscan.ParseInt(h.timeNow); err == nil {
		ts = v
	}
	return c.ackState(o, ack.orderID, ts), nil
}

func (c *Client) observeRemainingBytes(ep endpoint, remaining []byte, now int64) {
	left, err := jsonscan.ParseInt(remaining)
	if err != nil || left < 0 {
		return
	}
	if limit := int64(bybitBudgets[ep].Limit); left < limit {
		c.gate.Observe(time.Unix(0, now), int(ep), int(limit-left))
	}
}
