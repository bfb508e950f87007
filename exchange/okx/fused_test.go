package okx

import (
	"bytes"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/internal/jsonscan"
)

// fusedFrame is a books push for BTC-USDT with the given asks and bids
// values and the arg placed first (as OKX sends) or last.
func fusedFrame(action, asks, bids string, argLast bool) []byte {
	arg := `"arg":{"channel":"books","instId":"BTC-USDT"}`
	body := `"action":"` + action + `","data":[{"asks":` + asks + `,"bids":` + bids + `,"ts":"1700000000001","checksum":0,"prevSeqId":10,"seqId":11}]`
	if argLast {
		return []byte(`{` + body + `,` + arg + `}`)
	}
	return []byte(`{` + arg + `,` + body + `}`)
}

// TestFusedRead: when "arg" comes first the levels are converted while
// scanned (and the read is the fused one), when it comes last they are
// converted afterwards; either way, and whatever is wrong with the frame,
// the parse outcome, the scanner's error, the staged levels and
// numbersOK's verdict are those of a parser that never fuses.
func TestFusedRead(t *testing.T) {
	cases := []struct {
		name       string
		asks, bids string
		argLast    bool
		fused      bool // the fused read is expected to be the one that stands
		parsed     bool
		numbers    bool // numbersOK(update), when parsed
	}{
		{"OKX order", `[["8476.98","415","0","13"],["8477","7","0","2"]]`, `[["8476.97","256","0","12"]]`, false, true, true, true},
		{"arg last", `[["8476.98","415","0","13"]]`, `[["8476.97","256","0","12"]]`, true, false, true, true},
		{"white space and padding", `[ [ "8476.9800" , "415.000" , "0" , "13" ] ]`, `[]`, false, true, true, true},
		{"deletion", `[["8476.98","0","0","0"]]`, `[]`, false, true, true, true},
		{"too precise", `[["8476.981","415","0","13"]]`, `[]`, false, false, true, false},
		{"negative size", `[["8476.98","-1","0","13"]]`, `[]`, false, false, true, false},
		{"NaN", `[["NaN","1","0","13"]]`, `[]`, false, false, true, false},
		{"overflow", `[["99999999999999999999","1","0","13"]]`, `[]`, false, false, true, false},
		{"long wire string", `[["8476.980000000000000000000000000","1","0","1"]]`, `[]`, false, true, true, false},
		{"bad number in the second side", `[["1","1","0","1"]]`, `[["0.001","1","0","1"]]`, false, false, true, false},
		{"bad number, then a shape error", `[["1.001","1",]]`, `[]`, false, false, false, false},
		{"bad number, then a number where a string belongs", `[["x",1,"0","1"]]`, `[]`, false, false, false, false},
		{"one element", `[["1"]]`, `[]`, false, false, false, false},
		{"empty level", `[[]]`, `[]`, false, false, false, false},
		{"escape", `[["1\u0030","1","0","1"]]`, `[]`, false, false, false, false},
		{"nested tail", `[["1","1",[{"a":[null]}],"1"]]`, `[]`, false, true, true, true},
		{"null side", `null`, `[]`, false, false, false, false},
	}
	insts := testInst(1, "BTC-USDT", 2, 3)
	got, want := newHarness(t, "books", time.Second, insts), newHarness(t, "books", time.Second, insts)
	want.sess.p.noFuse = true
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fr := fusedFrame("update", c.asks, c.bids, c.argLast)
			gp, wp := got.sess.p, want.sess.p
			gok, wok := gp.parse(fr), wp.parse(fr)
			sc := got.sess.books[0].scale
			gn, wn := gok && gp.numbersOK(sc, false), wok && wp.numbersOK(sc, false)
			if gok != wok || gp.sc.Err() != wp.sc.Err() || gn != wn || msgCore(gp.m) != msgCore(wp.m) {
				t.Fatalf("fused: %v %v numbers %v %+v\nunfused: %v %v numbers %v %+v", gok, gp.sc.Err(), gn, gp.m, wok, wp.sc.Err(), wn, wp.m)
			}
			if gok != c.parsed || gn != c.numbers || (gok && gp.m.unconv == c.fused) {
				t.Fatalf("parsed %v numbers %v fused %v; want %v %v %v", gok, gn, !gp.m.unconv, c.parsed, c.numbers, c.fused)
			}
			if gok && gn {
				if !parseNumbers(wp.bids, sc, false) || !parseNumbers(wp.asks, sc, false) {
					t.Fatal("reference conversion failed")
				}
				if !reflect.DeepEqual(gp.bids, wp.bids) || !reflect.DeepEqual(gp.asks, wp.asks) {
					t.Fatalf("levels\n%v %v\nreference\n%v %v", gp.bids, gp.asks, wp.bids, wp.asks)
				}
			}
		})
	}
}

// msgCore is m without the fields that tell how levels were converted.
func msgCore(m msg) string {
	m.unconv, m.longRaw, m.zeroSz = false, false, false
	return fmt.Sprintf("%+v", m)
}

// TestFusedUsesTheFramesScale: levels are converted in the scale of the
// book the frame's arg names, whichever it is.
func TestFusedUsesTheFramesScale(t *testing.T) {
	h := newHarness(t, "books", time.Second, diffInsts[0]...)
	for _, c := range []struct {
		sym     string
		px, sz  int64
		numbers bool
	}{
		{"BTC-USDT", 300012, 1500000000, true}, // (2, 8)
		{"ETH-USDT", 30001200, 15000, true},    // (4, 3)
	} {
		fr := []byte(`{"arg":{"channel":"books","instId":"` + c.sym + `"},"action":"update","data":[{"asks":[["3000.12","15","0","1"]],"bids":[],"ts":"1","checksum":0,"prevSeqId":1,"seqId":2}]}`)
		p := h.sess.p
		if !p.parse(fr) || p.m.unconv || len(p.asks) != 1 || p.asks[0].px != c.px || p.asks[0].sz != c.sz {
			t.Fatalf("%s: unconv %v levels %+v; want px %d sz %d converted while scanning", c.sym, p.m.unconv, p.asks, c.px, c.sz)
		}
	}
	// A price valid in ETH-USDT's scale only: converting it with
	// BTC-USDT's fails, and the frame is decided by the unfused read.
	fr := []byte(`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["3000.1234","1","0","1"]],"bids":[],"ts":"1","checksum":0,"prevSeqId":1,"seqId":2}]}`)
	p := h.sess.p
	if !p.parse(fr) || !p.m.unconv || p.numbersOK(h.sess.books[0].scale, false) {
		t.Fatalf("too precise for BTC-USDT: unconv %v", p.m.unconv)
	}
}

// tokenSide is the level loop parseSide had before it used PairPrefix:
// each level read element by element. It is the reference for
// FuzzLevelShape.
func tokenSide(s *jsonscan.Scanner) (out [][2]string) {
	if !s.Array() {
		return out
	}
	for s.More() {
		if !s.Array() {
			return out
		}
		var lv [2]string
		n := 0
		for s.More() {
			switch n {
			case 0:
				lv[0] = string(s.Str())
			case 1:
				lv[1] = string(s.Str())
			default:
				s.Skip()
			}
			n++
			if s.Err() != nil {
				return out
			}
		}
		if s.Err() != nil {
			return out
		}
		if n < 2 {
			s.Fail(errShape)
			return out
		}
		out = append(out, lv)
	}
	return out
}

// FuzzLevelShape: reading a side with PairPrefix (parseSide, unfused)
// accepts exactly what the element-by-element loop it replaced accepted,
// with the same levels and position, at the depth a side has in a frame.
// The one difference: the level array itself no longer counts against
// jsonscan.MaxDepth, so an ignored element may nest one level deeper
// before the read fails with ErrDepth.
func FuzzLevelShape(f *testing.F) {
	for _, s := range []string{
		`[["8476.98","415","0","13"],["8477","7","0","2"]]`, `[]`, `[[]]`, `[["1"]]`, `[["1","2",]]`, `[["1","2" "3"]]`,
		`[["1","2",[[[{"a":null}]]]]]`, `[[1,"2"]]`, `[["1","2"],`, `[["1\"","2"]]`, `[ [ "1" , "2" ] ]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// A side is at depth 4: the frame, "data", its object, the side.
		wrap := append(append([]byte(`[[[`), in...), `]]]`...)
		p := newParser()
		s := &p.sc
		s.Reset(wrap)
		s.Array()
		s.Array()
		s.Array()
		p.bids = p.parseSide(p.bids[:0])
		var r jsonscan.Scanner
		r.Reset(wrap)
		r.Array()
		r.Array()
		r.Array()
		want := tokenSide(&r)
		if r.Err() == jsonscan.ErrDepth && s.Err() == nil {
			return // the documented difference
		}
		if (s.Err() == nil) != (r.Err() == nil) {
			t.Fatalf("%q: PairPrefix error %v, element loop error %v", in, s.Err(), r.Err())
		}
		if s.Err() != nil {
			return
		}
		if !p.m.unconv || len(p.bids) != len(want) || s.Pos() != r.Pos() {
			t.Fatalf("%q: %d levels at %d, reference %d at %d", in, len(p.bids), s.Pos(), len(want), r.Pos())
		}
		for k, l := range p.bids {
			if string(l.pxRaw) != want[k][0] || string(l.szRaw) != want[k][1] {
				t.Fatalf("%q: level %d %q %q, reference %q", in, k, l.pxRaw, l.szRaw, want[k])
			}
		}
	})
}

// diffSession is a session with its own ring, stats and log, at a shared
// clock.
type diffSession struct {
	h    *harness
	logs *strings.Builder
}

// diffInsts: two instrument sets; within each, the scales differ, so
// converting with the wrong book's scale shows.
var diffInsts = [][]exchange.Instrument{
	{testInst(1, "BTC-USDT", 2, 8), testInst(2, "ETH-USDT", 4, 3)},
	{testInst(1, "BTC-USDT", 1, 0), testInst(2, "BCH-USDT-SWAP", 2, 5)},
}

// newDiffSession: mode bits 0-1 pick the channel (books, bbo, books5),
// bit 2 the instruments and scales.
func newDiffSession(t *testing.T, mode byte, noFuse bool) diffSession {
	channel := []string{"books", "bbo", "books5", "books"}[mode&3]
	h := newHarnessRing(t, 64, channel, time.Second, diffInsts[mode>>2&1]...)
	logs := new(strings.Builder)
	// Log lines without the wall-clock time, so the two sessions' logs compare.
	h.cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	h.sess = NewSession(&h.cfg, h.pub)
	h.sess.p.noFuse = noFuse
	return diffSession{h: h, logs: logs}
}

// step handles one input line and returns everything observable it
// produced: events and request frames, as text.
func (d diffSession) step(line []byte) string {
	h := d.h
	var out strings.Builder
	h.now += int64(50 * time.Millisecond)
	switch string(line) {
	case "tick": // a quiet second
		h.now += int64(time.Second)
	case "down":
		h.sess.Disconnected(exchange.CauseDisconnect, h.now)
	default:
		h.frame(line)
	}
	h.sess.Tick(h.now)
	if h.sess.NeedResubscribe() {
		for _, r := range h.sess.Resubscribe(h.now) {
			fmt.Fprintf(&out, "req %s\n", r)
		}
	}
	for _, ev := range h.drain() {
		fmt.Fprintf(&out, "ev %+v\n", ev)
	}
	cause, rc := h.sess.NeedReconnect()
	fmt.Fprintf(&out, "reconnect %v %v handover %v synced %v resub %v\n", cause, rc, h.sess.NeedHandover(), h.sess.Synced(), h.sess.NeedResubscribe())
	st := h.stats
	fmt.Fprintf(&out, "msgs %d pub %d confl %d resyncs %d gaps %d ck %d reconn %d conn %d\n", st.Messages.Load(), st.Published.Load(),
		st.Conflated.Load(), st.Resyncs.Load(), st.Gaps.Load(), st.ChecksumFailures.Load(), st.Reconnects.Load(), st.Connected.Load())
	for r := 0; r < exchange.NumRejectReasons; r++ {
		fmt.Fprintf(&out, "%d ", st.Rejects(exchange.RejectReason(r)))
	}
	b, sum, n := st.ParseLatency.Snapshot()
	fmt.Fprintf(&out, "\nlatency %v %d %d\nscanner %v\n", b, sum, n, h.sess.p.sc.Err())
	for k := range h.sess.books {
		bk := &h.sess.books[k]
		fmt.Fprintf(&out, "book %d state %d cause %v seq %d/%v tries %d\n", k, bk.state, bk.cause, bk.seq, bk.haveSeq, bk.tries)
	}
	return out.String()
}

// runDiff feeds one input (a mode byte, then newline-separated frames or
// "tick"/"down") to a session that fuses and one that never does, and fails
// at the first line after which they differ in anything observable.
func runDiff(t *testing.T, in []byte) {
	if len(in) == 0 {
		return
	}
	got, want := newDiffSession(t, in[0], false), newDiffSession(t, in[0], true)
	for _, d := range []diffSession{got, want} {
		for _, r := range d.h.sess.SubscribeRequests(d.h.now) {
			fmt.Fprintf(d.logs, "req %s\n", r)
		}
	}
	for _, line := range bytes.Split(in[1:], []byte("\n")) {
		g, w := got.step(line), want.step(line)
		if g != w {
			t.Fatalf("after %q:\nfused:\n%s\nnever fused:\n%s", line, g, w)
		}
		if got.logs.String() != want.logs.String() {
			t.Fatalf("after %q: logs differ:\nfused:\n%s\nnever fused:\n%s", line, got.logs, want.logs)
		}
	}
}

// FuzzFusedMatchesUnfused: converting levels while scanning changes
// nothing observable. A session that fuses and one that never does get the
// same frames at the same times and must publish the same events, ask for
// the same requests, reconnects and handovers, count the same messages,
// rejections (by reason), gaps, resyncs and checksum failures, observe the
// same latencies, log the same lines and end in the same book states.
// Seeded from the sync scripts and the documented pushes, plus frames aimed
// at the fallback.
func FuzzFusedMatchesUnfused(f *testing.F) {
	for _, s := range scriptFrames(f, "books") {
		f.Add(append([]byte{0}, s...))
		f.Add(append([]byte{4}, s...))
		f.Add(append([]byte{0}, bytes.ReplaceAll(s, []byte(`"BTC-USDT"`), []byte(`"ETH-USDT"`))...))
	}
	for _, s := range scriptFrames(f, "bbo") {
		f.Add(append([]byte{1}, s...))
		f.Add(append([]byte{2}, bytes.ReplaceAll(s, []byte(`"bbo-tbt"`), []byte(`"books5"`))...))
	}
	snap := docMember(f, "ws_books_snapshot_push.json", "payload")
	upd := docMember(f, "ws_books_update_push.json", "payload")
	ck := func(b []byte) []byte { return bytes.Replace(b, []byte("-855196043"), []byte("-2102840145"), 1) }
	f.Add(append([]byte{0}, bytes.Join([][]byte{ck(snap), ck(upd), []byte("tick"), snap}, []byte("\n"))...))
	f.Add(append([]byte{1}, docMember(f, "ws_bbo_tbt_push.json", "payload")...))
	f.Add(append([]byte{6}, docMember(f, "ws_books5_push.json", "payload")...))
	base := string(fusedFrame("snapshot", `[["60000.1","0.5","0","1"]]`, `[["60000","0.75","0","1"]]`, false))
	base = strings.Replace(base, `"prevSeqId":10`, `"prevSeqId":-1`, 1)
	for _, lv := range []string{`[["x",1]]`, `[["60000.001","1","0","1"]]`, `[["60000","1","2",]]`, `[["0","1","0","1"]]`,
		`[["60000.5" , "1.2500","0","1"]]`, `[["60000","0","0","1"]]`, `[["60000","1"]]`, `[["6000000000000000000000","1"]]`} {
		f.Add([]byte("\x00" + base + "\n" + string(fusedFrame("update", `[]`, lv, false))))
		f.Add([]byte("\x00" + base + "\n" + string(fusedFrame("update", `[]`, lv, true))))
		f.Add([]byte("\x00" + strings.Replace(base, `[["60000","0.75","0","1"]]`, lv, 1)))
	}
	f.Fuzz(runDiff)
}

// TestFusedMatchesUnfusedScripts runs the differential check on every sync
// script (not only as fuzz seeds), so a plain `go test` covers it.
func TestFusedMatchesUnfusedScripts(t *testing.T) {
	for _, ch := range []struct {
		name string
		mode byte
	}{{"books", 0}, {"bbo", 1}} {
		for k, s := range scriptFrames(t, ch.name) {
			t.Run(fmt.Sprintf("%s/%d", ch.name, k), func(t *testing.T) {
				runDiff(t, append([]byte{ch.mode}, s...))
			})
		}
	}
}
