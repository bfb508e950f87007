package bybit

import (
	"bufio"
	"fmt"
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

// TestSyncScripts runs every testdata/sync/*.txt script: the Bybit sync
// state machine specified line by line. Inputs (start, frame, tick,
// disconnect, republish) drive a Session; expectations (event, send, stats,
// state, ...) must consume every event and request an input produced before
// the next input runs, so a script states all of the session's output.
//
//	config channel=depth depth=50 continuity=monotonic snapshot_timeout=1000 agemax=3000
//	inst BTCUSDT id=1 px=2 qty=6
//	start t=0
//	frame t=10 {"topic":...}          or   frame t=10 file=docs/x.json
//	event BTCUSDT fresh seq=7 ts=1672304484978 recv=10 b=16493.5@0.006,16493@0.1 a=-
//	event BTCUSDT stale cause=gap
//	send {"req_id":"1","op":"subscribe","args":["orderbook.50.BTCUSDT"]}
//	stats resyncs=1 gaps=0 reject.sequence=1
//	state BTCUSDT live
//	book BTCUSDT u=11 seq=137
//
// An event's seq is BookTop.Seq: the cross sequence (data.seq) of the
// book's state, not u. "book" checks the session's per-book u (the topic's
// update id, on which continuity is checked) and seq. Times are
// milliseconds.
func TestSyncScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/sync/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type scriptRun struct {
	t      *testing.T
	file   string
	line   int
	cfg    Config
	ring   *ringbuf.MPSC[exchange.BookTop]
	s      *Session
	events []exchange.BookTop
	reqs   []string
}

func (r *scriptRun) fatalf(format string, a ...any) {
	r.t.Helper()
	r.t.Fatalf("%s:%d: %s", r.file, r.line, fmt.Sprintf(format, a...))
}

func runScript(t *testing.T, file string) {
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r := &scriptRun{t: t, file: file, ring: ringbuf.NewMPSC[exchange.BookTop](1024)}
	r.cfg = Config{Venue: 3, Name: "bybit-test", WSURL: "ws://127.0.0.1:1", Ring: r.ring}
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		r.line++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		cmd, rest, _ := strings.Cut(line, " ")
		r.exec(cmd, strings.TrimSpace(rest))
	}
	r.line++
	r.requireDrained("end of script")
}

func ms(v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		panic(err)
	}
	return n * int64(time.Millisecond)
}

// kv splits "a=1 b=2 rest..." into pairs; stops at the first token without '='.
func kv(s string) (map[string]string, string) {
	m := map[string]string{}
	for s != "" {
		tok, rest, _ := strings.Cut(s, " ")
		k, v, ok := strings.Cut(tok, "=")
		if !ok || strings.HasPrefix(tok, "{") {
			return m, s
		}
		m[k] = v
		s = strings.TrimSpace(rest)
	}
	return m, ""
}

func (r *scriptRun) requireDrained(what string) {
	r.t.Helper()
	if len(r.events) > 0 {
		r.fatalf("before %s: %d unexpected event(s), first %s", what, len(r.events), fmtEvent(&r.events[0]))
	}
	if len(r.reqs) > 0 {
		r.fatalf("before %s: unexpected request(s) %q", what, r.reqs)
	}
}

// collect gathers what the last input produced.
func (r *scriptRun) collect() {
	var ev exchange.BookTop
	for r.ring.TryPop(&ev) {
		r.events = append(r.events, ev)
	}
	for {
		b, ok := r.s.NextRequest(nil)
		if !ok {
			break
		}
		r.reqs = append(r.reqs, string(b))
	}
}

func (r *scriptRun) exec(cmd, rest string) {
	r.t.Helper()
	switch cmd {
	case "config":
		m, _ := kv(rest)
		for k, v := range m {
			switch k {
			case "channel":
				r.cfg.Channel = v
			case "depth":
				r.cfg.Depth, _ = strconv.Atoi(v)
			case "continuity":
				r.cfg.Continuity = v
			case "snapshot_timeout":
				r.cfg.SnapshotTimeout = time.Duration(ms(v))
			case "agemax":
				r.cfg.AgeMax = time.Duration(ms(v))
			default:
				r.fatalf("unknown config key %q", k)
			}
		}
	case "inst":
		sym, rest, _ := strings.Cut(rest, " ")
		m, _ := kv(rest)
		id, _ := strconv.Atoi(m["id"])
		px, _ := strconv.Atoi(m["px"])
		qty, _ := strconv.Atoi(m["qty"])
		r.cfg.Instruments = append(r.cfg.Instruments, exchange.Instrument{
			ID: exchange.InstrumentID(id), Venue: r.cfg.Venue, Symbol: sym, Scale: num.Scale{Px: uint8(px), Qty: uint8(qty)}})
	case "start":
		if err := r.cfg.Validate(); err != nil {
			r.fatalf("config: %v", err)
		}
		m, _ := kv(rest)
		r.s = NewSession(&r.cfg, nil)
		r.s.Start(ms(m["t"]))
		r.collect()
	case "frame":
		r.requireDrained("frame")
		m, body := kv(rest)
		var b []byte
		if f, ok := m["file"]; ok {
			var err error
			if b, err = os.ReadFile(filepath.Join("testdata", f)); err != nil {
				r.fatalf("%v", err)
			}
		} else {
			b = []byte(body)
		}
		r.s.HandleFrame(b, ms(m["t"]))
		r.collect()
	case "tick":
		r.requireDrained("tick")
		m, _ := kv(rest)
		r.s.Tick(ms(m["t"]))
		r.collect()
	case "disconnect":
		r.requireDrained("disconnect")
		m, _ := kv(rest)
		r.s.Disconnected(causeByName(r, m["cause"]), ms(m["t"]))
		r.collect()
	case "republish":
		r.requireDrained("republish")
		m, _ := kv(rest)
		r.s.RepublishAll(ms(m["t"]))
		r.collect()
	case "send":
		if len(r.reqs) == 0 {
			r.fatalf("expected request %s, none sent", rest)
		}
		if r.reqs[0] != rest {
			r.fatalf("request\n got %s\nwant %s", r.reqs[0], rest)
		}
		r.reqs = r.reqs[1:]
	case "event":
		r.expectEvent(rest)
	case "stats":
		m, _ := kv(rest)
		for k, v := range m {
			want, _ := strconv.ParseUint(v, 10, 64)
			if got := statByName(r, k); got != want {
				r.fatalf("stats %s = %d, want %d", k, got, want)
			}
		}
	case "state":
		sym, want, _ := strings.Cut(rest, " ")
		i := r.bookIndex(sym)
		if got := stateName(r.s.books[i].state); got != want {
			r.fatalf("state of %s = %s, want %s", sym, got, want)
		}
	case "book":
		sym, rest, _ := strings.Cut(rest, " ")
		bk := &r.s.books[r.bookIndex(sym)]
		m, _ := kv(rest)
		for k, v := range m {
			want, _ := strconv.ParseUint(v, 10, 64)
			got := bk.u
			switch k {
			case "u":
			case "seq":
				got = bk.seq
			default:
				r.fatalf("unknown book key %q", k)
			}
			if got != want {
				r.fatalf("book %s %s = %d, want %d", sym, k, got, want)
			}
		}
	case "reconnect":
		if got := strconv.FormatBool(r.s.NeedReconnect()); got != rest {
			r.fatalf("NeedReconnect = %s, want %s", got, rest)
		}
	case "synced":
		if got := strconv.FormatBool(r.s.Synced()); got != rest {
			r.fatalf("Synced = %s, want %s", got, rest)
		}
	case "jumps":
		if got := strconv.FormatUint(r.s.UJumps(), 10); got != rest {
			r.fatalf("UJumps = %s, want %s", got, rest)
		}
	default:
		r.fatalf("unknown command %q", cmd)
	}
}

func (r *scriptRun) bookIndex(sym string) int {
	for i := range r.s.books {
		if r.s.books[i].sym == sym {
			return i
		}
	}
	r.fatalf("no instrument %s", sym)
	return -1
}

func stateName(st bookState) string {
	switch st {
	case stSubscribing:
		return "subscribing"
	case stLive:
		return "live"
	case stBroken:
		return "broken"
	case stResubscribing:
		return "resubscribing"
	}
	return "invalid"
}

func causeByName(r *scriptRun, name string) exchange.StaleCause {
	for c := exchange.CauseNone; c <= exchange.CauseReset; c++ {
		if c.String() == name {
			return c
		}
	}
	r.fatalf("unknown cause %q", name)
	return 0
}

func statByName(r *scriptRun, name string) uint64 {
	st := r.s.Stats()
	switch name {
	case "messages":
		return st.Messages.Load()
	case "published":
		return st.Published.Load()
	case "resyncs":
		return st.Resyncs.Load()
	case "gaps":
		return st.Gaps.Load()
	}
	if reason, ok := strings.CutPrefix(name, "reject."); ok {
		for k := exchange.RejectReason(1); int(k) < exchange.NumRejectReasons; k++ {
			if k.String() == reason {
				return st.Rejects(k)
			}
		}
	}
	r.fatalf("unknown stat %q", name)
	return 0
}

func (r *scriptRun) expectEvent(spec string) {
	r.t.Helper()
	if len(r.events) == 0 {
		r.fatalf("expected event %s, none published", spec)
	}
	ev := r.events[0]
	r.events = r.events[1:]
	sym, rest, _ := strings.Cut(spec, " ")
	kind, rest, _ := strings.Cut(rest, " ")
	i := r.bookIndex(sym)
	in := r.cfg.Instruments[i]
	if ev.Inst != in.ID || ev.Venue != r.cfg.Venue {
		r.fatalf("event for inst %d venue %d, want %s (%d) venue %d", ev.Inst, ev.Venue, sym, in.ID, r.cfg.Venue)
	}
	switch kind {
	case "fresh":
		if ev.Stale() || ev.Crossed() {
			r.fatalf("want fresh event, got %s", fmtEvent(&ev))
		}
	case "stale":
		if !ev.Stale() || ev.NBids != 0 || ev.NAsks != 0 {
			r.fatalf("want stale event, got %s", fmtEvent(&ev))
		}
	default:
		r.fatalf("event kind %q", kind)
	}
	m, _ := kv(rest)
	for k, v := range m {
		switch k {
		case "seq":
			if want, _ := strconv.ParseUint(v, 10, 64); ev.Seq != want {
				r.fatalf("seq %d, want %s (%s)", ev.Seq, v, fmtEvent(&ev))
			}
		case "ts":
			if want := ms(v); ev.ExchTS != want {
				r.fatalf("exch ts %d, want %d", ev.ExchTS, want)
			}
		case "recv":
			if want := ms(v); ev.RecvTS != want {
				r.fatalf("recv ts %d, want %d", ev.RecvTS, want)
			}
		case "cause":
			if ev.Cause.String() != v {
				r.fatalf("cause %s, want %s", ev.Cause, v)
			}
		case "b", "a":
			want := r.levels(v, in.Scale)
			got := ev.Bids[:ev.NBids]
			if k == "a" {
				got = ev.Asks[:ev.NAsks]
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				r.fatalf("%s side\n got %v\nwant %v", k, got, want)
			}
		default:
			r.fatalf("unknown event key %q", k)
		}
	}
}

func (r *scriptRun) levels(v string, s num.Scale) []exchange.Level {
	if v == "-" {
		return []exchange.Level{}
	}
	var out []exchange.Level
	for _, p := range strings.Split(v, ",") {
		px, qty, ok := strings.Cut(p, "@")
		a, err1 := num.ParseString(px, s.Px)
		b, err2 := num.ParseString(qty, s.Qty)
		if !ok || err1 != nil || err2 != nil {
			r.fatalf("bad level %q", p)
		}
		out = append(out, exchange.Level{Px: num.Price(a), Qty: num.Qty(b)})
	}
	return out
}

func fmtEvent(ev *exchange.BookTop) string {
	return fmt.Sprintf("{inst %d seq %d stale %v cause %s bids %v asks %v}", ev.Inst, ev.Seq, ev.Stale(), ev.Cause,
		ev.Bids[:ev.NBids], ev.Asks[:ev.NAsks])
}
