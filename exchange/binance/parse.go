package binance

import (
	"errors"

	"arb/exchange"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/num"
)

// maxLevels caps the levels per side of one message or snapshot: Binance's
// deepest snapshot has 5000. Past it the message is refused as too large.
const maxLevels = MaxDepth

// Preallocated data-plane errors.
var (
	errTooManyLevels = errors.New("binance: too many levels in one message")
	errMixed         = errors.New("binance: both b and bids (or a and asks) present")
	errBadPrice      = errors.New("binance: price must be positive")
)

// rawLevel locates one [price, qty] pair in the frame by byte offsets, so the
// scratch holds no pointers and the numbers are converted only once the
// instrument (and with it the scale) is known, whatever the key order.
type rawLevel struct{ p0, p1, q0, q1 int32 }

// Field presence bits of msg.
const (
	fStream uint32 = 1 << iota
	fData
	fDataNotObject
	fE      // "e"
	fTime   // "E"
	fSym    // "s"
	fFirst  // "U"
	fLast   // "u"
	fBArr   // "b" array (depthUpdate)
	fAArr   // "a" array
	fBStr   // "b" string (bookTicker best bid price)
	fAStr   // "a" string
	fBQty   // "B"
	fAQty   // "A"
	fLastID // "lastUpdateId"
	fBids   // "bids"
	fAsks   // "asks"
	fReply  // "result", "id", "error", "code" or "msg": a control reply or error
	// fBArrAny and fAArrAny record that a "b"/"a" array was read at all, even
	// if a later duplicate key replaced it: "b" and "bids" share the scratch,
	// so a frame carrying both is refused rather than guessed at.
	fBArrAny
	fAArrAny
)

// eventFields are the bits that come from the event object (top level of a
// raw frame, "data" of a combined one).
const eventFields = fE | fTime | fSym | fFirst | fLast | fBArr | fAArr | fBStr | fAStr | fBQty | fAQty | fLastID | fBids | fAsks | fReply | fBArrAny | fAArrAny

// msg is one parsed frame: sub-slices of the frame and integers, nothing
// copied. Levels are in the parser's scratch (bids, asks).
type msg struct {
	f      uint32
	stream []byte
	e      []byte
	sym    []byte
	E      int64
	U, u   int64
	lastID int64
	// bookTicker strings.
	bPx, bQty, aPx, aQty []byte
}

func (m *msg) has(bits uint32) bool { return m.f&bits == bits }

// Message kinds.
type kind uint8

const (
	kindOther    kind = iota // not a book message
	kindDepth                // depthUpdate
	kindTicker               // bookTicker
	kindPartial              // partial book depth (lastUpdateId, bids, asks)
	kindShutdown             // serverShutdown
	kindReply                // response or error to a control message
)

// kind classifies a parsed message by its fields.
func (m *msg) kind() kind {
	if m.f&fE != 0 {
		switch string(m.e) {
		case "depthUpdate":
			return kindDepth
		case "bookTicker": // older and futures samples carry it; the spot docs do not
			return kindTicker
		case "serverShutdown":
			return kindShutdown
		}
		return kindOther
	}
	switch {
	case m.f&(fLastID|fBids|fAsks) != 0:
		return kindPartial
	case m.f&(fLast|fBStr|fAStr|fBQty|fAQty) != 0:
		return kindTicker
	case m.f&fReply != 0:
		return kindReply
	}
	return kindOther
}

// parser is the allocation-free frame parser of a Session. It is owned by
// the session's goroutine.
type parser struct {
	sc         jsonscan.Scanner
	b          []byte
	m          msg
	bids, asks []rawLevel
}

// scratchLevels is the initial scratch per side; it grows (up to
// maxLevels) the first time a larger message arrives and is kept, so steady
// state does not allocate while a session stays small until it needs more.
const scratchLevels = 256

func newParser() parser {
	return parser{bids: make([]rawLevel, 0, scratchLevels), asks: make([]rawLevel, 0, scratchLevels)}
}

// parseFrame reads one websocket frame: a combined-stream envelope
// {"stream":…,"data":{…}} or a raw event. Semantics (shared with the
// reference model in the tests): keys are exact and case-sensitive; the last
// of duplicate keys wins; a frame with a "stream" or "data" key is an
// envelope and its other top-level keys are ignored; unknown keys are
// skipped; the first error is sticky (p.sc.Err()).
func (p *parser) parseFrame(b []byte) {
	p.b = b
	p.sc.Reset(b)
	p.m = msg{}
	p.bids, p.asks = p.bids[:0], p.asks[:0]
	sc := &p.sc
	if !sc.Object() {
		return
	}
	envelope := false
	for {
		k, ok := sc.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "stream":
			if !envelope {
				envelope = true
				p.clearEvent()
			}
			if v := sc.Str(); sc.Err() == nil { // named only if readable
				p.m.stream = v
				p.m.f |= fStream
			}
		case "data":
			if !envelope {
				envelope = true
			}
			p.clearEvent() // the last "data" wins
			p.m.f |= fData
			if sc.Peek() != '{' {
				p.m.f |= fDataNotObject
				sc.Skip()
				continue
			}
			sc.Object()
			for {
				k, ok := sc.Key()
				if !ok {
					break
				}
				p.field(k)
			}
		default:
			if envelope {
				sc.Skip()
			} else {
				p.field(k)
			}
		}
		if sc.Err() != nil {
			return
		}
	}
	if sc.Err() == nil && !sc.End() {
		sc.Fail(jsonscan.ErrSyntax)
	}
	if sc.Err() == nil && (p.m.has(fBArrAny|fBids) || p.m.has(fAArrAny|fAsks)) {
		sc.Fail(errMixed)
	}
}

// clearEvent forgets event fields read so far (top-level keys of what turned
// out to be an envelope, or a previous "data").
func (p *parser) clearEvent() {
	p.m.f &^= eventFields | fDataNotObject
	p.bids, p.asks = p.bids[:0], p.asks[:0]
}

// field reads the value of one event key.
func (p *parser) field(k []byte) {
	sc, m := &p.sc, &p.m
	switch string(k) {
	case "e":
		m.e = sc.Str()
		m.f |= fE
	case "E":
		m.E = sc.Int()
		m.f |= fTime
	case "s":
		if v := sc.Str(); sc.Err() == nil { // named only if readable
			m.sym = v
			m.f |= fSym
		}
	case "U":
		m.U = sc.Int()
		m.f |= fFirst
	case "u":
		m.u = sc.Int()
		m.f |= fLast
	case "lastUpdateId":
		m.lastID = sc.Int()
		m.f |= fLastID
	case "b":
		m.f &^= fBArr | fBStr
		if sc.Peek() == '[' {
			p.bids = p.levels(p.bids[:0])
			m.f |= fBArr | fBArrAny
		} else {
			m.bPx = sc.Str()
			m.f |= fBStr
		}
	case "a":
		m.f &^= fAArr | fAStr
		if sc.Peek() == '[' {
			p.asks = p.levels(p.asks[:0])
			m.f |= fAArr | fAArrAny
		} else {
			m.aPx = sc.Str()
			m.f |= fAStr
		}
	case "B":
		m.bQty = sc.Str()
		m.f |= fBQty
	case "A":
		m.aQty = sc.Str()
		m.f |= fAQty
	case "bids":
		p.bids = p.levels(p.bids[:0])
		m.f |= fBids
	case "asks":
		p.asks = p.levels(p.asks[:0])
		m.f |= fAsks
	case "result", "id", "error", "code", "msg":
		m.f |= fReply
		sc.Skip()
	default:
		sc.Skip()
	}
}

// levels reads an array of ["price","qty"] pairs into dst (offsets only).
func (p *parser) levels(dst []rawLevel) []rawLevel {
	sc := &p.sc
	if !sc.Array() {
		return dst
	}
	for sc.More() {
		if len(dst) == maxLevels {
			sc.Fail(errTooManyLevels)
			return dst
		}
		px, qty, ok := sc.Pair()
		if !ok {
			return dst
		}
		// px and qty alias p.b, so their offsets follow from capacities.
		var lv rawLevel
		lv.p0 = int32(cap(p.b) - cap(px))
		lv.p1 = lv.p0 + int32(len(px))
		lv.q0 = int32(cap(p.b) - cap(qty))
		lv.q1 = lv.q0 + int32(len(qty))
		dst = append(dst, lv)
	}
	return dst
}

// convert turns raw levels into fixed-point levels in scale sc, refusing
// empty, signed, NaN, over-precise or non-positive prices and malformed
// quantities. dst grows as needed (len(raw) ≤ maxLevels) and is reused.
func (p *parser) convert(dst []exchange.Level, raw []rawLevel, scale num.Scale) ([]exchange.Level, error) {
	dst = dst[:0]
	for _, r := range raw {
		px, err := num.ParseUnsigned(p.b[r.p0:r.p1], scale.Px)
		if err != nil {
			return dst, err
		}
		if px == 0 {
			return dst, errBadPrice
		}
		qty, err := num.ParseUnsigned(p.b[r.q0:r.q1], scale.Qty)
		if err != nil {
			return dst, err
		}
		dst = append(dst, exchange.Level{Px: num.Price(px), Qty: num.Qty(qty)})
	}
	return dst, nil
}

// parseBook reads a REST depth snapshot or a partial-depth payload:
// {"lastUpdateId":…,"bids":[…],"asks":[…]}; other keys are skipped.
func (p *parser) parseBook(b []byte) {
	p.b = b
	p.sc.Reset(b)
	p.m = msg{}
	p.bids, p.asks = p.bids[:0], p.asks[:0]
	sc := &p.sc
	if !sc.Object() {
		return
	}
	for {
		k, ok := sc.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "lastUpdateId", "bids", "asks":
			p.field(k)
		default:
			sc.Skip()
		}
		if sc.Err() != nil {
			return
		}
	}
	if sc.Err() == nil && !sc.End() {
		sc.Fail(jsonscan.ErrSyntax)
	}
}

// bboLevel converts a bookTicker price/qty pair: "0"/"0" (or qty 0) is an
// empty side; a zero price with a quantity is refused.
func bboLevel(pxb, qtyb []byte, scale num.Scale) (exchange.Level, bool, error) {
	px, err := num.ParseUnsigned(pxb, scale.Px)
	if err != nil {
		return exchange.Level{}, false, err
	}
	qty, err := num.ParseUnsigned(qtyb, scale.Qty)
	if err != nil {
		return exchange.Level{}, false, err
	}
	if qty == 0 {
		return exchange.Level{}, false, nil
	}
	if px == 0 {
		return exchange.Level{}, false, errBadPrice
	}
	return exchange.Level{Px: num.Price(px), Qty: num.Qty(qty)}, true, nil
}
