package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"arb/ledger"
	"arb/ledger/pgstore/pgtest"
)

// benchFills makes n fills, two per trade (buy on one venue, sell on
// another, fee in quote and in BNB), applied to a ledger: the changes and
// raw events a writer stores.
func benchFills(tb testing.TB, n int) ([]RawEvent, []ledger.Change) {
	l := ledger.New()
	evs := make([]RawEvent, 0, n)
	chs := make([]ledger.Change, 0, n)
	for i := range n {
		f := pgtest.BenchFill(i, t0)
		body, err := json.Marshal(f)
		if err != nil {
			tb.Fatal(err)
		}
		ch, err := l.Apply(ledger.Event{Seq: uint64(i + 1), Kind: ledger.KindFill, Fill: &f})
		if err != nil {
			tb.Fatal(err)
		}
		evs = append(evs, RawEvent{Seq: uint64(i + 1), Subject: ledger.FillSubject("arb", f.Venue), MsgID: f.MsgID(), Kind: ledger.KindFill, Body: body})
		chs = append(chs, ch)
	}
	return evs, chs
}

// BenchmarkFillWrites: fills recorded per second in batches of 1000 (one
// transaction per batch) by a Pipeline (batch N+1 encoded while batch N
// commits: what the ledger feed uses) and by Write (encode, then commit,
// one after the other), against the plain way, one INSERT per row and
// one transaction per fill, in the same run on the same server. Each op
// is one fill; "fills/s" is the figure BENCHMARKS.md quotes.
func BenchmarkFillWrites(b *testing.B) {
	for _, mode := range []string{"pipelined1000", "batch1000", "one-insert-per-fill"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, pgtest.NewDB(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			evs, chs := benchFills(b, b.N)
			if err := s.Ping(ctx); err != nil {
				b.Fatal(err)
			}
			pg0, go0 := serverCPU(b, s), processCPU()
			b.ResetTimer()
			start := time.Now()
			switch mode {
			case "pipelined1000":
				p := s.Pipeline(ctx, 2)
				var failed atomic.Pointer[error]
				for i := 0; i < len(chs); i += 1000 {
					end := min(i+1000, len(chs))
					err := p.Submit(ctx, &Batch{Stream: "BENCH", Events: evs[i:end], Changes: chs[i:end], LastSeq: evs[end-1].Seq}, func(err error) {
						if err != nil {
							failed.CompareAndSwap(nil, &err)
						}
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				p.Close()
				if err := failed.Load(); err != nil {
					b.Fatal(*err)
				}
			case "batch1000":
				for i := 0; i < len(chs); i += 1000 {
					end := min(i+1000, len(chs))
					if err := s.Write(ctx, &Batch{Stream: "BENCH", Events: evs[i:end], Changes: chs[i:end], LastSeq: evs[end-1].Seq}); err != nil {
						b.Fatal(err)
					}
				}
			default:
				for i := range chs {
					if err := writeOne(ctx, s.pool, &evs[i], &chs[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "fills/s")
			// CPU spent per fill by the PostgreSQL backends and by this
			// process: what the machine's load does not change much, so
			// the capacity of an idle machine can be estimated from it.
			pgCPU, goCPU := serverCPU(b, s)-pg0, processCPU()-go0
			b.ReportMetric(float64(pgCPU.Microseconds())/float64(b.N), "pg-cpu-us/fill")
			b.ReportMetric(float64(goCPU.Microseconds())/float64(b.N), "go-cpu-us/fill")
			if n, err := s.FillCount(ctx); err != nil || n != int64(b.N) {
				b.Fatalf("%d fills stored, want %d (%v)", n, b.N, err)
			}
			if v, err := s.Check(ctx); err != nil || len(v) > 0 {
				b.Fatalf("check: %v %v", v, err)
			}
		})
	}
}

// writeOne is the baseline: what a writer without batching does — one
// transaction per fill, one INSERT (or upsert) statement per row, each its
// own round trip.
func writeOne(ctx context.Context, pool *pgxpool.Pool, ev *RawEvent, ch *ledger.Change) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, t := range ch.Txs {
			if _, err := tx.Exec(ctx, `INSERT INTO transactions (id, kind, ts, venue, trade_id, memo, stream_seq) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
				t.ID, t.Kind.String(), t.TS, t.Venue, t.TradeID, t.Memo, int64(t.Seq)); err != nil {
				return err
			}
			for n, e := range t.Entries {
				if _, err := tx.Exec(ctx, `INSERT INTO accounts (name, kind, venue, asset) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING`,
					e.Account.String(), e.Account.Kind.String(), e.Account.Venue, e.Account.Asset); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO entries (tx_id, n, account, asset, amount) VALUES ($1,$2,$3,$4,$5)`,
					t.ID, int16(n), e.Account.String(), e.Account.Asset, numeric(e.Amount)); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO balances (account, asset, balance) VALUES ($1,$2,$3)
					ON CONFLICT (account) DO UPDATE SET balance = balances.balance + excluded.balance, updated_at = now()`,
					e.Account.String(), e.Account.Asset, numeric(e.Amount)); err != nil {
					return err
				}
			}
		}
		f := ch.Fill
		if _, err := tx.Exec(ctx, `INSERT INTO fills (venue, venue_fill_id, client_order_id, trade_id, symbol, base, quote, side, price, qty,
			fee, fee_asset, fee_quote_rate, fee_quote, ts, ts_unix_ns, tx_id, stream_seq) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`,
			f.Venue, f.VenueFillID, f.ClientOrderID, f.TradeID, f.Symbol, f.Base, f.Quote, f.Side, numeric(f.Price), numeric(f.Qty),
			numeric(f.Fee), f.FeeAsset, numeric(f.FeeQuoteRate), numeric(f.FeeQuote), f.TS, f.TS.UnixNano(), f.TxID, int64(f.Seq)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ledger_events (stream, seq, subject, msg_id, kind, body) VALUES ($1,$2,$3,$4,$5,$6)`,
			"BENCH", int64(ev.Seq), ev.Subject, ev.MsgID, "fill", ev.Body); err != nil {
			return err
		}
		b := &pgx.Batch{}
		queueTrades(b, []*ledger.TradeRow{ch.Trade})
		for i := 0; i < b.Len(); i++ { // one statement per round trip, as the plain writer does
			q := b.QueuedQueries[i]
			if _, err := tx.Exec(ctx, q.SQL, q.Arguments...); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO consumer_state (stream, last_seq) VALUES ($1, $2)
			ON CONFLICT (stream) DO UPDATE SET last_seq = greatest(consumer_state.last_seq, excluded.last_seq)`, "BENCH", int64(ev.Seq))
		return err
	})
}

// serverCPU sums the CPU time (user + system) of the PostgreSQL backends
// connected to the store's database, from /proc (the server runs on this
// machine in the tests); 0 when it cannot be read.
func serverCPU(b *testing.B, s *Store) time.Duration {
	rows, err := s.pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command (in parentheses): utime and stime are
		// the 12th and 13th, in clock ticks of 1/100 s.
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			total += time.Duration(u+st) * 10 * time.Millisecond
		}
	}
	return total
}

// processCPU is this process's CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// queueTrades upserts the trades' rows and their legs' order rows, each
// table in one statement over arrays (unnest), whatever the count.
func queueTrades(batch *pgx.Batch, rows []*ledger.TradeRow) {
	if len(rows) == 0 {
		return
	}
	n := len(rows)
	ids, symbols, quotes := make([]string, n), make([]string, n), make([]string, n)
	planIDs, buys, sells, states := make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n)
	opened, closed := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	seqs, fills := make([]int64, n), make([]int32, n)
	var nums [14][]fastNum
	for i := range nums {
		nums[i] = make([]fastNum, n)
	}
	var legs struct {
		venue, coid, trade, side, purpose, voi, feeAsset, status, gasAsset []string
		nums                                                               [8][]fastNum
	}
	for i, r := range rows {
		t := &r.Trade
		ids[i], symbols[i], seqs[i], fills[i] = r.ID, r.Symbol, int64(r.Seq), int32(r.Fills)
		_, quotes[i] = splitSymbol(r.Symbol)
		nums[0][i] = fastNum{} // NULL qty until the trade event arrived
		if t.ID != "" {
			planIDs[i], buys[i], sells[i], states[i] = text(t.PlanID), text(t.BuyVenue), text(t.SellVenue), text(t.State)
			opened[i] = pgtype.Timestamptz{Time: t.OpenedAt, Valid: true}
			if t.ClosedAt != nil {
				closed[i] = pgtype.Timestamptz{Time: *t.ClosedAt, Valid: true}
			}
			nums[0][i] = numeric(t.Qty)
		}
		p := &r.PnL
		for k, v := range []decimal.Decimal{t.ExpectedNetQuote, t.RealizedNetQuote, t.ResidualBase, p.BoughtBase, p.SoldBase,
			p.BuyQuote, p.SellQuote, p.Gross, p.FeesQuote, p.GasQuote, p.Net, p.ResidualBase, p.ResidualCost} {
			nums[k+1][i] = numeric(v)
		}
		for j := range t.Legs {
			l := &t.Legs[j]
			legs.venue, legs.coid, legs.trade = append(legs.venue, l.Venue), append(legs.coid, l.ClientOrderID), append(legs.trade, t.ID)
			legs.side, legs.purpose, legs.voi = append(legs.side, l.Side), append(legs.purpose, l.Purpose), append(legs.voi, l.VenueOrderID)
			legs.feeAsset, legs.status, legs.gasAsset = append(legs.feeAsset, l.FeeAsset), append(legs.status, l.Status), append(legs.gasAsset, l.GasAsset)
			for k, v := range []decimal.Decimal{l.Price, l.Qty, l.FilledQty, l.AvgPrice, l.Fee, l.GasQuote, l.Gas} {
				legs.nums[k] = append(legs.nums[k], numeric(v))
			}
		}
	}
	batch.Queue(sqlTrades,
		ids, planIDs, symbols, quotes, buys, sells, states, opened, closed, seqs, fills,
		nums[0], nums[1], nums[2], nums[3], nums[4], nums[5], nums[6], nums[7], nums[8], nums[9], nums[10], nums[11], nums[12], nums[13])
	if len(legs.venue) == 0 {
		return
	}
	batch.Queue(sqlOrders,
		legs.venue, legs.coid, legs.trade, legs.side, legs.purpose, legs.voi, legs.feeAsset, legs.status, legs.gasAsset,
		legs.nums[0], legs.nums[1], legs.nums[2], legs.nums[3], legs.nums[4], legs.nums[5], legs.nums[6])
}

func text(s string) pgtype.Text { return pgtype.Text{String: s, Valid: true} }
