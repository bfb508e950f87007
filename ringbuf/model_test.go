package ringbuf

import (
	"context"
	"math/rand/v2"
	"testing"
)

// modelRun drives one ring and a slow, obviously-right model side by side
// with the operations encoded in prog, and fails on the first difference.
//
// The model is a Go channel of capacity c holding exactly what the consumer
// may see, in order, plus:
//   - front: items peeked off the channel by a Batch but not released yet;
//   - pending (MPSC): reserved items, in reservation order, not yet visible
//     because they or an older reservation are still claimed;
//   - spscClaim (SPSC): the value written into an outstanding claim.
//
// Every push is tagged with a fresh value, so a lost, duplicated or reordered
// item is a mismatch.
func modelRun(t *testing.T, multi bool, prog []byte) {
	t.Helper()
	p := 0
	next := func() byte {
		if p >= len(prog) {
			return 0
		}
		b := prog[p]
		p++
		return b
	}
	capacity := 2 << (next() % 4) // 2, 4, 8, 16
	var r ops
	if multi {
		r = mpscOps{NewMPSC[uint64](capacity)}
	} else {
		r = spscOps{NewSPSC[uint64](capacity)}
	}

	type entry struct {
		val, seq  uint64
		committed bool
		slot      *uint64
	}
	var (
		ch        = make(chan uint64, capacity)
		front     []uint64
		pending   []entry
		reserved  uint64 // MPSC: sequences handed out so far
		spscClaim *uint64
		val       uint64 = 1
	)
	visible := func() int { return len(front) + len(ch) }
	occupied := func() int { return visible() + len(pending) }
	// flush moves the committed prefix of pending into the channel.
	flush := func() {
		for len(pending) > 0 && pending[0].committed {
			ch <- pending[0].val
			pending = pending[1:]
		}
	}
	peek := func(n int) []uint64 {
		for len(front) < n {
			front = append(front, <-ch)
		}
		return front[:n]
	}
	pop := func() uint64 {
		peek(1)
		v := front[0]
		front = front[1:]
		return v
	}

	for step := 0; p < len(prog); step++ {
		op := next() % 8
		switch op {
		case 0, 1, 7: // TryPush
			want := occupied() < capacity
			v := val
			val++
			if got := r.TryPush(&v); got != want {
				t.Fatalf("step %d: TryPush = %v, want %v (occupied %d/%d)", step, got, want, occupied(), capacity)
			}
			spscClaim = nil // a push abandons an SPSC claim
			if want {
				if multi {
					pending = append(pending, entry{val: v, seq: reserved, committed: true})
					reserved++
					flush()
				} else {
					ch <- v
				}
			}
		case 2: // TryPop
			want := visible() > 0
			var got uint64
			if ok := r.TryPop(&got); ok != want {
				t.Fatalf("step %d: TryPop = %v, want %v", step, ok, want)
			}
			if want {
				if w := pop(); got != w {
					t.Fatalf("step %d: TryPop value %d, want %d", step, got, w)
				}
			}
		case 3: // Batch, read in place, release a prefix
			limit := int(next()%uint8(capacity+2)) - 1
			n := min(max(limit, 0), visible())
			from, to := r.Batch(limit)
			if int(to-from) != n {
				t.Fatalf("step %d: Batch(%d) gave %d items, want %d", step, limit, to-from, n)
			}
			want := peek(n)
			for i := range n {
				if got := *r.At(from + uint64(i)); got != want[i] {
					t.Fatalf("step %d: At(%d) = %d, want %d", step, from+uint64(i), got, want[i])
				}
			}
			keep := int(next()) % (n + 1)
			r.Release(from + uint64(keep))
			front = front[keep:]
		case 4: // Claim and fill
			want := occupied() < capacity
			slot, seq, ok := r.claim()
			if ok != want {
				t.Fatalf("step %d: Claim = %v, want %v", step, ok, want)
			}
			if !ok {
				break
			}
			v := val
			val++
			*slot = v
			if multi {
				if seq != reserved {
					t.Fatalf("step %d: Claim seq %d, want %d", step, seq, reserved)
				}
				pending = append(pending, entry{val: v, seq: seq, slot: slot})
				reserved++
			} else {
				if spscClaim != nil && spscClaim != slot {
					t.Fatalf("step %d: second Claim moved to another slot", step)
				}
				spscClaim = slot
			}
		case 5: // Commit one outstanding claim
			if multi {
				var open []int
				for i, e := range pending {
					if !e.committed {
						open = append(open, i)
					}
				}
				if len(open) == 0 {
					break
				}
				i := open[int(next())%len(open)]
				r.commit(pending[i].seq)
				pending[i].committed = true
				flush()
			} else if spscClaim != nil {
				r.commit(0)
				ch <- *spscClaim
				spscClaim = nil
			}
		case 6: // Len and readiness are checked after every step anyway
		}
		if r.Len() != occupied() {
			t.Fatalf("step %d (op %d): Len = %d, want %d", step, op, r.Len(), occupied())
		}
		if got := r.Wait(context.Background(), 0); got != (visible() > 0) {
			t.Fatalf("step %d (op %d): Wait(0) = %v, want %v", step, op, got, visible() > 0)
		}
	}

	// Commit whatever is still claimed and drain: everything must come out.
	for i, e := range pending {
		if !e.committed {
			r.commit(e.seq)
			pending[i].committed = true
		}
	}
	flush()
	for visible() > 0 {
		var got uint64
		if !r.TryPop(&got) {
			t.Fatalf("drain: TryPop failed with %d items in the model", visible())
		}
		if w := pop(); got != w {
			t.Fatalf("drain: got %d, want %d", got, w)
		}
	}
	var got uint64
	if r.TryPop(&got) || r.Len() != 0 {
		t.Fatalf("drain: ring not empty, Len=%d", r.Len())
	}
}

// TestModel runs both rings against the model on random programs. The seed
// of a failing case is in the subtest name.
func TestModel(t *testing.T) {
	const seeds, progLen = 300, 600
	for _, multi := range []bool{false, true} {
		name := "SPSC"
		if multi {
			name = "MPSC"
		}
		for seed := range uint64(seeds) {
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			prog := make([]byte, progLen)
			for i := range prog {
				prog[i] = byte(rng.Uint32())
			}
			// Bias half the programs towards pushes or pops so that both
			// the full and the empty edge are visited often.
			switch seed % 4 {
			case 1:
				for i := 1; i < len(prog); i += 3 {
					prog[i] &^= 7 // op 0: push
				}
			case 2:
				for i := 1; i < len(prog); i += 3 {
					prog[i] = prog[i]&^7 | 2 // op 2: pop
				}
			}
			ok := t.Run(name, func(t *testing.T) { modelRun(t, multi, prog) })
			if !ok {
				t.Fatalf("%s failed with seed %d", name, seed)
			}
		}
	}
}

func modelSeeds(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 2, 3, 3, 1})                 // fill, pop, batch
	f.Add([]byte{0, 4, 4, 5, 0, 5, 1, 3, 9, 0})                 // claims committed out of order
	f.Add([]byte{2, 4, 0, 4, 5, 0, 7, 3, 17, 2, 2, 2, 0, 1, 7}) // abandoned claim, wrap
}

func FuzzSPSCModel(f *testing.F) {
	modelSeeds(f)
	f.Fuzz(func(t *testing.T, prog []byte) { modelRun(t, false, prog) })
}

func FuzzMPSCModel(f *testing.F) {
	modelSeeds(f)
	f.Fuzz(func(t *testing.T, prog []byte) { modelRun(t, true, prog) })
}
