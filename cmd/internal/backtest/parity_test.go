package backtest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/cmd/internal/httpapi"
	"arb/cmd/internal/wire"
	"arb/configs"
	"arb/exchange"
	"arb/exchange/num"
	"arb/exchange/recording"
	"arb/exchange/sim"
	"arb/exchange/tap"
)

// TestParity is issue 15's parity Must-show: the daemon (wire.Build, as
// arbd runs it, with the executor trading the in-process simulator)
// records its session through the tap (what arbd --record does), and a
// backtest of the recording with the same config and zero latency decides
// the same plans — ids, quantities, limit prices, edges — with the same
// risk decisions and the same executor answers, in the same order; and
// its simulated venues fill what the simulator filled (per venue: fills,
// quote bought and sold, exact).
//
// The simulator is stepped by the test (ManualStep), one venue at a time:
// after each venue's step the test waits, on conditions, until the
// daemon's books hold that update and no trade is in flight. The daemon's
// decisions then do not depend on how fast this machine is: no two
// venues' updates race each other to the loop, no book moves while an
// order is on its way, and each trade is over (its balances fetched back
// from the venues) before the next update. The test makes opportunities
// with Dislocate, in both directions, on every venue.
func TestParity(t *testing.T) {
	cfg := defaultConfig(t)
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Listen = "127.0.0.1:0"
	// One trade at a time (the rules' max_open_trades, for both runs):
	// two trades open together race their orders to a venue they share,
	// and which arrives first — which takes the better levels — is up to
	// the daemon's goroutines, where the backtest sends them in plan
	// order. The second plan of a batch is then rejected by the rule, in
	// both, and the fills (so the balances later plans are sized from)
	// stay the same.
	rules, err := os.ReadFile(cfg.Risk.RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	const open4, open1 = "max_open_trades: 4 ", "max_open_trades: 1 "
	if !bytes.Contains(rules, []byte(open4)) {
		t.Fatalf("rules file has no %q", open4)
	}
	cfg.Risk.RulesFile = filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(cfg.Risk.RulesFile, bytes.Replace(rules, []byte(open4), []byte(open1), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	recDir := filepath.Join(t.TempDir(), "rec")
	base := wire.NewPlanIDBase()
	meta := wire.RecordMeta(cfg)
	meta.PlanIDBase = base
	w, err := recording.NewWriter(recording.WriterConfig{Dir: recDir, Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingSink{Sink: w}
	var mu sync.Mutex
	var live []httpapi.PlanStatus
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := wire.Build(ctx, cfg, wire.Options{
		RulesFallback: configs.DefaultRules, RulesFallbackName: configs.DefaultRulesName, Logger: log,
		Tap: counted, PlanIDBase: base,
		// One event per batch: the live loop's batches group events as
		// the scheduler delivers them, and a batch evaluates only each
		// book's newest event; the backtest steps the loop after every
		// record. Without this a loaded machine changes which book state
		// a plan is priced on (a CI run: plan 11's buy limit 59626.8 live,
		// 59625.3 replayed), which is scheduling, not the engine's code.
		LoopBatchMax: 1,
		TuneSim: func(c *sim.Config) {
			c.ManualStep = true
			c.Dislocation.Prob, c.Quiet.Prob = 0, 0
		},
		OnPlan: func(st httpapi.PlanStatus) {
			mu.Lock()
			live = append(live, st)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- d.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-runDone:
			if err != nil && ctx.Err() == nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the daemon did not stop within 30 s")
		}
	}
	defer stop()
	s := d.Sim()

	// Ready: /readyz answers 200 (journal, executor, balances, books).
	// Until then the market steps on its own every 50 ms (the feeds
	// resubscribe after a silence of their age limit); it has no
	// dislocation, so nothing is crossed by more than the fees.
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.Step()
		if a := d.Addr(); a != "" {
			if resp, err := http.Get("http://" + a + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon was not ready within 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// synced waits until the daemon has read every frame the simulator
	// queued on every venue's market-data connections, its loop has taken
	// every event the feeds published, and no trade is in flight — and
	// the frame counts did not move meanwhile (a trade's fills may change
	// another venue's book while the daemon settles: every venue counts,
	// not only the one stepped). vi names the venue stepped, for errors.
	allRead := func() (uint64, bool) {
		var sum uint64
		for k, v := range cfg.Venues {
			n := s.PublicFrames(v.Name)
			if counted.frames(k+1) != n {
				return 0, false
			}
			sum += n
		}
		return sum, true
	}
	synced := func(vi int) {
		t.Helper()
		v := cfg.Venues[vi]
		deadline := time.Now().Add(60 * time.Second)
		for {
			if before, ok := allRead(); ok {
				ictx, icancel := context.WithTimeout(ctx, 30*time.Second)
				settled, err := d.Settled(ictx)
				icancel()
				if err != nil {
					t.Fatalf("settled: %v", err)
				}
				if after, ok := allRead(); settled && ok && after == before {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("venue %s: not settled within 60 s (frames read %d, sent %d; in flight %d)", v.Name,
					counted.frames(vi+1), s.PublicFrames(v.Name), d.InFlight())
			}
			time.Sleep(time.Millisecond)
		}
	}
	step := func() {
		s.StepPrices()
		for vi, v := range cfg.Venues {
			if err := s.StepVenue(v.Name); err != nil {
				t.Fatal(err)
			}
			synced(vi)
		}
	}
	for vi := range cfg.Venues {
		synced(vi)
	}
	// Opportunities: each venue in turn dislocated up, then down, on each
	// symbol, with calm steps between (the detector's cooldown is per
	// pair and 2 s of the clock: some dislocations are refused by it,
	// which is a decision too).
	syms := []string{"BTC-USDT", "ETH-USDT", "SOL-USDT"}
	k := 0
	for round := 0; round < 4; round++ {
		for vi, v := range cfg.Venues {
			sym := syms[(vi+round)%len(syms)]
			bps := 60.0
			if (k % 2) == 1 {
				bps = -60
			}
			k++
			if err := s.Dislocate(v.Name, sym, bps, 6); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				step()
			}
		}
	}
	// What the venues filled: count, and quote bought and sold per venue
	// (exact, from the fills in the instruments' scales).
	type venueFills struct {
		n            uint64
		bought, sold decimal.Decimal
	}
	liveFills := map[string]*venueFills{}
	scale := map[string]num.Scale{}
	for _, in := range cfg.Instruments {
		scale[in.Symbol] = in.Scale()
	}
	for _, v := range cfg.Venues {
		vf := &venueFills{}
		for _, f := range s.Fills(v.Name) {
			sc := scale[f.Symbol]
			q := decimal.New(int64(f.Px), -int32(sc.Px)).Mul(decimal.New(int64(f.Qty), -int32(sc.Qty)))
			if f.Side == exchange.Buy {
				vf.bought = vf.bought.Add(q)
			} else {
				vf.sold = vf.sold.Add(q)
			}
			vf.n++
		}
		liveFills[v.Name] = vf
	}
	stop()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	liveCopy := append([]httpapi.PlanStatus(nil), live...)
	mu.Unlock()
	submitted := 0
	for _, p := range liveCopy {
		if p.Execution == "submitted" {
			submitted++
		}
	}
	t.Logf("live session: %d plans, %d submitted; recording %d records in %d files", len(liveCopy), submitted, w.Stats().Records.Load(), len(w.Files()))
	if submitted < 2 {
		t.Fatalf("the live session traded too little to compare (%d plans, %d submitted): %+v", len(liveCopy), submitted, liveCopy)
	}

	// The backtest of the recording, same config, zero latency.
	var replayed []httpapi.PlanStatus
	opt := options(w.Files()...)
	opt.OnPlan = func(st httpapi.PlanStatus) { replayed = append(replayed, st) }
	rep, err := Run(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backtest: %d plans, %d trades", rep.Plans, rep.Trades)
	key := func(p httpapi.PlanStatus) string {
		p.TS = time.Time{} // the live desk stamps the wall clock, the backtest the record's receive time
		return fmt.Sprintf("%+v", p)
	}
	n := max(len(liveCopy), len(replayed))
	bad := 0
	for i := 0; i < n; i++ {
		var a, b string
		if i < len(liveCopy) {
			a = key(liveCopy[i])
		}
		if i < len(replayed) {
			b = key(replayed[i])
		}
		if a != b {
			bad++
			t.Errorf("plan %d differs:\nlive     %s\nbacktest %s", i, a, b)
			if bad > 5 {
				break
			}
		}
	}
	if len(liveCopy) != len(replayed) {
		t.Fatalf("live session decided %d plans, the backtest %d", len(liveCopy), len(replayed))
	}
	// The orders met the same books: the venues filled what the
	// backtest's simulated venues did, venue by venue.
	for _, row := range rep.Venues {
		lf := liveFills[row.Venue]
		if lf == nil {
			t.Errorf("venue %s in the report is not configured", row.Venue)
			continue
		}
		b, _ := decimal.NewFromString(row.Bought)
		sd, _ := decimal.NewFromString(row.Sold)
		t.Logf("venue %s: %d fills, bought %s, sold %s (live and backtest)", row.Venue, lf.n, lf.bought, lf.sold)
		if row.Fills != lf.n || !b.Equal(lf.bought) || !sd.Equal(lf.sold) || len(rep.Venues) != len(cfg.Venues) {
			t.Errorf("venue %s: live %d fills, bought %s, sold %s; backtest %d fills, bought %s, sold %s",
				row.Venue, lf.n, lf.bought, lf.sold, row.Fills, row.Bought, row.Sold)
		}
	}
}

// countingSink counts the frames the tap saw per venue before passing
// everything on.
type countingSink struct {
	tap.Sink
	n [exchange.MaxVenues + 1]atomic.Uint64
}

func (c *countingSink) Tap(kind tap.Kind, venue exchange.VenueID, conn uint64, ts int64, aux uint32, meta, data []byte) {
	if kind == tap.KindFrame && int(venue) < len(c.n) {
		c.n[venue].Add(1)
	}
	c.Sink.Tap(kind, venue, conn, ts, aux, meta, data)
}

func (c *countingSink) frames(venue int) uint64 { return c.n[venue].Load() }
