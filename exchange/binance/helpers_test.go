package binance

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"

	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/num"
	"arb/ringbuf"
)

// harness drives one Session directly, as the lead's benchmark and the
// conformance suite would: a ring, stats, an owner and a publisher.
type harness struct {
	cfg   Config
	stats exchange.FeedStats
	ring  *ringbuf.MPSC[exchange.BookTop]
	owner feed.Owner
	pub   *feed.Publisher
	s     *Session
}

// testInst is a canonical instrument for tests: Binance symbol, id, scale.
func testInst(sym string, id exchange.InstrumentID, px, qty uint8) exchange.Instrument {
	return exchange.Instrument{ID: id, Venue: 1, Symbol: sym, Scale: num.Scale{Px: px, Qty: qty}}
}

// discard is a logger for tests that provoke rejections on purpose; set
// BINANCE_TEST_LOG=1 to see them.
func discard() *slog.Logger {
	if os.Getenv("BINANCE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func baseConfig(channel string, depth int, insts ...exchange.Instrument) Config {
	return Config{
		Venue: 1, Name: "binance-test",
		WSURL: "wss://stream.binance.com:9443", RESTURL: "https://api.binance.com",
		Instruments: insts, Channel: channel, Depth: depth,
		Ring: ringbuf.NewMPSC[exchange.BookTop](1 << 8), Logger: discard(),
	}
}

// newHarness builds a session for cfg (defaults applied) whose publisher
// refreshes quiet books after refreshNs.
func newHarness(t testing.TB, cfg Config, refreshNs int64) *harness {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := &harness{cfg: cfg.withDefaults(), ring: cfg.Ring}
	h.cfg.stats = &h.stats
	h.owner.Take(1)
	h.pub = feed.New(h.ring, &h.stats, &h.owner, 1, len(cfg.Instruments), refreshNs)
	h.s = NewSession(&h.cfg, h.pub)
	return h
}

// needAfterBackoff advances the session's clock past any refetch backoff
// (a Refresh BackoffMax after its latest input) and returns what
// NeedSnapshot then returns: whether the book is being rebuilt at all,
// whenever its request falls due.
func (h *harness) needAfterBackoff() (int, bool) {
	h.s.Refresh(h.s.now + int64(h.cfg.BackoffMax))
	return h.s.NeedSnapshot()
}

// drain pops every published event.
func (h *harness) drain() []exchange.BookTop {
	var out []exchange.BookTop
	var ev exchange.BookTop
	for h.ring.TryPop(&ev) {
		out = append(out, ev)
	}
	return out
}

// instIndex maps a symbol to the harness's instrument index.
func (h *harness) instIndex(t testing.TB, sym string) int {
	t.Helper()
	for i := range h.cfg.Instruments {
		if h.cfg.Instruments[i].Symbol == sym {
			return i
		}
	}
	t.Fatalf("unknown symbol %q", sym)
	return -1
}

// lv is a level in test notation "price:qty" converted with scale sc.
func parseLevels(t testing.TB, s string, sc num.Scale) []exchange.Level {
	t.Helper()
	if s == "" {
		return nil
	}
	var out []exchange.Level
	for _, p := range strings.Split(s, ",") {
		px, qty, ok := strings.Cut(p, ":")
		if !ok {
			t.Fatalf("level %q: want price:qty", p)
		}
		x, err := num.ParseString(px, sc.Px)
		if err != nil {
			t.Fatalf("level %q: %v", p, err)
		}
		y, err := num.ParseString(qty, sc.Qty)
		if err != nil {
			t.Fatalf("level %q: %v", p, err)
		}
		out = append(out, exchange.Level{Px: num.Price(x), Qty: num.Qty(y)})
	}
	return out
}

// fmtLevels renders levels in test notation.
func fmtLevels(l []exchange.Level, sc num.Scale) string {
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i] = num.Format(int64(x.Px), sc.Px) + ":" + num.Format(int64(x.Qty), sc.Qty)
	}
	return strings.Join(parts, ",")
}

// Frame builders in Binance's exact wire format (combined-stream envelope).

func wireLevels(b *strings.Builder, l []exchange.Level, sc num.Scale) {
	b.WriteByte('[')
	for i, x := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`["`)
		b.Write(num.AppendFixed(nil, int64(x.Px), sc.Px))
		b.WriteString(`","`)
		b.Write(num.AppendFixed(nil, int64(x.Qty), sc.Qty))
		b.WriteString(`"]`)
	}
	b.WriteByte(']')
}

// depthFrame is a combined-stream depthUpdate.
func depthFrame(sym string, sc num.Scale, E int64, U, u uint64, bids, asks []exchange.Level) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"stream":"%s@depth@100ms","data":{"e":"depthUpdate","E":%d,"s":"%s","U":%d,"u":%d,"b":`,
		strings.ToLower(sym), E, sym, U, u)
	wireLevels(&b, bids, sc)
	b.WriteString(`,"a":`)
	wireLevels(&b, asks, sc)
	b.WriteString(`}}`)
	return []byte(b.String())
}

// snapshotBody is a REST depth snapshot.
func snapshotBody(sc num.Scale, last uint64, bids, asks []exchange.Level) []byte {
	var b strings.Builder
	b.WriteString(`{"lastUpdateId":` + strconv.FormatUint(last, 10) + `,"bids":`)
	wireLevels(&b, bids, sc)
	b.WriteString(`,"asks":`)
	wireLevels(&b, asks, sc)
	b.WriteString(`}`)
	return []byte(b.String())
}

// tickerFrame is a combined-stream bookTicker.
func tickerFrame(sym string, sc num.Scale, u uint64, bid, ask exchange.Level) []byte {
	f := func(v int64, d uint8) string { return string(num.AppendFixed(nil, v, d)) }
	return []byte(fmt.Sprintf(`{"stream":"%s@bookTicker","data":{"u":%d,"s":"%s","b":"%s","B":"%s","a":"%s","A":"%s"}}`,
		strings.ToLower(sym), u, sym, f(int64(bid.Px), sc.Px), f(int64(bid.Qty), sc.Qty), f(int64(ask.Px), sc.Px), f(int64(ask.Qty), sc.Qty)))
}

// partialFrame is a combined-stream partial-depth message.
func partialFrame(sym string, n int, sc num.Scale, last uint64, bids, asks []exchange.Level) []byte {
	return []byte(fmt.Sprintf(`{"stream":"%s@depth%d@100ms","data":%s}`, strings.ToLower(sym), n, snapshotBody(sc, last, bids, asks)))
}

// readDoc returns a documented payload from testdata/docs.
func readDoc(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/docs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wrap puts a raw payload in the combined-stream envelope.
func wrap(stream string, payload []byte) []byte {
	return []byte(`{"stream":"` + stream + `","data":` + string(payload) + `}`)
}

// num2_5 is the scale of the BTCUSDT test instrument.
var num2_5 = num.Scale{Px: 2, Qty: 5}
