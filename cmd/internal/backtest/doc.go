// Package backtest replays recordings (exchange/recording, made by arb
// record or arbd with a tap) through the daemon's own code on a simulated
// clock, and reports what trading them would have done.
//
// # Model
//
// One goroutine owns the daemon's parts; there is no wall clock and no
// sleeping. The recording's chunks are read and decompressed one ahead on
// a second goroutine (source.go). Each record, in recorded order, goes to
// its venue's adapter Replay (exchange/binance, okx, bybit: the same
// Session code as the live feeds, fed the frames exactly as received, with
// the feeds' reader and supervisor rules for snapshots, handovers and
// drops). The adapters run one goroutine per venue, a chunk ahead
// (pipeline.go: a venue's adapter depends only on its own records and the
// clock at each); the engine's goroutine takes their events record by
// record in the recording's order, so a run is deterministic and the same
// as a sequential one. The clock is the latest receive time seen. The
// adapters' BookTop events go into the daemon's ring; after every record
// the strategy.Loop is
// stepped (Loop.Step: the same batching and conflation as Loop.Run), so
// the detector (strategy/spread) sees each event at its receive time.
// Plans go to the desk (desk.go), which builds the risk input exactly as
// the daemon's desk does and asks the risk engine (risk, the config's
// rules file); what passes is submitted to the executor
// (strategy/execute.Driver) with a journal that only counts, the
// simulated clock, and a Caller (caller.go) that carries each call to a
// simulated venue (simvenue.go) after the venue's latency and the answer
// back after it again. A simulated venue fills IOC orders against the
// recorded book of the moment the order arrives, and what an order took is
// gone for the next one until the book shows the level changed. Fills move
// the detector's inventory; a closed trade releases its plan's
// reservation. Time also drives the executor's ticks (every 10 ms of
// simulated time while trades are open) and the equity marks of the
// drawdown rule (every second).
//
// The daemon's parts are built by the daemon's own code: wire.Registry,
// wire.SpreadConfig (with the recording's plan id base, so a replay of an
// arbd session numbers plans as the session did), wire.SetBalances and
// wire.Listings (the instrument filters parsed from the instruments
// replies the recording holds, served to the daemon's fetch code by an
// http.RoundTripper).
//
// # Windows and holes
//
// Options.From/To (or a cut's TradeFrom) bound the trading window. The
// records before From are still replayed — a diff-depth book can only be
// rebuilt from its connection's start — but plans are released without a
// decision; chunks that end before the warm-up start are skipped by their
// headers. A truncated or corrupt chunk, a malformed record, or a file of
// another recording closes every open connection (its books go stale as
// on a drop: what was lost is not known), and the report warns.
//
// # Output
//
// Report (report.go) is report.json: counts, exact decimal PnL, fees,
// expected vs realized net, win rate, max drawdown, Sharpe of hourly PnL,
// per-pair and per-venue tables, rejections per rule, opportunities by the
// peak top-of-book gross edge of their episode, detector outcomes, and the
// equity and drawdown series (thinned to at most 2048 points, keeping
// extremes). Nothing in it depends on the wall clock or map order: two
// runs of the same inputs are byte-identical (TestDeterministic).
// trades.csv is written as trades close. report.html embeds the report's
// JSON and draws its charts and tables with inline script: it needs no
// network (TestReportHTML opens it in headless Chromium). Memory is bounded
// by the configuration, not the recording's length (TestMemoryConstant).
//
// Sweeps (sweep.go) run a grid of config keys (YAML paths, venues by name)
// and latencies in parallel, one full run per directory, and compare them.
package backtest
