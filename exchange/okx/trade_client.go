package okx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/exchange/internal/gate"
	"arb/exchange/num"
)

// Client is the trading client of one OKX account: signed REST orders,
// cancels and queries, WebSocket order entry, reconciliation reads,
// balances, and the private order stream (see doc.go, "Trading").
//
// Lifecycle: NewClient validates the config; Start measures the server
// clock and learns the instruments' instIdCodes (PlaceOrder and the other
// requests also work without it: the clock is measured at the first signed
// request); Run keeps the WebSocket order-entry connection and the clock
// offset fresh until its context ends; RunPrivate runs the private stream.
// Run and RunPrivate each run at most once at a time, in their own
// goroutines. Every other method is safe for concurrent use.
type Client struct {
	cfg     ClientConfig // defaulted
	log     *slog.Logger
	insts   []tradeInst
	byID    []int32          // InstrumentID → index into insts, -1 = none
	bySym   map[string]int32 // instId → index
	gate    *gate.Gate
	budgets []gate.Budget
	clock   serverClock
	stats   TradeStats

	orderPool sync.Pool // *orderBuf, 4-row envelopes
	listPool  sync.Pool // *orderBuf, 100-row envelopes (+ balance details)
	// Fixed endpoints, parsed once (read-only; shared by every request).
	urlPlace, urlCancel *url.URL

	// Constant header values, shared by every request (never mutated).
	hKey, hPass, hJSON, hOne []string

	inflight inflightTable
	sent     sentSet
	fills    fillSet
	// watermark is the newest fill time seen (Unix ns): reconciliation
	// reads fills from it (minus ReconcileOverlap).
	watermark atomic.Int64

	halted atomic.Pointer[haltInfo]
	ows    orderSocket

	running, privRunning atomic.Bool

	dialMu   sync.Mutex
	nextDial time.Time

	// Jitter sources of the two reconnect loops, drawn from Config.Rand at
	// construction (a *rand.Rand is not safe for concurrent use).
	randOrder, randPriv *rand.Rand
}

// Compile-time checks: the roles the executor and the daemon consume.
var (
	_ exchange.Trader          = (*Client)(nil)
	_ exchange.Reconciler      = (*Client)(nil)
	_ exchange.Accounts        = (*Client)(nil)
	_ exchange.PrivateStream   = (*Client)(nil)
	_ exchange.CircuitReporter = (*Client)(nil)
)

// Budget indexes of the account-wide limits (per-instrument budgets follow).
// Sources: the "Rate Limit" line of each endpoint in OKX's v5 docs.
const (
	bSubOrders    = iota // 1000 new/amend orders per 2 s per sub-account (50061), REST and WS
	bBalance             // GET account/balance: 10 / 2 s per User ID
	bPending             // GET trade/orders-pending: 60 / 2 s per User ID
	bFills               // GET trade/fills: 60 / 2 s per User ID
	bFillsHistory        // GET trade/fills-history: 10 / 2 s per User ID
	bTime                // GET public/time: 10 / 2 s per IP
	bInstruments         // GET public/instruments: 20 / 2 s per IP + instType
	numAccountBudgets
)

// NewClient validates cfg and returns a client. It does no I/O.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := cfg.withDefaults()
	c := &Client{cfg: d, log: d.Logger.With("venue", d.Name), bySym: make(map[string]int32, len(d.Instruments))}
	win := 2 * time.Second
	c.budgets = []gate.Budget{
		{Name: "sub-account orders", Limit: 1000, Window: win},
		{Name: "account/balance", Limit: 10, Window: win},
		{Name: "trade/orders-pending", Limit: 60, Window: win},
		{Name: "trade/fills", Limit: 60, Window: win},
		{Name: "trade/fills-history", Limit: 10, Window: win},
		{Name: "public/time", Limit: 10, Window: win},
		{Name: "public/instruments", Limit: 20, Window: win},
	}
	maxID := exchange.InstrumentID(0)
	for _, in := range d.Instruments {
		maxID = max(maxID, in.ID)
	}
	c.byID = make([]int32, int(maxID)+1)
	for i := range c.byID {
		c.byID[i] = -1
	}
	c.insts = make([]tradeInst, len(d.Instruments))
	for i, in := range d.Instruments {
		in.Venue = d.Venue
		ti := &c.insts[i]
		ti.Instrument = in
		ti.restPrefix = []byte(`{"instId":"` + in.Symbol + `","tdMode":"cash","clOrdId":"`)
		// Place, cancel and order details: 60 requests per 2 s per User ID
		// + instrument each; the place budget is shared by REST and WS.
		ti.bPlace, ti.bCancel, ti.bQuery = len(c.budgets), len(c.budgets)+1, len(c.budgets)+2
		c.budgets = append(c.budgets,
			gate.Budget{Name: "trade/order " + in.Symbol, Limit: 60, Window: win},
			gate.Budget{Name: "trade/cancel-order " + in.Symbol, Limit: 60, Window: win},
			gate.Budget{Name: "order details " + in.Symbol, Limit: 60, Window: win})
		c.byID[in.ID] = int32(i)
		c.bySym[in.Symbol] = int32(i)
	}
	var err error
	if c.urlPlace, err = url.Parse(d.RESTURL + pathPlaceOrder); err != nil {
		return nil, fmt.Errorf("okx: RESTURL: %w", err)
	}
	if c.urlCancel, err = url.Parse(d.RESTURL + pathCancelOrder); err != nil {
		return nil, fmt.Errorf("okx: RESTURL: %w", err)
	}
	c.gate = gate.New(gate.Config{Budgets: c.budgets, Threshold: d.BreakerThreshold, Cooldown: d.BreakerCooldown, Headroom: d.Headroom})
	secret := d.Credentials.Secret
	c.orderPool.New = func() any { return newOrderBuf(secret) }
	c.listPool.New = func() any {
		b := newOrderBuf(secret)
		b.env = newEnvelope(listLimit, maxBalanceDetails)
		b.resp = make([]byte, 0, 64<<10)
		return b
	}
	c.hKey, c.hPass = []string{d.Credentials.Key}, []string{d.Credentials.Passphrase}
	c.hJSON, c.hOne = []string{"application/json"}, []string{"1"}
	c.inflight.init(d.MaxInFlight)
	c.sent.init(sentMemory)
	c.fills.init(fillMemory)
	from := d.FillsFrom
	if from.IsZero() {
		from = d.Now()
	}
	c.watermark.Store(from.UnixNano())
	c.randOrder = rand.New(rand.NewPCG(d.Rand.Uint64(), d.Rand.Uint64()))
	c.randPriv = rand.New(rand.NewPCG(d.Rand.Uint64(), d.Rand.Uint64()))
	c.ows.init(c)
	return c, nil
}

// getOrderBuf takes a small-reply buffer from the pool for a request to
// the fixed endpoint u (nil: a URL built from the path).
func (c *Client) getOrderBuf(u *url.URL) *orderBuf {
	b := c.orderPool.Get().(*orderBuf)
	b.url = u
	return b
}

// getListBuf takes a list-reply buffer from the pool.
func (c *Client) getListBuf() *orderBuf {
	b := c.listPool.Get().(*orderBuf)
	b.url = nil
	return b
}

// Stats returns the client's counters (safe from any goroutine).
func (c *Client) Stats() *TradeStats { return &c.stats }

// inst returns the configured instrument id, or nil.
func (c *Client) inst(id exchange.InstrumentID) *tradeInst {
	if int(id) < len(c.byID) {
		if i := c.byID[id]; i >= 0 {
			return &c.insts[i]
		}
	}
	return nil
}

// instBySym returns the instrument with OKX instId sym, or nil.
func (c *Client) instBySym(sym []byte) *tradeInst {
	if i, ok := c.bySym[string(sym)]; ok {
		return &c.insts[i]
	}
	return nil
}

// Start measures the server-time offset and, unless orders go only over
// REST, learns the instIdCodes WS order entry needs. A failure to learn the
// codes is logged and leaves orders on REST; a failure to reach the clock
// is returned.
func (c *Client) Start(ctx context.Context) error {
	if err := c.clock.measure(ctx, c, true); err != nil {
		return err
	}
	if c.cfg.OrderEntry != OrderEntryREST {
		if err := c.loadInstIDCodes(ctx); err != nil {
			c.log.Warn("okx: instIdCodes unavailable, WebSocket order entry disabled until the next refresh", "err", err)
		}
	}
	return nil
}

// Run keeps the WebSocket order-entry connection (unless OrderEntry is
// rest) and re-measures the server clock every ResyncEvery, which also keeps
// a REST connection warm, until ctx ends. It returns ctx's error.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("okx: Client.Run is already running")
	}
	defer c.running.Store(false)
	var wg sync.WaitGroup
	if c.cfg.OrderEntry != OrderEntryREST {
		wg.Add(1)
		go func() { defer wg.Done(); c.ows.run(ctx) }()
	}
	t := time.NewTicker(c.cfg.ResyncEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case <-t.C:
			if err := c.clock.measure(ctx, c, false); err != nil && ctx.Err() == nil {
				c.log.Warn("okx: server time re-measure failed", "err", err)
			}
			if !c.ows.codesLoaded() && c.cfg.OrderEntry != OrderEntryREST {
				if err := c.loadInstIDCodes(ctx); err != nil && ctx.Err() == nil {
					c.log.Warn("okx: instIdCodes still unavailable", "err", err)
				}
			}
		}
	}
}

// --- circuit and halt ---

// haltInfo is why trading stopped until an operator looks.
type haltInfo struct {
	reason string
	at     time.Time
}

// halt stops order placement after a broken invariant (a fill that does not
// fit the instrument's scale): logged at error level, counted, reported by
// Circuit until Resume. The first reason is kept.
func (c *Client) halt(reason string) {
	if c.halted.CompareAndSwap(nil, &haltInfo{reason: reason, at: c.cfg.Now()}) {
		c.log.Error("okx: trading halted: broken invariant; the venue stays closed until an operator calls Resume", "reason", reason)
	}
}

// Resume clears a halt (an operator checked the venue's data).
func (c *Client) Resume() {
	if h := c.halted.Swap(nil); h != nil {
		c.log.Warn("okx: trading resumed by the operator", "halted_for", h.reason)
	}
}

// RateLimits reports the venue's request budgets as this client spends
// them (exchange.RateLimitReporter).
func (c *Client) RateLimits() []exchange.RateLimit { return c.gate.RateLimits(c.cfg.Now()) }

// Circuit reports whether the venue may be used: closed unless a halt, a
// ban (HTTP 418), a Retry-After, or the failure breaker holds it open.
func (c *Client) Circuit() exchange.Circuit {
	if h := c.halted.Load(); h != nil {
		return exchange.Circuit{Open: true, Reason: "halted (until an operator resumes): " + h.reason}
	}
	now := c.cfg.Now()
	s := c.gate.State(now)
	switch {
	case s.Open:
		return exchange.Circuit{Open: true, Until: s.OpenUntil.UnixNano(), Reason: s.OpenReason}
	case !s.BlockedUntil.IsZero():
		return exchange.Circuit{Open: true, Until: s.BlockedUntil.UnixNano(), Reason: s.BlockReason}
	}
	return exchange.Circuit{}
}

// --- errors ---

// refuse returns a KindRejected error for an order refused before sending.
func (c *Client) refuse(msg string) error {
	c.stats.Refused.Add(1)
	return &exchange.Error{Kind: exchange.KindRejected, Venue: c.cfg.Name, Msg: msg}
}

// gateError turns a gate refusal into a KindRateLimited error (nothing
// was sent).
func (c *Client) gateError(err error) error {
	c.stats.RateLimited.Add(1)
	var r *gate.Refusal
	if errors.As(err, &r) {
		return &exchange.Error{Kind: exchange.KindRateLimited, Venue: c.cfg.Name, Msg: r.Reason, RetryAfter: r.Wait, Err: err}
	}
	return &exchange.Error{Kind: exchange.KindRateLimited, Venue: c.cfg.Name, Err: err}
}

// --- the Trader role ---

// PlaceOrder rounds req to the instrument's grid, checks its filters and
// sends it — over the WebSocket order-entry connection when it is up (and
// OrderEntry allows), else over REST. It returns the venue's
// acknowledgement (Status New, the venue order id); fills arrive on the
// private stream. A KindUnknownOutcome error means the order may exist:
// the caller resolves it with QueryOrder by the same ClientID; this client
// never resends it.
func (c *Client) PlaceOrder(ctx context.Context, req exchange.OrderRequest) (exchange.OrderState, error) {
	if h := c.halted.Load(); h != nil {
		return exchange.OrderState{}, c.refuse("trading halted: " + h.reason)
	}
	if !exchange.ValidClientID(req.ClientID) {
		return exchange.OrderState{}, c.refuse(rejClientID)
	}
	in := c.inst(req.Inst)
	if in == nil || (req.Venue != 0 && req.Venue != c.cfg.Venue) {
		return exchange.OrderState{}, c.refuse("instrument not configured on this venue")
	}
	typ := ordType(req.TIF)
	if typ == "" {
		return exchange.OrderState{}, c.refuse(rejTIF)
	}
	r, why := roundOrder(&in.Instrument, req.Side, req.Px, req.Qty)
	if why != "" {
		return exchange.OrderState{}, c.refuse(why)
	}
	if err := ctx.Err(); err != nil {
		return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Err: err}
	}
	// OKX keeps a clOrdId unique only among pending orders: once an IOC
	// order is done it would accept the same id again and hold two orders
	// for one intent. So the client remembers the ids it sent and refuses
	// a resubmission unless that order is known not to exist.
	now := c.cfg.Now()
	if prev, ok := c.sent.reserve(req.ClientID, c.clock.now(now).UnixNano()); !ok {
		c.stats.Refused.Add(1)
		if prev.state == sentExists {
			return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindDuplicate, Venue: c.cfg.Name,
				Msg: "client order id already used for an order on this venue (not resent)"}
		}
		wait := time.Duration(prev.at + int64(c.absenceGrace()) - c.clock.now(now).UnixNano())
		return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name, RetryAfter: max(wait, 0),
			Msg: "client order id already sent and its outcome is unresolved: query it (not resent)"}
	}
	ack := exchange.OrderState{Venue: c.cfg.Venue, Inst: in.ID, Side: req.Side, TIF: req.TIF, Status: exchange.StatusNew,
		ClientID: req.ClientID, Px: r.px, Qty: r.qty}
	// Tracked before anything is sent, so an order whose outcome is unknown
	// is polled while the private stream is down.
	c.inflight.add(req.ClientID, in.ID, now.UnixNano(), c.log)
	if code := in.code.Load(); c.cfg.OrderEntry != OrderEntryREST && code != 0 {
		st, err, sent := c.ows.place(ctx, in, code, &req.ClientID, req.Side, typ, r, ack)
		if sent || c.cfg.OrderEntry == OrderEntryWS {
			c.afterPlace(&req.ClientID, err)
			return st, err
		}
	} else if c.cfg.OrderEntry == OrderEntryWS {
		err := &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Err: errNotSent,
			Msg: "WebSocket order entry unavailable for " + in.Symbol + " (no instIdCode) and order_entry is ws"}
		c.afterPlace(&req.ClientID, err)
		return exchange.OrderState{}, err
	}
	st, err := c.placeREST(ctx, in, &req.ClientID, req.Side, typ, r, ack)
	c.afterPlace(&req.ClientID, err)
	return st, err
}

// absenceGrace is how long after sending an order a "does not exist" from
// the venue proves it never will: the request's expTime (Expiry) plus the
// request timeout for a request queued inside the venue; with Expiry
// disabled nothing bounds it, so a minute more is assumed.
func (c *Client) absenceGrace() time.Duration {
	if c.cfg.Expiry > 0 {
		return c.cfg.Expiry + c.cfg.RequestTimeout
	}
	return c.cfg.RequestTimeout + time.Minute
}

// afterPlace records what the venue's answer says about the order: it
// exists (acknowledged, or a duplicate: an order with that id exists), may
// exist (unknown outcome: still tracked and polled), or certainly does not
// (refused or never sent: untracked, and its id may be sent again).
func (c *Client) afterPlace(clid *exchange.ID, err error) {
	if err == nil {
		c.sent.mark(*clid, sentExists)
		return
	}
	switch exchange.KindOf(err) {
	case exchange.KindUnknownOutcome, exchange.KindUnknown:
		c.stats.UnknownOutcomes.Add(1)
	case exchange.KindDuplicate:
		c.sent.mark(*clid, sentExists)
	default:
		c.sent.mark(*clid, sentAbsent)
		c.inflight.remove(*clid)
	}
}

// placeREST sends the order with POST /api/v5/trade/order.
func (c *Client) placeREST(ctx context.Context, in *tradeInst, clid *exchange.ID, side exchange.Side, typ string, r rounded, ack exchange.OrderState) (exchange.OrderState, error) {
	b := c.getOrderBuf(c.urlPlace)
	b.path = append(b.path[:0], pathPlaceOrder...)
	b.body = appendRESTOrder(b.body[:0], in, clid, side, typ, r)
	c.stats.OrdersREST.Add(1)
	if c.cfg.OnOrderWrite != nil {
		c.cfg.OnOrderWrite(*clid, c.cfg.Now().UnixNano())
	}
	recycle, err := c.call(ctx, opPlace, methodPOST, b, gate.Cost{Budget: in.bPlace, Units: 1}, gate.Cost{Budget: bSubOrders, Units: 1})
	if err == nil {
		err = c.readAck(b.env, clid, &ack)
	}
	if recycle {
		c.orderPool.Put(b)
	}
	if err != nil {
		return exchange.OrderState{}, err
	}
	return ack, nil
}

// readAck checks an order acknowledgement (REST or WS, code "0") and fills
// ack from it. An acknowledgement that does not name our order is not a
// confirmation: the outcome is unknown.
func (c *Client) readAck(env *envelope, clid *exchange.ID, ack *exchange.OrderState) error {
	if len(env.rows) != 1 {
		return c.unknownAck("acknowledgement without exactly one order")
	}
	r := &env.rows[0]
	if sc := r.get(fSCode); len(sc) > 0 && string(sc) != "0" {
		return c.unknownAck("acknowledgement with code 0 and sCode " + string(sc))
	}
	if cl := r.get(fClOrdID); len(cl) > 0 && !clid.Equal(cl) {
		return c.unknownAck("acknowledgement for another clOrdId")
	}
	oid, ok := exchange.IDFromBytes(r.get(fOrdID))
	if !ok || oid.IsZero() {
		return c.unknownAck("acknowledgement without ordId")
	}
	ack.VenueOrderID = oid
	if ts, err := millisNS(r.get(fTS)); err == nil {
		ack.TS = ts
	}
	return nil
}

func (c *Client) unknownAck(msg string) error {
	c.stats.BadReplies.Add(1)
	return &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: c.cfg.Name, Msg: msg}
}

// CancelOrder cancels the order with clientID on inst and returns its state
// as the venue reports it afterwards. A cancel the venue accepted whose
// follow-up query failed returns the order's ids with Status 0 (the
// cancel is in; its final state arrives on the private stream). An order
// already canceled or completed (51401, 51402) returns its final state
// without error; one the venue does not know is KindNotFound.
func (c *Client) CancelOrder(ctx context.Context, inst exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error) {
	in := c.inst(inst)
	if in == nil {
		return exchange.OrderState{}, c.refuse("instrument not configured on this venue")
	}
	if !exchange.ValidClientID(clientID) {
		return exchange.OrderState{}, c.refuse(rejClientID)
	}
	b := c.getOrderBuf(c.urlCancel)
	b.path = append(b.path[:0], pathCancelOrder...)
	b.body = appendCancel(b.body[:0], in, &clientID)
	recycle, err := c.call(ctx, opCancel, methodPOST, b, gate.Cost{Budget: in.bCancel, Units: 1})
	st := exchange.OrderState{Venue: c.cfg.Venue, Inst: in.ID, ClientID: clientID}
	if err == nil && len(b.env.rows) == 1 {
		st.VenueOrderID, _ = exchange.IDFromBytes(b.env.rows[0].get(fOrdID))
	}
	if recycle {
		c.orderPool.Put(b)
	}
	var e *exchange.Error
	if err != nil && !(errors.As(err, &e) && (e.Code == codeCancelDone1 || e.Code == codeCancelDone2)) {
		return exchange.OrderState{}, err
	}
	q, qerr := c.QueryOrder(ctx, inst, clientID)
	if qerr != nil {
		if err != nil {
			return exchange.OrderState{}, err
		}
		c.log.Warn("okx: cancel accepted, follow-up query failed", "inst", in.Symbol, "err", qerr)
		return st, nil
	}
	return q, nil
}

// QueryOrder returns the venue's state of the order with clientID on inst
// (GET /api/v5/trade/order?instId=…&clOrdId=…); KindNotFound (51603) when
// the venue does not know it. OKX returns the latest order if the id was
// reused, and keeps canceled unfilled orders only about 2 hours.
func (c *Client) QueryOrder(ctx context.Context, inst exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error) {
	in := c.inst(inst)
	if in == nil {
		return exchange.OrderState{}, c.refuse("instrument not configured on this venue")
	}
	if !exchange.ValidClientID(clientID) {
		return exchange.OrderState{}, c.refuse(rejClientID)
	}
	st, err := c.queryOrder(ctx, in, clientID)
	if err != nil {
		if exchange.KindOf(err) == exchange.KindNotFound {
			c.sent.absentAfter(clientID, c.clock.now(c.cfg.Now()).UnixNano(), c.absenceGrace())
		}
		return exchange.OrderState{}, err
	}
	c.trackState(&st)
	return st, nil
}

// queryOrder is QueryOrder without the in-flight bookkeeping.
func (c *Client) queryOrder(ctx context.Context, in *tradeInst, clientID exchange.ID) (exchange.OrderState, error) {
	b := c.getOrderBuf(nil)
	b.path = append(b.path[:0], pathOrder...)
	b.path = append(b.path, "?instId="...)
	b.path = append(b.path, in.Symbol...)
	b.path = append(b.path, "&clOrdId="...)
	b.path = clientID.AppendTo(b.path)
	b.body = b.body[:0]
	recycle, err := c.call(ctx, opRead, methodGET, b, gate.Cost{Budget: in.bQuery, Units: 1})
	var st exchange.OrderState
	if err == nil {
		switch {
		case len(b.env.rows) == 0:
			err = &exchange.Error{Kind: exchange.KindNotFound, Venue: c.cfg.Name, Msg: "empty order details"}
		case len(b.env.rows) > 1:
			err = c.badReply("order details with more than one order", nil)
		default:
			st, err = c.convertOrder(&b.env.rows[0], in)
			if err == nil && !st.ClientID.Equal(clientID.Bytes()) {
				err = c.badReply("order details for another clOrdId", nil)
			}
		}
	}
	if recycle {
		c.orderPool.Put(b)
	}
	return st, err
}

// convertOrder converts an order row; a value that does not fit the
// instrument's scale halts trading (see halt).
func (c *Client) convertOrder(r *row, in *tradeInst) (exchange.OrderState, error) {
	st, err := orderStateFrom(r, c.cfg.Venue, &in.Instrument)
	if err != nil {
		if errors.Is(err, errScale) {
			c.scaleViolation("order", in, r)
		}
		return st, c.badReply("order", err)
	}
	return st, nil
}

// scaleViolation is the broken-invariant path: OKX reported a price or
// size with more decimals than the instrument's scale, which FetchInstruments
// rules out for orders we place. Logged at error level, counted, and
// trading halted until an operator looks; never rounded.
func (c *Client) scaleViolation(what string, in *tradeInst, r *row) {
	c.stats.ScaleViolations.Add(1)
	reason := fmt.Sprintf("%s on %s with price/size finer than the instrument's scale (px %q, sz %q, fillPx %q, fillSz %q, accFillSz %q, tradeId %q, ordId %q)",
		what, in.Symbol, r.get(fPx), r.get(fSz), r.get(fFillPx), r.get(fFillSz), r.get(fAccFillSz), r.get(fTradeID), r.get(fOrdID))
	c.log.Error("okx: venue value does not fit the instrument's scale", "inst", in.Symbol, "detail", reason)
	c.halt(reason)
}

// badReply counts a malformed reply and returns it as a KindUnknown error.
func (c *Client) badReply(msg string, err error) error {
	c.stats.BadReplies.Add(1)
	return &exchange.Error{Kind: exchange.KindUnknown, Venue: c.cfg.Name, Msg: "malformed reply: " + msg, Err: err}
}

// trackState updates the in-flight table from a state the venue reported.
func (c *Client) trackState(st *exchange.OrderState) {
	c.sent.mark(st.ClientID, sentExists)
	if st.Status.Final() {
		c.inflight.remove(st.ClientID)
		return
	}
	c.inflight.seen(st.ClientID, st.VenueOrderID)
}

// --- counters ---

// TradeStats counts what the trading client did; every field is safe to
// read from any goroutine (the wiring exports them as metrics).
type TradeStats struct {
	OrdersREST      atomic.Uint64 // orders sent over REST
	OrdersWS        atomic.Uint64 // orders sent over WebSocket
	Refused         atomic.Uint64 // orders refused before sending (filters, halt, bad id)
	RateLimited     atomic.Uint64 // requests refused by the gate or the venue's rate limit
	UnknownOutcomes atomic.Uint64 // orders whose outcome was unknown
	BadReplies      atomic.Uint64 // malformed replies or pushes
	ScaleViolations atomic.Uint64 // venue values finer than the instrument's scale (halts trading)
	Resyncs         atomic.Uint64 // server-time measurements
	OffsetNS        atomic.Int64  // server − local clock offset used (lower bound), ns
	StreamConnects  atomic.Uint64 // private stream sessions established
	Reconciliations atomic.Uint64 // REST reconciliations completed
	PollRounds      atomic.Uint64 // polls of in-flight orders while the stream was down
	FillsDelivered  atomic.Uint64 // fills given to the sink
	FillsRepeated   atomic.Uint64 // fills dropped as already delivered (same trade id)
	OrderSocketUp   atomic.Int32  // 1 while the WS order-entry connection is logged in
	StreamUp        atomic.Int32  // 1 while the private stream is subscribed
}

// --- in-flight orders ---

// inflightEntry is one order this client placed and has not seen final.
type inflightEntry struct {
	clid   exchange.ID
	inst   exchange.InstrumentID
	ordID  exchange.ID
	filled num.Qty // cumulative fill quantity already delivered by polling
	sent   int64   // local Unix ns
}

// inflightTable tracks the orders to poll while the private stream is
// down. Bounded: beyond max the oldest entry is dropped with a warning.
type inflightTable struct {
	mu      sync.Mutex
	m       map[exchange.ID]inflightEntry
	max     int
	dropped atomic.Uint64
}

func (t *inflightTable) init(max int) {
	t.m = make(map[exchange.ID]inflightEntry, max)
	t.max = max
}

func (t *inflightTable) add(clid exchange.ID, inst exchange.InstrumentID, now int64, log *slog.Logger) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[clid]; ok {
		return // a resubmission with the same id: one venue order at most
	}
	if len(t.m) >= t.max {
		var oldest exchange.ID
		var at int64 = 1<<63 - 1
		for k, e := range t.m {
			if e.sent < at {
				oldest, at = k, e.sent
			}
		}
		delete(t.m, oldest)
		t.dropped.Add(1)
		log.Warn("okx: in-flight table full, oldest order no longer polled", "client_order_id", oldest.String())
	}
	t.m[clid] = inflightEntry{clid: clid, inst: inst, sent: now}
}

func (t *inflightTable) remove(clid exchange.ID) {
	t.mu.Lock()
	delete(t.m, clid)
	t.mu.Unlock()
}

// seen records the venue order id of a tracked order.
func (t *inflightTable) seen(clid, ordID exchange.ID) {
	t.mu.Lock()
	if e, ok := t.m[clid]; ok && e.ordID.IsZero() {
		e.ordID = ordID
		t.m[clid] = e
	}
	t.mu.Unlock()
}

// setFilled records the cumulative quantity polling delivered fills for.
func (t *inflightTable) setFilled(clid exchange.ID, q num.Qty) {
	t.mu.Lock()
	if e, ok := t.m[clid]; ok && q > e.filled {
		e.filled = q
		t.m[clid] = e
	}
	t.mu.Unlock()
}

// snapshot appends every entry to dst.
func (t *inflightTable) snapshot(dst []inflightEntry) []inflightEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.m {
		dst = append(dst, e)
	}
	return dst
}

func (t *inflightTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// --- delivered fills ---

// fillMemory is how many delivered fills are remembered to drop repeats
// (OKX warns the orders channel may repeat messages; reconciliation
// re-reads ReconcileOverlap). Consumers still deduplicate by trade id.
const fillMemory = 8192

type fillKey struct {
	inst exchange.InstrumentID
	id   exchange.ID
}

// fillSet remembers the last fillMemory delivered fills (FIFO).
type fillSet struct {
	mu   sync.Mutex
	m    map[fillKey]struct{}
	ring []fillKey
	pos  int
}

func (s *fillSet) init(n int) {
	s.m = make(map[fillKey]struct{}, n)
	s.ring = make([]fillKey, 0, n)
}

// add records k and reports whether it is new.
func (s *fillSet) add(k fillKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		return false
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, k)
	} else {
		delete(s.m, s.ring[s.pos])
		s.ring[s.pos] = k
		s.pos = (s.pos + 1) % len(s.ring)
	}
	s.m[k] = struct{}{}
	return true
}

// --- client order ids sent ---

// sentMemory is how many client order ids the client remembers (FIFO).
const sentMemory = 1 << 16

// sentState is what is known about the order a client id was sent for.
type sentState uint8

const (
	sentPending sentState = iota + 1 // sent; the venue may or may not hold it
	sentExists                       // the venue acknowledged or reported it
	sentAbsent                       // it does not exist: refused, never sent, or unknown to the venue after its request expired
)

type sentEntry struct {
	state sentState
	at    int64 // venue clock (lower bound) when sent, Unix ns
}

// sentSet remembers the client ids this client sent orders for, so a
// resubmission of an id whose order exists or may exist is refused.
type sentSet struct {
	mu   sync.Mutex
	m    map[exchange.ID]sentEntry
	ring []exchange.ID
	pos  int
}

func (s *sentSet) init(n int) {
	s.m = make(map[exchange.ID]sentEntry, n)
	s.ring = make([]exchange.ID, 0, n)
}

// reserve records clid as sent at at, unless an order for it exists or may
// exist: then it returns false with what is known.
func (s *sentSet) reserve(clid exchange.ID, at int64) (sentEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[clid]; ok {
		if e.state != sentAbsent {
			return e, false
		}
		s.m[clid] = sentEntry{state: sentPending, at: at}
		return sentEntry{}, true
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, clid)
	} else {
		delete(s.m, s.ring[s.pos])
		s.ring[s.pos] = clid
		s.pos = (s.pos + 1) % len(s.ring)
	}
	s.m[clid] = sentEntry{state: sentPending, at: at}
	return sentEntry{}, true
}

// mark sets the state of a remembered id (unknown ids are ignored: orders
// this client did not send).
func (s *sentSet) mark(clid exchange.ID, st sentState) {
	s.mu.Lock()
	if e, ok := s.m[clid]; ok && e.state != st {
		e.state = st
		s.m[clid] = e
	}
	s.mu.Unlock()
}

// absentAfter marks a pending id absent when the venue does not know it
// grace after it was sent (its request can no longer execute).
func (s *sentSet) absentAfter(clid exchange.ID, now int64, grace time.Duration) {
	s.mu.Lock()
	if e, ok := s.m[clid]; ok && e.state == sentPending && now-e.at > int64(grace) {
		e.state = sentAbsent
		s.m[clid] = e
	}
	s.mu.Unlock()
}
