package ringbuf

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// stressItems is the total number of items each stress test moves. Under
// -race it still finishes in a few seconds on 2 cores.
const stressItems = 1 << 20

// item tags a value with its producer (high 16 bits) and the producer's own
// sequence number (low 48 bits).
func item(producer, i uint64) uint64 { return producer<<48 | i }

// consumeChecked reads total items from r with a seeded mix of TryPop and
// Batch/At/Release (whole and partial releases), parks with Wait when the
// ring is empty, and checks that every producer's items arrive exactly once
// and in order.
func consumeChecked(t *testing.T, r ops, producers int, total uint64, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	want := make([]uint64, producers) // next expected sequence per producer
	check := func(v uint64) {
		p, i := v>>48, v&(1<<48-1)
		if p >= uint64(producers) {
			t.Fatalf("value %#x from unknown producer %d", v, p)
		}
		if i != want[p] {
			t.Fatalf("producer %d: got item %d, want %d (lost, duplicated or reordered)", p, i, want[p])
		}
		want[p]++
	}
	ctx := context.Background()
	for got := uint64(0); got < total; {
		if rng.IntN(4) == 0 {
			var v uint64
			if r.TryPop(&v) {
				check(v)
				got++
				continue
			}
		} else {
			from, to := r.Batch(1 + rng.IntN(64))
			if from != to {
				end := to
				if rng.IntN(4) == 0 {
					end = from + uint64(rng.IntN(int(to-from)+1)) // release only a prefix
				}
				for s := from; s < end; s++ {
					check(*r.At(s))
				}
				r.Release(end)
				got += end - from
				continue
			}
		}
		if !r.Wait(ctx, 10*time.Second) {
			t.Fatalf("Wait timed out with %d of %d items consumed: lost wake-up or lost item", got, total)
		}
	}
	for p, n := range want {
		if n != total/uint64(producers) {
			t.Errorf("producer %d: %d items consumed, want %d", p, n, total/uint64(producers))
		}
	}
	var v uint64
	if r.TryPop(&v) {
		t.Errorf("extra item %#x after all were consumed", v)
	}
}

// produce pushes n tagged items, alternating TryPush and Claim/Commit, and
// yields when the ring is full, as an adapter would (it would conflate). It
// gives up when ctx is done, so a failed consumer does not leave it spinning.
func produce(ctx context.Context, r ops, producer, n uint64) {
	for i := uint64(0); i < n; i++ {
		v := item(producer, i)
		for {
			if i%3 == 0 {
				if slot, seq, ok := r.claim(); ok {
					*slot = v
					r.commit(seq)
					break
				}
			} else if r.TryPush(&v) {
				break
			}
			if ctx.Err() != nil {
				return
			}
			runtime.Gosched()
		}
	}
}

func TestStressMPSC(t *testing.T) {
	const producers = 4
	r := mpscOps{NewMPSC[uint64](256)}
	var wg sync.WaitGroup
	for p := range uint64(producers) {
		wg.Go(func() { produce(t.Context(), r, p, stressItems/producers) })
	}
	consumeChecked(t, r, producers, stressItems, 42)
	wg.Wait()
}

func TestStressSPSC(t *testing.T) {
	r := spscOps{NewSPSC[uint64](256)}
	var wg sync.WaitGroup
	wg.Go(func() { produce(t.Context(), r, 0, stressItems) })
	consumeChecked(t, r, 1, stressItems, 7)
	wg.Wait()
}
