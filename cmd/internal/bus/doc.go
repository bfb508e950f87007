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
// JetStream under <data dir>/jetstream; a store it cannot write stops the
// start at once, naming the directory.
//
// # Who may do what
//
// The embedded server is not an open door to other local processes. Every
// client authenticates with an nkey generated at each start:
//
//   - the daemon's user may do anything, but only over the in-process pipe
//     (Embedded.InProcess); its key never leaves memory;
//   - a read-only user, whose seed StartEmbedded writes to
//     <data dir>/nats/reader.nk with the URL in <data dir>/nats/url (0600, in
//     a 0700 directory), may read ARB_EVENTS (stream info, message get,
//     consumers, acks) and subscribe to arb.>: what local tools (the ledger
//     CLI, arb status) need to follow a running daemon (LocalReader);
//   - anyone else is refused at connect.
//
// So no other process can publish or forge events, purge or delete the audit
// stream (which also denies purge and delete through its own config), change
// its configuration, or write the rules KV bucket. Rule sets in the bucket
// are moreover accepted only when signed by a trusted key (cmd/internal/wire,
// rulesig.go), which is what protects them on an external server.
//
// On an external NATS server or cluster the same model is built with
// accounts and per-subject permissions: arb in an account of its own, the
// daemon's user allowed to publish arb.> and the JetStream API subjects of
// ARB_EVENTS and of the rules bucket (read), a rules administrator allowed
// to publish $KV.<bucket>.rules, readers limited as above, and the stream's
// purge, delete and update API left to an operator account. README.md
// (NATS security) has a server configuration.
//
// # Durable or not
//
// Durable reports whether an event published now would be stored: the
// connection is up and the last probe of the event stream (Monitor, every
// ProbeInterval and at once after a reconnect or a failed publish) found it
// with room for one more event. State gives the details for status pages
// and metrics. The daemon refuses plans while it is false: no order may be
// sent whose intent is not durable.
//
// Connect bounds everything an outage can grow: ReconnectBufSize of
// buffered publishes, MaxReconnects attempts (about ten minutes), after
// which the connection closes and Done is closed: the daemon then exits and
// its supervisor restarts it, rather than trade without a durable log.
//
// WatchKV follows one key of a KV bucket (the rules); deletions are ignored
// so that the rules in force cannot vanish by accident. OpenKV, GetKV,
// UpdateKV (compare-and-set on the revision read: ErrKVConflict when
// another writer came first) and WatchKVEntries serve the fleet's buckets
// (the shared kill switch, the status heartbeats); the embedded server's
// read-only user may read the buckets StartEmbedded is given.
//
// # The executor's journal
//
// Journal (journal.go) is strategy/execute's write-ahead journal in the
// event stream, on arb.exec.<record kind>: Append publishes a batch of
// records pipelined on the one connection, each with its deduplication id
// as Nats-Msg-Id and no client-side retry (which could store a record
// after the ones that followed it), and returns once JetStream has
// acknowledged every one; a failed append marks the bus not durable.
// Replay reads every record back in order with an ordered consumer (no
// server-side state) until none is pending. Check refuses a stream that
// would forget ids within MinJournalDedup or drop events within
// MinJournalAge.
//
// # Lifecycle
//
//	emb, err := bus.StartEmbedded(ctx, cfg.DataDir, logger) // when nats.url is empty
//	b, err := bus.Connect(ctx, emb.ClientURL(), logger, emb.InProcess())
//	err = b.EnsureStreams(ctx)
//	go b.Monitor(ctx) // keeps Durable and State current
//	...
//	b.Close()      // drain: flush publishes, end subscriptions
//	emb.Shutdown() // then stop the server; JetStream flushes to disk
//
// All types are safe for concurrent use. Nothing here is on the market-data
// hot path: events are published per order and fill, not per book update.
package bus
