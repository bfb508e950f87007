package okx

import (
	"encoding/json"
	"errors"
	"math/bits"

	"arb/exchange"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/num"
)

// This file reads OKX's trading replies and private pushes without
// encoding/json and without allocating: the REST envelope
// {"code","msg","data":[…]}, the WebSocket order reply
// {"id","op","data":[…],"code","msg"}, the orders-channel push
// {"arg":{…},"data":[…]} and the events {"event","code","msg",…}. Every
// value OKX sends in these is a JSON string; the rows of "data" are staged
// (their values alias the frame) so that key order does not matter —
// OKX's order reply puts "data" before "code".

// Errors of the trading parsers; preallocated.
var (
	errTradeShape  = errors.New("okx: unexpected reply shape")
	errTooManyRows = errors.New("okx: too many rows in a reply")
	// errScale marks a venue number with more decimals than the
	// instrument's scale holds: for a fill, a broken invariant that halts
	// trading (see Client.halt), never a value to round.
	errScale   = errors.New("okx: number does not fit the instrument's scale")
	errNumber  = errors.New("okx: malformed number")
	errUnknown = errors.New("okx: unknown value")
)

// field names one value of a data row.
type field uint8

// Row fields (the union of what orders, fills, order replies, balances and
// the orders channel carry that the client reads).
const (
	fInstID field = iota
	fInstType
	fOrdID
	fClOrdID
	fPx
	fSz
	fSide
	fOrdType
	fState
	fAccFillSz
	fAvgPx
	fFillPx
	fFillSz
	fTradeID
	fFillTime
	fFillFee
	fFillFeeCcy
	fFee
	fFeeCcy
	fExecType
	fUTime
	fCTime
	fSCode
	fSMsg // raw JSON (may hold escapes)
	fTS
	fBillID
	fCcy
	fCashBal
	fFrozenBal
	fCode
	fMsg // raw JSON (may hold escapes)
	numFields
)

// rowField maps a key to its field (a switch on string(k) does not allocate).
func rowField(k []byte) (field, bool) {
	switch string(k) {
	case "instId":
		return fInstID, true
	case "instType":
		return fInstType, true
	case "ordId":
		return fOrdID, true
	case "clOrdId":
		return fClOrdID, true
	case "px":
		return fPx, true
	case "sz":
		return fSz, true
	case "side":
		return fSide, true
	case "ordType":
		return fOrdType, true
	case "state":
		return fState, true
	case "accFillSz":
		return fAccFillSz, true
	case "avgPx":
		return fAvgPx, true
	case "fillPx":
		return fFillPx, true
	case "fillSz":
		return fFillSz, true
	case "tradeId":
		return fTradeID, true
	case "fillTime":
		return fFillTime, true
	case "fillFee":
		return fFillFee, true
	case "fillFeeCcy":
		return fFillFeeCcy, true
	case "fee":
		return fFee, true
	case "feeCcy":
		return fFeeCcy, true
	case "execType":
		return fExecType, true
	case "uTime":
		return fUTime, true
	case "cTime":
		return fCTime, true
	case "sCode":
		return fSCode, true
	case "sMsg":
		return fSMsg, true
	case "ts":
		return fTS, true
	case "billId":
		return fBillID, true
	case "ccy":
		return fCcy, true
	case "cashBal":
		return fCashBal, true
	case "frozenBal":
		return fFrozenBal, true
	case "code":
		return fCode, true
	case "msg":
		return fMsg, true
	}
	return 0, false
}

// row is one staged element of "data"; values alias the frame.
type row struct {
	v    [numFields][]byte
	seen uint64
}

// get returns the value of f (nil if absent).
func (r *row) get(f field) []byte { return r.v[f] }

// has reports whether f was present.
func (r *row) has(f field) bool { return r.seen&(1<<f) != 0 }

// Top-level key bits for duplicate detection.
const (
	ekCode = 1 << iota
	ekMsg
	ekData
	ekID
	ekOp
	ekEvent
	ekConnID
	ekArg
)

// envelope is one reply or push as parsed. rows and details are staging
// buffers with fixed capacity; a reply with more is refused.
type envelope struct {
	sc      jsonscan.Scanner
	b       []byte
	seen    uint32
	code    []byte
	msg     []byte // raw JSON
	id      []byte
	op      []byte
	event   []byte
	connID  []byte
	channel []byte // arg.channel
	argInst []byte // arg.instId
	rows    []row
	details []row // balance details (only when cap(details) > 0)
}

// newEnvelope returns an envelope holding up to maxRows data rows and
// maxDetails balance details.
func newEnvelope(maxRows, maxDetails int) *envelope {
	return &envelope{rows: make([]row, 0, maxRows), details: make([]row, 0, maxDetails)}
}

// parse reads b. On error the envelope's contents are unspecified.
func (e *envelope) parse(b []byte) error {
	e.b, e.seen = b, 0
	e.code, e.msg, e.id, e.op, e.event, e.connID, e.channel, e.argInst = nil, nil, nil, nil, nil, nil, nil, nil
	e.rows, e.details = e.rows[:0], e.details[:0]
	sc := &e.sc
	sc.Reset(b)
	if !sc.Object() {
		return sc.Err()
	}
	for {
		k, ok := sc.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "code":
			if e.once(ekCode) {
				// OKX sends "0"; accept a bare number too (the value is
				// only compared as text).
				if sc.Peek() == '"' {
					e.code = sc.Str()
				} else {
					e.code = sc.Number()
				}
			}
		case "msg":
			if e.once(ekMsg) {
				e.msg = e.raw()
			}
		case "data":
			if e.once(ekData) {
				e.parseData()
			}
		case "id":
			if e.once(ekID) {
				e.id = sc.Str()
			}
		case "op":
			if e.once(ekOp) {
				e.op = sc.Str()
			}
		case "event":
			if e.once(ekEvent) {
				e.event = sc.Str()
			}
		case "connId":
			if e.once(ekConnID) {
				e.connID = sc.Str()
			}
		case "arg":
			if e.once(ekArg) {
				e.parseArg()
			}
		default:
			sc.Skip()
		}
	}
	if !sc.End() {
		if err := sc.Err(); err != nil {
			return err
		}
		return errTradeShape
	}
	return nil
}

func (e *envelope) once(bit uint32) bool {
	if e.seen&bit != 0 {
		e.sc.Fail(errTradeShape)
		return false
	}
	e.seen |= bit
	return true
}

// raw returns the raw JSON of the next value (for messages that may hold
// escapes; they are decoded only on error paths).
func (e *envelope) raw() []byte {
	e.sc.Peek()
	start := e.sc.Pos()
	e.sc.Skip()
	if e.sc.Err() != nil {
		return nil
	}
	return e.b[start:e.sc.Pos()]
}

func (e *envelope) parseArg() {
	sc := &e.sc
	if !sc.Object() {
		return
	}
	var seen uint8
	for {
		k, ok := sc.Key()
		if !ok {
			return
		}
		switch string(k) {
		case "channel":
			if seen&1 != 0 {
				sc.Fail(errTradeShape)
				return
			}
			seen |= 1
			e.channel = sc.Str()
		case "instId":
			if seen&2 != 0 {
				sc.Fail(errTradeShape)
				return
			}
			seen |= 2
			e.argInst = sc.Str()
		default:
			sc.Skip()
		}
	}
}

func (e *envelope) parseData() {
	sc := &e.sc
	if !sc.Array() {
		return
	}
	for sc.More() {
		if len(e.rows) == cap(e.rows) {
			sc.Fail(errTooManyRows)
			return
		}
		e.rows = e.rows[:len(e.rows)+1]
		r := &e.rows[len(e.rows)-1]
		*r = row{}
		e.parseRow(r, true)
	}
}

// parseRow reads one object of string fields into r; with details it also
// reads a balance row's "details" array.
func (e *envelope) parseRow(r *row, details bool) {
	sc := &e.sc
	if !sc.Object() {
		return
	}
	for {
		k, ok := sc.Key()
		if !ok {
			return
		}
		f, known := rowField(k)
		if !known {
			if details && cap(e.details) > 0 && string(k) == "details" {
				e.parseDetails()
				continue
			}
			sc.Skip()
			continue
		}
		if r.seen&(1<<f) != 0 {
			sc.Fail(errTradeShape)
			return
		}
		r.seen |= 1 << f
		if f == fMsg || f == fSMsg {
			r.v[f] = e.raw()
		} else {
			r.v[f] = sc.Str()
		}
	}
}

func (e *envelope) parseDetails() {
	sc := &e.sc
	if len(e.details) > 0 { // a second "details" (or a second balance row)
		sc.Fail(errTradeShape)
		return
	}
	if !sc.Array() {
		return
	}
	for sc.More() {
		if len(e.details) == cap(e.details) {
			sc.Fail(errTooManyRows)
			return
		}
		e.details = e.details[:len(e.details)+1]
		r := &e.details[len(e.details)-1]
		*r = row{}
		e.parseRow(r, false)
	}
}

// isCode reports whether the top-level code is s.
func (e *envelope) isCode(s string) bool { return string(e.code) == s }

// text decodes a raw JSON message value for an error (allocates; error
// paths only). A value that is not a JSON string is returned as it is.
func text(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// --- conversions to the exchange vocabulary ---

// scaled parses an unsigned decimal in dec decimals: more significant
// decimals than dec is errScale, anything else malformed errNumber.
func scaled(b []byte, dec uint8) (int64, error) {
	v, err := num.ParseUnsigned(b, dec)
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, num.ErrPrecision):
		return 0, errScale
	}
	return 0, errNumber
}

// millisNS parses a Unix-milliseconds string into Unix ns ("" is 0).
func millisNS(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	v, err := jsonscan.ParseInt(b)
	if err != nil || v < 0 || v > maxTSMillis {
		return 0, errNumber
	}
	return v * 1_000_000, nil
}

func parseSide(b []byte) (exchange.Side, error) {
	switch string(b) {
	case "buy":
		return exchange.Buy, nil
	case "sell":
		return exchange.Sell, nil
	}
	return 0, errUnknown
}

// parseState maps OKX's order state. mmp_canceled (market-maker
// protection) is a cancel.
func parseState(b []byte) (exchange.OrderStatus, error) {
	switch string(b) {
	case "live":
		return exchange.StatusNew, nil
	case "partially_filled":
		return exchange.StatusPartiallyFilled, nil
	case "filled":
		return exchange.StatusFilled, nil
	case "canceled", "mmp_canceled":
		return exchange.StatusCanceled, nil
	}
	return 0, errUnknown
}

// parseTIF maps ordType: limit and post_only rest (GTC), ioc and fok as
// named. Other types (market, optimal_limit_ioc, …) are not ours: 0.
func parseTIF(b []byte) exchange.TimeInForce {
	switch string(b) {
	case "ioc", "optimal_limit_ioc":
		return exchange.IOC
	case "fok":
		return exchange.FOK
	case "limit", "post_only":
		return exchange.GTC
	}
	return 0
}

// idOf copies b into an ID; an over-long id is malformed.
func idOf(b []byte) (exchange.ID, error) {
	id, ok := exchange.IDFromBytes(b)
	if !ok {
		return id, errTradeShape
	}
	return id, nil
}

// orderStateFrom converts an order row (GET trade/order, orders-pending,
// the orders channel) on instrument in. Prices and sizes that do not fit
// the instrument's scale are errScale.
func orderStateFrom(r *row, venue exchange.VenueID, in *exchange.Instrument) (exchange.OrderState, error) {
	st := exchange.OrderState{Venue: venue, Inst: in.ID, TIF: parseTIF(r.get(fOrdType))}
	var err error
	if st.Side, err = parseSide(r.get(fSide)); err != nil {
		return st, err
	}
	if st.Status, err = parseState(r.get(fState)); err != nil {
		return st, err
	}
	if st.ClientID, err = idOf(r.get(fClOrdID)); err != nil {
		return st, err
	}
	if st.VenueOrderID, err = idOf(r.get(fOrdID)); err != nil {
		return st, err
	}
	if st.VenueOrderID.IsZero() {
		return st, errTradeShape
	}
	if px := r.get(fPx); len(px) > 0 { // "" for market orders
		v, err := scaled(px, in.Scale.Px)
		if err != nil {
			return st, err
		}
		st.Px = num.Price(v)
	}
	q, err := scaled(r.get(fSz), in.Scale.Qty)
	if err != nil {
		return st, err
	}
	st.Qty = num.Qty(q)
	if acc := r.get(fAccFillSz); len(acc) > 0 {
		f, err := scaled(acc, in.Scale.Qty)
		if err != nil {
			return st, err
		}
		st.FilledQty = num.Qty(f)
	}
	if st.FilledQty > st.Qty && st.Qty > 0 {
		return st, errTradeShape
	}
	// FilledQuote = accFillSz × avgPx, exact; informational only, so a
	// product that does not fit an Amount is left zero.
	if avg := r.get(fAvgPx); len(avg) > 0 && st.FilledQty > 0 {
		a, err := num.ParseAmount(avg)
		if err != nil || a.V < 0 {
			return st, errNumber
		}
		st.FilledQuote = mulAmount(int64(st.FilledQty), in.Scale.Qty, a)
	}
	ts := r.get(fUTime)
	if len(ts) == 0 {
		ts = r.get(fCTime)
	}
	if st.TS, err = millisNS(ts); err != nil {
		return st, err
	}
	return st, nil
}

// mulAmount returns v×10^-dec × a exactly, trimmed of trailing zeros, or
// the zero Amount when the product does not fit.
func mulAmount(v int64, dec uint8, a num.Amount) num.Amount {
	if v == 0 || a.V == 0 {
		return num.Amount{}
	}
	hi, lo := bits.Mul64(uint64(v), uint64(a.V))
	if hi != 0 || lo > 1<<63-1 {
		return num.Amount{}
	}
	p, d := int64(lo), int(dec)+int(a.Dec)
	for d > 0 && p%10 == 0 {
		p /= 10
		d--
	}
	if d > num.MaxDecimals {
		return num.Amount{}
	}
	return num.AmountOf(p, uint8(d))
}

// fillKind says which row fields describe a fill: the orders channel
// carries one fill per update in fillPx/fillSz/fillFee/fillFeeCcy; the
// fills endpoints in fillPx/fillSz/fee/feeCcy.
type fillKind uint8

const (
	fillFromPush fillKind = iota + 1
	fillFromREST
)

// fillFrom converts a fill. ok is false (with a nil error) when the row
// carries no fill (an orders-channel update without a trade: placement,
// cancel; or a market order's fillSz 0). Price or size that do not fit the
// instrument's scale is errScale: a broken invariant for the caller.
func fillFrom(r *row, kind fillKind, venue exchange.VenueID, in *exchange.Instrument) (f exchange.Fill, ok bool, err error) {
	tid := r.get(fTradeID)
	sz := r.get(fFillSz)
	if len(tid) == 0 || len(sz) == 0 {
		if kind == fillFromREST {
			return f, false, errTradeShape
		}
		return f, false, nil
	}
	f = exchange.Fill{Venue: venue, Inst: in.ID, Maker: string(r.get(fExecType)) == "M"}
	q, err := scaled(sz, in.Scale.Qty)
	if err != nil {
		return f, false, err
	}
	if q == 0 {
		return f, false, nil
	}
	f.Qty = num.Qty(q)
	p, err := scaled(r.get(fFillPx), in.Scale.Px)
	if err != nil {
		return f, false, err
	}
	if p == 0 {
		return f, false, errNumber
	}
	f.Px = num.Price(p)
	if f.Side, err = parseSide(r.get(fSide)); err != nil {
		return f, false, err
	}
	if f.TradeID, err = idOf(tid); err != nil {
		return f, false, err
	}
	if f.ClientID, err = idOf(r.get(fClOrdID)); err != nil {
		return f, false, err
	}
	if f.VenueOrderID, err = idOf(r.get(fOrdID)); err != nil {
		return f, false, err
	}
	feeF, ccyF := fFillFee, fFillFeeCcy
	if kind == fillFromREST {
		feeF, ccyF = fFee, fFeeCcy
	}
	if fee := r.get(feeF); len(fee) > 0 {
		a, err := num.ParseAmount(fee)
		if err != nil {
			return f, false, errNumber
		}
		f.Fee = a.Neg() // OKX: negative = charged; Fill: positive = paid
	}
	if f.FeeAsset, err = idOf(r.get(ccyF)); err != nil {
		return f, false, err
	}
	if f.TS, err = millisNS(r.get(fFillTime)); err != nil {
		return f, false, err
	}
	if f.TS == 0 {
		return f, false, errTradeShape
	}
	return f, true, nil
}

// balanceFrom converts a balance detail row: cashBal is the total, frozenBal
// what open orders hold.
func balanceFrom(r *row, venue exchange.VenueID) (exchange.Balance, error) {
	b := exchange.Balance{Venue: venue, Asset: string(r.get(fCcy))}
	if b.Asset == "" || !r.has(fCashBal) {
		return b, errTradeShape
	}
	var err error
	if b.Total, err = num.ParseAmount(r.get(fCashBal)); err != nil {
		return b, errNumber
	}
	if fz := r.get(fFrozenBal); len(fz) > 0 {
		if b.Locked, err = num.ParseAmount(fz); err != nil {
			return b, errNumber
		}
	}
	return b, nil
}
