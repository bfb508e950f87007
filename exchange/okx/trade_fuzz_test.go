package okx

import (
	"testing"

	"arb/exchange"
)

// tradeSeeds are the documented replies and pushes, plus a few shapes the
// code treats specially.
func tradeSeeds(f *testing.F, docs ...[2]string) {
	for _, d := range docs {
		f.Add(sharedDoc(f, d[0], d[1]))
	}
}

// FuzzTradeReply: any REST reply is parsed, converted (orders, fills,
// balances, acknowledgements) or refused — never a panic, and what the
// scanner reads agrees with encoding/json.
func FuzzTradeReply(f *testing.F) {
	tradeSeeds(f,
		[2]string{"rest_place_order_response.json", "payload"},
		[2]string{"rest_order_details_response.json", "response"},
		[2]string{"rest_fills_response.json", "response_fills"},
		[2]string{"rest_account_balance_response.json", "response"},
		[2]string{"rest_system_time_response.json", "response"},
	)
	f.Add([]byte(`{"code":"1","msg":"All operations failed","data":[{"clOrdId":"a1","ordId":"","sCode":"51016","sMsg":"Client order ID already exists."}]}`))
	f.Add([]byte(`{"code":"50011","msg":"Too Many Requests","data":[]}`))
	f.Add([]byte(`{"code":"0","data":[{"instId":"BTC-USDT","fillSz":"0.000000001","fillPx":"1","tradeId":"1","side":"buy","fillTime":"1"}]}`))
	c := newTestClientOffline(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		e := newEnvelope(listLimit, maxBalanceDetails)
		if e.parse(b) != nil {
			return
		}
		agreeWithJSON(t, b)
		for i := range e.rows {
			r := &e.rows[i]
			for k := range c.insts {
				in := &c.insts[k].Instrument
				if st, err := orderStateFrom(r, testVenue, in); err == nil {
					if st.VenueOrderID.IsZero() || st.Side == 0 || st.Status == 0 || st.FilledQty < 0 || st.Qty < 0 {
						t.Fatalf("accepted a bad order state %+v", st)
					}
				}
				if fl, ok, err := fillFrom(r, fillFromREST, testVenue, in); err == nil && ok {
					checkFill(t, fl)
				}
			}
		}
		for i := range e.details {
			if bal, err := balanceFrom(&e.details[i], testVenue); err == nil && bal.Asset == "" {
				t.Fatal("balance without asset")
			}
		}
		ack := exchange.OrderState{}
		clid := exchange.MustID("a1")
		if err := c.readAck(e, &clid, &ack); err == nil && ack.VenueOrderID.IsZero() {
			t.Fatal("ack without ordId")
		}
	})
}

func checkFill(t *testing.T, f exchange.Fill) {
	t.Helper()
	if f.Qty <= 0 || f.Px <= 0 || f.TradeID.IsZero() || f.Side == 0 || f.TS <= 0 || f.Inst == 0 {
		t.Fatalf("accepted a bad fill %+v", f)
	}
}

// nopSink counts deliveries and checks each fill.
type nopSink struct {
	t      *testing.T
	orders int
	fills  map[fillKey]int
}

func (s *nopSink) OnOrder(o exchange.OrderState) {
	if o.VenueOrderID.IsZero() || o.Inst == 0 {
		s.t.Fatalf("bad order delivered %+v", o)
	}
	s.orders++
}
func (s *nopSink) OnFill(f exchange.Fill) {
	checkFill(s.t, f)
	k := fillKey{f.Inst, f.TradeID}
	s.fills[k]++
	if s.fills[k] > 1 {
		s.t.Fatalf("fill %v delivered twice", f.TradeID)
	}
}
func (s *nopSink) OnStream(bool) {}

// FuzzPrivatePush: any frame on the private stream is delivered, ignored
// or counted as bad — never a panic, never a fill twice, and a fill finer
// than the scale halts trading instead of being delivered.
func FuzzPrivatePush(f *testing.F) {
	tradeSeeds(f,
		[2]string{"ws_orders_push.json", "push"},
		[2]string{"ws_orders_push.json", "subscribe_success_response_single"},
		[2]string{"ws_orders_push.json", "subscribe_failure_response"},
		[2]string{"ws_login_request_example.json", "success_response"},
		[2]string{"ws_login_request_example.json", "failure_response"},
		[2]string{"ws_fills_push.json", "push"},
	)
	f.Add([]byte("pong"))
	f.Add([]byte(`{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade."}`))
	f.Add([]byte(`{"event":"channel-conn-count","channel":"orders","connCount":"2","connId":"a4d3ae55"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := newTestClientOffline(t)
		sink := &nopSink{t: t, fills: map[fillKey]int{}}
		ps := &privateStream{c: c, sink: sink, env: newEnvelope(listLimit, 0)}
		for i := 0; i < 2; i++ { // a repeated push delivers its fill once
			_ = ps.handle(b)
		}
		if c.Stats().ScaleViolations.Load() > 0 && !c.Circuit().Open {
			t.Fatal("scale violation without halting")
		}
	})
}

// FuzzWSOrderReply: any order-entry reply is matched to its request and
// read as an acknowledgement or a classified error, never a panic; an
// acknowledgement always names a venue order.
func FuzzWSOrderReply(f *testing.F) {
	tradeSeeds(f,
		[2]string{"ws_place_order.json", "success_response"},
		[2]string{"ws_place_order.json", "failure_response"},
		[2]string{"ws_place_order.json", "format_error_response"},
	)
	f.Add([]byte(`{"id":"1512","op":"order","data":[{"clOrdId":"a1","ordId":"9","sCode":"51016","sMsg":"dup"}],"code":"1","msg":""}`))
	c := newTestClientOffline(f)
	in := c.inst(1)
	clid := exchange.MustID("a1")
	f.Fuzz(func(t *testing.T, b []byte) {
		oc := &orderConn{}
		for i := range oc.slots {
			oc.slots[i].ch = make(chan wsResult, 1)
		}
		e := newEnvelope(4, 0)
		if e.parse(b) != nil {
			return
		}
		s := oc.acquire(1512)
		oc.deliver(1512, e)
		res, ok := oc.release(s)
		if !ok {
			t.Fatal("reply not delivered to its slot")
		}
		st, err, final := c.ows.readReply(&res, in, &clid, exchange.OrderState{})
		if !final {
			t.Fatal("a reply must be final")
		}
		if err == nil && st.VenueOrderID.IsZero() {
			t.Fatal("ack without ordId")
		}
		if err != nil && exchange.KindOf(err) == exchange.KindUnknown {
			t.Fatalf("unclassified reply error %v", err)
		}
	})
}

// FuzzInstIDCodes: the instrument list's instIdCodes are read or refused.
func FuzzInstIDCodes(f *testing.F) {
	f.Add(sharedDoc(f, "rest_account_instruments_spot_response.json", "payload"))
	f.Add([]byte(`{"code":"0","msg":"","data":[{"instId":"BTC-USDT","instIdCode":10001}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseInstIDCodes(b)
		if err != nil {
			return
		}
		for k, v := range m {
			if v <= 0 {
				t.Fatalf("%s: code %d", k, v)
			}
		}
	})
}
