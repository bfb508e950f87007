package spread

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"arb/exchange"
	"arb/exchange/num"
)

// The model below restates the sizing rules of doc.go in exact rational
// arithmetic (math/big), one candidate quantity at a time, with no walking
// cleverness, no 128-bit tricks and no code shared with the detector. The
// property tests check the detector's plans against it.

// modelCase is one direction's inputs in real units (prices in quote,
// quantities in base), all exact.
type modelCase struct {
	scale       num.Scale
	asks, bids  []exchange.Level // buy venue's asks, sell venue's bids (fixed-point)
	feeABps     float64
	feeBBps     float64
	slipBps     float64
	thrBps      float64
	gasA, gasB  string // quote
	wBaseA      string // base withdrawal fee on the buy venue
	wQuoteB     string // quote withdrawal fee on the sell venue
	nTrades     int
	quoteBalA   string
	baseBalB    string
	maxNotional string
	stepA       int64 // fixed-point qty
	stepB       int64
	minQtyA     int64
	minQtyB     int64
	minNotA     string // quote
	minNotB     string
}

type modelPlan struct {
	q                   int64 // fixed-point
	buyLimit, sellLimit int64
	cost, proceeds      *big.Rat
	net                 *big.Rat // after every cost
}

func rat(s string) *big.Rat {
	if s == "" {
		return new(big.Rat)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// bpsRat is bps/10^4 from the decimal text of the float (exact for config
// values with a few decimals).
func bpsRat(bps float64) *big.Rat {
	r := rat(strconv.FormatFloat(bps, 'f', -1, 64))
	return r.Quo(r, big.NewRat(10000, 1))
}

func fixed(v int64, dec uint8) *big.Rat {
	return new(big.Rat).SetFrac(big.NewInt(v), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(dec)), nil))
}

// fill takes q (fixed-point) from levels in order: value in quote, the worst
// price touched, and false if the levels do not hold q.
func (m *modelCase) fill(levels []exchange.Level, q int64) (*big.Rat, int64, bool) {
	v := new(big.Rat)
	var limit int64
	rem := q
	for _, l := range levels {
		if rem == 0 {
			break
		}
		take := min(rem, int64(l.Qty))
		v.Add(v, new(big.Rat).Mul(fixed(int64(l.Px), m.scale.Px), fixed(take, m.scale.Qty)))
		limit = int64(l.Px)
		rem -= take
	}
	return v, limit, rem == 0
}

func ge(a, b *big.Rat) bool { return a.Cmp(b) >= 0 }

func mul(xs ...*big.Rat) *big.Rat {
	r := big.NewRat(1, 1)
	for _, x := range xs {
		r.Mul(r, x)
	}
	return r
}

func add(xs ...*big.Rat) *big.Rat {
	r := new(big.Rat)
	for _, x := range xs {
		r.Add(r, x)
	}
	return r
}

func sub(a, b *big.Rat) *big.Rat { return new(big.Rat).Sub(a, b) }

// evalQ returns the plan for exactly q, or false if q breaks any rule.
func (m *modelCase) evalQ(q int64) (modelPlan, bool) {
	one := big.NewRat(1, 1)
	if q <= 0 || q%m.stepA != 0 || q%m.stepB != 0 || q < m.minQtyA || q < m.minQtyB {
		return modelPlan{}, false
	}
	if m.bids[0].Px <= m.asks[0].Px { // only positive top-of-book edges are opportunities
		return modelPlan{}, false
	}
	cost, la, ok1 := m.fill(m.asks, q)
	proceeds, lb, ok2 := m.fill(m.bids, q)
	if !ok1 || !ok2 {
		return modelPlan{}, false
	}
	qr := fixed(q, m.scale.Qty)
	lockA := mul(fixed(la, m.scale.Px), qr)
	lockB := mul(fixed(lb, m.scale.Px), qr)
	fa, fb, s, thr := bpsRat(m.feeABps), bpsRat(m.feeBBps), bpsRat(m.slipBps), bpsRat(m.thrBps)
	if !ge(rat(m.quoteBalA), mul(lockA, add(one, fa))) || !ge(rat(m.baseBalB), qr) ||
		!ge(rat(m.maxNotional), lockA) || !ge(lockA, rat(m.minNotA)) || !ge(lockB, rat(m.minNotB)) {
		return modelPlan{}, false
	}
	// Rebalancing: the base withdrawal fee valued at the best ask of the buy
	// venue plus the quote withdrawal fee, over nTrades, rounded up to
	// 10^-(Px+Qty) quote.
	reb := add(mul(rat(m.wBaseA), fixed(int64(m.asks[0].Px), m.scale.Px)), rat(m.wQuoteB))
	reb.Quo(reb, big.NewRat(int64(m.nTrades), 1))
	unit := fixed(1, m.scale.Px+m.scale.Qty)
	units := new(big.Rat).Quo(reb, unit)
	ceil := new(big.Int).Quo(units.Num(), units.Denom())
	if new(big.Rat).SetInt(ceil).Cmp(units) < 0 {
		ceil.Add(ceil, big.NewInt(1))
	}
	reb = mul(new(big.Rat).SetInt(ceil), unit)

	net := sub(mul(proceeds, sub(sub(one, fb), s)), mul(cost, add(one, fa, s)))
	net.Sub(net, add(rat(m.gasA), rat(m.gasB), reb))
	if !ge(net, mul(thr, cost)) {
		return modelPlan{}, false
	}
	return modelPlan{q: q, buyLimit: la, sellLimit: lb, cost: cost, proceeds: proceeds, net: net}, true
}

// best scans every quantity from the largest possible down and returns the
// first that satisfies every rule: by definition the largest.
func (m *modelCase) best() (modelPlan, bool) {
	var depthA, depthB int64
	for _, l := range m.asks {
		depthA += int64(l.Qty)
	}
	for _, l := range m.bids {
		depthB += int64(l.Qty)
	}
	for q := min(depthA, depthB); q > 0; q-- {
		if p, ok := m.evalQ(q); ok {
			return p, true
		}
	}
	return modelPlan{}, false
}

// genCase draws a random direction with small books so that the model's
// exhaustive scan stays cheap. Prices are near 1000.00, the scale is
// {Px:2, Qty:3}.
func genCase(r *rand.Rand) modelCase {
	m := modelCase{scale: num.Scale{Px: 2, Qty: 3}}
	askA := int64(100000 + r.IntN(600) - 300)
	bidB := askA + int64(r.IntN(1600)) - 100
	wide := r.IntN(5) == 0 // a large edge over a book with holes: exercises the filters deep in the book
	if wide {
		bidB = askA + 50000 + int64(r.IntN(50000))
	}
	na, nb := 1+r.IntN(exchange.TopK), 1+r.IntN(exchange.TopK)
	px := askA
	for range na {
		m.asks = append(m.asks, exchange.Level{Px: num.Price(px), Qty: num.Qty(1 + r.IntN(60))})
		px += 1 + int64(r.IntN(60))
	}
	px = bidB
	for range nb {
		if px <= 0 {
			break
		}
		m.bids = append(m.bids, exchange.Level{Px: num.Price(px), Qty: num.Qty(1 + r.IntN(60))})
		px -= 1 + int64(r.IntN(60))
		if wide && r.IntN(3) == 0 {
			px -= int64(r.IntN(60000)) // a hole in the book: the sell limit falls far
		}
	}
	quarter := func(n int) float64 { return float64(r.IntN(n)) / 4 }
	m.feeABps, m.feeBBps = quarter(60), quarter(60)
	m.slipBps = quarter(20)
	m.thrBps = quarter(40)
	dec := func(v int64, d uint8) string { return num.Format(v, d) }
	if r.IntN(2) == 0 {
		m.gasA = dec(int64(r.IntN(50)), 2)
	}
	if r.IntN(3) == 0 {
		m.gasB = dec(int64(r.IntN(50)), 2)
	}
	m.wBaseA = dec(int64(r.IntN(2)), 3)
	m.wQuoteB = dec(int64(r.IntN(100)), 2)
	m.nTrades = 1 + r.IntN(10)
	m.quoteBalA = dec(int64(r.IntN(100_000_00)), 2) // up to 100k quote
	if r.IntN(4) == 0 {
		m.quoteBalA = dec(int64(r.IntN(300_00)), 2)
	}
	m.baseBalB = dec(int64(r.IntN(800)), 3)
	m.maxNotional = dec(int64(1+r.IntN(700_000_00)), 2)
	steps := []int64{1, 2, 3, 5, 10}
	m.stepA, m.stepB = steps[r.IntN(len(steps))], steps[r.IntN(len(steps))]
	if r.IntN(2) == 0 {
		m.minQtyA = int64(r.IntN(30))
	}
	if r.IntN(2) == 0 {
		m.minQtyB = int64(r.IntN(30))
	}
	if r.IntN(2) == 0 {
		m.minNotA = dec(int64(r.IntN(30_00)), 2)
	}
	if r.IntN(2) == 0 {
		m.minNotB = dec(int64(r.IntN(30_00)), 2)
	}
	if wide {
		m.minNotB = dec(int64(r.IntN(600_00)), 2)
	}
	return m
}

// modelRegistry has one instrument at the model's scale on venues 1 and 2.
func modelRegistry() *exchange.Registry {
	s := num.Scale{Px: 2, Qty: 3}
	return &exchange.Registry{
		Venues: []exchange.VenueInfo{{}, {ID: 1, Name: "a"}, {ID: 2, Name: "b"}},
		Assets: []exchange.Asset{{}, {ID: 1, Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT", Scale: s}},
	}
}

// detectorFor configures a detector whose venue buy (1 or 2) carries the
// model's buy-side parameters and the other venue the sell-side ones.
func detectorFor(t testing.TB, m *modelCase, buy exchange.VenueID) (*env, exchange.VenueID) {
	t.Helper()
	sell := 3 - buy
	reg := modelRegistry()
	c := DefaultConfig()
	c.MinEdgeBps, c.SlippageBps, c.Cooldown, c.RebalanceTrades = m.thrBps, m.slipBps, 0, m.nTrades
	c.MaxNotional = []Amount{{"USDT", m.maxNotional}}
	orZero := func(s string) string {
		if s == "" {
			return "0"
		}
		return s
	}
	c.Venues = make([]VenueConfig, 2)
	c.Instruments = make([]exchange.Instrument, 2)
	side := func(v exchange.VenueID, fee float64, gas, wBase, wQuote string, step, minQty int64, minNot string) {
		vc := DefaultVenueConfig(v)
		vc.TakerFeeBps = fee
		if gas != "" {
			vc.Gas = []Amount{{"USDT", gas}}
		}
		vc.Withdraw = []Amount{{"BTC", orZero(wBase)}, {"USDT", orZero(wQuote)}}
		c.Venues[v-1] = vc
		in := listingOf(reg, v, 1)
		in.Step, in.MinQty = num.Qty(step), num.Qty(minQty)
		mn, err := parseDecimal(orZero(minNot))
		if err != nil {
			t.Fatal(err)
		}
		x, _ := mn.at(2, false)
		in.MinNotional = num.Quote(x)
		c.Instruments[v-1] = in
	}
	// The unused withdrawal fees (quote on the buy venue, base on the sell
	// venue) are set to nonzero values that must not matter.
	side(buy, m.feeABps, m.gasA, m.wBaseA, "9.99", m.stepA, m.minQtyA, m.minNotA)
	side(sell, m.feeBBps, m.gasB, "0.009", m.wQuoteB, m.stepB, m.minQtyB, m.minNotB)
	d, err := New(reg, bookStore(reg), c)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{reg: reg, d: d}
	e.fund(t, buy, "USDT", m.quoteBalA)
	e.fund(t, sell, "BTC", m.baseBalB)
	// The other two balances are generous and must not matter either.
	e.fund(t, buy, "BTC", "1000")
	e.fund(t, sell, "USDT", "1000000")
	return e, sell
}

// books builds the two books of m: the buy venue's asks and the sell venue's
// bids as drawn, and the opposite sides placed so the reverse direction has
// no edge.
func (m *modelCase) books(buy, sell exchange.VenueID, ts int64) (a, b *exchange.BookTop) {
	a = &exchange.BookTop{Venue: buy, Inst: 1, Seq: 1, RecvTS: ts}
	b = &exchange.BookTop{Venue: sell, Inst: 1, Seq: 2, RecvTS: ts}
	copy(a.Asks[:], m.asks)
	copy(b.Bids[:], m.bids)
	a.NAsks, b.NBids = uint8(len(m.asks)), uint8(len(m.bids))
	low := min(m.asks[0].Px, m.bids[len(m.bids)-1].Px)
	high := max(m.bids[0].Px, m.asks[len(m.asks)-1].Px)
	a.Bids[0] = exchange.Level{Px: low - 1, Qty: 1000}
	b.Asks[0] = exchange.Level{Px: high + 1, Qty: 1000}
	a.NBids, b.NAsks = 1, 1
	return a, b
}

func (m *modelCase) String() string {
	return fmt.Sprintf("%+v", *m)
}

// TestPropertyPlansMatchExactModel: on random books, fees, costs, balances
// and filters, the detector plans exactly when the model finds a quantity,
// with the model's largest quantity and limits, and its net edge recomputed
// by the model is never negative and never under the threshold.
func TestPropertyPlansMatchExactModel(t *testing.T) {
	seed := uint64(20240601)
	r := rand.New(rand.NewPCG(seed, 7))
	n := 1500
	if testing.Short() {
		n = 300
	}
	plans := 0
	for i := range n {
		m := genCase(r)
		want, wantOK := m.best()
		for _, buy := range []exchange.VenueID{1, 2} { // both role assignments of venue ids
			e, sell := detectorFor(t, &m, buy)
			a, b := m.books(buy, sell, t0)
			var got []Plan
			if i%2 == 0 {
				e.d.OnBook(a, t0)
				got = e.d.OnBook(b, t0)
			} else {
				e.d.OnBook(b, t0)
				got = e.d.OnBook(a, t0)
			}
			if !wantOK {
				if len(got) != 0 {
					t.Fatalf("case %d (seed %d): plan %+v, model finds none\n%v", i, seed, got[0], &m)
				}
				continue
			}
			if len(got) != 1 {
				t.Fatalf("case %d (seed %d): no plan, model finds q=%d net=%s\n%v", i, seed, want.q, want.net.FloatString(6), &m)
			}
			p := &got[0]
			if p.Buy.Venue != buy || p.Sell.Venue != sell || int64(p.Qty) != want.q ||
				int64(p.Buy.LimitPx) != want.buyLimit || int64(p.Sell.LimitPx) != want.sellLimit {
				t.Fatalf("case %d (seed %d): plan q=%d limits %d/%d venues %d/%d; model q=%d limits %d/%d\n%v",
					i, seed, p.Qty, p.Buy.LimitPx, p.Sell.LimitPx, p.Buy.Venue, p.Sell.Venue, want.q, want.buyLimit, want.sellLimit, &m)
			}
			checkPlanAgainstModel(t, p, &m, want)
			plans++
		}
	}
	if plans < n/10 {
		t.Fatalf("only %d plans in %d cases: the generator no longer exercises sizing", plans, 2*n)
	}
	t.Logf("%d plans in %d evaluations", plans, 2*n)
}

// checkPlanAgainstModel recomputes the plan's money independently.
func checkPlanAgainstModel(t *testing.T, p *Plan, m *modelCase, want modelPlan) {
	t.Helper()
	if want.net.Sign() < 0 || want.net.Cmp(mul(bpsRat(m.thrBps), want.cost)) < 0 {
		t.Fatalf("model net %s below threshold (model bug)", want.net.FloatString(8))
	}
	// NetQuote is the floor of the exact net in quote units.
	units := mul(want.net, fixed(num.Pow10(m.scale.Px), 0))
	floor := new(big.Int).Quo(units.Num(), units.Denom())
	if p.NetQuote < 0 || int64(p.NetQuote) != floor.Int64() {
		t.Fatalf("NetQuote %d, model %s", p.NetQuote, units.FloatString(4))
	}
	netBps, _ := new(big.Rat).Quo(want.net, want.cost).Float64()
	if d := p.NetBps - netBps*1e4; d > 1e-6 || d < -1e-6 {
		t.Fatalf("NetBps %v, model %v", p.NetBps, netBps*1e4)
	}
	if p.NetBps < m.thrBps-1e-9 {
		t.Fatalf("NetBps %v below threshold %v", p.NetBps, m.thrBps)
	}
	gross := mul(sub(want.proceeds, want.cost), fixed(num.Pow10(m.scale.Px), 0))
	if g := new(big.Int).Quo(gross.Num(), gross.Denom()); int64(p.GrossQuote) != g.Int64() {
		t.Fatalf("GrossQuote %d, model %s", p.GrossQuote, gross.FloatString(4))
	}
	// Quantities respect both steps, min qty, min notional and balances.
	q := int64(p.Qty)
	if q%m.stepA != 0 || q%m.stepB != 0 || q < m.minQtyA || q < m.minQtyB || p.Buy.Qty != p.Qty || p.Sell.Qty != p.Qty {
		t.Fatalf("qty %d breaks steps %d/%d or min qty %d/%d", q, m.stepA, m.stepB, m.minQtyA, m.minQtyB)
	}
	qr := fixed(q, m.scale.Qty)
	if mul(fixed(int64(p.Sell.LimitPx), 2), qr).Cmp(rat(m.minNotB)) < 0 || mul(fixed(int64(p.Buy.LimitPx), 2), qr).Cmp(rat(m.minNotA)) < 0 {
		t.Fatalf("min notional broken")
	}
	if fixed(p.Buy.Reserve, 2).Cmp(rat(m.quoteBalA)) > 0 || qr.Cmp(rat(m.baseBalB)) > 0 || fixed(p.Sell.Reserve, 3).Cmp(qr) != 0 {
		t.Fatalf("reservation %d/%d exceeds balances %s/%s", p.Buy.Reserve, p.Sell.Reserve, m.quoteBalA, m.baseBalB)
	}
}

// TestPropertySwapSymmetric: giving venue 1's book and costs to venue 2 and
// vice versa yields the mirrored plan: same quantity, limits and money, with
// the venues exchanged.
func TestPropertySwapSymmetric(t *testing.T) {
	r := rand.New(rand.NewPCG(99, 1))
	n := 600
	if testing.Short() {
		n = 150
	}
	for i := range n {
		m := genCase(r)
		var plans [2][]Plan
		for k, buy := range []exchange.VenueID{1, 2} {
			e, sell := detectorFor(t, &m, buy)
			a, b := m.books(buy, sell, t0)
			e.d.OnBook(a, t0)
			plans[k] = append([]Plan(nil), e.d.OnBook(b, t0)...)
		}
		if len(plans[0]) != len(plans[1]) {
			t.Fatalf("case %d: %d plans vs %d after swapping roles\n%v", i, len(plans[0]), len(plans[1]), &m)
		}
		if len(plans[0]) == 0 {
			continue
		}
		p, s := plans[0][0], plans[1][0]
		if p.Buy.Venue != s.Sell.Venue || p.Sell.Venue != s.Buy.Venue {
			t.Fatalf("case %d: venues not mirrored", i)
		}
		p.Buy.Venue, p.Sell.Venue = s.Buy.Venue, s.Sell.Venue
		p.Buy.BookSeq, p.Sell.BookSeq = s.Buy.BookSeq, s.Sell.BookSeq
		if p != s {
			t.Fatalf("case %d: plans differ beyond the venues:\n%+v\n%+v", i, p, s)
		}
	}
}

// TestPropertyBrokenBooksNeverPlan: a crossed, one-sided, empty, unsorted or
// stale-flagged book never takes part, whatever the other book offers.
func TestPropertyBrokenBooksNeverPlan(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	breakers := []struct {
		name string
		f    func(a *exchange.BookTop)
	}{
		{"crossed", func(a *exchange.BookTop) { a.Bids[0].Px = a.Asks[0].Px + num.Price(r.IntN(3)) }},
		{"no bids", func(a *exchange.BookTop) { a.NBids = 0 }},
		{"no asks", func(a *exchange.BookTop) { a.NAsks = 0; a.Asks[0].Px = 1 }},
		{"empty", func(a *exchange.BookTop) { a.NBids, a.NAsks = 0, 0 }},
		{"unsorted asks", func(a *exchange.BookTop) {
			a.Asks[1], a.NAsks = exchange.Level{Px: a.Asks[0].Px, Qty: 5}, max(a.NAsks, 2)
		}},
		{"zero qty", func(a *exchange.BookTop) { a.Asks[0].Qty = 0 }},
		{"stale flag", func(a *exchange.BookTop) { a.Flags |= exchange.FlagStale }},
	}
	for i := range 300 {
		m := genCase(r)
		m.bids[0].Px = m.asks[0].Px + 200 // a large edge on the good side
		m.quoteBalA, m.baseBalB, m.minNotA, m.minNotB = "100000", "1", "", ""
		m.thrBps, m.gasA, m.gasB, m.wQuoteB, m.wBaseA = 0, "", "", "0", "0"
		if _, ok := m.best(); !ok {
			continue
		}
		for _, br := range breakers {
			for _, which := range []int{0, 1} {
				e, sell := detectorFor(t, &m, 1)
				a, b := m.books(1, sell, t0)
				target := a
				if which == 1 {
					target = b
				}
				br.f(target)
				e.d.OnBook(a, t0)
				if got := e.d.OnBook(b, t0); len(got) != 0 {
					t.Fatalf("case %d: %s book %d produced a plan", i, br.name, which)
				}
			}
		}
	}
}
