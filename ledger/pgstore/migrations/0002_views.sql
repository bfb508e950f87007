-- Migration 2: what the Grafana dashboards read. Every view is documented
-- column by column in ledger/pgstore/doc.go. Money is NUMERIC in the
-- trade's quote asset (the "quote" column says which); only win_rate is a
-- ratio (double precision).

CREATE INDEX trades_closed_at_idx ON trades (closed_at);

-- Closed trades with the ledger's PnL, the base of the time series.
CREATE VIEW v_closed_trades AS
SELECT id, symbol, quote, buy_venue, sell_venue, state, opened_at, closed_at,
       gross_quote, fees_quote, gas_quote, net_quote, expected_net_quote,
       net_quote - expected_net_quote AS slippage_quote,
       (net_quote > 0) AS win
FROM trades
WHERE state IN ('closed_flat', 'closed_residual');

CREATE VIEW v_pnl_minute AS
SELECT date_trunc('minute', closed_at) AS bucket, quote,
       count(*) AS trades, count(*) FILTER (WHERE win) AS wins,
       sum(gross_quote) AS gross_quote, sum(fees_quote) AS fees_quote, sum(gas_quote) AS gas_quote,
       sum(net_quote) AS net_quote, sum(expected_net_quote) AS expected_net_quote
FROM v_closed_trades GROUP BY 1, 2;

CREATE VIEW v_pnl_hour AS
SELECT date_trunc('hour', closed_at) AS bucket, quote,
       count(*) AS trades, count(*) FILTER (WHERE win) AS wins,
       sum(gross_quote) AS gross_quote, sum(fees_quote) AS fees_quote, sum(gas_quote) AS gas_quote,
       sum(net_quote) AS net_quote, sum(expected_net_quote) AS expected_net_quote
FROM v_closed_trades GROUP BY 1, 2;

CREATE VIEW v_pnl_day AS
SELECT date_trunc('day', closed_at) AS bucket, quote,
       count(*) AS trades, count(*) FILTER (WHERE win) AS wins,
       sum(gross_quote) AS gross_quote, sum(fees_quote) AS fees_quote, sum(gas_quote) AS gas_quote,
       sum(net_quote) AS net_quote, sum(expected_net_quote) AS expected_net_quote
FROM v_closed_trades GROUP BY 1, 2;

CREATE VIEW v_pnl_pair AS
SELECT symbol, buy_venue, sell_venue, quote,
       count(*) AS trades, count(*) FILTER (WHERE win) AS wins,
       (count(*) FILTER (WHERE win))::double precision / count(*) AS win_rate,
       sum(gross_quote) AS gross_quote, sum(fees_quote) AS fees_quote, sum(gas_quote) AS gas_quote,
       sum(net_quote) AS net_quote, sum(expected_net_quote) AS expected_net_quote,
       sum(slippage_quote) AS slippage_quote
FROM v_closed_trades GROUP BY 1, 2, 3, 4;

CREATE VIEW v_pnl_venue AS
WITH f AS (
    SELECT venue, quote, count(*) AS fills, sum(price * qty) AS notional_quote, sum(fee_quote) AS fees_quote,
           sum(CASE WHEN side = 'sell' THEN price * qty ELSE -(price * qty) END) - sum(fee_quote) AS cash_flow_quote
    FROM fills GROUP BY 1, 2
), t AS (
    SELECT v.venue, quote, count(*) AS trades, sum(net_quote) AS net_quote, sum(slippage_quote) AS slippage_quote
    FROM v_closed_trades, LATERAL (VALUES (buy_venue), (sell_venue)) AS v(venue)
    GROUP BY 1, 2
)
SELECT coalesce(f.venue, t.venue) AS venue, coalesce(f.quote, t.quote) AS quote,
       coalesce(f.fills, 0) AS fills, coalesce(f.notional_quote, 0) AS notional_quote,
       coalesce(f.fees_quote, 0) AS fees_quote, coalesce(f.cash_flow_quote, 0) AS cash_flow_quote,
       coalesce(t.trades, 0) AS trades, coalesce(t.net_quote, 0) AS trade_net_quote,
       coalesce(t.slippage_quote, 0) AS trade_slippage_quote
FROM f FULL JOIN t ON f.venue = t.venue AND f.quote = t.quote;

CREATE VIEW v_fees AS
SELECT date_trunc('day', t.ts) AS day, a.venue, a.asset, t.kind,
       sum(e.amount) AS amount,
       sum(CASE WHEN t.kind = 'fill' THEN f.fee_quote ELSE t.gas_quote END) AS amount_quote,
       min(f.quote) AS quote
FROM entries e
JOIN accounts a ON a.name = e.account AND a.kind = 'fees'
JOIN transactions t ON t.id = e.tx_id
LEFT JOIN fills f ON f.tx_id = t.id
GROUP BY 1, 2, 3, 4;

CREATE VIEW v_win_rate AS
SELECT quote, count(*) AS closed, count(*) FILTER (WHERE win) AS wins,
       (count(*) FILTER (WHERE win))::double precision / count(*) AS win_rate
FROM v_closed_trades GROUP BY 1;

CREATE VIEW v_inventory AS
SELECT a.venue, a.asset, b.balance, b.updated_at
FROM balances b JOIN accounts a ON a.name = b.account
WHERE a.kind = 'holdings';

CREATE VIEW v_trade_slippage AS
SELECT id, symbol, quote, buy_venue, sell_venue, state, opened_at, closed_at, fills,
       expected_net_quote, net_quote, reported_realized_net_quote,
       net_quote - expected_net_quote AS slippage_quote,
       net_quote - reported_realized_net_quote AS ledger_minus_reported_quote
FROM trades
WHERE state IS NOT NULL;

CREATE VIEW v_residual_exposure AS
SELECT id, symbol, quote, buy_venue, sell_venue, state, closed_at,
       residual_base, residual_cost_quote,
       CASE WHEN residual_base <> 0 THEN residual_cost_quote / residual_base END AS residual_avg_price
FROM trades
WHERE residual_base <> 0;
