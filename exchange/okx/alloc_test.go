package okx

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"arb/exchange"
)

// seqFrame is a push whose seqId (and prevSeqId, if present) are 12-digit
// decimals patched in place, so one buffer yields an endless valid chain
// without allocating.
type seqFrame struct {
	b             []byte
	prevAt, seqAt int // offsets of the digits; prevAt < 0 if absent
}

const seqDigits = 12

func newSeqFrame(t testing.TB, b []byte) *seqFrame {
	f := &seqFrame{b: b, prevAt: -1}
	if i := bytes.Index(b, []byte(`"prevSeqId":`)); i >= 0 {
		f.prevAt = i + len(`"prevSeqId":`)
	}
	i := bytes.Index(b, []byte(`"seqId":`))
	if i < 0 {
		t.Fatal("no seqId")
	}
	f.seqAt = i + len(`"seqId":`)
	for _, at := range []int{f.prevAt, f.seqAt} {
		if at >= 0 && (len(b) < at+seqDigits || b[at] == '0') {
			t.Fatalf("seq fields must have %d digits: %s", seqDigits, b)
		}
	}
	return f
}

// next advances the chain: prevSeqId = seqId, seqId++.
func (f *seqFrame) next() {
	if f.prevAt >= 0 {
		copy(f.b[f.prevAt:f.prevAt+seqDigits], f.b[f.seqAt:f.seqAt+seqDigits])
	}
	d := f.b[f.seqAt : f.seqAt+seqDigits]
	for k := len(d) - 1; k >= 0; k-- {
		if d[k] < '9' {
			d[k]++
			return
		}
		d[k] = '0'
	}
}

const seqBase = 100000000000 // 12 digits

// steadyBooks returns a harness with a synced 400-level book and an update
// frame (changing 6 levels, nonzero checksum, patched seq) that keeps it
// synced every time it is fed.
func steadyBooks(t testing.TB, checksum bool) (*harness, *seqFrame) {
	h := newHarness(t, "books", time.Second, testInst(1, "BTC-USDT", 1, 8))
	h.sess.SubscribeRequests(h.now)
	var bids, asks [][2]string
	for i := 0; i < 400; i++ {
		bids = append(bids, [2]string{fmt.Sprintf("%d.%d", 59999-i/10, 9-i%10), fmt.Sprintf("0.%04d", 1+i*7%9999)})
		asks = append(asks, [2]string{fmt.Sprintf("%d.%d", 60000+i/10, i%10), fmt.Sprintf("1.%03d", 1+i*3%999)})
	}
	ub := [][2]string{{"59999.9", "0.5"}, {"59999.5", "0.25"}, {"59998.1", "3"}}
	ua := [][2]string{{"60000", "0.75"}, {"60000.3", "2.5"}, {"60001.2", "0.01"}}
	ref := newRefBook()
	for _, side := range []struct {
		bid bool
		lv  [][2]string
	}{{true, bids}, {false, asks}, {true, ub}, {false, ua}} {
		for _, l := range side.lv {
			px, _ := refParse(l[0], 1)
			sz, _ := refParse(l[1], 8)
			ref.set(side.bid, refLevel{px, sz, l[0], l[1]})
		}
	}
	snapCK := refChecksumOf(bids, asks)
	updCK := ref.checksum()
	if !checksum {
		snapCK, updCK = 0, 0
	}
	h.frame(booksFrame("BTC-USDT", "snapshot", bids, asks, -1, seqBase, snapCK, 1700000000000))
	f := newSeqFrame(t, booksFrame("BTC-USDT", "update", ub, ua, seqBase, seqBase, updCK, 1700000000001))
	if evs := h.drain(); len(evs) != 1 || evs[0].Stale() {
		t.Fatalf("snapshot not accepted: %v", evs)
	}
	return h, f
}

// steadyFull returns a harness for a full-state channel and its doc push
// with a patched seqId.
func steadyFull(t testing.TB, channel, file string) (*harness, *seqFrame) {
	h := newHarness(t, channel, time.Second, testInst(1, "BCH-USDT-SWAP", 2, 0))
	h.sess.SubscribeRequests(h.now)
	b := bytes.Replace(docMember(t, file, "payload"), []byte(`"seqId":363996337`), []byte(fmt.Sprintf(`"seqId":%d`, int64(seqBase))), 1)
	return h, newSeqFrame(t, b)
}

// TestHotPathNoAllocs: steady-state frame handling allocates nothing — parse,
// sequence check, merge, checksum, publish — for every stream, plus pongs,
// keep-alives and Tick.
func TestHotPathNoAllocs(t *testing.T) {
	var ev exchange.BookTop
	run := func(name string, h *harness, step func()) {
		t.Helper()
		n := testing.AllocsPerRun(500, func() {
			step()
			for h.ring.TryPop(&ev) {
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocs per frame", name, n)
		}
		if h.stats.Rejects(exchange.RejectSequence)+h.stats.Rejects(exchange.RejectSyntax)+h.stats.ChecksumFailures.Load() != 0 || !h.sess.Synced() {
			t.Errorf("%s: the steady state was not steady", name)
		}
	}
	for _, ck := range []bool{true, false} {
		h, f := steadyBooks(t, ck)
		run(fmt.Sprintf("books update (checksum %v)", ck), h, func() { f.next(); h.frame(f.b) })
	}
	h, f := steadyBooks(t, true)
	snap := booksFrame("BTC-USDT", "snapshot", [][2]string{{"1.5", "2"}}, [][2]string{{"2", "1"}}, -1, 5, refChecksumOf([][2]string{{"1.5", "2"}}, [][2]string{{"2", "1"}}), 1)
	run("books snapshot", h, func() { h.frame(snap) })
	h, f = steadyBooks(t, true)
	ka := newSeqFrame(t, booksFrame("BTC-USDT", "update", nil, nil, seqBase+1, seqBase+1, 0, 1))
	f.next()
	h.frame(f.b)
	run("books keep-alive", h, func() { h.frame(ka.b) })
	pong := []byte("pong")
	run("pong", h, func() { h.frame(pong) })
	run("tick", h, func() { h.now += int64(100 * time.Millisecond); h.sess.Tick(h.now) })
	for _, s := range []struct{ ch, file string }{{"bbo", "ws_bbo_tbt_push.json"}, {"books5", "ws_books5_push.json"}} {
		h, f := steadyFull(t, s.ch, s.file)
		h.frame(f.b)
		run(s.ch, h, func() { f.next(); h.frame(f.b) })
	}
	h, _ = steadyBooks(t, true)
	n := testing.AllocsPerRun(100, func() { _ = h.sess.checksum(h.sess.books[0].l2) })
	if n != 0 {
		t.Errorf("checksum: %v allocs", n)
	}
}
