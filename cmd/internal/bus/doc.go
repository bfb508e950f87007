// Package bus is arbd's connection to NATS: an embedded nats-server for the
// offline default, a client connection with bounded reconnects, the durable
// event stream, and the KV bucket that carries fleet-wide risk rules.
//
// # Model
//
// "Nothing lost" means an event (an order, a fill, a state transition) is
// acknowledged to the rest of the daemon only once JetStream has stored it.
// Publish therefore waits for JetStream's publish acknowledgement, with a
// bounded timeout, and sends the caller's message id as Nats-Msg-Id: the
// stream (ARB_EVENTS on arb.>, see DefaultStream) deduplicates within
// StreamDedupWindow, so a caller that did not get an answer republishes with
// the same id and the event is stored once. A full stream refuses new events
// (discard new) instead of dropping old ones, so a refusal reaches the
// publisher, which stops trading.
//
// The embedded server (StartEmbedded) listens only on 127.0.0.1 on a
// kernel-chosen port, never on 4222 where a system NATS may run, and keeps
// JetStream under <data dir>/jetstream. The daemon may reach it over that
// port or through an in-memory pipe (Embedded.InProcess).
//
// Connect bounds everything an outage can grow: ReconnectBufSize of
// buffered publishes, MaxReconnects attempts (about ten minutes), after
// which the connection closes and Done is closed: the daemon then exits and
// its supervisor restarts it, rather than trade without a durable log.
//
// WatchKV follows one key of a KV bucket (the rules); deletions are ignored
// so that the rules in force cannot vanish by accident.
//
// # Lifecycle
//
//	emb, err := bus.StartEmbedded(ctx, cfg.DataDir, logger) // when nats.url is empty
//	b, err := bus.Connect(ctx, emb.ClientURL(), logger, emb.InProcess())
//	err = b.EnsureStreams(ctx)
//	...
//	b.Close()      // drain: flush publishes, end subscriptions
//	emb.Shutdown() // then stop the server; JetStream flushes to disk
//
// All types are safe for concurrent use. Nothing here is on the market-data
// hot path: events are published per order and fill, not per book update.
package bus
