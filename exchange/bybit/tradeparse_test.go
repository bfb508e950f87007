package bybit

import (
	"encoding/json"
	"strings"
	"testing"

	"arb/exchange"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/num"
)

// The documented examples, parsed as they are (they are linear and option
// examples: the docs have no spot one), then "spotified" — category spot
// and a configured symbol, every other field as documented — and converted.

// spotify sets category "spot" and symbol on every object of a documented
// list or push, in place.
func spotify(items []any, symbol string) {
	for _, it := range items {
		m := it.(map[string]any)
		m["category"], m["symbol"] = "spot", symbol
	}
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDocumentedREST(t *testing.T) {
	var s jsonscan.Scanner
	var env envelope

	// order/create
	b := docBytes(t, "rest_create_order_response.json", "payload")
	if err := parseEnvelope(&s, b, &env); err != nil || env.retCode != 0 || string(env.retMsg) != "OK" || env.timeMs != 1672211918471 {
		t.Fatalf("create envelope %+v %v", env, err)
	}
	var ack orderAck
	if err := parseOrderAck(&s, env.result, &ack); err != nil || string(ack.orderID) != "1321003749386327552" || string(ack.linkID) != "spot-test-postonly" {
		t.Fatalf("ack %+v %v", ack, err)
	}

	// order/realtime (linear example): fields as documented.
	doc := docFile(t, "rest_order_realtime_response.json", "response")
	if err := parseEnvelope(&s, mustJSON(t, doc), &env); err != nil {
		t.Fatal(err)
	}
	var lr listResult
	if err := parseListResult(&s, env.result, &lr); err != nil || string(lr.category) != "linear" ||
		string(lr.cursor) != "page_args%3Dfd4300ae-7847-404e-b947-b46980a4d140%26symbol%3D6%26" {
		t.Fatalf("list %+v %v", lr, err)
	}
	n := 0
	err := eachOrder(&s, lr.list, func(o *orderFields) error {
		n++
		if string(o.orderID) != "fd4300ae-7847-404e-b947-b46980a4d140" || string(o.linkID) != "test-000005" || string(o.symbol) != "ETHUSDT" ||
			string(o.status) != "New" || string(o.price) != "1600.00" || string(o.qty) != "0.10" || string(o.cumQty) != "0.00" ||
			string(o.cumValue) != "0" || string(o.tif) != "GTC" || string(o.updated) != "1684738540561" || string(o.side) != "Buy" {
			t.Errorf("order fields %+v", o)
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("orders %d %v", n, err)
	}
	// Spotified: converted exactly.
	res := doc["result"].(map[string]any)
	spotify(res["list"].([]any), "ETHUSDT")
	insts := newInstruments(testInstruments())
	parseEnvelope(&s, mustJSON(t, doc), &env)
	parseListResult(&s, env.result, &lr)
	eachOrder(&s, lr.list, func(o *orderFields) error {
		var st exchange.OrderState
		if r, err := toOrderState(insts, 3, o, &st); r != convOK {
			t.Fatalf("convert: %v %v", r, err)
		}
		if st.Inst != 2 || st.Side != exchange.Buy || st.Status != exchange.StatusNew || st.Px != 160000 || st.Qty != 10000 ||
			st.FilledQty != 0 || st.TIF != exchange.GTC || st.ClientID.String() != "test-000005" || st.TS != 1684738540561*1e6 {
			t.Fatalf("state %+v", st)
		}
		return nil
	})

	// order/history: a cancelled PostOnly order.
	doc = docFile(t, "rest_order_history_response.json", "response")
	spotify(doc["result"].(map[string]any)["list"].([]any), "BTCUSDT")
	parseEnvelope(&s, mustJSON(t, doc), &env)
	if err := parseListResult(&s, env.result, &lr); err != nil {
		t.Fatal(err)
	}
	eachOrder(&s, lr.list, func(o *orderFields) error {
		var st exchange.OrderState
		if r, err := toOrderState(insts, 3, o, &st); r != convOK {
			t.Fatalf("convert: %v %v", r, err)
		}
		if st.Status != exchange.StatusCanceled || st.Px != 2686440 || st.Qty != 3000 || st.FilledQty != 0 || st.ClientID.String() != "YLxaWKMiHU" {
			t.Fatalf("history state %+v", st)
		}
		return nil
	})

	// execution/list (linear example), spotified: one fill, exact.
	doc = docFile(t, "rest_execution_list_response.json", "response")
	parseEnvelope(&s, mustJSON(t, doc), &env)
	parseListResult(&s, env.result, &lr)
	eachExec(&s, lr.list, func(x *execFields) error {
		var f exchange.Fill
		if r, _, _ := toFill(insts, 3, x, &f); r != convSkip {
			t.Fatalf("a linear ETHPERP execution was not skipped: %v", r)
		}
		return nil
	})
	spotify(doc["result"].(map[string]any)["list"].([]any), "ETHUSDT")
	parseEnvelope(&s, mustJSON(t, doc), &env)
	parseListResult(&s, env.result, &lr)
	n = 0
	eachExec(&s, lr.list, func(x *execFields) error {
		n++
		var f exchange.Fill
		r, inferred, err := toFill(insts, 3, x, &f)
		if r != convOK {
			t.Fatalf("convert: %v %v", r, err)
		}
		// feeCurrency is "" in the example: a buy pays in the base asset.
		if !inferred || f.FeeAsset.String() != "ETH" || f.Fee.Cmp(num.AmountOf(71409, 6)) != 0 || f.Px != 119015 || f.Qty != 10000 ||
			f.Side != exchange.Buy || f.Maker || f.TradeID.String() != "e0cbe81d-0f18-5866-9415-cf319b5dab3b" ||
			f.VenueOrderID.String() != "8c065341-7b52-4ca9-ac2c-37e31ac55c94" || f.TS != 1672282722429*1e6 {
			t.Fatalf("fill %+v", f)
		}
		return nil
	})
	if n != 1 {
		t.Fatal(n)
	}

	// wallet-balance
	b = docBytes(t, "rest_wallet_balance_response.json", "response")
	parseEnvelope(&s, b, &env)
	var coins []string
	if err := eachWalletCoin(&s, env.result, func(w *walletCoin) error {
		coins = append(coins, string(w.coin)+"="+string(w.walletBalance)+"/"+string(w.locked))
		return nil
	}); err != nil || strings.Join(coins, ",") != "BTC=0/0" {
		t.Fatalf("coins %v %v", coins, err)
	}

	// market/time
	b = docBytes(t, "rest_server_time_response.json", "response")
	parseEnvelope(&s, b, &env)
	var st serverTime
	if err := parseServerTime(&s, env.result, &st); err != nil || string(st.nano) != "1688639403423213947" || string(st.second) != "1688639403" {
		t.Fatalf("time %+v %v", st, err)
	}
}

func TestParseDocumentedWS(t *testing.T) {
	var s jsonscan.Scanner
	var f wsFrame
	insts := newInstruments(testInstruments())

	// Private stream control replies.
	pp := docFile(t, "ws_ping_pong_and_subscribe.json", "")
	if err := parseWSFrame(&s, mustJSON(t, pp["auth_success_response"]), &f); err != nil || string(f.op) != "auth" || !f.success || !f.hasSuccess {
		t.Fatalf("auth %+v %v", f, err)
	}
	for _, p := range pp["pong_examples_verbatim"].([]any) {
		if err := parseWSFrame(&s, mustJSON(t, p), &f); err != nil || (string(f.op) != "ping" && string(f.op) != "pong") {
			t.Fatalf("pong %+v %v", f, err)
		}
	}
	for _, txt := range pp["subscribe_examples_verbatim_text"].([]any)[2:] {
		if err := parseWSFrame(&s, []byte(txt.(string)), &f); err != nil || string(f.op) != "subscribe" || !f.success {
			t.Fatalf("subscribe reply %+v %v", f, err)
		}
	}

	// Trade socket.
	tr := docFile(t, "ws_trade_order_create.json", "")
	if err := parseWSFrame(&s, mustJSON(t, tr["auth_response"]), &f); err != nil || string(f.op) != "auth" || !f.hasRetCode || f.retCode != 0 {
		t.Fatalf("trade auth %+v %v", f, err)
	}
	if err := parseWSFrame(&s, mustJSON(t, tr["ping_response"]), &f); err != nil || string(f.op) != "pong" {
		t.Fatalf("trade pong %+v %v", f, err)
	}
	if err := parseWSFrame(&s, mustJSON(t, tr["order_create_response"]), &f); err != nil || string(f.reqID) != "test-005" || f.retCode != 0 {
		t.Fatalf("order reply %+v %v", f, err)
	}
	var h wsHeader
	var ack orderAck
	if err := parseWSHeader(&s, f.header, &h); err != nil || string(h.limit) != "10" || string(h.status) != "9" ||
		string(h.reset) != "1711001595208" || string(h.timeNow) != "1711001595209" {
		t.Fatalf("header %+v %v", h, err)
	}
	if err := parseOrderAck(&s, f.data, &ack); err != nil || string(ack.orderID) != "a4c1718e-fe53-4659-a118-1f6ecce04ad9" || len(ack.linkID) != 0 {
		t.Fatalf("ack %+v %v", ack, err)
	}

	// Pushes: the documented option order and linear execution are read
	// and skipped (not spot); spotified, they convert.
	for _, tc := range []struct {
		file  string
		topic string
		sym   string
	}{{"ws_order_push.json", "order", "BTCUSDT"}, {"ws_execution_push.json", "execution", "BTCUSDT"}, {"ws_execution_fast_push.json", "execution.fast", "ICPUSDT"}} {
		p := docFile(t, tc.file, "payload")
		if err := parseWSFrame(&s, mustJSON(t, p), &f); err != nil || string(f.topic) != tc.topic {
			t.Fatalf("%s: %+v %v", tc.file, f, err)
		}
		items := 0
		check := func(spot bool) {
			var err error
			if strings.HasPrefix(tc.topic, "order") {
				err = eachOrder(&s, f.data, func(o *orderFields) error {
					items++
					var st exchange.OrderState
					r, err := toOrderState(insts, 3, o, &st)
					if !spot && r != convSkip || spot && r != convOK {
						t.Fatalf("%s spot=%v: %v %v", tc.file, spot, r, err)
					}
					return nil
				})
			} else {
				err = eachExec(&s, f.data, func(x *execFields) error {
					items++
					var fl exchange.Fill
					r, _, err := toFill(insts, 3, x, &fl)
					if !spot && r != convSkip || spot && r != convOK {
						t.Fatalf("%s spot=%v: %v %v", tc.file, spot, r, err)
					}
					if spot && (fl.TradeID.IsZero() || fl.Qty <= 0) {
						t.Fatalf("%s: %+v", tc.file, fl)
					}
					return nil
				})
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
		}
		check(false)
		spotify(p["data"].([]any), tc.sym)
		parseWSFrame(&s, mustJSON(t, p), &f)
		check(true)
		if items != 2 {
			t.Fatalf("%s: %d items", tc.file, items)
		}
	}
}

// TestRetMsgWithEscapes: a retMsg with escaped quotes (Bybit's 10004 echoes
// the signed payload) is kept raw, not a parse error.
func TestRetMsgWithEscapes(t *testing.T) {
	var s jsonscan.Scanner
	var env envelope
	b := []byte(`{"retCode":10004,"retMsg":"error sign! origin_string[{\"category\":\"spot\"}]","result":{},"retExtInfo":{},"time":1}`)
	if err := parseEnvelope(&s, b, &env); err != nil || env.retCode != 10004 || !strings.Contains(string(env.retMsg), `\"category\"`) {
		t.Fatalf("%+v %v", env, err)
	}
	// Keys in any order, result before retCode.
	b = []byte(`{"result":{"orderId":"1","orderLinkId":"x"},"time":5,"retMsg":"OK","retCode":0}`)
	if err := parseEnvelope(&s, b, &env); err != nil || env.retCode != 0 || string(env.result) != `{"orderId":"1","orderLinkId":"x"}` {
		t.Fatalf("%+v %v", env, err)
	}
	for _, bad := range []string{``, `[]`, `{"retMsg":"x"}`, `{"retCode":0,}`, `{"retCode":0}x`, `{"retCode":"0"}`} {
		if err := parseEnvelope(&s, []byte(bad), &env); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
