package binance

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

// Channel names accepted in Config.Channel.
const (
	// ChannelDepth is the full local book: the diff-depth stream
	// <symbol>@depth@100ms kept in sync with REST snapshots by the documented
	// procedure (see doc.go). Default.
	ChannelDepth = "depth"
	// ChannelBBO is the best bid and ask only: <symbol>@bookTicker, one
	// complete 1-level book per message.
	ChannelBBO = "bbo"
	// ChannelDepth5, ChannelDepth10 and ChannelDepth20 are the partial book
	// streams <symbol>@depthN@100ms: every message is a complete top-N
	// snapshot, so no REST snapshot is needed, at the price of N levels.
	ChannelDepth5  = "depth5"
	ChannelDepth10 = "depth10"
	ChannelDepth20 = "depth20"
)

// Documented Binance limits (web-socket-streams.md, rest-api.md) and this
// adapter's defaults.
const (
	// MaxStreams is Binance's limit of streams per connection; one stream per
	// instrument is used.
	MaxStreams = 1024
	// MaxDepth is the largest REST snapshot limit Binance serves.
	MaxDepth = 5000
	// DefaultDepth is the snapshot limit and levels kept per side: weight 50,
	// far more than the TopK levels published.
	DefaultDepth = 1000
	// MaxLifetime is the documented connection lifetime.
	MaxLifetime = 24 * time.Hour
	// DefaultLifetime starts the scheduled handover 30 minutes before the
	// venue cuts the connection.
	DefaultLifetime = 23*time.Hour + 30*time.Minute
	// DefaultHandoverMax bounds how long a handover waits for every book of
	// the new connection to sync before it takes over anyway.
	DefaultHandoverMax = 2 * time.Minute
	// DefaultSnapshotWeightPerMin is the share of Binance's IP budget of
	// 6000 request weight per minute this feed spends on depth snapshots,
	// leaving the rest to order entry and other processes on the same IP.
	DefaultSnapshotWeightPerMin = 3000
	// maxURLBytes caps the combined-stream URL. Binance does not document a
	// limit on the request line; 8 KiB is the common default of HTTP servers
	// and proxies, so a longer list must be split over several feeds.
	maxURLBytes = 8 << 10
)

// Config configures one Binance spot market-data feed (one connection, plus
// a second one during a handover). Zero values take the documented defaults;
// Validate reports what cannot be defaulted.
type Config struct {
	Venue exchange.VenueID
	Name  string // operator's venue name (logs, errors)
	// WSURL is the market-data base, e.g. wss://stream.binance.com:9443 or
	// wss://data-stream.binance.vision. The adapter appends
	// /stream?streams=…; a trailing /ws or /stream is stripped, so the
	// simulator's raw-stream URL works too.
	WSURL string
	// RESTURL is the REST base, e.g. https://api.binance.com or
	// https://data-api.binance.vision.
	RESTURL     string
	Instruments []exchange.Instrument // Symbol = Binance symbol (BTCUSDT); ID/Scale = canonical
	Channel     string                // ChannelDepth (default), ChannelBBO, ChannelDepth5/10/20
	// Depth is the REST snapshot limit and the levels kept per side for
	// ChannelDepth (1..5000, default 1000; request weight 5/25/50/250 for
	// ≤100/≤500/≤1000/≤5000). Ignored by the other channels.
	Depth    int
	AgeMax   time.Duration // no frame on a connection for this long → stale + reconnect (default 5 s)
	Lifetime time.Duration // scheduled handover period (default 23h30m, at most 24 h)
	// PingEvery is ignored: Binance pings the client every 20 s and the
	// reader answers with a pong copying the payload (wsx.ReadFrame).
	// Unsolicited pongs do not keep the connection alive and count toward
	// the 5 messages per second limit, so none are sent.
	PingEvery time.Duration
	// BackoffMin and BackoffMax bound the reconnect backoff, the REST retry
	// backoff and each book's snapshot refetch backoff (doc.go; defaults
	// 100 ms, 30 s).
	BackoffMin, BackoffMax time.Duration
	MaxFrame               int // largest websocket frame and REST body, bytes (default 4 MiB)
	// HandoverMax bounds a scheduled handover: if the new connection has not
	// synced every book by then it takes over anyway, publishing the books it
	// has not synced as stale (default 2 min).
	HandoverMax time.Duration
	// SnapshotWeightPerMin is the request weight per minute this feed may
	// spend on REST depth snapshots (default 3000 of Binance's 6000); no
	// snapshot is requested while Binance reports (X-MBX-USED-WEIGHT-1M)
	// that the IP as a whole has used this much in the current minute.
	SnapshotWeightPerMin int
	Ring                 *ringbuf.MPSC[exchange.BookTop]
	Logger               *slog.Logger // default: discard
	Now                  func() int64 // wall clock, Unix ns (default time.Now)
	Rand                 *rand.Rand   // jitter (default: seeded from Venue, deterministic)
	HTTPClient           *http.Client // REST (default: 10 s timeout)

	stats *exchange.FeedStats // set by New: where the sessions count
}

// chanKind is the parsed form of Config.Channel.
type chanKind uint8

const (
	chDepth chanKind = iota + 1
	chBBO
	chPartial
)

// channel parses a channel name into its kind and, for partial books, N.
func channel(name string) (chanKind, int, bool) {
	switch name {
	case "", ChannelDepth:
		return chDepth, 0, true
	case ChannelBBO:
		return chBBO, 0, true
	case ChannelDepth5:
		return chPartial, 5, true
	case ChannelDepth10:
		return chPartial, 10, true
	case ChannelDepth20:
		return chPartial, 20, true
	}
	return 0, 0, false
}

// streamSuffix is the stream name after "<symbol>@".
func (c *Config) streamSuffix() string {
	k, n, _ := channel(c.Channel)
	switch k {
	case chBBO:
		return "bookTicker"
	case chPartial:
		return fmt.Sprintf("depth%d@100ms", n)
	}
	return "depth@100ms"
}

// withDefaults returns a copy of c with every zero field defaulted.
func (c *Config) withDefaults() Config {
	d := *c
	if d.Channel == "" {
		d.Channel = ChannelDepth
	}
	if d.Depth == 0 {
		d.Depth = DefaultDepth
	}
	if d.AgeMax == 0 {
		d.AgeMax = 5 * time.Second
	}
	if d.Lifetime == 0 {
		d.Lifetime = DefaultLifetime
	}
	if d.BackoffMin == 0 {
		d.BackoffMin = 100 * time.Millisecond
	}
	if d.BackoffMax == 0 {
		d.BackoffMax = 30 * time.Second
	}
	if d.MaxFrame == 0 {
		d.MaxFrame = 4 << 20
	}
	if d.HandoverMax == 0 {
		d.HandoverMax = DefaultHandoverMax
	}
	if d.SnapshotWeightPerMin == 0 {
		d.SnapshotWeightPerMin = DefaultSnapshotWeightPerMin
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.Now == nil {
		d.Now = func() int64 { return time.Now().UnixNano() }
	}
	if d.Rand == nil {
		d.Rand = rand.New(rand.NewPCG(0x62696e616e6365, uint64(d.Venue)))
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return d
}

// Validate checks c with defaults applied; every error names its field.
func (c *Config) Validate() error {
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
	if err := checkURL(d.WSURL, "ws", "wss"); err != nil {
		bad("WSURL", "%v", err)
	}
	if err := checkURL(d.RESTURL, "http", "https"); err != nil {
		bad("RESTURL", "%v", err)
	}
	if _, _, ok := channel(d.Channel); !ok {
		bad("Channel", "%q is not depth, bbo, depth5, depth10 or depth20", d.Channel)
	}
	switch n := len(d.Instruments); {
	case n == 0:
		bad("Instruments", "at least one instrument is required")
	case n > MaxStreams:
		bad("Instruments", "%d instruments exceed Binance's %d streams per connection; split them over several feeds", n, MaxStreams)
	}
	seen := make(map[string]bool, len(d.Instruments))
	for i := range d.Instruments {
		in := &d.Instruments[i]
		f := fmt.Sprintf("Instruments[%d]", i)
		switch {
		case !validSymbol(in.Symbol):
			bad(f+".Symbol", "%q is not a Binance symbol (upper-case letters and digits)", in.Symbol)
		case seen[in.Symbol]:
			bad(f+".Symbol", "%q listed twice", in.Symbol)
		}
		seen[in.Symbol] = true
		if in.ID == 0 {
			bad(f+".ID", "must be set (1-based InstrumentID)")
		}
		if !in.Scale.Valid() {
			bad(f+".Scale", "decimals must be at most 18")
		}
	}
	if d.Depth < 1 || d.Depth > MaxDepth {
		bad("Depth", "%d not in [1, %d]", d.Depth, MaxDepth)
	}
	if d.AgeMax < 0 {
		bad("AgeMax", "must not be negative")
	}
	if d.Lifetime < 0 || d.Lifetime > MaxLifetime {
		bad("Lifetime", "%v not in (0, %v]: Binance closes connections after 24 h", d.Lifetime, MaxLifetime)
	}
	if d.BackoffMin < 0 || d.BackoffMax < d.BackoffMin {
		bad("BackoffMin", "need 0 < BackoffMin ≤ BackoffMax")
	}
	if d.MaxFrame < 1024 {
		bad("MaxFrame", "%d is below 1024 bytes", d.MaxFrame)
	}
	if d.HandoverMax < 0 {
		bad("HandoverMax", "must not be negative")
	}
	if d.SnapshotWeightPerMin < snapshotWeight(d.Depth) {
		bad("SnapshotWeightPerMin", "%d is below the weight of one snapshot (%d)", d.SnapshotWeightPerMin, snapshotWeight(d.Depth))
	}
	if d.Ring == nil {
		bad("Ring", "is nil")
	}
	if len(errs) == 0 {
		if u := d.streamURL(); len(u) > maxURLBytes {
			bad("Instruments", "the combined-stream URL is %d bytes (limit %d); split the instruments over several feeds", len(u), maxURLBytes)
		}
	}
	return errors.Join(errs...)
}

func checkURL(raw string, schemes ...string) error {
	if raw == "" {
		return errors.New("is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	for _, s := range schemes {
		if u.Scheme == s && u.Host != "" {
			return nil
		}
	}
	return fmt.Errorf("%q: need %s://host", raw, strings.Join(schemes, " or "))
}

// validSymbol accepts Binance spot symbols: 1–20 upper-case letters and digits.
func validSymbol(s string) bool {
	if s == "" || len(s) > 20 {
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

// streamName is the combined-stream name of instrument sym on c's channel.
func (c *Config) streamName(sym string) string {
	return strings.ToLower(sym) + "@" + c.streamSuffix()
}

// streamURL is the combined-stream URL subscribing every instrument: the
// subscription travels in the URL, so the adapter sends no control message.
func (c *Config) streamURL() string {
	base := strings.TrimRight(c.WSURL, "/")
	base = strings.TrimSuffix(base, "/ws")
	base = strings.TrimSuffix(base, "/stream")
	var b strings.Builder
	b.WriteString(base)
	b.WriteString("/stream?streams=")
	for i := range c.Instruments {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(c.streamName(c.Instruments[i].Symbol))
	}
	return b.String()
}

// snapshotWeight is the documented request weight of GET /api/v3/depth.
func snapshotWeight(limit int) int {
	switch {
	case limit <= 100:
		return 5
	case limit <= 500:
		return 25
	case limit <= 1000:
		return 50
	}
	return 250
}
