package book

import "arb/exchange"

// Store holds the latest BookTop per (venue, instrument). It is not safe for
// concurrent use: one goroutine (the detector's) owns it.
type Store struct {
	nInst   int // instruments per venue row, including the unused id 0
	nVenue  int // venues, including the unused id 0
	books   []exchange.BookTop
	updates []uint64
}

// New returns a store with one slot for every venue × instrument of reg.
// Slots start empty (Updates == 0).
func New(reg *exchange.Registry) *Store {
	nv, ni := len(reg.Venues), len(reg.Assets)
	if nv < 1 {
		nv = 1
	}
	if ni < 1 {
		ni = 1
	}
	return &Store{
		nInst:   ni,
		nVenue:  nv,
		books:   make([]exchange.BookTop, nv*ni),
		updates: make([]uint64, nv*ni),
	}
}

// Index returns the dense slot of (v, inst), or false if either id is zero or
// outside the registry the store was built from.
func (s *Store) Index(v exchange.VenueID, inst exchange.InstrumentID) (int, bool) {
	if v == 0 || inst == 0 || int(v) >= s.nVenue || int(inst) >= s.nInst {
		return 0, false
	}
	return int(v)*s.nInst + int(inst), true
}

// Len returns the number of slots (an upper bound for indexes from Index).
func (s *Store) Len() int { return len(s.books) }

// Apply copies ev into its slot and returns the slot index, or false (and
// changes nothing) if ev's venue or instrument is outside the registry.
func (s *Store) Apply(ev *exchange.BookTop) (int, bool) {
	i, ok := s.Index(ev.Venue, ev.Inst)
	if !ok {
		return 0, false
	}
	s.books[i] = *ev
	s.updates[i]++
	return i, true
}

// At returns the book in slot i (from Index or Apply). The pointer stays
// valid for the life of the store; its contents change with the next Apply
// for that slot.
func (s *Store) At(i int) *exchange.BookTop { return &s.books[i] }

// Book returns the latest book of (v, inst), or nil if none was ever applied
// or the ids are outside the registry.
func (s *Store) Book(v exchange.VenueID, inst exchange.InstrumentID) *exchange.BookTop {
	i, ok := s.Index(v, inst)
	if !ok || s.updates[i] == 0 {
		return nil
	}
	return &s.books[i]
}

// Updates returns how many events were applied to slot i; 0 means the slot
// never received a book.
func (s *Store) Updates(i int) uint64 { return s.updates[i] }
