package ledger

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const fillJSON = `{"venue":"binance","venue_fill_id":"28457","client_order_id":"a1b2c3","trade_id":"T1","symbol":"BTC-USDT","base":"BTC","quote":"USDT","side":"buy","price":"64000.12","qty":"0.00150000","fee":"0.0000015","fee_asset":"BNB","fee_quote_rate":"598.3","ts":"2026-11-21T12:00:00.123456789Z"}`

const tradeJSON = `{"id":"T1","plan_id":"P1","symbol":"BTC-USDT","buy_venue":"binance","sell_venue":"uniswap","state":"closed_flat","qty":"0.0015","expected_net_quote":"1.25","realized_net_quote":"1.1","residual_base":"0","opened_at":"2026-11-21T12:00:00Z","closed_at":"2026-11-21T12:00:02Z","legs":[{"venue":"binance","side":"buy","purpose":"entry","client_order_id":"a1b2c3","venue_order_id":"991","price":"64001","qty":"0.0015","filled_qty":"0.0015","avg_price":"64000.12","fee":"0.0000015","fee_asset":"BNB","status":"filled","gas_quote":"","gas":""},{"venue":"uniswap","side":"sell","purpose":"entry","client_order_id":"d4e5f6","venue_order_id":"0xabc","price":"64100","qty":"0.0015","filled_qty":"0.0015","avg_price":"64120","fee":"0.288","fee_asset":"USDT","status":"filled","gas_quote":"0.42","gas_asset":"ETH","gas":"0.00012"}]}`

const externalJSON = `{"id":"opening-2026-11-21","venue":"binance","asset":"USDT","amount":"10000","ts":"2026-11-21T00:00:00Z","memo":"opening balance"}`

func TestDecodeValid(t *testing.T) {
	f, err := DecodeFill([]byte(fillJSON))
	if err != nil {
		t.Fatal(err)
	}
	if f.MsgID() != "ledger.fill.binance.BTC-USDT.28457" || !f.Qty.Equal(d("0.0015")) || f.TS.Nanosecond() != 123456789 ||
		!f.FeeQuote().Equal(d("0.0000015").Mul(d("598.3"))) {
		t.Errorf("fill %+v", f)
	}
	tr, err := DecodeTrade([]byte(tradeJSON))
	if err != nil {
		t.Fatal(err)
	}
	if tr.MsgID() != "ledger.trade.T1.closed_flat" || len(tr.Legs) != 2 || !tr.Legs[1].Gas.Equal(d("0.00012")) || tr.ClosedAt == nil {
		t.Errorf("trade %+v", tr)
	}
	e, err := DecodeExternal([]byte(externalJSON))
	if err != nil || e.MsgID() != "ledger.external.binance.opening-2026-11-21" {
		t.Fatalf("external %+v %v", e, err)
	}
	// What the executor marshals from the Go types decodes to the same.
	for _, v := range []any{f, tr, e} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var again any
		switch v.(type) {
		case Fill:
			again, err = DecodeFill(b)
		case Trade:
			again, err = DecodeTrade(b)
		case External:
			again, err = DecodeExternal(b)
		}
		if err != nil {
			t.Fatalf("marshalled %s: %v", b, err)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) {
			t.Errorf("round trip\n%s\n%s", b, b2)
		}
	}
	// An open trade: closed_at null, optional decimals absent.
	open := `{"id":"T2","plan_id":"P2","symbol":"ETH-USDT","buy_venue":"okx","sell_venue":"bybit","state":"open","qty":"1","expected_net_quote":"0.5","realized_net_quote":"","residual_base":"","opened_at":"2026-11-21T12:00:00Z","closed_at":null,"legs":[]}`
	if _, err := DecodeTrade([]byte(open)); err != nil {
		t.Errorf("open trade: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	fills := map[string]string{
		"number price":      strings.Replace(fillJSON, `"price":"64000.12"`, `"price":64000.12`, 1),
		"exponent":          strings.Replace(fillJSON, `"64000.12"`, `"6.400012e4"`, 1),
		"unknown field":     strings.Replace(fillJSON, `"side"`, `"extra":1,"side"`, 1),
		"negative qty":      strings.Replace(fillJSON, `"0.00150000"`, `"-0.0015"`, 1),
		"zero price":        strings.Replace(fillJSON, `"64000.12"`, `"0"`, 1),
		"bad side":          strings.Replace(fillJSON, `"buy"`, `"long"`, 1),
		"symbol mismatch":   strings.Replace(fillJSON, `"BTC-USDT"`, `"ETH-USDT"`, 1),
		"no rate":           strings.Replace(fillJSON, `"598.3"`, `""`, 1),
		"quote rate not 1":  strings.Replace(strings.Replace(fillJSON, `"BNB"`, `"USDT"`, 1), `"598.3"`, `"2"`, 1),
		"bad time":          strings.Replace(fillJSON, `2026-11-21T12:00:00.123456789Z`, `yesterday`, 1),
		"venue with dot":    strings.Replace(fillJSON, `"binance"`, `"bin.ance"`, 1),
		"fill id space":     strings.Replace(fillJSON, `"28457"`, `"28 457"`, 1),
		"trailing":          fillJSON + `{}`,
		"NaN":               strings.Replace(fillJSON, `"64000.12"`, `"NaN"`, 1),
		"plus sign":         strings.Replace(fillJSON, `"64000.12"`, `"+64000.12"`, 1),
		"too many digits":   strings.Replace(fillJSON, `"64000.12"`, `"1`+strings.Repeat("0", 40)+`"`, 1),
		"fee without asset": strings.Replace(fillJSON, `"fee_asset":"BNB"`, `"fee_asset":""`, 1),
		"not json":          `{"venue":`,
	}
	for name, in := range fills {
		if _, err := DecodeFill([]byte(in)); !errors.Is(err, ErrBadEvent) {
			t.Errorf("%s: %v", name, err)
		}
	}
	trades := map[string]string{
		"closed without closed_at": strings.Replace(tradeJSON, `"closed_at":"2026-11-21T12:00:02Z"`, `"closed_at":null`, 1),
		"bad state":                strings.Replace(tradeJSON, `"closed_flat"`, `"done"`, 1),
		"filled above qty":         strings.Replace(tradeJSON, `"filled_qty":"0.0015","avg_price":"64000.12"`, `"filled_qty":"0.002","avg_price":"64000.12"`, 1),
		"gas without quote":        strings.Replace(tradeJSON, `"gas_quote":"0.42"`, `"gas_quote":""`, 1),
		"repeated leg":             strings.Replace(tradeJSON, `"d4e5f6"`, `"a1b2c3"`, 1),
		"bad purpose":              strings.Replace(tradeJSON, `"purpose":"entry"`, `"purpose":"hope"`, 1),
	}
	for name, in := range trades {
		if _, err := DecodeTrade([]byte(in)); !errors.Is(err, ErrBadEvent) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, in := range map[string]string{
		"zero":        strings.Replace(externalJSON, `"10000"`, `"0"`, 1),
		"quote memo":  strings.Replace(externalJSON, `opening balance`, `a \"quote\"`, 1),
		"lower asset": strings.Replace(externalJSON, `"USDT"`, `"usdt"`, 1),
	} {
		if _, err := DecodeExternal([]byte(in)); !errors.Is(err, ErrBadEvent) {
			t.Errorf("external %s: %v", name, err)
		}
	}
}

func TestKindOf(t *testing.T) {
	for subj, want := range map[string]Kind{
		"arb.ledger.fill.binance":      KindFill,
		"arb.ledger.trade":             KindTrade,
		"arb.ledger.external.okx":      KindExternal,
		"arb.ledger.fill.binance.x":    KindOther,
		"arb.plans.BTC-USDT":           KindOther,
		"arb.exec.order.binance":       KindOther,
		"arb.exec.fill":                KindOther, // the executor's journal, not the ledger's
		"arb.exec.fill.binance":        KindOther,
		"arb.exec.trade":               KindOther,
		"arb.ledger.trades":            KindOther,
		"other.exec.fill.binance":      KindOther,
		"arbx.exec.trade":              KindOther,
		"arb.ledger.external.okx.more": KindOther,
	} {
		if got := KindOf("arb", subj); got != want {
			t.Errorf("%s: %v, want %v", subj, got, want)
		}
	}
}

// fuzzApply checks a decoded event: it validates, survives a JSON round
// trip, and applies to a fresh ledger whose Check then passes.
func fuzzApply(t *testing.T, ev Event, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var again any
	switch ev.Kind {
	case KindFill:
		again, err = DecodeFill(b)
	case KindTrade:
		again, err = DecodeTrade(b)
	case KindExternal:
		again, err = DecodeExternal(b)
	}
	if err != nil {
		t.Fatalf("accepted event does not decode again: %v\n%s", err, b)
	}
	if b2, _ := json.Marshal(again); string(b2) != string(b) {
		t.Fatalf("round trip changed it:\n%s\n%s", b, b2)
	}
	l := New()
	if _, err := l.Apply(ev); err != nil {
		t.Fatalf("accepted event does not apply: %v", err)
	}
	if ch, err := l.Apply(ev); err != nil || ch.Outcome == Applied {
		t.Fatalf("applied twice: %v %v", ch.Outcome, err)
	}
	if v := l.Check(); len(v) != 0 {
		t.Fatalf("check: %v", v)
	}
}

func FuzzDecodeFill(f *testing.F) {
	f.Add([]byte(fillJSON))
	f.Add([]byte(strings.Replace(fillJSON, `"BNB"`, `"BTC"`, 1)))
	f.Add([]byte(`{"venue":"okx","venue_fill_id":"1","symbol":"A-B","base":"A","quote":"B","side":"sell","price":"1","qty":"1","fee":"","fee_asset":"","ts":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := DecodeFill(data)
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("rejection not wrapping ErrBadEvent: %v", err)
			}
			return
		}
		fuzzApply(t, Event{Kind: KindFill, Fill: &fl}, fl)
	})
}

func FuzzDecodeTrade(f *testing.F) {
	f.Add([]byte(tradeJSON))
	f.Add([]byte(`{"id":"T2","symbol":"ETH-USDT","buy_venue":"okx","sell_venue":"bybit","state":"open","qty":"1","opened_at":"2026-11-21T12:00:00Z","closed_at":null,"legs":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := DecodeTrade(data)
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("rejection not wrapping ErrBadEvent: %v", err)
			}
			return
		}
		fuzzApply(t, Event{Kind: KindTrade, Trade: &tr}, tr)
	})
}

func FuzzDecodeExternal(f *testing.F) {
	f.Add([]byte(externalJSON))
	f.Add([]byte(`{"id":"w1","venue":"okx","asset":"BTC","amount":"-0.5","ts":"2026-11-21T00:00:00.5+02:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeExternal(data)
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("rejection not wrapping ErrBadEvent: %v", err)
			}
			return
		}
		fuzzApply(t, Event{Kind: KindExternal, External: &e}, e)
	})
}

var _ = time.Second
