package wire

import (
	"context"
	"net/http"

	"arb/cmd/internal/config"
	"arb/exchange"
	"arb/exchange/sim"
	"arb/strategy/spread"
)

// The daemon's building blocks that the backtest (cmd/internal/backtest)
// and the recorder reuse, so a backtest builds its detector, its balances
// and its listings with exactly the daemon's code.

// Registry interns the config's venues (ids in file order, from 1) and
// instruments, as the daemon does.
func Registry(cfg *config.Config) *exchange.Registry { return registry(cfg) }

// SpreadConfig is the detector's config for cfg over listings, as the
// daemon builds it (its PlanIDBase is time-based: a backtest overrides it).
func SpreadConfig(cfg *config.Config, reg *exchange.Registry, listings []exchange.Instrument) spread.Config {
	return spreadConfig(cfg, reg, listings)
}

// SetBalances loads the configured starting balances into inv.
func SetBalances(cfg *config.Config, inv *spread.Inventory) error {
	return setBalances(cfg, inv, false)
}

// Listings returns venue index i's listings: the config's symbols and
// overrides, the other filters from the venue's instruments endpoint at
// restURL through hc (a backtest's hc answers from the recording).
func Listings(ctx context.Context, cfg *config.Config, reg *exchange.Registry, i int, restURL string, hc *http.Client) ([]exchange.Instrument, error) {
	return listingsOf(ctx, reg, i, cfg.Venues[i], restURL, hc)
}

// UnifyScales gives every listing of one instrument the widest scale any
// venue needs and records it in reg, as the daemon does at start (see
// unifyScales).
func UnifyScales(reg *exchange.Registry, listings [][]exchange.Instrument) error {
	return unifyScales(reg, listings, nil)
}

// listingsOf is venueListings, then fetchFilters when a filter is not
// overridden.
func listingsOf(ctx context.Context, reg *exchange.Registry, i int, v config.Venue, restURL string, hc *http.Client) ([]exchange.Instrument, error) {
	want, needFetch, err := venueListings(reg, exchange.VenueID(i+1), v)
	if err != nil || !needFetch {
		return want, err
	}
	return fetchFilters(ctx, hc, v, restURL, want)
}

// StartSim starts the in-process simulator the config names (nil when it
// names none), as the daemon does.
func StartSim(cfg *config.Config, tune func(*sim.Config)) (*sim.Sim, error) {
	return startSim(cfg, nil, tune)
}

// ResolveURLs turns venue i's sim:// URLs into the simulator's addresses.
func ResolveURLs(cfg *config.Config, i int, s *sim.Sim) (ws, rest string, err error) {
	u, err := resolveURLs(cfg.Venues[i], s)
	return u.ws, u.rest, err
}
