// Package bybit is the Bybit v5 spot adapter. Market data: one websocket to
// the public spot stream, the venue's L2 books kept in sync by the procedure
// Bybit documents, and exchange.BookTop events (top 10 levels per side, in
// each instrument's num.Scale) published into the daemon's ring; the
// instruments fetch (filters). Trading: Client, which signs and places
// orders (REST and the WebSocket trade API), looks them up by client order
// id, keeps the private order/execution stream, reconciles after every
// reconnect, reports balances and obeys the venue's rate limits (the
// "Trading" section below).
//
// # Shape
//
// Session is the pure per-connection state machine: frames in (with their
// receive time), book states, events and requests out; no I/O, goroutines or
// clock. Feed.Run does the I/O around it: dial (wsx), subscribe, read loop,
// keep-alive pings, an idle watchdog, reconnects with jittered backoff, and
// scheduled handover between connection generations (feed.Owner). Tests,
// fuzzing and the lead's tick-to-decision benchmark drive Session directly
// with frames from testdata.
//
// Channels (Config.Channel): "depth" (default) is orderbook.{Depth}.{SYMBOL}
// with Depth 50 (default), 200 or 1000; "bbo" is orderbook.1.{SYMBOL}.
//
// # Sync procedure, as implemented
//
// Sources: docs/v5/websocket/public/orderbook.mdx and docs/v5/ws/connect
// (bybit-exchange/docs; copies in /work/shared/venue-docs/bybit and
// testdata/docs), docs/v5/sbe/level-50/sbe-level-50.mdx for the update id.
//
//  1. Connect to <WSURL>/v5/public/spot. Subscribe with
//     {"req_id":"<n>","op":"subscribe","args":[topics]}, at most 10 topics
//     per request (spot limit); Config.Validate refuses configurations whose
//     topics exceed the 21,000 characters one connection may carry.
//  2. The first message of a topic after subscribing is a snapshot: the book
//     is reset to it and becomes live. A delta before it breaks the
//     procedure: rejected, the book is resubscribed.
//  3. A delta updates the book: size "0" deletes the level, an unknown price
//     is inserted, a known one overwritten. Each side is then trimmed to
//     Depth levels: Bybit keeps a window of Depth levels, so a level pushed
//     out of it is no longer known (and may vanish without a message).
//  4. Any later snapshot resets the book: Bybit re-sends one "if there is a
//     problem on Bybit's end" (and, per the level-50 docs, after more than
//     100 level changes); u = 1 is a service restart and overwrites the book
//     although u went down. Counted in Resyncs.
//  5. Sequence checks (below) on every delta; a crossed book after a message
//     is rejected. Every rejected message that would have changed a book
//     makes that book stale (an event with FlagStale and the cause) and
//     starts its rebuild.
//  6. Rebuild = resubscribe: unsubscribe, then subscribe (Bybit has no REST
//     snapshot linked to the stream's u). Until the unsubscribe is
//     acknowledged, frames of the old subscription are dropped — even a
//     snapshot, whose subscription is about to end; the first snapshot after
//     the acknowledgement makes the book live. Replies are matched by req_id,
//     or, when the venue does not echo one, to the oldest unanswered request
//     of the same op (Bybit answers in order). Resubscribes of one book are at
//     least 500 ms apart; a snapshot that does not come within
//     SnapshotTimeout is retried with the wait doubling (up to 32×).
//  7. A failed subscribe is counted (RejectUnexpected), logged, and leaves the
//     book stale. One bad topic fails a whole request, so a failed batch is
//     retried topic by topic, and a topic that fails alone is retried spaced
//     out; after 3 failures it no longer holds back a handover.
//  8. bbo: orderbook.1 sends snapshots only. An unchanged book is re-sent
//     every 3 s with the same u; that is not an error and republishes the
//     book with the new receive time.
//  9. Heartbeat: {"req_id":"ping","op":"ping"} every PingEvery
//     (unconditionally, as Bybit recommends; default min(20 s, AgeMax/3)).
//     Both documented pong shapes are recognised ({"success":true,
//     "ret_msg":"pong",..,"op":"ping"} and {"op":"pong","args":[..]}).
//  10. Age: no frame at all for AgeMax → the connection is closed (wsx
//     Watchdog), books stale with CauseAge, reconnect. Bybit sends nothing
//     for a book that does not change, so a frozen topic and a quiet one
//     look alike; a live book that received nothing for AgeMax goes stale
//     (CauseAge) and is resubscribed, whose snapshot proves its state. Below
//     that age a quiet book is republished every AgeMax/3 with the receive
//     time of the frame that proved the connection alive.
//  11. Timestamps and ids: ts (ms) becomes ExchTS (ns). BookTop.Seq is
//     data.seq, the cross sequence, not u: u counts the pushes of one topic
//     (orderbook.50.BTCUSDT and orderbook.200.BTCUSDT each count their own,
//     so one book state has a different u on each), while seq is "shared
//     across depths, smaller = older" — the id of the state itself, which
//     is what a consumer comparing or ordering books needs. A book message
//     without seq is rejected like one without u.
//
// # What the sequence fields can and cannot reveal
//
// A book message carries u (update id, per topic) and seq (cross sequence,
// per book state, shared by all depths, "monotonically increasing, but not
// guaranteed to be continuous"), but no previous id and no checksum.
// Detected, always: a delta before the snapshot; a delta whose u is not
// above the book's (a duplicate or an older update — rejected and the book
// rebuilt, because ignoring it could freeze a book behind an unannounced
// reset); seq going backwards on a delta (an equal seq is accepted: the
// docs promise monotonic, not strictly increasing); a snapshot older than
// the book by both u and seq that is not a restart; crossed books;
// malformed frames. seq may jump by any amount between two deltas of one
// topic (states that changed only levels outside its depth, or other
// depths' data, use up cross sequence numbers), so it cannot reveal a lost
// delta; u can.
//
// A lost or reordered delta can only be seen if u is contiguous per topic.
// What the docs say (checked in bybit-exchange/docs):
//   - docs/v5/websocket/public/orderbook.mdx: "u: Update ID" (earlier
//     versions: "Update ID. Is a sequence"), u = 1 after a restart; nothing
//     about +1 for spot.
//   - docs/v5/sbe/level-50/sbe-level-50.mdx (the level-50 book as binary
//     frames, "SBE mirrors JSON v5 behavior"): "Validate continuity: next u
//     should follow previous u + 1", no check across u = 1; seq is
//     "monotonically increasing, but not guaranteed to be continuous".
//   - The v3 docs (derivatives, copy trading): "Update id, is always in
//     sequence".
//
// So u is a per-topic counter, +1 per push of that topic, and
// Config.Continuity defaults to "contiguous": a delta with u ≠ previous
// u + 1 is a gap (counted in Gaps; stale, resubscribe). "monotonic" accepts
// any growing u and counts jumps (Feed.UJumps); it cannot detect a lost
// delta, and a book missing one looks fresh until a later message or the
// next snapshot — use it only for a stream whose u is known not to be
// contiguous. exchange/sim numbers u per topic in the same way (and its
// BookAt is keyed by seq), and the end-to-end tests run in the default mode
// with no false gaps. Not detectable in either mode: wrong sizes or prices
// under right ids (there is no checksum), and a lost orderbook.1 snapshot
// (the next one supersedes it; until then the book is merely older).
//
// # Other deliberate choices
//
//   - Frames are parsed with jsonscan into preallocated scratch levels (at
//     most 2×Depth per side; more is RejectTooLarge), numbers straight into
//     the instrument's scale: each ["px","size"] is read and converted in
//     one pass (jsonscan PairFixed, which agrees with num.ParseUnsigned);
//     if that fails anywhere in a side, the side is read again token by
//     token (shape first, then num.ParseUnsigned), which decides, so a
//     level that is malformed and badly numbered is RejectSyntax as before
//     (FuzzFusedMatchesTokens checks the two paths agree on everything
//     observable). The book is touched only after the sequence checks
//     passed, so a rejected message never leaves a half-applied book. The l2 book holds Depth + 2×Depth levels so that no
//     message can overflow it before trimming. Keys may come in any order.
//   - Input that cannot be attributed to a book (broken JSON before a topic
//     was read) makes every book stale and replaces the connection; frames of
//     topics we do not follow are counted (RejectUnknownSymbol) and ignored.
//   - Lifetime: Bybit documents no maximum lifetime for public connections
//     (only the 10-minute idle cut, which the pings prevent), so scheduled
//     handover is off by default; with Lifetime > 0 a new generation builds
//     its books silently, takes ownership when all are synced (or given up),
//     republishes them, and the old connection is closed without a stale
//     event. A recovery connection takes ownership at once; if a handover
//     connection is already up when the old one drops, it takes over.
//   - Reconnects counts recovery connections (after a drop), not handovers.
//   - Rejections are logged through a feed.LogLimiter with venue, reason,
//     symbol and a 160-byte excerpt of the frame (public data only).
//
// # Trading (Client)
//
// Sources: venue-docs README §3 and §4.3 and the files of
// /work/shared/venue-docs/bybit (bybit-exchange/docs @ 072c197d).
//
// Requests. REST requests are signed as docs/v5/guide.mdx says: hex
// HMAC-SHA256 over timestamp + api_key + recv_window + (query string as
// sent | raw JSON body), in X-BAPI-API-KEY/-TIMESTAMP/-SIGN/-RECV-WINDOW.
// The timestamp comes from the local clock plus the offset measured with
// GET /v5/market/time at Start and every TimeSyncEvery; the offset is the
// server time minus the local time the answer arrived, a lower bound, so a
// timestamp is never ahead of the venue's clock (Bybit refuses ts ≥ server
// + 1000 and accepts down to server − recv_window). A 10002 answer
// re-measures the offset and the request is sent once more: the venue
// refused it before doing anything. The sockets authenticate with
// {"op":"auth","args":[key, expires, hex HMAC("GET/realtime"+expires)]}.
//
// Orders. PlaceOrder rounds the request to the instrument's tick and step
// never against the caller (buy limit down, sell limit up, quantity down),
// checks MinQty and MinNotional and refuses without sending what fails
// (exact integer arithmetic in the instrument's scale, checked against
// shopspring/decimal in tests; decimal itself would allocate per order).
// The caller's ClientID is the orderLinkId. Over the trade socket
// (order.create on /v5/trade, OrderEntry auto or ws) the reply is matched
// by reqId (client prefix, slot, sequence); over REST it is POST
// /v5/order/create. Bybit acknowledges asynchronously: PlaceOrder returns
// the order as new, and its fills and final state come from the private
// stream or QueryOrder.
//
// Unknown outcomes. A request written without an answer that says what
// became of it — transport error or timeout after the write, HTTP 5XX, the
// socket dropping, retCode 10000/10016/10019/170007/170146/170147/429/
// 170001/170234/10014 (none says whether the order reached the engine) —
// returns KindUnknownOutcome and is never resent by the client. The
// tracker (tracker.go) remembers every client id sent: an id whose order
// is known to exist is refused locally as KindDuplicate (Bybit's
// "orderLinkId is always unique" does not say whether among open orders or
// forever), and an id whose last request is unknown may not be sent again
// until recv_window + 2 s after it was sent, when the venue would refuse
// that request for its timestamp (KindRetryable with RetryAfter).
// QueryOrder (GET /v5/order/realtime by orderLinkId, then
// /v5/order/history) resolves it.
//
// Errors. Duplicates 110072/170141 → KindDuplicate; order not found or
// already final (110001/110008/110010/170139/170142/170143/170190/170213)
// → KindNotFound, except in CancelOrder, which then returns the order as
// queried; auth (10003/10004/10005/10007/10008/10009/10010/10027/33004/
// -2015, HTTP 401) → KindAuth; 10006/10018/170005/170222/10429/10403/20003 and
// HTTP 429 → KindRateLimited with RetryAfter from X-Bapi-Limit-Reset-
// Timestamp or Retry-After (default 1 s: the limits are per second); HTTP
// 403 ("access too frequent", Bybit asks for at least 10 minutes) and 418
// are bans; everything else refused is KindRejected.
//
// Rate limits (exchange/internal/gate). Budgets as documented in
// docs/v5/rate-limit: 600 REST requests per 5 s per IP, and per UID
// order/create and order/cancel 20/s (spot), order/realtime,
// order/history, execution/list and wallet-balance 50/s, with Headroom
// kept back. X-Bapi-Limit-Status (what is left for the endpoint) raises a
// budget's count; a rate-limit answer blocks every request until its
// reset time; a ban opens the circuit until it ends; BreakerThreshold
// consecutive failures (transport, 5XX, unknown outcomes) open it for
// BreakerCooldown. Nothing is sent while blocked: the refusal is a
// KindRateLimited error with the wait. Circuit reports it.
//
// Private stream (RunPrivate). /v5/private, auth, subscribe order.spot and
// execution.spot. After every subscription a REST reconciliation (open
// orders; fills since ReconcileOverlap before the last fill seen, in ≤ 7-day
// windows of GET /v5/execution/list, following cursors; the state of every
// order in flight) because Bybit replays nothing; only then the sink hears
// OnStream(true). While the stream is down, and for an order the stream
// has said nothing about for PollStaleAfter (a silent stream), the orders
// this client placed are polled by client id with their fills. A frame
// that cannot be read ends the connection (it may have held a fill; the
// reconciliation recovers it). Fills: the execution id is the trade id,
// execFee is positive when paid (Bybit prints it so); a spot execution
// without feeCurrency (the documented examples have none) is charged in
// the asset received, base on a buy and quote on a sell (counted in
// FeeAssetInferred). An execution of a configured instrument that cannot
// be read or whose numbers do not fit the instrument's scale (a fill that
// would be lost), and an order whose numbers do not fit, are broken
// invariants: logged at error level, counted, and the circuit opens until
// Resume (orders refused; cancels and lookups work).
//
// Fast path. Each of MaxInFlight order slots owns its buffers, a keyed
// HMAC state, and a reusable POST request whose header map and in-memory
// body are rewritten in place: building and signing allocate nothing but
// the header string net/http needs and the request copy that carries ctx;
// the trade socket path allocates nothing of its own. Answers are read
// with jsonscan (tradeparse.go), keys in any order. BENCHMARKS.md has the
// figures.
//
// # Real data
//
// realdata_test.go replays what Bybit really sent (cryptofeed's 2026
// recording in ../shared/realframes): the spot connection (orderbook.200
// BTCUSDT and ETHUSDT, 548 deltas, cts, other topics on the same
// connection) and the linear one (the same protocol, four perpetuals, 1594
// deltas), frame by frame at their receive times, every published book
// compared with an independent encoding/json + decimal reading that also
// checks u contiguous and seq monotonic on the venue's own ids; and the
// captured orderbook.1 messages through a bbo session.
//
// # Not covered
//
// RSA keys; order.create-batch, amend, cancel over the socket; execution.fast
// (no fees) and the wallet topic (balances are fetched); markets other
// than spot; depth 1000 end to end (exchange/sim serves 1, 50 and 200
// only); more topics than one public connection may carry (21,000
// characters) and the 500-connections-per-5-minutes limit beyond what the
// backoff gives.
package bybit
