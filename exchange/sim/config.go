package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"arb/exchange/num"
)

// Venue kinds: the protocol a simulated venue speaks.
const (
	KindBinance = "binance" // Binance spot: /ws, /stream, /api/v3
	KindOKX     = "okx"     // OKX v5: /ws/v5/public, /api/v5
	KindBybit   = "bybit"   // Bybit v5: /v5/public/spot, /v5
)

// Config is the whole simulator: the market model, the venues and their
// protocol timings. Start from DefaultConfig and change what you need; New
// calls Validate, which names the offending field.
type Config struct {
	Seed    uint64         `yaml:"seed"`    // seeds every random source (math/rand/v2 PCG)
	Symbols []SymbolConfig `yaml:"symbols"` // canonical instruments, listed on every venue
	Venues  []VenueConfig  `yaml:"venues"`

	// StepInterval is the market's tick: every interval each book takes one
	// step (one venue update with its own sequence fields).
	StepInterval time.Duration `yaml:"step_interval"`
	// ManualStep disables the ticker: the market moves only when Step is
	// called. Tests use it to make what is generated independent of timing.
	ManualStep bool `yaml:"manual_step"`

	HistoryLen   int `yaml:"history_len"`   // book states kept per venue+symbol for BookAt
	HistoryDepth int `yaml:"history_depth"` // levels per side kept per state (≥ 25)

	Dislocation DislocationConfig `yaml:"dislocation"`
	Quiet       QuietConfig       `yaml:"quiet"`

	Binance BinanceTiming `yaml:"binance"`
	OKX     OKXTiming     `yaml:"okx"`
	Bybit   BybitTiming   `yaml:"bybit"`

	SendQueue    int           `yaml:"send_queue"`    // frames queued per websocket connection before it is cut as slow
	WriteTimeout time.Duration `yaml:"write_timeout"` // one frame write; a client slower than this is cut
	MaxConns     int           `yaml:"max_conns"`     // websocket connections per venue
	MaxOrders    int           `yaml:"max_orders"`    // orders, fills and client ids remembered per venue (oldest forgotten first)
	MaxFrame     int64         `yaml:"max_frame"`     // largest frame accepted from a client

	// Clock returns the current time for timestamps, signature windows and
	// connection deadlines; nil means time.Now.
	Clock func() time.Time `yaml:"-"`
	// Logger receives connection-level events (never one per market event);
	// nil discards.
	Logger *slog.Logger `yaml:"-"`
}

// SymbolConfig is one canonical instrument and its price process. Prices and
// quantities are integers of 10^-Scale units (Scale.Px ≤ 8 and Scale.Qty ≤ 8,
// because Binance prints 8 decimals). Tick and Step are written as the venue
// writes them: Bybit prints prices with as many decimals as Tick is written
// with ("0.10" → "60000.10") and sizes with Step's decimals.
type SymbolConfig struct {
	Symbol      string    `yaml:"symbol"` // "BTC-USDT"
	Scale       num.Scale `yaml:"scale"`
	Tick        string    `yaml:"tick"`         // price increment, e.g. "0.10"
	Step        string    `yaml:"step"`         // quantity increment, e.g. "0.0001"
	MinQty      string    `yaml:"min_qty"`      // smallest order quantity
	MinNotional string    `yaml:"min_notional"` // smallest order value in quote
	BasePrice   string    `yaml:"base_price"`   // the process starts here and reverts to it slowly
	VolBps      float64   `yaml:"vol_bps"`      // standard deviation of one step's mid move, in bps
	GapBps      float64   `yaml:"gap_bps"`      // typical distance between adjacent levels, in bps (at least one tick)
	LevelQuote  float64   `yaml:"level_quote"`  // typical size of one level, in quote currency
}

// VenueConfig is one simulated venue.
type VenueConfig struct {
	Name      string  `yaml:"name"`       // unique; the key of every per-venue method
	Kind      string  `yaml:"kind"`       // KindBinance, KindOKX or KindBybit
	Listen    string  `yaml:"listen"`     // host:port; "127.0.0.1:0" picks a free port
	OffsetBps float64 `yaml:"offset_bps"` // permanent shift of this venue's mid against the shared price
	FeeBps    float64 `yaml:"fee_bps"`    // taker fee charged on fills (multiple of 0.01 bp)
	// MakerFeeBps is the fee charged when a resting (GTC) order is filled
	// as the maker (multiple of 0.01 bp).
	MakerFeeBps float64 `yaml:"maker_fee_bps"`
	Levels      int     `yaml:"levels"` // book levels per side (25..400; OKX books carries up to 400)

	// Balances are the account's starting holdings, asset → decimal amount
	// ("USDT": "100000"), at most 8 decimals each. Assets not listed start
	// at zero. Fills and fees move them exactly; an order the account cannot
	// pay for is refused with the venue's insufficient-balance error.
	Balances map[string]string `yaml:"balances"`

	// Credentials the venue checks signatures against. The defaults from
	// DefaultConfig are public test values, valid only against this simulator.
	APIKey     string `yaml:"api_key"`
	APISecret  string `yaml:"api_secret"`
	Passphrase string `yaml:"passphrase"` // OKX only
	// Ed25519APIKey and Ed25519PublicKey (PEM, "PUBLIC KEY") are a second
	// key of the same Binance account, an Ed25519 one: the only kind
	// session.logon accepts on the WebSocket API. Binance only; optional.
	Ed25519APIKey    string `yaml:"ed25519_api_key"`
	Ed25519PublicKey string `yaml:"ed25519_public_key"`

	// ChecksumZero makes an OKX venue send checksum 0 in every books push,
	// as production OKX does since 23 June 2026.
	ChecksumZero bool `yaml:"checksum_zero"`
}

// DislocationConfig makes one venue's book jump away from the shared price
// for a while, which is where cross-venue opportunities come from. Each step,
// each venue+symbol without a dislocation starts one with probability Prob,
// of a size drawn uniformly from [MinBps, MaxBps] with a random sign, lasting
// a uniform [MinSteps, MaxSteps] steps.
type DislocationConfig struct {
	Prob     float64 `yaml:"prob"`
	MinBps   float64 `yaml:"min_bps"`
	MaxBps   float64 `yaml:"max_bps"`
	MinSteps int     `yaml:"min_steps"`
	MaxSteps int     `yaml:"max_steps"`
}

// QuietConfig makes a book stop changing for a while (no update is sent, the
// sequence does not move), which is when OKX sends its empty keep-alive
// updates and Bybit re-sends its level-1 snapshot.
type QuietConfig struct {
	Prob     float64 `yaml:"prob"`
	MinSteps int     `yaml:"min_steps"`
	MaxSteps int     `yaml:"max_steps"`
}

// BinanceTiming is Binance's documented connection behaviour (2026 docs).
type BinanceTiming struct {
	PingInterval time.Duration `yaml:"ping_interval"` // server ping frames; 20 s
	PongTimeout  time.Duration `yaml:"pong_timeout"`  // no answering pong for this long closes; 60 s
	MaxLifetime  time.Duration `yaml:"max_lifetime"`  // connections end after; 24 h
}

// OKXTiming is OKX's documented connection behaviour.
type OKXTiming struct {
	IdleTimeout time.Duration `yaml:"idle_timeout"` // nothing subscribed, pinged or pushed for this long closes; 30 s
	KeepAlive   time.Duration `yaml:"keep_alive"`   // a quiet books channel sends an empty update after; 60 s
}

// BybitTiming is Bybit's documented connection behaviour.
type BybitTiming struct {
	IdleTimeout  time.Duration `yaml:"idle_timeout"`  // no ping and no data for this long closes; 10 min
	Level1Resend time.Duration `yaml:"level1_resend"` // an unchanged orderbook.1 is re-sent after; 3 s
}

// Test-only credentials of DefaultConfig. They are published here on purpose:
// they open nothing but this simulator.
const (
	TestBinanceKey    = "sim-binance-test-key"
	TestBinanceSecret = "sim-binance-test-secret"
	TestOKXKey        = "sim-okx-test-key"
	TestOKXSecret     = "sim-okx-test-secret"
	TestOKXPassphrase = "sim-okx-test-passphrase"
	TestBybitKey      = "sim-bybit-test-key"
	TestBybitSecret   = "sim-bybit-test-secret"

	// TestBinanceEd25519Key names the default Binance account's Ed25519 key;
	// TestBinanceEd25519PrivateKeyPEM signs for it (PKCS#8) and
	// TestBinanceEd25519PublicKeyPEM is what the simulator verifies with.
	// The pair was derived from the SHA-256 of a fixed phrase and opens
	// nothing but this simulator.
	TestBinanceEd25519Key           = "sim-binance-ed25519-test-key"
	TestBinanceEd25519PrivateKeyPEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEII510kJzRj6Les/6r28GcerFHItJCMKOfhr9h+3T0Qa9\n-----END PRIVATE KEY-----\n"
	TestBinanceEd25519PublicKeyPEM  = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAVZ7JgqGcDJDAbpsMPOfnpUWeNvxLuuHUii2Lf3SrdEI=\n-----END PUBLIC KEY-----\n"
)

// defaultBalances are every default venue's starting holdings: enough for
// the demo to trade for hours, small enough that a runaway strategy runs
// into insufficient-balance errors.
func defaultBalances() map[string]string {
	return map[string]string{"USDT": "100000", "BTC": "1", "ETH": "20", "SOL": "500"}
}

// DefaultConfig returns three venues (one per kind) quoting BTC-USDT,
// ETH-USDT and SOL-USDT, stepping every 100 ms, with the venues' documented
// timings, their base-tier fees (Binance 0.10 %/0.10 %, OKX maker 0.08 %
// taker 0.10 %, Bybit 0.10 %/0.10 %), the starting balances of
// defaultBalances and the test-only credentials above.
func DefaultConfig() Config {
	return Config{
		Seed: 1,
		Symbols: []SymbolConfig{
			{Symbol: "BTC-USDT", Scale: num.Scale{Px: 2, Qty: 8}, Tick: "0.10", Step: "0.0001", MinQty: "0.0001", MinNotional: "5",
				BasePrice: "60000", VolBps: 0.3, GapBps: 0.05, LevelQuote: 20000},
			{Symbol: "ETH-USDT", Scale: num.Scale{Px: 2, Qty: 8}, Tick: "0.01", Step: "0.001", MinQty: "0.001", MinNotional: "5",
				BasePrice: "3000", VolBps: 0.4, GapBps: 0.05, LevelQuote: 10000},
			{Symbol: "SOL-USDT", Scale: num.Scale{Px: 3, Qty: 8}, Tick: "0.01", Step: "0.01", MinQty: "0.01", MinNotional: "5",
				BasePrice: "150", VolBps: 0.5, GapBps: 0.5, LevelQuote: 5000},
		},
		Venues: []VenueConfig{
			{Name: "binance", Kind: KindBinance, Listen: "127.0.0.1:0", OffsetBps: 0, FeeBps: 10, MakerFeeBps: 10, Levels: 200,
				APIKey: TestBinanceKey, APISecret: TestBinanceSecret, Balances: defaultBalances(),
				Ed25519APIKey: TestBinanceEd25519Key, Ed25519PublicKey: TestBinanceEd25519PublicKeyPEM},
			{Name: "okx", Kind: KindOKX, Listen: "127.0.0.1:0", OffsetBps: 1.5, FeeBps: 10, MakerFeeBps: 8, Levels: 200,
				APIKey: TestOKXKey, APISecret: TestOKXSecret, Passphrase: TestOKXPassphrase, Balances: defaultBalances()},
			{Name: "bybit", Kind: KindBybit, Listen: "127.0.0.1:0", OffsetBps: -1, FeeBps: 10, MakerFeeBps: 10, Levels: 200,
				APIKey: TestBybitKey, APISecret: TestBybitSecret, Balances: defaultBalances()},
		},
		StepInterval: 100 * time.Millisecond,
		HistoryLen:   4096,
		HistoryDepth: 25,
		// About one dislocation per venue+symbol every 50 s, 5–40 bps: some
		// below two taker fees (20 bps), some above.
		Dislocation:  DislocationConfig{Prob: 0.002, MinBps: 5, MaxBps: 40, MinSteps: 10, MaxSteps: 50},
		Quiet:        QuietConfig{Prob: 0.0002, MinSteps: 20, MaxSteps: 300},
		Binance:      BinanceTiming{PingInterval: 20 * time.Second, PongTimeout: 60 * time.Second, MaxLifetime: 24 * time.Hour},
		OKX:          OKXTiming{IdleTimeout: 30 * time.Second, KeepAlive: 60 * time.Second},
		Bybit:        BybitTiming{IdleTimeout: 10 * time.Minute, Level1Resend: 3 * time.Second},
		SendQueue:    4096,
		WriteTimeout: 5 * time.Second,
		MaxConns:     256,
		MaxOrders:    1 << 16,
		MaxFrame:     1 << 16,
	}
}

// Validate checks the configuration; its errors name the offending field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("sim: %s: "+format, append([]any{field}, a...)...))
	}
	if len(c.Symbols) == 0 {
		bad("symbols", "at least one symbol is required")
	}
	seen := map[string]bool{}
	for i := range c.Symbols {
		s := &c.Symbols[i]
		f := fmt.Sprintf("symbols[%d]", i)
		if _, _, ok := splitCanonical(s.Symbol); !ok {
			bad(f+".symbol", "%q is not BASE-QUOTE in upper-case letters and digits", s.Symbol)
		} else if seen[s.Symbol] {
			bad(f+".symbol", "%q listed twice", s.Symbol)
		}
		seen[s.Symbol] = true
		if s.Scale.Px > 8 || s.Scale.Qty > 8 {
			bad(f+".scale", "decimals must be at most 8 (Binance prints 8)")
			continue
		}
		for _, p := range []struct {
			name, v string
			dec     uint8
		}{{"tick", s.Tick, s.Scale.Px}, {"step", s.Step, s.Scale.Qty}, {"min_qty", s.MinQty, s.Scale.Qty},
			{"min_notional", s.MinNotional, s.Scale.Px}, {"base_price", s.BasePrice, s.Scale.Px}} {
			v, err := num.ParseString(p.v, p.dec)
			if err != nil {
				bad(f+"."+p.name, "%q: %v", p.v, err)
			} else if v <= 0 && p.name != "min_notional" && p.name != "min_qty" {
				bad(f+"."+p.name, "must be positive")
			}
		}
		// Balances are kept with 8 decimals (as Binance prints them), so a
		// fill's quote amount — a price on the tick grid times a quantity
		// on the step grid — must fit in 8 decimals exactly.
		if int(writtenDecimals(s.Tick))+int(writtenDecimals(s.Step)) > balDec {
			bad(f+".tick", "tick and step together may have at most 8 decimals (balances are exact to 8)")
		}
		if s.VolBps < 0 || s.VolBps > 100 {
			bad(f+".vol_bps", "must be in [0, 100]")
		}
		if s.GapBps < 0 || s.GapBps > 100 {
			bad(f+".gap_bps", "must be in [0, 100]")
		}
		if s.LevelQuote <= 0 {
			bad(f+".level_quote", "must be positive")
		}
	}
	if len(c.Venues) == 0 {
		bad("venues", "at least one venue is required")
	}
	names := map[string]bool{}
	for i := range c.Venues {
		v := &c.Venues[i]
		f := fmt.Sprintf("venues[%d]", i)
		if v.Name == "" {
			bad(f+".name", "is empty")
		} else if names[v.Name] {
			bad(f+".name", "%q used twice", v.Name)
		}
		names[v.Name] = true
		switch v.Kind {
		case KindBinance, KindOKX, KindBybit:
		default:
			bad(f+".kind", "%q is not binance, okx or bybit", v.Kind)
		}
		if _, _, err := net.SplitHostPort(v.Listen); err != nil {
			bad(f+".listen", "%q: %v", v.Listen, err)
		}
		if v.OffsetBps < -1000 || v.OffsetBps > 1000 {
			bad(f+".offset_bps", "must be within ±1000")
		}
		if v.FeeBps < 0 || v.FeeBps > 1000 || !isHundredth(v.FeeBps) {
			bad(f+".fee_bps", "must be in [0, 1000] with at most two decimals")
		}
		if v.MakerFeeBps < 0 || v.MakerFeeBps > 1000 || !isHundredth(v.MakerFeeBps) {
			bad(f+".maker_fee_bps", "must be in [0, 1000] with at most two decimals")
		}
		for asset, amt := range v.Balances {
			if !isAlnumUpper(asset) {
				bad(f+".balances", "asset %q is not upper-case letters and digits", asset)
			}
			if x, err := num.ParseString(amt, balDec); err != nil || x < 0 || x > maxBalance {
				bad(f+".balances."+asset, "%q must be a decimal in [0, 10000000000] with at most 8 decimals", amt)
			}
		}
		if (v.Ed25519APIKey == "") != (v.Ed25519PublicKey == "") {
			bad(f+".ed25519_api_key", "the Ed25519 key and its public key go together")
		} else if v.Ed25519APIKey != "" {
			if v.Kind != KindBinance {
				bad(f+".ed25519_api_key", "applies to binance only")
			} else if _, err := parseEd25519Public(v.Ed25519PublicKey); err != nil {
				bad(f+".ed25519_public_key", "%v", err)
			}
		}
		if v.Levels < 25 || v.Levels > 400 {
			bad(f+".levels", "must be in [25, 400]")
		}
		if v.APIKey == "" || v.APISecret == "" {
			bad(f+".api_key", "key and secret are required (signatures are checked)")
		}
		if v.Kind == KindOKX && v.Passphrase == "" {
			bad(f+".passphrase", "is required for okx")
		}
		if v.ChecksumZero && v.Kind != KindOKX {
			bad(f+".checksum_zero", "applies to okx only")
		}
	}
	if c.StepInterval < time.Millisecond {
		bad("step_interval", "must be at least 1ms")
	}
	if c.HistoryLen < 16 || c.HistoryLen > 1<<20 {
		bad("history_len", "must be in [16, 1048576]")
	}
	if c.HistoryDepth < 25 || c.HistoryDepth > 400 {
		bad("history_depth", "must be in [25, 400]")
	}
	d := c.Dislocation
	if d.Prob < 0 || d.Prob > 1 {
		bad("dislocation.prob", "must be in [0, 1]")
	}
	if d.MinBps < 0 || d.MaxBps < d.MinBps || d.MaxBps > 1000 {
		bad("dislocation.min_bps", "need 0 ≤ min_bps ≤ max_bps ≤ 1000")
	}
	if d.Prob > 0 && (d.MinSteps < 1 || d.MaxSteps < d.MinSteps) {
		bad("dislocation.min_steps", "need 1 ≤ min_steps ≤ max_steps")
	}
	q := c.Quiet
	if q.Prob < 0 || q.Prob > 1 {
		bad("quiet.prob", "must be in [0, 1]")
	}
	if q.Prob > 0 && (q.MinSteps < 1 || q.MaxSteps < q.MinSteps) {
		bad("quiet.min_steps", "need 1 ≤ min_steps ≤ max_steps")
	}
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"binance.ping_interval", c.Binance.PingInterval}, {"binance.pong_timeout", c.Binance.PongTimeout},
		{"binance.max_lifetime", c.Binance.MaxLifetime}, {"okx.idle_timeout", c.OKX.IdleTimeout},
		{"okx.keep_alive", c.OKX.KeepAlive}, {"bybit.idle_timeout", c.Bybit.IdleTimeout},
		{"bybit.level1_resend", c.Bybit.Level1Resend}, {"write_timeout", c.WriteTimeout}} {
		if p.d <= 0 {
			bad(p.name, "must be positive")
		}
	}
	if c.SendQueue < 1 || c.SendQueue > 1<<20 {
		bad("send_queue", "must be in [1, 1048576]")
	}
	if c.MaxConns < 1 || c.MaxConns > 1<<16 {
		bad("max_conns", "must be in [1, 65536]")
	}
	if c.MaxOrders < 1 || c.MaxOrders > 1<<24 {
		bad("max_orders", "must be in [1, 16777216]")
	}
	if c.MaxFrame < 1024 {
		bad("max_frame", "must be at least 1024")
	}
	return errors.Join(errs...)
}

func isHundredth(f float64) bool {
	x := f * 100
	r := float64(int64(x + 0.5))
	return x-r < 1e-9 && r-x < 1e-9
}

// splitCanonical splits "BTC-USDT" into base and quote.
func splitCanonical(s string) (base, quote string, ok bool) {
	base, quote, ok = strings.Cut(s, "-")
	if !ok || !isAlnumUpper(base) || !isAlnumUpper(quote) {
		return "", "", false
	}
	return base, quote, true
}

func isAlnumUpper(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
