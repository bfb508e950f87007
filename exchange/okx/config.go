package okx

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"arb/exchange"
	"arb/ringbuf"
)

// Channel names accepted in Config.Channel. The wire name is what the
// subscription's "channel" field carries.
const (
	// ChannelBooks is OKX's "books" channel (the default): a 400-level
	// snapshot, then incremental updates chained by seqId/prevSeqId, with an
	// optional CRC32 checksum over the top 25 levels.
	ChannelBooks = "books"
	// ChannelBBO selects "bbo-tbt": one level per side, tick by tick, each
	// push a full best bid/offer with a seqId (no prevSeqId, no checksum).
	// "bbo-tbt" is accepted as a synonym.
	ChannelBBO = "bbo"
	// ChannelBooks5 is "books5": a full 5-level snapshot in every push.
	ChannelBooks5 = "books5"
)

// Defaults and limits.
const (
	// DefaultWSURL is OKX's global production host; the EEA host is
	// wss://wseea.okx.com:8443 and the demo hosts wspap/wseeapap.
	DefaultWSURL = "wss://ws.okx.com:8443"
	// DefaultRESTURL is OKX's global REST host (EEA: https://eea.okx.com).
	DefaultRESTURL = "https://www.okx.com"
	// PublicPath is the public websocket path appended to Config.WSURL.
	PublicPath = "/ws/v5/public"
	// DefaultDepth is the levels per side "books" carries and the default
	// Config.Depth.
	DefaultDepth = 400
	// MinBooksDepth is the smallest Config.Depth accepted for "books" (the
	// checksum covers the top 25 levels per side). The book keeps all
	// DefaultDepth levels whatever Depth says: see Config.Depth.
	MinBooksDepth = 25
	// DefaultAgeMax is the default Config.AgeMax.
	DefaultAgeMax = 5 * time.Second
	// DefaultPingEvery is the default Config.PingEvery: OKX asks for a
	// "ping" after N < 30 s without data.
	DefaultPingEvery = 20 * time.Second
	// MaxPingEvery is the largest Config.PingEvery: OKX drops a connection
	// silent for 30 s.
	MaxPingEvery = 29 * time.Second
	// DefaultBackoffMin is the default Config.BackoffMin.
	DefaultBackoffMin = 100 * time.Millisecond
	// DefaultBackoffMax is the default Config.BackoffMax.
	DefaultBackoffMax = 30 * time.Second
	// DefaultMaxFrame is the default Config.MaxFrame in bytes.
	DefaultMaxFrame = 4 << 20
	// DefaultLifetime is the scheduled handover period. OKX documents no
	// maximum connection lifetime (it announces upgrades with notice 64008,
	// which triggers a handover at once); rotating daily anyway keeps the
	// handover path exercised in production and renews the per-connection
	// subscribe budget.
	DefaultLifetime = 23 * time.Hour
	// MaxSymbolLen bounds a venue symbol; symbols are written into requests
	// without escaping, so Validate also restricts their characters.
	MaxSymbolLen = 40
)

// Config configures one OKX public market-data feed. Start from the zero value
// plus Instruments and Ring; Validate names the offending field.
type Config struct {
	Venue       exchange.VenueID
	Name        string                // operator's venue name (logs)
	WSURL       string                // base websocket URL (scheme://host[:port]); PublicPath is appended unless the URL already ends with it
	RESTURL     string                // base REST URL (scheme://host[:port])
	Instruments []exchange.Instrument // Symbol = OKX instId ("BTC-USDT"), ID/Scale = canonical
	Channel     string                // ChannelBooks (default), ChannelBBO or ChannelBooks5
	// Depth is accepted for "books" in MinBooksDepth..DefaultDepth (fixed 1
	// for bbo, 5 for books5), but a books book always keeps every level the
	// channel sends (DefaultDepth, 400, per side): OKX sends a level once
	// and then only its changes, so a book that dropped the levels below
	// its Depth lacks them when they move back up into the top 25 the
	// checksum covers — a false checksum failure (the captured 2022 session
	// fails within 2–12 updates at depth 25), or with checksums gone, a
	// wrong book. Publishing is TopK levels either way.
	Depth      int
	AgeMax     time.Duration // no data (any frame but "pong") on a connection for this long → stale + reconnect (default 5 s)
	Lifetime   time.Duration // scheduled handover period (0 = DefaultLifetime)
	PingEvery  time.Duration // send "ping" after this much silence (default 20 s, < 30 s); clamped to AgeMax/3, see doc.go
	BackoffMin time.Duration // reconnect backoff (default 100 ms)
	BackoffMax time.Duration // (default 30 s)
	MaxFrame   int           // bytes (default 4 MiB)
	Ring       *ringbuf.MPSC[exchange.BookTop]
	Logger     *slog.Logger
	Now        func() int64 // wall clock, Unix ns (default time.Now)
	Rand       *rand.Rand   // seeded jitter (default: a fixed seed)
	HTTPClient *http.Client // REST (default: 10 s timeout)

	// Stats is where the feed counts. nil: New allocates one. A Session
	// built directly with NewSession counts here too (or into a private
	// FeedStats when nil), so a harness can share it with its Publisher.
	Stats *exchange.FeedStats
}

// channel kinds after normalisation.
type chanKind uint8

const (
	kindBooks chanKind = iota + 1
	kindBBO
	kindBooks5
)

// kind returns the normalised channel kind and its wire name.
func channelKind(c string) (chanKind, string, bool) {
	switch c {
	case "", ChannelBooks:
		return kindBooks, "books", true
	case ChannelBBO, "bbo-tbt":
		return kindBBO, "bbo-tbt", true
	case ChannelBooks5:
		return kindBooks5, "books5", true
	}
	return 0, "", false
}

// Validate checks the configuration; each error names its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("okx: %s: "+format, append([]any{field}, a...)...))
	}
	if c.Venue == 0 {
		bad("Venue", "must be set (VenueID 0 means none)")
	}
	if c.WSURL != "" {
		if u, err := url.Parse(c.WSURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			bad("WSURL", "%q is not a ws:// or wss:// URL", c.WSURL)
		}
	}
	if c.RESTURL != "" {
		if u, err := url.Parse(c.RESTURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("RESTURL", "%q is not an http:// or https:// URL", c.RESTURL)
		}
	}
	kind, _, ok := channelKind(c.Channel)
	if !ok {
		bad("Channel", "%q is not %q, %q or %q", c.Channel, ChannelBooks, ChannelBBO, ChannelBooks5)
	}
	switch {
	case kind == kindBooks && c.Depth != 0 && (c.Depth < MinBooksDepth || c.Depth > DefaultDepth):
		bad("Depth", "%d: books accepts %d..%d (and keeps all %d levels per side the channel sends either way)", c.Depth, MinBooksDepth, DefaultDepth, DefaultDepth)
	case kind == kindBBO && c.Depth != 0 && c.Depth != 1:
		bad("Depth", "%d: bbo-tbt carries one level per side", c.Depth)
	case kind == kindBooks5 && c.Depth != 0 && c.Depth != 5:
		bad("Depth", "%d: books5 carries five levels per side", c.Depth)
	}
	if len(c.Instruments) == 0 {
		bad("Instruments", "at least one instrument is required")
	}
	if len(c.Instruments) > exchange.MaxInstruments {
		bad("Instruments", "%d instruments, at most %d", len(c.Instruments), exchange.MaxInstruments)
	}
	seen := make(map[string]bool, len(c.Instruments))
	for i := range c.Instruments {
		in := &c.Instruments[i]
		f := fmt.Sprintf("Instruments[%d]", i)
		if !validSymbol(in.Symbol) {
			bad(f+".Symbol", "%q is not an OKX instId (1..%d of A-Z a-z 0-9 - _ .)", in.Symbol, MaxSymbolLen)
		} else if seen[in.Symbol] {
			bad(f+".Symbol", "%q listed twice", in.Symbol)
		}
		seen[in.Symbol] = true
		if in.ID == 0 {
			bad(f+".ID", "must be set (InstrumentID 0 means none)")
		}
		if !in.Scale.Valid() {
			bad(f+".Scale", "%+v: decimals must be at most 18", in.Scale)
		}
	}
	if c.AgeMax < 0 {
		bad("AgeMax", "must not be negative")
	}
	if c.Lifetime < 0 {
		bad("Lifetime", "must not be negative")
	} else if c.Lifetime > 0 && c.Lifetime < 100*time.Millisecond {
		bad("Lifetime", "%v is shorter than 100ms", c.Lifetime)
	}
	if c.PingEvery < 0 || c.PingEvery > MaxPingEvery {
		bad("PingEvery", "%v: OKX drops a connection silent for 30 s; must be in (0, %v]", c.PingEvery, MaxPingEvery)
	}
	if c.BackoffMin < 0 || c.BackoffMax < 0 || (c.BackoffMin > 0 && c.BackoffMax > 0 && c.BackoffMax < c.BackoffMin) {
		bad("BackoffMin", "need 0 < BackoffMin ≤ BackoffMax")
	}
	if c.MaxFrame != 0 && c.MaxFrame < 4096 {
		bad("MaxFrame", "%d is below 4096 bytes", c.MaxFrame)
	}
	if c.Ring == nil {
		bad("Ring", "is required")
	}
	return errors.Join(errs...)
}

// validSymbol restricts symbols to characters that need no JSON escaping.
func validSymbol(s string) bool {
	if s == "" || len(s) > MaxSymbolLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// withDefaults returns a copy of c with every zero field defaulted.
func (c *Config) withDefaults() Config {
	d := *c
	if d.Name == "" {
		d.Name = "okx"
	}
	if d.WSURL == "" {
		d.WSURL = DefaultWSURL
	}
	if d.RESTURL == "" {
		d.RESTURL = DefaultRESTURL
	}
	kind, _, _ := channelKind(d.Channel)
	switch kind {
	case kindBBO:
		d.Depth = 1
	case kindBooks5:
		d.Depth = 5
	default:
		if d.Depth == 0 {
			d.Depth = DefaultDepth
		}
	}
	if d.AgeMax == 0 {
		d.AgeMax = DefaultAgeMax
	}
	if d.Lifetime == 0 {
		d.Lifetime = DefaultLifetime
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
	if d.MaxFrame == 0 {
		d.MaxFrame = DefaultMaxFrame
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.Now == nil {
		d.Now = func() int64 { return time.Now().UnixNano() }
	}
	if d.Rand == nil {
		d.Rand = rand.New(rand.NewPCG(0x6f6b78, 1)) // fixed seed: deterministic unless the caller seeds
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return d
}

// pingIdle is how long the connection may be silent before we send "ping":
// PingEvery, but at most a third of AgeMax. The pong wakes the reader, whose
// Tick then checks the data age, so a venue that answers pings but sends no
// data is caught within about AgeMax + AgeMax/3; a connection silent even to
// pings is closed by the watchdog at AgeMax.
func (c *Config) pingIdle() time.Duration {
	p := c.PingEvery
	if h := c.AgeMax / 3; h > 0 && h < p {
		p = h
	}
	return p
}

// wsEndpoint is the public websocket URL.
func (c *Config) wsEndpoint() string {
	u := strings.TrimRight(c.WSURL, "/")
	if strings.HasSuffix(u, PublicPath) {
		return u
	}
	return u + PublicPath
}
