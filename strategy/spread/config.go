package spread

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// Defaults used by DefaultConfig and DefaultVenueConfig.
const (
	DefaultMinEdgeBps      = 5.0
	DefaultSlippageBps     = 1.0
	DefaultVolHalfLife     = 30 * time.Second
	DefaultCooldown        = 2 * time.Second
	DefaultRebalanceTrades = 20
	DefaultRecentPlans     = 64
	DefaultStaleAge        = 5 * time.Second

	// maxBps bounds every per-leg rate (fee, slippage): 1000 bps = 10 %. A
	// larger value is a unit mistake (percent typed as bps), not a venue.
	maxBps = 1000.0
	// maxRecentPlans caps the status ring.
	maxRecentPlans = 4096
)

// Config parameterizes the detector. Start from DefaultConfig, overlay the
// operator's file, then Validate; New validates again. Field names in error
// messages are the snake_case keys the config file uses.
type Config struct {
	// Venues lists every venue that may trade, with its costs. A listing on
	// a venue not named here is an error.
	Venues []VenueConfig
	// Instruments are the per-venue listings to compare, with their filters
	// (tick, step, min qty, min notional) in the canonical instrument's Scale.
	Instruments []exchange.Instrument
	// QuoteEquivalence lists classes of quote assets treated as equal, e.g.
	// [["USDT","USDC"]]: BTC-USDT on one venue is compared with BTC-USDC on
	// another only when both quotes are in one class. Empty: quotes must match.
	QuoteEquivalence [][]string

	// MinEdgeBps is the minimum net edge, after every cost, relative to the
	// buy notional.
	MinEdgeBps float64
	// VolK adds VolK × (short-horizon volatility of the pair's spread, bps)
	// to the threshold; 0 disables it.
	VolK float64
	// SlippageBps is the slippage allowance charged on each leg's notional.
	SlippageBps float64
	// SlippageVolMult adds SlippageVolMult × spread volatility (bps) to the
	// per-leg slippage allowance; 0 disables it.
	SlippageVolMult float64
	// VolHalfLife is the half-life of the exponentially weighted spread
	// statistics; it is also the warm-up: a pair trades on a volatility-
	// calibrated threshold only after one half-life of observations.
	VolHalfLife time.Duration

	// Cooldown is how long a directed pair (instrument, buy venue, sell
	// venue) is not planned again after a plan, so one dislocation is not
	// traded repeatedly while the legs are in flight. 0 disables it.
	Cooldown time.Duration
	// MaxNotional caps a trade's notional (buy limit × quantity), one amount
	// per quote asset (an entry for any member of an equivalence class
	// covers the class).
	MaxNotional []Amount
	// RebalanceTrades is the number of trades over which the cost of moving
	// inventory back (withdrawal + network fees) is amortized; ≥ 1.
	RebalanceTrades int
	// RecentPlans is how many recent plans RecentPlans keeps for the status API.
	RecentPlans int
	// PlanIDBase is the id before the first plan (ids are PlanIDBase+1, +2,
	// ...). The wiring makes it unique per run (e.g. from a persisted counter
	// or the start time) so plan ids never repeat across restarts.
	PlanIDBase uint64
}

// VenueConfig is one venue's costs.
type VenueConfig struct {
	Venue exchange.VenueID
	// TakerFeeBps is the taker fee charged on the notional of each leg. When
	// fees are paid in another asset at a discount (e.g. BNB), give the
	// effective rate.
	TakerFeeBps float64
	// FeeAsset names the asset fees are charged in ("" = the quote asset).
	// It is carried on the plan for the executor and the ledger; the cost is
	// always valued at TakerFeeBps of the leg's notional.
	FeeAsset string
	// Gas is the fixed cost of one leg on this venue (on-chain legs), one
	// amount per quote asset, in that quote asset's units. Empty: no gas.
	Gas []Amount
	// Withdraw is the withdrawal + network fee to move each asset off this
	// venue, in the asset's units. Every base and quote asset the venue lists
	// must have an entry (write "0" for free transfers): rebalancing cost is
	// what turns many paper edges into losses, so it is never assumed.
	Withdraw []Amount
	// StaleAge is how old (now − RecvTS) a book of this venue may be and
	// still take part.
	StaleAge time.Duration
}

// Amount is an exact decimal amount of one asset, as written in the config
// ("0.0005"); it is parsed without float64.
type Amount struct {
	Asset string
	Value string
}

// DefaultConfig returns a Config with every tunable at its default; Venues,
// Instruments and MaxNotional must still be filled in.
func DefaultConfig() Config {
	return Config{
		MinEdgeBps:      DefaultMinEdgeBps,
		SlippageBps:     DefaultSlippageBps,
		VolHalfLife:     DefaultVolHalfLife,
		Cooldown:        DefaultCooldown,
		RebalanceTrades: DefaultRebalanceTrades,
		RecentPlans:     DefaultRecentPlans,
	}
}

// DefaultVenueConfig returns a VenueConfig for v with the default stale age;
// fees and withdrawal costs must still be filled in.
func DefaultVenueConfig(v exchange.VenueID) VenueConfig {
	return VenueConfig{Venue: v, StaleAge: DefaultStaleAge}
}

// ErrConfig is wrapped by every Validate and New error.
var ErrConfig = errors.New("spread: invalid config")

func cfgErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
}

func checkBps(field string, v, max float64) error {
	if math.IsNaN(v) || v < 0 || v >= max {
		return cfgErr(field, "%v is outside [0, %v)", v, max)
	}
	return nil
}

// Validate checks c and returns the first problem, naming its field.
func (c *Config) Validate() error {
	_, err := c.compile()
	return err
}

// compiled is the validated, cross-referenced form of a Config.
type compiled struct {
	venue       map[exchange.VenueID]int // index into Venues
	quoteClass  map[string]string        // asset -> class representative
	maxNotional map[string]decimal       // class representative -> amount
	gas         []map[string]decimal     // per Venues index: class representative -> amount
	withdraw    []map[string]decimal     // per Venues index: asset -> fee
}

func (c *Config) compile() (*compiled, error) {
	cc := &compiled{
		venue:       map[exchange.VenueID]int{},
		quoteClass:  map[string]string{},
		maxNotional: map[string]decimal{},
	}
	for i, cls := range c.QuoteEquivalence {
		f := fmt.Sprintf("quote_equivalence[%d]", i)
		if len(cls) < 2 {
			return nil, cfgErr(f, "a class needs at least two assets")
		}
		for _, a := range cls {
			if a == "" {
				return nil, cfgErr(f, "empty asset")
			}
			if _, dup := cc.quoteClass[a]; dup {
				return nil, cfgErr(f, "asset %s is in more than one class", a)
			}
			cc.quoteClass[a] = cls[0]
		}
	}
	class := func(a string) string {
		if r, ok := cc.quoteClass[a]; ok {
			return r
		}
		return a
	}
	if len(c.Venues) == 0 {
		return nil, cfgErr("venues", "none configured")
	}
	for i := range c.Venues {
		v := &c.Venues[i]
		f := fmt.Sprintf("venues[%d]", i)
		if v.Venue == 0 || int(v.Venue) >= exchange.MaxVenues {
			return nil, cfgErr(f+".venue", "id %d outside 1..%d", v.Venue, exchange.MaxVenues-1)
		}
		if _, dup := cc.venue[v.Venue]; dup {
			return nil, cfgErr(f+".venue", "venue %d configured twice", v.Venue)
		}
		cc.venue[v.Venue] = i
		if err := checkBps(f+".taker_fee_bps", v.TakerFeeBps, maxBps); err != nil {
			return nil, err
		}
		if v.StaleAge <= 0 {
			return nil, cfgErr(f+".stale_age", "must be > 0 (default %v)", DefaultStaleAge)
		}
		gas, err := amounts(f+".gas", v.Gas, class)
		if err != nil {
			return nil, err
		}
		cc.gas = append(cc.gas, gas)
		wd, err := amounts(f+".withdraw", v.Withdraw, func(a string) string { return a })
		if err != nil {
			return nil, err
		}
		cc.withdraw = append(cc.withdraw, wd)
	}
	if err := checkBps("min_edge_bps", c.MinEdgeBps, 10000); err != nil {
		return nil, err
	}
	if err := checkBps("slippage_bps", c.SlippageBps, maxBps); err != nil {
		return nil, err
	}
	if err := checkBps("vol_k", c.VolK, 1000); err != nil {
		return nil, err
	}
	if err := checkBps("slippage_vol_mult", c.SlippageVolMult, 1000); err != nil {
		return nil, err
	}
	if (c.VolK > 0 || c.SlippageVolMult > 0) && c.VolHalfLife <= 0 {
		return nil, cfgErr("vol_half_life", "must be > 0 when vol_k or slippage_vol_mult is set")
	}
	if c.Cooldown < 0 {
		return nil, cfgErr("cooldown", "must be ≥ 0")
	}
	if c.RebalanceTrades < 1 {
		return nil, cfgErr("rebalance_trades", "must be ≥ 1 (default %d)", DefaultRebalanceTrades)
	}
	if c.RecentPlans < 1 || c.RecentPlans > maxRecentPlans {
		return nil, cfgErr("recent_plans", "must be in 1..%d", maxRecentPlans)
	}
	mn, err := amounts("max_notional", c.MaxNotional, class)
	if err != nil {
		return nil, err
	}
	for k, v := range mn {
		if v.mant == 0 {
			return nil, cfgErr("max_notional", "amount for %s must be > 0", k)
		}
	}
	cc.maxNotional = mn

	if len(c.Instruments) == 0 {
		return nil, cfgErr("instruments", "none configured")
	}
	type key struct {
		v  exchange.VenueID
		id exchange.InstrumentID
	}
	seen := map[key]bool{}
	canon := map[exchange.InstrumentID]int{}
	group := map[[2]string]int{} // (base, quote class) -> first listing
	for i := range c.Instruments {
		in := &c.Instruments[i]
		f := fmt.Sprintf("instruments[%d]", i)
		if in.ID == 0 || int(in.ID) >= exchange.MaxInstruments {
			return nil, cfgErr(f+".id", "id %d outside 1..%d", in.ID, exchange.MaxInstruments-1)
		}
		vi, ok := cc.venue[in.Venue]
		if !ok {
			return nil, cfgErr(f+".venue", "venue %d is not in venues", in.Venue)
		}
		if seen[key{in.Venue, in.ID}] {
			return nil, cfgErr(f, "%s listed twice on venue %d", in.Canonical, in.Venue)
		}
		seen[key{in.Venue, in.ID}] = true
		if in.Base == "" || in.Quote == "" || in.Canonical == "" {
			return nil, cfgErr(f, "canonical, base and quote are required")
		}
		if in.Canonical != in.Base+"-"+in.Quote {
			return nil, cfgErr(f+".canonical", "%q is not base-quote %s-%s", in.Canonical, in.Base, in.Quote)
		}
		if j, ok := canon[in.ID]; ok {
			o := &c.Instruments[j]
			if o.Canonical != in.Canonical || o.Scale != in.Scale {
				return nil, cfgErr(f, "id %d is %s with scale %v here but %s with scale %v in instruments[%d]", in.ID, in.Canonical, in.Scale, o.Canonical, o.Scale, j)
			}
		} else {
			canon[in.ID] = i
		}
		if !in.Scale.Valid() {
			return nil, cfgErr(f+".scale", "%v exceeds %d decimals", in.Scale, num.MaxDecimals)
		}
		if in.Tick < 0 || in.Step < 0 || in.MinQty < 0 || in.MinNotional < 0 {
			return nil, cfgErr(f, "tick, step, min_qty and min_notional must be ≥ 0")
		}
		g := [2]string{in.Base, class(in.Quote)}
		if j, ok := group[g]; ok {
			if o := &c.Instruments[j]; o.Scale != in.Scale {
				return nil, cfgErr(f+".scale", "%s on venue %d has scale %v but is compared with %s on venue %d at scale %v: compared instruments must share one scale", in.Canonical, in.Venue, in.Scale, o.Canonical, o.Venue, o.Scale)
			}
		} else {
			group[g] = i
		}
		if _, ok := mn[class(in.Quote)]; !ok {
			return nil, cfgErr("max_notional", "no amount for quote %s (listed in %s)", in.Quote, in.Canonical)
		}
		wd := cc.withdraw[vi]
		for _, a := range [2]string{in.Base, in.Quote} {
			if _, ok := wd[a]; !ok {
				return nil, cfgErr(fmt.Sprintf("venues[%d].withdraw", vi), "no fee for %s (listed in %s): write 0 if transfers are free", a, in.Canonical)
			}
		}
	}
	return cc, nil
}

// amounts parses a list of Amounts keyed by key(asset), rejecting duplicates.
func amounts(field string, list []Amount, key func(string) string) (map[string]decimal, error) {
	m := make(map[string]decimal, len(list))
	for j, a := range list {
		f := fmt.Sprintf("%s[%d]", field, j)
		if a.Asset == "" {
			return nil, cfgErr(f+".asset", "required")
		}
		d, err := parseDecimal(a.Value)
		if err != nil {
			return nil, cfgErr(f+".value", "%q: %v", a.Value, err)
		}
		k := key(a.Asset)
		if _, dup := m[k]; dup {
			return nil, cfgErr(f+".asset", "%s given twice (or twice in one quote class)", a.Asset)
		}
		m[k] = d
	}
	return m, nil
}

// decimal is an exact non-negative config amount: mant × 10^-dec.
type decimal struct {
	mant int64
	dec  uint8
}

func parseDecimal(s string) (decimal, error) {
	dec := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		dec = len(s) - i - 1
	}
	if dec > num.MaxDecimals {
		return decimal{}, num.ErrPrecision
	}
	v, err := num.ParseString(s, uint8(dec))
	if err != nil {
		return decimal{}, err
	}
	if v < 0 {
		return decimal{}, num.ErrNegative
	}
	return decimal{v, uint8(dec)}, nil
}

// at returns d in 10^-to units, rounded up when ceil is set (a cost must not
// be understated) or down otherwise (a limit must not be overstated).
func (d decimal) at(to uint8, ceil bool) (int64, error) {
	if d.dec <= to {
		v, ok := num.Rescale(d.mant, d.dec, to)
		if !ok {
			return 0, num.ErrRange
		}
		return v, nil
	}
	p := num.Pow10(d.dec - to)
	v := d.mant / p
	if ceil && d.mant%p != 0 {
		v++
	}
	return v, nil
}

// rateOf converts bps to the detector's integer rate unit, 10^-8 of the
// notional (1 bp = 10,000 units). Config bps with up to four decimals are
// exact.
func rateOf(bps float64) int64 { return int64(math.Round(bps * 1e4)) }

// rateCeil is rateOf rounded up, for computed (volatility-derived) rates.
func rateCeil(bps float64) int64 {
	if !(bps > 0) {
		return 0
	}
	if bps > 1e6 {
		bps = 1e6 // 10000 %: no trade passes anyway; keeps products in range
	}
	return int64(math.Ceil(bps * 1e4))
}
