package binance

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"arb/exchange"
)

// TestSyncScripts runs the data-driven scripts in testdata/sync. Each script
// is a specification of the session's sync state machine; the format is:
//
//	# comment
//	config channel=depth depth=1000 refresh=0     (first; then one line per instrument)
//	inst SYMBOL ID PXDEC QTYDEC
//	clock MS                       set the clock (inputs advance it by 1 ms)
//	frame JSON                     input: HandleFrame
//	frame @docs/NAME [STREAM]      input: a documented payload, wrapped in STREAM if given
//	snapshot SYMBOL JSON|@docs/NAME  input: ApplySnapshot
//	snapfail SYMBOL                input: SnapshotFailed
//	disconnect CAUSE               input: Disconnected
//	republish | refresh            input: Republish / Refresh at the clock
//	active true|false              the session's generation owns (or not) the venue
//	pub SYMBOL fresh seq=N [exch=MS] [recv=MS] bids=P:Q,… asks=P:Q,…
//	pub SYMBOL stale CAUSE         expect the next published event
//	need [SYMBOL…]                 expect NeedSnapshot to return exactly these, in order
//	synced true|false | shutdown true|false
//	stats NAME=N …                 cumulative counters (messages, published, resyncs,
//	                               gaps, and reject reasons by metric label)
//
// Every event published by an input must be matched by pub lines before the
// next input (or the end): nothing published goes unexamined.
func TestSyncScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/sync/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type script struct {
	t       *testing.T
	file    string
	line    int
	h       *harness
	cfg     Config
	refresh int64
	clock   int64
	queue   []exchange.BookTop
}

func (sc *script) fatalf(format string, a ...any) {
	sc.t.Helper()
	sc.t.Fatalf("%s:%d: "+format, append([]any{sc.file, sc.line}, a...)...)
}

func runScript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc := &script{t: t, file: file, clock: 1_000}
	for n, raw := range strings.Split(string(data), "\n") {
		sc.line = n + 1
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmd, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		if cmd != "config" && cmd != "inst" && sc.h == nil {
			sc.start()
		}
		switch cmd {
		case "config":
			sc.config(rest)
		case "inst":
			f := strings.Fields(rest)
			if len(f) != 4 {
				sc.fatalf("inst SYMBOL ID PXDEC QTYDEC")
			}
			id, _ := strconv.Atoi(f[1])
			px, _ := strconv.Atoi(f[2])
			qty, _ := strconv.Atoi(f[3])
			sc.cfg.Instruments = append(sc.cfg.Instruments, testInst(f[0], exchange.InstrumentID(id), uint8(px), uint8(qty)))
		case "clock":
			ms, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				sc.fatalf("clock: %v", err)
			}
			sc.clock = ms
		case "frame", "snapshot", "snapfail", "disconnect", "republish", "refresh":
			sc.input(cmd, rest)
		case "active":
			if rest == "true" {
				sc.h.owner.Take(1)
			} else {
				sc.h.owner.Take(2)
			}
		case "pub":
			sc.expectPub(rest)
		case "nothing":
			sc.collect()
			if len(sc.queue) > 0 {
				sc.fatalf("expected nothing published, got %s", sc.describe(sc.queue[0]))
			}
		case "need":
			var got []string
			for {
				i, ok := sc.h.s.NeedSnapshot()
				if !ok {
					break
				}
				got = append(got, sc.h.cfg.Instruments[i].Symbol)
			}
			if g, w := strings.Join(got, " "), rest; g != w {
				sc.fatalf("need: got [%s], want [%s]", g, w)
			}
		case "synced":
			if g := strconv.FormatBool(sc.h.s.Synced()); g != rest {
				sc.fatalf("synced = %s, want %s", g, rest)
			}
		case "shutdown":
			if g := strconv.FormatBool(sc.h.s.ShutdownRequested()); g != rest {
				sc.fatalf("shutdown = %s, want %s", g, rest)
			}
		case "stats":
			sc.expectStats(rest)
		default:
			sc.fatalf("unknown command %q", cmd)
		}
	}
	sc.collect()
	if len(sc.queue) > 0 {
		sc.fatalf("end of script with unexamined event %s", sc.describe(sc.queue[0]))
	}
}

func (sc *script) config(rest string) {
	sc.cfg = baseConfig("", 0)
	for _, kv := range strings.Fields(rest) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "channel":
			sc.cfg.Channel = v
		case "depth":
			sc.cfg.Depth, _ = strconv.Atoi(v)
		case "refresh":
			d, err := time.ParseDuration(v)
			if err != nil {
				sc.fatalf("refresh: %v", err)
			}
			sc.refresh = int64(d)
		default:
			sc.fatalf("unknown config key %q", k)
		}
	}
}

func (sc *script) start() {
	if len(sc.cfg.Instruments) == 0 {
		sc.fatalf("no config/inst lines before the first command")
	}
	sc.h = newHarness(sc.t, sc.cfg, sc.refresh)
}

func (sc *script) payload(arg string) []byte {
	if !strings.HasPrefix(arg, "@") {
		return []byte(arg)
	}
	name, stream, _ := strings.Cut(arg[1:], " ")
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		sc.fatalf("%v", err)
	}
	if stream != "" {
		b = wrap(stream, b)
	}
	return b
}

// input applies one input command at the clock and collects what it published.
func (sc *script) input(cmd, rest string) {
	sc.collect()
	if len(sc.queue) > 0 {
		sc.fatalf("unexamined event before %s: %s", cmd, sc.describe(sc.queue[0]))
	}
	now := sc.clock * 1e6
	sc.clock++
	s := sc.h.s
	switch cmd {
	case "frame":
		s.HandleFrame(sc.payload(rest), now)
	case "snapshot":
		sym, body, _ := strings.Cut(rest, " ")
		s.ApplySnapshot(sc.h.instIndex(sc.t, sym), sc.payload(body), now)
	case "snapfail":
		s.SnapshotFailed(sc.h.instIndex(sc.t, rest))
	case "disconnect":
		s.Disconnected(causeByName(sc, rest), now)
	case "republish":
		s.Republish(now)
	case "refresh":
		s.Refresh(now)
	}
	sc.collect()
}

func (sc *script) collect() { sc.queue = append(sc.queue, sc.h.drain()...) }

func causeByName(sc *script, name string) exchange.StaleCause {
	for c := exchange.CauseNone; c <= exchange.CauseReset; c++ {
		if c.String() == name {
			return c
		}
	}
	sc.fatalf("unknown cause %q", name)
	return 0
}

func (sc *script) describe(ev exchange.BookTop) string {
	sym := "?"
	for _, in := range sc.h.cfg.Instruments {
		if in.ID == ev.Inst {
			sym = in.Symbol
			sc := in.Scale
			if ev.Stale() {
				return sym + " stale " + ev.Cause.String()
			}
			return sym + " fresh seq=" + strconv.FormatUint(ev.Seq, 10) +
				" exch=" + strconv.FormatInt(ev.ExchTS/1e6, 10) + " recv=" + strconv.FormatInt(ev.RecvTS/1e6, 10) +
				" bids=" + fmtLevels(ev.Bids[:ev.NBids], sc) + " asks=" + fmtLevels(ev.Asks[:ev.NAsks], sc)
		}
	}
	return sym
}

func (sc *script) expectPub(rest string) {
	sc.collect()
	if len(sc.queue) == 0 {
		sc.fatalf("expected pub %s, nothing published", rest)
	}
	ev := sc.queue[0]
	sc.queue = sc.queue[1:]
	f := strings.Fields(rest)
	if len(f) < 2 {
		sc.fatalf("pub SYMBOL fresh|stale …")
	}
	in := sc.h.cfg.Instruments[sc.h.instIndex(sc.t, f[0])]
	if ev.Inst != in.ID || ev.Venue != sc.h.cfg.Venue {
		sc.fatalf("got %s, want pub %s", sc.describe(ev), rest)
	}
	if f[1] == "stale" {
		if !ev.Stale() || len(f) != 3 || ev.Cause.String() != f[2] || ev.NBids != 0 || ev.NAsks != 0 {
			sc.fatalf("got %s, want pub %s", sc.describe(ev), rest)
		}
		return
	}
	if f[1] != "fresh" || ev.Stale() || ev.Cause != exchange.CauseNone {
		sc.fatalf("got %s, want pub %s", sc.describe(ev), rest)
	}
	if ev.Crossed() {
		sc.fatalf("published crossed book %s", sc.describe(ev))
	}
	for _, kv := range f[2:] {
		k, v, _ := strings.Cut(kv, "=")
		var ok bool
		switch k {
		case "seq":
			ok = strconv.FormatUint(ev.Seq, 10) == v
		case "exch":
			ok = strconv.FormatInt(ev.ExchTS/1e6, 10) == v && ev.ExchTS%1e6 == 0
		case "recv":
			ok = strconv.FormatInt(ev.RecvTS/1e6, 10) == v
		case "bids":
			ok = fmtLevels(ev.Bids[:ev.NBids], in.Scale) == fmtLevels(parseLevels(sc.t, v, in.Scale), in.Scale)
		case "asks":
			ok = fmtLevels(ev.Asks[:ev.NAsks], in.Scale) == fmtLevels(parseLevels(sc.t, v, in.Scale), in.Scale)
		default:
			sc.fatalf("unknown pub field %q", k)
		}
		if !ok {
			sc.fatalf("got %s, want pub %s (field %s)", sc.describe(ev), rest, k)
		}
	}
}

func (sc *script) expectStats(rest string) {
	st := &sc.h.stats
	for _, kv := range strings.Fields(rest) {
		k, v, _ := strings.Cut(kv, "=")
		want, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			sc.fatalf("stats %s: %v", kv, err)
		}
		var got uint64
		switch k {
		case "messages":
			got = st.Messages.Load()
		case "published":
			got = st.Published.Load()
		case "resyncs":
			got = st.Resyncs.Load()
		case "gaps":
			got = st.Gaps.Load()
		default:
			found := false
			for r := exchange.RejectReason(1); int(r) < exchange.NumRejectReasons; r++ {
				if r.String() == k {
					got, found = st.Rejects(r), true
				}
			}
			if !found {
				sc.fatalf("unknown stat %q", k)
			}
		}
		if got != want {
			sc.fatalf("stats %s = %d, want %d", k, got, want)
		}
	}
}
