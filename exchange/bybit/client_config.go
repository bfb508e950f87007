package bybit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"arb/exchange"
)

// Credentials are a Bybit API key and its HMAC secret. They are loaded by
// the caller (the config layer reads the environment or a key file) and
// handed to NewCredentials; nothing in this package reads them from
// anywhere else. Every way of printing a Credentials value — String,
// GoString, LogValue, MarshalJSON, and so %v, %+v, %#v and slog — shows
// only "[REDACTED]", so a config dump or an error cannot leak them.
type Credentials struct {
	key, secret string
}

// NewCredentials returns credentials for an API key and its secret. Both
// must be non-empty and printable ASCII without spaces (Bybit keys are
// alphanumeric); the error never contains either value.
func NewCredentials(apiKey, apiSecret string) (Credentials, error) {
	if !credentialText(apiKey) {
		return Credentials{}, errors.New("bybit: API key must be non-empty printable ASCII without spaces")
	}
	if !credentialText(apiSecret) {
		return Credentials{}, errors.New("bybit: API secret must be non-empty printable ASCII without spaces")
	}
	return Credentials{key: apiKey, secret: apiSecret}, nil
}

func credentialText(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// IsZero reports whether no credentials were set.
func (c Credentials) IsZero() bool { return c.key == "" && c.secret == "" }

const redacted = "[REDACTED]"

// String implements fmt.Stringer with the values redacted.
func (c Credentials) String() string { return "bybit.Credentials" + redacted }

// GoString implements fmt.GoStringer with the values redacted.
func (c Credentials) GoString() string { return "bybit.Credentials{" + redacted + "}" }

// LogValue implements slog.LogValuer with the values redacted.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler with the values redacted.
func (c Credentials) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Order-entry choices accepted in ClientConfig.OrderEntry.
const (
	// OrderEntryAuto places orders over the WebSocket trade API
	// (order.create on /v5/trade) while that socket is up and
	// authenticated, and over REST while it is not. It is the default:
	// BENCHMARKS.md shows the socket path is the faster one.
	OrderEntryAuto = "auto"
	// OrderEntryWS places orders over the WebSocket trade API only; while
	// the socket is down PlaceOrder fails with KindRetryable (nothing sent).
	OrderEntryWS = "ws"
	// OrderEntryREST places orders with POST /v5/order/create only (demo
	// trading has no WebSocket trade API).
	OrderEntryREST = "rest"
)

// Paths below the configured hosts (venue-docs README §3, §4.3).
const (
	privatePath = "/v5/private"
	tradePath   = "/v5/trade"
)

// Defaults of ClientConfig's zero fields.
const (
	DefaultRESTURL          = "https://api.bybit.com"
	DefaultWSURL            = "wss://stream.bybit.com"
	DefaultRecvWindow       = 5 * time.Second
	DefaultOrderTimeout     = 5 * time.Second
	DefaultRequestTimeout   = 10 * time.Second
	DefaultTimeSyncEvery    = 30 * time.Second
	DefaultPrivatePing      = 20 * time.Second // Bybit recommends a ping every 20 s
	DefaultPollEvery        = 500 * time.Millisecond
	DefaultPollStaleAfter   = 3 * time.Second
	DefaultReconcileOverlap = time.Minute
	DefaultMaxInFlight      = 16
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 30 * time.Second
	DefaultHeadroom         = 0.1
	DefaultTrackedOrders    = 2048
)

// ClientConfig configures a trading Client. Zero fields take the defaults
// above; Validate names every field in error.
type ClientConfig struct {
	Venue exchange.VenueID
	Name  string // operator's venue name (errors, logs); default "bybit"

	// RESTURL is the REST host, e.g. https://api.bybit.com,
	// https://api-testnet.bybit.com or https://api-demo.bybit.com.
	RESTURL string
	// WSURL is the websocket host, e.g. wss://stream.bybit.com; the private
	// stream is WSURL+/v5/private and the trade API WSURL+/v5/trade unless
	// PrivateURL or TradeURL name them in full.
	WSURL      string
	PrivateURL string
	TradeURL   string

	Credentials Credentials

	// Instruments are the spot instruments this client trades: Symbol is
	// Bybit's (BTCUSDT); Tick and Step are required (FetchInstruments fills
	// them); MinQty and MinNotional are checked before anything is sent.
	Instruments []exchange.Instrument

	// RecvWindow is sent as X-BAPI-RECV-WINDOW (default 5 s, Bybit's).
	RecvWindow time.Duration
	// OrderEntry is OrderEntryAuto (default), OrderEntryWS or OrderEntryREST.
	OrderEntry string
	// OrderTimeout bounds the wait for an order's acknowledgement after it
	// was written (default 5 s); past it the outcome is unknown.
	OrderTimeout time.Duration
	// RequestTimeout bounds every other request (default 10 s).
	RequestTimeout time.Duration
	// TimeSyncEvery re-measures the server-time offset and keeps the REST
	// connection warm (default 30 s; negative disables).
	TimeSyncEvery time.Duration
	// PingEvery is the client ping period on the private and trade sockets
	// (default 20 s); IdleMax closes a socket silent for that long (default
	// 3 × PingEvery).
	PingEvery, IdleMax time.Duration
	// BackoffMin and BackoffMax bound the reconnect delay (100 ms, 30 s).
	BackoffMin, BackoffMax time.Duration
	// PollEvery is how often in-flight orders are queried by client id
	// while the private stream is down, or when the stream has said nothing
	// about an order for PollStaleAfter (default 500 ms and 3 s).
	PollEvery, PollStaleAfter time.Duration
	// ReconcileOverlap is how far before the last fill seen the
	// reconciliation after a reconnect starts (default 1 min): fills may be
	// reported out of order, and a fill delivered twice is deduplicated by
	// the consumer while a fill not delivered is lost.
	ReconcileOverlap time.Duration
	// ReconcileFrom (Unix ns) is where the first reconciliation looks for
	// fills when none was seen yet (default: when the client was created).
	ReconcileFrom int64
	// MaxInFlight is how many order requests may be outstanding at once
	// (default 16); each has its own preallocated buffers.
	MaxInFlight int
	// TrackedOrders is how many client order ids the client remembers (the
	// orders it placed, polled until final, then kept to refuse a
	// resubmission of a known id and deliver each of their fills once);
	// default 2048 (about 1.4 KB each).
	TrackedOrders int
	// Headroom is the fraction of each documented rate budget kept unused
	// (default 0.1). BreakerThreshold consecutive failures open the circuit
	// for BreakerCooldown (defaults 5 and 30 s).
	Headroom         float64
	BreakerThreshold int
	BreakerCooldown  time.Duration

	// HTTPClient carries REST requests (default: a client with keep-alive
	// connections and no overall timeout; the per-request deadlines above
	// apply). Its transport should keep idle connections to the REST host.
	HTTPClient *http.Client
	// NetDialContext, if set, dials the websocket connections (proxies,
	// tests that timestamp the wire).
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// OnOrderWrite, if set, is called on the placing goroutine with an
	// order's client id and the clock (Now) just before the order's bytes
	// are handed to the transport (trade socket write or REST round trip):
	// order-to-wire latency. It must not block.
	OnOrderWrite func(clientID exchange.ID, at int64)
	Logger       *slog.Logger
	Now          func() int64 // wall clock, Unix ns (default time.Now)
	Rand         *rand.Rand   // reconnect jitter (default seeded from Venue)
}

// withDefaults returns a copy of c with every zero field defaulted.
func (c ClientConfig) withDefaults() ClientConfig {
	if c.Name == "" {
		c.Name = "bybit"
	}
	if c.RESTURL == "" {
		c.RESTURL = DefaultRESTURL
	}
	c.RESTURL = strings.TrimRight(c.RESTURL, "/")
	if c.WSURL == "" {
		c.WSURL = DefaultWSURL
	}
	ws := strings.TrimRight(c.WSURL, "/")
	if c.PrivateURL == "" {
		c.PrivateURL = ws + privatePath
	}
	if c.TradeURL == "" {
		c.TradeURL = ws + tradePath
	}
	if c.RecvWindow == 0 {
		c.RecvWindow = DefaultRecvWindow
	}
	if c.OrderEntry == "" {
		c.OrderEntry = OrderEntryAuto
	}
	if c.OrderTimeout == 0 {
		c.OrderTimeout = DefaultOrderTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.TimeSyncEvery == 0 {
		c.TimeSyncEvery = DefaultTimeSyncEvery
	}
	if c.PingEvery == 0 {
		c.PingEvery = DefaultPrivatePing
	}
	if c.IdleMax == 0 {
		c.IdleMax = 3 * c.PingEvery
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.PollEvery == 0 {
		c.PollEvery = DefaultPollEvery
	}
	if c.PollStaleAfter == 0 {
		c.PollStaleAfter = DefaultPollStaleAfter
	}
	if c.ReconcileOverlap == 0 {
		c.ReconcileOverlap = DefaultReconcileOverlap
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.TrackedOrders == 0 {
		c.TrackedOrders = DefaultTrackedOrders
	}
	if c.Headroom == 0 {
		c.Headroom = DefaultHeadroom
	}
	if c.BreakerThreshold == 0 {
		c.BreakerThreshold = DefaultBreakerThreshold
	}
	if c.BreakerCooldown == 0 {
		c.BreakerCooldown = DefaultBreakerCooldown
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = func() int64 { return time.Now().UnixNano() }
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(0xb7b1778ade, uint64(c.Venue)))
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        32,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		}}
	}
	return c
}

// Validate checks c (after defaults are applied to the zero fields); each
// error names the offending field. It never prints the credentials.
func (c *ClientConfig) Validate() error {
	d := c.withDefaults()
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("bybit: %s: "+format, append([]any{field}, a...)...))
	}
	if d.Venue == 0 || int(d.Venue) >= exchange.MaxVenues {
		bad("Venue", "must be in 1..%d", exchange.MaxVenues-1)
	}
	if err := checkURL(d.RESTURL, "http", "https"); err != nil {
		bad("RESTURL", "%v", err)
	}
	if err := checkURL(d.PrivateURL, "ws", "wss"); err != nil {
		bad("PrivateURL", "%v", err)
	}
	if err := checkURL(d.TradeURL, "ws", "wss"); err != nil {
		bad("TradeURL", "%v", err)
	}
	if d.Credentials.key == "" || d.Credentials.secret == "" {
		bad("Credentials", "required (NewCredentials)")
	}
	if len(d.Instruments) == 0 {
		bad("Instruments", "at least one instrument is required")
	}
	if len(d.Instruments) > maxInstruments {
		bad("Instruments", "%d instruments: at most %d", len(d.Instruments), maxInstruments)
	}
	seenSym := make(map[string]bool, len(d.Instruments))
	seenID := make(map[exchange.InstrumentID]bool, len(d.Instruments))
	for i, in := range d.Instruments {
		f := fmt.Sprintf("Instruments[%d]", i)
		if !validSymbol(in.Symbol) {
			bad(f+".Symbol", "%q: want 1..%d upper-case letters and digits", in.Symbol, maxSymbolLen)
		} else if seenSym[in.Symbol] {
			bad(f+".Symbol", "%q listed twice", in.Symbol)
		}
		seenSym[in.Symbol] = true
		if in.ID == 0 || int(in.ID) >= exchange.MaxInstruments {
			bad(f+".ID", "must be in 1..%d", exchange.MaxInstruments-1)
		} else if seenID[in.ID] {
			bad(f+".ID", "%d listed twice", in.ID)
		}
		seenID[in.ID] = true
		if !in.Scale.Valid() {
			bad(f+".Scale", "%+v: decimals must be at most 18", in.Scale)
		}
		if in.Tick <= 0 || in.Step <= 0 {
			bad(f+".Tick", "tick %d and step %d must be > 0 (FetchInstruments fills them)", in.Tick, in.Step)
		}
		if in.MinQty < 0 || in.MinNotional < 0 {
			bad(f+".MinQty", "filters must be ≥ 0")
		}
		if in.Base == "" || in.Quote == "" {
			bad(f+".Base", "base and quote assets are required (fee assets of spot fills)")
		}
	}
	if d.RecvWindow < 100*time.Millisecond || d.RecvWindow > time.Minute || d.RecvWindow%time.Millisecond != 0 {
		bad("RecvWindow", "%v: want whole milliseconds in 100ms..1m", d.RecvWindow)
	}
	switch d.OrderEntry {
	case OrderEntryAuto, OrderEntryWS, OrderEntryREST:
	default:
		bad("OrderEntry", "%q: want %q, %q or %q", d.OrderEntry, OrderEntryAuto, OrderEntryWS, OrderEntryREST)
	}
	for _, p := range []struct {
		name string
		v    time.Duration
	}{{"OrderTimeout", d.OrderTimeout}, {"RequestTimeout", d.RequestTimeout}, {"PingEvery", d.PingEvery},
		{"PollEvery", d.PollEvery}, {"PollStaleAfter", d.PollStaleAfter}, {"ReconcileOverlap", d.ReconcileOverlap},
		{"BreakerCooldown", d.BreakerCooldown}} {
		if p.v < time.Millisecond {
			bad(p.name, "%v: at least 1ms", p.v)
		}
	}
	if d.IdleMax <= d.PingEvery {
		bad("IdleMax", "%v must be above PingEvery %v: pongs keep a quiet socket alive", d.IdleMax, d.PingEvery)
	}
	if d.BackoffMin <= 0 || d.BackoffMax < d.BackoffMin {
		bad("BackoffMin", "need 0 < BackoffMin (%v) ≤ BackoffMax (%v)", d.BackoffMin, d.BackoffMax)
	}
	if d.MaxInFlight < 1 || d.MaxInFlight > maxSlots {
		bad("MaxInFlight", "%d: want 1..%d", d.MaxInFlight, maxSlots)
	}
	if d.TrackedOrders < 16 || d.TrackedOrders > 1<<20 {
		bad("TrackedOrders", "%d: want 16..%d", d.TrackedOrders, 1<<20)
	}
	if d.Headroom < 0 || d.Headroom >= 1 {
		bad("Headroom", "%v: want [0, 1)", d.Headroom)
	}
	if d.BreakerThreshold < 0 {
		bad("BreakerThreshold", "%d: want ≥ 0", d.BreakerThreshold)
	}
	return errors.Join(errs...)
}
