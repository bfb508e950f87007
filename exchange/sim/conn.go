package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one websocket client of a venue. Frames to it go through its own
// bounded queue and writer goroutine, so a slow client is cut (never waited
// for) and the market never blocks. Subscription fields are guarded by Sim.mu.
type conn struct {
	v       *venue
	id      string
	ws      *websocket.Conn
	out     chan []byte
	done    chan struct{}
	once    sync.Once
	created time.Time

	role     connRole
	subs     map[string]struct{} // stream keys (guarded by Sim.mu)
	combined bool                // Binance: events wrapped as {"stream","data"}

	// push delivers the account's private events to the connection as its
	// protocol and subscriptions want them; nil until it authenticated
	// (guarded by Sim.mu).
	push func(privEvent)
	// streamOn: a Binance WebSocket API connection with an active user
	// data subscription (guarded by Sim.mu).
	streamOn bool
	// silentUntil (Unix ns): FaultStreamSilent; the venue sends nothing
	// on the connection before this.
	silentUntil atomic.Int64
	winStart    int64 // Binance incoming-message window start, Unix ns (Sim.mu)
	winCount    int   // messages in the window (Sim.mu)

	// Per-protocol state of WebSocket API, private and order-entry
	// connections (guarded by Sim.mu).
	bn *wsapiSession // Binance /ws-api/v3
	ok *okxSession   // OKX /ws/v5/private
	by *bybitSession // Bybit /v5/private and /v5/trade

	// idle overrides the venue's idle timeout (Bybit max_active_time on
	// private and trade connections); 0 = the venue's.
	idle time.Duration

	lastActive atomic.Int64           // Unix ns: subscribe, ping or push (OKX, Bybit idle rules)
	lastPong   atomic.Int64           // Unix ns: last pong answering our ping (Binance)
	pingData   atomic.Pointer[string] // payload of our last ping (Binance)
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
	CheckOrigin:     func(*http.Request) bool { return true },
}

// maxSubs caps a connection's subscriptions (Binance documents 1024 streams).
const maxSubs = 1024

// serveWS upgrades a request on one of the venue's public websocket paths.
func (v *venue) serveWS(w http.ResponseWriter, r *http.Request) { v.serveConn(w, r, rolePublic) }

// serveRole returns the handler of a websocket path with another role.
func (v *venue) serveRole(role connRole) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { v.serveConn(w, r, role) }
}

// serveConn upgrades a request to a websocket connection of the given role.
func (v *venue) serveConn(w http.ResponseWriter, r *http.Request, role connRole) {
	s := v.s
	// Binance validates the stream path before upgrading.
	var initial []string
	combined := false
	if v.cfg.Kind == KindBinance && role == rolePublic {
		var err error
		initial, combined, err = binanceStreamsFromURL(r)
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"code":-1100,"msg":%q}`, err.Error())
			return
		}
	}
	s.mu.Lock()
	full := len(v.conns) >= s.cfg.MaxConns || s.state != 1
	s.mu.Unlock()
	if full {
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader already answered
	}
	now := s.now()
	c := &conn{v: v, ws: ws, out: make(chan []byte, s.cfg.SendQueue), done: make(chan struct{}),
		created: now, subs: map[string]struct{}{}, combined: combined, role: role}
	c.lastActive.Store(now.UnixNano())
	c.lastPong.Store(now.UnixNano())
	ws.SetReadLimit(s.cfg.MaxFrame)

	s.mu.Lock()
	if s.state != 1 {
		s.mu.Unlock()
		ws.Close()
		return
	}
	v.connSeq++
	c.id = connID(v.cfg.Kind, v.connSeq)
	v.conns[c] = struct{}{}
	if role != rolePublic {
		v.private[c] = struct{}{}
		v.openSession(c, r, now)
	}
	for _, st := range initial {
		v.subscribe(c, st)
	}
	s.wg.Add(2)
	s.mu.Unlock()

	if v.cfg.Kind == KindBinance {
		ws.SetPongHandler(func(data string) error {
			if p := c.pingData.Load(); p != nil && *p == data {
				c.lastPong.Store(s.now().UnixNano())
			}
			return nil
		})
	}
	go c.writeLoop()
	go c.readLoop()
}

// connID makes a connection id in the venue's style (OKX: 8 hex digits,
// Bybit: a UUID-like string).
func connID(kind string, n uint64) string {
	switch kind {
	case KindOKX:
		return fmt.Sprintf("%08x", uint32(n*2654435761))
	case KindBybit:
		return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", uint32(n*2654435761), n&0xffff, n&0xfff, n&0xfff, n)
	}
	return strconv.FormatUint(n, 10)
}

// send queues one frame; a full queue cuts the connection (slow client).
// A silent connection (FaultStreamSilent) swallows it. Callers hold Sim.mu
// or own the connection.
func (c *conn) send(b []byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	if c.silent() {
		return true // lost, as on a link that went quiet
	}
	select {
	case c.out <- b:
		if c.role == rolePublic {
			c.v.publicFrames.Add(1)
		}
		return true
	default:
		c.v.slowCuts++
		c.kill()
		return false
	}
}

// kill closes the connection at once (no close frame, like a dropped link).
func (c *conn) kill() {
	c.once.Do(func() {
		close(c.done)
		if c.ws != nil { // nil only in fuzz tests of the control parsers
			c.ws.Close()
		}
	})
}

func (c *conn) touch() { c.lastActive.Store(c.v.s.now().UnixNano()) }

// silent reports whether FaultStreamSilent holds the connection now.
func (c *conn) silent() bool {
	u := c.silentUntil.Load()
	return u != 0 && c.v.s.now().UnixNano() < u
}

func (c *conn) writeLoop() {
	s := c.v.s
	defer s.wg.Done()
	defer c.kill()
	var ping <-chan time.Time
	check := time.Second
	switch c.v.cfg.Kind {
	case KindBinance:
		t := time.NewTicker(s.cfg.Binance.PingInterval)
		defer t.Stop()
		ping = t.C
		check = min(check, s.cfg.Binance.PongTimeout/4, s.cfg.Binance.MaxLifetime/4)
	case KindOKX:
		check = min(check, s.cfg.OKX.IdleTimeout/4)
	case KindBybit:
		check = min(check, s.cfg.Bybit.IdleTimeout/4)
	}
	chk := time.NewTicker(max(check, 5*time.Millisecond))
	defer chk.Stop()
	for {
		select {
		case <-c.done:
			return
		case m := <-c.out:
			c.ws.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, m); err != nil {
				return
			}
			c.touch()
		case <-ping:
			if c.silent() {
				continue
			}
			p := strconv.FormatInt(s.now().UnixMilli(), 10)
			c.pingData.Store(&p)
			if err := c.ws.WriteControl(websocket.PingMessage, []byte(p), time.Now().Add(s.cfg.WriteTimeout)); err != nil {
				return
			}
		case <-chk.C:
			if c.expired() {
				return
			}
		}
	}
}

// expired applies the venue's documented connection rules.
func (c *conn) expired() bool {
	s := c.v.s
	now := s.now()
	switch c.v.cfg.Kind {
	case KindBinance:
		return now.Sub(time.Unix(0, c.lastPong.Load())) > s.cfg.Binance.PongTimeout ||
			now.Sub(c.created) >= s.cfg.Binance.MaxLifetime
	case KindOKX:
		return now.Sub(time.Unix(0, c.lastActive.Load())) > s.cfg.OKX.IdleTimeout
	case KindBybit:
		idle := s.cfg.Bybit.IdleTimeout
		if c.idle > 0 {
			idle = c.idle
		}
		return now.Sub(time.Unix(0, c.lastActive.Load())) > idle
	}
	return false
}

func (c *conn) readLoop() {
	s := c.v.s
	defer s.wg.Done()
	defer func() {
		c.kill()
		s.mu.Lock()
		c.v.unregister(c)
		s.mu.Unlock()
	}()
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		s.mu.Lock()
		switch {
		case c.role == roleWSAPI:
			c.v.wsapiRequest(c, data)
		case c.role == rolePrivate && c.v.cfg.Kind == KindOKX:
			c.v.okxPrivateRequest(c, data)
		case c.role != rolePublic: // Bybit /v5/private and /v5/trade
			c.v.bybitPrivateRequest(c, data)
		case c.v.cfg.Kind == KindBinance:
			c.v.binanceControl(c, data)
		case c.v.cfg.Kind == KindOKX:
			c.v.okxControl(c, data)
		case c.v.cfg.Kind == KindBybit:
			c.v.bybitControl(c, data)
		}
		s.mu.Unlock()
	}
}

func (v *venue) subscribe(c *conn, key string) bool {
	if _, ok := c.subs[key]; ok {
		return true
	}
	if len(c.subs) >= maxSubs {
		return false
	}
	c.subs[key] = struct{}{}
	m := v.subs[key]
	if m == nil {
		m = map[*conn]struct{}{}
		v.subs[key] = m
	}
	m[c] = struct{}{}
	return true
}

func (v *venue) unsubscribe(c *conn, key string) {
	delete(c.subs, key)
	if m := v.subs[key]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(v.subs, key)
		}
	}
}

func (v *venue) unregister(c *conn) {
	for k := range c.subs {
		v.unsubscribe(c, k)
	}
	delete(v.conns, c)
	delete(v.private, c)
}

// fanout sends one frame to every subscriber of key.
func (v *venue) fanout(key string, msg []byte) {
	for c := range v.subs[key] {
		c.send(msg)
	}
}

// broadcastControl sends a frame to every connection and, with d > 0,
// closes them all d later.
func (v *venue) broadcastControl(msg []byte, d time.Duration) {
	for c := range v.conns {
		c.send(msg)
	}
	v.closeLater(d)
}

func (v *venue) closeLater(d time.Duration) {
	if d <= 0 {
		return
	}
	conns := make([]*conn, 0, len(v.conns))
	for c := range v.conns {
		conns = append(conns, c)
	}
	time.AfterFunc(d, func() {
		for _, c := range conns {
			c.kill()
		}
	})
}
