package ringbuf

import (
	"context"
	"sync/atomic"
	"time"
)

// MPSC is a bounded lock-free ring for any number of producer goroutines and
// exactly one consumer goroutine: the daemon's single ring from every venue
// adapter (including the two overlapping connections of one venue during a
// reconnect) to the detector. Slots are preallocated; pushing and popping
// never allocate and never block. Producer methods (TryPush, Claim, Commit)
// are safe from many goroutines at once; consumer methods (TryPop, Batch, At,
// Release, Wait) must be called from one goroutine at a time; Len and Cap are
// safe from anywhere.
//
// Producers reserve sequences by compare-and-swap on tail, after checking
// against the consumer's head that the slot is free; each slot carries the
// sequence number that publishes it (Vyukov's per-slot sequence, used here
// only as the "committed" flag). Items of one producer keep their order;
// items of different producers are ordered by when they reserved.
type MPSC[T any] struct {
	_ pad
	// Shared by producers (CAS).
	tail atomic.Uint64 // next sequence to reserve
	_    [cacheLine - 8]byte
	// Written by the consumer, read by producers for the full check.
	head atomic.Uint64 // every sequence before head is released
	_    [cacheLine - 8]byte
	// Consumer-private.
	limit uint64 // every sequence before limit is known committed; bounds At and Release
	_     [cacheLine - 8]byte
	db    doorbell
	_     pad
	// Read-only after construction.
	mask   uint64
	buf    []mslot[T]
	onPush func(seq uint64) // measurement only (SetPushHook); nil in production
}

// mslot is one slot of an MPSC ring. seq == s+1 means "the item of sequence s
// is committed"; the value s+1 is never seen in that slot for any other lap,
// so a stale slot can never pass for a fresh one. Keeping seq next to the
// value lets the consumer fetch both with one cache miss.
type mslot[T any] struct {
	seq atomic.Uint64
	v   T
}

// maxCASTries caps the reservation loop. Each failed CAS means another
// producer succeeded, so the ring as a whole progresses; the cap only keeps
// a single unlucky producer from spinning without bound. Reaching it is
// reported as full, which the producer already handles by conflating.
const maxCASTries = 1 << 10

// NewMPSC returns an empty MPSC ring with capacity slots. capacity must be a
// power of two ≥ 2 (it panics otherwise) so that a sequence maps to its slot
// with one AND.
func NewMPSC[T any](capacity int) *MPSC[T] {
	r := &MPSC[T]{mask: checkCapacity(capacity), buf: make([]mslot[T], capacity)}
	for i := range r.buf {
		// "committed for sequence i-capacity": not committed for i, and what
		// Commit expects to overwrite (it catches double commits).
		r.buf[i].seq.Store(uint64(i) + 1 - uint64(capacity))
	}
	r.db.init()
	return r
}

// SetPushHook makes every push call fn with the item's sequence on the
// producer's goroutine, once the item is published and just before the
// consumer is woken: a latency probe measures the hand-off from there to
// the consumer (At(seq)). It is for measurement only — a production ring
// has none — and must be set before any producer runs; fn must not block.
func (r *MPSC[T]) SetPushHook(fn func(seq uint64)) { r.onPush = fn }

// reserve takes the next sequence if its slot is free.
func (r *MPSC[T]) reserve() (uint64, bool) {
	for range maxCASTries {
		// head first: head ≤ tail at every instant and both only grow, so
		// h ≤ t and t-h cannot wrap. A head that is stale by the time of
		// the CAS only makes the check stricter (a spurious full), never
		// lets a producer overwrite a slot the consumer still reads.
		h := r.head.Load()
		t := r.tail.Load()
		if t-h > r.mask {
			return 0, false
		}
		if r.tail.CompareAndSwap(t, t+1) {
			return t, true
		}
	}
	return 0, false
}

// TryPush copies *v into a newly reserved slot and publishes it. It returns
// false, without blocking and without copying, when the ring is full; the
// producer then keeps the newest value aside and retries later (see the
// package doc).
func (r *MPSC[T]) TryPush(v *T) bool {
	seq, ok := r.reserve()
	if !ok {
		return false
	}
	s := &r.buf[seq&r.mask]
	s.v = *v
	s.seq.Store(seq + 1)
	if r.onPush != nil {
		r.onPush(seq)
	}
	r.db.ring()
	return true
}

// Claim reserves a slot so the producer can write the event in place (parse
// straight into the slot) and returns it with its sequence, or ok == false if
// the ring is full. The slot still holds the value from one lap ago: the
// producer must set every field.
//
// A claim cannot be abandoned: the consumer reads past seq only after
// Commit(seq), so the producer must commit promptly and without blocking in
// between, even on a parse error (commit a stale marker instead, which the
// detector wants to know about anyway).
func (r *MPSC[T]) Claim() (slot *T, seq uint64, ok bool) {
	seq, ok = r.reserve()
	if !ok {
		return nil, 0, false
	}
	return &r.buf[seq&r.mask].v, seq, true
}

// Commit publishes the slot of seq, which must come from Claim and not have
// been committed yet (it panics on a double commit). The producer must not
// touch the slot afterwards. Commits may come in any order; the consumer sees
// the committed prefix.
func (r *MPSC[T]) Commit(seq uint64) {
	s := &r.buf[seq&r.mask]
	if s.seq.Load() != seq+1-uint64(len(r.buf)) {
		panic("ringbuf: MPSC.Commit of a sequence that is not claimed")
	}
	s.seq.Store(seq + 1)
	if r.onPush != nil {
		r.onPush(seq)
	}
	r.db.ring()
}

// TryPop copies the oldest item into *dst and frees its slot, or returns
// false if the ring is empty or its oldest reserved slot is not committed yet.
func (r *MPSC[T]) TryPop(dst *T) bool {
	h := r.head.Load()
	s := &r.buf[h&r.mask]
	if h == r.limit && s.seq.Load() != h+1 {
		return false
	}
	*dst = s.v
	h++
	if r.limit < h {
		r.limit = h
	}
	r.head.Store(h)
	return true
}

// Batch returns the sequences [from, to) of committed items ready to read: the
// contiguous committed prefix, at most max of them (none if max ≤ 0). An item
// committed after an older, still-claimed one waits for it. Read them in
// place with At, then free them with Release; until then calling Batch again
// returns the same from.
func (r *MPSC[T]) Batch(max int) (from, to uint64) {
	from = r.head.Load()
	if max <= 0 {
		return from, from
	}
	end := from + uint64(max)
	to = r.limit
	if to >= end {
		return from, end
	}
	for to < end && r.buf[to&r.mask].seq.Load() == to+1 {
		to++
	}
	r.limit = to
	return from, to
}

// At returns the slot of sequence seq for reading in place. seq must lie in a
// range returned by Batch and not yet released; it panics if seq is released
// or not known to be committed, since reading a slot a producer may be
// writing would be a silent data race. The pointer is valid until Release
// passes seq.
func (r *MPSC[T]) At(seq uint64) *T {
	h := r.head.Load()
	if seq-h >= r.limit-h {
		panic("ringbuf: MPSC.At outside the readable range")
	}
	return &r.buf[seq&r.mask].v
}

// Release frees every slot before to for the producers. to must lie between
// the current from and the end of what Batch has returned; it panics
// if to is behind from or beyond what the consumer knows to be published. One Release is one store however many slots it frees.
func (r *MPSC[T]) Release(to uint64) {
	h := r.head.Load()
	if to-h > r.limit-h {
		panic("ringbuf: MPSC.Release beyond the readable range")
	}
	r.head.Store(to)
}

// Wait blocks until an item is ready (true), or d has elapsed or ctx is done
// (false). It spins briefly, then yields, then parks on a doorbell that
// producers ring only when they see the consumer parked; it allocates nothing.
// d counts from the end of the spin (about 1 µs after the call).
// "Ready" means the oldest slot is committed. With d ≤ 0 it only checks. An
// item that arrives exactly at the deadline is still reported (true); ctx
// done while waiting reports false, so that the consumer's loop stops, but an
// item ready on entry is reported first.
func (r *MPSC[T]) Wait(ctx context.Context, d time.Duration) bool {
	return r.db.wait(ctx, d, r.ready)
}

// ready reports whether the oldest slot is committed.
func (r *MPSC[T]) ready() bool {
	h := r.head.Load()
	return h != r.limit || r.buf[h&r.mask].seq.Load() == h+1
}

// Len returns the number of reserved and not yet released slots, including
// claimed ones that are not committed yet. It is safe from any goroutine and
// exact only when all sides are quiet.
func (r *MPSC[T]) Len() int {
	h := r.head.Load()
	n := r.tail.Load() - h
	if n > uint64(len(r.buf)) {
		n = uint64(len(r.buf))
	}
	return int(n)
}

// Cap returns the number of slots.
func (r *MPSC[T]) Cap() int { return len(r.buf) }
