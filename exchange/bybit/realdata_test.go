package bybit

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/exchangetest"
	"arb/exchange/internal/feed"
	"arb/exchange/num"
	"arb/ringbuf"
)

// The real-data suite (issue 9): what Bybit really sent, captured by
// cryptofeed v3 in 2026 (../shared/realframes/bybit, see SOURCES.md): one
// connection to /v5/public/spot with orderbook.200 for BTCUSDT and ETHUSDT,
// one to /v5/public/linear with orderbook.200 for four perpetuals (the same
// protocol; arb subscribes spot, the linear sessions are replayed too),
// with tickers, publicTrade and kline topics on the same connections.
// Each connection is replayed through a session as the feed drives it
// (Start, its requests drained, every frame at its recorded receive time)
// and every published book compared with an independent reading of the
// same bytes (byBook: encoding/json, shopspring/decimal, sorted slices,
// each side kept to the subscribed depth as Bybit documents). Bybit sends
// no checksum; the reading checks what the ids promise itself: u
// contiguous per topic, seq never going backwards.

const byJSONL = "bybit/cryptofeed_BYBIT.jsonl"

type byCapture struct {
	conns map[string][]exchangetest.Capture // received frames by connection
	info  map[string][]byte                 // instruments-info answers by category
}

func loadBYCapture(t *testing.T) *byCapture {
	t.Helper()
	recs, err := exchangetest.ReadCryptofeedJSONL(exchangetest.ReadRealFrame(t, byJSONL))
	if err != nil {
		t.Fatal(err)
	}
	c := &byCapture{conns: map[string][]exchangetest.Capture{}, info: map[string][]byte{}}
	for _, r := range recs {
		switch r.T {
		case "recv":
			c.conns[r.Conn] = append(c.conns[r.Conn], r.Capture)
		case "http":
			switch {
			case strings.Contains(r.URL, "category=spot"):
				c.info["spot"] = r.Data
			case strings.Contains(r.URL, "category=linear"):
				c.info["linear"] = r.Data
			}
		}
	}
	if len(c.conns["BYBIT.ws.3"]) != 681 || len(c.conns["BYBIT.ws.2"]) != 2546 || c.info["spot"] == nil || c.info["linear"] == nil {
		t.Fatalf("capture: %d spot frames, %d linear frames", len(c.conns["BYBIT.ws.3"]), len(c.conns["BYBIT.ws.2"]))
	}
	return c
}

// spotInstruments reads the spot answer through ParseInstruments from a
// configured scale of 0 and 0: the scale decision widens each to its
// tickSize and basePrecision.
func (c *byCapture) spotInstruments(t *testing.T, syms ...string) []exchange.Instrument {
	t.Helper()
	var want []exchange.Instrument
	for k, s := range syms {
		want = append(want, exchange.Instrument{ID: exchange.InstrumentID(k + 1), Venue: 3, Symbol: s})
	}
	got, err := ParseInstruments(c.info["spot"], "bybit", want)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// linearInstruments are the perpetuals at their priceScale and qtyStep
// decimals (ParseInstruments reads spot answers only).
func (c *byCapture) linearInstruments(t *testing.T, syms ...string) []exchange.Instrument {
	t.Helper()
	var doc struct {
		Result struct {
			List []struct {
				Symbol        string
				PriceFilter   struct{ TickSize string }
				LotSizeFilter struct{ QtyStep string }
			}
		}
	}
	if err := json.Unmarshal(c.info["linear"], &doc); err != nil {
		t.Fatal(err)
	}
	dec := func(s string) uint8 {
		d := decimal.RequireFromString(s)
		for e := uint8(0); ; e++ {
			if d.Shift(int32(e)).IsInteger() {
				return e
			}
		}
	}
	var out []exchange.Instrument
	for k, s := range syms {
		for _, in := range doc.Result.List {
			if in.Symbol == s {
				out = append(out, exchange.Instrument{ID: exchange.InstrumentID(k + 1), Venue: 3, Symbol: s,
					Scale: num.Scale{Px: dec(in.PriceFilter.TickSize), Qty: dec(in.LotSizeFilter.QtyStep)}})
			}
		}
	}
	if len(out) != len(syms) {
		t.Fatalf("linear instruments: found %d of %v", len(out), syms)
	}
	return out
}

// byLevel is one level of the reading.
type byLevel struct{ px, qty decimal.Decimal }

// byBook is the independent reading of one book.
type byBook struct {
	known      bool
	u, seq     int64
	ts         int64
	bids, asks []byLevel // best first, at most depth
}

// byMsg is one orderbook message as encoding/json reads it.
type byMsg struct {
	Topic string
	Type  string
	TS    int64
	Data  struct {
		S    string
		B, A [][2]string
		U    int64 `json:"u"`
		Seq  int64
	}
	CTS int64
}

func (b *byBook) set(bid bool, l [2]string, depth int) {
	side := &b.asks
	if bid {
		side = &b.bids
	}
	px, qty := decimal.RequireFromString(l[0]), decimal.RequireFromString(l[1])
	i := sort.Search(len(*side), func(k int) bool {
		if bid {
			return (*side)[k].px.LessThanOrEqual(px)
		}
		return (*side)[k].px.GreaterThanOrEqual(px)
	})
	found := i < len(*side) && (*side)[i].px.Equal(px)
	switch {
	case qty.IsZero() && found:
		*side = slices.Delete(*side, i, i+1)
	case qty.IsZero():
	case found:
		(*side)[i].qty = qty
	default:
		*side = slices.Insert(*side, i, byLevel{px, qty})
	}
}

// apply reads one orderbook message by the documented procedure: a
// snapshot replaces the book, a delta sets levels (size 0 deletes) and
// must carry the next u and a seq not below the last; each side is kept to
// the subscribed depth (Bybit's window).
func (b *byBook) apply(t *testing.T, m *byMsg, depth int) {
	t.Helper()
	switch m.Type {
	case "snapshot":
		b.bids, b.asks = nil, nil
	case "delta":
		if !b.known {
			t.Fatalf("%s: a delta before the snapshot in the capture", m.Topic)
		}
		if m.Data.U != b.u+1 || m.Data.Seq < b.seq {
			t.Fatalf("%s: the capture's ids break: u %d after %d, seq %d after %d", m.Topic, m.Data.U, b.u, m.Data.Seq, b.seq)
		}
	default:
		t.Fatalf("%s: message type %q", m.Topic, m.Type)
	}
	for _, l := range m.Data.B {
		b.set(true, l, depth)
	}
	for _, l := range m.Data.A {
		b.set(false, l, depth)
	}
	b.bids, b.asks = b.bids[:min(len(b.bids), depth)], b.asks[:min(len(b.asks), depth)]
	b.known, b.u, b.seq, b.ts = true, m.Data.U, m.Data.Seq, m.TS
}

// byCheck compares a published event with the reading.
func byCheck(t *testing.T, ev *exchange.BookTop, b *byBook, sc num.Scale, what string) {
	t.Helper()
	if ev.Stale() || int64(ev.Seq) != b.seq || ev.ExchTS != b.ts*1e6 {
		t.Fatalf("%s: published %+v, the reading is at seq %d ts %d", what, ev, b.seq, b.ts)
	}
	same := func(got []exchange.Level, want []byLevel, side string) {
		want = want[:min(len(want), exchange.TopK)]
		if len(got) != len(want) {
			t.Fatalf("%s: %d %s published, the reading has %d", what, len(got), side, len(want))
		}
		for k := range got {
			px, qty := decimal.New(int64(got[k].Px), -int32(sc.Px)), decimal.New(int64(got[k].Qty), -int32(sc.Qty))
			if !px.Equal(want[k].px) || !qty.Equal(want[k].qty) {
				t.Fatalf("%s: %s level %d is %s@%s, the reading has %s@%s", what, side, k, qty, px, want[k].qty, want[k].px)
			}
		}
	}
	same(ev.Bids[:ev.NBids], b.bids, "bids")
	same(ev.Asks[:ev.NAsks], b.asks, "asks")
}

// byReplay replays one captured connection through a session of depth and
// channel over insts, checking every event; it returns the messages of each
// book applied and the session's stats.
func byReplay(t *testing.T, frames []exchangetest.Capture, channel string, depth int, insts []exchange.Instrument) (map[string]int, *exchange.FeedStats) {
	t.Helper()
	stats := new(exchange.FeedStats)
	ring := ringbuf.NewMPSC[exchange.BookTop](1 << 12)
	cfg := Config{Venue: 3, Name: "bybit-real", Instruments: insts, Channel: channel, Depth: depth, Ring: ring,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), stats: stats}
	pub := feed.New(ring, stats, nil, 1, len(insts), int64(time.Hour))
	s := NewSession(&cfg, pub)
	drain := func() []exchange.BookTop {
		var out []exchange.BookTop
		var ev exchange.BookTop
		for ring.TryPop(&ev) {
			out = append(out, ev)
		}
		return out
	}
	s.Start(frames[0].RecvNs - int64(time.Second)) // connected and subscribed before the first frame
	var req []byte
	for {
		var ok bool
		if req, ok = s.NextRequest(req[:0]); !ok {
			break
		}
	}
	drain() // the stale "connecting" events of Start
	books := map[string]*byBook{}
	bySym := map[string]exchange.Instrument{}
	for _, in := range insts {
		books[in.Symbol], bySym[in.Symbol] = &byBook{}, in
	}
	applied := map[string]int{}
	prefix := fmt.Sprintf("orderbook.%d.", max(depth, 1))
	for _, f := range frames {
		s.HandleFrame(f.Data, f.RecvNs)
		evs := drain()
		var head struct{ Topic string }
		if err := json.Unmarshal(f.Data, &head); err != nil {
			t.Fatalf("capture frame is not JSON: %v", err)
		}
		sym, ours := strings.CutPrefix(head.Topic, prefix)
		b := books[sym]
		if !ours || b == nil {
			if len(evs) != 0 {
				t.Fatalf("%q published %+v", head.Topic, evs)
			}
			continue
		}
		var m byMsg
		if err := json.Unmarshal(f.Data, &m); err != nil {
			t.Fatalf("%s: %v", head.Topic, err)
		}
		b.apply(t, &m, max(depth, 1))
		applied[sym]++
		if len(evs) != 1 {
			t.Fatalf("%s message %d: %d events (rejects: syntax %d sequence %d number %d)", m.Topic, applied[sym], len(evs),
				stats.Rejects(exchange.RejectSyntax), stats.Rejects(exchange.RejectSequence), stats.Rejects(exchange.RejectNumber))
		}
		byCheck(t, &evs[0], b, bySym[sym].Scale, fmt.Sprintf("%s message %d", m.Topic, applied[sym]))
	}
	for _, rr := range []exchange.RejectReason{exchange.RejectSyntax, exchange.RejectNumber, exchange.RejectSequence, exchange.RejectCrossed, exchange.RejectUnexpected} {
		if n := stats.Rejects(rr); n != 0 {
			t.Fatalf("%d %s rejects", n, rr)
		}
	}
	if stats.Gaps.Load() != 0 || s.NeedReconnect() {
		t.Fatalf("gaps %d, reconnect %v", stats.Gaps.Load(), s.NeedReconnect())
	}
	return applied, stats
}

// TestRealBybitSpot replays the captured spot connection (orderbook.200
// BTCUSDT and ETHUSDT: 1 snapshot and 299/249 deltas each, with cts, next
// to tickers, publicTrade and kline topics) at the scale the instruments
// fetch decides.
func TestRealBybitSpot(t *testing.T) {
	c := loadBYCapture(t)
	insts := c.spotInstruments(t, "BTCUSDT", "ETHUSDT")
	if insts[0].Scale != (num.Scale{Px: 1, Qty: 6}) || insts[1].Scale != (num.Scale{Px: 2, Qty: 5}) {
		t.Fatalf("scales %+v %+v", insts[0].Scale, insts[1].Scale)
	}
	applied, stats := byReplay(t, c.conns["BYBIT.ws.3"], ChannelDepth, 200, insts)
	if applied["BTCUSDT"] != 300 || applied["ETHUSDT"] != 250 {
		t.Fatalf("applied %v", applied)
	}
	// The 124 frames of topics the session did not subscribe: ignored.
	if n := stats.Rejects(exchange.RejectUnknownSymbol); n != 124 {
		t.Fatalf("%d frames of other topics", n)
	}
}

// TestRealBybitLinear replays the captured linear connection: the same
// orderbook.200 protocol for four perpetuals (1594 deltas).
func TestRealBybitLinear(t *testing.T) {
	c := loadBYCapture(t)
	syms := []string{"BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"}
	applied, _ := byReplay(t, c.conns["BYBIT.ws.2"], ChannelDepth, 200, c.linearInstruments(t, syms...))
	total := 0
	for _, s := range syms {
		if applied[s] < 2 {
			t.Fatalf("%s: %d messages", s, applied[s])
		}
		total += applied[s]
	}
	if total != 4+1594 {
		t.Fatalf("%d messages applied, want 1598", total)
	}
}

// TestRealBybitMessages: the captured orderbook.1 messages (spot 2025 and
// 2026, linear 2026, each with cts) through a bbo session.
func TestRealBybitMessages(t *testing.T) {
	for _, c := range []struct {
		name string
		sc   num.Scale
	}{
		{"comment_orderbook1_btcusdt_spot_2025-06.json", num.Scale{Px: 1, Qty: 6}},
		{"comment_orderbook1_btcusdt_spot_2026-03.json", num.Scale{Px: 1, Qty: 6}},
		{"comment_orderbook1_btcusdt_linear_2026-08.json", num.Scale{Px: 1, Qty: 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			frame := exchangetest.ReadRealFrame(t, "bybit/"+c.name)
			insts := []exchange.Instrument{{ID: 1, Venue: 3, Symbol: "BTCUSDT", Scale: c.sc}}
			applied, _ := byReplay(t, []exchangetest.Capture{{RecvNs: 1, Data: frame}}, ChannelBBO, 1, insts)
			if applied["BTCUSDT"] != 1 {
				t.Fatalf("applied %v", applied)
			}
		})
	}
}
