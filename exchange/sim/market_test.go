package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"arb/exchange"
)

func TestConfigValidateNamesField(t *testing.T) {
	for _, tc := range []struct {
		field  string
		mutate func(*Config)
	}{
		{"symbols[0].tick", func(c *Config) { c.Symbols[0].Tick = "0.001" }},
		{"symbols[1].symbol", func(c *Config) { c.Symbols[1].Symbol = "btcusdt" }},
		{"symbols[2].scale", func(c *Config) { c.Symbols[2].Scale.Px = 9 }},
		{"venues[0].kind", func(c *Config) { c.Venues[0].Kind = "kraken" }},
		{"venues[1].name", func(c *Config) { c.Venues[1].Name = c.Venues[0].Name }},
		{"venues[1].passphrase", func(c *Config) { c.Venues[1].Passphrase = "" }},
		{"venues[2].levels", func(c *Config) { c.Venues[2].Levels = 500 }},
		{"venues[0].fee_bps", func(c *Config) { c.Venues[0].FeeBps = 1.234 }},
		{"venues[0].checksum_zero", func(c *Config) { c.Venues[0].ChecksumZero = true }},
		{"venues[2].listen", func(c *Config) { c.Venues[2].Listen = "nowhere" }},
		{"step_interval", func(c *Config) { c.StepInterval = 0 }},
		{"history_depth", func(c *Config) { c.HistoryDepth = 10 }},
		{"binance.pong_timeout", func(c *Config) { c.Binance.PongTimeout = 0 }},
		{"dislocation.min_bps", func(c *Config) { c.Dislocation.MaxBps = 1 }},
		{"send_queue", func(c *Config) { c.SendQueue = 0 }},
	} {
		c := DefaultConfig()
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	if len(c.Venues) < 3 || len(c.Symbols) < 3 {
		t.Fatal("default config must have 3 venues × 3 symbols at least")
	}
}

// fingerprint is everything a run generated: every venue's and symbol's
// sequence and top levels after each step.
func fingerprint(t *testing.T, seed uint64, n int) string {
	c := testConfig()
	c.Seed = seed
	c.Quiet.Prob = 0.01 // exercise every random branch
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b strings.Builder
	for range n {
		s.Step()
		for _, v := range s.Venues() {
			for _, sym := range []string{"BTC-USDT", "ETH-USDT", "SOL-USDT"} {
				bids, asks, seq, _ := s.Book(v, sym)
				fmt.Fprintf(&b, "%s %s %d %v %v\n", v, sym, seq, bids[:3], asks[:3])
			}
		}
	}
	return b.String()
}

func TestDeterministicBySeed(t *testing.T) {
	a, b := fingerprint(t, 7, 300), fingerprint(t, 7, 300)
	if a != b {
		t.Fatal("same seed, different market")
	}
	if c := fingerprint(t, 8, 300); c == a {
		t.Fatal("different seeds, same market")
	}
}

// TestBookInvariants steps a market for a long time and checks every state:
// never crossed, strictly ordered sides, prices on the tick and sizes on the
// step grid, positive sizes, level counts in range, and history equal to the
// book it recorded.
func TestBookInvariants(t *testing.T) {
	c := testConfig()
	c.Dislocation.Prob = 0.05
	c.Quiet.Prob = 0.01
	c.Quiet.MaxSteps = 30
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 3000 {
		s.Step()
		for _, v := range s.venues {
			for _, vb := range v.books {
				checkSides(t, vb, i)
			}
		}
	}
}

func checkSides(t *testing.T, vb *vbook, step int) {
	t.Helper()
	b := &vb.pub
	if b.crossed() {
		t.Fatalf("step %d %s %s: crossed book", step, vb.v.cfg.Name, vb.sym.cfg.Symbol)
	}
	for _, sd := range []*side{&b.bids, &b.asks} {
		if len(sd.l) < vb.levels()/2 || len(sd.l) > vb.levels() {
			t.Fatalf("step %d: %d levels", step, len(sd.l))
		}
		for i, l := range sd.l {
			if l.px%vb.sym.tick != 0 || l.qty%vb.sym.step != 0 || l.qty <= 0 || l.px <= 0 {
				t.Fatalf("step %d: bad level %+v", step, l)
			}
			if i > 0 && !sd.better(sd.l[i-1].px, l.px) {
				t.Fatalf("step %d: side out of order at %d", step, i)
			}
		}
	}
	bids, asks, ok := vb.hist.at(vb.seq)
	if !ok || !levelsEqual(bids, toLevels(b.bids.top(25))) || !levelsEqual(asks, toLevels(b.asks.top(25))) {
		t.Fatalf("step %d: history differs from the published book", step)
	}
}

// TestDiffSideModel checks the merge-diff against a map model: applying the
// diff of old→new to old must give new, and the diff must be minimal.
func TestDiffSideModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gen := func(asc bool) side {
		s := side{asc: asc}
		for range r.IntN(30) {
			s.set(int64(1+r.IntN(60)), int64(1+r.IntN(5)))
		}
		return s
	}
	for i := range 2000 {
		asc := i%2 == 0
		a, b := gen(asc), gen(asc)
		d := diffSide(nil, a.l, b.l, asc)
		m := map[int64]int64{}
		for _, l := range a.l {
			m[l.px] = l.qty
		}
		for _, l := range d {
			if m[l.px] == l.qty {
				t.Fatalf("diff not minimal: %+v", l)
			}
			if l.qty == 0 {
				delete(m, l.px)
			} else {
				m[l.px] = l.qty
			}
		}
		if len(m) != len(b.l) {
			t.Fatalf("case %d: %d levels after diff, want %d", i, len(m), len(b.l))
		}
		for _, l := range b.l {
			if m[l.px] != l.qty {
				t.Fatalf("case %d: level %d is %d, want %d", i, l.px, m[l.px], l.qty)
			}
		}
		for j := 1; j < len(d); j++ {
			if !(&side{asc: asc}).better(d[j-1].px, d[j].px) {
				t.Fatalf("diff out of book order")
			}
		}
	}
}

// TestDislocationsMakeOpportunities: over a long run, the best bid of one
// venue exceeds the best ask of another, both by less and by more than two
// 10 bp taker fees.
func TestDislocationsMakeOpportunities(t *testing.T) {
	c := testConfig()
	c.Dislocation = DislocationConfig{Prob: 0.01, MinBps: 5, MaxBps: 40, MinSteps: 10, MaxSteps: 30}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var small, large int
	for range 3000 {
		s.Step()
		for _, sym := range s.syms {
			for _, x := range s.venues {
				for _, y := range s.venues {
					if x == y {
						continue
					}
					bid := x.books[sym.idx].pub.bids.l[0].px
					ask := y.books[sym.idx].pub.asks.l[0].px
					if bid <= ask {
						continue
					}
					bps := float64(bid-ask) / float64(ask) * 1e4
					if bps < 20 {
						small++
					} else {
						large++
					}
				}
			}
		}
	}
	if small == 0 || large == 0 {
		t.Fatalf("opportunities below/above two fees: %d/%d; want both", small, large)
	}
}

func TestBookAtBounded(t *testing.T) {
	s := newSim(t, func(c *Config) { c.HistoryLen = 16 })
	first, _ := s.Seq("okx", "BTC-USDT")
	if _, _, ok := s.BookAt("okx", "BTC-USDT", first); !ok {
		t.Fatal("initial state missing")
	}
	steps(s, 40)
	if _, _, ok := s.BookAt("okx", "BTC-USDT", first); ok {
		t.Fatal("state older than HistoryLen still there")
	}
	seq, _ := s.Seq("okx", "BTC-USDT")
	bids, asks, ok := s.BookAt("okx", "BTC-USDT", seq)
	if !ok || len(bids) != 25 || len(asks) != 25 {
		t.Fatalf("latest state: ok=%v %d/%d levels", ok, len(bids), len(asks))
	}
	if _, _, ok := s.BookAt("okx", "XRP-USDT", seq); ok {
		t.Fatal("unknown symbol answered")
	}
	if _, _, ok := s.BookAt("kraken", "BTC-USDT", seq); ok {
		t.Fatal("unknown venue answered")
	}
}

func TestTickerDrivesMarket(t *testing.T) {
	s := newSim(t, func(c *Config) {
		c.ManualStep = false
		c.StepInterval = 5 * time.Millisecond
	})
	a, _ := s.Seq("binance", "ETH-USDT")
	b := a
	for deadline := time.Now().Add(patience); b <= a && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		b, _ = s.Seq("binance", "ETH-USDT")
	}
	if b <= a {
		t.Fatalf("seq did not move in %v: %d → %d", patience, a, b)
	}
	var _ = exchange.Level{}
}

// TestDislocate: an explicit dislocation moves one venue's mid by about the
// requested bps against another venue within a few steps, and ends after
// its steps.
func TestDislocate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ManualStep = true
	cfg.Dislocation.Prob = 0
	cfg.Quiet.Prob = 0
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mid := func(v string) float64 {
		b, a, _, ok := s.Book(v, "BTC-USDT")
		if !ok || len(b) == 0 || len(a) == 0 {
			t.Fatal("no book")
		}
		return float64(b[0].Px+a[0].Px) / 2
	}
	gap := func() float64 { return (mid("okx")/mid("binance") - 1) * 1e4 }
	base := gap()
	if err := s.Dislocate("okx", "BTC-USDT", 40, 30); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		s.Step()
	}
	if g := gap() - base; g < 30 || g > 50 {
		t.Fatalf("okx moved %.1f bps against binance, want about 40", g)
	}
	for i := 0; i < 60; i++ {
		s.Step()
	}
	if g := gap() - base; g > 10 || g < -10 {
		t.Fatalf("dislocation did not end: %.1f bps", g)
	}
	for _, bad := range []struct {
		v, sym string
		bps    float64
		steps  int
	}{{"nowhere", "BTC-USDT", 10, 5}, {"okx", "XRP-USDT", 10, 5}, {"okx", "BTC-USDT", 10, 0}, {"okx", "BTC-USDT", 9000, 5}} {
		if s.Dislocate(bad.v, bad.sym, bad.bps, bad.steps) == nil {
			t.Errorf("Dislocate(%+v) accepted", bad)
		}
	}
}
