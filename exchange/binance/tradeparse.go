package binance

import (
	"errors"

	"arb/exchange"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/num"
)

// Parsers of the trading replies and pushes: REST order, query, cancel,
// openOrders, myTrades, account and time answers, the error body, the
// WebSocket API response envelope, and the user-data events. Each reads the
// bytes with jsonscan (keys matched exactly: "c" and "C", "x" and "X", "l"
// and "L" are different fields of an executionReport), keeps values as
// sub-slices of the input, and converts numbers only once the symbol, and
// with it the instrument's scale, is known. Nothing allocates.

// Preallocated errors of the trading parsers.
var (
	// errBadValue: a field has a value the docs do not list (status, side,
	// time in force) or a malformed number.
	errBadValue = errors.New("binance: unexpected field value")
	// errUnknownSymbol: the message names a symbol this client does not
	// trade.
	errUnknownSymbol = errors.New("binance: symbol not configured")
	// errNotFit is the broken invariant: a price or quantity the venue
	// executed has more decimals than the instrument's scale holds (or
	// does not fit an int64). It must never be rounded or dropped
	// silently: the client opens its circuit.
	errNotFit = errors.New("binance: venue value does not fit the instrument's scale")
	// errTooMany: more fills, trades or balances in one message than the
	// parser keeps.
	errTooMany = errors.New("binance: too many entries in one message")
)

// Caps on the entries of one message.
const (
	maxFillsPerMsg    = 1000 // myTrades pages hold at most 1000
	maxOrdersPerMsg   = 1000 // open orders per account (Binance's MAX_NUM_ORDERS is 200 per symbol)
	maxBalancesPerMsg = 4096
	maxRateLimits     = 8
)

// rawFill is one fill of a FULL order response, as slices.
type rawFill struct {
	price, qty, commission, asset []byte
	tradeID                       int64
	hasID                         bool
}

// rawOrder is one order object (POST/GET/DELETE /api/v3/order, an entry
// of openOrders, the result of order.place), as slices.
type rawOrder struct {
	symbol, clientID, origClientID, price, origQty, executedQty, cumQuote, status, tif, side []byte
	orderID                                                                                  int64
	hasOrderID                                                                               bool
	transactTime, updateTime, time                                                           int64
	fills                                                                                    []rawFill // scratch, reused
}

func (r *rawOrder) reset() {
	fills := r.fills[:0]
	*r = rawOrder{fills: fills}
}

// readOrder reads the order object at the scanner's position into r.
func readOrder(s *jsonscan.Scanner, r *rawOrder) {
	r.reset()
	if !s.Object() {
		return
	}
	for {
		k, ok := s.Key()
		if !ok {
			return
		}
		switch string(k) {
		case "symbol":
			r.symbol = s.Str()
		case "orderId":
			r.orderID, r.hasOrderID = s.Int(), true
		case "clientOrderId":
			r.clientID = s.Str()
		case "origClientOrderId":
			r.origClientID = s.Str()
		case "price":
			r.price = s.Str()
		case "origQty":
			r.origQty = s.Str()
		case "executedQty":
			r.executedQty = s.Str()
		case "cummulativeQuoteQty":
			r.cumQuote = s.Str()
		case "status":
			r.status = s.Str()
		case "timeInForce":
			r.tif = s.Str()
		case "side":
			r.side = s.Str()
		case "transactTime":
			r.transactTime = s.Int()
		case "updateTime":
			r.updateTime = s.Int()
		case "time":
			r.time = s.Int()
		case "fills":
			readFills(s, &r.fills)
		default:
			s.Skip()
		}
	}
}

func readFills(s *jsonscan.Scanner, out *[]rawFill) {
	*out = (*out)[:0]
	if !s.Array() {
		return
	}
	for s.More() {
		if len(*out) == maxFillsPerMsg {
			s.Fail(errTooMany)
			return
		}
		var f rawFill
		if !s.Object() {
			return
		}
		for {
			k, ok := s.Key()
			if !ok {
				break
			}
			switch string(k) {
			case "price":
				f.price = s.Str()
			case "qty":
				f.qty = s.Str()
			case "commission":
				f.commission = s.Str()
			case "commissionAsset":
				f.asset = s.Str()
			case "tradeId":
				f.tradeID, f.hasID = s.Int(), true
			default:
				s.Skip()
			}
		}
		*out = append(*out, f)
	}
}

// parseStatus maps Binance's order status (enums.md). PENDING_NEW (an
// order list's pending leg) is new; EXPIRED_IN_MATCH (self-trade
// prevention) is expired.
func parseStatus(b []byte) (exchange.OrderStatus, bool) {
	switch string(b) {
	case "NEW", "PENDING_NEW":
		return exchange.StatusNew, true
	case "PARTIALLY_FILLED":
		return exchange.StatusPartiallyFilled, true
	case "FILLED":
		return exchange.StatusFilled, true
	case "CANCELED", "PENDING_CANCEL":
		return exchange.StatusCanceled, true
	case "EXPIRED", "EXPIRED_IN_MATCH":
		return exchange.StatusExpired, true
	case "REJECTED":
		return exchange.StatusRejected, true
	}
	return 0, false
}

func parseSide(b []byte) (exchange.Side, bool) {
	switch string(b) {
	case "BUY":
		return exchange.Buy, true
	case "SELL":
		return exchange.Sell, true
	}
	return 0, false
}

func parseTIF(b []byte) (exchange.TimeInForce, bool) {
	switch string(b) {
	case "IOC":
		return exchange.IOC, true
	case "GTC":
		return exchange.GTC, true
	case "FOK":
		return exchange.FOK, true
	}
	return 0, false
}

// fixedNum converts a venue number to the instrument's fixed point: a
// value with non-zero digits past dec (or too large) is errNotFit, a
// malformed one errBadValue.
func fixedNum(b []byte, dec uint8) (int64, error) {
	v, err := num.ParseUnsigned(b, dec)
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, num.ErrPrecision) || errors.Is(err, num.ErrRange):
		return 0, errNotFit
	}
	return 0, errBadValue
}

// amount parses an exact decimal (fees, cumulative quote, balances).
func amount(b []byte) (num.Amount, error) {
	a, err := num.ParseAmount(b)
	if err != nil {
		return num.Amount{}, errBadValue
	}
	return a, nil
}

// msToNs converts venue milliseconds to Unix ns (0 stays 0).
func msToNs(ms int64) int64 { return ms * 1e6 }

// tradeID renders a numeric trade or order id as an ID.
func numID(v int64) exchange.ID {
	var b [20]byte
	id, _ := exchange.IDFromBytes(appendInt(b[:0], v))
	return id
}

// Error kinds of a parsed Binance error body.

// apiError is {"code":-2010,"msg":"…"}, with the WebSocket API's
// error.data.retryAfter (ms epoch) when present.
type apiError struct {
	code       int64
	hasCode    bool
	msg        []byte
	retryAfter int64 // Unix ms, 0 if absent
}

func readAPIError(s *jsonscan.Scanner, e *apiError) {
	*e = apiError{}
	if !s.Object() {
		return
	}
	for {
		k, ok := s.Key()
		if !ok {
			return
		}
		switch string(k) {
		case "code":
			e.code, e.hasCode = s.Int(), true
		case "msg":
			if s.IsNull() {
				continue
			}
			e.msg = s.Str()
		case "data":
			if !s.Object() {
				continue
			}
			for {
				k, ok := s.Key()
				if !ok {
					break
				}
				if string(k) == "retryAfter" {
					e.retryAfter = s.Int()
				} else {
					s.Skip()
				}
			}
		default:
			s.Skip()
		}
	}
}

// parseAPIError reads a REST error body; ok is false when the body is not
// a Binance error object (a WAF page, an empty body).
func parseAPIError(s *jsonscan.Scanner, body []byte, e *apiError) bool {
	s.Reset(body)
	readAPIError(s, e)
	return s.End() && e.hasCode
}

// parseServerTime reads {"serverTime":1499827319559}.
func parseServerTime(s *jsonscan.Scanner, body []byte) (int64, error) {
	s.Reset(body)
	var t int64
	if s.Object() {
		for {
			k, ok := s.Key()
			if !ok {
				break
			}
			if string(k) == "serverTime" {
				t = s.Int()
			} else {
				s.Skip()
			}
		}
	}
	if !s.End() {
		return 0, errSyntaxOr(s)
	}
	if t <= 0 {
		return 0, errMissing
	}
	return t, nil
}

// errSyntaxOr returns the scanner's error, or jsonscan.ErrSyntax for
// trailing bytes.
func errSyntaxOr(s *jsonscan.Scanner) error {
	if err := s.Err(); err != nil {
		return err
	}
	return jsonscan.ErrSyntax
}

// rawTrade is one entry of myTrades, as slices.
type rawTrade struct {
	symbol, price, qty, commission, asset []byte
	id, orderID, time                     int64
	hasID, hasOrderID                     bool
	isBuyer, isMaker                      bool
	hasBuyer                              bool
}

func readTrade(s *jsonscan.Scanner, t *rawTrade) {
	*t = rawTrade{}
	if !s.Object() {
		return
	}
	for {
		k, ok := s.Key()
		if !ok {
			return
		}
		switch string(k) {
		case "symbol":
			t.symbol = s.Str()
		case "id":
			t.id, t.hasID = s.Int(), true
		case "orderId":
			t.orderID, t.hasOrderID = s.Int(), true
		case "price":
			t.price = s.Str()
		case "qty":
			t.qty = s.Str()
		case "commission":
			t.commission = s.Str()
		case "commissionAsset":
			t.asset = s.Str()
		case "time":
			t.time = s.Int()
		case "isBuyer":
			t.isBuyer, t.hasBuyer = s.Bool(), true
		case "isMaker":
			t.isMaker = s.Bool()
		default:
			s.Skip()
		}
	}
}

// rawBalance is one entry of account.balances.
type rawBalance struct{ asset, free, locked []byte }

// readBalances reads an account object's "balances" into out.
func readAccount(s *jsonscan.Scanner, out *[]rawBalance) {
	*out = (*out)[:0]
	if !s.Object() {
		return
	}
	for {
		k, ok := s.Key()
		if !ok {
			return
		}
		if string(k) != "balances" {
			s.Skip()
			continue
		}
		*out = (*out)[:0] // a repeated key: the last wins
		if !s.Array() {
			return
		}
		for s.More() {
			if len(*out) == maxBalancesPerMsg {
				s.Fail(errTooMany)
				return
			}
			var b rawBalance
			if !s.Object() {
				return
			}
			for {
				k, ok := s.Key()
				if !ok {
					break
				}
				switch string(k) {
				case "asset":
					b.asset = s.Str()
				case "free":
					b.free = s.Str()
				case "locked":
					b.locked = s.Str()
				default:
					s.Skip()
				}
			}
			*out = append(*out, b)
		}
	}
}

// rateObs is one entry of a WebSocket API response's rateLimits.
type rateObs struct {
	typ, interval []byte
	intervalNum   int64
	count         int64
}

// wsResponse is a WebSocket API response: {"id","status","result" |
// "error","rateLimits"}. result and error are the raw values, parsed by
// whoever knows the method.
type wsResponse struct {
	id         []byte
	idNull     bool
	status     int64
	result     []byte
	errRaw     []byte
	rateLimits [maxRateLimits]rateObs
	nLimits    int
}

// parseWSResponse reads a response frame. It fails on anything that is not
// a JSON object with a status.
func parseWSResponse(s *jsonscan.Scanner, frame []byte, r *wsResponse) error {
	*r = wsResponse{}
	s.Reset(frame)
	hasStatus := false
	if s.Object() {
		for {
			k, ok := s.Key()
			if !ok {
				break
			}
			switch string(k) {
			case "id":
				switch {
				case s.IsNull():
					r.idNull = true
				case s.Peek() == '"':
					r.id = s.Str()
				default:
					r.id = s.Number()
				}
			case "status":
				r.status, hasStatus = s.Int(), true
			case "result":
				start := s.Pos()
				s.Skip()
				r.result = valueBytes(frame, start, s.Pos())
			case "error":
				start := s.Pos()
				s.Skip()
				r.errRaw = valueBytes(frame, start, s.Pos())
			case "rateLimits":
				readRateLimits(s, r)
			default:
				s.Skip()
			}
		}
	}
	if !s.End() {
		return errSyntaxOr(s)
	}
	if !hasStatus {
		return errMissing
	}
	return nil
}

// valueBytes trims the separators Skip leaves around a value: the ':' is
// consumed by Key, so the value starts after white space.
func valueBytes(b []byte, start, end int) []byte {
	if start < 0 || end > len(b) || start > end {
		return nil
	}
	v := b[start:end]
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t' || v[0] == '\n' || v[0] == '\r') {
		v = v[1:]
	}
	return v
}

func readRateLimits(s *jsonscan.Scanner, r *wsResponse) {
	if !s.Array() {
		return
	}
	for s.More() {
		var o rateObs
		if !s.Object() {
			return
		}
		for {
			k, ok := s.Key()
			if !ok {
				break
			}
			switch string(k) {
			case "rateLimitType":
				o.typ = s.Str()
			case "interval":
				o.interval = s.Str()
			case "intervalNum":
				o.intervalNum = s.Int()
			case "count":
				o.count = s.Int()
			default:
				s.Skip()
			}
		}
		if r.nLimits < maxRateLimits {
			r.rateLimits[r.nLimits] = o
			r.nLimits++
		}
	}
}

// Event types of the user data stream.
type eventKind uint8

const (
	evOther eventKind = iota
	evExecution
	evAccount     // outboundAccountPosition
	evTerminated  // eventStreamTerminated
	evShutdown    // serverShutdown
	evResponse    // a response to a request (id/status), not an event
	evListStatus  // listStatus (order lists; arb places none)
	evBalanceMove // balanceUpdate, externalLockUpdate
)

// rawExec is an executionReport, as slices.
type rawExec struct {
	symbol, clientID, origClientID, side, tif, qty, price, execType, status []byte
	lastQty, lastPrice, cumQty, cumQuote, commission, commAsset             []byte
	orderID, tradeID, txTime, eventTime                                     int64
	maker                                                                   bool
	hasOrderID                                                              bool
}

// userEvent is one frame of the private stream.
type userEvent struct {
	kind    eventKind
	subID   int64
	hasSub  bool
	e       []byte
	E       int64
	exec    rawExec
	respRaw bool // the frame is a response (id/status at the top level)
}

// parseUserEvent reads a private-stream frame: {"subscriptionId":N,
// "event":{…}}, {"event":{…}} (serverShutdown), or a response to one of
// our requests.
func parseUserEvent(s *jsonscan.Scanner, frame []byte, ev *userEvent) error {
	*ev = userEvent{}
	s.Reset(frame)
	hasEvent := false
	if s.Object() {
		for {
			k, ok := s.Key()
			if !ok {
				break
			}
			switch string(k) {
			case "subscriptionId":
				ev.subID, ev.hasSub = s.Int(), true
			case "event":
				hasEvent = true
				readEvent(s, ev)
			case "id", "status", "result", "error", "rateLimits":
				ev.respRaw = true
				s.Skip()
			default:
				s.Skip()
			}
		}
	}
	if !s.End() {
		return errSyntaxOr(s)
	}
	switch {
	case hasEvent:
		switch string(ev.e) {
		case "executionReport":
			ev.kind = evExecution
		case "outboundAccountPosition":
			ev.kind = evAccount
		case "eventStreamTerminated":
			ev.kind = evTerminated
		case "serverShutdown":
			ev.kind = evShutdown
		case "listStatus":
			ev.kind = evListStatus
		case "balanceUpdate", "externalLockUpdate":
			ev.kind = evBalanceMove
		case "":
			return errMissing
		default:
			ev.kind = evOther
		}
	case ev.respRaw:
		ev.kind = evResponse
	default:
		return errMissing
	}
	return nil
}

// readEvent reads the event object. Every executionReport field is taken
// whatever the event type ("e" need not come first); the caller uses them
// only for an executionReport.
func readEvent(s *jsonscan.Scanner, ev *userEvent) {
	x := &ev.exec
	if !s.Object() {
		return
	}
	for {
		k, ok := s.Key()
		if !ok {
			return
		}
		if len(k) != 1 {
			s.Skip() // "eR" (expiry reason) and future keys
			continue
		}
		switch k[0] {
		case 'e':
			ev.e = s.Str()
		case 'E':
			ev.E = s.Int()
		case 's':
			x.symbol = s.Str()
		case 'c':
			x.clientID = s.Str()
		case 'C':
			if !s.IsNull() {
				x.origClientID = s.Str()
			}
		case 'S':
			x.side = s.Str()
		case 'f':
			x.tif = s.Str()
		case 'q':
			x.qty = s.Str()
		case 'p':
			x.price = s.Str()
		case 'x':
			x.execType = s.Str()
		case 'X':
			x.status = s.Str()
		case 'i':
			x.orderID, x.hasOrderID = s.Int(), true
		case 'l':
			x.lastQty = s.Str()
		case 'z':
			x.cumQty = s.Str()
		case 'L':
			x.lastPrice = s.Str()
		case 'n':
			if !s.IsNull() {
				x.commission = s.Str()
			}
		case 'N':
			if !s.IsNull() {
				x.commAsset = s.Str()
			}
		case 'T':
			x.txTime = s.Int()
		case 't':
			x.tradeID = s.Int()
		case 'm':
			x.maker = s.Bool()
		case 'Z':
			x.cumQuote = s.Str()
		default:
			s.Skip()
		}
	}
}
