package ringbuf

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// ops is the common surface of both rings, so one specification covers
// both. claim/commit hide the one API difference (MPSC returns a sequence).
type ops interface {
	TryPush(v *uint64) bool
	TryPop(dst *uint64) bool
	Batch(max int) (from, to uint64)
	At(seq uint64) *uint64
	Release(to uint64)
	Wait(ctx context.Context, d time.Duration) bool
	Len() int
	Cap() int
	claim() (slot *uint64, seq uint64, ok bool)
	commit(seq uint64)
	bell() *doorbell
}

type spscOps struct{ *SPSC[uint64] }

func (r spscOps) claim() (*uint64, uint64, bool) {
	p, ok := r.Claim()
	return p, 0, ok
}
func (r spscOps) commit(uint64)   { r.Commit() }
func (r spscOps) bell() *doorbell { return &r.db }

type mpscOps struct{ *MPSC[uint64] }

func (r mpscOps) claim() (*uint64, uint64, bool) { return r.Claim() }
func (r mpscOps) commit(seq uint64)              { r.Commit(seq) }
func (r mpscOps) bell() *doorbell                { return &r.db }

var kinds = []struct {
	name string
	new  func(capacity int) ops
}{
	{"SPSC", func(c int) ops { return spscOps{NewSPSC[uint64](c)} }},
	{"MPSC", func(c int) ops { return mpscOps{NewMPSC[uint64](c)} }},
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	f()
}

func TestNewCapacity(t *testing.T) {
	tests := []struct {
		capacity int
		ok       bool
	}{
		{-4, false}, {0, false}, {1, false}, {3, false}, {6, false}, {1000, false},
		{2, true}, {4, true}, {1024, true}, {1 << 16, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.capacity), func(t *testing.T) {
			if !tt.ok {
				mustPanic(t, "NewSPSC", func() { NewSPSC[uint64](tt.capacity) })
				mustPanic(t, "NewMPSC", func() { NewMPSC[uint64](tt.capacity) })
				return
			}
			for _, k := range kinds {
				r := k.new(tt.capacity)
				if r.Cap() != tt.capacity || r.Len() != 0 {
					t.Errorf("%s: Cap=%d Len=%d, want %d 0", k.name, r.Cap(), r.Len(), tt.capacity)
				}
			}
		})
	}
}

// TestFullEmpty walks each ring from empty to full and back, one item at a
// time, and checks every edge: pops and batches on empty, pushes and claims
// on full, Len at each step.
func TestFullEmpty(t *testing.T) {
	for _, k := range kinds {
		for _, capacity := range []int{2, 4, 16} {
			t.Run(fmt.Sprintf("%s/%d", k.name, capacity), func(t *testing.T) {
				r := k.new(capacity)
				var v uint64
				if r.TryPop(&v) {
					t.Fatal("TryPop on empty ring succeeded")
				}
				if from, to := r.Batch(capacity); from != to {
					t.Fatalf("Batch on empty ring = [%d,%d)", from, to)
				}
				if r.Wait(context.Background(), 0) {
					t.Fatal("Wait(0) on empty ring = true")
				}
				for i := range capacity {
					v = uint64(100 + i)
					if !r.TryPush(&v) {
						t.Fatalf("TryPush %d of %d failed", i+1, capacity)
					}
					if r.Len() != i+1 {
						t.Fatalf("Len = %d, want %d", r.Len(), i+1)
					}
				}
				v = 999
				if r.TryPush(&v) {
					t.Fatal("TryPush on full ring succeeded")
				}
				if _, _, ok := r.claim(); ok {
					t.Fatal("Claim on full ring succeeded")
				}
				if r.Len() != capacity {
					t.Fatalf("Len on full = %d", r.Len())
				}
				if !r.Wait(context.Background(), 0) {
					t.Fatal("Wait(0) on full ring = false")
				}
				// Freeing one slot makes exactly one push possible.
				if !r.TryPop(&v) || v != 100 {
					t.Fatalf("TryPop = %d, want 100", v)
				}
				v = 200
				if !r.TryPush(&v) {
					t.Fatal("TryPush after one pop failed")
				}
				if r.TryPush(&v) {
					t.Fatal("second TryPush after one pop succeeded")
				}
				for i := 1; i < capacity; i++ {
					if !r.TryPop(&v) || v != uint64(100+i) {
						t.Fatalf("TryPop = %d, want %d", v, 100+i)
					}
				}
				if !r.TryPop(&v) || v != 200 {
					t.Fatalf("TryPop = %d, want 200", v)
				}
				if r.TryPop(&v) || r.Len() != 0 {
					t.Fatalf("ring not empty at the end: Len=%d", r.Len())
				}
			})
		}
	}
}

// TestWrapAround runs many laps through a small ring with every consumer
// style, so that sequences go far past the capacity and every slot is reused.
func TestWrapAround(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			const capacity, laps = 4, 50
			r := k.new(capacity)
			var next, want uint64
			for lap := range laps {
				// Fill to a lap-dependent level so head and tail cross slot
				// 0 at every offset.
				n := 1 + lap%capacity
				for range n {
					v := next
					if !r.TryPush(&v) {
						t.Fatalf("lap %d: push %d failed", lap, next)
					}
					next++
				}
				switch lap % 3 {
				case 0:
					for range n {
						var v uint64
						if !r.TryPop(&v) || v != want {
							t.Fatalf("lap %d: TryPop = %d, want %d", lap, v, want)
						}
						want++
					}
				default:
					from, to := r.Batch(capacity)
					if to-from != uint64(n) || from != want {
						t.Fatalf("lap %d: Batch = [%d,%d), want [%d,%d)", lap, from, to, want, want+uint64(n))
					}
					for s := from; s < to; s++ {
						if got := *r.At(s); got != s {
							t.Fatalf("lap %d: At(%d) = %d", lap, s, got)
						}
					}
					r.Release(to)
					want = to
				}
			}
			if want != next || want < 10*capacity {
				t.Fatalf("consumed %d of %d", want, next)
			}
		})
	}
}

// TestBatchLimits checks that Batch honours max, repeats its range until
// Release, and that partial releases keep the rest readable.
func TestBatchLimits(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r := k.new(8)
			for i := range uint64(6) {
				v := i * 10
				r.TryPush(&v)
			}
			tests := []struct {
				max      int
				from, to uint64
			}{
				{0, 0, 0}, {-1, 0, 0}, {1, 0, 1}, {4, 0, 4}, {100, 0, 6},
			}
			for _, tt := range tests {
				if from, to := r.Batch(tt.max); from != tt.from || to != tt.to {
					t.Errorf("Batch(%d) = [%d,%d), want [%d,%d)", tt.max, from, to, tt.from, tt.to)
				}
			}
			r.Release(2)
			if from, to := r.Batch(3); from != 2 || to != 5 {
				t.Fatalf("after Release(2): Batch(3) = [%d,%d), want [2,5)", from, to)
			}
			if *r.At(4) != 40 {
				t.Fatalf("At(4) = %d", *r.At(4))
			}
			r.Release(2) // releasing nothing is allowed
			var v uint64
			if !r.TryPop(&v) || v != 20 {
				t.Fatalf("TryPop after partial release = %d, want 20", v)
			}
			if r.Len() != 3 {
				t.Fatalf("Len = %d, want 3", r.Len())
			}
		})
	}
}

// TestMisuse checks that reading or releasing outside the readable range
// panics instead of racing with a producer.
func TestMisuse(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r := k.new(4)
			v := uint64(1)
			r.TryPush(&v)
			r.TryPush(&v)
			mustPanic(t, "At before Batch reveals it", func() {
				if k.name == "MPSC" {
					r.At(0) // MPSC knows nothing committed until Batch looks
				} else {
					r.At(2)
				}
			})
			from, to := r.Batch(1)
			// Slot 2 was never published: reading it would race with the
			// producer's next write.
			mustPanic(t, "At unpublished", func() { r.At(2) })
			mustPanic(t, "Release unpublished", func() { r.Release(3) })
			r.Release(to)
			mustPanic(t, "At released", func() { r.At(from) })
			mustPanic(t, "Release backwards", func() { r.Release(from) })
		})
	}
	t.Run("SPSC Commit without Claim", func(t *testing.T) {
		mustPanic(t, "Commit", func() { NewSPSC[int](2).Commit() })
	})
	t.Run("MPSC double Commit", func(t *testing.T) {
		r := NewMPSC[int](2)
		_, seq, _ := r.Claim()
		r.Commit(seq)
		mustPanic(t, "second Commit", func() { r.Commit(seq) })
		mustPanic(t, "Commit of unclaimed", func() { r.Commit(seq + 5) })
	})
}

func TestSPSCClaimCommit(t *testing.T) {
	r := NewSPSC[[4]uint64](2)
	p, ok := r.Claim()
	if !ok {
		t.Fatal("Claim on empty ring failed")
	}
	p[0], p[3] = 7, 9
	if r.Len() != 0 || r.Wait(context.Background(), 0) {
		t.Fatal("claimed slot visible before Commit")
	}
	// Claiming again before Commit is the same slot: an abandoned claim
	// costs nothing.
	if q, _ := r.Claim(); q != p {
		t.Fatal("second Claim returned another slot")
	}
	r.Commit()
	var got [4]uint64
	if !r.TryPop(&got) || got != [4]uint64{7, 0, 0, 9} {
		t.Fatalf("TryPop = %v", got)
	}
	// TryPush abandons a claim and uses its slot.
	r.Claim()
	v := [4]uint64{1, 2, 3, 4}
	if !r.TryPush(&v) {
		t.Fatal("TryPush after abandoned Claim failed")
	}
	mustPanic(t, "Commit after TryPush", r.Commit)
	if !r.TryPop(&got) || got != v {
		t.Fatalf("TryPop = %v, want %v", got, v)
	}
}

// TestMPSCClaimOrder specifies what the consumer sees while claims are
// committed out of order: only the contiguous committed prefix.
func TestMPSCClaimOrder(t *testing.T) {
	r := NewMPSC[uint64](8)
	type claim struct {
		p   *uint64
		seq uint64
	}
	var cs []claim
	for i := range 4 {
		p, seq, ok := r.Claim()
		if !ok || seq != uint64(i) {
			t.Fatalf("Claim %d = seq %d ok %v", i, seq, ok)
		}
		*p = 100 + seq
		cs = append(cs, claim{p, seq})
	}
	if r.Len() != 4 {
		t.Fatalf("Len with 4 claims = %d", r.Len())
	}
	steps := []struct {
		commit   uint64
		from, to uint64
	}{
		{2, 0, 0}, // 0 and 1 still claimed
		{3, 0, 0},
		{0, 0, 1}, // 0 done, 1 still claimed: 2 and 3 wait for it
		{1, 0, 4},
	}
	for _, s := range steps {
		r.Commit(cs[s.commit].seq)
		if from, to := r.Batch(8); from != s.from || to != s.to {
			t.Fatalf("after Commit(%d): Batch = [%d,%d), want [%d,%d)", s.commit, from, to, s.from, s.to)
		}
	}
	for s := uint64(0); s < 4; s++ {
		if *r.At(s) != 100+s {
			t.Fatalf("At(%d) = %d", s, *r.At(s))
		}
	}
	// TryPop must not pass an uncommitted slot either.
	r.Release(4)
	_, seq, _ := r.Claim()
	v := uint64(55)
	r.TryPush(&v)
	var got uint64
	if r.TryPop(&got) {
		t.Fatal("TryPop passed a claimed slot")
	}
	r.Commit(seq)
	if !r.TryPop(&got) || !r.TryPop(&got) || got != 55 {
		t.Fatalf("TryPop after commit: last = %d, want 55", got)
	}
}
