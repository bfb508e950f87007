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
)

// TestTrackerScripts runs every testdata/tracker/*.txt script: the order
// tracker (tracker.go) specified line by line. Each line is a call and
// its expected result, after "->". Times are milliseconds.
//
//	config entries=16 recv_window=5000
//	begin ID t=0 -> ok | known | inflight | toosoon wait=7000 | full
//	sent ID known|unknown|rejected t=10
//	state ID new|partially_filled|filled|canceled|rejected filled=300 t=20 -> tracked | untracked
//	fill ID TRADE qty=100 t=30 -> new | dup | untracked
//	notfound ID t=8000 -> forgotten | kept
//	due t=9000 down|up every=500 stale=3000 -> ID ID+fills … | -
//	live 2
func TestTrackerScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/tracker/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runTrackerScript(t, f) })
	}
}

func runTrackerScript(t *testing.T, file string) {
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	tr := newTracker(16)
	rw := 5 * time.Second
	sc := bufio.NewScanner(fh)
	line := 0
	fail := func(format string, a ...any) {
		t.Helper()
		t.Fatalf("%s:%d: %s", file, line, fmt.Sprintf(format, a...))
	}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		call, want, _ := strings.Cut(text, "->")
		want = strings.TrimSpace(want)
		f := strings.Fields(call)
		kv := map[string]string{}
		var args []string
		for _, w := range f[1:] {
			if k, v, ok := strings.Cut(w, "="); ok {
				kv[k] = v
			} else {
				args = append(args, w)
			}
		}
		ms := func(k string) int64 {
			v, err := strconv.ParseInt(kv[k], 10, 64)
			if err != nil {
				fail("%s=%q: %v", k, kv[k], err)
			}
			return v
		}
		now := func() int64 { return ms("t") * int64(time.Millisecond) }
		id := func() exchange.ID {
			if len(args) == 0 {
				fail("no id")
			}
			return exchange.MustID(args[0])
		}
		got := ""
		switch f[0] {
		case "config":
			n, _ := strconv.Atoi(kv["entries"])
			tr = newTracker(n)
			rw = time.Duration(ms("recv_window")) * time.Millisecond
			continue
		case "begin":
			ref, wait := tr.begin(id(), 1, now(), rw)
			got = [...]string{"ok", "known", "inflight", "toosoon", "full"}[ref]
			if ref == beginTooSoon {
				got += fmt.Sprintf(" wait=%d", wait.Milliseconds())
			}
		case "sent":
			tr.sent(id(), args[1] == "known", args[1] == "unknown", 0, now())
			continue
		case "state":
			st := exchange.OrderState{ClientID: id(), FilledQty: num.Qty(ms("filled"))}
			for s := exchange.StatusNew; s <= exchange.StatusRejected; s++ {
				if s.String() == args[1] {
					st.Status = s
				}
			}
			if st.Status == 0 {
				fail("status %q", args[1])
			}
			got = map[bool]string{true: "tracked", false: "untracked"}[tr.onState(&st, now())]
		case "fill":
			fl := exchange.Fill{ClientID: id(), TradeID: exchange.MustID(args[1]), Qty: num.Qty(ms("qty"))}
			tracked, dup := tr.onFill(&fl, now())
			switch {
			case !tracked:
				got = "untracked"
			case dup:
				got = "dup"
			default:
				got = "new"
			}
		case "notfound":
			got = map[bool]string{true: "forgotten", false: "kept"}[tr.notFound(id(), now(), rw)]
		case "due":
			items := tr.due(nil, now(), args[0] == "up", time.Duration(ms("every"))*time.Millisecond, time.Duration(ms("stale"))*time.Millisecond)
			var s []string
			for _, it := range items {
				x := it.id.String()
				if it.fills {
					x += "+fills"
				}
				s = append(s, x)
			}
			got = strings.Join(s, " ")
			if got == "" {
				got = "-"
			}
		case "live":
			if n, _ := strconv.Atoi(args[0]); tr.liveCount() != n {
				fail("live %d, want %d", tr.liveCount(), n)
			}
			continue
		default:
			fail("unknown command %q", f[0])
		}
		if got != want {
			fail("%s: got %q, want %q", strings.TrimSpace(call), got, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
