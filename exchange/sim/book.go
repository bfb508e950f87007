package sim

import (
	"sort"

	"arb/exchange"
	"arb/exchange/num"
)

// lvl is one price level in the symbol's scale.
type lvl struct{ px, qty int64 }

// side is one side of a book, best first: bids descending, asks ascending.
type side struct {
	asc bool
	l   []lvl
}

// better reports whether price a ranks before price b on this side.
func (s *side) better(a, b int64) bool {
	if s.asc {
		return a < b
	}
	return a > b
}

// find returns the index where px is or would be inserted, and whether it is there.
func (s *side) find(px int64) (int, bool) {
	i := sort.Search(len(s.l), func(i int) bool { return !s.better(s.l[i].px, px) })
	return i, i < len(s.l) && s.l[i].px == px
}

// set sets the quantity at px; 0 removes the level.
func (s *side) set(px, qty int64) {
	i, ok := s.find(px)
	switch {
	case ok && qty == 0:
		s.l = append(s.l[:i], s.l[i+1:]...)
	case ok:
		s.l[i].qty = qty
	case qty != 0:
		s.l = append(s.l, lvl{})
		copy(s.l[i+1:], s.l[i:])
		s.l[i] = lvl{px, qty}
	}
}

func (s *side) top(n int) []lvl {
	if n > len(s.l) {
		n = len(s.l)
	}
	return s.l[:n]
}

// book is a full L2 book.
type book struct{ bids, asks side }

func newBook() book { return book{bids: side{asc: false}, asks: side{asc: true}} }

func (b *book) copyFrom(o *book) {
	b.bids.asc, b.asks.asc = false, true
	b.bids.l = append(b.bids.l[:0], o.bids.l...)
	b.asks.l = append(b.asks.l[:0], o.asks.l...)
}

// copyTop copies the top n levels per side of o.
func (b *book) copyTop(o *book, n int) {
	b.bids.asc, b.asks.asc = false, true
	b.bids.l = append(b.bids.l[:0], o.bids.top(n)...)
	b.asks.l = append(b.asks.l[:0], o.asks.top(n)...)
}

func (b *book) crossed() bool {
	return len(b.bids.l) > 0 && len(b.asks.l) > 0 && b.bids.l[0].px >= b.asks.l[0].px
}

func (b *book) side(bid bool) *side {
	if bid {
		return &b.bids
	}
	return &b.asks
}

// diffSide appends to dst the changes that turn old into new (both ordered
// the same way): a new or changed level with its new quantity, a vanished one
// with quantity 0. The result is in book order (best first), merged.
func diffSide(dst []lvl, old, new []lvl, asc bool) []lvl {
	better := func(a, b int64) bool {
		if asc {
			return a < b
		}
		return a > b
	}
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		switch {
		case j == len(new) || i < len(old) && better(old[i].px, new[j].px):
			dst = append(dst, lvl{old[i].px, 0})
			i++
		case i == len(old) || better(new[j].px, old[i].px):
			dst = append(dst, new[j])
			j++
		default:
			if old[i].qty != new[j].qty {
				dst = append(dst, new[j])
			}
			i++
			j++
		}
	}
	return dst
}

// delta is one update of a book: level changes per side, best first.
type delta struct{ bids, asks []lvl }

func (d *delta) empty() bool { return len(d.bids) == 0 && len(d.asks) == 0 }
func (d *delta) n() int      { return len(d.bids) + len(d.asks) }

// diffTop computes the changes between the top n levels of old and new
// (n ≤ 0: whole book). A level pushed out of the top n is a delete, a level
// entering it an insert: what a venue sends for a depth-limited channel.
func diffTop(dst *delta, old, new *book, n int) {
	ob, nb, oa, na := old.bids.l, new.bids.l, old.asks.l, new.asks.l
	if n > 0 {
		ob, nb, oa, na = old.bids.top(n), new.bids.top(n), old.asks.top(n), new.asks.top(n)
	}
	dst.bids = diffSide(dst.bids[:0], ob, nb, false)
	dst.asks = diffSide(dst.asks[:0], oa, na, true)
}

// sameTop reports whether the top n levels of a and b are equal.
func sameTop(a, b *book, n int) bool {
	eq := func(x, y []lvl) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	return eq(a.bids.top(n), b.bids.top(n)) && eq(a.asks.top(n), b.asks.top(n))
}

func toLevels(l []lvl) []exchange.Level {
	out := make([]exchange.Level, len(l))
	for i, x := range l {
		out[i] = exchange.Level{Px: num.Price(x.px), Qty: num.Qty(x.qty)}
	}
	return out
}

// history is a ring of the last published states of one book: its sequence
// field and its top levels.
type history struct {
	depth int
	cap   int
	n     int // states stored
	head  int // next slot
	seq   []uint64
	nb    []uint16
	na    []uint16
	lv    []lvl // cap × 2·depth: bids then asks
}

func newHistory(capacity, depth int) *history {
	return &history{depth: depth, cap: capacity}
}

func (h *history) push(seq uint64, b *book) {
	if len(h.seq) < h.cap { // grow lazily: most books in tests take few steps
		h.seq = append(h.seq, 0)
		h.nb = append(h.nb, 0)
		h.na = append(h.na, 0)
		h.lv = append(h.lv, make([]lvl, 2*h.depth)...)
	}
	i := h.head
	h.seq[i] = seq
	bids, asks := b.bids.top(h.depth), b.asks.top(h.depth)
	base := i * 2 * h.depth
	copy(h.lv[base:], bids)
	copy(h.lv[base+h.depth:], asks)
	h.nb[i], h.na[i] = uint16(len(bids)), uint16(len(asks))
	h.head = (h.head + 1) % h.cap
	if h.n < h.cap {
		h.n++
	}
}

// at returns the newest state with this sequence value (after a venue reset
// a value can repeat; the newest wins).
func (h *history) at(seq uint64) (bids, asks []exchange.Level, ok bool) {
	for k := 1; k <= h.n; k++ {
		i := (h.head - k + h.cap) % h.cap
		if h.seq[i] == seq {
			base := i * 2 * h.depth
			return toLevels(h.lv[base : base+int(h.nb[i])]), toLevels(h.lv[base+h.depth : base+h.depth+int(h.na[i])]), true
		}
	}
	return nil, nil, false
}
