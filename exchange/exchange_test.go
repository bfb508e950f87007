package exchange

import (
	"testing"
	"unsafe"
)

func TestBookTopIsFixedSize(t *testing.T) {
	// The ring copies BookTop by value; keep it small and pointer-free.
	if got := unsafe.Sizeof(BookTop{}); got != 360 {
		t.Fatalf("BookTop is %d bytes; update TopK's doc if this is intended", got)
	}
}

func TestHistBuckets(t *testing.T) {
	var h Hist
	for _, tc := range []struct {
		ns     int64
		bucket int
	}{{0, 0}, {32, 0}, {33, 1}, {64, 1}, {65, 2}, {1 << 40, HistBuckets - 1}} {
		h = Hist{}
		h.Observe(tc.ns)
		b, _, _ := h.Snapshot()
		if b[tc.bucket] != 1 {
			t.Errorf("Observe(%d) not in bucket %d: %v", tc.ns, tc.bucket, b)
		}
		if tc.ns <= BucketBound(tc.bucket) == false && tc.bucket != HistBuckets-1 {
			t.Errorf("bound %d < %d", BucketBound(tc.bucket), tc.ns)
		}
	}
	h = Hist{}
	for i := int64(1); i <= 100; i++ {
		h.Observe(i * 10)
	}
	if q := h.Quantile(0.5); q != 512 {
		t.Errorf("p50 = %d", q)
	}
	if n := testing.AllocsPerRun(100, func() { h.Observe(1000) }); n != 0 {
		t.Fatal("Observe allocates")
	}
}

// TestHistMerge: merging adds buckets, sums and counts, and leaves the
// source as it was.
func TestHistMerge(t *testing.T) {
	var a, b Hist
	a.Observe(10)
	a.Observe(100)
	b.Observe(100)
	b.Observe(1 << 20)
	a.Merge(&b)
	got, sum, n := a.Snapshot()
	if n != 4 || sum != 10+100+100+1<<20 || got[0] != 1 || got[2] != 2 || got[15] != 1 {
		t.Fatalf("merged: buckets %v sum %d count %d", got, sum, n)
	}
	if _, sum, n := b.Snapshot(); n != 2 || sum != 100+1<<20 {
		t.Fatalf("source changed: sum %d count %d", sum, n)
	}
}

func TestKindOf(t *testing.T) {
	err := error(&Error{Kind: KindRateLimited, Venue: "binance", HTTPStatus: 429})
	if KindOf(err) != KindRateLimited {
		t.Fatal(KindOf(err))
	}
	if KindOf(nil) != KindUnknown {
		t.Fatal("nil")
	}
}

func TestBookTopHelpers(t *testing.T) {
	var b BookTop
	b.NBids, b.NAsks = 1, 1
	b.Bids[0] = Level{Px: 100, Qty: 1}
	b.Asks[0] = Level{Px: 100, Qty: 1}
	if !b.Crossed() {
		t.Fatal("locked book not reported crossed")
	}
	b.SetStale(CauseGap, 5)
	if !b.Stale() || b.NBids != 0 || b.Cause.String() != "gap" {
		t.Fatal("SetStale")
	}
}
