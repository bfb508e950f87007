// Package gate is a trading client's admission control for one venue: the
// venue's documented request budgets, what the venue says it has counted
// (usage headers), the waits it imposes (HTTP 429/418 with Retry-After), and
// a circuit breaker that opens after a ban or repeated failures.
//
// # Model
//
// A Budget is a limit per fixed window (Binance REQUEST_WEIGHT 6000 per
// minute, ORDERS 100 per 10 s, OKX 60 order requests per 2 s per
// instrument, …). Windows are aligned to the epoch, as the venues count
// them (Binance's X-MBX-USED-WEIGHT-1M resets on the minute). Take spends
// cost units of one or more budgets at once or none of them: a request is
// either admitted entirely or refused with the time to wait. Observe raises a
// budget's count to what the venue reported, so a second process sharing the
// key, or a venue counting differently from the documentation, cannot push
// us over. Block forbids every request until a time (Retry-After); a ban
// (HTTP 418) also opens the circuit with its reason. Result feeds the
// breaker: Threshold consecutive failures open it for Cooldown.
//
// The gate never sleeps and never reads the wall clock: every method takes
// now, so clients and tests decide time. It is safe for concurrent use (one
// mutex, held for a few comparisons, never across I/O).
package gate
