package bybit

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"arb/exchange"
	"arb/ringbuf"
)

// Channel names accepted in Config.Channel.
const (
	// ChannelDepth is the incremental book: topic orderbook.{Depth}.{SYMBOL},
	// a snapshot after subscribing, then deltas. Depth is 50 (default), 200
	// or 1000 on spot.
	ChannelDepth = "depth"
	// ChannelBBO is the best bid/offer: topic orderbook.1.{SYMBOL},
	// snapshot-only, re-sent unchanged (same u) when nothing changed.
	ChannelBBO = "bbo"
)

// Continuity policies accepted in Config.Continuity: how a delta's update id
// u must relate to the previous one. See doc.go for what each can detect and
// for the sources.
const (
	// ContinuityContiguous (default) requires u == previous u + 1 for every
	// delta; anything else is a gap (book stale, resubscribe). Bybit's
	// level-50 documentation states this rule ("next u should follow
	// previous u + 1", docs/v5/sbe/level-50) and older JSON docs call u
	// "always in sequence".
	ContinuityContiguous = "contiguous"
	// ContinuityMonotonic only requires u to grow, as the current JSON
	// orderbook page states ("Update ID"; u = 1 after a restart). It cannot
	// detect a lost delta; jumps are counted (Feed.UJumps). Use it for a
	// stream whose u is known not to be contiguous.
	ContinuityMonotonic = "monotonic"
)

// Path of the public spot stream below Config.WSURL.
const spotPath = "/v5/public/spot"

// Documented limits (venue-docs README §3, ws_ping_pong_and_subscribe.json).
const (
	maxArgsPerRequest = 10     // spot: at most 10 args per subscribe request
	maxArgsChars      = 21_000 // args of one public connection, in characters
	maxInstruments    = 1024   // exchange.MaxInstruments; also bounds the tables
	maxSymbolLen      = 32
)

// Defaults of Config's zero fields.
const (
	// DefaultDepth is the depth channel's default: orderbook.50.
	DefaultDepth = 50
	// DefaultAgeMax is the default age limit of a connection and a book.
	DefaultAgeMax = 5 * time.Second
	// DefaultBackoffMin is the first reconnect delay.
	DefaultBackoffMin = 100 * time.Millisecond
	// DefaultBackoffMax caps the reconnect delay.
	DefaultBackoffMax = 30 * time.Second
	// DefaultMaxFrame is the largest websocket message accepted.
	DefaultMaxFrame = 4 << 20
	// DefaultSnapshotTimeout is how long a (re)subscribed book waits for its
	// snapshot before it is resubscribed.
	DefaultSnapshotTimeout = 10 * time.Second
	// DocPingEvery is Bybit's recommended client ping period.
	DocPingEvery = 20 * time.Second
)

// Config configures one Bybit spot market-data feed. Fields follow the
// shared adapter shape; Continuity and SnapshotTimeout are Bybit's own.
type Config struct {
	Venue       exchange.VenueID
	Name        string                // operator's venue name (logs)
	WSURL       string                // host base, e.g. wss://stream.bybit.com; "/v5/public/spot" is appended unless already present
	RESTURL     string                // e.g. https://api.bybit.com
	Instruments []exchange.Instrument // Symbol = Bybit spot symbol (BTCUSDT); ID/Scale canonical
	// Channel is ChannelDepth (default) or ChannelBBO.
	Channel string
	// Depth is the subscribed book depth: 50 (default), 200 or 1000 for
	// ChannelDepth; 1 (or 0) for ChannelBBO.
	Depth int
	// AgeMax: no frame on a connection for this long → books stale and
	// reconnect; no message for one book for this long → that book stale
	// and resubscribed (Bybit sends nothing for an unchanged depth book, and
	// re-sends an unchanged bbo every 3 s, so keep it above 3 s for bbo).
	// Default 5 s. Quiet books are republished every AgeMax/3 until then.
	AgeMax time.Duration
	// Lifetime is the scheduled-handover period. Bybit documents no maximum
	// lifetime for public connections, so 0 (the venue default) and negative
	// values disable scheduled handover.
	Lifetime time.Duration
	// PingEvery is the client ping period. Bybit recommends 20 s; the
	// default is min(20 s, AgeMax/3) because the pong is also what keeps a
	// quiet connection from tripping the AgeMax watchdog.
	PingEvery              time.Duration
	BackoffMin, BackoffMax time.Duration // reconnect backoff (defaults 100 ms, 30 s)
	MaxFrame               int           // bytes (default 4 MiB)
	Ring                   *ringbuf.MPSC[exchange.BookTop]
	Logger                 *slog.Logger
	Now                    func() int64 // wall clock, Unix ns (default time.Now)
	Rand                   *rand.Rand   // jitter (default: seeded from Venue, deterministic)
	HTTPClient             *http.Client // REST (default: 10 s timeout)

	// Continuity is ContinuityContiguous (default) or ContinuityMonotonic.
	Continuity string
	// SnapshotTimeout is how long a book may wait for its snapshot after a
	// (re)subscribe before it is resubscribed (default 10 s; retries back
	// off exponentially up to 32×).
	SnapshotTimeout time.Duration

	// stats is where a Session counts; the Feed points it at its own
	// FeedStats. Nil for a standalone Session (it then keeps its own).
	stats *exchange.FeedStats
}

// withDefaults returns a copy of c with every zero field defaulted.
func (c Config) withDefaults() Config {
	if c.Channel == "" {
		c.Channel = ChannelDepth
	}
	if c.Depth == 0 {
		if c.Channel == ChannelBBO {
			c.Depth = 1
		} else {
			c.Depth = DefaultDepth
		}
	}
	if c.AgeMax == 0 {
		c.AgeMax = DefaultAgeMax
	}
	if c.PingEvery == 0 {
		c.PingEvery = min(DocPingEvery, c.AgeMax/3)
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = func() int64 { return time.Now().UnixNano() }
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(0xb7b17, uint64(c.Venue)))
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Continuity == "" {
		c.Continuity = ContinuityContiguous
	}
	if c.SnapshotTimeout == 0 {
		c.SnapshotTimeout = DefaultSnapshotTimeout
	}
	if c.Name == "" {
		c.Name = "bybit"
	}
	return c
}

// Validate checks c (after defaults are applied to the zero fields); each
// error names the offending field.
func (c *Config) Validate() error {
	d := c.withDefaults()
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("bybit: %s: "+format, append([]any{field}, a...)...))
	}
	if d.Venue == 0 || int(d.Venue) >= exchange.MaxVenues {
		bad("Venue", "must be in 1..%d", exchange.MaxVenues-1)
	}
	if err := checkURL(d.WSURL, "ws", "wss"); err != nil {
		bad("WSURL", "%v", err)
	}
	if d.RESTURL != "" {
		if err := checkURL(d.RESTURL, "http", "https"); err != nil {
			bad("RESTURL", "%v", err)
		}
	}
	switch d.Channel {
	case ChannelDepth:
		if d.Depth != 50 && d.Depth != 200 && d.Depth != 1000 {
			bad("Depth", "%d: the depth channel supports 50, 200 or 1000", d.Depth)
		}
	case ChannelBBO:
		if d.Depth != 1 {
			bad("Depth", "%d: the bbo channel has depth 1", d.Depth)
		}
	default:
		bad("Channel", "%q: want %q or %q", d.Channel, ChannelDepth, ChannelBBO)
	}
	switch d.Continuity {
	case ContinuityMonotonic, ContinuityContiguous:
	default:
		bad("Continuity", "%q: want %q or %q", d.Continuity, ContinuityMonotonic, ContinuityContiguous)
	}
	if len(d.Instruments) == 0 {
		bad("Instruments", "at least one instrument is required")
	}
	if len(d.Instruments) > maxInstruments {
		bad("Instruments", "%d instruments: at most %d", len(d.Instruments), maxInstruments)
	}
	seen := make(map[string]bool, len(d.Instruments))
	argsChars := 2 // "[" "]"
	for i, in := range d.Instruments {
		f := fmt.Sprintf("Instruments[%d]", i)
		if !validSymbol(in.Symbol) {
			bad(f+".Symbol", "%q: want 1..%d upper-case letters and digits", in.Symbol, maxSymbolLen)
		} else if seen[in.Symbol] {
			bad(f+".Symbol", "%q listed twice", in.Symbol)
		}
		seen[in.Symbol] = true
		if in.ID == 0 || int(in.ID) >= exchange.MaxInstruments {
			bad(f+".ID", "must be in 1..%d", exchange.MaxInstruments-1)
		}
		if !in.Scale.Valid() {
			bad(f+".Scale", "%+v: decimals must be at most 18", in.Scale)
		}
		argsChars += len(topicPrefix(d.Depth)) + len(in.Symbol) + 3 // quotes and comma
	}
	if argsChars > maxArgsChars {
		bad("Instruments", "topics take %d characters; Bybit allows %d per connection", argsChars, maxArgsChars)
	}
	if d.AgeMax < 10*time.Millisecond {
		bad("AgeMax", "%v: at least 10ms", d.AgeMax)
	}
	if d.PingEvery < time.Millisecond {
		bad("PingEvery", "%v: at least 1ms", d.PingEvery)
	} else if d.PingEvery >= d.AgeMax {
		bad("PingEvery", "%v must be below AgeMax %v: pongs keep a quiet connection alive", d.PingEvery, d.AgeMax)
	}
	if d.BackoffMin <= 0 || d.BackoffMax < d.BackoffMin {
		bad("BackoffMin", "need 0 < BackoffMin (%v) ≤ BackoffMax (%v)", d.BackoffMin, d.BackoffMax)
	}
	if d.MaxFrame < 1024 {
		bad("MaxFrame", "%d: at least 1024", d.MaxFrame)
	}
	if d.SnapshotTimeout < time.Millisecond {
		bad("SnapshotTimeout", "%v: at least 1ms", d.SnapshotTimeout)
	}
	if d.Ring == nil {
		bad("Ring", "is required")
	}
	return errors.Join(errs...)
}

func checkURL(u string, schemes ...string) error {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || rest == "" {
		return fmt.Errorf("%q is not an absolute URL", u)
	}
	host := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host = rest[:i]
	}
	if host == "" {
		return fmt.Errorf("%q has no host", u)
	}
	if _, _, err := net.SplitHostPort(host); err != nil && strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return fmt.Errorf("%q: bad host: %v", u, err)
	}
	for _, s := range schemes {
		if scheme == s {
			return nil
		}
	}
	return fmt.Errorf("%q: scheme must be one of %v", u, schemes)
}

func validSymbol(s string) bool {
	if s == "" || len(s) > maxSymbolLen {
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

// topicPrefix returns "orderbook.<depth>.".
func topicPrefix(depth int) string { return fmt.Sprintf("orderbook.%d.", depth) }

// streamURL returns the spot stream URL for a configured WSURL: the host
// base with spotPath appended, or WSURL itself if it already names the path
// (as exchange/sim's URLs.WS does).
func streamURL(ws string) string {
	ws = strings.TrimRight(ws, "/")
	if strings.HasSuffix(ws, spotPath) {
		return ws
	}
	return ws + spotPath
}
