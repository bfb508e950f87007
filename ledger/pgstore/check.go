package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"arb/ledger"
)

// Check verifies the stored books in SQL and from the stored rows, the
// same properties as ledger.Check: every transaction balances per asset;
// every balance equals the sum of its account's entries; every asset's
// balances sum to zero; every entry belongs to a stored transaction and
// no entry key (transaction, position) is stored twice (migration 3
// dropped the key's index: the transactions' key implies it); every fill
// has its fill transaction and as many
// fill transactions as fills; every trade's stored PnL equals the PnL
// recomputed from its stored fills and gas. It returns at most
// ledger.MaxViolations violations.
func (s *Store) Check(ctx context.Context) ([]ledger.Violation, error) {
	var out []ledger.Violation
	add := func(rule, format string, args ...any) {
		if len(out) < ledger.MaxViolations {
			out = append(out, ledger.Violation{Rule: rule, Msg: fmt.Sprintf(format, args...)})
		}
	}
	queries := []struct {
		rule, sql, format string
	}{
		{"balanced", `SELECT tx_id, asset, sum(amount)::text FROM entries GROUP BY tx_id, asset HAVING sum(amount) <> 0 LIMIT 100`,
			"transaction %s does not balance in %s: entries sum to %s"},
		{"balance", `SELECT coalesce(b.account, e.account), coalesce(b.balance, 0)::text, coalesce(e.total, 0)::text
			FROM balances b FULL JOIN (SELECT account, sum(amount) AS total FROM entries GROUP BY account) e ON e.account = b.account
			WHERE b.balance IS DISTINCT FROM e.total LIMIT 100`,
			"%s holds %s but its entries sum to %s"},
		{"asset_total", `SELECT asset, sum(balance)::text, '' FROM balances GROUP BY asset HAVING sum(balance) <> 0 LIMIT 100`,
			"the balances of %s sum to %s, not zero%s"},
		{"entry_key", `SELECT e.tx_id, e.n::text, CASE WHEN t.id IS NULL THEN 'has no transaction' ELSE 'is stored ' || e.c || ' times' END
			FROM (SELECT tx_id, n, count(*) AS c FROM entries GROUP BY tx_id, n) e LEFT JOIN transactions t ON t.id = e.tx_id
			WHERE e.c > 1 OR t.id IS NULL LIMIT 100`,
			"entry %s/%s %s"},
		{"fill_tx", `SELECT f.venue, f.venue_fill_id, '' FROM fills f LEFT JOIN transactions t ON t.id = f.tx_id
			WHERE t.id IS NULL OR t.kind <> 'fill' LIMIT 100`,
			"fill %s/%s has no fill transaction%s"},
		{"fill_count", `SELECT (SELECT count(*) FROM fills)::text, (SELECT count(*) FROM transactions WHERE kind = 'fill')::text, ''
			WHERE (SELECT count(*) FROM fills) <> (SELECT count(*) FROM transactions WHERE kind = 'fill')`,
			"%s fills but %s fill transactions%s"},
	}
	for _, q := range queries {
		rows, err := s.pool.Query(ctx, q.sql)
		if err != nil {
			return nil, fmt.Errorf("pgstore: check %s: %w", q.rule, err)
		}
		var a, b, c string
		if _, err := pgx.ForEachRow(rows, []any{&a, &b, &c}, func() error { add(q.rule, q.format, a, b, c); return nil }); err != nil {
			return nil, fmt.Errorf("pgstore: check %s: %w", q.rule, err)
		}
	}
	if err := s.checkTrades(ctx, add); err != nil {
		return nil, err
	}
	return out, nil
}

// checkTrades recomputes every trade's PnL from the fills and gas rows.
func (s *Store) checkTrades(ctx context.Context, add func(rule, format string, args ...any)) error {
	fills := map[string][]ledger.Fill{}
	rows, err := s.pool.Query(ctx, `SELECT trade_id, venue, venue_fill_id, symbol, base, quote, side, price, qty, fee, fee_asset,
		fee_quote_rate, ts_unix_ns FROM fills WHERE trade_id IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("pgstore: check trades: %w", err)
	}
	var f ledger.Fill
	var price, qty, fee, rate pgtype.Numeric
	var ns int64
	_, err = pgx.ForEachRow(rows, []any{&f.TradeID, &f.Venue, &f.VenueFillID, &f.Symbol, &f.Base, &f.Quote, &f.Side,
		&price, &qty, &fee, &f.FeeAsset, &rate, &ns}, func() error {
		var err error
		for _, p := range []struct {
			dst *decimal.Decimal
			src pgtype.Numeric
		}{{&f.Price, price}, {&f.Qty, qty}, {&f.Fee, fee}, {&f.FeeQuoteRate, rate}} {
			if *p.dst, err = fromNumeric(p.src); err != nil {
				return err
			}
		}
		f.TS = unixNano(ns)
		fills[f.TradeID] = append(fills[f.TradeID], f)
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: check trades: %w", err)
	}
	gas := map[string][]ledger.GasBooking{}
	rows, err = s.pool.Query(ctx, `SELECT trade_id, id, coalesce(gas_quote, 0) FROM transactions WHERE kind = 'gas'`)
	if err != nil {
		return fmt.Errorf("pgstore: check trades: %w", err)
	}
	var tradeID, txID string
	var gq pgtype.Numeric
	_, err = pgx.ForEachRow(rows, []any{&tradeID, &txID, &gq}, func() error {
		q, err := fromNumeric(gq)
		gas[tradeID] = append(gas[tradeID], ledger.GasBooking{TxID: txID, Quote: q})
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: check trades: %w", err)
	}
	rows, err = s.pool.Query(ctx, `SELECT id, fills, bought_base, sold_base, buy_quote, sell_quote, gross_quote, fees_quote,
		gas_quote, net_quote, residual_base, residual_cost_quote FROM trades`)
	if err != nil {
		return fmt.Errorf("pgstore: check trades: %w", err)
	}
	var id string
	var n int
	nums := make([]pgtype.Numeric, 10)
	dst := []any{&id, &n}
	for i := range nums {
		dst = append(dst, &nums[i])
	}
	seen := map[string]bool{}
	_, err = pgx.ForEachRow(rows, dst, func() error {
		seen[id] = true
		var v [10]decimal.Decimal
		for i := range nums {
			var err error
			if v[i], err = fromNumeric(nums[i]); err != nil {
				return err
			}
		}
		got := ledger.TradePnL{BoughtBase: v[0], SoldBase: v[1], BuyQuote: v[2], SellQuote: v[3], Gross: v[4], FeesQuote: v[5],
			GasQuote: v[6], Net: v[7], ResidualBase: v[8], ResidualCost: v[9]}
		want := ledger.ComputeTradePnL(fills[id], gas[id])
		if !got.Equal(&want) {
			add("trade_pnl", "trade %s: net %s stored, %s from its fills", id, got.Net, want.Net)
		}
		if n != len(fills[id]) {
			add("trade_pnl", "trade %s: %d fills counted, %d stored", id, n, len(fills[id]))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: check trades: %w", err)
	}
	for id := range fills {
		if !seen[id] {
			add("trade_pnl", "fills of trade %s but no trade row", id)
		}
	}
	return nil
}

// Compare checks that the stored tables hold what the ledger l (rebuilt
// from the stored events, see Load) holds: the same balances per account
// and the same number of fills and transactions.
func (s *Store) Compare(ctx context.Context, l *ledger.Ledger) ([]ledger.Violation, error) {
	var out []ledger.Violation
	add := func(format string, args ...any) {
		if len(out) < ledger.MaxViolations {
			out = append(out, ledger.Violation{Rule: "store", Msg: fmt.Sprintf(format, args...)})
		}
	}
	stored := map[string]decimal.Decimal{}
	rows, err := s.pool.Query(ctx, `SELECT account, balance FROM balances`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: compare: %w", err)
	}
	var name string
	var bal pgtype.Numeric
	_, err = pgx.ForEachRow(rows, []any{&name, &bal}, func() error {
		d, err := fromNumeric(bal)
		stored[name] = d
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: compare: %w", err)
	}
	for _, ab := range l.AccountBalances() {
		n := ab.Account.String()
		if got, ok := stored[n]; !ok || !got.Equal(ab.Balance) {
			add("%s: stored %s, events give %s", n, got, ab.Balance)
		}
		delete(stored, n)
	}
	for n, b := range stored {
		add("%s: stored %s, not in the events", n, b)
	}
	var fills, txs int64
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM fills), (SELECT count(*) FROM transactions)`).Scan(&fills, &txs); err != nil {
		return nil, fmt.Errorf("pgstore: compare: %w", err)
	}
	if fills != int64(l.FillCount()) || txs != int64(len(l.Transactions())) {
		add("%d fills and %d transactions stored, the events give %d and %d", fills, txs, l.FillCount(), len(l.Transactions()))
	}
	return out, nil
}

// Verify is `arb ledger check` on a store: it rebuilds the ledger from the
// stored events of stream, checks it (ledger.Check), checks the tables
// (Check), and compares the two (Compare). No violation means every
// invariant holds.
func (s *Store) Verify(ctx context.Context, stream string) (*ledger.Ledger, []ledger.Violation, error) {
	l, _, err := s.Load(ctx, stream)
	if err != nil {
		return nil, nil, err
	}
	out := l.Check()
	v, err := s.Check(ctx)
	if err != nil {
		return nil, nil, err
	}
	out = append(out, v...)
	v, err = s.Compare(ctx, l)
	if err != nil {
		return nil, nil, err
	}
	out = append(out, v...)
	if len(out) > ledger.MaxViolations {
		out = out[:ledger.MaxViolations]
	}
	return l, out, nil
}
