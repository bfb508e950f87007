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
//	POST /api/v1/kill          admin; body {"reason":...} optional
//	POST /api/v1/resume        admin
//	POST /api/v1/rules/reload  admin; 200 {"version":...} or 422 {"error":...}
//
// Admin routes need "Authorization: Bearer <ARB_ADMIN_TOKEN>", compared in
// constant time; without a configured token they answer 403 (admin
// disabled), without or with a wrong token 401. Errors are JSON
// {"error":"..."}; an unknown path is 404, a wrong method 405 with Allow.
// GET routes answer HEAD too. Prices and quantities are exact decimal
// strings supplied by the providers; times are RFC 3339 UTC.
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
