package binance

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"arb/exchange"
	"arb/exchange/internal/gate"
)

// opKind says what a request does, which decides what a failure means: an
// order placement or cancel whose answer is lost has an unknown outcome; a
// lost query is merely retryable.
type opKind uint8

const (
	opRead opKind = iota + 1
	opPlace
	opCancel
)

// restReply is one REST answer: status and body (in the request buffer).
type restReply struct {
	status int
	body   []byte
}

// send performs one signed REST request whose query string or form body
// b.body already holds (signature included): method POST and DELETE send
// it as a form body, GET as the query string. It obeys the gate (costs
// spent first), records the usage headers, and returns the 2XX body or a
// classified *exchange.Error. It never retries.
func (c *Client) send(ctx context.Context, b *reqBuf, method, u string, op opKind, costs ...gate.Cost) (restReply, error) {
	if err := c.admit(costs...); err != nil {
		return restReply{}, err
	}
	if ctx.Err() != nil {
		return restReply{}, &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Err: ctx.Err()}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	var req *http.Request
	var err error
	if method == http.MethodGet {
		if len(b.body) > 0 {
			u += "?" + string(b.body)
		}
		req, err = http.NewRequestWithContext(ctx, method, u, nil)
	} else {
		b.rd.Reset(b.body)
		req, err = http.NewRequestWithContext(ctx, method, u, &b.rd)
	}
	if err != nil {
		return restReply{}, &exchange.Error{Kind: exchange.KindRejected, Venue: c.cfg.Name, Err: err}
	}
	c.setHeaders(req, method != http.MethodGet)
	c.wrote(b)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return restReply{}, c.transportError(scrubURL(err), op)
	}
	body, rerr := readBody(resp.Body, b.resp[:0], c.cfg.MaxBody)
	resp.Body.Close()
	b.resp = body[:0]
	now := c.now()
	c.observeHeaders(now, resp.Header)
	if rerr != nil {
		// The status line arrived but the body did not: for an order
		// the venue has acted on it, so the outcome is unknown.
		c.gate.Result(now, false, "body read: "+rerr.Error())
		kind := exchange.KindRetryable
		if op != opRead && resp.StatusCode < 400 || op != opRead && resp.StatusCode >= 500 {
			kind = exchange.KindUnknownOutcome
			c.stats.UnknownOutcomes.Add(1)
		}
		return restReply{}, &exchange.Error{Kind: kind, Venue: c.cfg.Name, HTTPStatus: resp.StatusCode, Err: rerr}
	}
	if resp.StatusCode/100 == 2 {
		c.gate.Result(now, true, "")
		return restReply{status: resp.StatusCode, body: body}, nil
	}
	return restReply{}, c.classify(now, b, resp.StatusCode, headerValue(resp.Header, "Retry-After"), body, op)
}

// setHeaders sets X-MBX-APIKEY (and the form content type of a body). The
// header maps are built once and shared read-only by every request, which
// saves a map per request; net/http only writes to a request's Header when
// the client has a cookie jar, so with a jar each request gets its own.
func (c *Client) setHeaders(req *http.Request, form bool) {
	h := c.hdrGet
	if form {
		h = c.hdrForm
	}
	if c.cfg.HTTPClient.Jar != nil {
		h = h.Clone()
	}
	req.Header = h
}

// admit spends costs from the gate, or returns a KindRateLimited error
// carrying the wait (the circuit's reason when it is open).
func (c *Client) admit(costs ...gate.Cost) error {
	if err := c.gate.Take(c.now(), costs...); err != nil {
		var r *gate.Refusal
		if errors.As(err, &r) {
			return &exchange.Error{Kind: exchange.KindRateLimited, Venue: c.cfg.Name, Msg: r.Reason, RetryAfter: r.Wait, Err: err}
		}
		return &exchange.Error{Kind: exchange.KindRateLimited, Venue: c.cfg.Name, Err: err}
	}
	return nil
}

// transportError classifies a failed round trip. A request that provably
// never left (the dial failed) is retryable; any other failure of an
// order placement or cancel may have reached the venue: unknown outcome.
func (c *Client) transportError(err error, op opKind) error {
	now := c.now()
	c.gate.Result(now, false, "transport: "+err.Error())
	kind := exchange.KindRetryable
	if op != opRead && !neverSent(err) {
		kind = exchange.KindUnknownOutcome
		c.stats.UnknownOutcomes.Add(1)
	}
	return &exchange.Error{Kind: kind, Venue: c.cfg.Name, Err: err}
}

// scrubURL drops the query string from a *url.Error: a signed GET's URL
// carries the timestamp and signature, which must not reach a log.
func scrubURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u := ue.URL
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i] + "?…"
	}
	return &url.Error{Op: ue.Op, URL: u, Err: ue.Err}
}

// neverSent reports whether err proves the request never reached the
// venue: a failed dial or name resolution.
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// readBody reads r into dst (grown as needed) up to max bytes.
func readBody(r io.Reader, dst []byte, max int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			if len(dst) > max {
				return dst, errBodyTooLarge
			}
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			if len(dst) > max {
				return dst, errBodyTooLarge
			}
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

var errBodyTooLarge = errors.New("binance: response body over MaxBody")

// headerValue returns the first value of a header by its canonical key
// (no canonicalisation, so no allocation).
func headerValue(h http.Header, canonical string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// observeHeaders raises the gate's counts to what the venue reports:
// X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-10S and X-MBX-ORDER-COUNT-1D.
func (c *Client) observeHeaders(now time.Time, h http.Header) {
	if v, ok := atoiHeader(h, "X-Mbx-Used-Weight-1m"); ok {
		c.gate.Observe(now, bWeight, v)
	}
	if v, ok := atoiHeader(h, "X-Mbx-Order-Count-10s"); ok {
		c.gate.Observe(now, bOrders10s, v)
	}
	if v, ok := atoiHeader(h, "X-Mbx-Order-Count-1d"); ok {
		c.gate.Observe(now, bOrdersDay, v)
	}
}

func atoiHeader(h http.Header, k string) (int, bool) {
	v := headerValue(h, k)
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// observeWSLimits does the same with a WebSocket API response's rateLimits.
func (c *Client) observeWSLimits(now time.Time, r *wsResponse) {
	for i := 0; i < r.nLimits; i++ {
		o := &r.rateLimits[i]
		idx := -1
		switch {
		case string(o.typ) == "REQUEST_WEIGHT" && string(o.interval) == "MINUTE" && o.intervalNum == 1:
			idx = bWeight
		case string(o.typ) == "ORDERS" && string(o.interval) == "SECOND" && o.intervalNum == 10:
			idx = bOrders10s
		case string(o.typ) == "ORDERS" && string(o.interval) == "DAY" && o.intervalNum == 1:
			idx = bOrdersDay
		case string(o.typ) == "RAW_REQUESTS" && string(o.interval) == "MINUTE" && o.intervalNum == 5:
			idx = bRaw
		}
		if idx >= 0 && o.count >= 0 && o.count <= 1<<30 {
			c.gate.Observe(now, idx, int(o.count))
		}
	}
}

// Default waits when a 429 or 418 comes without Retry-After: Binance
// always sends one; these only keep a malformed answer from meaning "no
// wait". Binance's shortest ban is 2 minutes.
const (
	defaultRetryAfter429 = 10 * time.Second
	defaultRetryAfter418 = 2 * time.Minute
)

// classify turns an error answer into a *exchange.Error (see doc.go,
// "Errors"), blocking the gate on 429/418 and feeding the breaker.
func (c *Client) classify(now time.Time, b *reqBuf, status int, retryAfter string, body []byte, op opKind) *exchange.Error {
	e := &b.ae
	if !parseAPIError(&b.sc, body, e) {
		*e = apiError{}
	}
	var ra time.Duration
	if retryAfter != "" {
		ra = parseRetryAfter(retryAfter)
	}
	return c.classifyAPI(now, status, ra, e, body, op)
}

// classifyAPI is classify for an already parsed error (REST or WS API).
func (c *Client) classifyAPI(now time.Time, status int, ra time.Duration, e *apiError, raw []byte, op opKind) *exchange.Error {
	c.stats.VenueErrors.Add(1)
	out := &exchange.Error{Venue: c.cfg.Name, HTTPStatus: status}
	if e.hasCode {
		out.Code = strconv.FormatInt(e.code, 10)
		out.Msg = string(e.msg)
	} else if len(raw) > 0 {
		out.Msg = excerpt(raw)
	}
	if ra == 0 && e.retryAfter > 0 {
		if d := time.Duration(e.retryAfter*1e6 - now.UnixNano()); d > 0 {
			ra = min(d, maxRetryAfter)
		}
	}
	code := e.code
	msg := string(e.msg)
	unknown := exchange.KindUnknownOutcome
	if op == opRead {
		unknown = exchange.KindRetryable
	}
	switch {
	case status == http.StatusTeapot:
		if ra == 0 {
			ra = defaultRetryAfter418
		}
		out.Kind, out.RetryAfter = exchange.KindRateLimited, ra
		c.stats.RateLimited.Add(1)
		c.gate.Block(now.Add(ra), "HTTP 418 IP ban: "+out.Msg, true)
		return out
	case status == http.StatusTooManyRequests || code == -1003 || code == -1015:
		if ra == 0 {
			ra = defaultRetryAfter429
		}
		out.Kind, out.RetryAfter = exchange.KindRateLimited, ra
		c.stats.RateLimited.Add(1)
		c.gate.Block(now.Add(ra), "HTTP 429 rate limit: "+out.Msg, false)
		return out
	case code == -1006 || code == -1007 || status >= 500 || status == http.StatusConflict:
		out.Kind = unknown
		if op != opRead && code != -1008 {
			c.stats.UnknownOutcomes.Add(1)
		}
		if code == -1008 { // SERVER_BUSY: refused before processing
			out.Kind = exchange.KindRetryable
		}
		c.gate.Result(now, false, out.Error())
		return out
	case code == -1001:
		// DISCONNECTED "Internal error; unable to process your request":
		// not documented as reaching or not reaching the engine, so an
		// order is treated as unknown (the cost is one query).
		out.Kind = unknown
		if op != opRead {
			c.stats.UnknownOutcomes.Add(1)
		}
		c.gate.Result(now, false, out.Error())
		return out
	case status == http.StatusUnauthorized || code == -1002 || code == -1022 || code == -2014 || code == -2015:
		out.Kind = exchange.KindAuth
	case code == -1021:
		out.Kind = exchange.KindRetryable
	case code == -2010 && msg == "Duplicate order sent.":
		out.Kind = exchange.KindDuplicate
	case code == -2011 && msg == "Unknown order sent.", code == -2013, code == -2026:
		out.Kind = exchange.KindNotFound
	case code == -1008:
		out.Kind = exchange.KindRetryable
	case status == http.StatusForbidden:
		// WAF block: the request was refused; repeated ones open the
		// circuit through the breaker.
		out.Kind = exchange.KindRejected
		c.gate.Result(now, false, out.Error())
		return out
	case status >= 400:
		out.Kind = exchange.KindRejected
	default:
		out.Kind = exchange.KindUnknown
	}
	c.gate.Result(now, true, "") // the venue answered sensibly
	return out
}
