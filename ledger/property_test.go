package ledger

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the property tests (0: a new one, printed)")

func seed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", s, s)
	return s
}

// randomDecimal returns a positive decimal with up to maxInt integer digits
// and up to frac fraction digits.
func randomDecimal(r *rand.Rand, maxInt int64, frac int32) decimal.Decimal {
	for {
		v := decimal.New(r.Int64N(maxInt*pow10(frac)), -frac)
		if v.Sign() > 0 {
			return v
		}
	}
}

func pow10(n int32) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

type symbolDef struct{ base, quote string }

var symbols = []symbolDef{{"BTC", "USDT"}, {"ETH", "USDT"}, {"ETH", "BTC"}}

// randomFills makes n fills over a few venues, symbols and trades, with
// fees in the quote, the base or a third asset.
func randomFills(r *rand.Rand, n int) []Fill {
	venues := []string{"binance", "okx", "bybit"}
	tradeSym := map[string]symbolDef{}
	var out []Fill
	for i := range n {
		tradeID := ""
		var sym symbolDef
		if r.IntN(5) > 0 {
			tradeID = fmt.Sprintf("T%d", r.IntN(n/4+1))
			s, ok := tradeSym[tradeID]
			if !ok {
				s = symbols[r.IntN(len(symbols))]
				tradeSym[tradeID] = s
			}
			sym = s
		} else {
			sym = symbols[r.IntN(len(symbols))]
		}
		f := Fill{Venue: venues[r.IntN(len(venues))], VenueFillID: fmt.Sprintf("f%d", i), ClientOrderID: fmt.Sprintf("o%d", i/2),
			TradeID: tradeID, Symbol: sym.base + "-" + sym.quote, Base: sym.base, Quote: sym.quote,
			Side: []string{"buy", "sell"}[r.IntN(2)], Price: randomDecimal(r, 100000, 4), Qty: randomDecimal(r, 10, 8),
			// Coarse times so that equal timestamps exercise the tie-break.
			TS: t0.Add(time.Duration(r.IntN(50)) * time.Second)}
		switch r.IntN(4) {
		case 0: // no fee
		case 1:
			f.Fee, f.FeeAsset = randomDecimal(r, 1, 6), f.Quote
		case 2:
			f.Fee, f.FeeAsset = randomDecimal(r, 1, 10).Neg(), f.Base // a rebate
		case 3:
			f.Fee, f.FeeAsset, f.FeeQuoteRate = randomDecimal(r, 1, 8), "BNB", randomDecimal(r, 1000, 2)
		}
		out = append(out, f)
	}
	return out
}

// naive recomputes, from the fills alone and in the plainest way, what the
// ledger must hold: holdings, trading and fee balances per venue and
// asset, and each trade's PnL.
type naive struct {
	holdings, trading, fees map[[2]string]decimal.Decimal
	trades                  map[string]TradePnL
}

func naiveOf(fills []Fill) naive {
	n := naive{holdings: map[[2]string]decimal.Decimal{}, trading: map[[2]string]decimal.Decimal{},
		fees: map[[2]string]decimal.Decimal{}, trades: map[string]TradePnL{}}
	byTrade := map[string][]Fill{}
	for _, f := range fills {
		sign := decimal.NewFromInt(1)
		if f.Side == "sell" {
			sign = sign.Neg()
		}
		b, q := [2]string{f.Venue, f.Base}, [2]string{f.Venue, f.Quote}
		n.holdings[b] = n.holdings[b].Add(sign.Mul(f.Qty))
		n.trading[b] = n.trading[b].Sub(sign.Mul(f.Qty))
		n.holdings[q] = n.holdings[q].Sub(sign.Mul(f.Qty).Mul(f.Price))
		n.trading[q] = n.trading[q].Add(sign.Mul(f.Qty).Mul(f.Price))
		if f.FeeAsset != "" {
			k := [2]string{f.Venue, f.FeeAsset}
			n.holdings[k] = n.holdings[k].Sub(f.Fee)
			n.fees[k] = n.fees[k].Add(f.Fee)
		}
		if f.TradeID != "" {
			byTrade[f.TradeID] = append(byTrade[f.TradeID], f)
		}
	}
	for id, fs := range byTrade {
		var p TradePnL
		// Time order with the same tie-break as the ledger.
		slices.SortFunc(fs, func(a, b Fill) int { return fillOrder(&a, &b) })
		for _, f := range fs {
			rate := f.FeeQuoteRate
			switch f.FeeAsset {
			case f.Quote, "":
				rate = decimal.NewFromInt(1)
			case f.Base:
				rate = f.Price
			}
			p.FeesQuote = p.FeesQuote.Add(f.Fee.Mul(rate))
			if f.Side == "buy" {
				p.BoughtBase, p.BuyQuote = p.BoughtBase.Add(f.Qty), p.BuyQuote.Add(f.Qty.Mul(f.Price))
			} else {
				p.SoldBase, p.SellQuote = p.SoldBase.Add(f.Qty), p.SellQuote.Add(f.Qty.Mul(f.Price))
			}
		}
		// First in, first out leaves open the most recent fills of the
		// side that is net open: walk that side from the newest back.
		p.ResidualBase = p.BoughtBase.Sub(p.SoldBase)
		left, side := p.ResidualBase.Abs(), "buy"
		if p.ResidualBase.Sign() < 0 {
			side = "sell"
		}
		for i := len(fs) - 1; i >= 0 && left.Sign() > 0; i-- {
			if fs[i].Side != side {
				continue
			}
			m := decimal.Min(left, fs[i].Qty)
			left = left.Sub(m)
			p.ResidualCost = p.ResidualCost.Add(m.Mul(fs[i].Price))
		}
		if side == "sell" {
			p.ResidualCost = p.ResidualCost.Neg()
		}
		// Cash in minus cash out, plus what the open lots cost.
		p.Gross = p.SellQuote.Sub(p.BuyQuote).Add(p.ResidualCost)
		p.Net = p.Gross.Sub(p.FeesQuote)
		n.trades[id] = p
	}
	return n
}

// TestPropertyAgainstNaive: for random fill sequences, applied in a random
// order with random redeliveries, the ledger's balances, positions and
// trade PnL equal a naive recomputation from the fills, Check finds
// nothing, and the order of application changes nothing.
func TestPropertyAgainstNaive(t *testing.T) {
	s := seed(t)
	r := rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
	for round := range 200 {
		fills := randomFills(r, 1+r.IntN(60))
		want := naiveOf(fills)
		var snaps []string
		for pass := range 2 {
			order := r.Perm(len(fills))
			l := New()
			for k, i := range order {
				mustApply(t, l, fillEv(fills[i]))
				if r.IntN(4) == 0 { // a redelivery of one applied already
					if ch := mustApply(t, l, fillEv(fills[order[r.IntN(k+1)]])); ch.Outcome != Duplicate {
						t.Fatalf("seed %d round %d: a redelivered fill was applied again", s, round)
					}
				}
			}
			compareNaive(t, s, round, l, want)
			if v := l.Check(); len(v) != 0 {
				t.Fatalf("seed %d round %d pass %d: check: %v", s, round, pass, v)
			}
			snaps = append(snaps, balancesAndPnL(l))
		}
		if snaps[0] != snaps[1] {
			t.Fatalf("seed %d round %d: the order of application changed the books:\n%s\n---\n%s", s, round, snaps[0], snaps[1])
		}
	}
}

func balancesAndPnL(l *Ledger) string {
	var out string
	for _, ab := range l.AccountBalances() {
		out += fmt.Sprintf("%s=%s\n", ab.Account, ab.Balance)
	}
	ids := []string{}
	for _, tr := range l.Trades() {
		ids = append(ids, tr.ID)
	}
	slices.Sort(ids)
	for _, id := range ids {
		out += fmt.Sprintf("%s %+v\n", id, l.Trade(id).PnL)
	}
	return out
}

func compareNaive(t *testing.T, s uint64, round int, l *Ledger, want naive) {
	t.Helper()
	check := func(kind AccountKind, m map[[2]string]decimal.Decimal) {
		for k, v := range m {
			if got := l.Balance(Account{kind, k[0], k[1]}); !got.Equal(v) {
				t.Fatalf("seed %d round %d: %s balance %s, naive %s", s, round, Account{kind, k[0], k[1]}, got, v)
			}
		}
	}
	check(Holdings, want.holdings)
	check(Trading, want.trading)
	check(Fees, want.fees)
	for _, a := range l.Accounts() {
		var m map[[2]string]decimal.Decimal
		switch a.Kind {
		case Holdings:
			m = want.holdings
		case Trading:
			m = want.trading
		case Fees:
			m = want.fees
		default:
			t.Fatalf("unexpected account %s", a)
		}
		if _, ok := m[[2]string{a.Venue, a.Asset}]; !ok {
			t.Fatalf("seed %d round %d: account %s not in the naive books", s, round, a)
		}
	}
	// Positions as the report shows them.
	for _, b := range l.Balances(Filter{}) {
		if !b.Balance.Equal(want.holdings[[2]string{b.Venue, b.Asset}]) {
			t.Fatalf("seed %d round %d: position %s/%s %s", s, round, b.Venue, b.Asset, b.Balance)
		}
	}
	if len(l.Trades()) != len(want.trades) {
		t.Fatalf("seed %d round %d: %d trades, naive %d", s, round, len(l.Trades()), len(want.trades))
	}
	total := decimal.Zero
	for id, p := range want.trades {
		got := l.Trade(id).PnL
		if !got.Equal(&p) {
			t.Fatalf("seed %d round %d: trade %s pnl\n got %+v\nwant %+v", s, round, id, got, p)
		}
		total = total.Add(p.Net)
	}
	rep := l.PnL(Filter{})
	sum := decimal.Zero
	for _, tt := range rep.Totals {
		sum = sum.Add(tt.Net)
	}
	if !sum.Equal(total) {
		t.Fatalf("seed %d round %d: report net %s, naive %s", s, round, sum, total)
	}
}
