package ringbuf

import "testing"

// TestPushHook: the hook sees every published item's sequence once, in
// order, by TryPush and by Claim/Commit, and an item it was told of can be
// read at that sequence.
func TestPushHook(t *testing.T) {
	r := NewMPSC[int](8)
	var seen []uint64
	r.SetPushHook(func(seq uint64) {
		seen = append(seen, seq)
		if got := r.buf[seq&r.mask].v; got != int(seq)*10 {
			t.Errorf("hook for %d before its item was written (%d)", seq, got)
		}
	})
	for i := 0; i < 3; i++ {
		v := i * 10
		if !r.TryPush(&v) {
			t.Fatal("full")
		}
	}
	slot, seq, ok := r.Claim()
	if !ok {
		t.Fatal("full")
	}
	*slot = int(seq) * 10
	r.Commit(seq)
	if len(seen) != 4 || seen[0] != 0 || seen[3] != 3 {
		t.Fatalf("hook saw %v", seen)
	}
}
