package okx

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
)

// The order path's signer streams timestamp, method, path and body into a
// reused HMAC; it must agree with Sign(Prehash(…)) and with the
// independent RFC 2104 construction on the documented example inputs
// (shared/venue-docs/okx/rest_auth_signing_rule.json; OKX prints no
// expected signature, so the golden values are openssl's, see
// sign_test.go).
func TestSignerDocumentedExamples(t *testing.T) {
	var rule struct {
		Examples struct {
			Timestamp   string `json:"timestamp"`
			RequestPath string `json:"requestPath"`
			Body        string `json:"body"`
			SecretKey   string `json:"SecretKey"`
		} `json:"documented_examples"`
	}
	if err := json.Unmarshal(sharedDoc(t, "rest_auth_signing_rule.json"), &rule); err != nil {
		t.Fatal(err)
	}
	ex := rule.Examples
	if ex.SecretKey != docSecret {
		t.Fatalf("documented secret changed: %q", ex.SecretKey)
	}
	s := newSigner(ex.SecretKey)
	for _, tc := range []struct{ method, path, body, openssl string }{
		{"GET", ex.RequestPath, "", "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="},
		{"POST", "/api/v5/account/set-leverage", ex.Body, "eCnnCgWLjlQ9XnpUkrcny3qNq3WW/81KNrDr/XR6Xv8="},
	} {
		for i := 0; i < 2; i++ { // the second run exercises the reused MAC
			got := string(s.sign([]byte(ex.Timestamp), []byte(tc.method), []byte(tc.path), []byte(tc.body)))
			ref := refHMAC(ex.SecretKey, ex.Timestamp+tc.method+tc.path+tc.body)
			if got != tc.openssl || got != ref || got != Sign(ex.SecretKey, Prehash(ex.Timestamp, tc.method, tc.path, tc.body)) {
				t.Fatalf("%s %s: %s, openssl %s, RFC 2104 %s", tc.method, tc.path, got, tc.openssl, ref)
			}
		}
	}
}

// appendISO must equal the documented format (RESTTimestamp) everywhere.
func TestAppendISOMatchesFormat(t *testing.T) {
	at := time.Date(2020, 12, 8, 9, 8, 57, 715_999_999, time.UTC)
	if got := string(appendISO(nil, at)); got != "2020-12-08T09:08:57.715Z" {
		t.Fatal(got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		tm := time.Unix(r.Int64N(4102444800), r.Int64N(1e9)).In(time.FixedZone("z", int(r.Int64N(50000))-25000))
		if got, want := string(appendISO(nil, tm)), RESTTimestamp(tm); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
	}
}

// The WebSocket order request follows the documented example's shape
// (ws_place_order.json: id, op "order", args[0] with instIdCode as an
// integer, tdMode, side, ordType, sz), with expTime as a string of ms.
func TestWSOrderFrameShape(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(sharedDoc(t, "ws_place_order.json", "request"), &doc); err != nil {
		t.Fatal(err)
	}
	in := &tradeInst{Instrument: tradeInsts()[0]}
	clid := exchange.MustID("b1x7Leg0A1")
	frame := appendWSOrder(nil, 1512, 1597026383085, 123456, in, &clid, exchange.Buy, "ioc", rounded{px: 3000010, qty: 12345})
	var got map[string]any
	if err := json.Unmarshal(frame, &got); err != nil {
		t.Fatalf("%s: %v", frame, err)
	}
	if got["id"] != "1512" || got["op"] != doc["op"] || got["expTime"] != "1597026383085" {
		t.Fatalf("%s", frame)
	}
	arg := got["args"].([]any)[0].(map[string]any)
	docArg := doc["args"].([]any)[0].(map[string]any)
	for k, v := range docArg {
		if _, ok := arg[k]; !ok {
			t.Errorf("order lacks documented key %q", k)
		}
		if k == "instIdCode" && arg[k] != v { // both float64(123456)
			t.Errorf("instIdCode %v, want %v", arg[k], v)
		}
	}
	want := map[string]any{"tdMode": "cash", "clOrdId": "b1x7Leg0A1", "side": "buy", "ordType": "ioc", "px": "30000.1", "sz": "0.00012345"}
	for k, v := range want {
		if arg[k] != v {
			t.Errorf("%s = %v, want %v", k, arg[k], v)
		}
	}
	if _, ok := arg["instId"]; ok {
		t.Error("instId sent on a WS order (ignored by OKX since 2026: instIdCode only)")
	}
	id, _ := strconv.Atoi(got["id"].(string))
	if id < 1 || len(got["id"].(string)) > 32 {
		t.Error("request id must be 1-32 alphanumerics")
	}
}

// The REST order body: the documented fields, px and sz as trimmed decimals.
func TestRESTOrderBody(t *testing.T) {
	c := newTestClientOffline(t)
	in := c.inst(1)
	clid := exchange.MustID("abc123")
	b := appendRESTOrder(nil, in, &clid, exchange.Sell, "ioc", rounded{px: 3000010, qty: 100000000})
	want := `{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"abc123","side":"sell","ordType":"ioc","px":"30000.1","sz":"1"}`
	if string(b) != want {
		t.Fatalf("%s\nwant %s", b, want)
	}
	if !json.Valid(b) {
		t.Fatal("invalid JSON")
	}
	cb := appendCancel(nil, in, &clid)
	if string(cb) != `{"instId":"BTC-USDT","clOrdId":"abc123"}` {
		t.Fatal(string(cb))
	}
}

// newTestClientOffline is a client for pure tests (no server).
func newTestClientOffline(t testing.TB) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{Venue: testVenue, RESTURL: "http://127.0.0.1:1", Credentials: testCreds, Instruments: tradeInsts()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every signed request the client sends verifies at the fake venue
// (signature recomputed independently over what arrived on the wire), and
// the demo header is present only in demo mode.
func TestSignedRequestsVerify(t *testing.T) {
	for _, demo := range []bool{false, true} {
		f := newFakeVenue(t)
		installDocHandlers(t, f)
		c := newTestClient(t, f, func(cfg *ClientConfig) { cfg.Demo = demo })
		ctx := runCtx(t)
		if _, err := c.PlaceOrder(ctx, exchange.OrderRequest{ClientID: exchange.MustID("oktswap6"), Inst: 1, Side: exchange.Buy, Px: 3000055, Qty: 12345, TIF: exchange.IOC}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.QueryOrder(ctx, 1, exchange.MustID("oktswap6")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Balances(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.FillsSince(ctx, 0, time.Now().Add(-time.Hour).UnixNano()); err != nil {
			t.Fatal(err)
		}
		f.checkSigned(t)
		p := f.last("POST", pathPlaceOrder)
		if (p.header.Get("x-simulated-trading") == "1") != demo {
			t.Errorf("demo %v: x-simulated-trading %q", demo, p.header.Get("x-simulated-trading"))
		}
		if p.header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", p.header.Get("Content-Type"))
		}
		exp, err := strconv.ParseInt(p.header.Get("expTime"), 10, 64)
		if err != nil || exp <= p.at.UnixMilli() || exp > p.at.Add(DefaultExpiry+time.Second).UnixMilli() {
			t.Errorf("expTime %q at %v", p.header.Get("expTime"), p.at)
		}
		// Buy 30000.55 rounds down to the 0.1 tick.
		if !strings.Contains(p.body, `"px":"30000.5"`) || !strings.Contains(p.body, `"sz":"0.00012345"`) {
			t.Errorf("body %s", p.body)
		}
	}
}

// Timestamps never run ahead of the venue's clock, whichever way our
// clock is off: the fake checks every signed request's timestamp against
// its own clock (ahead → error; more than 30 s behind → error).
func TestTimestampNeverAhead(t *testing.T) {
	for _, skew := range []time.Duration{-45 * time.Second, -3 * time.Second, 0, 2 * time.Second, 90 * time.Second} {
		f := newFakeVenue(t)
		f.skew.Store(int64(skew))
		installDocHandlers(t, f)
		c := newTestClient(t, f, nil)
		ctx := runCtx(t)
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			if _, err := c.QueryOrder(ctx, 1, exchange.MustID("oktswap6")); err != nil {
				t.Fatal(err)
			}
		}
		f.checkSigned(t)
		if off := time.Duration(c.Stats().OffsetNS.Load()); off > skew || off < skew-time.Second {
			t.Errorf("skew %v: offset %v", skew, off)
		}
	}
}

// A quantity or price that fits no grid is refused before sending.
func TestRoundOrder(t *testing.T) {
	in := tradeInsts()[0] // tick 10 (0.1), step 1, min qty 1000
	for _, tc := range []struct {
		side     exchange.Side
		px, qty  int64
		wantPx   int64
		wantQty  int64
		rejected string
	}{
		{exchange.Buy, 3000055, 5000, 3000050, 5000, ""},
		{exchange.Sell, 3000051, 5000, 3000060, 5000, ""},
		{exchange.Sell, 3000050, 5000, 3000050, 5000, ""},
		{exchange.Buy, 5, 5000, 0, 0, rejPriceRange},
		{exchange.Buy, 3000055, 999, 0, 0, rejBelowMinQty},
		{exchange.Buy, 0, 5000, 0, 0, rejNonPositive},
		{exchange.Sell, 1<<63 - 5, 5000, 0, 0, rejPriceRange},
		{0, 3000055, 5000, 0, 0, rejSide},
	} {
		r, why := roundOrder(&in, tc.side, num.Price(tc.px), num.Qty(tc.qty))
		if why != tc.rejected || (why == "" && (int64(r.px) != tc.wantPx || int64(r.qty) != tc.wantQty)) {
			t.Errorf("%v %d×%d: %+v %q", tc.side, tc.px, tc.qty, r, why)
		}
	}
	in.MinNotional = 1_000_00 // 1000 USDT in 2 decimals
	if _, why := roundOrder(&in, exchange.Buy, 3000000, 3000000); why != rejNotional {
		t.Errorf("0.03 BTC at 30000 is 900 USDT < 1000: %q", why)
	}
	if _, why := roundOrder(&in, exchange.Buy, 3000000, 4000000); why != "" {
		t.Errorf("1200 USDT: %q", why)
	}
}

// The order path rounds with integers in the instrument's scale; it must
// agree exactly with shopspring/decimal rounding the same decimals to the
// venue's tick and step (buy down, sell up, quantity down), and never be
// worse than the request.
func TestRoundMatchesDecimal(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 200000; i++ {
		sc := num.Scale{Px: uint8(r.IntN(9)), Qty: uint8(r.IntN(11))}
		in := exchange.Instrument{Scale: sc, Tick: num.Price(1 + r.Int64N(1000)), Step: num.Qty(1 + r.Int64N(1000))}
		px, qty := num.Price(1+r.Int64N(1e12)), num.Qty(1+r.Int64N(1e12))
		side := exchange.Side(1 + r.IntN(2))
		got, why := roundOrder(&in, side, px, qty)
		d := func(v int64, e uint8) decimal.Decimal { return decimal.New(v, -int32(e)) }
		dpx, dtick := d(int64(px), sc.Px), d(int64(in.Tick), sc.Px)
		dqty, dstep := d(int64(qty), sc.Qty), d(int64(in.Step), sc.Qty)
		wantPx := dpx.Div(dtick).Floor().Mul(dtick)
		if side == exchange.Sell {
			wantPx = dpx.Div(dtick).Ceil().Mul(dtick)
		}
		wantQty := dqty.Div(dstep).Floor().Mul(dstep)
		if wantQty.IsZero() || wantPx.IsZero() {
			if why == "" {
				t.Fatalf("%+v %v %d×%d: accepted %+v", in, side, px, qty, got)
			}
			continue
		}
		if why != "" {
			t.Fatalf("%+v %v %d×%d: refused %q", in, side, px, qty, why)
		}
		if !d(int64(got.px), sc.Px).Equal(wantPx) || !d(int64(got.qty), sc.Qty).Equal(wantQty) {
			t.Fatalf("%+v %v %d×%d: %+v, decimal %s × %s", in, side, px, qty, got, wantPx, wantQty)
		}
		if side == exchange.Buy && got.px > px || side == exchange.Sell && got.px < px || got.qty > qty {
			t.Fatalf("worse than the request: %+v vs %d×%d", got, px, qty)
		}
	}
}
