package bybit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"arb/exchange"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/num"
)

// Bybit's windows and pages (docs/v5/order/execution.mdx, open-order.mdx).
const (
	execWindow    = 7 * 24 * time.Hour // startTime..endTime of execution/list
	execPageLimit = 100
	openPageLimit = 50
	maxExecPages  = 200 // per window: 20,000 fills
	maxOpenPages  = 20  // 1,000 open orders
	maxLookback   = 30 * 24 * time.Hour
)

// PlaceOrder rounds req to the venue's grid (buy limit down, sell limit up,
// quantity down), checks the filters, and sends one LIMIT order with the
// caller's client id as orderLinkId: over the trade socket while it is up
// (OrderEntry auto or ws), else over REST. It returns the acknowledged
// order (Status new: Bybit acknowledges asynchronously; fills and the final
// state come through the private stream or QueryOrder).
//
// Errors carry a Kind. KindUnknownOutcome: the request was written and no
// answer says what became of it — resolve it with QueryOrder by the same
// client id; the client never resends it. KindDuplicate: an order with
// this client id exists (the venue said so, or this client knows it).
// KindRetryable with RetryAfter: the last request for this client id had
// an unknown outcome and could still be accepted; ask again after
// RetryAfter (by then the venue refuses it for its timestamp). Rejections
// of the request itself (filters, bad id) are the preallocated errors of
// this package, sent nowhere.
//
// The wait for the acknowledgement is bounded by OrderTimeout unless ctx's
// deadline is sooner. Over REST, a ctx whose deadline is within
// OrderTimeout saves the timer context's allocations.
func (c *Client) PlaceOrder(ctx context.Context, req exchange.OrderRequest) (exchange.OrderState, error) {
	var st exchange.OrderState
	if h := c.halted.Load(); h != nil {
		c.stats.Rejected.Add(1)
		return st, &exchange.Error{Kind: exchange.KindRejected, Venue: c.cfg.Name, Msg: "circuit open: " + h.reason}
	}
	if req.Venue != 0 && req.Venue != c.cfg.Venue {
		c.stats.Rejected.Add(1)
		return st, errBadVenue
	}
	inst := c.insts.get(req.Inst)
	if inst == nil {
		c.stats.Rejected.Add(1)
		return st, errBadInst
	}
	o, err := prepareOrder(inst, &req)
	if err != nil {
		c.stats.Rejected.Add(1)
		return st, err
	}
	now := c.cfg.Now()
	c.mu.Lock()
	ref, wait := c.tr.begin(req.ClientID, inst.ID, now, c.cfg.RecvWindow)
	c.mu.Unlock()
	switch ref {
	case beginKnown, beginInFlight:
		c.stats.Duplicates.Add(1)
		return st, &exchange.Error{Kind: exchange.KindDuplicate, Venue: c.cfg.Name,
			Msg: "not sent: an order with this client id exists or is being placed (client)"}
	case beginTooSoon:
		return st, &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, RetryAfter: wait,
			Msg: "not sent: the last request with this client id has an unknown outcome and may still be accepted"}
	case beginFull:
		return st, &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name,
			Msg: fmt.Sprintf("not sent: %d orders in flight, the client's tracking table is full", c.cfg.TrackedOrders)}
	}
	s, err := c.take(ctx)
	if err != nil {
		c.settleSend(req.ClientID, false, false, 0)
		return st, &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Msg: "not sent: no free order slot", Err: err}
	}
	s.body = appendOrderBody(s.body[:0], &o)
	var sentTS int64
	sent := false
	if c.cfg.OrderEntry != OrderEntryREST && c.tradeOn.Load() {
		st, sentTS, sent, err = c.trade.place(ctx, s, &o)
		if !sent && c.cfg.OrderEntry == OrderEntryWS {
			s.release()
			c.settleSend(req.ClientID, false, false, 0)
			return st, err
		}
	} else if c.cfg.OrderEntry == OrderEntryWS {
		s.release()
		c.settleSend(req.ClientID, false, false, 0)
		return st, &exchange.Error{Kind: exchange.KindRetryable, Venue: c.cfg.Name, Msg: "not sent: trade socket not started"}
	}
	if !sent {
		// net/http needs the deadline in ctx: a timer context unless the
		// caller's deadline is already within OrderTimeout.
		rctx := ctx
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > c.cfg.OrderTimeout {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(ctx, c.cfg.OrderTimeout)
			defer cancel()
		}
		st, sentTS, err = c.placeREST(rctx, s, &o)
	}
	s.release()
	if err == nil {
		c.stats.Acks.Add(1)
		c.settleSend(req.ClientID, true, false, sentTS)
		return st, nil
	}
	kind := exchange.KindOf(err)
	switch kind {
	case exchange.KindDuplicate:
		c.stats.Duplicates.Add(1)
	case exchange.KindRejected:
		c.stats.Rejected.Add(1)
	}
	c.settleSend(req.ClientID, kind == exchange.KindDuplicate, kind == exchange.KindUnknownOutcome, sentTS)
	return st, err
}

func (c *Client) settleSend(id exchange.ID, known, unknown bool, sentTSms int64) {
	c.mu.Lock()
	c.tr.sent(id, known, unknown, sentTSms*1_000_000, c.cfg.Now())
	c.mu.Unlock()
}

// ackState is the state an acknowledged order is known to be in.
func (c *Client) ackState(o *preparedOrder, orderID []byte, tsMs int64) exchange.OrderState {
	st := exchange.OrderState{
		Venue: c.cfg.Venue, Inst: o.inst.ID, Side: o.req.Side, TIF: o.req.TIF, Status: exchange.StatusNew,
		ClientID: o.req.ClientID, Px: o.px, Qty: o.qty, TS: tsMs * 1_000_000,
	}
	st.VenueOrderID, _ = exchange.IDFromBytes(orderID)
	return st
}

// placeREST sends the slot's body with POST /v5/order/create. It returns
// the request's timestamp (venue clock, ms) for the tracker.
func (c *Client) placeREST(ctx context.Context, s *orderSlot, o *preparedOrder) (exchange.OrderState, int64, error) {
	if err := c.admit(epCreate); err != nil {
		return exchange.OrderState{}, 0, err
	}
	tsMs := c.venueNowMs()
	req := s.restRequest(ctx, tsMs)
	sentAt := c.cfg.Now()
	if c.cfg.OnOrderWrite != nil {
		c.cfg.OnOrderWrite(o.req.ClientID, sentAt)
	}
	c.stats.OrdersREST.Add(1)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return exchange.OrderState{}, tsMs, c.transportError(true, err)
	}
	err = readBody(resp.Body, &s.resp)
	resp.Body.Close()
	if err != nil {
		return exchange.OrderState{}, tsMs, c.transportError(true, err)
	}
	env, err := c.answer(epCreate, true, resp.StatusCode, resp.Header, s.resp)
	if err != nil && isTimestampError(err) {
		// Refused for its timestamp before anything happened: re-measure
		// and send once more with a fresh timestamp (a request of its
		// own: this path is rare).
		if serr := c.resync(ctx, sentAt); serr == nil {
			var r restResult
			r, err = c.restOnce(ctx, &restCall{ep: epCreate, method: http.MethodPost, path: "/v5/order/create",
				body: bytes.Clone(s.body), signed: true, write: true}, &s.resp)
			env, tsMs = r.env, r.sentTS
			if err == nil {
				c.stats.OrdersREST.Add(1)
			}
		}
	}
	if err != nil {
		return exchange.OrderState{}, tsMs, err
	}
	var ack orderAck
	if perr := parseOrderAck(&s.scan, env.result, &ack); perr != nil {
		c.warn("bybit: order acknowledged with an unreadable result", slog.String("err", perr.Error()))
	}
	return c.ackState(o, ack.orderID, env.timeMs), tsMs, nil
}

// get performs a signed GET and returns the parsed envelope (retCode 0).
func (c *Client) get(ctx context.Context, ep endpoint, path, query string) (restResult, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var buf []byte
	return c.rest(ctx, &restCall{ep: ep, method: http.MethodGet, path: path, query: query, signed: true}, &buf)
}

// QueryOrder returns the venue's state of the order with clientID: GET
// /v5/order/realtime?category=spot&orderLinkId=… (open orders and the last
// 500 closed ones), then /v5/order/history (closed orders: cancelled and
// rejected ones for 24 h, others 7 days). KindNotFound if neither knows it
// (or if realtime does not and the history route answers HTTP 404, as
// exchange/sim's does: it serves no history).
func (c *Client) QueryOrder(ctx context.Context, inst exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error) {
	in := c.insts.get(inst)
	if in == nil {
		return exchange.OrderState{}, errBadInst
	}
	if !exchange.ValidClientID(clientID) {
		return exchange.OrderState{}, errBadClientID
	}
	q := "category=spot&orderLinkId=" + clientID.String() + "&symbol=" + in.Symbol
	for _, p := range [...]struct {
		ep   endpoint
		path string
	}{{epRealtime, "/v5/order/realtime"}, {epHistory, "/v5/order/history"}} {
		r, err := c.get(ctx, p.ep, p.path, q)
		if err != nil {
			var e *exchange.Error
			if p.ep == epHistory && errors.As(err, &e) && e.HTTPStatus == http.StatusNotFound {
				// A venue that does not serve the history (exchange/sim
				// does not): realtime's answer stands — it holds the open
				// orders and the last 500 closed ones, where an order this
				// process placed is when it is looked up.
				c.warn("bybit: /v5/order/history not served (HTTP 404); order lookups use /v5/order/realtime only")
				break
			}
			return exchange.OrderState{}, err
		}
		st, found, err := c.findOrder(r.env.result, &clientID)
		if err != nil {
			return exchange.OrderState{}, err
		}
		if found {
			c.mu.Lock()
			c.tr.onState(&st, c.cfg.Now())
			c.mu.Unlock()
			return st, nil
		}
	}
	c.mu.Lock()
	c.tr.notFound(clientID, c.cfg.Now(), c.cfg.RecvWindow)
	c.mu.Unlock()
	return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindNotFound, Venue: c.cfg.Name,
		Msg: "no order with orderLinkId " + clientID.String()}
}

// findOrder reads an order list and returns the order with clientID.
func (c *Client) findOrder(result []byte, clientID *exchange.ID) (exchange.OrderState, bool, error) {
	var s jsonscan.Scanner
	var lr listResult
	if err := c.spotList(&s, result, &lr); err != nil {
		return exchange.OrderState{}, false, c.malformed("order list", err)
	}
	var out exchange.OrderState
	found := false
	err := eachOrder(&s, lr.list, func(o *orderFields) error {
		if found || !clientID.Equal(o.linkID) {
			return nil
		}
		var st exchange.OrderState
		res, err := toOrderState(c.insts, c.cfg.Venue, o, &st)
		switch res {
		case convOK:
			out, found = st, true
			return nil
		case convBroken:
			c.halt(fmt.Sprintf("order %s on %s: %v (does not fit the instrument's scale)", clientID, o.symbol, err))
		}
		return c.malformed("order "+clientID.String(), err)
	})
	if err != nil {
		return exchange.OrderState{}, false, err
	}
	return out, found, nil
}

// errNotSpot: a list answer for another category than the spot one asked.
var errNotSpot = errors.New("bybit: answer is not for category spot")

// spotList reads a paged list result and checks it is for category spot
// (every list request asks for it; a venue answering for another category
// would hand us another product's orders).
func (c *Client) spotList(s *jsonscan.Scanner, result []byte, lr *listResult) error {
	if err := parseListResult(s, result, lr); err != nil {
		return err
	}
	if len(lr.category) > 0 && string(lr.category) != "spot" {
		return errNotSpot
	}
	return nil
}

func (c *Client) malformed(what string, err error) error {
	return &exchange.Error{Kind: exchange.KindUnknown, Venue: c.cfg.Name, Msg: what + ": unreadable answer", Err: err}
}

// CancelOrder cancels the order with clientID (POST /v5/order/cancel by
// orderLinkId) and returns its state as queried afterwards. Bybit
// acknowledges a cancel before it takes effect, so the state may still be
// open; the private stream reports the rest. An order that is already
// final (filled, cancelled: the venue answers "does not exist" or
// "finished") is returned as queried, without an error; KindNotFound only
// if the venue knows no such order at all. If the follow-up query fails,
// the acknowledged order is returned with Status 0 (not yet known).
func (c *Client) CancelOrder(ctx context.Context, inst exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error) {
	in := c.insts.get(inst)
	if in == nil {
		return exchange.OrderState{}, errBadInst
	}
	if !exchange.ValidClientID(clientID) {
		return exchange.OrderState{}, errBadClientID
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var buf []byte
	r, err := c.rest(cctx, &restCall{ep: epCancel, method: http.MethodPost, path: "/v5/order/cancel",
		body: appendCancelBody(nil, in.Symbol, &clientID), signed: true, write: true}, &buf)
	if err != nil {
		if exchange.KindOf(err) == exchange.KindNotFound {
			return c.QueryOrder(ctx, inst, clientID)
		}
		return exchange.OrderState{}, err
	}
	st, qerr := c.QueryOrder(ctx, inst, clientID)
	if qerr == nil {
		return st, nil
	}
	var ack orderAck
	var s jsonscan.Scanner
	_ = parseOrderAck(&s, r.env.result, &ack)
	st = exchange.OrderState{Venue: c.cfg.Venue, Inst: inst, ClientID: clientID, TS: r.env.timeMs * 1_000_000}
	st.VenueOrderID, _ = exchange.IDFromBytes(ack.orderID)
	return st, nil
}

// OpenOrders lists the account's open spot orders on inst (0: every
// configured instrument) with GET /v5/order/realtime, following cursors.
func (c *Client) OpenOrders(ctx context.Context, inst exchange.InstrumentID) ([]exchange.OrderState, error) {
	base := "category=spot&limit=" + strconv.Itoa(openPageLimit)
	if inst != 0 {
		in := c.insts.get(inst)
		if in == nil {
			return nil, errBadInst
		}
		base += "&symbol=" + in.Symbol
	}
	var out []exchange.OrderState
	cursor := ""
	for page := 0; ; page++ {
		if page == maxOpenPages {
			return out, &exchange.Error{Kind: exchange.KindUnknown, Venue: c.cfg.Name, Msg: fmt.Sprintf("more than %d pages of open orders", maxOpenPages)}
		}
		q := base
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r, err := c.get(ctx, epRealtime, "/v5/order/realtime", q)
		if err != nil {
			return out, err
		}
		var s jsonscan.Scanner
		var lr listResult
		if err := c.spotList(&s, r.env.result, &lr); err != nil {
			return out, c.malformed("open orders", err)
		}
		n := 0
		err = eachOrder(&s, lr.list, func(o *orderFields) error {
			n++
			var st exchange.OrderState
			res, err := toOrderState(c.insts, c.cfg.Venue, o, &st)
			switch res {
			case convOK:
				if !st.Status.Final() {
					out = append(out, st)
				}
			case convSkip:
				c.stats.Skipped.Add(1)
			case convBroken:
				c.halt(fmt.Sprintf("open order %s on %s: %v (does not fit the instrument's scale)", o.linkID, o.symbol, err))
				return c.malformed("open order", err)
			default:
				return c.malformed("open order", err)
			}
			return nil
		})
		if err != nil {
			return out, err
		}
		cursor = string(lr.cursor)
		if cursor == "" || n == 0 {
			return out, nil
		}
	}
}

// FillsSince lists the spot fills on inst (0: every configured
// instrument) executed at or after since (Unix ns), oldest first, each
// once: GET /v5/execution/list in windows of at most 7 days (Bybit's
// limit), newest first within a window, following cursors. It looks back
// at most 30 days. A fill that cannot be represented in its instrument's
// scale opens the circuit (see Circuit); the fills that could be read are
// returned with that error.
func (c *Client) FillsSince(ctx context.Context, inst exchange.InstrumentID, since int64) ([]exchange.Fill, error) {
	sym := ""
	if inst != 0 {
		in := c.insts.get(inst)
		if in == nil {
			return nil, errBadInst
		}
		sym = in.Symbol
	}
	now := (c.cfg.Now() + c.offset.Load()) / 1e6 * 1e6
	if floor := now - int64(maxLookback); since < floor {
		c.warn("bybit: fills looked up 30 days back at most", slog.Int64("since", since))
		since = floor
	}
	var fills []exchange.Fill
	var broken error
	seen := make(map[exchange.ID]struct{})
	for start := since / 1e6 * 1e6; start <= now; start += int64(execWindow) {
		// The last window ends a minute past our estimate of the venue's
		// clock, which is a lower bound: a fill executed just now must
		// not fall after endTime.
		end := min(start+int64(execWindow)-1e6, now+int64(time.Minute))
		q := "category=spot&startTime=" + strconv.FormatInt(start/1e6, 10) + "&endTime=" + strconv.FormatInt(end/1e6, 10)
		if sym != "" {
			q += "&symbol=" + sym
		}
		err := c.execPages(ctx, q, func(f *exchange.Fill) {
			if f.TS < since {
				return
			}
			if _, dup := seen[f.TradeID]; dup {
				return
			}
			seen[f.TradeID] = struct{}{}
			fills = append(fills, *f)
		})
		if err != nil {
			if !errors.Is(err, errBrokenFill) {
				return sortFills(fills), err
			}
			broken = err
		}
	}
	if broken != nil {
		broken = &exchange.Error{Kind: exchange.KindUnknown, Venue: c.cfg.Name, Msg: "fills not representable; circuit open", Err: broken}
	}
	return sortFills(fills), broken
}

func sortFills(f []exchange.Fill) []exchange.Fill {
	slices.SortStableFunc(f, func(a, b exchange.Fill) int {
		if a.TS != b.TS {
			if a.TS < b.TS {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.TradeID.Bytes(), b.TradeID.Bytes())
	})
	return f
}

// errBrokenFill marks a page that held a fill the client could not
// represent (already counted, logged and the circuit opened).
var errBrokenFill = errors.New("bybit: fill not representable in the instrument's scale")

// execPages reads every page of GET /v5/execution/list?<q> and calls fn
// for each spot trade of a configured instrument. A malformed or broken
// fill is never skipped silently: it halts trading and is reported as
// errBrokenFill after the remaining pages were read.
func (c *Client) execPages(ctx context.Context, q string, fn func(*exchange.Fill)) error {
	cursor := ""
	var broken error
	for page := 0; ; page++ {
		if page == maxExecPages {
			return &exchange.Error{Kind: exchange.KindUnknown, Venue: c.cfg.Name,
				Msg: fmt.Sprintf("more than %d pages of fills in one window", maxExecPages)}
		}
		qq := q + "&limit=" + strconv.Itoa(execPageLimit)
		if cursor != "" {
			qq += "&cursor=" + url.QueryEscape(cursor)
		}
		r, err := c.get(ctx, epExecution, "/v5/execution/list", qq)
		if err != nil {
			return err
		}
		var s jsonscan.Scanner
		var lr listResult
		if err := c.spotList(&s, r.env.result, &lr); err != nil {
			return c.malformed("executions", err)
		}
		n := 0
		err = eachExec(&s, lr.list, func(x *execFields) error {
			n++
			var f exchange.Fill
			res, inferred, err := toFill(c.insts, c.cfg.Venue, x, &f)
			switch res {
			case convOK:
				if inferred {
					c.stats.FeeAssetInferred.Add(1)
				}
				fn(&f)
			case convSkip:
				c.stats.Skipped.Add(1)
			default:
				c.brokenFill(x, err)
				broken = errBrokenFill
			}
			return nil
		})
		if err != nil {
			return c.malformed("executions", err)
		}
		cursor = string(lr.cursor)
		if cursor == "" || n == 0 {
			return broken
		}
	}
}

// brokenFill reports an execution of a configured instrument that cannot
// become a Fill: a lost fill is worse than a stopped venue, so trading
// halts until an operator looks.
func (c *Client) brokenFill(x *execFields, err error) {
	c.errorLog("bybit: fill not representable",
		slog.String("symbol", string(x.symbol)), slog.String("execId", string(x.execID)),
		slog.String("orderLinkId", string(x.linkID)), slog.String("execPrice", string(x.price)),
		slog.String("execQty", string(x.qty)), slog.String("err", errString(err)))
	c.halt(fmt.Sprintf("fill %s on %s (price %q, qty %q) cannot be represented: %s", x.execID, x.symbol, x.price, x.qty, errString(err)))
}

func errString(err error) string {
	if err == nil {
		return "malformed"
	}
	return err.Error()
}

// fillsOfOrder returns the fills of one order (polling while the stream
// is down).
func (c *Client) fillsOfOrder(ctx context.Context, in *exchange.Instrument, clientID exchange.ID, fn func(*exchange.Fill)) error {
	q := "category=spot&orderLinkId=" + clientID.String() + "&symbol=" + in.Symbol
	return c.execPages(ctx, q, fn)
}

// Balances returns the unified account's balances (GET
// /v5/account/wallet-balance?accountType=UNIFIED, which lists non-zero
// coins): Total is walletBalance, Locked what spot open orders hold.
func (c *Client) Balances(ctx context.Context) ([]exchange.Balance, error) {
	r, err := c.get(ctx, epWallet, "/v5/account/wallet-balance", "accountType=UNIFIED")
	if err != nil {
		return nil, err
	}
	var out []exchange.Balance
	var s jsonscan.Scanner
	err = eachWalletCoin(&s, r.env.result, func(w *walletCoin) error {
		b := exchange.Balance{Venue: c.cfg.Venue, Asset: strings.Clone(string(w.coin))}
		var err error
		if len(w.walletBalance) > 0 {
			if b.Total, err = num.ParseAmount(w.walletBalance); err != nil {
				return fmt.Errorf("coin %s walletBalance %q: %w", w.coin, w.walletBalance, err)
			}
		}
		if len(w.locked) > 0 {
			if b.Locked, err = num.ParseAmount(w.locked); err != nil {
				return fmt.Errorf("coin %s locked %q: %w", w.coin, w.locked, err)
			}
		}
		if b.Asset == "" {
			return errShape
		}
		out = append(out, b)
		return nil
	})
	if err != nil {
		return nil, c.malformed("wallet balance", err)
	}
	return out, nil
}
