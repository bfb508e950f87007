package spread

import (
	"fmt"
	"math"
	"sync"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/book"
)

// rateOne is 100 % in the detector's rate unit (10^-8 of a notional).
const rateOne = 100_000_000

// listing is one configured (venue, instrument) with everything the hot path
// needs converted to the instrument's scale at start-up.
type listing struct {
	venue     exchange.VenueID
	inst      exchange.InstrumentID
	slot      int // book store slot
	symbol    string
	canonical string
	scale     num.Scale
	pq        uint64 // 10^Scale.Qty: Quote units → PQ units (10^-(Px+Qty))

	step     int64 // ≥ 1
	minQty   int64
	minNotPQ u128 // min notional in PQ units

	base, quote       AssetID
	baseDiv, quoteDiv int64 // inventory units per Qty / Px unit

	gas      int64 // per leg, Px units (rounded up)
	wBase    int64 // withdrawal fee of the base, Qty units (rounded up)
	wQuote   int64 // withdrawal fee of the quote, Px units (rounded up)
	maxNotPQ u128  // max notional per trade, PQ units

	fee      int64 // taker fee rate, 10^-8
	feeBps   float64
	feeAsset string
	staleAge int64 // ns

	peers []peer
}

// peer links a listing to another venue's listing of a matching instrument.
type peer struct {
	other int32
	fwd   int32 // pair index: this listing buys, other sells
	rev   int32 // pair index: other buys, this listing sells
}

// pairState is the detector's mutable state of one directed pair.
type pairState struct {
	buy, sell     int32 // listing indexes
	step          int64 // lcm of both steps
	vol           int32 // index into vols (shared by both directions)
	cooldownUntil int64
	inOpp         bool // in an opportunity episode (see PairStats.Opportunities)
	symbol        string
}

// Detector finds cross-venue plans. It owns its books (through the
// book.Store it updates), its inventory and its per-pair state; every method
// except Stats, Pairs, PairStats, Listings and RecentPlans must be called
// from one goroutine (strategy.Loop's). It never reads the wall clock:
// callers pass now (Unix ns).
type Detector struct {
	cfg   Config
	store *book.Store
	inv   *Inventory

	listings []listing
	bySlot   []int32 // book slot → listing index, −1 if not configured
	usable   []bool  // per listing: the last book is usable (not flagged, two sided, sorted)
	pairs    []pairState
	info     []PairInfo
	pstats   []PairStats
	vols     []volState
	stats    Stats

	volOn       bool
	halfLifeNs  int64
	minEdgeRate int64
	slipRate    int64
	cooldown    int64
	nTrades     uint64
	nextID      uint64

	cands    []Plan  // candidate plans of the current event; OnBook returns a prefix
	candPair []int32 // pair of each candidate

	mu         sync.Mutex // guards recent*: taken only when a plan is emitted or read
	recent     []Plan
	recentNext int
	recentLen  int
}

// New builds a detector over store for the listings of cfg; reg must be the
// registry store was built from. Every listing's ids, canonical symbol and
// scale must agree with reg.
func New(reg *exchange.Registry, store *book.Store, cfg Config) (*Detector, error) {
	cc, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	d := &Detector{
		cfg:         cfg,
		store:       store,
		inv:         newInventory(len(reg.Venues)),
		bySlot:      make([]int32, store.Len()),
		volOn:       cfg.VolK > 0 || cfg.SlippageVolMult > 0,
		halfLifeNs:  int64(cfg.VolHalfLife),
		minEdgeRate: rateOf(cfg.MinEdgeBps),
		slipRate:    rateOf(cfg.SlippageBps),
		cooldown:    int64(cfg.Cooldown),
		nTrades:     uint64(cfg.RebalanceTrades),
		nextID:      cfg.PlanIDBase,
		recent:      make([]Plan, cfg.RecentPlans),
	}
	for i := range d.bySlot {
		d.bySlot[i] = -1
	}
	class := func(a string) string {
		if r, ok := cc.quoteClass[a]; ok {
			return r
		}
		return a
	}
	// Intern assets first so every asset's decimals are final before the
	// per-listing divisors are computed.
	for i := range cfg.Instruments {
		in := &cfg.Instruments[i]
		d.inv.intern(in.Base, in.Scale.Qty)
		d.inv.intern(in.Quote, in.Scale.Px)
	}
	d.inv.freeze()
	for i := range cfg.Instruments {
		in := &cfg.Instruments[i]
		f := fmt.Sprintf("instruments[%d]", i)
		a := reg.Asset(in.ID)
		if a == nil || a.Symbol != in.Canonical || a.Scale != in.Scale {
			return nil, cfgErr(f, "%s (id %d, scale %v) does not match the registry", in.Canonical, in.ID, in.Scale)
		}
		slot, ok := store.Index(in.Venue, in.ID)
		if !ok {
			return nil, cfgErr(f+".venue", "venue %d is not in the registry", in.Venue)
		}
		vi := cc.venue[in.Venue]
		vc := &cfg.Venues[vi]
		l := listing{
			venue: in.Venue, inst: in.ID, slot: slot,
			symbol: in.Symbol, canonical: in.Canonical, scale: in.Scale,
			pq:     uint64(num.Pow10(in.Scale.Qty)),
			step:   max(int64(in.Step), 1),
			minQty: int64(in.MinQty),
			fee:    rateOf(vc.TakerFeeBps), feeBps: vc.TakerFeeBps, feeAsset: vc.FeeAsset,
			staleAge: int64(vc.StaleAge),
		}
		l.minNotPQ = mul64(uint64(in.MinNotional), l.pq)
		l.base, _ = d.inv.Asset(in.Base)
		l.quote, _ = d.inv.Asset(in.Quote)
		l.baseDiv = num.Pow10(d.inv.Decimals(l.base) - in.Scale.Qty)
		l.quoteDiv = num.Pow10(d.inv.Decimals(l.quote) - in.Scale.Px)
		conv := func(field string, v decimal, to uint8, ceil bool) (int64, error) {
			x, err := v.at(to, ceil)
			if err != nil {
				return 0, cfgErr(field, "%v at %d decimals (%s)", err, to, in.Canonical)
			}
			return x, nil
		}
		vf := fmt.Sprintf("venues[%d]", vi)
		if g, ok := cc.gas[vi][class(in.Quote)]; ok {
			if l.gas, err = conv(vf+".gas", g, in.Scale.Px, true); err != nil {
				return nil, err
			}
		}
		if l.wBase, err = conv(vf+".withdraw", cc.withdraw[vi][in.Base], in.Scale.Qty, true); err != nil {
			return nil, err
		}
		if l.wQuote, err = conv(vf+".withdraw", cc.withdraw[vi][in.Quote], in.Scale.Px, true); err != nil {
			return nil, err
		}
		mn, err := conv("max_notional", cc.maxNotional[class(in.Quote)], in.Scale.Px, false)
		if err != nil {
			return nil, err
		}
		l.maxNotPQ = mul64(uint64(mn), l.pq)
		d.bySlot[slot] = int32(len(d.listings))
		d.listings = append(d.listings, l)
	}
	d.usable = make([]bool, len(d.listings))

	// Pair every two listings of one (base, quote class) on different venues.
	maxPeers := 0
	for i := range d.listings {
		for j := i + 1; j < len(d.listings); j++ {
			li, lj := &d.listings[i], &d.listings[j]
			ii, ij := &cfg.Instruments[i], &cfg.Instruments[j]
			if li.venue == lj.venue || ii.Base != ij.Base || class(ii.Quote) != class(ij.Quote) {
				continue
			}
			vol := int32(len(d.vols))
			d.vols = append(d.vols, volState{})
			fwd := d.addPair(int32(i), int32(j), vol)
			rev := d.addPair(int32(j), int32(i), vol)
			li.peers = append(li.peers, peer{other: int32(j), fwd: fwd, rev: rev})
			lj.peers = append(lj.peers, peer{other: int32(i), fwd: rev, rev: fwd})
		}
	}
	for i := range d.listings {
		maxPeers = max(maxPeers, len(d.listings[i].peers))
	}
	d.pstats = make([]PairStats, len(d.pairs))
	d.cands = make([]Plan, 2*maxPeers)
	d.candPair = make([]int32, 2*maxPeers)
	return d, nil
}

func (d *Detector) addPair(buy, sell int32, vol int32) int32 {
	lb, ls := &d.listings[buy], &d.listings[sell]
	sym := lb.canonical
	if ls.canonical != sym {
		sym = lb.canonical + "/" + ls.canonical
	}
	id := int32(len(d.pairs))
	d.pairs = append(d.pairs, pairState{buy: buy, sell: sell, step: lcm(lb.step, ls.step), vol: vol, symbol: sym})
	d.info = append(d.info, PairInfo{ID: int(id), BuyVenue: lb.venue, SellVenue: ls.venue, BuyInst: lb.inst, SellInst: ls.inst, Symbol: sym})
	return id
}

func lcm(a, b int64) int64 {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

// Inventory returns the detector's balances (detector goroutine only).
func (d *Detector) Inventory() *Inventory { return d.inv }

// Books returns the book store the detector updates (detector goroutine only).
func (d *Detector) Books() *book.Store { return d.store }

// Stats returns the global counters (safe from any goroutine).
func (d *Detector) Stats() *Stats { return &d.stats }

// Pairs returns every directed pair, indexed by PairInfo.ID. The slice is
// immutable after New and safe to read from any goroutine.
func (d *Detector) Pairs() []PairInfo { return d.info }

// PairStats returns the counters of pair id (safe from any goroutine).
func (d *Detector) PairStats(id int) *PairStats { return &d.pstats[id] }

// ListingInfo describes one configured (venue, instrument) listing.
type ListingInfo struct {
	Venue     exchange.VenueID
	Inst      exchange.InstrumentID
	Slot      int    // book store slot
	Symbol    string // the venue's own symbol
	Canonical string
	Scale     num.Scale
	StaleAge  int64 // ns
}

// Listings returns every configured listing in config order (allocates; for
// start-up and periodic snapshots).
func (d *Detector) Listings() []ListingInfo {
	out := make([]ListingInfo, len(d.listings))
	for i := range d.listings {
		l := &d.listings[i]
		out[i] = ListingInfo{Venue: l.venue, Inst: l.inst, Slot: l.slot, Symbol: l.symbol, Canonical: l.canonical, Scale: l.scale, StaleAge: l.staleAge}
	}
	return out
}

// usableBook reports whether b may take part at all: not flagged stale, both
// sides present, not crossed, levels strictly ordered with positive prices
// and quantities, and a gas cost that is not negative. A one-sided top-K is what a broken feed looks like, and the
// exact sizing relies on ordered levels, so anything else is refused.
func usableBook(b *exchange.BookTop) bool {
	nb, na := int(b.NBids), int(b.NAsks)
	if b.Stale() || nb == 0 || na == 0 || nb > exchange.TopK || na > exchange.TopK || b.Gas < 0 {
		return false
	}
	if b.Bids[0].Px >= b.Asks[0].Px {
		return false
	}
	prev := num.Price(math.MaxInt64)
	for i := 0; i < nb; i++ {
		l := b.Bids[i]
		if l.Px <= 0 || l.Qty <= 0 || l.Px >= prev {
			return false
		}
		prev = l.Px
	}
	prev = 0
	for i := 0; i < na; i++ {
		l := b.Asks[i]
		if l.Px <= 0 || l.Qty <= 0 || l.Px <= prev {
			return false
		}
		prev = l.Px
	}
	return true
}

// fresh reports whether listing li's book is usable and young enough at now.
func (d *Detector) fresh(li int32, now int64) bool {
	l := &d.listings[li]
	return d.usable[li] && now-d.store.At(l.slot).RecvTS <= l.staleAge
}

// OnBook applies ev to the books and evaluates every pair it affects, both
// directions against every other venue quoting a matching instrument. It
// returns the plans emitted, best net edge first; the slice and the plans
// are owned by the detector and valid until the next call. In steady state
// it does not allocate.
func (d *Detector) OnBook(ev *exchange.BookTop, now int64) []Plan {
	d.stats.Events.Add(1)
	slot, ok := d.store.Apply(ev)
	if !ok || d.bySlot[slot] < 0 {
		d.stats.UnknownBooks.Add(1)
		return nil
	}
	li := d.bySlot[slot]
	l := &d.listings[li]
	u := usableBook(ev)
	d.usable[li] = u
	if !u {
		if ev.Stale() {
			d.stats.StaleEvents.Add(1)
		} else {
			d.stats.BadBooks.Add(1)
		}
	}
	if !u || now-ev.RecvTS > l.staleAge {
		if u {
			d.stats.AgedBooks.Add(1)
		}
		for _, p := range l.peers {
			d.pairs[p.fwd].inOpp = false
			d.pairs[p.rev].inOpp = false
		}
		return nil
	}
	n := 0
	for _, p := range l.peers {
		if !d.fresh(p.other, now) {
			if d.usable[p.other] {
				d.stats.AgedBooks.Add(1)
			}
			d.pairs[p.fwd].inOpp = false
			d.pairs[p.rev].inOpp = false
			continue
		}
		if d.volOn {
			d.sampleVol(li, p, ev.RecvTS)
		}
		// Uncrossed books allow at most one direction, but both are
		// considered so each keeps its episode state right.
		if d.consider(p.fwd, now, n) {
			n++
		}
		if d.consider(p.rev, now, n) {
			n++
		}
	}
	return d.emitAll(n, now)
}

// sampleVol adds the current spread of (li, p.other) to their volatility.
func (d *Detector) sampleVol(li int32, p peer, t int64) {
	// Orient by listing index so both directions share one series.
	lo, hi := li, p.other
	if hi < lo {
		lo, hi = hi, lo
	}
	a := d.store.At(d.listings[lo].slot)
	b := d.store.At(d.listings[hi].slot)
	ma := (float64(a.Bids[0].Px) + float64(a.Asks[0].Px)) / 2
	mb := (float64(b.Bids[0].Px) + float64(b.Asks[0].Px)) / 2
	d.vols[d.pairs[p.fwd].vol].add((mb-ma)/ma*1e4, t, float64(d.halfLifeNs))
}

// consider evaluates pair pi into d.cands[slot] and reports whether it is a
// plan candidate. Non-plan outcomes are counted here; plans when emitted.
func (d *Detector) consider(pi int32, now int64, slot int) bool {
	ps := &d.pairs[pi]
	a := d.store.At(d.listings[ps.buy].slot)
	b := d.store.At(d.listings[ps.sell].slot)
	if b.Bids[0].Px <= a.Asks[0].Px {
		ps.inOpp = false
		return false
	}
	st := &d.pstats[pi]
	if !ps.inOpp {
		ps.inOpp = true
		st.Opportunities.Add(1)
	}
	var o Outcome
	switch {
	case now < ps.cooldownUntil:
		o = OutcomeCooldown
	case d.volOn && !d.vols[ps.vol].ready(d.halfLifeNs):
		o = OutcomeWarmup
	default:
		o = d.evaluate(pi, &d.cands[slot])
	}
	if o == OutcomePlan {
		d.candPair[slot] = pi
		return true
	}
	st.outcomes[o].Add(1)
	return false
}

// emitAll emits the n candidates best first. Each emission reserves
// balances, so when several pairs fire on one event the others are
// re-evaluated against what is left (a rare path).
func (d *Detector) emitAll(n int, now int64) []Plan {
	emitted := 0
	for emitted < n {
		best := emitted
		for j := emitted + 1; j < n; j++ {
			if d.cands[j].NetQuote > d.cands[best].NetQuote {
				best = j
			}
		}
		d.cands[emitted], d.cands[best] = d.cands[best], d.cands[emitted]
		d.candPair[emitted], d.candPair[best] = d.candPair[best], d.candPair[emitted]
		d.emit(d.candPair[emitted], &d.cands[emitted], now)
		emitted++
		for j := emitted; j < n; j++ {
			pi := d.candPair[j]
			if o := d.evaluate(pi, &d.cands[j]); o != OutcomePlan {
				d.pstats[pi].outcomes[o].Add(1)
				n--
				d.cands[j], d.cands[n] = d.cands[n], d.cands[j]
				d.candPair[j], d.candPair[n] = d.candPair[n], d.candPair[j]
				j--
			}
		}
	}
	return d.cands[:emitted]
}

func (d *Detector) emit(pi int32, p *Plan, now int64) {
	d.nextID++
	p.ID = PlanID(d.nextID)
	p.TS = now
	d.pairs[pi].cooldownUntil = now + d.cooldown
	d.inv.reserve(p)
	d.pstats[pi].outcomes[OutcomePlan].Add(1)
	d.stats.Plans.Add(1)
	d.mu.Lock()
	d.recent[d.recentNext] = *p
	d.recentNext = (d.recentNext + 1) % len(d.recent)
	d.recentLen = min(d.recentLen+1, len(d.recent))
	d.mu.Unlock()
}

// RecentPlans appends the last Config.RecentPlans plans, newest first, to
// dst and returns it. Safe from any goroutine.
func (d *Detector) RecentPlans(dst []Plan) []Plan {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k := 1; k <= d.recentLen; k++ {
		dst = append(dst, d.recent[(d.recentNext-k+len(d.recent))%len(d.recent)])
	}
	return dst
}

// evaluate sizes pair pi on the current books and balances and fills p when
// a plan results. See doc.go for the model; the notation here:
//
//	S(q), B(q)  sell proceeds and buy cost of q at the walked levels, in PQ
//	            units (10^-(Px+Qty) quote), i.e. Σ px·qty exactly;
//	aRate       10^8 + buy fee + slippage + threshold (rates in 10^-8);
//	bRate       10^8 − sell fee − slippage;
//	K           fixed costs (gas of both legs + amortized rebalancing) in
//	            PQ units × 10^8.
//
// q is feasible when bRate·S(q) − aRate·B(q) ≥ K, i.e. the net edge after
// every cost is at least the threshold share of the buy notional.
func (d *Detector) evaluate(pi int32, p *Plan) Outcome {
	ps := &d.pairs[pi]
	la, lb := &d.listings[ps.buy], &d.listings[ps.sell]
	a, b := d.store.At(la.slot), d.store.At(lb.slot)

	volBps, slip, thr := 0.0, d.slipRate, d.minEdgeRate
	if d.volOn {
		volBps = d.vols[ps.vol].std()
		slip += rateCeil(d.cfg.SlippageVolMult * volBps)
		thr += rateCeil(d.cfg.VolK * volBps)
	}
	aNet := rateOne + la.fee + slip
	aRate := aNet + thr
	bRate := rateOne - lb.fee - slip
	if bRate <= 0 {
		return OutcomeBelowThreshold
	}

	// Fixed costs. Rebalancing moves the bought base back from the buy
	// venue (its withdrawal fee in base, valued at the best ask there) and
	// the proceeds back from the sell venue (its quote withdrawal fee),
	// spread over RebalanceTrades trades and rounded up to a PQ unit.
	// Gas is each venue's configured amount plus what each book carries
	// (an on-chain venue's gas of that block, see doc.go).
	gasPx, okg := u128{lo: uint64(la.gas)}.add(u128{lo: uint64(lb.gas)})
	gasPx, okg2 := gasPx.add(u128{lo: uint64(a.Gas)})
	gasPx, okg3 := gasPx.add(u128{lo: uint64(b.Gas)})
	gasPQ, okg4 := gasPx.mul(la.pq)
	rebal, ok1 := mul64(uint64(la.wBase), uint64(a.Asks[0].Px)).add(mul64(uint64(lb.wQuote), la.pq))
	rebal = rebal.divCeilSmall(d.nTrades)
	fixed, ok2 := gasPQ.add(rebal)
	k, ok3 := fixed.mul(rateOne)
	if !ok1 || !ok2 || !ok3 || !okg || !okg2 || !okg3 || !okg4 {
		return OutcomeOverflow
	}

	// Caps: base on the sell venue; quote on the buy venue, which must cover
	// limit × q plus the fee (what the venue locks for a limit buy), and max
	// notional (limit × q).
	baseCap := max(d.inv.Balance(lb.venue, lb.base)/lb.baseDiv, 0)
	quoteBal := max(d.inv.Balance(la.venue, la.quote)/la.quoteDiv, 0)
	lock, ok := mul64(uint64(quoteBal), la.pq).mul(rateOne)
	if !ok {
		return OutcomeOverflow
	}
	lock, _ = lock.divSmall(uint64(rateOne + la.fee))
	if la.maxNotPQ.less(lock) {
		lock = la.maxNotPQ
	}

	qhi, o := maxFeasible(a, b, uint64(aRate), uint64(bRate), k, baseCap, lock)
	if o != 0 {
		return o
	}
	q := num.FloorTo(qhi, ps.step)
	if q <= 0 {
		return OutcomeMinSize
	}
	// q is the largest step multiple within the caps that can be feasible.
	// Lower-bound filters are checked at q; only the sell leg's min notional
	// (limit × q, where the limit falls as q walks deeper) can pass at a
	// smaller q, so on that failure alone q moves back before the sell
	// level it reached and is checked again (at most TopK times).
	for {
		bw, ok1 := walk(&a.Asks, int(a.NAsks), q)
		sw, ok2 := walk(&b.Bids, int(b.NBids), q)
		if !ok1 || !ok2 {
			return OutcomeOverflow
		}
		pos, ok1 := sw.notional.mul(uint64(bRate))
		neg, ok2 := bw.notional.mul(uint64(aRate))
		neg, ok3 := neg.add(k)
		if !ok1 || !ok2 || !ok3 {
			return OutcomeOverflow
		}
		if pos.less(neg) {
			return OutcomeBelowThreshold // q < the feasible interval: so is every smaller q
		}
		if q < la.minQty || q < lb.minQty || mul64(uint64(bw.limit), uint64(q)).less(la.minNotPQ) {
			return OutcomeMinSize // lower bounds: no smaller q passes either
		}
		if !mul64(uint64(sw.limit), uint64(q)).less(lb.minNotPQ) {
			return d.fill(p, ps, la, lb, a, b, q, &bw, &sw, aNet, bRate, slip, thr, volBps, gasPx, gasPQ, rebal)
		}
		q = num.FloorTo(sw.before, ps.step)
		if q <= 0 {
			return OutcomeMinSize
		}
	}
}

// maxFeasible returns the largest q within the caps (base cap, lock: the
// largest limit × q in PQ units, and the depth of both books) at which
// bRate·S(q) − aRate·B(q) ≥ k, or 0 if there is none, by walking the merged
// level segments once.
//
// Within a segment both prices are constant, so D(q) = bRate·S − aRate·B − k
// is linear; its slope bRate·bid − aRate·ask never increases from one
// segment to the next (bids fall, asks rise), so D is concave and its
// feasible set is one interval. The walk records the end of every segment
// where D ≥ 0 and stops at the first point where D turns negative on a
// falling slope (solved exactly by integer division), or where D is negative
// and no longer rising. A cap ends the walk inside a segment.
func maxFeasible(a, b *exchange.BookTop, aRate, bRate uint64, k u128, baseCap int64, lock u128) (int64, Outcome) {
	var pos u128 // bRate·S(q)
	neg := k     // aRate·B(q) + k
	var q, best int64
	i, j := 0, 0
	na, nb := int(a.NAsks), int(b.NBids)
	remA, remB := int64(a.Asks[0].Qty), int64(b.Bids[0].Qty)
	for i < na && j < nb {
		pa, pb := uint64(a.Asks[i].Px), uint64(b.Bids[j].Px)
		seg := min(remA, remB)
		capped := false
		if seg > baseCap-q { // q ≤ baseCap throughout, so neither side overflows
			seg, capped = baseCap-q, true
		}
		// limit × q ≤ lock at this ask price; divide only when it binds.
		if lock.less(mul64(uint64(q+seg), pa)) {
			qa, _ := lock.divSmall(pa) // < q+seg, so it fits an int64
			seg, capped = max(int64(qa.lo)-q, 0), true
		}
		if seg == 0 {
			if q == 0 {
				return 0, OutcomeNoBalance
			}
			break
		}
		gp, gn := mul64(bRate, pb), mul64(aRate, pa)
		dp, ok1 := gp.mul(uint64(seg))
		dn, ok2 := gn.mul(uint64(seg))
		pe, ok3 := pos.add(dp)
		ne, ok4 := neg.add(dn)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return 0, OutcomeOverflow
		}
		switch {
		case !pe.less(ne):
			best = q + seg
		case !pos.less(neg):
			// Feasible at q, not at q+seg: the slope is negative and stays
			// so. The last feasible point is q + floor((pos−neg)/(gn−gp)).
			x := pos.sub(neg).div(gn.sub(gp))
			return finish(q + int64(x.lo)) // x < seg, so it fits
		case gp.cmp(gn) <= 0:
			// Infeasible and not rising: nothing further can be feasible.
			return finish(best)
		}
		if capped {
			break
		}
		pos, neg, q = pe, ne, q+seg
		if remA -= seg; remA == 0 {
			if i++; i < na {
				remA = int64(a.Asks[i].Qty)
			}
		}
		if remB -= seg; remB == 0 {
			if j++; j < nb {
				remB = int64(b.Bids[j].Qty)
			}
		}
	}
	return finish(best)
}

func finish(best int64) (int64, Outcome) {
	if best == 0 {
		return 0, OutcomeBelowThreshold
	}
	return best, 0
}

// walked is the result of walking one side of a book to a quantity.
type walked struct {
	notional u128  // Σ px·qty in PQ units
	limit    int64 // price of the last level touched
	levels   int   // levels touched
	before   int64 // cumulative quantity of the levels before the last one
}

// walk takes q from the first n levels (q must not exceed their total).
func walk(levels *[exchange.TopK]exchange.Level, n int, q int64) (walked, bool) {
	var w walked
	rem := q
	for i := 0; i < n && rem > 0; i++ {
		l := levels[i]
		take := min(rem, int64(l.Qty))
		var ok bool
		if w.notional, ok = w.notional.add(mul64(uint64(l.Px), uint64(take))); !ok {
			return w, false
		}
		w.before = q - rem
		rem -= take
		w.limit = int64(l.Px)
		w.levels = i + 1
	}
	return w, rem == 0
}

// fill writes the plan for quantity q.
func (d *Detector) fill(p *Plan, ps *pairState, la, lb *listing, a, b *exchange.BookTop, q int64,
	bw, sw *walked, aNet, bRate, slip, thr int64, volBps float64, gasPx, gasPQ, rebal u128) Outcome {
	pq := la.pq
	// net·10^8 in PQ units = bRate·S − aNet·B − K ≥ thr·B ≥ 0.
	pos, _ := sw.notional.mul(uint64(bRate))
	neg, _ := bw.notional.mul(uint64(aNet))
	fixed, _ := gasPQ.add(rebal)
	k, _ := fixed.mul(rateOne)
	neg, _ = neg.add(k)
	if pos.less(neg) {
		return OutcomeBelowThreshold // unreachable: thr ≥ 0 (defensive)
	}
	net := pos.sub(neg)
	netQ, _ := net.divSmall(rateOne)
	netQ, _ = netQ.divSmall(pq)
	gross, _ := sw.notional.sub(bw.notional).divSmall(pq)
	fees, _ := bw.notional.mul(uint64(la.fee))
	sfee, _ := sw.notional.mul(uint64(lb.fee))
	fees, _ = fees.add(sfee)
	both, _ := bw.notional.add(sw.notional)
	slipQ, _ := both.mul(uint64(slip))
	buyNotional := bw.notional.divCeilSmall(pq)
	sellNotional, _ := sw.notional.divSmall(pq)
	// Quote on the buy venue locked by a limit buy: limit × q plus the fee,
	// rounded up; it fits the balance by construction of the caps.
	lockQ, _ := mul64(uint64(bw.limit), uint64(q)).mul(uint64(rateOne + la.fee))
	lockQ = lockQ.divCeilSmall(rateOne).divCeilSmall(pq)

	bn := bw.notional.float()
	*p = Plan{
		Symbol: ps.symbol,
		Scale:  la.scale,
		Qty:    num.Qty(q),
		Buy: Leg{
			Venue: la.venue, Inst: la.inst, Symbol: la.symbol, Side: exchange.Buy,
			LimitPx: num.Price(bw.limit), Qty: num.Qty(q), Notional: num.Quote(lo63(buyNotional)),
			Levels: uint8(bw.levels), FeeBps: la.feeBps, FeeAsset: la.feeAsset,
			BookSeq: a.Seq, BookExchTS: a.ExchTS, BookRecvTS: a.RecvTS,
			ReserveAsset: la.quote, Reserve: lo63(lockQ) * la.quoteDiv,
		},
		Sell: Leg{
			Venue: lb.venue, Inst: lb.inst, Symbol: lb.symbol, Side: exchange.Sell,
			LimitPx: num.Price(sw.limit), Qty: num.Qty(q), Notional: num.Quote(lo63(sellNotional)),
			Levels: uint8(sw.levels), FeeBps: lb.feeBps, FeeAsset: lb.feeAsset,
			BookSeq: b.Seq, BookExchTS: b.ExchTS, BookRecvTS: b.RecvTS,
			ReserveAsset: lb.base, Reserve: q * lb.baseDiv,
		},
		GrossQuote:     num.Quote(lo63(gross)),
		GrossBps:       sw.notional.sub(bw.notional).float() / bn * 1e4,
		NetQuote:       num.Quote(lo63(netQ)),
		NetBps:         net.float() / rateOne / bn * 1e4,
		FeesQuote:      num.Quote(lo63(fees.divCeilSmall(rateOne).divCeilSmall(pq))),
		SlippageQuote:  num.Quote(lo63(slipQ.divCeilSmall(rateOne).divCeilSmall(pq))),
		GasQuote:       num.Quote(lo63(gasPx)),
		RebalanceQuote: num.Quote(lo63(rebal.divCeilSmall(pq))),
		ThresholdBps:   float64(thr) / 1e4,
		SlippageBps:    float64(slip) / 1e4,
		VolBps:         volBps,
	}
	return OutcomePlan
}

// lo63 returns x as an int64, saturating (display amounts only; the decision
// itself never saturates).
func lo63(x u128) int64 {
	if v, ok := x.int64(); ok {
		return v
	}
	return math.MaxInt64
}
