package okx

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
)

func parseOK(t testing.TB, b []byte, rows int) *envelope {
	t.Helper()
	e := newEnvelope(rows, 64)
	if err := e.parse(b); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return e
}

func btc() *exchange.Instrument { in := tradeInsts()[0]; return &in }

func TestParsePlaceOrderReply(t *testing.T) {
	e := parseOK(t, sharedDoc(t, "rest_place_order_response.json", "payload"), 4)
	if !e.isCode("0") || len(e.rows) != 1 {
		t.Fatalf("%+v", e)
	}
	r := &e.rows[0]
	if string(r.get(fOrdID)) != "312269865356374016" || string(r.get(fClOrdID)) != "oktswap6" || string(r.get(fSCode)) != "0" ||
		string(r.get(fTS)) != "1695190491421" || text(r.get(fSMsg)) != "" {
		t.Fatalf("%q", r.v)
	}
	c := newTestClientOffline(t)
	ack := exchange.OrderState{}
	clid := exchange.MustID("oktswap6")
	if err := c.readAck(e, &clid, &ack); err != nil || ack.VenueOrderID.String() != "312269865356374016" || ack.TS != 1695190491421_000000 {
		t.Fatalf("%v %+v", err, ack)
	}
	other := exchange.MustID("another1")
	if err := c.readAck(e, &other, &ack); exchange.KindOf(err) != exchange.KindUnknownOutcome {
		t.Fatalf("an ack naming another clOrdId is no confirmation: %v", err)
	}
}

func TestParseOrderDetails(t *testing.T) {
	e := parseOK(t, sharedDoc(t, "rest_order_details_response.json", "response"), 4)
	st, err := orderStateFrom(&e.rows[0], testVenue, btc())
	if err != nil {
		t.Fatal(err)
	}
	// The documented order is a filled market buy of 100 (quote) with
	// accFillSz 0.00192834 at avgPx 51858.
	want := exchange.OrderState{Venue: testVenue, Inst: 1, Side: exchange.Buy, Status: exchange.StatusFilled,
		VenueOrderID: exchange.MustID("680800019749904384"), Qty: 100_00000000, FilledQty: 192834, TS: 1708587373362_000000}
	fq := st.FilledQuote
	st.FilledQuote = num.Amount{}
	if st != want {
		t.Fatalf("%+v\nwant %+v", st, want)
	}
	exact := decimal.RequireFromString("0.00192834").Mul(decimal.RequireFromString("51858"))
	if !decimal.RequireFromString(fq.String()).Equal(exact) {
		t.Fatalf("FilledQuote %s, want %s", fq, exact)
	}
	// REST's fill* fields describe the last fill, not a new one: the
	// client never reads fills from order details.
}

func TestParseOrdersPush(t *testing.T) {
	e := parseOK(t, sharedDoc(t, "ws_orders_push.json", "push"), 100)
	if string(e.channel) != "orders" || string(e.argInst) != "BTC-USDT" || len(e.rows) != 1 {
		t.Fatalf("%+v", e)
	}
	r := &e.rows[0]
	st, err := orderStateFrom(r, testVenue, btc())
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != exchange.StatusFilled || st.Side != exchange.Sell || st.TIF != exchange.GTC || st.Px != 3152710 ||
		st.Qty != 100000 || st.FilledQty != 100000 || st.TS != 1654084353264_000000 || st.FilledQuote.String() != "31.5271" {
		t.Fatalf("%+v (quote %s)", st, st.FilledQuote)
	}
	f, ok, err := fillFrom(r, fillFromPush, testVenue, btc())
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	// fillFee -0.02522168 USDT is a charge: Fee is positive.
	want := exchange.Fill{Venue: testVenue, Inst: 1, Side: exchange.Sell, Maker: true, TradeID: exchange.MustID("242589207"),
		VenueOrderID: exchange.MustID("452197707845865472"), Px: 3152710, Qty: 100000,
		Fee: num.AmountOf(2522168, 8), FeeAsset: exchange.MustID("USDT"), TS: 1654084353263_000000}
	if f != want {
		t.Fatalf("%+v\nwant %+v", f, want)
	}
	// An update without a trade (placement, cancel) carries no fill.
	r.v[fTradeID], r.v[fFillSz] = nil, nil
	if _, ok, err := fillFrom(r, fillFromPush, testVenue, btc()); ok || err != nil {
		t.Fatal(ok, err)
	}
}

func TestParseFills(t *testing.T) {
	e := parseOK(t, sharedDoc(t, "rest_fills_response.json", "response_fills"), 100)
	f, ok, err := fillFrom(&e.rows[0], fillFromREST, testVenue, btc())
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := exchange.Fill{Venue: testVenue, Inst: 1, Side: exchange.Buy, TradeID: exchange.MustID("744876980"),
		VenueOrderID: exchange.MustID("680800019749904384"), Px: 5185800, Qty: 192834,
		Fee: num.AmountOf(192834, 11), FeeAsset: exchange.MustID("BTC"), TS: 1708587373361_000000}
	if f != want {
		t.Fatalf("%+v\nwant %+v", f, want)
	}
	if string(e.rows[0].get(fBillID)) != "680800019754098688" {
		t.Fatal("billId")
	}
	// A fee printed positive is a rebate: negative Fee.
	e.rows[0].v[fFee] = []byte("0.5")
	if f, _, _ := fillFrom(&e.rows[0], fillFromREST, testVenue, btc()); f.Fee.String() != "-0.5" {
		t.Fatalf("rebate %s", f.Fee)
	}
}

// A fill finer than the instrument's scale is errScale (the broken
// invariant), never rounded.
func TestFillScale(t *testing.T) {
	e := parseOK(t, sharedDoc(t, "rest_fills_response.json", "response_fills"), 100)
	in := btc()
	in.Scale.Qty = 6 // 0.00192834 has 8 decimals
	if _, _, err := fillFrom(&e.rows[0], fillFromREST, testVenue, in); !errors.Is(err, errScale) {
		t.Fatalf("%v", err)
	}
	in = btc()
	in.Scale.Px = 0
	e.rows[0].v[fFillPx] = []byte("51858.5")
	if _, _, err := fillFrom(&e.rows[0], fillFromREST, testVenue, in); !errors.Is(err, errScale) {
		t.Fatalf("%v", err)
	}
}

func TestParseBalance(t *testing.T) {
	e := parseOK(t, sharedDoc(t, "rest_account_balance_response.json", "response"), 100)
	if len(e.rows) != 1 || len(e.details) != 1 {
		t.Fatalf("rows %d details %d", len(e.rows), len(e.details))
	}
	b, err := balanceFrom(&e.details[0], testVenue)
	if err != nil || b.Asset != "USDT" || b.Total.String() != "4850.435693622894" || b.Locked.String() != "158.573" {
		t.Fatalf("%+v %v", b, err)
	}
}

func TestParseWSReplies(t *testing.T) {
	ok := parseOK(t, sharedDoc(t, "ws_place_order.json", "success_response"), 4)
	if string(ok.id) != "1512" || string(ok.op) != "order" || !ok.isCode("0") || string(ok.rows[0].get(fOrdID)) != "12345689" {
		t.Fatalf("%+v", ok)
	}
	fail := parseOK(t, sharedDoc(t, "ws_place_order.json", "failure_response"), 4)
	if !fail.isCode("1") || string(fail.rows[0].get(fSCode)) != "5XXXX" || text(fail.rows[0].get(fSMsg)) != "not exist" {
		t.Fatalf("%+v", fail)
	}
	fmtErr := parseOK(t, sharedDoc(t, "ws_place_order.json", "format_error_response"), 4)
	if !fmtErr.isCode("60013") || len(fmtErr.rows) != 0 || text(fmtErr.msg) != "Invalid args" {
		t.Fatalf("%+v", fmtErr)
	}
	login := parseOK(t, sharedDoc(t, "ws_login_request_example.json", "success_response"), 0)
	if string(login.event) != "login" || !login.isCode("0") || string(login.connID) != "a4d3ae55" {
		t.Fatalf("%+v", login)
	}
	lf := parseOK(t, sharedDoc(t, "ws_login_request_example.json", "failure_response"), 0)
	if string(lf.event) != "error" || !lf.isCode("60009") || !authCode(string(lf.code)) {
		t.Fatalf("%+v", lf)
	}
	sub := parseOK(t, sharedDoc(t, "ws_orders_push.json", "subscribe_success_response_single"), 0)
	if string(sub.event) != "subscribe" || string(sub.channel) != "orders" {
		t.Fatalf("%+v", sub)
	}
	// The documented failure's msg carries escaped quotes: read raw,
	// decoded only for the error.
	sf := parseOK(t, sharedDoc(t, "ws_orders_push.json", "subscribe_failure_response"), 0)
	if !strings.Contains(text(sf.msg), `"argss"`) || !sf.isCode("60012") {
		t.Fatalf("%q", text(sf.msg))
	}
	tm := parseOK(t, sharedDoc(t, "rest_system_time_response.json", "response"), 4)
	if ts, err := millisNS(tm.rows[0].get(fTS)); err != nil || ts != 1597026383085_000000 {
		t.Fatal(ts, err)
	}
}

func TestParseRefusesBadShapes(t *testing.T) {
	for _, s := range []string{
		``,
		`[]`,
		`{"code":"0","code":"1"}`,
		`{"code":"0","data":[{"ordId":"1","ordId":"2"}]}`,
		`{"code":"0","data":[{"clOrdId":"a\"b"}]}`,
		`{"code":"0","data":[{"ordId":1}]}`,
		`{"code":"0","data":{}}`,
		`{"code":"0","data":[1]}`,
		`{"code":"0"} x`,
		`{"code":"0","data":[{},{},{},{},{}]}`, // 5 rows into 4
		`{"code":"0","data":[{"details":[{"ccy":"A"}],"details":[]}]}`,
	} {
		if err := newEnvelope(4, 4).parse([]byte(s)); err == nil {
			t.Errorf("accepted %s", s)
		}
	}
	// Unknown keys, nested values and white space are fine.
	ok := `{ "code" : "0", "x":{"y":[1,2,{"z":null}]}, "data" : [ {"ordId":"7","attachAlgoOrds":[],"linkedAlgoOrd":{"algoId":""}} ] }`
	if e := parseOK(t, []byte(ok), 4); string(e.rows[0].get(fOrdID)) != "7" {
		t.Fatal("white space")
	}
}

// Decoding the same documents with encoding/json gives the same string
// values (a differential check of the scanner-based reader).
func TestParseAgreesWithEncodingJSON(t *testing.T) {
	for _, doc := range [][2]string{
		{"rest_place_order_response.json", "payload"}, {"rest_order_details_response.json", "response"},
		{"ws_orders_push.json", "push"}, {"rest_fills_response.json", "response_fills"},
	} {
		b := sharedDoc(t, doc[0], doc[1])
		agreeWithJSON(t, b)
	}
}

// agreeWithJSON checks every row field the envelope read against
// encoding/json; it skips input encoding/json refuses.
func agreeWithJSON(t testing.TB, b []byte) {
	// Exact key matching (encoding/json's struct decoding folds case).
	var top map[string]json.RawMessage
	var ref struct {
		Code json.RawMessage
		Data []map[string]json.RawMessage
	}
	e := newEnvelope(listLimit, maxBalanceDetails)
	if e.parse(b) != nil || json.Unmarshal(b, &top) != nil {
		return
	}
	ref.Code = top["code"]
	if d, ok := top["data"]; ok && json.Unmarshal(d, &ref.Data) != nil {
		return
	}
	var code string
	if json.Unmarshal(ref.Code, &code) == nil && len(e.code) > 0 && string(e.code) != code {
		t.Fatalf("code %q vs %q", e.code, code)
	}
	if len(ref.Data) != len(e.rows) {
		t.Fatalf("rows %d vs %d", len(e.rows), len(ref.Data))
	}
	for i, m := range ref.Data {
		for k, raw := range m {
			f, known := rowField([]byte(k))
			if !known || f == fMsg || f == fSMsg {
				continue
			}
			var s string
			if json.Unmarshal(raw, &s) != nil {
				t.Fatalf("row %d %s: not a string but parsed", i, k)
			}
			if !utf8.Valid(e.rows[i].get(f)) {
				continue // encoding/json replaces invalid UTF-8 by U+FFFD; the scanner keeps the bytes (ids are compared as bytes)
			}
			if string(e.rows[i].get(f)) != s {
				t.Fatalf("row %d %s: %q vs %q", i, k, e.rows[i].get(f), s)
			}
		}
	}
}

func TestParseInstIDCodes(t *testing.T) {
	m, err := parseInstIDCodes([]byte(`{"code":"0","msg":"","data":[{"instId":"BTC-USDT","instIdCode":10001},{"instId":"ETH-USDT","instIdCode":"10002"},{"instId":"X-Y"}]}`))
	if err != nil || m["BTC-USDT"] != 10001 || m["ETH-USDT"] != 10002 || len(m) != 2 {
		t.Fatal(m, err)
	}
	for _, s := range []string{`{"code":"0","data":[{"instId":"A","instIdCode":-1}]}`, `{"code":"1","msg":"x"}`, `{`, `{"code":"0","data":[{"instId":"A","instIdCode":1.5}]}`} {
		if _, err := parseInstIDCodes([]byte(s)); err == nil {
			t.Errorf("accepted %s", s)
		}
	}
}
