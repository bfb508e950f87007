package okx

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/num"
	"arb/ringbuf"
)

const testVenue exchange.VenueID = 3

func testInst(id exchange.InstrumentID, sym string, px, qty uint8) exchange.Instrument {
	return exchange.Instrument{ID: id, Venue: testVenue, Symbol: sym, Canonical: sym, Scale: num.Scale{Px: px, Qty: qty}}
}

// docMember returns the compact JSON of a member of a docs file, e.g.
// docMember(t, "ws_books_snapshot_push.json", "payload").
func docMember(t testing.TB, file string, path ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "docs", file))
	if err != nil {
		t.Fatal(err)
	}
	cur := raw
	for _, p := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cur, &m); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var ok bool
		if cur, ok = m[p]; !ok {
			t.Fatalf("%s: no member %q", file, p)
		}
	}
	var out bytes.Buffer
	if err := json.Compact(&out, cur); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// harness drives a Session directly, as the tests and the lead's benchmark do.
type harness struct {
	t     testing.TB
	cfg   Config
	ring  *ringbuf.MPSC[exchange.BookTop]
	stats *exchange.FeedStats
	owner *feed.Owner
	pub   *feed.Publisher
	sess  *Session
	logs  *bytes.Buffer
	now   int64
}

func newHarness(t testing.TB, channel string, agemax time.Duration, insts ...exchange.Instrument) *harness {
	t.Helper()
	return newHarnessRing(t, 1<<12, channel, agemax, insts...)
}

// newHarnessRing is newHarness with a ring of ringSize slots (fuzz targets
// use a small one: a large ring dominates the cost of each execution).
func newHarnessRing(t testing.TB, ringSize int, channel string, agemax time.Duration, insts ...exchange.Instrument) *harness {
	t.Helper()
	h := &harness{t: t, ring: ringbuf.NewMPSC[exchange.BookTop](ringSize), stats: new(exchange.FeedStats), logs: new(bytes.Buffer), now: 1_700_000_000_000_000_000}
	h.cfg = Config{Venue: testVenue, Name: "okx-test", Instruments: insts, Channel: channel, AgeMax: agemax, Ring: h.ring,
		Stats: h.stats, Logger: slog.New(slog.NewTextHandler(h.logs, nil)), Now: func() int64 { return h.now }}
	h.pub = feed.New(h.ring, h.stats, nil, 1, len(insts), int64(h.cfg.withDefaults().AgeMax/3))
	h.sess = NewSession(&h.cfg, h.pub)
	return h
}

func (h *harness) frame(b []byte) { h.sess.HandleFrame(b, h.now) }

func (h *harness) drain() []exchange.BookTop {
	var out []exchange.BookTop
	var ev exchange.BookTop
	for h.ring.TryPop(&ev) {
		out = append(out, ev)
	}
	return out
}

// booksFrame builds a books push the way OKX writes it.
func booksFrame(sym, action string, bids, asks [][2]string, prev, seq int64, checksum int32, tsMillis int64) []byte {
	type d struct {
		Asks     [][]string `json:"asks"`
		Bids     [][]string `json:"bids"`
		TS       string     `json:"ts"`
		Checksum int32      `json:"checksum"`
		Prev     int64      `json:"prevSeqId"`
		Seq      int64      `json:"seqId"`
	}
	lv := func(in [][2]string) [][]string {
		out := [][]string{}
		for _, l := range in {
			out = append(out, []string{l[0], l[1], "0", "1"})
		}
		return out
	}
	f := struct {
		Arg    map[string]string `json:"arg"`
		Action string            `json:"action"`
		Data   []d               `json:"data"`
	}{map[string]string{"channel": "books", "instId": sym}, action,
		[]d{{lv(asks), lv(bids), itoa(tsMillis), checksum, prev, seq}}}
	b, _ := json.Marshal(f) // map keys sort as OKX orders them: channel, instId
	return b
}

func itoa(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// refChecksumOf is the reference checksum of sides given best first.
func refChecksumOf(bids, asks [][2]string) int32 {
	conv := func(in [][2]string) []refLevel {
		var out []refLevel
		for _, l := range in {
			out = append(out, refLevel{pxRaw: l[0], szRaw: l[1]})
		}
		return out
	}
	return int32(refCRC32([]byte(refCheckString(conv(bids), conv(asks)))))
}

type feedOwner = feed.Owner

// newPublisher returns a publisher of generation gen behind h.owner.
func newPublisher(h *harness, gen uint64) *feed.Publisher {
	return feed.New(h.ring, h.stats, h.owner, gen, len(h.cfg.Instruments), int64(h.cfg.withDefaults().AgeMax/3))
}
