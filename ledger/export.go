package ledger

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// Plain-text accounting exports, so an accountant opens arb's books in the
// tools they already use. Both write every transaction with every entry,
// amounts exactly as booked.
//
// The journal format is hledger's (and ledger-cli's): account names as the
// ledger's (assets:binance:BTC), one posting per entry, commodity after the
// amount, quoted when it is not all letters ("1INCH").
//
// Beancount needs capitalized account components and commodities that
// start with a letter: see BeancountAccount and BeancountCommodity. Its
// arithmetic is Python's decimal with 28 significant digits, so
// WriteBeancount refuses an amount with more than 28 digits rather than let
// the tool round it.

// WriteJournal writes the ledger as an hledger/ledger journal.
func WriteJournal(w io.Writer, l *Ledger) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "; arb ledger: %d transactions, %d fills\n", len(l.txs), len(l.fills))
	fmt.Fprintf(bw, "; accounts: assets (holdings per venue), expenses:fees, income:trading (the PnL counter-account), equity:external (opening balances, deposits)\n\n")
	for _, tx := range l.txs {
		fmt.Fprintf(bw, "%s (%s) %s\n", tx.TS.UTC().Format(time.DateOnly), tx.ID, tx.Memo)
		fmt.Fprintf(bw, "    ; time:%s, kind:%s", tx.TS.UTC().Format(time.RFC3339Nano), tx.Kind)
		if tx.TradeID != "" {
			fmt.Fprintf(bw, ", trade:%s", tx.TradeID)
		}
		bw.WriteByte('\n')
		for _, e := range tx.Entries {
			fmt.Fprintf(bw, "    %-40s  %s %s\n", e.Account.String(), e.Amount.String(), journalCommodity(e.Account.Asset))
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

func journalCommodity(asset string) string {
	for i := 0; i < len(asset); i++ {
		if c := asset[i]; c < 'A' || c > 'Z' {
			return `"` + asset + `"`
		}
	}
	return asset
}

var beancountRoots = [...]string{"", "Assets", "Expenses:Fees", "Income:Trading", "Equity:External"}

// BeancountAccount returns an account's Beancount name:
// Assets:Binance:BTC, Expenses:Fees:Okx:USDT, Income:Trading:Bybit:USDT,
// Equity:External:Binance:BTC. The venue is capitalized with '_' written
// as '-' (Beancount allows letters, digits and '-' only).
func BeancountAccount(a Account) string {
	v := []byte(a.Venue)
	for i, c := range v {
		if c == '_' {
			v[i] = '-'
		}
	}
	if len(v) > 0 && v[0] >= 'a' && v[0] <= 'z' {
		v[0] -= 'a' - 'A'
	}
	return beancountRoots[a.Kind] + ":" + string(v) + ":" + a.Asset
}

// BeancountCommodity returns an asset's Beancount commodity: the code
// itself, or "X" + code when the code starts with a digit or has a single
// character (Beancount commodities start with a letter and have at least
// two characters).
func BeancountCommodity(asset string) string {
	if len(asset) < 2 || asset[0] < 'A' || asset[0] > 'Z' {
		return "X" + asset
	}
	return asset
}

// maxBeancountDigits is Python decimal's default precision.
const maxBeancountDigits = 28

// WriteBeancount writes the ledger as a Beancount file. It fails, before
// writing anything, if two accounts or two assets would get the same
// Beancount name or an amount has more digits than Beancount computes with.
func WriteBeancount(w io.Writer, l *Ledger) error {
	names := map[string]Account{}
	commodities := map[string]string{}
	for _, a := range l.accounts {
		n := BeancountAccount(a)
		if o, ok := names[n]; ok && o != a {
			return fmt.Errorf("ledger: beancount export: %s and %s are both %s", o, a, n)
		}
		names[n] = a
		c := BeancountCommodity(a.Asset)
		if o, ok := commodities[c]; ok && o != a.Asset {
			return fmt.Errorf("ledger: beancount export: assets %s and %s are both %s", o, a.Asset, c)
		}
		commodities[c] = a.Asset
	}
	for _, tx := range l.txs {
		for _, e := range tx.Entries {
			if e.Amount.NumDigits() > maxBeancountDigits {
				return fmt.Errorf("ledger: beancount export: %s in %s has more than %d digits", e.Amount, tx.ID, maxBeancountDigits)
			}
		}
	}
	for _, a := range l.accounts {
		if b := l.balances[a]; b.NumDigits() > maxBeancountDigits {
			return fmt.Errorf("ledger: beancount export: balance %s of %s has more than %d digits", b, a, maxBeancountDigits)
		}
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "; arb ledger: %d transactions, %d fills\n", len(l.txs), len(l.fills))
	bw.WriteString("option \"title\" \"arb\"\n\n")
	// Accounts open on the first day of the books.
	var first time.Time
	for _, tx := range l.txs {
		if first.IsZero() || tx.TS.Before(first) {
			first = tx.TS
		}
	}
	day := first.UTC().Format(time.DateOnly)
	for _, a := range l.accounts {
		fmt.Fprintf(bw, "%s open %s %s\n", day, BeancountAccount(a), BeancountCommodity(a.Asset))
	}
	bw.WriteByte('\n')
	for _, tx := range l.txs {
		fmt.Fprintf(bw, "%s * %q %q\n", tx.TS.UTC().Format(time.DateOnly), tx.ID, beancountString(tx.Memo))
		fmt.Fprintf(bw, "  time: %q\n  kind: %q\n", tx.TS.UTC().Format(time.RFC3339Nano), tx.Kind.String())
		if tx.TradeID != "" {
			fmt.Fprintf(bw, "  trade: %q\n", tx.TradeID)
		}
		for _, e := range tx.Entries {
			fmt.Fprintf(bw, "  %-44s  %s %s\n", BeancountAccount(e.Account), e.Amount.String(), BeancountCommodity(e.Account.Asset))
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// beancountString drops what Beancount strings cannot hold unescaped.
func beancountString(s string) string {
	return strings.NewReplacer(`"`, "'", `\`, "/", "\n", " ").Replace(s)
}
