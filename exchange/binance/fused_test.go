package binance

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"arb/exchange"
)

// rawParser is the reference for the fused level path: the same parser with
// the session's stream table but no scales, so it routes like the session
// and never fuses (levels are offsets, converted after routing), and never
// takes the bookTicker layout path.
func rawParser(s *Session) *parser {
	p := newParser()
	p.setBooks(s.streams, nil)
	return &p
}

// TestFusedLevels: levels are converted while they are read exactly when
// the book is known before them (the envelope's "stream" first, as Binance
// sends it, or a REST snapshot for a given book), and the outcome — error,
// routing and levels — is always the reference (raw) parser's.
func TestFusedLevels(t *testing.T) {
	cfg := baseConfig("", 0, testInst("BTCUSDT", 1, 2, 5), testInst("ETHUSDT", 2, 3, 4), testInst("BNBBTC", 3, 8, 8))
	h := newHarness(t, cfg, 0)
	const data = `{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":5,"u":6,"b":[["60000.01","0.5"],["59999.5","1"]],"a":[["60000.02","0.0001"]]}`
	cases := []struct {
		name  string
		frame string
		fused bool // the levels of the accepted parse were fused
	}{
		{"stream first (the wire order)", `{"stream":"btcusdt@depth@100ms","data":` + data + `}`, true},
		{"other book of the table", `{"stream":"ethusdt@depth@100ms","data":` + data + `}`, true},
		{"data before stream", `{"data":` + data + `,"stream":"btcusdt@depth@100ms"}`, false},
		{"raw event", data, false},
		{"stream not ours", `{"stream":"solusdt@depth@100ms","data":` + data + `}`, false},
		{"a later stream names another book", `{"stream":"btcusdt@depth@100ms","data":` + data + `,"stream":"ethusdt@depth@100ms"}`, false},
		{"a later stream names the same book", `{"stream":"btcusdt@depth@100ms","data":` + data + `,"stream":"BTCUSDT@depth@100ms"}`, true},
		{"a later stream is not ours", `{"stream":"btcusdt@depth@100ms","data":` + data + `,"stream":"x"}`, false},
		{"too precise for the first book's scale", `{"stream":"btcusdt@depth@100ms","data":{"b":[["1.001","1"]],"a":[]}}`, false},
		{"bad number, then a shape error in the same level", `{"stream":"btcusdt@depth@100ms","data":{"b":[["x",1]],"a":[]}}`, false},
		{"bad number, then a shape error later", `{"stream":"btcusdt@depth@100ms","data":{"b":[["x","1"]],"a":[}}`, false},
		{"bad number in a side replaced by a duplicate", `{"stream":"btcusdt@depth@100ms","data":{"b":[["-1","1"]],"b":[["1","1"]],"a":[]}}`, false},
		{"zero price (refused after routing)", `{"stream":"btcusdt@depth@100ms","data":{"b":[["0","1"]],"a":[]}}`, true},
		{"too many levels", `{"stream":"btcusdt@depth@100ms","data":{"b":[` + string(bytes.Repeat([]byte(`["1","1"],`), maxLevels)) + `["1","1"]],"a":[]}}`, false},
		{"b and bids", `{"stream":"btcusdt@depth@100ms","data":{"b":[["1","1"]],"bids":[["1","1"]]}}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, ref := &h.s.p, rawParser(h.s)
			p.parseFrame([]byte(c.frame))
			ref.parseFrame([]byte(c.frame))
			if fused := p.bid.fix >= 0 || p.ask.fix >= 0; fused != c.fused {
				t.Errorf("fused %v, want %v", fused, c.fused)
			}
			if p.sc.Err() != ref.sc.Err() || p.m.f != ref.m.f || p.streamBook() != ref.streamBook() {
				t.Fatalf("parse: err %v flags %b book %d; reference: err %v flags %b book %d",
					p.sc.Err(), p.m.f, p.streamBook(), ref.sc.Err(), ref.m.f, ref.streamBook())
			}
			for i := range h.s.books {
				sc := h.s.books[i].inst.Scale
				if p.sc.Err() == nil && p.streamBook() >= 0 && i != p.streamBook() {
					continue // a session converts only for the routed book
				}
				gb, ga, gerr := p.levelsIn(i, sc)
				wb, wa, werr := ref.levelsIn(i, sc)
				if gerr != werr || gerr == nil && (fmtLevels(gb, sc) != fmtLevels(wb, sc) || fmtLevels(ga, sc) != fmtLevels(wa, sc)) {
					t.Fatalf("book %d: %v %s / %s; reference %v %s / %s", i,
						gerr, fmtLevels(gb, sc), fmtLevels(ga, sc), werr, fmtLevels(wb, sc), fmtLevels(wa, sc))
				}
			}
		})
	}
	t.Run("REST snapshot for a given book", func(t *testing.T) {
		// In BNBBTC's scale (8 decimals) it is fused; for the other books
		// the prices have too many decimals, the fused pass fails and the
		// raw one decides (RejectNumber in ApplySnapshot).
		body := readDoc(t, "rest_depth_snapshot_response.json")
		for i := range h.s.books {
			p, ref := &h.s.p, rawParser(h.s)
			p.parseBook(body, i)
			ref.parseBook(body, i)
			sc := h.s.books[i].inst.Scale
			fused := p.bid.fix == i && p.ask.fix == i
			gb, ga, gerr := p.levelsIn(i, sc)
			wb, wa, werr := ref.levelsIn(i, sc)
			if p.sc.Err() != nil || ref.sc.Err() != nil || fused != (i == 2) || gerr != werr || (i == 2) != (gerr == nil) ||
				gerr == nil && (len(gb) != 1 || len(ga) != 1 || fmtLevels(gb, sc) != fmtLevels(wb, sc) || fmtLevels(ga, sc) != fmtLevels(wa, sc)) {
				t.Fatalf("book %d: fused %v err %v %v %s / %s; reference %v %v %s / %s", i, fused, p.sc.Err(),
					gerr, fmtLevels(gb, sc), fmtLevels(ga, sc), ref.sc.Err(), werr, fmtLevels(wb, sc), fmtLevels(wa, sc))
			}
		}
	})
}

// diffHarness drives the session under test and a reference session that
// never fuses with the same inputs.
type diffHarness struct{ got, want *harness }

func newDiffHarness(t testing.TB, ch string) *diffHarness {
	d := &diffHarness{
		got:  newHarness(t, baseConfig(ch, 500, fuzzInsts...), int64(50e6)),
		want: newHarness(t, baseConfig(ch, 500, fuzzInsts...), int64(50e6)),
	}
	d.want.s.p.setBooks(d.want.s.streams, nil)
	d.want.s.p.tickers = false // nor take the bookTicker layout path
	return d
}

// compare fails if the sessions differ in anything observable: events,
// counters, the parser's error (which the rejection log names), and what
// was applied to which book.
func (d *diffHarness) compare(t *testing.T, op []byte, gotHooks, wantHooks []hookRec) {
	t.Helper()
	if g, w := d.got.s.p.sc.Err(), d.want.s.p.sc.Err(); g != w {
		t.Fatalf("op %q: parser error %v, reference %v", op, g, w)
	}
	if !reflect.DeepEqual(gotHooks, wantHooks) {
		t.Fatalf("op %q: applied %+v, reference %+v", op, gotHooks, wantHooks)
	}
	if g, w := d.got.drain(), d.want.drain(); !reflect.DeepEqual(g, w) {
		t.Fatalf("op %q: events\n %+v\nreference\n %+v", op, g, w)
	}
	gs, ws := &d.got.stats, &d.want.stats
	for r := exchange.RejectReason(0); r < 64; r++ {
		if gs.Rejects(r) != ws.Rejects(r) {
			t.Fatalf("op %q: %v rejects %d, reference %d", op, r, gs.Rejects(r), ws.Rejects(r))
		}
	}
	if gs.Messages.Load() != ws.Messages.Load() || gs.Gaps.Load() != ws.Gaps.Load() || gs.Resyncs.Load() != ws.Resyncs.Load() {
		t.Fatalf("op %q: counters differ", op)
	}
}

// runDiffOps applies one fuzz input (fuzzOps format) to both sessions.
func runDiffOps(t *testing.T, data []byte) {
	ch, ops := fuzzOps(data)
	if _, _, ok := channel(ch); !ok {
		ch = ""
	}
	if len(ops) > 256 {
		ops = ops[:256]
	}
	d := newDiffHarness(t, ch)
	var gotHooks, wantHooks []hookRec
	d.got.s.hook = func(r hookRec) { gotHooks = append(gotHooks, r) }
	d.want.s.hook = func(r hookRec) { wantHooks = append(wantHooks, r) }
	n := len(fuzzInsts)
	for k, op := range ops {
		ts := int64(k+1) * 1e6
		gotHooks, wantHooks = gotHooks[:0], wantHooks[:0]
		for _, h := range []*harness{d.got, d.want} {
			switch {
			case len(op) >= 2 && op[0] == 'S' && op[1] >= '0' && op[1] <= '9':
				h.s.ApplySnapshot(int(op[1]-'0')%n, bytes.TrimPrefix(op[2:], []byte(" ")), ts)
			case len(op) == 2 && op[0] == 'X' && op[1] >= '0' && op[1] <= '9':
				h.s.SnapshotFailed(int(op[1]-'0') % n)
			case len(op) == 1 && op[0] == 'R':
				h.s.Republish(ts)
			case len(op) == 1 && op[0] == 'F':
				h.s.Refresh(ts)
			default:
				h.s.HandleFrame(op, ts)
			}
			for {
				if _, ok := h.s.NeedSnapshot(); !ok {
					break
				}
			}
		}
		d.compare(t, op, gotHooks, wantHooks)
	}
}

// fusedSeeds are inputs aimed at the fused path's fallbacks: key orders
// that name the book late or twice, books of different scales, and number
// errors next to shape errors.
var fusedSeeds = []string{
	"S0 {\"lastUpdateId\":10,\"bids\":[[\"0.00100000\",\"1\"]],\"asks\":[[\"0.00200000\",\"1\"]]}\n" +
		"{\"stream\":\"bnbbtc@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"BNBBTC\",\"U\":11,\"u\":11,\"b\":[[\"0.0011\",\"2\"]],\"a\":[]}}\n" +
		"{\"stream\":\"bnbbtc@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"BNBBTC\",\"U\":12,\"u\":12,\"b\":[[\"0.0011\",\"2\"]],\"a\":[]},\"stream\":\"ethbtc@depth@100ms\"}\n" +
		"{\"data\":{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"BNBBTC\",\"U\":12,\"u\":12,\"b\":[[\"0.0012\",\"2\"]],\"a\":[]},\"stream\":\"bnbbtc@depth@100ms\"}\n" +
		"{\"stream\":\"bnbbtc@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"BNBBTC\",\"U\":13,\"u\":13,\"b\":[[\"x\",1]],\"a\":[]}}\n" +
		"{\"stream\":\"bnbbtc@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"BNBBTC\",\"U\":14,\"u\":14,\"b\":[[\"0\",\"1\"]],\"a\":[]}}\n",
	"#depth5\n{\"stream\":\"btcusdt@depth5@100ms\",\"data\":{\"lastUpdateId\":7,\"bids\":[[\"100.001\",\"1\"]],\"asks\":[[\"101\",\"1\"]]}}\n" +
		"{\"stream\":\"btcusdt@depth5@100ms\",\"data\":{\"lastUpdateId\":8,\"bids\":[[\"100.01\",\"1\"]],\"asks\":[[\"101\",\"1\"]]},\"stream\":\"solusdt@depth5@100ms\"}\n" +
		"{\"stream\":\"btcusdt@depth5@100ms\",\"data\":{\"lastUpdateId\":9,\"bids\":[[\"100.01\",\"1\"]],\"asks\":[[\"1e2\",\"1\"]]}}\n",
	"#bbo\n{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"100.01\",\"B\":\"1\",\"a\":\"100.02\",\"A\":\"2\"}}\n" +
		"{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":2,\"s\":\"BTCUSDT\",\"b\":\"100.001\",\"B\":\"1\",\"a\":\"100.02\",\"A\":\"2\"}}\n" +
		"{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":3,\"s\":\"BTCUSDT\",\"b\":\"100.03\",\"B\":\"1\",\"a\":\"100.02\",\"A\":\"2\"}}\n" +
		"{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":4,\"s\":\"BTCUSDT\",\"b\":\"0\",\"B\":\"0\",\"a\":\"100.02\",\"A\":\"2\"}} \n" +
		"{\"stream\":\"ethusdt@bookTicker\",\"data\":{\"u\":5,\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"2\",\"A\":\"2\"}}\n" +
		"{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":6,\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"2\",\"A\":\"2\"},\"x\":1}\n",
}

// FuzzFusedMatchesRaw: the fused level path and the bookTicker layout path
// (tickerFrame) change nothing observable.
// A session whose parser converts levels while reading them and a reference
// session that never does (levels kept as offsets and converted after
// routing, the path every frame took before fusing) get the same inputs and
// must publish the same events, count the same rejections and gaps, apply
// the same messages to the same books, and end each frame with the same
// parser error. Seeded from the sync scripts, the documented payloads and
// fusedSeeds.
func FuzzFusedMatchesRaw(f *testing.F) {
	files, _ := filepath.Glob("testdata/sync/*.txt")
	for _, file := range files {
		f.Add(scriptSeed(f, file))
	}
	docs, _ := filepath.Glob("testdata/docs/ws_*.json")
	for _, d := range docs {
		b, _ := os.ReadFile(d)
		f.Add(append([]byte("#depth5\n"), wrap("bnbbtc@depth5@100ms", b)...))
		f.Add(wrap("bnbbtc@depth@100ms", b))
	}
	for _, s := range fusedSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(runDiffOps)
}
