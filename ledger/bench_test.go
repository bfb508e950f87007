package ledger

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// BenchmarkApplyFill: one fill applied to the in-memory ledger (transaction,
// invariants, the trade's PnL recomputed), the consumer's cost before the write.
func BenchmarkApplyFill(b *testing.B) {
	l := New()
	venues := []string{"binance", "okx", "bybit"}
	fills := make([]Fill, b.N)
	for i := range fills {
		fills[i] = Fill{Venue: venues[i%3], VenueFillID: fmt.Sprintf("%d", 1000000+i), ClientOrderID: fmt.Sprintf("c%d", i),
			TradeID: fmt.Sprintf("T%d", i/2), Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT", Side: []string{"buy", "sell"}[i%2],
			Price: decimal.New(6400012+int64(i%100), -2), Qty: decimal.New(1500+int64(i%7), -6), Fee: decimal.New(96, -3), FeeAsset: "USDT", TS: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range fills {
		if _, err := l.Apply(Event{Seq: uint64(i + 1), Kind: KindFill, Fill: &fills[i]}); err != nil {
			b.Fatal(err)
		}
	}
}
