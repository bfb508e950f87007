package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"arb/cmd/internal/config"
	"arb/exchange"
	"arb/exchange/num"
	"arb/exchange/sim"
	"arb/strategy/spread"
)

// RingCapacity is the size of the one MPSC ring all feeds publish into. At
// 360 bytes per event it is 1.4 MiB: seconds of the busiest feed, while the
// detector drains it in microseconds.
const RingCapacity = 4096

// Known returns what config validation needs from the wiring: the venue
// kinds this build speaks, the names of the simulated venues it can run,
// and the checks that build parts of the daemon offline (preflight).
func Known() config.Known {
	return config.Known{Kinds: Kinds(), SimVenues: []string{"binance", "okx", "bybit"}, Check: preflight}
}

// registry interns the config's venues (in file order) and instruments.
func registry(cfg *config.Config) *exchange.Registry {
	reg := &exchange.Registry{
		Venues: make([]exchange.VenueInfo, 1, len(cfg.Venues)+1),
		Assets: make([]exchange.Asset, 1, len(cfg.Instruments)+1),
	}
	for i, v := range cfg.Venues {
		reg.Venues = append(reg.Venues, exchange.VenueInfo{ID: exchange.VenueID(i + 1), Name: v.Name, Kind: v.Kind})
	}
	for i, in := range cfg.Instruments {
		reg.Assets = append(reg.Assets, exchange.Asset{
			ID: exchange.InstrumentID(i + 1), Symbol: in.Symbol, Base: in.Base(), Quote: in.Quote(), Scale: in.Scale(),
		})
	}
	return reg
}

func assetID(reg *exchange.Registry, symbol string) (exchange.InstrumentID, bool) {
	for _, a := range reg.Assets[1:] {
		if a.Symbol == symbol {
			return a.ID, true
		}
	}
	return 0, false
}

// startSim builds and starts the in-process simulated venues the config
// names (sim://<name>), over the config's instruments. The simulator knows a
// market for each instrument it has a default for; others are an error.
func startSim(cfg *config.Config, logger *slog.Logger, tune func(*sim.Config)) (*sim.Sim, error) {
	sc, ok, err := simConfig(cfg)
	if err != nil || !ok {
		return nil, err
	}
	sc.Logger = logger
	if tune != nil {
		tune(&sc)
	}
	s, err := sim.New(sc)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// simConfig returns the simulator's config for cfg, and false when no venue
// is simulated. Its Symbols are in the order of cfg.Instruments and its
// Venues in the order of cfg.SimVenues (preflight maps problems back).
func simConfig(cfg *config.Config) (sim.Config, bool, error) {
	want := cfg.SimVenues()
	if len(want) == 0 {
		return sim.Config{}, false, nil
	}
	sc := sim.DefaultConfig()
	sc.Seed = cfg.Sim.Seed
	if cfg.Sim.Step > 0 {
		sc.StepInterval = cfg.Sim.Step
	}
	defaults := sc.Symbols
	sc.Symbols = nil
	for _, in := range cfg.Instruments {
		var found *sim.SymbolConfig
		for i := range defaults {
			if defaults[i].Symbol == in.Symbol {
				found = &defaults[i]
			}
		}
		if found == nil {
			return sim.Config{}, true, fmt.Errorf("sim: no simulated market for instrument %s (the simulator has %s)", in.Symbol, simSymbols(defaults))
		}
		s := *found
		s.Scale = in.Scale()
		sc.Symbols = append(sc.Symbols, s)
	}
	byKind := map[string]sim.VenueConfig{}
	for _, v := range sc.Venues {
		byKind[v.Kind] = v
	}
	sc.Venues = nil
	for _, w := range want {
		v, ok := byKind[w.Kind]
		if !ok {
			return sim.Config{}, true, fmt.Errorf("sim: no simulated venue of kind %q", w.Kind)
		}
		v.Name = w.Name
		// The simulated account starts with the configured balances of
		// the (first) venue using it, so the venue reports what the
		// config says.
		for _, cv := range cfg.Venues {
			if n, ok := cv.SimName(); ok && n == w.Name && len(cv.Balances) > 0 {
				v.Balances = map[string]string{}
				for asset, amt := range cv.Balances {
					v.Balances[asset] = amt.String()
				}
				break
			}
		}
		sc.Venues = append(sc.Venues, v)
	}
	return sc, true, nil
}

func simSymbols(ss []sim.SymbolConfig) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.Symbol
	}
	return strings.Join(names, ", ")
}

// venueURLs are one venue's resolved endpoints.
type venueURLs struct {
	ws, rest       string // host bases: the adapters append their venue's documented paths
	private, trade string // the trading client's private stream and order entry (full URLs)
}

// resolveURLs turns sim://<name> into the running simulator's addresses.
func resolveURLs(v config.Venue, s *sim.Sim) (venueURLs, error) {
	name, isSim := v.SimName()
	if !isSim {
		return venueURLs{ws: v.WSURL, rest: v.RESTURL, private: v.PrivateWSURL, trade: v.TradeWSURL}, nil
	}
	if s == nil {
		return venueURLs{}, fmt.Errorf("venue %s: %s names the simulator, which is not running", v.Name, v.WSURL)
	}
	u, ok := s.URLs(name)
	if !ok {
		return venueURLs{}, fmt.Errorf("venue %s: no simulated venue %q", v.Name, name)
	}
	return venueURLs{ws: u.WSBase, rest: u.REST, private: u.Private, trade: u.Trade}, nil
}

// venueListings returns one venue's listings as the config describes them:
// canonical ids and scales from the instruments, the venue's symbols, and
// the filters the config overrides. needFetch says whether some filter is
// not overridden and must come from the venue (fetchFilters); until then it
// is zero.
func venueListings(reg *exchange.Registry, vid exchange.VenueID, v config.Venue) (want []exchange.Instrument, needFetch bool, err error) {
	for canon, sym := range v.Symbols {
		id, ok := assetID(reg, canon)
		if !ok {
			return nil, false, fmt.Errorf("venue %s: symbol %s is not a configured instrument", v.Name, canon)
		}
		a := reg.Asset(id)
		want = append(want, exchange.Instrument{
			ID: id, Venue: vid, Symbol: sym, Canonical: canon, Base: a.Base, Quote: a.Quote, Scale: a.Scale,
		})
		f, has := v.Filters[canon]
		if !has || !f.Tick.Valid || !f.Step.Valid || !f.MinQty.Valid || !f.MinNotional.Valid {
			needFetch = true
		}
	}
	sortInstruments(want)
	out, err := applyOverrides(v, want)
	return out, needFetch, err
}

// fetchFilters asks the venue's documented instruments endpoint for the
// filters of want (one attempt, bounded by ctx) and applies the config's
// overrides on top.
func fetchFilters(ctx context.Context, hc *http.Client, v config.Venue, restURL string, want []exchange.Instrument) ([]exchange.Instrument, error) {
	k := kinds[v.Kind]
	got, err := k.fetch(ctx, hc, restURL, v.Name, want)
	if err != nil {
		return nil, fmt.Errorf("venue %s: fetching instrument filters from %s: %w", v.Name, restURL, err)
	}
	return applyOverrides(v, got)
}

// applyOverrides returns a copy of in with the config's filter overrides
// set (validation guarantees they convert exactly).
func applyOverrides(v config.Venue, in []exchange.Instrument) ([]exchange.Instrument, error) {
	out := make([]exchange.Instrument, len(in))
	copy(out, in)
	for i := range out {
		f, has := v.Filters[out[i].Canonical]
		if !has {
			continue
		}
		sc := out[i].Scale
		set := func(d decimal.NullDecimal, dec uint8, dst *int64, key string) error {
			if !d.Valid {
				return nil
			}
			x, err := config.Fixed(d.Decimal, dec)
			if err != nil {
				return fmt.Errorf("venue %s: filters.%s.%s: %w", v.Name, out[i].Canonical, key, err)
			}
			*dst = x
			return nil
		}
		if err := errors.Join(
			set(f.Tick, sc.Px, (*int64)(&out[i].Tick), "tick"),
			set(f.Step, sc.Qty, (*int64)(&out[i].Step), "step"),
			set(f.MinQty, sc.Qty, (*int64)(&out[i].MinQty), "min_qty"),
			set(f.MinNotional, sc.Px, (*int64)(&out[i].MinNotional), "min_notional"),
		); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sortInstruments(in []exchange.Instrument) {
	for i := 1; i < len(in); i++ {
		for j := i; j > 0 && in[j].ID < in[j-1].ID; j-- {
			in[j], in[j-1] = in[j-1], in[j]
		}
	}
}

// spreadConfig maps the operator's strategy and venue settings onto the
// detector's config.
func spreadConfig(cfg *config.Config, reg *exchange.Registry, listings []exchange.Instrument) spread.Config {
	sc := spread.DefaultConfig()
	sc.Instruments = listings
	sc.QuoteEquivalence = cfg.Strategy.QuoteEquivalents
	sc.MinEdgeBps = cfg.Strategy.MinNetEdgeBps
	sc.SlippageBps = cfg.Strategy.SlippageBps
	sc.SlippageVolMult = cfg.Strategy.SlippageVolMult
	sc.VolK = cfg.Strategy.VolMult
	if cfg.Strategy.VolHalfLife > 0 {
		sc.VolHalfLife = cfg.Strategy.VolHalfLife
	}
	sc.Cooldown = cfg.Strategy.Cooldown
	if cfg.Strategy.RebalanceTrades > 0 {
		sc.RebalanceTrades = cfg.Strategy.RebalanceTrades
	}
	sc.PlanIDBase = NewPlanIDBase()
	quotes := map[string]bool{}
	for _, a := range reg.Assets[1:] {
		quotes[a.Quote] = true
	}
	for q := range quotes {
		sc.MaxNotional = append(sc.MaxNotional, spread.Amount{Asset: q, Value: cfg.Strategy.MaxNotional.String()})
	}
	for i, v := range cfg.Venues {
		vc := spread.DefaultVenueConfig(exchange.VenueID(i + 1))
		vc.TakerFeeBps = v.TakerFeeBps
		switch v.FeeAsset {
		case "", "quote":
			vc.FeeAsset = ""
		default:
			vc.FeeAsset = v.FeeAsset
		}
		if v.AgeMax > 0 {
			vc.StaleAge = v.AgeMax
		}
		if !v.GasQuote.IsZero() {
			for q := range quotes {
				vc.Gas = append(vc.Gas, spread.Amount{Asset: q, Value: v.GasQuote.String()})
			}
		}
		for asset, fee := range v.WithdrawFees {
			vc.Withdraw = append(vc.Withdraw, spread.Amount{Asset: asset, Value: fee.String()})
		}
		sc.Venues = append(sc.Venues, vc)
	}
	return sc
}

// newFeed builds the market-data feed of a venue whose listings are known
// (not running).
func (d *Daemon) newFeed(v *venue, listings []exchange.Instrument) (feedEntry, error) {
	if d.role == RoleEngine {
		return d.newRemoteFeed(v, listings)
	}
	k, ok := kinds[v.cfg.Kind]
	if !ok {
		return feedEntry{}, fmt.Errorf("venue %s: unknown kind %q", v.cfg.Name, v.cfg.Kind)
	}
	newFeed := k.newFeed
	if v.chain != nil {
		newFeed = func(feedSetup) (exchange.MarketData, error) { return d.poolFeed(v, listings) }
	}
	md, err := newFeed(feedSetup{
		venue: v.id, name: v.cfg.Name, wsURL: v.ws, restURL: v.rest,
		instruments: listings, channel: v.cfg.Channel, depth: v.cfg.Depth, ageMax: v.cfg.AgeMax, ring: d.ring,
		logger: d.log, now: func() int64 { return time.Now().UnixNano() },
		rand: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(v.idx+1))), http: d.hc,
	})
	if err != nil {
		return feedEntry{}, fmt.Errorf("venue %s: %w", v.cfg.Name, err)
	}
	e := feedEntry{name: v.cfg.Name, kind: v.cfg.Kind, id: v.id, md: md, listings: listings}
	if err := setTaps([]feedEntry{e}, d.tap); err != nil {
		return feedEntry{}, err
	}
	return e, nil
}

// feedEntry is one running venue feed.
type feedEntry struct {
	name, kind string
	id         exchange.VenueID
	md         exchange.MarketData
	listings   []exchange.Instrument
}

// NewPlanIDBase returns a detector plan id base unique across restarts:
// the start time in ms, shifted to leave room for 65536 plans per ms of
// run time. arbd --record takes one and stores it in the recording, so a
// backtest numbers the session's plans as it did.
func NewPlanIDBase() uint64 { return uint64(time.Now().UnixMilli()) << 16 }

// setBalances loads the configured starting balances of paper and
// simulated venues into a detector's inventory (before its loop runs, so
// no other goroutine touches it yet); they hold until the venue's own
// numbers arrive (exec.go), and a live venue has none until then.
// With partial set, a balance of an asset the inventory does not know is
// skipped: its instruments are on venues that have not joined yet (config
// validation checks that some instrument uses every asset).
func setBalances(cfg *config.Config, inv *spread.Inventory, partial bool) error {
	for i, v := range cfg.Venues {
		if tradingMode(cfg, i) == modeLive {
			continue // a live venue's balances come from the venue
		}
		for asset, amt := range v.Balances {
			if _, ok := inv.Asset(asset); !ok {
				if partial {
					continue
				}
				return fmt.Errorf("venues[%d].balances.%s: no configured instrument uses asset %s", i, asset, asset)
			}
			if err := inv.SetDecimal(exchange.VenueID(i+1), asset, amt.String()); err != nil {
				return fmt.Errorf("venues[%d].balances.%s: %w", i, asset, err)
			}
		}
	}
	return nil
}

// formatPx renders a fixed-point value as the exact decimal string the API
// shows ("" for an empty side).
func formatPx(v int64, dec uint8, present bool) string {
	if !present {
		return ""
	}
	return num.Format(v, dec)
}
