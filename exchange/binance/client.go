package binance

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/exchange/internal/gate"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/internal/wsx"
)

// Compile-time checks: the roles the trading client offers.
var (
	_ exchange.Trader          = (*Client)(nil)
	_ exchange.Reconciler      = (*Client)(nil)
	_ exchange.Accounts        = (*Client)(nil)
	_ exchange.PrivateStream   = (*Client)(nil)
	_ exchange.CircuitReporter = (*Client)(nil)
)

// Budget indexes in the gate (see budgets).
const (
	bWeight = iota
	bOrders10s
	bOrdersDay
	bRaw
)

// TradeStats are the trading client's counters, safe to read from any
// goroutine (the wiring exports them as metrics). The struct must not be
// copied.
type TradeStats struct {
	OrdersREST, OrdersWS atomic.Uint64 // orders sent, by path
	Refused              atomic.Uint64 // orders refused before sending: filters, client id, circuit, budget
	VenueErrors          atomic.Uint64 // classified error answers (any request)
	UnknownOutcomes      atomic.Uint64 // requests whose outcome is unknown (never resubmitted)
	RateLimited          atomic.Uint64 // HTTP 429/418 (or WS status) answers
	TimeResyncs          atomic.Uint64 // server-time measurements after the first
	BadReplies           atomic.Uint64 // replies and pushes refused as malformed (logged, rate-limited)
	BrokenInvariants     atomic.Uint64 // fills or states that do not fit the instrument's scale: circuit opened
	StreamConnects       atomic.Uint64 // private-stream subscriptions confirmed
	StreamDrops          atomic.Uint64
	Events               atomic.Uint64 // private-stream events handled
	Polls                atomic.Uint64 // order queries by the poller
	Reconciliations      atomic.Uint64 // completed REST reconciliations
	FillsDelivered       atomic.Uint64 // fills handed to the sink
	FillsSuppressed      atomic.Uint64 // fills already delivered once, not repeated
	WSConnects           atomic.Uint64 // order-entry connections established
}

// tradeInst is one configured instrument (a type of its own so per-
// instrument trading state can join it without touching exchange).
type tradeInst struct {
	exchange.Instrument
}

// sinkBox holds the sink RunPrivate was given (atomic.Pointer needs a
// concrete type).
type sinkBox struct{ s exchange.PrivateSink }

// halt is a broken invariant that stopped trading.
type halt struct {
	reason string
	at     int64
}

// Client is a Binance spot trading client for one account: signed REST
// (orders, queries, reconciliation, balances), WebSocket API order entry
// (order.place) and the private stream (userDataStream.subscribe on the
// WebSocket API), under the venue's rate limits (see doc.go, "Trading").
//
// Every method is safe for concurrent use. Lifecycle: NewClient; then run Run(ctx)
// (server time, the order-entry socket, keep-alive) and RunPrivate(ctx,
// sink) (private stream, reconciliation, polling) each in its own
// goroutine; both return when ctx ends. Trader and Reconciler methods work
// without them (REST only, measuring the server time on first use).
type Client struct {
	cfg      ClientConfig
	rest     string // REST base without trailing '/' or '/api'
	orderURL string // POST/DELETE/GET /api/v3/order
	insts    []tradeInst
	byID     [exchange.MaxInstruments]int16 // InstrumentID → index+1
	bySym    map[string]int                 // Binance symbol → index
	gate     *gate.Gate
	stats    TradeStats
	bufs     sync.Pool // *reqBuf
	log      logLimit

	offset atomic.Int64 // server clock − local clock, lower bound, ns
	synced atomic.Bool
	syncMu sync.Mutex

	apiKeyHdr []string    // X-MBX-APIKEY value
	hdrGet    http.Header // request headers, shared read-only (see setHeaders)
	hdrForm   http.Header

	// Jitter sources, one per goroutine that backs off (math/rand's Rand
	// is not safe for concurrent use).
	rngRun, rngOrder, rngPriv, rngRecon *rand.Rand

	halted      atomic.Pointer[halt]
	sink        atomic.Pointer[sinkBox]
	privRunning atomic.Bool
	track       tracker
	ws          wsEntry
}

// NewClient returns a trading client for cfg; it does no I/O.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := cfg.withDefaults()
	c := &Client{cfg: d, bySym: make(map[string]int, len(d.Instruments))}
	c.apiKeyHdr = []string{d.Credentials.apiKey}
	c.hdrGet = http.Header{"X-Mbx-Apikey": c.apiKeyHdr}
	c.hdrForm = http.Header{"X-Mbx-Apikey": c.apiKeyHdr, "Content-Type": {"application/x-www-form-urlencoded"}}
	c.rest = strings.TrimSuffix(strings.TrimRight(d.RESTURL, "/"), "/api")
	c.orderURL = c.rest + "/api/v3/order"
	for i, in := range d.Instruments {
		c.insts = append(c.insts, tradeInst{Instrument: in})
		c.byID[in.ID] = int16(i + 1)
		c.bySym[in.Symbol] = i
	}
	c.gate = gate.New(gate.Config{
		Budgets: []gate.Budget{
			bWeight:    {Name: "REQUEST_WEIGHT", Limit: d.WeightPerMinute, Window: time.Minute},
			bOrders10s: {Name: "ORDERS (10s)", Limit: d.OrdersPer10s, Window: 10 * time.Second},
			bOrdersDay: {Name: "ORDERS (1d)", Limit: d.OrdersPerDay, Window: 24 * time.Hour},
			bRaw:       {Name: "RAW_REQUESTS", Limit: d.RawPer5m, Window: 5 * time.Minute},
		},
		Threshold: d.BreakerThreshold,
		Cooldown:  d.BreakerCooldown,
		Headroom:  d.Headroom,
	})
	c.log = logLimit{l: d.Logger, every: int64(time.Second), burst: 5}
	c.track.init(d.MaxTracked)
	c.bufs.New = func() any { return c.newReqBuf() }
	c.ws.init()
	seed := d.Rand.Uint64()
	c.rngRun = rand.New(rand.NewPCG(seed, 1))
	c.rngOrder = rand.New(rand.NewPCG(seed, 2))
	c.rngPriv = rand.New(rand.NewPCG(seed, 3))
	c.rngRecon = rand.New(rand.NewPCG(seed, 4))
	if d.ReconcileFrom == 0 {
		c.cfg.ReconcileFrom = d.Now() - int64(24*time.Hour)
	}
	return c, nil
}

// Run measures the server-time offset (retrying with backoff until it
// succeeds), keeps the order-entry socket open (unless OrderEntry is
// rest) and re-measures the offset every ResyncEvery, which also keeps a
// REST keep-alive connection warm. It returns ctx's error when ctx ends.
func (c *Client) Run(ctx context.Context) error {
	bo := wsx.Backoff{Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax, Rand: c.rngRun}
	for !c.synced.Load() {
		err := c.syncTime(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.warn(c.cfg.Now(), "binance: server time: measuring failed", slog.String("venue", c.cfg.Name), slog.String("error", err.Error()))
		if wsx.Sleep(ctx, bo.Next()) != nil {
			return ctx.Err()
		}
	}
	var wg sync.WaitGroup
	if c.cfg.OrderEntry != OrderEntryREST {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.runOrderEntry(ctx, c.rngOrder)
		}()
	}
	t := time.NewTicker(c.cfg.ResyncEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case <-t.C:
			if err := c.syncTime(ctx); err != nil && ctx.Err() == nil {
				c.log.warn(c.cfg.Now(), "binance: server time: re-measuring failed", slog.String("venue", c.cfg.Name), slog.String("error", err.Error()))
			}
		}
	}
}

// Stats returns the client's counters.
func (c *Client) Stats() *TradeStats { return &c.stats }

// inst returns the configured instrument with id, or nil.
func (c *Client) inst(id exchange.InstrumentID) *tradeInst {
	if int(id) >= len(c.byID) {
		return nil
	}
	if i := c.byID[id]; i > 0 {
		return &c.insts[i-1]
	}
	return nil
}

// instBySym returns the instrument named by a Binance symbol (no
// allocation: the map lookup converts without copying).
func (c *Client) instBySym(sym []byte) *tradeInst {
	if i, ok := c.bySym[string(sym)]; ok {
		return &c.insts[i]
	}
	return nil
}

func (c *Client) now() time.Time { return time.Unix(0, c.cfg.Now()) }

// RateLimits reports the venue's request budgets as this client spends
// them (exchange.RateLimitReporter).
func (c *Client) RateLimits() []exchange.RateLimit { return c.gate.RateLimits(c.now()) }

// Circuit reports whether the venue may be used: closed, or open after a
// broken invariant (until an operator restarts the client), a ban (HTTP
// 418), a Retry-After, or BreakerThreshold failures in a row.
func (c *Client) Circuit() exchange.Circuit {
	if h := c.halted.Load(); h != nil {
		return exchange.Circuit{Open: true, Reason: h.reason}
	}
	st := c.gate.State(c.now())
	switch {
	case st.Open:
		return exchange.Circuit{Open: true, Until: st.OpenUntil.UnixNano(), Reason: st.OpenReason}
	case !st.BlockedUntil.IsZero():
		return exchange.Circuit{Open: true, Until: st.BlockedUntil.UnixNano(), Reason: st.BlockReason}
	}
	return exchange.Circuit{}
}

// breakInvariant stops trading: a value the venue reported cannot be
// represented exactly, so positions and the ledger can no longer be
// trusted to match the venue. It logs at error level, counts, and opens
// the circuit until the client is rebuilt (an operator looks first).
func (c *Client) breakInvariant(what string, raw []byte) {
	c.stats.BrokenInvariants.Add(1)
	reason := "broken invariant: " + what
	if c.halted.CompareAndSwap(nil, &halt{reason: reason, at: c.cfg.Now()}) {
		c.cfg.Logger.Error("binance: trading halted", slog.String("venue", c.cfg.Name),
			slog.String("reason", reason), slog.String("excerpt", excerpt(raw)))
		return
	}
	c.cfg.Logger.Error("binance: broken invariant (already halted)", slog.String("venue", c.cfg.Name),
		slog.String("what", what), slog.String("excerpt", excerpt(raw)))
}

// badReply counts and logs (rate-limited) a reply or push refused as
// malformed.
func (c *Client) badReply(what string, err error, raw []byte) {
	c.stats.BadReplies.Add(1)
	c.log.warn(c.cfg.Now(), "binance: bad reply", slog.String("venue", c.cfg.Name),
		slog.String("what", what), slog.String("error", err.Error()), slog.String("excerpt", excerpt(raw)))
}

// setSink records the sink of the running private stream.
func (c *Client) setSink(s exchange.PrivateSink) {
	if s == nil {
		c.sink.Store(nil)
		return
	}
	c.sink.Store(&sinkBox{s})
}

func (c *Client) sinkOf() exchange.PrivateSink {
	if b := c.sink.Load(); b != nil {
		return b.s
	}
	return nil
}

// logLimit is a concurrency-safe rate limiter for log lines (the feed's
// LogLimiter belongs to one goroutine).
type logLimit struct {
	l          *slog.Logger
	every      int64
	burst      int
	mu         sync.Mutex
	start      int64
	n          int
	suppressed uint64
}

func (l *logLimit) warn(now int64, msg string, attrs ...slog.Attr) {
	l.mu.Lock()
	if now-l.start >= l.every {
		l.start, l.n = now, 0
	}
	if l.n >= l.burst {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.n++
	sup := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if sup > 0 {
		attrs = append(attrs, slog.Uint64("suppressed", sup))
	}
	l.l.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
}

// reqBuf is the per-request scratch: request bytes, the signer, the
// response buffer and the parser state. Buffers are pooled, so a request
// in steady state allocates none of these.
type reqBuf struct {
	sg      *signer
	params  paramList
	pxBuf   [24]byte
	qtyBuf  [24]byte
	cidBuf  [exchange.IDMax]byte
	sigBuf  [128]byte
	body    []byte // request bytes
	payload []byte // WS signing payload
	resp    []byte // response body
	rd      bytes.Reader
	sc      jsonscan.Scanner
	ro      rawOrder
	wr      wsResponse
	ae      apiError
	fills   []exchange.Fill
	timer   *time.Timer
	// order is the client id of the order this request places (zero for
	// any other request): OnOrderWrite is told when its bytes go out.
	order exchange.ID
}

func (c *Client) newReqBuf() *reqBuf {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &reqBuf{
		sg:      newSigner(&c.cfg.Credentials),
		body:    make([]byte, 0, 1024),
		payload: make([]byte, 0, 512),
		resp:    make([]byte, 0, 8<<10),
		fills:   make([]exchange.Fill, 0, 16),
		timer:   t,
	}
}

func (c *Client) getBuf() *reqBuf { return c.bufs.Get().(*reqBuf) }

func (c *Client) putBuf(b *reqBuf) {
	if cap(b.resp) > 1<<20 { // do not pin a huge reconciliation page
		b.resp = make([]byte, 0, 8<<10)
	}
	b.rd.Reset(nil)
	b.order = exchange.ID{}
	c.bufs.Put(b)
}

// wrote reports that an order's request is being written now.
func (c *Client) wrote(b *reqBuf) {
	if c.cfg.OnOrderWrite != nil && !b.order.IsZero() {
		c.cfg.OnOrderWrite(b.order, c.cfg.Now())
	}
}

// errorf builds a classified error of this venue.
func (c *Client) errorf(kind exchange.ErrorKind, format string, a ...any) *exchange.Error {
	return &exchange.Error{Kind: kind, Venue: c.cfg.Name, Msg: fmt.Sprintf(format, a...)}
}

// rest path helpers.
func (c *Client) url(path string) string { return c.rest + path }
