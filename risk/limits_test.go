package risk

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// defaultLimits are the values configs/rules.yaml ships with. The boundary
// tests below are written for them; TestDefaultLimitValues fails first, and
// by name, if the file changes, so the tests cannot silently test something
// else.
var defaultLimits = map[string]float64{
	"max_daily_loss": 1000, "daily_loss_warn_share": 0.8, "max_drawdown_pct": 2.0, "max_notional": 10000, "max_position_value": 50000,
	"max_asset_share": 0.30, "max_book_age_ms": 2000, "min_edge_bps": 5.0, "min_net_quote": 0.50,
	"max_open_trades": 4, "max_error_rate": 0.20, "max_latency_ms": 750, "max_residual_exposure": 2000,
	"max_price_gap_bps": 200, "warn_edge_bps": 60, "trading_open_minute": 0, "trading_close_minute": 1440,
}

func TestDefaultLimitValues(t *testing.T) {
	rs := loadDefault(t)
	if len(rs.rules) < 15 {
		t.Fatalf("default set has %d rules, want at least 15", len(rs.rules))
	}
	got := map[string]float64{}
	for _, l := range rs.limits {
		switch l.kind {
		case limInt:
			got[l.name] = float64(l.i)
		case limFloat:
			got[l.name] = l.f
		}
	}
	for name, want := range defaultLimits {
		if got[name] != want {
			t.Errorf("limits.%s = %v in configs/rules.yaml, the boundary tests expect %v", name, got[name], want)
		}
	}
	if len(rs.unused) > 0 {
		t.Errorf("limits not read by any rule: %v", rs.unused)
	}
}

// point is one input on one side of (or at) a limit and the decision the
// default rules must make for it.
type point struct {
	x       float64
	verdict Verdict
	rule    string // deciding rule; "" for a plain allow
}

// TestDefaultLimitBoundaries drives every built-in limit to just below, at,
// and just above its boundary, with everything else healthy, and checks the
// decision. observe reads the quantity the rule compares (after Evaluate's
// derivation), and the test first checks that the three inputs really land
// below, on and above the boundary.
func TestDefaultLimitBoundaries(t *testing.T) {
	rs := loadDefault(t)
	cases := []struct {
		name     string
		boundary float64
		setup    func(*Input) // optional: shape the sample before set
		set      func(*Input, float64)
		observe  func(*Input) float64
		below    point
		at       point
		above    point
	}{
		{name: "daily loss halts at -max_daily_loss", boundary: -1000,
			set:     func(in *Input, x float64) { in.Account.RealizedPnlToday, in.Account.UnrealizedPnl = x+200, -200 },
			observe: func(in *Input) float64 { return in.Account.PnlToday },
			below:   point{-1000.01, Halt, "daily_loss_halt"}, at: point{-1000, Halt, "daily_loss_halt"}, above: point{-999.99, Allow, ""}},
		{name: "drawdown freeze at 2% below the day's peak", boundary: 2.0,
			setup:   func(in *Input) { in.Account.PeakEquity = 100000 },
			set:     func(in *Input, x float64) { in.Account.Equity = x },
			observe: func(in *Input) float64 { return in.Account.DrawdownPct },
			below:   point{98001, Allow, ""}, at: point{98000, Reject, "drawdown_freeze"}, above: point{97999, Reject, "drawdown_freeze"}},
		{name: "buy venue error breaker", boundary: 0.20,
			set:     func(in *Input, x float64) { in.Buy.ErrorRate = x },
			observe: func(in *Input) float64 { return in.Buy.ErrorRate },
			below:   point{0.2 - 1e-9, Allow, ""}, at: point{0.2, Allow, ""}, above: point{0.2 + 1e-9, Reject, "venue_error_breaker"}},
		{name: "sell venue error breaker", boundary: 0.20,
			set:     func(in *Input, x float64) { in.Sell.ErrorRate = x },
			observe: func(in *Input) float64 { return in.Sell.ErrorRate },
			below:   point{0.2 - 1e-9, Allow, ""}, at: point{0.2, Allow, ""}, above: point{0.2 + 1e-9, Reject, "venue_error_breaker"}},
		{name: "buy venue latency breaker", boundary: 750,
			set:     func(in *Input, x float64) { in.Buy.LatencyMs = x },
			observe: func(in *Input) float64 { return in.Buy.LatencyMs },
			below:   point{749.999, Allow, ""}, at: point{750, Allow, ""}, above: point{750.001, Reject, "venue_latency_breaker"}},
		{name: "sell venue latency breaker", boundary: 750,
			set:     func(in *Input, x float64) { in.Sell.LatencyMs = x },
			observe: func(in *Input) float64 { return in.Sell.LatencyMs },
			below:   point{749.999, Allow, ""}, at: point{750, Allow, ""}, above: point{750.001, Reject, "venue_latency_breaker"}},
		{name: "qty must be positive", boundary: 0,
			set:     func(in *Input, x float64) { in.Plan.Qty = x },
			observe: func(in *Input) float64 { return in.Plan.Qty },
			// Just above zero passes this rule and fails the profit floor.
			below: point{-1e-9, Reject, "qty_positive"}, at: point{0, Reject, "qty_positive"}, above: point{1e-9, Reject, "min_net_profit"}},
		{name: "sequence sanity (buy)", boundary: 0,
			set:     func(in *Input, x float64) { in.Buy.Seq = int64(x) },
			observe: func(in *Input) float64 { return float64(in.Buy.Seq) },
			below:   point{-1, Reject, "sequence_sanity"}, at: point{0, Reject, "sequence_sanity"}, above: point{1, Allow, ""}},
		{name: "sequence sanity (sell)", boundary: 0,
			set:     func(in *Input, x float64) { in.Sell.Seq = int64(x) },
			observe: func(in *Input) float64 { return float64(in.Sell.Seq) },
			below:   point{-1, Reject, "sequence_sanity"}, at: point{0, Reject, "sequence_sanity"}, above: point{1, Allow, ""}},
		{name: "buy book age", boundary: 2000,
			set:     func(in *Input, x float64) { in.Buy.BookAgeMs = x },
			observe: func(in *Input) float64 { return in.Buy.BookAgeMs },
			below:   point{1999.999, Allow, ""}, at: point{2000, Allow, ""}, above: point{2000.001, Reject, "buy_book_age"}},
		{name: "sell book age", boundary: 2000,
			set:     func(in *Input, x float64) { in.Sell.BookAgeMs = x },
			observe: func(in *Input) float64 { return in.Sell.BookAgeMs },
			below:   point{1999.999, Allow, ""}, at: point{2000, Allow, ""}, above: point{2000.001, Reject, "sell_book_age"}},
		{name: "price sanity, sell above buy", boundary: 200,
			setup:   func(in *Input) { in.Buy.Price = 50000 },
			set:     func(in *Input, x float64) { in.Sell.Price = x },
			observe: func(in *Input) float64 { return in.Plan.SpreadBps },
			below:   point{50999.5, Allow, ""}, at: point{51000, Allow, ""}, above: point{51000.5, Reject, "price_sanity"}},
		{name: "price sanity, sell below buy", boundary: -200,
			setup:   func(in *Input) { in.Buy.Price, in.Plan.EdgeBps = 50000, 12 },
			set:     func(in *Input, x float64) { in.Sell.Price = x },
			observe: func(in *Input) float64 { return in.Plan.SpreadBps },
			below:   point{48999.5, Reject, "price_sanity"}, at: point{49000, Allow, ""}, above: point{49000.5, Allow, ""}},
		{name: "price sanity, buy price not positive", boundary: 0,
			set:     func(in *Input, x float64) { in.Buy.Price = x },
			observe: func(in *Input) float64 { return in.Buy.Price },
			below:   point{-1, Reject, "price_sanity"}, at: point{0, Reject, "price_sanity"}, above: point{60000, Allow, ""}},
		{name: "min edge", boundary: 5,
			set:     func(in *Input, x float64) { in.Plan.EdgeBps = x },
			observe: func(in *Input) float64 { return in.Plan.EdgeBps },
			below:   point{4.999, Reject, "min_edge"}, at: point{5, Allow, ""}, above: point{5.001, Allow, ""}},
		{name: "max open trades", boundary: 4,
			set:     func(in *Input, x float64) { in.Account.OpenTrades = int64(x) },
			observe: func(in *Input) float64 { return float64(in.Account.OpenTrades) },
			below:   point{3, Allow, ""}, at: point{4, Reject, "max_open_trades"}, above: point{5, Reject, "max_open_trades"}},
		{name: "max notional clips", boundary: 10000,
			setup:   func(in *Input) { in.Buy.Price, in.Sell.Price = 50000, 50050 },
			set:     func(in *Input, x float64) { in.Plan.Qty = x },
			observe: func(in *Input) float64 { return in.Plan.Notional },
			below:   point{0.2 - 1e-6, Allow, ""}, at: point{0.2, Allow, ""}, above: point{0.2 + 1e-6, Clip, "max_notional"}},
		{name: "min net profit", boundary: 0.5,
			setup:   func(in *Input) { in.Buy.Price, in.Sell.Price, in.Plan.EdgeBps = 50000, 50050, 10 },
			set:     func(in *Input, x float64) { in.Plan.Qty = x },
			observe: func(in *Input) float64 { return in.Plan.NetQuote },
			below:   point{0.00999, Reject, "min_net_profit"}, at: point{0.01, Allow, ""}, above: point{0.01001, Allow, ""}},
		{name: "buy quote balance", boundary: 0,
			setup:   func(in *Input) { in.Buy.FeeBps = 0 },
			set:     func(in *Input, x float64) { in.Buy.QuoteBalance = x },
			observe: func(in *Input) float64 { return in.Buy.QuoteBalanceAfter },
			below:   point{2999.99, Reject, "buy_quote_balance"}, at: point{3000, Allow, ""}, above: point{3000.01, Allow, ""}},
		{name: "sell base balance", boundary: 0,
			set:     func(in *Input, x float64) { in.Sell.BaseBalance = x },
			observe: func(in *Input) float64 { return in.Sell.BaseBalanceAfter },
			below:   point{0.0499, Reject, "sell_base_balance"}, at: point{0.05, Allow, ""}, above: point{0.0501, Allow, ""}},
		{name: "max position per asset per venue", boundary: 50000,
			setup:   func(in *Input) { in.Buy.Price, in.Sell.Price = 50000, 50050 },
			set:     func(in *Input, x float64) { in.Buy.BasePosition = x },
			observe: func(in *Input) float64 { return in.Buy.BasePositionAfter * in.Buy.Price },
			below:   point{0.95 - 1e-6, Allow, ""}, at: point{0.95, Allow, ""}, above: point{0.95 + 1e-6, Reject, "max_position"}},
		{name: "concentration 30% of equity", boundary: 0.30,
			set:     func(in *Input, x float64) { in.Account.BaseValue = x },
			observe: func(in *Input) float64 { return in.Account.BaseShareAfter },
			below:   point{26999, Allow, ""}, at: point{27000, Allow, ""}, above: point{27001, Reject, "concentration"}},
		{name: "residual exposure", boundary: 2000,
			set:     func(in *Input, x float64) { in.Account.ResidualExposure = x },
			observe: func(in *Input) float64 { return in.Account.ResidualExposure },
			below:   point{1999.99, Allow, ""}, at: point{2000, Allow, ""}, above: point{2000.01, Reject, "residual_exposure"}},
		{name: "large edge only warns", boundary: 60,
			set:     func(in *Input, x float64) { in.Plan.EdgeBps = x },
			observe: func(in *Input) float64 { return in.Plan.EdgeBps },
			below:   point{59.99, Allow, ""}, at: point{60, Allow, ""}, above: point{60.01, Allow, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []struct {
				side string
				pt   point
				cmp  int
			}{{"below", tc.below, -1}, {"at", tc.at, 0}, {"above", tc.above, 1}} {
				in := DefaultSample()
				if tc.setup != nil {
					tc.setup(&in)
				}
				tc.set(&in, p.pt.x)
				probe := in
				probe.derive()
				obs := tc.observe(&probe)
				switch {
				case p.cmp == 0 && obs != tc.boundary,
					p.cmp < 0 && !(obs < tc.boundary),
					p.cmp > 0 && !(obs > tc.boundary):
					t.Fatalf("%s: input %v gives %v, not %s the boundary %v", p.side, p.pt.x, obs, p.side, tc.boundary)
				}
				e := newTestEngine(t, rs)
				d := e.Evaluate(&in)
				if d.Verdict != p.pt.verdict || d.Rule() != p.pt.rule || d.Err != nil {
					t.Errorf("%s (%v → %v): decision %v, want %v by %q", p.side, p.pt.x, obs, d, p.pt.verdict, p.pt.rule)
				}
				if d.Verdict == Clip {
					// The clipped plan sits exactly on the limit.
					if got := d.Qty * in.Buy.Price; math.Abs(got-10000) > 1e-9 {
						t.Errorf("clipped notional %v, want 10000", got)
					}
				}
			}
		})
	}
}

func newTestEngine(t testing.TB, rs *RuleSet) *Engine {
	t.Helper()
	e, err := New(Config{Venues: sampleVenues()})
	if err != nil {
		t.Fatal(err)
	}
	if rs != nil {
		e.Swap(rs)
	}
	return e
}

func TestStaleBookAndWarnCounts(t *testing.T) {
	rs := loadDefault(t)
	for _, leg := range []string{"buy", "sell"} {
		in := DefaultSample()
		if leg == "buy" {
			in.Buy.Stale = true
		} else {
			in.Sell.Stale = true
		}
		if d := newTestEngine(t, rs).Evaluate(&in); d.Verdict != Reject || d.Rule() != "book_stale" {
			t.Errorf("%s stale: %v", leg, d)
		}
	}
	e := newTestEngine(t, rs)
	for _, edge := range []float64{60, 60.01, 75} {
		in := DefaultSample()
		in.Plan.EdgeBps = edge
		if d := e.Evaluate(&in); d.Verdict != Allow {
			t.Fatalf("edge %v: %v", edge, d)
		}
	}
	if n := counter(e, "large_edge_warn", "warn"); n != 2 {
		t.Errorf("large_edge_warn warn = %d, want 2 (60.01 and 75, not 60)", n)
	}
}

// TestDailyLossWarn: a day's loss past daily_loss_warn_share (0.8) of
// max_daily_loss is counted as a warning (what the ArbDailyLossNearLimit
// alert watches) and the plan passes; at the limit the halt rule decides.
func TestDailyLossWarn(t *testing.T) {
	rs := loadDefault(t)
	e := newTestEngine(t, rs)
	for _, c := range []struct {
		pnl     float64
		verdict Verdict
	}{{-799.99, Allow}, {-800, Allow}, {-999.99, Allow}} {
		in := DefaultSample()
		in.Account.RealizedPnlToday, in.Account.UnrealizedPnl = c.pnl, 0
		if d := e.Evaluate(&in); d.Verdict != c.verdict {
			t.Fatalf("pnl today %v: %v, want %v", c.pnl, d, c.verdict)
		}
	}
	if n := counter(e, "daily_loss_warn", "warn"); n != 2 {
		t.Errorf("daily_loss_warn warn = %d, want 2 (-800 and -999.99, not -799.99)", n)
	}
	in := DefaultSample()
	in.Account.RealizedPnlToday, in.Account.UnrealizedPnl = -1000, 0
	if d := e.Evaluate(&in); d.Verdict != Halt || d.Rule() != "daily_loss_halt" {
		t.Errorf("at the limit: %v, want the halt", d)
	}
}

// TestTradingHoursWhenConfigured enables the trading-hours rule (08:00 to
// 17:00 UTC) by editing only the limits, and checks its edges.
func TestTradingHoursWhenConfigured(t *testing.T) {
	src, err := os.ReadFile("../configs/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{
		{"trading_hours_enabled: false", "trading_hours_enabled: true"},
		{"trading_open_minute: 0 ", "trading_open_minute: 480 "},
		{"trading_close_minute: 1440", "trading_close_minute: 1020"},
	} {
		if !bytes.Contains(src, []byte(r[0])) {
			t.Fatalf("configs/rules.yaml no longer contains %q", r[0])
		}
		src = bytes.Replace(src, []byte(r[0]), []byte(r[1]), 1)
	}
	rs, err := Load(src, "hours.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		minute int
		want   Verdict
	}{{479, Reject}, {480, Allow}, {1019, Allow}, {1020, Reject}, {0, Reject}, {1439, Reject}} {
		in := DefaultSample()
		in.UnixNano = day.Add(time.Duration(tc.minute) * time.Minute).UnixNano()
		d := newTestEngine(t, rs).Evaluate(&in)
		if d.Verdict != tc.want || (tc.want == Reject && d.Rule() != "trading_hours") {
			t.Errorf("minute %d: %v, want %v", tc.minute, d, tc.want)
		}
	}
}

// equityDay is one UTC day of equity marks, a mark a minute: a rally to a
// peak then a decline, with seeded noise.
func equityDay(rng *rand.Rand, day time.Time, open, peak, close float64, peakMinute int) (ts []int64, eq []float64) {
	for m := 0; m < 1440; m++ {
		var v float64
		if m <= peakMinute {
			v = open + (peak-open)*float64(m)/float64(peakMinute)
		} else {
			v = peak + (close-peak)*float64(m-peakMinute)/float64(1439-peakMinute)
		}
		v += (rng.Float64() - 0.5) * 40
		ts = append(ts, day.Add(time.Duration(m)*time.Minute).UnixNano())
		eq = append(eq, v)
	}
	return ts, eq
}

// TestDrawdownFreezeOverADay marks equity every minute of a day that rallies
// from 100 000 to 104 000 by noon and sells off to 100 500, evaluating a
// plan every 10 minutes. The expected decision comes from an independent
// running maximum: frozen exactly when equity is 2% or more below the day's
// peak so far. The next day starts a new peak.
func TestDrawdownFreezeOverADay(t *testing.T) {
	rs := loadDefault(t)
	e := newTestEngine(t, rs)
	rng := rand.New(rand.NewPCG(7, 7))
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	ts, eq := equityDay(rng, day, 100000, 104000, 100500, 720)
	var tr DayTracker
	peak := math.Inf(-1)
	var allowed, frozen, firstFrozen int
	for m := range ts {
		tr.Mark(ts[m], eq[m])
		peak = max(peak, eq[m])
		if m%10 != 0 {
			continue
		}
		in := DefaultSample()
		in.UnixNano = ts[m]
		in.Account.Equity = eq[m]
		tr.Fill(&in.Account)
		d := e.Evaluate(&in)
		want := (peak-eq[m])/peak*100 >= 2
		if want != (d.Verdict == Reject && d.Rule() == "drawdown_freeze") || (!want && d.Verdict != Allow) {
			t.Fatalf("minute %d equity %.2f peak %.2f: %v, want frozen=%v", m, eq[m], peak, d, want)
		}
		if want {
			frozen++
			if firstFrozen == 0 {
				firstFrozen = m
			}
		} else {
			allowed++
		}
	}
	if allowed == 0 || frozen == 0 || firstFrozen <= 720 {
		t.Fatalf("path did not cross the threshold after the peak: allowed %d frozen %d first at minute %d", allowed, frozen, firstFrozen)
	}
	// A new day: the peak resets with the first mark, so trading resumes at
	// an equity that was frozen yesterday.
	next := day.Add(24 * time.Hour).UnixNano()
	tr.Mark(next, 100500)
	in := DefaultSample()
	in.UnixNano, in.Account.Equity = next, 100500
	tr.Fill(&in.Account)
	if d := e.Evaluate(&in); d.Verdict != Allow {
		t.Fatalf("next day: %v", d)
	}
	if got := counter(e, "drawdown_freeze", "reject"); got != uint64(frozen) {
		t.Fatalf("drawdown_freeze reject counter %d, want %d", got, frozen)
	}
}

// TestConcentrationOverADay: 0.5 BTC held with 70 000 USDT while BTC rallies
// from 40 000 to 65 000 by 14:00 and falls to 48 000. The BTC share of
// equity if a 0.05 BTC buy leg filled alone crosses 30% on the way up
// (near 52 500), so plans are first allowed, then refused for concentration;
// on the way down the drawdown freeze takes over. The expected decision is
// computed independently for every plan.
func TestConcentrationOverADay(t *testing.T) {
	rs := loadDefault(t)
	e := newTestEngine(t, rs)
	rng := rand.New(rand.NewPCG(11, 3))
	day := time.Date(2026, 2, 9, 0, 0, 0, 0, time.UTC)
	const cash, btc, qty = 70000.0, 0.5, 0.05
	var tr DayTracker
	peak := math.Inf(-1)
	seen := map[string]int{}
	var order []string
	for m := 0; m < 1440; m++ {
		var px float64
		if m <= 840 {
			px = 40000 + 25000*float64(m)/840
		} else {
			px = 65000 - 17000*float64(m-840)/599
		}
		px += (rng.Float64() - 0.5) * 20
		equity := cash + btc*px
		ts := day.Add(time.Duration(m) * time.Minute).UnixNano()
		tr.Mark(ts, equity)
		peak = max(peak, equity)
		if m%15 != 0 {
			continue
		}
		in := DefaultSample()
		in.UnixNano = ts
		in.Plan.Qty = qty
		in.Buy.Price, in.Sell.Price = px, px*1.001
		in.Buy.BasePosition, in.Buy.BaseBalance = 0.2, 0.2
		in.Sell.BasePosition, in.Sell.BaseBalance = 0.3, 0.3
		in.Account.Equity, in.Account.BaseValue = equity, btc*px
		tr.Fill(&in.Account)
		d := e.Evaluate(&in)

		var want string
		switch {
		case (peak-equity)/peak*100 >= 2:
			want = "drawdown_freeze"
		case (btc*px+qty*px)/equity > 0.30:
			want = "concentration"
		}
		if d.Rule() != want || (want == "" && d.Verdict != Allow) || (want != "" && d.Verdict != Reject) {
			t.Fatalf("minute %d px %.0f equity %.0f share %.4f: %v, want %q", m, px, equity, (btc*px+qty*px)/equity, d, want)
		}
		if seen[want] == 0 {
			order = append(order, want)
		}
		seen[want]++
	}
	if len(order) != 3 || order[0] != "" || order[1] != "concentration" || order[2] != "drawdown_freeze" {
		t.Fatalf("decisions went %q, want allow, then concentration, then drawdown_freeze", order)
	}
}

func counter(e *Engine, rule, action string) uint64 {
	var n uint64
	found := false
	e.Counters(func(r, a string, v uint64) {
		if r == rule && a == action {
			n, found = v, true
		}
	})
	if !found {
		return math.MaxUint64
	}
	return n
}
