package wire

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	name := d.reg.VenueName

	reg.MustRegister(httpapi.NewFeedCollector(func(emit func(venue string, s *exchange.FeedStats)) {
		for _, f := range d.feeds {
			emit(f.name, f.md.Stats())
		}
	}))

	reg.MustRegister(httpapi.NewGaugeFamily("arb_book_age_seconds",
		"Seconds since the last event of each book (venue, symbol), as of the last book snapshot.",
		[]string{"venue", "symbol"}, func(emit httpapi.Emit) {
			snap := d.loop.Books()
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
			for _, r := range d.loop.Books().Rows {
				v := 0.0
				if r.Stale {
					v = 1
				}
				emit(v, r.Venue, r.Symbol)
			}
		}))

	pairLabels := []string{"symbol", "buy_venue", "sell_venue"}
	pairs := d.det.Pairs()
	reg.MustRegister(httpapi.NewCounterFamily("arb_opportunities_total",
		"Episodes in which the sell venue's best bid rose above the buy venue's best ask, both books usable.",
		pairLabels, func(emit httpapi.Emit) {
			for _, p := range pairs {
				emit(float64(d.det.PairStats(p.ID).Opportunities.Load()), p.Symbol, name(p.BuyVenue), name(p.SellVenue))
			}
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_plans_total",
		"Dual-leg plans emitted by the detector.",
		pairLabels, func(emit httpapi.Emit) {
			for _, p := range pairs {
				emit(float64(d.det.PairStats(p.ID).Plans()), p.Symbol, name(p.BuyVenue), name(p.SellVenue))
			}
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_opportunity_evaluations_total",
		"Evaluations of a crossed pair by outcome (plan, below_threshold, cooldown, ...): counted, not logged.",
		append(pairLabels, "result"), func(emit httpapi.Emit) {
			for _, p := range pairs {
				ps := d.det.PairStats(p.ID)
				for o := spread.Outcome(0); int(o) < spread.NumOutcomes; o++ {
					if n := ps.Outcome(o); n > 0 {
						emit(float64(n), p.Symbol, name(p.BuyVenue), name(p.SellVenue), o.String())
					}
				}
			}
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_detector_events_total",
		"Book events the detector processed, by result.",
		[]string{"result"}, func(emit httpapi.Emit) {
			s := d.det.Stats()
			emit(float64(s.Events.Load()), "all")
			emit(float64(s.StaleEvents.Load()), "stale")
			emit(float64(s.AgedBooks.Load()), "aged")
			emit(float64(s.BadBooks.Load()), "bad")
			emit(float64(s.UnknownBooks.Load()), "unknown")
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_loop_events_total",
		"Events taken off the ring by the strategy loop, and how many were conflated away within a batch.",
		[]string{"result"}, func(emit httpapi.Emit) {
			s := d.loop.Stats()
			emit(float64(s.Events.Load()), "read")
			emit(float64(s.Conflated.Load()), "conflated")
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_ring_depth",
		"Events waiting in the feed ring.", nil, func(emit httpapi.Emit) { emit(float64(d.ring.Len())) }))

	d.desk.registerMetrics(reg)
	return &prometheusSet{reg: reg}
}
