// Package ledgerfeed applies the ledger's events from the JetStream event
// stream (ARB_EVENTS) to the ledger exactly once: fills on
// arb.ledger.fill.<venue>, trade states on arb.ledger.trade, external
// transfers on arb.ledger.external.<venue> (see package ledger for their
// wire form). Every other subject of the stream (plans, order intents) is
// filtered out: by the consumer's subject filters on servers that support
// several (2.10+), else here.
//
// # With PostgreSQL
//
// Run loads the ledger from the store (replaying the stored events), then
// (re)creates the durable consumer at the store's committed position and
// loops: fetch up to Config.Batch events, apply them to the in-memory
// ledger, hand the batch's changes to a pgstore.Pipeline, which commits
// each batch in one database transaction, in order, on its own goroutine,
// and only after a batch's own commit acknowledge each of its events.
// While batch N commits, batch N+1 is fetched, applied and encoded
// (Config.Pipeline batches in flight, default 2), so the ledger's CPU and
// PostgreSQL's overlap; readers of the ledger see a batch from when it is
// applied, before its commit.
// Exactly once follows from three things: the store, not the consumer, is
// the truth about what is applied (a restart starts from it); applying is
// idempotent (a redelivered fill is a ledger.Duplicate, the fills' unique
// key backs it up); and a batch is all or nothing. When a write fails —
// PostgreSQL down, connections terminated, even a commit whose answer was
// lost — the feed keeps the batch unacknowledged (with progress notes so
// JetStream does not redeliver it meanwhile), rebuilds the in-memory ledger
// from the store, and tries again with backoff until it commits. Trading
// goes on meanwhile: events wait in JetStream and Lag grows. A batch
// behind the failed one in the pipeline was applied on top of it: the
// pipeline aborts it without writing anything, and after the rebuild the
// failed batch and those behind it are applied and written again, one
// after the other, before the pipeline resumes (Stats.Aborted counts them).
//
// # Without PostgreSQL
//
// With no store, Run replays the whole stream with an ordered consumer (no
// server-side state) into the in-memory ledger and keeps following it;
// Ready is closed once it has caught up. Replay does the same once, for
// `arb ledger` without a DSN.
//
// # For the daemon
//
//	store, err := pgstore.Open(ctx, dsn)            // only with a DSN; nil otherwise
//	feed, err := ledgerfeed.New(bus.JetStream(), store, ledgerfeed.Config{}, logger)
//	go feed.Run(ctx)                                 // one goroutine; returns ctx.Err()
//	<-feed.Ready()                                   // caught up: /api/v1/pnl may answer
//	feed.Lag()                                       // arb_ledger_lag_events, /api/v1/status
//	feed.View(func(l *ledger.Ledger) { ... })        // /api/v1/pnl, /positions, /trades
//	feed.Update(func(l *ledger.Ledger) { l.MarkEquity(...) })
//
// The executor publishes with PublishFill and PublishTrade through the
// bus. A broken ledger invariant panics in Run's goroutine: the daemon
// stops rather than trade on books it knows are wrong.
package ledgerfeed
