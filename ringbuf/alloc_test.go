package ringbuf

import (
	"context"
	"testing"
	"time"
)

// bookTop mirrors exchange.BookTop (352 bytes, no pointers); ringbuf may not
// import exchange, and the tests and benchmarks want the real payload size.
type bookTop struct {
	Seq, ExchTS, RecvTS             int64
	Venue, Flags, Cause, NBids, NAs uint8
	Inst                            uint16
	Bids, Asks                      [10]struct{ Px, Qty int64 }
}

// TestAllocs guards the claim that every hot-path call allocates nothing,
// for a small and for the real 352-byte element.
func TestAllocs(t *testing.T) {
	t.Run("uint64", func(t *testing.T) { testAllocs[uint64](t) })
	t.Run("bookTop", func(t *testing.T) { testAllocs[bookTop](t) })
}

func testAllocs[T any](t *testing.T) {
	ctx := context.Background()
	s := NewSPSC[T](64)
	m := NewMPSC[T](64)
	var v T
	tests := []struct {
		name string
		run  func()
	}{
		{"SPSC TryPush+TryPop", func() { s.TryPush(&v); s.TryPop(&v) }},
		{"SPSC Claim+Commit+TryPop", func() {
			p, _ := s.Claim()
			*p = v
			s.Commit()
			s.TryPop(&v)
		}},
		{"SPSC Batch+At+Release", func() {
			s.TryPush(&v)
			s.TryPush(&v)
			from, to := s.Batch(8)
			for q := from; q < to; q++ {
				v = *s.At(q)
			}
			s.Release(to)
		}},
		{"SPSC Wait ready", func() { s.TryPush(&v); s.Wait(ctx, time.Second); s.TryPop(&v) }},
		{"SPSC Len+Cap", func() { _ = s.Len() + s.Cap() }},
		{"MPSC TryPush+TryPop", func() { m.TryPush(&v); m.TryPop(&v) }},
		{"MPSC Claim+Commit+TryPop", func() {
			p, seq, _ := m.Claim()
			*p = v
			m.Commit(seq)
			m.TryPop(&v)
		}},
		{"MPSC Batch+At+Release", func() {
			m.TryPush(&v)
			m.TryPush(&v)
			from, to := m.Batch(8)
			for q := from; q < to; q++ {
				v = *m.At(q)
			}
			m.Release(to)
		}},
		{"MPSC Wait ready", func() { m.TryPush(&v); m.Wait(ctx, time.Second); m.TryPop(&v) }},
		{"MPSC Len+Cap", func() { _ = m.Len() + m.Cap() }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(1000, tt.run); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, n)
		}
	}
	// The slow path too: spin, yield, park on the reused timer, time out.
	for _, tt := range []struct {
		name string
		run  func()
	}{
		{"SPSC Wait park+timeout", func() { s.Wait(ctx, 200*time.Microsecond) }},
		{"MPSC Wait park+timeout", func() { m.Wait(ctx, 200*time.Microsecond) }},
	} {
		if n := testing.AllocsPerRun(20, tt.run); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, n)
		}
	}
}
