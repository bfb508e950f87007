// Package httpapi is arbd's HTTP API (default 127.0.0.1:7420) and the
// building blocks of its Prometheus metrics.
//
// # Routes
//
//	GET  /healthz              200 "ok" while the process serves
//	GET  /readyz               200 {"ready":true}, or 503 {"ready":false,"reason":...}
//	GET  /metrics              Prometheus text format
//	GET  /api/v1/books         [{"venue","symbol","bid","bid_qty","ask","ask_qty","exchange_ts","stale"}]
//	GET  /api/v1/status        StatusReport
//	GET  /api/v1/positions     [Position]
//	GET  /api/v1/pnl           PnLReport
//	POST /api/v1/kill          admin; any body: {"reason":...}, reason=..., or text
//	POST /api/v1/resume        admin
//	POST /api/v1/rules/reload  admin; 200 {"version":...} or 422 {"error":...}
//
// Admin routes need "Authorization: Bearer <ARB_ADMIN_TOKEN>", compared in
// constant time; without a configured token they answer 403 (admin
// disabled), without or with a wrong token 401. Errors are JSON
// {"error":"..."}; an unknown path is 404, a wrong method 405 with Allow.
// GET routes answer HEAD too. Prices and quantities are exact decimal
// strings supplied by the providers; times are RFC 3339 UTC. A request
// whose Host header is not an IP address, localhost or one of
// Config.AllowedHosts is refused (403) on every route: a browser led to the
// API by DNS rebinding sends the attacker's host name.
//
// # Kill and resume
//
// An authenticated kill always engages the switch. The body is read for a
// reason for at most a second and MaxBodyBytes — JSON {"reason":...}, a
// form field reason=... (curl -d), or plain text — and anything it cannot
// use (unknown fields, a reason that is not a string, bad JSON, a body too
// long or too slow, a reason over MaxReasonBytes) is kept as text, truncated
// or dropped with a warning in the answer; never a 400. The answer says what
// was done: engaged or already halted (the first reason is kept), the
// reason in force, whether the halted state was saved (persisted). A resume
// while trading says it changed nothing. Each is one audit line in the log.
//
// A provider that is under load returns ErrBusy: 503 with Retry-After, and
// provider failures are logged at most once a second with a count of the
// lines left out.
//
// # Shape
//
// The server reads the daemon through small interfaces declared here, one
// per concern (Books, Readiness, Status, Positions, PnL, Admin), which the
// wiring implements where the data lives. Each is optional: a nil one
// answers 503, so the API can serve /healthz before the rest is up. Routing
// is an exact-path table rather than http.ServeMux patterns, because a
// catch-all JSON 404 in a ServeMux would also swallow the 405s.
//
// Every limit is explicit: header, read, write and idle timeouts, a body
// cap, a deadline on each provider call, and a graceful shutdown bounded by
// ShutdownTimeout (3 s) when the serving context ends.
//
// # Metrics
//
// The data plane counts with atomics it owns (exchange.FeedStats and the
// like) and never calls Prometheus. Family (counters and gauges) and
// HistogramFamily are collectors that read those values through a callback
// at scrape time; FeedCollector exports every feed's stats with them. Names
// are checked when a family is built: the arb_ prefix, _total on counters
// and only on counters, snake_case labels. A family emitting more than
// MaxSeries series reports a scrape error rather than grow: labels must be
// bounded (venue, symbol, rule, reason, ...).
package httpapi
