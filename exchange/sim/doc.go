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
// /api/v3/depth, /api/v3/exchangeInfo, /api/v3/time, signed POST
// /api/v3/order (HMAC-SHA256 hex over query string + body, recvWindow and
// timestamp rules, LIMIT IOC/FOK, ACK/RESULT/FULL answers, commission in the
// received asset, partly filled IOC → EXPIRED), weight headers and a 6000/min
// weight limit.
//
// OKX v5: /ws/v5/public subscribe/unsubscribe with connId acks, errors 60012
// (bad request) and 60018 (unknown channel or instId), channels books,
// books5, bbo-tbt, text ping → pong, 30 s idle close, empty keep-alive updates
// (prevSeqId == seqId) after KeepAlive without change, ChecksumZero. REST GET
// /api/v5/public/instruments, signed POST /api/v5/trade/order (base64
// HMAC-SHA256 over timestamp+METHOD+path+body, ±30 s, ordType ioc/fok and
// limit, which never rests here) and GET /api/v5/trade/order.
//
// Bybit v5: /v5/public/spot subscribe (at most 10 args), orderbook.1 (snapshot
// only, re-sent unchanged with the same u every 3 s), orderbook.50 and
// orderbook.200 (snapshot then deltas; u contiguous per topic, seq the cross
// sequence), {"op":"ping"} → pong, 10 min idle close. REST GET /v5/market/instruments-info, signed POST /v5/order/create
// (hex HMAC-SHA256 over timestamp+key+recv_window+body, server−recv_window ≤
// timestamp < server+1000, Limit IOC/FOK) and GET /v5/order/realtime.
//
// Not covered: private streams, user data and execution pushes, resting
// (GTC/PostOnly) and market orders, cancels, balances (orders never fail for
// money unless a fault says so), trades and tickers, RSA/Ed25519 keys, the
// Binance WebSocket API, OKX sequence resets after maintenance, Bybit depth
// 1000. Where the documentation is silent the code says what the live venue
// does and that it chose so.
//
// # Faults
//
// Inject arms or performs one Fault (see FaultKind) on a venue; FaultLog
// records when each acted and on which state, so tests can reason about it:
// a gap is in what was sent, never in the book (BookAt still has the skipped
// state), a crossed or malformed update is wrong only on the wire.
//
// # Concurrency
//
// One mutex guards the market, the venues' books, subscriptions, orders and
// faults; it is held for one step or one request, never across I/O. Each
// websocket connection has its own bounded queue and writer goroutine: frames
// are queued without blocking, and a connection whose queue is full is cut
// (counted in SlowCuts), so a slow client can never hold up the market or
// other clients. The simulator is not a hot path: it allocates freely and
// uses encoding/json for what it reads.
package sim
