// Package feedbus carries normalized book events between processes over
// NATS: feed processes (arbd --role feed) run the venue adapters near the
// venues and publish their books; an engine (arbd --role engine) consumes
// them into its ring through the same path a local adapter's events take.
//
// # Subjects and encoding
//
// Every exchange.BookTop an adapter publishes becomes one core NATS
// message on arb.book.<venue>.<symbol> (the venue's configured name, the
// canonical symbol), in a fixed little-endian layout that starts with a
// version byte (codec.go): every field of the event — flags, stale cause,
// the venue's sequence, exchange and receive timestamps, gas, every level
// — plus the scale of its numbers, the publishing process's instance id,
// its leadership term and its publish time. Venue and instrument ids are
// not sent: they are interned per process from its own config, so the
// engine maps the subject's names to its ids, and converts a message in
// another scale exactly (or refuses it). A message is 64 bytes plus 16 per
// level (at most 384): no JSON, no allocation to encode or decode.
//
// Core NATS, not JetStream: a book is a full top-K snapshot superseded by
// the next one, so there is nothing to replay after a loss — a lost
// message is conflation, and a feed that stays silent makes its books
// stale by age in the engine. A durable stream would add a disk write and
// an acknowledgement to every book for no use.
//
// # Staleness across the hop
//
// The engine receives the feed adapter's RecvTS and ExchTS unchanged, so
// its existing age rule (strategy: a book older than the venue's age_max
// by RecvTS is stale; the detector refuses it) works as for a local
// adapter: when a feed process dies, no more events arrive and its books
// turn stale age_max after the last one — no NATS disconnect detection is
// needed. A stale marker (disconnect, gap, resync) crosses the hop like
// any event. RecvTS is the feed host's clock: feed and engine hosts must
// keep their clocks in sync (NTP); arb_feed_hop_seconds shows the hop as
// the two clocks see it. A RecvTS in the engine's future (the feed's clock
// ahead) is clamped to the engine's now and counted
// (arb_feed_clock_ahead_total), so a book never outlives its feed by the
// clock offset; a feed clock behind only makes books stale early. A message the engine cannot decode for a known
// book is a counted rejection (arb_feed_rejects_total) that also marks the
// book stale (bad data): the engine no longer knows it.
//
// # Hot standby: a lease, not sequence dedupe
//
// Several feed processes may serve one venue; exactly one publishes it.
// Each venue has a key in the KV bucket arb_feed_leaders (TTL LeaseTTL):
// the holder renews it, a standby creates it once it has expired or been
// deleted (lease.go). The creating revision is the holder's term and goes
// in every message; the engine drops messages of a term lower than the
// newest it has seen (fencing), so a deposed leader that has not noticed
// yet cannot double the events. A new leader first republishes its newest
// books; the engine drops a republished state it already has from the old
// leader (same sequence), so a takeover delivers no state twice.
//
// Deduplicating by the venue's sequence alone, with every feed publishing,
// was rejected: the store deliberately does not order by sequence (a venue
// resets its sequence on a service restart, and rejecting "older" values
// would wedge the book — see strategy/book); a stale marker from one feed
// whose connection dropped would flap a book that the other feed keeps
// right; venues without a sequence could not be deduplicated at all; and
// every standby would double the traffic. With the lease, a standby is
// silent, a failover takes at most LeaseTTL plus a poll (below the default
// age limits, so the engine's books stay fresh), a clean stop hands over
// at once (the key is deleted), and a process leads a venue only while
// some of its books are fresh, so a standby in sync takes over from a
// leader whose venue connection is down. The cost is a KV bucket, which
// the feed processes need on the NATS server anyway. If the bucket is
// recreated its revisions restart at 1: the engine accepts a lower term
// once the term in force has been silent for the age limit.
//
// # Types and goroutines
//
// Publisher (feed side) drains the feed process's ring on one goroutine,
// keeps each book's newest event and publishes those of the venues this
// process leads. Lease runs one goroutine per venue. Remote (engine side)
// is an exchange.MarketData: its Run owns a channel subscription and is
// the single producer of its venue's events into the engine's ring,
// parking the newest event per book while the ring is full, as the
// adapters do. Counters are atomics, safe to read from anywhere.
//
// NATS: the engine and feeds meet on an external server or cluster
// (config nats.url, credentials_file; tls:// URLs), reached through
// cmd/internal/bus. The embedded server admits only its own process, so a
// split deployment needs an external one; the tests run the same code
// through an embedded server with in-process connections as well.
package feedbus
