// Package l2 is the full-depth price-level book an adapter keeps in sync with
// its venue, from which it cuts the top-K BookTop events it publishes.
//
// Each side is one preallocated sorted array with the BEST level LAST (bids
// ascending, asks descending): almost all venue updates touch the top of the
// book, so inserts and deletes there move few bytes, and nothing allocates
// after construction. A side holds at most its capacity; when a better level
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

// ErrRawTooLong is returned when a raw string exceeds RawMax bytes.
var ErrRawTooLong = errors.New("l2: number string too long")

// Raw is a number string as the venue sent it.
type Raw struct {
	n uint8
	b [RawMax]byte
}

// Bytes returns the kept string.
func (r *Raw) Bytes() []byte { return r.b[:r.n] }

func (r *Raw) set(b []byte) {
	r.n = uint8(copy(r.b[:], b))
}

// RawLevel is the verbatim form of one level.
type RawLevel struct{ Px, Qty Raw }

// Side is one side of a book. The zero value is unusable; use Book.
type Side struct {
	lv        []exchange.Level
	raw       []RawLevel // nil unless the book keeps raw strings
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
	b := &Book{
		Bids: Side{lv: make([]exchange.Level, 0, depth), bid: true},
		Asks: Side{lv: make([]exchange.Level, 0, depth)},
	}
	if keepRaw {
		b.Bids.raw = make([]RawLevel, 0, depth)
		b.Asks.raw = make([]RawLevel, 0, depth)
	}
	return b
}

// Reset empties both sides.
func (b *Book) Reset() {
	b.Bids.reset()
	b.Asks.reset()
}

func (s *Side) reset() {
	s.lv = s.lv[:0]
	if s.raw != nil {
		s.raw = s.raw[:0]
	}
	s.truncated = false
}

// Len returns the number of levels held.
func (s *Side) Len() int { return len(s.lv) }

// Cap returns the most levels the side holds.
func (s *Side) Cap() int { return cap(s.lv) }

// Truncated reports whether levels were dropped for lack of room, so that
// levels beyond the worst one held are unknown.
func (s *Side) Truncated() bool { return s.truncated }

// Level returns the i-th best level (0 = best). i must be < Len.
func (s *Side) Level(i int) exchange.Level { return s.lv[len(s.lv)-1-i] }

// Raw returns the wire strings of the i-th best level (nil book without raw).
func (s *Side) Raw(i int) *RawLevel {
	if s.raw == nil {
		return nil
	}
	return &s.raw[len(s.raw)-1-i]
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
		return searchAsc(s.lv, px)
	}
	return searchDesc(s.lv, px)
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
	i, found := s.search(px)
	if qty == 0 {
		if found {
			copy(s.lv[i:], s.lv[i+1:])
			s.lv = s.lv[:len(s.lv)-1]
			if s.raw != nil {
				copy(s.raw[i:], s.raw[i+1:])
				s.raw = s.raw[:len(s.raw)-1]
			}
		}
		return
	}
	if found {
		s.lv[i].Qty = qty
		if s.raw != nil {
			s.raw[i].Px.set(pxRaw)
			s.raw[i].Qty.set(qtyRaw)
		}
		return
	}
	if len(s.lv) == cap(s.lv) {
		// Full: drop the worst level (index 0) if the new one ranks better;
		// a new level worse than everything held is outside the known range.
		s.truncated = true
		if i == 0 {
			return
		}
		copy(s.lv[:i-1], s.lv[1:i])
		s.lv[i-1] = exchange.Level{Px: px, Qty: qty}
		if s.raw != nil {
			copy(s.raw[:i-1], s.raw[1:i])
			s.raw[i-1].Px.set(pxRaw)
			s.raw[i-1].Qty.set(qtyRaw)
		}
		return
	}
	s.lv = s.lv[:len(s.lv)+1]
	copy(s.lv[i+1:], s.lv[i:])
	s.lv[i] = exchange.Level{Px: px, Qty: qty}
	if s.raw != nil {
		s.raw = s.raw[:len(s.raw)+1]
		copy(s.raw[i+1:], s.raw[i:])
		s.raw[i].Px.set(pxRaw)
		s.raw[i].Qty.set(qtyRaw)
	}
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
	n := len(s.lv)
	if n > exchange.TopK {
		n = exchange.TopK
	}
	for i := 0; i < n; i++ {
		dst[i] = s.lv[len(s.lv)-1-i]
	}
	return n
}
