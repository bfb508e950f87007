package ledger

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// tool returns the path of an accounting tool, skipping the test when it
// is missing (failing under CI=true, where .ci/run installs it).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (CI=true requires it: .ci/run installs Debian's hledger and beancount)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// exportLedger builds books with every kind of transaction: fills with fees
// in quote, base (a rebate) and a third asset, gas in ETH, external
// transfers, an asset code starting with a digit, random fills on top.
func exportLedger(t *testing.T) *Ledger {
	l := New()
	for _, e := range []External{
		{ID: "open-usdt", Venue: "binance", Asset: "USDT", Amount: d("100000"), TS: t0},
		{ID: "open-btc", Venue: "okx", Asset: "BTC", Amount: d("2.5"), TS: t0},
		{ID: "w1", Venue: "okx", Asset: "BTC", Amount: d("-0.1"), TS: t0.Add(time.Hour), Memo: "withdrawal to cold storage"},
	} {
		mustApply(t, l, Event{Kind: KindExternal, External: &e})
	}
	mustApply(t, l, fillEv(fill("binance", "1", "T1", "buy", "64000.12", "0.0015", func(f *Fill) {
		f.Fee, f.FeeAsset, f.FeeQuoteRate = d("0.0000015"), "BNB", d("598.3")
	})))
	mustApply(t, l, fillEv(fill("okx", "2", "T1", "sell", "64100.5", "0.0015", func(f *Fill) { f.Fee, f.FeeAsset = d("-0.00000003"), "BTC" })))
	tr := trade("T1", StateClosedFlat, func(tr *Trade) {
		tr.Legs[1].GasQuote, tr.Legs[1].GasAsset, tr.Legs[1].Gas = d("0.42"), "ETH", d("0.00012")
	})
	mustApply(t, l, Event{Seq: 3, Kind: KindTrade, Trade: &tr})
	mustApply(t, l, fillEv(fill("bybit", "3", "", "buy", "0.4123", "1500", func(f *Fill) {
		f.Symbol, f.Base, f.Fee, f.FeeAsset = "1INCH-USDT", "1INCH", d("0.5"), "1INCH"
	})))
	mustApply(t, l, fillEv(fill("b_2", "4", "", "sell", "3000", "1", func(f *Fill) { f.Symbol, f.Base = "ETH-USDT", "ETH" })))
	r := rand.New(rand.NewPCG(7, 7))
	for _, f := range randomFills(r, 300) {
		f.VenueFillID = "r" + f.VenueFillID
		if f.TradeID != "" {
			f.TradeID = "r" + f.TradeID
		}
		mustApply(t, l, fillEv(f))
	}
	if v := l.Check(); len(v) != 0 {
		t.Fatal(v)
	}
	return l
}

// TestJournalHledger: `hledger balance` on the journal gives exactly the
// ledger's own balance for every account, and nothing else.
func TestJournalHledger(t *testing.T) {
	hledger := tool(t, "hledger")
	l := exportLedger(t)
	path := filepath.Join(t.TempDir(), "arb.journal")
	var buf bytes.Buffer
	if err := WriteJournal(&buf, l); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(hledger, "-f", path, "balance", "--flat", "--no-total", "--empty", "-O", "csv").CombinedOutput()
	if err != nil {
		t.Fatalf("hledger: %v\n%s", err, out)
	}
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("hledger csv: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, row := range rows[1:] { // header: account, balance
		if len(row) != 2 {
			t.Fatalf("row %v", row)
		}
		got[row[0]] = row[1]
	}
	compareTool(t, "hledger", l, got, func(a Account) string { return a.String() }, func(asset string) string { return journalCommodity(asset) })
}

// TestBeancount: bean-check accepts the file, and a bean-query balance
// query gives exactly the ledger's balances.
func TestBeancount(t *testing.T) {
	check, query := tool(t, "bean-check"), tool(t, "bean-query")
	l := exportLedger(t)
	path := filepath.Join(t.TempDir(), "arb.beancount")
	var buf bytes.Buffer
	if err := WriteBeancount(&buf, l); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(check, path).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("bean-check: %v\n%s", err, out)
	}
	out, err := exec.Command(query, "-f", "csv", path, "SELECT account, sum(position) AS balance GROUP BY account ORDER BY account").CombinedOutput()
	if err != nil {
		t.Fatalf("bean-query: %v\n%s", err, out)
	}
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("bean-query csv: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, row := range rows[1:] {
		if len(row) != 2 {
			t.Fatalf("row %v", row)
		}
		got[strings.TrimSpace(row[0])] = strings.TrimSpace(row[1])
	}
	compareTool(t, "bean-query", l, got, BeancountAccount, BeancountCommodity)
}

// compareTool checks that a tool's account → "AMOUNT COMMODITY" map holds
// exactly the ledger's balances (zero balances may be shown or omitted).
func compareTool(t *testing.T, name string, l *Ledger, got map[string]string, account func(Account) string, commodity func(string) string) {
	t.Helper()
	seen := map[string]bool{}
	for _, ab := range l.AccountBalances() {
		n := account(ab.Account)
		seen[n] = true
		s, ok := got[n]
		if !ok || s == "0" || s == "" {
			if !ab.Balance.IsZero() {
				t.Errorf("%s: %s missing (ledger %s)", name, n, ab.Balance)
			}
			continue
		}
		fields := strings.Fields(s) // bean-query aligns amounts with spaces
		if len(fields) != 2 || fields[1] != commodity(ab.Account.Asset) {
			t.Errorf("%s: %s = %q, want commodity %s", name, n, s, commodity(ab.Account.Asset))
			continue
		}
		v, err := decimal.NewFromString(fields[0])
		if err != nil || !v.Equal(ab.Balance) {
			t.Errorf("%s: %s = %s, ledger %s", name, n, fields[0], ab.Balance)
		}
	}
	var extra []string
	for n, s := range got {
		if !seen[n] && s != "0" && s != "" {
			extra = append(extra, fmt.Sprintf("%s=%s", n, s))
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("%s shows accounts the ledger does not have: %v", name, extra)
	}
	if len(got) < len(l.Accounts())/2 {
		t.Errorf("%s shows %d accounts, the ledger has %d", name, len(got), len(l.Accounts()))
	}
}
