package execute

import (
	"errors"
	"strings"
	"testing"

	"arb/exchange"
)

// A valid fill record, and variations of it that must be refused.
const goodFill = `{"v":1,"kind":"fill","trade":"t6955b90000000001","ts":"2026-01-01T00:00:00Z","order":0,"client_order_id":"arb6955b90000000001eb00","fill":{"venue":"A","instrument":"BTC-USDT","side":"buy","venue_fill_id":"a1","client_order_id":"arb6955b90000000001eb00","venue_order_id":"V0","price":"99.5","qty":"1","fee":"0","ts":"2026-01-01T00:00:00Z"}}`

func TestCodecRejects(t *testing.T) {
	c := NewCodec(testRegistry())
	if _, err := c.Unmarshal([]byte(goodFill)); err != nil {
		t.Fatalf("good record refused: %v", err)
	}
	bad := map[string]string{
		"unknown field":      strings.Replace(goodFill, `"fee":"0"`, `"fee":"0","extra":1`, 1),
		"version":            strings.Replace(goodFill, `"v":1`, `"v":2`, 1),
		"kind":               strings.Replace(goodFill, `"kind":"fill"`, `"kind":"fills"`, 1),
		"venue":              strings.Replace(goodFill, `"venue":"A"`, `"venue":"Z"`, 1),
		"instrument":         strings.Replace(goodFill, `"instrument":"BTC-USDT"`, `"instrument":"ETH-USDT"`, 1),
		"price syntax":       strings.Replace(goodFill, `"99.5"`, `"99.5e0"`, 1),
		"price precision":    strings.Replace(goodFill, `"99.5"`, `"99.555"`, 1),
		"negative qty":       strings.Replace(goodFill, `"qty":"1"`, `"qty":"-1"`, 1),
		"zero qty":           strings.Replace(goodFill, `"qty":"1"`, `"qty":"0"`, 1),
		"time":               strings.Replace(goodFill, `"ts":"2026-01-01T00:00:00Z","order"`, `"ts":"yesterday","order"`, 1),
		"trade id":           strings.Replace(goodFill, `"t6955b90000000001"`, `"t6955b9000000000X"`, 1),
		"order index":        strings.Replace(goodFill, `"order":0`, `"order":99`, 1),
		"client id":          strings.Replace(goodFill, `"client_order_id":"arb6955b90000000001eb00","fill"`, `"client_order_id":"arb-1","fill"`, 1),
		"client ids differ":  strings.Replace(goodFill, `"client_order_id":"arb6955b90000000001eb00","venue_order_id"`, `"client_order_id":"arb6955b90000000001eb01","venue_order_id"`, 1),
		"missing payload":    `{"v":1,"kind":"fill","trade":"t6955b90000000001","ts":"2026-01-01T00:00:00Z","order":0,"client_order_id":"arb6955b90000000001eb00"}`,
		"foreign payload":    strings.Replace(goodFill, `"order":0`, `"order":0,"reason":"rejected"`, 1),
		"trailing data":      goodFill + `{}`,
		"not json":           `fill`,
		"empty":              ``,
		"too large":          goodFill + strings.Repeat(" ", maxRecordBytes),
		"epoch with trade":   `{"v":1,"kind":"epoch","trade":"t6955b90000000001","ts":"2026-01-01T00:00:00Z","epoch":3}`,
		"order on a trade":   `{"v":1,"kind":"transition","trade":"t6955b90000000001","ts":"2026-01-01T00:00:00Z","order":1,"transition":{"to":"hedging"}}`,
		"residual when open": `{"v":1,"kind":"transition","trade":"t6955b90000000001","ts":"2026-01-01T00:00:00Z","transition":{"to":"hedging","residual_base":"1"}}`,
	}
	for name, b := range bad {
		if _, err := c.Unmarshal([]byte(b)); !errors.Is(err, ErrRecord) {
			t.Errorf("%s: accepted or wrong error: %v", name, err)
		}
	}
}

func TestClientID(t *testing.T) {
	id := TradeID(0x6955b900_00000007)
	for _, p := range []Purpose{PurposeEntry, PurposeRetry, PurposeUnwind} {
		for _, s := range []exchange.Side{exchange.Buy, exchange.Sell} {
			for n := 0; n < MaxOrders; n++ {
				cid := ClientID("arbX1", id, n, p, s)
				if !exchange.ValidClientID(cid) {
					t.Fatalf("%s is not a valid client id", cid)
				}
				got, k, ok := ParseClientID("arbX1", &cid)
				if !ok || got != id || k != n {
					t.Fatalf("%s parsed as %s #%d %v", cid, got, k, ok)
				}
				if _, _, ok := ParseClientID("arb", &cid); ok {
					t.Fatalf("%s parsed with another prefix", cid)
				}
			}
		}
	}
	long := ClientID("abcdefgh", ^TradeID(0), MaxOrders-1, PurposeUnwind, exchange.Sell)
	if long.Len() != 28 || !exchange.ValidClientID(long) {
		t.Fatalf("longest id %q", long)
	}
	for _, s := range []string{"", "arb", "arb6955b90000000007eb0", "arb6955b90000000007xb00", "arb6955b90000000007ex00",
		"arb6955b90000000007eb99", "arb6955B90000000007eb00", "xyz6955b90000000007eb00"} {
		cid := exchange.MustID(s)
		if _, _, ok := ParseClientID("arb", &cid); ok {
			t.Errorf("%q parsed", s)
		}
	}
	if got, ok := ParseTradeID(id.String()); !ok || got != id {
		t.Fatalf("trade id round trip: %v %v", got, ok)
	}
}

func TestConfigValidate(t *testing.T) {
	base := DefaultConfig()
	base.Registry = testRegistry()
	base.Instruments = testInstruments()
	base.Quotes = testQuotes
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(c *Config){
		"prefix":       func(c *Config) { c.Prefix = "arb-1" },
		"long prefix":  func(c *Config) { c.Prefix = "abcdefghi" },
		"mode":         func(c *Config) { c.Default.Mode = 0 },
		"retry max":    func(c *Config) { c.Default.RetryMax = MaxRetries + 1 },
		"slippage":     func(c *Config) { c.Default.RetrySlippageBps = 5000 },
		"ack timeout":  func(c *Config) { c.Default.AckTimeout = 0 },
		"short":        func(c *Config) { c.Default.Deadline = 5 * 1e9 },
		"pair":         func(c *Config) { c.Pairs = []PairPolicy{{Policy: Policy{}}} },
		"quotes":       func(c *Config) { c.Quotes = nil },
		"registry":     func(c *Config) { c.Registry = nil },
		"max open":     func(c *Config) { c.MaxOpen = 0 },
		"unknown inst": func(c *Config) { c.Instruments = append(c.Instruments, exchange.Instrument{ID: 9, Venue: 1}) },
	}
	for name, mut := range cases {
		c := base
		c.Pairs = nil
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
