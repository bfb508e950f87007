// Package pgstore keeps the ledger in PostgreSQL (pgx/v5): the adapter
// behind the pure ledger package. It never computes money itself: the
// ledger applies each event and returns a ledger.Change, and the store
// writes the changes of a batch of events in one database transaction.
//
// # Schema and migrations
//
// Versioned migrations are embedded (migrations/NNNN_name.sql) and run at
// Open, each in its own transaction under an advisory lock, recorded in
// schema_migrations; a database newer than the binary is refused.
// Version 1 holds the tables, version 2 the dashboard views and their
// indexes; version 3 drops the entries' primary key (the transactions'
// key implies it; Check verifies it). Amounts are NUMERIC, converted exactly from and to
// shopspring/decimal (coefficient and exponent, never text or float).
//
//	ledger_events   every event applied, as received (stream, seq, subject, msg_id, kind, body):
//	                Load replays them to rebuild the in-memory ledger
//	consumer_state  the highest stream sequence committed per stream
//	accounts        name (assets:binance:BTC), kind, venue, asset
//	transactions    id (the idempotency key), kind (fill, gas, external), ts, venue, trade_id, memo, gas_quote
//	entries         tx_id, n, account, asset, amount (≠ 0; + debit, − credit); no index
//	balances        account, asset, balance (the sum of the account's entries)
//	fills           the Fills contract plus fee_quote_rate, fee_quote, ts_unix_ns; primary key (venue, venue_fill_id)
//	trades          the latest trade event plus the ledger's PnL (TradePnL columns)
//	orders          the trades' legs, latest state; primary key (venue, client_order_id)
//
// # Writes
//
// Write stores a Batch in one transaction: events, transactions, entries
// and fills by COPY; accounts, summed balance deltas, trade and order
// upserts and the consumer position pipelined in one round trip. A fill
// already stored fails the unique key and with it the whole batch: a batch
// is all or nothing. Writing is two steps: Encode builds the COPY data
// (PostgreSQL's binary COPY format) and the statements' array parameters
// (binary) without touching the database, reusing its buffers; WriteEncoded
// commits. Pipeline overlaps them: the caller encodes batch N+1 while the
// pipeline's goroutine commits batch N, batches commit in submission
// order, and a failed batch aborts every batch submitted after it until
// Reset. BENCHMARKS.md has the figures against one INSERT per row and one
// commit per fill.
//
// # Views (migration 2), for the dashboards
//
// Money columns are NUMERIC in the asset named by the row's quote column;
// times are timestamptz (UTC); win_rate is double precision (a ratio). A
// trade counts once closed (state closed_flat or closed_residual) and is
// a win when the ledger's net_quote > 0.
//
//	v_closed_trades      id, symbol, quote, buy_venue, sell_venue, state, opened_at, closed_at,
//	                     gross_quote, fees_quote, gas_quote, net_quote, expected_net_quote,
//	                     slippage_quote (net − expected), win (boolean)
//	v_pnl_minute,        bucket (date_trunc of closed_at), quote, trades, wins, gross_quote,
//	v_pnl_hour,          fees_quote, gas_quote, net_quote, expected_net_quote
//	v_pnl_day
//	v_pnl_pair           symbol, buy_venue, sell_venue, quote, trades, wins, win_rate, gross_quote,
//	                     fees_quote, gas_quote, net_quote, expected_net_quote, slippage_quote
//	v_pnl_venue          venue, quote, fills, notional_quote (Σ price × qty), fees_quote,
//	                     cash_flow_quote (sells − buys − fees: a venue's side of the arbitrage),
//	                     trades (closed trades with a leg there), trade_net_quote and
//	                     trade_slippage_quote (of those trades, each counted on both its venues)
//	v_fees               day, venue, asset (the asset charged), kind (fill or gas),
//	                     amount (in asset), amount_quote (converted at the recorded rate), quote
//	v_win_rate           quote, closed, wins, win_rate
//	v_inventory          venue, asset, balance, updated_at (the holdings accounts: positions)
//	v_trade_slippage     id, symbol, quote, buy_venue, sell_venue, state, opened_at, closed_at, fills,
//	                     expected_net_quote, net_quote, reported_realized_net_quote (the executor's),
//	                     slippage_quote (net − expected), ledger_minus_reported_quote
//	v_residual_exposure  id, symbol, quote, buy_venue, sell_venue, state, closed_at, residual_base
//	                     (+ long, − short), residual_cost_quote, residual_avg_price (cost ÷ base,
//	                     for display)
//
// Check verifies the stored books with SQL and a recomputation of every
// trade's PnL from the stored fills; Compare checks them against a ledger
// rebuilt from ledger_events. pgtest gives tests a database of their own.
package pgstore
