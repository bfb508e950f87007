// Package binance is the Binance spot market-data adapter: websocket streams
// → a local L2 book per instrument kept in sync by Binance's documented
// procedure → exchange.BookTop events (top exchange.TopK levels per side, in
// the instrument's canonical num.Scale) into the daemon's ring. It also holds
// the REST helpers the rest of the engine needs from Binance: instrument
// filters (FetchInstruments, ParseInstruments), error classification
// (ClassifyError) and request signing (SignREST, SignWSAPI, SignFIXLogon);
// and the trading client (Client, see "Trading" below).
//
// Sources: github.com/binance/binance-spot-api-docs (web-socket-streams.md,
// rest-api.md, web-socket-api.md, fix-api.md, filters.md), as collected in
// the project's venue-docs/binance with the documented payloads copied into
// testdata/docs.
//
// # Shape
//
// Session is the pure per-connection state machine (no I/O, no goroutines,
// no clock: time is an argument). Feed.Run is the driver: it dials, feeds
// every frame to HandleFrame, fetches the snapshots the session asks for on
// a separate goroutine and hands them back through a buffered channel that
// the reader polls without blocking after each frame (so the reader keeps
// buffering while a snapshot is in flight and the session has one writer).
// Per connection there are three goroutines: reader, wsx watchdog (AgeMax),
// snapshot fetcher. No client keep-alive: Binance pings every 20 s and
// wsx.ReadFrame answers each ping with a pong copying its payload (the
// server closes a connection without a pong for 60 s).
//
// # Subscription
//
// Combined streams in the URL: <WSURL>/stream?streams=<sym>@<stream>/…, with
// symbols in lower case; each event arrives as {"stream":…,"data":{…}}.
// Chosen over /ws + SUBSCRIBE because (1) the adapter then sends no control
// message at all, so Binance's limit of 5 incoming messages per second
// (which counts pings, pongs and JSON control messages, and cuts the
// connection past it) can only be approached by our pongs, one per server
// ping; (2) there is no subscribe reply to wait for or correlate; (3) the
// envelope names the stream, which the partial-depth payload needs (it
// carries no symbol). Limits: one stream per instrument, at most 1024
// (Binance's per-connection limit), and a URL of at most 8 KiB (Binance
// documents none; 8 KiB is the common request-line default) — Validate
// refuses more, and the wiring should split instruments over several feeds.
//
// # Channels
//
//   - "depth" (default): diff depth <sym>@depth@100ms with REST snapshots
//     GET /api/v3/depth?symbol=X&limit=Depth (Depth default 1000; weight 5,
//     25, 50 or 250 for limits up to 100, 500, 1000, 5000).
//   - "bbo": <sym>@bookTicker {u,s,b,B,a,A} (the current docs show no event
//     type or time; an "e":"bookTicker" is accepted too). Every message is a
//     complete one-level book; a message whose u is not above the last
//     accepted u is out of order and dropped (RejectSequence).
//   - "depth5", "depth10", "depth20": partial depth <sym>@depthN@100ms
//     {lastUpdateId,bids,asks}; every message is a complete top-N book. A
//     lastUpdateId below the last accepted one is dropped (RejectSequence);
//     an equal one is an unchanged book re-sent and republished.
//
// # Diff-depth sync, as implemented
//
// Source: web-socket-streams.md, "How to manage a local order book
// correctly".
//
//  1. On connect every book is stale (CauseConnecting), diff events are
//     buffered per book, and a snapshot is requested at once (not after the
//     first event: quiet books would otherwise wait for an event to even
//     start; the checks below make the order irrelevant).
//  2. Snapshot with lastUpdateId L. If the first buffered event has
//     L+1 < U, the snapshot predates the stream: fetch again (step 3 of the
//     docs; see "Deliberate choices" for the +1).
//  3. Drop buffered events with u ≤ L. The first remaining event must have
//     U ≤ L+1 ≤ u; events are buffered only when contiguous (U ≤ previous
//     u+1; a hole empties the buffer and counts a gap), so this holds by
//     construction and is checked anyway.
//  4. Book = snapshot, id = L; apply the remaining events in order.
//  5. If nothing was buffered after L, the snapshot is held (not published)
//     until the first event proves it current: u ≤ L is dropped, U > L+1
//     means the snapshot is older than the stream (fetch again), else apply.
//     A snapshot alone is never published: the REST book may lag the stream.
//  6. Live: u ≤ id → ignored and counted RejectSequence (on a live TCP
//     stream a duplicate or older event is an anomaly, but it carries
//     nothing new, so the book stays fresh); buffered events with u ≤ L in
//     step 3 and 5 are the documented drop and are not counted. U > id+1 →
//     gap: Gaps++, the book is published stale (CauseGap), the buffer
//     restarts with this event and a new snapshot is fetched. Otherwise every
//     level is set (qty 0 deletes; deleting an unknown level is normal), id =
//     u, and the book is published. A book crossed after an update is
//     refused (RejectCrossed), stale (CauseBadData) and rebuilt.
//  7. The buffer is capped (1024 events, 2^17 levels per book, 2^21 per
//     connection); overflow restarts it from the current event.
//  8. Depth beyond the snapshot is unknown (docs' note): l2 keeps Depth
//     levels per side. Each side has a floor: if the snapshot filled the
//     side (more levels may exist), or l2 had to drop its worst level to make
//     room, levels beyond the worst level then held are unknown, and the
//     published top never extends past the floor (fewer levels, never a
//     level with unknown levels before it).
//
// # Scale: every number Binance sends is held exactly
//
// Books are kept in the instrument's canonical num.Scale. Binance prints
// every price of a symbol with quoteAssetPrecision decimals and every
// quantity with baseAssetPrecision decimals (8 for almost every symbol) —
// its matching engine's resolution — and a book holds levels off today's
// tick and step: orders placed before a tick-size change stay where they
// were. The captured NKNUSDT session (../shared/realframes) has 68 such
// levels among 1609 (5-decimal prices under a 4-decimal tick, 1-decimal
// quantities under a step of 1). A scale taken from the filters would refuse
// every such snapshot as a whole, and the book would never be usable. So
// ParseInstruments widens the scale it is given to those precisions (and
// to any finer filter value), and the wiring gives every venue of an
// instrument the widest scale any of them needs. A number finer than the
// scale can still arrive (a scale fixed by hand, a venue changing
// precision): it is refused (RejectNumber) and the snapshot refetched
// within the bounds below — never rounded into a wrong book.
//
// # Real data
//
// realdata_test.go replays what Binance really sent (../shared/realframes):
// cryptofeed's 2021 connection (four diff-depth streams with bookTicker,
// kline and aggTrade on the same connection, and the REST snapshots of the
// same session, delivered when the session asks), frame by frame at the
// receive times, every published book compared with an independent
// encoding/json + decimal reading that follows the documented procedure
// itself; Binance's own oracle — a bookTicker's u shares the depth stream's
// id space — checks 26 bookTickers against the books at their id; and
// every single captured message (REST snapshots, partial books, the
// all-market bookTicker).
//
// # Bad input
//
// Every refusal is counted in FeedStats (RejectSyntax, Number,
// UnknownSymbol, Sequence, Crossed, TooLarge, Unexpected) and logged through
// a LogLimiter with an excerpt. A frame attributable to one of our books
// (its stream name, or the raw event's "s") makes that book stale
// (CauseBadData) and restarts its sync (for bbo and partial depth: until the
// next good message). A malformed frame naming nothing makes every book
// stale. Frames of streams or symbols we did not subscribe are counted
// (RejectUnknownSymbol) and ignored; so are control replies (Unexpected).
// The payload of a stream we did not subscribe is not ours to judge (an
// aggTrade's "a" is a number where a depthUpdate's is an array: the
// captured connection carries both): only its event type is read, so a
// serverShutdown is still seen, and the rest need only be valid JSON. A
// frame over MaxFrame (wsx.ErrTooLarge) ends the connection: every book
// stale (CauseBadData), reconnect. Levels per side are capped at 5000 per
// message (RejectTooLarge). Keys are matched exactly (Binance sends both "e"
// and "E", "u" and "U"; encoding/json would confuse them); of duplicate keys
// the last wins; a frame with a "stream" or "data" key is an envelope whose
// other top-level keys are ignored; unknown keys are skipped; a frame
// carrying both "b" and "bids" (or "a" and "asks") is refused. Snapshot and
// partial-book levels must be strictly sorted best first.
//
// Precedence, and why levels are parsed in two ways: a frame is first
// checked for shape (any JSON error is RejectSyntax, or RejectTooLarge for
// too many levels), then routed and checked field by field, and only then
// are the routed book's levels judged as numbers (RejectNumber). Levels are
// nevertheless converted while they are read (jsonscan PairFixed) whenever
// the book is known first — the envelope's "stream" precedes "data" on the
// wire, and a REST snapshot is fetched for a given book. If that fused pass
// ends in any error, or the frame turns out to be routed to another book
// than the one whose scale was used (a later duplicate "stream"), the frame
// is read again keeping levels as offsets, converted after routing: that
// pass decides, so the precedence above holds exactly ("data" before
// "stream" and raw events always take it). A bookTicker session first tries
// the exact wire layout of a combined-stream bookTicker (tickerFrame: the
// keys in Binance's order matched as literals, no key dispatch); anything
// else is read key by key, and the layout path leaves exactly the state the
// key-by-key read would. FuzzFusedMatchesRaw checks these paths agree with a
// parser that takes neither on everything observable.
//
// # Connections
//
// A dropped connection publishes every book stale (ClosedIdle → CauseAge,
// else CauseDisconnect), counts a reconnect and redials after a jittered
// exponential backoff (reset after a connection that synced all its books or
// lived BackoffMax). Scheduled handover (Lifetime, default 23h30m of the
// documented 24 h) and serverShutdown (raw or wrapped) start a second
// connection whose publisher is not the owner: it builds its books silently
// and takes ownership when all are synced or after HandoverMax, republishes
// every book, and the old connection is closed without publishing stale. If
// the old connection drops first, the new one takes over at its next frame.
// Only a handover connection may take ownership, once: the retired one
// still receives frames until it is closed (the venue sends each update to
// both at nearly the same instant) and must never take ownership back.
// Quiet books on a live connection are republished every AgeMax/3.
//
// # Snapshot refetches: backoff and the weight budget
//
// A book may need its snapshot again and again — a snapshot refused as a
// whole (malformed, a number the scale cannot hold, unsorted, crossed,
// older than the stream), a failed fetch, a gap or bad data soon after it
// synced. Whatever the cause, two bounds hold:
//
//   - Per book, the session backs off (Session.wantSnapshot): the first
//     request goes at once, each further one in a row waits BackoffMin,
//     doubling up to BackoffMax (100 ms … 30 s by default) after the cause
//     was seen. The run ends when a snapshot paid off — the book stayed
//     right at least as long as the next wait would be, and always after
//     10 s: a book that syncs only to break again at once was no more use
//     than a refused one. A book refused forever, or broken by every next
//     update, thus costs one request per BackoffMax, not one per budget
//     slot, while independent faults each get a prompt rebuild.
//   - Per feed, every request spends its documented weight (5/25/50/250)
//     from a gate (exchange/internal/gate) of SnapshotWeightPerMin per
//     minute (default 3000 of Binance's 6000), windows aligned to the minute
//     as Binance counts them. The count is raised to what Binance reports
//     in X-MBX-USED-WEIGHT-1M (the IP's whole use, order entry and other
//     processes included), so snapshots wait when the IP as a whole is past
//     the feed's share. A 429 with Retry-After closes the gate for every
//     snapshot of the feed for that long, a 418 (ban) likewise and opens
//     its circuit (both counted in RateLimited, logged); 5XX and network
//     errors are retried with a jittered backoff, each attempt through the
//     gate.
//
// TestRefetchWithinWeightBudget runs a Feed against a venue that refuses
// every snapshot in each of these ways and checks both bounds on the
// feed's clock.
//
// # Deliberate choices
//
//   - Step 2 and 3 use L+1: the docs' wording ("lastUpdateId within [U,u]",
//     "lastUpdateId < U → fetch again") would refuse a snapshot that ends
//     exactly before the first event (U = L+1), which the docs' own update
//     rule (gap only if U > id+1) and the older wording ("U ≤ lastUpdateId+1
//     AND u ≥ lastUpdateId+1") accept. For a quiet symbol that case is the
//     common one, and refusing it would refetch forever.
//   - Resyncs counts every rebuild from a snapshot (the first one
//     included) and every bbo/partial book becoming fresh again.
//   - Reconnects counts every connection after the first, handovers
//     included (Handovers counts those separately).
//   - A retired connection's in-flight event may land after the new
//     owner's first one (see exchange/internal/feed).
//
// # Not covered
//
// RSA REST signatures (no published vector); symbol status in exchangeInfo is
// not checked; a snapshot result is applied, and a backed-off request falls
// due, when the reader next wakes (the next frame of any instrument), not the
// instant it could. The feed's weight gate is its own: the trading client in
// the same process spends from its own budget, and only the venue's usage
// header ties them. Trading: order
// lists, amend and cancel-replace, market orders; per-account order limits
// are configured, not fetched (GET /api/v3/rateLimit/order); the memory of
// sent client order ids lives as long as the process.
//
// # Trading
//
// Client (NewClient, ClientConfig) implements exchange.Trader, Reconciler,
// Accounts, PrivateStream and CircuitReporter for one account. Sources:
// rest-api.md, web-socket-api.md, user-data-stream.md, errors.md and the
// CHANGELOG, as collected in venue-docs README §1 and §4.1 (the listenKey
// stream was retired for spot on 2026-02-20: the private stream is the
// WebSocket API's userDataStream.subscribe).
//
// Goroutines: Run (server time at start and every ResyncEvery, which also
// keeps a REST keep-alive connection warm; the order-entry socket and its
// reader) and RunPrivate (the private stream, the reconciliation after
// every subscription, the poller). Every method is safe for concurrent
// use; mutable state is atomics, the gate's mutex and the tracker's mutex,
// none held across I/O.
//
// Signing. HMAC keys: lower-case hex HMAC-SHA256 over the query string or
// form body exactly as sent (REST), or over the parameters sorted by name,
// name=value joined by '&', unescaped (WebSocket API). Ed25519 keys sign the
// same payloads, base64 (percent-encoded in a query string); with them the
// order socket logs on (session.logon) and its orders carry neither apiKey
// nor signature, and the private stream uses session.logon +
// userDataStream.subscribe; HMAC keys use userDataStream.subscribe.signature.
// Requests are built by appending into pooled buffers (paramList, no
// reflection, no encoding/json) and the HMAC state is reset, not rebuilt:
// building and signing an order allocates nothing (TestOrderBuildNoAllocs).
//
// Time. The offset to the venue's clock is measured with three GET
// /api/v3/time round trips, keeping the largest lower bound (serverTime −
// the local receive time), so a timestamp (local time + offset, floored to
// the ms) is never ahead of the venue, whose rule is timestamp <
// serverTime + 1 s and serverTime − timestamp ≤ recvWindow. A -1021 answer
// re-measures it; the request, refused before the matching engine, is sent
// once more with the same client order id.
//
// Orders. A LIMIT order (IOC for arbitrage legs) with newClientOrderId =
// the caller's OrderRequest.ClientID (exchange.ValidClientID: 1–32 letters
// and digits, within Binance's [A-Za-z0-9_-]{1,36}) and newOrderRespType
// FULL. Price and quantity go to the tick and step grid without ever
// getting worse (buy limit down, sell limit up, quantity down); Tick, Step
// and the minimums are in the instrument's Scale, so this is exact integer
// arithmetic (checked against shopspring/decimal); LOT_SIZE minQty and
// NOTIONAL minNotional are checked before anything is sent. The order goes
// over the WebSocket API (order.place) while the order socket is up and
// over REST otherwise (OrderEntry "rest" opens no socket). Its FULL answer
// gives the state and the fills (taker fills: an IOC never rests), which
// also go to the private sink. Answers are parsed with jsonscan.
//
// Never doubled. An answer that does not come (timeout, a connection lost
// after the write), a 5XX, -1006, -1007, -1001, or a 2XX that cannot be
// read is KindUnknownOutcome; the client never resends it. Binance accepts
// a client order id again once its order is filled or expired — at once
// for an IOC — so the client remembers every id it sent (MaxTracked × 16,
// FIFO) and a PlaceOrder with a remembered id first queries it: found →
// KindDuplicate with its state; unknown and older than RecvWindow +
// RequestTimeout (so it can no longer execute) → sent; unknown and younger
// → KindUnknownOutcome. An id whose last send was refused for certain (a
// 4XX other than the unknown ones, a rate limit, a failed dial) is sent
// again without a query. Deciding to send and tracking the order in flight
// is one atomic step: of concurrent PlaceOrder calls with one id, one
// sends.
//
// Errors. 429 and -1003/-1015 → KindRateLimited with Retry-After (a 429 for
// order counts comes without the header: 10 s is assumed); 418 →
// KindRateLimited and the circuit open until the ban ends; the WebSocket
// API's error.data.retryAfter (ms) is used the same way; 5XX, -1006,
// -1007, 409, -1001 → KindUnknownOutcome for placements and cancels,
// KindRetryable for reads; -1008 → KindRetryable; 401, -1002, -1022,
// -2014, -2015 → KindAuth; -1021 → KindRetryable (after the re-measure);
// -2010 "Duplicate order sent." → KindDuplicate; -2013, -2026 and -2011
// "Unknown order sent." → KindNotFound; 403 (WAF) and other 4XX →
// KindRejected.
//
// Limits. exchange/internal/gate holds the budgets — REQUEST_WEIGHT per
// minute (per IP, shared with the feed's snapshots), ORDERS per 10 s and
// per day (per account), RAW_REQUESTS per 5 min — spends each request's
// documented weight before sending, and raises its counts to the venue's
// X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-10S/1D headers and the WebSocket
// API's rateLimits. A Retry-After blocks every request until it has passed;
// BreakerThreshold failures in a row open the circuit for BreakerCooldown.
// Circuit reports the reason and the end.
//
// Private stream. RunPrivate subscribes on its own WebSocket API
// connection, then reconciles over REST — open orders (openOrders), fills
// since the stream was last known complete (myTrades: 24 h startTime/
// endTime windows to find the first fill, then fromId pages; the client
// order id from the tracker or one order lookup), the state of every order
// in flight — and only then reports OnStream(true). executionReports become
// OrderState (the order's client id is C for a cancel, else c) and, for
// x=TRADE, a Fill (fee as printed: positive is paid). A drop reports
// OnStream(false) and reconnects with backoff (serverShutdown and
// eventStreamTerminated: at once); the next reconciliation starts
// streamMargin before the last event (or the subscription). The poller
// queries every order in flight without news for PollEvery while the
// stream is down, 5 × PollEvery while it is up (a silent stream), and
// fetches its fills (myTrades by orderId) when it filled more than was
// delivered. Fills reach the sink once by trade id within the tracker's
// window, whichever path saw them first.
//
// Broken invariant. A price or quantity the venue reports with more
// decimals than the instrument's Scale (or too large for it) is never
// rounded or dropped silently: it is counted (BrokenInvariants), logged at
// error level, and the circuit opens for good with the reason, so the venue
// stops trading until an operator has looked and restarted the client.
//
// Keep-alive. The venue pings every 20 s (answered by wsx); after 30 s
// without data the client sends the "ping" method and a connection silent
// for 75 s is closed and redialled.
package binance
