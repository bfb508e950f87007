// Package ringbuf provides the bounded, preallocated, lock-free rings that
// carry fixed-size events between goroutines on the hot path: SPSC for one
// producer and one consumer (detector → executor), MPSC for many producers
// and one consumer (every venue adapter → the detector; the daemon uses one
// MPSC[exchange.BookTop] for all feeds). It imports only the standard library.
//
// # Model
//
// The rings follow the LMAX Disruptor as ported by smarty/go-disruptor:
// a power-of-two array of slots addressed by ever-growing 64-bit sequence
// numbers (slot = seq & (cap-1); at 10^9 events per second a uint64 wraps
// after 584 years, so wrap-around of the sequence itself is ignored), a
// producer cursor (tail) and a consumer cursor (head), each on its own
// padded cache line, and a two-step write: reserve a slot, fill it in place,
// publish it (Claim/Commit; TryPush does all three with a copy). The consumer
// reads in batches: Batch returns a range of ready sequences, At gives each
// slot in place, Release hands the whole range back with one store. Nothing
// is allocated after construction, and the consumer never copies an event
// unless it asks to (TryPop).
//
// SPSC: the producer alone advances tail, the consumer alone advances head.
// Each side keeps a private cached copy of the other's cursor and re-reads
// the shared one only when the cache says full (producer) or empty
// (consumer), so the other side's cache line crosses cores once per lap or
// batch rather than once per item.
//
// MPSC: producers reserve a sequence with a compare-and-swap on tail, after
// checking against head that its slot has been released (so a full ring is
// detected without reserving anything). Because producers finish in any
// order, each slot also carries a sequence word, the per-slot sequence of
// Dmitry Vyukov's bounded MPMC queue: a producer publishes sequence s by
// storing s+1 into its slot, and the consumer reads the contiguous prefix of
// slots so marked. Unlike Vyukov's queue the consumer does not write the
// slot word back when it frees a slot; it releases a whole batch by storing
// head once, which producers read for their full check. That saves the
// consumer one atomic store (an XCHG, see below) per item. Items of one
// producer keep their order; items of different producers are ordered by
// reservation. A producer that is descheduled between reservation and
// publication holds up the consumer at that slot until it runs again; pushes
// take nanoseconds, so this is rare, but it is the price of a shared ring
// over per-producer rings (see Performance below for that comparison).
//
// # Padding
//
// Fields written by different goroutines sit in different 128-byte blocks:
// two 64-byte lines, because x86 cores prefetch lines in adjacent pairs. In
// the SPSC ring tail and the producer's cache share one block, head and the
// consumer's cache another; in the MPSC ring tail (CAS by producers), head
// (consumer) and the consumer's private bound each have their own, and the
// doorbell flag has its own. The slots themselves are not padded: an
// exchange.BookTop is 360 bytes, so neighbours share at most one line (and
// padding uint64 slots to a full line made no measurable difference).
//
// # Memory ordering
//
// All cross-goroutine communication goes through sync/atomic, whose
// operations are sequentially consistent in the Go memory model: a slot
// written before the atomic store that publishes it (tail, or the slot's
// sequence word) is visible to a consumer whose atomic load observes that
// store, and a consumer's reads of a slot happen before the store of head
// that frees it. The race detector understands this, which is why every test
// runs under -race. On amd64 an atomic store compiles to XCHG, a full fence
// that costs about 5 ns even uncontended; there is no release-only store in
// Go, so every publish pays it. This, and the cost of moving a cache line
// between cores, bounds the throughput ratio against a channel (see
// Performance).
//
// # Overflow policy: never block, the producer conflates
//
// A full ring never blocks a producer: TryPush and Claim return false at
// once and nothing is reserved. The producer (the venue adapter) then keeps
// the newest event per instrument aside and retries on its next event or
// tick; because a BookTop is a full top-of-book snapshot, dropping the
// intermediate ones loses nothing but staleness. That conflation lives in
// the producer's package, not here: the ring stays a plain bounded queue.
// The capacity is the bound; the MPSC reservation loop is also capped
// (maxCASTries) and reports "full" rather than spin without bound.
//
// # Why a power of two
//
// A sequence maps to its slot with one AND instead of a division (a
// division costs more than the rest of a push), and the sequence-to-slot map
// stays consistent for every sequence, so cursors are never reduced or reset:
// they only grow, and fullness is the unsigned distance tail-head. Powers of
// two are also what the conventions ask of every ring size. Constructors
// panic on any other capacity.
//
// # Wait strategy
//
// Wait is the consumer's only blocking call and must not burn a core when
// idle (the machine has 2 cores shared by the adapters, the detector, HTTP
// and a simulator). It checks once; then polls about 32 times with a short
// pause between polls (about 1 µs in all; the pause matters because each
// poll pulls the producer's cache line away from it); then calls
// runtime.Gosched a few times, which lets producers queued on the same P run
// (4 producers share 2 cores); then parks on a doorbell: a 1-buffered
// channel and a "sleeping" flag. Producers pay one atomic load of the flag
// per publish and send on the channel only when it is set. Lost wake-ups are
// impossible: the consumer sets the flag and then re-checks the ring, the
// producer publishes and then reads the flag, and with sequentially
// consistent atomics at least one of them sees the other (a Dekker pair;
// TestWaitNoLostWakeup forces the dangerous interleaving). The timeout rings
// the same bell from one reusable time.AfterFunc timer, so a parked consumer
// blocks on a single channel (a timer channel in a select made each wake-up
// about 30% slower here) and Wait allocates nothing. A token left by an
// unneeded ring causes at most one spurious wake-up, after which the
// consumer re-checks the ring and its clock and parks again.
//
// # Performance
//
// Measured on the 2-vCPU development machine (AMD EPYC under KVM, Go 1.26),
// medians of -count 5; the benchmarks are in bench_test.go:
//
//   - Without cross-core traffic (BenchmarkUncontended) a push plus its
//     consumption costs about 9 ns (SPSC) and 15 ns (MPSC) against 34 ns for
//     a buffered channel: the XCHG of each publish dominates.
//   - Across cores a cache line round trip costs about 120 ns
//     (BenchmarkMachine), and a consumer that keeps up reads every line the
//     producer writes, so saturated throughput is close to a channel's:
//     about 1.0–1.4× for uint64 and BookTop elements (BenchmarkSPSC,
//     BenchmarkMPSC), and in occasional stretches of some runs the saturated
//     MPSC benchmarks ran at half a channel's speed (cause not established).
//     A lazier consumer (a ~400 ns pause between polls) reached 4× the
//     channel for SPSC but added ~450 ns to every handoff; Wait favours
//     latency.
//   - Handoff latency during a burst (BenchmarkHandoffLatency) is about
//     140–160 ns p50 / 160–210 ns p99 against 450–530 / 860–1060 ns for a
//     channel, whose receiver has parked; waking a parked consumer is
//     somewhat slower than with a channel (500–700 ns p50, 10–50% more).
//   - Fan-in, one SPSC ring per producer polled by one consumer, moves items
//     3–5× faster than one MPSC ring shared by 4 producers (BenchmarkFanIn).
//     The daemon still uses one MPSC ring: at ~35 ns per event it costs
//     0.35% of a core at 100k events/s, while fan-in needs a consumer that
//     can park on N rings (not in this API), a ring per connection
//     registered at run time for a venue's overlapping reconnects, and
//     loses the order between the old and the new connection's events.
//
// # Goroutine safety
//
// SPSC producer methods (TryPush, Claim, Commit) belong to one goroutine at
// a time, and so do the consumer methods (TryPop, Batch, At, Release, Wait)
// of both rings. MPSC producer methods are safe from any number of
// goroutines. Len and Cap are safe from anywhere; Len is a snapshot.
package ringbuf
