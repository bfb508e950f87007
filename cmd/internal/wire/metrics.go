package wire

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"arb/cmd/internal/feedbus"
	"arb/cmd/internal/httpapi"
	"arb/exchange"
	"arb/strategy/spread"
)

// prometheusSet is the daemon's metrics registry: every value is read at
// scrape time from the components' own atomic counters, so the hot path
// never touches Prometheus.
type prometheusSet struct{ reg *prometheus.Registry }

func exchangeNumRejects() int                  { return exchange.NumRejectReasons }
func rejectReason(i int) exchange.RejectReason { return exchange.RejectReason(i) }

func newPrometheusSet(d *Daemon) *prometheusSet {
	reg := httpapi.NewRegistry()

	reg.MustRegister(httpapi.NewFeedCollector(func(emit func(venue string, s *exchange.FeedStats)) {
		if e := d.engine(); e != nil {
			for _, f := range e.feeds {
				emit(f.name, f.md.Stats())
			}
		}
	}))
	// An engine's remote feeds (arbd --role engine): the NATS hop and what
	// the fencing and the takeover dedupe dropped. No series otherwise.
	remotes := func(each func(venue string, r *feedbus.RemoteStats)) {
		if e := d.engine(); e != nil {
			for _, f := range e.feeds {
				if r, ok := f.md.(*feedbus.Remote); ok {
					each(f.name, r.RemoteStats())
				}
			}
		}
	}
	reg.MustRegister(httpapi.NewHistogramFamily("arb_feed_hop_seconds",
		"Time from a feed process publishing a book to this engine receiving it (the two hosts' clocks).",
		[]string{"venue"}, func(emit httpapi.EmitHistogram) {
			remotes(func(venue string, r *feedbus.RemoteStats) { emit(httpapi.HistogramFromHist(&r.Hop), venue) })
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_feed_clock_ahead_total",
		"Books from feed processes whose receive time was ahead of this engine's clock (clamped to now): the feed host's clock runs ahead.",
		[]string{"venue"}, func(emit httpapi.Emit) {
			remotes(func(venue string, r *feedbus.RemoteStats) { emit(float64(r.Future.Load()), venue) })
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_feed_remote_dropped_total",
		"Book messages from feed processes not delivered: fenced (a superseded leader), duplicate (a takeover's republish of a state already delivered), slow_consumer (dropped by NATS).",
		[]string{"venue", "reason"}, func(emit httpapi.Emit) {
			remotes(func(venue string, r *feedbus.RemoteStats) {
				emit(float64(r.Fenced.Load()), venue, "fenced")
				emit(float64(r.Duplicates.Load()), venue, "duplicate")
				emit(float64(r.Dropped.Load()), venue, "slow_consumer")
			})
		}))

	reg.MustRegister(venueUpFamily(d))

	reg.MustRegister(httpapi.NewGaugeFamily("arb_book_age_seconds",
		"Seconds since the last event of each book (venue, symbol), as of the last book snapshot.",
		[]string{"venue", "symbol"}, func(emit httpapi.Emit) {
			snap := d.snapshot()
			if snap == nil {
				return
			}
			now := time.Now().UnixNano()
			for _, r := range snap.Rows {
				if r.RecvTS > 0 {
					emit(float64(now-r.RecvTS)/1e9, r.Venue, r.Symbol)
				}
			}
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_book_stale",
		"1 when the book may not be traded (stale flag or over its age limit).",
		[]string{"venue", "symbol"}, func(emit httpapi.Emit) {
			snap := d.snapshot()
			if snap == nil {
				return
			}
			for _, r := range snap.Rows {
				v := 0.0
				if r.Stale {
					v = 1
				}
				emit(v, r.Venue, r.Symbol)
			}
		}))

	pairLabels := []string{"symbol", "buy_venue", "sell_venue"}
	reg.MustRegister(httpapi.NewCounterFamily("arb_opportunities_total",
		"Episodes in which the sell venue's best bid rose above the buy venue's best ask, both books usable.",
		pairLabels, func(emit httpapi.Emit) {
			for k, n := range d.pairCounts(func(ps *spread.PairStats) uint64 { return ps.Opportunities.Load() }, func(r *retired) map[pairKey]uint64 { return r.opps }) {
				emit(float64(n), k.symbol, k.buy, k.sell)
			}
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_plans_total",
		"Dual-leg plans emitted by the detector.",
		pairLabels, func(emit httpapi.Emit) {
			for k, n := range d.outcomeCounts() {
				if k.outcome == spread.OutcomePlan {
					emit(float64(n), k.symbol, k.buy, k.sell)
				}
			}
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_opportunity_evaluations_total",
		"Evaluations of a crossed pair by outcome (plan, below_threshold, cooldown, ...): counted, not logged.",
		append(pairLabels, "result"), func(emit httpapi.Emit) {
			for k, n := range d.outcomeCounts() {
				if n > 0 {
					emit(float64(n), k.symbol, k.buy, k.sell, k.outcome.String())
				}
			}
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_detector_events_total",
		"Book events the detector processed, by result.",
		[]string{"result"}, func(emit httpapi.Emit) {
			d.retired.mu.Lock()
			t := d.retired.events
			d.retired.mu.Unlock()
			if e := d.engine(); e != nil {
				s := e.det.Stats()
				for i, v := range []uint64{s.Events.Load(), s.StaleEvents.Load(), s.AgedBooks.Load(), s.BadBooks.Load(), s.UnknownBooks.Load()} {
					t[i] += v
				}
			}
			for i, name := range []string{"all", "stale", "aged", "bad", "unknown"} {
				emit(float64(t[i]), name)
			}
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_loop_events_total",
		"Events taken off the ring by the strategy loop, and how many were conflated away within a batch.",
		[]string{"result"}, func(emit httpapi.Emit) {
			d.retired.mu.Lock()
			t := d.retired.loop
			d.retired.mu.Unlock()
			if e := d.engine(); e != nil {
				s := e.loop.Stats()
				t[0] += s.Events.Load()
				t[1] += s.Conflated.Load()
			}
			emit(float64(t[0]), "read")
			emit(float64(t[1]), "conflated")
		}))
	reg.MustRegister(httpapi.NewHistogramFamily("arb_tick_to_decision_seconds",
		"From the socket read of a book frame to the strategy loop's decision on it (plan or none), measured at the end of its batch: an upper bound for a batch's earlier events; conflated events are not counted.",
		nil, func(emit httpapi.EmitHistogram) {
			var h exchange.Hist
			d.retired.mu.Lock()
			h.Merge(&d.retired.decision)
			d.retired.mu.Unlock()
			if e := d.engine(); e != nil {
				h.Merge(&e.loop.Stats().TickToDecision)
			}
			emit(httpapi.HistogramFromHist(&h))
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_ring_depth",
		"Events waiting in the feed ring.", nil, func(emit httpapi.Emit) { emit(float64(d.ring.Len())) }))

	d.registerJournalMetrics(reg)
	d.desk.registerMetrics(reg)
	d.exec.registerMetrics(reg)
	if d.hb != nil {
		d.hb.registerMetrics(reg)
	}
	d.registerLifecycleMetrics(reg)
	return &prometheusSet{reg: reg}
}

// pairCounts sums one per-pair counter over the current engine and the
// retired ones, by pair labels.
func (d *Daemon) pairCounts(cur func(*spread.PairStats) uint64, old func(*retired) map[pairKey]uint64) map[pairKey]uint64 {
	out := map[pairKey]uint64{}
	d.retired.mu.Lock()
	for k, n := range old(&d.retired) {
		out[k] += n
	}
	d.retired.mu.Unlock()
	if e := d.engine(); e != nil {
		for _, p := range e.det.Pairs() {
			out[pairKey{p.Symbol, d.reg.VenueName(p.BuyVenue), d.reg.VenueName(p.SellVenue)}] += cur(e.det.PairStats(p.ID))
		}
	}
	return out
}

// outcomeCounts sums the per-pair evaluation outcomes over the current
// engine and the retired ones. Every pair of the current engine appears
// with its plan count, even at zero.
func (d *Daemon) outcomeCounts() map[pairOutcome]uint64 {
	out := map[pairOutcome]uint64{}
	d.retired.mu.Lock()
	for k, n := range d.retired.outcomes {
		out[k] += n
	}
	d.retired.mu.Unlock()
	if e := d.engine(); e != nil {
		for _, p := range e.det.Pairs() {
			k := pairKey{p.Symbol, d.reg.VenueName(p.BuyVenue), d.reg.VenueName(p.SellVenue)}
			ps := e.det.PairStats(p.ID)
			for o := spread.Outcome(0); int(o) < spread.NumOutcomes; o++ {
				if n := ps.Outcome(o); n > 0 || o == spread.OutcomePlan {
					out[pairOutcome{k, o}] += n
				}
			}
		}
	}
	return out
}

// venueUpFamily is arb_venue_up of an engine or a feed process: 1 per
// venue once it has joined.
func venueUpFamily(d *Daemon) *httpapi.Family {
	return httpapi.NewGaugeFamily("arb_venue_up",
		"1 once the venue has joined (its instrument filters are known and its feed runs); 0 while it is retried.",
		[]string{"venue"}, func(emit httpapi.Emit) {
			for _, v := range d.venues {
				emit(b2f(v.joined()), v.cfg.Name)
			}
		})
}
