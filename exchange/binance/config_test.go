package binance

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"arb/exchange"
)

func TestValidate(t *testing.T) {
	ok := func() Config { return baseConfig("", 0, testInst("BTCUSDT", 1, 2, 5), testInst("ETHUSDT", 2, 2, 4)) }
	if c := ok(); c.Validate() != nil {
		t.Fatal(c.Validate())
	}
	many := func(n int) []exchange.Instrument {
		var out []exchange.Instrument
		for i := 0; i < n; i++ {
			out = append(out, testInst(fmt.Sprintf("SYM%dUSDT", i), exchange.InstrumentID(i+1), 2, 2))
		}
		return out
	}
	cases := []struct {
		field string
		edit  func(*Config)
	}{
		{"Venue", func(c *Config) { c.Venue = 0 }},
		{"Name", func(c *Config) { c.Name = "" }},
		{"WSURL", func(c *Config) { c.WSURL = "https://stream.binance.com" }},
		{"WSURL", func(c *Config) { c.WSURL = "" }},
		{"RESTURL", func(c *Config) { c.RESTURL = "wss://api.binance.com" }},
		{"Channel", func(c *Config) { c.Channel = "trades" }},
		{"Instruments", func(c *Config) { c.Instruments = nil }},
		{"Instruments", func(c *Config) { c.Instruments = many(MaxStreams + 1) }},
		{"Instruments", func(c *Config) { c.Instruments = many(600) }}, // URL over 8 KiB
		{"Instruments[1].Symbol", func(c *Config) { c.Instruments[1].Symbol = "btcusdt" }},
		{"Instruments[1].Symbol", func(c *Config) { c.Instruments[1].Symbol = "BTCUSDT" }},
		{"Instruments[0].ID", func(c *Config) { c.Instruments[0].ID = 0 }},
		{"Instruments[0].Scale", func(c *Config) { c.Instruments[0].Scale.Px = 19 }},
		{"Depth", func(c *Config) { c.Depth = 5001 }},
		{"Depth", func(c *Config) { c.Depth = -1 }},
		{"AgeMax", func(c *Config) { c.AgeMax = -time.Second }},
		{"Lifetime", func(c *Config) { c.Lifetime = 25 * time.Hour }},
		{"BackoffMin", func(c *Config) { c.BackoffMin = time.Minute; c.BackoffMax = time.Second }},
		{"MaxFrame", func(c *Config) { c.MaxFrame = 10 }},
		{"HandoverMax", func(c *Config) { c.HandoverMax = -1 }},
		{"SnapshotWeightPerMin", func(c *Config) { c.SnapshotWeightPerMin = 10 }},
		{"Ring", func(c *Config) { c.Ring = nil }},
	}
	for _, c := range cases {
		cfg := ok()
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "binance: "+c.field+":") {
			t.Errorf("%s: %v", c.field, err)
		}
		if _, err := New(cfg); err == nil {
			t.Errorf("New accepted a bad %s", c.field)
		}
	}
	if c := ok(); len(many(300)) == 300 {
		c.Instruments = many(300)
		if err := c.Validate(); err != nil {
			t.Fatalf("300 instruments: %v", err)
		}
	}
}

func TestDefaultsAndStreamURL(t *testing.T) {
	c := baseConfig("", 0, testInst("BTCUSDT", 1, 2, 5), testInst("BNBBTC", 2, 8, 8))
	d := c.withDefaults()
	if d.Channel != ChannelDepth || d.Depth != 1000 || d.AgeMax != 5*time.Second || d.Lifetime != 23*time.Hour+30*time.Minute ||
		d.BackoffMin != 100*time.Millisecond || d.BackoffMax != 30*time.Second || d.MaxFrame != 4<<20 ||
		d.Logger == nil || d.Now == nil || d.Rand == nil || d.HTTPClient == nil || d.HTTPClient.Timeout == 0 {
		t.Fatalf("%+v", d)
	}
	for base, want := range map[string]string{
		"wss://stream.binance.com:9443":           "wss://stream.binance.com:9443/stream?streams=btcusdt@depth@100ms/bnbbtc@depth@100ms",
		"wss://stream.binance.com:9443/":          "wss://stream.binance.com:9443/stream?streams=btcusdt@depth@100ms/bnbbtc@depth@100ms",
		"ws://127.0.0.1:9/ws":                     "ws://127.0.0.1:9/stream?streams=btcusdt@depth@100ms/bnbbtc@depth@100ms",
		"wss://data-stream.binance.vision/stream": "wss://data-stream.binance.vision/stream?streams=btcusdt@depth@100ms/bnbbtc@depth@100ms",
	} {
		c.WSURL = base
		if got := c.streamURL(); got != want {
			t.Errorf("%s → %s", base, got)
		}
	}
	for ch, suffix := range map[string]string{ChannelBBO: "@bookTicker", ChannelDepth5: "@depth5@100ms", ChannelDepth10: "@depth10@100ms", ChannelDepth20: "@depth20@100ms"} {
		c.Channel = ch
		if got := c.streamName("BTCUSDT"); got != "btcusdt"+suffix {
			t.Errorf("%s: %s", ch, got)
		}
	}
}
