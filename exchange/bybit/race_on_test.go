//go:build race

package bybit

// raceEnabled: the race detector changes allocation counts (its shadow
// bookkeeping) and slows every goroutine, so whole-round-trip allocation
// comparisons run without it.
const raceEnabled = true
