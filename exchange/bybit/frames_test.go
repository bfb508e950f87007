package bybit

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/ringbuf"
)

// Helpers shared by the unit, allocation, fuzz and benchmark tests.

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testConfig is a depth-50 config for BTCUSDT (px 2, qty 6) and ETHUSDT.
func testConfig(ring *ringbuf.MPSC[exchange.BookTop]) Config {
	return Config{
		Venue: 2, Name: "bybit-test", WSURL: "ws://127.0.0.1:1", Ring: ring,
		Instruments: []exchange.Instrument{
			{ID: 1, Venue: 2, Symbol: "BTCUSDT", Scale: num.Scale{Px: 2, Qty: 6}},
			{ID: 2, Venue: 2, Symbol: "ETHUSDT", Scale: num.Scale{Px: 2, Qty: 5}},
		},
	}
}

// liveSession returns a session whose BTCUSDT book was built from
// testdata/own_snapshot_before_doc_delta.json, with u = uBase + 177400506
// so that uPatcher(docs delta, 177400506).next continues it.
func liveSession(t testing.TB, cfg *Config) *Session {
	t.Helper()
	s := NewSession(cfg, nil)
	s.Start(0)
	for _, ok := s.NextRequest(nil); ok; _, ok = s.NextRequest(nil) {
	}
	snap := newUPatcher(t, readTestdata(t, "own_snapshot_before_doc_delta.json"), 177400506)
	s.HandleFrame(snap.b, 1)
	if !s.Live(0) {
		t.Fatal("snapshot not applied")
	}
	return s
}

// uPatcher rewrites the u field of a frame in place, so one frame can be
// applied again and again as a new update (fixed width: no allocation). u
// is kept at 12 digits (≥ uBase), as JSON forbids leading zeros.
type uPatcher struct {
	b          []byte
	start, end int
	u          uint64
}

func newUPatcher(t testing.TB, frame []byte, from uint64) *uPatcher {
	t.Helper()
	s := string(frame)
	key := `"u": `
	i := strings.Index(s, key)
	if i < 0 {
		key = `"u":`
		i = strings.Index(s, key)
	}
	if i < 0 {
		t.Fatal("no u field")
	}
	start := i + len(key)
	end := start
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	// Widen the number to 12 digits so increments never change the length.
	b := append([]byte(s[:start]), strings.Repeat("0", 12)...)
	b = append(b, s[end:]...)
	p := &uPatcher{b: b, start: start, end: start + 12}
	p.set(uBase + from)
	return p
}

// uBase makes every patched u 12 digits long.
const uBase = 100_000_000_000

func (p *uPatcher) set(u uint64) {
	p.u = u
	for i := p.end - 1; i >= p.start; i-- {
		p.b[i] = byte('0' + u%10)
		u /= 10
	}
}

// next advances u by one and returns the frame.
func (p *uPatcher) next() []byte {
	p.set(p.u + 1)
	return p.b
}

// snapshot50 returns a 50-level BTCUSDT snapshot frame in Bybit's format.
func snapshot50(u uint64) []byte {
	var b strings.Builder
	b.WriteString(`{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1687940967400,"data":{"s":"BTCUSDT","b":[`)
	for i := 0; i < 50; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`["` + string(num.AppendFixed(nil, 3_000_000-int64(i)*10, 2)) + `","` + strconv.Itoa(1+i%7) + `.125"]`)
	}
	b.WriteString(`],"a":[`)
	for i := 0; i < 50; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`["` + string(num.AppendFixed(nil, 3_000_010+int64(i)*10, 2)) + `","` + strconv.Itoa(1+i%5) + `.5"]`)
	}
	b.WriteString(`],"u":` + strconv.FormatUint(u, 10) + `,"seq":66544703300},"cts":1687940967398}`)
	return []byte(b.String())
}

// bboFrame is an orderbook.1 snapshot in Bybit's format.
const bboFrame = `{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1687940967466,"data":{"s":"BTCUSDT","b":[["30247.20","30.028"]],"a":[["30248.70","0.892"]],"u":177400507,"seq":66544703342},"cts":1687940967464}`

func drainRing(r *ringbuf.MPSC[exchange.BookTop]) (n int, last exchange.BookTop) {
	var ev exchange.BookTop
	for r.TryPop(&ev) {
		n++
		last = ev
	}
	return n, last
}

var msec = int64(time.Millisecond)
