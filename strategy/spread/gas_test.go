package spread

import (
	"testing"

	"arb/exchange/num"
)

// TestGasFromBook: the gas a book carries (an on-chain venue's gas of that
// block) is netted like the configured gas: added to the plan's GasQuote,
// taken from its net, and enough of it refuses the trade; a negative gas
// makes the book unusable. Gross edge here: 1.00 USDT on 1 BTC.
func TestGasFromBook(t *testing.T) {
	for _, tc := range []struct {
		name         string
		gasA, gasB   int64 // per book, cents
		want         Outcome
		gas, net     int64
		badBooksMore bool
	}{
		{name: "no gas", want: OutcomePlan, gas: 0, net: 100},
		{name: "gas on the buy book", gasA: 30, want: OutcomePlan, gas: 30, net: 70},
		{name: "gas on both books", gasA: 30, gasB: 45, want: OutcomePlan, gas: 75, net: 25},
		{name: "gas above the edge", gasA: 101, want: OutcomeBelowThreshold},
		{name: "negative gas", gasA: -1, want: OutcomeBelowThreshold, badBooksMore: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, zeroCostConfig(testRegistry()))
			e.fund(t, 1, "USDT", "1000000")
			e.fund(t, 2, "BTC", "1")
			a := mkBook(t, 1, btcUSDT, t0, []lvl{{"99.00", "1"}}, []lvl{{"100.00", "1"}})
			b := mkBook(t, 2, btcUSDT, t0, []lvl{{"101.00", "1"}}, []lvl{{"102.00", "1"}})
			a.Gas, b.Gas = num.Quote(tc.gasA), num.Quote(tc.gasB)
			e.d.OnBook(b, t0)
			plans := e.d.OnBook(a, t0)
			if tc.want != OutcomePlan {
				if len(plans) != 0 {
					t.Fatalf("planned %+v", plans[0])
				}
				if tc.badBooksMore && e.d.Stats().BadBooks.Load() == 0 {
					t.Fatal("negative gas not refused as a bad book")
				}
				return
			}
			if len(plans) != 1 {
				t.Fatalf("%d plans", len(plans))
			}
			p := plans[0]
			if int64(p.GasQuote) != tc.gas || int64(p.NetQuote) != tc.net {
				t.Fatalf("gas %d net %d, want %d %d", p.GasQuote, p.NetQuote, tc.gas, tc.net)
			}
		})
	}
}
