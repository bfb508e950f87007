package spread

import (
	"errors"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// want describes the expected plan in decimal text ("" = not checked).
type want struct {
	outcome          Outcome // for the evaluated pair (buy venue 1, sell venue 2 unless buy is set)
	qty              string
	buyLimit         string
	sellLimit        string
	buyLevels        int
	sellLevels       int
	net, gross       string // NetQuote, GrossQuote
	fees, gas, rebal string
	netBps           float64 // checked when nonzero
	reserveQuote     string  // Buy.Reserve
}

// TestTable runs hand-computed cases: buy BTC-USDT on venue 1, sell on venue
// 2, scale {Px:2, Qty:4}. Each case states its arithmetic.
func TestTable(t *testing.T) {
	type tc struct {
		name     string
		cfg      func(c *Config)
		balances [][3]string // venue, asset, amount; default: plenty everywhere
		a, b     [][]lvl     // {bids, asks} of venue 1 and venue 2
		ageA     time.Duration
		staleB   bool
		want     want
	}
	plenty := [][3]string{{"1", "USDT", "1000000"}, {"2", "BTC", "1000"}}
	ab := func(asks ...lvl) [][]lvl { return [][]lvl{{{"90.00", "100"}}, asks} }  // venue 1: asks as given
	bb := func(bids ...lvl) [][]lvl { return [][]lvl{bids, {{"200.00", "100"}}} } // venue 2: bids as given
	setFees := func(a, b float64) func(c *Config) {
		return func(c *Config) { c.Venues[0].TakerFeeBps, c.Venues[1].TakerFeeBps = a, b }
	}
	cases := []tc{
		{
			// cost 100, proceeds 101, fees 0.10 + 0.101 = 0.201: net 0.799
			// (floor 0.79), 79.9 bps of the buy notional.
			name: "fees on both legs",
			cfg:  setFees(10, 10),
			a:    ab(lvl{"100.00", "1"}), b: bb(lvl{"101.00", "1"}),
			want: want{outcome: OutcomePlan, qty: "1", buyLimit: "100.00", sellLimit: "101.00", net: "0.79", gross: "1.00", fees: "0.21", netBps: 79.9, reserveQuote: "100.10"},
		},
		{
			// 15 bps of dislocation against 10 + 10 bps of taker fees.
			name: "dislocation smaller than the two taker fees",
			cfg:  setFees(10, 10),
			a:    ab(lvl{"100.00", "1"}), b: bb(lvl{"100.15", "1"}),
			want: want{outcome: OutcomeBelowThreshold},
		},
		{
			// No costs. Marginal ask/bid: 100.00/101.20 to q=1, 100.50/101.20
			// to 1.5, 100.50/100.80 to 2 (net 1.70), 101.00/100.80 to 2.5
			// (net 1.60), then 101.00/100.40: net 1.60 − 0.60·x ≥ 0 for
			// x ≤ 2.6666, floored to the 0.001 step of venue 2: q = 5.166.
			// Buy 100 + 100.5 + 3.166·101 = 520.266 (ceil 520.27); sell
			// 151.8 + 100.8 + 2.666·100.4 = 520.2664 (floor 520.26).
			name: "depth walk over several levels",
			cfg:  func(c *Config) { c.Instruments[1].Step = 10 },
			a:    ab(lvl{"100.00", "1"}, lvl{"100.50", "1"}, lvl{"101.00", "5"}),
			b:    bb(lvl{"101.20", "1.5"}, lvl{"100.80", "1"}, lvl{"100.40", "5"}),
			want: want{outcome: OutcomePlan, qty: "5.166", buyLimit: "101.00", sellLimit: "100.40", buyLevels: 3, sellLevels: 3, net: "0.00", gross: "0.00"},
		},
		{
			// 101.00 × 0.05 = 5.05 < 10 on the sell venue.
			name: "min notional refuses",
			cfg:  func(c *Config) { c.Instruments[1].MinNotional = 1000 },
			a:    ab(lvl{"100.00", "0.05"}), b: bb(lvl{"101.00", "0.05"}),
			want: want{outcome: OutcomeMinSize},
		},
		{
			name: "min notional met",
			cfg:  func(c *Config) { c.Instruments[1].MinNotional = 505 },
			a:    ab(lvl{"100.00", "0.05"}), b: bb(lvl{"101.00", "0.05"}),
			want: want{outcome: OutcomePlan, qty: "0.05", net: "0.05"},
		},
		{
			// Whole depth 1.6 is profitable but its sell limit 30 × 1.6 = 48
			// < 60; back before the second bid level: 110 × 0.6 = 66 ≥ 60.
			name: "sell min notional moves back a level",
			cfg:  func(c *Config) { c.Instruments[1].MinNotional = 6000 },
			a:    [][]lvl{{{"10.00", "1"}}, {{"20.00", "2"}}},
			b:    [][]lvl{{{"110.00", "0.6"}, {"30.00", "1"}}, {{"200.00", "1"}}},
			want: want{outcome: OutcomePlan, qty: "0.6", buyLimit: "20.00", sellLimit: "110.00", sellLevels: 1, net: "54.00"},
		},
		{
			name: "min qty",
			cfg:  func(c *Config) { c.Instruments[0].MinQty = 2_0000 },
			a:    ab(lvl{"100.00", "1"}), b: bb(lvl{"101.00", "1"}),
			want: want{outcome: OutcomeMinSize},
		},
		{
			// 500 / (100 × 1.001) = 4.99500… → 4.995; 100 × 4.995 × 1.001 =
			// 499.9995 reserved, rounded up to 500.00.
			name:     "quote balance caps the buy, fee included",
			cfg:      setFees(10, 0),
			balances: [][3]string{{"1", "USDT", "500"}, {"2", "BTC", "1000"}},
			a:        ab(lvl{"100.00", "10"}), b: bb(lvl{"102.00", "10"}),
			want: want{outcome: OutcomePlan, qty: "4.995", reserveQuote: "500.00"},
		},
		{
			name:     "base balance caps the sell",
			balances: [][3]string{{"1", "USDT", "1000000"}, {"2", "BTC", "3"}},
			a:        ab(lvl{"100.00", "10"}), b: bb(lvl{"102.00", "10"}),
			want: want{outcome: OutcomePlan, qty: "3", net: "6.00"},
		},
		{
			name:     "no base balance",
			balances: [][3]string{{"1", "USDT", "1000000"}},
			a:        ab(lvl{"100.00", "10"}), b: bb(lvl{"102.00", "10"}),
			want: want{outcome: OutcomeNoBalance},
		},
		{
			// limit × q ≤ 250 at limit 100.
			name: "max notional",
			cfg:  func(c *Config) { c.MaxNotional = []Amount{{"USDT", "250"}} },
			a:    ab(lvl{"100.00", "10"}), b: bb(lvl{"102.00", "10"}),
			want: want{outcome: OutcomePlan, qty: "2.5"},
		},
		{
			// gross 1.00 − gas 0.50 − 0.40 = 0.10.
			name: "gas on both legs",
			cfg: func(c *Config) {
				c.Venues[0].Gas = []Amount{{"USDT", "0.5"}}
				c.Venues[1].Gas = []Amount{{"USDT", "0.40"}}
			},
			a: ab(lvl{"100.00", "1"}), b: bb(lvl{"101.00", "1"}),
			want: want{outcome: OutcomePlan, net: "0.10", gas: "0.90", netBps: 10},
		},
		{
			name: "gas exceeding the edge",
			cfg:  func(c *Config) { c.Venues[0].Gas = []Amount{{"USDT", "1.01"}} },
			a:    ab(lvl{"100.00", "1"}), b: bb(lvl{"101.00", "1"}),
			want: want{outcome: OutcomeBelowThreshold},
		},
		{
			// (0.0005 BTC × 100.00 + 1.00 USDT) / 10 = 0.105: net 0.895.
			name: "rebalancing amortized over ten trades",
			cfg: func(c *Config) {
				c.RebalanceTrades = 10
				c.Venues[0].Withdraw[0].Value = "0.0005"
				c.Venues[1].Withdraw[1].Value = "1"
			},
			a: ab(lvl{"100.00", "1"}), b: bb(lvl{"101.00", "1"}),
			want: want{outcome: OutcomePlan, net: "0.89", rebal: "0.11", netBps: 89.5},
		},
		{
			// Over one trade the same fees cost 1.05 > 1.00.
			name: "rebalancing over one trade eats the edge",
			cfg: func(c *Config) {
				c.Venues[0].Withdraw[0].Value = "0.0005"
				c.Venues[1].Withdraw[1].Value = "1"
			},
			a: ab(lvl{"100.00", "1"}), b: bb(lvl{"101.00", "1"}),
			want: want{outcome: OutcomeBelowThreshold},
		},
		{
			// Slippage 5 bps per leg: 0.05 + 0.0505; net 0.8995.
			name: "slippage allowance on both legs",
			cfg:  func(c *Config) { c.SlippageBps = 5 },
			a:    ab(lvl{"100.00", "1"}), b: bb(lvl{"101.00", "1"}),
			want: want{outcome: OutcomePlan, net: "0.89", netBps: 89.95},
		},
		{
			name: "threshold met",
			cfg:  func(c *Config) { c.MinEdgeBps = 99.9 },
			a:    ab(lvl{"100.00", "1"}), b: bb(lvl{"101.00", "1"}),
			want: want{outcome: OutcomePlan, netBps: 100},
		},
		{
			name: "threshold missed",
			cfg:  func(c *Config) { c.MinEdgeBps = 100.1 },
			a:    ab(lvl{"100.00", "1"}), b: bb(lvl{"101.00", "1"}),
			want: want{outcome: OutcomeBelowThreshold},
		},
		{
			name:   "stale flag",
			a:      ab(lvl{"100.00", "1"}),
			b:      bb(lvl{"101.00", "1"}),
			staleB: true,
			want:   want{},
		},
		{
			name: "stale age",
			ageA: 5*time.Second + 1,
			a:    ab(lvl{"100.00", "1"}), b: bb(lvl{"101.00", "1"}),
			want: want{},
		},
		{
			name: "age at the limit still counts as fresh",
			ageA: 5 * time.Second,
			a:    ab(lvl{"100.00", "1"}), b: bb(lvl{"101.00", "1"}),
			want: want{outcome: OutcomePlan},
		},
		{
			name: "step of both venues",
			cfg:  func(c *Config) { c.Instruments[0].Step = 4; c.Instruments[1].Step = 6 },
			a:    ab(lvl{"100.00", "0.0023"}), b: bb(lvl{"101.00", "1"}),
			want: want{outcome: OutcomePlan, qty: "0.0012"}, // lcm(4, 6) = 12 units
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := testRegistry()
			cfg := zeroCostConfig(reg)
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			e := newEnv(t, cfg)
			bal := c.balances
			if bal == nil {
				bal = plenty
			}
			for _, b := range bal {
				e.fund(t, exchange.VenueID(b[0][0]-'0'), b[1], b[2])
			}
			a := mkBook(t, 1, btcUSDT, t0-int64(c.ageA), c.a[0], c.a[1])
			b := mkBook(t, 2, btcUSDT, t0, c.b[0], c.b[1])
			if c.staleB {
				b.Flags |= exchange.FlagStale
			}
			e.d.OnBook(a, t0)
			got := e.d.OnBook(b, t0)
			checkOutcome(t, e, 0, c.want.outcome)
			if st := e.d.Stats(); c.staleB && st.StaleEvents.Load() != 1 || c.ageA > 5*time.Second && st.AgedBooks.Load() != 2 {
				t.Errorf("stale events %d, aged %d", st.StaleEvents.Load(), st.AgedBooks.Load())
			}
			if c.want.outcome != OutcomePlan {
				if len(got) != 0 {
					t.Fatalf("unexpected plan %+v", got[0])
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d plans", len(got))
			}
			checkPlan(t, &got[0], &c.want)
		})
	}
}

// checkOutcome asserts that pair id counted exactly outcome o once (or
// nothing at all when o is 0).
func checkOutcome(t *testing.T, e *env, id int, o Outcome) {
	t.Helper()
	st := e.d.PairStats(id)
	if opp := st.Opportunities.Load(); (o != 0) != (opp == 1) || opp > 1 {
		t.Errorf("pair %d: %d opportunities for outcome %v", id, opp, o)
	}
	for x := Outcome(1); x < numOutcomes; x++ {
		want := uint64(0)
		if x == o {
			want = 1
		}
		if got := st.Outcome(x); got != want {
			t.Errorf("pair %d outcome %s counted %d, want %d", id, x, got, want)
		}
	}
}

func dec(t *testing.T, s string, d uint8) int64 {
	t.Helper()
	v, err := num.ParseString(s, d)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func checkPlan(t *testing.T, p *Plan, w *want) {
	t.Helper()
	s := p.Scale
	eq := func(field string, got int64, txt string, d uint8) {
		if txt != "" && got != dec(t, txt, d) {
			t.Errorf("%s = %s, want %s", field, num.Format(got, d), txt)
		}
	}
	eq("qty", int64(p.Qty), w.qty, s.Qty)
	eq("buy limit", int64(p.Buy.LimitPx), w.buyLimit, s.Px)
	eq("sell limit", int64(p.Sell.LimitPx), w.sellLimit, s.Px)
	eq("net", int64(p.NetQuote), w.net, s.Px)
	eq("gross", int64(p.GrossQuote), w.gross, s.Px)
	eq("fees", int64(p.FeesQuote), w.fees, s.Px)
	eq("gas", int64(p.GasQuote), w.gas, s.Px)
	eq("rebalance", int64(p.RebalanceQuote), w.rebal, s.Px)
	eq("reserve", p.Buy.Reserve, w.reserveQuote, 2)
	if w.buyLevels != 0 && int(p.Buy.Levels) != w.buyLevels || w.sellLevels != 0 && int(p.Sell.Levels) != w.sellLevels {
		t.Errorf("levels %d/%d, want %d/%d", p.Buy.Levels, p.Sell.Levels, w.buyLevels, w.sellLevels)
	}
	if w.netBps != 0 && (p.NetBps-w.netBps > 1e-9 || w.netBps-p.NetBps > 1e-9) {
		t.Errorf("net bps %v, want %v", p.NetBps, w.netBps)
	}
	if p.Buy.Side != exchange.Buy || p.Sell.Side != exchange.Sell || p.Buy.Venue != 1 || p.Sell.Venue != 2 ||
		p.Buy.Qty != p.Qty || p.Sell.Qty != p.Qty || p.Sell.Reserve != int64(p.Qty) {
		t.Errorf("legs %+v / %+v", p.Buy, p.Sell)
	}
	if p.NetBps < p.ThresholdBps || p.NetQuote < 0 {
		t.Errorf("net %v bps below threshold %v", p.NetBps, p.ThresholdBps)
	}
}

func TestPlanCarriesBookStateAndIDs(t *testing.T) {
	reg := testRegistry()
	cfg := zeroCostConfig(reg)
	cfg.PlanIDBase = 41
	cfg.Venues[0].FeeAsset = "BNB"
	cfg.Venues[0].TakerFeeBps = 7.5
	e := newEnv(t, cfg)
	e.fund(t, 1, "USDT", "1000")
	e.fund(t, 2, "BTC", "1")
	a := mkBook(t, 1, btcUSDT, t0-3, []lvl{{"99.00", "1"}}, []lvl{{"100.00", "1"}})
	b := mkBook(t, 2, btcUSDT, t0-2, []lvl{{"102.00", "1"}}, []lvl{{"103.00", "1"}})
	a.Seq, b.Seq = 777, 888
	e.d.OnBook(a, t0)
	got := e.d.OnBook(b, t0)
	if len(got) != 1 {
		t.Fatalf("%d plans", len(got))
	}
	p := got[0]
	if p.ID != 42 || p.ID.String() != "p000000000000002a" || p.TS != t0 || p.Symbol != "BTC-USDT" {
		t.Errorf("id %v %s ts %d symbol %s", uint64(p.ID), p.ID, p.TS, p.Symbol)
	}
	if p.Buy.BookSeq != 777 || p.Buy.BookRecvTS != t0-3 || p.Buy.BookExchTS != t0-3-1000 ||
		p.Sell.BookSeq != 888 || p.Sell.BookRecvTS != t0-2 || p.Sell.BookExchTS != t0-2-1000 {
		t.Errorf("book state %+v / %+v", p.Buy, p.Sell)
	}
	if p.Buy.FeeAsset != "BNB" || p.Buy.FeeBps != 7.5 || p.Sell.FeeAsset != "" || p.Buy.Symbol != "BTCUSDT" || p.Buy.Inst != btcUSDT {
		t.Errorf("leg metadata %+v", p.Buy)
	}
	// The reservation left the rest available, and Release restores it.
	inv := e.d.Inventory()
	usdt, _ := inv.Asset("USDT")
	btc, _ := inv.Asset("BTC")
	if inv.Balance(1, usdt) != 100000-10008 || inv.Balance(2, btc) != 0 { // 100 × 1.00075 = 100.075 → 100.08
		t.Errorf("after reserve: %d USDT, %d BTC", inv.Balance(1, usdt), inv.Balance(2, btc))
	}
	inv.Release(&p)
	if inv.Balance(1, usdt) != 100000 || inv.Balance(2, btc) != 1_0000 {
		t.Errorf("after release: %d USDT, %d BTC", inv.Balance(1, usdt), inv.Balance(2, btc))
	}
	if r := e.d.RecentPlans(nil); len(r) != 1 || r[0] != p {
		t.Errorf("recent plans %v", r)
	}
}

func TestPlanIDText(t *testing.T) {
	for _, c := range []struct {
		id   PlanID
		want string
	}{{0, "p0000000000000000"}, {1, "p0000000000000001"}, {0xdeadbeef, "p00000000deadbeef"}, {^PlanID(0), "pffffffffffffffff"}} {
		if got := c.id.String(); got != c.want {
			t.Errorf("%d: %s, want %s", uint64(c.id), got, c.want)
		}
	}
	var buf [32]byte
	id := PlanID(12345)
	if n := testing.AllocsPerRun(100, func() { _ = id.AppendTo(buf[:0]) }); n != 0 {
		t.Errorf("AppendTo allocates %v", n)
	}
}

// TestCooldownAndEpisodes: opportunities count episodes (rising edges of a
// positive top-of-book edge), outcomes count ticks; a plan starts a cooldown
// during which the pair is not planned again.
func TestCooldownAndEpisodes(t *testing.T) {
	reg := testRegistry()
	cfg := zeroCostConfig(reg)
	cfg.Cooldown = time.Second
	cfg.MinEdgeBps = 50
	e := newEnv(t, cfg)
	e.fund(t, 1, "USDT", "100000")
	e.fund(t, 2, "BTC", "100")
	a := mkBook(t, 1, btcUSDT, t0, []lvl{{"99.00", "1"}}, []lvl{{"100.00", "1"}})
	e.d.OnBook(a, t0)
	steps := []struct {
		at      int64
		bid     string // venue 2's best bid
		plan    bool
		opps    uint64
		outcome Outcome
	}{
		{0, "101.00", true, 1, OutcomePlan},
		{1 * ms, "101.00", false, 1, OutcomeCooldown},
		{999 * ms, "101.00", false, 1, OutcomeCooldown},
		{1000 * ms, "101.00", true, 1, OutcomePlan}, // cooldown over, same episode
		{1001 * ms, "99.50", false, 1, 0},           // edge gone: episode ends
		{2500 * ms, "100.20", false, 2, OutcomeBelowThreshold},
		{2600 * ms, "100.30", false, 2, OutcomeBelowThreshold},
		{2700 * ms, "101.00", true, 2, OutcomePlan},
	}
	for i, s := range steps {
		now := t0 + s.at
		a.RecvTS = now
		// Venue 1's update re-evaluates the pair against venue 2's
		// previous book, venue 2's update against the new one.
		got := append([]Plan(nil), e.d.OnBook(a, now)...)
		b := mkBook(t, 2, btcUSDT, now, []lvl{{s.bid, "1"}}, []lvl{{"102.00", "1"}})
		got = append(got, e.d.OnBook(b, now)...)
		if (len(got) == 1) != s.plan {
			t.Fatalf("step %d: %d plans", i, len(got))
		}
		st := e.d.PairStats(0)
		if st.Opportunities.Load() != s.opps {
			t.Fatalf("step %d: %d opportunities, want %d", i, st.Opportunities.Load(), s.opps)
		}
	}
	st := e.d.PairStats(0)
	if st.Plans() != 3 || e.d.Stats().Plans.Load() != 3 {
		t.Errorf("plans %d", st.Plans())
	}
	if st.BelowThreshold() == 0 || st.Outcome(OutcomeCooldown) == 0 {
		t.Errorf("below %d cooldown %d", st.BelowThreshold(), st.Outcome(OutcomeCooldown))
	}
	if p := e.d.PairStats(1); p.Opportunities.Load() != 0 || p.Plans() != 0 {
		t.Errorf("reverse pair counted %d/%d", p.Opportunities.Load(), p.Plans())
	}
}

func TestQuoteEquivalence(t *testing.T) {
	reg := testRegistry()
	for _, equal := range []bool{false, true} {
		cfg := zeroCostConfig(reg)
		cfg.Instruments[1] = listingOf(reg, 2, btcUSDC)
		if equal {
			cfg.QuoteEquivalence = [][]string{{"USDT", "USDC"}}
			cfg.MaxNotional = cfg.MaxNotional[:1] // one amount covers the class
		}
		e := newEnv(t, cfg)
		e.fund(t, 1, "USDT", "1000")
		e.fund(t, 2, "BTC", "1")
		e.d.OnBook(mkBook(t, 1, btcUSDT, t0, []lvl{{"99.00", "1"}}, []lvl{{"100.00", "1"}}), t0)
		got := e.d.OnBook(mkBook(t, 2, btcUSDC, t0, []lvl{{"101.00", "1"}}, []lvl{{"102.00", "1"}}), t0)
		if !equal {
			if len(got) != 0 || len(e.d.Pairs()) != 0 {
				t.Fatalf("USDT and USDC compared without equivalence: %d pairs", len(e.d.Pairs()))
			}
			continue
		}
		if len(got) != 1 {
			t.Fatalf("no plan across equivalent quotes")
		}
		p := got[0]
		if p.Symbol != "BTC-USDT/BTC-USDC" || p.Buy.Inst != btcUSDT || p.Sell.Inst != btcUSDC || p.NetQuote != 100 {
			t.Errorf("plan %+v", p)
		}
		if info := e.d.Pairs()[0]; info.Symbol != "BTC-USDT/BTC-USDC" || info.BuyVenue != 1 || info.SellInst != btcUSDC {
			t.Errorf("pair info %+v", info)
		}
	}
}

// TestSeveralVenuesBestFirst: one update on venue 1 opens edges against
// venues 2 and 3 that share venue 1's quote balance; the better one is
// planned first with what it needs and the other gets the rest.
func TestSeveralVenuesBestFirst(t *testing.T) {
	reg := testRegistry()
	cfg := zeroCostConfig(reg)
	cfg.Instruments = append(cfg.Instruments, listingOf(reg, 3, btcUSDT))
	e := newEnv(t, cfg)
	e.fund(t, 1, "USDT", "150")
	e.fund(t, 2, "BTC", "10")
	e.fund(t, 3, "BTC", "10")
	e.d.OnBook(mkBook(t, 2, btcUSDT, t0, []lvl{{"101.00", "1"}}, []lvl{{"105.00", "1"}}), t0)
	e.d.OnBook(mkBook(t, 3, btcUSDT, t0, []lvl{{"102.00", "1"}}, []lvl{{"105.00", "1"}}), t0)
	got := e.d.OnBook(mkBook(t, 1, btcUSDT, t0, []lvl{{"90.00", "1"}}, []lvl{{"100.00", "2"}}), t0)
	if len(got) != 2 {
		t.Fatalf("%d plans", len(got))
	}
	if got[0].Sell.Venue != 3 || got[0].Qty != 1_0000 || got[0].NetQuote != 200 {
		t.Errorf("first plan %+v", got[0])
	}
	if got[1].Sell.Venue != 2 || got[1].Qty != 5000 || got[1].NetQuote != 50 {
		t.Errorf("second plan %+v (50 USDT left buys 0.5)", got[1])
	}
	if got[0].ID+1 != got[1].ID {
		t.Errorf("ids %d %d", got[0].ID, got[1].ID)
	}
}

// TestVolatilityThreshold: with VolK set, a pair plans only after a
// half-life of observations, and a noisy spread raises the threshold above
// an edge that a calm spread lets through.
func TestVolatilityThreshold(t *testing.T) {
	reg := testRegistry()
	run := func(noisy bool) (plans uint64, warm uint64, last *Plan) {
		cfg := zeroCostConfig(reg)
		cfg.VolK, cfg.VolHalfLife, cfg.MinEdgeBps = 2, time.Second, 10
		e := newEnv(t, cfg)
		e.fund(t, 1, "USDT", "1000000")
		e.fund(t, 2, "BTC", "1000")
		a := mkBook(t, 1, btcUSDT, t0, []lvl{{"98.00", "1"}}, []lvl{{"100.00", "1"}})
		for i := range 40 {
			now := t0 + int64(i)*100*ms
			// The edge is always 100.20 vs 100.00 (20 bps). Only venue 2's
			// ask moves in the noisy run, swinging its mid by ~1 %.
			ask := "100.30"
			if noisy && i%2 == 1 {
				ask = "102.30"
			}
			a.RecvTS = now
			got := append([]Plan(nil), e.d.OnBook(a, now)...)
			got = append(got, e.d.OnBook(mkBook(t, 2, btcUSDT, now, []lvl{{"100.20", "1"}}, []lvl{{ask, "1"}}), now)...)
			if len(got) > 0 {
				last = &got[len(got)-1]
			}
		}
		st := e.d.PairStats(0)
		return st.Plans(), st.Outcome(OutcomeWarmup), last
	}
	calmPlans, calmWarm, calm := run(false)
	noisyPlans, noisyWarm, _ := run(true)
	if calmWarm == 0 || noisyWarm == 0 {
		t.Errorf("no warm-up: %d %d", calmWarm, noisyWarm)
	}
	if calmPlans == 0 || calm == nil || calm.ThresholdBps < 10 || calm.ThresholdBps > 10.5 {
		t.Fatalf("calm spread: %d plans, last %+v", calmPlans, calm)
	}
	if noisyPlans != 0 {
		t.Errorf("noisy spread: %d plans on a 20 bps edge", noisyPlans)
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	reg := testRegistry()
	cases := []struct {
		field string
		f     func(c *Config)
	}{
		{"venues", func(c *Config) { c.Venues = nil }},
		{"venues[1].taker_fee_bps", func(c *Config) { c.Venues[1].TakerFeeBps = -1 }},
		{"venues[0].taker_fee_bps", func(c *Config) { c.Venues[0].TakerFeeBps = 1000 }},
		{"venues[0].stale_age", func(c *Config) { c.Venues[0].StaleAge = 0 }},
		{"venues[1].venue", func(c *Config) { c.Venues[1].Venue = 1 }},
		{"venues[0].gas[0].value", func(c *Config) { c.Venues[0].Gas = []Amount{{"USDT", "1e3"}} }},
		{"venues[0].withdraw", func(c *Config) { c.Venues[0].Withdraw = c.Venues[0].Withdraw[1:] }},
		{"venues[0].withdraw[1].asset", func(c *Config) { c.Venues[0].Withdraw[1].Asset = "BTC" }},
		{"min_edge_bps", func(c *Config) { c.MinEdgeBps = -0.5 }},
		{"slippage_bps", func(c *Config) { c.SlippageBps = 2000 }},
		{"vol_half_life", func(c *Config) { c.VolK, c.VolHalfLife = 1, 0 }},
		{"cooldown", func(c *Config) { c.Cooldown = -1 }},
		{"rebalance_trades", func(c *Config) { c.RebalanceTrades = 0 }},
		{"recent_plans", func(c *Config) { c.RecentPlans = 0 }},
		{"max_notional", func(c *Config) { c.MaxNotional = nil }},
		{"max_notional", func(c *Config) { c.MaxNotional = []Amount{{"USDT", "0"}} }},
		{"instruments", func(c *Config) { c.Instruments = nil }},
		{"instruments[1].venue", func(c *Config) { c.Instruments[1].Venue = 9 }},
		{"instruments[1]", func(c *Config) { c.Instruments[1].Venue = 1 }},
		{"instruments[0].canonical", func(c *Config) { c.Instruments[0].Canonical = "BTCUSDT" }},
		{"instruments[1]", func(c *Config) { c.Instruments[1].Scale.Qty = 6 }},
		{"instruments[1].scale", func(c *Config) {
			c.QuoteEquivalence = [][]string{{"USDT", "USDC"}}
			c.MaxNotional = c.MaxNotional[:1]
			c.Instruments[1] = listingOf(reg, 2, btcUSDC)
			c.Instruments[1].Scale.Px = 4
		}},
		{"instruments[0]", func(c *Config) { c.Instruments[0].Step = -1 }},
		{"quote_equivalence[0]", func(c *Config) { c.QuoteEquivalence = [][]string{{"USDT"}} }},
		{"quote_equivalence[1]", func(c *Config) { c.QuoteEquivalence = [][]string{{"USDT", "USDC"}, {"DAI", "USDC"}} }},
	}
	good := zeroCostConfig(reg)
	if err := good.Validate(); err != nil {
		t.Fatalf("base config: %v", err)
	}
	for _, c := range cases {
		cfg := zeroCostConfig(reg)
		c.f(&cfg)
		err := cfg.Validate()
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("%s: got %v", c.field, err)
		}
	}
	// New also checks the listings against the registry.
	cfg := zeroCostConfig(reg)
	cfg.Instruments[0].ID = ethUSDT
	cfg.Instruments[0].Canonical, cfg.Instruments[0].Base = "ETH-USDT", "ETH"
	if _, err := New(reg, bookStore(reg), cfg); err == nil || !strings.Contains(err.Error(), "registry") {
		t.Errorf("registry mismatch: %v", err)
	}
}

func TestInventory(t *testing.T) {
	reg := testRegistry()
	cfg := zeroCostConfig(reg)
	cfg.Instruments = append(cfg.Instruments, listingOf(reg, 1, ethUSDT))
	e := newEnv(t, cfg)
	inv := e.d.Inventory()
	usdt, ok1 := inv.Asset("USDT")
	eth, ok2 := inv.Asset("ETH")
	if !ok1 || !ok2 || inv.Decimals(usdt) != 2 || inv.Decimals(eth) != 3 || inv.AssetName(eth) != "ETH" {
		t.Fatalf("assets: %v %v %d %d", ok1, ok2, inv.Decimals(usdt), inv.Decimals(eth))
	}
	if _, ok := inv.Asset("DOGE"); ok {
		t.Error("DOGE interned")
	}
	if err := inv.SetDecimal(1, "ETH", "1.2345"); err == nil {
		t.Error("a balance finer than the asset's decimals was accepted")
	}
	if err := inv.SetDecimal(1, "ETH", "1.234"); err != nil || inv.Balance(1, eth) != 1234 {
		t.Errorf("SetDecimal: %v %d", err, inv.Balance(1, eth))
	}
	if inv.Set(0, eth, 1) || inv.Set(4, eth, 1) || inv.Adjust(1, 0, 1) {
		t.Error("unknown ids accepted")
	}
	inv.Adjust(1, eth, -2000)
	if inv.Balance(1, eth) != -766 {
		t.Errorf("adjust %d", inv.Balance(1, eth))
	}
	inv.Set(1, eth, 1<<62)
	inv.Adjust(1, eth, 1<<62)
	inv.Adjust(1, eth, 1<<62)
	if inv.Balance(1, eth) != 1<<63-1 {
		t.Errorf("saturation %d", inv.Balance(1, eth))
	}
}

func TestUnknownAndOutOfRangeEvents(t *testing.T) {
	reg := testRegistry()
	e := newEnv(t, zeroCostConfig(reg))
	for _, ev := range []*exchange.BookTop{
		{Venue: 3, Inst: btcUSDT}, // configured venue, unlisted there
		{Venue: 1, Inst: ethUSDT},
		{Venue: 9, Inst: btcUSDT},
		{Venue: 1, Inst: 999},
	} {
		if got := e.d.OnBook(ev, t0); got != nil {
			t.Fatal("plan from an unknown book")
		}
	}
	if e.d.Stats().UnknownBooks.Load() != 4 || e.d.Stats().Events.Load() != 4 {
		t.Errorf("unknown %d", e.d.Stats().UnknownBooks.Load())
	}
}
