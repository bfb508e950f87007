// Package paper is a paper venue: a trading client that sends nothing. It
// fills IOC and FOK limit orders against the venue's live book, after a
// configured latency, at the venue's taker fee and under its filters, and
// keeps the account's balances from configured starting amounts. It
// implements the same roles as the real trading clients (exchange.Trader,
// Reconciler, Accounts, PrivateStream, CircuitReporter), so the executor
// cannot tell it from a venue: `paper: true` in the daemon's config
// (globally or per venue) puts it in place of the venue's client, with no
// keys needed.
//
// # Model
//
// PlaceOrder rounds the order to the venue's grid exactly as the real
// clients do (a buy limit down to the tick, a sell limit up, the quantity
// down to the step), checks the minimum quantity and notional and the free
// balance (a buy needs its limit × quantity of quote, plus the fee when
// fees are charged in quote; a sell its quantity of base, plus the fee when
// charged in base), then waits Latency and takes what the book offers at
// that moment: the levels at or better than the limit, best first, one
// fill per level. FOK fills only if the whole quantity is there. What is
// not filled expires (IOC); GTC orders are refused (a paper venue has no
// resting orders). The book comes from Config.Books, the latest BookTop of
// the venue's own feed; a book that is stale or older than MaxBookAge is
// not traded on (the order expires unfilled), as the detector would not
// plan on it.
//
// Liquidity taken by a paper order is remembered per price level until the
// book changes (its sequence moves), so two orders in a row cannot both
// fill against the same displayed quantity; the live book itself is never
// touched: a paper fill is flow the market did not see.
//
// Money is exact. Each asset's balance is an integer count of 10^-d units
// (math/big), d the finest scale the asset has in any listing (a base
// asset's quantity decimals, a quote asset's price + quantity decimals, so
// a notional is always exact). A fill moves price × quantity of quote and
// quantity of base; its fee, taker rate × notional (× quantity when
// charged in base), is rounded up to 8 decimals, as a venue prints it, and
// charged in the quote asset, or in the base asset when Config.FeeInBase.
// Balances and the filled quote are reported floored to 8 decimals when
// their scale is finer: a balance is never overstated.
//
// # Identity and the private stream
//
// Client order ids are the caller's; a second order with an id already
// used is refused as KindDuplicate with the first order's state (as a
// venue that keeps ids refuses it), so a resend of an intent can never be
// doubled. Venue order ids and trade ids are counters. Every state and fill
// is delivered to the sink RunPrivate was given, and the private stream is
// always up. An order whose caller gave up during the latency (ctx ended)
// is still executed, as a venue that received it would, and the call
// returns KindUnknownOutcome: QueryOrder then finds it.
//
// # Limits
//
// MaxOrders orders (and their fills) are remembered, the oldest forgotten
// first. Every method is safe for concurrent use; one mutex guards the
// account, held for the match only, never across the latency wait.
package paper
