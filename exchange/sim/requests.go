package sim

import (
	"bytes"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"time"
)

// Request is one request a venue received, as counted for tests: every REST
// request, and every request message on a WebSocket API, private or
// order-entry connection (not public market-data streams).
type Request struct {
	Venue string
	// At is when it arrived, on the simulator's clock.
	At time.Time
	// Transport is "rest" or "ws".
	Transport string
	// Endpoint is "METHOD /path" for REST ("POST /api/v3/order"), the
	// method or op for WebSocket requests ("order.place",
	// "userDataStream.subscribe", "login", "order", "order.create", "auth").
	Endpoint string
	// Status is the HTTP status of the answer (for WebSocket requests
	// Binance's status field, else 200), 0 while it is not written or when
	// none was ever sent (a lost acknowledgement).
	Status int
	// Limited reports that a rate limit refused it; RetryAfter is what the
	// answer announced (0 if nothing).
	Limited    bool
	RetryAfter time.Duration
}

// maxRequests caps each venue's request log (the oldest quarter goes when
// full).
const maxRequests = 1 << 16

// logRequest records an arriving request and returns its index for
// finish (caller holds Sim.mu).
func (v *venue) logRequest(at time.Time, transport, endpoint string) int {
	if len(v.reqs) >= maxRequests {
		n := copy(v.reqs, v.reqs[len(v.reqs)/4:])
		v.reqs = v.reqs[:n]
	}
	v.reqs = append(v.reqs, Request{Venue: v.cfg.Name, At: at, Transport: transport, Endpoint: endpoint})
	v.reqSeq++
	return int(v.reqSeq)
}

// finishRequest sets the answer of the request logRequest numbered n, if it
// is still in the log (caller holds Sim.mu).
func (v *venue) finishRequest(n int, status int, limited bool, retry time.Duration) {
	i := len(v.reqs) - 1 - (int(v.reqSeq) - n)
	if i < 0 || i >= len(v.reqs) {
		return
	}
	r := &v.reqs[i]
	r.Status, r.Limited, r.RetryAfter = status, limited, retry
}

// Requests returns every request the venue received (the last 65536),
// oldest first, with its arrival time and answer.
func (s *Sim) Requests(venue string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.byName[venue]; v != nil {
		return append([]Request(nil), v.reqs...)
	}
	return nil
}

// RetryAfterViolations returns the requests that reached the venue while a
// wait it had announced was still running: every request that arrived
// before At + RetryAfter of an earlier refused request (the last 65536
// requests). A client that obeys Retry-After (and Binance's WebSocket API
// retryAfter, and Bybit's reset timestamp) never appears here; the 418
// bans of Binance come from exactly such requests.
func (s *Sim) RetryAfterViolations(venue string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.byName[venue]
	if v == nil {
		return nil
	}
	var out []Request
	var until time.Time
	for _, r := range v.reqs {
		if r.At.Before(until) {
			out = append(out, r)
		}
		if r.Limited && r.RetryAfter > 0 && r.At.Add(r.RetryAfter).After(until) {
			until = r.At.Add(r.RetryAfter)
		}
	}
	return out
}

// limitState is FaultRateLimit's condition on a venue: refusals still to
// give, and the window of the last one, during which every request is
// refused too (Binance: escalated to a ban).
type limitState struct {
	left        int
	status      int
	retryAfter  time.Duration
	ban         time.Duration
	until       time.Time // refused before this
	untilStatus int       // answered while refused (429, 418, 403)
}

// admit applies FaultRateLimit to a request arriving now (caller holds
// Sim.mu): whether it is refused, with which status and for how long.
func (v *venue) admit(now time.Time) (refused bool, status int, retry time.Duration) {
	rl := &v.rl
	if rl.left > 0 {
		rl.left--
		rl.until = now.Add(rl.retryAfter)
		rl.untilStatus = rl.status
		return true, rl.status, rl.retryAfter
	}
	if now.Before(rl.until) {
		if v.cfg.Kind == KindBinance && rl.untilStatus != 418 {
			// A request inside a Retry-After: the client did not back off,
			// which Binance answers with an automated IP ban.
			ban := rl.ban
			if ban <= 0 {
				ban = 2 * time.Minute // the documented shortest ban
			}
			rl.untilStatus = 418
			rl.until = now.Add(ban)
			v.record(FaultRateLimit, "", 0, now, "ignored Retry-After: banned (HTTP 418) for "+ban.String())
		}
		return true, rl.untilStatus, rl.until.Sub(now)
	}
	return false, 0, 0
}

// retrySeconds is a Retry-After value: whole seconds, rounded up.
func retrySeconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// orderFaults are the armed order and acknowledgement faults of a venue.
type orderFaults struct {
	reject  int            // next orders refused
	partial []partialFault // next orders filled in part, in arming order
	ack     []ackFault     // next orders' answers delayed or lost
	drop    int            // next orders cut the private streams first
}

type partialFault struct {
	frac *big.Rat
	left int
}

// ackFault is FaultDelayAck or FaultLoseAck as applied to one answer.
type ackFault struct {
	kind  FaultKind // 0: none
	delay time.Duration
	left  int
}

// takePartial returns the quantity cap of a partial-fill fault for ord, or
// -1 (caller holds Sim.mu).
func (v *venue) takePartial(ord *order, now time.Time) int64 {
	if len(v.ofx.partial) == 0 {
		return -1
	}
	p := &v.ofx.partial[0]
	q := new(big.Rat).Mul(new(big.Rat).SetInt64(ord.qty), p.frac)
	capQty := new(big.Int).Quo(q.Num(), q.Denom()).Int64()
	capQty -= capQty % ord.vb.sym.step
	if p.left--; p.left == 0 {
		v.ofx.partial = v.ofx.partial[1:]
	}
	v.record(FaultPartialFill, ord.vb.sym.cfg.Symbol, ord.vb.seq, now,
		"order "+ord.id+" ("+ord.clientID+") capped at "+strconv.FormatInt(capQty, 10))
	return capQty
}

// takeAckFault returns the acknowledgement fault for ord's answer, if one
// is armed (caller holds Sim.mu).
func (v *venue) takeAckFault(ord *order, now time.Time) ackFault {
	if len(v.ofx.ack) == 0 {
		return ackFault{}
	}
	a := v.ofx.ack[0]
	if v.ofx.ack[0].left--; v.ofx.ack[0].left == 0 {
		v.ofx.ack = v.ofx.ack[1:]
	}
	v.record(a.kind, ord.vb.sym.cfg.Symbol, ord.vb.seq, now, "order "+ord.id+" ("+ord.clientID+")")
	return a
}

// dropOnOrder cuts the private streams if FaultStreamDrop waits for an
// order (caller holds Sim.mu).
func (v *venue) dropOnOrder(now time.Time) {
	if v.ofx.drop == 0 {
		return
	}
	v.ofx.drop--
	n := v.dropPrivate()
	v.record(FaultStreamDrop, "", 0, now, "at an order: "+strconv.Itoa(n)+" connections")
}

// capture is the ResponseWriter REST handlers write into: the answer is
// held until the handler returns, so the venue wrapper can add headers that
// depend on the outcome, log it, and apply an acknowledgement fault.
type capture struct {
	hdr    http.Header
	status int
	body   bytes.Buffer
	ack    ackFault
}

func newCapture() *capture { return &capture{hdr: http.Header{}} }

// Header returns the answer's headers (http.ResponseWriter).
func (c *capture) Header() http.Header { return c.hdr }

// Write appends to the answer's body (http.ResponseWriter).
func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = 200
	}
	return c.body.Write(b)
}

// WriteHeader sets the answer's status once (http.ResponseWriter).
func (c *capture) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

// setAck attaches an acknowledgement fault to the answer being written.
func setAck(w http.ResponseWriter, a ackFault) {
	if c, ok := w.(*capture); ok && a.kind != 0 {
		c.ack = a
	}
}

// restHandler is a REST endpoint of a venue: it reads the request and
// writes its answer into w (a *capture).
type restHandler func(w http.ResponseWriter, r *http.Request, now time.Time)

// restRoute wraps one REST endpoint: the request is logged on arrival,
// FaultRateLimit and the venue's own limits are applied, the handler runs,
// the venue's usage headers are added (limits.after), the answer's status is
// logged, and an acknowledgement fault is applied: delayed (the answer is
// written Duration later) or lost (the connection is closed without an
// answer).
func (v *venue) restRoute(endpoint string, lim restLimits, h restHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := v.s
		now := s.now()
		// The body is read here (at most 64 KiB) so that a venue's limits
		// can see what it names (OKX limits orders per instrument); the
		// handler reads it again.
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		n := v.logRequest(now, "rest", endpoint)
		refused, status, retry := v.admit(now)
		if !refused && lim.before != nil {
			refused, status, retry = lim.before(r, body, now)
		}
		s.mu.Unlock()
		c := newCapture()
		if refused {
			v.limitedAnswer(c, status, retry, now)
		} else {
			h(c, r, now)
		}
		if c.status == 0 {
			c.status = 200
		}
		s.mu.Lock()
		if lim.after != nil {
			lim.after(r, c, now)
		}
		logged := c.status
		if c.ack.kind == FaultLoseAck {
			logged = 0
		}
		v.finishRequest(n, logged, refused, retry)
		s.mu.Unlock()
		switch c.ack.kind {
		case FaultLoseAck:
			// The order is done; its answer is never written and the
			// connection is closed, as a reset after the write would.
			panic(http.ErrAbortHandler)
		case FaultDelayAck:
			t := time.NewTimer(c.ack.delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		for k, vs := range c.hdr {
			w.Header()[k] = vs
		}
		w.WriteHeader(c.status)
		w.Write(c.body.Bytes())
	}
}

// restLimits are a venue's own rate-limit rules for one endpoint: before
// may refuse a request on arrival (caller holds Sim.mu), after adds the
// usage headers to the answer (caller holds Sim.mu).
type restLimits struct {
	before func(r *http.Request, body []byte, now time.Time) (refused bool, status int, retry time.Duration)
	after  func(r *http.Request, c *capture, now time.Time)
}

// limitedAnswer writes the venue's rate-limit refusal.
func (v *venue) limitedAnswer(w http.ResponseWriter, status int, retry time.Duration, now time.Time) {
	switch v.cfg.Kind {
	case KindBinance:
		w.Header().Set("Retry-After", retrySeconds(retry))
		if status == 418 {
			binanceError(w, 418, -1003, "Way too much request weight used; IP banned until "+
				strconv.FormatInt(now.Add(retry).UnixMilli(), 10)+". Please use WebSocket Streams for live updates to avoid bans.")
			return
		}
		binanceError(w, 429, -1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")
	case KindOKX:
		// OKX documents no Retry-After: the client backs off by itself.
		writeJSON(w, 429, okxResp{Code: "50011", Msg: "Rate limit reached. Please refer to API documentation and throttle requests accordingly.", Data: []any{}})
	case KindBybit:
		if status == 403 { // the IP limit: a bare 403, no JSON
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(403)
			w.Write([]byte("access too frequent"))
			return
		}
		w.Header().Set("X-Bapi-Limit", "20")
		w.Header().Set("X-Bapi-Limit-Status", "0")
		w.Header().Set("X-Bapi-Limit-Reset-Timestamp", strconv.FormatInt(now.Add(retry).UnixMilli(), 10))
		bybitWrite(w, now, 10006, "Too many visits!", nil)
	}
}

// window counts requests in fixed windows (a venue's documented limits).
type window struct {
	start time.Time
	n     int
}

// hit counts one request at now in a window of length d and returns the
// count and the window's end.
func (w *window) hit(now time.Time, d time.Duration) (int, time.Time) {
	start := now.Truncate(d)
	if !w.start.Equal(start) {
		w.start, w.n = start, 0
	}
	w.n++
	return w.n, start.Add(d)
}

// peek returns the count of the window containing now without counting.
func (w *window) peek(now time.Time, d time.Duration) (int, time.Time) {
	start := now.Truncate(d)
	if !w.start.Equal(start) {
		return 0, start.Add(d)
	}
	return w.n, start.Add(d)
}
