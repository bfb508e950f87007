package okx

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

var update = flag.Bool("update", false, "rewrite the checksums of '# crc-ok' frames in testdata/sync with the reference model's values")

// TestSyncScripts runs every testdata/sync/*.txt script against a Session.
//
// A script is a list of lines; '#' starts a comment (except the crc markers).
//
//	config channel=books agemax=1s inst=BTC-USDT:2:8 ...   first line: the session
//	subscribe                   SubscribeRequests; following "req" lines must match them
//	frame <json> [# crc-ok|# crc-bad]
//	                            HandleFrame at the current clock. A nonzero checksum
//	                            must be marked: crc-ok means it equals the reference
//	                            model's checksum of the book after the frame, crc-bad
//	                            that it differs (both are verified, not trusted)
//	tick <duration>             advance the clock, then Tick
//	resub                       NeedResubscribe must be true; Resubscribe's frames
//	                            must match the following "req" lines
//	req <json>                  one expected request frame
//	disconnect <cause>          Disconnected(cause)
//	fresh <SYM> seq=N [ts=MS] bids=PX:QTY,... asks=...   the next published event
//	stale <SYM> <cause>         the next published event
//	stats name=N ...            cumulative counters
//	reconnect <cause>           NeedReconnect must report cause
//	handover                    NeedHandover must be true
//	synced true|false
//
// Every published event must be matched by a fresh/stale line before the
// next action, and an action may not start while a resubscription is
// pending and unhandled: scripts list everything the session does.
func TestSyncScripts(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "sync", "*.txt"))
	if len(files) == 0 {
		t.Fatal("no scripts")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

var checksumRE = regexp.MustCompile(`"checksum":-?[0-9]+`)

type scriptRunner struct {
	t       *testing.T
	h       *harness
	insts   map[string]exchange.Instrument
	ref     map[string]*refBook // checksum reference: levels applied regardless of sequence
	pending []exchange.BookTop
	reqs    [][]byte
	lines   []string
	changed bool
}

func runScript(t *testing.T, path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := &scriptRunner{t: t, insts: map[string]exchange.Instrument{}, ref: map[string]*refBook{}}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		r.lines = append(r.lines, line)
		r.step(n, line)
	}
	if r.h != nil {
		r.flushCheck(len(r.lines), "end of script")
	}
	if *update && r.changed {
		if err := os.WriteFile(path, []byte(strings.Join(r.lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *scriptRunner) fail(n int, format string, a ...any) {
	r.t.Helper()
	r.t.Fatalf("line %d: %s\n\t%s", n, fmt.Sprintf(format, a...), r.lines[n-1])
}

// collect moves newly published events into pending.
func (r *scriptRunner) collect() { r.pending = append(r.pending, r.h.drain()...) }

// flushCheck is run before every action: all events matched, all requests
// consumed, no unhandled resubscription.
func (r *scriptRunner) flushCheck(n int, what string) {
	r.collect()
	if len(r.pending) > 0 {
		r.fail(n, "before %s: unexpected event %s", what, fmtEvent(&r.pending[0]))
	}
	if len(r.reqs) > 0 {
		r.fail(n, "before %s: %d request(s) not matched: %s", what, len(r.reqs), r.reqs[0])
	}
	if r.h.sess.NeedResubscribe() {
		r.fail(n, "before %s: a resubscription is pending but the script has no resub", what)
	}
}

func fmtEvent(e *exchange.BookTop) string {
	if e.Stale() {
		return fmt.Sprintf("stale inst=%d %s", e.Inst, e.Cause)
	}
	return fmt.Sprintf("fresh inst=%d seq=%d bids=%v asks=%v", e.Inst, e.Seq, e.Bids[:e.NBids], e.Asks[:e.NAsks])
}

func (r *scriptRunner) step(n int, line string) {
	body, comment, _ := strings.Cut(line, " #")
	if strings.HasPrefix(strings.TrimSpace(line), "#") {
		return
	}
	body = strings.TrimSpace(body)
	if body == "" {
		return
	}
	verb, rest, _ := strings.Cut(body, " ")
	if r.h == nil && verb != "config" {
		r.fail(n, "first line must be config")
	}
	switch verb {
	case "config":
		r.config(n, rest)
	case "subscribe":
		r.flushCheck(n, verb)
		r.reqs = append(r.reqs, r.h.sess.SubscribeRequests(r.h.now)...)
	case "frame":
		r.flushCheck(n, verb)
		r.h.frame([]byte(r.checkCRC(n, rest, strings.TrimSpace(comment))))
	case "tick":
		r.flushCheck(n, verb)
		d, err := time.ParseDuration(rest)
		if err != nil {
			r.fail(n, "%v", err)
		}
		r.h.now += int64(d)
		r.h.sess.Tick(r.h.now)
	case "resub":
		r.collect()
		if len(r.reqs) > 0 {
			r.fail(n, "requests not matched before resub")
		}
		if !r.h.sess.NeedResubscribe() {
			r.fail(n, "no resubscription pending")
		}
		r.reqs = append(r.reqs, r.h.sess.Resubscribe(r.h.now)...)
	case "req":
		if len(r.reqs) == 0 {
			r.fail(n, "no request was made")
		}
		if got := string(r.reqs[0]); got != rest {
			r.fail(n, "request\n\tgot  %s", got)
		}
		r.reqs = r.reqs[1:]
	case "disconnect":
		r.flushCheck(n, verb)
		r.h.sess.Disconnected(parseCause(r, n, rest), r.h.now)
	case "fresh", "stale":
		r.expectEvent(n, verb, rest)
	case "stats":
		r.checkStats(n, rest)
	case "reconnect":
		c, ok := r.h.sess.NeedReconnect()
		if !ok || c != parseCause(r, n, rest) {
			r.fail(n, "NeedReconnect = %v, %v", c, ok)
		}
	case "handover":
		if !r.h.sess.NeedHandover() {
			r.fail(n, "NeedHandover false")
		}
	case "synced":
		if got := fmt.Sprint(r.h.sess.Synced()); got != rest {
			r.fail(n, "Synced = %s", got)
		}
	default:
		r.fail(n, "unknown verb %q", verb)
	}
}

func (r *scriptRunner) config(n int, rest string) {
	var insts []exchange.Instrument
	channel, agemax := "", time.Second
	for _, kv := range strings.Fields(rest) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "channel":
			channel = v
		case "agemax":
			d, err := time.ParseDuration(v)
			if err != nil {
				r.fail(n, "%v", err)
			}
			agemax = d
		case "inst":
			f := strings.Split(v, ":")
			if len(f) != 3 {
				r.fail(n, "inst wants SYM:PXDEC:QTYDEC")
			}
			px, _ := strconv.Atoi(f[1])
			qty, _ := strconv.Atoi(f[2])
			in := testInst(exchange.InstrumentID(len(insts)+1), f[0], uint8(px), uint8(qty))
			insts = append(insts, in)
			r.insts[f[0]] = in
		default:
			r.fail(n, "unknown config key %q", k)
		}
	}
	r.h = newHarness(r.t, channel, agemax, insts...)
}

func parseCause(r *scriptRunner, n int, s string) exchange.StaleCause {
	for c := exchange.CauseNone; c <= exchange.CauseReset; c++ {
		if c.String() == s {
			return c
		}
	}
	r.fail(n, "unknown cause %q", s)
	return 0
}

// checkCRC verifies (or with -update, rewrites) a frame's literal checksum
// against the reference book, returning the frame to send.
func (r *scriptRunner) checkCRC(n int, frame, mark string) string {
	var v struct {
		Arg    struct{ InstID string }
		Action string
		Data   []struct {
			Bids, Asks [][]string
			Checksum   *int64
		}
	}
	if json.Unmarshal([]byte(frame), &v) != nil || len(v.Data) != 1 || v.Data[0].Checksum == nil {
		if mark != "" {
			r.fail(n, "crc mark on a frame without a checksum")
		}
		return frame
	}
	in, ok := r.insts[v.Arg.InstID]
	if !ok {
		return frame
	}
	b := r.ref[v.Arg.InstID]
	if b == nil || v.Action == "snapshot" {
		b = newRefBook()
		r.ref[v.Arg.InstID] = b
	}
	for _, side := range []struct {
		bid bool
		lv  [][]string
	}{{true, v.Data[0].Bids}, {false, v.Data[0].Asks}} {
		for _, l := range side.lv {
			px, ok1 := refParse(l[0], in.Scale.Px)
			sz, ok2 := refParse(l[1], in.Scale.Qty)
			if ok1 && ok2 {
				b.set(side.bid, refLevel{px, sz, l[0], l[1]})
			}
		}
	}
	got, want := *v.Data[0].Checksum, int64(b.checksum())
	switch {
	case got == 0 && mark == "":
	case mark == "# crc-ok" || mark == "crc-ok":
		if got != want {
			if *update {
				fixed := checksumRE.ReplaceAllString(frame, `"checksum":`+strconv.FormatInt(want, 10))
				r.lines[n-1] = strings.Replace(r.lines[n-1], frame, fixed, 1)
				r.changed = true
				return fixed
			}
			r.fail(n, "checksum %d, the reference computes %d (run with -update to rewrite)", got, want)
		}
	case mark == "# crc-bad" || mark == "crc-bad":
		if got == want {
			r.fail(n, "crc-bad frame carries the correct checksum %d", want)
		}
	default:
		r.fail(n, "nonzero checksum needs a crc-ok or crc-bad mark")
	}
	return frame
}

func (r *scriptRunner) expectEvent(n int, verb, rest string) {
	r.collect()
	if len(r.pending) == 0 {
		r.fail(n, "no event published")
	}
	ev := r.pending[0]
	r.pending = r.pending[1:]
	f := strings.Fields(rest)
	in, ok := r.insts[f[0]]
	if !ok {
		r.fail(n, "unknown instrument")
	}
	if ev.Inst != in.ID || ev.Venue != testVenue {
		r.fail(n, "got %s", fmtEvent(&ev))
	}
	if verb == "stale" {
		if !ev.Stale() || len(f) < 2 || ev.Cause.String() != f[1] || ev.NBids != 0 || ev.NAsks != 0 || ev.RecvTS != r.h.now {
			r.fail(n, "got %s recv=%d", fmtEvent(&ev), ev.RecvTS)
		}
		return
	}
	if ev.Stale() || ev.Crossed() {
		r.fail(n, "got %s", fmtEvent(&ev))
	}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "seq":
			if strconv.FormatUint(ev.Seq, 10) != v {
				r.fail(n, "got %s", fmtEvent(&ev))
			}
		case "ts":
			if strconv.FormatInt(ev.ExchTS/1e6, 10) != v || ev.ExchTS%1e6 != 0 {
				r.fail(n, "ExchTS %d", ev.ExchTS)
			}
		case "bids", "asks":
			want := parseLevels(r, n, v, in.Scale)
			got := ev.Bids[:ev.NBids]
			if k == "asks" {
				got = ev.Asks[:ev.NAsks]
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				r.fail(n, "%s\n\tgot  %v\n\twant %v", k, got, want)
			}
		default:
			r.fail(n, "unknown key %q", k)
		}
	}
}

func parseLevels(r *scriptRunner, n int, s string, sc num.Scale) []exchange.Level {
	out := []exchange.Level{}
	if s == "" || s == "-" {
		return out
	}
	for _, p := range strings.Split(s, ",") {
		a, b, _ := strings.Cut(p, ":")
		px, err1 := num.ParseString(a, sc.Px)
		q, err2 := num.ParseString(b, sc.Qty)
		if err1 != nil || err2 != nil {
			r.fail(n, "bad level %q", p)
		}
		out = append(out, exchange.Level{Px: num.Price(px), Qty: num.Qty(q)})
	}
	return out
}

func (r *scriptRunner) checkStats(n int, rest string) {
	st := r.h.stats
	for _, kv := range strings.Fields(rest) {
		k, v, _ := strings.Cut(kv, "=")
		want, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			r.fail(n, "%v", err)
		}
		var got uint64
		switch k {
		case "messages":
			got = st.Messages.Load()
		case "gaps":
			got = st.Gaps.Load()
		case "checksum":
			got = st.ChecksumFailures.Load()
		case "resyncs":
			got = st.Resyncs.Load()
		case "published":
			got = st.Published.Load()
		default:
			reason, ok := strings.CutPrefix(k, "reject.")
			if !ok {
				r.fail(n, "unknown stat %q", k)
			}
			found := false
			for rr := exchange.RejectReason(1); int(rr) < exchange.NumRejectReasons; rr++ {
				if rr.String() == reason {
					got, found = st.Rejects(rr), true
				}
			}
			if !found {
				r.fail(n, "unknown reject reason %q", reason)
			}
		}
		if got != want {
			r.fail(n, "%s = %d, want %d", k, got, want)
		}
	}
}
