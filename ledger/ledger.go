package ledger

import (
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Event is one decoded event of the stream, with its stream sequence.
// Exactly one of Fill, Trade and External is set, as Kind says.
type Event struct {
	Seq      uint64 // JetStream stream sequence; 0 outside a stream
	Kind     Kind
	Fill     *Fill
	Trade    *Trade
	External *External
}

// Outcome says what Apply did with an event.
type Outcome uint8

// Outcomes.
const (
	// Applied: the event changed the ledger.
	Applied Outcome = iota + 1
	// Duplicate: the event was applied before (same idempotency key, same
	// content); nothing changed. Redelivery ends here.
	Duplicate
	// Stale: a trade event older (by stream sequence) than the one
	// applied, or one for a trade already closed; nothing changed.
	Stale
)

var outcomeNames = [...]string{"", "applied", "duplicate", "stale"}

// String returns the outcome's name.
func (o Outcome) String() string {
	if o != 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "invalid"
}

// ErrConflict is returned by Apply for an event whose idempotency key was
// applied before with different content: the same venue fill id with
// another price, say. Nothing is changed; the event is kept in the stream
// for the audit. It is an error of the publisher, to be looked at, not a
// broken ledger.
var ErrConflict = errors.New("ledger: conflicting event")

// FillRecord is a fill as booked: the fill (with the fee conversion rate
// the ledger used), the fee in the quote asset, and its transaction.
type FillRecord struct {
	Fill
	FeeQuote decimal.Decimal `json:"fee_quote"` // Fee × FeeQuoteRate
	TxID     string          `json:"tx_id"`
	Seq      uint64          `json:"-"`
}

// GasBooking is the gas of one on-chain leg, booked once.
type GasBooking struct {
	ClientOrderID string
	Venue         string
	Asset         string          // the asset the gas was paid in
	Amount        decimal.Decimal // in Asset
	Quote         decimal.Decimal // its value in the trade's quote asset
	TxID          string
}

// TradeRecord is one arbitrage trade as the ledger knows it: the latest
// trade event (if any arrived yet), its fills, its booked gas and the PnL
// computed from them.
type TradeRecord struct {
	ID    string
	Trade Trade  // the latest event; Trade.ID == "" until one arrived
	Seq   uint64 // stream sequence of Trade
	Fills []*FillRecord
	Gas   []GasBooking
	PnL   TradePnL
}

// Seen reports whether a trade event arrived (not only fills).
func (r *TradeRecord) Seen() bool { return r.Trade.ID != "" }

// Symbol returns the trade's symbol, from its event or its first fill.
func (r *TradeRecord) Symbol() string {
	if r.Seen() {
		return r.Trade.Symbol
	}
	if len(r.Fills) > 0 {
		return r.Fills[0].Symbol
	}
	return ""
}

// TradeRow is a snapshot of a TradeRecord for a store: what the trades
// table holds.
type TradeRow struct {
	ID     string
	Symbol string // from the trade event, or its first fill before it arrived
	Trade  Trade
	Seq    uint64
	Fills  int
	PnL    TradePnL
}

// Change is what one applied event changed, for a store to persist: new
// transactions (with their entries), a new fill, the new state of a trade.
type Change struct {
	Seq     uint64
	Outcome Outcome
	Txs     []*Transaction
	Fill    *FillRecord
	Trade   *TradeRow
	// Conflict is set when part of an applied trade event (a leg's gas)
	// differs from what was booked before; that part was not applied.
	// It wraps ErrConflict.
	Conflict error
}

type fillKey struct{ venue, id string }

// Ledger is the double-entry ledger: accounts per venue and asset,
// transactions, fills and trades, built only by Apply. It is not safe for
// concurrent use: one goroutine applies, and readers are serialized with
// it by the owner (see cmd/internal/ledgerfeed).
type Ledger struct {
	balances map[Account]decimal.Decimal
	accounts []Account                  // in order of creation
	totals   map[string]decimal.Decimal // per asset, the sum of every balance: always zero
	txs      []*Transaction
	txByID   map[string]*Transaction
	fills    []*FillRecord
	fillBy   map[fillKey]*FillRecord
	trades   map[string]*TradeRecord
	tradeIDs []string // in order of first appearance
	lastSeq  uint64

	peakDay  string // UTC date of peak
	peak     decimal.Decimal
	peakSeen bool
}

// New returns an empty ledger.
func New() *Ledger {
	return &Ledger{
		balances: map[Account]decimal.Decimal{},
		totals:   map[string]decimal.Decimal{},
		txByID:   map[string]*Transaction{},
		fillBy:   map[fillKey]*FillRecord{},
		trades:   map[string]*TradeRecord{},
	}
}

// LastSeq returns the highest stream sequence applied (0 if none).
func (l *Ledger) LastSeq() uint64 { return l.lastSeq }

// Apply applies one event. A duplicate or stale event changes nothing and
// is not an error; a conflicting one returns ErrConflict; an invalid one
// returns an error wrapping ErrBadEvent. A broken invariant panics (see
// InvariantError): the ledger does not go on with books it knows are wrong.
func (l *Ledger) Apply(ev Event) (Change, error) {
	var ch Change
	var err error
	switch ev.Kind {
	case KindFill:
		if ev.Fill == nil {
			return ch, bad("fill event without a fill")
		}
		ch, err = l.applyFill(*ev.Fill, ev.Seq)
	case KindTrade:
		if ev.Trade == nil {
			return ch, bad("trade event without a trade")
		}
		ch, err = l.applyTrade(*ev.Trade, ev.Seq)
	case KindExternal:
		if ev.External == nil {
			return ch, bad("external event without a transfer")
		}
		ch, err = l.applyExternal(*ev.External, ev.Seq)
	default:
		return ch, bad("event kind %d is not the ledger's", ev.Kind)
	}
	ch.Seq = ev.Seq
	if ev.Seq > l.lastSeq {
		l.lastSeq = ev.Seq
	}
	return ch, err
}

// ApplyFill applies a fill outside a stream (tests, tools).
func (l *Ledger) ApplyFill(f Fill) (Change, error) { return l.Apply(Event{Kind: KindFill, Fill: &f}) }

// ApplyTrade applies a trade event outside a stream.
func (l *Ledger) ApplyTrade(t Trade) (Change, error) {
	return l.Apply(Event{Kind: KindTrade, Trade: &t})
}

// ApplyExternal applies an external transfer outside a stream.
func (l *Ledger) ApplyExternal(e External) (Change, error) {
	return l.Apply(Event{Kind: KindExternal, External: &e})
}

func (l *Ledger) applyFill(f Fill, seq uint64) (Change, error) {
	if err := f.Validate(); err != nil {
		return Change{}, err
	}
	if f.FeeAsset != "" {
		f.FeeQuoteRate = f.feeRate() // record the conversion used
	}
	f.TS = f.TS.UTC()
	key := fillKey{f.Venue, f.VenueFillID}
	if old, ok := l.fillBy[key]; ok {
		if sameFill(&old.Fill, &f) {
			return Change{Outcome: Duplicate}, nil
		}
		return Change{}, fmt.Errorf("%w: fill %s/%s was booked with other content", ErrConflict, f.Venue, f.VenueFillID)
	}
	txID := FillTxID(f.Venue, f.VenueFillID)
	if _, ok := l.txByID[txID]; ok {
		panic(invariant("transaction %s exists without its fill", txID))
	}
	tx := &Transaction{ID: txID, Kind: TxFill, TS: f.TS, Venue: f.Venue, TradeID: f.TradeID, Seq: seq,
		Memo:    fmt.Sprintf("%s %s %s @ %s on %s, fill %s", f.Side, f.Qty, f.Symbol, f.Price, f.Venue, f.VenueFillID),
		Entries: FillEntries(&f)}
	l.post(tx)
	rec := &FillRecord{Fill: f, FeeQuote: f.FeeQuote(), TxID: txID, Seq: seq}
	l.fills = append(l.fills, rec)
	l.fillBy[key] = rec
	ch := Change{Outcome: Applied, Txs: []*Transaction{tx}, Fill: rec}
	if f.TradeID != "" {
		r := l.trade(f.TradeID)
		r.Fills = append(r.Fills, rec)
		l.recompute(r)
		ch.Trade = r.row()
	}
	return ch, nil
}

func sameFill(a, b *Fill) bool {
	return a.Venue == b.Venue && a.VenueFillID == b.VenueFillID && a.ClientOrderID == b.ClientOrderID &&
		a.TradeID == b.TradeID && a.Symbol == b.Symbol && a.Base == b.Base && a.Quote == b.Quote &&
		a.Side == b.Side && a.Price.Equal(b.Price) && a.Qty.Equal(b.Qty) && a.Fee.Equal(b.Fee) &&
		a.FeeAsset == b.FeeAsset && a.FeeQuoteRate.Equal(b.FeeQuoteRate) && a.TS.Equal(b.TS)
}

func (l *Ledger) trade(id string) *TradeRecord {
	r, ok := l.trades[id]
	if !ok {
		r = &TradeRecord{ID: id}
		l.trades[id] = r
		l.tradeIDs = append(l.tradeIDs, id)
	}
	return r
}

func (l *Ledger) recompute(r *TradeRecord) {
	fills := make([]Fill, len(r.Fills))
	for i, f := range r.Fills {
		fills[i] = f.Fill
	}
	r.PnL = ComputeTradePnL(fills, r.Gas)
}

func (r *TradeRecord) row() *TradeRow {
	return &TradeRow{ID: r.ID, Symbol: r.Symbol(), Trade: r.Trade, Seq: r.Seq, Fills: len(r.Fills), PnL: r.PnL}
}

func (l *Ledger) applyTrade(t Trade, seq uint64) (Change, error) {
	if err := t.Validate(); err != nil {
		return Change{}, err
	}
	t.OpenedAt = t.OpenedAt.UTC()
	if t.ClosedAt != nil {
		c := t.ClosedAt.UTC()
		t.ClosedAt = &c
	}
	r := l.trade(t.ID)
	if r.Seen() {
		if r.Trade.Symbol != t.Symbol {
			return Change{}, fmt.Errorf("%w: trade %s changed symbol from %s to %s", ErrConflict, t.ID, r.Trade.Symbol, t.Symbol)
		}
		if sameTrade(&r.Trade, &t) {
			return Change{Outcome: Duplicate}, nil
		}
		if Closed(r.Trade.State) || (seq != 0 && seq <= r.Seq) {
			return Change{Outcome: Stale}, nil
		}
	}
	ch := Change{Outcome: Applied}
	// Gas is booked once per leg, the first time a leg shows it.
	var conflict error
	for i := range t.Legs {
		leg := &t.Legs[i]
		asset, amount := leg.gasBooking(t.Quote())
		if amount.IsZero() {
			continue
		}
		txID := GasTxID(t.ID, leg.ClientOrderID)
		if old, ok := l.txByID[txID]; ok {
			if g := r.gas(leg.ClientOrderID); g == nil || g.Asset != asset || !g.Amount.Equal(amount) || !g.Quote.Equal(leg.GasQuote) || old.Venue != leg.Venue {
				conflict = fmt.Errorf("%w: trade %s leg %s: gas %s %s differs from the %s booked", ErrConflict, t.ID, leg.ClientOrderID, amount, asset, old.ID)
			}
			continue
		}
		var b entryBuilder
		b.add(Account{Holdings, leg.Venue, asset}, amount.Neg())
		b.add(Account{Fees, leg.Venue, asset}, amount)
		tx := &Transaction{ID: txID, Kind: TxGas, TS: tradeTime(&t), Venue: leg.Venue, TradeID: t.ID, Seq: seq,
			Memo: fmt.Sprintf("gas of %s leg %s of trade %s", leg.Venue, leg.ClientOrderID, t.ID), Entries: b.done()}
		l.post(tx)
		r.Gas = append(r.Gas, GasBooking{ClientOrderID: leg.ClientOrderID, Venue: leg.Venue, Asset: asset, Amount: amount, Quote: leg.GasQuote, TxID: txID})
		ch.Txs = append(ch.Txs, tx)
	}
	r.Trade, r.Seq = t, seq
	l.recompute(r)
	ch.Trade = r.row()
	ch.Conflict = conflict
	return ch, nil
}

// tradeTime is when a trade event happened: its close, or else its opening.
func tradeTime(t *Trade) time.Time {
	if t.ClosedAt != nil {
		return *t.ClosedAt
	}
	return t.OpenedAt
}

func (r *TradeRecord) gas(clientOrderID string) *GasBooking {
	for i := range r.Gas {
		if r.Gas[i].ClientOrderID == clientOrderID {
			return &r.Gas[i]
		}
	}
	return nil
}

func sameTrade(a, b *Trade) bool {
	if a.ID != b.ID || a.PlanID != b.PlanID || a.Symbol != b.Symbol || a.BuyVenue != b.BuyVenue ||
		a.SellVenue != b.SellVenue || a.State != b.State || !a.Qty.Equal(b.Qty) ||
		!a.ExpectedNetQuote.Equal(b.ExpectedNetQuote) || !a.RealizedNetQuote.Equal(b.RealizedNetQuote) ||
		!a.ResidualBase.Equal(b.ResidualBase) || !a.OpenedAt.Equal(b.OpenedAt) ||
		(a.ClosedAt == nil) != (b.ClosedAt == nil) || (a.ClosedAt != nil && !a.ClosedAt.Equal(*b.ClosedAt)) ||
		len(a.Legs) != len(b.Legs) {
		return false
	}
	for i := range a.Legs {
		x, y := &a.Legs[i], &b.Legs[i]
		if x.Venue != y.Venue || x.Side != y.Side || x.Purpose != y.Purpose || x.ClientOrderID != y.ClientOrderID ||
			x.VenueOrderID != y.VenueOrderID || !x.Price.Equal(y.Price) || !x.Qty.Equal(y.Qty) ||
			!x.FilledQty.Equal(y.FilledQty) || !x.AvgPrice.Equal(y.AvgPrice) || !x.Fee.Equal(y.Fee) ||
			x.FeeAsset != y.FeeAsset || x.Status != y.Status || !x.GasQuote.Equal(y.GasQuote) ||
			x.GasAsset != y.GasAsset || !x.Gas.Equal(y.Gas) {
			return false
		}
	}
	return true
}

func (l *Ledger) applyExternal(e External, seq uint64) (Change, error) {
	if err := e.Validate(); err != nil {
		return Change{}, err
	}
	e.TS = e.TS.UTC()
	txID := ExternalTxID(e.Venue, e.ID)
	if old, ok := l.txByID[txID]; ok {
		var b entryBuilder
		b.add(Account{Holdings, e.Venue, e.Asset}, e.Amount)
		b.add(Account{ExternalFunds, e.Venue, e.Asset}, e.Amount.Neg())
		if sameEntries(old.Entries, b.done()) && old.TS.Equal(e.TS) && old.Memo == externalMemo(&e) {
			return Change{Outcome: Duplicate}, nil
		}
		return Change{}, fmt.Errorf("%w: external transfer %s was booked with other content", ErrConflict, txID)
	}
	var b entryBuilder
	b.add(Account{Holdings, e.Venue, e.Asset}, e.Amount)
	b.add(Account{ExternalFunds, e.Venue, e.Asset}, e.Amount.Neg())
	tx := &Transaction{ID: txID, Kind: TxExternal, TS: e.TS, Venue: e.Venue, Seq: seq, Memo: externalMemo(&e), Entries: b.done()}
	l.post(tx)
	return Change{Outcome: Applied, Txs: []*Transaction{tx}}, nil
}

func externalMemo(e *External) string {
	if e.Memo != "" {
		return e.Memo
	}
	if e.Amount.Sign() > 0 {
		return "deposit " + e.ID
	}
	return "withdrawal " + e.ID
}

func sameEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Account != b[i].Account || !a[i].Amount.Equal(b[i].Amount) {
			return false
		}
	}
	return true
}

// post books a transaction: it asserts that it balances per asset, adds
// its entries to the balances, and asserts that every asset's balances
// still sum to zero.
func (l *Ledger) post(tx *Transaction) {
	assertBalanced(tx)
	if _, dup := l.txByID[tx.ID]; dup {
		panic(invariant("transaction %s posted twice", tx.ID))
	}
	touched := map[string]bool{}
	for _, e := range tx.Entries {
		bal, ok := l.balances[e.Account]
		if !ok {
			l.accounts = append(l.accounts, e.Account)
		}
		l.balances[e.Account] = bal.Add(e.Amount)
		l.totals[e.Account.Asset] = l.totals[e.Account.Asset].Add(e.Amount)
		touched[e.Account.Asset] = true
	}
	for asset := range touched {
		if !l.totals[asset].IsZero() {
			panic(invariant("after %s the balances of %s sum to %s, not zero", tx.ID, asset, l.totals[asset]))
		}
	}
	l.txs = append(l.txs, tx)
	l.txByID[tx.ID] = tx
}

// assertBalanced panics unless the transaction's entries sum to zero per
// asset and none is zero.
func assertBalanced(tx *Transaction) {
	if len(tx.Entries) == 0 {
		panic(invariant("transaction %s has no entries", tx.ID))
	}
	if err := balanced(tx); err != nil {
		panic(invariant("%v", err))
	}
}

// balanced returns an error naming the first asset whose entries do not
// sum to zero, or a zero entry.
func balanced(tx *Transaction) error {
	sums := map[string]decimal.Decimal{}
	var order []string
	for _, e := range tx.Entries {
		if e.Amount.IsZero() {
			return fmt.Errorf("transaction %s has a zero entry on %s", tx.ID, e.Account)
		}
		if _, ok := sums[e.Account.Asset]; !ok {
			order = append(order, e.Account.Asset)
		}
		sums[e.Account.Asset] = sums[e.Account.Asset].Add(e.Amount)
	}
	for _, a := range order {
		if !sums[a].IsZero() {
			return fmt.Errorf("transaction %s does not balance in %s: entries sum to %s", tx.ID, a, sums[a])
		}
	}
	return nil
}

// InvariantError is the value a broken invariant panics with. It is not
// recovered by the ledger: books known to be wrong stop everything that
// depends on them, loudly.
type InvariantError struct{ Msg string }

func (e *InvariantError) Error() string { return "ledger invariant broken: " + e.Msg }

func invariant(format string, args ...any) *InvariantError {
	return &InvariantError{Msg: fmt.Sprintf(format, args...)}
}

// Accessors. The slices returned are the ledger's own: read them, do not
// keep them across Apply calls.

// Balance returns an account's balance (zero for an account never used).
func (l *Ledger) Balance(a Account) decimal.Decimal { return l.balances[a] }

// Accounts returns every account used, in order of first use.
func (l *Ledger) Accounts() []Account { return l.accounts }

// Transactions returns every transaction in the order booked.
func (l *Ledger) Transactions() []*Transaction { return l.txs }

// Transaction returns the transaction with this id, or nil.
func (l *Ledger) Transaction(id string) *Transaction { return l.txByID[id] }

// Fills returns every fill in the order booked.
func (l *Ledger) Fills() []*FillRecord { return l.fills }

// FillCount returns the number of fills booked.
func (l *Ledger) FillCount() int { return len(l.fills) }

// Trade returns the record of a trade, or nil.
func (l *Ledger) Trade(id string) *TradeRecord { return l.trades[id] }

// Trades returns every trade record in order of first appearance.
func (l *Ledger) Trades() []*TradeRecord {
	out := make([]*TradeRecord, len(l.tradeIDs))
	for i, id := range l.tradeIDs {
		out[i] = l.trades[id]
	}
	return out
}
