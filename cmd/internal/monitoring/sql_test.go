package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"arb/ledger"
	"arb/ledger/pgstore"
	"arb/ledger/pgstore/pgtest"
)

// The PnL dashboard's SQL, run against the ledger schema as arbd's store
// migrates it, holding a known set of trades written through the ledger's
// own API (events decoded as the consumer decodes them, applied by
// ledger.Ledger, stored by pgstore.Store.Write). Every query's answer is
// compared, cell by cell, with numbers worked out by hand below.

// t0 is the start of the dashboard's time range in the tests: 00:00 UTC,
// so that one trade falls on the day before (the fees table works in whole
// UTC days).
var t0 = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// knownEvents is the ledger's input, in stream order:
//
//	funding (t0−2h)  binance USDT 100000, BTC 2; okx USDT 100000, BTC 2, ETH 10;
//	                 bybit USDT 100000, ETH 10, BTC 2, BNB 1
//	T0 (t0−30m)      BTC-USDT buy binance 0.1 @ 50000 (fee 5 USDT), sell okx 0.1 @ 50100 (fee 5.01 USDT)
//	                 gross 10.0, fees 10.01, net −0.01, expected 1.00: a loss, before the range
//	T1 (t0+10m)      BTC-USDT buy binance 0.1 @ 50000 (fee 5 USDT), sell okx 0.1 @ 50200 (fee 5.02 USDT)
//	                 gross 20.0, fees 10.02, net 9.98, expected 10.50, slippage −0.52
//	T2 (t0+20m)      ETH-USDT buy okx 2 @ 3000 (fee 6 USDT), sell bybit 2 @ 3010 (fee 0.01 BNB at 600 = 6.00)
//	                 gross 20, fees 12.00, net 8.00, expected 7.50, slippage +0.50; executor said 8.10
//	T3 (t0+30m)      BTC-USDT buy bybit 0.2 @ 49000 (fee 9.8 USDT, gas 0.0002 ETH = 0.5), sell binance 0.15 @ 49100
//	                 (fee 7.365 USDT): closed_residual, residual 0.05 BTC at cost 2450; gross 15.00,
//	                 fees 17.165, gas 0.5, net −2.665, expected 3.00, slippage −5.665
//	T4 (t0+40m)      BTC-USDT okx → bybit, still open (no fills)
func knownEvents() []pgstore.RawEvent {
	var out []pgstore.RawEvent
	seq := uint64(0)
	add := func(kind ledger.Kind, subject, msgID string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		seq++
		out = append(out, pgstore.RawEvent{Seq: seq, Subject: subject, MsgID: msgID, Kind: kind, Body: b})
	}
	for _, f := range []struct{ venue, asset, amount string }{
		{"binance", "USDT", "100000"}, {"binance", "BTC", "2"},
		{"okx", "USDT", "100000"}, {"okx", "BTC", "2"}, {"okx", "ETH", "10"},
		{"bybit", "USDT", "100000"}, {"bybit", "ETH", "10"}, {"bybit", "BTC", "2"}, {"bybit", "BNB", "1"},
	} {
		e := ledger.External{ID: "fund-" + f.venue + "-" + f.asset, Venue: f.venue, Asset: f.asset, Amount: dec(f.amount), TS: t0.Add(-2 * time.Hour)}
		add(ledger.KindExternal, ledger.ExternalSubject("arb", f.venue), e.MsgID(), e)
	}
	type leg struct {
		venue, side, price, qty, fee, feeAsset, feeRate string
		gasQuote, gasAsset, gas                         string
	}
	trade := func(id, sym string, at time.Duration, state, expected, reported string, buy, sell leg) {
		base, quote, _ := strings.Cut(sym, "-")
		ts := t0.Add(at)
		closed := ts.Add(time.Second)
		tr := ledger.Trade{ID: id, PlanID: "P" + id, Symbol: sym, BuyVenue: buy.venue, SellVenue: sell.venue, State: state,
			Qty: dec(buy.qty), ExpectedNetQuote: dec(expected), RealizedNetQuote: dec(reported), OpenedAt: ts, ClosedAt: &closed}
		open := tr
		open.State, open.ClosedAt, open.RealizedNetQuote = ledger.StateOpen, nil, decimal.Zero
		add(ledger.KindTrade, ledger.TradeSubject("arb"), open.MsgID(), open)
		if state == ledger.StateOpen {
			return
		}
		for i, l := range []leg{buy, sell} {
			f := ledger.Fill{Venue: l.venue, VenueFillID: id + "-" + l.side, ClientOrderID: id + l.side[:1], TradeID: id,
				Symbol: sym, Base: base, Quote: quote, Side: l.side, Price: dec(l.price), Qty: dec(l.qty),
				Fee: dec(l.fee), FeeAsset: l.feeAsset, TS: ts.Add(time.Duration(i) * time.Millisecond)}
			if l.feeRate != "" {
				f.FeeQuoteRate = dec(l.feeRate)
			}
			add(ledger.KindFill, ledger.FillSubject("arb", l.venue), f.MsgID(), f)
			lg := ledger.Leg{Venue: l.venue, Side: l.side, Purpose: "entry", ClientOrderID: f.ClientOrderID, VenueOrderID: "V" + f.ClientOrderID,
				Price: f.Price, Qty: dec(buy.qty), FilledQty: f.Qty, AvgPrice: f.Price, Fee: f.Fee, FeeAsset: f.FeeAsset, Status: "filled"}
			if l.gas != "" {
				lg.GasQuote, lg.GasAsset, lg.Gas = dec(l.gasQuote), l.gasAsset, dec(l.gas)
			}
			tr.Legs = append(tr.Legs, lg)
		}
		add(ledger.KindTrade, ledger.TradeSubject("arb"), tr.MsgID(), tr)
	}
	trade("T0", "BTC-USDT", -30*time.Minute, ledger.StateClosedFlat, "1.00", "-0.01",
		leg{venue: "binance", side: "buy", price: "50000", qty: "0.1", fee: "5", feeAsset: "USDT"},
		leg{venue: "okx", side: "sell", price: "50100", qty: "0.1", fee: "5.01", feeAsset: "USDT"})
	trade("T1", "BTC-USDT", 10*time.Minute, ledger.StateClosedFlat, "10.50", "9.98",
		leg{venue: "binance", side: "buy", price: "50000", qty: "0.1", fee: "5", feeAsset: "USDT"},
		leg{venue: "okx", side: "sell", price: "50200", qty: "0.1", fee: "5.02", feeAsset: "USDT"})
	trade("T2", "ETH-USDT", 20*time.Minute, ledger.StateClosedFlat, "7.50", "8.10",
		leg{venue: "okx", side: "buy", price: "3000", qty: "2", fee: "6", feeAsset: "USDT"},
		leg{venue: "bybit", side: "sell", price: "3010", qty: "2", fee: "0.01", feeAsset: "BNB", feeRate: "600"})
	trade("T3", "BTC-USDT", 30*time.Minute, ledger.StateClosedResidual, "3.00", "-2.665",
		leg{venue: "bybit", side: "buy", price: "49000", qty: "0.2", fee: "9.8", feeAsset: "USDT", gasQuote: "0.5", gasAsset: "ETH", gas: "0.0002"},
		leg{venue: "binance", side: "sell", price: "49100", qty: "0.15", fee: "7.365", feeAsset: "USDT"})
	trade("T4", "BTC-USDT", 40*time.Minute, ledger.StateOpen, "2.00", "0",
		leg{venue: "okx", side: "buy", price: "50000", qty: "0.1"}, leg{venue: "bybit", side: "sell", price: "50100", qty: "0.1"})
	return out
}

const testStream = "ARB_EVENTS"

// ledgerDB migrates a fresh database with pgstore and writes knownEvents
// through the ledger, as the consumer does (one batch per 5 events).
func ledgerDB(t *testing.T) (*pgx.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := pgtest.NewDB(t)
	s, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := ledger.New()
	evs := knownEvents()
	for start := 0; start < len(evs); start += 5 {
		end := min(start+5, len(evs))
		b := &pgstore.Batch{Stream: testStream, LastSeq: evs[end-1].Seq}
		for _, raw := range evs[start:end] {
			ev, err := pgstore.Decode(raw.Kind, raw.Body)
			if err != nil {
				t.Fatalf("event %d: %v", raw.Seq, err)
			}
			ev.Seq = raw.Seq
			ch, err := l.Apply(ev)
			if err != nil {
				t.Fatalf("event %d: %v", raw.Seq, err)
			}
			if ch.Outcome != ledger.Applied {
				t.Fatalf("event %d: %v", raw.Seq, ch.Outcome)
			}
			b.Events = append(b.Events, raw)
			b.Changes = append(b.Changes, ch)
		}
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Grafana's session: the server's time zone; the tests pin it to UTC,
	// as the PostgreSQL image has it.
	conn, err := pgx.Connect(ctx, dsn+"&timezone=UTC")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, len(evs)
}

// grafanaEnv is what Grafana substitutes into a query: the time range,
// the interval, and each variable's selected values.
type grafanaEnv struct {
	from, to time.Time
	interval string
	vars     map[string][]string
}

var (
	reTimeFilter = regexp.MustCompile(`\$__timeFilter\(([^)]+)\)`)
	reTimeGroup  = regexp.MustCompile(`\$__timeGroupAlias\(([^,]+),\s*'?([0-9]+[smhd])'?\)`)
	reVariable   = regexp.MustCompile(`\$([a-z]+)\b`)
)

// expand applies Grafana's PostgreSQL macros and variable interpolation
// (grafana.com/docs/grafana/latest/datasources/postgres/query-editor):
// $__timeFilter(c) → c BETWEEN 'from' AND 'to' (RFC 3339 UTC),
// $__timeFrom()/$__timeTo() → the bounds, $__timeGroupAlias(c, 5m) →
// floor(extract(epoch from c)/300)*300 AS "time", and a multi-value
// variable → its values quoted and comma-separated.
func (g grafanaEnv) expand(t *testing.T, q string) string {
	t.Helper()
	lit := func(x time.Time) string { return "'" + x.UTC().Format(time.RFC3339) + "'" }
	q = strings.ReplaceAll(q, "$__interval", g.interval)
	q = reTimeGroup.ReplaceAllStringFunc(q, func(m string) string {
		p := reTimeGroup.FindStringSubmatch(m)
		d, err := time.ParseDuration(strings.Replace(p[2], "d", "h", 1))
		if err != nil {
			t.Fatalf("interval %s: %v", p[2], err)
		}
		if strings.HasSuffix(p[2], "d") {
			d *= 24
		}
		sec := strconv.Itoa(int(d.Seconds()))
		return `floor(extract(epoch from ` + p[1] + `)/` + sec + `)*` + sec + ` AS "time"`
	})
	q = reTimeFilter.ReplaceAllString(q, "$1 BETWEEN "+lit(g.from)+" AND "+lit(g.to))
	q = strings.ReplaceAll(q, "$__timeFrom()", lit(g.from))
	q = strings.ReplaceAll(q, "$__timeTo()", lit(g.to))
	q = reVariable.ReplaceAllStringFunc(q, func(m string) string {
		vals, ok := g.vars[m[1:]]
		if !ok {
			t.Fatalf("query uses %s, which the test does not set", m)
		}
		quoted := make([]string, len(vals))
		for i, v := range vals {
			quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
		return strings.Join(quoted, ",")
	})
	if strings.Contains(q, "$") {
		t.Fatalf("unexpanded macro or variable in:\n%s", q)
	}
	return q
}

// run executes q with the simple protocol, so every value comes back as
// PostgreSQL's own text (numeric digits exactly as stored).
func run(t *testing.T, conn *pgx.Conn, q string) (cols []string, rows [][]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := conn.PgConn().Exec(ctx, q).ReadAll()
	if err != nil {
		t.Fatalf("%v\nquery:\n%s", err, q)
	}
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("want one result: %d results, %v\nquery:\n%s", len(res), res[0].Err, q)
	}
	for _, f := range res[0].FieldDescriptions {
		cols = append(cols, f.Name)
	}
	for _, r := range res[0].Rows {
		row := make([]string, len(r))
		for i, v := range r {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = string(v)
			}
		}
		rows = append(rows, row)
	}
	return cols, rows
}

// Any matches any value in an expected row (now(): updated_at, say).
const Any = "*"

// sameCell compares a returned value with an expected one: numbers by
// value (NUMERIC keeps the scale of its inputs: 20.0 = 20), times by
// instant, the rest as text.
func sameCell(got, want string) bool {
	if want == Any || got == want {
		return true
	}
	if a, err := decimal.NewFromString(got); err == nil {
		if b, err := decimal.NewFromString(want); err == nil {
			return a.Equal(b)
		}
	}
	if a, err := time.Parse("2006-01-02 15:04:05.999999-07", got); err == nil {
		if b, err := time.Parse(time.RFC3339Nano, want); err == nil {
			return a.Equal(b)
		}
	}
	return false
}

func at(d time.Duration) string       { return t0.Add(d).Format(time.RFC3339Nano) }
func epochAt(d time.Duration) string  { return strconv.FormatInt(t0.Add(d).Unix(), 10) }
func closedAt(d time.Duration) string { return at(d + time.Second) }

// sqlCase is one run of a panel's query: the variables and range, and the
// rows Grafana would receive.
type sqlCase struct {
	name string
	env  func(grafanaEnv) grafanaEnv
	cols []string // checked when set
	rows [][]string
}

func all(g grafanaEnv) grafanaEnv { return g }
func only(name string, vals ...string) func(grafanaEnv) grafanaEnv {
	return func(g grafanaEnv) grafanaEnv {
		v := map[string][]string{}
		for k, x := range g.vars {
			v[k] = x
		}
		v[name] = vals
		g.vars = v
		return g
	}
}
func widerRange(g grafanaEnv) grafanaEnv { g.from = t0.Add(-time.Hour); return g }

// TestPnLQueries runs every SQL query of the PnL dashboard (template
// variables included) against the migrated ledger holding knownEvents, in
// the time range [t0, t0+1h] with every venue and symbol selected, and
// some with a narrower selection, and compares the rows with the numbers
// worked out by hand.
func TestPnLQueries(t *testing.T) {
	conn, nEvents := ledgerDB(t)
	u := "USDT"
	m := func(d time.Duration) time.Duration { return d * time.Minute }
	expect := map[string][]sqlCase{
		"variable venue":  {{name: "all", env: all, rows: [][]string{{"binance"}, {"bybit"}, {"okx"}}}},
		"variable symbol": {{name: "all", env: all, rows: [][]string{{"BTC-USDT"}, {"ETH-USDT"}}}},
		"Realized net PnL": {
			{name: "all", env: all, cols: []string{"quote", "net"}, rows: [][]string{{u, "15.315"}}},
			{name: "ETH only", env: only("symbol", "ETH-USDT"), rows: [][]string{{u, "8.00"}}},
			{name: "a leg on binance", env: only("venue", "binance"), rows: [][]string{{u, "7.315"}}},
			{name: "T0 in range", env: widerRange, rows: [][]string{{u, "15.305"}}},
		},
		"Fees and gas": {
			{name: "all", env: all, rows: [][]string{{u, "39.685"}}},
			{name: "BTC only", env: only("symbol", "BTC-USDT"), rows: [][]string{{u, "27.685"}}},
		},
		"Closed trades": {
			{name: "all", env: all, rows: [][]string{{"3"}}},
			{name: "okx", env: only("venue", "okx"), rows: [][]string{{"2"}}},
			{name: "T0 in range", env: widerRange, rows: [][]string{{"4"}}},
		},
		"Win rate": {
			{name: "all", env: all, cols: []string{"win_rate"}, rows: [][]string{{"0.6666666666666666"}}},
			{name: "T0 in range", env: widerRange, rows: [][]string{{"0.5"}}},
			{name: "bybit", env: only("venue", "bybit"), rows: [][]string{{"0.5"}}},
		},
		"Cumulative realized PnL": {
			{name: "all: the running sum starts before the range", env: all, cols: []string{"time", "metric", "value"}, rows: [][]string{
				{closedAt(m(10)), u, "9.97"}, {closedAt(m(20)), u, "17.97"}, {closedAt(m(30)), u, "15.305"}}},
			{name: "T0 in range", env: widerRange, rows: [][]string{
				{closedAt(m(-30)), u, "-0.01"}, {closedAt(m(10)), u, "9.97"}, {closedAt(m(20)), u, "17.97"}, {closedAt(m(30)), u, "15.305"}}},
			{name: "ETH only", env: only("symbol", "ETH-USDT"), rows: [][]string{{closedAt(m(20)), u, "8.00"}}},
		},
		"Net PnL per interval": {
			{name: "10m buckets", env: all, cols: []string{"time", "metric", "value"}, rows: [][]string{
				{epochAt(m(10)), u, "9.98"}, {epochAt(m(20)), u, "8.00"}, {epochAt(m(30)), u, "-2.665"}}},
			{name: "1h buckets", env: func(g grafanaEnv) grafanaEnv { g.interval = "1h"; return g }, rows: [][]string{
				{epochAt(0), u, "15.315"}}},
		},
		"PnL per pair": {{name: "all", env: all,
			cols: []string{"symbol", "buy_venue", "sell_venue", "quote", "trades", "wins", "win_rate", "gross", "fees", "gas", "net", "expected", "slippage"},
			rows: [][]string{
				{"BTC-USDT", "binance", "okx", u, "1", "1", "1", "20.0", "10.02", "0", "9.98", "10.50", "-0.52"},
				{"ETH-USDT", "okx", "bybit", u, "1", "1", "1", "20", "12.00", "0", "8.00", "7.50", "0.50"},
				{"BTC-USDT", "bybit", "binance", u, "1", "0", "0", "15.00", "17.165", "0.5", "-2.665", "3.00", "-5.665"},
			}}},
		"PnL per venue": {
			{name: "all", env: all, cols: []string{"venue", "quote", "trades", "net", "slippage"}, rows: [][]string{
				{"binance", u, "2", "7.315", "-6.185"},
				{"bybit", u, "2", "5.335", "-5.165"},
				{"okx", u, "2", "17.98", "-0.02"},
			}},
			{name: "ETH only", env: only("symbol", "ETH-USDT"), rows: [][]string{{"bybit", u, "1", "8.00", "0.50"}, {"okx", u, "1", "8.00", "0.50"}}},
			{name: "okx only", env: only("venue", "okx"), rows: [][]string{{"okx", u, "2", "17.98", "-0.02"}}},
		},
		"Fees per venue and asset": {
			{name: "the range's day: T0 (the day before) left out", env: all, cols: []string{"venue", "asset", "kind", "amount", "amount_quote"}, rows: [][]string{
				{"binance", "USDT", "fill", "12.365", "12.365"},
				{"bybit", "BNB", "fill", "0.01", "6.00"},
				{"bybit", "ETH", "gas", "0.0002", "0.5"},
				{"bybit", "USDT", "fill", "9.8", "9.8"},
				{"okx", "USDT", "fill", "11.02", "11.02"},
			}},
			{name: "T0's day too", env: widerRange, rows: [][]string{
				{"binance", "USDT", "fill", "17.365", "17.365"},
				{"bybit", "BNB", "fill", "0.01", "6.00"},
				{"bybit", "ETH", "gas", "0.0002", "0.5"},
				{"bybit", "USDT", "fill", "9.8", "9.8"},
				{"okx", "USDT", "fill", "16.03", "16.03"},
			}},
		},
		"Expected vs realized net per trade": {{name: "all", env: all, cols: []string{"time", "expected", "realized", "slippage"}, rows: [][]string{
			{closedAt(m(10)), "10.50", "9.98", "-0.52"},
			{closedAt(m(20)), "7.50", "8.00", "0.50"},
			{closedAt(m(30)), "3.00", "-2.665", "-5.665"},
		}}},
		"Trades": {{name: "all, newest first", env: all,
			cols: []string{"closed_at", "id", "symbol", "buy_venue", "sell_venue", "state", "fills", "expected", "realized", "slippage", "executor_realized", "ledger_minus_executor", "quote"},
			rows: [][]string{
				{closedAt(m(30)), "T3", "BTC-USDT", "bybit", "binance", "closed_residual", "2", "3.00", "-2.665", "-5.665", "-2.665", "0", u},
				{closedAt(m(20)), "T2", "ETH-USDT", "okx", "bybit", "closed_flat", "2", "7.50", "8.00", "0.50", "8.10", "-0.10", u},
				{closedAt(m(10)), "T1", "BTC-USDT", "binance", "okx", "closed_flat", "2", "10.50", "9.98", "-0.52", "9.98", "0", u},
			}}},
		"Open residual exposure": {
			{name: "all", env: all, rows: [][]string{{u, "2450"}}},
			{name: "ETH only: none", env: only("symbol", "ETH-USDT"), rows: nil},
		},
		"Residual positions": {{name: "all", env: all,
			cols: []string{"closed_at", "id", "symbol", "buy_venue", "sell_venue", "state", "residual_base", "residual_cost_quote", "residual_avg_price", "quote"},
			rows: [][]string{{closedAt(m(30)), "T3", "BTC-USDT", "bybit", "binance", "closed_residual", "0.05", "2450", "49000", u}}}},
		"Inventory per venue and asset": {
			{name: "all", env: all, cols: []string{"venue", "asset", "balance", "updated_at"}, rows: [][]string{
				{"binance", "BTC", "2.05", Any},
				{"binance", "USDT", "97347.635", Any},
				{"bybit", "BNB", "0.99", Any},
				{"bybit", "BTC", "2.2", Any},
				{"bybit", "ETH", "7.9998", Any},
				{"bybit", "USDT", "96210.2", Any},
				{"okx", "BTC", "1.8", Any},
				{"okx", "ETH", "12", Any},
				{"okx", "USDT", "104013.97", Any},
			}},
			{name: "okx", env: only("venue", "okx"), rows: [][]string{{"okx", "BTC", "1.8", Any}, {"okx", "ETH", "12", Any}, {"okx", "USDT", "104013.97", Any}}},
		},
		"Ledger position": {{name: "all", env: all, cols: []string{"stream", "last_seq", "updated_at"}, rows: [][]string{{testStream, strconv.Itoa(nEvents), Any}}}},
		"Events applied":  {{name: "all", env: all, rows: [][]string{{strconv.Itoa(nEvents)}}}},
	}

	base := grafanaEnv{from: t0, to: t0.Add(time.Hour), interval: "10m", vars: map[string][]string{}}
	dashes := loadDashboards(t)
	tgs := targets(t, dashes)
	// "All" is every value of the variable's own query.
	for _, tg := range tgs {
		if name, ok := strings.CutPrefix(tg.Panel, "variable "); ok && tg.RawSQL != "" {
			_, rows := run(t, conn, tg.RawSQL)
			for _, r := range rows {
				base.vars[name] = append(base.vars[name], r[0])
			}
		}
	}
	ran := 0
	seen := map[string]bool{}
	for _, tg := range tgs {
		if tg.RawSQL == "" {
			continue
		}
		seen[tg.Panel] = true
		cases, ok := expect[tg.Panel]
		if !ok {
			t.Errorf("%s: no expected result in the test: every query of the dashboard is checked", tg)
			continue
		}
		for _, c := range cases {
			env := c.env(base)
			q := env.expand(t, tg.RawSQL)
			cols, rows := run(t, conn, q)
			ran++
			where := fmt.Sprintf("%s [%s]", tg, c.name)
			if tg.Format == string(SQLTimeSeries) && (len(cols) == 0 || cols[0] != "time") {
				t.Errorf("%s: a time series query must return a time column first, got %v", where, cols)
			}
			if c.cols != nil && strings.Join(cols, ",") != strings.Join(c.cols, ",") {
				t.Errorf("%s: columns %v, want %v", where, cols, c.cols)
			}
			if !sameRows(rows, c.rows) {
				t.Errorf("%s:\n got  %v\n want %v\nquery:\n%s", where, rows, c.rows, q)
			}
		}
	}
	for panel := range expect {
		if !seen[panel] {
			t.Errorf("expected results for %q, which is not a SQL query of the dashboards", panel)
		}
	}
	if ran < 30 {
		t.Errorf("only %d query runs", ran)
	}
}

func sameRows(got, want [][]string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return false
		}
		for j := range got[i] {
			if !sameCell(got[i][j], want[i][j]) {
				return false
			}
		}
	}
	return true
}
