package binance

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"arb/exchange"
	"arb/exchange/internal/gate"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/internal/wsx"
	"arb/exchange/num"
)

// WebSocket API order entry (order.place on ws-api/v3).
//
// One connection at a time carries orders; Run keeps it open. Requests are
// correlated with answers by id: a request takes a slot (id mod wsSlots),
// writes its frame, and waits on the slot's channel; the connection's
// reader copies the answer with that id into the slot and signals it. A
// slot remembers the connection it was used on, so a late answer of an
// abandoned request, or one from an older connection, is dropped, never
// handed to the next user of the slot. Nothing here allocates per order
// beyond gorilla/websocket's own writer.

// wsSlots bounds the order requests in flight on the socket at once; a
// request finding its slot busy goes over REST.
const wsSlots = 64

// Keep-alive of the WebSocket API connections: the venue pings every 20 s
// (answered by wsx.ReadFrame), but a ping frame is not a data frame, so
// after wsKeepAlive of silence the client sends the "ping" method (weight
// 1) and the watchdog closes a connection silent for wsIdle.
const (
	wsKeepAlive = 30 * time.Second
	wsIdle      = 75 * time.Second
)

var wsPingFrame = []byte(`{"id":"ka","method":"ping"}`)

// Errors of a WebSocket round trip.
var (
	errWSDown    = errors.New("binance: order socket closed before the request was written")
	errWSLost    = errors.New("binance: order socket lost while waiting for the answer")
	errWSTimeout = errors.New("binance: no answer on the order socket within RequestTimeout")
)

type wsEntry struct {
	cur   atomic.Pointer[wsConn]
	next  atomic.Uint64
	slots [wsSlots]wsSlot
}

// wsConn is one WebSocket API connection.
type wsConn struct {
	ws       *wsx.Conn
	done     chan struct{} // closed when the reader exits
	shutdown chan struct{} // closed at serverShutdown
	shutOnce sync.Once
	loggedOn bool // session.logon done (Ed25519): requests carry no apiKey/signature
	draining atomic.Bool
	cancel   context.CancelFunc // stops the connection's keep-alive and watchdog
}

type wsSlot struct {
	mu   sync.Mutex
	id   uint64 // request waiting on the slot (0: free)
	conn *wsConn
	got  bool // an answer was handed over; later copies are dropped
	ch   chan struct{}
	resp []byte
}

func (w *wsEntry) init() {
	for i := range w.slots {
		w.slots[i].ch = make(chan struct{}, 1)
		w.slots[i].resp = make([]byte, 0, 4<<10)
	}
}

// usable returns the connection to send orders on, or nil.
func (w *wsEntry) usable() *wsConn {
	c := w.cur.Load()
	if c == nil || c.draining.Load() {
		return nil
	}
	select {
	case <-c.done:
		return nil
	default:
	}
	return c
}

// acquire reserves a slot for a request on conn, or returns nil if the
// slot is busy.
func (w *wsEntry) acquire(conn *wsConn) (*wsSlot, uint64) {
	id := w.next.Add(1)
	s := &w.slots[id%wsSlots]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id != 0 {
		return nil, 0
	}
	s.id, s.conn, s.got = id, conn, false
	select {
	case <-s.ch:
	default:
	}
	return s, id
}

func (s *wsSlot) release() {
	s.mu.Lock()
	s.id, s.conn = 0, nil
	s.mu.Unlock()
}

// deliver hands frame to the request id waiting on conn, if any.
func (w *wsEntry) deliver(conn *wsConn, id uint64, frame []byte) bool {
	s := &w.slots[id%wsSlots]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id != id || s.conn != conn || s.got {
		return false
	}
	s.resp = append(s.resp[:0], frame...)
	s.got = true
	select {
	case s.ch <- struct{}{}:
	default:
	}
	return true
}

// roundTrip writes frame on conn for the request on slot s and waits for
// its answer. sent is false only when the frame provably never left (the
// socket was already closed): the caller may then use REST.
func (c *Client) roundTrip(ctx context.Context, b *reqBuf, conn *wsConn, s *wsSlot, frame []byte) (resp []byte, sent bool, err error) {
	select {
	case <-conn.done:
		return nil, false, errWSDown
	default:
	}
	c.wrote(b)
	if err := conn.ws.WriteText(frame); err != nil {
		if errors.Is(err, websocket.ErrCloseSent) || errors.Is(err, net.ErrClosed) {
			return nil, false, errWSDown
		}
		// Part of the frame may have left: the outcome is unknown.
		conn.ws.CloseWith(wsx.ClosedByPeer)
		return nil, true, err
	}
	b.timer.Reset(c.cfg.RequestTimeout)
	defer b.timer.Stop()
	select {
	case <-s.ch:
		return s.resp, true, nil
	case <-conn.done:
		// The reader may have delivered the answer just before exiting.
		select {
		case <-s.ch:
			return s.resp, true, nil
		default:
		}
		return nil, true, errWSLost
	case <-ctx.Done():
		return nil, true, ctx.Err()
	case <-b.timer.C:
		return nil, true, errWSTimeout
	}
}

// placeWS sends one order with order.place. sent is false when nothing
// left (no free slot, or the socket closed first).
func (c *Client) placeWS(ctx context.Context, b *reqBuf, conn *wsConn, in *tradeInst, req exchange.OrderRequest, px num.Price, qty num.Qty, tif string) (exchange.OrderState, error, bool) {
	s, id := c.ws.acquire(conn)
	if s == nil {
		return exchange.OrderState{}, nil, false
	}
	defer s.release()
	c.orderParams(b, in, &req, px, qty, tif)
	b.body = c.appendWSSigned(b, conn.loggedOn, id, "order.place")
	b.order = req.ClientID
	resp, sent, err := c.roundTrip(ctx, b, conn, s, b.body)
	if !sent {
		return exchange.OrderState{}, nil, false
	}
	c.stats.OrdersWS.Add(1)
	now := c.now()
	if err != nil {
		c.stats.UnknownOutcomes.Add(1)
		c.gate.Result(now, false, "order socket: "+err.Error())
		return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name, Err: err}, true
	}
	if perr := parseWSResponse(&b.sc, resp, &b.wr); perr != nil {
		return exchange.OrderState{}, c.unreadableOrder(perr, resp), true
	}
	c.observeWSLimits(now, &b.wr)
	if b.wr.status != 200 {
		return exchange.OrderState{}, c.wsError(now, b, opPlace), true
	}
	b.sc.Reset(b.wr.result)
	readOrder(&b.sc, &b.ro)
	if !b.sc.End() {
		return exchange.OrderState{}, c.unreadableOrder(errSyntaxOr(&b.sc), resp), true
	}
	c.gate.Result(now, true, "")
	st, err := c.finishOrder(b, resp, true, true)
	return st, err, true
}

// wsError classifies a WebSocket API error answer in b.wr.
func (c *Client) wsError(now time.Time, b *reqBuf, op opKind) *exchange.Error {
	b.sc.Reset(b.wr.errRaw)
	readAPIError(&b.sc, &b.ae)
	if !b.sc.End() {
		b.ae = apiError{}
	}
	return c.classifyAPI(now, int(b.wr.status), 0, &b.ae, b.wr.errRaw, op)
}

// appendWSSigned builds a WebSocket API request from b.params: sorted by
// name, with apiKey and the signature of the sorted payload unless the
// connection is logged on.
func (c *Client) appendWSSigned(b *reqBuf, loggedOn bool, id uint64, method string) []byte {
	p := &b.params
	var sig []byte
	if !loggedOn {
		p.str("apiKey", c.cfg.Credentials.apiKey)
		p.sortByKey()
		b.payload = p.appendWSPayload(b.payload[:0])
		sig = b.sg.appendSig(b.sigBuf[:0], b.payload)
	} else {
		p.sortByKey()
	}
	return p.appendWSRequest(b.body[:0], id, method, sig)
}

// runOrderEntry keeps the order-entry connection open until ctx ends:
// dial, log on (Ed25519 keys), publish; on a drop redial with backoff
// (orders go over REST meanwhile); on serverShutdown dial the replacement
// at once and retire the old connection after RequestTimeout.
func (c *Client) runOrderEntry(ctx context.Context, rng *rand.Rand) {
	bo := wsx.Backoff{Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax, Rand: rng}
	var retiring sync.WaitGroup
	defer retiring.Wait()
	for ctx.Err() == nil {
		conn, err := c.dialAPI(ctx, c.cfg.OrderWSURL, true)
		if err != nil {
			c.log.warn(c.cfg.Now(), "binance: order socket: dial failed", slog.String("venue", c.cfg.Name), slog.String("error", err.Error()))
			if wsx.Sleep(ctx, max(bo.Next(), retryWait(err))) != nil {
				break
			}
			continue
		}
		c.stats.WSConnects.Add(1)
		if old := c.ws.cur.Swap(conn); old != nil {
			retiring.Add(1)
			go func() {
				defer retiring.Done()
				c.retire(ctx, old)
			}()
		}
		started := time.Now()
		select {
		case <-ctx.Done():
		case <-conn.done:
			c.ws.cur.CompareAndSwap(conn, nil)
			if time.Since(started) >= c.cfg.BackoffMax {
				bo.Reset()
			}
			c.log.warn(c.cfg.Now(), "binance: order socket closed; orders use REST until it is back", slog.String("venue", c.cfg.Name))
			if wsx.Sleep(ctx, bo.Next()) != nil {
				break
			}
		case <-conn.shutdown:
			conn.draining.Store(true) // orders use REST until the replacement is up
			bo.Reset()
		}
	}
	if conn := c.ws.cur.Swap(nil); conn != nil {
		conn.close()
	}
}

// retire closes a drained connection once its requests had time to end
// (or at once when ctx ends).
func (c *Client) retire(ctx context.Context, conn *wsConn) {
	t := time.NewTimer(c.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case <-t.C:
	case <-conn.done:
	case <-ctx.Done():
	}
	conn.close()
}

func (conn *wsConn) close() {
	conn.ws.CloseWith(wsx.ClosedByOwner)
	conn.cancel()
}

// dialAPI opens a WebSocket API connection with its keep-alive and
// watchdog. With reader set it also starts the order-entry reader and, for
// an Ed25519 key, logs the session on; the private stream reads its own
// connection.
func (c *Client) dialAPI(ctx context.Context, url string, reader bool) (*wsConn, error) {
	// A connection costs request weight (2): no dial during a Retry-After
	// or a ban.
	if err := c.admit(connCosts[:]...); err != nil {
		return nil, err
	}
	ws, err := wsx.Dial(ctx, url, wsx.DialConfig{MaxFrame: c.cfg.MaxBody, Now: c.cfg.Now})
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	conn := &wsConn{ws: ws, done: make(chan struct{}), shutdown: make(chan struct{}), cancel: cancel}
	go c.keepAlive(cctx, ws)
	go ws.Watchdog(cctx, wsIdle)
	go func() { // ctx ending (or close) unblocks the connection's reader
		<-cctx.Done()
		ws.CloseWith(wsx.ClosedByOwner)
	}()
	if !reader {
		return conn, nil
	}
	go c.readOrderSocket(conn)
	if c.cfg.Credentials.Type() == KeyEd25519 {
		if err := c.logon(ctx, conn); err != nil {
			conn.close()
			return nil, err
		}
		conn.loggedOn = true
	}
	return conn, nil
}

// connCosts is a WebSocket API connection's weight; subscribeCosts that of
// session.logon and userDataStream.subscribe[.signature]; pingCosts that of
// the keep-alive's ping.
var (
	connCosts      = [...]gate.Cost{{Budget: bWeight, Units: 2}, {Budget: bRaw, Units: 1}}
	subscribeCosts = [...]gate.Cost{{Budget: bWeight, Units: 2}, {Budget: bRaw, Units: 1}}
	pingCosts      = [...]gate.Cost{{Budget: bWeight, Units: 1}, {Budget: bRaw, Units: 1}}
)

// keepAlive sends the "ping" method after wsKeepAlive without data, when
// the gate admits it (no request during a Retry-After or a ban), until
// ctx ends; a failed write closes the connection.
func (c *Client) keepAlive(ctx context.Context, ws *wsx.Conn) {
	t := time.NewTicker(wsKeepAlive / 4)
	defer t.Stop()
	last := c.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := c.cfg.Now()
		if now-last < int64(wsKeepAlive) || now-ws.LastRead() < int64(wsKeepAlive) {
			continue
		}
		if c.gate.Take(c.now(), pingCosts[:]...) != nil {
			continue
		}
		if err := ws.WriteText(wsPingFrame); err != nil {
			ws.CloseWith(wsx.ClosedByPeer)
			return
		}
		last = now
	}
}

// retryWait is how long a refusal asks to wait (a rate limit's
// Retry-After), or 0.
func retryWait(err error) time.Duration {
	var e *exchange.Error
	if errors.As(err, &e) && e.Kind == exchange.KindRateLimited {
		return e.RetryAfter
	}
	return 0
}

// logon sends session.logon on an order-entry connection and waits for
// its answer.
func (c *Client) logon(ctx context.Context, conn *wsConn) error {
	if err := c.ensureTime(ctx); err != nil {
		return err
	}
	b := c.getBuf()
	defer c.putBuf(b)
	if err := c.admit(subscribeCosts[:]...); err != nil {
		return err
	}
	s, id := c.ws.acquire(conn)
	if s == nil {
		return errors.New("binance: no free request slot for session.logon")
	}
	defer s.release()
	b.params.reset()
	b.params.int("recvWindow", c.cfg.RecvWindow.Milliseconds())
	b.params.int("timestamp", c.timestampMs())
	b.body = c.appendWSSigned(b, false, id, "session.logon")
	resp, _, err := c.roundTrip(ctx, b, conn, s, b.body)
	if err != nil {
		return err
	}
	if err := parseWSResponse(&b.sc, resp, &b.wr); err != nil {
		c.badReply("session.logon", err, resp)
		return err
	}
	if b.wr.status != 200 {
		return c.wsError(c.now(), b, opRead)
	}
	return nil
}

// readOrderSocket reads the order-entry connection until it closes,
// handing each answer to its slot. It closes conn.done on exit.
func (c *Client) readOrderSocket(conn *wsConn) {
	defer close(conn.done)
	defer conn.cancel()
	var sc jsonscan.Scanner
	for {
		frame, _, err := conn.ws.ReadFrame()
		if err != nil {
			return
		}
		id, shutdown, ok := peekFrame(&sc, frame)
		switch {
		case shutdown:
			conn.shutOnce.Do(func() { close(conn.shutdown) })
		case ok:
			c.ws.deliver(conn, id, frame)
		}
	}
}

// peekFrame reads just enough of a WebSocket API frame to route it: the
// numeric id of an answer to one of our requests (we send ids as decimal
// strings; "ka" and other ids are not ours to route), or a serverShutdown
// event. The full answer is parsed by the waiting request.
func peekFrame(s *jsonscan.Scanner, frame []byte) (id uint64, shutdown, ok bool) {
	s.Reset(frame)
	if !s.Object() {
		return 0, false, false
	}
	for {
		k, more := s.Key()
		if !more {
			return 0, false, false
		}
		switch string(k) {
		case "id":
			if s.Peek() != '"' {
				s.Skip()
				continue
			}
			v := s.Str()
			if len(v) == 0 || len(v) > 19 {
				continue
			}
			var n uint64
			for _, d := range v {
				if d < '0' || d > '9' {
					return 0, false, false
				}
				n = n*10 + uint64(d-'0')
			}
			return n, false, n != 0
		case "event":
			if !s.Object() {
				return 0, false, false
			}
			for {
				k, more := s.Key()
				if !more {
					break
				}
				if string(k) == "e" {
					return 0, string(s.Str()) == "serverShutdown", false
				}
				s.Skip()
			}
		default:
			s.Skip()
		}
	}
}
