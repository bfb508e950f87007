package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"arb/ledger"
	"arb/ledger/pgstore/pgtest"
)

// batches applies evs to a fresh ledger in batches of size, as the
// consumer does, and returns the batches to write and the ledger.
func batches(t *testing.T, evs []RawEvent, size int) ([]*Batch, *ledger.Ledger) {
	t.Helper()
	l := ledger.New()
	return batchesOn(t, l, evs, size), l
}

// batchesOn applies evs to l in batches of size, as the consumer does, and
// returns the batches to write.
func batchesOn(t *testing.T, l *ledger.Ledger, evs []RawEvent, size int) []*Batch {
	t.Helper()
	var out []*Batch
	for start := 0; start < len(evs); start += size {
		end := min(start+size, len(evs))
		b := &Batch{Stream: "ARB_TEST", LastSeq: evs[end-1].Seq}
		for _, raw := range evs[start:end] {
			ev, err := Decode(raw.Kind, raw.Body)
			if err != nil {
				t.Fatal(err)
			}
			ev.Seq = raw.Seq
			ch, err := l.Apply(ev)
			if err != nil {
				t.Fatal(err)
			}
			if ch.Outcome == ledger.Applied {
				b.Events = append(b.Events, raw)
				b.Changes = append(b.Changes, ch)
			}
		}
		out = append(out, b)
	}
	return out
}

// fullDump renders every row of every ledger table, all columns as
// PostgreSQL prints them but the now() ones, for exact comparisons.
func fullDump(t *testing.T, s *Store) string {
	t.Helper()
	var sb strings.Builder
	for _, table := range []string{"ledger_events", "consumer_state", "accounts", "transactions", "entries", "balances", "fills", "trades", "orders"} {
		var v *string
		q := fmt.Sprintf(`SELECT string_agg(r::text, E'\n' ORDER BY r::text) FROM (SELECT to_jsonb(t) - 'updated_at' - 'applied_at' AS r FROM %s t) x`, table)
		if err := s.pool.QueryRow(ctxT(t), q).Scan(&v); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		sb.WriteString(table + ":\n")
		if v != nil {
			sb.WriteString(*v)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// TestEncodeMatchesPgx: the batches written through Encode (binary COPY
// and array parameters encoded here) leave every table exactly as the
// same batches written through pgx's own encoders (the writer before
// Encode, kept below as the reference) — NULLs, timestamps, NUMERIC
// scales, gas legs, trades seen before their event included. A value
// whose coefficient is too long for the fast NUMERIC path is in it too.
func TestEncodeMatchesPgx(t *testing.T) {
	evs := events(rand.New(rand.NewPCG(7, 8)), 300)
	// A fill whose price has 24 significant digits (the math/big path).
	long := ledger.Fill{Venue: "okx", VenueFillID: "long", ClientOrderID: "long", Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT",
		Side: "buy", Price: d("64000.1234567890123456789"), Qty: d("0.000001"), Fee: d("0"), FeeAsset: "USDT", TS: t0}
	body, err := json.Marshal(long)
	if err != nil {
		t.Fatal(err)
	}
	evs = append(evs, RawEvent{Seq: evs[len(evs)-1].Seq + 1, Subject: ledger.FillSubject("arb", "okx"), MsgID: long.MsgID(), Kind: ledger.KindFill, Body: body})
	bs, l := batches(t, evs, 23)
	ours, ref := open(t, pgtest.NewDB(t)), open(t, pgtest.NewDB(t))
	for _, b := range bs {
		if err := ours.Write(ctxT(t), b); err != nil {
			t.Fatal(err)
		}
		if err := pgx.BeginFunc(ctxT(t), ref.pool, func(tx pgx.Tx) error { return writeBatchPgx(ctxT(t), tx, b) }); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := fullDump(t, ours), fullDump(t, ref); a != b {
		t.Fatalf("tables differ:\n%s\n---- pgx:\n%s", a, b)
	}
	mustCheck(t, ours, l)
}

// TestEncodeAllocs: encoding reuses its buffers, so a batch costs a few
// allocations whatever its size (the statement batch and its parameter
// lists, the balances' sums), not one per row or value: a batch of 2000
// fills allocates about as often as one of 500.
func TestEncodeAllocs(t *testing.T) {
	evs, chs := benchFills(t, 2000)
	allocs := func(n int) float64 {
		b := &Batch{Stream: "BENCH", Events: evs[:n], Changes: chs[:n], LastSeq: evs[n-1].Seq}
		c, e := newEncoder(), &Encoded{}
		if err := c.encode(b, e); err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(20, func() {
			if err := c.encode(b, e); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := allocs(500), allocs(2000)
	t.Logf("allocations per batch: %.0f for 500 fills, %.0f for 2000", small, large)
	if large > small+10 || large > 100 {
		t.Fatalf("allocations grow with the batch: %.0f for 500 fills, %.0f for 2000", small, large)
	}
}

// TestAccountSum: the balances' per-batch sums are exact, on the int64
// path and past it (overflow, long coefficients).
func TestAccountSum(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 2000 {
		var s accountSum
		want := decimal.Zero
		for range r.IntN(20) + 1 {
			var v decimal.Decimal
			switch r.IntN(4) {
			case 0:
				v = decimal.New(r.Int64()-r.Int64(), -int32(r.IntN(20)))
			case 1:
				v = decimal.New(r.Int64N(1e6)-5e5, int32(r.IntN(6))-3)
			case 2:
				v = d("123456789012345678901234.5678").Neg()
			default:
				v = decimal.New(r.Int64N(1e9), -int32(r.IntN(12)))
			}
			s.add(v)
			want = want.Add(v)
		}
		if got := s.value(); !got.Equal(want) {
			t.Fatalf("sum %s, want %s", got, want)
		}
	}
}

// TestPipelineOrder: batches submitted to a pipeline are committed in
// order, each reported once, and leave the store exactly as Write one
// after the other does.
func TestPipelineOrder(t *testing.T) {
	bs, l := batches(t, events(rand.New(rand.NewPCG(11, 12)), 600), 37)
	s, ref := open(t, pgtest.NewDB(t)), open(t, pgtest.NewDB(t))
	for _, b := range bs {
		if err := ref.Write(ctxT(t), b); err != nil {
			t.Fatal(err)
		}
	}
	p := s.Pipeline(ctxT(t), 2)
	var mu sync.Mutex
	var done []int
	for i, b := range bs {
		if err := p.Submit(ctxT(t), b, func(err error) {
			if err != nil {
				t.Errorf("batch %d: %v", i, err)
			}
			// Committed in order: the store's position is this batch's.
			if seq, err := s.LastSeq(context.Background(), "ARB_TEST"); err != nil || seq != b.LastSeq {
				t.Errorf("batch %d done at position %d (%v), want %d", i, seq, err, b.LastSeq)
			}
			mu.Lock()
			done = append(done, i)
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if len(done) != len(bs) {
		t.Fatalf("%d batches reported, %d submitted", len(done), len(bs))
	}
	for i, k := range done {
		if i != k {
			t.Fatalf("batch %d reported at place %d", k, i)
		}
	}
	if a, b := fullDump(t, s), fullDump(t, ref); a != b {
		t.Fatalf("pipelined store differs from Write's:\n%s\n----\n%s", a, b)
	}
	mustCheck(t, s, l)
}

// TestPipelineFailureAborts: a batch that fails (here: it repeats the
// fills of the batch before it, refused by the unique keys) fails alone
// in the database, and every batch submitted after it is aborted without
// being written, although each would succeed on its own. After Reset the
// same batches are written and the store ends complete and consistent:
// nothing lost, nothing twice.
func TestPipelineFailureAborts(t *testing.T) {
	bs, l := batches(t, events(rand.New(rand.NewPCG(13, 14)), 400), 31)
	if len(bs) < 10 {
		t.Fatalf("%d batches", len(bs))
	}
	s := open(t, pgtest.NewDB(t))
	p := s.Pipeline(ctxT(t), 2)
	defer p.Close()
	const bad = 5 // submitted again in place of batch 6
	results := make(chan error, len(bs)+1)
	submit := func(b *Batch) {
		t.Helper()
		if err := p.Submit(ctxT(t), b, func(err error) { results <- err }); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i <= bad; i++ {
		submit(bs[i])
	}
	submit(bs[bad]) // the failure
	for i := bad + 1; i < len(bs); i++ {
		submit(bs[i]) // aborted: built on top of the failed batch
	}
	if err := p.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= bad; i++ {
		if err := <-results; err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	var pgErr *pgconn.PgError
	if err := <-results; !errors.As(err, &pgErr) || errors.Is(err, ErrAborted) {
		t.Fatalf("the repeated batch: %v, want the unique key's error", err)
	}
	for i := bad + 1; i < len(bs); i++ {
		if err := <-results; !errors.Is(err, ErrAborted) {
			t.Fatalf("batch %d after the failure: %v, want ErrAborted", i, err)
		}
	}
	if !errors.As(p.Err(), &pgErr) {
		t.Fatalf("pipeline error %v", p.Err())
	}
	// Nothing after the failure reached the database.
	if seq, err := s.LastSeq(ctxT(t), "ARB_TEST"); err != nil || seq != bs[bad].LastSeq {
		t.Fatalf("position %d (%v), want %d", seq, err, bs[bad].LastSeq)
	}
	want := 0
	for _, b := range bs[:bad+1] {
		for _, ch := range b.Changes {
			if ch.Fill != nil {
				want++
			}
		}
	}
	if n, err := s.FillCount(ctxT(t)); err != nil || n != int64(want) {
		t.Fatalf("%d fills stored (%v), want %d", n, err, want)
	}
	if v, err := s.Check(ctxT(t)); err != nil || len(v) > 0 {
		t.Fatalf("check after the failure: %v %v", v, err)
	}
	// Still failed until Reset: a new batch is aborted too.
	submit(bs[bad+1])
	if err := <-results; !errors.Is(err, ErrAborted) {
		t.Fatalf("before Reset: %v", err)
	}
	p.Reset()
	for i := bad + 1; i < len(bs); i++ {
		submit(bs[i])
	}
	if err := p.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for i := bad + 1; i < len(bs); i++ {
		if err := <-results; err != nil {
			t.Fatalf("batch %d after Reset: %v", i, err)
		}
	}
	if n, err := s.FillCount(ctxT(t)); err != nil || n != int64(l.FillCount()) {
		t.Fatalf("%d fills stored (%v), ledger %d", n, err, l.FillCount())
	}
	mustCheck(t, s, l)
}

// TestPipelineClose: Close commits what was accepted while the context
// lasts; once the context has ended, what is in flight fails. Either way
// every accepted batch is reported exactly once, in order, before Close
// returns; the committed ones are a prefix of the submitted and the store
// holds exactly them; a closed pipeline accepts nothing.
func TestPipelineClose(t *testing.T) {
	bs, _ := batches(t, events(rand.New(rand.NewPCG(15, 16)), 300), 19)
	for _, cancelFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancelled=%v", cancelFirst), func(t *testing.T) {
			s := open(t, pgtest.NewDB(t))
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			p := s.Pipeline(ctx, 2)
			var mu sync.Mutex
			var results []error
			accepted := 0
			for _, b := range bs {
				if cancelFirst && accepted == len(bs)/2 {
					cancel()
				}
				err := p.Submit(context.Background(), b, func(err error) {
					mu.Lock()
					results = append(results, err)
					mu.Unlock()
				})
				if err != nil {
					t.Fatal(err)
				}
				accepted++
			}
			p.Close()
			mu.Lock()
			got := append([]error(nil), results...)
			mu.Unlock()
			if len(got) != accepted {
				t.Fatalf("%d batches reported, %d accepted", len(got), accepted)
			}
			committed := 0
			for committed < len(got) && got[committed] == nil {
				committed++
			}
			for i, err := range got[committed:] {
				if err == nil {
					t.Fatalf("batch %d committed after a failed one", committed+i)
				}
			}
			if !cancelFirst && committed != len(bs) {
				t.Fatalf("%d of %d batches committed with the context alive: %v", committed, len(bs), got[committed])
			}
			if cancelFirst && committed == len(bs) {
				t.Fatalf("every batch committed after the context ended")
			}
			want := 0
			for _, b := range bs[:committed] {
				for _, ch := range b.Changes {
					if ch.Fill != nil {
						want++
					}
				}
			}
			if n, err := s.FillCount(ctxT(t)); err != nil || n != int64(want) {
				t.Fatalf("%d fills stored (%v), %d committed", n, err, want)
			}
			if v, err := s.Check(ctxT(t)); err != nil || len(v) > 0 {
				t.Fatalf("check: %v %v", v, err)
			}
			if err := p.Submit(context.Background(), bs[0], func(error) { t.Error("done called for a refused batch") }); !errors.Is(err, ErrClosed) {
				t.Fatalf("submit after close: %v", err)
			}
			p.Close() // twice is harmless
		})
	}
}

// writeBatchPgx is the writer before Encode, through pgx's encoders
// (CopyFrom of [][]any rows, a pgx.Batch of array parameters): the
// reference TestEncodeMatchesPgx compares Encode with.
func writeBatchPgx(ctx context.Context, tx pgx.Tx, b *Batch) error {
	type acct struct{ name, kind, venue, asset string }
	var accounts []acct
	seenAcct := map[ledger.Account]bool{}
	deltas := map[ledger.Account]decimal.Decimal{}
	var deltaOrder []ledger.Account
	var txRows, entryRows, fillRows, eventRows [][]any
	trades := map[string]*ledger.TradeRow{}
	var tradeOrder []string
	for _, ev := range b.Events {
		eventRows = append(eventRows, []any{b.Stream, int64(ev.Seq), ev.Subject, ev.MsgID, kindNames[ev.Kind], ev.Body})
	}
	for i := range b.Changes {
		ch := &b.Changes[i]
		for _, t := range ch.Txs {
			var tradeID, gasQuote any
			if t.TradeID != "" {
				tradeID = t.TradeID
			}
			if t.Kind == ledger.TxGas && ch.Trade != nil {
				for _, leg := range ch.Trade.Trade.Legs {
					if ledger.GasTxID(t.TradeID, leg.ClientOrderID) == t.ID {
						gasQuote = numeric(leg.GasQuote)
					}
				}
			}
			txRows = append(txRows, []any{t.ID, t.Kind.String(), t.TS, t.Venue, tradeID, t.Memo, gasQuote, int64(t.Seq)})
			for n, e := range t.Entries {
				entryRows = append(entryRows, []any{t.ID, int16(n), e.Account.String(), e.Account.Asset, numeric(e.Amount)})
				if !seenAcct[e.Account] {
					seenAcct[e.Account] = true
					accounts = append(accounts, acct{e.Account.String(), e.Account.Kind.String(), e.Account.Venue, e.Account.Asset})
				}
				if _, ok := deltas[e.Account]; !ok {
					deltaOrder = append(deltaOrder, e.Account)
				}
				deltas[e.Account] = deltas[e.Account].Add(e.Amount)
			}
		}
		if f := ch.Fill; f != nil {
			var tradeID any
			if f.TradeID != "" {
				tradeID = f.TradeID
			}
			fillRows = append(fillRows, []any{f.Venue, f.VenueFillID, f.ClientOrderID, tradeID, f.Symbol, f.Base, f.Quote, f.Side,
				numeric(f.Price), numeric(f.Qty), numeric(f.Fee), f.FeeAsset, numeric(f.FeeQuoteRate), numeric(f.FeeQuote),
				f.TS, f.TS.UnixNano(), f.TxID, int64(f.Seq)})
		}
		if tr := ch.Trade; tr != nil {
			if _, ok := trades[tr.ID]; !ok {
				tradeOrder = append(tradeOrder, tr.ID)
			}
			trades[tr.ID] = tr
		}
	}

	if len(accounts) > 0 {
		cols := make([][]string, 4)
		for _, a := range accounts {
			cols[0], cols[1], cols[2], cols[3] = append(cols[0], a.name), append(cols[1], a.kind), append(cols[2], a.venue), append(cols[3], a.asset)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (name, kind, venue, asset)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT (name) DO NOTHING`,
			cols[0], cols[1], cols[2], cols[3]); err != nil {
			return fmt.Errorf("accounts: %w", err)
		}
	}
	copies := []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"transactions", []string{"id", "kind", "ts", "venue", "trade_id", "memo", "gas_quote", "stream_seq"}, txRows},
		{"entries", []string{"tx_id", "n", "account", "asset", "amount"}, entryRows},
		{"fills", []string{"venue", "venue_fill_id", "client_order_id", "trade_id", "symbol", "base", "quote", "side", "price", "qty",
			"fee", "fee_asset", "fee_quote_rate", "fee_quote", "ts", "ts_unix_ns", "tx_id", "stream_seq"}, fillRows},
		{"ledger_events", []string{"stream", "seq", "subject", "msg_id", "kind", "body"}, eventRows},
	}
	for _, c := range copies {
		if len(c.rows) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return fmt.Errorf("copy %s: %w", c.table, err)
		}
	}

	batch := &pgx.Batch{}
	if len(deltaOrder) > 0 {
		names, assets := make([]string, len(deltaOrder)), make([]string, len(deltaOrder))
		amounts := make([]fastNum, len(deltaOrder))
		for i, a := range deltaOrder {
			names[i], assets[i], amounts[i] = a.String(), a.Asset, numeric(deltas[a])
		}
		batch.Queue(`INSERT INTO balances (account, asset, balance)
			SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[])
			ON CONFLICT (account) DO UPDATE SET balance = balances.balance + excluded.balance, updated_at = now()`,
			names, assets, amounts)
	}
	tradeRows := make([]*ledger.TradeRow, len(tradeOrder))
	for i, id := range tradeOrder {
		tradeRows[i] = trades[id]
	}
	queueTrades(batch, tradeRows)
	if b.LastSeq > 0 {
		batch.Queue(`INSERT INTO consumer_state (stream, last_seq) VALUES ($1, $2)
			ON CONFLICT (stream) DO UPDATE SET last_seq = greatest(consumer_state.last_seq, excluded.last_seq), updated_at = now()`,
			b.Stream, int64(b.LastSeq))
	}
	if batch.Len() > 0 {
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("balances, trades, orders: %w", err)
		}
	}
	return nil
}
