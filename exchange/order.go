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

// OrderRequest is one limit order as the engine means it, in the instrument's
// scale; adapters round it to the venue's tick and step with exact decimals
// at the boundary.
type OrderRequest struct {
	ClientID string // our idempotency key, sent as the venue's client order id
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

// Ack is a venue's answer to an order.
type Ack struct {
	ClientID     string
	VenueOrderID string
	Status       OrderStatus
	FilledQty    num.Qty   // cumulative
	FilledQuote  num.Quote // cumulative price × qty
	Fills        []Fill    // fills reported with the answer, if the venue sends them
	TS           int64     // venue time, Unix ns
}

// Fill is one execution.
type Fill struct {
	Venue        VenueID
	Inst         InstrumentID
	Side         Side
	ClientID     string
	VenueOrderID string
	TradeID      string // unique per venue and instrument: the ledger's idempotency key
	Px           num.Price
	Qty          num.Qty
	Fee          int64 // in units of 10^-FeeDec of FeeAsset
	FeeDec       uint8
	FeeAsset     string
	TS           int64 // venue time, Unix ns
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
)

var kindNames = [...]string{"unknown", "retryable", "rejected", "rate_limited", "auth", "unknown_outcome"}

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
