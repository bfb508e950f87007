package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// The events the ledger consumes, in their wire form: the JSON published on
// the JetStream stream ARB_EVENTS. The executor builds these structs and
// marshals them with encoding/json; the ledger decodes them with DecodeFill,
// DecodeTrade and DecodeExternal, which are strict (see each). Decimal
// values are JSON strings (shopspring/decimal's default encoding), times RFC
// 3339 in UTC.
//
//	subject                          Nats-Msg-Id                              body
//	arb.ledger.fill.<venue>      ledger.fill.<venue>.<symbol>.<venue_fill_id>    Fill
//	arb.ledger.trade             ledger.trade.<id>.<state>                       Trade (at every state change)
//	arb.ledger.external.<venue>  ledger.external.<venue>.<id>                    External (opening balance, deposit, withdrawal)
//
// The subjects and ids are the ledger's own, apart from the executor's
// journal (arb.exec.>, whose fill records use fill.<venue>.… ids): JetStream
// deduplicates by Nats-Msg-Id across the whole stream, so the two must never
// share an id, and the journal's replay must never meet a ledger event.
//
// Every other subject of the stream (plans, order intents) is not the
// ledger's business and is skipped.

// Fill is one execution as the ledger receives it: the design's Fills
// contract (venue, venue_fill_id, client_order_id, trade_id, symbol, side,
// price, qty, fee, fee_asset, ts) plus what the ledger needs to book it
// without knowing the venue's instruments: the base and quote assets, and,
// when the fee was charged in an asset that is neither, its rate in the
// quote currency at the fill-time mid.
type Fill struct {
	Venue         string          `json:"venue"`           // configured venue name, e.g. "binance"
	VenueFillID   string          `json:"venue_fill_id"`   // the venue's trade (execution) id; unique per venue, forever
	ClientOrderID string          `json:"client_order_id"` // the order the fill belongs to
	TradeID       string          `json:"trade_id"`        // the arbitrage trade; "" for a fill outside any trade
	Symbol        string          `json:"symbol"`          // canonical BASE-QUOTE, e.g. "BTC-USDT"
	Base          string          `json:"base"`            // "BTC"; Symbol must equal Base + "-" + Quote
	Quote         string          `json:"quote"`           // "USDT"
	Side          string          `json:"side"`            // "buy" or "sell"
	Price         decimal.Decimal `json:"price"`           // > 0, quote per base
	Qty           decimal.Decimal `json:"qty"`             // > 0, base
	// Fee is what the venue charged in FeeAsset: positive paid, negative a
	// rebate.
	Fee      decimal.Decimal `json:"fee"`
	FeeAsset string          `json:"fee_asset"` // may be "" only when Fee is zero
	// FeeQuoteRate converts the fee to the quote currency: quote per one
	// unit of FeeAsset at the fill-time mid. Required (> 0) when Fee is not
	// zero and FeeAsset is neither Base nor Quote; otherwise it may be
	// omitted ("" or absent), and the ledger records Price for a fee in the
	// base asset and 1 for a fee in the quote asset. Given for those, it
	// must equal them.
	FeeQuoteRate decimal.Decimal `json:"fee_quote_rate"`
	TS           time.Time       `json:"ts"` // venue execution time
}

// Trade states, as the design's Trades contract names them.
const (
	StateOpen           = "open"
	StateHedging        = "hedging"
	StateUnwinding      = "unwinding"
	StateClosedFlat     = "closed_flat"
	StateClosedResidual = "closed_residual"
)

// Closed reports whether state is final.
func Closed(state string) bool { return state == StateClosedFlat || state == StateClosedResidual }

// Trade is one arbitrage trade as the executor publishes it at every state
// change: the design's Trades contract object. The ledger keeps the latest
// (by stream sequence) and books gas from its legs; money is counted from
// fills, never from the trade's own figures, which are kept beside the
// ledger's for comparison.
type Trade struct {
	ID        string          `json:"id"`
	PlanID    string          `json:"plan_id"`
	Symbol    string          `json:"symbol"` // canonical BASE-QUOTE
	BuyVenue  string          `json:"buy_venue"`
	SellVenue string          `json:"sell_venue"`
	State     string          `json:"state"` // open, hedging, unwinding, closed_flat, closed_residual
	Qty       decimal.Decimal `json:"qty"`
	// ExpectedNetQuote is the net the plan expected (after fees and gas).
	ExpectedNetQuote decimal.Decimal `json:"expected_net_quote"`
	// RealizedNetQuote and ResidualBase are the executor's own figures;
	// they may be "" (absent) while the trade is open.
	RealizedNetQuote decimal.Decimal `json:"realized_net_quote"`
	ResidualBase     decimal.Decimal `json:"residual_base"`
	OpenedAt         time.Time       `json:"opened_at"`
	ClosedAt         *time.Time      `json:"closed_at"` // null until closed
	Legs             []Leg           `json:"legs"`
}

// Leg is one order of a trade (the contract's legs[]), plus the gas an
// on-chain leg paid.
type Leg struct {
	Venue         string          `json:"venue"`
	Side          string          `json:"side"`    // buy or sell
	Purpose       string          `json:"purpose"` // entry, retry, unwind
	ClientOrderID string          `json:"client_order_id"`
	VenueOrderID  string          `json:"venue_order_id"` // "" until the venue answered
	Price         decimal.Decimal `json:"price"`          // limit price
	Qty           decimal.Decimal `json:"qty"`
	FilledQty     decimal.Decimal `json:"filled_qty"`
	AvgPrice      decimal.Decimal `json:"avg_price"` // "" or "0" while nothing filled
	Fee           decimal.Decimal `json:"fee"`
	FeeAsset      string          `json:"fee_asset"`
	Status        string          `json:"status"` // the venue's order status (exchange.OrderStatus names)
	// GasQuote is the gas an on-chain leg paid, in the trade's quote
	// currency ("" or "0" for a venue leg). The ledger books it as a fee,
	// once per leg. Gas is the gas actually paid in GasAsset (e.g. ETH);
	// when GasAsset is "", the gas is booked in the quote asset and Gas
	// must be empty or equal GasQuote.
	GasQuote decimal.Decimal `json:"gas_quote"`
	GasAsset string          `json:"gas_asset,omitempty"`
	Gas      decimal.Decimal `json:"gas"`
}

// External is money entering or leaving a venue account from outside
// trading: the opening balance, a deposit, a withdrawal, a transfer
// between venues (two Externals). Amount is positive into the venue.
type External struct {
	ID     string          `json:"id"` // idempotency key, unique forever
	Venue  string          `json:"venue"`
	Asset  string          `json:"asset"`
	Amount decimal.Decimal `json:"amount"` // non-zero; + into the venue, − out of it
	TS     time.Time       `json:"ts"`
	Memo   string          `json:"memo,omitempty"`
}

// Subjects and message ids. Prefix is the stream's subject root ("arb" for
// ARB_EVENTS); tests use their own.

// FillSubject is the subject a fill on venue is published on.
func FillSubject(prefix, venue string) string { return prefix + ".ledger.fill." + venue }

// TradeSubject is the subject trade events are published on.
func TradeSubject(prefix string) string { return prefix + ".ledger.trade" }

// ExternalSubject is the subject external transfers of venue are published on.
func ExternalSubject(prefix, venue string) string { return prefix + ".ledger.external." + venue }

// MsgID returns the fill's Nats-Msg-Id: ledger.fill.<venue>.<symbol>.<venue_fill_id>.
func (f *Fill) MsgID() string { return "ledger.fill." + f.Venue + "." + f.Symbol + "." + f.VenueFillID }

// MsgID returns the trade event's Nats-Msg-Id: ledger.trade.<id>.<state>.
func (t *Trade) MsgID() string { return "ledger.trade." + t.ID + "." + t.State }

// MsgID returns the external transfer's Nats-Msg-Id: ledger.external.<venue>.<id>.
func (e *External) MsgID() string { return "ledger.external." + e.Venue + "." + e.ID }

// Kind is the kind of an event on the stream, decided by its subject.
type Kind uint8

// Event kinds. KindOther is a subject the ledger does not consume.
const (
	KindOther Kind = iota
	KindFill
	KindTrade
	KindExternal
)

// KindOf returns the kind of event published on subject, for a stream
// whose subjects start with prefix + ".".
func KindOf(prefix, subject string) Kind {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	if !ok {
		return KindOther
	}
	switch {
	case strings.HasPrefix(rest, "ledger.fill.") && !strings.Contains(rest[len("ledger.fill."):], "."):
		return KindFill
	case rest == "ledger.trade":
		return KindTrade
	case strings.HasPrefix(rest, "ledger.external.") && !strings.Contains(rest[len("ledger.external."):], "."):
		return KindExternal
	}
	return KindOther
}

// Limits of decoding. Anything beyond them is rejected rather than stored.
const (
	// MaxEventBytes bounds one event body.
	MaxEventBytes = 64 << 10
	// MaxLegs bounds a trade's legs.
	MaxLegs = 64
	// MaxDigits bounds the significant digits of one decimal on the wire.
	MaxDigits = 38
	// MaxNameLen bounds ids and names.
	MaxNameLen = 64
)

// ErrBadEvent is wrapped by every decode rejection; the text after it says
// which field and why. Rejected events are counted and logged by the
// consumer, never applied.
var ErrBadEvent = errors.New("ledger: bad event")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadEvent}, args...)...)
}

// The wire shapes decoded before validation: decimals as strings so that a
// JSON number, an exponent or a NaN is caught here, not rounded.
type fillWire struct {
	Venue         string `json:"venue"`
	VenueFillID   string `json:"venue_fill_id"`
	ClientOrderID string `json:"client_order_id"`
	TradeID       string `json:"trade_id"`
	Symbol        string `json:"symbol"`
	Base          string `json:"base"`
	Quote         string `json:"quote"`
	Side          string `json:"side"`
	Price         string `json:"price"`
	Qty           string `json:"qty"`
	Fee           string `json:"fee"`
	FeeAsset      string `json:"fee_asset"`
	FeeQuoteRate  string `json:"fee_quote_rate"`
	TS            string `json:"ts"`
}

type legWire struct {
	Venue         string `json:"venue"`
	Side          string `json:"side"`
	Purpose       string `json:"purpose"`
	ClientOrderID string `json:"client_order_id"`
	VenueOrderID  string `json:"venue_order_id"`
	Price         string `json:"price"`
	Qty           string `json:"qty"`
	FilledQty     string `json:"filled_qty"`
	AvgPrice      string `json:"avg_price"`
	Fee           string `json:"fee"`
	FeeAsset      string `json:"fee_asset"`
	Status        string `json:"status"`
	GasQuote      string `json:"gas_quote"`
	GasAsset      string `json:"gas_asset"`
	Gas           string `json:"gas"`
}

type tradeWire struct {
	ID               string    `json:"id"`
	PlanID           string    `json:"plan_id"`
	Symbol           string    `json:"symbol"`
	BuyVenue         string    `json:"buy_venue"`
	SellVenue        string    `json:"sell_venue"`
	State            string    `json:"state"`
	Qty              string    `json:"qty"`
	ExpectedNetQuote string    `json:"expected_net_quote"`
	RealizedNetQuote string    `json:"realized_net_quote"`
	ResidualBase     string    `json:"residual_base"`
	OpenedAt         string    `json:"opened_at"`
	ClosedAt         *string   `json:"closed_at"`
	Legs             []legWire `json:"legs"`
}

type externalWire struct {
	ID     string `json:"id"`
	Venue  string `json:"venue"`
	Asset  string `json:"asset"`
	Amount string `json:"amount"`
	TS     string `json:"ts"`
	Memo   string `json:"memo"`
}

// strictUnmarshal decodes one JSON object into v, refusing unknown fields,
// trailing data and oversized input.
func strictUnmarshal(data []byte, v any) error {
	if len(data) > MaxEventBytes {
		return bad("%d bytes, more than %d", len(data), MaxEventBytes)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bad("json: %v", err)
	}
	if dec.More() {
		return bad("trailing data after the object")
	}
	return nil
}

// DecodeFill decodes and validates a fill event. It never panics; every
// problem is an error wrapping ErrBadEvent.
func DecodeFill(data []byte) (Fill, error) {
	var w fillWire
	if err := strictUnmarshal(data, &w); err != nil {
		return Fill{}, err
	}
	f := Fill{Venue: w.Venue, VenueFillID: w.VenueFillID, ClientOrderID: w.ClientOrderID, TradeID: w.TradeID,
		Symbol: w.Symbol, Base: w.Base, Quote: w.Quote, Side: w.Side, FeeAsset: w.FeeAsset}
	var err error
	p := parser{}
	f.Price = p.dec("price", w.Price, true)
	f.Qty = p.dec("qty", w.Qty, true)
	f.Fee = p.dec("fee", w.Fee, false)
	f.FeeQuoteRate = p.dec("fee_quote_rate", w.FeeQuoteRate, false)
	f.TS = p.time("ts", w.TS, true)
	if p.err != nil {
		return Fill{}, p.err
	}
	if err = f.Validate(); err != nil {
		return Fill{}, err
	}
	return f, nil
}

// DecodeTrade decodes and validates a trade event (see DecodeFill).
func DecodeTrade(data []byte) (Trade, error) {
	var w tradeWire
	if err := strictUnmarshal(data, &w); err != nil {
		return Trade{}, err
	}
	if len(w.Legs) > MaxLegs {
		return Trade{}, bad("%d legs, more than %d", len(w.Legs), MaxLegs)
	}
	t := Trade{ID: w.ID, PlanID: w.PlanID, Symbol: w.Symbol, BuyVenue: w.BuyVenue, SellVenue: w.SellVenue, State: w.State}
	p := parser{}
	t.Qty = p.dec("qty", w.Qty, true)
	t.ExpectedNetQuote = p.dec("expected_net_quote", w.ExpectedNetQuote, false)
	t.RealizedNetQuote = p.dec("realized_net_quote", w.RealizedNetQuote, false)
	t.ResidualBase = p.dec("residual_base", w.ResidualBase, false)
	t.OpenedAt = p.time("opened_at", w.OpenedAt, true)
	if w.ClosedAt != nil && *w.ClosedAt != "" {
		c := p.time("closed_at", *w.ClosedAt, true)
		t.ClosedAt = &c
	}
	for i, lw := range w.Legs {
		l := Leg{Venue: lw.Venue, Side: lw.Side, Purpose: lw.Purpose, ClientOrderID: lw.ClientOrderID,
			VenueOrderID: lw.VenueOrderID, FeeAsset: lw.FeeAsset, Status: lw.Status, GasAsset: lw.GasAsset}
		at := func(name string) string { return fmt.Sprintf("legs[%d].%s", i, name) }
		l.Price = p.dec(at("price"), lw.Price, false)
		l.Qty = p.dec(at("qty"), lw.Qty, true)
		l.FilledQty = p.dec(at("filled_qty"), lw.FilledQty, false)
		l.AvgPrice = p.dec(at("avg_price"), lw.AvgPrice, false)
		l.Fee = p.dec(at("fee"), lw.Fee, false)
		l.GasQuote = p.dec(at("gas_quote"), lw.GasQuote, false)
		l.Gas = p.dec(at("gas"), lw.Gas, false)
		t.Legs = append(t.Legs, l)
	}
	if p.err != nil {
		return Trade{}, p.err
	}
	if err := t.Validate(); err != nil {
		return Trade{}, err
	}
	return t, nil
}

// DecodeExternal decodes and validates an external transfer (see DecodeFill).
func DecodeExternal(data []byte) (External, error) {
	var w externalWire
	if err := strictUnmarshal(data, &w); err != nil {
		return External{}, err
	}
	e := External{ID: w.ID, Venue: w.Venue, Asset: w.Asset, Memo: w.Memo}
	p := parser{}
	e.Amount = p.dec("amount", w.Amount, true)
	e.TS = p.time("ts", w.TS, true)
	if p.err != nil {
		return External{}, p.err
	}
	if err := e.Validate(); err != nil {
		return External{}, err
	}
	return e, nil
}

// parser collects the first field error.
type parser struct{ err error }

func (p *parser) dec(field, s string, required bool) decimal.Decimal {
	if p.err != nil {
		return decimal.Zero
	}
	if s == "" {
		if required {
			p.err = bad("%s: missing", field)
		}
		return decimal.Zero
	}
	d, err := ParseDecimal(s)
	if err != nil {
		p.err = bad("%s: %v", field, err)
	}
	return d
}

func (p *parser) time(field, s string, required bool) time.Time {
	if p.err != nil {
		return time.Time{}
	}
	if s == "" {
		if required {
			p.err = bad("%s: missing", field)
		}
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		p.err = bad("%s: not an RFC 3339 time", field)
		return time.Time{}
	}
	// The range is checked on the UTC time that is kept: an offset could
	// otherwise carry 2000-01-01T00:00:00+01:00 into 1999, which the
	// event's own encoding would then refuse (FuzzDecodeExternal).
	t = t.UTC()
	if t.Year() < 2000 || t.Year() > 9999 {
		p.err = bad("%s: year %d out of range", field, t.Year())
		return time.Time{}
	}
	return t
}

// ParseDecimal parses a plain decimal: an optional '-', digits, optionally
// '.' and digits, at most MaxDigits digits. Exponents, '+', spaces, "NaN"
// and the like are refused, so a value is exactly what was written.
func ParseDecimal(s string) (decimal.Decimal, error) {
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '-' && i == 0:
		case c == '.' && !dot && i > 0 && s[i-1] >= '0' && s[i-1] <= '9' && i+1 < len(s):
			dot = true
		default:
			return decimal.Zero, fmt.Errorf("%q is not a plain decimal", clip(s))
		}
	}
	if digits == 0 {
		return decimal.Zero, fmt.Errorf("%q is not a plain decimal", clip(s))
	}
	if digits > MaxDigits {
		return decimal.Zero, fmt.Errorf("more than %d digits", MaxDigits)
	}
	return decimal.NewFromString(s)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// validName reports whether s is a venue name, id or asset code the ledger
// accepts: 1..MaxNameLen characters of [A-Za-z0-9._/-], starting with a
// letter or digit. Keeping ids to this set keeps them safe in account
// names, message ids, CSV and the plain-text exports.
func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-' && c != '/') {
			return false
		}
	}
	return true
}

// validVenue: lowercase letters, digits, '_' and '-' (config names; they
// become subject tokens and account name components).
func validVenue(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || (i > 0 && (c == '_' || c == '-'))) {
			return false
		}
	}
	return true
}

// validAsset: uppercase letters and digits, 1..20 (venue asset codes after
// normalization).
func validAsset(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func validSide(s string) bool { return s == "buy" || s == "sell" }

// Validate reports the first problem of f, wrapping ErrBadEvent.
func (f *Fill) Validate() error {
	switch {
	case !validVenue(f.Venue):
		return bad("venue %q", clip(f.Venue))
	case !validName(f.VenueFillID):
		return bad("venue_fill_id %q", clip(f.VenueFillID))
	case f.ClientOrderID != "" && !validName(f.ClientOrderID):
		return bad("client_order_id %q", clip(f.ClientOrderID))
	case f.TradeID != "" && !validName(f.TradeID):
		return bad("trade_id %q", clip(f.TradeID))
	case !validAsset(f.Base) || !validAsset(f.Quote) || f.Base == f.Quote:
		return bad("base %q / quote %q", clip(f.Base), clip(f.Quote))
	case f.Symbol != f.Base+"-"+f.Quote:
		return bad("symbol %q is not base-quote %s-%s", clip(f.Symbol), f.Base, f.Quote)
	case !validSide(f.Side):
		return bad("side %q", clip(f.Side))
	case f.Price.Sign() <= 0:
		return bad("price %s is not positive", f.Price)
	case f.Qty.Sign() <= 0:
		return bad("qty %s is not positive", f.Qty)
	case f.TS.IsZero():
		return bad("ts missing")
	case f.FeeQuoteRate.Sign() < 0:
		return bad("fee_quote_rate %s is negative", f.FeeQuoteRate)
	}
	if f.FeeAsset == "" {
		if !f.Fee.IsZero() {
			return bad("fee %s without fee_asset", f.Fee)
		}
		return nil
	}
	if !validAsset(f.FeeAsset) {
		return bad("fee_asset %q", clip(f.FeeAsset))
	}
	switch f.FeeAsset {
	case f.Quote:
		if !f.FeeQuoteRate.IsZero() && !f.FeeQuoteRate.Equal(decimal.NewFromInt(1)) {
			return bad("fee_quote_rate %s for a fee in the quote asset (must be 1)", f.FeeQuoteRate)
		}
	case f.Base:
		if !f.FeeQuoteRate.IsZero() && !f.FeeQuoteRate.Equal(f.Price) {
			return bad("fee_quote_rate %s for a fee in the base asset (must be the price %s)", f.FeeQuoteRate, f.Price)
		}
	default:
		if !f.Fee.IsZero() && f.FeeQuoteRate.Sign() <= 0 {
			return bad("fee in %s (neither base nor quote) needs a positive fee_quote_rate", f.FeeAsset)
		}
	}
	return nil
}

// feeRate returns the rate converting the fill's fee into its quote asset.
func (f *Fill) feeRate() decimal.Decimal {
	switch f.FeeAsset {
	case f.Quote, "":
		return decimal.NewFromInt(1)
	case f.Base:
		return f.Price
	}
	return f.FeeQuoteRate
}

// FeeQuote returns the fee converted to the quote asset (exact: a product).
func (f *Fill) FeeQuote() decimal.Decimal { return f.Fee.Mul(f.feeRate()) }

var validStates = map[string]int{StateOpen: 1, StateHedging: 2, StateUnwinding: 3, StateClosedFlat: 4, StateClosedResidual: 4}

var validPurposes = map[string]bool{"entry": true, "retry": true, "unwind": true}

// Validate reports the first problem of t, wrapping ErrBadEvent.
func (t *Trade) Validate() error {
	base, quote, ok := strings.Cut(t.Symbol, "-")
	switch {
	case !validName(t.ID):
		return bad("id %q", clip(t.ID))
	case t.PlanID != "" && !validName(t.PlanID):
		return bad("plan_id %q", clip(t.PlanID))
	case !ok || !validAsset(base) || !validAsset(quote) || base == quote:
		return bad("symbol %q is not BASE-QUOTE", clip(t.Symbol))
	case !validVenue(t.BuyVenue) || !validVenue(t.SellVenue):
		return bad("buy_venue %q / sell_venue %q", clip(t.BuyVenue), clip(t.SellVenue))
	case validStates[t.State] == 0:
		return bad("state %q", clip(t.State))
	case t.Qty.Sign() <= 0:
		return bad("qty %s is not positive", t.Qty)
	case t.OpenedAt.IsZero():
		return bad("opened_at missing")
	case Closed(t.State) && t.ClosedAt == nil:
		return bad("state %s without closed_at", t.State)
	case !Closed(t.State) && t.ClosedAt != nil:
		return bad("state %s with closed_at", t.State)
	case len(t.Legs) > MaxLegs:
		return bad("%d legs, more than %d", len(t.Legs), MaxLegs)
	}
	seen := map[string]bool{}
	for i := range t.Legs {
		l := &t.Legs[i]
		switch {
		case !validVenue(l.Venue):
			return bad("legs[%d].venue %q", i, clip(l.Venue))
		case !validSide(l.Side):
			return bad("legs[%d].side %q", i, clip(l.Side))
		case !validPurposes[l.Purpose]:
			return bad("legs[%d].purpose %q", i, clip(l.Purpose))
		case !validName(l.ClientOrderID):
			return bad("legs[%d].client_order_id %q", i, clip(l.ClientOrderID))
		case seen[l.ClientOrderID]:
			return bad("legs[%d].client_order_id %s repeated", i, l.ClientOrderID)
		case l.VenueOrderID != "" && !validName(l.VenueOrderID):
			return bad("legs[%d].venue_order_id %q", i, clip(l.VenueOrderID))
		case l.Qty.Sign() <= 0 || l.Price.Sign() < 0 || l.FilledQty.Sign() < 0 || l.AvgPrice.Sign() < 0:
			return bad("legs[%d]: negative price or quantity", i)
		case l.FilledQty.GreaterThan(l.Qty):
			return bad("legs[%d].filled_qty %s above qty %s", i, l.FilledQty, l.Qty)
		case l.FeeAsset != "" && !validAsset(l.FeeAsset):
			return bad("legs[%d].fee_asset %q", i, clip(l.FeeAsset))
		case l.Status != "" && !validName(l.Status):
			return bad("legs[%d].status %q", i, clip(l.Status))
		case l.GasQuote.Sign() < 0 || l.Gas.Sign() < 0:
			return bad("legs[%d]: negative gas", i)
		case l.GasAsset != "" && !validAsset(l.GasAsset):
			return bad("legs[%d].gas_asset %q", i, clip(l.GasAsset))
		case l.GasAsset == "" && !l.Gas.IsZero() && !l.Gas.Equal(l.GasQuote):
			return bad("legs[%d].gas %s without gas_asset (must be empty or equal gas_quote)", i, l.Gas)
		case l.GasAsset != "" && l.GasAsset != quote && (l.Gas.IsZero() != l.GasQuote.IsZero()):
			return bad("legs[%d]: gas %s %s and gas_quote %s must be both zero or both positive", i, l.Gas, l.GasAsset, l.GasQuote)
		case l.GasAsset == quote && !l.Gas.IsZero() && !l.Gas.Equal(l.GasQuote):
			return bad("legs[%d]: gas in the quote asset %s differs from gas_quote %s", i, l.Gas, l.GasQuote)
		}
		seen[l.ClientOrderID] = true
	}
	return nil
}

// Base returns the trade's base asset.
func (t *Trade) Base() string { b, _, _ := strings.Cut(t.Symbol, "-"); return b }

// Quote returns the trade's quote asset.
func (t *Trade) Quote() string { _, q, _ := strings.Cut(t.Symbol, "-"); return q }

// gasBooking returns the asset and amount a leg's gas is booked in.
func (l *Leg) gasBooking(quote string) (asset string, amount decimal.Decimal) {
	if l.GasAsset == "" || l.GasAsset == quote {
		return quote, l.GasQuote
	}
	return l.GasAsset, l.Gas
}

// Validate reports the first problem of e, wrapping ErrBadEvent.
func (e *External) Validate() error {
	switch {
	case !validName(e.ID):
		return bad("id %q", clip(e.ID))
	case !validVenue(e.Venue):
		return bad("venue %q", clip(e.Venue))
	case !validAsset(e.Asset):
		return bad("asset %q", clip(e.Asset))
	case e.Amount.IsZero():
		return bad("amount is zero")
	case e.TS.IsZero():
		return bad("ts missing")
	case len(e.Memo) > 200:
		return bad("memo longer than 200 bytes")
	}
	for _, r := range e.Memo {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return bad("memo holds a control character, a quote or a backslash")
		}
	}
	return nil
}
