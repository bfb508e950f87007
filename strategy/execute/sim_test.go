package execute

import (
	"container/heap"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/spread"
)

// The deterministic simulation: the real Driver and Executor against
// simulated venues written here, on a virtual clock, with seeded faults —
// rejects, partial fills, slow and delayed acknowledgements, lost ones,
// unknown outcomes, 429s with Retry-After, requests that arrive after the
// venue's receive window, dropped and duplicated private events, streams
// going down, failing journal appends, and crashes of the process with a
// restart from the journal. Invariants are checked after every step; a
// failure prints the seed, and -exec.seed reruns it alone.
var (
	simSeed   = flag.Int64("exec.seed", 0, "run the execution simulation for this seed only")
	simSeeds  = flag.Int("exec.seeds", 100, "number of seeds of the execution simulation")
	simTrades = flag.Int("exec.trades", 100, "trades per seed of the execution simulation (a long run: raise it)")
)

func TestSimulation(t *testing.T) {
	seeds := make([]int64, 0, *simSeeds)
	if *simSeed != 0 {
		seeds = append(seeds, *simSeed)
	} else {
		for i := 0; i < *simSeeds; i++ {
			seeds = append(seeds, int64(1000+i))
		}
	}
	total := 0
	var mu sync.Mutex
	var totals simTotals
	t.Run("seeds", func(t *testing.T) {
		for _, seed := range seeds {
			t.Run(fmt.Sprint(seed), func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, seed, worldOptions{})
				w.run(*simTrades)
				mu.Lock()
				total += w.opened
				totals.add(&w.totals)
				mu.Unlock()
			})
		}
	})
	if !t.Failed() {
		t.Logf("%d trades over %d seeds: %s", total, len(seeds), totals.String())
		if *simSeed == 0 && total < *simSeeds**simTrades {
			t.Fatalf("only %d trades ran, want %d", total, *simSeeds**simTrades)
		}
	}
}

// TestSimulationCatchesEarlyResend proves the invariants bite: with a
// policy that takes "not found" as proof of absence before the venue's
// receive window is over, a restart that queries an order whose request is
// still on its way resends it, the venue gets a second order for one
// intent, and the simulation must say so.
func TestSimulationCatchesEarlyResend(t *testing.T) {
	caught := ""
	seed := int64(1)
	for ; seed <= 40 && caught == ""; seed++ {
		w := newWorld(t, seed, worldOptions{breakNotFound: true, slowPlaces: true, crashEvery: 100, failf: func(msg string) { caught = msg }})
		w.run(100)
	}
	t.Logf("caught after %d seeds: %s", seed-1, caught)
	if !strings.Contains(caught, "two orders for one intent") {
		t.Fatalf("a resend before the receive window ended was not caught (got %q)", caught)
	}
	// The control: the same slow requests and frequent crashes with the
	// right policy break nothing.
	for s := int64(1); s < seed; s++ {
		w := newWorld(t, s, worldOptions{slowPlaces: true, crashEvery: 100})
		w.run(100)
	}
}

// Virtual time and the event queue.

type simItem struct {
	at  int64
	seq uint64
	fn  func()
}

type simQueue []simItem

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simItem)) }
func (q *simQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// Simulation constants.
const (
	simTick       = 20 * time.Millisecond
	simRecvWindow = time.Second // a venue refuses a request older than this
)

type worldOptions struct {
	breakNotFound bool         // a policy that resends too early: must be caught
	slowPlaces    bool         // place requests take 0.3–0.9 s to reach the venue
	crashEvery    int          // a crash every so many steps on average (default 2000)
	failf         func(string) // instead of t.Fatalf
}

type simTotals struct {
	flat, residual, unresolved, crashes, journalFails, retries, unwinds, resends uint64
	notPlaced, orphanFills, anomalies, abandoned, halts                          uint64
}

func (a *simTotals) add(b *simTotals) {
	a.flat += b.flat
	a.residual += b.residual
	a.unresolved += b.unresolved
	a.crashes += b.crashes
	a.journalFails += b.journalFails
	a.retries += b.retries
	a.unwinds += b.unwinds
	a.resends += b.resends
	a.notPlaced += b.notPlaced
	a.orphanFills += b.orphanFills
	a.anomalies += b.anomalies
	a.abandoned += b.abandoned
	a.halts += b.halts
}

func (a *simTotals) String() string {
	return fmt.Sprintf("%d closed flat, %d closed with a residual (%d with unresolved orders), %d retries, %d unwinds, %d resends, %d not placed, %d crashes, %d journal failures, %d orphan fills, %d anomalies, %d abandoned, %d kill switches",
		a.flat, a.residual, a.unresolved, a.retries, a.unwinds, a.resends, a.notPlaced, a.crashes, a.journalFails, a.orphanFills, a.anomalies, a.abandoned, a.halts)
}

type world struct {
	t    *testing.T
	seed int64
	opt  worldOptions
	rng  *rand.Rand
	now  int64
	q    simQueue
	seq  uint64
	ctx  context.Context

	reg    *exchange.Registry
	venues []*simVenue // by VenueID
	j      *memJournal
	cfg    simConfig
	drv    *Driver
	inc    int  // driver incarnation: deliveries to an older one are lost with it
	faults bool // off for the final drain

	opened   int
	halted   bool
	plans    spread.PlanID
	steps    int
	failed   bool
	totals   simTotals
	lastStep string
}

func newWorld(t *testing.T, seed int64, opt worldOptions) *world {
	if opt.crashEvery == 0 {
		opt.crashEvery = 2000
	}
	w := &world{t: t, seed: seed, opt: opt, rng: rand.New(rand.NewSource(seed)), ctx: context.Background(), faults: true}
	w.now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	w.reg = &exchange.Registry{
		Venues: []exchange.VenueInfo{{}, {ID: 1, Name: "A"}, {ID: 2, Name: "B"}, {ID: 3, Name: "C"}},
		Assets: []exchange.Asset{{}, {ID: btc, Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT", Scale: testScale}},
	}
	steps := []num.Qty{0, 1, 10, 5}
	var insts []exchange.Instrument
	w.venues = make([]*simVenue, len(steps))
	for v := 1; v < len(steps); v++ {
		insts = append(insts, exchange.Instrument{ID: btc, Venue: exchange.VenueID(v), Canonical: "BTC-USDT", Base: "BTC", Quote: "USDT",
			Scale: testScale, Tick: 1, Step: steps[v], MinQty: steps[v], MinNotional: 500})
		w.venues[v] = &simVenue{w: w, id: exchange.VenueID(v), step: steps[v], mid: 10000 + num.Price(w.rng.Intn(40)) - 20,
			byClient: map[exchange.ID]*simOrder{}, streamUp: true, bookOK: true, nextOID: uint64(v) * 1_000_000}
		w.venues[v].spread = num.Price(2 + w.rng.Intn(6))
	}
	w.j = &memJournal{w: w, ids: map[string]bool{}}
	pol := DefaultPolicy()
	pol.AckTimeout = 2 * time.Second
	pol.NotFoundAfter = simRecvWindow + 500*time.Millisecond
	pol.QueryInterval = 300 * time.Millisecond
	pol.FinalTimeout = time.Duration(1+w.rng.Intn(3)) * time.Second
	pol.FillTimeout = time.Second
	pol.RetryMax = w.rng.Intn(4)
	pol.RetryWindow = time.Duration(1+w.rng.Intn(3)) * time.Second
	pol.UnwindMax = 1 + w.rng.Intn(3)
	pol.UnwindWindow = time.Duration(1+w.rng.Intn(4)) * time.Second
	pol.RetrySlippageBps = 5 + w.rng.Intn(30)
	pol.UnwindSlippageBps = 10 + w.rng.Intn(40)
	pol.UnwindMaxLossBps = 50 + w.rng.Intn(200)
	pol.ResendWindow = []time.Duration{500 * time.Millisecond, 3 * time.Second}[w.rng.Intn(2)]
	pol.MaxResends = 1 + w.rng.Intn(3)
	pol.Deadline = 30 * time.Second
	if opt.breakNotFound {
		pol.NotFoundAfter = time.Millisecond
		pol.ResendWindow = 5 * time.Second
		pol.MaxResends = 5
	}
	seq := pol
	seq.Mode = Sequential
	seq.First = []exchange.Side{exchange.Buy, exchange.Sell}[w.rng.Intn(2)]
	cfg := DefaultConfig()
	cfg.Default = pol
	cfg.Pairs = []PairPolicy{{BuyVenue: 3, Policy: seq}, {SellVenue: 3, Policy: seq}} // C is the "on-chain" venue
	cfg.Registry = w.reg
	cfg.Instruments = insts
	cfg.KeepClosed = 1 << 20 // every trade stays for the final checks
	cfg.MaxOpen = 16
	cfg.Quotes = w.quotes
	cfg.FeeRates = func(asset *exchange.ID, quote string) (num.Amount, bool) {
		if asset.String() == "BNB" {
			return num.Amount{V: 6001, Dec: 1}, true
		}
		return num.Amount{}, false
	}
	w.cfg.codec = NewCodec(w.reg)
	w.cfg.DriverConfig = DriverConfig{Executor: cfg, Journal: w.j, Clock: w, Caller: simCaller{w}, RebuildEvery: 500 * time.Millisecond,
		Hooks: Hooks{Closed: w.onClosed, Persisted: w.j.persisted, Abandoned: func(TradeID, spread.PlanID) { w.opened--; w.totals.abandoned++ }}}
	return w
}

// Now implements Clock.
func (w *world) Now() int64 { return w.now }

func (w *world) failf(format string, args ...any) {
	if w.failed {
		return
	}
	w.failed = true
	msg := fmt.Sprintf(format, args...)
	if w.opt.failf != nil {
		w.opt.failf(msg)
		return
	}
	w.t.Helper()
	w.t.Fatalf("seed %d (rerun: go test -run TestSimulation ./strategy/execute -exec.seed %d): at %s, step %d (%s): %s",
		w.seed, w.seed, time.Duration(w.now-time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()), w.steps, w.lastStep, msg)
}

func (w *world) at(d time.Duration, fn func()) {
	w.seq++
	heap.Push(&w.q, simItem{at: w.now + int64(d), seq: w.seq, fn: fn})
}

func (w *world) chance(p float64) bool { return w.faults && w.rng.Float64() < p }

func (w *world) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(w.rng.Int63n(int64(hi-lo)+1))
}

// delay is a network delay: mostly short, sometimes long, rarely past the
// venue's receive window.
func (w *world) delay() time.Duration {
	switch r := w.rng.Float64(); {
	case !w.faults || r < 0.85:
		return w.between(time.Millisecond, 40*time.Millisecond)
	case r < 0.97:
		return w.between(40*time.Millisecond, 400*time.Millisecond)
	default:
		return w.between(400*time.Millisecond, 1300*time.Millisecond)
	}
}

func (w *world) run(trades int) {
	w.start()
	w.at(simTick, w.tick)
	w.at(w.between(0, 300*time.Millisecond), func() { w.planLoop(trades) })
	for v := 1; v < len(w.venues); v++ {
		w.venues[v].scheduleFlap()
		w.venues[v].scheduleMove()
		if w.rng.Intn(4) == 0 {
			w.venues[v].scheduleOutage()
		}
	}
	end := int64(0)
	for w.q.Len() > 0 && !w.failed {
		it := heap.Pop(&w.q).(simItem)
		w.now = it.at
		w.steps++
		it.fn()
		if w.failed {
			return
		}
		if w.opened >= trades && end == 0 && w.drv != nil {
			// Every plan is out: the faults stop, and everything must
			// close and settle within a few deadlines.
			w.faults = false
			end = w.now + int64(5*time.Minute)
			for v := 1; v < len(w.venues); v++ {
				w.venues[v].endOutage()
			}
		}
		if end != 0 && w.quiescent() {
			break
		}
		if end != 0 && w.now > end {
			w.failf("trades still open or settling %v after the last plan: open %d, settling %d, failed %v",
				5*time.Minute, w.drv.Executor().OpenTrades(), w.drv.Executor().Settling(), w.drv.Failed())
			return
		}
	}
	if !w.failed {
		w.finalChecks()
	}
}

func (w *world) quiescent() bool {
	if w.drv == nil || w.drv.Failed() != nil || !w.drv.Ready() {
		return false
	}
	ex := w.drv.Executor()
	return ex.OpenTrades() == 0 && ex.Settling() == 0
}

type simConfig struct {
	DriverConfig
	codec *Codec
}

func (w *world) start() {
	d, err := NewDriver(w.cfg.DriverConfig)
	if err != nil {
		w.failf("new driver: %v", err)
		return
	}
	w.drv = d
	w.inc++
	if w.halted {
		d.Halt(w.ctx) // the kill switch outlives the process (risk persists it)
	}
	if err := d.Start(w.ctx); err != nil && d.Failed() == nil {
		w.failf("start: %v", err)
	}
	// A new process: its private streams connect anew.
	inc := w.inc
	for v := 1; v < len(w.venues); v++ {
		vv := w.venues[v]
		w.at(w.between(5*time.Millisecond, 100*time.Millisecond), func() {
			if vv.streamUp {
				w.deliver(inc, Event{Kind: EvStream, Venue: vv.id, Up: true})
			}
		})
	}
	w.check()
}

func (w *world) tick() {
	w.lastStep = "tick"
	if w.drv != nil {
		w.drv.Tick(w.ctx)
		w.check()
		if w.chance(1 / float64(w.opt.crashEvery)) {
			w.crash()
		}
	}
	w.at(simTick, w.tick)
}

func (w *world) crash() {
	w.totals.crashes++
	w.checkReplay()
	w.drv = nil
	w.inc++ // every answer on its way to the dead process is lost
	w.at(w.between(200*time.Millisecond, 3*time.Second), func() { w.lastStep = "restart"; w.start() })
}

// deliver hands an event to the driver of incarnation inc, if it is still
// the running one.
func (w *world) deliver(inc int, ev Event) {
	if inc != w.inc || w.drv == nil {
		return
	}
	w.lastStep = "deliver " + ev.Kind.String()
	w.drv.Deliver(w.ctx, &ev)
	w.check()
	if w.chance(1 / float64(w.opt.crashEvery)) {
		w.crash()
	}
}

func (w *world) planLoop(trades int) {
	if w.opened >= trades {
		return
	}
	w.at(w.between(50*time.Millisecond, 500*time.Millisecond), func() { w.planLoop(trades) })
	if w.drv == nil || !w.drv.Ready() {
		return
	}
	if !w.halted && w.chance(1.0/300) {
		// The kill switch, for a while: open trades close as they stand.
		w.halted = true
		w.totals.halts++
		w.lastStep = "halt"
		w.drv.Halt(w.ctx)
		w.check()
		w.at(w.between(time.Second, 5*time.Second), func() {
			w.halted = false
			if w.drv != nil {
				w.drv.Resume()
			}
		})
		return
	}
	b := 1 + w.rng.Intn(len(w.venues)-1)
	s := 1 + w.rng.Intn(len(w.venues)-2)
	if s >= b {
		s++
	}
	vb, vs := w.venues[b], w.venues[s]
	q := num.Qty(10 * (1 + w.rng.Intn(100)))
	w.plans++
	p := spread.Plan{ID: w.plans, Symbol: "BTC-USDT", Scale: testScale, Qty: q, NetQuote: num.Quote(w.rng.Intn(200)), TS: w.now,
		Buy:  spread.Leg{Venue: vb.id, Inst: btc, Side: exchange.Buy, LimitPx: vb.ask() + num.Price(w.rng.Intn(6)) - 1, Qty: q},
		Sell: spread.Leg{Venue: vs.id, Inst: btc, Side: exchange.Sell, LimitPx: vs.bid() - num.Price(w.rng.Intn(6)) + 1, Qty: q}}
	w.lastStep = "submit"
	if _, err := w.drv.Submit(w.ctx, &p, 0); err == nil {
		w.opened++
	} else if !errors.Is(err, ErrBusy) && !errors.Is(err, ErrNotReady) && !errors.Is(err, ErrHalted) {
		w.failf("submit: %v", err)
	}
	w.check()
}

func (w *world) quotes(v exchange.VenueID, _ exchange.InstrumentID) (num.Price, num.Price, bool) {
	vv := w.venues[v]
	return vv.bid(), vv.ask(), vv.bookOK
}

// check runs the invariants that hold after every step.
func (w *world) check() {
	if w.drv == nil || w.drv.Failed() != nil || w.drv.Executor() == nil {
		return
	}
	ex := w.drv.Executor()
	ex.Trades(func(t *Trade) bool {
		if !t.State().Closed() {
			// Every trade closes within its deadline (the executor's
			// timer resolution is the simulation's tick).
			if w.now > t.Deadline()+int64(simTick) {
				w.failf("trade %s open %v past its deadline", t.ID(), time.Duration(w.now-t.Deadline()))
				return false
			}
		}
		// Compensation never adds exposure: the imbalance stays within
		// the trade's quantity.
		if r := t.Residual(); abs(r) > t.Opening().Qty {
			w.failf("trade %s imbalance %s beyond its quantity %s", t.ID(), fq(r), fq(t.Opening().Qty))
			return false
		}
		return !t.State().Closed() // closed trades are checked when they close and at the end
	})
}

func (w *world) onClosed(t *Trade) {
	switch {
	case t.State() == StateClosedFlat && (t.Residual() != 0 || t.Unresolved() != 0):
		w.failf("trade %s closed flat with residual %s, %d unresolved", t.ID(), fq(t.Residual()), t.Unresolved())
	case t.State() == StateClosedResidual && t.Residual() == 0 && t.Unresolved() == 0:
		w.failf("trade %s closed with a residual it does not have", t.ID())
	}
}

// checkReplay rebuilds an executor from the journal and compares every
// trade with the live one: the journal must hold the whole durable state.
func (w *world) checkReplay() {
	if w.drv == nil || w.drv.Failed() != nil {
		return
	}
	ex, err := New(w.cfg.DriverConfig.Executor)
	if err != nil {
		w.failf("new: %v", err)
		return
	}
	for i := range w.j.recs {
		if err := ex.Restore(&w.j.recs[i]); err != nil {
			w.failf("restore: %v", err)
			return
		}
	}
	w.drv.Executor().Trades(func(t *Trade) bool {
		nt := ex.Trade(t.ID())
		if nt == nil {
			w.failf("trade %s not in the journal", t.ID())
			return false
		}
		if !sameDurable(t, nt) {
			w.failf("trade %s rebuilt differently from the journal:\n%s\n---\n%s", t.ID(), durable(t), durable(nt))
			return false
		}
		return true
	})
}

// finalChecks compare the executor's books with the venues' after
// everything closed and settled.
func (w *world) finalChecks() {
	w.checkReplay()
	ex := w.drv.Executor()
	type orderKey struct {
		v   exchange.VenueID
		cid exchange.ID
	}
	// Every venue order is one of an opened trade's intents, once.
	known := map[orderKey]*order{}
	trades := 0
	var expo num.Qty
	ex.Trades(func(t *Trade) bool {
		trades++
		if !t.Settled() {
			w.failf("trade %s not settled", t.ID())
			return false
		}
		switch t.State() {
		case StateClosedFlat:
			w.totals.flat++
		case StateClosedResidual:
			w.totals.residual++
			if t.unresolved > 0 {
				w.totals.unresolved++
			}
		}
		w.totals.retries += uint64(t.count(PurposeRetry))
		w.totals.unwinds += uint64(t.count(PurposeUnwind))
		var bought, sold num.Qty
		seen := map[fillKey]bool{}
		for k := range t.fills {
			f := &t.fills[k].fill
			key := fillKey{f.Venue, f.Inst, f.TradeID}
			if seen[key] {
				w.failf("trade %s counts fill %v twice", t.ID(), key)
			}
			seen[key] = true
		}
		for i := 0; i < t.n; i++ {
			o := &t.orders[i]
			w.totals.resends += uint64(o.resends)
			if o.phase == phaseNotPlaced {
				w.totals.notPlaced++
			}
			known[orderKey{o.req.Venue, o.req.ClientID}] = o
			vo := w.venues[o.req.Venue].byClient[o.req.ClientID]
			var venueFilled num.Qty
			if vo != nil {
				venueFilled = vo.st.FilledQty
				if !vo.st.Status.Final() {
					w.failf("order %s still open on venue %d", o.req.ClientID, o.req.Venue)
				}
			}
			if o.phase == phaseNotPlaced && vo != nil {
				w.failf("order %s recorded not placed but the venue has it", o.req.ClientID)
			}
			if o.filled() != venueFilled || o.fillQty != venueFilled {
				w.failf("order %s: executor filled %s (fills %s), venue %s", o.req.ClientID, fq(o.filled()), fq(o.fillQty), fq(venueFilled))
			}
			if o.req.Side == exchange.Buy {
				bought += venueFilled
			} else {
				sold += venueFilled
			}
		}
		truth := bought - sold
		if truth != t.Residual() {
			w.failf("trade %s residual %s, venues say %s", t.ID(), fq(t.Residual()), fq(truth))
		}
		if abs(truth) > t.Opening().Qty {
			w.failf("trade %s residual %s beyond its quantity", t.ID(), fq(truth))
		}
		if t.unresolved == 0 && t.residual != truth {
			w.failf("trade %s reported residual %s, venues say %s", t.ID(), fq(t.residual), fq(truth))
		}
		if (truth != 0) != (t.State() == StateClosedResidual) && t.unresolved == 0 {
			w.failf("trade %s is %s with residual %s", t.ID(), t.State(), fq(truth))
		}
		expo += truth
		return !w.failed
	})
	if w.failed {
		return
	}
	if trades != w.opened {
		w.failf("%d trades in memory, %d opened", trades, w.opened)
	}
	var got num.Qty
	for _, e := range ex.Exposures() {
		got += e.Residual
		if e.Open != 0 {
			w.failf("open exposure %s with no open trade", fq(e.Open))
		}
	}
	if got != expo {
		w.failf("reported residual exposure %s, trades hold %s", fq(got), fq(expo))
	}
	// Every fill on a venue is in the journal exactly once, and nothing else.
	journalFills := map[fillKey]int{}
	for i := range w.j.recs {
		rec := &w.j.recs[i]
		if rec.Kind == RecFill {
			journalFills[fillKey{rec.Fill.Venue, rec.Fill.Inst, rec.Fill.TradeID}]++
		}
	}
	venueFills := 0
	for v := 1; v < len(w.venues); v++ {
		vv := w.venues[v]
		for _, o := range vv.orders {
			if known[orderKey{vv.id, o.st.ClientID}] == nil {
				w.failf("venue %d holds order %s no trade knows", v, o.st.ClientID)
			}
			for _, f := range o.fills {
				venueFills++
				if n := journalFills[fillKey{f.Venue, f.Inst, f.TradeID}]; n != 1 {
					w.failf("venue fill %s/%s in the journal %d times", vv.name(), f.TradeID, n)
				}
			}
		}
	}
	if len(journalFills) != venueFills {
		w.failf("journal has %d fills, venues made %d", len(journalFills), venueFills)
	}
	st := ex.Stats()
	w.totals.orphanFills += st.OrphanFills
	w.totals.anomalies += st.Anomalies
	if st.Anomalies > 0 {
		// The simulated venues never contradict themselves: an anomaly is
		// an answer the executor attributed to the wrong call.
		w.failf("%d anomalies", st.Anomalies)
	}
}

// memJournal is the journal: entries in order, deduplicated by id like
// JetStream's Nats-Msg-Id; appends sometimes fail, storing a prefix. Each
// entry is also kept decoded, for the checks.
type memJournal struct {
	w       *world
	data    [][]byte
	recs    []Record // decoded, in the same order (from the Persisted hook)
	ids     map[string]bool
	pending []string // ids stored by the last append, awaiting their records
}

// persisted receives the driver's records of a successful append, in
// order: those stored (not deduplicated away) become recs. Scripts and
// the fuzz target check that every record survives JSON exactly.
func (j *memJournal) persisted(r *Record) {
	if len(j.pending) == 0 || j.w.cfg.codec.MsgID(r) != j.pending[0] {
		return // deduplicated away
	}
	j.pending = j.pending[1:]
	c := *r
	if c.Open != nil {
		op := *c.Open
		c.Open = &op
	}
	j.recs = append(j.recs, c)
}

func (j *memJournal) Append(_ context.Context, es []Entry) error {
	n := len(es)
	fail := j.w.chance(1.0 / 1500)
	if fail {
		j.w.totals.journalFails++
		n = j.w.rng.Intn(len(es) + 1)
	}
	for _, e := range es[:n] {
		if j.ids[e.ID] {
			continue
		}
		j.ids[e.ID] = true
		j.data = append(j.data, append([]byte(nil), e.Data...))
		if fail {
			// The driver's Persisted hook reports only whole appends: a
			// stored prefix of a failed one is decoded here.
			rec, err := j.w.cfg.codec.Unmarshal(e.Data)
			if err != nil {
				j.w.failf("journal entry does not decode: %v\n%s", err, e.Data)
			}
			j.recs = append(j.recs, rec)
		} else {
			j.pending = append(j.pending, e.ID)
		}
	}
	if fail {
		return errors.New("journal: simulated failure")
	}
	return nil
}

func (j *memJournal) Replay(_ context.Context, fn func([]byte) error) error {
	for _, d := range j.data {
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// simCaller sends the driver's calls to the simulated venues.
type simCaller struct{ w *world }

func (c simCaller) Start(call Call) {
	w := c.w
	inc := w.inc
	v := w.venues[call.Req.Venue]
	sent := w.now
	if w.chance(0.01) {
		// The request is lost on the way; the client gives up at its
		// timeout with an unknown outcome.
		w.at(call.Timeout, func() {
			w.deliver(inc, Result(&call, exchange.OrderState{}, &exchange.Error{Kind: exchange.KindUnknownOutcome, Msg: "timeout"}))
		})
		return
	}
	d := w.delay()
	if w.opt.slowPlaces && call.Kind == CallPlace {
		d = w.between(300*time.Millisecond, 900*time.Millisecond) // room for the race
	}
	w.at(d, func() {
		if v.dark {
			// Nothing comes back; the client gives up at its timeout.
			w.at(call.Timeout-time.Duration(w.now-sent), func() {
				w.deliver(inc, Result(&call, exchange.OrderState{}, &exchange.Error{Kind: exchange.KindUnknownOutcome, Msg: "timeout"}))
			})
			return
		}
		v.handle(inc, call, sent)
	})
}

// simVenue is one venue: a book, orders by client id, fills, a private
// stream.
type simVenue struct {
	w        *world
	dark     bool // an outage: nothing is answered, the stream is down
	id       exchange.VenueID
	step     num.Qty
	mid      num.Price
	spread   num.Price
	bookOK   bool
	streamUp bool
	byClient map[exchange.ID]*simOrder
	orders   []*simOrder
	nextOID  uint64
	nextTID  uint64
}

type simOrder struct {
	st     exchange.OrderState
	fills  []exchange.Fill
	held   []exchange.Fill // fills of a slow order, made when it finishes
	finalS exchange.OrderStatus
}

func (v *simVenue) name() string { return v.w.reg.VenueName(v.id) }
func (v *simVenue) bid() num.Price {
	return v.mid - v.spread/2
}
func (v *simVenue) ask() num.Price { return v.mid - v.spread/2 + v.spread }

func (v *simVenue) scheduleMove() {
	w := v.w
	w.at(w.between(50*time.Millisecond, 300*time.Millisecond), func() {
		v.mid += num.Price(w.rng.Intn(7) - 3)
		if v.mid < 9500 {
			v.mid += 5
		} else if v.mid > 10500 {
			v.mid -= 5
		}
		v.bookOK = !w.chance(0.03)
		v.scheduleMove()
	})
}

func (v *simVenue) scheduleFlap() {
	w := v.w
	w.at(w.between(5*time.Second, 40*time.Second), func() {
		if !w.faults || v.dark {
			v.scheduleFlap()
			return
		}
		v.streamUp = false
		inc := w.inc
		w.at(w.delay(), func() { w.deliver(inc, Event{Kind: EvStream, Venue: v.id, Up: false}) })
		w.at(w.between(300*time.Millisecond, 5*time.Second), func() {
			if v.dark {
				v.scheduleFlap()
				return
			}
			v.streamUp = true
			inc := w.inc
			w.at(w.delay(), func() { w.deliver(inc, Event{Kind: EvStream, Venue: v.id, Up: true}) })
			v.scheduleFlap()
		})
	})
}

// scheduleOutage makes the venue go dark once, for longer than a trade's
// deadline: trades close with unresolved orders and settle afterwards.
func (v *simVenue) scheduleOutage() {
	w := v.w
	w.at(w.between(2*time.Second, 30*time.Second), func() {
		if !w.faults {
			return
		}
		v.dark, v.streamUp = true, false
		inc := w.inc
		w.at(w.delay(), func() { w.deliver(inc, Event{Kind: EvStream, Venue: v.id, Up: false}) })
		w.at(w.between(10*time.Second, 45*time.Second), v.endOutage)
	})
}

func (v *simVenue) endOutage() {
	if !v.dark {
		return
	}
	w := v.w
	v.dark, v.streamUp = false, true
	inc := w.inc
	w.at(w.delay(), func() { w.deliver(inc, Event{Kind: EvStream, Venue: v.id, Up: true}) })
}

// push sends a private event if the stream is up, sometimes twice.
func (v *simVenue) push(ev Event) {
	w := v.w
	if !v.streamUp {
		return
	}
	inc := w.inc
	w.at(w.between(time.Millisecond, 100*time.Millisecond), func() { w.deliver(inc, ev) })
	if w.chance(0.1) {
		w.at(w.between(100*time.Millisecond, 2*time.Second), func() { w.deliver(inc, ev) })
	}
}

// reply sends a call's answer back, sometimes late, sometimes never.
func (v *simVenue) reply(inc int, call Call, st exchange.OrderState, err error) {
	w := v.w
	switch {
	case w.chance(0.03):
		return // lost
	case w.chance(0.03):
		// Answered after the caller gave up.
		w.at(call.Timeout+w.between(0, time.Second), func() { w.deliver(inc, Result(&call, st, err)) })
		return
	}
	w.at(w.delay(), func() { w.deliver(inc, Result(&call, st, err)) })
}

func venueErr(k exchange.ErrorKind, retryAfter time.Duration) error {
	return &exchange.Error{Kind: k, Venue: "sim", RetryAfter: retryAfter}
}

// faultReply answers some calls with an error before looking at them.
func (v *simVenue) faultReply() error {
	w := v.w
	switch {
	case w.chance(0.03):
		return venueErr(exchange.KindRateLimited, w.between(100*time.Millisecond, 800*time.Millisecond))
	case w.chance(0.02):
		return venueErr(exchange.KindRetryable, 0)
	}
	return nil
}

func (v *simVenue) handle(inc int, call Call, sent int64) {
	w := v.w
	w.lastStep = "venue " + call.Kind.String()
	switch call.Kind {
	case CallPlace:
		st, err := v.place(call.Req, sent)
		if err == nil && w.chance(0.04) {
			// Processed, but the client saw a 5xx: unknown outcome.
			v.reply(inc, call, exchange.OrderState{}, venueErr(exchange.KindUnknownOutcome, 0))
			return
		}
		v.reply(inc, call, st, err)
	case CallQuery:
		if err := v.faultReply(); err != nil {
			v.reply(inc, call, exchange.OrderState{}, err)
			return
		}
		if w.chance(0.02) {
			v.reply(inc, call, exchange.OrderState{}, venueErr(exchange.KindUnknownOutcome, 0))
			return
		}
		o := v.byClient[call.Req.ClientID]
		if o == nil {
			v.reply(inc, call, exchange.OrderState{}, venueErr(exchange.KindNotFound, 0))
			return
		}
		v.reply(inc, call, o.st, nil)
	case CallCancel:
		if err := v.faultReply(); err != nil {
			v.reply(inc, call, exchange.OrderState{}, err)
			return
		}
		o := v.byClient[call.Req.ClientID]
		switch {
		case o == nil:
			v.reply(inc, call, exchange.OrderState{}, venueErr(exchange.KindNotFound, 0))
		case o.st.Status.Final():
			if w.rng.Intn(2) == 0 {
				v.reply(inc, call, exchange.OrderState{}, venueErr(exchange.KindNotFound, 0))
			} else {
				v.reply(inc, call, o.st, nil)
			}
		default:
			v.finish(o, exchange.StatusCanceled, true)
			v.reply(inc, call, o.st, nil)
		}
	case CallFetchFills:
		if err := v.faultReply(); err != nil || w.chance(0.02) {
			if err == nil {
				err = venueErr(exchange.KindUnknownOutcome, 0)
			}
			v.reply(inc, call, exchange.OrderState{}, err)
			return
		}
		var fills []exchange.Fill
		for _, o := range v.orders {
			for _, f := range o.fills {
				if f.TS >= call.Since {
					if w.rng.Intn(2) == 0 {
						f.ClientID = exchange.ID{} // Binance myTrades: order id only
					}
					fills = append(fills, f)
				}
			}
		}
		if w.chance(0.03) {
			return // lost
		}
		w.at(w.delay(), func() {
			for _, f := range fills {
				w.deliver(inc, Event{Kind: EvFill, Fill: f})
			}
			w.deliver(inc, Result(&call, exchange.OrderState{}, nil))
		})
	}
}

// place runs a place request arriving now, sent at sent.
func (v *simVenue) place(req exchange.OrderRequest, sent int64) (exchange.OrderState, error) {
	w := v.w
	if w.now-sent > int64(simRecvWindow) {
		return exchange.OrderState{}, venueErr(exchange.KindRejected, 0) // outside the receive window
	}
	if err := v.faultReply(); err != nil {
		return exchange.OrderState{}, err
	}
	if w.chance(0.02) {
		return exchange.OrderState{}, venueErr(exchange.KindRejected, 0)
	}
	if old := v.byClient[req.ClientID]; old != nil {
		if !old.st.Status.Final() {
			return exchange.OrderState{}, venueErr(exchange.KindDuplicate, 0)
		}
		// Venues refuse a client id only among open orders: a second
		// order for one intent would be accepted. It must never happen.
		w.failf("two orders for one intent: %s on venue %s", req.ClientID, v.name())
		return exchange.OrderState{}, venueErr(exchange.KindRejected, 0)
	}
	if !w.j.ids[req.ClientID.String()] {
		w.failf("venue %s got order %s whose intent is not in the journal", v.name(), req.ClientID)
	}
	v.nextOID++
	o := &simOrder{st: exchange.OrderState{Venue: v.id, Inst: req.Inst, Side: req.Side, TIF: req.TIF, Status: exchange.StatusNew,
		ClientID: req.ClientID, VenueOrderID: exchange.MustID(fmt.Sprintf("%d", v.nextOID)), Px: req.Px, Qty: req.Qty, TS: w.now}}
	v.byClient[req.ClientID] = o
	v.orders = append(v.orders, o)

	// How much the book gives at the limit.
	var fill num.Qty
	crosses := req.Side == exchange.Buy && v.ask() <= req.Px || req.Side == exchange.Sell && v.bid() >= req.Px
	if crosses {
		switch r := w.rng.Float64(); {
		case r < 0.55 || !w.faults:
			fill = req.Qty
		case r < 0.8:
			fill = num.Qty(num.FloorTo(int64(w.rng.Int63n(int64(req.Qty))), int64(v.step)))
		}
	}
	fills := v.makeFills(o, fill)
	final := exchange.StatusFilled
	if fill < req.Qty {
		final = []exchange.OrderStatus{exchange.StatusExpired, exchange.StatusCanceled}[w.rng.Intn(2)]
	}
	if w.chance(0.05) {
		// A slow order: open for a while, then done (unless cancelled).
		o.held, o.finalS = fills, final
		v.push(Event{Kind: EvOrder, State: o.st})
		w.at(w.between(300*time.Millisecond, 4*time.Second), func() {
			if !o.st.Status.Final() {
				v.finish(o, o.finalS, false)
			}
		})
		return o.st, nil
	}
	o.held = fills
	v.finish(o, final, false)
	if w.rng.Intn(2) == 0 {
		// OKX and Bybit answer a place with the ids only.
		st := o.st
		st.Status, st.FilledQty, st.FilledQuote = exchange.StatusNew, 0, num.Amount{}
		return st, nil
	}
	return o.st, nil
}

// makeFills cuts qty into 1–3 executions at prices inside the limit.
func (v *simVenue) makeFills(o *simOrder, qty num.Qty) []exchange.Fill {
	w := v.w
	var out []exchange.Fill
	for qty > 0 {
		part := qty
		if qty > v.step && w.rng.Intn(2) == 0 {
			part = num.Qty(num.FloorTo(int64(w.rng.Int63n(int64(qty))), int64(v.step)))
			if part <= 0 {
				part = qty
			}
		}
		qty -= part
		px := v.ask()
		if o.st.Side == exchange.Sell {
			px = v.bid()
		}
		v.nextTID++
		f := exchange.Fill{Venue: v.id, Inst: o.st.Inst, Side: o.st.Side, TradeID: exchange.MustID(fmt.Sprintf("x%d", v.nextTID)),
			ClientID: o.st.ClientID, VenueOrderID: o.st.VenueOrderID, Px: px, Qty: part}
		switch w.rng.Intn(3) {
		case 0:
			f.Fee, f.FeeAsset = num.Amount{V: int64(part) * 100, Dec: 8}, exchange.MustID("BTC")
		case 1:
			f.Fee, f.FeeAsset = num.Amount{V: int64(px) * int64(part) / 1000, Dec: 5}, exchange.MustID("USDT")
		default:
			f.Fee, f.FeeAsset = num.Amount{V: 7, Dec: 6}, exchange.MustID("BNB")
		}
		out = append(out, f)
	}
	return out
}

// finish makes an order final with its held fills (none if cancelled
// before its slow matching ended), and pushes the state and the fills.
func (v *simVenue) finish(o *simOrder, status exchange.OrderStatus, cancelled bool) {
	w := v.w
	if !cancelled {
		for _, f := range o.held {
			f.TS = w.now
			o.fills = append(o.fills, f)
			o.st.FilledQty += f.Qty
		}
	}
	o.held = nil
	if status == exchange.StatusCanceled && o.st.FilledQty == o.st.Qty {
		status = exchange.StatusFilled
	}
	o.st.Status, o.st.TS = status, w.now
	v.push(Event{Kind: EvOrder, State: o.st})
	for _, f := range o.fills {
		v.push(Event{Kind: EvFill, Fill: f})
	}
}

// sameDurable reports whether two trades have the same durable state (what
// a replay must rebuild), ignoring the volatile part.
func sameDurable(a, b *Trade) bool {
	if a.id != b.id || a.open != b.open || a.state != b.state || a.openedAt != b.openedAt || a.phaseAt != b.phaseAt ||
		a.deadline != b.deadline || a.closedAt != b.closedAt || a.residual != b.residual || a.unresolved != b.unresolved ||
		a.n != b.n || len(a.fills) != len(b.fills) {
		return false
	}
	for i := 0; i < a.n; i++ {
		x, y := a.orders[i], b.orders[i]
		for _, o := range []*order{&x, &y} {
			o.call, o.callAt, o.unknown, o.resendDue, o.next, o.liveAt, o.cancelAt, o.recheck, o.indexed = 0, 0, false, false, 0, 0, 0, false, false
		}
		if x != y {
			return false
		}
	}
	// Fills in any order (two paths may deliver them in different orders
	// only across a restart; the set is what counts).
	seen := make(map[fillKey]fillEntry, len(a.fills))
	for _, f := range a.fills {
		seen[fillKey{f.fill.Venue, f.fill.Inst, f.fill.TradeID}] = f
	}
	for _, f := range b.fills {
		if g, ok := seen[fillKey{f.fill.Venue, f.fill.Inst, f.fill.TradeID}]; !ok || g != f {
			return false
		}
	}
	return true
}
