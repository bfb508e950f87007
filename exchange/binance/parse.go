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
	// errScale cannot happen: parseFrame re-reads a frame raw when the book
	// it fused levels for is not the one the frame is finally routed to. It
	// exists so that a broken invariant refuses the frame instead of feeding
	// a book levels in another instrument's scale.
	errScale = errors.New("binance: levels read in another book's scale")
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
	// fForeign: a "data" was read for a stream that is not one of ours, so
	// only its event type was taken (see scanFrame).
	fForeign
)

// eventFields are the bits that come from the event object (top level of a
// raw frame, "data" of a combined one).
const eventFields = fE | fTime | fSym | fFirst | fLast | fBArr | fAArr | fBStr | fAStr | fBQty | fAQty | fLastID | fBids | fAsks | fReply | fBArrAny | fAArrAny | fForeign

// msg is one parsed frame: sub-slices of the frame and integers, nothing
// copied. Levels are in the parser's scratch (bid, ask).
type msg struct {
	f      uint32
	stream []byte
	si     int  // book the last "stream" names (-1: not ours), once siOK
	siOK   bool // si was looked up for the last "stream" (see streamBook)
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
//
// Levels are converted to fixed point while they are read (jsonscan's
// PairFixed: one pass over the bytes) whenever the book, hence the scale,
// is already known: in a combined-stream frame the envelope's "stream" key
// comes first and names it; a REST snapshot's book is named by the caller.
// Otherwise ("data" before "stream", a raw event) a side is kept as byte
// offsets and converted once the frame is routed (levelsIn), as before.
//
// Fusing is a speculation that never changes an outcome: if a pass that
// fused some side ends in any error, or the frame is finally routed to
// another book than the one whose scale was used, the frame is read again
// with fusing off. That raw pass is the reference behaviour (shape errors
// first, numbers converted only for the book the frame is routed to, after
// the routing and field checks), so bad input is judged exactly as it was
// judged before fusing existed; only well-formed frames of the named book
// keep the fused levels, and those convert to exactly the values
// num.ParseUnsigned gives (PairFixed is fuzzed against it in jsonscan).
type parser struct {
	sc       jsonscan.Scanner
	b        []byte
	m        msg
	bid, ask side
	known    int  // REST snapshot: the book it was fetched for (-1: none)
	noFuse   bool // this pass reads raw (the reference pass)
	fused    bool // this pass fused some side
	// streams and scales come from the Session (nil in a bare parser, which
	// then never fuses): the stream table to route "stream" values and the
	// scale of each book index.
	streams []route
	scales  []num.Scale
	// tickers: try the bookTicker wire layout first (tickerFrame); set by
	// a bookTicker session, never in the tests' reference parser.
	tickers bool
	// strict: read "data" of a foreign stream in full (the pass after a
	// later "stream" named one of ours; see parseFrame).
	strict bool
}

// side is the scratch of one side's levels in the current frame.
type side struct {
	// fix is the book in whose scale lv was read (fused), or -1 when the
	// levels are the offsets in raw, converted into lv by levelsIn.
	fix  int
	zero bool // a fused level has price 0 (refused as errBadPrice by levelsIn)
	raw  []rawLevel
	lv   []exchange.Level
}

func (sd *side) reset() {
	sd.fix, sd.zero = -1, false
	sd.raw, sd.lv = sd.raw[:0], sd.lv[:0]
}

// scratchLevels is the initial scratch per side; it grows (up to
// maxLevels) the first time a larger message arrives and is kept, so steady
// state does not allocate while a session stays small until it needs more.
const scratchLevels = 256

func newParser() parser {
	p := parser{known: -1}
	for _, sd := range []*side{&p.bid, &p.ask} {
		sd.fix = -1
		sd.raw = make([]rawLevel, 0, scratchLevels)
		sd.lv = make([]exchange.Level, 0, scratchLevels)
	}
	return p
}

// setBooks gives the parser the session's stream table (sorted, lower-case
// names) and the scale of every book, so that it can route "stream" values
// and fuse level conversion. With scales nil it routes but never fuses (the
// tests' reference for the fused path).
func (p *parser) setBooks(streams []route, scales []num.Scale) {
	p.streams, p.scales = streams, scales
}

// parseFrame reads one websocket frame: a combined-stream envelope
// {"stream":…,"data":{…}} or a raw event. Semantics (shared with the
// reference model in the tests): keys are exact and case-sensitive; the last
// of duplicate keys wins; a frame with a "stream" or "data" key is an
// envelope and its other top-level keys are ignored; unknown keys are
// skipped; the first error is sticky (p.sc.Err()). Levels may be fused
// (see parser); a fused pass that fails or read levels for another book than
// the frame's last "stream" names is repeated raw.
func (p *parser) parseFrame(b []byte) {
	p.noFuse, p.strict = false, false
	if p.tickers && p.tickerFrame(b) {
		return
	}
	p.scanFrame(b)
	if p.m.f&fForeign != 0 && p.streamBook() >= 0 {
		// A "data" read leniently for a foreign stream, then a later
		// "stream" naming ours (the last wins): read it all again in full.
		p.strict = true
		p.scanFrame(b)
	}
	if p.fused && (p.sc.Err() != nil || !p.fusedFor(p.streamBook())) {
		p.noFuse = true
		p.scanFrame(b)
	}
}

// streamBook returns the book the frame's last "stream" names (-1: none of
// ours, or no "stream"). It is looked up when first needed — by the first
// level array, or by the session's routing — so a frame without levels
// costs one lookup, as before fusing.
func (p *parser) streamBook() int {
	if p.m.f&fStream == 0 {
		return -1
	}
	if !p.m.siOK {
		p.m.si, p.m.siOK = lookup(p.streams, p.m.stream, true), true
	}
	return p.m.si
}

// fusedFor reports whether every fused side was read in book i's scale.
func (p *parser) fusedFor(i int) bool {
	return (p.bid.fix < 0 || p.bid.fix == i) && (p.ask.fix < 0 || p.ask.fix == i)
}

func (p *parser) reset(b []byte, known int) {
	p.b = b
	p.sc.Reset(b)
	p.m = msg{}
	p.bid.reset()
	p.ask.reset()
	p.fused = false
	p.known = known
	if p.noFuse || known >= len(p.scales) {
		p.known = -1
	}
}

func (p *parser) scanFrame(b []byte) {
	p.reset(b, -1)
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
				p.m.stream, p.m.siOK = v, false
				p.m.f |= fStream
			}
		case "data":
			if !envelope {
				envelope = true
			}
			p.clearEvent() // the last "data" wins
			p.m.f |= fData
			if !p.strict && p.m.f&fStream != 0 && p.streamBook() < 0 {
				p.foreignData()
				continue
			}
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

// foreignData reads the "data" of a stream we do not hold (another
// channel on the same connection: aggTrade, kline, bookTicker of a depth
// session, …). Its fields are not ours to judge — an aggTrade's "a" is a
// number where a depthUpdate's is an array — so only its event type is
// taken ("serverShutdown" is honoured whatever the stream), the rest is
// skipped as JSON, and the frame is counted as a foreign stream
// (RejectUnknownSymbol) rather than as malformed.
func (p *parser) foreignData() {
	sc, m := &p.sc, &p.m
	m.f |= fForeign
	if sc.Peek() != '{' {
		sc.Skip()
		return
	}
	sc.Object()
	for {
		k, ok := sc.Key()
		if !ok {
			return
		}
		if string(k) == "e" && sc.Peek() == '"' {
			m.e = sc.Str()
			m.f |= fE
		} else {
			sc.Skip()
		}
		if sc.Err() != nil {
			return
		}
	}
}

// clearEvent forgets event fields read so far (top-level keys of what turned
// out to be an envelope, or a previous "data").
func (p *parser) clearEvent() {
	p.m.f &^= eventFields | fDataNotObject
	p.bid.reset()
	p.ask.reset()
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
			p.side(&p.bid)
			m.f |= fBArr | fBArrAny
		} else {
			m.bPx = sc.Str()
			m.f |= fBStr
		}
	case "a":
		m.f &^= fAArr | fAStr
		if sc.Peek() == '[' {
			p.side(&p.ask)
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
		p.side(&p.bid)
		m.f |= fBids
	case "asks":
		p.side(&p.ask)
		m.f |= fAsks
	case "result", "id", "error", "code", "msg":
		m.f |= fReply
		sc.Skip()
	default:
		sc.Skip()
	}
}

// side reads one side's level array (the last read of a side wins): fused
// into fixed point when the book is known, as offsets otherwise.
func (p *parser) side(sd *side) {
	k := p.known
	if k < 0 && !p.noFuse && p.scales != nil {
		k = p.streamBook()
	}
	if k >= 0 && k < len(p.scales) {
		p.fused = true
		sd.fix = k
		sd.lv, sd.zero = p.fixedLevels(sd.lv[:0], p.scales[k])
		return
	}
	sd.fix, sd.zero = -1, false
	sd.raw = p.levels(sd.raw[:0])
}

// fixedLevels reads an array of ["price","qty"] pairs into dst in scale,
// reporting whether a price was 0.
func (p *parser) fixedLevels(dst []exchange.Level, scale num.Scale) ([]exchange.Level, bool) {
	sc := &p.sc
	zero := false
	if !sc.Array() {
		return dst, zero
	}
	for sc.More() {
		if len(dst) == maxLevels {
			sc.Fail(errTooManyLevels)
			return dst, zero
		}
		px, qty, ok := sc.PairFixed(scale.Px, scale.Qty)
		if !ok {
			return dst, zero
		}
		if px == 0 {
			zero = true
		}
		dst = append(dst, exchange.Level{Px: num.Price(px), Qty: num.Qty(qty)})
	}
	return dst, zero
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

// levelsIn returns the message's bid and ask levels in book i's scale:
// fused sides as read, raw ones converted now. The errors are those of
// convert, bids before asks: a fused side can only fail for a zero price,
// since a number error ends the fused pass and the frame is re-read raw.
// The slices are the parser's scratch, valid until the next parse.
func (p *parser) levelsIn(i int, scale num.Scale) (bids, asks []exchange.Level, err error) {
	if err = p.settle(&p.bid, i, scale); err == nil {
		err = p.settle(&p.ask, i, scale)
	}
	return p.bid.lv, p.ask.lv, err
}

func (p *parser) settle(sd *side, i int, scale num.Scale) error {
	switch {
	case sd.fix < 0:
		var err error
		sd.lv, err = p.convert(sd.lv, sd.raw, scale)
		return err
	case sd.fix != i || p.scales[i] != scale:
		return errScale
	case sd.zero:
		return errBadPrice
	}
	return nil
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
// {"lastUpdateId":…,"bids":[…],"asks":[…]}; other keys are skipped. i is
// the book it is for (its levels are fused in its scale), or -1.
func (p *parser) parseBook(b []byte, i int) {
	p.noFuse = false
	p.scanBook(b, i)
	if p.fused && p.sc.Err() != nil {
		p.noFuse = true
		p.scanBook(b, i)
	}
}

func (p *parser) scanBook(b []byte, i int) {
	p.reset(b, i)
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
