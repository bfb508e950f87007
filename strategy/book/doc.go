// Package book is the detector's store of the latest top-K book per
// (venue, instrument).
//
// Model: a BookTop event is a complete top-K snapshot, so the current book of
// a venue × instrument is simply the newest event received for it. The store
// is a dense slice indexed by VenueID × InstrumentID, sized once from the
// exchange.Registry at start-up; an update is a 360-byte copy into that slot
// plus a per-book update counter, with no map, no pointer chasing and no
// allocation. Ids outside the registry are refused (counted by the caller),
// never grown into: every table has a cap.
//
// Ordering: the store does not compare sequence numbers. Events of one
// connection arrive in order through the ring, and during a reconnect
// handover the venue adapter guarantees that at most one in-flight event of
// the old connection lands after the new one's first; both are states the
// venue really had and the next event supersedes it. Rejecting "older" Seq
// values would instead wedge a book after a venue's sequence reset.
//
// Concurrency: a Store has a single writer and no locks. It is owned by the
// detector goroutine (strategy.Loop); other goroutines see books only through
// the immutable snapshots that the loop publishes.
//
// VWAP and depth walking live in strategy/spread, next to the only code that
// needs them, so this package stays a plain container.
package book
