// Package okx is the OKX v5 adapter. Its public market-data feed keeps
// OKX's L2 books exactly in sync by the procedure OKX documents and
// publishes each book's top exchange.TopK levels per side as fixed-size
// exchange.BookTop events into the daemon's ring; it parses OKX's
// instrument filters (REST) and implements OKX's request signing. Its
// trading Client places, cancels and queries spot orders (REST and
// WebSocket order entry), reads open orders, fills and balances, and runs
// the private order stream (see "Trading" below).
//
// Sources: https://www.okx.com/docs-v5/en/ — #overview-websocket-subscribe,
// #overview-websocket-login, #order-book-trading-market-data-ws-order-book-channel,
// #overview-rest-authentication-signature, the REST error-code tables, and
// OKX's announcement of the checksum deprecation (21 May 2026). The examples
// used as tests are copied verbatim under testdata/docs.
//
// # Shape
//
// Session is the pure per-connection state machine: frames and times go in
// (HandleFrame, Tick), requests and decisions come out (SubscribeRequests,
// NeedResubscribe/Resubscribe, NeedReconnect, NeedHandover, Synced). It does
// no I/O, starts no goroutine and reads no clock for decisions (Config.Now
// only feeds the ParseLatency metric), so the data-driven scripts in
// testdata/sync, the fuzz targets and the lead's tick-to-decision benchmark
// drive it directly. Feed.Run is the I/O shell around it: dial (at most one
// dial per 400 ms: OKX allows 3 connection requests per second per IP),
// subscribe, read loop (wsx.ReadFrame → HandleFrame → Tick → act), and per
// connection a reader, an idle watchdog (AgeMax) and a keep-alive pinger.
//
// # Channels (Config.Channel)
//
//   - "books" (default): 400 levels, a snapshot and then incremental updates.
//   - "bbo" (or "bbo-tbt"): the wire channel bbo-tbt, one level per side,
//     every push a full best bid/offer carrying ts and seqId.
//   - "books5": five levels per side, every push a full snapshot.
//
// books-l2-tbt and books50-l2-tbt (which need a login and a VIP tier) are
// not supported.
//
// # Sync procedure for "books", as implemented
//
//  1. Subscribe with {"op":"subscribe","args":[{"channel":"books","instId":…},…]},
//     splitting requests so that no request's args exceed 60 KB (OKX: 64 KB).
//     Every subscribe and unsubscribe request counts against a sliding
//     one-hour budget of 450 per connection (OKX: 480 including logins);
//     when it would be exceeded the session asks for a reconnect instead.
//  2. The first push is action "snapshot" (prevSeqId −1): the book is reset
//     to its levels. Any snapshot, at any time, restarts the book.
//  3. Each "update" must have prevSeqId equal to the seqId of the previous
//     message of that book; otherwise it is a gap (Gaps, RejectSequence),
//     the book goes stale (CauseGap) and is rebuilt. An update with
//     prevSeqId == seqId and no levels is the keep-alive OKX sends after
//     about 60 s without change: accepted, nothing published. After
//     maintenance the sequence may reset (seqId < prevSeqId): because
//     continuity is checked on prevSeqId alone, that update is accepted and
//     the chain continues from the smaller seqId — exactly the docs' numbered
//     example, replayed from testdata/docs/ws_seqid_sequence_example.json.
//  4. Merge: per level [px, sz, "0", orderCount], the same price with size 0
//     deletes, any other size replaces (with the new wire strings); a new
//     price is inserted (bids descending, asks ascending). A message is
//     staged and validated completely before it touches the book, so it is
//     applied all or nothing.
//  5. Checksum: 0 means "not provided" (OKX sends 0 in production from 23
//     June 2026). A nonzero checksum is verified on every snapshot and update,
//     keep-alives included: CRC32 (IEEE), read as a signed int32, over the
//     first 25 bids and asks of the merged book interleaved as
//     "bidPx:bidSz:askPx:askSz:…" (a side that runs out is skipped), using the
//     exact strings received (l2 raw mode keeps them; "3000.10" is not
//     "3000.1"). The string is built in a fixed buffer in the Session and
//     hashed with crc32.Update: no allocation. A mismatch counts
//     ChecksumFailures, makes the book stale (CauseChecksum) and rebuilds it.
//  6. Rebuilding a book = unsubscribe + subscribe that instId (one request of
//     each for all books due at once): OKX sends a fresh snapshot for a new
//     subscription. Updates arriving meanwhile (still in flight from the old
//     subscription) are ignored until the snapshot. A book that has not
//     received its snapshot 2×AgeMax after subscribing is resubscribed; after
//     3 resubscriptions in a row that did not bring it back the session asks
//     for a reconnect.
//  7. A crossed book after a message (best bid ≥ best ask) is never
//     published: RejectCrossed, stale (CauseBadData), rebuilt.
//  8. A synced books subscription that received nothing for 90 s (OKX's
//     keep-alive comes after ~60 s) has lost its subscription: stale
//     (CauseAge), rebuilt.
//
// # Full-state channels (bbo-tbt, books5)
//
// Each push replaces the book. seqId orders pushes (no prevSeqId, no
// checksum): a push at the last seqId is a duplicate and dropped (the book
// already shows it); a push below it is either the sequence reset OKX
// documents for maintenance or a replay, which the wire cannot tell apart,
// so the push is dropped, the book goes stale (CauseReset) and that seqId
// becomes the anchor: the next push above it is accepted, whichever case it
// was. Crossed or unparsable pushes make the book stale until the next good
// push; no resubscription is needed. In any full-state push (and in a books
// snapshot) a size of 0 is malformed.
//
// # Bad input
//
// Every refusal is counted (FeedStats.Reject with its reason) and logged
// through a rate limiter with the venue, reason, instrument and a 160-byte
// excerpt; nothing is logged per valid market event. A frame that is not
// valid JSON or not OKX's shape (wrong types, duplicate keys, a level with
// fewer than two entries, escapes where OKX sends none, more than one data
// element, an unknown action) is attributed to the instrument of its "arg"
// if that was read completely first — that book goes stale and is rebuilt —
// and otherwise to every book on the connection. Prices and sizes are parsed
// exactly in the instrument's scale: empty, NaN, negative, exponent, too many
// significant decimals or overflow is RejectNumber. More than 1000 levels per
// side in one message is RejectTooLarge; a frame over MaxFrame
// (wsx.ErrTooLarge) ends the connection (stale CauseBadData, reconnect).
// Pushes for a symbol or channel we did not subscribe to are
// RejectUnknownSymbol and ignored. A push carrying neither seqId nor
// prevSeqId is the format OKX sent before it added them (every push of the
// captured 2022 sessions): not malformed, but impossible to sequence, so it
// is counted as RejectObsolete, logged as "push without seqId", and its
// book is stale and rebuilt.
//
// Levels are converted while they are scanned (jsonscan PairPrefixFixed,
// which agrees exactly with num.ParseUnsigned and keeps the wire strings for
// the checksum) when "arg" precedes "data", as OKX sends it, so the book and
// its scale are known before the first level. If that read fails in any way,
// the frame is read again from the start without converting, and that read
// decides: every rejection reason, log line and stale cause is the
// unconverted path's by construction (FuzzFusedMatchesUnfused compares a
// session that fuses with one that never does on everything observable).
// A frame with "data" before "arg" is converted after the scan. Each level
// is read by one call (PairPrefix or PairPrefixFixed); the level array
// itself therefore no longer counts against jsonscan.MaxDepth, so an ignored
// third or fourth element may nest one level deeper than before
// (FuzzLevelShape: otherwise the same acceptance as the element-by-element
// loop it replaced).
//
// Venue events: {"event":"error"} (e.g. 60012, 60018) is counted as
// RejectUnexpected and logged with its code; if it names an instrument that
// subscription is retried, otherwise — OKX's errors usually carry no arg —
// every book still waiting for its first push is. {"event":"notice"} with
// code 64008 (service upgrade, disconnect announced) starts a handover at
// once. Other events are counted and ignored.
//
// # Liveness and reconnects
//
// The client sends the text "ping" after PingEvery of silence (default 20 s;
// OKX wants N < 30 s), clamped to AgeMax/3, and OKX answers the text "pong",
// which is handled before the JSON scanner. AgeMax (default 5 s) bounds data
// silence: a connection on which nothing but pongs arrived for AgeMax is
// given up — every book stale with CauseAge, reconnect — because a venue
// that answers pings but stops sending data must not keep books "fresh".
// The wsx watchdog closes a connection silent even to pings after AgeMax.
// Consequence for operators: a connection whose instruments may all be quiet
// for longer than AgeMax (illiquid pairs) needs a larger AgeMax (books sends
// a keep-alive per book after ~60 s); otherwise it reconnects.
//
// Quiet synced books are republished every AgeMax/3 (feed.Publisher
// refresh) so consumers that age books by RecvTS keep them.
//
// Any drop publishes stale events for every book (CauseAge for the idle
// watchdog or data silence, CauseBadData for an oversized frame, else
// CauseDisconnect) and redials after a jittered
// exponential backoff (BackoffMin..BackoffMax), reset after a connection
// that got every book in sync.
//
// Handover: OKX documents no maximum connection lifetime. The feed still
// replaces its connection every Lifetime (default 23 h; it also renews the
// hourly subscribe budget and keeps this path exercised), and at once on
// notice 64008. Generation g+1 connects and builds its books silently (its
// Publisher is not the feed.Owner's generation); when all are in sync it
// takes ownership, republishes every book, and g is closed as its owner
// (closed connections publish nothing). If g drops first, g+1 takes over at
// once as the recovery connection; if g+1 fails or does not sync within
// max(4×AgeMax, 10 s), g carries on and the handover is retried after a
// backoff. FeedStats.Reconnects counts every connection established after
// the first, handovers included; Connected is 1 while one publishes.
//
// # REST and signing
//
// FetchInstruments reads GET /api/v5/public/instruments?instType=SPOT
// (tickSz → Tick, lotSz → Step, minSz → MinQty; OKX lists no minimum
// notional for spot) with exact key matching; venue errors become
// *exchange.Error classified by code (see classify). Prehash/Sign/
// SignHeaders/WSLogin implement the documented signature: base64 of
// HMAC-SHA256 over timestamp + METHOD + requestPath(+query) + body, with an
// ISO-8601 millisecond timestamp for REST and Unix seconds with GET
// /users/self/verify for the websocket login. OKX publishes no signature
// vector (its login example's sign does not match its example secret), so
// the tests check the string to sign against the documented example inputs
// and the HMAC against an RFC 2104 construction and openssl.
//
// # Not covered
//
// books-l2-tbt/books50-l2-tbt, OKX's "tickers" channel, and sequence resets
// on bbo-tbt/books5 being told apart from replays (both handled as above).
// # Trading
//
// Client (trade_*.go) implements exchange.Trader, Reconciler, Accounts,
// PrivateStream and CircuitReporter for one OKX account, spot only (tdMode
// cash). Sources: README §2 and §4.2 of shared/venue-docs and the files
// in shared/venue-docs/okx (tests read them there at run time).
//
// Lifecycle and goroutines: NewClient (no I/O) → Start (server clock,
// instIdCodes) → Run in one goroutine (WebSocket order-entry connection,
// clock re-measure every ResyncEvery, which also keeps a REST connection
// warm) and RunPrivate in another (private stream); every other method is
// safe for concurrent use.
//
// Orders. PlaceOrder refuses without sending (KindRejected) what cannot
// be sent as asked: an invalid client id, an unknown instrument, a halted
// venue, and an order that after rounding — buy limit down to the tick,
// sell limit up, quantity down to the step, never worse than the request —
// is below the minimum size or notional. The rounding is integer
// arithmetic in the instrument's scale, exactly equal to shopspring/decimal
// on the same values (TestRoundMatchesDecimal), because tick and step are
// integers there (FetchInstruments refuses finer filters). The body is
// {"instId","tdMode":"cash","clOrdId","side","ordType":"ioc|fok|limit",
// "px","sz"} written into pooled buffers, signed (base64 HMAC-SHA256 over
// timestamp+METHOD+path+body, the MAC reused) and sent with the
// OK-ACCESS-* headers, expTime = venue clock + Expiry (OKX discards a
// request still unprocessed then, which bounds an unknown outcome) and, in
// demo mode, x-simulated-trading: 1. Over WebSocket the order is
// {"id","op":"order","expTime","args":[{"instIdCode",…}]} on a logged-in
// /ws/v5/private connection (instId is ignored by OKX's WS order
// operations since 2026; instIdCode comes from public/instruments). With
// OrderEntry auto (the default, the faster path by BENCHMARKS.md) orders
// take the socket while it is logged in and REST while it is down.
//
// Outcomes. The acknowledgement (code 0, sCode 0, our clOrdId, an ordId)
// is Status New; fills arrive on the private stream. A timeout, a
// connection lost after the write, HTTP 5XX, an unreadable reply, 50004
// (OKX's explicit "unknown"), 50001, 50013, 50026, 51054 and 51149 are
// KindUnknownOutcome: the order is never resent by the client; the caller
// queries its client id. 51016 is KindDuplicate, 51603/51400 KindNotFound,
// 50100–50119 and the WS login codes KindAuth, 50011/50061/60014 and HTTP
// 429/418 KindRateLimited (with RetryAfter), 50102 (timestamp) KindRetryable
// after the clock was re-measured, every other venue code KindRejected.
// OKX keeps a clOrdId unique only among pending orders, so it would take a
// finished IOC order's id again: the client remembers the last 65536 ids
// it sent and refuses to resend one whose order exists (KindDuplicate) or
// may exist (KindUnknownOutcome with the wait until a query can prove it
// absent: after expTime plus the request timeout); an id the venue
// refused, or did not know after that, may be sent again.
//
// Clock. The offset to the venue's clock is measured with GET
// /api/v5/public/time at start (three samples), every ResyncEvery, and after
// 50102 or a WS timestamp error. It is a lower bound (server ts minus the
// local time the reply arrived), so no timestamp we send is ahead of the
// venue's clock; OKX accepts 30 s of difference. The WS login timestamp is
// in seconds.
//
// Rate limits (exchange/internal/gate). Per instrument 60 requests per 2 s
// each for place (REST and WS share it), cancel and order details; per
// account 1000 orders per 2 s (sub-account), orders-pending 60, fills 60,
// fills-history 10, balance 10, public/time 10, instruments 20; 10% kept
// back (Headroom). OKX sends no usage headers: a 50011/50061/60014 marks the
// request's budgets spent for the window. HTTP 429 blocks every request for
// Retry-After (OKX documents none: its 2 s window); HTTP 418 — not an OKX
// code, but what a proxy or ban would send — opens the circuit until
// Retry-After or BanWait. BreakerThreshold failures in a row (transport,
// 5XX, unknown outcome, auth, unreadable) open it for BreakerCooldown.
// Circuit reports all of these, and a halt.
//
// Private stream. RunPrivate logs in on /ws/v5/private, subscribes to
// {"channel":"orders","instType":"SPOT"}, reconciles over REST (fills since
// the newest fill seen minus ReconcileOverlap, open orders, every in-flight
// order of this client that is not open), reports OnStream(true), and
// delivers every push: the order's state and, when the update carries a
// trade (tradeId, fillSz > 0), a Fill (fillFee negative = charged → Fee
// positive). OKX warns pushes repeat and replays nothing after a drop: a
// fill already delivered (the last 8192 by instrument and trade id) is not
// delivered again, and every reconnect reconciles. While the stream is down
// the orders this client placed are polled by client id every PollEvery
// (GET trade/order, and GET trade/fills?ordId= when the order filled more)
// so their states and fills still arrive. A push that cannot be read (or
// whose fill cannot) ends the session, so the reconnect's reconciliation
// reads what it carried over REST. A fill whose price or size does
// not fit the instrument's scale is a broken invariant: logged at error
// level, counted (ScaleViolations), not delivered, and the client halts —
// orders refused, Circuit open with the reason — until Resume.
//
// Not covered by the trading client: margin and derivatives, amend, batch
// orders, the fills channel (VIP4+ only), and order lookup beyond OKX's
// retention (canceled unfilled orders are kept about 2 hours, so a later
// lookup says 51603 for an order that existed without fills).
//
// # Real data
//
// realdata_test.go replays what OKX really sent (../shared/realframes): the
// 2022 connection of cryptofeed (books for a spot pair, a future and a
// swap, 290 pushes, each with OKX's checksum) as it is — every push
// reported as the obsolete format — and with an unbroken seqId chain given
// to each book, at Depth 25 to 400: every push applied, every checksum
// reproduced by an independent encoding/json + decimal + CRC32 reading,
// every book equal to it, and a removed update that touches the top 25
// caught at the next push; plus every single captured message.
//
// # Depth
//
// "books" sends 400 levels per side and from then on only changes: a level
// is sent once, and again only when it changes. The checksum covers the top
// 25. A book that kept fewer than 400 levels would drop levels that later
// move back up into the top 25 (OKX never resends them): in the captured
// 2022 session a depth of 25 fails the checksum on every book within 2–12
// updates, 26 and 30 too, 50 once. So the book always keeps all 400 levels
// the channel sends, whatever Config.Depth says (it is still accepted, for
// configurations that set it), and with 400 levels every checksum of the
// captured session matches (TestRealOKXDepth). OKX keeps its view at 400 by
// deleting the levels that fall out of it, so the book never needs more.
package okx
