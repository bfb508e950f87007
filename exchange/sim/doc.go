// Package sim runs local venues that speak the real public protocols of
// Binance spot, OKX v5 and Bybit v5 over loopback websockets and HTTP, so the
// daemon runs offline with its real adapters and end-to-end tests can inject
// faults. It is written from the venues' documentation only (the folder
// shared/venue-docs), independently of the adapters, so that the two cannot
// share a misreading; it imports no adapter.
//
// # Market model
//
// Each canonical symbol (BTC-USDT, …) has one seeded price process shared by
// every venue: a Gaussian step of VolBps per step with a weak pull back to
// its base price. Each venue quotes it at its own permanent offset (bps) and,
// now and then, with a dislocation: for a random number of steps one venue's
// book jumps by a random 5–40 bps (configurable), which is where cross-venue
// opportunities come from — some smaller than two taker fees, some larger.
//
// Each venue keeps a full L2 book per symbol (Levels per side, integer prices
// on the tick grid and sizes on the step grid, in the symbol's num.Scale).
// Every step (StepInterval, 100 ms by default) the book recentres on the
// venue's mid (levels the mid moved through vanish, a new best level appears
// on the side that opened), then makes one to three random size changes,
// deletes or inserts, and keeps its level count in range. Every level stays
// within bids ≤ mid−h < mid+h ≤ asks, so a book is never crossed. A step that
// changes nothing (a quiet period) publishes nothing and the sequence does not
// move.
//
// A step that changes the book publishes one state: the venue's own sequence
// field advances (Binance update ids by the number of level changes, so
// u−U+1 is the change count; OKX seqId likewise; Bybit's cross sequence
// "seq" likewise), the state is recorded in a bounded history, and each
// channel sends what the documentation says it sends. BookAt, Seq, Book and
// FaultRecord.Seq name states by that field — the venue's own sequence
// field: Binance u/lastUpdateId, OKX seqId, Bybit seq. Bybit's update id u is
// not a state's: each topic (orderbook.1/50/200.<SYM>) counts its own pushes,
// +1 per push, the same numbers for every subscriber ("next u should follow
// previous u + 1", docs/v5/sbe/level-50; u=1 means a service restart), and a
// topic pushes only when its top N changed, so orderbook.50 and orderbook.200
// carry different u for one state and share its seq.
//
// The randomness comes from math/rand/v2 PCG sources derived from Seed per
// symbol and per venue+book (and per Bybit book for the topics' starting u),
// and steps run in a fixed order (symbols, then venues in configuration
// order, then symbols), so what is generated — prices, levels, sequence
// numbers — depends only on Seed and the number of steps, even though a
// wall-clock ticker drives them. Orders are the only
// outside input that changes books: a fill consumes liquidity in the live
// book at once, and the next update publishes it.
//
// # Channels and views
//
// Every channel keeps what it last sent (a "view") and sends what changed
// since when its interval comes. A Binance diff-depth event (every 100 ms or
// 1000 ms) carries every level touched since the previous event with its
// quantity now (0 if gone) and U = the previous u + 1, so an aggregated event
// covers several states and applies to a snapshot taken anywhere inside them.
// OKX books (top 400) and Bybit depth 50/200 send per state the difference of
// the top N (a level leaving the top N is a delete, one entering it an
// insert). A new OKX or Bybit subscriber gets a snapshot of the view, which
// the next update continues (a Bybit snapshot carries the levels, u and seq
// of the topic's last push: one state, even while market data is paused); a
// Binance client joins the stream and fetches the REST snapshot, whose
// lastUpdateId is the last published state, so the documented sync
// procedure works. Numbers are printed as each venue's
// documentation shows them: Binance with 8 decimals ("25.35190000"), OKX
// trimmed ("8476.98", "8477"), Bybit with the tick's and step's written
// decimals ("30247.20"); OKX checksums are computed over exactly those strings.
//
// # Trading
//
// Each venue has one account (VenueConfig.Balances: asset → starting
// amount), kept exactly with 8 decimals. An order reserves what it may
// spend — a buy its limit price × quantity of the quote asset, a sell its
// quantity of the base asset — and is refused with the venue's
// insufficient-balance error when the free balance does not cover it. A
// fill moves the balances exactly: the buyer pays price × quantity of
// quote and receives the quantity of base less the fee, the seller the
// reverse with the fee in quote (the fee is always taken from what the
// order receives, at the taker rate FeeBps, or MakerFeeBps for a resting
// order filled as the maker, rounded half up to 8 decimals).
//
// Orders are LIMIT: IOC and FOK take what the live book offers at once
// (one fill per level, best first; the consumed liquidity leaves the book
// and the next update publishes it) and the remainder expires; GTC takes
// what crosses and rests. A resting order fills at its own price, as the
// maker, when a later step's book crosses it, for as much as the crossing
// levels hold (the public book is left as it is: those fills are flow the
// book does not show). Orders can be queried by the venue's order id or the
// client order id (the latest order with it), cancelled while open, listed
// while open, and their fills listed; the client order id rules are each
// venue's (see clientIDInUse): Binance and OKX refuse an id held by an open
// order and accept it again once that order is done, Bybit refuses any
// reuse. Every request is logged with its arrival time and answer
// (Requests; RetryAfterViolations lists those that came inside an
// announced wait), every order kept (Orders, OrdersByClientID,
// DuplicateClientIDs), every fill recorded (Fills), and balances can be
// read (Balance) or topped up (Deposit), so tests can check a trading
// client at the venue.
//
// Every change of an order (accepted, each fill, expired, cancelled) is
// pushed at once on the venue's private streams in its documented format,
// and every change of the account after the request or step that made it;
// a connection that is not there misses it: nothing is sent on subscribing
// and nothing is replayed after a reconnect, as the three venues document.
// A client recovers what it missed over REST (open orders, fills, the
// order by client id). URLs names the private and order-entry endpoints.
//
// # What each venue covers
//
// Binance spot: /ws/<stream>[/<stream>…] raw streams, /stream?streams=a/b
// combined streams ({"stream","data"}), SUBSCRIBE, UNSUBSCRIBE,
// LIST_SUBSCRIPTIONS, SET_PROPERTY/GET_PROPERTY combined, the documented
// {code,msg} errors (wrapped as {"error":{…},"id":…} as the live venue does),
// at most 5 incoming messages per second; streams <sym>@depth,
// <sym>@depth@100ms, <sym>@bookTicker, <sym>@depth5|10|20[@100ms]; trade and
// ticker streams are accepted and stay silent; server ping frames every 20 s,
// close without an answering pong for 60 s, 24 h lifetime. REST GET
// /api/v3/depth, /api/v3/exchangeInfo, /api/v3/time; SIGNED (HMAC-SHA256
// hex over query string + body, or Ed25519 base64 with the account's
// Ed25519 key; recvWindow and timestamp rules) POST, GET and DELETE
// /api/v3/order (LIMIT GTC/IOC/FOK; ACK/RESULT/FULL answers; query and
// cancel by orderId or origClientOrderId: -2013 and -2011 "Unknown order
// sent." when unknown; -2010 "Duplicate order sent."), GET
// /api/v3/openOrders, GET /api/v3/myTrades (the documented parameter
// combinations, -1128 otherwise, 24 h window -1127, limit 500/1000), GET
// /api/v3/account (omitZeroBalances); X-MBX-USED-WEIGHT-1M on every answer
// with the documented weights (successful orders and cancels weigh 0 since
// 2026-04-02) and a 6000/min limit, X-MBX-ORDER-COUNT-10S/1D on orders
// (50 per 10 s, 160000 per day: -1015). WebSocket API /ws-api/v3
// (?returnRateLimits=false): requests {"id","method","params"} answered
// {"id","status","result"|"error","rateLimits"}; SIGNED methods with apiKey
// and signature (params but signature sorted by name, name=value joined by
// '&', no percent-encoding; HMAC hex or Ed25519 base64) or on a session
// logged on with session.logon (Ed25519 only; the default config has a
// public test Ed25519 key); methods ping, time, session.logon/status/logout,
// session.subscriptions, userDataStream.subscribe (logged on),
// userDataStream.subscribe.signature (any key), userDataStream.unsubscribe
// (-2035 a second subscription, -2036 none active), order.place,
// order.status, order.cancel, openOrders.status, myTrades, account.status;
// the user data stream's events {"subscriptionId":N,"event":{…}}:
// executionReport (x NEW, TRADE with l/L/n/N/t/m, EXPIRED with eR,
// CANCELED with c/C; X the status; z/Z running totals; W while on the
// book), outboundAccountPosition (the changed assets), eventStreamTerminated
// (unsubscribe, logout); serverShutdown as {"event":{…}}; rate limits as
// status 429/418 with error.data.retryAfter.
//
// OKX v5: /ws/v5/public subscribe/unsubscribe with connId acks, errors 60012
// (bad request) and 60018 (unknown channel or instId), channels books,
// books5, bbo-tbt, text ping → pong, 30 s idle close, empty keep-alive updates
// (prevSeqId == seqId) after KeepAlive without change, ChecksumZero. REST GET
// /api/v5/public/instruments (with instIdCode), /api/v5/public/time; signed
// (base64 HMAC-SHA256 over timestamp+METHOD+path+body, ±30 s) POST
// /api/v5/trade/order (ordType limit, ioc, fok; sCode 51016 for a clOrdId
// of a pending order, 51008 insufficient balance), GET /api/v5/trade/order
// (ordId or clOrdId; 51603), POST /api/v5/trade/cancel-order (51400), GET
// /api/v5/trade/orders-pending, GET /api/v5/trade/fills (3 days, billId
// paging after/before, begin/end, limit 100), GET /api/v5/account/balance;
// the documented per-endpoint limits per 2 s (order endpoints per
// instrument): HTTP 429 code 50011. /ws/v5/private: login (base64
// HMAC-SHA256 of timestamp + "GET" + "/users/self/verify", timestamp in
// seconds, ±30 s; errors 60004, 60006, 60007, 60009, 60024, 60031 a second
// login, 60011 before login), channels orders (instType SPOT or ANY,
// optional instId: one push per order change — live, partially_filled or
// filled per fill with fillSz/fillPx/tradeId/fillFee/fillFeeCcy/execType,
// canceled — with accFillSz/avgPx/fee totals, fees negative) and account
// (the changed currencies), each answered with a channel-conn-count event;
// op "order" and "cancel-order" naming the instrument by instIdCode (50014
// without, 51001 unknown, 60013 bad id or args; 60014 under
// FaultRateLimit, 50011 over the per-instrument limit shared with REST);
// expTime is not applied. The private connection keeps the public one's
// 30 s idle rule.
//
// Bybit v5: /v5/public/spot subscribe (at most 10 args), orderbook.1 (snapshot
// only, re-sent unchanged with the same u every 3 s), orderbook.50 and
// orderbook.200 (snapshot then deltas; u contiguous per topic, seq the cross
// sequence), {"op":"ping"} → pong, 10 min idle close. REST GET
// /v5/market/instruments-info, /v5/market/time; signed (hex HMAC-SHA256 over
// timestamp+key+recv_window+payload, server−recv_window ≤ timestamp <
// server+1000), category spot: POST /v5/order/create (Limit GTC/IOC/FOK;
// 170141 for a reused orderLinkId, 170131 insufficient balance), POST
// /v5/order/cancel (170213), GET /v5/order/realtime (open orders; any
// recent order by orderId/orderLinkId; openOnly=1 the last 500 closed),
// GET /v5/execution/list (newest first, 7-day window, cursor), GET
// /v5/account/wallet-balance?accountType=UNIFIED; X-Bapi-Limit,
// X-Bapi-Limit-Status and X-Bapi-Limit-Reset-Timestamp per endpoint and
// second (create/cancel 20, queries 50; over: 10006). /v5/private and
// /v5/trade (idle close after 10 min, or ?max_active_time=30s..600s):
// auth (hex HMAC-SHA256 of
// "GET/realtime" + expires, expires in the future); private topics order,
// execution, execution.fast (all-in-one or .spot, not mixed in one request)
// and wallet, the private pong; /v5/trade order.create and order.cancel with
// header X-BAPI-TIMESTAMP (the REST rule, 10002), reqId ≤ 36 characters not
// repeated on the connection (20006), the answer with its X-Bapi-Limit
// header (limits shared with REST), ping → {"op":"pong"}.
//
// Not covered: market, post-only and other order types, order lists,
// amend and cancel-replace, batch orders (REST and WebSocket), OKX
// fills-history and the fills channel (VIP4+), OKX expTime, Bybit order
// history and the SBE order-entry channel, Binance listenKey streams (gone
// since 2026-02-20) and balanceUpdate/externalLockUpdate events (no
// deposits or transfers besides Deposit, which pushes an account update),
// BNB fee discounts, RSA keys, OKX sequence resets after maintenance,
// Bybit depth 1000. Where the documentation is silent the code says what
// the live venue does, or what the simulator chose, and that it chose so.
//
// # Faults
//
// Inject arms or performs one Fault (see FaultKind) on a venue; FaultLog
// records when each acted and on which state, so tests can reason about it:
// a gap is in what was sent, never in the book (BookAt still has the skipped
// state), a crossed or malformed update is wrong only on the wire. Trading
// faults: a rejected order, a partial fill (a fraction of the next orders'
// quantity), rate limits (Binance's 429 escalating to a 418 ban when a
// request ignores the Retry-After), a delayed or lost acknowledgement (the
// order executes and is pushed at once; the answer comes late, or never:
// REST closes the connection, WebSocket withholds the reply), a private
// stream dropped (at once or when the next order is accepted) or silent
// (open, sending nothing).
//
// # Concurrency
//
// One mutex guards the market, the venues' books, subscriptions, orders,
// accounts and faults; it is held for one step or one request, never across
// I/O (a delayed acknowledgement waits after it is released). Each
// websocket connection has its own bounded queue and writer goroutine: frames
// are queued without blocking, and a connection whose queue is full is cut
// (counted in SlowCuts), so a slow client can never hold up the market or
// other clients. The simulator is not a hot path: it allocates freely and
// uses encoding/json for what it reads.
package sim
