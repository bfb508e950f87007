package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"arb/cmd/internal/feedbus"
	"arb/exchange"
	"arb/exchange/sim"
)

// The distributed-feeds test (issue 17): an engine process and feed
// processes of the built binary, meeting on the machine's NATS server
// (127.0.0.1:4222 or ARB_NATS_URL; a failure under CI=true when absent),
// the venues simulated in this test process so that every feed process
// connects to the same venues. The test also subscribes to the book
// subjects itself, to see what crosses the wire: which feed published
// each message, under which term, and how long it took.

// wireMsg is one book message as the test's own subscriber saw it.
type wireMsg struct {
	subject      string
	source, term uint64
	seq          uint64
	stale        bool
	hop          time.Duration // receipt here − the feed's publish time (one machine, one clock)
	at           time.Time
}

// wireLog collects the book messages of the test's venues.
type wireLog struct {
	mu   sync.Mutex
	msgs []wireMsg
	bad  int
}

func (w *wireLog) add(m *nats.Msg) {
	now := time.Now()
	var ev exchange.BookTop
	var h feedbus.Header
	err := feedbus.Decode(m.Data, &ev, &h)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.bad++
		return
	}
	w.msgs = append(w.msgs, wireMsg{subject: m.Subject, source: h.Source, term: h.Term, seq: ev.Seq, stale: ev.Stale(),
		hop: now.Sub(time.Unix(0, h.PubTS)), at: now})
}

func (w *wireLog) snapshot() []wireMsg {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

// feedSource returns the instance id a feed process logged at start.
func feedSource(t *testing.T, p *proc) uint64 {
	t.Helper()
	var src uint64
	re := regexp.MustCompile(`"msg":"arbd feed running".*"source":"([0-9a-f]{16})"`)
	p.waitFor("feed running", 60*time.Second, func() bool {
		m := re.FindStringSubmatch(p.logs.String())
		if m == nil {
			return false
		}
		src, _ = strconv.ParseUint(m[1], 16, 64)
		return true
	})
	return src
}

// bookRows returns the engine's /api/v1/books rows of the test's venues.
func bookRows(p *proc, venues []string) (rows []map[string]any, ok bool) {
	code, body := p.get("/api/v1/books")
	if code != 200 {
		return nil, false
	}
	var all []map[string]any
	if json.Unmarshal([]byte(body), &all) != nil {
		return nil, false
	}
	for _, r := range all {
		if slices.Contains(venues, fmt.Sprint(r["venue"])) {
			rows = append(rows, r)
		}
	}
	return rows, true
}

// allBooks reports whether the engine shows every book of venues with
// stale == want.
func allBooks(p *proc, venues []string, n int, stale bool) bool {
	rows, ok := bookRows(p, venues)
	if !ok || len(rows) != n {
		return false
	}
	for _, r := range rows {
		if r["stale"] != stale {
			return false
		}
	}
	return true
}

// metric returns the sum of a metric's samples whose labels contain all
// of the given label pairs, from the engine's /metrics.
func metric(p *proc, name string, labels ...string) float64 {
	_, body := p.get("/metrics")
	sum := 0.0
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(line, l)
		}
		if !match {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

func pct(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// TestFeedEngineOverNATS: books cross from feed processes to an engine
// process through NATS, with the hop's latency measured; a second feed of
// the same venues stays a silent standby (the engine does not get the
// events twice) and takes over when the leader is killed, the engine
// counting as duplicates exactly the states the new leader republished
// that the old one had delivered; when the last feed is killed, the
// engine's books go stale within the age limit.
func TestFeedEngineOverNATS(t *testing.T) {
	natsURL := os.Getenv("ARB_NATS_URL")
	if natsURL == "" {
		natsURL = "nats://127.0.0.1:4222"
	}
	nc, err := nats.Connect(natsURL, nats.Timeout(3*time.Second))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS at %s (CI=true requires it): %v", natsURL, err)
		}
		t.Skipf("no NATS at %s: %v", natsURL, err)
	}
	defer nc.Close()

	sc := sim.DefaultConfig()
	sc.Symbols = sc.Symbols[:2] // BTC-USDT, ETH-USDT
	var venues []sim.VenueConfig
	for _, v := range sc.Venues {
		if v.Kind == sim.KindBinance || v.Kind == sim.KindOKX {
			venues = append(venues, v)
		}
	}
	sc.Venues = venues
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Venue names of this run only: the machine's NATS is shared, and
	// the names are the subjects' tokens and the lease keys.
	sfx := strconv.FormatUint(rand.Uint64()&0xffffff, 16)
	names := []string{"bn" + sfx, "ok" + sfx}
	const ageMax = 3 * time.Second
	const books = 4
	dir := t.TempDir()
	addr := freePort(t)
	rules, _ := shippedRules(t, dir)
	bu, _ := s.URLs("binance")
	ou, _ := s.URLs("okx")
	cfg := writeFile(t, dir, "arbd.yaml", fmt.Sprintf(`data_dir: %s
log: {level: info}
http: {listen: %s}
nats: {url: %q}
paper: true
instruments:
  - {symbol: BTC-USDT, price_decimals: 2, qty_decimals: 8}
  - {symbol: ETH-USDT, price_decimals: 2, qty_decimals: 8}
venues:
  - name: %s
    kind: binance
    ws_url: %s
    rest_url: %s
    taker_fee_bps: 10
    age_max: %s
    symbols: {BTC-USDT: BTCUSDT, ETH-USDT: ETHUSDT}
    withdraw_fees: {BTC: "0.0002", ETH: "0.002", USDT: "1"}
    balances: {USDT: "100000", BTC: "0.5", ETH: "10"}
  - name: %s
    kind: okx
    ws_url: %s
    rest_url: %s
    taker_fee_bps: 10
    age_max: %s
    symbols: {BTC-USDT: BTC-USDT, ETH-USDT: ETH-USDT}
    withdraw_fees: {BTC: "0.0002", ETH: "0.002", USDT: "1"}
    balances: {USDT: "100000", BTC: "0.5", ETH: "10"}
strategy:
  min_net_edge_bps: 5
  max_notional: "5000"
risk: {rules_file: %s}
`, filepath.Join(dir, "data"), addr, natsURL, names[0], bu.WSBase, bu.REST, ageMax, names[1], ou.WSBase, ou.REST, ageMax, rules))

	var wl wireLog
	for _, n := range names {
		sub, err := nc.Subscribe(feedbus.SubjectPrefix+n+".*", wl.add)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// One config, two roles.
	eng := start(t, addr, nil, nil, "--config", cfg, "--role", "engine")
	// The feeds serve HTTP too: each on a port of its own (--http).
	feedAddr := freePort(t)
	feedA := start(t, feedAddr, nil, nil, "--config", cfg, "--role", "feed", "--http", feedAddr)
	srcA := feedSource(t, feedA)
	feedA.waitFor("the feed's /readyz", 60*time.Second, func() bool { c, _ := feedA.get("/readyz"); return c == 200 })

	// Books cross the hop.
	begin := time.Now()
	eng.waitFor("every book fresh in the engine", 60*time.Second, func() bool { return allBooks(eng, names, books, false) })
	t.Logf("engine books fresh %v after the feed started", time.Since(begin).Round(time.Millisecond))

	// The hop's latency: the feed's publish to a subscriber here (the
	// engine's hop is the same; it exports it as arb_feed_hop_seconds).
	n0 := len(wl.snapshot())
	eng.waitFor("500 messages", 120*time.Second, func() bool { return len(wl.snapshot()) >= n0+500 })
	var hops []time.Duration
	for _, m := range wl.snapshot()[n0:] {
		hops = append(hops, m.hop)
	}
	t.Logf("feed → NATS → subscriber over %d messages: p50 %v p99 %v", len(hops), pct(hops, 0.5), pct(hops, 0.99))
	if metric(eng, "arb_feed_hop_seconds_count") == 0 {
		t.Fatal("the engine measured no hop")
	}

	// A standby feed of the same venues: it syncs its books but does not
	// publish while A leads.
	feedBAddr := freePort(t)
	feedB := start(t, feedBAddr, nil, nil, "--config", cfg, "--role", "feed", "--http", feedBAddr)
	srcB := feedSource(t, feedB)
	feedB.waitFor("B's venues connected", 60*time.Second, func() bool {
		return strings.Count(feedB.logs.String(), `"msg":"venue connected"`) >= len(names)
	})
	nB := len(wl.snapshot())
	eng.waitFor("150 messages with B running", 120*time.Second, func() bool { return len(wl.snapshot()) >= nB+150 })
	for _, m := range wl.snapshot()[nB:] {
		if m.source != srcA {
			t.Fatalf("a message from %016x while %016x leads: the standby published", m.source, srcA)
		}
	}

	// A dies; B takes over.
	feedA.cmd.Process.Signal(syscall.SIGKILL)
	<-feedA.exited
	killedA := time.Now()
	eng.waitFor("B publishing", 60*time.Second, func() bool {
		for _, m := range wl.snapshot() {
			if m.source == srcB {
				return true
			}
		}
		return false
	})
	t.Logf("standby publishing %v after the leader was killed (lease TTL %v)", time.Since(killedA).Round(time.Millisecond), feedbus.LeaseTTL)
	eng.waitFor("every book fresh from B", 60*time.Second, func() bool {
		return allBooks(eng, names, books, false) && metric(eng, "arb_feed_published_total") > 0
	})
	// Let B publish for a while, then compare what crossed the wire with
	// what the engine delivered.
	nT := len(wl.snapshot())
	eng.waitFor("100 messages from B", 120*time.Second, func() bool { return len(wl.snapshot()) >= nT+100 })
	msgs := wl.snapshot()
	lastA := map[string]wireMsg{}
	firstB := map[string]wireMsg{}
	termA, termB := uint64(0), uint64(0)
	for _, m := range msgs {
		switch m.source {
		case srcA:
			if _, seenB := firstB[m.subject]; seenB {
				t.Fatalf("%s: a message from the dead leader after the standby's", m.subject)
			}
			lastA[m.subject] = m
			termA = max(termA, m.term)
		case srcB:
			if _, ok := firstB[m.subject]; !ok {
				firstB[m.subject] = m
			}
			termB = max(termB, m.term)
		default:
			t.Fatalf("%s: a message from an unknown source %016x", m.subject, m.source)
		}
	}
	if termB <= termA {
		t.Fatalf("B's term %d is not above A's %d", termB, termA)
	}
	// The engine delivers B's takeover republish of a book only if it is
	// a newer state than A's last: the states it dropped as duplicates
	// are exactly the books whose first B message repeats A's last.
	wantDup := 0
	for subj, b := range firstB {
		if a, ok := lastA[subj]; ok && a.seq == b.seq && !a.stale && !b.stale && a.seq != 0 {
			wantDup++
		}
	}
	dup := metric(eng, "arb_feed_remote_dropped_total", `reason="duplicate"`)
	fenced := metric(eng, "arb_feed_remote_dropped_total", `reason="fenced"`)
	t.Logf("takeover: %d books republished, %d already delivered by A (engine dropped %v as duplicates), %v fenced",
		len(firstB), wantDup, dup, fenced)
	if int(dup) != wantDup || fenced != 0 {
		t.Fatalf("engine dropped %v duplicates (want %d) and %v fenced (want 0)", dup, wantDup, fenced)
	}
	if rej := metric(eng, "arb_feed_rejects_total"); rej != 0 {
		t.Fatalf("engine rejected %v messages", rej)
	}

	// The last feed dies: no more books, so the engine's books go stale
	// once their age passes the limit.
	feedB.cmd.Process.Signal(syscall.SIGKILL)
	<-feedB.exited
	killedB := time.Now()
	eng.waitFor("every book stale", 60*time.Second, func() bool { return allBooks(eng, names, books, true) })
	took := time.Since(killedB)
	t.Logf("engine books stale %v after the last feed was killed (age limit %v)", took.Round(time.Millisecond), ageMax)
	// The limit counts from the last book received, not from the kill,
	// plus one book snapshot (20 ms) and this test's polling; a loaded
	// machine gets generous slack, but a mechanism that waited for NATS
	// to notice a dead client (tens of seconds) would not pass.
	if took > ageMax+5*time.Second {
		t.Fatalf("books stale only %v after the feed died; age limit %v", took, ageMax)
	}
	eng.alive()
	eng.stop()
}

// TestRoleRefusals: an unknown role is a usage error (exit 2), and a
// split role without nats.url fails at start naming the key, since the
// embedded server admits no other process.
func TestRoleRefusals(t *testing.T) {
	var out syncBuffer
	if code := run([]string{"--role", "both"}, &out, &out); code != 2 || !strings.Contains(out.String(), `unknown role "both"`) {
		t.Fatalf("--role both: exit %d, %q", code, out.String())
	}
	out = syncBuffer{}
	if code := run([]string{"--http", "7421"}, &out, &out); code != 2 || !strings.Contains(out.String(), `--http "7421": want host:port`) {
		t.Fatalf("--http 7421: exit %d, %q", code, out.String())
	}
	for _, role := range []string{"feed", "engine"} {
		s := newSetup(t)
		p := start(t, s.addr, nil, nil, "--config", s.cfg, "--role", role)
		select {
		case <-p.exited:
		case <-time.After(60 * time.Second):
			t.Fatalf("--role %s with the embedded server still running", role)
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(p.logs.String(), "needs nats.url") {
			t.Fatalf("--role %s: exit %d, log %s", role, code, tail(p.logs.String(), 5))
		}
	}
}
