package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"arb/ledger"
	"arb/ledger/pgstore/pgtest"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(ctxT(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// events makes a stream of events: external funding, n fills over three
// venues and two symbols grouped in trades, and the trades' events with
// gas on some legs. Sequences start at 1.
func events(r *rand.Rand, n int) []RawEvent {
	var out []RawEvent
	seq := uint64(0)
	add := func(kind ledger.Kind, subject, msgID string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		seq++
		out = append(out, RawEvent{Seq: seq, Subject: subject, MsgID: msgID, Kind: kind, Body: b})
	}
	for _, v := range []string{"binance", "okx", "bybit"} {
		e := ledger.External{ID: "open-" + v, Venue: v, Asset: "USDT", Amount: d("1000000"), TS: t0}
		add(ledger.KindExternal, ledger.ExternalSubject("arb", v), e.MsgID(), e)
	}
	venues := []string{"binance", "okx", "bybit"}
	for i := 0; i < n; i += 2 {
		tid := fmt.Sprintf("T%d", i/2)
		sym, base := "BTC-USDT", "BTC"
		if r.IntN(2) == 0 {
			sym, base = "ETH-USDT", "ETH"
		}
		bv, sv := venues[r.IntN(3)], venues[r.IntN(3)]
		px := decimal.New(r.Int64N(1000000)+100000, -2)
		qty := decimal.New(r.Int64N(100000)+1, -6)
		ts := t0.Add(time.Duration(i) * time.Second)
		buy := ledger.Fill{Venue: bv, VenueFillID: fmt.Sprintf("f%d", i), ClientOrderID: tid + "b", TradeID: tid, Symbol: sym, Base: base, Quote: "USDT",
			Side: "buy", Price: px, Qty: qty, Fee: d("0.01"), FeeAsset: "USDT", TS: ts}
		sellQty := qty
		state := ledger.StateClosedFlat
		if r.IntN(8) == 0 {
			sellQty, state = qty.Div(decimal.NewFromInt(2)), ledger.StateClosedResidual
		}
		sell := ledger.Fill{Venue: sv, VenueFillID: fmt.Sprintf("f%d", i+1), ClientOrderID: tid + "s", TradeID: tid, Symbol: sym, Base: base, Quote: "USDT",
			Side: "sell", Price: px.Add(decimal.New(r.Int64N(2000)-500, -2)), Qty: sellQty, Fee: d("0.000001"), FeeAsset: "BNB", FeeQuoteRate: d("600.5"), TS: ts.Add(time.Millisecond)}
		closed := ts.Add(time.Second)
		tr := ledger.Trade{ID: tid, PlanID: "P" + tid, Symbol: sym, BuyVenue: bv, SellVenue: sv, State: state, Qty: qty,
			ExpectedNetQuote: d("0.5"), RealizedNetQuote: d("0.4"), OpenedAt: ts, ClosedAt: &closed,
			Legs: []ledger.Leg{
				{Venue: bv, Side: "buy", Purpose: "entry", ClientOrderID: tid + "b", VenueOrderID: "1", Price: px, Qty: qty, FilledQty: qty, AvgPrice: px, Fee: d("0.01"), FeeAsset: "USDT", Status: "filled"},
				{Venue: sv, Side: "sell", Purpose: "entry", ClientOrderID: tid + "s", VenueOrderID: "2", Price: px, Qty: qty, FilledQty: sellQty, AvgPrice: sell.Price, Fee: d("0.000001"), FeeAsset: "BNB", Status: "filled"},
			}}
		if r.IntN(4) == 0 {
			tr.Legs[1].GasQuote, tr.Legs[1].GasAsset, tr.Legs[1].Gas = d("0.31"), "ETH", d("0.0001")
		}
		open := tr
		open.State, open.ClosedAt, open.Legs = ledger.StateOpen, nil, nil
		add(ledger.KindTrade, ledger.TradeSubject("arb"), open.MsgID(), open)
		add(ledger.KindFill, ledger.FillSubject("arb", bv), buy.MsgID(), buy)
		add(ledger.KindFill, ledger.FillSubject("arb", sv), sell.MsgID(), sell)
		add(ledger.KindTrade, ledger.TradeSubject("arb"), tr.MsgID(), tr)
	}
	return out
}

// apply runs events through l in batches of size, as the consumer does,
// writing each batch; it returns the number of fills applied.
func apply(t *testing.T, s *Store, l *ledger.Ledger, evs []RawEvent, size int) {
	t.Helper()
	for start := 0; start < len(evs); start += size {
		// One batch applied, then written, before the next is applied.
		for _, b := range batchesOn(t, l, evs[start:min(start+size, len(evs))], size) {
			if err := s.Write(ctxT(t), b); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// dump renders the ledger tables for comparisons.
func dump(t *testing.T, s *Store) string {
	t.Helper()
	var sb strings.Builder
	for _, q := range []string{
		`SELECT count(*)::text FROM ledger_events`,
		`SELECT string_agg(account || '=' || balance::text, ',' ORDER BY account) FROM balances`,
		`SELECT count(*)::text FROM fills`,
		`SELECT count(*)::text FROM entries`,
		`SELECT string_agg(id || ':' || coalesce(state, '-') || ':' || net_quote::text, ',' ORDER BY id) FROM trades`,
		`SELECT string_agg(client_order_id || ':' || filled_qty::text, ',' ORDER BY client_order_id) FROM orders`,
		`SELECT string_agg(stream || ':' || last_seq::text, ',') FROM consumer_state`,
	} {
		var v *string
		if err := s.pool.QueryRow(ctxT(t), q).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if v != nil {
			sb.WriteString(*v)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

func mustCheck(t *testing.T, s *Store, l *ledger.Ledger) {
	t.Helper()
	v, err := s.Check(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > 0 {
		t.Fatalf("store check: %v", v)
	}
	if v := l.Check(); len(v) > 0 {
		t.Fatalf("ledger check: %v", v)
	}
	if v, err := s.Compare(ctxT(t), l); err != nil || len(v) > 0 {
		t.Fatalf("compare: %v %v", v, err)
	}
}

func TestMigrateFromEmpty(t *testing.T) {
	dsn := pgtest.NewDB(t)
	s := open(t, dsn)
	c, err := s.pool.Acquire(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if v, err := SchemaVersion(ctxT(t), c.Conn()); err != nil || v != LatestVersion() || v < 2 {
		t.Fatalf("version %d %v", v, err)
	}
	// Idempotent: opening again migrates nothing.
	open(t, dsn)
	// A newer schema than this binary knows is refused.
	if _, err := c.Exec(ctxT(t), `INSERT INTO schema_migrations (version, name) VALUES (99, 'future')`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctxT(t), dsn); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("a newer schema opened: %v", err)
	}
}

// TestMigrateFromPrevious: a database written by an earlier version (1,
// and the previous one) is upgraded in place; its rows are kept and read
// by the new views, and its schema ends up identical to one migrated from
// empty.
func TestMigrateFromPrevious(t *testing.T) {
	for _, from := range []int{1, LatestVersion() - 1} {
		t.Run(fmt.Sprintf("from%d", from), func(t *testing.T) { migrateFrom(t, from) })
		if LatestVersion()-1 == 1 {
			break
		}
	}
}

func migrateFrom(t *testing.T, from int) {
	ctx := ctxT(t)
	dsn := pgtest.NewDB(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := Migrate(ctx, conn, from); err != nil {
		t.Fatal(err)
	}
	if v, _ := SchemaVersion(ctx, conn); v != from {
		t.Fatalf("version %d", v)
	}
	// Version 1 has no views yet.
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_views WHERE viewname LIKE 'v\_%'`).Scan(&n); err != nil || (from == 1) != (n == 0) {
		t.Fatalf("views at version %d: %d %v", from, n, err)
	}
	// The earlier version's writer (the same Write: version 2 only adds
	// views and indexes, version 3 drops an index) writes books.
	old := &Store{pool: poolOf(t, dsn)}
	l := ledger.New()
	apply(t, old, l, events(rand.New(rand.NewPCG(1, 2)), 40), 7)
	before := dump(t, old)

	s := open(t, dsn) // migrates to the latest
	if after := dump(t, s); after != before {
		t.Fatalf("upgrade changed the data:\n%s\n%s", before, after)
	}
	mustCheck(t, s, l)
	var net string
	if err := s.pool.QueryRow(ctx, `SELECT sum(net_quote)::text FROM v_pnl_day`).Scan(&net); err != nil {
		t.Fatal(err)
	}
	if want := l.PnL(ledger.Filter{}).Totals[0].Net; !d(net).Equal(want) {
		t.Errorf("v_pnl_day net %s, ledger %s", net, want)
	}
	fresh := open(t, pgtest.NewDB(t))
	if a, b := schema(t, s), schema(t, fresh); a != b {
		t.Errorf("upgraded schema differs from a fresh one:\n%s\n---\n%s", a, b)
	}
}

func poolOf(t *testing.T, dsn string) *pgxpool.Pool {
	p, err := newPool(ctxT(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// schema describes every table, view, column and index.
func schema(t *testing.T, s *Store) string {
	var out string
	err := s.pool.QueryRow(ctxT(t), `SELECT
		(SELECT string_agg(table_name || '.' || column_name || ':' || data_type || ':' || is_nullable, ',' ORDER BY table_name, column_name)
		 FROM information_schema.columns WHERE table_schema = 'public') || ' | ' ||
		(SELECT string_agg(indexname || ':' || indexdef, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public') || ' | ' ||
		(SELECT string_agg(viewname || ':' || definition, ',' ORDER BY viewname) FROM pg_views WHERE schemaname = 'public')`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAppliedTwiceUnchanged: the same events again change nothing — the
// ledger sees duplicates and writes nothing, and a batch written twice is
// refused whole by the fills' unique key, leaving every table as it was.
func TestAppliedTwiceUnchanged(t *testing.T) {
	s := open(t, pgtest.NewDB(t))
	l := ledger.New()
	evs := events(rand.New(rand.NewPCG(3, 4)), 60)
	apply(t, s, l, evs, 16)
	before := dump(t, s)
	mustCheck(t, s, l)

	// Redelivery through the ledger: every event is a duplicate.
	for _, raw := range evs {
		ev, _ := Decode(raw.Kind, raw.Body)
		ev.Seq = raw.Seq
		ch, err := l.Apply(ev)
		if err != nil || ch.Outcome == ledger.Applied {
			t.Fatalf("seq %d applied again: %v %v", raw.Seq, ch.Outcome, err)
		}
	}
	// The same batch written again, behind the ledger's back.
	l2 := ledger.New()
	b := &Batch{Stream: "ARB_TEST", LastSeq: evs[len(evs)-1].Seq}
	for _, raw := range evs {
		ev, _ := Decode(raw.Kind, raw.Body)
		ev.Seq = raw.Seq
		ch, _ := l2.Apply(ev)
		b.Events, b.Changes = append(b.Events, raw), append(b.Changes, ch)
	}
	err := s.Write(ctxT(t), b)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Fatalf("a batch written twice: %v, want a unique violation", err)
	}
	if after := dump(t, s); after != before {
		t.Fatalf("a refused batch changed the tables:\n%s\n%s", before, after)
	}
	// Rebuilt from the stored events, the ledger is the same.
	re, last, err := s.Load(ctxT(t), "ARB_TEST")
	if err != nil {
		t.Fatal(err)
	}
	if last != evs[len(evs)-1].Seq || re.FillCount() != l.FillCount() {
		t.Fatalf("loaded last %d fills %d", last, re.FillCount())
	}
	a, _ := json.Marshal(re.PnL(ledger.Filter{}))
	bb, _ := json.Marshal(l.PnL(ledger.Filter{}))
	if string(a) != string(bb) {
		t.Fatalf("loaded pnl differs:\n%s\n%s", a, bb)
	}
	mustCheck(t, s, re)
}

// TestCheckFindsCorruption: the store's check is not vacuous.
func TestCheckFindsCorruption(t *testing.T) {
	s := open(t, pgtest.NewDB(t))
	l := ledger.New()
	apply(t, s, l, events(rand.New(rand.NewPCG(5, 6)), 10), 100)
	mustCheck(t, s, l)
	ctx := ctxT(t)
	for _, q := range []string{
		`UPDATE balances SET balance = balance + 1 WHERE account = (SELECT min(account) FROM balances)`,
		`UPDATE entries SET amount = amount * 2 WHERE (tx_id, n) = (SELECT tx_id, min(n) FROM entries WHERE tx_id = (SELECT min(tx_id) FROM entries) GROUP BY tx_id)`,
		`UPDATE trades SET net_quote = net_quote + 1 WHERE id = (SELECT min(id) FROM trades)`,
		// A balanced pair of entries of no transaction, and an entry stored
		// twice (no index refuses either since migration 3).
		`INSERT INTO entries (tx_id, n, account, asset, amount) VALUES ('fill:nowhere:1', 0, 'assets:binance:USDT', 'USDT', 1),
			('fill:nowhere:1', 1, 'assets:okx:USDT', 'USDT', -1)`,
		`INSERT INTO entries SELECT * FROM entries WHERE tx_id = (SELECT max(tx_id) FROM entries WHERE tx_id LIKE 'fill:%') AND n = 0`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	v, err := s.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]bool{}
	for _, x := range v {
		rules[x.Rule] = true
	}
	for _, r := range []string{"balanced", "balance", "asset_total", "trade_pnl", "entry_key"} {
		if !rules[r] {
			t.Errorf("missed %s: %v", r, v)
		}
	}
	if v, _ := s.Compare(ctx, l); len(v) == 0 {
		t.Error("compare missed the changed balance")
	}
}

// TestViews: every view runs, and the sums the dashboards read equal the
// ledger's own.
func TestViews(t *testing.T) {
	s := open(t, pgtest.NewDB(t))
	l := ledger.New()
	apply(t, s, l, events(rand.New(rand.NewPCG(7, 8)), 200), 50)
	ctx := ctxT(t)
	views := []string{"v_closed_trades", "v_pnl_minute", "v_pnl_hour", "v_pnl_day", "v_pnl_pair", "v_pnl_venue", "v_fees",
		"v_win_rate", "v_inventory", "v_trade_slippage", "v_residual_exposure"}
	for _, v := range views {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+v).Scan(&n); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if n == 0 {
			t.Errorf("%s is empty", v)
		}
	}
	rep := l.PnL(ledger.Filter{})
	tot := rep.Totals[0]
	for _, c := range []struct {
		q    string
		want decimal.Decimal
	}{
		{`SELECT sum(net_quote)::text FROM v_pnl_minute`, tot.Net},
		{`SELECT sum(net_quote)::text FROM v_pnl_hour`, tot.Net},
		{`SELECT sum(fees_quote)::text FROM v_pnl_day`, tot.Fees},
		{`SELECT sum(gas_quote)::text FROM v_pnl_pair`, tot.Gas},
		{`SELECT sum(fees_quote)::text FROM v_pnl_venue`, tot.Fees},
		{`SELECT sum(amount_quote)::text FROM v_fees`, tot.Fees.Add(tot.Gas)},
		{`SELECT sum(wins)::text FROM v_win_rate`, decimal.NewFromInt(int64(tot.Wins))},
		{`SELECT sum(slippage_quote)::text FROM v_trade_slippage`, tot.Net.Sub(tot.Expected)},
	} {
		var got string
		if err := s.pool.QueryRow(ctx, c.q).Scan(&got); err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		if !d(got).Equal(c.want) {
			t.Errorf("%s = %s, ledger %s", c.q, got, c.want)
		}
	}
	for _, b := range l.Balances(ledger.Filter{}) {
		var got string
		if err := s.pool.QueryRow(ctx, `SELECT balance::text FROM v_inventory WHERE venue = $1 AND asset = $2`, b.Venue, b.Asset).Scan(&got); err != nil {
			t.Fatalf("inventory %s/%s: %v", b.Venue, b.Asset, err)
		}
		if !d(got).Equal(b.Balance) {
			t.Errorf("inventory %s/%s = %s, ledger %s", b.Venue, b.Asset, got, b.Balance)
		}
	}
	var residual int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM v_residual_exposure`).Scan(&residual); err != nil || residual != tot.Residual {
		t.Errorf("residual trades %d, ledger %d (%v)", residual, tot.Residual, err)
	}
}
