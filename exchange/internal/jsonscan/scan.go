// Package jsonscan is a zero-allocation pull scanner for the JSON that venues
// send. An adapter walks a frame of a known shape key by key, reads the values
// it needs as sub-slices of the frame (no copies, no unescaping) and skips the
// rest. Modelled on nats-server's byte-level parser: one pass, no reflection,
// no maps, preallocated sentinel errors, a hard nesting limit.
//
// Keys are matched exactly (case-sensitive): Binance sends both "e" and "E",
// which encoding/json would confuse. A value read with Str may not contain
// escapes: the prices, quantities, symbols and event types a venue sends never
// do, so an escape there is malformed input and is reported, not decoded.
//
// The first error is sticky: after it every call returns a zero value, so an
// adapter may read a whole message and check Err once at the end.
package jsonscan

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
)

// Errors; preallocated so the data plane returns them without allocating.
var (
	ErrSyntax = errors.New("jsonscan: syntax error")
	ErrType   = errors.New("jsonscan: unexpected value type")
	ErrEscape = errors.New("jsonscan: escaped string where a plain one is required")
	ErrDepth  = errors.New("jsonscan: nesting too deep")
	ErrRange  = errors.New("jsonscan: integer out of range")
)

// MaxDepth is the deepest nesting of objects and arrays the scanner accepts.
const MaxDepth = 32

// Scanner reads one JSON document. The zero value is ready after Reset. It is
// not safe for concurrent use.
type Scanner struct {
	b      []byte
	pos    int
	err    error
	errPos int
	depth  int
	// more has bit d set when the container at depth d already yielded an
	// element, so the next one must be preceded by a comma.
	more uint64
}

// Reset starts scanning b. The slices the scanner returns alias b.
func (s *Scanner) Reset(b []byte) {
	s.b, s.pos, s.err, s.errPos, s.depth, s.more = b, 0, nil, 0, 0, 0
}

// Err returns the first error, or nil.
func (s *Scanner) Err() error { return s.err }

// Fail records err (if none is recorded yet); adapters use it to turn a
// shape violation they detect into the scanner's sticky error.
func (s *Scanner) Fail(err error) {
	if s.err == nil {
		s.err = err
		// Empty the input: every later read sees the end, so the fast paths
		// need no separate error check.
		s.errPos, s.b, s.pos = s.pos, nil, 0
	}
}

// Pos returns the current byte offset, or where the first error occurred
// (for diagnostics).
func (s *Scanner) Pos() int {
	if s.err != nil {
		return s.errPos
	}
	return s.pos
}

// Peek returns the next non-space byte without consuming it, or 0 at the end
// or after an error. The common case (no white space, as venues send) is
// inlined.
func (s *Scanner) Peek() byte {
	if s.pos < len(s.b) {
		if c := s.b[s.pos]; c > ' ' {
			return c
		}
	}
	return s.peekSlow()
}

func (s *Scanner) peekSlow() byte {
	for s.pos < len(s.b) {
		switch c := s.b[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

// End reports whether only white space remains and no error occurred.
func (s *Scanner) End() bool {
	if s.err != nil {
		return false
	}
	s.peekSlow()
	return s.pos == len(s.b) && s.depth == 0
}

func (s *Scanner) push() bool {
	if s.depth >= MaxDepth {
		s.Fail(ErrDepth)
		return false
	}
	s.depth++
	s.more &^= 1 << uint(s.depth)
	return true
}

// Object consumes the '{' that opens an object. It returns false (recording
// ErrType) if the next value is not an object.
func (s *Scanner) Object() bool {
	if s.Peek() != '{' {
		s.Fail(ErrType)
		return false
	}
	s.pos++
	return s.push()
}

// Array consumes the '[' that opens an array. It returns false (recording
// ErrType) if the next value is not an array.
func (s *Scanner) Array() bool {
	if s.Peek() != '[' {
		s.Fail(ErrType)
		return false
	}
	s.pos++
	return s.push()
}

// next handles the separator before the next element of the current
// container: it consumes the closing byte and returns false at the end, or
// consumes a comma when one is due and returns true.
func (s *Scanner) next(closer byte) bool {
	c := s.Peek()
	if c == 0 {
		s.Fail(ErrSyntax)
		return false
	}
	bit := uint64(1) << uint(s.depth)
	if c == closer {
		s.pos++
		s.depth--
		return false
	}
	if s.more&bit != 0 {
		if c != ',' {
			s.Fail(ErrSyntax)
			return false
		}
		s.pos++
		if s.Peek() == closer { // trailing comma
			s.Fail(ErrSyntax)
			return false
		}
	}
	s.more |= bit
	return true
}

// Key returns the next key of the current object (raw bytes, no escapes) and
// consumes the ':' after it. At the object's end it consumes the '}' and
// returns false; on error it returns false and records the error.
func (s *Scanner) Key() ([]byte, bool) {
	// Fast path for what venues send: no white space, a short plain key,
	// `,"key":` (or `"key":` first in the object). Anything else, including
	// the end of the object, takes the general path below.
	if b, i, bit := s.b, s.pos, uint64(1)<<uint(s.depth); s.depth > 0 && i < len(b) {
		if s.more&bit != 0 && b[i] == ',' {
			i++
		}
		if (i > s.pos || s.more&bit == 0) && i < len(b) && b[i] == '"' {
			// One-letter keys (most of Binance's and Bybit's) without the loop.
			if i+3 < len(b) && b[i+2] == '"' && b[i+3] == ':' && !strStop[b[i+1]] {
				s.more |= bit
				s.pos = i + 4
				return b[i+1 : i+2], true
			}
			j := i + 1
			for j < len(b) && !strStop[b[j]] {
				j++
			}
			if j+1 < len(b) && b[j] == '"' && b[j+1] == ':' {
				s.more |= bit
				s.pos = j + 2
				return b[i+1 : j], true
			}
		}
	}
	if s.depth == 0 {
		s.Fail(ErrSyntax)
		return nil, false
	}
	if !s.next('}') {
		return nil, false
	}
	if s.Peek() != '"' {
		s.Fail(ErrSyntax)
		return nil, false
	}
	k, ok := s.plainString()
	if !ok {
		return nil, false
	}
	if s.Peek() != ':' {
		s.Fail(ErrSyntax)
		return nil, false
	}
	s.pos++
	return k, true
}

// More reports whether the current array has another element, consuming the
// comma before it; at the array's end it consumes the ']' and returns false.
func (s *Scanner) More() bool {
	if s.depth == 0 {
		s.Fail(ErrSyntax)
		return false
	}
	return s.next(']')
}

// plainString reads a string at s.pos (which is '"') that has no escapes.
func (s *Scanner) plainString() ([]byte, bool) {
	b := s.b
	start := s.pos + 1
	i := start
	// Eight bytes at a time (SWAR): the lowest flagged byte of stopMask is
	// exactly the first quote, backslash or control byte of the word (the
	// borrow can only flag bytes above a true one), so jump straight to it.
	for ; i+8 <= len(b); i += 8 {
		if m := stopMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			return s.endString(start, i)
		}
	}
	for ; i < len(b); i++ {
		if strStop[b[i]] {
			return s.endString(start, i)
		}
	}
	s.Fail(ErrSyntax)
	return nil, false
}

// endString finishes a plain string at the stop byte b[i].
func (s *Scanner) endString(start, i int) ([]byte, bool) {
	switch s.b[i] {
	case '"':
		s.pos = i + 1
		return s.b[start:i], true
	case '\\':
		s.Fail(ErrEscape)
	default:
		s.Fail(ErrSyntax)
	}
	return nil, false
}

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// stopMask has the high bit set in (at least) each byte of x that is '"',
// '\\' or below 0x20; it is zero when no byte is. (The classic "has zero
// byte" trick: (v - 0x01..) & ^v & 0x80.. flags the bytes of v that are 0.)
func stopMask(x uint64) uint64 {
	q := x ^ (lo8 * '"')
	bs := x ^ (lo8 * '\\')
	return ((q-lo8)&^q | (bs-lo8)&^bs | (x-lo8*0x20)&^x) & hi8
}

// strStop marks the bytes that end a plain string scan: the closing quote,
// an escape, or a control character (invalid in JSON strings).
var strStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// Lit consumes lit if the input continues with exactly those bytes (no
// white space is skipped) and reports whether it did; on a mismatch nothing
// is consumed or recorded. It is for fast paths that match a venue's exact
// wire layout, such as `,"data":{"u":`, with Str and Int for the values in
// between, and fall back to reading the frame key by key (after Reset) when
// Lit says no. Lit does not track nesting: such a path checks the closing
// brackets itself and ends with End.
func (s *Scanner) Lit(lit string) bool {
	if s.err != nil || len(s.b)-s.pos < len(lit) || string(s.b[s.pos:s.pos+len(lit)]) != lit {
		return false
	}
	s.pos += len(lit)
	return true
}

// Str reads a string value without escapes and returns its raw bytes.
func (s *Scanner) Str() []byte {
	if s.Peek() != '"' {
		s.Fail(ErrType)
		return nil
	}
	v, _ := s.plainString()
	return v
}

// IsNull consumes a null if one is next and reports whether it did.
func (s *Scanner) IsNull() bool {
	if s.Peek() == 'n' && s.literal("null") {
		return true
	}
	return false
}

// Bool reads true or false.
func (s *Scanner) Bool() bool {
	switch s.Peek() {
	case 't':
		return s.literal("true")
	case 'f':
		s.literal("false")
		return false
	}
	s.Fail(ErrType)
	return false
}

func (s *Scanner) literal(lit string) bool {
	if len(s.b)-s.pos < len(lit) || string(s.b[s.pos:s.pos+len(lit)]) != lit {
		s.Fail(ErrSyntax)
		return false
	}
	s.pos += len(lit)
	return true
}

// Int reads a JSON integer (a number without fraction or exponent).
func (s *Scanner) Int() int64 {
	c := s.Peek()
	if c != '-' && (c < '0' || c > '9') {
		s.Fail(ErrType)
		return 0
	}
	start := s.pos
	end := s.numberEnd()
	if s.err != nil {
		return 0
	}
	v, err := ParseInt(s.b[start:end])
	if err != nil {
		s.Fail(err)
		return 0
	}
	return v
}

// Number reads any JSON number and returns its raw bytes.
func (s *Scanner) Number() []byte {
	c := s.Peek()
	if c != '-' && (c < '0' || c > '9') {
		s.Fail(ErrType)
		return nil
	}
	start := s.pos
	end := s.numberEnd()
	if s.err != nil {
		return nil
	}
	return s.b[start:end]
}

// numberEnd validates the JSON number grammar at s.pos, advances past it and
// returns its end.
func (s *Scanner) numberEnd() int {
	b, i := s.b, s.pos
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		// Sequence ids and timestamps: eight digits at a time first.
		for i+8 <= len(b) && eightDigits(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		s.Fail(ErrSyntax)
		return i
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			s.Fail(ErrSyntax)
			return i
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			s.Fail(ErrSyntax)
			return i
		}
	}
	s.pos = i
	return i
}

// ParseInt parses a decimal integer with an optional '-' (no '+', no
// leading zeros beyond a lone "0"), as JSON writes it, also inside a string
// such as OKX's "ts":"1597026383085".
//
// Integers of at most 18 digits (every sequence number and millisecond
// timestamp the venues send) cannot overflow and are converted eight digits
// at a time; anything else, and any bad byte, is left to parseIntChecked,
// which decides. FuzzParseInt checks the two agree on every input.
func ParseInt(b []byte) (int64, error) {
	d := b
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 18 || (d[0] == '0' && len(d) > 1) {
		return parseIntChecked(b)
	}
	var v uint64
	for len(d) >= 8 {
		x := binary.LittleEndian.Uint64(d)
		if !eightDigits(x) {
			return parseIntChecked(b)
		}
		v = v*100000000 + eightValue(x)
		d = d[8:]
	}
	for _, c := range d {
		c -= '0'
		if c > 9 {
			return parseIntChecked(b)
		}
		v = v*10 + uint64(c)
	}
	if b[0] == '-' {
		return -int64(v), nil
	}
	return int64(v), nil
}

// eightDigits reports whether every byte of x is an ASCII digit: the high
// nibble of each byte is 3 and stays 3 after adding 6 (a byte from 0xFA up
// could carry into the next, but its own high nibble already fails).
func eightDigits(x uint64) bool {
	const hi = 0xF0F0F0F0F0F0F0F0
	return x&hi|(x+0x0606060606060606)&hi>>4 == 0x3333333333333333
}

// eightValue is the value of the eight ASCII digits of x, the first digit
// in the lowest byte (fast_float's parse_eight_digits_unrolled): pairs,
// then quads, then the whole, each step one multiply.
func eightValue(x uint64) uint64 {
	x = (x & 0x0F0F0F0F0F0F0F0F) * 2561 >> 8
	x = (x & 0x00FF00FF00FF00FF) * 6553601 >> 16
	return (x & 0x0000FFFF0000FFFF) * 42949672960001 >> 32
}

// parseIntChecked is ParseInt one digit at a time with overflow checks: the
// reference the fast path falls back to.
func parseIntChecked(b []byte) (int64, error) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 || (b[0] == '0' && len(b) > 1) {
		return 0, ErrSyntax
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, ErrSyntax
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, ErrRange
		}
		v = v*10 + d
	}
	if neg {
		if v > 1<<63 {
			return 0, ErrRange
		}
		return -int64(v), nil
	}
	if v > math.MaxInt64 {
		return 0, ErrRange
	}
	return int64(v), nil
}

// Skip consumes one value of any type, checking its syntax.
func (s *Scanner) Skip() {
	switch c := s.Peek(); c {
	case '{':
		// Keys of a skipped object may contain escapes: only keys the
		// adapter matches (Key) must be plain.
		s.Object()
		for s.next('}') {
			if s.Peek() != '"' {
				s.Fail(ErrSyntax)
				return
			}
			s.skipString()
			if s.Peek() != ':' {
				s.Fail(ErrSyntax)
				return
			}
			s.pos++
			s.Skip()
			if s.err != nil {
				return
			}
		}
	case '[':
		s.Array()
		for s.More() {
			s.Skip()
			if s.err != nil {
				return
			}
		}
	case '"':
		s.skipString()
	case 't':
		s.literal("true")
	case 'f':
		s.literal("false")
	case 'n':
		s.literal("null")
	case 0:
		s.Fail(ErrSyntax)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			s.numberEnd()
			return
		}
		s.Fail(ErrSyntax)
	}
}

// skipString consumes a string that may contain escapes, validating them.
func (s *Scanner) skipString() {
	b := s.b
	for i := s.pos + 1; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return
		case c < 0x20:
			s.Fail(ErrSyntax)
			return
		case c == '\\':
			i++
			if i >= len(b) {
				s.Fail(ErrSyntax)
				return
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					s.Fail(ErrSyntax)
					return
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						s.Fail(ErrSyntax)
						return
					}
				}
				i += 4
			default:
				s.Fail(ErrSyntax)
				return
			}
		}
	}
	s.Fail(ErrSyntax)
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// Pair reads one price level ["px","qty"]: an array of exactly two plain
// strings. It is one call per level instead of Array/More/Str/More/Str/More,
// which matters when a frame holds hundreds of levels. ok is false (with the
// error recorded) for any other shape.
func (s *Scanner) Pair() (a, b []byte, ok bool) {
	if a, b, ok = s.pair(); !ok {
		return nil, nil, false
	}
	if s.Peek() != ']' {
		s.Fail(ErrType) // a third element: not a level of this venue's shape
		return nil, nil, false
	}
	s.pos++
	return a, b, true
}

// PairPrefix reads an array whose first two elements are plain strings and
// skips the rest, for levels such as OKX's ["px","sz","0","n"].
func (s *Scanner) PairPrefix() (a, b []byte, ok bool) {
	if a, b, ok = s.pair(); !ok {
		return nil, nil, false
	}
	for {
		switch s.Peek() {
		case ']':
			s.pos++
			return a, b, true
		case ',':
			s.pos++
			s.Skip()
			if s.err != nil {
				return nil, nil, false
			}
		default:
			s.Fail(ErrSyntax)
			return nil, nil, false
		}
	}
}

// pair reads `["a","b"` and leaves the scanner after the second string.
func (s *Scanner) pair() (a, b []byte, ok bool) {
	if !s.expect('[') {
		return nil, nil, false
	}
	a = s.Str()
	if s.err != nil || !s.expect(',') {
		return nil, nil, false
	}
	b = s.Str()
	return a, b, s.err == nil
}

// expect consumes c if it is the next non-space byte, else records ErrType.
func (s *Scanner) expect(c byte) bool {
	if s.Peek() != c {
		s.Fail(ErrType)
		return false
	}
	s.pos++
	return true
}
