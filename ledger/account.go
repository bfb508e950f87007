package ledger

import (
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// AccountKind is the role of an account. Persisted by name, so the names
// never change.
type AccountKind uint8

// Account kinds. Every account is per venue and per asset.
const (
	// Holdings is what arb holds on a venue: assets:<venue>:<ASSET>. A
	// fill moves base and quote between a venue's Holdings and Trading
	// accounts; its balance is the venue's position in the asset.
	Holdings AccountKind = iota + 1
	// Fees is what a venue charged (fees, and gas for on-chain legs):
	// expenses:fees:<venue>:<ASSET>.
	Fees
	// Trading is the counter-account of trading, the PnL account:
	// income:trading:<venue>:<ASSET>. Per asset it holds the negated net
	// flow of the venue's fills, so for a round trip it ends at zero in
	// the base asset and at minus the gross profit in the quote asset
	// (income is a credit, negative in a debit-positive ledger).
	Trading
	// ExternalFunds is money that entered or left from outside trading:
	// opening balances, deposits, withdrawals: equity:external:<venue>:<ASSET>.
	ExternalFunds
)

var kindPrefix = [...]string{"", "assets", "expenses:fees", "income:trading", "equity:external"}

var kindNames = [...]string{"", "holdings", "fees", "trading", "external"}

// String returns the kind's name: holdings, fees, trading, external.
func (k AccountKind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "invalid"
}

// Account is one account of the ledger. It is comparable (a map key).
type Account struct {
	Kind  AccountKind
	Venue string
	Asset string
}

// String returns the account's hierarchical name, as in the exports and
// the database: "assets:binance:BTC", "expenses:fees:okx:USDT",
// "income:trading:bybit:USDT", "equity:external:binance:BTC".
func (a Account) String() string {
	if a.Kind == 0 || int(a.Kind) >= len(kindPrefix) {
		return "invalid:" + a.Venue + ":" + a.Asset
	}
	return kindPrefix[a.Kind] + ":" + a.Venue + ":" + a.Asset
}

// ParseAccount parses an account name made by Account.String.
func ParseAccount(s string) (Account, error) {
	for k := Holdings; k <= ExternalFunds; k++ {
		rest, ok := strings.CutPrefix(s, kindPrefix[k]+":")
		if !ok {
			continue
		}
		venue, asset, ok := strings.Cut(rest, ":")
		if ok && validVenue(venue) && validAsset(asset) {
			return Account{Kind: k, Venue: venue, Asset: asset}, nil
		}
	}
	return Account{}, fmt.Errorf("ledger: %q is not an account name", clip(s))
}

// TxKind is what produced a transaction. Persisted by name.
type TxKind uint8

// Transaction kinds.
const (
	TxFill     TxKind = iota + 1 // one venue fill
	TxGas                        // the gas an on-chain leg paid
	TxExternal                   // an opening balance, deposit or withdrawal
)

var txKindNames = [...]string{"", "fill", "gas", "external"}

// String returns "fill", "gas" or "external".
func (k TxKind) String() string {
	if k != 0 && int(k) < len(txKindNames) {
		return txKindNames[k]
	}
	return "invalid"
}

// ParseTxKind is the inverse of TxKind.String.
func ParseTxKind(s string) (TxKind, error) {
	for k := TxFill; k <= TxExternal; k++ {
		if txKindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("ledger: %q is not a transaction kind", clip(s))
}

// Entry is one line of a transaction: Amount of the account's asset,
// positive a debit (into the account), negative a credit.
type Entry struct {
	Account Account
	Amount  decimal.Decimal
}

// Transaction is one balanced set of entries: for every asset, its
// entries sum to zero (asserted when it is made). ID is its idempotency
// key: fill:<venue>:<venue_fill_id>, gas:<trade_id>:<client_order_id> or
// external:<venue>:<id>; the same key is never booked twice.
type Transaction struct {
	ID      string
	Kind    TxKind
	TS      time.Time
	Venue   string
	TradeID string // "" if none
	Memo    string // a human description for the exports
	Seq     uint64 // the stream sequence of the event that made it (0 outside a stream)
	Entries []Entry
}

// FillTxID is the transaction id of a venue's fill: the idempotency key.
func FillTxID(venue, venueFillID string) string { return "fill:" + venue + ":" + venueFillID }

// GasTxID is the transaction id of a leg's gas.
func GasTxID(tradeID, clientOrderID string) string { return "gas:" + tradeID + ":" + clientOrderID }

// ExternalTxID is the transaction id of an external transfer.
func ExternalTxID(venue, id string) string { return "external:" + venue + ":" + id }

// entryBuilder merges entries per account in order of first use and drops
// those that net to zero.
type entryBuilder struct {
	entries []Entry
}

func (b *entryBuilder) add(a Account, amount decimal.Decimal) {
	if amount.IsZero() {
		return
	}
	for i := range b.entries {
		if b.entries[i].Account == a {
			b.entries[i].Amount = b.entries[i].Amount.Add(amount)
			return
		}
	}
	b.entries = append(b.entries, Entry{Account: a, Amount: amount})
}

func (b *entryBuilder) done() []Entry {
	out := b.entries[:0]
	for _, e := range b.entries {
		if !e.Amount.IsZero() {
			out = append(out, e)
		}
	}
	return out
}
