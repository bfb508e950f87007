package spread

import (
	"sync/atomic"

	"arb/exchange"
)

// Outcome is what one evaluation of a directed pair with a positive
// top-of-book gross edge came to. Exactly one outcome is counted per such
// evaluation (tick). Values label metrics; only ever appended to.
type Outcome uint8

// Outcomes.
const (
	// OutcomePlan: a plan was emitted.
	OutcomePlan Outcome = iota + 1
	// OutcomeBelowThreshold: no quantity leaves a net edge at or above the
	// threshold after every cost.
	OutcomeBelowThreshold
	// OutcomeCooldown: the pair was planned less than Cooldown ago.
	OutcomeCooldown
	// OutcomeWarmup: the pair's volatility is not calibrated yet.
	OutcomeWarmup
	// OutcomeNoBalance: no quote on the buy venue or no base on the sell
	// venue (or max notional below one level's price) for even one unit.
	OutcomeNoBalance
	// OutcomeMinSize: a profitable quantity exists but, after rounding to the
	// step and within the caps, it fails a min qty or min notional filter.
	OutcomeMinSize
	// OutcomeOverflow: the exact arithmetic would exceed 128 bits (absurd
	// prices or quantities); nothing is traded on numbers that cannot be
	// checked.
	OutcomeOverflow
	numOutcomes
)

// NumOutcomes is the number of outcomes plus one (for dense iteration from 1).
const NumOutcomes = int(numOutcomes)

var outcomeNames = [...]string{"", "plan", "below_threshold", "cooldown", "warmup", "no_balance", "min_size", "overflow"}

// String returns the outcome's metric label.
func (o Outcome) String() string {
	if o != 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// PairInfo names one directed pair: buy on (BuyVenue, BuyInst), sell on
// (SellVenue, SellInst). It is immutable after New.
type PairInfo struct {
	ID        int // dense index for PairStats
	BuyVenue  exchange.VenueID
	SellVenue exchange.VenueID
	BuyInst   exchange.InstrumentID
	SellInst  exchange.InstrumentID
	Symbol    string // metric label: canonical symbol, or "BUY/SELL" across equivalent quotes
}

// PairStats are one directed pair's counters. The detector goroutine writes
// them; exporters read them from any goroutine.
type PairStats struct {
	// Opportunities counts episodes in which the pair's top-of-book gross
	// edge was positive (best bid on the sell venue above best ask on the
	// buy venue, both books usable), counted once when the episode starts
	// (rising edge), not once per tick.
	Opportunities atomic.Uint64
	outcomes      [numOutcomes]atomic.Uint64
}

// Outcome returns the number of evaluations with outcome o.
func (s *PairStats) Outcome(o Outcome) uint64 {
	if o < numOutcomes {
		return s.outcomes[o].Load()
	}
	return 0
}

// Plans returns the number of plans emitted for the pair.
func (s *PairStats) Plans() uint64 { return s.outcomes[OutcomePlan].Load() }

// BelowThreshold returns the number of ticks with a positive gross edge
// whose net edge stayed below the threshold.
func (s *PairStats) BelowThreshold() uint64 { return s.outcomes[OutcomeBelowThreshold].Load() }

// Stats are the detector's global counters (any goroutine may read them).
type Stats struct {
	Events       atomic.Uint64 // BookTop events given to OnBook
	UnknownBooks atomic.Uint64 // events for a (venue, instrument) not configured
	StaleEvents  atomic.Uint64 // events flagged stale by their adapter
	BadBooks     atomic.Uint64 // unflagged events that are crossed, one-sided, unsorted or non-positive
	AgedBooks    atomic.Uint64 // evaluations skipped because a book was older than its venue's stale age
	Plans        atomic.Uint64 // plans emitted
}
