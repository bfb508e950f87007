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
// ledger, write the batch's changes in one database transaction
// (pgstore.Store.Write), and only after the commit acknowledge each event.
// Exactly once follows from three things: the store, not the consumer, is
// the truth about what is applied (a restart starts from it); applying is
// idempotent (a redelivered fill is a ledger.Duplicate, the fills' unique
// key backs it up); and a batch is all or nothing. When a write fails —
// PostgreSQL down, connections terminated, even a commit whose answer was
// lost — the feed keeps the batch unacknowledged (with progress notes so
// JetStream does not redeliver it meanwhile), rebuilds the in-memory ledger
// from the store, and tries again with backoff until it commits. Trading
// goes on meanwhile: events wait in JetStream and Lag grows.
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
