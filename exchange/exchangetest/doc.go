// Package exchangetest is the conformance suite every venue adapter runs
// from its own tests: the adapter, unchanged, against exchange/sim (local
// venues speaking the real protocols) with injected faults, and every event
// it publishes checked against the simulator's own book.
//
//	func TestConformance(t *testing.T) {
//		exchangetest.Run(t, exchangetest.Harness{
//			Kind:   sim.KindOKX,
//			Faults: []sim.FaultKind{sim.FaultChecksum, sim.FaultNotice},
//			New: func(env exchangetest.Env) (exchange.MarketData, error) {
//				f, err := okx.New(okx.Config{Venue: env.Venue, … every Env field …})
//				return f, err
//			},
//		})
//	}
//
// It imports the standard library, exchange, exchange/num, ringbuf and
// exchange/sim; never an adapter (adapters import it from _test files).
//
// # Model
//
// Each subtest starts a fresh world: a simulator with the one venue of
// Harness.Kind and three symbols of different scales (BTC-USDT and ETH-USDT
// with 2 price decimals, SOL-USDT with 3), 60 levels per side, a step every
// 50 ms (100 ms for Binance: its diff stream goes out every 100 ms and the
// simulator corrupts the message of the step a fault hits, so a shorter
// step would let faults miss the wire), no quiet periods (a quiet spell
// stalls Binance's documented resync and muddles timelines), a history long
// enough to hold every state of the subtest, and short keep-alive rules
// (Binance pings every 500 ms and cuts after 3 s without a pong; OKX and
// Bybit close after 3 s idle). Between the adapter and the venue sits a
// loopback TCP proxy that changes nothing on the wire and counts websocket
// connections, which is how the suite sees reconnects and handovers. The
// adapter is built by Harness.New from an Env (venue id 9 and instrument
// ids 7, 300 and 1023, deliberately not 1..n; AgeMax 5 s — far above a
// scheduling stall, so no book goes stale for age unless the subtest wants
// it — and 1 s in the frozen subtest; MaxFrame 256 KiB;
// a seeded Rand; a Logger whose last lines are printed on failure) and run
// with a cancellable context; a checker goroutine is the ring's only
// consumer.
//
// # The invariant (every event, every subtest)
//
// Every event carries the feed's venue id and one of its instrument ids;
// RecvTS is the wall clock in Unix ns (within a minute); a stale event has a
// cause other than none and a fresh one has none. A fresh event must be
// right: at most TopK levels per side, bids strictly descending and asks
// strictly ascending, positive prices and quantities, not crossed, ExchTS
// (when set) the venue's time in Unix ns, a non-zero Seq, and its levels
// equal, level by level, to the top min(TopK, Harness.Depth) levels per side
// of the simulator's book at the same sequence (sim.BookAt(venue, symbol,
// ev.Seq)). A fresh event whose sequence the simulator's history does not
// hold is "unverifiable"; since the history outlives the subtest, more than
// 1% of them fails the subtest (they mean a Seq that is not the venue's
// sequence field as the simulator keys it). So at no moment is a book
// reported fresh that differs from the venue's book at its sequence.
//
// When a subtest ends the adapter's context is cancelled: Run must return
// context.Canceled (waited for up to 30 s), nothing may be published after it returned
// (checked over 100 ms), and Stats().Published must equal the number of
// events the ring delivered.
//
// # Definitions
//
// A fault that breaks a book is one after which a client cannot know the
// book without rebuilding it: a skipped update (gap), a wrong checksum, a
// malformed, crossed or oversized update, a dropped connection, a frozen
// feed. For it, on each affected instrument:
//
// Stale within one message. Let S be the sequence of the faulted state
// (sim.FaultRecord.Seq: the state whose update was skipped, corrupted,
// crossed or padded). No two consecutive events of the instrument may both
// be fresh with the first before S and the second at or after S: a book
// known right before the fault can become right again after it only by a
// rebuild, which the adapter announces with a stale event first. In other
// words the message that carries or reveals the fault turns the book
// stale; the invariant above adds that no fresh event is wrong in between.
// The first stale event after the injection has the cause the exchange
// vocabulary gives the fault. For a frozen feed (no message at all) it is
// age, and by the adapter's own clock (RecvTS) it comes no sooner than
// AgeMax after the book's last data: the age limit is not undercut.
//
// Fresh again. A fresh event after that stale event, received no earlier
// than the fault's end (the moment it reached the wire; for a frozen feed,
// when data resumes); then every instrument gets a new verified fresh event
// and every book's newest event is fresh.
//
// No wall-clock bound. Every wait above is on the event itself, bounded by
// a patience of 30 s that only a hang exhausts: a loaded 2-core machine
// running the race detector stalls goroutines for seconds, so a limit of a
// second or two measured the machine, not the adapter. Promptness is what
// "stale within one message" proves; the timeline records how long each
// step took (times taken by the checker when it reads an event from the
// ring).
//
// # Subtests and what each proves
//
//   - fresh: every book fresh after start; ≥ 10 fresh events per
//     instrument verified against the venue; no stale event once all were
//     fresh; Messages and Published count; and a clean stream counts no gap,
//     checksum failure, reconnect or reject (valid venue messages — acks,
//     pongs — are not misfiled as faults).
//   - gap: one update of the first instrument is not sent. Stale within one
//     message with cause gap, fresh again, Gaps counted, the rebuild counted
//     (Resyncs or Reconnects).
//   - disconnect: the venue drops every connection. Every book stale
//     with cause disconnect, fresh again, Reconnects counted,
//     a new websocket connection opened.
//   - malformed/{truncated,wrong_type,nan,negative,empty_price}: one update's
//     frame corrupted as the simulator's Malform says. Stale within one
//     message with cause bad_data, fresh again, the reject counted with the
//     vocabulary's reason (syntax for truncated JSON and wrong types, number
//     for NaN, negative and empty numbers), the rebuild counted.
//   - frozen: market data stops for AgeMax + 1.5 s while the connection
//     stays up and answers pings (AgeMax 1 s). Every book stale with cause
//     age, not sooner than AgeMax after its last data; fresh again after
//     data resumes.
//   - crossed: one update adds a bid above the best ask. Stale within one
//     message with cause bad_data, fresh again, Rejects(crossed) counted.
//     (The simulator's crossing bid replaces any change the update makes at
//     its price, so the update always crosses the book.)
//   - unknown_symbol: an update for a symbol the feed did not subscribe to.
//     Rejects(unknown_symbol) or Rejects(unexpected) counted, and no book
//     goes stale in the second after it.
//   - huge_frame: one update padded to 4 × MaxFrame. Stale within one
//     message (cause bad_data or disconnect), Rejects(too_large) counted,
//     fresh again, the rebuild counted.
//   - checksum (okx): one books update with a wrong checksum. Stale within
//     one message with cause checksum, fresh again, ChecksumFailures counted.
//   - server_shutdown (binance), notice (okx): the venue announces that it
//     will close the connection and does so 1 s later. A new websocket
//     connection must be opened and every book fresh after the close;
//     whether the books stayed fresh throughout (a handover without a gap)
//     is reported in the timeline, not required.
//   - snapshot (bybit): a snapshot mid-stream on every depth topic. Books
//     fresh again if they went stale at all (reported), and fresh
//     events verified after it.
//   - restart (bybit): the update ids restart at u=1, announced by
//     snapshots. Every instrument then has a fresh event, verified, at
//     a state the venue published after the restart (the adapter did not
//     drop the restarted ids as old).
//   - handover: Env.Lifetime is 1.2 s (and the simulated Binance cuts
//     connections 1.5 s after that). At least two scheduled reconnects (new
//     websocket connections), not one stale event
//     across them, old connections closed, and the invariant for the events
//     of both connections of each switch.
//
// Stream faults hit the first instrument; the others must stay right (the
// invariant) and, if the adapter chose to rebuild them too, be fresh again.
// Every wait is bounded by the patience; on an idle machine a subtest takes
// 1–5 s and the suite about 20–30 s per adapter.
//
// # Reproducing a failure
//
// A failed subtest prints its simulator seed, the base seed
// (EXCHANGETEST_SEED, default 1; each subtest's seed is derived from it and
// the subtest's name), its timeline (fault injection, when it reached the
// wire, first stale and first fresh event per instrument, in ms since the
// subtest started), the last events per instrument, the feed's counters and
// the adapter's last log lines. The market a seed generates is
// deterministic; when faults land relative to steps depends on timing, so a
// rerun reproduces the scenario, not every message.
//
// # Limitations
//
// The suite sees only what the adapter publishes and counts; a fault the
// simulator cannot produce (an out-of-order update, a checksum on a
// venue without one) is left to the adapter's own tests. Subtests run one
// after another (no t.Parallel): the machines are shared. Harness.Skip is for documented venue limitations only, and
// its reason is printed.
package exchangetest
