package bybit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/internal/gate"
	"arb/exchange/internal/jsonscan"
)

// Client is the Bybit v5 spot trading client: signed REST order entry and
// lookups, WebSocket order entry (order.create on /v5/trade), the private
// order and execution stream, balances, admission control against Bybit's
// documented rate limits, and a circuit that stops order placement after a
// ban, repeated failures or a broken invariant.
//
// Lifecycle: NewClient validates the configuration; Start measures the
// server-time offset, opens the keep-alive REST connection and, unless
// OrderEntry is "rest", starts the trade socket; RunPrivate (optional, in
// its own goroutine) keeps the private stream and delivers events; Close
// stops what Start started. The role methods work before Start (on the
// local clock, over REST) and after Close (over REST).
//
// Goroutine safety: every exported method is safe for concurrent use.
// Order requests use one of MaxInFlight preallocated slots each; a call
// waits (bounded by its ctx) when all are busy.
type Client struct {
	cfg   ClientConfig
	insts *instruments
	rwMs  int64
	rwStr string

	gate   *gate.Gate
	offset atomic.Int64 // server clock − local clock, ns, a lower bound (never ahead)
	synced atomic.Int64 // local time of the last successful offset measurement
	syncMu sync.Mutex

	slots chan *orderSlot
	all   []*orderSlot
	wsReq [8]byte // reqId prefix of this client's WS orders

	mu sync.Mutex // guards tr
	tr *tracker

	deliverMu sync.Mutex // serializes sink calls; guards stream
	sink      atomic.Pointer[sinkBox]
	stream    streamState
	streamUp  atomic.Bool
	lastFill  atomic.Int64 // newest fill execution time delivered, Unix ns

	halted atomic.Pointer[haltInfo]
	trade  *tradeSocket // set by Start (before tradeOn), then read-only
	// tradeOn is set once the trade socket exists, so PlaceOrder may run
	// concurrently with Start.
	tradeOn atomic.Bool

	stats TradeStats
	logMu sync.Mutex // guards log and the error-line window
	log   feed.LogLimiter

	errWindow int64 // start of the error-line window, Unix ns
	errLines  int
	errHeld   int

	startOnce sync.Once
	lifeMu    sync.Mutex // guards cancel
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	private   atomic.Bool
}

type sinkBox struct{ s exchange.PrivateSink }

// newJitter returns a reconnect-jitter source for a goroutine of its own
// (rand.Rand is not safe for concurrent use; cfg.Rand belongs to the
// supervisor loops).
func newJitter(seed int64) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), 0x7ecb)) }

type haltInfo struct {
	reason string
	at     int64
}

// Compile-time checks of the roles this client plays.
var (
	_ exchange.Trader          = (*Client)(nil)
	_ exchange.Reconciler      = (*Client)(nil)
	_ exchange.Accounts        = (*Client)(nil)
	_ exchange.PrivateStream   = (*Client)(nil)
	_ exchange.CircuitReporter = (*Client)(nil)
)

// TradeStats counts what the client did; every field is safe to read from
// any goroutine (metrics export them with venue labels).
type TradeStats struct {
	OrdersREST, OrdersWS atomic.Uint64 // order requests written, by path
	Acks                 atomic.Uint64 // orders the venue acknowledged
	Rejected             atomic.Uint64 // orders refused (by the venue or before sending)
	UnknownOutcome       atomic.Uint64 // order requests whose outcome is unknown
	Duplicates           atomic.Uint64 // refused as a known client id (venue or client)
	RateLimited          atomic.Uint64 // requests refused by the gate or the venue's limits
	TimeSyncs            atomic.Uint64 // server-time measurements
	TimestampErrors      atomic.Uint64 // 10002 answers (offset re-measured)
	PrivateConnects      atomic.Uint64 // private stream (re)connections subscribed
	TradeConnects        atomic.Uint64 // trade socket (re)connections authenticated
	Reconciliations      atomic.Uint64 // REST reconciliations completed
	Polls                atomic.Uint64 // in-flight orders queried by client id
	OrdersDelivered      atomic.Uint64 // OrderState events handed to the sink
	FillsDelivered       atomic.Uint64 // Fill events handed to the sink
	FillsRepeated        atomic.Uint64 // fills of tracked orders reported again, not re-delivered
	BadFrames            atomic.Uint64 // private or trade frames that could not be read
	Skipped              atomic.Uint64 // items of other symbols, categories or exec types
	BrokenInvariants     atomic.Uint64 // fills/orders not representable in the instrument's scale
	FeeAssetInferred     atomic.Uint64 // fills without feeCurrency (asset inferred)
	LateReplies          atomic.Uint64 // WS order replies after their request gave up
}

// Budgets of the gate, by index (docs/v5/rate-limit/rate-limit.mdx:
// "600 requests within a 5-second window per IP"; per UID and endpoint,
// spot: order/create 20/s, order/cancel 20/s, order/realtime,
// order/history, execution/list and wallet-balance 50/s).
const (
	budgetIP = iota
	budgetCreate
	budgetCancel
	budgetRealtime
	budgetHistory
	budgetExecution
	budgetWallet
	numBudgets
)

var bybitBudgets = [numBudgets]gate.Budget{
	{Name: "IP", Limit: 600, Window: 5 * time.Second},
	{Name: "order/create", Limit: 20, Window: time.Second},
	{Name: "order/cancel", Limit: 20, Window: time.Second},
	{Name: "order/realtime", Limit: 50, Window: time.Second},
	{Name: "order/history", Limit: 50, Window: time.Second},
	{Name: "execution/list", Limit: 50, Window: time.Second},
	{Name: "wallet-balance", Limit: 50, Window: time.Second},
}

// endpoint names a REST endpoint; it selects the gate budget besides the
// IP budget (none for market/time).
type endpoint int

const (
	epTime      endpoint = -1
	epCreate    endpoint = budgetCreate
	epCancel    endpoint = budgetCancel
	epRealtime  endpoint = budgetRealtime
	epHistory   endpoint = budgetHistory
	epExecution endpoint = budgetExecution
	epWallet    endpoint = budgetWallet
)

// Ban and block lengths where the venue gives none.
const (
	ipBanWait      = 10 * time.Minute // HTTP 403: "wait for at least 10 minutes"
	defaultBanWait = 2 * time.Minute  // HTTP 418 without Retry-After
	defaultLimWait = time.Second      // 10006 / HTTP 429 without a reset time (limits are per second)
)

// maxSlots caps MaxInFlight (reqId carries the slot in 3 digits).
const maxSlots = 256

// NewClient validates cfg and returns a client. It does no I/O.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.ReconcileFrom == 0 {
		cfg.ReconcileFrom = cfg.Now()
	}
	c := &Client{
		cfg:   cfg,
		insts: newInstruments(append([]exchange.Instrument(nil), cfg.Instruments...)),
		rwMs:  int64(cfg.RecvWindow / time.Millisecond),
		tr:    newTracker(cfg.TrackedOrders),
		gate: gate.New(gate.Config{
			Budgets:   bybitBudgets[:],
			Threshold: cfg.BreakerThreshold,
			Cooldown:  cfg.BreakerCooldown,
			Headroom:  cfg.Headroom,
		}),
		slots: make(chan *orderSlot, cfg.MaxInFlight),
	}
	c.rwStr = strconv.FormatInt(c.rwMs, 10)
	c.log = feed.LogLimiter{Logger: cfg.Logger}
	// A per-client reqId prefix, so replies meant for another client of the
	// same key (or a previous process) are never matched to our requests.
	pfx := strconv.AppendInt(nil, cfg.Now()%2176782336, 36) // 36^6
	for len(pfx) < 6 {
		pfx = append([]byte{'0'}, pfx...)
	}
	copy(c.wsReq[:], append(pfx, 'x', byte('a'+int(cfg.Venue)%26)))
	for i := 0; i < cfg.MaxInFlight; i++ {
		s := c.newSlot(i)
		c.all = append(c.all, s)
		c.slots <- s
	}
	return c, nil
}

// Config returns the effective configuration (defaults applied).
func (c *Client) Config() ClientConfig { return c.cfg }

// Stats returns the client's counters.
func (c *Client) Stats() *TradeStats { return &c.stats }

// Start measures the server-time offset (which also opens the keep-alive
// REST connection), then starts the background work: the periodic
// re-measurement that keeps that connection warm and, unless OrderEntry
// is "rest", the WebSocket trade connection. It returns the first
// measurement's error, with the background work started regardless (it
// retries). The background work stops with Close or when ctx ends.
func (c *Client) Start(ctx context.Context) error {
	var err error
	c.startOnce.Do(func() {
		bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c.lifeMu.Lock()
		c.cancel = cancel
		c.lifeMu.Unlock()
		go func() {
			select {
			case <-ctx.Done():
				cancel()
			case <-bctx.Done():
			}
		}()
		err = c.SyncTime(ctx)
		if c.cfg.TimeSyncEvery > 0 {
			c.wg.Add(1)
			go c.syncLoop(bctx)
		}
		if c.cfg.OrderEntry != OrderEntryREST {
			c.trade = newTradeSocket(c)
			c.tradeOn.Store(true)
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.trade.run(bctx)
			}()
		}
	})
	return err
}

// Close stops the background work Start started and waits for it. The
// client remains usable over REST.
func (c *Client) Close() error {
	c.lifeMu.Lock()
	cancel := c.cancel
	c.lifeMu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.wg.Wait()
	return nil
}

func (c *Client) syncLoop(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.TimeSyncEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.SyncTime(ctx); err != nil && ctx.Err() == nil {
			c.warn("bybit: server time", slog.String("err", err.Error()))
		}
	}
}

// RateLimits reports the venue's request budgets as this client spends
// them (exchange.RateLimitReporter).
func (c *Client) RateLimits() []exchange.RateLimit {
	return c.gate.RateLimits(time.Unix(0, c.cfg.Now()))
}

// Circuit reports whether the venue may be used: open after a ban (HTTP
// 403/418), while a Retry-After or reset time is in force, after
// BreakerThreshold consecutive failures, or — until Resume — after a
// broken invariant (Until 0: an operator must look).
func (c *Client) Circuit() exchange.Circuit {
	if h := c.halted.Load(); h != nil {
		return exchange.Circuit{Open: true, Reason: h.reason}
	}
	now := c.cfg.Now()
	s := c.gate.State(time.Unix(0, now))
	switch {
	case s.Open:
		return exchange.Circuit{Open: true, Until: s.OpenUntil.UnixNano(), Reason: s.OpenReason}
	case !s.BlockedUntil.IsZero():
		return exchange.Circuit{Open: true, Until: s.BlockedUntil.UnixNano(), Reason: s.BlockReason}
	}
	return exchange.Circuit{}
}

// Resume closes a circuit opened by a broken invariant, after an operator
// has looked. Bans and rate-limit waits end by themselves.
func (c *Client) Resume() {
	if h := c.halted.Swap(nil); h != nil {
		c.cfg.Logger.Warn("bybit: trading resumed by operator", slog.String("venue", c.cfg.Name), slog.String("was", h.reason))
	}
}

// halt opens the circuit for a broken invariant: orders are refused until
// Resume. Cancels and lookups keep working.
func (c *Client) halt(reason string) {
	c.stats.BrokenInvariants.Add(1)
	h := &haltInfo{reason: reason, at: c.cfg.Now()}
	if c.halted.CompareAndSwap(nil, h) {
		c.cfg.Logger.Error("bybit: broken invariant, trading halted until an operator resumes it",
			slog.String("venue", c.cfg.Name), slog.String("reason", reason))
		return
	}
	c.errorLog("bybit: broken invariant (circuit already open)", slog.String("reason", reason))
}

// errorLog logs at error level, at most 10 lines a minute (a broken
// invariant seen on every push and every reconciliation would flood);
// the lines held back are counted in the next one.
func (c *Client) errorLog(msg string, attrs ...slog.Attr) {
	now := c.cfg.Now()
	c.logMu.Lock()
	if now-c.errWindow >= int64(time.Minute) {
		c.errWindow, c.errLines = now, 0
	}
	c.errLines++
	if c.errLines > 10 {
		c.errHeld++
		c.logMu.Unlock()
		return
	}
	if c.errHeld > 0 {
		attrs = append(attrs, slog.Int("suppressed", c.errHeld))
		c.errHeld = 0
	}
	c.logMu.Unlock()
	c.cfg.Logger.LogAttrs(context.Background(), slog.LevelError, msg, append(attrs, slog.String("venue", c.cfg.Name))...)
}

func (c *Client) warn(msg string, attrs ...slog.Attr) {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	c.log.Log(c.cfg.Now(), msg, append(attrs, slog.String("venue", c.cfg.Name))...)
}

// venueNowMs returns the venue's clock in ms as well as this client knows
// it, never ahead of it (the offset is a lower bound).
func (c *Client) venueNowMs() int64 {
	return (c.cfg.Now() + c.offset.Load()) / 1_000_000
}

// SyncTime measures the offset between the venue's clock and the local
// one with GET /v5/market/time. The venue read its clock at some instant
// between sending the request (t0) and receiving the answer (t1), so
// server − t1 is a lower bound of the offset: timestamps derived from it
// are at most one round trip behind the venue's clock and never ahead of
// it (Bybit refuses a timestamp ≥ server + 1000 ms and accepts one down to
// server − recv_window).
func (c *Client) SyncTime(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var buf []byte
	r, err := c.rest(ctx, &restCall{ep: epTime, method: http.MethodGet, path: "/v5/market/time"}, &buf)
	if err != nil {
		return err
	}
	t1 := r.t1
	var st serverTime
	var s jsonscan.Scanner
	if err := parseServerTime(&s, r.env.result, &st); err != nil {
		return &exchange.Error{Kind: exchange.KindUnknown, Venue: c.cfg.Name, Msg: "server time: malformed reply", Err: err}
	}
	var server int64
	switch {
	case len(st.nano) > 0:
		server, err = jsonscan.ParseInt(st.nano)
	case len(st.second) > 0:
		server, err = jsonscan.ParseInt(st.second)
		server *= 1e9
	case r.env.timeMs > 0:
		server = r.env.timeMs * 1e6
	default:
		err = errShape
	}
	if err != nil || server <= 0 {
		return &exchange.Error{Kind: exchange.KindUnknown, Venue: c.cfg.Name, Msg: "server time: no usable time", Err: err}
	}
	c.offset.Store(server - t1)
	c.synced.Store(t1)
	c.stats.TimeSyncs.Add(1)
	return nil
}

// resync re-measures the offset after a 10002 answer to a request sent at
// local time sentAt, unless a measurement finished after that (another
// caller already did it).
func (c *Client) resync(ctx context.Context, sentAt int64) error {
	c.stats.TimestampErrors.Add(1)
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	if c.synced.Load() > sentAt {
		return nil
	}
	return c.SyncTime(ctx)
}

// restCall describes one REST request.
type restCall struct {
	ep     endpoint
	method string
	path   string
	query  string // GET: the query string, signed as sent
	body   []byte // POST: the JSON body, signed as sent
	signed bool
	write  bool // it changes orders: an unanswered request has an unknown outcome
}

// restResult is a REST answer whose envelope was read.
type restResult struct {
	env    envelope
	header http.Header
	t1     int64 // local time the answer arrived
	sentTS int64 // the request's timestamp (venue clock, ms)
	sentAt int64 // local time the request was handed to the transport
}

// rest performs one REST request: admission through the gate, signing,
// the request, the answer read into *buf, usage headers observed, the
// envelope parsed and a retCode ≠ 0 classified. A 10002 (timestamp) answer
// re-measures the offset and sends the request once more: the venue
// refused it before doing anything, so the retry cannot double an order.
func (c *Client) rest(ctx context.Context, call *restCall, buf *[]byte) (restResult, error) {
	for attempt := 0; ; attempt++ {
		r, err := c.restOnce(ctx, call, buf)
		if err == nil || attempt > 0 || !call.signed || !isTimestampError(err) {
			return r, err
		}
		if serr := c.resync(ctx, r.sentAt); serr != nil {
			return r, err
		}
	}
}

func isTimestampError(err error) bool {
	var e *exchange.Error
	return errors.As(err, &e) && e.Code == "10002"
}

func (c *Client) restOnce(ctx context.Context, call *restCall, buf *[]byte) (restResult, error) {
	var r restResult
	if err := c.admit(call.ep); err != nil {
		return r, err
	}
	u := c.cfg.RESTURL + call.path
	if call.query != "" {
		u += "?" + call.query
	}
	var body io.Reader
	if call.method == http.MethodPost {
		body = bytes.NewReader(call.body)
	}
	req, err := http.NewRequestWithContext(ctx, call.method, u, body)
	if err != nil {
		return r, &exchange.Error{Kind: exchange.KindRejected, Venue: c.cfg.Name, Msg: "bad request", Err: err}
	}
	if call.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if call.signed {
		r.sentTS = c.venueNowMs()
		payload := call.body
		if call.method == http.MethodGet {
			payload = []byte(call.query)
		}
		g := newSigner(&c.cfg.Credentials, c.rwStr)
		h := req.Header
		h.Set(HeaderAPIKey, c.cfg.Credentials.key)
		h.Set(HeaderTimestamp, strconv.FormatInt(r.sentTS, 10))
		h.Set(HeaderRecvWindow, c.rwStr)
		h.Set(HeaderSign, string(g.sign(r.sentTS, payload)))
	}
	r.sentAt = c.cfg.Now()
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return r, c.transportError(call.write, err)
	}
	err = readBody(resp.Body, buf)
	resp.Body.Close()
	r.t1 = c.cfg.Now()
	r.header = resp.Header
	if err != nil {
		return r, c.transportError(call.write, err)
	}
	r.env, err = c.answer(call.ep, call.write, resp.StatusCode, resp.Header, *buf)
	return r, err
}

// admit takes the gate's budgets for one request to ep, or returns the
// refusal as a KindRateLimited error (nothing is sent).
func (c *Client) admit(ep endpoint) error {
	now := time.Unix(0, c.cfg.Now())
	var err error
	if ep < 0 {
		err = c.gate.Take(now, gate.Cost{Budget: budgetIP, Units: 1})
	} else {
		err = c.gate.Take(now, gate.Cost{Budget: budgetIP, Units: 1}, gate.Cost{Budget: int(ep), Units: 1})
	}
	return c.refusal(err)
}

// admitWS takes the order budget for a WS order (the trade socket does not
// count against the HTTP IP limit).
func (c *Client) admitWS() error {
	return c.refusal(c.gate.Take(time.Unix(0, c.cfg.Now()), gate.Cost{Budget: budgetCreate, Units: 1}))
}

func (c *Client) refusal(err error) error {
	if err == nil {
		return nil
	}
	c.stats.RateLimited.Add(1)
	var rf *gate.Refusal
	if errors.As(err, &rf) {
		return &exchange.Error{Kind: exchange.KindRateLimited, Venue: c.cfg.Name, Msg: "not sent: " + rf.Reason, RetryAfter: rf.Wait, Err: err}
	}
	return &exchange.Error{Kind: exchange.KindRateLimited, Venue: c.cfg.Name, Msg: "not sent", Err: err}
}

// readBody reads an answer into *buf (reused, grown as needed, capped).
func readBody(r io.Reader, buf *[]byte) error {
	b := (*buf)[:0]
	if cap(b) == 0 {
		b = make([]byte, 0, 4096)
	}
	for {
		if len(b) == cap(b) {
			if len(b) > maxBody {
				*buf = b
				return errTooLargeBody
			}
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			*buf = b
			return nil
		}
		if err != nil {
			*buf = b
			return err
		}
	}
}

var errTooLargeBody = errors.New("bybit: answer over 16 MiB")

// transportError classifies a failed exchange of bytes. A dial error means
// nothing was sent (retryable); anything else after the request was handed
// to the transport may have reached the venue: for an order-changing
// request the outcome is unknown and must be resolved by client id, never
// by resending blind.
func (c *Client) transportError(write bool, err error) error {
	c.gate.Result(time.Unix(0, c.cfg.Now()), false, "transport: "+err.Error())
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Msg: "not sent: dial failed", Err: err}
	}
	if write {
		c.stats.UnknownOutcome.Add(1)
		return &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name, Msg: "no answer after the request was sent", Err: err}
	}
	return &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Err: err}
}

// answer classifies an HTTP answer: status first (403/418 bans, 429, 401,
// 5XX), then the envelope's retCode. It observes the usage headers of
// every answer and feeds the breaker.
func (c *Client) answer(ep endpoint, write bool, status int, h http.Header, body []byte) (envelope, error) {
	now := c.cfg.Now()
	c.observe(ep, h, now)
	var env envelope
	var s jsonscan.Scanner
	perr := parseEnvelope(&s, body, &env)
	if status != http.StatusOK {
		msg := string(bytes.TrimSpace(body[:min(len(body), 200)]))
		if perr == nil {
			msg = string(env.retMsg)
		}
		e := &exchange.Error{Venue: c.cfg.Name, HTTPStatus: status, Msg: c.scrub(msg)}
		if perr == nil && env.retCode != 0 {
			e.Code = strconv.FormatInt(env.retCode, 10)
		}
		switch {
		case status == http.StatusForbidden:
			// "403, access too frequent": the IP limit. Bybit asks for at
			// least 10 minutes of silence: a ban that opens the circuit.
			e.Kind = exchange.KindRateLimited
			e.RetryAfter = max(ipBanWait, retryAfter(h, time.Unix(0, now)))
			c.block(now, e.RetryAfter, "HTTP 403 (IP rate limit or access denied)", true)
		case status == http.StatusTeapot:
			e.Kind = exchange.KindRateLimited
			e.RetryAfter = retryAfter(h, time.Unix(0, now))
			if e.RetryAfter <= 0 {
				e.RetryAfter = defaultBanWait
			}
			c.block(now, e.RetryAfter, "HTTP 418 (banned)", true)
		case status == http.StatusTooManyRequests:
			e.Kind = exchange.KindRateLimited
			e.RetryAfter = retryAfter(h, time.Unix(0, now))
			if e.RetryAfter <= 0 {
				e.RetryAfter = defaultLimWait
			}
			c.block(now, e.RetryAfter, "HTTP 429 (rate limited)", false)
		case status == http.StatusUnauthorized:
			e.Kind = exchange.KindAuth
		case status >= 500:
			c.gate.Result(time.Unix(0, now), false, fmt.Sprintf("HTTP %d", status))
			if write {
				c.stats.UnknownOutcome.Add(1)
				e.Kind = exchange.KindUnknownOutcome
			} else {
				e.Kind = exchange.KindRetryable
			}
			return env, e
		default:
			e.Kind = exchange.KindRejected
			if perr == nil && env.retCode != 0 {
				e.Kind = c.codeKind(env.retCode, write)
			}
		}
		if e.Kind == exchange.KindRateLimited {
			c.stats.RateLimited.Add(1)
		}
		c.gate.Result(time.Unix(0, now), true, "")
		return env, e
	}
	if perr != nil {
		c.gate.Result(time.Unix(0, now), false, "malformed answer")
		e := &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Msg: "malformed answer", Err: perr}
		if write {
			c.stats.UnknownOutcome.Add(1)
			e.Kind = exchange.KindUnknownOutcome
		}
		return env, e
	}
	if env.retCode == 0 {
		c.gate.Result(time.Unix(0, now), true, "")
		return env, nil
	}
	return env, c.codeError(env.retCode, env.retMsg, write, retryAfter(h, time.Unix(0, now)), now)
}

// codeError classifies a non-zero retCode (HTTP 200 or the trade socket)
// and applies its consequences: a rate-limit code blocks the venue until
// its reset time (retry, when the answer gave one), a server-side code
// feeds the breaker.
func (c *Client) codeError(code int64, msg []byte, write bool, retry time.Duration, now int64) *exchange.Error {
	e := &exchange.Error{Venue: c.cfg.Name, Code: strconv.FormatInt(code, 10), Msg: c.scrub(string(msg)), Kind: c.codeKind(code, write)}
	switch e.Kind {
	case exchange.KindRateLimited:
		c.stats.RateLimited.Add(1)
		e.RetryAfter = retry
		if e.RetryAfter <= 0 {
			e.RetryAfter = defaultLimWait
		}
		c.block(now, e.RetryAfter, "rate limited (retCode "+e.Code+")", false)
		c.gate.Result(time.Unix(0, now), true, "")
	case exchange.KindUnknownOutcome, exchange.KindRetryable:
		if code != 10002 {
			c.gate.Result(time.Unix(0, now), false, "retCode "+e.Code)
		}
		if e.Kind == exchange.KindUnknownOutcome {
			c.stats.UnknownOutcome.Add(1)
		}
		if code == 429 || code == 10429 {
			c.block(now, defaultLimWait, "server load (retCode "+e.Code+")", false)
		}
	default:
		c.gate.Result(time.Unix(0, now), true, "")
	}
	return e
}

// codeKind maps Bybit's retCodes (docs/v5/error.mdx; venue-docs
// bybit/errors_trading.json) to kinds. write says whether the request
// changes orders: for those, a server-side failure leaves the outcome
// unknown; for lookups it is merely retryable.
func (c *Client) codeKind(code int64, write bool) exchange.ErrorKind {
	switch code {
	case 10003, 10004, 10005, 10007, 10008, 10009, 10010, 10027, 33004, -2015:
		// invalid key, bad signature, permission, authentication failed,
		// banned user/IP, IP not bound, transactions banned, key expired
		return exchange.KindAuth
	case 10006, 10018, 170005, 170222, 10429, 10403, 20003:
		// too many visits (UID), IP rate limit, too many new orders, too
		// many requests, WS system-level protection, WS IP over 3000
		// req/s, WS session too frequent
		return exchange.KindRateLimited
	case 10002:
		// outside the recv window: refused before anything happened
		return exchange.KindRetryable
	case 110072, 170141:
		// OrderLinkedID is duplicate (UTA), Duplicate clientOrderId (spot)
		return exchange.KindDuplicate
	case 110001, 110008, 110010, 170139, 170142, 170143, 170190, 170213:
		// order does not exist / finished / already cancelled / filled /
		// cancelled / not on the book / cancel finished / does not exist
		return exchange.KindNotFound
	case 10000, 10016, 10019, 170007, 170146, 170147, 429, 170001, 170234, 10014:
		// server timeout, server error, WS trade restarting, backend
		// timeout, creation/cancellation timeout, high load, internal
		// error, system error, "invalid duplicate request": none says
		// whether the order reached the engine
		if write {
			return exchange.KindUnknownOutcome
		}
		return exchange.KindRetryable
	}
	return exchange.KindRejected
}

// scrub removes the API key from a venue message: Bybit's 10004 echoes
// the string it signed ("origin_string[<ts><api key>…]"), and venue
// messages end up in errors and logs.
func (c *Client) scrub(msg string) string {
	if k := c.cfg.Credentials.key; k != "" && strings.Contains(msg, k) {
		return strings.ReplaceAll(msg, k, redacted)
	}
	return msg
}

// block forbids requests for d (and opens the circuit for a ban).
func (c *Client) block(now int64, d time.Duration, reason string, ban bool) {
	c.gate.Block(time.Unix(0, now).Add(d), reason, ban)
	if ban {
		c.cfg.Logger.Error("bybit: venue banned this client; circuit open", slog.String("venue", c.cfg.Name),
			slog.String("reason", reason), slog.Duration("for", d))
	}
}

// observe raises the endpoint's budget to what the venue says is left:
// X-Bapi-Limit-Status is the remaining count for the endpoint in its
// current window, X-Bapi-Limit the venue's limit. Counting "ours minus
// what is left" keeps us under the venue whether its limit is above or
// below the documented one.
func (c *Client) observe(ep endpoint, h http.Header, now int64) {
	if ep < 0 || h == nil {
		return
	}
	st := h.Get("X-Bapi-Limit-Status")
	if st == "" {
		return
	}
	c.observeRemaining(ep, st, now)
}

func (c *Client) observeRemaining(ep endpoint, remaining string, now int64) {
	left, err := strconv.Atoi(remaining)
	if err != nil || left < 0 {
		return
	}
	limit := bybitBudgets[ep].Limit
	if left < limit {
		c.gate.Observe(time.Unix(0, now), int(ep), limit-left)
	}
}
