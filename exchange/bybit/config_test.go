package bybit

import (
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/ringbuf"
)

func TestConfigValidate(t *testing.T) {
	ring := ringbuf.NewMPSC[exchange.BookTop](8)
	good := func() Config {
		return Config{Venue: 1, WSURL: "wss://stream.bybit.com", RESTURL: "https://api.bybit.com", Ring: ring,
			Instruments: []exchange.Instrument{{ID: 1, Symbol: "BTCUSDT", Scale: num.Scale{Px: 2, Qty: 6}}}}
	}
	many := func(n int) []exchange.Instrument {
		var out []exchange.Instrument
		for i := 0; i < n; i++ {
			out = append(out, exchange.Instrument{ID: exchange.InstrumentID(i + 1), Symbol: "S" + strings.Repeat("X", 20) + string(rune('A'+i%26)) + string(rune('A'+i/26%26)) + string(rune('A'+i/676)), Scale: num.Scale{Px: 2, Qty: 2}})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		field  string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"bbo", func(c *Config) { c.Channel = ChannelBBO }, ""},
		{"depth 200", func(c *Config) { c.Depth = 200 }, ""},
		{"depth 1000 monotonic", func(c *Config) { c.Depth = 1000; c.Continuity = ContinuityMonotonic }, ""},
		{"venue 0", func(c *Config) { c.Venue = 0 }, "Venue"},
		{"no ws url", func(c *Config) { c.WSURL = "" }, "WSURL"},
		{"http ws url", func(c *Config) { c.WSURL = "http://x" }, "WSURL"},
		{"bad rest url", func(c *Config) { c.RESTURL = "ftp://x" }, "RESTURL"},
		{"channel", func(c *Config) { c.Channel = "trades" }, "Channel"},
		{"depth 25", func(c *Config) { c.Depth = 25 }, "Depth"},
		{"bbo depth 50", func(c *Config) { c.Channel = ChannelBBO; c.Depth = 50 }, "Depth"},
		{"continuity", func(c *Config) { c.Continuity = "strict" }, "Continuity"},
		{"no instruments", func(c *Config) { c.Instruments = nil }, "Instruments"},
		{"lower-case symbol", func(c *Config) { c.Instruments[0].Symbol = "btcusdt" }, "Instruments[0].Symbol"},
		{"duplicate symbol", func(c *Config) { c.Instruments = append(c.Instruments, c.Instruments[0]) }, "Instruments[1].Symbol"},
		{"instrument id 0", func(c *Config) { c.Instruments[0].ID = 0 }, "Instruments[0].ID"},
		{"scale", func(c *Config) { c.Instruments[0].Scale.Px = 19 }, "Instruments[0].Scale"},
		{"args over 21000 chars", func(c *Config) { c.Instruments = many(600) }, "Instruments"},
		{"ping not below age", func(c *Config) { c.PingEvery = 5 * time.Second }, "PingEvery"},
		{"backoff", func(c *Config) { c.BackoffMin = time.Second; c.BackoffMax = time.Millisecond }, "BackoffMin"},
		{"max frame", func(c *Config) { c.MaxFrame = 10 }, "MaxFrame"},
		{"no ring", func(c *Config) { c.Ring = nil }, "Ring"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("valid config rejected: %v", err)
			case tc.field != "" && (err == nil || !strings.Contains(err.Error(), "bybit: "+tc.field+":")):
				t.Fatalf("want an error naming %s, got %v", tc.field, err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	d := Config{}.withDefaults()
	if d.Channel != ChannelDepth || d.Depth != 50 || d.Continuity != ContinuityContiguous || d.AgeMax != 5*time.Second ||
		d.PingEvery != 5*time.Second/3 || d.MaxFrame != 4<<20 || d.Lifetime != 0 || d.SnapshotTimeout != 10*time.Second {
		t.Fatalf("defaults %+v", d)
	}
	if b := (Config{Channel: ChannelBBO}).withDefaults(); b.Depth != 1 {
		t.Fatalf("bbo depth %d", b.Depth)
	}
	if p := (Config{AgeMax: time.Minute}).withDefaults(); p.PingEvery != DocPingEvery {
		t.Fatalf("ping %v: Bybit recommends 20 s", p.PingEvery)
	}
}

func TestStreamURL(t *testing.T) {
	for in, want := range map[string]string{
		"wss://stream.bybit.com":                 "wss://stream.bybit.com/v5/public/spot",
		"wss://stream-testnet.bybit.com/":        "wss://stream-testnet.bybit.com/v5/public/spot",
		"ws://127.0.0.1:4000/v5/public/spot":     "ws://127.0.0.1:4000/v5/public/spot",
		"wss://stream.bybit.com/v5/public/spot/": "wss://stream.bybit.com/v5/public/spot",
		"ws://[::1]:9000":                        "ws://[::1]:9000/v5/public/spot",
	} {
		if got := streamURL(in); got != want {
			t.Errorf("streamURL(%q) = %q, want %q", in, got, want)
		}
	}
}
