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
//     on the same book store and ring.
//   - the desk (desk.go): on the loop goroutine, each plan's risk input, the
//     risk decision, and its record for JetStream. It is where the future
//     executor plugs in: a plan that passes is what it will send.
//   - the gates beside the rules: the kill switch, persisted in data_dir
//     (killswitch.go) and restored before the first plan, so only an explicit
//     resume releases a halt; and the durable log (journal.go): while
//     JetStream cannot store an event, no plan passes, readiness is false,
//     and Daemon.JournalReady tells the executor wiring not to send.
//   - the rules' sources: the rules file (rulesfile.go; a file that cannot
//     be read keeps the running rules) and the NATS KV bucket (rulesig.go;
//     only rule sets signed by a trusted key and newer than the last).
//   - the API provider (api.go) and the metrics (metrics.go, journal.go,
//     desk.go), read at scrape time from the components' own counters.
//   - preflight.go: config.Known.Check, which builds the parts above offline
//     so that a config that would fail at start fails validation instead,
//     with file:line and key.
//
// # Goroutines
//
// One per feed, the strategy loop (the detector's single writer), the
// HTTP server, the NATS monitor, the plan publisher, the kill switch
// writer, the rules watchers, the equity marker, the feed state logger, and
// one retry loop per venue waiting to join. Everything the loop goroutine
// owns (the detector, the desk's risk input) is touched elsewhere only
// through strategy.Loop.Do or while no loop runs (an engine swap).
package wire
