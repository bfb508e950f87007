// Package monitoring is arb's monitoring as code: the Grafana dashboards
// (built with Grafana's foundation SDK) and the Prometheus alert rules,
// written out by `go run ./cmd/internal/monitoring/gen` to
// configs/grafana/dashboards/*.json and configs/prometheus/alerts.yml.
// The generated files are committed; a test regenerates them and fails on
// a difference, so the files in the repository are always what this code
// says.
//
// Two dashboards:
//
//   - arb engine (Prometheus, uid arb-engine): feed health per venue,
//     opportunities and plans, risk decisions per rule and the kill switch,
//     execution latency histograms, rate limits and circuit breakers.
//   - arb PnL (PostgreSQL, uid arb-pnl): the ledger's views
//     (ledger/pgstore migration 2) — cumulative realized PnL, PnL per pair
//     and per venue, fees, trades and win rate, expected against realized
//     net per trade, residual exposure, inventory — and the ledger's lag.
//
// Every panel, query and template variable names its datasource by a fixed
// uid (PrometheusUID, LedgerUID) provisioned by
// configs/grafana/provisioning/datasources; the tests check that every
// reference resolves there.
//
// The tests are the point: every PromQL expression of the dashboards and
// every alert rule is evaluated by a real Prometheus scraping a running
// arbd and must return a series; every SQL query runs against the migrated
// ledger schema holding a known set of trades and must return the expected
// numbers; promtool checks the configuration, the rules and the live
// /metrics, and runs a unit test per alert.
package monitoring
