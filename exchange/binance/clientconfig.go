package binance

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"arb/exchange"
)

// Order-entry choices accepted in ClientConfig.OrderEntry.
const (
	// OrderEntryAuto sends orders over the WebSocket API (order.place)
	// while its connection is up and over REST otherwise. Default: the
	// WebSocket path is the faster one (BENCHMARKS.md, "Binance trading").
	OrderEntryAuto = "auto"
	// OrderEntryWS is OrderEntryAuto by another name: there is no
	// WebSocket-only mode, because refusing to trade while a socket
	// reconnects would be worse than a slower path.
	OrderEntryWS = "ws"
	// OrderEntryREST sends every order over REST and opens no order-entry
	// socket.
	OrderEntryREST = "rest"
)

// Documented limits and this client's defaults (rest-api.md, web-socket-
// api.md, enums.md; venue-docs README §1 and §4.1).
const (
	// MaxRecvWindow is the largest recvWindow Binance accepts.
	MaxRecvWindow = 60 * time.Second
	// DefaultRecvWindow is Binance's own default.
	DefaultRecvWindow = 5 * time.Second
	// DefaultWeightPerMinute is the documented REQUEST_WEIGHT limit (per
	// IP, shared with the market-data feed's snapshots, which the
	// X-MBX-USED-WEIGHT-1M header reports).
	DefaultWeightPerMinute = 6000
	// DefaultOrdersPer10s and DefaultOrdersPerDay are the ORDERS limits of
	// the WebSocket API examples (50 per 10 s, 160000 per day); accounts
	// may have higher ones (GET /api/v3/rateLimit/order), which the
	// operator can configure.
	DefaultOrdersPer10s = 50
	DefaultOrdersPerDay = 160000
	// DefaultRawPer5m is RAW_REQUESTS since 2026-03-27 (300000 per 5 min).
	DefaultRawPer5m = 300000
)

// ClientConfig configures a trading Client for one Binance spot account.
// Zero values take the defaults; Validate reports what cannot be defaulted.
type ClientConfig struct {
	Venue exchange.VenueID
	Name  string // operator's venue name (errors, logs)
	// RESTURL is the REST base: https://api.binance.com, the testnet's
	// https://testnet.binance.vision (a trailing /api is stripped: the docs
	// print the testnet base that way), or a simulator.
	RESTURL string
	// WSAPIURL is the WebSocket API endpoint, e.g.
	// wss://ws-api.binance.com:443/ws-api/v3. The private stream
	// (userDataStream.subscribe) runs on a connection to it. Required.
	WSAPIURL string
	// OrderWSURL is the WebSocket API endpoint of the order-entry
	// connection (order.place); default WSAPIURL. It is a separate
	// connection so that a dropped private stream never cuts an order in
	// flight, and the reverse.
	OrderWSURL  string
	Credentials Credentials
	// Instruments are the tradable instruments: Symbol is Binance's
	// (BTCUSDT), ID and Scale canonical, Tick/Step/MinQty/MinNotional the
	// symbol's filters in that Scale (FetchInstruments fills them).
	Instruments []exchange.Instrument
	RecvWindow  time.Duration // signed requests' recvWindow (default 5 s, whole ms, at most 60 s)
	OrderEntry  string        // OrderEntryAuto (default), OrderEntryWS, OrderEntryREST
	// RequestTimeout bounds one request without a deadline of its own
	// (default 10 s, Binance's own matching-engine timeout). An order whose
	// answer does not come by then has an unknown outcome.
	RequestTimeout time.Duration
	// PollEvery is how often in-flight orders are polled by client order
	// id while the private stream is down, and after how long without news
	// an in-flight order is polled while it is up (a silent stream).
	// Default 1 s.
	PollEvery time.Duration
	// ResyncEvery is how often the server-time offset is re-measured with
	// GET /api/v3/time, which also keeps the REST keep-alive connection
	// warm (default 30 s).
	ResyncEvery            time.Duration
	BackoffMin, BackoffMax time.Duration // reconnect backoff (defaults 100 ms, 30 s)
	MaxBody                int           // largest REST body or WebSocket frame accepted (default 4 MiB)
	// Budgets (per IP and per account); the gate keeps Headroom of each
	// unused. Zero takes the Default… constants.
	WeightPerMinute, OrdersPer10s, OrdersPerDay, RawPer5m int
	Headroom                                              float64 // default 0.1
	// BreakerThreshold consecutive failures (transport errors, 5XX, unknown
	// outcomes) open the circuit for BreakerCooldown (defaults 5, 30 s).
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// MaxTracked bounds the orders tracked in flight and the client order
	// ids remembered as sent (default 4096 and 16×).
	MaxTracked int
	// ReconcileFrom is the venue time (Unix ns) from which the first
	// reconciliation lists fills (default: 24 h before start). The wiring
	// should pass the time of the last fill the ledger holds.
	ReconcileFrom int64
	// OnOrderWrite, if set, is called on the placing goroutine with an
	// order's client id and the wall clock (Now) just before the order's
	// bytes are handed to the socket: the WebSocket frame write, or the
	// REST request's round trip. It measures order-to-wire latency and
	// must not block.
	OnOrderWrite func(clientID exchange.ID, at int64)
	Logger       *slog.Logger // default: discard
	Now          func() int64 // wall clock, Unix ns (default time.Now)
	Rand         *rand.Rand   // backoff jitter (default: seeded from Venue)
	// HTTPClient carries REST requests (default: a keep-alive transport,
	// see DefaultHTTPClient). It must not follow redirects for POSTs or
	// retry them; net/http's own client does neither for a POST with a
	// body and no GetBody.
	HTTPClient *http.Client
}

// DefaultHTTPClient returns the client the trading client uses when none is
// injected: keep-alive connections kept idle for 90 s (Run re-measures the
// server time every ResyncEvery, which keeps one warm), and no overall
// timeout (each request carries RequestTimeout in its context).
func DefaultHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

func (c *ClientConfig) withDefaults() ClientConfig {
	d := *c
	if d.OrderWSURL == "" {
		d.OrderWSURL = d.WSAPIURL
	}
	if d.RecvWindow == 0 {
		d.RecvWindow = DefaultRecvWindow
	}
	if d.OrderEntry == "" {
		d.OrderEntry = OrderEntryAuto
	}
	if d.RequestTimeout == 0 {
		d.RequestTimeout = 10 * time.Second
	}
	if d.PollEvery == 0 {
		d.PollEvery = time.Second
	}
	if d.ResyncEvery == 0 {
		d.ResyncEvery = 30 * time.Second
	}
	if d.BackoffMin == 0 {
		d.BackoffMin = 100 * time.Millisecond
	}
	if d.BackoffMax == 0 {
		d.BackoffMax = 30 * time.Second
	}
	if d.MaxBody == 0 {
		d.MaxBody = 4 << 20
	}
	if d.WeightPerMinute == 0 {
		d.WeightPerMinute = DefaultWeightPerMinute
	}
	if d.OrdersPer10s == 0 {
		d.OrdersPer10s = DefaultOrdersPer10s
	}
	if d.OrdersPerDay == 0 {
		d.OrdersPerDay = DefaultOrdersPerDay
	}
	if d.RawPer5m == 0 {
		d.RawPer5m = DefaultRawPer5m
	}
	if d.Headroom == 0 {
		d.Headroom = 0.1
	}
	if d.BreakerThreshold == 0 {
		d.BreakerThreshold = 5
	}
	if d.BreakerCooldown == 0 {
		d.BreakerCooldown = 30 * time.Second
	}
	if d.MaxTracked == 0 {
		d.MaxTracked = 4096
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.Now == nil {
		d.Now = func() int64 { return time.Now().UnixNano() }
	}
	if d.Rand == nil {
		d.Rand = rand.New(rand.NewPCG(0x62696e74726164, uint64(d.Venue)))
	}
	if d.HTTPClient == nil {
		d.HTTPClient = DefaultHTTPClient()
	}
	return d
}

// Validate checks c with defaults applied; every error names its field.
func (c *ClientConfig) Validate() error {
	d := c.withDefaults()
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("binance: %s: "+format, append([]any{field}, a...)...))
	}
	if d.Venue == 0 {
		bad("Venue", "must be set (1-based VenueID)")
	}
	if d.Name == "" {
		bad("Name", "is empty")
	}
	if err := checkURL(d.RESTURL, "http", "https"); err != nil {
		bad("RESTURL", "%v", err)
	}
	if err := checkURL(d.WSAPIURL, "ws", "wss"); err != nil {
		bad("WSAPIURL", "%v", err)
	}
	if err := checkURL(d.OrderWSURL, "ws", "wss"); err != nil {
		bad("OrderWSURL", "%v", err)
	}
	if d.Credentials.IsZero() {
		bad("Credentials", "are not set (NewHMACCredentials or NewEd25519Credentials)")
	}
	if len(d.Instruments) == 0 {
		bad("Instruments", "at least one instrument is required")
	}
	seenSym := map[string]bool{}
	seenID := map[exchange.InstrumentID]bool{}
	for i := range d.Instruments {
		in := &d.Instruments[i]
		f := fmt.Sprintf("Instruments[%d]", i)
		if !validSymbol(in.Symbol) {
			bad(f+".Symbol", "%q is not a Binance symbol (upper-case letters and digits)", in.Symbol)
		} else if seenSym[in.Symbol] {
			bad(f+".Symbol", "%q listed twice", in.Symbol)
		}
		seenSym[in.Symbol] = true
		switch {
		case in.ID == 0 || int(in.ID) >= exchange.MaxInstruments:
			bad(f+".ID", "%d not in [1, %d)", in.ID, exchange.MaxInstruments)
		case seenID[in.ID]:
			bad(f+".ID", "%d listed twice", in.ID)
		}
		seenID[in.ID] = true
		if !in.Scale.Valid() {
			bad(f+".Scale", "decimals must be at most 18")
		}
		if in.Tick < 0 || in.Step < 0 || in.MinQty < 0 || in.MinNotional < 0 {
			bad(f, "filters must not be negative")
		}
	}
	if d.RecvWindow < time.Millisecond || d.RecvWindow > MaxRecvWindow || d.RecvWindow%time.Millisecond != 0 {
		bad("RecvWindow", "%v: need whole milliseconds in [1ms, %v]", d.RecvWindow, MaxRecvWindow)
	}
	switch d.OrderEntry {
	case OrderEntryAuto, OrderEntryWS, OrderEntryREST:
	default:
		bad("OrderEntry", "%q is not auto, ws or rest", d.OrderEntry)
	}
	for _, x := range []struct {
		f string
		v time.Duration
	}{{"RequestTimeout", d.RequestTimeout}, {"PollEvery", d.PollEvery}, {"ResyncEvery", d.ResyncEvery}, {"BreakerCooldown", d.BreakerCooldown}} {
		if x.v < 0 {
			bad(x.f, "must not be negative")
		}
	}
	if d.BackoffMin <= 0 || d.BackoffMax < d.BackoffMin {
		bad("BackoffMin", "need 0 < BackoffMin ≤ BackoffMax")
	}
	if d.MaxBody < 1024 {
		bad("MaxBody", "%d is below 1024 bytes", d.MaxBody)
	}
	for _, x := range []struct {
		f string
		v int
	}{{"WeightPerMinute", d.WeightPerMinute}, {"OrdersPer10s", d.OrdersPer10s}, {"OrdersPerDay", d.OrdersPerDay}, {"RawPer5m", d.RawPer5m}, {"BreakerThreshold", d.BreakerThreshold}, {"MaxTracked", d.MaxTracked}} {
		if x.v < 0 {
			bad(x.f, "must not be negative")
		}
	}
	if d.Headroom < 0 || d.Headroom >= 1 {
		bad("Headroom", "%v not in [0, 1)", d.Headroom)
	}
	return errors.Join(errs...)
}
