package binance

import (
	"encoding/json"
	"testing"

	"arb/exchange"
)

// TestBufferCap: while a snapshot is awaited, the diff buffer holds at most
// maxBufEvents events; past it the buffer restarts from the current event,
// and a snapshot taken after the restart point still syncs the book.
func TestBufferCap(t *testing.T) {
	h := newHarness(t, baseConfig("", 0, testInst("BTCUSDT", 1, 2, 5)), 0)
	h.s.NeedSnapshot()
	lv := []exchange.Level{{Px: 6_000_000, Qty: 100000}}
	n := maxBufEvents + 10
	for k := 0; k < n; k++ {
		u := uint64(1000 + k)
		h.s.HandleFrame(depthFrame("BTCUSDT", num2_5, 1, u, u, lv, nil), int64(k))
		if b := &h.s.books[0]; len(b.buf) > maxBufEvents || h.s.buffered != len(b.lv) {
			t.Fatalf("event %d: %d buffered, %d levels counted, %d held", k, len(b.buf), h.s.buffered, len(b.lv))
		}
	}
	b := &h.s.books[0]
	if len(b.buf) != n-maxBufEvents || b.buf[0].U != uint64(1000+maxBufEvents) {
		t.Fatalf("after overflow the buffer holds %d events from %d", len(b.buf), b.buf[0].U)
	}
	// A snapshot from before the restart point is too old ...
	h.s.ApplySnapshot(0, snapshotBody(num2_5, 1000, nil, []exchange.Level{{Px: 6_000_010, Qty: 1}}), int64(n))
	if evs := h.drain(); len(evs) != 0 {
		t.Fatalf("published from a snapshot older than the buffer: %+v", evs)
	}
	if _, ok := h.needAfterBackoff(); !ok {
		t.Fatal("no refetch")
	}
	// ... one inside the buffered range syncs.
	h.s.ApplySnapshot(0, snapshotBody(num2_5, uint64(1000+maxBufEvents+3), nil, []exchange.Level{{Px: 6_000_010, Qty: 1}}), int64(n))
	evs := h.drain()
	if len(evs) != 1 || evs[0].Stale() || evs[0].Seq != uint64(1000+n-1) || evs[0].NBids != 1 || h.s.buffered != 0 {
		t.Fatalf("%+v buffered %d", evs, h.s.buffered)
	}
}

// TestCaseSensitiveKeys: Binance sends "e" and "E", "u" and "U". The
// scanner matches keys exactly; encoding/json matches them case-insensitively,
// so a struct declaring only one of a pair is fed the other's value — the
// pitfall the docs warn about.
func TestCaseSensitiveKeys(t *testing.T) {
	frame := readDoc(t, "ws_diff_depth_payload.json")
	var onlyLast struct {
		Last int64 `json:"u"`
	}
	if err := json.Unmarshal(frame, &onlyLast); err != nil || onlyLast.Last != 160 {
		t.Fatalf("encoding/json: %v %d", err, onlyLast.Last)
	}
	var onlyTime struct {
		Time int64 `json:"E"`
	}
	if err := json.Unmarshal(frame, &onlyTime); err == nil {
		t.Fatalf("encoding/json read %q into E without error: %d", "e", onlyTime.Time)
	}
	var onlyFirst struct {
		First int64 `json:"U"`
	}
	if err := json.Unmarshal(frame, &onlyFirst); err != nil || onlyFirst.First != 160 {
		t.Fatalf("encoding/json: expected U to be overwritten by u's 160: %v %d", err, onlyFirst.First)
	}
	p := newParser()
	p.parseFrame(frame)
	if p.sc.Err() != nil || p.m.U != 157 || p.m.u != 160 || p.m.E != 1672515782136 || string(p.m.e) != "depthUpdate" {
		t.Fatalf("scanner: %v %+v", p.sc.Err(), p.m)
	}
}
