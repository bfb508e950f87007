package ringbuf

import (
	"context"
	"sync/atomic"
	"time"
)

// SPSC is a bounded lock-free ring for exactly one producer goroutine and
// exactly one consumer goroutine, such as the detector handing plans to the
// executor. Slots are preallocated; pushing and popping never allocate and
// never block. Producer methods (TryPush, Claim, Commit) must be called from
// one goroutine at a time, consumer methods (TryPop, Batch, At, Release,
// Wait) from one goroutine at a time; Len and Cap are safe from anywhere.
//
// Each side keeps a private cached copy of the other side's sequence and
// re-reads the shared one only when the cache says full (producer) or empty
// (consumer), so in steady state the cache line of the other side moves
// between cores once per lap or batch, not once per item.
type SPSC[T any] struct {
	_ pad
	// Producer-owned line.
	tail      atomic.Uint64 // next sequence to publish; stored by the producer only
	headCache uint64        // the producer's last view of head
	claimed   bool          // a Claim is outstanding
	_         [cacheLine - 17]byte
	// Consumer-owned line.
	head      atomic.Uint64 // next sequence to read; stored by the consumer only
	tailCache uint64        // the consumer's last view of tail
	_         [cacheLine - 16]byte
	db        doorbell
	_         pad
	// Read-only after construction.
	mask uint64
	buf  []T
}

// NewSPSC returns an empty SPSC ring with capacity slots. capacity must be a
// power of two ≥ 2 (it panics otherwise) so that a sequence maps to its slot
// with one AND.
func NewSPSC[T any](capacity int) *SPSC[T] {
	r := &SPSC[T]{mask: checkCapacity(capacity), buf: make([]T, capacity)}
	r.db.init()
	return r
}

// TryPush copies *v into the next slot and publishes it. It returns false,
// without blocking and without copying, when the ring is full; the producer
// then keeps the newest value aside and retries later (see the package doc).
// An outstanding Claim is abandoned: TryPush writes that same slot, so the
// claimed pointer must not be used any more.
func (r *SPSC[T]) TryPush(v *T) bool {
	r.claimed = false
	t := r.tail.Load()
	if t-r.headCache > r.mask {
		r.headCache = r.head.Load()
		if t-r.headCache > r.mask {
			return false
		}
	}
	r.buf[t&r.mask] = *v
	r.tail.Store(t + 1)
	r.db.ring()
	return true
}

// Claim reserves the next slot so the producer can write the event in place
// (parse straight into the slot) and returns it, or false if the ring is
// full. The slot still holds the value from one lap ago: the producer must
// set every field. Nothing is visible to the consumer until Commit. Claiming
// again before Commit returns the same slot, so an unfinished claim may simply
// be abandoned (for example after a parse error).
func (r *SPSC[T]) Claim() (*T, bool) {
	t := r.tail.Load()
	if t-r.headCache > r.mask {
		r.headCache = r.head.Load()
		if t-r.headCache > r.mask {
			return nil, false
		}
	}
	r.claimed = true
	return &r.buf[t&r.mask], true
}

// Commit publishes the slot returned by the last Claim. The producer must
// not touch that slot afterwards. It panics if no Claim is outstanding.
func (r *SPSC[T]) Commit() {
	if !r.claimed {
		panic("ringbuf: SPSC.Commit without Claim")
	}
	r.claimed = false
	r.tail.Store(r.tail.Load() + 1)
	r.db.ring()
}

// TryPop copies the oldest item into *dst and frees its slot, or returns
// false if the ring is empty.
func (r *SPSC[T]) TryPop(dst *T) bool {
	h := r.head.Load()
	if h == r.tailCache {
		r.tailCache = r.tail.Load()
		if h == r.tailCache {
			return false
		}
	}
	*dst = r.buf[h&r.mask]
	r.head.Store(h + 1)
	return true
}

// Batch returns the sequences [from, to) of the items ready to read, at most
// max of them (none if max ≤ 0). Read them in place with At, then free them
// with Release; until then calling Batch again returns the same from.
func (r *SPSC[T]) Batch(max int) (from, to uint64) {
	from = r.head.Load()
	if max <= 0 {
		return from, from
	}
	if r.tailCache-from < uint64(max) {
		r.tailCache = r.tail.Load()
	}
	to = r.tailCache
	if to-from > uint64(max) {
		to = from + uint64(max)
	}
	return from, to
}

// At returns the slot of sequence seq for reading in place. seq must lie in a
// range returned by Batch and not yet released; it panics if seq is released
// or not known to be published, since reading a slot a producer may be
// writing would be a silent data race. The pointer is valid until Release
// passes seq.
func (r *SPSC[T]) At(seq uint64) *T {
	h := r.head.Load()
	if seq-h >= r.tailCache-h {
		panic("ringbuf: SPSC.At outside the readable range")
	}
	return &r.buf[seq&r.mask]
}

// Release frees every slot before to for the producer. to must lie between
// the current from and the end of what Batch has returned; it panics
// if to is behind from or beyond what the consumer knows to be published.
func (r *SPSC[T]) Release(to uint64) {
	h := r.head.Load()
	if to-h > r.tailCache-h {
		panic("ringbuf: SPSC.Release beyond the readable range")
	}
	r.head.Store(to)
}

// Wait blocks until an item is ready (true), or d has elapsed or ctx is done
// (false). It spins briefly, then yields, then parks on a doorbell that the
// producer rings only when it sees the consumer parked; it allocates nothing.
// d counts from the end of the spin (about 1 µs after the call).
// With d ≤ 0 it only checks. An item that arrives exactly at the deadline is
// still reported (true); ctx done while waiting reports false, so that the
// consumer's loop stops, but an item ready on entry is reported first.
func (r *SPSC[T]) Wait(ctx context.Context, d time.Duration) bool {
	return r.db.wait(ctx, d, r.ready)
}

// ready reports whether an item is ready for the consumer. Only the consumer
// calls it; it refreshes tailCache as a side benefit.
func (r *SPSC[T]) ready() bool {
	h := r.head.Load()
	if h != r.tailCache {
		return true
	}
	r.tailCache = r.tail.Load()
	return h != r.tailCache
}

// Len returns the number of items published and not yet released. It is safe
// from any goroutine and exact only when both sides are quiet.
func (r *SPSC[T]) Len() int {
	h := r.head.Load()
	n := r.tail.Load() - h
	if n > uint64(len(r.buf)) {
		n = uint64(len(r.buf))
	}
	return int(n)
}

// Cap returns the number of slots.
func (r *SPSC[T]) Cap() int { return len(r.buf) }
