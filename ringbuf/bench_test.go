package ringbuf

import (
	"context"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// Benchmarks compare each ring with a buffered channel of the same element
// type and capacity in the same run, so the ratio is read off one run. One
// op is one item handed from a producer to the consumer. Both consumers copy
// every item out (a channel receive must; the ring could read in place), so
// the ring is not flattered by skipping the copy.
//
//	go test -run '^$' -bench . -benchmem -count 5 ./ringbuf/
const (
	benchCap       = 1024 // slots, both for the ring and the channel
	benchBatch     = 256  // most items the ring consumer takes per Batch
	benchProducers = 4
)

// benchSink keeps consumed values alive so the copies are not optimised away.
var benchSink atomic.Uint64

func keep[T any](v *T) {
	benchSink.Add(uint64(*(*byte)(unsafe.Pointer(v))))
}

func TestBookTopSize(t *testing.T) {
	if n := unsafe.Sizeof(bookTop{}); n != 352 {
		t.Fatalf("bookTop is %d bytes, want 352 like exchange.BookTop", n)
	}
}

func BenchmarkSPSC(b *testing.B) {
	b.Run("ring", func(b *testing.B) { benchRing(b, NewSPSC[uint64](benchCap), 1, idleWait) })
	b.Run("chan", func(b *testing.B) { benchChan[uint64](b, 1) })
	b.Run("ring-booktop", func(b *testing.B) { benchRing(b, NewSPSC[bookTop](benchCap), 1, idleWait) })
	b.Run("chan-booktop", func(b *testing.B) { benchChan[bookTop](b, 1) })
	// ring-yield: the same ring with a consumer that yields instead of
	// spinning and parking (BenchmarkFanIn's policy), which lets it share a
	// P with the producer: the price of the consumer sitting on another core.
	b.Run("ring-yield", func(b *testing.B) { benchRing(b, NewSPSC[uint64](benchCap), 1, idleYield) })
}

func BenchmarkMPSC(b *testing.B) {
	b.Run("ring", func(b *testing.B) { benchRing(b, NewMPSC[uint64](benchCap), benchProducers, idleWait) })
	b.Run("chan", func(b *testing.B) { benchChan[uint64](b, benchProducers) })
	b.Run("ring-booktop", func(b *testing.B) { benchRing(b, NewMPSC[bookTop](benchCap), benchProducers, idleWait) })
	b.Run("chan-booktop", func(b *testing.B) { benchChan[bookTop](b, benchProducers) })
}

// BenchmarkFanIn compares the daemon's choice, one MPSC ring shared by 4
// producers, with the alternative of one SPSC ring per producer polled by
// one consumer. A consumer of N rings cannot park on all of them with this
// API, so both consumers here use the same idle policy, runtime.Gosched when
// nothing is ready: the comparison is of the rings, not of wait strategies.
func BenchmarkFanIn(b *testing.B) {
	b.Run("mpsc", func(b *testing.B) { benchRing(b, NewMPSC[uint64](benchCap), benchProducers, idleYield) })
	b.Run("spsc4", func(b *testing.B) { benchFanIn[uint64](b, benchProducers) })
	b.Run("mpsc-booktop", func(b *testing.B) { benchRing(b, NewMPSC[bookTop](benchCap), benchProducers, idleYield) })
	b.Run("spsc4-booktop", func(b *testing.B) { benchFanIn[bookTop](b, benchProducers) })
}

// idlePolicy is what a benchmark consumer does when nothing is ready.
type idlePolicy int

const (
	idleWait  idlePolicy = iota + 1 // Wait: spin, yield, park (the real consumer)
	idleYield                       // runtime.Gosched and poll again (never parks)
)

// consumerRing is what the benchmark consumer and producers need of a ring.
type consumerRing[T any] interface {
	TryPush(v *T) bool
	Batch(max int) (from, to uint64)
	At(seq uint64) *T
	Release(to uint64)
	Wait(ctx context.Context, d time.Duration) bool
}

// share splits n items over p producers.
func share(n, p, i int) int {
	if i < n%p {
		return n/p + 1
	}
	return n / p
}

// startProducers starts p goroutines that block until start is closed, then
// run push(i, count). Starting them before the timer keeps goroutine creation
// out of the measurement and out of allocs/op.
func startProducers(n, p int, push func(i, count int)) (start chan struct{}, wg *sync.WaitGroup) {
	start = make(chan struct{})
	wg = new(sync.WaitGroup)
	for i := range p {
		wg.Go(func() {
			<-start
			push(i, share(n, p, i))
		})
	}
	return start, wg
}

func benchRing[T any, R consumerRing[T]](b *testing.B, r R, producers int, idle idlePolicy) {
	n := b.N
	start, wg := startProducers(n, producers, func(_, count int) {
		var v T
		for range count {
			for !r.TryPush(&v) {
				runtime.Gosched() // full: an adapter would conflate and go on reading
			}
		}
	})
	ctx := context.Background()
	var dst T
	b.ReportAllocs()
	b.ResetTimer()
	close(start)
	for got := 0; got < n; {
		from, to := r.Batch(benchBatch)
		if from == to {
			if idle == idleWait {
				r.Wait(ctx, time.Second)
			} else {
				runtime.Gosched()
			}
			continue
		}
		for s := from; s < to; s++ {
			dst = *r.At(s)
		}
		r.Release(to)
		got += int(to - from)
	}
	wg.Wait()
	b.StopTimer()
	keep(&dst)
}

func benchChan[T any](b *testing.B, producers int) {
	n := b.N
	ch := make(chan T, benchCap)
	start, wg := startProducers(n, producers, func(_, count int) {
		var v T
		for range count {
			ch <- v
		}
	})
	var dst T
	b.ReportAllocs()
	b.ResetTimer()
	close(start)
	for range n {
		dst = <-ch
	}
	wg.Wait()
	b.StopTimer()
	keep(&dst)
}

// benchFanIn gives each producer its own SPSC ring of benchCap/producers
// slots (the same total memory as the MPSC ring) and has the consumer poll
// them round robin, yielding (runtime.Gosched) when all are empty.
func benchFanIn[T any](b *testing.B, producers int) {
	n := b.N
	rings := make([]*SPSC[T], producers)
	for i := range rings {
		rings[i] = NewSPSC[T](benchCap / producers)
	}
	start, wg := startProducers(n, producers, func(i, count int) {
		r := rings[i]
		var v T
		for range count {
			for !r.TryPush(&v) {
				runtime.Gosched()
			}
		}
	})
	var dst T
	b.ReportAllocs()
	b.ResetTimer()
	close(start)
	for got := 0; got < n; {
		idle := true
		for _, r := range rings {
			from, to := r.Batch(benchBatch)
			if from == to {
				continue
			}
			idle = false
			for s := from; s < to; s++ {
				dst = *r.At(s)
			}
			r.Release(to)
			got += int(to - from)
		}
		if idle {
			runtime.Gosched()
		}
	}
	wg.Wait()
	b.StopTimer()
	keep(&dst)
}

// BenchmarkHandoffLatency measures one-way handoff latency: the producer
// stamps a monotonic time into the element, the consumer subtracts it from
// its own clock on receipt. The producer sends the next item only after the
// previous one was received, so this is latency without queueing; after a
// send it keeps its core busy (like an adapter parsing the next frame).
//
//   - ring, chan: back to back, a burst. The ring consumer is still in
//     Wait's spin; a channel receiver parks as soon as the channel is empty
//     and has to be woken by the send.
//   - ring-idle, chan-idle: the producer lets 20 µs pass between items
//     (yielding its core meanwhile), so both consumers have parked (the ring's
//     on its doorbell) and must be woken, like the detector between bursts of
//     market data.
func BenchmarkHandoffLatency(b *testing.B) {
	b.Run("ring", func(b *testing.B) { benchLatency(b, true, 0) })
	b.Run("chan", func(b *testing.B) { benchLatency(b, false, 0) })
	b.Run("ring-idle", func(b *testing.B) { benchLatency(b, true, 20*time.Microsecond) })
	b.Run("chan-idle", func(b *testing.B) { benchLatency(b, false, 20*time.Microsecond) })
}

func benchLatency(b *testing.B, ring bool, gap time.Duration) {
	n := b.N
	epoch := time.Now()
	now := func() int64 { return int64(time.Since(epoch)) }
	r := NewMPSC[int64](benchCap) // the daemon's ring type
	ch := make(chan int64, benchCap)
	var received atomic.Int64
	start, wg := startProducers(n, 1, func(_, count int) {
		for i := range count {
			// Spin for the previous item's receipt, yielding only now and
			// then: yielding on every poll shuffles both goroutines through
			// the run queues until they share one P, and the benchmark then
			// measures Go's scheduler instead of the handoff.
			for k := 1; received.Load() < int64(i); k++ {
				if k%1024 == 0 {
					runtime.Gosched()
				}
			}
			// time.Sleep would round up to the runtime's timer granularity
			// (about 1 ms when all Ps idle); a yielding wait is exact enough.
			for t0 := time.Now(); gap > 0 && time.Since(t0) < gap; {
				runtime.Gosched()
			}
			v := now()
			if ring {
				r.TryPush(&v) // never full: one item in flight
			} else {
				ch <- v
			}
		}
	})
	var h latHist
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	close(start)
	for i := range n {
		var v int64
		if ring {
			for !r.TryPop(&v) {
				r.Wait(ctx, time.Second)
			}
		} else {
			v = <-ch
		}
		h.add(now() - v)
		received.Store(int64(i + 1))
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(h.quantile(0.50)), "p50-ns")
	b.ReportMetric(float64(h.quantile(0.99)), "p99-ns")
}

// latHist is a log-linear histogram of nanoseconds with 64 sub-buckets per
// power of two (≤1.6% error), so recording allocates nothing and needs no
// per-sample storage.
type latHist struct {
	counts [58 * 64]uint64
	n      uint64
}

func latBucket(v uint64) int {
	if v < 128 {
		return int(v)
	}
	shift := bits.Len64(v) - 7
	return shift*64 + int(v>>shift)
}

// latLower is the smallest value in bucket i; latBucket(latLower(i)) == i.
func latLower(i int) uint64 {
	if i < 128 {
		return uint64(i)
	}
	shift := i/64 - 1
	return uint64(i-shift*64) << shift
}

func (h *latHist) add(ns int64) {
	if ns < 0 {
		ns = 0
	}
	h.counts[latBucket(uint64(ns))]++
	h.n++
}

// quantile returns the midpoint of the bucket holding quantile q.
func (h *latHist) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n-1))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			return (latLower(i) + latLower(i+1)) / 2
		}
	}
	return latLower(len(h.counts) - 1)
}

func TestLatHist(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 12345, 1 << 40, 1<<63 + 12345} {
		i := latBucket(v)
		if lo, hi := latLower(i), latLower(i+1); v < lo || (i+1 < 58*64 && v >= hi) {
			t.Errorf("value %d in bucket %d = [%d,%d)", v, i, lo, hi)
		}
	}
	var h latHist
	for v := int64(1); v <= 1000; v++ {
		h.add(v * 100) // 100 … 100000 ns, uniform
	}
	tests := []struct {
		q    float64
		want uint64
	}{{0.5, 50000}, {0.99, 99000}}
	for _, tt := range tests {
		got := h.quantile(tt.q)
		if got < tt.want*98/100 || got > tt.want*102/100 {
			t.Errorf("quantile(%v) = %d, want %d ±2%%", tt.q, got, tt.want)
		}
	}
}

// BenchmarkUncontended pushes 64 items and then consumes them, all in one
// goroutine: the CPU cost per item when no cache line crosses cores. Its
// ring/channel ratio is the ceiling of the cross-core ratios above on the
// same machine.
func BenchmarkUncontended(b *testing.B) {
	b.Run("spsc", func(b *testing.B) { benchUncontended(b, NewSPSC[uint64](benchCap)) })
	b.Run("mpsc", func(b *testing.B) { benchUncontended(b, NewMPSC[uint64](benchCap)) })
	b.Run("chan", func(b *testing.B) {
		ch := make(chan uint64, benchCap)
		var v, sum uint64
		b.ReportAllocs()
		for i := 0; i < b.N; i += 64 {
			for range 64 {
				ch <- v
			}
			for range 64 {
				sum += <-ch
			}
		}
		keep(&sum)
	})
}

func benchUncontended[R consumerRing[uint64]](b *testing.B, r R) {
	var v, sum uint64
	b.ReportAllocs()
	for i := 0; i < b.N; i += 64 {
		for range 64 {
			r.TryPush(&v)
		}
		from, to := r.Batch(64)
		for s := from; s < to; s++ {
			sum += *r.At(s)
		}
		r.Release(to)
	}
	keep(&sum)
}

// BenchmarkMachine measures the two costs that bound every ring on the
// machine at hand, so that the ring/channel ratios can be explained:
//
//   - atomic-store: one sync/atomic store, which Go compiles to XCHG on amd64
//     (a full fence; Go has no release-only store). Every publish pays it.
//   - cas: one uncontended compare-and-swap (an MPSC reservation).
//   - line-roundtrip: one cache line bounced to the other core and back,
//     the price of a poll that finds the producer's line modified.
func BenchmarkMachine(b *testing.B) {
	b.Run("atomic-store", func(b *testing.B) {
		var u atomic.Uint64
		for i := range b.N {
			u.Store(uint64(i))
		}
	})
	b.Run("cas", func(b *testing.B) {
		var u atomic.Uint64
		for i := range b.N {
			u.CompareAndSwap(uint64(i), uint64(i+1))
		}
	})
	b.Run("line-roundtrip", func(b *testing.B) {
		var lines struct {
			_    pad
			ping atomic.Uint64
			_    pad
			pong atomic.Uint64
			_    pad
		}
		// await spins on v, yielding now and then: if both goroutines ever
		// share one core (other load on the machine), a pure spin would
		// wait for preemption, milliseconds per op.
		await := func(v *atomic.Uint64, want uint64) {
			for i := 1; v.Load() != want; i++ {
				if i%1024 == 0 {
					runtime.Gosched()
				}
			}
		}
		n := uint64(b.N)
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := uint64(1); i <= n; i++ {
				await(&lines.ping, i)
				lines.pong.Store(i)
			}
		})
		for i := uint64(1); i <= n; i++ {
			lines.ping.Store(i)
			await(&lines.pong, i)
		}
		wg.Wait()
	})
}
