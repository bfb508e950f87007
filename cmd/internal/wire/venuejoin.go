package wire

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"arb/cmd/internal/config"
	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/spread"
)

// A venue joins the daemon once its instrument filters are known (from the
// config's overrides, or fetched from the venue's instruments endpoint).
// One venue that does not answer at start does not stop the daemon: it
// starts with the venues that answered, keeps asking the others with
// backoff (joinBackoffMin doubling to joinBackoffMax, with jitter), shows
// them in /api/v1/status, and /readyz names them until they join. A venue
// that answers later joins by an engine swap (engine.go).
const (
	startFetchAttempts = 3                // filter fetches per venue during start-up
	fetchTimeout       = 10 * time.Second // one fetch
	joinBackoffMin     = time.Second
	joinBackoffMax     = time.Minute
)

// venue is one configured venue: its config, resolved URLs and listings
// (filters zero until fetched), and whether it has joined.
type venue struct {
	idx      int
	id       exchange.VenueID
	cfg      config.Venue
	ws, rest string
	// The trading endpoints (the simulator's for a sim:// venue) and how
	// the venue trades (modeLive, modeSim, modePaper, modeNone).
	privateURL, tradeURL string
	mode                 string
	want                 []exchange.Instrument // listings with the config's overrides
	needFetch            bool
	// chain is an on-chain venue's node or simulated chain (chain.go).
	chain *poolChain

	state atomic.Pointer[venueState]
}

// venueState is a venue's place in the daemon, replaced as a whole.
type venueState struct {
	Joined    bool
	Err       string    // why it has not joined (the last fetch's error)
	Attempts  int       // fetches that failed
	Since     time.Time // joined at, or waiting since
	NextRetry time.Time // the next fetch, while waiting
}

func (v *venue) joined() bool { s := v.state.Load(); return s != nil && s.Joined }

// pending returns the venues that have not joined, in config order.
func (d *Daemon) pending() []*venue {
	var out []*venue
	for _, v := range d.venues {
		if !v.joined() {
			out = append(out, v)
		}
	}
	return out
}

// fetchAtStart fetches the filters of every venue that needs them, all at
// once, each with startFetchAttempts attempts. It returns the listings per
// venue (nil for a venue that did not answer, whose state says why), or
// ctx's error.
func (d *Daemon) fetchAtStart(ctx context.Context) ([][]exchange.Instrument, error) {
	out := make([][]exchange.Instrument, len(d.venues))
	errs := make([]error, len(d.venues))
	done := make(chan struct{}, len(d.venues))
	n := 0
	for i, v := range d.venues {
		if !v.needFetch {
			out[i] = v.want
			continue
		}
		n++
		go func() {
			defer func() { done <- struct{}{} }()
			for attempt := 0; ; attempt++ {
				fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
				out[i], errs[i] = fetchFilters(fctx, tappedClient(d.hc, d.tap, v.idx), v.cfg, v.rest, v.want)
				cancel()
				if errs[i] == nil || attempt == startFetchAttempts-1 || ctx.Err() != nil {
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
				}
			}
		}()
	}
	for range n {
		<-done
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	for i, v := range d.venues {
		if errs[i] != nil {
			out[i] = nil
			v.state.Store(&venueState{Err: errs[i].Error(), Attempts: startFetchAttempts, Since: now, NextRetry: now.Add(joinBackoffMin)})
			d.log.Warn("venue did not answer at start; starting without it and retrying in the background",
				"venue", v.cfg.Name, "err", errs[i])
		}
	}
	return out, nil
}

// retryVenue fetches v's filters with backoff until they come or ctx ends,
// then joins it. Run it in its own goroutine per waiting venue.
func (d *Daemon) retryVenue(ctx context.Context, v *venue, rnd *rand.Rand) error {
	wait := joinBackoffMin
	for {
		st := *v.state.Load()
		jitter := time.Duration(rnd.Int64N(int64(wait)/5+1)) - wait/10 // ±10 %
		delay := wait + jitter
		st.NextRetry = time.Now().UTC().Add(delay)
		v.state.Store(&st)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		listings, err := fetchFilters(fctx, tappedClient(d.hc, d.tap, v.idx), v.cfg, v.rest, v.want)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			if err = d.join(ctx, v, listings); err == nil {
				return nil
			}
		}
		st = *v.state.Load()
		st.Err, st.Attempts = err.Error(), st.Attempts+1
		v.state.Store(&st)
		if st.Attempts%10 == 0 || wait < joinBackoffMax {
			d.log.Warn("venue still not available; retrying", "venue", v.cfg.Name, "attempts", st.Attempts, "err", err)
		}
		wait = min(wait*2, joinBackoffMax)
	}
}

// join adds a venue whose filters just arrived: its feed is built, the
// engine is swapped for one that includes it, and the feed starts.
func (d *Daemon) join(ctx context.Context, v *venue, listings []exchange.Instrument) error {
	if err := fitScales(d.reg, listings); err != nil {
		return err
	}
	f, err := d.newFeed(v, listings)
	if err != nil {
		return err
	}
	if err := d.exec.addVenue(v, listings); err != nil {
		return err
	}
	d.engMu.Lock()
	defer d.engMu.Unlock()
	// The detector interns assets anew, so a reservation taken on the old
	// engine cannot be released on the new one: no plan is submitted from
	// here, and the swap waits until every trade of this run is over and
	// its reservation released.
	if err := d.desk.quiesce(ctx); err != nil {
		d.desk.unpause()
		return err
	}
	defer d.desk.unpause()
	old := d.engine()
	var feeds []feedEntry
	if old != nil {
		feeds = append(feeds, old.feeds...)
	}
	feeds = append(feeds, f)
	sort.Slice(feeds, func(i, j int) bool { return feeds[i].id < feeds[j].id })
	if err := d.swapEngine(ctx, feeds, old); err != nil {
		return err
	}
	if d.exec.trading(v.id) {
		// A new executor over every trading venue's listings (its replay
		// of the journal finds every trade closed).
		if err := d.exec.restart(ctx); err != nil {
			return err
		}
	}
	v.state.Store(&venueState{Joined: true, Since: time.Now().UTC()})
	d.run("feed "+f.name, f.md.Run)
	d.exec.startVenue(v, d.run)
	d.log.Info("venue joined", "venue", v.cfg.Name, "instruments", len(listings), "trading", v.mode)
	return nil
}

// swapEngine replaces old (nil: none yet) by an engine over feeds and
// starts it. The new detector is built while the old loop still runs (it
// reads only the book store's layout); the old loop is then stopped, its
// balances and counters carried over, and the new loop started.
func (d *Daemon) swapEngine(ctx context.Context, feeds []feedEntry, old *engine) error {
	e, err := d.buildEngine(feeds)
	if err != nil {
		return err
	}
	if old != nil {
		old.halt()
		rec := &swapRecord{InFlight: d.desk.inflight.Load(), Reserved: reservedAmounts(old.det.Inventory(), d.reg)}
		d.lastSwap.Store(rec)
		if rec.InFlight != 0 || len(rec.Reserved) != 0 {
			// quiesce should have made this impossible: say so loudly, the
			// reservations are lost with the old detector.
			d.log.Error("engine swapped with plans still reserved", "in_flight", rec.InFlight, "reserved", strings.Join(rec.Reserved, ", "))
		}
		carryBalances(old.det.Inventory(), e.det.Inventory(), len(d.reg.Venues))
		d.retire(old)
	}
	if err := e.newLoop(d); err != nil {
		return fmt.Errorf("strategy loop: %w", err)
	}
	d.desk.attach(e)
	d.eng.Store(e)
	e.start(ctx, d.run)
	return nil
}

// swapRecord is what an engine swap found on the retired engine.
type swapRecord struct {
	InFlight int64    // plans in flight (reserved, not released)
	Reserved []string // "venue asset amount" for every amount still reserved
}

// reservedAmounts lists every nonzero reservation of inv. Only on a
// stopped engine's inventory (the loop goroutine owns it while it runs).
func reservedAmounts(inv *spread.Inventory, reg *exchange.Registry) []string {
	var out []string
	for a := 1; a < inv.NumAssets(); a++ {
		for v := 1; v < len(reg.Venues); v++ {
			if r := inv.Reserved(exchange.VenueID(v), spread.AssetID(a)); r != 0 {
				out = append(out, fmt.Sprintf("%s %s %s", reg.VenueName(exchange.VenueID(v)), inv.AssetName(spread.AssetID(a)), num.Format(r, inv.Decimals(spread.AssetID(a)))))
			}
		}
	}
	return out
}
