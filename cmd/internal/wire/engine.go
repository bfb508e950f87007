package wire

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"arb/exchange"
	"arb/strategy"
	"arb/strategy/spread"
)

// engine is the strategy half of the daemon over the venues whose
// instrument filters are known: the detector, its strategy loop, and the
// feeds of those venues. The detector bakes every listing's filters in at
// construction, so a venue that answers only after start-up (see
// venue.join) gets a new engine: the old loop stops, a new detector is built
// over all joined venues on the same book store and ring, the balances are
// carried over, and the new loop starts. Exactly one loop consumes the ring
// at any time.
//
// An engine is immutable once published; the daemon's current one is read
// with Daemon.engine (nil until the first venue's filters are known).
type engine struct {
	feeds []feedEntry // joined venues, in config order
	det   *spread.Detector
	loop  *strategy.Loop

	stop context.CancelFunc // ends the loop (set by start)
	done chan struct{}      // closed when the loop has returned
}

// SnapshotEvery is how often the loop publishes its book snapshot: besides
// the API, the executor prices retries and unwinds from it and paper venues
// fill from it, so it is kept short (a few kB a time).
const SnapshotEvery = 20 * time.Millisecond

// engine returns the current engine, or nil while no venue has joined.
func (d *Daemon) engine() *engine { return d.eng.Load() }

// buildEngine builds a detector over feeds on the daemon's book store, with
// the configured balances. It reads only the store's layout, so the current
// engine's loop may still be running; the loop is made by newLoop once that
// one has stopped (a new loop reads the books at once).
func (d *Daemon) buildEngine(feeds []feedEntry) (*engine, error) {
	var all []exchange.Instrument
	for _, f := range feeds {
		all = append(all, f.listings...)
	}
	sc := spreadConfig(d.cfg, d.reg, all)
	if d.planIDs != 0 && d.engine() == nil {
		// Only the first engine: a later one (a venue joined) must not
		// number its plans from the same base again.
		sc.PlanIDBase = d.planIDs
	}
	det, err := spread.New(d.reg, d.store, sc)
	if err != nil {
		return nil, fmt.Errorf("strategy: %w", err)
	}
	if err := setBalances(d.cfg, det.Inventory(), true); err != nil {
		return nil, err
	}
	return &engine{feeds: feeds, det: det}, nil
}

// newLoop makes the engine's strategy loop; no other loop may be running.
func (e *engine) newLoop(d *Daemon) error {
	var err error
	lc := strategy.DefaultConfig()
	lc.SnapshotInterval = SnapshotEvery
	if d.batchMax > 0 {
		lc.BatchMax = d.batchMax
	}
	if d.probe != nil {
		lc.Observe = d.probe.observe
	}
	e.loop, err = strategy.New(lc, d.reg, d.ring, e.det, d.desk, func() int64 { return time.Now().UnixNano() })
	return err
}

// carryBalances copies every (venue, asset) amount that both inventories
// know from old to new. Only called with old's loop stopped, so the
// inventory is not being written.
func carryBalances(old, new *spread.Inventory, venues int) {
	for a := 1; a < old.NumAssets(); a++ {
		name := old.AssetName(spread.AssetID(a))
		na, ok := new.Asset(name)
		if !ok {
			continue
		}
		for v := 1; v < venues; v++ {
			vid := exchange.VenueID(v)
			new.Set(vid, na, old.Total(vid, spread.AssetID(a)))
		}
	}
}

// start runs the engine's loop under ctx with the daemon's runner.
func (e *engine) start(ctx context.Context, run func(string, func(context.Context) error)) {
	lctx, stop := context.WithCancel(ctx)
	e.stop, e.done = stop, make(chan struct{})
	run("strategy", func(context.Context) error {
		defer close(e.done)
		err := e.loop.Run(lctx)
		if errors.Is(err, context.Canceled) {
			return nil // stopped for a swap or a shutdown
		}
		return err
	})
}

// halt stops the engine's loop and waits for it to return.
func (e *engine) halt() {
	if e.stop == nil {
		return
	}
	e.stop()
	<-e.done
}

// retired holds the counters of engines that were replaced, so the
// metrics and the status keep counting across a swap.
type retired struct {
	mu       sync.Mutex
	opps     map[pairKey]uint64
	outcomes map[pairOutcome]uint64
	events   [5]uint64     // detector events: all, stale, aged, bad, unknown
	plans    uint64        // detector plans
	loop     [2]uint64     // loop events: read, conflated
	decision exchange.Hist // the loops' tick-to-decision histograms
}

// pairKey names a detector pair by its metric labels.
type pairKey struct{ symbol, buy, sell string }

type pairOutcome struct {
	pairKey
	outcome spread.Outcome
}

// retire adds a stopped engine's counters to the totals.
func (d *Daemon) retire(e *engine) {
	r := &d.retired
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.outcomes == nil {
		r.opps, r.outcomes = map[pairKey]uint64{}, map[pairOutcome]uint64{}
	}
	for _, p := range e.det.Pairs() {
		k := pairKey{p.Symbol, d.reg.VenueName(p.BuyVenue), d.reg.VenueName(p.SellVenue)}
		ps := e.det.PairStats(p.ID)
		r.opps[k] += ps.Opportunities.Load()
		for o := spread.Outcome(0); int(o) < spread.NumOutcomes; o++ {
			if n := ps.Outcome(o); n > 0 {
				r.outcomes[pairOutcome{k, o}] += n
			}
		}
	}
	s := e.det.Stats()
	for i, v := range []uint64{s.Events.Load(), s.StaleEvents.Load(), s.AgedBooks.Load(), s.BadBooks.Load(), s.UnknownBooks.Load()} {
		r.events[i] += v
	}
	r.plans += s.Plans.Load()
	ls := e.loop.Stats()
	r.loop[0] += ls.Events.Load()
	r.loop[1] += ls.Conflated.Load()
	r.decision.Merge(&ls.TickToDecision)
}
