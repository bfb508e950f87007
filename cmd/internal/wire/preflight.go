package wire

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"

	"arb/cmd/internal/config"
	"arb/exchange"
	"arb/risk"
	"arb/strategy/book"
	"arb/strategy/execute"
	"arb/strategy/spread"
)

// preflight is config.Known.Check: it builds, offline, what Build would
// build from cfg short of the network — the simulator's config, the
// detector over every venue (with placeholder filters where the venue would
// be asked), the paper balances, their valuation, and the rules file — and
// reports what fails at the config key that causes it. Without it these
// configs passed validation and then failed at run time with no file:line.
func preflight(c *config.Config, report func(path, msg string)) {
	reg := registry(c)
	preflightSim(c, report)
	preflightRules(c, reg, report)
	preflightExecution(c, reg, report)
	preflightChains(c, report)

	var all []exchange.Instrument
	for i, v := range c.Venues {
		want, _, err := venueListings(reg, exchange.VenueID(i+1), v)
		if err != nil {
			report("venues["+strconv.Itoa(i)+"]", err.Error())
			return
		}
		all = append(all, want...)
	}
	det, err := spread.New(reg, book.New(reg), spreadConfig(c, reg, all))
	if err != nil {
		path, msg := spreadPath(c, all, err)
		report(path, msg)
		return
	}
	if err := setBalances(c, det.Inventory(), false); err != nil {
		path, msg, _ := strings.Cut(err.Error(), ": ")
		report(path, msg)
		return
	}
	if asset, ok := unvalued(c, reg, det); !ok {
		report("instruments", fmt.Sprintf("asset %s cannot be valued in the account currency %s: no %s-%s instrument (or a quote equivalent) is configured",
			asset, reg.Assets[1].Quote, asset, reg.Assets[1].Quote))
	}
}

// preflightRules checks that the rules file exists and loads. The embedded
// default config may run without it (the embedded copy is used).
func preflightRules(c *config.Config, reg *exchange.Registry, report func(path, msg string)) {
	b, err := risk.ReadFile(c.Risk.RulesFile)
	if err != nil {
		if c.Source == config.DefaultName && errors.Is(err, fs.ErrNotExist) {
			return
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		report("risk.rules_file", fmt.Sprintf("%s: %v", c.Risk.RulesFile, err))
		return
	}
	names := make([]string, len(reg.Venues))
	for i, v := range reg.Venues {
		names[i] = v.Name
	}
	if _, err := risk.Load(b, c.Risk.RulesFile, risk.Options{Venues: names}); err != nil {
		report("risk.rules_file", "does not load: "+err.Error())
	}
}

var reSimField = regexp.MustCompile(`^sim: ([a-z_]+)(?:\[(\d+)\])?(?:\.([a-z_.]+))?: (.*)$`)

// preflightSim runs the simulator's own validation on the config it would
// be started with and reports each problem at the config key behind it.
func preflightSim(c *config.Config, report func(path, msg string)) {
	sc, ok, err := simConfig(c)
	if err != nil {
		report("instruments", err.Error())
		return
	}
	if !ok {
		return
	}
	err = sc.Validate()
	if err == nil {
		return
	}
	simVenues := c.SimVenues()
	for _, line := range strings.Split(err.Error(), "\n") {
		m := reSimField.FindStringSubmatch(line)
		if m == nil {
			report("sim", line)
			continue
		}
		field, idx, sub, msg := m[1], m[2], m[3], m[4]
		i, _ := strconv.Atoi(idx)
		switch {
		case field == "step_interval":
			report("sim.step", msg+" (the simulated market's tick)")
		case field == "symbols" && idx != "" && i < len(c.Instruments):
			in := c.Instruments[i]
			path := "instruments[" + idx + "]"
			if sub == "scale" {
				if in.PriceDecimals > in.QtyDecimals {
					path += ".price_decimals"
				} else {
					path += ".qty_decimals"
				}
				msg += " for the simulated venues"
			}
			report(path, msg)
		case field == "venues" && idx != "" && i < len(simVenues):
			report(simVenuePath(c, simVenues[i].Name), msg)
		default:
			report("sim", strings.TrimPrefix(line, "sim: "))
		}
	}
}

// simVenuePath returns the ws_url key of the first venue using sim://name.
func simVenuePath(c *config.Config, name string) string {
	for i, v := range c.Venues {
		if n, ok := v.SimName(); ok && n == name {
			return "venues[" + strconv.Itoa(i) + "].ws_url"
		}
	}
	return "sim"
}

var reSpreadField = regexp.MustCompile(`^spread: invalid config: ([a-z_]+)(?:\[(\d+)\])?(?:\.([a-z_]+))?: (.*)$`)

// spreadPath maps a detector config error to the config key behind it.
func spreadPath(c *config.Config, listings []exchange.Instrument, err error) (string, string) {
	m := reSpreadField.FindStringSubmatch(err.Error())
	if m == nil {
		return "strategy", err.Error()
	}
	field, idx, sub, msg := m[1], m[2], m[3], m[4]
	i, _ := strconv.Atoi(idx)
	switch field {
	case "max_notional":
		return "strategy.max_notional", msg
	case "venues":
		path := "venues[" + idx + "]"
		switch sub {
		case "gas":
			return path + ".gas_quote", msg
		case "withdraw":
			return path + ".withdraw_fees", msg
		case "taker_fee_bps":
			return path + ".taker_fee_bps", msg
		case "stale_age":
			return path + ".age_max", msg
		}
		return path, msg
	case "instruments":
		if idx != "" && i < len(listings) {
			for k, in := range c.Instruments {
				if in.Symbol == listings[i].Canonical {
					if sub == "scale" {
						return "instruments[" + strconv.Itoa(k) + "].price_decimals", msg
					}
					return "instruments[" + strconv.Itoa(k) + "]", msg
				}
			}
		}
		return "instruments", msg
	case "min_edge_bps":
		return "strategy.min_net_edge_bps", msg
	case "vol_k":
		return "strategy.vol_mult", msg
	case "vol_half_life":
		return "strategy.vol_halflife", msg
	case "quote_equivalence":
		return "strategy.quote_equivalents[" + idx + "]", msg
	case "slippage_bps", "slippage_vol_mult", "cooldown", "rebalance_trades":
		return "strategy." + field, msg
	}
	return "strategy", err.Error()
}

// unvalued returns an asset of the detector's inventory that no configured
// instrument values in the account currency, and false, or "" and true.
// Equity (and with it every rule reading it) needs every asset valued.
func unvalued(c *config.Config, reg *exchange.Registry, det *spread.Detector) (string, bool) {
	equiv := quoteEquivalents(c, reg.Assets[1].Quote)
	inv := det.Inventory()
	for a := 1; a < inv.NumAssets(); a++ {
		asset := inv.AssetName(spread.AssetID(a))
		if equiv[asset] {
			continue
		}
		priced := false
		for _, l := range det.Listings() {
			if in := reg.Asset(l.Inst); in.Base == asset && equiv[in.Quote] {
				priced = true
			}
		}
		if !priced {
			return asset, false
		}
	}
	return "", true
}

// preflightExecution checks each policy as the executor will run it (the
// config's keys over the defaults), which only the executor can: whether
// its deadline leaves room for every step.
func preflightExecution(c *config.Config, reg *exchange.Registry, report func(path, msg string)) {
	ec, err := execConfig(c, reg)
	if err != nil {
		report("execution", err.Error())
		return
	}
	msg := func(err error) string { return strings.TrimPrefix(err.Error(), execute.ErrConfig.Error()+": ") }
	if err := ec.Default.Validate(); err != nil {
		report("execution.policy", msg(err))
	}
	// The config's pairs by their index in the file (execConfig puts the
	// pool venues' policies among them).
	for i := range c.Execution.Pairs {
		p := resolvePolicy(ec.Default, &c.Execution.Pairs[i].Policy)
		if err := p.Validate(); err != nil {
			report("execution.pairs["+strconv.Itoa(i)+"].policy", msg(err))
		}
	}
}

// preflightChains checks what a pool venue on a simulated chain needs
// beyond its keys: a price to seed the pool at.
func preflightChains(c *config.Config, report func(path, msg string)) {
	for i, v := range c.Venues {
		if _, ok := v.SimChain(); !ok {
			continue
		}
		in, _, err := poolInstrument(c, v)
		if err != nil {
			report("venues["+strconv.Itoa(i)+"].symbols", err.Error())
			continue
		}
		if v.Chain.Sim != nil && v.Chain.Sim.Price.IsPositive() {
			continue
		}
		if _, ok := simMarketPrice(in.Symbol); !ok {
			report("venues["+strconv.Itoa(i)+"].chain.sim.price", "required: the simulator has no market for "+in.Symbol+" to seed the pool at")
		}
	}
}
