package backtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"arb/cmd/internal/config"
	"arb/cmd/internal/wire"
	"arb/configs"
	"arb/exchange"
	"arb/exchange/recording"
	"arb/ringbuf"
)

const testRecording = "testdata/sim3.arbrec"

func defaultConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Parse(config.DefaultName, config.Default(), wire.Known())
	if err != nil {
		t.Fatal(err)
	}
	// The default's rules_file is relative to the repository root.
	cfg.Risk.RulesFile = "../../../configs/rules.yaml"
	return cfg
}

func options(data ...string) Options {
	return Options{Data: data, RulesFallback: configs.DefaultRules, RulesFallbackName: "embedded"}
}

// TestDeterministic: the same recording and config give byte-identical
// report.json and trades.csv, with trades in them (a report with nothing
// in it would be identical too).
func TestDeterministic(t *testing.T) {
	cfg := defaultConfig(t)
	var outs [2]string
	for i := range outs {
		outs[i] = t.TempDir()
		opt := options(testRecording)
		opt.Out = outs[i]
		r, err := Run(context.Background(), cfg, opt)
		if err != nil {
			t.Fatal(err)
		}
		if r.Trades == 0 || r.Plans == 0 || r.Fills == 0 || r.BookEvents == 0 {
			t.Fatalf("run %d traded nothing: %+v", i, r)
		}
	}
	for _, f := range []string{"report.json", "trades.csv", "report.html"} {
		a, _ := os.ReadFile(filepath.Join(outs[0], f))
		b, _ := os.ReadFile(filepath.Join(outs[1], f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Fatalf("%s differs between two runs (%d and %d bytes)", f, len(a), len(b))
		}
	}
}

// TestReportConsistent checks the report's figures against each other and
// against trades.csv.
func TestReportConsistent(t *testing.T) {
	cfg := defaultConfig(t)
	opt := options(testRecording)
	opt.Out = t.TempDir()
	r, err := Run(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	csvb, _ := os.ReadFile(filepath.Join(opt.Out, "trades.csv"))
	if lines := bytes.Count(csvb, []byte("\n")); uint64(lines) != r.Trades+1 {
		t.Fatalf("trades.csv has %d lines for %d trades", lines, r.Trades)
	}
	var pairTrades, pairPlans, venueFills uint64
	for _, p := range r.Pairs {
		pairTrades += p.Trades
		pairPlans += p.Plans
	}
	for _, v := range r.Venues {
		venueFills += v.Fills
	}
	if pairTrades != r.Trades || pairPlans != r.Plans || venueFills != r.Fills {
		t.Fatalf("pairs %d trades %d plans, venues %d fills; totals %d %d %d", pairTrades, pairPlans, venueFills, r.Trades, r.Plans, r.Fills)
	}
	if r.Approved+r.Rejected != r.Plans || r.ClosedFlat+r.Residual != r.Trades {
		t.Fatalf("plans %d = approved %d + rejected %d? trades %d = %d + %d?", r.Plans, r.Approved, r.Rejected, r.Trades, r.ClosedFlat, r.Residual)
	}
	if len(r.Equity) != int(r.Trades)+1 {
		t.Fatalf("%d equity points for %d trades", len(r.Equity), r.Trades)
	}
}

// TestLatencyTakesLiquidity: with latency the orders meet later books and
// the run still completes; the order count is the same code path.
func TestLatency(t *testing.T) {
	cfg := defaultConfig(t)
	opt := options(testRecording)
	opt.Latency = map[string]time.Duration{"": 50 * time.Millisecond}
	r, err := Run(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if r.Orders == 0 {
		t.Fatal("no orders with latency")
	}
}

func TestSweep(t *testing.T) {
	out := t.TempDir()
	base := options(testRecording)
	base.Out = out
	src := config.Default()
	src = bytes.Replace(src, []byte("rules_file: configs/rules.yaml"), []byte("rules_file: ../../../configs/rules.yaml"), 1)
	axes := []Axis{{Key: "strategy.min_net_edge_bps", Values: []string{"5", "1000"}}, {Key: "latency", Values: []string{"0s", "5ms"}}}
	rows, err := Sweep(context.Background(), config.DefaultName, src, wire.Known(), base, axes, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		if r.Error != "" {
			t.Fatal(r.Error)
		}
	}
	if rows[0].Trades == 0 || rows[2].Plans != 0 {
		t.Fatalf("5 bps traded %d, 1000 bps planned %d", rows[0].Trades, rows[2].Plans)
	}
	for _, f := range []string{"sweep.json", "sweep.csv", "run-001/report.json", "run-004/report.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplayMatchesLive records the three simulated venues through the
// daemon's feeds, then replays the recording through the adapters' Replay:
// every venue publishes exactly the BookTop events the live feed did, in
// the same order (the stale markers of the shutdown carry the close time
// the tap stamped, so their RecvTS is not compared).
func TestReplayMatchesLive(t *testing.T) {
	cfg := defaultConfig(t)
	dir := t.TempDir()
	w, err := recording.NewWriter(recording.WriterConfig{Dir: dir, Meta: wire.RecordMeta(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	feeds, err := wire.StartFeeds(ctx, cfg, w, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer feeds.Close()
	var mu sync.Mutex
	live := map[exchange.VenueID][]exchange.BookTop{}
	fresh := 0
	feeds.OnEvent = func(ev *exchange.BookTop) {
		mu.Lock()
		live[ev.Venue] = append(live[ev.Venue], *ev)
		if !ev.Stale() {
			fresh++
		}
		mu.Unlock()
	}
	done := make(chan struct{})
	go func() { defer close(done); feeds.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := fresh
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if fresh < 300 {
		t.Fatalf("only %d fresh events in 60 s", fresh)
	}

	// Replay.
	pre, err := readPreamble(w.Files())
	if err != nil {
		t.Fatal(err)
	}
	ring := ringbuf.NewMPSC[exchange.BookTop](1 << 16)
	e := &engine{cfg: cfg, opt: options(w.Files()...), ctx: context.Background(), byMeta: map[uint8]*venueReplay{}}
	reg := wire.Registry(cfg)
	byMeta := map[uint8]*venueReplay{}
	for i, v := range cfg.Venues {
		vm := pre.meta.Venue(uint8(i + 1))
		hc := httpClient(pre.rest[vm.ID])
		l, err := wire.Listings(context.Background(), cfg, reg, i, baseURL(pre.rest[vm.ID][0].url), hc)
		if err != nil {
			t.Fatal(err)
		}
		vr, err := newVenueReplay(exchange.VenueID(i+1), vm, l, v.AgeMax, ring, func() int64 { return e.clock }, nil)
		if err != nil {
			t.Fatal(err)
		}
		byMeta[vm.ID] = vr
	}
	got := map[exchange.VenueID][]exchange.BookTop{}
	pop := func() {
		var ev exchange.BookTop
		for ring.TryPop(&ev) {
			got[ev.Venue] = append(got[ev.Venue], ev)
		}
	}
	r, _ := recording.Open(w.Files()...)
	defer r.Close()
	var last *venueReplay
	for {
		b, err := r.NextChunk(nil, nil)
		if err != nil {
			break
		}
		b.Records(func(rec *recording.Record) bool {
			v := byMeta[rec.Venue]
			if last != nil && last != v {
				last.settle()
			}
			last = v
			v.handle(rec)
			pop()
			return true
		})
	}
	if last != nil {
		last.settle()
	}
	pop()
	for v, evs := range live {
		g := got[v]
		if len(g) < len(evs) {
			t.Fatalf("venue %d: replay published %d events, live %d", v, len(g), len(evs))
		}
		for i := range evs {
			a, b := evs[i], g[i]
			if a.Stale() && b.Stale() {
				a.RecvTS, b.RecvTS = 0, 0
			}
			if a != b {
				t.Fatalf("venue %d event %d of %d differs:\nlive   %+v\nreplay %+v", v, i, len(evs), a, b)
			}
		}
		t.Logf("venue %d: %d events equal", v, len(evs))
	}
}

// TestCancel: a run whose context ends midway returns the context's error
// and leaves no goroutine of its pipeline behind.
func TestCancel(t *testing.T) {
	files := tile(t, testRecording, t.TempDir(), 25) // 68,025 records: one progress call before the end
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt := options(files...)
	calls := 0
	opt.Progress = func(done, total int64, n uint64) {
		calls++
		cancel()
	}
	_, err := Run(ctx, defaultConfig(t), opt)
	if !errors.Is(err, context.Canceled) || calls == 0 {
		t.Fatalf("Run after cancel: %v (%d progress calls)", err, calls)
	}
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before the run, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
