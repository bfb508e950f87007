package exchange

import (
	"errors"
	"fmt"
	"time"

	"arb/exchange/num"
)

// TimeInForce is how long an order may rest.
type TimeInForce uint8

// Times in force. Arbitrage legs are IOC: fill what is there, cancel the rest.
const (
	IOC TimeInForce = iota + 1 // immediate or cancel
	GTC                        // good till cancelled
	FOK                        // fill or kill
)

// OrderRequest is one limit order as the engine means it, in the
// instrument's scale. Trading clients round it to the venue's tick and step
// with exact decimals at the boundary, never against the plan: a buy limit
// is rounded down, a sell limit up, a quantity down; and check the venue's
// filters (minimum quantity and notional) before anything is sent.
type OrderRequest struct {
	ClientID ID // our idempotency key, sent as the venue's client order id (ValidClientID)
	Venue    VenueID
	Inst     InstrumentID
	Side     Side
	Px       num.Price // limit price
	Qty      num.Qty
	TIF      TimeInForce
}

// OrderStatus is the venue's view of an order.
type OrderStatus uint8

// Order statuses; persisted, so only ever appended to.
const (
	StatusNew OrderStatus = iota + 1
	StatusPartiallyFilled
	StatusFilled
	StatusCanceled // cancelled with nothing or part filled
	StatusExpired  // IOC remainder expired (Binance reports partly filled IOC this way)
	StatusRejected
)

var statusNames = [...]string{"", "new", "partially_filled", "filled", "canceled", "expired", "rejected"}

// String returns the status name.
func (s OrderStatus) String() string {
	if s != 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// Final reports whether no further fills can arrive.
func (s OrderStatus) Final() bool {
	return s == StatusFilled || s == StatusCanceled || s == StatusExpired || s == StatusRejected
}

// OrderState is what a venue says about one order: the answer to a place,
// cancel or query request, an entry of the open-orders list, or a push on
// the private stream. Quantities are in the instrument's scale; FilledQty is
// cumulative, so of two states of one order the one with more FilledQty (or
// a final Status) is the newer. It is fixed-size and pointer-free.
type OrderState struct {
	Venue        VenueID
	Inst         InstrumentID
	Side         Side
	TIF          TimeInForce
	Status       OrderStatus
	ClientID     ID
	VenueOrderID ID
	Px           num.Price // limit price as the venue holds it
	Qty          num.Qty   // order quantity as the venue holds it
	FilledQty    num.Qty   // cumulative
	// FilledQuote is the cumulative quote amount as the venue reports it
	// (Binance cummulativeQuoteQty, Bybit cumExecValue, OKX accFillSz ×
	// avgPx). It is informational: the ledger counts money from fills.
	FilledQuote num.Amount
	TS          int64 // venue time of this state, Unix ns (0 if the venue sent none)
	// Fee is what the order cost apart from its fills' fees, in FeeAsset:
	// the gas of an on-chain transaction that reverted, or of the
	// cancellation that replaced it — money spent with no fill to carry
	// it. Zero on the centralized venues (their fees come with fills).
	Fee      num.Amount
	FeeAsset ID
}

// Fill is one execution, normalized across venues. TradeID is the venue's
// trade (execution) id and, with Venue and Inst, the fill's identity: the
// same execution reported twice (response, private stream, REST
// reconciliation) is one fill. It is fixed-size and pointer-free.
type Fill struct {
	Venue        VenueID
	Inst         InstrumentID
	Side         Side
	Maker        bool
	TradeID      ID
	ClientID     ID
	VenueOrderID ID
	Px           num.Price // execution price, instrument scale
	Qty          num.Qty   // executed quantity, instrument scale
	// Fee is what the venue charged for this execution in FeeAsset:
	// positive is paid, negative a rebate (venues that print a charge as
	// negative, like OKX, are converted).
	Fee      num.Amount
	FeeAsset ID    // the asset code as the venue writes it ("BNB", "USDT")
	TS       int64 // venue execution time, Unix ns
}

// Balance is one asset held on one venue, as the venue reports it.
type Balance struct {
	Venue  VenueID
	Asset  string     // the venue's asset code
	Total  num.Amount // free + locked
	Locked num.Amount // reserved by open orders
}

// ErrorKind classifies a venue error so callers decide on retries without
// parsing messages.
type ErrorKind uint8

// Error kinds.
const (
	KindUnknown        ErrorKind = iota // not classified
	KindRetryable                       // transient: network, 503 before the order was accepted
	KindRejected                        // the venue refused the order; do not retry as is
	KindRateLimited                     // slow down; see RetryAfter
	KindAuth                            // bad key, signature or permissions
	KindUnknownOutcome                  // the order may or may not exist (timeout, 5xx): reconcile
	KindNotFound                        // the venue does not know the order (Binance -2013, OKX 51603, Bybit empty list)
	KindDuplicate                       // the client order id is already in use: an order for this intent exists
)

var kindNames = [...]string{"unknown", "retryable", "rejected", "rate_limited", "auth", "unknown_outcome", "not_found", "duplicate"}

// String returns the kind's name.
func (k ErrorKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// Error is a classified venue error.
type Error struct {
	Kind       ErrorKind
	Venue      string
	HTTPStatus int           // 0 if not HTTP
	Code       string        // the venue's own error code, as text
	Msg        string        // the venue's message
	RetryAfter time.Duration // from Retry-After or the venue's reset time; 0 if unknown
	Err        error         // underlying error, if any
}

// Error implements error.
func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Venue, e.Kind)
	if e.HTTPStatus != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.HTTPStatus)
	}
	if e.Code != "" {
		s += " code " + e.Code
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain, or KindUnknown.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}
