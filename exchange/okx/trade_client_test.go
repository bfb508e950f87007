package okx

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

func ioc(clid string, side exchange.Side, px, qty int64) exchange.OrderRequest {
	return exchange.OrderRequest{ClientID: exchange.MustID(clid), Venue: testVenue, Inst: 1, Side: side, Px: numPx(px), Qty: numQty(qty), TIF: exchange.IOC}
}

func TestPlaceOrderAck(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	c := newTestClient(t, f, nil)
	st, err := c.PlaceOrder(runCtx(t), ioc("oktswap6", exchange.Buy, 3000055, 12345))
	if err != nil {
		t.Fatal(err)
	}
	want := exchange.OrderState{Venue: testVenue, Inst: 1, Side: exchange.Buy, TIF: exchange.IOC, Status: exchange.StatusNew,
		ClientID: exchange.MustID("oktswap6"), VenueOrderID: exchange.MustID("312269865356374016"), Px: 3000050, Qty: 12345,
		TS: 1695190491421_000000}
	if st != want {
		t.Fatalf("%+v\nwant %+v", st, want)
	}
	body := f.last("POST", pathPlaceOrder).body
	if body != `{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"oktswap6","side":"buy","ordType":"ioc","px":"30000.5","sz":"0.00012345"}` {
		t.Fatal(body)
	}
	if c.inflight.len() != 1 {
		t.Fatal("an acknowledged IOC order is in flight until its final state arrives")
	}
	f.checkSigned(t)
}

// Every documented error class maps to its Kind; whatever the outcome, the
// client sent the order exactly once (an unknown outcome is never
// resubmitted: the caller resolves it by querying the client order id).
func TestPlaceOrderErrorClasses(t *testing.T) {
	fail := func(code, msg string) string {
		return fmt.Sprintf(`{"code":"1","msg":"All operations failed","data":[{"clOrdId":"c1","ordId":"","tag":"","ts":"1695190491421","sCode":%q,"sMsg":%q,"subCode":""}],"inTime":"1","outTime":"2"}`, code, msg)
	}
	top := func(code, msg string) string { return fmt.Sprintf(`{"code":%q,"msg":%q,"data":[]}`, code, msg) }
	for _, tc := range []struct {
		name  string
		rp    reply
		kind  exchange.ErrorKind
		track bool // still polled afterwards
	}{
		{"duplicate client id 51016", reply{body: fail("51016", "Client order ID already exists.")}, exchange.KindDuplicate, true},
		{"insufficient balance 51008", reply{body: fail("51008", "Order failed. Insufficient USDT balance")}, exchange.KindRejected, false},
		{"lot size 51121", reply{body: fail("51121", "Order quantity must be a multiple of the lot size.")}, exchange.KindRejected, false},
		{"KYC 59113", reply{body: fail("59113", "KYC level 2 required")}, exchange.KindRejected, false},
		{"invalid signature 50113", reply{status: 401, body: top("50113", "Invalid Sign")}, exchange.KindAuth, false},
		{"IP not whitelisted 50110", reply{status: 401, body: top("50110", "Your IP is not in the whitelist")}, exchange.KindAuth, false},
		{"endpoint timeout 50004", reply{status: 400, body: top("50004", "API endpoint request timeout")}, exchange.KindUnknownOutcome, true},
		{"service unavailable 50001", reply{status: 503, body: top("50001", "Service temporarily unavailable")}, exchange.KindUnknownOutcome, true},
		{"systems busy 50013", reply{status: 429, body: top("50013", "Systems are busy")}, exchange.KindUnknownOutcome, true},
		{"system error 50026", reply{status: 500, body: top("50026", "System error")}, exchange.KindUnknownOutcome, true},
		{"request timed out 51054", reply{status: 500, body: fail("51054", "Request timed out")}, exchange.KindUnknownOutcome, true},
		{"rate limit 50011", reply{status: 429, body: top("50011", "Too Many Requests")}, exchange.KindRateLimited, false},
		{"sub-account rate limit 50061", reply{body: fail("50061", "You've reached the maximum order rate limit for this account.")}, exchange.KindRateLimited, false},
		{"gateway 502 without body", reply{status: 502, body: "<html>bad gateway</html>"}, exchange.KindUnknownOutcome, true},
		{"connection closed after the write", reply{hangup: true}, exchange.KindUnknownOutcome, true},
		{"garbage 200", reply{body: `{"code":"0","data":[`}, exchange.KindUnknownOutcome, true},
		{"ack without order", reply{body: `{"code":"0","msg":"","data":[]}`}, exchange.KindUnknownOutcome, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVenue(t)
			f.handle(pathPlaceOrder, func(recorded) reply { return tc.rp })
			c := newTestClient(t, f, nil)
			_, err := c.PlaceOrder(runCtx(t), ioc("c1", exchange.Buy, 3000000, 12345))
			e := mustKind(t, err, tc.kind)
			if n := f.count("POST", pathPlaceOrder); n != 1 {
				t.Fatalf("order sent %d times", n)
			}
			if tc.kind == exchange.KindRateLimited && e.RetryAfter < 2*time.Second {
				t.Errorf("RetryAfter %v", e.RetryAfter)
			}
			if got := c.inflight.len() == 1; got != tc.track {
				t.Errorf("tracked %v, want %v", got, tc.track)
			}
			f.checkSigned(t)
		})
	}
}

func TestQueryErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		name string
		rp   reply
		kind exchange.ErrorKind
	}{
		{"unknown order 51603", reply{body: `{"code":"51603","msg":"Order does not exist","data":[]}`}, exchange.KindNotFound},
		{"timeout 50004 is retryable for a read", reply{status: 400, body: `{"code":"50004","msg":"timeout","data":[]}`}, exchange.KindRetryable},
		{"5XX is retryable for a read", reply{status: 502, body: "bad gateway"}, exchange.KindRetryable},
		{"hang-up is retryable for a read", reply{hangup: true}, exchange.KindRetryable},
		{"auth", reply{status: 401, body: `{"code":"50111","msg":"Invalid OK-ACCESS-KEY","data":[]}`}, exchange.KindAuth},
		{"bad instrument", reply{body: `{"code":"51001","msg":"Instrument ID doesn't exist","data":[]}`}, exchange.KindRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVenue(t)
			f.handle(pathOrder, func(recorded) reply { return tc.rp })
			c := newTestClient(t, f, nil)
			_, err := c.QueryOrder(runCtx(t), 1, exchange.MustID("c1"))
			mustKind(t, err, tc.kind)
			if q := f.last("GET", pathOrder).query; q != "instId=BTC-USDT&clOrdId=c1" {
				t.Fatal(q)
			}
		})
	}
}

// A failure to connect sent nothing: retryable even for an order.
func TestDialFailureIsRetryable(t *testing.T) {
	_, err := http.Get("http://127.0.0.1:1/")
	if err == nil {
		t.Skip("something listens on port 1")
	}
	if k := transportKind(opPlace, err); k != exchange.KindRetryable {
		t.Fatalf("dial error: %v", k)
	}
}

// Rounding and filters are applied before anything is sent.
func TestFiltersBeforeSending(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	c := newTestClient(t, f, nil)
	ctx := runCtx(t)
	for _, req := range []exchange.OrderRequest{
		ioc("c1", exchange.Buy, 3000000, 999),   // below min qty 0.00001
		ioc("c-1", exchange.Buy, 3000000, 5000), // bad client id
		ioc("c1", exchange.Buy, -1, 5000),       // bad price
		{ClientID: exchange.MustID("c1"), Inst: 99, Side: exchange.Buy, Px: 1, Qty: 1, TIF: exchange.IOC}, // unknown instrument
		{ClientID: exchange.MustID("c1"), Inst: 1, Side: exchange.Buy, Px: 3000000, Qty: 5000},            // no TIF
		{ClientID: exchange.MustID("c1"), Venue: testVenue + 1, Inst: 1, Side: exchange.Buy, Px: 3000000, Qty: 5000, TIF: exchange.IOC},
	} {
		_, err := c.PlaceOrder(ctx, req)
		mustKind(t, err, exchange.KindRejected)
	}
	if n := f.count("", pathPlaceOrder); n != 0 {
		t.Fatalf("%d requests for refused orders", n)
	}
	if c.inflight.len() != 0 {
		t.Fatal("a refused order is tracked")
	}
}

// HTTP 429 with Retry-After: no request reaches the venue before it has
// passed (counted at the venue), then requests flow again.
func TestRetryAfter429(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	clock := newFakeClock(time.Now())
	c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.Now = clock.Now })
	advance := func(d time.Duration) { clock.Add(d); f.skew.Add(int64(d)) }
	ctx := runCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.handle(pathPlaceOrder, func(recorded) reply {
		return reply{status: 429, header: map[string]string{"Retry-After": "3"}, body: `{"code":"50011","msg":"Too Many Requests","data":[]}`}
	})
	_, err := c.PlaceOrder(ctx, ioc("r1", exchange.Buy, 3000000, 5000))
	if e := mustKind(t, err, exchange.KindRateLimited); e.RetryAfter != 3*time.Second {
		t.Fatalf("RetryAfter %v", e.RetryAfter)
	}
	installDocHandlers(t, f)
	for _, step := range []time.Duration{0, time.Second, 1900 * time.Millisecond} {
		advance(step)
		_, err := c.PlaceOrder(ctx, ioc("r2", exchange.Buy, 3000000, 5000))
		e := mustKind(t, err, exchange.KindRateLimited)
		if e.RetryAfter <= 0 {
			t.Fatal("no wait given")
		}
		if _, err := c.QueryOrder(ctx, 1, exchange.MustID("r1")); exchange.KindOf(err) != exchange.KindRateLimited {
			t.Fatalf("a query went out during Retry-After: %v", err)
		}
		if cb := c.Circuit(); !cb.Open || cb.Until != clock.ns.Load()+int64(e.RetryAfter) {
			t.Fatalf("circuit %+v (wait %v)", cb, e.RetryAfter)
		}
	}
	if n := f.count("POST", pathPlaceOrder); n != 1 {
		t.Fatalf("%d orders reached the venue before Retry-After passed", n)
	}
	if n := f.count("GET", pathOrder); n != 0 {
		t.Fatalf("%d queries reached the venue before Retry-After passed", n)
	}
	advance(100 * time.Millisecond) // 3 s after the 429
	if _, err := c.PlaceOrder(ctx, ioc("r2", exchange.Buy, 3000000, 5000)); err != nil {
		t.Fatal(err)
	}
	if c.Circuit().Open {
		t.Fatal("circuit still open")
	}
	f.checkSigned(t)
}

// HTTP 418 is a ban: the circuit opens with its reason until Retry-After
// (or BanWait), and nothing is sent meanwhile.
func TestBan418(t *testing.T) {
	for _, ra := range []string{"60", ""} {
		f := newFakeVenue(t)
		clock := newFakeClock(time.Now())
		c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.Now = clock.Now })
		ctx := runCtx(t)
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		f.handle(pathPlaceOrder, func(recorded) reply {
			return reply{status: 418, header: map[string]string{"Retry-After": ra}, body: "banned"}
		})
		_, err := c.PlaceOrder(ctx, ioc("b1", exchange.Buy, 3000000, 5000))
		mustKind(t, err, exchange.KindRateLimited)
		want := 60 * time.Second
		if ra == "" {
			want = DefaultBanWait
		}
		cb := c.Circuit()
		if !cb.Open || cb.Until != clock.ns.Load()+int64(want) || !strings.Contains(cb.Reason, "418") {
			t.Fatalf("circuit %+v", cb)
		}
		clock.Add(want - time.Millisecond)
		f.skew.Add(int64(want - time.Millisecond))
		_, err = c.PlaceOrder(ctx, ioc("b2", exchange.Buy, 3000000, 5000))
		if e := mustKind(t, err, exchange.KindRateLimited); e.RetryAfter != time.Millisecond {
			t.Fatalf("RetryAfter %v", e.RetryAfter)
		}
		if _, err := c.Balances(ctx); exchange.KindOf(err) != exchange.KindRateLimited {
			t.Fatalf("balance during ban: %v", err)
		}
		if n := f.count("", pathPlaceOrder) + f.count("", pathBalance); n != 1 {
			t.Fatalf("%d requests reached the venue during the ban", n)
		}
		clock.Add(time.Millisecond)
		if c.Circuit().Open {
			t.Fatal("ban outlived Retry-After")
		}
	}
}

// TestRateLimitsCountRequests: after N placements the client reports N
// spent in the instrument's trade/order budget and the sub-account's order
// budget, with OKX's documented limits, and no block; a 418 is reported as
// a block until its Retry-After.
func TestRateLimitsCountRequests(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	clock := newFakeClock(time.Now()) // fixed: the 2 s windows do not roll
	c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.Now = clock.Now })
	ctx := runCtx(t)
	const n = 4
	for i := range n {
		_, _ = c.PlaceOrder(ctx, ioc(fmt.Sprintf("rl%d", i), exchange.Buy, 3000055, 12345)) // the outcome is beside the point
	}
	if p := f.count("", pathPlaceOrder); p != n {
		t.Fatalf("%d placements reached the venue, want %d", p, n)
	}
	got := map[string]exchange.RateLimit{}
	for _, r := range c.RateLimits() {
		got[r.Budget] = r
		if r.BlockedUntil != 0 {
			t.Errorf("%s blocked without a 429 or 418: %+v", r.Budget, r)
		}
	}
	for _, w := range []exchange.RateLimit{
		{Budget: "trade/order BTC-USDT", Used: n, Limit: 60, Window: 2 * time.Second},
		{Budget: "sub-account orders", Used: n, Limit: 1000, Window: 2 * time.Second},
	} {
		if got[w.Budget] != w {
			t.Errorf("%s: got %+v, want %+v", w.Budget, got[w.Budget], w)
		}
	}
	f.handle(pathPlaceOrder, func(recorded) reply {
		return reply{status: 418, header: map[string]string{"Retry-After": "60"}, body: "banned"}
	})
	_, _ = c.PlaceOrder(ctx, ioc("rlban", exchange.Buy, 3000055, 12345))
	if rl := c.RateLimits(); rl[0].BlockedUntil != clock.ns.Load()+int64(60*time.Second) {
		t.Fatalf("ban not reported: %+v", rl[0])
	}
}

// Repeated failures open the breaker.
func TestBreakerOpens(t *testing.T) {
	f := newFakeVenue(t)
	f.handle(pathOrder, func(recorded) reply { return reply{status: 503, body: "unavailable"} })
	c := newTestClient(t, f, nil)
	ctx := runCtx(t)
	for i := 0; i < DefaultBreakerThreshold; i++ {
		_, err := c.QueryOrder(ctx, 1, exchange.MustID("q1"))
		mustKind(t, err, exchange.KindRetryable)
	}
	cb := c.Circuit()
	if !cb.Open || !strings.Contains(cb.Reason, "5 failures in a row") {
		t.Fatalf("%+v", cb)
	}
	_, err := c.QueryOrder(ctx, 1, exchange.MustID("q1"))
	mustKind(t, err, exchange.KindRateLimited)
	if n := f.count("", pathOrder); n != DefaultBreakerThreshold {
		t.Fatalf("%d requests", n)
	}
}

// 50102 (timestamp out of OKX's 30 s window) re-measures the offset; the
// order was refused before the engine (retryable), and the next one passes.
func TestTimestampErrorResyncs(t *testing.T) {
	f := newFakeVenue(t)
	f.enforceTS.Store(true)
	installDocHandlers(t, f)
	c := newTestClient(t, f, nil)
	ctx := runCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	times := f.count("", pathTime)
	f.skew.Store(int64(time.Minute)) // the venue's clock jumps ahead of ours
	_, err := c.PlaceOrder(ctx, ioc("t1", exchange.Buy, 3000000, 5000))
	if e := mustKind(t, err, exchange.KindRetryable); e.Code != "50102" {
		t.Fatalf("%+v", e)
	}
	if f.count("", pathTime) <= times {
		t.Fatal("offset not re-measured after 50102")
	}
	if off := time.Duration(c.Stats().OffsetNS.Load()); off < 59*time.Second || off > time.Minute {
		t.Fatalf("offset %v", off)
	}
	if _, err := c.PlaceOrder(ctx, ioc("t1", exchange.Buy, 3000000, 5000)); err != nil {
		t.Fatal(err)
	}
	f.checkSigned(t)
}

func TestCancelOrder(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	var cancelReply string
	f.handle(pathCancelOrder, func(r recorded) reply { return reply{body: cancelReply} })
	c := newTestClient(t, f, nil)
	ctx := runCtx(t)
	clid := exchange.MustID("k1")
	cancelReply = `{"code":"0","msg":"","data":[{"clOrdId":"k1","ordId":"680800019749904384","ts":"1695190491421","sCode":"0","sMsg":""}],"inTime":"1","outTime":"2"}`
	st, err := c.CancelOrder(ctx, 1, clid)
	if err != nil || st.Status != exchange.StatusFilled || st.ClientID != clid {
		t.Fatalf("%+v %v", st, err)
	}
	if b := f.last("POST", pathCancelOrder).body; b != `{"instId":"BTC-USDT","clOrdId":"k1"}` {
		t.Fatal(b)
	}
	cancelReply = `{"code":"1","msg":"","data":[{"clOrdId":"k1","ordId":"1","sCode":"51402","sMsg":"Order cancellation failed as the order has been completed."}]}`
	if st, err := c.CancelOrder(ctx, 1, clid); err != nil || st.Status != exchange.StatusFilled {
		t.Fatalf("completed order: %+v %v", st, err)
	}
	cancelReply = `{"code":"1","msg":"","data":[{"clOrdId":"k1","ordId":"","sCode":"51400","sMsg":"Order cancellation failed as the order does not exist."}]}`
	_, err = c.CancelOrder(ctx, 1, clid)
	mustKind(t, err, exchange.KindNotFound)
	cancelReply = `{"code":"50001","msg":"Service temporarily unavailable","data":[]}`
	_, err = c.CancelOrder(ctx, 1, clid)
	mustKind(t, err, exchange.KindRetryable)
	f.checkSigned(t)
}

// OpenOrders pages with after=<last ordId> until a short page.
func TestOpenOrdersPaging(t *testing.T) {
	f := newFakeVenue(t)
	row := func(id int, inst string) string {
		return fmt.Sprintf(`{"instId":%q,"ordId":"%d","clOrdId":"o%d","px":"30000.1","sz":"0.5","side":"buy","ordType":"limit","state":"live","accFillSz":"0","avgPx":"","uTime":"1708587373362"}`, inst, id, id)
	}
	f.handle(pathOrdersPending, func(r recorded) reply {
		var rows []string
		if strings.Contains(r.query, "after=") {
			rows = []string{row(1, "BTC-USDT"), row(2, "DOGE-USDT"), row(3, "ETH-USDT")}
		} else {
			for i := 1000; i > 900; i-- {
				rows = append(rows, row(i, "BTC-USDT"))
			}
		}
		return reply{body: `{"code":"0","msg":"","data":[` + strings.Join(rows, ",") + `]}`}
	})
	c := newTestClient(t, f, nil)
	got, err := c.OpenOrders(runCtx(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 102 || got[0].VenueOrderID.String() != "1000" || got[101].Inst != 2 || got[101].Px != 3000010 || got[101].Qty != 50000000 {
		t.Fatalf("%d orders, first %+v last %+v", len(got), got[0], got[len(got)-1])
	}
	if q := f.last("GET", pathOrdersPending).query; q != "instType=SPOT&limit=100&after=901" {
		t.Fatal(q)
	}
	if _, err := c.OpenOrders(runCtx(t), 2); err != nil || !strings.Contains(f.last("GET", pathOrdersPending).query, "instId=ETH-USDT") {
		t.Fatal(err)
	}
	f.checkSigned(t)
}

// FillsSince pages to older rows with after=<billId>, filters by begin and
// fillTime, skips instruments not traded here, returns oldest first, and
// uses fills-history for a since older than 3 days.
func TestFillsSincePaging(t *testing.T) {
	f := newFakeVenue(t)
	base := time.Now().Add(-time.Hour).UnixMilli()
	fill := func(i int, inst string) string {
		return fmt.Sprintf(`{"side":"sell","fillSz":"0.001","fillPx":"30000","fee":"-0.03","feeCcy":"USDT","ordId":"9%d","instType":"SPOT","instId":%q,"clOrdId":"c%d","billId":"%d","tradeId":"t%d","fillTime":"%d","execType":"T","ts":"%d"}`,
			i, inst, i, 5000+i, i, base+int64(i), base+int64(i)+1)
	}
	f.handle(pathFills, func(r recorded) reply {
		var rows []string
		if strings.Contains(r.query, "after=") {
			for i := 50; i >= 0; i-- {
				rows = append(rows, fill(i, "BTC-USDT"))
			}
		} else {
			for i := 150; i > 50; i-- {
				inst := "BTC-USDT"
				if i == 77 {
					inst = "XRP-USDT"
				}
				rows = append(rows, fill(i, inst))
			}
		}
		return reply{body: `{"code":"0","msg":"","data":[` + strings.Join(rows, ",") + `]}`}
	})
	f.handle(pathFillsHistory, func(r recorded) reply { return reply{body: `{"code":"0","msg":"","data":[]}`} })
	c := newTestClient(t, f, nil)
	ctx := runCtx(t)
	since := (base + 10) * 1e6
	got, err := c.FillsSince(ctx, 0, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 140 || got[0].TradeID.String() != "t10" || got[139].TradeID.String() != "t150" {
		t.Fatalf("%d fills, first %v last %v", len(got), got[0].TradeID, got[len(got)-1].TradeID)
	}
	for i := 1; i < len(got); i++ {
		if got[i].TS < got[i-1].TS {
			t.Fatal("not oldest first")
		}
	}
	if got[0].Fee.String() != "0.03" || got[0].Side != exchange.Sell || got[0].ClientID.String() != "c10" {
		t.Fatalf("%+v", got[0])
	}
	q := f.last("GET", pathFills).query
	if q != fmt.Sprintf("instType=SPOT&begin=%d&limit=100&after=5051", base+10-1) {
		t.Fatal(q)
	}
	if _, err := c.FillsSince(ctx, 1, time.Now().Add(-5*24*time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	if q := f.last("GET", pathFillsHistory).query; !strings.HasPrefix(q, "instType=SPOT&instId=BTC-USDT&begin=") {
		t.Fatal(q)
	}
	f.checkSigned(t)
}

func TestBalances(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	c := newTestClient(t, f, nil)
	got, err := c.Balances(runCtx(t))
	if err != nil || len(got) != 1 || got[0].Asset != "USDT" || got[0].Total.String() != "4850.435693622894" ||
		got[0].Locked.String() != "158.573" || got[0].Venue != testVenue {
		t.Fatalf("%+v %v", got, err)
	}
	f.checkSigned(t)
}

// A fill whose size does not fit the instrument's scale is a broken
// invariant: logged at error level, counted, trading halted with the
// reason until an operator resumes — never rounded or dropped silently.
func TestScaleViolationHalts(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	f.handle(pathFills, func(recorded) reply {
		return reply{body: docWith(t, "rest_fills_response.json", "response_fills", map[string]any{
			"fillSz": "0.000000001", "fillTime": strconv.FormatInt(time.Now().UnixMilli(), 10)})}
	})
	var logs logBuf
	c := newTestClient(t, f, func(cfg *ClientConfig) {
		cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	ctx := runCtx(t)
	if _, err := c.FillsSince(ctx, 0, time.Now().Add(-time.Hour).UnixNano()); err == nil {
		t.Fatal("a fill finer than the scale was accepted")
	}
	cb := c.Circuit()
	if !cb.Open || cb.Until != 0 || !strings.Contains(cb.Reason, "halted") || !strings.Contains(cb.Reason, "0.000000001") {
		t.Fatalf("%+v", cb)
	}
	if c.Stats().ScaleViolations.Load() != 1 || !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Fatalf("not counted or not logged at error: %s", logs.String())
	}
	before := f.count("POST", pathPlaceOrder)
	_, err := c.PlaceOrder(ctx, ioc("h1", exchange.Buy, 3000000, 5000))
	mustKind(t, err, exchange.KindRejected)
	if f.count("POST", pathPlaceOrder) != before {
		t.Fatal("an order went out while halted")
	}
	c.Resume()
	if c.Circuit().Open {
		t.Fatal("Resume did not close the circuit")
	}
	if _, err := c.PlaceOrder(ctx, ioc("h1", exchange.Buy, 3000000, 5000)); err != nil {
		t.Fatal(err)
	}
}

// The client's errors and logs never carry the secret or passphrase.
func TestNoSecretsInErrorsOrLogs(t *testing.T) {
	f := newFakeVenue(t)
	f.handle(pathPlaceOrder, func(recorded) reply {
		return reply{status: 401, body: `{"code":"50113","msg":"Invalid Sign","data":[]}`}
	})
	var logs logBuf
	c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	_, err := c.PlaceOrder(runCtx(t), ioc("s1", exchange.Buy, 3000000, 5000))
	cfgText := fmt.Sprintf("%v %+v %#v", c.cfg.Credentials, c.cfg, c.cfg)
	for _, s := range []string{err.Error(), logs.String(), cfgText} {
		if strings.Contains(s, testCreds.Secret) || strings.Contains(s, testCreds.Passphrase) {
			t.Fatalf("leak: %s", s)
		}
	}
}

func TestClientConfigValidate(t *testing.T) {
	good := ClientConfig{Venue: 1, Credentials: testCreds, Instruments: tradeInsts()}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*ClientConfig){
		"venue":      func(c *ClientConfig) { c.Venue = 0 },
		"creds":      func(c *ClientConfig) { c.Credentials.Passphrase = "" },
		"instrument": func(c *ClientConfig) { c.Instruments = nil },
		"entry":      func(c *ClientConfig) { c.OrderEntry = "fix" },
		"url":        func(c *ClientConfig) { c.PrivateWSURL = "http://x" },
		"dup id":     func(c *ClientConfig) { c.Instruments[1].ID = 1 },
		"ping":       func(c *ClientConfig) { c.PingEvery = time.Minute },
		"expiry":     func(c *ClientConfig) { c.Expiry = time.Millisecond },
		"quote":      func(c *ClientConfig) { c.Credentials.Key = "a\"b" },
	} {
		c := good
		c.Instruments = tradeInsts()
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	d := good.withDefaults()
	if d.PrivateWSURL != DefaultPrivateWSURL+PrivatePath || d.OrderWSURL != d.PrivateWSURL || d.OrderEntry != OrderEntryAuto || d.Expiry != DefaultExpiry {
		t.Fatalf("%+v", d)
	}
	for in, want := range map[string]string{
		"wss://wspap.okx.com:8443":             "wss://wspap.okx.com:8443/ws/v5/private",
		"wss://ws.okx.com:8443/ws/v5/public":   "wss://ws.okx.com:8443/ws/v5/private",
		"wss://ws.okx.com:8443/ws/v5/private/": "wss://ws.okx.com:8443/ws/v5/private",
		"ws://127.0.0.1:9402":                  "ws://127.0.0.1:9402/ws/v5/private",
	} {
		if got := privateEndpoint(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}

func numPx(v int64) num.Price { return num.Price(v) }
func numQty(v int64) num.Qty  { return num.Qty(v) }

// OKX accepts a clOrdId again once its order is done, so the client
// itself refuses to resend an id whose order exists (KindDuplicate) or
// may exist (KindUnknownOutcome, with the wait until a query can prove it
// absent); an id the venue refused, or did not know after the request
// expired, may be sent again. No refused resubmission reaches the venue.
func TestResubmissionGuard(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	clock := newFakeClock(time.Now())
	c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.Now = clock.Now })
	ctx := runCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Acknowledged: a second order with the id is refused at the client.
	if _, err := c.PlaceOrder(ctx, ioc("g1", exchange.Buy, 3000000, 5000)); err != nil {
		t.Fatal(err)
	}
	_, err := c.PlaceOrder(ctx, ioc("g1", exchange.Buy, 3000000, 5000))
	mustKind(t, err, exchange.KindDuplicate)
	if n := f.count("POST", pathPlaceOrder); n != 1 {
		t.Fatalf("%d sends", n)
	}
	// Refused by the venue: the id may be used again.
	f.handle(pathPlaceOrder, func(r recorded) reply {
		if r.method == "GET" {
			return reply{body: `{"code":"51603","msg":"Order does not exist","data":[]}`}
		}
		return reply{body: `{"code":"1","msg":"","data":[{"clOrdId":"g2","ordId":"","sCode":"51008","sMsg":"Insufficient balance"}]}`}
	})
	_, err = c.PlaceOrder(ctx, ioc("g2", exchange.Buy, 3000000, 5000))
	mustKind(t, err, exchange.KindRejected)
	_, err = c.PlaceOrder(ctx, ioc("g2", exchange.Buy, 3000000, 5000))
	mustKind(t, err, exchange.KindRejected)
	if n := f.count("POST", pathPlaceOrder); n != 3 {
		t.Fatalf("%d sends", n)
	}
	// Unknown outcome: refused until a query after the request's expiry
	// finds nothing.
	f.handle(pathPlaceOrder, func(r recorded) reply {
		if r.method == "GET" {
			return reply{body: `{"code":"51603","msg":"Order does not exist","data":[]}`}
		}
		return reply{hangup: true}
	})
	_, err = c.PlaceOrder(ctx, ioc("g3", exchange.Buy, 3000000, 5000))
	mustKind(t, err, exchange.KindUnknownOutcome)
	_, err = c.PlaceOrder(ctx, ioc("g3", exchange.Buy, 3000000, 5000))
	e := mustKind(t, err, exchange.KindUnknownOutcome)
	if e.RetryAfter <= 0 || e.RetryAfter > DefaultExpiry+DefaultRequestTimeout {
		t.Fatalf("RetryAfter %v", e.RetryAfter)
	}
	_, err = c.QueryOrder(ctx, 1, exchange.MustID("g3")) // too early to prove anything
	mustKind(t, err, exchange.KindNotFound)
	_, err = c.PlaceOrder(ctx, ioc("g3", exchange.Buy, 3000000, 5000))
	mustKind(t, err, exchange.KindUnknownOutcome)
	if n := f.count("POST", pathPlaceOrder); n != 4 {
		t.Fatalf("%d sends", n)
	}
	step := DefaultExpiry + DefaultRequestTimeout + time.Second
	clock.Add(step)
	f.skew.Add(int64(step))
	_, err = c.QueryOrder(ctx, 1, exchange.MustID("g3"))
	mustKind(t, err, exchange.KindNotFound)
	installDocHandlers(t, f)
	if _, err := c.PlaceOrder(ctx, ioc("g3", exchange.Buy, 3000000, 5000)); err != nil {
		t.Fatalf("resubmission after proven absence: %v", err)
	}
	if n := f.count("POST", pathPlaceOrder); n != 5 {
		t.Fatalf("%d sends", n)
	}
	f.checkSigned(t)
}

// Concurrent PlaceOrder calls with one client order id send it once; the
// others are refused without sending.
func TestConcurrentSameClientID(t *testing.T) {
	f := newFakeVenue(t)
	installDocHandlers(t, f)
	c := newTestClient(t, f, nil)
	ctx := runCtx(t)
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			_, err := c.PlaceOrder(ctx, ioc("same1", exchange.Buy, 3000000, 5000))
			errs <- err
		}()
	}
	ok := 0
	for i := 0; i < 8; i++ {
		switch err := <-errs; exchange.KindOf(err) {
		case exchange.KindUnknown:
			if err != nil {
				t.Fatal(err)
			}
			ok++
		case exchange.KindDuplicate, exchange.KindUnknownOutcome:
		default:
			t.Fatalf("%v", err)
		}
	}
	if ok != 1 || f.count("POST", pathPlaceOrder) != 1 {
		t.Fatalf("%d acknowledged, %d sent", ok, f.count("POST", pathPlaceOrder))
	}
}
