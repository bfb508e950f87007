package bybit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
)

func TestCredentialsRedacted(t *testing.T) {
	c := testCredentials(t)
	cfg := ClientConfig{Venue: 1, Credentials: c}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("cfg", "cred", c, "config", cfg)
	js, err := json.Marshal(struct{ Credentials Credentials }{c})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg),
		logBuf.String(), string(js),
	} {
		if strings.Contains(s, fakeSecret) || strings.Contains(s, fakeKey) {
			t.Fatalf("credentials leaked: %s", s)
		}
		if !strings.Contains(s, "REDACTED") {
			t.Fatalf("no redaction marker in %s", s)
		}
	}
	if _, err := NewCredentials("", "x"); err == nil || strings.Contains(err.Error(), "x") && strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("empty key accepted or echoed: %v", err)
	}
	if _, err := NewCredentials("key with space", "s"); err == nil {
		t.Fatal("key with a space accepted")
	}
}

func TestClientConfigValidate(t *testing.T) {
	good := ClientConfig{Venue: 3, Credentials: testCredentials(t), Instruments: testInstruments()}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ClientConfig{Venue: 0, RESTURL: "ftp://x", PrivateURL: "http://x", OrderEntry: "fix", RecvWindow: 1500 * time.Microsecond,
		Instruments: []exchange.Instrument{{ID: 1, Symbol: "btc"}, {ID: 1, Symbol: "BTCUSDT"}}, MaxInFlight: 1000, Headroom: 1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, field := range []string{"Venue", "RESTURL", "PrivateURL", "OrderEntry", "RecvWindow", "Credentials",
		"Instruments[0].Symbol", "Instruments[1].ID", "Instruments[0].Tick", "Instruments[0].Base", "MaxInFlight", "Headroom"} {
		if !strings.Contains(err.Error(), "bybit: "+field+":") {
			t.Errorf("no error for %s in:\n%v", field, err)
		}
	}
	d := good.withDefaults()
	if d.PrivateURL != "wss://stream.bybit.com/v5/private" || d.TradeURL != "wss://stream.bybit.com/v5/trade" ||
		d.RESTURL != "https://api.bybit.com" || d.RecvWindow != 5*time.Second || d.OrderEntry != OrderEntryAuto {
		t.Fatalf("defaults: %+v", d)
	}
}

// TestOrderBodyMatchesDocs checks the order body against the documented
// spot order of create-order.mdx ("Spot PostOnly normal order"): the same
// field names and value types, category spot, orderType Limit, numbers as
// strings with the tick's and step's decimals.
func TestOrderBodyMatchesDocs(t *testing.T) {
	insts := testInstruments()
	o, err := prepareOrder(&insts[0], &exchange.OrderRequest{ClientID: exchange.MustID("spottest01"), Inst: 1, Side: exchange.Buy,
		Px: 1560000, Qty: 100000, TIF: exchange.IOC})
	if err != nil {
		t.Fatal(err)
	}
	body := appendOrderBody(nil, &o)
	want := `{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.1","price":"15600","timeInForce":"IOC","orderLinkId":"spottest01"}`
	if string(body) != want {
		t.Fatalf("body\n got %s\nwant %s", body, want)
	}
	// The documented request: every field we send appears there with the
	// same JSON type.
	var doc map[string]any
	for _, line := range strings.Split(string(readShared(t, "rest_create_order_request_examples.txt")), "\n") {
		if strings.Contains(line, `"orderLinkId":"spot-test-01"`) {
			if err := json.Unmarshal([]byte(line), &doc); err != nil {
				t.Fatal(err)
			}
		}
	}
	if doc == nil {
		t.Fatal("documented spot order not found")
	}
	var ours map[string]any
	if err := json.Unmarshal(body, &ours); err != nil {
		t.Fatal(err)
	}
	for k, v := range ours {
		dv, ok := doc[k]
		if !ok {
			t.Errorf("field %q not in the documented request", k)
			continue
		}
		if fmt.Sprintf("%T", dv) != fmt.Sprintf("%T", v) {
			t.Errorf("field %q: %T, documented %T", k, v, dv)
		}
	}
	for _, k := range []string{"category", "symbol", "side", "orderType"} {
		if ours[k] != doc[k] {
			t.Errorf("%s = %v, documented %v", k, ours[k], doc[k])
		}
	}
}

// TestWSOrderMatchesDocs checks the order.create message against the
// documented one (websocket/trade/guideline.mdx): same keys at every
// level, header timestamp and recv window as strings, one order in args.
func TestWSOrderMatchesDocs(t *testing.T) {
	insts := testInstruments()
	o, _ := prepareOrder(&insts[0], &exchange.OrderRequest{ClientID: exchange.MustID("a1"), Inst: 1, Side: exchange.Sell,
		Px: 2800_00, Qty: 200000, TIF: exchange.IOC})
	msg := appendWSOrder(nil, []byte("test-005"), 1711001595207, "8000", &o)
	var ours, doc map[string]any
	if err := json.Unmarshal(msg, &ours); err != nil {
		t.Fatalf("%s: %v", msg, err)
	}
	doc = docFile(t, "ws_trade_order_create.json", "order_create_request")
	if ours["reqId"] != doc["reqId"] || ours["op"] != doc["op"] {
		t.Fatalf("reqId/op: %s", msg)
	}
	oh, dh := ours["header"].(map[string]any), doc["header"].(map[string]any)
	for _, k := range []string{"X-BAPI-TIMESTAMP", "X-BAPI-RECV-WINDOW"} {
		if oh[k] != dh[k] {
			t.Errorf("header %s = %v, documented %v", k, oh[k], dh[k])
		}
	}
	oa, da := ours["args"].([]any), doc["args"].([]any)
	if len(oa) != 1 || len(da) != 1 {
		t.Fatalf("args %v", oa)
	}
	for k := range oa[0].(map[string]any) {
		if _, ok := da[0].(map[string]any)[k]; !ok && k != "orderLinkId" {
			t.Errorf("arg %q not in the documented order", k)
		}
	}
}

func readShared(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(docsDir + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignerMatchesReference: the reused signer equals Sign (checked
// against RFC 4231 in sign_test.go) and the independent RFC 2104 HMAC, on
// random payloads, across reuse.
func TestSignerMatchesReference(t *testing.T) {
	cred := testCredentials(t)
	g := newSigner(&cred, "5000")
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 200; i++ {
		p := make([]byte, r.IntN(600))
		for j := range p {
			p[j] = byte(' ' + r.IntN(95))
		}
		ts := 1_600_000_000_000 + r.Int64N(1e12)
		got := string(g.sign(ts, p))
		msg := StringToSign(fmt.Sprint(ts), fakeKey, "5000", string(p))
		if want := Sign(fakeSecret, msg); got != want {
			t.Fatalf("signer %s, Sign %s", got, want)
		}
		if want := fmt.Sprintf("%x", hmacRFC2104([]byte(fakeSecret), []byte(msg))); got != want {
			t.Fatalf("signer %s, RFC 2104 %s", got, want)
		}
	}
}

// TestRoundingMatchesDecimal checks prepareOrder's integer rounding against
// shopspring/decimal on random grids: a buy price is the largest tick
// multiple ≤ the limit, a sell price the smallest ≥ it, the quantity the
// largest step multiple ≤ the request; never worse than the request; the
// filters decide exactly as decimal arithmetic does.
func TestRoundingMatchesDecimal(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 11))
	for i := 0; i < 20000; i++ {
		sc := num.Scale{Px: uint8(r.IntN(9)), Qty: uint8(r.IntN(9))}
		in := exchange.Instrument{ID: 1, Symbol: "XUSDT", Scale: sc,
			Tick:        num.Price(1 + r.Int64N(1000)),
			Step:        num.Qty(1 + r.Int64N(1000)),
			MinQty:      num.Qty(r.Int64N(2000)),
			MinNotional: num.Quote(r.Int64N(1_000_000)),
		}
		req := exchange.OrderRequest{ClientID: exchange.MustID("x1"), Inst: 1, Side: exchange.Side(1 + r.IntN(2)), TIF: exchange.IOC,
			Px: num.Price(r.Int64N(10_000_000)), Qty: num.Qty(r.Int64N(10_000_000))}
		o, err := prepareOrder(&in, &req)

		dec := func(v int64, d uint8) decimal.Decimal { return decimal.New(v, -int32(d)) }
		tick, step := dec(int64(in.Tick), sc.Px), dec(int64(in.Step), sc.Qty)
		px, qty := dec(int64(req.Px), sc.Px), dec(int64(req.Qty), sc.Qty)
		var wantPx decimal.Decimal
		if req.Side == exchange.Buy {
			wantPx = px.Div(tick).Floor().Mul(tick)
		} else {
			wantPx = px.Div(tick).Ceil().Mul(tick)
		}
		wantQty := qty.Div(step).Floor().Mul(step)
		wantErr := error(nil)
		switch {
		case !wantPx.IsPositive():
			wantErr = errPxZero
		case !wantQty.IsPositive() || wantQty.LessThan(dec(int64(in.MinQty), sc.Qty)):
			wantErr = errQtyMin
		case in.MinNotional > 0 && wantPx.Mul(wantQty).LessThan(dec(int64(in.MinNotional), sc.Px)):
			wantErr = errNotionalMin
		}
		if err != wantErr {
			t.Fatalf("seed %d case %d: %+v %+v: err %v, decimal says %v (px %s qty %s)", seed, i, in, req, err, wantErr, wantPx, wantQty)
		}
		if err != nil {
			continue
		}
		if !dec(int64(o.px), sc.Px).Equal(wantPx) || !dec(int64(o.qty), sc.Qty).Equal(wantQty) {
			t.Fatalf("seed %d case %d: got px %d qty %d, decimal %s %s", seed, i, o.px, o.qty, wantPx, wantQty)
		}
		if req.Side == exchange.Buy && o.px > req.Px || req.Side == exchange.Sell && o.px < req.Px || o.qty > req.Qty {
			t.Fatalf("worse than the request: %+v → %+v", req, o)
		}
	}
}

// --- against the fake venue ---

func placeReq(id string, side exchange.Side, px num.Price, qty num.Qty) exchange.OrderRequest {
	return exchange.OrderRequest{ClientID: exchange.MustID(id), Venue: 3, Inst: 1, Side: side, Px: px, Qty: qty, TIF: exchange.IOC}
}

func TestPlaceOrderREST(t *testing.T) {
	f := newFakeVenue(t)
	c := newTestClient(t, f, nil)
	// Buy 0.0123456 at 30000.07: price rounds down to 30000.0, qty to 0.012345.
	st, err := c.PlaceOrder(context.Background(), placeReq("ord1", exchange.Buy, 3000007, 12345))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != exchange.StatusNew || st.ClientID.String() != "ord1" || st.VenueOrderID.IsZero() || st.Px != 3000000 || st.Qty != 12345 {
		t.Fatalf("ack %+v", st)
	}
	f.mu.Lock()
	o := f.byLink["ord1"]
	f.mu.Unlock()
	if o == nil || o.px.String() != "30000" || o.qty.String() != "0.012345" || o.side != "Buy" || o.tif != "IOC" {
		t.Fatalf("venue saw %+v", o)
	}
	if f.hit("/v5/order/create") != 1 || f.hit("/v5/market/time") != 1 {
		t.Fatalf("hits %v", f.hits)
	}
	// The venue knows the order: a second PlaceOrder with the id is refused
	// by the client without a request.
	_, err = c.PlaceOrder(context.Background(), placeReq("ord1", exchange.Buy, 3000007, 12345))
	if exchange.KindOf(err) != exchange.KindDuplicate || f.hit("/v5/order/create") != 1 {
		t.Fatalf("resubmission: %v, creates %d", err, f.hit("/v5/order/create"))
	}
	// Query, balances, fills.
	q, err := c.QueryOrder(context.Background(), 1, exchange.MustID("ord1"))
	if err != nil || q.Status != exchange.StatusFilled || q.FilledQty != 12345 || q.VenueOrderID != st.VenueOrderID {
		t.Fatalf("query %+v %v", q, err)
	}
	fills, err := c.FillsSince(context.Background(), 0, time.Now().Add(-time.Minute).UnixNano())
	if err != nil || len(fills) != 1 || fills[0].Qty != 12345 || fills[0].Px != 3000000 || fills[0].FeeAsset.String() != "BTC" ||
		fills[0].Fee.Cmp(num.AmountOf(12345, 9)) != 0 || fills[0].ClientID.String() != "ord1" {
		t.Fatalf("fills %+v %v", fills, err)
	}
	bal, err := c.Balances(context.Background())
	if err != nil || len(bal) != 1 || bal[0].Asset != "BTC" || !bal[0].Total.IsZero() {
		t.Fatalf("balances %+v %v", bal, err)
	}
	if len(c.slots) != c.cfg.MaxInFlight {
		t.Fatalf("slots not returned: %d", len(c.slots))
	}
}

func TestFiltersRejectWithoutRequest(t *testing.T) {
	f := newFakeVenue(t)
	c := newTestClient(t, f, nil)
	for _, tc := range []struct {
		req  exchange.OrderRequest
		want error
	}{
		{placeReq("a1", exchange.Buy, 3000000, 10), errQtyMin},      // 0.00001 < min 0.000011
		{placeReq("a2", exchange.Buy, 3000000, 16), errNotionalMin}, // 0.000016 × 30000 = 0.48 < 5
		{placeReq("a3", exchange.Buy, 5, 100000), errPxZero},        // 0.05 rounds down to 0 on tick 0.1
		{placeReq("a-4", exchange.Buy, 3000000, 100000), errBadClientID},
		{exchange.OrderRequest{ClientID: exchange.MustID("a5"), Inst: 9, Side: exchange.Buy, Px: 1, Qty: 1, TIF: exchange.IOC}, errBadInst},
		{exchange.OrderRequest{ClientID: exchange.MustID("a6"), Inst: 1, Side: exchange.Buy, Px: 3000000, Qty: 100000}, errBadTIF},
	} {
		_, err := c.PlaceOrder(context.Background(), tc.req)
		if err != tc.want || exchange.KindOf(err) != exchange.KindRejected {
			t.Errorf("%s: %v, want %v", tc.req.ClientID, err, tc.want)
		}
	}
	if n := f.hit("/v5/order/create"); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// TestErrorClasses: every documented error class maps to its kind.
func TestErrorClasses(t *testing.T) {
	env := func(code int, msg string) string {
		return fmt.Sprintf(`{"retCode":%d,"retMsg":%q,"result":{},"retExtInfo":{},"time":$NOW}`, code, msg)
	}
	for _, tc := range []struct {
		name   string
		answer string
		kind   exchange.ErrorKind
	}{
		{"110072 duplicate (UTA)", env(110072, "OrderLinkedID is duplicate"), exchange.KindDuplicate},
		{"170141 duplicate (spot)", env(170141, "Duplicate clientOrderId"), exchange.KindDuplicate},
		{"170131 insufficient balance", env(170131, "Insufficient balance."), exchange.KindRejected},
		{"110007 insufficient available balance", env(110007, "ab not enough for new order"), exchange.KindRejected},
		{"170136 qty below minimum", env(170136, "Order quantity exceeded lower limit."), exchange.KindRejected},
		{"10001 params", env(10001, "params error"), exchange.KindRejected},
		{"10003 key", env(10003, "API key is invalid."), exchange.KindAuth},
		{"10004 sign", env(10004, `error sign! origin_string[{\"category\":\"spot\"}]`), exchange.KindAuth},
		{"10005 permission", env(10005, "Permission denied"), exchange.KindAuth},
		{"10010 ip", env(10010, "Unmatched IP"), exchange.KindAuth},
		{"10006 too many visits", "HTTP 200\nX-Bapi-Limit: 20\nX-Bapi-Limit-Status: 0\n\n" + env(10006, "Too many visits!"), exchange.KindRateLimited},
		{"10000 server timeout", env(10000, "Server Timeout"), exchange.KindUnknownOutcome},
		{"10016 server error", env(10016, "Server error."), exchange.KindUnknownOutcome},
		{"170007 backend timeout", env(170007, "Timeout waiting for response from backend server."), exchange.KindUnknownOutcome},
		{"170146 creation timeout", env(170146, "Order creation timeout"), exchange.KindUnknownOutcome},
		{"HTTP 500", "HTTP 500\n\n<html>oops</html>", exchange.KindUnknownOutcome},
		{"HTTP 502", "HTTP 502\n\nbad gateway", exchange.KindUnknownOutcome},
		{"HTTP 401", "HTTP 401\n\nunauthorized", exchange.KindAuth},
		{"HTTP 429", "HTTP 429\nRetry-After: 1\n\n", exchange.KindRateLimited},
		{"HTTP 404", "HTTP 404\n\nnot found", exchange.KindRejected},
		{"malformed 200", "HTTP 200\n\n{\"retCode\":0,", exchange.KindUnknownOutcome},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVenue(t)
			c := newTestClient(t, f, nil)
			f.push("/v5/order/create", tc.answer)
			_, err := c.PlaceOrder(context.Background(), placeReq("e1", exchange.Buy, 3000000, 1000))
			if got := exchange.KindOf(err); got != tc.kind {
				t.Fatalf("%v: kind %s, want %s", err, got, tc.kind)
			}
			if f.hit("/v5/order/create") != 1 {
				t.Fatalf("%d create requests, want exactly 1 (never resent)", f.hit("/v5/order/create"))
			}
			if tc.kind == exchange.KindRateLimited {
				var e *exchange.Error
				if !errorsAs(err, &e) || e.RetryAfter <= 0 {
					t.Fatalf("no RetryAfter: %v", err)
				}
			}
		})
	}
	// Lookups: not found, and a server error is retryable (not unknown).
	f := newFakeVenue(t)
	c := newTestClient(t, f, nil)
	if _, err := c.QueryOrder(context.Background(), 1, exchange.MustID("nope")); exchange.KindOf(err) != exchange.KindNotFound {
		t.Fatalf("query of an unknown order: %v", err)
	}
	f.push("/v5/order/realtime", `{"retCode":10016,"retMsg":"Server error.","result":{},"time":1}`)
	if _, err := c.QueryOrder(context.Background(), 1, exchange.MustID("nope")); exchange.KindOf(err) != exchange.KindRetryable {
		t.Fatalf("lookup server error: %v", err)
	}
	if _, err := c.CancelOrder(context.Background(), 1, exchange.MustID("nope")); exchange.KindOf(err) != exchange.KindNotFound {
		t.Fatalf("cancel of an unknown order: %v", err)
	}
}

// TestUnknownOutcomeNeverResubmitted: a create that times out (the venue
// executed it, the answer never came) is KindUnknownOutcome, is not
// resent by the client, cannot be resent with the same id while it could
// still be accepted, and QueryOrder resolves it.
func TestUnknownOutcomeNeverResubmitted(t *testing.T) {
	f := newFakeVenue(t)
	clk := newTestClock()
	c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.OrderTimeout = 100 * time.Millisecond; cfg.Now = clk.now })
	f.clock = clk.time
	f.setCreateDelay(2 * time.Second) // executed, answer late
	_, err := c.PlaceOrder(context.Background(), placeReq("lost1", exchange.Sell, 3000000, 1000))
	if exchange.KindOf(err) != exchange.KindUnknownOutcome {
		t.Fatalf("lost ack: %v", err)
	}
	f.setCreateDelay(0)
	if n := f.hit("/v5/order/create"); n != 1 {
		t.Fatalf("%d creates", n)
	}
	// Resubmitting now could make a second order if the first were still
	// in flight: refused without a request, with the wait.
	_, err = c.PlaceOrder(context.Background(), placeReq("lost1", exchange.Sell, 3000000, 1000))
	var e *exchange.Error
	if exchange.KindOf(err) != exchange.KindRetryable || !errorsAs(err, &e) || e.RetryAfter <= 0 || f.hit("/v5/order/create") != 1 {
		t.Fatalf("early resubmission: %v", err)
	}
	// The query resolves it: the order exists and filled.
	st, err := c.QueryOrder(context.Background(), 1, exchange.MustID("lost1"))
	if err != nil || st.Status != exchange.StatusFilled || st.FilledQty != 1000 {
		t.Fatalf("query: %+v %v", st, err)
	}
	// Known now: a resubmission is a duplicate, refused by the client.
	clk.advance(time.Minute)
	_, err = c.PlaceOrder(context.Background(), placeReq("lost1", exchange.Sell, 3000000, 1000))
	if exchange.KindOf(err) != exchange.KindDuplicate || f.hit("/v5/order/create") != 1 {
		t.Fatalf("resubmission of a known order: %v (creates %d)", err, f.hit("/v5/order/create"))
	}
	// An id whose request never reached the venue: after the recv window
	// the query finds nothing and the id may be sent again.
	f.push("/v5/order/create", "HTTP 503\n\n")
	if _, err := c.PlaceOrder(context.Background(), placeReq("lost2", exchange.Buy, 3000000, 1000)); exchange.KindOf(err) != exchange.KindUnknownOutcome {
		t.Fatalf("503: %v", err)
	}
	if _, err := c.QueryOrder(context.Background(), 1, exchange.MustID("lost2")); exchange.KindOf(err) != exchange.KindNotFound {
		t.Fatalf("query lost2: %v", err)
	}
	if _, err := c.PlaceOrder(context.Background(), placeReq("lost2", exchange.Buy, 3000000, 1000)); exchange.KindOf(err) != exchange.KindRetryable {
		t.Fatalf("resend inside the window: %v", err)
	}
	clk.advance(c.cfg.RecvWindow + resendMargin)
	if _, err := c.QueryOrder(context.Background(), 1, exchange.MustID("lost2")); exchange.KindOf(err) != exchange.KindNotFound {
		t.Fatalf("query lost2: %v", err)
	}
	if _, err := c.PlaceOrder(context.Background(), placeReq("lost2", exchange.Buy, 3000000, 1000)); err != nil {
		t.Fatalf("resend after the window: %v", err)
	}
	if n := f.hit("/v5/order/create"); n != 3 {
		t.Fatalf("%d creates, want 3", n)
	}
}

// testClock is a settable clock shared by the client and the fake venue.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Now().Truncate(time.Millisecond).UnixNano())
	return c
}
func (c *testClock) now() int64              { return c.ns.Load() }
func (c *testClock) time() time.Time         { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestRateLimitsCountRequests: after N placements the client reports N
// spent in order/create and every request in the IP budget, with Bybit's
// documented limits, and no block; a 429 is reported as a block until its
// Retry-After.
func TestRateLimitsCountRequests(t *testing.T) {
	f := newFakeVenue(t)
	clk := newTestClock() // fixed: the windows do not roll
	f.clock = clk.time
	c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.Now = clk.now })
	const n = 3
	for i := range n {
		if _, err := c.PlaceOrder(context.Background(), placeReq(fmt.Sprintf("rl%d", i), exchange.Buy, 3000000, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if p := f.hit("/v5/order/create"); p != n {
		t.Fatalf("%d creates reached the venue, want %d", p, n)
	}
	requests := 0
	f.mu.Lock()
	for _, h := range f.hits {
		requests += h
	}
	f.mu.Unlock()
	got := map[string]exchange.RateLimit{}
	for _, r := range c.RateLimits() {
		got[r.Budget] = r
		if r.BlockedUntil != 0 {
			t.Errorf("%s blocked without a 429: %+v", r.Budget, r)
		}
	}
	for _, w := range []exchange.RateLimit{
		{Budget: "order/create", Used: n, Limit: 20, Window: time.Second},
		{Budget: "IP", Used: requests, Limit: 600, Window: 5 * time.Second},
	} {
		if got[w.Budget] != w {
			t.Errorf("%s: got %+v, want %+v", w.Budget, got[w.Budget], w)
		}
	}
	f.push("/v5/order/create", "HTTP 429\nRetry-After: 2\n\n")
	_, _ = c.PlaceOrder(context.Background(), placeReq("rl429", exchange.Buy, 3000000, 1000))
	if rl := c.RateLimits(); rl[0].BlockedUntil != clk.now()+int64(2*time.Second) {
		t.Fatalf("Retry-After not reported: %+v", rl[0])
	}
}

// TestRetryAfterObeyed: after HTTP 429 with Retry-After, and after 10006
// with a reset time, no request reaches the venue before that time.
func TestRetryAfterObeyed(t *testing.T) {
	f := newFakeVenue(t)
	clk := newTestClock()
	f.clock = clk.time
	c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.Now = clk.now })
	f.push("/v5/order/create", "HTTP 429\nRetry-After: 2\n\n")
	_, err := c.PlaceOrder(context.Background(), placeReq("r1", exchange.Buy, 3000000, 1000))
	var e *exchange.Error
	if !errorsAs(err, &e) || e.Kind != exchange.KindRateLimited || e.RetryAfter != 2*time.Second {
		t.Fatalf("429: %v", err)
	}
	for _, step := range []time.Duration{0, time.Second, 999 * time.Millisecond} {
		clk.advance(step)
		_, err := c.PlaceOrder(context.Background(), placeReq("r2", exchange.Buy, 3000000, 1000))
		if !errorsAs(err, &e) || e.Kind != exchange.KindRateLimited || e.RetryAfter <= 0 {
			t.Fatalf("during Retry-After: %v", err)
		}
		if _, err := c.QueryOrder(context.Background(), 1, exchange.MustID("r1")); exchange.KindOf(err) != exchange.KindRateLimited {
			t.Fatalf("query during Retry-After: %v", err)
		}
	}
	if n := f.hit("/v5/order/create") + f.hit("/v5/order/realtime"); n != 1 {
		t.Fatalf("%d requests reached the venue during Retry-After", n)
	}
	if cb := c.Circuit(); !cb.Open || cb.Until != clk.now()+int64(time.Millisecond) {
		t.Fatalf("circuit during Retry-After: %+v", cb)
	}
	clk.advance(time.Millisecond)
	if _, err := c.PlaceOrder(context.Background(), placeReq("r2", exchange.Buy, 3000000, 1000)); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
	// 10006 with X-Bapi-Limit-Reset-Timestamp 1.5 s ahead.
	reset := clk.time().Add(1500 * time.Millisecond).UnixMilli()
	f.push("/v5/order/create", fmt.Sprintf("HTTP 200\nX-Bapi-Limit: 20\nX-Bapi-Limit-Status: 0\nX-Bapi-Limit-Reset-Timestamp: %d\n\n"+
		`{"retCode":10006,"retMsg":"Too many visits!","result":{},"retExtInfo":{},"time":$NOW}`, reset))
	if _, err := c.PlaceOrder(context.Background(), placeReq("r3", exchange.Buy, 3000000, 1000)); !errorsAs(err, &e) ||
		e.Kind != exchange.KindRateLimited || e.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("10006: %v", err)
	}
	before := f.hit("/v5/order/create")
	clk.advance(1499 * time.Millisecond)
	if _, err := c.PlaceOrder(context.Background(), placeReq("r4", exchange.Buy, 3000000, 1000)); exchange.KindOf(err) != exchange.KindRateLimited {
		t.Fatalf("before reset: %v", err)
	}
	if f.hit("/v5/order/create") != before {
		t.Fatal("a request was sent before the reset time")
	}
	clk.advance(time.Millisecond)
	if _, err := c.PlaceOrder(context.Background(), placeReq("r4", exchange.Buy, 3000000, 1000)); err != nil {
		t.Fatalf("after reset: %v", err)
	}
}

// TestBanOpensCircuit: HTTP 418 and HTTP 403 (Bybit's IP ban) open the
// circuit with the reason and the time requests may resume; nothing is
// sent before; repeated server failures open it too.
func TestBanOpensCircuit(t *testing.T) {
	for _, tc := range []struct {
		answer string
		wait   time.Duration
		reason string
	}{
		{"HTTP 418\nRetry-After: 120\n\n", 120 * time.Second, "418"},
		{"HTTP 403\n\naccess too frequent", 10 * time.Minute, "403"},
	} {
		f := newFakeVenue(t)
		clk := newTestClock()
		f.clock = clk.time
		c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.Now = clk.now })
		f.push("/v5/order/create", tc.answer)
		_, err := c.PlaceOrder(context.Background(), placeReq("b1", exchange.Buy, 3000000, 1000))
		if exchange.KindOf(err) != exchange.KindRateLimited {
			t.Fatalf("%s: %v", tc.reason, err)
		}
		cb := c.Circuit()
		if !cb.Open || cb.Until != clk.now()+int64(tc.wait) || !strings.Contains(cb.Reason, tc.reason) {
			t.Fatalf("%s: circuit %+v", tc.reason, cb)
		}
		clk.advance(tc.wait - time.Millisecond)
		if _, err := c.Balances(context.Background()); exchange.KindOf(err) != exchange.KindRateLimited {
			t.Fatalf("%s: request during the ban: %v", tc.reason, err)
		}
		if n := f.hit("/v5/order/create") + f.hit("/v5/account/wallet-balance"); n != 1 {
			t.Fatalf("%s: %d requests during the ban", tc.reason, n)
		}
		clk.advance(time.Millisecond)
		if cb := c.Circuit(); cb.Open {
			t.Fatalf("%s: circuit still open after the ban: %+v", tc.reason, cb)
		}
		if _, err := c.Balances(context.Background()); err != nil {
			t.Fatalf("%s: after the ban: %v", tc.reason, err)
		}
	}
	// Five server failures in a row open the circuit for the cooldown.
	f := newFakeVenue(t)
	c := newTestClient(t, f, nil)
	for i := 0; i < DefaultBreakerThreshold; i++ {
		f.push("/v5/order/realtime", "HTTP 502\n\n")
		c.QueryOrder(context.Background(), 1, exchange.MustID("x"))
	}
	if cb := c.Circuit(); !cb.Open || !strings.Contains(cb.Reason, "failures in a row") {
		t.Fatalf("breaker: %+v", cb)
	}
}

// TestTimestampErrorRemeasures: the venue's clock runs 3 s ahead of ours,
// which Start measured; then it jumps 10 s further: the next order gets
// 10002, the client re-measures (one GET /v5/market/time) and the resend
// is accepted — one order on the venue.
func TestTimestampErrorRemeasures(t *testing.T) {
	f := newFakeVenue(t)
	f.offset = 3 * time.Second
	c := newTestClient(t, f, nil)
	if off := time.Duration(c.offset.Load()); off < 2*time.Second || off > 3*time.Second {
		t.Fatalf("offset %v, venue is 3s ahead", off)
	}
	if _, err := c.PlaceOrder(context.Background(), placeReq("t1", exchange.Buy, 3000000, 1000)); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.offset += 10 * time.Second
	f.mu.Unlock()
	if _, err := c.PlaceOrder(context.Background(), placeReq("t2", exchange.Buy, 3000000, 1000)); err != nil {
		t.Fatalf("after the venue's clock jumped: %v", err)
	}
	if f.hit("/v5/market/time") != 2 || f.hit("/v5/order/create") != 3 || c.stats.TimestampErrors.Load() != 1 {
		t.Fatalf("time %d creates %d tserr %d", f.hit("/v5/market/time"), f.hit("/v5/order/create"), c.stats.TimestampErrors.Load())
	}
	f.mu.Lock()
	n := len(f.orders)
	f.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d orders on the venue", n)
	}
	// Our timestamps are never ahead of the venue's clock.
	for i := 0; i < 100; i++ {
		if ts, v := c.venueNowMs(), f.nowMs(); ts > v {
			t.Fatalf("timestamp %d ahead of the venue %d", ts, v)
		}
	}
}

// TestBrokenFillOpensCircuit: an execution whose price has more decimals
// than the instrument's scale is not dropped or rounded: it is logged at
// error level, counted, and trading halts until Resume.
func TestBrokenFillOpensCircuit(t *testing.T) {
	f := newFakeVenue(t)
	var logs bytes.Buffer
	var lmu sync.Mutex
	c := newTestClient(t, f, func(cfg *ClientConfig) {
		cfg.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&lmu, &logs}, nil))
	})
	sink, _ := runPrivate(t, c)
	f.mu.Lock()
	f.badFill = "30000.001" // the scale has 2 decimals
	f.mu.Unlock()
	if _, err := c.PlaceOrder(context.Background(), placeReq("bf1", exchange.Buy, 3000000, 1000)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "circuit open", func() bool { return c.Circuit().Open })
	if len(sink.fillsOf("bf1")) != 0 || c.stats.BrokenInvariants.Load() == 0 {
		t.Fatalf("broken fill delivered or not counted")
	}
	lmu.Lock()
	l := logs.String()
	lmu.Unlock()
	if !strings.Contains(l, `"level":"ERROR"`) || !strings.Contains(l, "30000.001") {
		t.Fatalf("no error log: %s", l)
	}
	if _, err := c.PlaceOrder(context.Background(), placeReq("bf2", exchange.Buy, 3000000, 1000)); exchange.KindOf(err) != exchange.KindRejected {
		t.Fatalf("order with the circuit open: %v", err)
	}
	if cb := c.Circuit(); cb.Until != 0 || !strings.Contains(cb.Reason, "30000.001") {
		t.Fatalf("circuit %+v", cb)
	}
	c.Resume()
	if c.Circuit().Open {
		t.Fatal("still open after Resume")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestVenueMessageScrubbed: Bybit's 10004 echoes the signed string, API
// key included; the error never carries the key.
func TestVenueMessageScrubbed(t *testing.T) {
	f := newFakeVenue(t)
	c := newTestClient(t, f, nil)
	f.push("/v5/order/create", `{"retCode":10004,"retMsg":"error sign! origin_string[1700000000000`+fakeKey+`5000{\"category\":\"spot\"}]","result":{},"time":1}`)
	_, err := c.PlaceOrder(context.Background(), placeReq("sc1", exchange.Buy, 3000000, 1000))
	if exchange.KindOf(err) != exchange.KindAuth || strings.Contains(err.Error(), fakeKey) || !strings.Contains(err.Error(), "REDACTED") {
		t.Fatalf("%v", err)
	}
}
