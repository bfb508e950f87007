package bybit

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"arb/exchange"
	"arb/exchange/internal/jsonscan"
)

// Fuzz targets for every parser of venue input the trading client adds:
// REST replies (envelope, order ack, order lists, executions, wallet,
// server time), private stream pushes (through the client's own handling,
// down to the sink), and trade-socket replies (through the reply path of
// a real order slot). Seeds: every documented example of
// venue-docs/bybit (read at run time), their spot versions, and the
// client's own output. Each input must be rejected or accepted without a
// panic, and what is accepted must satisfy the types' invariants.

// docSeeds returns every JSON object of the documented examples: each
// file's nested objects that look like messages.
func docSeeds(t testing.TB) [][]byte {
	files, _ := filepath.Glob(filepath.Join(docsDir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no venue docs under %s", docsDir)
	}
	var out [][]byte
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			b, _ := json.Marshal(x)
			out = append(out, b)
			if _, ok := x["result"]; ok {
				if r, ok := x["result"].(map[string]any); ok {
					b, _ := json.Marshal(r)
					out = append(out, b)
					if l, ok := r["list"].([]any); ok {
						spotify(deepCopy(l).([]any), "BTCUSDT")
						r2 := deepCopy(r).(map[string]any)
						spotify(r2["list"].([]any), "ETHUSDT")
						r2["category"] = "spot"
						b, _ := json.Marshal(r2)
						out = append(out, b)
					}
				}
			}
			if d, ok := x["data"].([]any); ok && len(d) > 0 && isObject(d[0]) {
				x2 := deepCopy(x).(map[string]any)
				spotify(x2["data"].([]any), "BTCUSDT")
				b, _ := json.Marshal(x2)
				out = append(out, b)
				if tp, ok := x2["topic"].(string); ok {
					x2["topic"] = tp + ".spot"
					b, _ := json.Marshal(x2)
					out = append(out, b)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if json.Unmarshal(b, &v) == nil {
			walk(v)
		}
	}
	return out
}

func isObject(v any) bool { _, ok := v.(map[string]any); return ok }

func FuzzTradeREST(f *testing.F) {
	for _, s := range docSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"retCode":10004,"retMsg":"error sign! origin_string[{\"category\":\"spot\"}]","result":{},"time":1}`))
	f.Add([]byte(`{"category":"spot","list":[{"category":"spot","symbol":"BTCUSDT","execId":"e1","orderId":"1","orderLinkId":"a","side":"Buy","execPrice":"30000.001","execQty":"0.1","execFee":"-0.0001","feeCurrency":"","execTime":"1","isMaker":true}],"nextPageCursor":"x"}`))
	insts := newInstruments(testInstruments())
	f.Fuzz(func(t *testing.T, b []byte) {
		var s jsonscan.Scanner
		var env envelope
		if parseEnvelope(&s, b, &env) == nil && len(env.result) > 0 {
			b = env.result
		}
		var ack orderAck
		_ = parseOrderAck(&s, b, &ack)
		var st serverTime
		_ = parseServerTime(&s, b, &st)
		_ = eachWalletCoin(&s, b, func(w *walletCoin) error { return nil })
		var lr listResult
		if parseListResult(&s, b, &lr) != nil {
			return
		}
		_ = eachOrder(&s, lr.list, func(o *orderFields) error {
			var st exchange.OrderState
			if r, _ := toOrderState(insts, 3, o, &st); r == convOK {
				if st.Inst == 0 || st.Side == 0 || st.Status == 0 || st.VenueOrderID.IsZero() || st.Px < 0 || st.Qty < 0 || st.FilledQty < 0 {
					t.Fatalf("invalid state %+v from %q", st, b)
				}
			}
			return nil
		})
		_ = eachExec(&s, lr.list, func(x *execFields) error {
			var fl exchange.Fill
			if r, inferred, _ := toFill(insts, 3, x, &fl); r == convOK {
				if fl.Inst == 0 || fl.Side == 0 || fl.TradeID.IsZero() || fl.Px <= 0 || fl.Qty <= 0 || fl.TS <= 0 ||
					(!fl.Fee.IsZero() && fl.FeeAsset.IsZero()) || inferred && len(x.feeCurrency) != 0 {
					t.Fatalf("invalid fill %+v from %q", fl, b)
				}
			}
			return nil
		})
	})
}

// countSink checks and counts what the private stream delivers.
type countSink struct {
	t      *testing.T
	orders int
	fills  int
}

func (s *countSink) OnOrder(o exchange.OrderState) {
	if o.Inst == 0 || o.Status == 0 || o.Side == 0 {
		s.t.Fatalf("invalid order %+v", o)
	}
	s.orders++
}
func (s *countSink) OnFill(f exchange.Fill) {
	if f.Inst == 0 || f.TradeID.IsZero() || f.Qty <= 0 || f.Px <= 0 {
		s.t.Fatalf("invalid fill %+v", f)
	}
	s.fills++
}
func (s *countSink) OnStream(bool) {}

// fuzzClient is a client that never dials: the fuzz targets drive its
// frame handling directly.
var fuzzClient = sync.OnceValue(func() *Client {
	cred, _ := NewCredentials(fakeKey, fakeSecret)
	c, err := NewClient(ClientConfig{Venue: 3, RESTURL: "http://127.0.0.1:1", WSURL: "ws://127.0.0.1:1",
		Credentials: cred, Instruments: testInstruments(), OrderEntry: OrderEntryWS, TrackedOrders: 64, MaxInFlight: 2})
	if err != nil {
		panic(err)
	}
	c.trade = newTradeSocket(c)
	return c
})

func FuzzPrivateFrame(f *testing.F) {
	for _, s := range docSeeds(f) {
		f.Add(s)
	}
	fv := newFakeVenue(f)
	o := &fakeOrder{id: "1", link: "abc", symbol: "BTCUSDT", side: "Sell", tif: "IOC", px: decimalOf("30000.1"), qty: decimalOf("0.01"),
		filled: decimalOf("0.003"), quote: decimalOf("90.0003"), status: "PartiallyFilledCanceled", created: 1}
	f.Add(fv.orderPush(o))
	f.Add(fv.execPush(&fakeExec{id: "e1", orderID: "1", link: "abc", symbol: "BTCUSDT", side: "Sell", px: o.px, qty: o.filled,
		fee: decimalOf("0.0900003"), feeCcy: "USDT", ts: 5}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := fuzzClient()
		c.halted.Store(nil)
		sink := &countSink{t: t}
		c.sink.Store(&sinkBox{s: sink})
		defer c.sink.Store(nil)
		var s jsonscan.Scanner
		var fr wsFrame
		if parseWSFrame(&s, b, &fr) != nil || len(fr.topic) == 0 {
			return
		}
		_ = c.handlePush(&s, &fr, b)
	})
}

func FuzzTradeReply(f *testing.F) {
	for _, s := range docSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"reqId":"x","retCode":10006,"retMsg":"Too many visits!","op":"order.create","data":{},"header":{"X-Bapi-Limit":"20","X-Bapi-Limit-Status":"0","X-Bapi-Limit-Reset-Timestamp":"1711001595208"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := fuzzClient()
		s, err := c.take(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer s.release()
		insts := testInstruments()
		o, _ := prepareOrder(&insts[0], &exchange.OrderRequest{ClientID: exchange.MustID("f1"), Inst: 1, Side: exchange.Buy, Px: 3000000, Qty: 1000, TIF: exchange.IOC})
		s.reply = append(s.reply[:0], b...)
		st, err := c.trade.reply(s, &o, 1)
		if err == nil && (st.ClientID.String() != "f1" || st.Status != exchange.StatusNew) {
			t.Fatalf("ack %+v from %q", st, b)
		}
		var fr wsFrame
		if parseWSFrame(&s.scan, b, &fr) == nil && len(fr.reqID) > 0 {
			c.trade.parseReqID(fr.reqID)
		}
	})
}
