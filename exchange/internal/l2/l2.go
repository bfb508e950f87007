// Package l2 is the full-depth price-level book an adapter keeps in sync with
// its venue, from which it cuts the top-K BookTop events it publishes.
//
// Each side is one preallocated sorted array with the BEST level LAST (bids
// ascending, asks descending) and room at both ends: almost all venue
// updates touch the top of the book, so inserts and deletes there move few
// bytes; a snapshot given best first inserts every level at the bottom,
// which moves none; and nothing allocates after construction. A side holds at most its capacity; when a better level
// arrives at a full side the worst level is dropped and the side remembers it
// was truncated (levels past the kept range are unknown, as Binance documents
// for levels outside its snapshot). A truncated side never invents levels: it
// only ever reports fewer levels than the venue has, never wrong ones.
//
// Optionally each level keeps the exact price and size strings received
// (OKX computes its checksum over them). Prices are never negative (every
// venue price is parsed unsigned); the search relies on it.
package l2

import (
	"errors"

	"arb/exchange"
	"arb/exchange/num"
)

// RawMax is the longest price or size string kept verbatim.
const RawMax = 31

// TextMax is the longest text of a raw level, "px:qty:".
const TextMax = 2*RawMax + 2

// ErrRawTooLong is returned when a raw string exceeds RawMax bytes.
var ErrRawTooLong = errors.New("l2: number string too long")

// RawLevel is the verbatim form of one level: the price and size strings as
// the venue sent them, kept as the text "px:qty:" in a fixed-size array.
// OKX's checksum string is these texts one after the other (its last colon
// dropped), so building it takes one fixed-size copy per level (see Text).
type RawLevel struct {
	b     [TextMax]byte
	n     uint8 // bytes of text in b
	pxLen uint8
}

// Px returns the price string.
func (r *RawLevel) Px() []byte { return r.b[:r.pxLen] }

// Qty returns the size string.
func (r *RawLevel) Qty() []byte { return r.b[r.pxLen+1 : r.n-1] }

// Text returns the level's text "px:qty:" as the first n bytes of a
// fixed-size array whose other bytes are unspecified: a caller may copy the
// whole array (a fixed-size move, no length-dependent copy) and keep n bytes.
func (r *RawLevel) Text() (t *[TextMax]byte, n int) { return &r.b, int(r.n) }

// set keeps px and qty (each at most RawMax bytes).
func (r *RawLevel) set(px, qty []byte) {
	n := copy(r.b[:RawMax], px)
	r.pxLen = uint8(n)
	r.b[n] = ':'
	n++
	n += copy(r.b[n:n+RawMax], qty)
	r.b[n] = ':'
	r.n = uint8(n + 1)
}

// Side is one side of a book. The zero value is unusable; use Book.
//
// The levels are buf[lo:hi], the worst first and the best last, inside a
// backing array with room at both ends: a level is inserted or deleted by
// moving the levels on its shorter side (the few above it near the top of
// the book, the few below it near the bottom), so a snapshot inserted best
// first (every level going to the bottom), a full side dropping its worst
// level and an update near the top each move a few levels, not the whole
// side. When the end a move needs is used up, the levels are moved once to
// give that end three quarters of the free room (amortized a few moves per
// change). raw, when kept, has the same indexes as buf.
type Side struct {
	buf       []exchange.Level
	raw       []RawLevel // nil unless the book keeps raw strings
	lo, hi    int
	depth     int // the most levels held
	bid       bool
	truncated bool
}

// Book is a two-sided book. It is owned by one goroutine.
type Book struct {
	Bids, Asks Side
}

// New returns a book holding at most depth levels per side; with keepRaw each
// level also keeps its wire strings.
func New(depth int, keepRaw bool) *Book {
	if depth < 1 {
		depth = 1
	}
	b := &Book{}
	b.Bids.init(depth, keepRaw, true)
	b.Asks.init(depth, keepRaw, false)
	return b
}

// backing is the size of a side's backing array: the depth and half as
// much room again, split between the two ends.
func backing(depth int) int { return depth + depth/2 + 8 }

func (s *Side) init(depth int, keepRaw, bid bool) {
	s.buf = make([]exchange.Level, backing(depth))
	if keepRaw {
		s.raw = make([]RawLevel, backing(depth))
	}
	s.depth, s.bid = depth, bid
	s.reset()
}

// Reset empties both sides.
func (b *Book) Reset() {
	b.Bids.reset()
	b.Asks.reset()
}

func (s *Side) reset() {
	s.lo = len(s.buf) / 2
	s.hi = s.lo
	s.truncated = false
}

// levels returns the levels held, worst first.
func (s *Side) levels() []exchange.Level { return s.buf[s.lo:s.hi] }

// Len returns the number of levels held.
func (s *Side) Len() int { return s.hi - s.lo }

// Cap returns the most levels the side holds.
func (s *Side) Cap() int { return s.depth }

// Truncated reports whether levels were dropped for lack of room, so that
// levels beyond the worst one held are unknown.
func (s *Side) Truncated() bool { return s.truncated }

// Level returns the i-th best level (0 = best). i must be < Len.
func (s *Side) Level(i int) exchange.Level { return s.buf[s.hi-1-i] }

// Raw returns the wire strings of the i-th best level (nil book without raw).
func (s *Side) Raw(i int) *RawLevel {
	if s.raw == nil {
		return nil
	}
	return &s.raw[s.hi-1-i]
}

// RawTop returns the wire strings of the best min(k, Len) levels, the best
// LAST (nil for a book without raw): one slice to walk instead of a call
// per level.
func (s *Side) RawTop(k int) []RawLevel {
	if s.raw == nil {
		return nil
	}
	return s.raw[max(s.lo, s.hi-k):s.hi]
}

// search returns the index of px in the array (ascending rank from worst to
// best) and whether it is present; otherwise the index where it would go.
//
// Venue updates land almost always within a few levels of the best price,
// which is the END of the array, so the search gallops from there: it looks
// at the levels 1, 2, 4, 8, … places below the best until one ranks worse
// than px, then bisects only the last stride. A change k levels from the
// top costs about 2·log2(k) comparisons instead of log2(n); the galloping
// comparisons are predictable branches, so even a change deep in the book
// costs no more mispredicted branches than a plain bisection of the whole
// side (BenchmarkSearch measures both ends). Bids and asks have their own
// loops so that no comparison tests the side.
func (s *Side) search(px num.Price) (int, bool) {
	if s.bid {
		return searchAsc(s.levels(), px)
	}
	return searchDesc(s.levels(), px)
}

// searchAsc returns the first index whose price is ≥ px in lv, sorted by
// ascending price (bids: best last), and whether that price is px.
func searchAsc(lv []exchange.Level, px num.Price) (int, bool) {
	n := len(lv)
	lo, hi := 0, n // the answer is in [lo, hi]; every level from hi on is ≥ px
	for d := 1; ; d <<= 1 {
		j := hi - d
		if j < 0 {
			break
		}
		if lv[j].Px < px {
			lo = j + 1
			break
		}
		hi = j
	}
	// Bisect [lo, hi) without a branch on the comparison, whose outcome is
	// unpredictable by nature: the sign of the difference (prices are ≥ 0,
	// so it cannot overflow) masks the step.
	for w := hi - lo; w > 1; {
		half := w >> 1
		lo += half & int((lv[lo+half-1].Px-px)>>63)
		w -= half
	}
	if lo < hi && lv[lo].Px < px {
		lo++
	}
	return lo, lo < n && lv[lo].Px == px
}

// searchDesc is searchAsc for lv sorted by descending price (asks: best
// last): the first index whose price is ≤ px.
func searchDesc(lv []exchange.Level, px num.Price) (int, bool) {
	n := len(lv)
	lo, hi := 0, n
	for d := 1; ; d <<= 1 {
		j := hi - d
		if j < 0 {
			break
		}
		if lv[j].Px > px {
			lo = j + 1
			break
		}
		hi = j
	}
	// Bisect [lo, hi) without a branch on the comparison, whose outcome is
	// unpredictable by nature: the sign of the difference (prices are ≥ 0,
	// so it cannot overflow) masks the step.
	for w := hi - lo; w > 1; {
		half := w >> 1
		lo += half & int((px-lv[lo+half-1].Px)>>63)
		w -= half
	}
	if lo < hi && lv[lo].Px > px {
		lo++
	}
	return lo, lo < n && lv[lo].Px == px
}

// Set applies one venue level update: qty 0 deletes the level, otherwise the
// level is inserted or replaced. It does not keep raw strings (see SetRaw).
func (s *Side) Set(px num.Price, qty num.Qty) { s.set(px, qty, nil, nil) }

// SetRaw is Set that also keeps the wire strings of the level. It returns
// ErrRawTooLong (changing nothing) if a string does not fit.
func (s *Side) SetRaw(px num.Price, qty num.Qty, pxRaw, qtyRaw []byte) error {
	if len(pxRaw) > RawMax || len(qtyRaw) > RawMax {
		return ErrRawTooLong
	}
	s.set(px, qty, pxRaw, qtyRaw)
	return nil
}

func (s *Side) set(px num.Price, qty num.Qty, pxRaw, qtyRaw []byte) {
	i, found := s.search(px) // i counts from the worst level (index lo)
	if qty == 0 {
		if found {
			s.remove(i)
		}
		return
	}
	if found {
		s.buf[s.lo+i].Qty = qty
		if s.raw != nil {
			s.raw[s.lo+i].set(pxRaw, qtyRaw)
		}
		return
	}
	if s.hi-s.lo == s.depth {
		// Full: drop the worst level if the new one ranks better; a new
		// level worse than everything held is outside the known range.
		s.truncated = true
		if i == 0 {
			return
		}
		s.lo++
		i--
	}
	k := s.insert(i)
	s.buf[k] = exchange.Level{Px: px, Qty: qty}
	if s.raw != nil {
		s.raw[k].set(pxRaw, qtyRaw)
	}
}

// remove deletes the level i places above the worst, moving the levels on
// its shorter side.
func (s *Side) remove(i int) {
	lo, hi := s.lo, s.hi
	if i < hi-lo-1-i {
		copy(s.buf[lo+1:lo+1+i], s.buf[lo:lo+i])
		if s.raw != nil {
			copy(s.raw[lo+1:lo+1+i], s.raw[lo:lo+i])
		}
		s.lo++
		return
	}
	copy(s.buf[lo+i:hi-1], s.buf[lo+i+1:hi])
	if s.raw != nil {
		copy(s.raw[lo+i:hi-1], s.raw[lo+i+1:hi])
	}
	s.hi--
}

// insert opens a slot i places above the worst level (0 ≤ i ≤ Len < depth),
// moving the levels on its shorter side, and returns the slot's index.
func (s *Side) insert(i int) int {
	n := s.hi - s.lo
	if i < n-i {
		if s.lo == 0 {
			s.move(false)
		}
		lo := s.lo
		copy(s.buf[lo-1:lo-1+i], s.buf[lo:lo+i])
		if s.raw != nil {
			copy(s.raw[lo-1:lo-1+i], s.raw[lo:lo+i])
		}
		s.lo--
		return s.lo + i
	}
	if s.hi == len(s.buf) {
		s.move(true)
	}
	lo, hi := s.lo, s.hi
	copy(s.buf[lo+i+1:hi+1], s.buf[lo+i:hi])
	if s.raw != nil {
		copy(s.raw[lo+i+1:hi+1], s.raw[lo+i:hi])
	}
	s.hi++
	return lo + i
}

// move shifts the levels so that the end that ran out of room (the top if
// up) gets three quarters of the free room and the other end the rest. The
// side is not full (Len < depth < len(buf)), so both ends get room.
func (s *Side) move(up bool) {
	n := s.hi - s.lo
	free := len(s.buf) - n
	lo := free / 4
	if !up {
		lo = free - free/4
	}
	copy(s.buf[lo:lo+n], s.buf[s.lo:s.hi])
	if s.raw != nil {
		copy(s.raw[lo:lo+n], s.raw[s.lo:s.hi])
	}
	s.lo, s.hi = lo, lo+n
}

// Crossed reports whether the best bid is at or above the best ask.
func (b *Book) Crossed() bool {
	return b.Bids.Len() > 0 && b.Asks.Len() > 0 && b.Bids.Level(0).Px >= b.Asks.Level(0).Px
}

// Top writes the best exchange.TopK levels of each side into ev (best
// first) and sets NBids/NAsks; other fields of ev are left alone.
func (b *Book) Top(ev *exchange.BookTop) {
	ev.NBids = uint8(fill(&ev.Bids, &b.Bids))
	ev.NAsks = uint8(fill(&ev.Asks, &b.Asks))
}

func fill(dst *[exchange.TopK]exchange.Level, s *Side) int {
	n := min(s.hi-s.lo, exchange.TopK)
	for i := 0; i < n; i++ {
		dst[i] = s.buf[s.hi-1-i]
	}
	return n
}
