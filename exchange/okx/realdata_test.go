package okx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"sort"
	"strconv"
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

// The real-data suite (issue 9): what OKX really sent, captured by other
// public projects (../shared/realframes, see its SOURCES.md), replayed
// through the session as the feed drives it — every frame at its recorded
// receive time, Tick after each — and every published book compared with
// an independent reading of the same bytes (orBook: encoding/json,
// shopspring/decimal, sorted slices, OKX's CRC32 over the wire strings).
// OKX's own oracle is the checksum of every push: the reading reproduces
// each one, so the reading is the venue's book.
//
// The captured connection (2022-05-13) predates seqId/prevSeqId: its books
// pushes are reported as the obsolete format they are. To replay it as OKX
// sends books today, the test gives the pushes of each book an unbroken
// seqId chain (inserted before the closing of the data element; every byte
// the checksum covers is untouched).

const orWS = "okx/cryptofeed_OKX.ws.1.0"

var orSyms = []string{"BTC-USDT", "BTC-USD-220527", "UNI-USD-SWAP"}

// orCapture is the captured connection's received frames.
func orCapture(t *testing.T) []exchangetest.Capture {
	t.Helper()
	url, msgs, err := exchangetest.ReadCryptofeedWS(exchangetest.ReadRealFrame(t, orWS))
	if err != nil || url != "wss://ws.okx.com:8443/ws/v5/public" {
		t.Fatalf("%q %v", url, err)
	}
	var out []exchangetest.Capture
	for _, m := range msgs {
		if !m.Sent {
			out = append(out, m)
		}
	}
	if len(out) != 410 {
		t.Fatalf("%d received frames, want 410", len(out))
	}
	return out
}

// orInstruments reads the session's instruments answers (SPOT, SWAP,
// FUTURES) through ParseInstruments, from a configured scale of 0 and 0:
// the scale decision widens each to its tickSz and lotSz.
func orInstruments(t *testing.T) []exchange.Instrument {
	t.Helper()
	answers, err := exchangetest.ReadCryptofeedHTTP(exchangetest.ReadRealFrame(t, "okx/cryptofeed_OKX.0"))
	if err != nil {
		t.Fatal(err)
	}
	var out []exchange.Instrument
	for k, sym := range orSyms {
		want := []exchange.Instrument{{ID: exchange.InstrumentID(k + 1), Venue: testVenue, Symbol: sym}}
		var got []exchange.Instrument
		for _, a := range answers[len(answers)-5:] { // the last fetch before the connection
			if g, err := ParseInstruments(a.Data, "okx", want); err == nil {
				got = g
			}
		}
		if got == nil {
			t.Fatalf("%s in no instruments answer", sym)
		}
		out = append(out, got[0])
	}
	want := []num.Scale{{Px: 1, Qty: 8}, {Px: 1, Qty: 0}, {Px: 3, Qty: 0}}
	for k := range out {
		if out[k].Scale != want[k] {
			t.Fatalf("%s: scale %+v, want %+v (tickSz and lotSz)", out[k].Symbol, out[k].Scale, want[k])
		}
	}
	return out
}

// orChain gives the books pushes of each instrument an unbroken
// seqId/prevSeqId chain (snapshot: prevSeqId -1), skipping the pushes
// whose index (per instrument, 0 = snapshot) drop returns true.
func orChain(t *testing.T, frames []exchangetest.Capture, drop func(inst string, k int) bool) []exchangetest.Capture {
	t.Helper()
	seq := map[string]int64{}
	idx := map[string]int{}
	var out []exchangetest.Capture
	for _, f := range frames {
		var head struct {
			Arg struct {
				Channel string
				InstID  string `json:"instId"`
			}
			Action string
			Data   []json.RawMessage
		}
		if json.Unmarshal(f.Data, &head) != nil || head.Arg.Channel != "books" || len(head.Data) != 1 {
			out = append(out, f)
			continue
		}
		inst := head.Arg.InstID
		k := idx[inst]
		idx[inst]++
		if drop != nil && drop(inst, k) {
			continue
		}
		end := bytes.LastIndex(f.Data, []byte("}]}"))
		if end < 0 {
			t.Fatalf("unexpected push %s", f.Data)
		}
		prev := seq[inst]
		if head.Action == "snapshot" {
			prev, seq[inst] = -1, 1000*int64(len(seq)+1)
		} else {
			seq[inst]++
		}
		g := f
		g.Data = slices.Concat(f.Data[:end], []byte(fmt.Sprintf(`,"prevSeqId":%d,"seqId":%d`, prev, seq[inst])), f.Data[end:])
		out = append(out, g)
	}
	return out
}

// orLevel is one level of the reading: its decimal price and the exact
// wire strings (the checksum's input).
type orLevel struct {
	px     decimal.Decimal
	pxRaw  string
	szRaw  string
	szDec  decimal.Decimal
	orders string
}

// orBook is the independent reading of one books (or full-state) book.
type orBook struct {
	known      bool
	seq        int64
	bids, asks []orLevel // best first, every level received (no depth limit)
}

func (b *orBook) set(bid bool, l []string) {
	side := &b.asks
	if bid {
		side = &b.bids
	}
	px := decimal.RequireFromString(l[0])
	sz := decimal.RequireFromString(l[1])
	i := sort.Search(len(*side), func(k int) bool {
		if bid {
			return (*side)[k].px.LessThanOrEqual(px)
		}
		return (*side)[k].px.GreaterThanOrEqual(px)
	})
	found := i < len(*side) && (*side)[i].px.Equal(px)
	switch {
	case sz.IsZero() && found:
		*side = slices.Delete(*side, i, i+1)
	case sz.IsZero():
	case found:
		(*side)[i] = orLevel{px, l[0], l[1], sz, l[3]}
	default:
		*side = slices.Insert(*side, i, orLevel{px, l[0], l[1], sz, l[3]})
	}
}

// checksum is OKX's CRC32 of the top 25 levels per side, interleaved
// bid:ask, from the wire strings, as a signed 32-bit integer — computed
// here without the session's code.
func (b *orBook) checksum() int32 {
	var parts []string
	for k := 0; k < 25; k++ {
		if k < len(b.bids) {
			parts = append(parts, b.bids[k].pxRaw, b.bids[k].szRaw)
		}
		if k < len(b.asks) {
			parts = append(parts, b.asks[k].pxRaw, b.asks[k].szRaw)
		}
	}
	return int32(crc32.ChecksumIEEE([]byte(strings.Join(parts, ":"))))
}

// orPush is one books-family push as encoding/json reads it.
type orPush struct {
	Arg struct {
		Channel string
		InstID  string `json:"instId"`
	}
	Action string
	Data   []struct {
		Asks, Bids [][]string
		TS         string
		Checksum   *int64
		SeqID      *int64 `json:"seqId"`
		PrevSeqID  *int64 `json:"prevSeqId"`
	}
}

// apply reads one push into the reading; it returns the push's checksum
// check (0: none sent) and whether the push was for a book channel.
func (b *orBook) apply(t *testing.T, raw []byte) (push orPush) {
	t.Helper()
	if err := json.Unmarshal(raw, &push); err != nil {
		t.Fatalf("capture frame is not JSON: %v", err)
	}
	d := push.Data[0]
	if push.Action != "update" { // snapshot, or a full-state push (bbo-tbt, books5)
		b.bids, b.asks = nil, nil
	}
	for _, l := range d.Bids {
		b.set(true, l)
	}
	for _, l := range d.Asks {
		b.set(false, l)
	}
	if d.SeqID != nil {
		b.seq = *d.SeqID
	}
	b.known = true
	return push
}

// orCheck compares a published event with the reading, level by level.
func orCheck(t *testing.T, ev *exchange.BookTop, b *orBook, sc num.Scale, what string) {
	t.Helper()
	if ev.Stale() || int64(ev.Seq) != b.seq {
		t.Fatalf("%s: published %+v, the reading is at seqId %d", what, ev, b.seq)
	}
	same := func(got []exchange.Level, want []orLevel, side string) {
		want = want[:min(len(want), exchange.TopK)]
		if len(got) != len(want) {
			t.Fatalf("%s: %d %s published, the reading has %d", what, len(got), side, len(want))
		}
		for k := range got {
			px, sz := decimal.New(int64(got[k].Px), -int32(sc.Px)), decimal.New(int64(got[k].Qty), -int32(sc.Qty))
			if !px.Equal(want[k].px) || !sz.Equal(want[k].szDec) {
				t.Fatalf("%s: %s level %d is %s@%s, the reading has %s@%s", what, side, k, sz, px, want[k].szRaw, want[k].pxRaw)
			}
		}
	}
	same(ev.Bids[:ev.NBids], b.bids, "bids")
	same(ev.Asks[:ev.NAsks], b.asks, "asks")
}

// orRun is a session over the capture's instruments, driven as the feed
// drives it (SubscribeRequests, then HandleFrame and Tick per frame).
type orRun struct {
	s     *Session
	stats *exchange.FeedStats
	ring  *ringbuf.MPSC[exchange.BookTop]
	insts []exchange.Instrument
	logs  *bytes.Buffer
}

func newORRun(t *testing.T, channel string, depth int, insts []exchange.Instrument, start int64) *orRun {
	t.Helper()
	r := &orRun{stats: new(exchange.FeedStats), ring: ringbuf.NewMPSC[exchange.BookTop](1 << 12), insts: insts, logs: new(bytes.Buffer)}
	cfg := Config{Venue: testVenue, Name: "okx-real", Instruments: insts, Channel: channel, Depth: depth, Ring: r.ring,
		Stats: r.stats, Logger: slog.New(slog.NewTextHandler(r.logs, nil)), AgeMax: 5 * time.Second}
	pub := feed.New(r.ring, r.stats, nil, 1, len(insts), int64(time.Hour))
	r.s = NewSession(&cfg, pub)
	r.s.SubscribeRequests(start)
	return r
}

func (r *orRun) drain() []exchange.BookTop {
	var out []exchange.BookTop
	var ev exchange.BookTop
	for r.ring.TryPop(&ev) {
		out = append(out, ev)
	}
	return out
}

// TestRealOKXObsoleteFormat: the captured 2022 connection as it is. Its
// books pushes carry no seqId: each of the 290 is reported as the obsolete
// format (counted, never published fresh); the tickers and trades pushes,
// channels the session did not subscribe, are ignored.
func TestRealOKXObsoleteFormat(t *testing.T) {
	frames := orCapture(t)
	r := newORRun(t, ChannelBooks, 0, orInstruments(t), frames[0].RecvNs)
	for _, f := range frames {
		r.s.HandleFrame(f.Data, f.RecvNs)
		r.s.Tick(f.RecvNs)
		for _, ev := range r.drain() {
			if !ev.Stale() {
				t.Fatalf("published a fresh book from the obsolete format: %+v", ev)
			}
		}
	}
	if n := r.stats.Rejects(exchange.RejectObsolete); n != 290 {
		t.Fatalf("%d pushes reported obsolete, want 290", n)
	}
	// Logged as such (rate limited: the first one at least).
	if !strings.Contains(r.logs.String(), "push without seqId") || !strings.Contains(r.logs.String(), "reason=obsolete_format") {
		t.Fatalf("log: %s", r.logs.String())
	}
	if n := r.stats.Rejects(exchange.RejectUnknownSymbol); n != 102 {
		t.Fatalf("%d tickers/trades pushes ignored, want 102", n)
	}
	for _, rr := range []exchange.RejectReason{exchange.RejectSyntax, exchange.RejectNumber, exchange.RejectSequence} {
		if n := r.stats.Rejects(rr); n != 0 {
			t.Fatalf("%d %s rejects", n, rr)
		}
	}
}

// orReplay replays frames (with their chain) at the given Depth, checking
// every published book against the reading and that the session fails a
// checksum exactly where the reading's CRC32 differs from OKX's. It returns
// the run and, per instrument, the pushes applied and the first push index
// (per instrument) whose checksum failed (-1: none).
func orReplay(t *testing.T, frames []exchangetest.Capture, depth int) (*orRun, map[string]int, map[string]int) {
	t.Helper()
	insts := orInstruments(t)
	r := newORRun(t, ChannelBooks, depth, insts, frames[0].RecvNs)
	books := map[string]*orBook{}
	idx := map[exchange.InstrumentID]int{}
	for k, in := range insts {
		books[in.Symbol] = &orBook{}
		idx[in.ID] = k
	}
	applied, failedAt := map[string]int{}, map[string]int{}
	for _, s := range orSyms {
		failedAt[s] = -1
	}
	for _, f := range frames {
		var head orPush
		isBooks := json.Unmarshal(f.Data, &head) == nil && head.Arg.Channel == "books" && len(head.Data) == 1
		before := r.stats.ChecksumFailures.Load()
		r.s.HandleFrame(f.Data, f.RecvNs)
		r.s.Tick(f.RecvNs)
		evs := r.drain()
		if !isBooks {
			if len(evs) != 0 {
				t.Fatalf("a push of another channel published %+v", evs)
			}
			continue
		}
		sym := head.Arg.InstID
		b := books[sym]
		if failedAt[sym] >= 0 {
			continue // the book is being rebuilt; the capture has no second snapshot
		}
		push := b.apply(t, f.Data)
		sum := push.Data[0].Checksum
		if sum == nil {
			t.Fatalf("%s push %d has no checksum", sym, applied[sym])
		}
		// The session fails a checksum exactly when the independent reading
		// of the same pushes disagrees with OKX's checksum.
		readingOK := int64(b.checksum()) == *sum
		if failed := r.stats.ChecksumFailures.Load() != before; failed == readingOK {
			t.Fatalf("%s push %d: session checksum failure %v, the reading's checksum %d, OKX's %d", sym, applied[sym], failed, b.checksum(), *sum)
		}
		if !readingOK {
			failedAt[sym] = applied[sym]
			if len(evs) != 1 || !evs[0].Stale() || evs[0].Cause != exchange.CauseChecksum {
				t.Fatalf("%s: checksum failure published %+v", sym, evs)
			}
			applied[sym]++
			continue
		}
		if len(evs) != 1 {
			t.Fatalf("%s push %d: %d events", sym, applied[sym], len(evs))
		}
		in := insts[idx[evs[0].Inst]]
		orCheck(t, &evs[0], b, in.Scale, fmt.Sprintf("%s push %d", sym, applied[sym]))
		applied[sym]++
	}
	return r, applied, failedAt
}

// TestRealOKXDepth is issue 9's second defect: OKX's "books" sends 400
// levels and the checksum covers the top 25; a book that kept fewer lost
// levels that later moved into the top 25 (OKX never resends them): at
// depth 25 this session failed the checksum on every book within 2–12
// updates. Now, at Depth 25 as at the default, on an unbroken sequence,
// every push is applied, its checksum matches and its book equals the
// reading.
func TestRealOKXDepth(t *testing.T) {
	frames := orChain(t, orCapture(t), nil)
	for _, depth := range []int{MinBooksDepth, 26, 30, 50, 0} {
		t.Run(fmt.Sprintf("depth%d", depth), func(t *testing.T) {
			r, applied, failedAt := orReplay(t, frames, depth)
			if n := r.stats.ChecksumFailures.Load(); n != 0 {
				t.Fatalf("%d checksum failures (first at %v)", n, failedAt)
			}
			want := map[string]int{"BTC-USDT": 98, "BTC-USD-220527": 99, "UNI-USD-SWAP": 93}
			for sym, n := range want {
				if applied[sym] != n {
					t.Fatalf("%s: %d pushes applied, want %d", sym, applied[sym], n)
				}
			}
			if !r.s.Synced() || r.stats.Gaps.Load() != 0 {
				t.Fatalf("synced %v gaps %d", r.s.Synced(), r.stats.Gaps.Load())
			}
		})
	}
}

// TestRealOKXRemovedUpdate: the checksum still catches what it exists for.
// One update that changes the top 25 levels is removed and the seqId chain
// closed over the hole, so only the checksum can tell: at Depth 25 the
// session reports a checksum failure at the next push of that book (and
// none before), for each book.
func TestRealOKXRemovedUpdate(t *testing.T) {
	capture := orCapture(t)
	for _, sym := range orSyms {
		t.Run(sym, func(t *testing.T) {
			// The first update whose removal changes the book's top 25 at
			// the push after it (read from the checksums: the reading
			// without it would disagree with OKX's next checksum).
			k := orTopChanging(t, capture, sym)
			frames := orChain(t, capture, func(inst string, i int) bool { return inst == sym && i == k })
			r, _, failedAt := orReplay(t, frames, MinBooksDepth)
			if failedAt[sym] != k || r.stats.ChecksumFailures.Load() != 1 {
				t.Fatalf("update %d of %s removed: first checksum failure at push %v, %d failures", k, sym, failedAt, r.stats.ChecksumFailures.Load())
			}
			for _, other := range orSyms {
				if other != sym && failedAt[other] >= 0 {
					t.Fatalf("%s failed too, at %d", other, failedAt[other])
				}
			}
		})
	}
}

// orTopChanging returns the index (per instrument, 0 = snapshot) of the
// first update of sym whose removal makes the reading's checksum at the
// next push differ from OKX's.
func orTopChanging(t *testing.T, frames []exchangetest.Capture, sym string) int {
	t.Helper()
	var pushes [][]byte
	for _, f := range frames {
		var head orPush
		if json.Unmarshal(f.Data, &head) == nil && head.Arg.Channel == "books" && head.Arg.InstID == sym && len(head.Data) == 1 {
			pushes = append(pushes, f.Data)
		}
	}
	for k := 1; k+1 < len(pushes); k++ {
		b := &orBook{}
		for i := 0; i <= k+1; i++ {
			if i != k {
				b.apply(t, pushes[i])
			}
		}
		var next orPush
		json.Unmarshal(pushes[k+1], &next)
		if int64(b.checksum()) != *next.Data[0].Checksum {
			return k
		}
	}
	t.Fatalf("%s: no update changes the top 25", sym)
	return -1
}

// TestRealOKXMessages: the single captured messages, each through the
// session of its channel, against the reading of the same bytes.
func TestRealOKXMessages(t *testing.T) {
	read := func(t *testing.T, name string) []byte { return exchangetest.ReadRealFrame(t, "okx/"+name) }
	inst := func(sym string, px, qty uint8) []exchange.Instrument {
		return []exchange.Instrument{testInst(1, sym, px, qty)}
	}
	// fresh replays frames through a session of channel and checks each
	// publishes the reading's book.
	fresh := func(t *testing.T, channel string, insts []exchange.Instrument, frames ...[]byte) {
		t.Helper()
		r := newORRun(t, channel, 0, insts, 1)
		b := &orBook{}
		for k, f := range frames {
			push := b.apply(t, f)
			if sum := push.Data[0].Checksum; sum != nil && *sum != 0 && int64(b.checksum()) != *sum {
				t.Fatalf("frame %d: the reading's checksum %d, OKX's %d", k, b.checksum(), *sum)
			}
			r.s.HandleFrame(f, int64(k+2))
			evs := r.drain()
			if len(evs) != 1 {
				t.Fatalf("frame %d: %d events (rejects: syntax %d number %d obsolete %d)", k, len(evs),
					r.stats.Rejects(exchange.RejectSyntax), r.stats.Rejects(exchange.RejectNumber), r.stats.Rejects(exchange.RejectObsolete))
			}
			orCheck(t, &evs[0], b, insts[0].Scale, fmt.Sprintf("frame %d", k))
		}
	}
	// obsolete checks a push without seqId is reported as such.
	obsolete := func(t *testing.T, channel string, insts []exchange.Instrument, frame []byte) {
		t.Helper()
		r := newORRun(t, channel, 0, insts, 1)
		r.s.HandleFrame(frame, 2)
		for _, ev := range r.drain() {
			if !ev.Stale() {
				t.Fatalf("published %+v", ev)
			}
		}
		if r.stats.Rejects(exchange.RejectObsolete) != 1 || r.stats.Rejects(exchange.RejectSyntax) != 0 {
			t.Fatalf("obsolete %d syntax %d", r.stats.Rejects(exchange.RejectObsolete), r.stats.Rejects(exchange.RejectSyntax))
		}
	}
	withSeq := func(b []byte, prev, seq int64) []byte {
		end := bytes.LastIndex(b, []byte("}]}"))
		return slices.Concat(b[:end], []byte(`,"prevSeqId":`+strconv.FormatInt(prev, 10)+`,"seqId":`+strconv.FormatInt(seq, 10)), b[end:])
	}
	t.Run("books snapshot with checksum, 2022 (gocryptotrader)", func(t *testing.T) {
		f := bytes.TrimSpace(read(t, "gct_books_snapshot_checksum_2022.json"))
		obsolete(t, ChannelBooks, inst("BTC-USDT", 8, 8), f)
		// As OKX sends it today (a seqId), the snapshot and its checksum
		// (-1462286744, reproduced by the reading) are accepted.
		fresh(t, ChannelBooks, inst("BTC-USDT", 8, 8), withSeq(f, -1, 77))
	})
	t.Run("books snapshot and update, trimmed, no checksum, 2026 (bytex)", func(t *testing.T) {
		fresh(t, ChannelBooks, inst("BTC-USDT", 1, 8), read(t, "bytex_books_snapshot_trimmed_2026-09.json"), read(t, "bytex_books_update_trimmed_2026-09.json"))
	})
	t.Run("books5 with seqId, 2023 (gocryptotrader)", func(t *testing.T) {
		fresh(t, ChannelBooks5, inst("OKB-USDT", 10, 0), read(t, "gct_books5_seqid_2023.json"))
	})
	t.Run("books5, 2026 (bytex)", func(t *testing.T) {
		fresh(t, ChannelBooks5, inst("BTC-USDT", 1, 8), read(t, "bytex_books5_btcusdt_2026-09.json"))
	})
	t.Run("books5 without seqId, 2022", func(t *testing.T) {
		obsolete(t, ChannelBooks5, inst("BTC-USDT", 1, 8), read(t, "cmp_books5_btcusdt_2022.json"))
	})
	t.Run("bbo-tbt without seqId, 2022", func(t *testing.T) {
		obsolete(t, ChannelBBO, inst("BTC-USDT", 1, 8), read(t, "cmp_bbo_tbt_btcusdt_2022.json"))
	})
	for _, name := range []string{"comment_bbo_tbt_btcusdt_2024-10.json", "comment_bbo_tbt_btcusdt_2025-02.json", "comment_bbo_tbt_btcusdt_2025-06.json"} {
		t.Run("bbo-tbt "+name, func(t *testing.T) {
			fresh(t, ChannelBBO, inst("BTC-USDT", 1, 8), bytes.TrimSpace(read(t, name)))
		})
	}
}
