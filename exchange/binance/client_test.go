package binance

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// TestPlaceRESTRoundTrip: a LIMIT IOC over REST is signed, rounded, sent
// once with the caller's client order id, and its FULL answer becomes the
// order state and fills (exact price, quantity, fee) delivered to the sink.
func TestPlaceRESTRoundTrip(t *testing.T) {
	f := newFakeVenue(t)
	var body atomic.Value
	f.restHook = func(w http.ResponseWriter, r *http.Request, route string) bool {
		if route == "POST /api/v3/order" {
			body.Store(r.Header.Get("Content-Type"))
		}
		return false
	}
	c := clientFor(t, f, nil)
	sink := newSinkRec()
	c.setSink(sink)
	// 30000.019 is not on the 0.01 grid in the 3-decimal sense: the buy
	// limit 30000.01 stays, qty 0.0123456 is not representable at scale 5,
	// so the request uses 0.01234 (floored).
	req := order("leg1a0", exchange.Buy, "30000.01", "0.01234")
	st, err := c.PlaceOrder(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != exchange.StatusFilled || st.FilledQty != 1234 || st.Qty != 1234 || st.Px != 3000001 ||
		st.ClientID != req.ClientID || st.Side != exchange.Buy || st.TIF != exchange.IOC || st.Inst != 3 {
		t.Fatalf("state %+v", st)
	}
	if got := body.Load(); got != "application/x-www-form-urlencoded" {
		t.Fatalf("content type %v", got)
	}
	if n := f.count("POST /api/v3/order"); n != 1 {
		t.Fatalf("%d POSTs", n)
	}
	fills := sink.fillsOf("leg1a0")
	if len(fills) != 1 {
		t.Fatalf("%d fills", len(fills))
	}
	fl := fills[0]
	// Fee: 0.1% of 0.01234 BTC received = 0.00001234 BTC.
	if fl.Px != 3000001 || fl.Qty != 1234 || fl.Fee.Cmp(num.AmountOf(1234, 8)) != 0 || fl.FeeAsset.String() != "BTC" ||
		fl.Maker || fl.Side != exchange.Buy || fl.TradeID.IsZero() || fl.VenueOrderID != st.VenueOrderID {
		t.Fatalf("fill %+v fee %s", fl, fl.Fee)
	}
	if c.Stats().OrdersREST.Load() != 1 || c.track.inFlight(req.ClientID) {
		t.Fatal("order still tracked in flight after a final answer")
	}
}

// TestRoundingNeverWorse: the price and quantity sent are on the grid and
// never worse than asked: buy down, sell up, quantity down.
func TestRoundingNeverWorse(t *testing.T) {
	f := newFakeVenue(t)
	var sent []url.Values
	f.restHook = func(w http.ResponseWriter, r *http.Request, route string) bool {
		if route == "POST /api/v3/order" {
			r.ParseForm()
			sent = append(sent, r.PostForm)
		}
		return false
	}
	c := clientFor(t, f, func(cfg *ClientConfig) {
		cfg.Instruments[0].Tick = 10  // 0.10
		cfg.Instruments[0].Step = 100 // 0.00100
	})
	if _, err := c.PlaceOrder(context.Background(), order("b1", exchange.Buy, "30000.19", "0.01299")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PlaceOrder(context.Background(), order("s1", exchange.Sell, "30000.11", "0.01299")); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 {
		t.Fatalf("%d orders", len(sent))
	}
	for i, want := range [][2]string{{"30000.1", "0.012"}, {"30000.2", "0.012"}} {
		if sent[i].Get("price") != want[0] || sent[i].Get("quantity") != want[1] {
			t.Errorf("order %d: price %s qty %s, want %v", i, sent[i].Get("price"), sent[i].Get("quantity"), want)
		}
		if sent[i].Get("type") != "LIMIT" || sent[i].Get("timeInForce") != "IOC" || sent[i].Get("newOrderRespType") != "FULL" || sent[i].Get("recvWindow") != "5000" {
			t.Errorf("order %d params %v", i, sent[i])
		}
	}
}

// TestFiltersRefuseWithoutRequest: min qty, min notional, a quantity that
// rounds to zero, a bad client id, an unknown instrument: KindRejected and
// nothing sent.
func TestFiltersRefuseWithoutRequest(t *testing.T) {
	f := newFakeVenue(t)
	c := clientFor(t, f, func(cfg *ClientConfig) { cfg.Instruments[0].MinQty = 10 })
	cases := []exchange.OrderRequest{
		order("q1", exchange.Buy, "30000", "0.00009"),                                                      // below min qty 0.0001
		order("n1", exchange.Buy, "100", "0.0004"),                                                         // notional 0.04 < 5
		{ClientID: exchange.MustID("z1"), Inst: 3, Side: exchange.Buy, Px: 0, Qty: 100, TIF: exchange.IOC}, // no price
	}
	bad := order("x", exchange.Buy, "30000", "1")
	bad.ClientID = exchange.MustID("has-dash")
	cases = append(cases, bad)
	unk := order("u1", exchange.Buy, "30000", "1")
	unk.Inst = 99
	cases = append(cases, unk)
	other := order("v1", exchange.Buy, "30000", "1")
	other.Venue = 2
	cases = append(cases, other)
	notif := order("t1", exchange.Buy, "30000", "1")
	notif.TIF = 0
	cases = append(cases, notif)
	for i, req := range cases {
		_, err := c.PlaceOrder(context.Background(), req)
		if kindOf(err) != exchange.KindRejected {
			t.Errorf("case %d: %v, want rejected", i, err)
		}
	}
	if n := f.count("POST /api/v3/order"); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
	if c.Stats().Refused.Load() != uint64(len(cases)) {
		t.Fatalf("refused %d", c.Stats().Refused.Load())
	}
}

// errorCase is an answer the fake gives to POST /api/v3/order and the
// kind the client must report.
type errorCase struct {
	name   string
	status int
	body   string
	retry  string
	kind   exchange.ErrorKind
}

// TestErrorClasses: every documented error class maps to its kind.
func TestErrorClasses(t *testing.T) {
	cases := []errorCase{
		{"duplicate", 400, `{"code":-2010,"msg":"Duplicate order sent."}`, "", exchange.KindDuplicate},
		{"insufficient balance", 400, `{"code":-2010,"msg":"Account has insufficient balance for requested action."}`, "", exchange.KindRejected},
		{"filter", 400, `{"code":-1013,"msg":"Filter failure: LOT_SIZE"}`, "", exchange.KindRejected},
		{"precision", 400, `{"code":-1111,"msg":"Parameter 'quantity' has too much precision."}`, "", exchange.KindRejected},
		{"bad symbol (documented payload)", 400, string(docPayload(t, "rest_error_payload.json", "payload")), "", exchange.KindRejected},
		{"signature", 400, `{"code":-1022,"msg":"Signature for this request is not valid."}`, "", exchange.KindAuth},
		{"api key", 401, `{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}`, "", exchange.KindAuth},
		{"unknown 5xx", 503, `{"code":-1000,"msg":"Unknown error, please check your request or try again later."}`, "", exchange.KindUnknownOutcome},
		{"5xx html", 502, `<html>Bad Gateway</html>`, "", exchange.KindUnknownOutcome},
		{"-1006", 400, `{"code":-1006,"msg":"An unexpected response was received from the message bus. Execution status unknown."}`, "", exchange.KindUnknownOutcome},
		{"-1007", 408, `{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}`, "", exchange.KindUnknownOutcome},
		{"server busy", 503, `{"code":-1008,"msg":"Server is currently overloaded with other requests. Please try again in a few minutes."}`, "", exchange.KindRetryable},
		{"waf", 403, `<html>Forbidden</html>`, "", exchange.KindRejected},
		{"429", 429, `{"code":-1003,"msg":"Too much request weight used; current limit is 6000 request weight per 1 MINUTE."}`, "3", exchange.KindRateLimited},
		{"order rate", 429, `{"code":-1015,"msg":"Too many new orders; current limit is 50 orders per 10 SECOND."}`, "", exchange.KindRateLimited},
		{"418", 418, `{"code":-1003,"msg":"Way too much request weight used; IP banned until 1659146400000."}`, "120", exchange.KindRateLimited},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVenue(t)
			f.restHook = func(w http.ResponseWriter, r *http.Request, route string) bool {
				if route != "POST /api/v3/order" {
					return false
				}
				if tc.retry != "" {
					w.Header().Set("Retry-After", tc.retry)
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
				return true
			}
			c := clientFor(t, f, nil)
			_, err := c.PlaceOrder(context.Background(), order("e"+string(rune('a'+i)), exchange.Buy, "30000", "0.001"))
			var e *exchange.Error
			if !errors.As(err, &e) || e.Kind != tc.kind {
				t.Fatalf("%v, want %v", err, tc.kind)
			}
			if e.Venue != "binance-test" || e.HTTPStatus != tc.status {
				t.Fatalf("error %+v", e)
			}
			if strings.Contains(err.Error(), fakeSecret) {
				t.Fatal("secret in error")
			}
			if n := f.count("POST /api/v3/order"); n != 1 {
				t.Fatalf("%d POSTs: the client resent", n)
			}
		})
	}
}

// TestQueryAndCancelNotFound: -2013 on a query and -2011 "Unknown order
// sent." on a cancel are KindNotFound; a found order is returned.
func TestQueryAndCancelNotFound(t *testing.T) {
	f := newFakeVenue(t)
	c := clientFor(t, f, nil)
	ctx := context.Background()
	if _, err := c.QueryOrder(ctx, 3, exchange.MustID("nope")); kindOf(err) != exchange.KindNotFound {
		t.Fatalf("query: %v", err)
	}
	if _, err := c.CancelOrder(ctx, 3, exchange.MustID("nope")); kindOf(err) != exchange.KindNotFound {
		t.Fatalf("cancel: %v", err)
	}
	gtc := order("rest1", exchange.Sell, "31000", "0.002")
	gtc.TIF = exchange.GTC
	st, err := c.PlaceOrder(ctx, gtc)
	if err != nil || st.Status != exchange.StatusNew {
		t.Fatalf("%+v %v", st, err)
	}
	q, err := c.QueryOrder(ctx, 3, gtc.ClientID)
	if err != nil || q.VenueOrderID != st.VenueOrderID || q.Status != exchange.StatusNew {
		t.Fatalf("query %+v %v", q, err)
	}
	open, err := c.OpenOrders(ctx, 0)
	if err != nil || len(open) != 1 || open[0].ClientID != gtc.ClientID {
		t.Fatalf("open %+v %v", open, err)
	}
	cs, err := c.CancelOrder(ctx, 3, gtc.ClientID)
	if err != nil || cs.Status != exchange.StatusCanceled || cs.ClientID != gtc.ClientID {
		t.Fatalf("cancel %+v %v", cs, err)
	}
	if c.track.inFlight(gtc.ClientID) {
		t.Fatal("cancelled order still in flight")
	}
}

// TestUnknownOutcomeNeverResent: an order whose answer never comes (the
// venue executes it and hangs) is KindUnknownOutcome; the client does not
// send it again, neither by itself nor when the caller calls PlaceOrder
// again with the same id before the outcome is known; QueryOrder resolves
// it and a resubmission then answers KindDuplicate without a request.
func TestUnknownOutcomeNeverResent(t *testing.T) {
	f := newFakeVenue(t)
	release := make(chan struct{})
	f.restHook = func(w http.ResponseWriter, r *http.Request, route string) bool {
		if route != "POST /api/v3/order" {
			return false
		}
		r.ParseForm()
		f.placeOrder(r.PostForm) // executes…
		select {                 // …and the answer is lost
		case <-release:
		case <-r.Context().Done():
		}
		return true
	}
	defer close(release)
	c := clientFor(t, f, func(cfg *ClientConfig) { cfg.RequestTimeout = 300 * time.Millisecond })
	req := order("lost1", exchange.Buy, "30000", "0.001")
	_, err := c.PlaceOrder(context.Background(), req)
	if kindOf(err) != exchange.KindUnknownOutcome {
		t.Fatalf("%v", err)
	}
	if !c.track.inFlight(req.ClientID) {
		t.Fatal("unknown-outcome order not tracked")
	}
	st, err := c.QueryOrder(context.Background(), 3, req.ClientID)
	if err != nil || st.Status != exchange.StatusFilled || st.FilledQty != 100 {
		t.Fatalf("query %+v %v", st, err)
	}
	// The caller resubmits with the same id: the venue would accept it
	// (the first is filled), so the client must not send it.
	st2, err := c.PlaceOrder(context.Background(), req)
	if kindOf(err) != exchange.KindDuplicate || st2.VenueOrderID != st.VenueOrderID {
		t.Fatalf("resubmit: %+v %v", st2, err)
	}
	if n := f.count("POST /api/v3/order"); n != 1 {
		t.Fatalf("%d POSTs", n)
	}
	f.mu.Lock()
	orders := len(f.byID)
	f.mu.Unlock()
	if orders != 1 {
		t.Fatalf("venue holds %d orders", orders)
	}
}

// TestResubmitAfterRefusal: an order refused for certain (-2010
// insufficient balance) may be sent again with the same id at once; one
// that the venue does not know but was sent recently is not.
func TestResubmitAfterRefusal(t *testing.T) {
	f := newFakeVenue(t)
	var refuse atomic.Bool
	refuse.Store(true)
	f.restHook = func(w http.ResponseWriter, r *http.Request, route string) bool {
		if route == "POST /api/v3/order" && refuse.Load() {
			fakeErr(w, 400, -2010, "Account has insufficient balance for requested action.")
			return true
		}
		return false
	}
	c := clientFor(t, f, nil)
	req := order("again1", exchange.Sell, "30000", "0.001")
	if _, err := c.PlaceOrder(context.Background(), req); kindOf(err) != exchange.KindRejected {
		t.Fatal(err)
	}
	refuse.Store(false)
	if _, err := c.PlaceOrder(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if n, q := f.count("POST /api/v3/order"), f.count("GET /api/v3/order"); n != 2 || q != 0 {
		t.Fatalf("%d POSTs %d queries", n, q)
	}

	// Sent, outcome unknown, venue does not know it yet: not sent again.
	f.restHook = func(w http.ResponseWriter, r *http.Request, route string) bool {
		if route == "POST /api/v3/order" {
			w.WriteHeader(504)
			return true
		}
		return false
	}
	req2 := order("again2", exchange.Sell, "30000", "0.001")
	if _, err := c.PlaceOrder(context.Background(), req2); kindOf(err) != exchange.KindUnknownOutcome {
		t.Fatal(err)
	}
	if _, err := c.PlaceOrder(context.Background(), req2); kindOf(err) != exchange.KindUnknownOutcome {
		t.Fatalf("second: %v", err)
	}
	if n := f.count("POST /api/v3/order"); n != 3 {
		t.Fatalf("%d POSTs", n)
	}
}

// TestRateLimitRetryAfter: after a 429 with Retry-After no request of any
// kind reaches the venue before it has passed; then requests go again. The
// clock is injected, so the test does not wait.
func TestRateLimitRetryAfter(t *testing.T) {
	f := newFakeVenue(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	var limited atomic.Bool
	limited.Store(true)
	f.restHook = func(w http.ResponseWriter, r *http.Request, route string) bool {
		if route == "POST /api/v3/order" && limited.Load() {
			limited.Store(false)
			w.Header().Set("Retry-After", "7")
			fakeErr(w, 429, -1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE.")
			return true
		}
		return false
	}
	c := clientFor(t, f, func(cfg *ClientConfig) { cfg.Now = func() int64 { return clock.Load() } })
	ctx := context.Background()
	if _, err := c.PlaceOrder(ctx, order("r1", exchange.Buy, "30000", "0.001")); kindOf(err) != exchange.KindRateLimited {
		t.Fatal(err)
	}
	before := f.count("POST /api/v3/order") + f.count("GET /api/v3/order") + f.count("GET /api/v3/time")
	var e *exchange.Error
	for _, step := range []time.Duration{0, time.Second, 5900 * time.Millisecond} { // up to 6.9 s after the 429
		clock.Store(clock.Load() + int64(step))
		_, err := c.PlaceOrder(ctx, order("r2", exchange.Buy, "30000", "0.001"))
		if !errors.As(err, &e) || e.Kind != exchange.KindRateLimited || e.RetryAfter <= 0 {
			t.Fatalf("at +%v: %v", step, err)
		}
		if _, err := c.QueryOrder(ctx, 3, exchange.MustID("r1")); kindOf(err) != exchange.KindRateLimited {
			t.Fatalf("query at +%v: %v", step, err)
		}
		if cb := c.Circuit(); !cb.Open || cb.Until == 0 || !strings.Contains(cb.Reason, "429") {
			t.Fatalf("circuit %+v", cb)
		}
		if rl := c.RateLimits(); len(rl) == 0 || rl[0].BlockedUntil != c.Circuit().Until {
			t.Fatalf("rate limits during Retry-After %+v", rl)
		}
	}
	after := f.count("POST /api/v3/order") + f.count("GET /api/v3/order") + f.count("GET /api/v3/time")
	if after != before {
		t.Fatalf("%d requests reached the venue during Retry-After", after-before)
	}
	clock.Store(clock.Load() + int64(200*time.Millisecond)) // 7.1 s after the 429
	if _, err := c.PlaceOrder(ctx, order("r3", exchange.Buy, "30000", "0.001")); err != nil {
		t.Fatal(err)
	}
	if cb := c.Circuit(); cb.Open {
		t.Fatalf("circuit still open: %+v", cb)
	}
	if rl := c.RateLimits(); rl[0].BlockedUntil != 0 {
		t.Fatalf("still blocked after Retry-After: %+v", rl)
	}
}

// TestRateLimitsCountRequests: after N order placements the client reports
// N spent in each order-count budget and on raw requests, at least N
// weight units, the venue's documented limits, and no block.
func TestRateLimitsCountRequests(t *testing.T) {
	f := newFakeVenue(t)
	now := time.Now().UnixNano() // fixed: no window rolls during the test
	c := clientFor(t, f, func(cfg *ClientConfig) { cfg.Now = func() int64 { return now } })
	const n = 5
	for i := range n {
		if _, err := c.PlaceOrder(context.Background(), order("rl"+strconv.Itoa(i), exchange.Buy, "30000", "0.001")); err != nil {
			t.Fatal(err)
		}
	}
	if p := f.count("POST /api/v3/order"); p != n {
		t.Fatalf("%d POSTs, want %d", p, n)
	}
	requests := 0 // every request reached the fake (the orders, the server-time sync)
	f.mu.Lock()
	for _, h := range f.hits {
		requests += h
	}
	f.mu.Unlock()
	got := map[string]exchange.RateLimit{}
	for _, r := range c.RateLimits() {
		got[r.Budget] = r
		if r.BlockedUntil != 0 {
			t.Errorf("%s blocked until %d without a 429", r.Budget, r.BlockedUntil)
		}
	}
	for _, w := range []exchange.RateLimit{
		{Budget: "ORDERS (10s)", Used: n, Limit: DefaultOrdersPer10s, Window: 10 * time.Second},
		{Budget: "ORDERS (1d)", Used: n, Limit: DefaultOrdersPerDay, Window: 24 * time.Hour},
		{Budget: "RAW_REQUESTS", Used: requests, Limit: DefaultRawPer5m, Window: 5 * time.Minute},
	} {
		if got[w.Budget] != w {
			t.Errorf("%s: got %+v, want %+v", w.Budget, got[w.Budget], w)
		}
	}
	// Our own count (weight 1 per order) or the venue's header (7), whichever is higher.
	if w := got["REQUEST_WEIGHT"]; w.Used < n || w.Limit != DefaultWeightPerMinute || w.Window != time.Minute {
		t.Errorf("REQUEST_WEIGHT %+v", w)
	}
}

// TestBanOpensCircuit: a 418 opens the circuit until Retry-After with the
// reason; nothing is sent meanwhile.
func TestBanOpensCircuit(t *testing.T) {
	f := newFakeVenue(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	f.restHook = func(w http.ResponseWriter, r *http.Request, route string) bool {
		if route == "POST /api/v3/order" {
			w.Header().Set("Retry-After", "120")
			fakeErr(w, 418, -1003, "Way too much request weight used; IP banned until 1659146400000.")
			return true
		}
		return false
	}
	c := clientFor(t, f, func(cfg *ClientConfig) { cfg.Now = func() int64 { return clock.Load() } })
	t0 := clock.Load()
	_, err := c.PlaceOrder(context.Background(), order("b1", exchange.Buy, "30000", "0.001"))
	var e *exchange.Error
	if !errors.As(err, &e) || e.Kind != exchange.KindRateLimited || e.RetryAfter != 120*time.Second {
		t.Fatal(err)
	}
	cb := c.Circuit()
	if !cb.Open || !strings.Contains(cb.Reason, "418") || cb.Until != t0+int64(120*time.Second) {
		t.Fatalf("circuit %+v", cb)
	}
	clock.Store(t0 + int64(119*time.Second))
	if _, err := c.Balances(context.Background()); kindOf(err) != exchange.KindRateLimited {
		t.Fatalf("balances during ban: %v", err)
	}
	if n := f.count("GET /api/v3/account"); n != 0 {
		t.Fatal("request sent during the ban")
	}
	clock.Store(t0 + int64(121*time.Second))
	if _, err := c.Balances(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestBreakerOpensAfterRepeatedFailures: BreakerThreshold 5XX in a row
// open the circuit with the reason.
func TestBreakerOpensAfterRepeatedFailures(t *testing.T) {
	f := newFakeVenue(t)
	f.restHook = func(w http.ResponseWriter, r *http.Request, route string) bool {
		if route == "GET /api/v3/openOrders" {
			w.WriteHeader(500)
			return true
		}
		return false
	}
	c := clientFor(t, f, func(cfg *ClientConfig) { cfg.BreakerThreshold = 3 })
	for i := 0; i < 3; i++ {
		if _, err := c.OpenOrders(context.Background(), 3); kindOf(err) != exchange.KindRetryable {
			t.Fatalf("%d: %v", i, err)
		}
	}
	cb := c.Circuit()
	if !cb.Open || !strings.Contains(cb.Reason, "3 failures") {
		t.Fatalf("circuit %+v", cb)
	}
	if _, err := c.OpenOrders(context.Background(), 3); kindOf(err) != exchange.KindRateLimited {
		t.Fatalf("while open: %v", err)
	}
	if n := f.count("GET /api/v3/openOrders"); n != 3 {
		t.Fatalf("%d requests", n)
	}
}

// TestTimestampErrorResyncs: a venue clock 3 s behind ours makes the first
// order's timestamp "ahead" (-1021); the client re-measures the offset and
// sends it once more with the same id; later requests use the offset. A
// venue clock ahead of ours needs no correction beyond the measured one.
func TestTimestampErrorResyncs(t *testing.T) {
	f := newFakeVenue(t)
	c := clientFor(t, f, nil)
	ctx := context.Background()
	if err := c.syncTime(ctx); err != nil { // measured with the clocks agreeing
		t.Fatal(err)
	}
	f.mu.Lock()
	f.offset = -3 * time.Second
	f.mu.Unlock()
	times0 := f.count("GET /api/v3/time")
	st, err := c.PlaceOrder(ctx, order("ts1", exchange.Buy, "30000", "0.001"))
	if err != nil || st.Status != exchange.StatusFilled {
		t.Fatalf("%+v %v", st, err)
	}
	if f.count("POST /api/v3/order") != 2 || f.count("GET /api/v3/time") <= times0 {
		t.Fatalf("POSTs %d, time requests %d→%d", f.count("POST /api/v3/order"), times0, f.count("GET /api/v3/time"))
	}
	if c.Stats().TimeResyncs.Load() == 0 {
		t.Fatal("no resync counted")
	}
	off := time.Duration(c.offset.Load())
	if off > -3*time.Second || off < -3*time.Second-500*time.Millisecond {
		t.Fatalf("offset %v, want just below -3s", off)
	}
	// Never ahead: every timestamp the fake saw passed its check.
	if _, err := c.QueryOrder(ctx, 3, exchange.MustID("ts1")); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.offset = 4 * time.Second
	f.mu.Unlock()
	if err := c.syncTime(ctx); err != nil {
		t.Fatal(err)
	}
	if ts, now := c.timestampMs(), f.serverNow().UnixMilli(); ts > now {
		t.Fatalf("timestamp %d ahead of the venue %d", ts, now)
	}
}

// TestBalancesDocumented: the documented account answer becomes exact
// balances (free + locked).
func TestBalancesDocumented(t *testing.T) {
	f := newFakeVenue(t)
	doc := docPayload(t, "wsapi_account_status.json", "response")
	var resp struct{ Result jsonRaw }
	_ = jsonUnmarshal(doc, &resp)
	f.restHook = func(w http.ResponseWriter, r *http.Request, route string) bool {
		if route == "GET /api/v3/account" {
			if r.URL.Query().Get("omitZeroBalances") != "true" {
				t.Error("omitZeroBalances not sent")
			}
			w.Write(resp.Result)
			return true
		}
		return false
	}
	c := clientFor(t, f, nil)
	bs, err := c.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{"BNB": {"0", "0"}, "BTC": {"1.4307112", "0.086"}, "USDT": {"1021.21", "0"}}
	if len(bs) != 3 {
		t.Fatalf("%+v", bs)
	}
	for _, b := range bs {
		w := want[b.Asset]
		tot, _ := num.ParseAmountString(w[0])
		lk, _ := num.ParseAmountString(w[1])
		if b.Total.Cmp(tot) != 0 || b.Locked.Cmp(lk) != 0 || b.Venue != 1 {
			t.Errorf("%s: total %s locked %s, want %v", b.Asset, b.Total, b.Locked, w)
		}
	}
}

// TestFillsSincePaging: fills over several days are found with 24 h
// windows and then paged with fromId; none lost, none invented, oldest
// first, client order ids filled in.
func TestFillsSincePaging(t *testing.T) {
	f := newFakeVenue(t)
	c := clientFor(t, f, nil)
	base := time.Now().Add(-72 * time.Hour).UnixMilli()
	f.mu.Lock()
	o := &fakeOrder{sym: "BTCUSDT", clientID: "old1", side: "BUY", tif: "IOC", id: 777, status: "FILLED", time: base}
	f.byID[777], f.orders["old1"] = o, o
	for i := 0; i < 2500; i++ { // 2.5 pages, starting 3 days ago, one every 30 s
		f.trades = append(f.trades, fakeTrade{sym: "BTCUSDT", id: int64(5000 + i), orderID: 777, time: base + int64(i)*30000,
			px: decimalOf("30000.5"), qty: decimalOf("0.001"), fee: decimalOf("0.000001"), feeAsset: "BTC", buyer: true})
	}
	f.mu.Unlock()
	since := (base + 1000*30000) * 1e6 // from the 1000th fill
	fills, err := c.FillsSince(context.Background(), 3, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(fills) != 1500 {
		t.Fatalf("%d fills, want 1500", len(fills))
	}
	for i, fl := range fills {
		if fl.TradeID.String() != itoa(6000+i) || fl.ClientID.String() != "old1" || fl.Px != 3000050 || fl.Qty != 100 || fl.Side != exchange.Buy {
			t.Fatalf("fill %d: %+v", i, fl)
		}
	}
	if n := f.count("GET /api/v3/order"); n != 1 {
		t.Fatalf("%d owner lookups, want 1", n)
	}
}

// TestCredentialsRedacted: no way of printing or logging credentials shows
// the key or the secret.
func TestCredentialsRedacted(t *testing.T) {
	cr := hmacCreds(t)
	outs := []string{cr.String(), cr.GoString(), sprintf("%v|%+v|%#v|%s|%x|%q", cr, cr, cr, cr, cr, cr)}
	cfg := ClientConfig{Credentials: cr}
	outs = append(outs, sprintf("%v %+v", cfg, cfg))
	var logged strings.Builder
	newJSONLogger(&logged).Info("x", "creds", cr, "cfg", cfg.Credentials)
	outs = append(outs, logged.String())
	j, _ := jsonMarshal(map[string]any{"credentials": cr})
	outs = append(outs, string(j))
	for _, o := range outs {
		if strings.Contains(o, fakeSecret) || strings.Contains(o, fakeKey) || strings.Contains(o, "NhqPtmd") {
			t.Fatalf("leak: %s", o)
		}
	}
}

// TestTransportErrorHidesSignature: a failed signed GET's error does not
// carry the query string (timestamp and signature).
func TestTransportErrorHidesSignature(t *testing.T) {
	f := newFakeVenue(t)
	c := clientFor(t, f, nil)
	if err := c.syncTime(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.srv.Close()
	_, err := c.QueryOrder(context.Background(), 3, exchange.MustID("gone"))
	if err == nil || kindOf(err) != exchange.KindRetryable {
		t.Fatalf("%v", err)
	}
	if strings.Contains(err.Error(), "signature") || strings.Contains(err.Error(), "timestamp") {
		t.Fatalf("signed query in error: %v", err)
	}
}

// TestConcurrentSameIDSendsOnce: many goroutines placing the same client
// order id at once: one order reaches the venue; the others are told
// KindDuplicate (in flight, or found by their lookup) or, when their
// lookup ran before the first order reached the venue,
// KindUnknownOutcome — never sent.
func TestConcurrentSameIDSendsOnce(t *testing.T) {
	f := newFakeVenue(t)
	c := clientFor(t, f, nil)
	if err := c.syncTime(context.Background()); err != nil {
		t.Fatal(err)
	}
	req := order("race1", exchange.Buy, "30000", "0.001")
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := c.PlaceOrder(context.Background(), req)
			errs <- err
		}()
	}
	ok := 0
	for i := 0; i < n; i++ {
		err := <-errs
		switch kindOf(err) {
		case exchange.KindUnknown:
			if err == nil {
				ok++
				continue
			}
			t.Fatal(err)
		case exchange.KindDuplicate, exchange.KindUnknownOutcome:
		default:
			t.Fatal(err)
		}
	}
	if ok != 1 || f.count("POST /api/v3/order") != 1 {
		t.Fatalf("%d successes, %d POSTs", ok, f.count("POST /api/v3/order"))
	}
}
