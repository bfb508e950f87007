package okx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/exchange/internal/gate"
	"arb/exchange/internal/jsonscan"
)

// Limits of the REST reads.
const (
	listLimit         = 100     // OKX's page size maximum for orders-pending and fills
	maxListPages      = 100     // pages one reconciliation read may take (10 000 rows)
	maxBalanceDetails = 4096    // currencies in one balance reply
	maxReplyBytes     = 8 << 20 // one REST reply
	fillsRecent       = 3*24*time.Hour - time.Hour
	defaultRateWait   = 2 * time.Second // OKX's windows are 2 s
)

// call performs one REST request prepared in b (b.path with its query,
// b.body) and parses the reply into b.env. It spends costs at the gate
// first (a refusal sends nothing), signs the request when signed, obeys
// 429/418 and records the outcome for the breaker. It returns nil for a
// reply with code "0", else a classified *exchange.Error. recycle is false
// when net/http may still hold b's bytes (a transport error), so the
// caller drops b instead of pooling it.
func (c *Client) call(ctx context.Context, op opKind, method httpMethod, b *orderBuf, costs ...gate.Cost) (recycle bool, err error) {
	return c.do(ctx, op, method, b, true, costs...)
}

func (c *Client) do(ctx context.Context, op opKind, method httpMethod, b *orderBuf, signed bool, costs ...gate.Cost) (recycle bool, err error) {
	now := c.cfg.Now()
	if err := c.gate.Take(now, costs...); err != nil {
		return true, c.gateError(err)
	}
	if signed && !c.clock.ok.Load() {
		if err := c.clock.measure(ctx, c, false); err != nil {
			return true, err
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, op, method, b, signed)
	if err != nil {
		return true, &exchange.Error{Kind: exchange.KindRejected, Venue: c.cfg.Name, Msg: "building request", Err: err}
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		kind := transportKind(op, err)
		c.gate.Result(c.cfg.Now(), false, "transport error")
		return false, &exchange.Error{Kind: kind, Venue: c.cfg.Name, Msg: "transport", Err: err}
	}
	b.resp, err = readInto(b.resp[:0], resp.Body, maxReplyBytes)
	resp.Body.Close()
	status := resp.StatusCode
	now = c.cfg.Now()
	if status == http.StatusTooManyRequests || status == 418 {
		wait := retryAfter(resp.Header.Get("Retry-After"))
		ban := status == 418
		if wait <= 0 {
			wait = defaultRateWait
			if ban {
				wait = c.cfg.BanWait
			}
		}
		reason := "HTTP 429 Retry-After"
		if ban {
			reason = "banned (HTTP 418)"
		}
		c.gate.Block(now.Add(wait), reason, ban)
		c.stats.RateLimited.Add(1)
		defer func() {
			var e *exchange.Error
			if errors.As(err, &e) && e.RetryAfter < wait {
				e.RetryAfter = wait
			}
		}()
	}
	if err != nil {
		kind := transportKind(op, err)
		c.gate.Result(now, false, "reading reply")
		return false, &exchange.Error{Kind: kind, Venue: c.cfg.Name, HTTPStatus: status, Msg: "reading reply", Err: err}
	}
	if b.raw && status == http.StatusOK {
		c.gate.Result(now, true, "")
		return true, nil
	}
	perr := b.env.parse(b.resp)
	if perr != nil || len(b.env.code) == 0 {
		kind := classifyTrade(op, status, "")
		if status == http.StatusOK {
			c.stats.BadReplies.Add(1)
			if op == opPlace {
				kind = exchange.KindUnknownOutcome
			} else {
				kind = exchange.KindUnknown
			}
		}
		c.gate.Result(now, status < 500 && kind != exchange.KindUnknownOutcome && kind != exchange.KindUnknown && kind != exchange.KindAuth, fmt.Sprintf("HTTP %d", status))
		return true, &exchange.Error{Kind: kind, Venue: c.cfg.Name, HTTPStatus: status, Msg: "unreadable reply", Err: perr}
	}
	if b.env.isCode("0") && status == http.StatusOK {
		c.gate.Result(now, true, "")
		return true, nil
	}
	code, msg := string(b.env.code), b.env.msg
	if len(b.env.rows) > 0 {
		if s := b.env.rows[0].get(fSCode); len(s) > 0 && string(s) != "0" {
			code, msg = string(s), b.env.rows[0].get(fSMsg)
		}
	}
	kind := classifyTrade(op, status, code)
	c.gate.Result(now, status < 500 && !breakerFailure(kind), "code "+code)
	e := &exchange.Error{Kind: kind, Venue: c.cfg.Name, HTTPStatus: status, Code: code, Msg: text(msg)}
	switch code {
	case codeRateLimit, codeSubRateLimit:
		c.venueLimited(now, code, costs...)
		e.RetryAfter = max(e.RetryAfter, defaultRateWait)
	case codeTimestamp:
		// Our timestamp was more than 30 s off the venue's clock.
		c.clock.invalidate()
		if err := c.clock.measure(ctx, c, false); err != nil {
			c.log.Warn("okx: re-measuring server time after 50102 failed", "err", err)
		}
	}
	return true, e
}

// newRequest builds the HTTP request of b: the body and path are b's
// bytes and the signature is computed into b (see signer). For a fixed
// endpoint (b.url set: place, cancel) the request is a shallow copy of b's
// template, so what allocates is that copy and the three per-request
// header strings (signature, timestamp, expTime) — header values must be
// real strings: HTTP/2's HPACK table keeps them. Other requests are built
// by http.NewRequestWithContext.
func (c *Client) newRequest(ctx context.Context, op opKind, method httpMethod, b *orderBuf, signed bool) (*http.Request, error) {
	var req *http.Request
	if b.url != nil {
		h := b.hdr
		clear(h)
		b.rc.Reset(b.body)
		b.tmpl = http.Request{Method: method.s, URL: b.url, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: h, Body: &b.rc, GetBody: b.getBody, ContentLength: int64(len(b.body)), Host: b.url.Host}
		if len(b.body) == 0 {
			b.tmpl.Body, b.tmpl.GetBody = http.NoBody, nil
		}
		req = b.tmpl.WithContext(ctx)
	} else {
		var body io.Reader
		if len(b.body) > 0 {
			b.rc.Reset(b.body)
			body = &b.rc.Reader
		}
		var err error
		if req, err = http.NewRequestWithContext(ctx, method.s, c.cfg.RESTURL+string(b.path), body); err != nil {
			return nil, err
		}
	}
	h := req.Header
	if signed {
		srv := c.clock.now(c.cfg.Now())
		b.ts = appendISO(b.ts[:0], srv)
		sig := b.sg.sign(b.ts, method.b, b.path, b.body)
		b.hSig[0], b.hTS[0] = string(sig), string(b.ts)
		h["Ok-Access-Key"] = c.hKey
		h["Ok-Access-Sign"] = b.hSig
		h["Ok-Access-Timestamp"] = b.hTS
		h["Ok-Access-Passphrase"] = c.hPass
		if op == opPlace && c.cfg.Expiry > 0 {
			// expTime: the venue discards the request once its clock is
			// past this (README §4.2), bounding an unknown outcome.
			b.exp = strconv.AppendInt(b.exp[:0], srv.Add(c.cfg.Expiry).UnixMilli(), 10)
			b.hExp[0] = string(b.exp)
			h["Exptime"] = b.hExp
		}
	}
	if len(b.body) > 0 {
		h["Content-Type"] = c.hJSON
	}
	if c.cfg.Demo {
		h["X-Simulated-Trading"] = c.hOne
	}
	return req, nil
}

// venueLimited handles a rate-limit code (50011, 50061, 60014). OKX sends no
// usage headers and no Retry-After; its code says our count is off or
// another client shares the key. The request's budgets are marked spent
// for their window, and — since OKX's windows need not align with ours —
// nothing is sent for OKX's 2 s window.
func (c *Client) venueLimited(now time.Time, code string, costs ...gate.Cost) {
	for _, ct := range costs {
		c.gate.Observe(now, ct.Budget, c.budgets[ct.Budget].Limit)
	}
	c.gate.Block(now.Add(defaultRateWait), "rate limit (code "+code+")", false)
	c.stats.RateLimited.Add(1)
}

// readInto reads r to EOF into dst, failing beyond max bytes.
func readInto(dst []byte, r io.Reader, max int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			if len(dst) >= max {
				return dst, errors.New("okx: reply exceeds the size cap")
			}
			dst = slices.Grow(dst, min(max+1, 2*cap(dst)+512)-len(dst))
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// retryAfter parses a Retry-After in seconds (0 if absent or unreadable;
// OKX is not documented to send one, the simulator and proxies may).
func retryAfter(v string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// --- server time ---

// serverClock is the offset between the venue's clock and ours. It is a
// lower bound: from one GET /api/v5/public/time sent at local t0 and
// answered at t1 with ts (ms, truncated), the server's clock read ts at some
// instant before t1, so server(t) ≥ ts + (t − t1) for every later t. Our
// timestamps therefore never run ahead of the venue's clock (they trail it
// by at most the round trip), and of several samples the largest bound is
// the tightest. OKX accepts timestamps within 30 s (50102 otherwise).
type serverClock struct {
	offset atomic.Int64 // ns to add to local time
	ok     atomic.Bool  // measured at least once
	mu     sync.Mutex   // one measurement at a time
	last   time.Time    // local time of the last measurement (under mu)
}

// now returns the venue's clock (lower bound) at local time t.
func (k *serverClock) now(t time.Time) time.Time { return t.Add(time.Duration(k.offset.Load())) }

// invalidate forces the next measure to run even if one ran just now.
func (k *serverClock) invalidate() {
	k.mu.Lock()
	k.last = time.Time{}
	k.mu.Unlock()
}

// measure samples the venue's clock (three round trips at start, one
// later) unless a measurement ran within the last second.
func (k *serverClock) measure(ctx context.Context, c *Client, start bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.last.IsZero() && c.cfg.Now().Sub(k.last) < time.Second && k.ok.Load() {
		return nil
	}
	samples := 1
	if start || !k.ok.Load() {
		samples = 3
	}
	var best int64
	var got bool
	var lastErr error
	for i := 0; i < samples; i++ {
		ts, t1, err := c.serverTime(ctx)
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		off := ts - t1.UnixNano()
		if !got || off > best {
			best, got = off, true
		}
	}
	if !got {
		return fmt.Errorf("okx: measuring server time: %w", lastErr)
	}
	k.offset.Store(best)
	k.ok.Store(true)
	k.last = c.cfg.Now()
	c.stats.Resyncs.Add(1)
	c.stats.OffsetNS.Store(best)
	return nil
}

// serverTime does GET /api/v5/public/time and returns the venue's ts (Unix
// ns) and the local time the reply arrived.
func (c *Client) serverTime(ctx context.Context) (int64, time.Time, error) {
	b := c.getOrderBuf(nil)
	b.path = append(b.path[:0], pathTime...)
	b.body = b.body[:0]
	recycle, err := c.do(ctx, opRead, methodGET, b, false, gate.Cost{Budget: bTime, Units: 1})
	t1 := c.cfg.Now()
	var ts int64
	if err == nil {
		if len(b.env.rows) != 1 {
			err = c.badReply("public/time without one row", nil)
		} else if ts, err = millisNS(b.env.rows[0].get(fTS)); err != nil || ts == 0 {
			err = c.badReply("public/time ts", err)
		}
	}
	if recycle {
		c.orderPool.Put(b)
	}
	return ts, t1, err
}

// --- instrument codes ---

// loadInstIDCodes reads instIdCode (an integer) of every configured
// instrument from GET /api/v5/public/instruments?instType=SPOT. WS order
// operations take instIdCode since OKX's 2026 change; the code may differ
// between production and demo, so it is always read from the venue in use.
func (c *Client) loadInstIDCodes(ctx context.Context) error {
	b := c.getListBuf()
	defer c.listPool.Put(b)
	b.path = append(b.path[:0], InstrumentsPath+"?instType=SPOT"...)
	b.body = b.body[:0]
	// Not through the envelope: instIdCode is a JSON number and the list
	// holds every spot instrument (hundreds of rows); not a hot path.
	b.raw = true
	defer func() { b.raw = false }()
	if _, err := c.do(ctx, opRead, methodGET, b, false, gate.Cost{Budget: bInstruments, Units: 1}); err != nil {
		return err
	}
	codes, perr := parseInstIDCodes(b.resp)
	if perr != nil {
		return c.badReply("instruments", perr)
	}
	n := 0
	for i := range c.insts {
		if code, ok := codes[c.insts[i].Symbol]; ok && code > 0 {
			c.insts[i].code.Store(code)
			n++
		} else {
			c.log.Warn("okx: no instIdCode for instrument; its orders go over REST", "inst", c.insts[i].Symbol)
		}
	}
	c.ows.codes.Store(n > 0)
	return nil
}

// parseInstIDCodes maps instId → instIdCode from an instruments reply.
func parseInstIDCodes(body []byte) (map[string]int64, error) {
	var env struct {
		Code string `json:"code"`
		Msg  string `json:"msg"`
		Data []struct {
			InstID     string          `json:"instId"`
			InstIDCode json.RawMessage `json:"instIdCode"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	if env.Code != "0" {
		return nil, fmt.Errorf("okx: instruments: code %s: %s", env.Code, env.Msg)
	}
	out := make(map[string]int64, len(env.Data))
	for _, d := range env.Data {
		raw := bytes.Trim(d.InstIDCode, `"`) // documented as Integer; tolerate a string
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		v, err := jsonscan.ParseInt(raw)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("okx: instIdCode %q of %s", d.InstIDCode, d.InstID)
		}
		out[d.InstID] = v
	}
	return out, nil
}

// --- the Reconciler and Accounts roles ---

// OpenOrders lists the account's open spot orders on inst (0 = every
// configured instrument) from GET /api/v5/trade/orders-pending, paging
// with after=<ordId>. Orders on instruments this client does not trade are
// left out.
func (c *Client) OpenOrders(ctx context.Context, inst exchange.InstrumentID) ([]exchange.OrderState, error) {
	var only *tradeInst
	if inst != 0 {
		if only = c.inst(inst); only == nil {
			return nil, c.refuse("instrument not configured on this venue")
		}
	}
	b := c.getListBuf()
	var out []exchange.OrderState
	var after []byte
	for page := 0; ; page++ {
		if page == maxListPages {
			c.listPool.Put(b)
			return nil, &exchange.Error{Kind: exchange.KindUnknown, Venue: c.cfg.Name, Msg: "more open orders than one reconciliation reads"}
		}
		b.path = append(b.path[:0], pathOrdersPending+"?instType=SPOT"...)
		if only != nil {
			b.path = append(append(b.path, "&instId="...), only.Symbol...)
		}
		b.path = append(b.path, "&limit=100"...)
		if after != nil {
			b.path = append(append(b.path, "&after="...), after...)
		}
		b.body = b.body[:0]
		recycle, err := c.call(ctx, opRead, methodGET, b, gate.Cost{Budget: bPending, Units: 1})
		if err != nil {
			if recycle {
				c.listPool.Put(b)
			}
			return nil, err
		}
		for i := range b.env.rows {
			r := &b.env.rows[i]
			in := c.instBySym(r.get(fInstID))
			if in == nil || (only != nil && in != only) {
				continue
			}
			st, err := c.convertOrder(r, in)
			if err != nil {
				c.listPool.Put(b)
				return nil, err
			}
			out = append(out, st)
		}
		if len(b.env.rows) < listLimit {
			break
		}
		last := b.env.rows[len(b.env.rows)-1].get(fOrdID)
		if !alnum(last) {
			c.listPool.Put(b)
			return nil, c.badReply("orders-pending paging id", nil)
		}
		after = append(after[:0], last...)
	}
	c.listPool.Put(b)
	return out, nil
}

// alnum reports whether b is 1–64 ASCII letters and digits (safe in a query).
func alnum(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, ch := range b {
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z') {
			return false
		}
	}
	return true
}

// FillsSince lists the spot fills on inst (0 = every configured
// instrument) executed at or after since (Unix ns), oldest first. It reads
// GET /api/v5/trade/fills (the last 3 days) or, for an older since,
// /api/v5/trade/fills-history (3 months), filtering with begin (on the
// fill's ts, which is never before its fillTime: a superset) and paging
// to older rows with after=<billId> until a short page. A fill whose price
// or size does not fit the instrument's scale halts trading and fails the
// read: it is never rounded or left out silently.
func (c *Client) FillsSince(ctx context.Context, inst exchange.InstrumentID, since int64) ([]exchange.Fill, error) {
	var only *tradeInst
	if inst != 0 {
		if only = c.inst(inst); only == nil {
			return nil, c.refuse("instrument not configured on this venue")
		}
	}
	return c.listFills(ctx, only, nil, since)
}

// listFills reads fills (of one order when ordID is set).
func (c *Client) listFills(ctx context.Context, only *tradeInst, ordID []byte, since int64) ([]exchange.Fill, error) {
	path, budget := pathFills, bFills
	if since < c.cfg.Now().Add(-fillsRecent).UnixNano() {
		path, budget = pathFillsHistory, bFillsHistory
	}
	b := c.getListBuf()
	defer func() {
		if b != nil {
			c.listPool.Put(b)
		}
	}()
	var out []exchange.Fill
	var after []byte
	for page := 0; ; page++ {
		if page == maxListPages {
			return nil, &exchange.Error{Kind: exchange.KindUnknown, Venue: c.cfg.Name, Msg: "more fills than one reconciliation reads; read a shorter span"}
		}
		b.path = append(b.path[:0], path...)
		b.path = append(b.path, "?instType=SPOT"...)
		if only != nil {
			b.path = append(append(b.path, "&instId="...), only.Symbol...)
		}
		if ordID != nil {
			b.path = append(append(b.path, "&ordId="...), ordID...)
		}
		if since > 0 {
			b.path = append(b.path, "&begin="...)
			b.path = strconv.AppendInt(b.path, max(since/1e6-1, 0), 10)
		}
		b.path = append(b.path, "&limit=100"...)
		if after != nil {
			b.path = append(append(b.path, "&after="...), after...)
		}
		b.body = b.body[:0]
		recycle, err := c.call(ctx, opRead, methodGET, b, gate.Cost{Budget: budget, Units: 1})
		if err != nil {
			if !recycle {
				b = nil
			}
			return nil, err
		}
		for i := range b.env.rows {
			r := &b.env.rows[i]
			in := c.instBySym(r.get(fInstID))
			if in == nil || (only != nil && in != only) {
				continue
			}
			f, ok, err := fillFrom(r, fillFromREST, c.cfg.Venue, &in.Instrument)
			if err != nil {
				if errors.Is(err, errScale) {
					c.scaleViolation("fill", in, r)
				}
				return nil, c.badReply("fill", err)
			}
			if ok && f.TS >= since {
				out = append(out, f)
			}
		}
		if len(b.env.rows) < listLimit {
			break
		}
		last := b.env.rows[len(b.env.rows)-1].get(fBillID)
		if !alnum(last) {
			return nil, c.badReply("fills paging id", nil)
		}
		after = append(after[:0], last...)
	}
	slices.SortStableFunc(out, func(a, b exchange.Fill) int {
		if a.TS != b.TS {
			if a.TS < b.TS {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.TradeID.Bytes(), b.TradeID.Bytes())
	})
	return out, nil
}

// Balances returns the trading account's currencies from GET
// /api/v5/account/balance: Total = cashBal, Locked = frozenBal. OKX lists
// only currencies with a non-zero balance.
func (c *Client) Balances(ctx context.Context) ([]exchange.Balance, error) {
	b := c.getListBuf()
	b.path = append(b.path[:0], pathBalance...)
	b.body = b.body[:0]
	recycle, err := c.call(ctx, opRead, methodGET, b, gate.Cost{Budget: bBalance, Units: 1})
	if err != nil {
		if recycle {
			c.listPool.Put(b)
		}
		return nil, err
	}
	defer c.listPool.Put(b)
	if len(b.env.rows) > 1 {
		return nil, c.badReply("balance with more than one account", nil)
	}
	out := make([]exchange.Balance, 0, len(b.env.details))
	for i := range b.env.details {
		bal, err := balanceFrom(&b.env.details[i], c.cfg.Venue)
		if err != nil {
			return nil, c.badReply("balance detail", err)
		}
		out = append(out, bal)
	}
	return out, nil
}
