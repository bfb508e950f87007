package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// fill returns a valid fill; mods adjust it.
func fill(venue, id, trade, side, px, qty string, mods ...func(*Fill)) Fill {
	f := Fill{Venue: venue, VenueFillID: id, ClientOrderID: "c" + id, TradeID: trade, Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT",
		Side: side, Price: d(px), Qty: d(qty), Fee: d("0.1"), FeeAsset: "USDT", TS: t0}
	for _, m := range mods {
		m(&f)
	}
	return f
}

func mustApply(t *testing.T, l *Ledger, ev Event) Change {
	t.Helper()
	ch, err := l.Apply(ev)
	if err != nil {
		t.Fatalf("apply %+v: %v", ev, err)
	}
	return ch
}

func fillEv(f Fill) Event { return Event{Kind: KindFill, Fill: &f} }

func trade(id, state string, mods ...func(*Trade)) Trade {
	tr := Trade{ID: id, PlanID: "p" + id, Symbol: "BTC-USDT", BuyVenue: "binance", SellVenue: "okx", State: state,
		Qty: d("1"), ExpectedNetQuote: d("5"), OpenedAt: t0,
		Legs: []Leg{
			{Venue: "binance", Side: "buy", Purpose: "entry", ClientOrderID: "c" + id + "b", Price: d("100"), Qty: d("1"), FilledQty: d("1"), AvgPrice: d("100"), Fee: d("0.1"), FeeAsset: "USDT", Status: "filled"},
			{Venue: "okx", Side: "sell", Purpose: "entry", ClientOrderID: "c" + id + "s", Price: d("106"), Qty: d("1"), FilledQty: d("1"), AvgPrice: d("106"), Fee: d("0.1"), FeeAsset: "USDT", Status: "filled"},
		}}
	if Closed(state) {
		c := t0.Add(time.Second)
		tr.ClosedAt = &c
	}
	for _, m := range mods {
		m(&tr)
	}
	return tr
}

func TestFillBooksBalancedTransaction(t *testing.T) {
	l := New()
	ch := mustApply(t, l, fillEv(fill("binance", "1", "T1", "buy", "100.5", "2", func(f *Fill) {
		f.Fee, f.FeeAsset, f.FeeQuoteRate = d("0.003"), "BNB", d("600")
	})))
	if ch.Outcome != Applied || len(ch.Txs) != 1 || ch.Fill == nil || ch.Trade == nil {
		t.Fatalf("change %+v", ch)
	}
	want := map[string]string{
		"assets:binance:BTC": "2", "income:trading:binance:BTC": "-2",
		"assets:binance:USDT": "-201", "income:trading:binance:USDT": "201",
		"assets:binance:BNB": "-0.003", "expenses:fees:binance:BNB": "0.003",
	}
	got := map[string]string{}
	for _, ab := range l.AccountBalances() {
		got[ab.Account.String()] = ab.Balance.String()
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("balances %v\nwant %v", got, want)
	}
	// The conversion is recorded: 0.003 BNB at 600 = 1.8 USDT.
	if fq := l.Fills()[0].FeeQuote; !fq.Equal(d("1.8")) || !l.Fills()[0].FeeQuoteRate.Equal(d("600")) {
		t.Errorf("fee quote %s rate %s", fq, l.Fills()[0].FeeQuoteRate)
	}
	// Fee in base: the fill's own price is the rate.
	mustApply(t, l, fillEv(fill("binance", "2", "T1", "sell", "101", "1", func(f *Fill) { f.Fee, f.FeeAsset = d("0.001"), "BTC" })))
	if r := l.Fills()[1]; !r.FeeQuoteRate.Equal(d("101")) || !r.FeeQuote.Equal(d("0.101")) {
		t.Errorf("base fee: rate %s quote %s", r.FeeQuoteRate, r.FeeQuote)
	}
	if v := l.Check(); len(v) != 0 {
		t.Errorf("check: %v", v)
	}
}

func TestIdempotency(t *testing.T) {
	l := New()
	f := fill("binance", "1", "T1", "buy", "100", "1")
	mustApply(t, l, fillEv(f))
	before := snapshot(l)
	for range 3 {
		if ch := mustApply(t, l, fillEv(f)); ch.Outcome != Duplicate || len(ch.Txs) != 0 {
			t.Fatalf("again: %+v", ch)
		}
	}
	// The rate the ledger filled in does not make a redelivery differ.
	g := f
	g.FeeQuoteRate = d("1")
	if ch := mustApply(t, l, fillEv(g)); ch.Outcome != Duplicate {
		t.Fatalf("explicit rate 1: %+v", ch)
	}
	// Same key, other content: a conflict, nothing changes.
	g = f
	g.Qty = d("2")
	if _, err := l.Apply(fillEv(g)); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	// The same fill id on another venue is another fill.
	g = f
	g.Venue = "okx"
	mustApply(t, l, fillEv(g))
	if l.FillCount() != 2 {
		t.Fatalf("%d fills", l.FillCount())
	}
	l2 := New()
	mustApply(t, l2, fillEv(f))
	if snapshot(l2) != before {
		t.Fatal("snapshot is not deterministic")
	}

	// External transfers and gas are idempotent too.
	e := External{ID: "open1", Venue: "binance", Asset: "USDT", Amount: d("1000"), TS: t0}
	mustApply(t, l, Event{Kind: KindExternal, External: &e})
	if ch := mustApply(t, l, Event{Kind: KindExternal, External: &e}); ch.Outcome != Duplicate {
		t.Fatalf("external again: %+v", ch)
	}
	e2 := e
	e2.Amount = d("999")
	if _, err := l.Apply(Event{Kind: KindExternal, External: &e2}); !errors.Is(err, ErrConflict) {
		t.Fatalf("external conflict: %v", err)
	}
}

// snapshot renders everything observable about a ledger.
func snapshot(l *Ledger) string {
	var sb strings.Builder
	for _, ab := range l.AccountBalances() {
		fmt.Fprintf(&sb, "%s=%s\n", ab.Account, ab.Balance)
	}
	for _, tx := range l.Transactions() {
		fmt.Fprintf(&sb, "%s %s %v\n", tx.ID, tx.Kind, tx.Entries)
	}
	for _, tv := range l.TradesOf(Filter{}) {
		b, _ := json.Marshal(tv)
		sb.Write(b)
		sb.WriteByte('\n')
	}
	b, _ := json.Marshal(l.PnL(Filter{}))
	sb.Write(b)
	return sb.String()
}

func TestTradePnLAndGas(t *testing.T) {
	l := New()
	mustApply(t, l, fillEv(fill("binance", "b1", "T1", "buy", "100", "1")))
	mustApply(t, l, fillEv(fill("okx", "s1", "T1", "sell", "106", "0.4")))
	mustApply(t, l, fillEv(fill("okx", "s2", "T1", "sell", "105", "0.6", func(f *Fill) { f.TS = t0.Add(time.Millisecond) })))
	tr := trade("T1", StateClosedFlat, func(tr *Trade) {
		tr.Legs[1].Venue, tr.Legs[1].GasQuote, tr.Legs[1].GasAsset, tr.Legs[1].Gas = "okx", d("0.5"), "ETH", d("0.0002")
	})
	ch := mustApply(t, l, Event{Seq: 10, Kind: KindTrade, Trade: &tr})
	if len(ch.Txs) != 1 || ch.Txs[0].ID != "gas:T1:cT1s" || ch.Txs[0].Kind != TxGas {
		t.Fatalf("gas tx %+v", ch.Txs)
	}
	p := l.Trade("T1").PnL
	// gross: 0.4·6 + 0.6·5 = 5.4; fees 0.3; gas 0.5; net 4.6.
	if !p.Gross.Equal(d("5.4")) || !p.FeesQuote.Equal(d("0.3")) || !p.GasQuote.Equal(d("0.5")) || !p.Net.Equal(d("4.6")) || !p.ResidualBase.IsZero() {
		t.Fatalf("pnl %+v", p)
	}
	if got := l.Balance(Account{Holdings, "okx", "ETH"}); !got.Equal(d("-0.0002")) {
		t.Errorf("gas paid from okx ETH: %s", got)
	}
	// Replaying the closed trade event books no second gas; an older event is stale.
	if ch := mustApply(t, l, Event{Seq: 10, Kind: KindTrade, Trade: &tr}); ch.Outcome != Duplicate {
		t.Errorf("again: %v", ch.Outcome)
	}
	old := trade("T1", StateOpen)
	if ch := mustApply(t, l, Event{Seq: 5, Kind: KindTrade, Trade: &old}); ch.Outcome != Stale {
		t.Errorf("older event: %v", ch.Outcome)
	}
	if l.Trade("T1").Trade.State != StateClosedFlat {
		t.Error("a stale event replaced the trade")
	}
	tv := l.TradesOf(Filter{})[0]
	if !tv.Ledger.SlippageQuote.Equal(d("-0.4")) {
		t.Errorf("slippage %s, want 4.6-5", tv.Ledger.SlippageQuote)
	}
	rep := l.PnL(Filter{})
	if len(rep.Totals) != 1 || rep.Totals[0].Wins != 1 || rep.Totals[0].Closed != 1 || !rep.Totals[0].Net.Equal(d("4.6")) ||
		len(rep.Pairs) != 1 || rep.Pairs[0].BuyVenue != "binance" || len(rep.Venues) != 2 {
		t.Errorf("report %+v", rep)
	}
	if v := l.Check(); len(v) != 0 {
		t.Errorf("check: %v", v)
	}
}

func TestResidualAndMarks(t *testing.T) {
	l := New()
	e := External{ID: "o1", Venue: "binance", Asset: "USDT", Amount: d("1000"), TS: t0}
	mustApply(t, l, Event{Kind: KindExternal, External: &e})
	mustApply(t, l, fillEv(fill("binance", "b1", "T1", "buy", "100", "1", func(f *Fill) { f.Fee = d("0") })))
	mustApply(t, l, fillEv(fill("binance", "b2", "T1", "buy", "102", "1", func(f *Fill) { f.Fee, f.TS = d("0"), t0.Add(time.Second) })))
	mustApply(t, l, fillEv(fill("okx", "s1", "T1", "sell", "104", "1.5", func(f *Fill) { f.Fee, f.TS = d("0"), t0.Add(2*time.Second) })))
	p := l.Trade("T1").PnL
	// FIFO: 1@100 and 0.5@102 sold at 104: 4 + 1 = 5; 0.5 long left at 102.
	if !p.Gross.Equal(d("5")) || !p.ResidualBase.Equal(d("0.5")) || !p.ResidualCost.Equal(d("51")) {
		t.Fatalf("pnl %+v", p)
	}
	if u := p.Unrealized(d("101")); !u.Equal(d("-0.5")) {
		t.Errorf("unrealized %s", u)
	}
	mids := Marks{"BTC-USDT": d("101")}
	v := l.Value("USDT", mids)
	// binance: 1000 − 202 USDT + 2 BTC·101; okx: −1.5 BTC·101 + 156 USDT.
	if want := d("1000").Sub(d("202")).Add(d("202")).Sub(d("151.5")).Add(d("156")); !v.Equal(want) || !v.Unrealized.Equal(d("-0.5")) {
		t.Errorf("valuation %+v, want equity %s", v, want)
	}
	m1 := l.MarkEquity("USDT", mids, t0)
	m2 := l.MarkEquity("USDT", Marks{"BTC-USDT": d("99")}, t0.Add(time.Hour))
	if !m2.DayPeak.Equal(m1.Equity) || !m2.Drawdown.Equal(m1.Equity.Sub(m2.Equity)) || m2.Drawdown.Sign() <= 0 {
		t.Errorf("peak %+v then %+v", m1, m2)
	}
	m3 := l.MarkEquity("USDT", Marks{"BTC-USDT": d("99")}, t0.Add(24*time.Hour))
	if !m3.DayPeak.Equal(m3.Equity) || !m3.Drawdown.IsZero() {
		t.Errorf("a new day starts its own peak: %+v", m3)
	}
	if u := l.Value("EUR", mids); len(u.Unpriced) != 2 {
		t.Errorf("unpriced %v", u.Unpriced)
	}
}

// Equal for Valuation in tests.
func (v Valuation) Equal(d decimal.Decimal) bool { return v.Equity.Equal(d) }

func TestInvariantPanics(t *testing.T) {
	l := New()
	mustApply(t, l, fillEv(fill("binance", "1", "", "buy", "100", "1")))
	defer func() {
		r := recover()
		if _, ok := r.(*InvariantError); !ok {
			t.Fatalf("recovered %v, want *InvariantError", r)
		}
	}()
	l.post(&Transaction{ID: "x", Entries: []Entry{{Account{Holdings, "a", "BTC"}, d("1")}, {Account{Trading, "a", "BTC"}, d("-0.9")}}})
}

func TestInvariantTotals(t *testing.T) {
	l := New()
	l.totals["BTC"] = d("1") // corrupt the books behind the ledger's back
	defer func() {
		if _, ok := recover().(*InvariantError); !ok {
			t.Fatal("posting on corrupted totals did not panic")
		}
	}()
	mustApply(t, l, fillEv(fill("binance", "1", "", "buy", "100", "1")))
}

func TestCheckFindsCorruption(t *testing.T) {
	l := New()
	mustApply(t, l, fillEv(fill("binance", "1", "T1", "buy", "100", "1")))
	mustApply(t, l, fillEv(fill("okx", "2", "T1", "sell", "101", "1")))
	if v := l.Check(); len(v) != 0 {
		t.Fatal(v)
	}
	l.balances[Account{Holdings, "okx", "USDT"}] = d("0")
	l.trades["T1"].PnL.Net = d("7")
	l.txs[0].Entries[0].Amount = d("2")
	v := l.Check()
	rules := map[string]bool{}
	for _, x := range v {
		rules[x.Rule] = true
	}
	for _, r := range []string{"balanced", "balance", "fill_tx", "trade_pnl"} {
		if !rules[r] {
			t.Errorf("check missed %s: %v", r, v)
		}
	}
}

func TestReconcile(t *testing.T) {
	ledger := []BalanceRow{{"binance", "BTC", d("1.5")}, {"binance", "USDT", d("100")}, {"okx", "BTC", d("2")}, {"bybit", "ETH", d("3")}}
	reported := []BalanceRow{{"binance", "BTC", d("1.50000001")}, {"binance", "USDT", d("99")}, {"binance", "BNB", d("0.2")}, {"okx", "BTC", d("2")}}
	rows, differs := Reconcile(ledger, reported, Dust{Default: d("0.0001"), PerAsset: map[string]decimal.Decimal{"USDT": d("0.5")}})
	if !differs {
		t.Fatal("differences not found")
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s/%s %s %v", r.Venue, r.Asset, r.Diff, r.Beyond))
	}
	want := "binance/BNB 0.2 true|binance/BTC 0.00000001 false|binance/USDT -1 true|okx/BTC 0 false"
	if strings.Join(got, "|") != want {
		t.Errorf("rows %s\nwant %s", strings.Join(got, "|"), want)
	}
	if _, differs := Reconcile(ledger[:1], reported[:1], Dust{Default: d("0.0001")}); differs {
		t.Error("dust reported as a difference")
	}
}

func TestAccountNames(t *testing.T) {
	for k := Holdings; k <= ExternalFunds; k++ {
		a := Account{k, "bin_ance-2", "1INCH"}
		b, err := ParseAccount(a.String())
		if err != nil || b != a {
			t.Errorf("%s: %v %v", a, b, err)
		}
	}
	if _, err := ParseAccount("assets:Binance:BTC"); err == nil {
		t.Error("an uppercase venue parsed")
	}
}
