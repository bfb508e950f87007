package bybit

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"arb/exchange"
	"arb/ringbuf"
)

// TestFusedLevels: levels are read and converted in one pass (PairFixed),
// and whatever the input, parseTop's outcome — error, rejection reason,
// levels — is that of the token-by-token reference path, in particular
// when a level is both malformed and badly numbered.
func TestFusedLevels(t *testing.T) {
	const pre = `{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":`
	const post = `,"u":5,"seq":2},"cts":1}`
	many := strings.TrimSuffix(strings.Repeat(`["1.00","1"],`, 101), ",")
	cases := []struct {
		name   string
		b      string // the "b" value; "a" is empty
		reject exchange.RejectReason
		syntax bool
		nb     int
	}{
		{"plain", `[["30247.20","30.028"],["30245.4","0"],["7","0.000001"]]`, 0, false, 3},
		{"white space and padding zeros", `[ [ "30247.2000" , "30.028000" ] ,["1.00","1.0000000"]]`, 0, false, 2},
		{"null side", `null`, 0, false, 0},
		{"empty side", `[]`, 0, false, 0},
		{"NaN price", `[["NaN","1"]]`, exchange.RejectNumber, false, 0},
		{"too precise", `[["1.00","1"],["1.001","1"]]`, exchange.RejectNumber, false, 1},
		{"zero price", `[["0.00","1"]]`, exchange.RejectNumber, false, 0},
		{"exponent", `[["1e2","1"]]`, exchange.RejectNumber, false, 0},
		{"price overflows", `[["99999999999999999999","1"]]`, exchange.RejectNumber, false, 0},
		{"bad number, then a number where a string belongs", `[["x",1]]`, 0, true, 0},
		{"bad number, then a third element", `[["1.001","1","2"]]`, 0, true, 0},
		{"bad number, then no closing bracket", `[["-1","1"}`, 0, true, 0},
		{"bad number, then a shape error in a later level", `[["-1","1"],[1]]`, exchange.RejectNumber, false, 0},
		{"bad quantity, then a third element", `[["1.00","x","2"]]`, 0, true, 0},
		{"escaped string", `[["1.0\u0030","1"]]`, 0, true, 0},
		{"number where a string belongs", `[[1.5,"1"]]`, 0, true, 0},
		{"one element", `[["1.00"]]`, 0, true, 0},
		{"too many levels", `[` + many + `]`, exchange.RejectTooLarge, false, 100},
	}
	ring := ringbuf.NewMPSC[exchange.BookTop](64)
	cfg := testConfig(ring)
	got, want := NewSession(&cfg, nil), NewSession(&cfg, nil)
	want.tokenLevels = true
	if n := len(got.bids); n != 100 {
		t.Fatalf("level cap %d; the table assumes 100", n)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fr := []byte(pre + c.b + `,"a":[]` + post)
			var gf, wf frame
			gf.book, wf.book = -1, -1
			got.parseTop(fr, &gf)
			want.parseTop(fr, &wf)
			if got.sc.Err() != want.sc.Err() || !reflect.DeepEqual(gf.data, wf.data) ||
				!reflect.DeepEqual(got.bids[:gf.data.nb], want.bids[:wf.data.nb]) {
				t.Fatalf("fused: %v %+v %v\nreference: %v %+v %v", got.sc.Err(), gf.data, got.bids[:gf.data.nb],
					want.sc.Err(), wf.data, want.bids[:wf.data.nb])
			}
			if (got.sc.Err() != nil) != c.syntax || gf.data.reject != c.reject || gf.data.nb != c.nb {
				t.Fatalf("err %v reject %v levels %d; want syntax error %v, reject %v, %d levels",
					got.sc.Err(), gf.data.reject, gf.data.nb, c.syntax, c.reject, c.nb)
			}
		})
	}
}

// diffSession is a session with its own ring.
type diffSession struct {
	s    *Session
	ring *ringbuf.MPSC[exchange.BookTop]
}

func newDiffSession(mode byte, tokens bool) diffSession {
	ring := ringbuf.NewMPSC[exchange.BookTop](256)
	cfg := Config{Venue: 4, WSURL: "ws://127.0.0.1:1", Ring: ring, Instruments: fuzzInstruments}
	if mode&1 != 0 {
		cfg.Channel = ChannelBBO
	}
	cfg.Continuity = ContinuityContiguous
	if mode&2 != 0 {
		cfg.Continuity = ContinuityMonotonic
	}
	d := diffSession{s: NewSession(&cfg, nil), ring: ring}
	d.s.tokenLevels = tokens
	return d
}

// step handles one frame and returns everything observable it produced:
// the events, then the requests to send.
func (d diffSession) step(fr []byte, now int64) (evs []exchange.BookTop, reqs []string) {
	d.s.HandleFrame(fr, now)
	var ev exchange.BookTop
	for d.ring.TryPop(&ev) {
		evs = append(evs, ev)
	}
	for b, ok := d.s.NextRequest(nil); ok; b, ok = d.s.NextRequest(nil) {
		reqs = append(reqs, string(b))
	}
	return evs, reqs
}

// runDiffOne feeds one fuzz input (FuzzHandleFrame's format) to a session
// and to a reference session that reads levels token by token, and fails at
// the first frame after which they differ in anything observable.
func runDiffOne(t *testing.T, in []byte) {
	if len(in) == 0 {
		return
	}
	got, want := newDiffSession(in[0], false), newDiffSession(in[0], true)
	got.s.Start(0)
	want.s.Start(0)
	now := int64(0)
	for _, fr := range bytes.Split(in[1:], []byte("\n")) {
		now += 50 * msec
		ge, gr := got.step(fr, now)
		we, wr := want.step(fr, now)
		switch {
		case got.s.sc.Err() != want.s.sc.Err():
			t.Fatalf("frame %q: scanner error %v, reference %v", fr, got.s.sc.Err(), want.s.sc.Err())
		case !reflect.DeepEqual(ge, we):
			t.Fatalf("frame %q: events\n %+v\nreference\n %+v", fr, ge, we)
		case !reflect.DeepEqual(gr, wr):
			t.Fatalf("frame %q: requests %q, reference %q", fr, gr, wr)
		case got.s.NeedReconnect() != want.s.NeedReconnect() || got.s.UJumps() != want.s.UJumps():
			t.Fatalf("frame %q: reconnect/jumps differ", fr)
		}
		gs, ws := got.s.Stats(), want.s.Stats()
		for r := exchange.RejectReason(0); r < 64; r++ {
			if gs.Rejects(r) != ws.Rejects(r) {
				t.Fatalf("frame %q: %v rejects %d, reference %d", fr, r, gs.Rejects(r), ws.Rejects(r))
			}
		}
		if gs.Messages.Load() != ws.Messages.Load() || gs.Gaps.Load() != ws.Gaps.Load() || gs.Resyncs.Load() != ws.Resyncs.Load() {
			t.Fatalf("frame %q: counters differ", fr)
		}
	}
}

// FuzzFusedMatchesTokens: reading levels with PairFixed changes nothing
// observable. A session and a reference session that reads every level
// token by token (the path before fusing) get the same frames and must
// publish the same events, send the same requests, count the same
// rejections, gaps and resyncs, and end each frame with the same scanner
// error. Seeded like FuzzHandleFrame, plus frames aimed at the fallback.
func FuzzFusedMatchesTokens(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(append([]byte{0}, fr...))
		f.Add(append([]byte{1}, fr...))
	}
	snap := `{"topic":"orderbook.50.SOLUSDT","type":"snapshot","ts":1,"data":{"s":"SOLUSDT","b":[["20.001","1.5"]],"a":[["20.002","1"]],"u":1,"seq":1},"cts":1}`
	for _, b := range []string{`[["x",1]]`, `[["20.0001","1"]]`, `[["20.001","1","2"]]`, `[["0","1"]]`, `[["20.001" , "1.2500"]]`} {
		delta := `{"topic":"orderbook.50.SOLUSDT","type":"delta","ts":2,"data":{"s":"SOLUSDT","b":` + b + `,"a":[],"u":2,"seq":2},"cts":2}`
		f.Add([]byte("\x00" + snap + "\n" + delta))
		// data before topic: parsed once the topic is known
		late := `{"type":"delta","ts":2,"data":{"s":"SOLUSDT","b":` + b + `,"a":[],"u":2,"seq":2},"topic":"orderbook.50.SOLUSDT"}`
		f.Add([]byte("\x00" + snap + "\n" + late))
	}
	f.Fuzz(runDiffOne)
}
