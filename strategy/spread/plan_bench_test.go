package spread

import (
	"testing"

	"arb/exchange"
	"arb/exchange/num"
)

// BenchmarkPlanPath measures an update that always ends in a plan (10-level
// books, every level profitable to about half the depth), the slowest
// per-event path; BenchmarkNoEdgePath one whose books have no edge.
func BenchmarkPlanPath(b *testing.B)   { benchPath(b, 50) }
func BenchmarkNoEdgePath(b *testing.B) { benchPath(b, -50) }

func benchPath(b *testing.B, edge int64) {
	reg := testRegistry()
	cfg := zeroCostConfig(reg)
	cfg.Venues[0].TakerFeeBps, cfg.Venues[1].TakerFeeBps = 7.5, 10
	e := newEnv(b, cfg)
	inv := e.d.Inventory()
	usdt, _ := inv.Asset("USDT")
	btc, _ := inv.Asset("BTC")
	var a, s exchange.BookTop
	a = exchange.BookTop{Venue: 1, Inst: btcUSDT, RecvTS: t0, NBids: exchange.TopK, NAsks: exchange.TopK}
	s = exchange.BookTop{Venue: 2, Inst: btcUSDT, RecvTS: t0, NBids: exchange.TopK, NAsks: exchange.TopK}
	for l := range exchange.TopK {
		a.Bids[l] = exchange.Level{Px: num.Price(9_990_00 - int64(l)*100), Qty: 5000}
		a.Asks[l] = exchange.Level{Px: num.Price(10_000_00 + int64(l)*100), Qty: 5000}
		s.Bids[l] = exchange.Level{Px: num.Price(10_000_00 + edge*100 - int64(l)*100), Qty: 5000}
		s.Asks[l] = exchange.Level{Px: num.Price(10_010_00 + edge*100 + int64(l)*100), Qty: 5000}
	}
	e.d.OnBook(&a, t0)
	b.ReportAllocs()
	b.ResetTimer()
	plans := 0
	for i := 0; i < b.N; i++ {
		inv.Set(1, usdt, 1<<50)
		inv.Set(2, btc, 1<<50)
		plans += len(e.d.OnBook(&s, t0))
	}
	if edge > 0 && plans != b.N || edge < 0 && plans != 0 {
		b.Fatalf("%d plans in %d", plans, b.N)
	}
}
