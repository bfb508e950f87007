package ringbuf

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
)

// cacheLine is the padding unit that keeps fields written by different
// goroutines on different cache lines. It is two 64-byte lines, not one,
// because x86 cores prefetch the adjacent line of a pair (the "spatial
// prefetcher"), which would turn two neighbouring hot lines back into one
// contended unit. The cost is a few hundred bytes per ring.
const cacheLine = 128

// pad fills the rest of a cacheLine-sized block. Each padded group below is
// written by one party only (producer, consumer, or the parking consumer).
type pad [cacheLine]byte

// Wait strategy constants, tuned by measurement on the 2-core machine this
// runs on (see Performance in doc.go). Polling the ring is not free: every poll pulls the
// producer's cache line over to the consumer's core, and the producer's next
// publish must pull it back (about 60 ns each way here). A consumer that
// polls back to back therefore slows the very producer it waits for; a short
// pause between polls lets the producer publish several items per transfer.
const (
	// spinPolls is how many times Wait re-checks the ring before yielding,
	// with spinPause between checks: about 1 µs in all, the scale of a
	// producer in the middle of a burst.
	spinPolls = 32
	// spinPause is the length of the pause between polls, in iterations of
	// a dependent-add loop (about 25 ns here). Go exposes no PAUSE
	// instruction; the loop touches no shared memory, which is the point.
	spinPause = 64
	// yieldPolls is how many runtime.Gosched rounds Wait makes before
	// parking; each lets goroutines queued on this P (often the producers
	// themselves, 4 of them on 2 cores) run, which is nearly free when they
	// have work and turns the handoff into a same-core one.
	yieldPolls = 8
)

// doorbell parks the single consumer and lets producers wake it. Producers
// pay one atomic load on their fast path: they ring only when the consumer
// has announced that it is about to sleep.
//
// Lost wake-ups are impossible because both sides follow the Dekker pattern
// with sequentially consistent sync/atomic operations:
//
//	producer: publish item (atomic store);   then load sleeping
//	consumer: store sleeping = 1;            then re-check the ring (atomic load)
//
// In every interleaving at least one side sees the other's store: either the
// consumer's re-check finds the item, or the producer sees sleeping == 1 and
// rings. The timeout rings the same bell from a reusable time.AfterFunc
// timer. A ring that nobody needed (a producer that saw the flag late, a
// timer of an earlier Wait) leaves a token in the 1-buffered channel; it
// causes at most one spurious wake-up, after which the consumer re-checks the
// ring and its own clock and parks again.
type doorbell struct {
	_        pad
	sleeping atomic.Uint32 // 1 while the consumer is (about to be) parked; written by the consumer only
	_        [cacheLine - 4]byte
	bell     chan struct{} // capacity 1: a pending ring is never lost, a second is dropped
	timer    *time.Timer   // rings bell at the deadline; reused so that parking allocates nothing
	parkHook func()        // tests only: runs just before the consumer announces sleep
}

func (d *doorbell) init() {
	d.bell = make(chan struct{}, 1)
	// The timeout rings the same bell as the producers, so that a parked
	// consumer waits on one channel (a timer channel in the select costs
	// about 90 ns per wake-up here; see BenchmarkHandoffLatency/ring-idle).
	d.timer = time.AfterFunc(time.Hour, d.wake)
	d.timer.Stop()
}

// ring wakes the consumer if it is parked. It is called by producers after
// every publish and must stay small enough to inline.
func (d *doorbell) ring() {
	if d.sleeping.Load() != 0 {
		d.wake()
	}
}

// wake posts a token without blocking; if one is already pending the
// consumer will see it, so a second is unnecessary.
//
//go:noinline
func (d *doorbell) wake() {
	select {
	case d.bell <- struct{}{}:
	default:
	}
}

// wait blocks until ready reports true, timeout elapses or ctx is done.
// ready is a cheap check of the consumer's next slot, run on the consumer's
// goroutine only.
func (d *doorbell) wait(ctx context.Context, timeout time.Duration, ready func() bool) bool {
	if ready() {
		return true
	}
	if timeout <= 0 {
		return false
	}
	for range spinPolls {
		pause(spinPause)
		if ready() {
			return true
		}
	}
	// The clock is read only here, after the ~1 µs spin: a clock read costs
	// as much as several pushes, and the spin is too short to matter for
	// the timeout.
	start := time.Now()
	for range yieldPolls {
		runtime.Gosched()
		if ready() {
			return true
		}
	}
	left := timeout - time.Since(start)
	if left <= 0 {
		return ready()
	}
	// Drop a token left over from an earlier, unneeded ring, so that it does
	// not end this park early.
	select {
	case <-d.bell:
	default:
	}
	d.timer.Reset(left)
	done := ctx.Done()
	for {
		if d.parkHook != nil {
			d.parkHook()
		}
		d.sleeping.Store(1)
		// The re-check after announcing sleep is what makes wake-ups
		// reliable: an item published before the producer could see
		// sleeping == 1 is found here (TestWaitNoLostWakeup).
		if ready() {
			d.sleeping.Store(0)
			return true
		}
		if done == nil {
			<-d.bell // a single-case receive wakes faster than a select
		} else {
			select {
			case <-d.bell:
			case <-done:
				d.sleeping.Store(0)
				d.timer.Stop()
				return false
			}
		}
		d.sleeping.Store(0)
		if ready() {
			// The timer is left armed: stopping it would cost about a
			// third of the wake-up, the next park re-arms it anyway, and
			// if it fires first its token is dropped at the next park or
			// costs one spurious wake-up there.
			return true
		}
		// Nothing ready: the timer rang, or the token was stale (an
		// unneeded ring, or a late timer from an earlier Wait). The clock
		// tells which.
		if time.Since(start) >= timeout {
			return false
		}
	}
}

// pause burns roughly n cycles without touching shared memory. It is kept
// out of line and returns its result so the compiler cannot delete the loop.
//
//go:noinline
func pause(n int) int {
	s := 0
	for i := range n {
		s += i ^ s
	}
	return s
}

// checkCapacity panics unless capacity is a power of two ≥ 2 and returns the
// index mask.
func checkCapacity(capacity int) uint64 {
	if capacity < 2 || capacity&(capacity-1) != 0 {
		panic("ringbuf: capacity must be a power of two ≥ 2")
	}
	return uint64(capacity) - 1
}
