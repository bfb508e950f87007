package exchange

import (
	"math/bits"
	"sync/atomic"
)

// RejectReason classifies input a feed refused. The values label the metric
// arb_feed_rejects_total{venue,reason}; only ever appended to.
type RejectReason uint8

// Reject reasons.
const (
	RejectSyntax        RejectReason = iota + 1 // malformed or truncated JSON, wrong value types
	RejectNumber                                // empty, NaN, negative, too precise or too large price/quantity
	RejectUnknownSymbol                         // a symbol or channel we did not subscribe to
	RejectSequence                              // out-of-order or duplicate sequence numbers
	RejectCrossed                               // the book would be crossed after the update
	RejectTooLarge                              // frame or level count over the configured cap
	RejectUnexpected                            // a message type or venue error we do not handle
	RejectObsolete                              // a message in a format the venue no longer sends (OKX pushes without seqId)
	numRejectReasons
)

// NumRejectReasons is the number of reject reasons (for iteration).
const NumRejectReasons = int(numRejectReasons)

var rejectNames = [...]string{"", "syntax", "number", "unknown_symbol", "sequence", "crossed", "too_large", "unexpected", "obsolete_format"}

// String returns the reason's metric label.
func (r RejectReason) String() string {
	if int(r) < len(rejectNames) && r != 0 {
		return rejectNames[r]
	}
	return "unknown"
}

// FeedStats are one feed's counters. Feeds increment them from their read
// goroutine; exporters read them from any goroutine. All fields are atomic and
// the struct must not be copied.
type FeedStats struct {
	Messages         atomic.Uint64 // data frames received
	Published        atomic.Uint64 // BookTop events handed to the ring
	Conflated        atomic.Uint64 // events replaced by a newer one while the ring was full
	Resyncs          atomic.Uint64 // book rebuilds (snapshot fetched or resubscribed)
	Gaps             atomic.Uint64 // sequence gaps detected
	ChecksumFailures atomic.Uint64 // venue checksum mismatches
	Reconnects       atomic.Uint64 // connections re-established after the first
	Connected        atomic.Int64  // 1 while a connection is up
	rejects          [numRejectReasons]atomic.Uint64
	ParseLatency     Hist // frame receipt to event published, ns
}

// Reject counts one rejection.
func (s *FeedStats) Reject(r RejectReason) {
	if r < numRejectReasons {
		s.rejects[r].Add(1)
	}
}

// Rejects returns the count for one reason.
func (s *FeedStats) Rejects(r RejectReason) uint64 {
	if r < numRejectReasons {
		return s.rejects[r].Load()
	}
	return 0
}

// HistBuckets is the number of buckets of a Hist.
const HistBuckets = 24

// Hist is a lock-free latency histogram with power-of-two buckets: bucket i
// counts values v ≤ 2^(i+5) ns (32 ns … 268 ms); the last bucket also takes
// everything larger. Observe costs two atomic adds and never allocates.
type Hist struct {
	buckets [HistBuckets]atomic.Uint64
	sum     atomic.Int64
	count   atomic.Uint64
}

// Observe records one value in ns.
func (h *Hist) Observe(ns int64) {
	if ns < 0 {
		ns = 0
	}
	i := 0
	if ns > 32 {
		i = bits.Len64(uint64(ns-1)) - 5
		if i >= HistBuckets {
			i = HistBuckets - 1
		}
	}
	h.buckets[i].Add(1)
	h.sum.Add(ns)
	h.count.Add(1)
}

// Merge adds o's observations to h (o may be observed concurrently; see
// Snapshot). It lets a process keep one histogram across replaced
// producers: fold the old producer's in, add the current one's at read time.
func (h *Hist) Merge(o *Hist) {
	b, sum, n := o.Snapshot()
	for i, c := range b {
		if c > 0 {
			h.buckets[i].Add(c)
		}
	}
	h.sum.Add(sum)
	h.count.Add(n)
}

// BucketBound returns the inclusive upper bound in ns of bucket i.
func BucketBound(i int) int64 { return int64(1) << (i + 5) }

// Snapshot returns per-bucket (non-cumulative) counts, the sum and the count.
// Concurrent Observes may make the three slightly inconsistent; exporters
// tolerate that.
func (h *Hist) Snapshot() (buckets [HistBuckets]uint64, sum int64, count uint64) {
	for i := range buckets {
		buckets[i] = h.buckets[i].Load()
	}
	return buckets, h.sum.Load(), h.count.Load()
}

// Quantile returns an upper estimate (the bucket bound) of quantile q in ns,
// or 0 with no observations.
func (h *Hist) Quantile(q float64) int64 {
	b, _, n := h.Snapshot()
	if n == 0 {
		return 0
	}
	want := uint64(q*float64(n) + 0.5)
	if want == 0 {
		want = 1
	}
	var acc uint64
	for i, c := range b {
		acc += c
		if acc >= want {
			return BucketBound(i)
		}
	}
	return BucketBound(HistBuckets - 1)
}
