// Package spread is the cross-venue detector: given the latest books, the
// venues' costs and the available balances, it finds every cross-venue trade
// that still makes money after every cost, sizes it, and emits a Plan for
// risk and the executor. It is pure: no I/O, no wall clock (callers pass now,
// Unix ns), no randomness, no goroutines; the same code runs in the daemon,
// the backtest and the tests.
//
// # Pairs
//
// A listing is one configured (venue, instrument) with its filters. Two
// listings on different venues are compared when they have the same base and
// the same quote, or quotes in one configured equivalence class (BTC-USDT on
// one venue is never BTC-USDC on another unless the config says USDT and USDC
// are equal); compared listings must share one num.Scale (validated), so
// their books compare as plain integers. Each such couple gives two directed
// pairs: buy on one, sell on the other. On every book update the detector
// evaluates both directions against every other venue whose book is usable.
//
// # Usable books
//
// A book takes part only if it is not flagged stale, is no older than its
// venue's StaleAge (now − RecvTS), has both sides, is not crossed, and has
// strictly ordered levels with positive prices and quantities. A one-sided
// top-K is what a broken feed looks like, and the exact sizing below relies
// on ordered levels, so anything else is refused and counted.
//
// # Sizing
//
// For a directed pair (buy on A, sell on B) and a quantity q, with B(q) the
// cost of taking q from A's asks and S(q) the proceeds of giving q to B's
// bids (Σ price × quantity over the levels walked, exact):
//
//	net(q) = S(q)·(1 − feeB − slip) − B(q)·(1 + feeA + slip) − gasA − gasB − rebalance
//
// where fees are the venues' taker rates, slip the slippage allowance per leg
// (SlippageBps + SlippageVolMult × volatility), gas each leg's fixed cost
// (below), and rebalance the amortized cost of moving the
// inventory back: the buy venue's withdrawal fee of the base (valued at its
// best ask) plus the sell venue's withdrawal fee of the quote, divided by
// RebalanceTrades and rounded up to 10^-(Px+Qty) quote. q is feasible when
//
//	net(q) ≥ threshold × B(q),  threshold = MinEdgeBps + VolK × volatility
//
// and it satisfies the caps and filters:
//
//   - q ≤ the sell venue's available base;
//   - limit_A × q × (1 + feeA) ≤ the buy venue's available quote, where
//     limit_A is the worst ask walked (what a venue locks for a limit buy);
//   - limit_A × q ≤ MaxNotional;
//   - q ≤ the depth of both books (TopK levels: nothing beyond is known);
//   - q is a multiple of both venues' steps (their lcm; the coarser step when
//     one divides the other);
//   - q ≥ both venues' MinQty, and limit × q ≥ each venue's MinNotional on its
//     leg (the venue checks the order's limit price, not the fill's VWAP).
//
// The plan's quantity is the largest feasible q. Fixed costs (gas,
// rebalancing) make small trades unprofitable and are amortized better by
// larger ones, while deeper levels cost more per unit: within one segment
// of the merged level walk both prices are constant, so net(q) −
// threshold × B(q) is linear there, and its slope (bid·(1−feeB−slip) −
// ask·(1+feeA+slip+threshold)) can only fall from one segment to the next.
// The function is therefore concave and its feasible set one interval
// [q_lo, q_hi]. The detector walks the segments once, solves the crossing
// point inside the segment where the function turns negative exactly
// (integer division, no scan), floors q_hi to the step grid, and then checks
// the lower-bound filters at that q. Only the sell leg's min notional can
// fail at q but pass at a smaller q (its limit rises when the walk is
// shorter); on that failure alone q moves back before the last bid level and
// is checked again, at most TopK times. The property tests compare this
// against an exhaustive scan in exact rational arithmetic.
//
// # Arithmetic
//
// Money is integers. Prices and quantities are the books' num values;
// B(q) and S(q) are kept exactly in units of 10^-(Px+Qty) quote, rates in
// units of 10^-8 (1 bp = 10,000), and the feasibility test
// bRate·S − aRate·B ≥ K is evaluated in checked 128-bit arithmetic, so the
// decision has no rounding at all; an overflow (absurd inputs) refuses the
// trade and is counted. Config bps are converted once (four decimals are
// exact); volatility-derived rates are rounded up. float64 appears only for
// the bps ratios reported on the plan and for volatility. The Plan's Quote
// amounts are rounded conservatively: net and sell notional down, buy
// notional and costs up.
//
// # Gas
//
// A leg's gas is its venue's configured amount (VenueConfig.Gas, static)
// plus the Gas its book carries (exchange.BookTop.Gas). An on-chain venue
// changes its gas every block (base fee × estimated gas, valued in the
// quote at the pool's price), and the adapter that knows the block
// publishes it with the book it priced from that block; the detector reads
// it from the book store like the levels. So the gas of a decision is
// always the gas of the same block as the depth it walked, it reaches the
// detector through the ring in order with no second channel or lock, a
// backtest replaying recorded BookTops replays the gas too, and the hot
// path stays allocation-free. The plan's GasQuote is the sum of both legs.
// A book with a negative gas is refused as unusable.
//
// # Threshold, volatility, cooldown
//
// Each venue pair keeps exponentially weighted statistics of its mid-price
// spread (bps), decayed by time with VolHalfLife; its standard deviation is
// the "recent short-horizon volatility of the spread". When VolK or
// SlippageVolMult is set, a pair is not planned until one half-life of
// observations has accumulated (OutcomeWarmup): an uncalibrated threshold
// would trade exactly the noise it is meant to filter. After a plan the
// directed pair rests for Cooldown so one dislocation is not traded again
// while its legs are in flight.
//
// # Balances
//
// The Inventory holds available balances per venue and asset. Emitting a
// plan reserves what its legs need (the buy leg's locked quote including the
// fee, the sell leg's base), so several plans from one event, or from
// consecutive events, never commit the same balance twice. When several
// pairs plan on one event they are emitted best net edge first and the rest
// re-evaluated against what is left. The wiring releases the reservation
// (Inventory.Release) when the plan is over and applies the fills with
// Adjust, all on the detector goroutine.
//
// # Counting
//
// An opportunity is an episode of a directed pair during which its
// top-of-book gross edge is positive (best bid on the sell venue above best
// ask on the buy venue, both books usable): it is counted once when the
// episode starts (rising edge) and the episode ends when the edge is gone or
// a book is unusable. Every evaluation during an episode (a tick) counts
// exactly one Outcome: a plan, below threshold, cooldown, warm-up, no
// balance, min size or overflow. Counters are dense per directed pair
// (Pairs, PairStats) and atomic, so exporters read them from any goroutine;
// nothing is logged per event.
//
// # Output and ownership
//
// OnBook returns the plans of one event as a slice of detector-owned Plans,
// valid until the next call; the consumer copies what it keeps. Plan ids are
// a deterministic counter from PlanIDBase, with a fixed-width alphanumeric
// text form for client order ids and JetStream. RecentPlans gives the last
// plans to other goroutines under a mutex taken only when a plan is emitted
// or read, never on the per-event path. In steady state OnBook allocates
// nothing (TestOnBookDoesNotAllocate).
package spread
