package okx

import (
	"errors"

	"arb/exchange/internal/jsonscan"
	"arb/exchange/internal/l2"
	"arb/exchange/num"
)

// maxLevelsPerSide caps the levels one message may carry per side. OKX's
// deepest public snapshot has 400; the cap bounds the staging buffers and is
// well above anything the venue sends. A message over it is rejected
// (RejectTooLarge) and its book rebuilt.
const maxLevelsPerSide = 1000

// maxTSMillis keeps ts × 10^6 inside an int64 (year 2262).
const maxTSMillis = (1<<63 - 1) / 1_000_000

// errShape marks a frame whose JSON is valid but whose shape is not OKX's:
// duplicate keys, a bad "ts". (A level with fewer than two strings is
// jsonscan's ErrType; every parse failure is RejectSyntax alike.)
var errShape = errors.New("okx: unexpected message shape")

// level is one staged price level: the wire strings (aliasing the frame) and
// their fixed-point values, converted while scanning (fused read) or later
// by parseNumbers.
type level struct {
	pxRaw, szRaw []byte
	px, sz       int64
}

// Key bits for duplicate detection.
const (
	kArg = 1 << iota
	kAction
	kData
	kEvent
	kCode
	kMsg
	kChannel
	kInstID
	kAsks
	kBids
	kTS
	kChecksum
	kPrev
	kSeq
)

// msg is one frame as parsed; every slice aliases the frame and is valid
// only during HandleFrame.
type msg struct {
	seen     uint32 // keys seen (duplicates are a shape error)
	argDone  bool   // "arg" was read completely
	hasEvent bool
	hasData  bool
	haveSeq  bool
	havePrev bool
	haveTS   bool
	tooMany  bool // a side exceeded maxLevelsPerSide
	unconv   bool // a side was staged without converting its numbers
	longRaw  bool // a converted level has a wire string over l2.RawMax
	zeroSz   bool // a converted level has size zero
	nData    int  // elements of "data"
	channel  []byte
	instID   []byte
	event    []byte
	code     []byte
	msgRaw   []byte // raw JSON of "msg" (may hold escapes): logs only
	action   []byte
	seq      int64
	prev     int64
	checksum int64
	tsMillis int64
}

// parser reads one frame into msg and the staged levels of its first data
// element, in one pass and without allocating. Staging (instead of writing
// straight into the book) makes a message atomic — a bad level or a failed
// sequence check leaves the book untouched — and frees the parser from
// OKX's key order (levels come before seqId on the wire).
//
// Fused read: when "arg" has been read by the time a side is reached (OKX
// sends it first) and names one of the session's books, the levels are
// converted to fixed point in that book's scale while they are scanned
// (jsonscan PairPrefixFixed), keeping the wire strings for the checksum.
// If that read fails in any way, the frame is read again from the start
// without converting (the unfused path, which converts later in
// parseNumbers), so what is rejected and why is exactly what the unfused
// path decides. FuzzFusedMatchesUnfused checks the two agree on everything
// observable.
type parser struct {
	sc   jsonscan.Scanner
	m    msg
	bids []level
	asks []level
	// sess resolves the frame's book once "arg" is read; nil never fuses.
	sess *Session
	// noFuse disables the fused read (tests: the reference it is compared with).
	noFuse bool
	fuse   bool      // this read may convert levels
	conv   bool      // converting: the book is known, its scale in scale
	scale  num.Scale // scale of the frame's book while conv
}

func newParser() *parser {
	return &parser{bids: make([]level, 0, maxLevelsPerSide), asks: make([]level, 0, maxLevelsPerSide)}
}

// once records key bit k, failing the scan if it was seen before.
func (p *parser) once(k uint32) bool {
	if p.m.seen&k != 0 {
		p.sc.Fail(errShape)
		return false
	}
	p.m.seen |= k
	return true
}

// parse scans b. It reports false on malformed JSON or a shape error; msg
// then holds what was read before the error (argDone tells whether the
// frame can be attributed). On success the staged levels hold their
// numbers if !m.unconv; numbersOK gives parseNumbers' verdict either way.
func (p *parser) parse(b []byte) bool {
	if p.sess != nil && !p.noFuse {
		if p.scan(b, true) {
			return true
		}
		// Whatever failed, decide on the unfused read: the same error,
		// the same fields read before it, as if we had never fused.
	}
	return p.scan(b, false)
}

// scan is one read of b; fuse allows converting levels while scanning.
func (p *parser) scan(b []byte, fuse bool) bool {
	p.m = msg{}
	p.fuse, p.conv = fuse, false
	p.bids, p.asks = p.bids[:0], p.asks[:0]
	s := &p.sc
	s.Reset(b)
	if !s.Object() {
		return false
	}
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "arg":
			if p.once(kArg) {
				p.parseArg()
			}
		case "action":
			if p.once(kAction) {
				p.m.action = s.Str()
			}
		case "data":
			if p.once(kData) {
				p.m.hasData = true
				p.parseData()
			}
		case "event":
			if p.once(kEvent) {
				p.m.hasEvent = true
				p.m.event = s.Str()
			}
		case "code":
			if p.once(kCode) {
				if s.Peek() == '"' {
					p.m.code = s.Str()
				} else {
					p.m.code = s.Number()
				}
			}
		case "msg":
			if p.once(kMsg) {
				start := s.Pos()
				s.Skip()
				if s.Err() == nil {
					p.m.msgRaw = b[start:s.Pos()]
				}
			}
		default:
			s.Skip()
		}
		if s.Err() != nil {
			return false
		}
	}
	return s.End()
}

func (p *parser) parseArg() {
	s := &p.sc
	if !s.Object() {
		return
	}
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "channel":
			if p.once(kChannel) {
				p.m.channel = s.Str()
			}
		case "instId":
			if p.once(kInstID) {
				p.m.instID = s.Str()
			}
		default:
			s.Skip()
		}
		if s.Err() != nil {
			return
		}
	}
	p.m.argDone = s.Err() == nil
	if p.m.argDone && p.fuse {
		if i := p.sess.lookup(&p.m); i >= 0 {
			p.conv, p.scale = true, p.sess.books[i].scale
		}
	}
}

func (p *parser) parseData() {
	s := &p.sc
	if !s.Array() {
		return
	}
	for s.More() {
		if p.m.nData == 0 {
			p.parseDataObject()
		} else {
			s.Skip()
		}
		p.m.nData++
		if s.Err() != nil {
			return
		}
	}
}

func (p *parser) parseDataObject() {
	s := &p.sc
	if !s.Object() {
		return
	}
	for {
		k, ok := s.Key()
		if !ok {
			return
		}
		switch string(k) {
		case "asks":
			if p.once(kAsks) {
				p.asks = p.parseSide(p.asks)
			}
		case "bids":
			if p.once(kBids) {
				p.bids = p.parseSide(p.bids)
			}
		case "ts":
			if p.once(kTS) {
				v := s.Str()
				if s.Err() == nil {
					t, err := jsonscan.ParseInt(v)
					if err != nil || t < 0 || t > maxTSMillis {
						s.Fail(errShape)
					} else {
						p.m.tsMillis, p.m.haveTS = t, true
					}
				}
			}
		case "checksum":
			if p.once(kChecksum) {
				p.m.checksum = s.Int()
			}
		case "prevSeqId":
			if p.once(kPrev) {
				p.m.prev, p.m.havePrev = s.Int(), true
			}
		case "seqId":
			if p.once(kSeq) {
				p.m.seq, p.m.haveSeq = s.Int(), true
			}
		default:
			s.Skip()
		}
		if s.Err() != nil {
			return
		}
	}
}

// parseSide stages the levels [px, sz, "0", orderCount] of one side; entries
// past the second are checked for syntax and ignored. Levels are converted
// while scanned when the frame's book is known (p.conv); a number that
// does not convert fails the read (parse then reads the frame unfused).
// Over-long wire strings and zero sizes are valid JSON but not always a
// valid level: they are recorded for numbersOK, which decides in the order
// the session checks things.
func (p *parser) parseSide(dst []level) []level {
	s := &p.sc
	if !s.Array() {
		return dst
	}
	if !p.conv {
		p.m.unconv = true
	}
	for s.More() {
		n := len(dst)
		if n == cap(dst) {
			p.m.tooMany = true
			s.Skip()
			if s.Err() != nil {
				return dst
			}
			continue
		}
		dst = dst[:n+1]
		l := &dst[n]
		var ok bool
		if !p.conv {
			l.px, l.sz = 0, 0
			if l.pxRaw, l.szRaw, ok = s.PairPrefix(); !ok {
				return dst[:n]
			}
			continue
		}
		if l.px, l.sz, l.pxRaw, l.szRaw, ok = s.PairPrefixFixed(p.scale.Px, p.scale.Qty); !ok {
			return dst[:n]
		}
		if len(l.pxRaw) > l2.RawMax || len(l.szRaw) > l2.RawMax {
			p.m.longRaw = true
		}
		if l.sz == 0 {
			p.m.zeroSz = true
		}
	}
	return dst
}

// numbersOK is parseNumbers' verdict on the staged levels of both sides in
// scale sc: from what the fused read recorded if it converted them all
// (with sc, the scale of the frame's book), else by converting them now.
func (p *parser) numbersOK(sc num.Scale, full bool) bool {
	if p.m.unconv {
		return parseNumbers(p.bids, sc, full) && parseNumbers(p.asks, sc, full)
	}
	return !p.m.longRaw && !(full && p.m.zeroSz)
}
