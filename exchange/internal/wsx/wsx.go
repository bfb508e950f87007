// Package wsx is the websocket plumbing every venue adapter shares: dialing
// with a handshake deadline, reading frames into one reusable buffer with a
// size cap, serialized writes, application-level keep-alive pings, an idle
// watchdog, and jittered capped backoff for reconnects.
//
// It is a library, not a framework: each adapter writes its own read loop
// (concrete types, no callback per frame) and calls these pieces.
//
// gorilla/websocket allocates one 8-byte reader object per message inside
// NextReader (it uses the object's identity to invalidate stale readers); that
// is the only allocation on the read path and is documented in BENCHMARKS.md.
// Everything from the frame bytes on is allocation-free.
package wsx

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"arb/exchange/tap"
)

// ErrTooLarge is returned by ReadFrame for a message over the size cap. The
// connection is unusable afterwards (the rest of the message is unread).
var ErrTooLarge = errors.New("wsx: message exceeds size cap")

// DialConfig configures Dial.
type DialConfig struct {
	HandshakeTimeout time.Duration // default 10 s
	WriteTimeout     time.Duration // per write; default 5 s
	MaxFrame         int           // largest message accepted; default 4 MiB
	Header           http.Header   // extra handshake headers
	Now              func() int64  // clock for receive stamps, Unix ns; default time.Now
	// Tap, if set, records the connection (open, every frame read, every
	// message written, the close) for a recorder; nil is off and costs a
	// nil check per frame.
	Tap *tap.Conn
	// NetDialContext, if set, dials the TCP connection (proxies, tests
	// that observe the wire).
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c *DialConfig) defaults() {
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = 4 << 20
	}
	if c.Now == nil {
		c.Now = func() int64 { return time.Now().UnixNano() }
	}
}

// CloseCause says who closed a connection, so the read loop can tell a
// watchdog expiry from a dropped socket.
type CloseCause int32

// Close causes.
const (
	ClosedByPeer  CloseCause = iota // the socket failed or the venue closed it
	ClosedIdle                      // the idle watchdog fired
	ClosedByOwner                   // the adapter closed it (shutdown, scheduled rotation)
)

// Conn is one websocket connection. ReadFrame must be called from a single
// goroutine; WriteText, Close and CloseWith are safe from any goroutine.
type Conn struct {
	ws       *websocket.Conn
	buf      []byte
	max      int
	now      func() int64
	wtimeout time.Duration
	tap      *tap.Conn

	wmu      sync.Mutex
	lastRead atomic.Int64
	cause    atomic.Int32
	closed   atomic.Bool
}

// Dial opens a websocket to url.
func Dial(ctx context.Context, url string, cfg DialConfig) (*Conn, error) {
	cfg.defaults()
	d := websocket.Dialer{
		HandshakeTimeout: cfg.HandshakeTimeout,
		ReadBufferSize:   64 << 10,
		WriteBufferSize:  4 << 10,
		Proxy:            http.ProxyFromEnvironment,
		NetDialContext:   cfg.NetDialContext,
	}
	ws, resp, err := d.DialContext(ctx, url, cfg.Header)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(int64(cfg.MaxFrame) + 1)
	c := &Conn{ws: ws, buf: make([]byte, 0, 64<<10), max: cfg.MaxFrame, now: cfg.Now, wtimeout: cfg.WriteTimeout, tap: cfg.Tap}
	now := cfg.Now()
	c.lastRead.Store(now)
	if c.tap != nil {
		c.tap.Open(now, url)
	}
	return c, nil
}

// ReadFrame blocks for the next text or binary message and returns it with
// its receive time (Unix ns). The bytes are valid until the next ReadFrame.
// Ping frames are answered with a pong carrying the same payload, as Binance
// requires, inside this call.
func (c *Conn) ReadFrame() ([]byte, int64, error) {
	b, t, err := c.readFrame()
	if c.tap != nil {
		if err != nil {
			c.tapClose(err)
		} else {
			c.tap.Frame(t, b)
		}
	}
	return b, t, err
}

// tapClose records the end of the connection for the tap: the cause our
// side set (CloseWith), or a message over the cap, or the peer.
func (c *Conn) tapClose(err error) {
	cause := tap.CauseByPeer
	switch {
	case errors.Is(err, ErrTooLarge):
		cause = tap.CauseTooLarge
	case c.closed.Load():
		cause = tap.Cause(c.cause.Load())
	}
	c.tap.Close(c.now(), cause, err)
}

func (c *Conn) readFrame() ([]byte, int64, error) {
	_, r, err := c.ws.NextReader()
	if err != nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			return nil, 0, ErrTooLarge
		}
		return nil, 0, err
	}
	b := c.buf[:0]
	for {
		if len(b) == cap(b) {
			if len(b) > c.max {
				return nil, 0, ErrTooLarge
			}
			nb := make([]byte, len(b), 2*cap(b))
			copy(nb, b)
			b = nb
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				return nil, 0, ErrTooLarge
			}
			return nil, 0, err
		}
	}
	if len(b) > c.max {
		return nil, 0, ErrTooLarge
	}
	c.buf = b
	t := c.now()
	c.lastRead.Store(t)
	return b, t, nil
}

// LastRead returns the receive time of the last message (Unix ns), or the
// connect time.
func (c *Conn) LastRead() int64 { return c.lastRead.Load() }

// WriteText sends one text message.
func (c *Conn) WriteText(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(c.wtimeout))
	if c.tap != nil {
		c.tap.Sent(c.now(), b)
	}
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// CloseWith closes the connection once, recording why; the blocked
// ReadFrame returns an error.
func (c *Conn) CloseWith(cause CloseCause) {
	if c.closed.CompareAndSwap(false, true) {
		c.cause.Store(int32(cause))
		if c.tap != nil {
			c.tap.Close(c.now(), tap.Cause(cause), nil)
		}
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = c.ws.Close()
	}
}

// Close closes the connection as its owner.
func (c *Conn) Close() error {
	c.CloseWith(ClosedByOwner)
	return nil
}

// Cause returns why the connection was closed (ClosedByPeer if nobody on our
// side closed it).
func (c *Conn) Cause() CloseCause {
	if !c.closed.Load() {
		return ClosedByPeer
	}
	return CloseCause(c.cause.Load())
}

// KeepAlive sends msg every interval until ctx ends or a write fails (then
// it closes the connection). With onlyWhenIdle it sends only after every of
// silence from the venue, as OKX asks ("ping" after N < 30 s without data);
// without it, it sends unconditionally, as Bybit recommends ({"op":"ping"}
// every 20 s). Run it in its own goroutine.
func (c *Conn) KeepAlive(ctx context.Context, every time.Duration, msg []byte, onlyWhenIdle bool) {
	step := every / 4
	if step < time.Millisecond {
		step = time.Millisecond
	}
	t := time.NewTicker(step)
	defer t.Stop()
	lastSent := c.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.closed.Load() {
			return
		}
		now := c.now()
		if now-lastSent < int64(every) {
			continue
		}
		if onlyWhenIdle && now-c.lastRead.Load() < int64(every) {
			continue
		}
		if err := c.WriteText(msg); err != nil {
			c.CloseWith(ClosedByPeer)
			return
		}
		lastSent = now
	}
}

// Watchdog closes the connection (cause ClosedIdle) when no message arrived
// for idle, checking every idle/4, until ctx ends or the connection closes.
func (c *Conn) Watchdog(ctx context.Context, idle time.Duration) {
	step := idle / 4
	if step < time.Millisecond {
		step = time.Millisecond
	}
	t := time.NewTicker(step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.closed.Load() {
			return
		}
		if c.now()-c.lastRead.Load() > int64(idle) {
			c.CloseWith(ClosedIdle)
			return
		}
	}
}

// Backoff yields reconnect delays: exponential from Min to Max with "equal
// jitter" (each delay uniform in [d/2, d]), so a fleet that lost a venue
// together does not reconnect in lockstep. Not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	Rand     *rand.Rand // seeded by the caller; required
	attempt  int
}

// Next returns the next delay.
func (b *Backoff) Next() time.Duration {
	d := b.Min
	for i := 0; i < b.attempt && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	if b.attempt < 62 {
		b.attempt++
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + time.Duration(b.Rand.Int64N(int64(half)+1))
}

// Reset starts over from Min (after a connection proved healthy).
func (b *Backoff) Reset() { b.attempt = 0 }

// Sleep waits d or until ctx ends, returning ctx's error in that case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
