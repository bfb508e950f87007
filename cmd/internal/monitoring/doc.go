// Package monitoring is arb's monitoring as code: the Grafana dashboards
// (built with Grafana's foundation SDK), the Prometheus alert rules and
// their promtool unit tests, written out by
//
//	go run ./cmd/internal/monitoring/gen
//
// to configs/grafana/dashboards/{engine,pnl}.json,
// configs/prometheus/alerts.yml and configs/prometheus/alerts_test.yml.
// The generated files are committed; TestGeneratedFilesCurrent regenerates
// them and fails on a difference, so the files in the repository are what
// this code says. Hand-written beside them: configs/prometheus/prometheus.yml,
// configs/grafana/provisioning/ and configs/postgres/initdb/.
//
// Two dashboards:
//
//   - arb engine (Prometheus, uid arb-engine; engine.go): state at a
//     glance, feed health per venue, opportunities and plans, risk decisions
//     per rule and the kill switch, execution (trades, residual exposure,
//     latency quantiles from the histograms: tick to decision, tick to
//     order, ...), rate-limit budgets and blocks, circuit breakers, order
//     results and error rates.
//   - arb PnL (PostgreSQL, uid arb-pnl; pnl.go): the ledger's views
//     (ledger/pgstore migration 2): realized PnL, fees, trades, win rate,
//     per pair and per venue, expected against realized net per trade,
//     residual exposure, inventory; the ledger's lag and position.
//
// Every panel, query and template variable names its datasource by a fixed
// uid (PrometheusUID, LedgerUID) that configs/grafana/provisioning
// provisions. The foundation SDK has no PostgreSQL query type: SQLQuery is
// one, after the SDK's custom query recipe.
//
// Alerts (alerts.go) carry, beside each condition, the expressions it is
// built from without its threshold (Series); their unit tests (AlertCases,
// alertcases.go) give each alert a case where it fires and a check where it
// must not.
//
// The tests are the point, and read the committed files, not the builders:
//
//   - TestPromQL runs Debian's prometheus with prometheus.yml and alerts.yml
//     against a running arbd that trades the simulated venues, and evaluates
//     every PromQL expression of the dashboards (with the variables at All,
//     and again with a selection) and every alert's Series: each returns a
//     series, each histogram quantile a number; the rules evaluate cleanly
//     and none fires. pendingMetrics would list metrics arbd does not export
//     yet (it is empty).
//   - promtool: check config, check rules, check metrics on the live
//     /metrics, test rules — and each alert's tests fail with its threshold
//     moved.
//   - TestPnLQueries runs every SQL query of the PnL dashboard, with
//     Grafana's macros and variables expanded as Grafana does, against a
//     database migrated by pgstore holding a known set of trades written
//     through the ledger, and compares every row with numbers worked out by
//     hand; TestGrafanaReaderRole runs them as the read-only role the
//     PostgreSQL init script creates.
//   - TestDashboardSchema decodes the dashboards with the SDK's strict
//     decoders, generated from Grafana's published dashboard schema (the
//     JSON Schema itself ships in neither the Go module nor the npm
//     packages); TestDatasourceReferences resolves every datasource.
//   - TestCompose checks compose.yaml structurally (no Docker engine here).
package monitoring
