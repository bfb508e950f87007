package wire

import (
	"context"
	"errors"
	"fmt"

	"arb/cmd/internal/config"
	"arb/cmd/internal/httpapi"
	"arb/exchange"
)

// newFeedHTTP is a feed process's HTTP surface on http.listen, so a feed
// host is probed and scraped like an engine (the image's HEALTHCHECK, the
// kubelet's probes, Prometheus): /healthz, /readyz (ready once some of its
// books are fresh: it can lead a venue) and /metrics — its adapters' feed
// health, the venues joined, which venues it leads and what it published
// to NATS. An engine's API routes answer 503 (not available) here.
func (f *FeedDaemon) newFeedHTTP(cfg *config.Config) (*httpapi.Server, error) {
	d := f.d
	tok, err := config.Secret(httpapi.EnvAdminToken)
	if err != nil && !errors.Is(err, config.ErrSecretUnset) {
		return nil, err
	}
	hcfg := httpapi.DefaultConfig()
	hcfg.Listen, hcfg.AdminToken, hcfg.AllowedHosts = cfg.HTTP.Listen, tok, cfg.HTTP.AllowedHosts
	if err := hcfg.Validate(); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	reg := httpapi.NewRegistry()
	reg.MustRegister(httpapi.NewFeedCollector(func(emit func(venue string, s *exchange.FeedStats)) {
		for _, e := range f.entries() {
			emit(e.name, e.md.Stats())
		}
	}))
	reg.MustRegister(venueUpFamily(d))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_feed_leader",
		"1 while this feed process holds the venue's lease and publishes its books; 0 while it stands by.",
		[]string{"venue"}, func(emit httpapi.Emit) {
			for _, v := range d.venues {
				emit(b2f(f.leases[v.id].Term() != 0), v.cfg.Name)
			}
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_feed_books_fresh",
		"The venue's books that are fresh as this feed process sees them (a process leads a venue only with some).",
		[]string{"venue"}, func(emit httpapi.Emit) {
			for _, v := range d.venues {
				emit(float64(f.pub.FreshBooks(v.id)), v.cfg.Name)
			}
		}))
	st := f.pub.Stats()
	reg.MustRegister(httpapi.NewCounterFamily("arb_feed_bus_messages_total",
		"Book events of this feed process by what became of them: published to NATS, standby (not published: another process leads the venue), error (the publish failed).",
		[]string{"result"}, func(emit httpapi.Emit) {
			emit(float64(st.Published.Load()), "published")
			emit(float64(st.Standby.Load()), "standby")
			emit(float64(st.Errors.Load()), "error")
		}))
	return httpapi.New(hcfg, httpapi.Deps{Metrics: reg, Readiness: feedReadiness{f}}, d.log), nil
}

// feedReadiness is /readyz of a feed process.
type feedReadiness struct{ f *FeedDaemon }

// Ready implements httpapi.Readiness: ready once some book is fresh.
func (r feedReadiness) Ready(context.Context) (bool, string) {
	for _, e := range r.f.entries() {
		if r.f.pub.FreshBooks(e.id) > 0 {
			return true, ""
		}
	}
	return false, "no fresh book yet"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
