package bybit

import (
	"errors"

	"arb/exchange/internal/jsonscan"
)

// Parsers of Bybit's trading replies and private pushes. They read frames
// with jsonscan in two steps: the top level is scanned key by key and the
// values the caller needs are kept as raw sub-slices of the frame (so keys
// may come in any order, e.g. "data" before "topic"), then those values are
// scanned on their own. Nothing is copied or allocated; every returned
// slice aliases the input. Strings that must be matched or converted (ids,
// symbols, numbers) may not contain escapes (a venue never escapes them, so
// one is malformed input); messages (retMsg) are kept raw, escapes and all.

// Errors of the trading parsers; preallocated.
var (
	errNoRetCode = errors.New("bybit: reply without retCode")
	errShape     = errors.New("bybit: unexpected reply shape")
)

// rawValue reads the next value of any type and returns its bytes as they
// appear in the input (a string with its quotes).
func rawValue(s *jsonscan.Scanner, in []byte) []byte {
	s.Peek()
	start := s.Pos()
	s.Skip()
	if s.Err() != nil {
		return nil
	}
	return in[start:s.Pos()]
}

// rawText reads a string value that may contain escapes and returns it
// without its quotes, escapes left as sent (for messages only). A value of
// another type is returned as written.
func rawText(s *jsonscan.Scanner, in []byte) []byte {
	v := rawValue(s, in)
	if len(v) >= 2 && v[0] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// envelope is the REST reply frame {"retCode","retMsg","result","retExtInfo","time"}.
type envelope struct {
	retCode int64
	hasCode bool
	retMsg  []byte // raw, possibly escaped
	result  []byte // raw JSON value
	timeMs  int64
}

// parseEnvelope reads a REST reply's top level.
func parseEnvelope(s *jsonscan.Scanner, b []byte, e *envelope) error {
	*e = envelope{}
	s.Reset(b)
	if !s.Object() {
		return s.Err()
	}
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "retCode":
			e.retCode, e.hasCode = s.Int(), true
		case "retMsg":
			e.retMsg = rawText(s, b)
		case "result":
			e.result = rawValue(s, b)
		case "time":
			e.timeMs = s.Int()
		default:
			s.Skip()
		}
	}
	if !s.End() {
		if s.Err() != nil {
			return s.Err()
		}
		return errShape
	}
	if !e.hasCode {
		return errNoRetCode
	}
	return nil
}

// orderAck is the result of order.create / order.cancel: {"orderId","orderLinkId"}.
type orderAck struct {
	orderID, linkID []byte
}

// parseOrderAck reads an {"orderId","orderLinkId"} object (REST result or
// WS data). An empty object gives an empty ack.
func parseOrderAck(s *jsonscan.Scanner, b []byte, a *orderAck) error {
	*a = orderAck{}
	s.Reset(b)
	if !s.Object() {
		return s.Err()
	}
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "orderId":
			a.orderID = s.Str()
		case "orderLinkId":
			a.linkID = s.Str()
		default:
			s.Skip()
		}
	}
	if !s.End() {
		return orShape(s)
	}
	return nil
}

func orShape(s *jsonscan.Scanner) error {
	if s.Err() != nil {
		return s.Err()
	}
	return errShape
}

// orderFields are the fields of one order object (REST order/realtime and
// order/history list entries, private "order" pushes) this client reads.
type orderFields struct {
	category, symbol, orderID, linkID, side, status, orderType, tif []byte
	price, qty, cumQty, cumValue, updated                           []byte
}

// execFields are the fields of one execution (REST execution/list entries,
// private "execution" pushes).
type execFields struct {
	category, symbol, execID, orderID, linkID, side, execType []byte
	price, qty, fee, feeCurrency, execTime                    []byte
	isMaker, hasMaker                                         bool
}

// parseOrderObject reads one order object at the scanner's position.
func parseOrderObject(s *jsonscan.Scanner, o *orderFields) bool {
	*o = orderFields{}
	if !s.Object() {
		return false
	}
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "category":
			o.category = s.Str()
		case "symbol":
			o.symbol = s.Str()
		case "orderId":
			o.orderID = s.Str()
		case "orderLinkId":
			o.linkID = s.Str()
		case "side":
			o.side = s.Str()
		case "orderStatus":
			o.status = s.Str()
		case "orderType":
			o.orderType = s.Str()
		case "timeInForce":
			o.tif = s.Str()
		case "price":
			o.price = s.Str()
		case "qty":
			o.qty = s.Str()
		case "cumExecQty":
			o.cumQty = s.Str()
		case "cumExecValue":
			o.cumValue = s.Str()
		case "updatedTime":
			o.updated = s.Str()
		default:
			s.Skip()
		}
	}
	return s.Err() == nil
}

// parseExecObject reads one execution object at the scanner's position.
func parseExecObject(s *jsonscan.Scanner, x *execFields) bool {
	*x = execFields{}
	if !s.Object() {
		return false
	}
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "category":
			x.category = s.Str()
		case "symbol":
			x.symbol = s.Str()
		case "execId":
			x.execID = s.Str()
		case "orderId":
			x.orderID = s.Str()
		case "orderLinkId":
			x.linkID = s.Str()
		case "side":
			x.side = s.Str()
		case "execType":
			x.execType = s.Str()
		case "execPrice":
			x.price = s.Str()
		case "execQty":
			x.qty = s.Str()
		case "execFee":
			x.fee = s.Str()
		case "feeCurrency":
			x.feeCurrency = s.Str()
		case "execTime":
			x.execTime = s.Str()
		case "isMaker":
			x.isMaker, x.hasMaker = s.Bool(), true
		default:
			s.Skip()
		}
	}
	return s.Err() == nil
}

// listResult is a paged REST result {"category","list":[…],"nextPageCursor"}.
type listResult struct {
	category, list, cursor []byte // list raw
}

// parseListResult reads a paged result object.
func parseListResult(s *jsonscan.Scanner, b []byte, r *listResult) error {
	*r = listResult{}
	s.Reset(b)
	if !s.Object() {
		return s.Err()
	}
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "category":
			r.category = s.Str()
		case "list":
			r.list = rawValue(s, b)
		case "nextPageCursor":
			r.cursor = rawText(s, b)
		default:
			s.Skip()
		}
	}
	if !s.End() {
		return orShape(s)
	}
	if r.list == nil || r.list[0] != '[' {
		return errShape
	}
	return nil
}

// eachOrder calls fn for every order object of a raw JSON array; it stops
// at the first error (fn's or the scanner's).
func eachOrder(s *jsonscan.Scanner, list []byte, fn func(*orderFields) error) error {
	var o orderFields
	s.Reset(list)
	if !s.Array() {
		return s.Err()
	}
	for s.More() {
		if !parseOrderObject(s, &o) {
			return orShape(s)
		}
		if err := fn(&o); err != nil {
			return err
		}
	}
	if !s.End() {
		return orShape(s)
	}
	return nil
}

// eachExec calls fn for every execution object of a raw JSON array.
func eachExec(s *jsonscan.Scanner, list []byte, fn func(*execFields) error) error {
	var x execFields
	s.Reset(list)
	if !s.Array() {
		return s.Err()
	}
	for s.More() {
		if !parseExecObject(s, &x) {
			return orShape(s)
		}
		if err := fn(&x); err != nil {
			return err
		}
	}
	if !s.End() {
		return orShape(s)
	}
	return nil
}

// walletCoin is one coin of a wallet-balance answer.
type walletCoin struct {
	coin, walletBalance, locked []byte
}

// eachWalletCoin calls fn for every coin of every account in a
// wallet-balance result {"list":[{"accountType",…,"coin":[…]}]}.
func eachWalletCoin(s *jsonscan.Scanner, result []byte, fn func(*walletCoin) error) error {
	var lr listResult
	if err := parseListResult(s, result, &lr); err != nil {
		return err
	}
	// Accounts first (their raw coin arrays), then coins: one scanner.
	var coins [8][]byte
	n := 0
	s.Reset(lr.list)
	if !s.Array() {
		return s.Err()
	}
	for s.More() {
		if !s.Object() {
			return s.Err()
		}
		for {
			k, ok := s.Key()
			if !ok {
				break
			}
			if string(k) == "coin" && n < len(coins) {
				coins[n] = rawValue(s, lr.list)
				n++
				continue
			}
			s.Skip()
		}
	}
	if !s.End() {
		return orShape(s)
	}
	var c walletCoin
	for _, arr := range coins[:n] {
		s.Reset(arr)
		if !s.Array() {
			return s.Err()
		}
		for s.More() {
			c = walletCoin{}
			if !s.Object() {
				return s.Err()
			}
			for {
				k, ok := s.Key()
				if !ok {
					break
				}
				switch string(k) {
				case "coin":
					c.coin = s.Str()
				case "walletBalance":
					c.walletBalance = s.Str()
				case "locked":
					c.locked = s.Str()
				default:
					s.Skip()
				}
			}
			if s.Err() != nil {
				return s.Err()
			}
			if err := fn(&c); err != nil {
				return err
			}
		}
		if !s.End() {
			return orShape(s)
		}
	}
	return nil
}

// serverTime is the result of GET /v5/market/time.
type serverTime struct {
	second, nano []byte
}

func parseServerTime(s *jsonscan.Scanner, result []byte, t *serverTime) error {
	*t = serverTime{}
	s.Reset(result)
	if !s.Object() {
		return s.Err()
	}
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "timeSecond":
			t.second = s.Str()
		case "timeNano":
			t.nano = s.Str()
		default:
			s.Skip()
		}
	}
	if !s.End() {
		return orShape(s)
	}
	return nil
}

// wsFrame is the top level of a message on the private stream or the trade
// socket. The private stream answers control messages with
// {"success","ret_msg","op","conn_id","req_id"} and pushes
// {"topic","id","creationTime","data"}; the trade socket answers with
// {"reqId","retCode","retMsg","op","data","header","connId"}.
type wsFrame struct {
	topic, op, retMsg, reqID, data, header []byte
	success, hasSuccess                    bool
	retCode                                int64
	hasRetCode                             bool
}

// parseWSFrame reads a websocket message's top level.
func parseWSFrame(s *jsonscan.Scanner, b []byte, f *wsFrame) error {
	*f = wsFrame{}
	s.Reset(b)
	if !s.Object() {
		return s.Err()
	}
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "topic":
			f.topic = s.Str()
		case "op":
			f.op = s.Str()
		case "success":
			f.success, f.hasSuccess = s.Bool(), true
		case "ret_msg", "retMsg":
			f.retMsg = rawText(s, b)
		case "retCode":
			f.retCode, f.hasRetCode = s.Int(), true
		case "reqId", "req_id":
			if s.IsNull() {
				continue
			}
			f.reqID = s.Str()
		case "data":
			f.data = rawValue(s, b)
		case "header":
			f.header = rawValue(s, b)
		default:
			s.Skip()
		}
	}
	if !s.End() {
		return orShape(s)
	}
	return nil
}

// wsHeader is the "header" object of a trade-socket reply.
type wsHeader struct {
	limit, status, reset, timeNow []byte
}

func parseWSHeader(s *jsonscan.Scanner, b []byte, h *wsHeader) error {
	*h = wsHeader{}
	if len(b) == 0 {
		return nil
	}
	s.Reset(b)
	if !s.Object() {
		return s.Err()
	}
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "X-Bapi-Limit":
			h.limit = s.Str()
		case "X-Bapi-Limit-Status":
			h.status = s.Str()
		case "X-Bapi-Limit-Reset-Timestamp":
			h.reset = s.Str()
		case "Timenow":
			h.timeNow = s.Str()
		default:
			s.Skip()
		}
	}
	if !s.End() {
		return orShape(s)
	}
	return nil
}
