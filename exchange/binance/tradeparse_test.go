package binance

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/num"
)

// docInsts are the symbols of the documented examples, with scales that
// hold every value the examples print.
func docInsts() []exchange.Instrument {
	return []exchange.Instrument{
		{ID: 3, Venue: 1, Symbol: "BTCUSDT", Scale: num.Scale{Px: 2, Qty: 5}},
		{ID: 4, Venue: 1, Symbol: "LTCBTC", Scale: num.Scale{Px: 8, Qty: 8}},
		{ID: 5, Venue: 1, Symbol: "BNBBTC", Scale: num.Scale{Px: 8, Qty: 8}},
		{ID: 6, Venue: 1, Symbol: "ETHBTC", Scale: num.Scale{Px: 8, Qty: 8}},
	}
}

// docClient is a client of the documented symbols; it does no I/O.
func docClient(t testing.TB) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{Venue: 1, Name: "binance-docs", RESTURL: "https://api.binance.com",
		WSAPIURL: "wss://ws-api.binance.com:443/ws-api/v3", Credentials: hmacCreds(t), Instruments: docInsts(), Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func amt(t testing.TB, s string) num.Amount {
	t.Helper()
	a, err := num.ParseAmountString(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// parseOrderReply parses a REST order answer like placeREST does.
func parseOrderReply(c *Client, body []byte) (exchange.OrderState, []exchange.Fill, error) {
	b := c.getBuf()
	defer c.putBuf(b)
	b.sc.Reset(body)
	readOrder(&b.sc, &b.ro)
	if !b.sc.End() {
		return exchange.OrderState{}, nil, errSyntaxOr(&b.sc)
	}
	var st exchange.OrderState
	fills, _, err := c.convertOrder(&b.ro, &st, nil)
	return st, fills, err
}

// TestDocumentedOrderAnswers: the documented FULL, RESULT and ACK answers
// of POST /api/v3/order, the query answer and the WebSocket API's FULL
// answer, field by field.
func TestDocumentedOrderAnswers(t *testing.T) {
	c := docClient(t)
	st, fills, err := parseOrderReply(c, docPayload(t, "rest_new_order_response_full.json", "payload"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != exchange.StatusFilled || st.Side != exchange.Sell || st.TIF != exchange.GTC || st.Inst != 3 ||
		st.ClientID.String() != "6gCrw2kRUAF9CvJDGP16IP" || st.VenueOrderID.String() != "28" || st.Qty != 10_00000 ||
		st.FilledQty != 10_00000 || st.FilledQuote.Cmp(amt(t, "10")) != 0 || st.TS != 1507725176595*1e6 {
		t.Fatalf("state %+v", st)
	}
	wantFills := []struct {
		px, qty, fee string
		id           string
	}{{"4000", "1", "4", "56"}, {"3999", "5", "19.995", "57"}, {"3998", "2", "7.996", "58"}, {"3997", "1", "3.997", "59"}, {"3995", "1", "3.995", "60"}}
	if len(fills) != len(wantFills) {
		t.Fatalf("%d fills", len(fills))
	}
	for i, w := range wantFills {
		f := fills[i]
		px, _ := num.ParseString(w.px, 2)
		qty, _ := num.ParseString(w.qty, 5)
		if int64(f.Px) != px || int64(f.Qty) != qty || f.Fee.Cmp(amt(t, w.fee)) != 0 || f.FeeAsset.String() != "USDT" ||
			f.TradeID.String() != w.id || f.ClientID != st.ClientID || f.Side != exchange.Sell || f.Maker {
			t.Errorf("fill %d: %+v", i, f)
		}
	}
	if _, _, err := parseOrderReply(c, docPayload(t, "rest_new_order_response_result.json", "payload")); err != nil {
		t.Fatalf("RESULT: %v", err)
	}
	// ACK carries no status: not an answer the client can use (it always
	// asks for FULL), so it is an error, never a made-up state.
	if _, _, err := parseOrderReply(c, docPayload(t, "rest_new_order_response_ack.json", "payload")); err == nil {
		t.Fatal("ACK accepted as a state")
	}
	q, _, err := parseOrderReply(c, docPayload(t, "rest_query_order_response.json", "payload"))
	if err != nil || q.Inst != 4 || q.ClientID.String() != "myOrder1" || q.Px != 10000000 || q.Qty != 1e8 || q.Status != exchange.StatusNew || q.Side != exchange.Buy {
		t.Fatalf("query %+v %v", q, err)
	}

	var wr wsResponse
	var sc jsonscan.Scanner
	frame := docPayload(t, "wsapi_order_place.json", "response_FULL")
	if err := parseWSResponse(&sc, frame, &wr); err != nil || wr.status != 200 || string(wr.id) != "56374a46-3061-486b-a311-99ee972eb648" || wr.nLimits != 3 {
		t.Fatalf("envelope %+v %v", wr, err)
	}
	ws, wfills, err := parseOrderReply(c, wr.result)
	if err != nil || ws.Status != exchange.StatusFilled || ws.FilledQty != 847 || len(wfills) != 2 ||
		wfills[0].Qty != 635 || wfills[1].Px != 2341650 || wfills[1].TradeID.String() != "1650422482" || !wfills[0].Fee.IsZero() {
		t.Fatalf("ws FULL %+v %+v %v", ws, wfills, err)
	}
	frame = docPayload(t, "wsapi_order_status.json", "response")
	if err := parseWSResponse(&sc, frame, &wr); err != nil {
		t.Fatal(err)
	}
	if os, _, err := parseOrderReply(c, wr.result); err != nil || os.ClientID.String() != "4d96324ff9d44481926157" || os.TS != 1660801717945*1e6 {
		t.Fatalf("order.status %+v %v", os, err)
	}
}

// TestDocumentedErrorsAndEnvelopes: the error body, the failure envelope
// with rateLimits, and the small answers (time, logon, subscribe).
func TestDocumentedErrorsAndEnvelopes(t *testing.T) {
	var sc jsonscan.Scanner
	var e apiError
	if !parseAPIError(&sc, docPayload(t, "rest_error_payload.json", "payload"), &e) || e.code != -1121 || string(e.msg) != "Invalid symbol." {
		t.Fatalf("%+v", e)
	}
	if parseAPIError(&sc, []byte("<html>"), &e) {
		t.Fatal("html accepted")
	}
	var wr wsResponse
	if err := parseWSResponse(&sc, docPayload(t, "wsapi_response_format.json", "failure_response"), &wr); err != nil || wr.status != 400 {
		t.Fatalf("%+v %v", wr, err)
	}
	sc.Reset(wr.errRaw)
	readAPIError(&sc, &e)
	if !sc.End() || e.code != -2010 || !strings.HasPrefix(string(e.msg), "Account has insufficient") {
		t.Fatalf("%+v", e)
	}
	if ms, err := parseServerTime(&sc, docPayload(t, "rest_server_time_response.json", "payload")); err != nil || ms != 1499827319559 {
		t.Fatalf("%d %v", ms, err)
	}
	for _, tc := range []struct{ file, member string }{
		{"wsapi_session_logon.json", "session_logon_response"},
		{"wsapi_userDataStream_subscribe.json", "subscribe_response"},
		{"wsapi_userDataStream_subscribe_signature.json", "response"},
		{"wsapi_time.json", "response"},
		{"wsapi_account_status.json", "response"},
		{"wsapi_myTrades.json", "response"},
	} {
		if err := parseWSResponse(&sc, docPayload(t, tc.file, tc.member), &wr); err != nil || wr.status != 200 || len(wr.result) == 0 {
			t.Errorf("%s %s: %+v %v", tc.file, tc.member, wr, err)
		}
	}
	// The WS API's ban answer carries retryAfter (ms) in error.data.
	ban := []byte(`{"id":"1","status":418,"error":{"code":-1003,"msg":"Way too much request weight used; IP banned until 1659146400000.","data":{"serverTime":1659142907531,"retryAfter":1659146400000}}}`)
	if err := parseWSResponse(&sc, ban, &wr); err != nil {
		t.Fatal(err)
	}
	sc.Reset(wr.errRaw)
	readAPIError(&sc, &e)
	if e.retryAfter != 1659146400000 {
		t.Fatalf("%+v", e)
	}
	c := docClient(t)
	now := time.UnixMilli(1659142907531)
	ce := c.classifyAPI(now, 418, 0, &e, wr.errRaw, opPlace)
	if ce.Kind != exchange.KindRateLimited || ce.RetryAfter != time.Duration(1659146400000-1659142907531)*time.Millisecond {
		t.Fatalf("%+v", ce)
	}
}

// TestDocumentedTradesAndAccount: myTrades (REST and WS API) and account.
func TestDocumentedTradesAndAccount(t *testing.T) {
	c := docClient(t)
	b := c.getBuf()
	fills, unknown, last, err := c.parseTrades(b, docPayload(t, "rest_myTrades_response.json", "payload"), c.inst(5), nil)
	if err != nil || len(fills) != 1 || len(unknown) != 1 || last != 28457 {
		t.Fatalf("%+v %v %d %v", fills, unknown, last, err)
	}
	f := fills[0]
	if f.Px != 400000100 || f.Qty != 12e8 || f.Fee.Cmp(amt(t, "10.1")) != 0 || f.FeeAsset.String() != "BNB" || f.Side != exchange.Buy ||
		f.Maker || f.TradeID.String() != "28457" || f.VenueOrderID.String() != "100234" || f.TS != 1499865549590*1e6 {
		t.Fatalf("%+v", f)
	}
	var wr wsResponse
	if err := parseWSResponse(&b.sc, docPayload(t, "wsapi_myTrades.json", "response"), &wr); err != nil {
		t.Fatal(err)
	}
	res := append([]byte(nil), wr.result...)
	fills, _, _, err = c.parseTrades(b, res, c.inst(3), nil)
	if err != nil || len(fills) != 2 || fills[0].Side != exchange.Sell || !fills[0].Maker || fills[1].Qty != 212 {
		t.Fatalf("%+v %v", fills, err)
	}
	bal, err := c.parseBalances(b, docPayload(t, "rest_account_response.json", "payload"))
	if err != nil || len(bal) != 2 || bal[0].Asset != "BTC" || bal[0].Total.Cmp(amt(t, "4723846.89208129")) != 0 || !bal[1].Locked.IsZero() {
		t.Fatalf("%+v %v", bal, err)
	}
	// A trade of another symbol in a symbol's page is refused.
	if _, _, _, err := c.parseTrades(b, docPayload(t, "rest_myTrades_response.json", "payload"), c.inst(3), nil); err == nil {
		t.Fatal("BNBBTC trade accepted as BTCUSDT")
	}
	c.putBuf(b)
}

// TestDocumentedUserEvents: every documented user-data event is
// classified; the executionReport converts field by field; a TRADE
// report (the docs show none: built from the documented NEW one) yields
// the fill; serverShutdown has no subscriptionId.
func TestDocumentedUserEvents(t *testing.T) {
	var sc jsonscan.Scanner
	var ev userEvent
	for _, tc := range []struct {
		file, member string
		kind         eventKind
	}{
		{"user_data_executionReport.json", "payload", evExecution},
		{"user_data_outboundAccountPosition.json", "payload", evAccount},
		{"wsapi_event_envelope.json", "payload", evAccount},
		{"user_data_balanceUpdate.json", "payload", evBalanceMove},
		{"user_data_externalLockUpdate.json", "payload", evBalanceMove},
		{"user_data_eventStreamTerminated.json", "payload", evTerminated},
		{"wsapi_serverShutdown_event.json", "payload", evShutdown},
		{"wsapi_userDataStream_subscribe_signature.json", "response", evResponse},
	} {
		if err := parseUserEvent(&sc, docPayload(t, tc.file, tc.member), &ev); err != nil || ev.kind != tc.kind {
			t.Errorf("%s: kind %d err %v", tc.file, ev.kind, err)
		}
	}
	if err := parseUserEvent(&sc, docPayload(t, "wsapi_serverShutdown_event.json", "payload"), &ev); err != nil || ev.hasSub {
		t.Fatal("serverShutdown with a subscriptionId")
	}

	c := docClient(t)
	sink := newSinkRec()
	doc := compact(t, docPayload(t, "user_data_executionReport.json", "payload"))
	if err := parseUserEvent(&sc, doc, &ev); err != nil {
		t.Fatal(err)
	}
	c.handleExec(sink, &ev)
	if len(sink.orders) != 1 || len(sink.fills) != 0 {
		t.Fatalf("%+v", sink)
	}
	o := sink.orders[0]
	if o.Inst != 6 || o.ClientID.String() != "mUvoqJxFIILMdfAW5iGSOW" || o.Status != exchange.StatusNew || o.Px != 10264410 ||
		o.Qty != 1e8 || o.VenueOrderID.String() != "4293153" || o.TS != 1499405658657*1e6 || o.Side != exchange.Buy {
		t.Fatalf("%+v", o)
	}
	trade := replaceAll(`"x":"NEW"`, `"x":"TRADE"`, `"X":"NEW"`, `"X":"PARTIALLY_FILLED"`, `"l":"0.00000000"`, `"l":"0.25000000"`,
		`"z":"0.00000000"`, `"z":"0.25000000"`, `"L":"0.00000000"`, `"L":"0.10264410"`, `"n":"0"`, `"n":"0.00025000"`,
		`"N":null`, `"N":"ETH"`, `"t":-1`, `"t":77`, `"m":false`, `"m":true`, doc)
	if err := parseUserEvent(&sc, trade, &ev); err != nil {
		t.Fatal(err)
	}
	c.handleExec(sink, &ev)
	if len(sink.fills) != 1 {
		t.Fatalf("%d fills", len(sink.fills))
	}
	fl := sink.fills[0]
	if fl.Qty != 25000000 || fl.Px != 10264410 || fl.Fee.Cmp(amt(t, "0.00025")) != 0 || fl.FeeAsset.String() != "ETH" || !fl.Maker ||
		fl.TradeID.String() != "77" || fl.ClientID.String() != "mUvoqJxFIILMdfAW5iGSOW" || sink.orders[1].FilledQty != 25000000 {
		t.Fatalf("%+v", fl)
	}
	// The same report again: the fill is not delivered twice.
	c.handleExec(sink, &ev)
	if len(sink.fills) != 1 || c.Stats().FillsSuppressed.Load() != 1 {
		t.Fatal("duplicate fill delivered")
	}
	// A cancel: c is the cancel request's id, C the order's.
	cancel := replaceAll(`"x":"NEW"`, `"x":"CANCELED"`, `"X":"NEW"`, `"X":"CANCELED"`, `"c":"mUvoqJxFIILMdfAW5iGSOW"`, `"c":"cancel1"`,
		`"C":""`, `"C":"mUvoqJxFIILMdfAW5iGSOW"`, doc)
	if err := parseUserEvent(&sc, cancel, &ev); err != nil {
		t.Fatal(err)
	}
	c.handleExec(sink, &ev)
	if last := sink.orders[len(sink.orders)-1]; last.ClientID.String() != "mUvoqJxFIILMdfAW5iGSOW" || last.Status != exchange.StatusCanceled {
		t.Fatalf("%+v", last)
	}
}

// TestFillOffScaleHalts: a fill whose quantity has more decimals than the
// instrument's scale is never rounded or dropped silently: nothing is
// delivered, it is counted, logged at error level and the circuit opens
// with the reason; orders are refused from then on.
func TestFillOffScaleHalts(t *testing.T) {
	var logs strings.Builder
	c := docClient(t)
	c.cfg.Logger = newJSONLogger(&logs)
	sink := newSinkRec()
	doc := compact(t, docPayload(t, "user_data_executionReport.json", "payload"))
	// ETHBTC has scale 8: a 9th decimal does not fit.
	bad := replaceAll(`"x":"NEW"`, `"x":"TRADE"`, `"l":"0.00000000"`, `"l":"0.250000001"`, `"N":null`, `"N":"ETH"`, `"t":-1`, `"t":78`, doc)
	var sc jsonscan.Scanner
	var ev userEvent
	if err := parseUserEvent(&sc, bad, &ev); err != nil {
		t.Fatal(err)
	}
	c.handleExec(sink, &ev)
	if len(sink.fills) != 0 || len(sink.orders) != 0 {
		t.Fatal("off-scale fill delivered")
	}
	cb := c.Circuit()
	if !cb.Open || !strings.Contains(cb.Reason, "broken invariant") || c.Stats().BrokenInvariants.Load() != 1 {
		t.Fatalf("circuit %+v", cb)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Fatalf("not logged at error level: %s", logs.String())
	}
	req := exchange.OrderRequest{ClientID: exchange.MustID("after"), Inst: 6, Side: exchange.Buy, Px: 1, Qty: 1e8, TIF: exchange.IOC}
	if _, err := c.PlaceOrder(t.Context(), req); kindOf(err) != exchange.KindRejected || !strings.Contains(err.Error(), "halted") {
		t.Fatalf("order after halt: %v", err)
	}
}

// Fuzz targets: every parser of venue input, seeded with the documented
// examples. They must never panic; what they accept must convert
// consistently (or be refused with an error).

func fuzzSeeds(f *testing.F, files ...[2]string) {
	for _, fm := range files {
		f.Add(docPayload(f, fm[0], fm[1]))
	}
}

func FuzzOrderReply(f *testing.F) {
	fuzzSeeds(f, [2]string{"rest_new_order_response_full.json", "payload"}, [2]string{"rest_new_order_response_result.json", "payload"},
		[2]string{"rest_new_order_response_ack.json", "payload"}, [2]string{"rest_query_order_response.json", "payload"})
	c := docClient(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		st, fills, err := parseOrderReply(c, body)
		if err == nil {
			if st.ClientID.IsZero() || st.Inst == 0 || !st.Status.Final() && st.Status == 0 {
				t.Fatalf("accepted an unusable state %+v", st)
			}
			for _, fl := range fills {
				if fl.Inst != st.Inst || fl.ClientID != st.ClientID {
					t.Fatalf("fill %+v of %+v", fl, st)
				}
			}
		}
		b := c.getBuf()
		c.parseOpenOrders(b, body, nil)
		c.putBuf(b)
	})
}

func FuzzWSResponse(f *testing.F) {
	fuzzSeeds(f, [2]string{"wsapi_order_place.json", "response_FULL"}, [2]string{"wsapi_order_place.json", "response_ACK"},
		[2]string{"wsapi_response_format.json", "failure_response"}, [2]string{"wsapi_session_logon.json", "session_logon_response"},
		[2]string{"wsapi_userDataStream_subscribe.json", "subscribe_response"}, [2]string{"wsapi_time.json", "response"})
	f.Add([]byte(`{"id":"1","status":418,"error":{"code":-1003,"msg":"x","data":{"retryAfter":1659146400000}}}`))
	c := docClient(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		var sc jsonscan.Scanner
		var wr wsResponse
		if err := parseWSResponse(&sc, frame, &wr); err != nil {
			return
		}
		c.observeWSLimits(time.Unix(0, 0), &wr)
		if wr.errRaw != nil {
			var e apiError
			sc.Reset(wr.errRaw)
			readAPIError(&sc, &e)
			c.classifyAPI(time.Unix(0, 0), int(wr.status), 0, &e, wr.errRaw, opPlace)
		}
		if wr.result != nil {
			parseOrderReply(c, wr.result)
		}
		peekFrame(&sc, frame)
	})
}

func FuzzUserEvent(f *testing.F) {
	fuzzSeeds(f, [2]string{"user_data_executionReport.json", "payload"}, [2]string{"user_data_outboundAccountPosition.json", "payload"},
		[2]string{"user_data_eventStreamTerminated.json", "payload"}, [2]string{"wsapi_serverShutdown_event.json", "payload"},
		[2]string{"user_data_balanceUpdate.json", "payload"}, [2]string{"wsapi_event_envelope.json", "payload"})
	c := docClient(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		var sc jsonscan.Scanner
		var ev userEvent
		if err := parseUserEvent(&sc, frame, &ev); err != nil {
			return
		}
		if ev.kind == evExecution {
			sink := newSinkRec()
			c.halted.Store(nil)
			c.handleExec(sink, &ev)
			for _, fl := range sink.fills {
				if fl.Inst == 0 || fl.ClientID.IsZero() {
					t.Fatalf("fill %+v", fl)
				}
			}
		}
	})
}

func FuzzTradesAndAccount(f *testing.F) {
	fuzzSeeds(f, [2]string{"rest_myTrades_response.json", "payload"}, [2]string{"rest_account_response.json", "payload"},
		[2]string{"rest_server_time_response.json", "payload"}, [2]string{"rest_error_payload.json", "payload"})
	c := docClient(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		b := c.getBuf()
		defer c.putBuf(b)
		c.halted.Store(nil)
		if fills, _, _, err := c.parseTrades(b, body, c.inst(5), nil); err == nil {
			for _, fl := range fills {
				if fl.Inst != 5 || fl.TradeID.IsZero() {
					t.Fatalf("fill %+v", fl)
				}
			}
		}
		if bal, err := c.parseBalances(b, body); err == nil {
			for _, x := range bal {
				if x.Asset == "" {
					t.Fatal("balance without asset")
				}
			}
		}
		parseServerTime(&b.sc, body)
		var e apiError
		parseAPIError(&b.sc, body, &e)
	})
}

// TestParsersNoAllocs: the order answer parse (REST FULL and WS API
// envelope) allocates nothing.
func TestParsersNoAllocs(t *testing.T) {
	c := docClient(t)
	full := docPayload(t, "rest_new_order_response_full.json", "payload")
	ws := docPayload(t, "wsapi_order_place.json", "response_FULL")
	b := c.getBuf()
	b.fills = make([]exchange.Fill, 0, 8)
	n := testing.AllocsPerRun(200, func() {
		b.sc.Reset(full)
		readOrder(&b.sc, &b.ro)
		var st exchange.OrderState
		fills, _, err := c.convertOrder(&b.ro, &st, b.fills[:0])
		if err != nil || len(fills) != 5 {
			t.Fatal(err)
		}
		if err := parseWSResponse(&b.sc, ws, &b.wr); err != nil {
			t.Fatal(err)
		}
		b.sc.Reset(b.wr.result)
		readOrder(&b.sc, &b.ro)
		if !b.sc.End() {
			t.Fatal("ws result")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocs per parse", n)
	}
	var _ = json.Valid
}

// replaceAll applies old/new pairs (the last argument is the input).
func replaceAll(args ...any) []byte {
	in := string(args[len(args)-1].([]byte))
	var pairs []string
	for _, a := range args[:len(args)-1] {
		pairs = append(pairs, a.(string))
	}
	return []byte(strings.NewReplacer(pairs...).Replace(in))
}

// compact removes the documentation's indentation, so tests can edit a
// payload by its exact key:value text.
func compact(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
