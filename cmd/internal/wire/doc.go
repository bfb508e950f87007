// Package wire builds arbd from a validated config and runs it: the only
// place that knows the concrete venues, NATS, the simulator and the HTTP
// API, and connects them to the pure core (book store, detector, risk).
//
// # Shape
//
// Build constructs everything and starts nothing that trades; Run starts the
// goroutines and stops them in order when its context ends. The pieces:
//
//   - venues (build.go, venues.go, venuejoin.go): each configured venue's
//     listings, from the config's filter overrides or the venue's
//     instruments endpoint. A venue that does not answer at start does not
//     stop the daemon: it is retried with backoff and joins later.
//   - the engine (engine.go): the detector over the joined venues and its
//     strategy loop, fed by one MPSC ring from every feed. The detector bakes
//     the filters in, so a venue that joins late brings a new engine: the
//     old loop stops, balances and counters carry over, the new loop starts
//     on the same book store and ring. The swap waits until no plan of this
//     run is in flight (the desk refuses plans meanwhile): the new detector
//     interns its assets anew, so a reservation made on the old one could
//     not be released on it. A joining venue that trades also brings a new
//     executor service over every trading venue's listings (its journal
//     replay finds every trade closed).
//   - the desk (desk.go): on the loop goroutine, each plan's risk input
//     (with the executor's open trades, residual exposure, the ledger's
//     realized PnL today and each venue's order error rate and latency),
//     the risk decision, its record for JetStream, and the submission of an
//     approved plan to the executor. The plan's balance reservation is kept
//     until its trade is over (released on the loop when the executor
//     refuses, abandons or closes it, after the venues' balances are
//     fetched again).
//   - execution (exec.go, trading.go): a trading client per venue —
//     Binance, OKX, Bybit at the venue's endpoints with keys from the
//     environment, or at the simulator's with its public test keys, or a
//     paper venue (exchange/paper) filling from the live book — the
//     executor (strategy/execute's Service) over them with its journal on
//     JetStream (bus.Journal), the private streams feeding it through a
//     sink that survives a service restart, balances fetched at start,
//     after every trade and periodically into the detector's inventory,
//     and the latencies, venue health and exposure the rules, the API and
//     the metrics read. Quotes for retries and unwinds, and the paper
//     venues' books, come from the loop's book snapshot (every
//     SnapshotEvery).
//   - on-chain venues (chain.go): a venue of kind uniswap is one pool,
//     read by exchange/uniswap's Feed into the same ring and traded by its
//     Trader (signed with a key from the environment or a keystore), on a
//     real node or on an in-process simulated chain (unisim: contracts
//     deployed, pool seeded at the simulated market's price, a block every
//     block_time, seeded flow from another account). execConfig gives its
//     pairs the sequential policy, the swap first, so the CEX hedge is
//     sized to the swap's receipt and a reverted swap ends the trade flat.
//   - the ledger link (ledger.go): the executor's fills and trade states
//     published as ledger events, a backfill from the journal when the
//     ledger lacks some (after a crash or a queue overflow), and the
//     ledger (ledgerfeed, in memory or PostgreSQL) answering PnL and
//     positions.
//   - the gates beside the rules: the kill switch, persisted in data_dir
//     (killswitch.go) and restored before the first plan, so only an explicit
//     resume releases a halt, which also halts the executor (open orders
//     cancelled, every trade closed or reported); and the durable log
//     (journal.go): while JetStream cannot store an event, no plan passes
//     and readiness is false — and the executor's own write-ahead append
//     fails, so nothing it decided is sent.
//   - the rules' sources: the rules file (rulesfile.go; a file that cannot
//     be read keeps the running rules) and the NATS KV bucket (rulesig.go;
//     only rule sets signed by a trusted key and newer than the last).
//   - the fleet (fleet.go, heartbeat.go, fleetview.go): the kill switch
//     shared with every daemon on the same NATS through a KV bucket
//     (compare-and-set writes, a halt wins every race, the halt saved in
//     data_dir authoritative at start), the status heartbeat written to
//     another bucket, and ReadFleet, which arb status uses to list them.
//   - the lifecycle (lifecycle.go): the graceful stop on SIGTERM — not
//     ready, no new plans, trades in flight finish or are halted (open
//     orders cancelled), events drained to JetStream, within
//     ShutdownTimeout, before the components stop.
//   - the API provider (api.go) and the metrics (metrics.go, journal.go,
//     desk.go), read at scrape time from the components' own counters.
//   - roles (feedroles.go): arbd --role. RoleAll is all of the above in
//     one process. RoleEngine is the same daemon whose venues' feeds are
//     feedbus.Remote subscriptions instead of adapters: books from feed
//     processes over NATS into the same ring, sequence and timestamps as
//     the feed's adapter produced them, so staleness works unchanged.
//     RoleFeed (BuildFeed, FeedDaemon) is the market-data half alone:
//     venue listings and scales computed as Build does, the adapters, a
//     feedbus.Publisher draining their ring to NATS, and a lease per
//     venue so that of several feed processes of a venue one publishes.
//     The role is a flag, not a config key: one config file starts a
//     deployment's feeds and its engine; both need nats.url.
//   - preflight.go: config.Known.Check, which builds the parts above offline
//     so that a config that would fail at start fails validation instead,
//     with file:line and key.
//
// # Goroutines
//
// One per feed, the strategy loop (the detector's single writer), the
// HTTP server, the NATS monitor, the plan publisher, the kill switch
// writer, the fleet's kill switch watcher and writer, the heartbeat, the
// rules watchers, the equity marker, the feed state logger,
// one retry loop per venue waiting to join; per trading venue its client's
// Run, its private stream and its balance refresher; the executor's
// service loop (and its venue calls, one goroutine each, bounded), the
// exposure watcher, the ledger feed and the ledger publisher. Everything the loop goroutine
// owns (the detector, the desk's risk input) is touched elsewhere only
// through strategy.Loop.Do or while no loop runs (an engine swap).
package wire
