package okx

import (
	"errors"
	"net"
	"net/http"
	"strconv"

	"arb/exchange"
)

// opKind is what a request does, which decides how an ambiguous failure is
// classified: a failed order placement may have placed the order, a failed
// read changed nothing.
type opKind uint8

const (
	opPlace  opKind = iota + 1 // POST trade/order, WS order
	opCancel                   // POST trade/cancel-order
	opRead                     // every GET
)

// OKX codes the trading client treats specially. Sources: OKX v5 error
// tables (#error-code-rest-api, #error-code-websocket) as transcribed in
// shared/venue-docs/okx/errors_trading.json, and README §4.2.
const (
	codeDuplicate     = "51016" // Client order ID already exists.
	codeNotExist      = "51603" // Order does not exist.
	codeCancelMissing = "51400" // cancellation failed: the order does not exist
	codeCancelDone1   = "51401" // cancellation failed: already canceled
	codeCancelDone2   = "51402" // cancellation failed: already completed
	codeTimestamp     = "50102" // Timestamp request expired (±30 s)
	codeRateLimit     = "50011" // Rate limit reached (HTTP 200 or 429)
	codeSubRateLimit  = "50061" // sub-account order rate limit (1000 / 2 s)
	codeWSRateLimit   = "60014" // Requests too frequent (websocket)
)

// unknownCodes leave an order's fate open. Only 50004 says so explicitly
// ("does not mean that the request was successful or failed, please check
// the request result"); 50001 (503 service unavailable), 50013 (systems
// busy), 50026 (system error) and 51054 (request timed out) are retry-later
// server errors that do not say whether the order reached the engine, so an
// order sent with them is resolved by querying its clOrdId (README §4.2,
// "Outcome unknown"). 51149 ("order timed out") is OKX's order-timeout code
// as other clients treat it (NautilusTrader's OKX_ORDER_REQUEST_TIMEOUT_CODE);
// treating a rejection as unknown costs one query, the reverse could double
// an order.
func unknownCode(code string) bool {
	switch code {
	case "50004", "50001", "50013", "50026", "51054", "51149":
		return true
	}
	return false
}

// authCode reports OKX's authentication codes: REST 50100–50119 (frozen key,
// wrong environment, bad timestamp, headers, IP whitelist, signature, …) and
// the websocket login codes.
func authCode(code string) bool {
	n, err := strconv.Atoi(code)
	if err != nil {
		return false
	}
	switch {
	case n >= 50100 && n <= 50119:
		return true
	case n == 60004, n == 60005, n == 60006, n == 60007, n == 60009, n == 60011, n == 60024, n == 60031:
		return true
	}
	return false
}

// classifyTrade maps an HTTP status and OKX code (the per-order sCode when
// there is one, else the top-level code) to a Kind for op.
func classifyTrade(op opKind, status int, code string) exchange.ErrorKind {
	switch code {
	case codeDuplicate:
		return exchange.KindDuplicate
	case codeNotExist, codeCancelMissing:
		return exchange.KindNotFound
	case codeRateLimit, codeSubRateLimit, codeWSRateLimit:
		return exchange.KindRateLimited
	case codeTimestamp:
		// Refused at the gate, before the engine: known not placed; the
		// client re-measures its clock, so a resubmission will pass.
		return exchange.KindRetryable
	}
	if unknownCode(code) {
		if op == opPlace {
			return exchange.KindUnknownOutcome
		}
		return exchange.KindRetryable
	}
	if authCode(code) {
		return exchange.KindAuth
	}
	switch {
	case status == http.StatusTooManyRequests || status == 418:
		return exchange.KindRateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return exchange.KindAuth
	case status >= 500:
		if op == opPlace {
			return exchange.KindUnknownOutcome
		}
		return exchange.KindRetryable
	case code != "" && code != "0":
		// Every other venue code refuses the request as sent: insufficient
		// balance (51008, 51119, 51131), filters (51020, 51121, 51100),
		// instrument (51001), parameters (50014, 51000), KYC (59113), …
		return exchange.KindRejected
	}
	if status != http.StatusOK {
		if op == opPlace {
			return exchange.KindUnknownOutcome // an unexpected status with no venue code
		}
		return exchange.KindRetryable
	}
	return exchange.KindUnknown
}

// transportKind classifies a transport error of op: a failure to connect
// sent nothing; anything later may have delivered the request.
func transportKind(op opKind, err error) exchange.ErrorKind {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return exchange.KindRetryable
	}
	if op == opPlace {
		return exchange.KindUnknownOutcome
	}
	return exchange.KindRetryable
}

// breakerFailure reports whether an error of kind k counts against the
// failure breaker: the venue did not answer sensibly. A venue refusing an
// order answered; it is not a failure of the venue.
func breakerFailure(k exchange.ErrorKind) bool {
	switch k {
	case exchange.KindUnknownOutcome, exchange.KindAuth, exchange.KindUnknown:
		return true
	}
	return false
}
