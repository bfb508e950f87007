// Package execute turns approved plans into trades: both legs out at once
// as IOC orders (or one after the other for venues where a leg in flight
// is risky), and every trade ending flat or with a small, reported
// residual — under rejects, partial fills, rate limits, lost
// acknowledgements, dropped streams, and a crash at the worst moment.
//
// # Layers
//
// Trade is one trade's state machine, modelled on etcd-io/raft's RawNode:
// venue answers and private-stream events come in through Step, time
// through Tick, and what it decides comes out as a Ready — records to
// persist, then calls to make. It does no I/O, starts no goroutine and
// reads no clock. Executor owns every trade (routing events by client order
// id or venue order id, recycling trades, aggregating Ready) and is pure
// too. Driver is the loop around an Executor: it persists a Ready's records
// through a Journal before it makes any of its calls through a Caller
// (write-ahead: an order whose intent is not durable is never sent), feeds
// results back, and rebuilds the executor from the journal at start and
// after a journal failure. Driver is synchronous: a backtest drives it with
// a simulated Clock and the Inline caller; Service runs it in the daemon
// on one goroutine with concurrent venue calls, each with the policy's
// timeout.
//
// # States
//
// A trade is open (entry legs out), hedging (the legs filled unequally and
// the short one is retried), unwinding (the excess is reversed where it was
// filled), then closed_flat or closed_residual — the Trades contract's
// names. Decisions are made only when every order of the trade is
// resolved (final, or proven never placed):
//
//   - imbalance = base bought − base sold, over every order's filled
//     quantity (the larger of what states and fills report);
//   - zero: close, flat, once the fills that make up every filled quantity
//     are in (they are fetched with FillsSince after FillTimeout);
//   - otherwise, while retries remain (RetryMax) and the RetryWindow since
//     hedging began is open, the missing quantity is retried on the short
//     leg's venue, priced at the plan's limit moved by RetrySlippageBps and
//     sent only if that venue's book is inside it (else the trade waits for
//     the book until the window ends);
//   - then, while unwinds remain and the UnwindWindow is open, the excess
//     is sold back where it was bought (or bought back where it was sold),
//     priced through the book by UnwindSlippageBps and never worse than
//     the plan's price by more than UnwindMaxLossBps;
//   - what is left is the residual: the trade closes closed_residual with
//     it recorded, exported (Exposures) and logged.
//
// Retries and unwinds are floored to their venue's step; a quantity below
// the venue's minimum quantity or notional is never sent: it is residual.
// The Sequential policy sends Policy.First's leg alone and the other leg,
// sized to what the first filled, once it is resolved; then the same
// compensation applies. Every step has a timeout (AckTimeout for calls,
// FinalTimeout for an acknowledged IOC still open — it is cancelled,
// QueryInterval between queries, NotFoundAfter, FillTimeout, the windows),
// and the Deadline closes the trade whatever is unresolved
// (closed_residual, unresolved orders counted). A closed trade stops
// deciding but not bookkeeping: it goes on resolving its orders and
// fetching their fills until it is settled, so no fill is ever lost.
//
// # Unknown outcomes
//
// An answer is never guessed. A place whose outcome is unknown (timeout,
// 5xx, an unclassified error, "duplicate client id") is resolved by
// querying the order by its client id. "Not found" proves the order absent
// only for a query sent NotFoundAfter after the latest send — at least the
// trading client's receive window, after which the venue refuses a delayed
// request; earlier, the order is asked again at that time. A proven-absent
// order is sent again with the same client id (the same intent) while its
// ResendWindow is open, else it counts as not placed and compensation
// decides afresh. A 429 or a transient error before acceptance resends the
// same intent after Retry-After, within the same window and MaxResends.
// Every result carries the send attempt and the time of the call it
// answers (Call.Attempt, Call.At → Event.Attempt, Event.CallAt): a late
// error for an older send, or a late "not found" to a query sent too early,
// says nothing about the current one. A venue state is the truth whatever
// call it answers.
//
// # Identifiers
//
// A trade id is an epoch (32 bits) and a counter. The epoch is raised on
// every start above every epoch in the journal and at least to the clock's
// Unix seconds, so ids never repeat across restarts even when old records
// were trimmed. A client order id is the configured prefix, the trade id,
// the purpose, the side and the order's index in the trade
// ("arb6955b90000000001eb00"): at most 28 letters and digits, valid on
// every venue, a function of the intent alone (a resend reuses it).
//
// # Journal
//
// Every change of a trade's durable state is a Record — open, intent,
// resend, state, failed, fill, transition, recover — applied by the same
// code that replays it, so a trade rebuilt from its records is exactly the
// trade that ran (the scripts and the simulation check it). Codec writes a
// record as JSON on subject SubjectPrefix+kind ("arb.exec.fill") with a
// deduplication id for JetStream's Nats-Msg-Id and the ledger: an intent's
// is its client order id, a fill's "fill.<venue>.<symbol>.<venue fill
// id>", a state's the client order id, status and filled quantity. Venues
// and instruments are written by name, decimals as strings, times RFC 3339
// UTC. A record that does not decode stops the start: a journal is not
// guessed at.
//
// On start the driver replays the journal, takes a new epoch, and recovers
// every unfinished trade: its deadline and current window restart
// (recorded), every unresolved order is queried, missing fills are fetched,
// and the trade finishes or closes as it would have. Plans are refused
// until those trades are closed (Driver.Ready, Service.Ready: /readyz).
// If an append fails nothing of that Ready is sent; the driver rebuilds
// from the journal (every RebuildEvery) and carries on from what is
// durable, reporting a trade Submit had accepted but whose opening never
// reached the journal through Hooks.Abandoned.
//
// # Money
//
// Prices and quantities are the instrument's fixed-point num values.
// Fills are deduplicated by venue, instrument and venue fill id, per trade
// (the same execution arrives by the response, the stream and
// reconciliation). The realized net (TradeView, Trade.Realized) is exact
// decimal: sell proceeds − buy cost − fees, each fee converted to the
// leg's quote at a rate recorded with the fill (1 for the quote, the fill
// price for the base, FeeRates for a third asset); a residual is inventory
// and its cost at the average price of its side is taken out, rounded
// against the trade.
//
// # Cost
//
// From an approved plan to the two place calls (Executor.Open and its
// Ready) nothing is allocated once trades are recycled, and a whole trade
// through the executor allocates nothing (TestTradeDoesNotAllocate;
// BenchmarkPlanToOrders, BenchmarkTrade). JSON encoding happens in the
// driver, off the machine.
package execute
