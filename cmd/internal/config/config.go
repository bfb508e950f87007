package config

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"arb/exchange/num"
)

// MaxFileBytes caps a config file. Real configs are a few kilobytes; the cap
// keeps a wrong path (a log file, /dev/zero) from being read whole.
const MaxFileBytes = 1 << 20

// DefaultName is the name Problems carry for the embedded default config. It
// has no directory part, so the default's relative paths (data_dir,
// risk.rules_file) resolve against the working directory: run from the
// repository root, "configs/rules.yaml" is the checked-in rules file.
const DefaultName = "embedded:default.yaml"

// EnvPGDSN is the environment variable read for the PostgreSQL DSN when
// postgres.dsn is empty (ARB_PG_DSN_FILE is honoured as well, see Secret).
const EnvPGDSN = "ARB_PG_DSN"

//go:embed default.yaml
var defaultYAML []byte

// Default returns the embedded default config: it runs offline on a fresh
// machine (embedded NATS, simulated venues in process, paper trading). Parse
// it with Parse(DefaultName, Default(), known). The returned slice is a copy.
func Default() []byte { return append([]byte(nil), defaultYAML...) }

// Config is the whole arbd configuration. Load and Parse fill it from YAML,
// apply defaults for absent keys, resolve relative paths and validate it; a
// Config they return is valid. It is plain data, read-only after loading, and
// safe to share between goroutines.
type Config struct {
	// DataDir holds the JetStream store and other local state. Resolved
	// against the config file's directory; it need not exist (the wiring
	// creates it: bus.StartEmbedded does for <data_dir>/jetstream).
	DataDir  string   `yaml:"data_dir"`
	Log      Log      `yaml:"log"`
	HTTP     HTTP     `yaml:"http"`
	NATS     NATS     `yaml:"nats"`
	Postgres Postgres `yaml:"postgres"`
	// Paper is the default trading mode of every venue (a venue's own
	// paper key overrides it): true sends its orders to a paper venue that
	// fills IOC orders from the live book (exchange/paper, no keys needed),
	// false to the venue's trading endpoints (a simulated venue's, or a
	// real one's with keys from the environment). Default true: a config
	// written for market data alone never trades for real by accident.
	Paper       bool         `yaml:"paper"`
	Sim         Sim          `yaml:"sim"`
	Instruments []Instrument `yaml:"instruments" cfg:"required"`
	Venues      []Venue      `yaml:"venues" cfg:"required"`
	Strategy    Strategy     `yaml:"strategy"`
	Execution   Execution    `yaml:"execution"`
	Risk        Risk         `yaml:"risk" cfg:"required"`
	Fleet       Fleet        `yaml:"fleet"`

	// Source is the file name the config was read from (the name given to
	// Parse): problems found later by Validate name it.
	Source string `yaml:"-"`

	lines map[string]int // key path -> line in Source; nil for a Config built in code
}

// Log configures the daemon's JSON log.
type Log struct {
	Level string `yaml:"level"` // debug | info | warn | error; default info
}

// SlogLevel returns the level as a slog.Level (info for an unknown string,
// which Validate rejects anyway).
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// HTTP configures the HTTP API.
type HTTP struct {
	// Listen is host:port; default 127.0.0.1:7420. A non-loopback host is
	// accepted because the operator wrote it, and logged as a warning.
	Listen string `yaml:"listen"`
	// AllowedHosts are host names (no port) requests may name in their
	// Host header besides IP addresses and localhost, e.g. the name
	// Prometheus scrapes. Any other Host is refused (403): a browser led
	// to the API by DNS rebinding sends the attacker's name.
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// NATS configures the message bus.
type NATS struct {
	// URL of an external NATS server (nats://, tls://, ws://, wss://; a comma
	// separated list for a cluster). Empty runs an embedded nats-server with
	// JetStream under DataDir. Credentials in the URL are rejected: use
	// CredentialsFile.
	URL string `yaml:"url"`
	// CredentialsFile authenticates to an external server: a NATS .creds
	// file (user JWT + nkey seed, for servers in operator mode) or a bare
	// nkey seed (for users listed by nkey); empty for none. Resolved
	// against the config file's directory. It holds a secret: keep it 0600.
	CredentialsFile string `yaml:"credentials_file"`
	// TLS adds to a tls:// URL (which verifies the server against the
	// system's roots): a private CA, and a client certificate for servers
	// that require mutual TLS. Files resolved against the config file's
	// directory.
	TLS NATSTLS `yaml:"tls"`
}

// NATSTLS are the TLS files of the NATS connection.
type NATSTLS struct {
	// CAFile holds the PEM roots the server's certificate is verified
	// against, instead of the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and its private key
	// (PEM), both or neither. The key is a secret: keep it 0600.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Set reports whether any TLS file is configured.
func (t NATSTLS) Set() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// Postgres configures the ledger store.
type Postgres struct {
	// DSN without a password (PGPASSWORD, ~/.pgpass or the ARB_PG_DSN
	// environment variable carry secrets). Empty means ARB_PG_DSN; empty
	// both means no PostgreSQL (the ledger is kept from the JetStream log).
	DSN string `yaml:"dsn"`
}

// EffectiveDSN returns DSN, or else the secret named by EnvPGDSN (the
// environment variable or the file named by ARB_PG_DSN_FILE), or "" when
// neither is set, which means no PostgreSQL.
func (p Postgres) EffectiveDSN() (string, error) {
	if p.DSN != "" {
		return p.DSN, nil
	}
	dsn, err := Secret(EnvPGDSN)
	if errors.Is(err, ErrSecretUnset) {
		return "", nil
	}
	return dsn, err
}

// Sim configures the in-process simulated venues (exchange/sim). Venues
// reach them through sim://<name> URLs.
type Sim struct {
	Enabled bool          `yaml:"enabled"`
	Seed    uint64        `yaml:"seed"` // seeds every random source of the simulator; default 1
	Step    time.Duration `yaml:"step"` // the simulated market's tick; default 100ms
}

// Instrument is one canonical instrument and its fixed-point scale, shared by
// every venue quoting it. The decimals are the least the engine keeps: the
// wiring widens them to what the venues quoting the instrument send (their
// instruments endpoints say so: Binance's quoteAssetPrecision and
// baseAssetPrecision, OKX's and Bybit's tick and step), so that every level
// a venue sends is held exactly; see README "Instrument decimals".
type Instrument struct {
	Symbol        string `yaml:"symbol" cfg:"required"`         // BASE-QUOTE, upper case: "BTC-USDT"
	PriceDecimals int    `yaml:"price_decimals" cfg:"required"` // least num.Scale.Px, 0..18
	QtyDecimals   int    `yaml:"qty_decimals" cfg:"required"`   // least num.Scale.Qty, 0..18
}

// Scale returns the instrument's configured num.Scale (valid once the
// Config is); the engine's may be wider (see Instrument).
func (i Instrument) Scale() num.Scale {
	return num.Scale{Px: uint8(i.PriceDecimals), Qty: uint8(i.QtyDecimals)}
}

// Base returns the base asset: "BTC" for "BTC-USDT".
func (i Instrument) Base() string { b, _, _ := strings.Cut(i.Symbol, "-"); return b }

// Quote returns the quote asset: "USDT" for "BTC-USDT".
func (i Instrument) Quote() string { _, q, _ := strings.Cut(i.Symbol, "-"); return q }

// Venue is one configured venue connection.
type Venue struct {
	// Name is unique, [a-z0-9_-]{1,32}; it labels metrics and logs.
	Name string `yaml:"name" cfg:"required"`
	// Kind is the protocol, one of Known.Kinds ("binance", "okx", "bybit",
	// "uniswap").
	Kind string `yaml:"kind" cfg:"required"`
	// WSURL is ws:// or wss://, or sim://<sim venue> for the simulator.
	// Required, except for an on-chain venue (kind uniswap), which has
	// Chain instead.
	WSURL string `yaml:"ws_url"`
	// RESTURL is http:// or https://, or sim://<sim venue> (the same one).
	// Required, except for an on-chain venue.
	RESTURL string `yaml:"rest_url"`
	// PrivateWSURL is the venue's private websocket, which carries the
	// order stream (Binance: the WebSocket API, wss://ws-api.binance.com:443/ws-api/v3;
	// OKX: wss://ws.okx.com:8443/ws/v5/private; Bybit:
	// wss://stream.bybit.com/v5/private). Required for a venue that trades
	// for real (not paper) unless its URLs are sim://, whose endpoints the
	// simulator names.
	PrivateWSURL string `yaml:"private_ws_url"`
	// TradeWSURL is the order-entry websocket when the venue has a separate
	// one (Bybit: wss://stream.bybit.com/v5/trade); default PrivateWSURL
	// (Binance's WebSocket API and OKX's private socket take orders).
	TradeWSURL string `yaml:"trade_ws_url"`
	// Paper overrides the global paper key for this venue.
	Paper *bool `yaml:"paper"`
	// Demo marks OKX demo-trading keys (every request carries OKX's
	// x-simulated-trading header); only for kind okx.
	Demo bool `yaml:"demo"`
	// Names of the environment variables holding credentials (read them with
	// Secret). The secrets themselves never appear in the file.
	APIKeyEnv        string `yaml:"api_key_env"`
	APISecretEnv     string `yaml:"api_secret_env"`
	APIPassphraseEnv string `yaml:"api_passphrase_env"` // OKX
	// Channel is an adapter-specific stream name; "" = adapter default.
	Channel string `yaml:"channel"`
	// Depth is the number of book levels kept; 0 = adapter default.
	Depth int `yaml:"depth"`
	// TakerFeeBps is the taker fee in basis points, 0..1000.
	TakerFeeBps float64 `yaml:"taker_fee_bps" cfg:"required"`
	// FeeAsset is what the fee is charged in: "quote", "base" or an asset
	// such as "BNB"; default "quote".
	FeeAsset string `yaml:"fee_asset"`
	// GasQuote is a fixed cost per leg in quote units (≥ 0). It is not
	// checked against any scale: the wiring rounds it up to each
	// instrument's price scale, which can only overstate a cost.
	GasQuote decimal.Decimal `yaml:"gas_quote"`
	// AgeMax is the staleness limit of this venue's books; default 5s.
	AgeMax time.Duration `yaml:"age_max"`
	// Symbols maps canonical instruments to the venue's symbols; every key
	// names a configured instrument, and at least one is required.
	Symbols map[string]string `yaml:"symbols" cfg:"required"`
	// Filters optionally override the venue's trading filters per canonical
	// symbol; fields left out are fetched from the venue.
	Filters map[string]Filter `yaml:"filters"`
	// WithdrawFees maps an asset to its withdrawal fee in asset units, for
	// the amortized rebalancing cost.
	WithdrawFees map[string]decimal.Decimal `yaml:"withdraw_fees"`
	// Balances are the starting balances of a paper venue, and of a
	// simulated venue's account (asset -> amount). A venue that trades for
	// real reports its own: these are then unused.
	Balances map[string]decimal.Decimal `yaml:"balances"`
	// Chain is an on-chain venue's node, contracts, key source and gas
	// caps: required for kind uniswap, refused for any other.
	Chain *Chain `yaml:"chain"`
}

// VenuePaper reports whether venue i trades on paper: its own paper key,
// else the global one.
func (c *Config) VenuePaper(i int) bool {
	if p := c.Venues[i].Paper; p != nil {
		return *p
	}
	return c.Paper
}

// SimName returns the simulated venue named by the venue's sim:// URLs, and
// whether it uses the simulator at all.
func (v Venue) SimName() (string, bool) {
	name, ok := strings.CutPrefix(v.WSURL, simScheme+"://")
	return name, ok
}

// Filter overrides a venue's trading filters for one instrument. A field
// that is not Valid is fetched from the venue. Validation guarantees each
// value is representable in the instrument's scale: Tick and MinNotional in
// price decimals, Step and MinQty in quantity decimals (see Fixed).
type Filter struct {
	Tick        decimal.NullDecimal `yaml:"tick"`         // > 0
	Step        decimal.NullDecimal `yaml:"step"`         // > 0
	MinQty      decimal.NullDecimal `yaml:"min_qty"`      // ≥ 0
	MinNotional decimal.NullDecimal `yaml:"min_notional"` // ≥ 0, quote units
}

// Strategy holds the detector's parameters.
type Strategy struct {
	MinNetEdgeBps   float64       `yaml:"min_net_edge_bps"`  // the threshold's floor, after fees; default 2
	SlippageBps     float64       `yaml:"slippage_bps"`      // assumed slippage per leg; default 1
	SlippageVolMult float64       `yaml:"slippage_vol_mult"` // extra slippage per unit of volatility (bps)
	VolMult         float64       `yaml:"vol_mult"`          // k in threshold = min + k·vol
	VolHalfLife     time.Duration `yaml:"vol_halflife"`      // volatility EWMA half-life; default 30s
	Cooldown        time.Duration `yaml:"cooldown"`          // per pair after a plan; default 2s
	// MaxNotional caps one plan's notional in quote units; required, > 0.
	MaxNotional decimal.Decimal `yaml:"max_notional" cfg:"required"`
	// RebalanceTrades amortizes a rebalancing transfer over this many
	// trades; default 50.
	RebalanceTrades int `yaml:"rebalance_trades"`
	// QuoteEquivalents groups quote assets treated as equal (USDT, USDC):
	// each group has at least two assets and an asset is in one group.
	QuoteEquivalents [][]string `yaml:"quote_equivalents"`
}

// Execution configures the executor (strategy/execute): how approved plans
// become trades. Policy is the default compensation policy; Pairs override
// it per pair (the first match wins), each key it leaves out taken from
// Policy, and each key Policy leaves out from the executor's defaults.
type Execution struct {
	// Prefix starts every client order id, 1–8 letters and digits; default
	// "arb". Two daemons trading one account need different prefixes.
	Prefix string `yaml:"prefix"`
	// MaxOpen caps the trades open at once; default 64.
	MaxOpen int `yaml:"max_open"`
	// KeepClosed is how many closed trades stay in memory for
	// /api/v1/trades and late fills; default 1024.
	KeepClosed int `yaml:"keep_closed"`
	// PaperLatency is how long a paper venue takes to fill an order (from
	// the call to the fill against the live book); default 50ms, at least
	// twice the daemon's book snapshot interval (20 ms), which the paper
	// venue fills from.
	PaperLatency time.Duration `yaml:"paper_latency"`
	// BalanceRefresh is how often every trading venue's balances are
	// fetched besides at start and after every trade; default 30s.
	BalanceRefresh time.Duration `yaml:"balance_refresh"`
	Policy         Policy        `yaml:"policy"`
	Pairs          []PairPolicy  `yaml:"pairs"`
}

// Policy is a compensation policy (execute.Policy); every key is optional
// and a nil one inherits (see Execution). Durations need a unit.
type Policy struct {
	Mode              *string        `yaml:"mode"`  // concurrent | sequential
	First             *string        `yaml:"first"` // buy | sell: the leg sent first in sequential mode
	RetryMax          *int           `yaml:"retry_max"`
	RetrySlippageBps  *int           `yaml:"retry_slippage_bps"`
	RetryWindow       *time.Duration `yaml:"retry_window"`
	UnwindMax         *int           `yaml:"unwind_max"`
	UnwindSlippageBps *int           `yaml:"unwind_slippage_bps"`
	UnwindMaxLossBps  *int           `yaml:"unwind_max_loss_bps"`
	UnwindWindow      *time.Duration `yaml:"unwind_window"`
	AckTimeout        *time.Duration `yaml:"ack_timeout"`
	FinalTimeout      *time.Duration `yaml:"final_timeout"`
	QueryInterval     *time.Duration `yaml:"query_interval"`
	// NotFoundAfter must be at least the trading clients' receive window
	// plus clock skew: an order not found earlier may still arrive.
	NotFoundAfter *time.Duration `yaml:"not_found_after"`
	ResendWindow  *time.Duration `yaml:"resend_window"`
	MaxResends    *int           `yaml:"max_resends"`
	FillTimeout   *time.Duration `yaml:"fill_timeout"`
	Deadline      *time.Duration `yaml:"deadline"`
}

// PairPolicy applies Policy to the plans it matches: buy venue, sell venue
// and canonical symbol, each "" for any.
type PairPolicy struct {
	BuyVenue  string `yaml:"buy_venue"`
	SellVenue string `yaml:"sell_venue"`
	Symbol    string `yaml:"symbol"`
	Policy    Policy `yaml:"policy"`
}

// Risk configures the risk engine's rules.
type Risk struct {
	// RulesFile is the rules file every plan must pass, resolved against
	// the config file's directory; required (all limits are rules, so a
	// daemon without them would check nothing). This package does not
	// require the file to exist: arbd's embedded default falls back to its
	// embedded copy of the default rules when run outside the repository,
	// and arbd checks that a --config file's rules file is readable.
	RulesFile string `yaml:"rules_file" cfg:"required"`
	// KVBucket is a NATS KV bucket carrying fleet-wide rules; "" = off.
	// A value is taken only if signed (arb rules sign) by one of
	// KVTrustedKeys.
	KVBucket string `yaml:"kv_bucket"`
	// KVTrustedKeys are the ed25519 public keys (base64, as arb rules
	// keygen prints them) whose signed rule sets the daemon accepts from
	// KVBucket; at least one is required when KVBucket is set. They are
	// public keys, not secrets.
	KVTrustedKeys []string `yaml:"kv_trusted_keys"`
}

// Fleet configures what a daemon shares with the other daemons on the same
// NATS: the kill switch and its status heartbeat (the rules are shared
// through risk.kv_bucket).
type Fleet struct {
	// Instance names this daemon in the fleet (its heartbeat's key, the
	// origin of a halt it shares). Empty: <hostname>-<pid>, new at every
	// start. Letters, digits, '-' and '_' only (a NATS subject token).
	Instance string `yaml:"instance"`
	// KillSwitchBucket is the NATS KV bucket sharing the kill switch: a
	// halt or a resume on any daemon using the bucket applies to all of
	// them (e.g. arb_killswitch). Empty (the default) keeps the kill
	// switch to this daemon: sharing is chosen, so that daemons that
	// merely meet on one NATS server (staging beside production, tests)
	// never halt each other.
	KillSwitchBucket string `yaml:"kill_switch_bucket"`
	// StatusBucket is the NATS KV bucket holding every daemon's latest
	// heartbeat (arb status reads it). Default arb_fleet.
	StatusBucket string `yaml:"status_bucket"`
	// Heartbeat is how often the daemon writes its status; a daemon
	// silent for three heartbeats is shown as lost. Default 2s.
	Heartbeat time.Duration `yaml:"heartbeat"`
}

// Known is what only the wiring knows: the venue kinds it can build, the
// simulated venues it runs, and the checks only its components can make.
// Passing it in keeps the lists from drifting.
type Known struct {
	// Kinds are the accepted venue kinds, e.g. {"binance", "okx", "bybit"}.
	// An empty list accepts none.
	Kinds []string
	// SimVenues are the simulated venue names sim:// URLs may name. Nil
	// accepts any well-formed name (the wiring then runs one simulated venue
	// per distinct name, see Config.SimVenues); a non-nil list is enforced.
	SimVenues []string
	// Check, if set, runs after every other check passed and reports what
	// would otherwise fail only at run time: scales the detector cannot
	// hold, the simulator's limits, a rules file that is missing or does
	// not load. It must not touch the network. report locates each problem
	// at its key path's line.
	Check func(c *Config, report func(path, msg string))
}

// SimVenue is one simulated venue the config's sim:// URLs ask for.
type SimVenue struct {
	Name string // from sim://<name>
	Kind string // the protocol it must speak: the kind of the venues using it
}

// SimVenues returns the distinct simulated venues named by sim:// URLs, in
// the order of first use. Validation guarantees one kind per name.
func (c *Config) SimVenues() []SimVenue {
	var out []SimVenue
	seen := map[string]bool{}
	for _, v := range c.Venues {
		if name, ok := v.SimName(); ok && !seen[name] {
			seen[name] = true
			out = append(out, SimVenue{Name: name, Kind: v.Kind})
		}
	}
	return out
}

// Instrument returns the configured instrument with the canonical symbol.
func (c *Config) Instrument(symbol string) (Instrument, bool) {
	for _, in := range c.Instruments {
		if in.Symbol == symbol {
			return in, true
		}
	}
	return Instrument{}, false
}

// defaults returns a Config holding the value of every key a file may leave
// out; decoding overwrites what the file sets.
func defaults() Config {
	return Config{
		DataDir: "./data",
		Log:     Log{Level: "info"},
		Fleet:   Fleet{StatusBucket: "arb_fleet", Heartbeat: 2 * time.Second},
		HTTP:    HTTP{Listen: "127.0.0.1:7420"},
		Paper:   true,
		Sim:     Sim{Enabled: false, Seed: 1, Step: 100 * time.Millisecond},
		Execution: Execution{Prefix: "arb", MaxOpen: 64, KeepClosed: 1024, PaperLatency: 50 * time.Millisecond,
			BalanceRefresh: 30 * time.Second},
		Strategy: Strategy{
			MinNetEdgeBps:   2,
			SlippageBps:     1,
			VolHalfLife:     30 * time.Second,
			Cooldown:        2 * time.Second,
			RebalanceTrades: 50,
		},
	}
}

// setDefaults fills an element of Config.Venues before it is decoded.
func (v *Venue) setDefaults() {
	v.FeeAsset = "quote"
	v.AgeMax = 5 * time.Second
}

// Load reads and parses the config file at path (see Parse). A file that
// cannot be read gives one line naming the file and the OS error.
func Load(path string, known Known) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPathError(err))
	}
	return Parse(path, data, known)
}

// unwrapPathError drops the *fs.PathError wrapper, whose text repeats the
// path the caller already prints.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse decodes data, the contents of the config file name, applies defaults
// for absent keys, resolves relative paths against name's directory (a name
// without one, such as DefaultName, resolves against the working directory)
// and validates the result against known. Unknown keys, and keys that would
// hold a secret, are errors. A problem with the content is an *Error listing
// every problem, one line each, naming the file, the line, the key path and
// the problem.
//
// Decoding problems do not hide validation problems: a value that cannot be
// decoded keeps its default and the rest of the file is validated, leaving
// out what only repeats a decoding problem. known.Check, the wiring's
// run-time checks, runs once everything else is clean (it builds parts of
// the daemon from the config, which needs a valid one).
func Parse(name string, data []byte, known Known) (*Config, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{Problems: []Problem{{File: name, Msg: fmt.Sprintf("larger than %d bytes", MaxFileBytes)}}}
	}
	c := defaults()
	c.Source = name
	lines, ps, walked := decode(name, data, &c)
	if !walked {
		return nil, ps.err()
	}
	c.lines = lines
	c.resolvePaths(filepath.Dir(name))
	vs := c.newProblems()
	c.validate(vs, known)
	c.check(vs, known, len(ps.list) == 0)
	for _, p := range vs.list {
		dup := false
		for _, d := range ps.list {
			if related(d.Path, p.Path) {
				dup = true
				break
			}
		}
		if !dup {
			ps.list = append(ps.list, p)
		}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return &c, nil
}

// resolvePaths makes the relative paths of the file relative to dir.
func (c *Config) resolvePaths(dir string) {
	paths := []*string{&c.DataDir, &c.Risk.RulesFile, &c.NATS.CredentialsFile, &c.NATS.TLS.CAFile, &c.NATS.TLS.CertFile, &c.NATS.TLS.KeyFile}
	for i := range c.Venues {
		if ch := c.Venues[i].Chain; ch != nil {
			paths = append(paths, &ch.KeystoreFile)
		}
	}
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}
