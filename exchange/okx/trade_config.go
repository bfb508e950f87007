package okx

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"arb/exchange"
)

// Trading defaults and limits.
const (
	// PrivatePath is the private websocket path (login, the orders
	// channel, WebSocket order entry).
	PrivatePath = "/ws/v5/private"
	// DefaultPrivateWSURL is OKX's production private host. Demo trading:
	// wss://wspap.okx.com:8443; EEA: wss://wseea.okx.com:8443.
	DefaultPrivateWSURL = "wss://ws.okx.com:8443"
	// DefaultExpiry is the default ClientConfig.Expiry.
	DefaultExpiry = 5 * time.Second
	// DefaultRequestTimeout is the default ClientConfig.RequestTimeout.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultPollEvery is the default ClientConfig.PollEvery.
	DefaultPollEvery = time.Second
	// DefaultResyncEvery is the default ClientConfig.ResyncEvery.
	DefaultResyncEvery = 30 * time.Second
	// DefaultReconcileOverlap is the default ClientConfig.ReconcileOverlap.
	DefaultReconcileOverlap = time.Minute
	// DefaultMaxInFlight is the default ClientConfig.MaxInFlight.
	DefaultMaxInFlight = 1024
	// DefaultBanWait is how long a ban (HTTP 418) without Retry-After keeps
	// the circuit open.
	DefaultBanWait = 2 * time.Minute
	// DefaultBreakerThreshold and DefaultBreakerCooldown configure the
	// failure breaker (see exchange/internal/gate).
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 30 * time.Second
)

// OrderEntry selects how orders are sent.
type OrderEntry string

// Order entry choices.
const (
	// OrderEntryAuto (the default) sends orders over the WebSocket order
	// entry connection while it is logged in, and over REST while it is
	// down; the WebSocket path measured faster (BENCHMARKS.md).
	OrderEntryAuto OrderEntry = "auto"
	// OrderEntryWS sends orders only over WebSocket; while the socket is
	// down PlaceOrder fails with KindRetryable (nothing was sent).
	OrderEntryWS OrderEntry = "ws"
	// OrderEntryREST sends orders only over REST (no order socket is kept).
	OrderEntryREST OrderEntry = "rest"
)

// ClientConfig configures a trading Client for one OKX account. Start from
// the zero value plus Venue, Credentials and Instruments; Validate names the
// offending field.
type ClientConfig struct {
	Venue exchange.VenueID
	Name  string // operator's venue name (logs, errors); default "okx"
	// RESTURL is the REST base (scheme://host[:port]), default
	// DefaultRESTURL; OKX's 2026 docs also print https://openapi.okx.com,
	// and EEA/US accounts must use eea.okx.com / us.okx.com.
	RESTURL string
	// PrivateWSURL is the private websocket (scheme://host[:port], with or
	// without PrivatePath), default DefaultPrivateWSURL. OrderWSURL is the
	// order-entry socket, default PrivateWSURL.
	PrivateWSURL string
	OrderWSURL   string
	// Credentials are loaded by the caller (environment, key file).
	Credentials Credentials
	// Demo adds the demo-trading header "x-simulated-trading: 1" to every
	// REST request (demo keys only work with it; the WS hosts differ).
	Demo bool
	// Instruments lists the tradable instruments with their filters in the
	// instrument's Scale (FetchInstruments fills them): Symbol is the OKX
	// instId.
	Instruments []exchange.Instrument
	// Expiry is OKX's request expiry (expTime, REST header and WS field):
	// the venue discards an order request still unprocessed this long after
	// it was signed (by the venue's clock), which bounds how long an unknown
	// outcome can stay open. Default DefaultExpiry; negative disables it.
	Expiry time.Duration
	// OrderEntry picks the order path (default OrderEntryAuto).
	OrderEntry OrderEntry
	// RequestTimeout bounds one REST request or WS order reply when ctx has
	// no earlier deadline (default 5 s). An order that times out is an
	// unknown outcome.
	RequestTimeout time.Duration
	// PollEvery is how often the orders this client placed are polled while
	// the private stream is down (default 1 s).
	PollEvery time.Duration
	// ResyncEvery is how often Run re-measures the server-time offset, which
	// also keeps the REST connection warm (default 30 s).
	ResyncEvery time.Duration
	// PingEvery is the websocket keep-alive ("ping" after this much
	// silence; default 20 s, OKX drops a socket silent for 30 s).
	PingEvery time.Duration
	// BackoffMin/BackoffMax bound the websocket reconnect backoff (default
	// 100 ms .. 30 s).
	BackoffMin, BackoffMax time.Duration
	// FillsFrom is where the first reconciliation starts reading fills
	// (default: the client's creation time). The wiring passes the ledger's
	// newest fill time after a restart.
	FillsFrom time.Time
	// ReconcileOverlap re-reads this much before the newest fill seen, so a
	// fill that arrived out of time order on the stream is not skipped
	// (default 1 min; repeats are dropped by trade id).
	ReconcileOverlap time.Duration
	// MaxInFlight caps the orders tracked for polling (default 1024; the
	// oldest is dropped with a warning beyond it).
	MaxInFlight int
	// Headroom is the fraction of each documented budget kept unused (for
	// other tools on the same account); default 0.1, negative means 0.
	Headroom float64
	// BreakerThreshold failures in a row (transport errors, 5XX, unknown
	// outcomes, auth failures) open the circuit for BreakerCooldown
	// (defaults 5 and 30 s; a negative threshold disables the breaker).
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// BanWait is how long a ban (HTTP 418) without Retry-After lasts
	// (default 2 min).
	BanWait time.Duration

	// OnOrderWrite, if set, is called on the placing goroutine with an
	// order's client id and the clock (Now) just before the order is
	// handed to the transport (order socket write, or the REST call):
	// order-to-wire latency. It must not block.
	OnOrderWrite func(clientID exchange.ID, at int64)
	Logger       *slog.Logger
	Now          func() time.Time // wall clock (default time.Now)
	Rand         *rand.Rand       // reconnect jitter (default: fixed seed)
	HTTPClient   *http.Client     // default: keep-alive transport, see newHTTPClient
}

// Validate checks the configuration; each error names its field.
func (c *ClientConfig) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("okx: %s: "+format, append([]any{field}, a...)...))
	}
	if c.Venue == 0 {
		bad("Venue", "must be set (VenueID 0 means none)")
	}
	checkURL := func(field, u string, schemes ...string) {
		if u == "" {
			return
		}
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || (p.Scheme != schemes[0] && p.Scheme != schemes[1]) {
			bad(field, "%q is not a %s:// or %s:// URL", u, schemes[0], schemes[1])
		}
	}
	checkURL("RESTURL", c.RESTURL, "http", "https")
	checkURL("PrivateWSURL", c.PrivateWSURL, "ws", "wss")
	checkURL("OrderWSURL", c.OrderWSURL, "ws", "wss")
	if c.Credentials.Key == "" || c.Credentials.Secret == "" || c.Credentials.Passphrase == "" {
		bad("Credentials", "key, secret and passphrase are all required")
	}
	for _, s := range []string{c.Credentials.Key, c.Credentials.Passphrase} {
		if strings.ContainsAny(s, "\r\n\"\\") || strings.IndexFunc(s, func(r rune) bool { return r < 0x20 }) >= 0 {
			bad("Credentials", "key and passphrase must not contain quotes, backslashes or control characters")
			break
		}
	}
	switch c.OrderEntry {
	case "", OrderEntryAuto, OrderEntryWS, OrderEntryREST:
	default:
		bad("OrderEntry", "%q is not auto, ws or rest", c.OrderEntry)
	}
	if len(c.Instruments) == 0 {
		bad("Instruments", "at least one instrument is required")
	}
	if len(c.Instruments) > exchange.MaxInstruments {
		bad("Instruments", "%d instruments, at most %d", len(c.Instruments), exchange.MaxInstruments)
	}
	seenSym := make(map[string]bool, len(c.Instruments))
	seenID := make(map[exchange.InstrumentID]bool, len(c.Instruments))
	for i := range c.Instruments {
		in := &c.Instruments[i]
		f := fmt.Sprintf("Instruments[%d]", i)
		if !validSymbol(in.Symbol) {
			bad(f+".Symbol", "%q is not an OKX instId (1..%d of A-Z a-z 0-9 - _ .)", in.Symbol, MaxSymbolLen)
		} else if seenSym[in.Symbol] {
			bad(f+".Symbol", "%q listed twice", in.Symbol)
		}
		seenSym[in.Symbol] = true
		if in.ID == 0 {
			bad(f+".ID", "must be set (InstrumentID 0 means none)")
		} else if seenID[in.ID] {
			bad(f+".ID", "%d listed twice", in.ID)
		}
		seenID[in.ID] = true
		if !in.Scale.Valid() {
			bad(f+".Scale", "%+v: decimals must be at most 18", in.Scale)
		}
		if in.Tick < 0 || in.Step < 0 || in.MinQty < 0 || in.MinNotional < 0 {
			bad(f, "filters must not be negative")
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"RequestTimeout", c.RequestTimeout}, {"PollEvery", c.PollEvery}, {"ResyncEvery", c.ResyncEvery},
		{"PingEvery", c.PingEvery}, {"BackoffMin", c.BackoffMin}, {"BackoffMax", c.BackoffMax},
		{"ReconcileOverlap", c.ReconcileOverlap}, {"BreakerCooldown", c.BreakerCooldown}, {"BanWait", c.BanWait}} {
		if d.v < 0 {
			bad(d.name, "must not be negative")
		}
	}
	if c.PingEvery > MaxPingEvery {
		bad("PingEvery", "%v: OKX drops a socket silent for 30 s; at most %v", c.PingEvery, MaxPingEvery)
	}
	if c.BackoffMin > 0 && c.BackoffMax > 0 && c.BackoffMax < c.BackoffMin {
		bad("BackoffMax", "must be ≥ BackoffMin")
	}
	if c.Expiry > 0 && c.Expiry < 100*time.Millisecond {
		bad("Expiry", "%v is shorter than 100ms", c.Expiry)
	}
	if c.MaxInFlight < 0 {
		bad("MaxInFlight", "must not be negative")
	}
	if c.Headroom >= 1 {
		bad("Headroom", "must be below 1")
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy of c with every zero field defaulted.
func (c *ClientConfig) withDefaults() ClientConfig {
	d := *c
	if d.Name == "" {
		d.Name = "okx"
	}
	if d.RESTURL == "" {
		d.RESTURL = DefaultRESTURL
	}
	d.RESTURL = strings.TrimRight(d.RESTURL, "/")
	if d.PrivateWSURL == "" {
		d.PrivateWSURL = DefaultPrivateWSURL
	}
	d.PrivateWSURL = privateEndpoint(d.PrivateWSURL)
	if d.OrderWSURL == "" {
		d.OrderWSURL = d.PrivateWSURL
	}
	d.OrderWSURL = privateEndpoint(d.OrderWSURL)
	if d.Expiry == 0 {
		d.Expiry = DefaultExpiry
	}
	if d.OrderEntry == "" {
		d.OrderEntry = OrderEntryAuto
	}
	if d.RequestTimeout == 0 {
		d.RequestTimeout = DefaultRequestTimeout
	}
	if d.PollEvery == 0 {
		d.PollEvery = DefaultPollEvery
	}
	if d.ResyncEvery == 0 {
		d.ResyncEvery = DefaultResyncEvery
	}
	if d.PingEvery == 0 {
		d.PingEvery = DefaultPingEvery
	}
	if d.BackoffMin == 0 {
		d.BackoffMin = DefaultBackoffMin
	}
	if d.BackoffMax == 0 {
		d.BackoffMax = DefaultBackoffMax
	}
	if d.BackoffMax < d.BackoffMin {
		d.BackoffMax = d.BackoffMin
	}
	if d.ReconcileOverlap == 0 {
		d.ReconcileOverlap = DefaultReconcileOverlap
	}
	if d.MaxInFlight == 0 {
		d.MaxInFlight = DefaultMaxInFlight
	}
	if d.Headroom == 0 {
		d.Headroom = 0.1
	} else if d.Headroom < 0 {
		d.Headroom = 0
	}
	if d.BreakerThreshold == 0 {
		d.BreakerThreshold = DefaultBreakerThreshold
	} else if d.BreakerThreshold < 0 {
		d.BreakerThreshold = 0
	}
	if d.BreakerCooldown == 0 {
		d.BreakerCooldown = DefaultBreakerCooldown
	}
	if d.BanWait == 0 {
		d.BanWait = DefaultBanWait
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Rand == nil {
		d.Rand = rand.New(rand.NewPCG(0x6f6b78, 2))
	}
	if d.HTTPClient == nil {
		d.HTTPClient = newHTTPClient()
	}
	return d
}

// privateEndpoint appends PrivatePath unless u already ends with it; a
// public endpoint (…/ws/v5/public, as a venue's ws_url may name it) is
// turned into the private one of the same host.
func privateEndpoint(u string) string {
	u = strings.TrimRight(u, "/")
	if strings.HasSuffix(u, PrivatePath) {
		return u
	}
	return strings.TrimSuffix(u, PublicPath) + PrivatePath
}

// newHTTPClient is the default REST client: keep-alive connections kept
// idle long enough that ResyncEvery's requests keep one warm, HTTP/2 when
// the venue offers it. Per-request deadlines come from the context.
func newHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       5 * time.Minute,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: tr}
}

// NewCredentials returns one OKX API key's credentials. The caller reads the
// values from the environment or a key file (cmd/internal/config names the
// variables: api_key_env, api_secret_env, api_passphrase_env); they are
// never logged (Credentials redacts itself).
func NewCredentials(key, secret, passphrase string) Credentials {
	return Credentials{Key: key, Secret: secret, Passphrase: passphrase}
}

// silenceLimit is how long a private or order socket may stay silent (not
// even a pong) before it is given up: PingEvery, then up to 10 s for the
// pong.
func (c *ClientConfig) silenceLimit() time.Duration {
	return c.PingEvery + min(c.PingEvery, 10*time.Second)
}
