//go:build ledgerload

package strategy_test

// The tick-to-decision benchmark with the ledger writer running in the
// same process, against the same benchmark without it, in one run:
//
//	go test -tags ledgerload -run '^$' -bench TickToDecisionLedger -count 5 ./strategy
//
// Behind a build tag because it brings the ledger and PostgreSQL into the
// strategy package's tests, which the dependency rules keep out of
// strategy itself; it needs the PostgreSQL of the tests (pgtest).

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/ledger"
	"arb/ledger/pgstore"
	"arb/ledger/pgstore/pgtest"
)

// ledgerLoad runs the ledger writer as the daemon does — fills applied to
// the in-memory ledger and written to PostgreSQL in batches, one
// transaction each — at rate fills per second until stop is closed.
func ledgerLoad(b *testing.B, rate int, stop <-chan struct{}, written *atomic.Int64) *sync.WaitGroup {
	ctx := context.Background()
	st, err := pgstore.Open(ctx, pgtest.NewDB(b))
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer st.Close()
		l := ledger.New()
		const tick = 50 * time.Millisecond
		per := max(1, rate*int(tick/time.Millisecond)/1000)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		seq := uint64(0)
		venues := []string{"binance", "okx", "bybit"}
		t0 := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			batch := &pgstore.Batch{Stream: "LOAD"}
			for range per {
				seq++
				f := ledger.Fill{Venue: venues[seq%3], VenueFillID: strconv.FormatUint(seq, 10), ClientOrderID: fmt.Sprintf("c%d", seq),
					TradeID: fmt.Sprintf("T%d", seq/2), Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT", Side: []string{"buy", "sell"}[seq%2],
					Price: decimal.New(6400000+int64(seq%100), -2), Qty: decimal.New(1500, -6), Fee: decimal.New(96, -3), FeeAsset: "USDT",
					TS: t0.Add(time.Duration(seq) * time.Millisecond)}
				ch, err := l.Apply(ledger.Event{Seq: seq, Kind: ledger.KindFill, Fill: &f})
				if err != nil {
					panic(err)
				}
				batch.Events = append(batch.Events, pgstore.RawEvent{Seq: seq, Subject: "arb.exec.fill." + f.Venue, MsgID: f.MsgID(), Kind: ledger.KindFill, Body: []byte("{}")})
				batch.Changes = append(batch.Changes, ch)
				batch.LastSeq = seq
			}
			if err := st.Write(ctx, batch); err != nil {
				panic(err)
			}
			written.Add(int64(per))
		}
	}()
	return &wg
}

// BenchmarkTickToDecisionLedger: p50/p99 per frame without the ledger
// writer and with it writing ARB_LEDGER_LOAD_RATE fills/s (default 2000,
// far above any trading rate) in the same process.
func BenchmarkTickToDecisionLedger(b *testing.B) {
	rate := 2000
	if s := os.Getenv("ARB_LEDGER_LOAD_RATE"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			rate = n
		}
	}
	for _, mode := range []string{"without-ledger", "with-ledger-writer"} {
		b.Run(mode, func(b *testing.B) {
			w := newWorld(b)
			var written atomic.Int64
			stop := make(chan struct{})
			if mode == "with-ledger-writer" {
				wg := ledgerLoad(b, rate, stop, &written)
				defer wg.Wait()
				// Warm: the writer has committed before measuring.
				for written.Load() == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			defer close(stop)
			samples := make([]int64, b.N)
			start := time.Now()
			before := written.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				w.tick()
				samples[i] = int64(time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(samples)
			b.ReportMetric(float64(samples[len(samples)/2]), "p50-ns")
			b.ReportMetric(float64(samples[len(samples)*99/100]), "p99-ns")
			if mode == "with-ledger-writer" {
				b.ReportMetric(float64(written.Load()-before)/time.Since(start).Seconds(), "ledger-fills/s")
			}
		})
	}
}
