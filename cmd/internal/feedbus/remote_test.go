package feedbus

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"arb/exchange"
	"arb/exchange/num"
	"arb/ringbuf"
)

// fakeClock is a settable clock for deliver tests.
type fakeClock struct{ ns int64 }

func (c *fakeClock) now() int64 { return c.ns }

const testAge = 3 * time.Second

// newTestRemote returns a Remote for venue "binance" (id 2) with BTC-USDT
// (id 5, scale 2/8) and ETH-USDT (id 6, scale 2/8), delivering into a ring
// of capacity ringCap; deliver is called directly, without NATS.
func newTestRemote(t *testing.T, ringCap int) (*Remote, *ringbuf.MPSC[exchange.BookTop], *fakeClock) {
	t.Helper()
	ring := ringbuf.NewMPSC[exchange.BookTop](ringCap)
	clk := &fakeClock{ns: 1_000_000_000_000}
	r, err := NewRemote(RemoteConfig{
		Venue: 2, Name: "binance", Ring: ring, Conn: &nats.Conn{}, AgeMax: testAge, Now: clk.now,
		Instruments: []exchange.Instrument{
			{ID: 5, Venue: 2, Canonical: "BTC-USDT", Scale: num.Scale{Px: 2, Qty: 8}},
			{ID: 6, Venue: 2, Canonical: "ETH-USDT", Scale: num.Scale{Px: 2, Qty: 8}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, ring, clk
}

func book(seq uint64, bid, ask int64) exchange.BookTop {
	return exchange.BookTop{Seq: seq, ExchTS: int64(seq) * 10, RecvTS: int64(seq) * 11, NBids: 1, NAsks: 1, Gas: 77,
		Bids: [exchange.TopK]exchange.Level{{Px: num.Price(bid), Qty: 100}}, Asks: [exchange.TopK]exchange.Level{{Px: num.Price(ask), Qty: 200}}}
}

func msg(ev exchange.BookTop, term uint64, sc num.Scale) []byte {
	return Append(nil, &ev, &Header{Source: term * 1000, Term: term, PubTS: 1, Scale: sc})
}

var sc28 = num.Scale{Px: 2, Qty: 8}

// drain pops everything in the ring.
func drain(ring *ringbuf.MPSC[exchange.BookTop]) []exchange.BookTop {
	var out []exchange.BookTop
	var ev exchange.BookTop
	for ring.TryPop(&ev) {
		out = append(out, ev)
	}
	return out
}

// TestRemoteDelivers: an accepted message reaches the ring with the
// venue's sequence, both timestamps and gas as published, and this
// engine's venue and instrument ids.
func TestRemoteDelivers(t *testing.T) {
	r, ring, _ := newTestRemote(t, 16)
	in := book(100, 6000000, 6000100)
	r.deliver("arb.book.binance.ETH-USDT", msg(in, 1, sc28))
	got := drain(ring)
	if len(got) != 1 {
		t.Fatalf("%d events, want 1", len(got))
	}
	want := in
	want.Venue, want.Inst = 2, 6
	if got[0] != want {
		t.Fatalf("got %+v\nwant %+v", got[0], want)
	}
	if r.stats.Published.Load() != 1 || r.stats.Messages.Load() != 1 {
		t.Fatalf("stats: published %d messages %d", r.stats.Published.Load(), r.stats.Messages.Load())
	}
}

// TestRemoteClampsFutureRecvTS: a receive time ahead of the engine's
// clock (the feed host's clock runs ahead) is clamped to the engine's now,
// so the book cannot outlive its feed by the clock offset; one behind is
// kept as it is.
func TestRemoteClampsFutureRecvTS(t *testing.T) {
	r, ring, clk := newTestRemote(t, 16)
	ahead := book(1, 100, 101)
	ahead.RecvTS = clk.ns + int64(2*time.Second)
	behind := book(2, 100, 101)
	behind.RecvTS = clk.ns - int64(time.Second)
	r.deliver("arb.book.binance.BTC-USDT", msg(ahead, 1, sc28))
	r.deliver("arb.book.binance.BTC-USDT", msg(behind, 1, sc28))
	got := drain(ring)
	if len(got) != 2 || got[0].RecvTS != clk.ns || got[1].RecvTS != behind.RecvTS || got[0].ExchTS != ahead.ExchTS {
		t.Fatalf("got %+v", got)
	}
	if r.rs.Future.Load() != 1 {
		t.Fatalf("future %d", r.rs.Future.Load())
	}
}

// TestRemoteFencing: once a higher term has published, a lower term's
// messages are dropped (a deposed leader) — until the term in force has
// been silent for the age limit, when a lower term is taken (the lease
// bucket was recreated and numbers from 1 again).
func TestRemoteFencing(t *testing.T) {
	r, ring, clk := newTestRemote(t, 16)
	subj := "arb.book.binance.BTC-USDT"
	r.deliver(subj, msg(book(10, 100, 101), 5, sc28))
	r.deliver(subj, msg(book(11, 100, 101), 9, sc28)) // takeover
	r.deliver(subj, msg(book(12, 100, 101), 5, sc28)) // the old leader, still talking
	clk.ns += int64(testAge) / 2
	r.deliver(subj, msg(book(13, 100, 101), 5, sc28))
	if got := drain(ring); len(got) != 2 || got[0].Seq != 10 || got[1].Seq != 11 {
		t.Fatalf("delivered %v, want seqs 10, 11", seqs(got))
	}
	if r.rs.Fenced.Load() != 2 || r.rs.TermChange.Load() != 1 || r.rs.Term.Load() != 9 {
		t.Fatalf("fenced %d term changes %d term %d", r.rs.Fenced.Load(), r.rs.TermChange.Load(), r.rs.Term.Load())
	}
	clk.ns += int64(testAge) + 1 // term 9 silent for the age limit
	r.deliver(subj, msg(book(14, 100, 101), 2, sc28))
	r.deliver(subj, msg(book(15, 100, 101), 2, sc28))
	if got := drain(ring); len(got) != 2 || got[0].Seq != 14 {
		t.Fatalf("after silence delivered %v, want 14, 15", seqs(got))
	}
}

// TestRemoteTakeoverDuplicate: a new leader's republish of the state the
// old leader delivered last is dropped, its next states pass, and a
// same-term refresh of an unchanged book (the adapters republish quiet
// books with a new receive time) still passes.
func TestRemoteTakeoverDuplicate(t *testing.T) {
	r, ring, _ := newTestRemote(t, 16)
	subj := "arb.book.binance.BTC-USDT"
	r.deliver(subj, msg(book(100, 100, 101), 1, sc28))
	r.deliver(subj, msg(book(100, 100, 101), 2, sc28)) // takeover republish: same venue state
	r.deliver(subj, msg(book(101, 100, 101), 2, sc28))
	r.deliver(subj, msg(book(101, 100, 101), 2, sc28)) // refresh by the same leader
	got := drain(ring)
	if s := seqs(got); len(s) != 3 || s[0] != 100 || s[1] != 101 || s[2] != 101 {
		t.Fatalf("delivered %v, want 100 101 101", s)
	}
	if r.rs.Duplicates.Load() != 1 {
		t.Fatalf("duplicates %d, want 1", r.rs.Duplicates.Load())
	}
}

// TestRemoteRefuses: a message that does not decode is a counted
// rejection that marks its book stale (bad data); a subject for an
// instrument this engine does not list, or another venue, is a counted
// rejection that touches nothing.
func TestRemoteRefuses(t *testing.T) {
	r, ring, clk := newTestRemote(t, 16)
	r.deliver("arb.book.binance.BTC-USDT", msg(book(7, 100, 101), 1, sc28))
	bad := msg(book(8, 100, 101), 1, sc28)
	bad[0] = 9 // unknown version
	r.deliver("arb.book.binance.BTC-USDT", bad)
	r.deliver("arb.book.binance.DOGE-USDT", msg(book(9, 100, 101), 1, sc28))
	r.deliver("arb.book.okx.BTC-USDT", msg(book(9, 100, 101), 1, sc28))
	r.deliver("arb.book.binance", msg(book(9, 100, 101), 1, sc28))
	got := drain(ring)
	if len(got) != 2 || got[1].Inst != 5 || !got[1].Stale() || got[1].Cause != exchange.CauseBadData || got[1].RecvTS != clk.ns {
		t.Fatalf("got %+v", got)
	}
	if n := r.stats.Rejects(exchange.RejectObsolete); n != 1 {
		t.Fatalf("version rejects %d", n)
	}
	if n := r.stats.Rejects(exchange.RejectUnknownSymbol); n != 3 {
		t.Fatalf("unknown symbol rejects %d", n)
	}
}

// TestRemoteRescales: a feed whose scale is narrower than the engine's
// is widened exactly; one that cannot be narrowed exactly is refused and
// the book marked stale.
func TestRemoteRescales(t *testing.T) {
	r, ring, _ := newTestRemote(t, 16)
	subj := "arb.book.binance.BTC-USDT"
	r.deliver(subj, msg(book(1, 6000000, 6000010), 1, num.Scale{Px: 1, Qty: 6})) // 600000.0 / 600001.0
	r.deliver(subj, msg(book(2, 6000001, 6000010), 1, num.Scale{Px: 3, Qty: 8})) // 6000.001 does not fit 2 decimals
	got := drain(ring)
	if len(got) != 2 {
		t.Fatalf("%d events", len(got))
	}
	if got[0].Bids[0].Px != 60000000 || got[0].Bids[0].Qty != 10000 || got[0].Gas != 770 {
		t.Fatalf("widened: %+v", got[0].Bids[0])
	}
	if !got[1].Stale() || r.stats.Rejects(exchange.RejectNumber) != 1 {
		t.Fatalf("narrowing: %+v rejects %d", got[1], r.stats.Rejects(exchange.RejectNumber))
	}
}

// TestRemoteConflates: with the ring full, a book's newest event waits
// (replacing an older waiting one) and goes out once there is room.
func TestRemoteConflates(t *testing.T) {
	r, ring, _ := newTestRemote(t, 2)
	subj := "arb.book.binance.BTC-USDT"
	for s := uint64(1); s <= 5; s++ {
		r.deliver(subj, msg(book(s, 100, 101), 1, sc28))
	}
	if got := seqs(drain(ring)); len(got) != 2 || got[1] != 2 {
		t.Fatalf("first drain %v", got)
	}
	r.flush()
	if got := seqs(drain(ring)); len(got) != 1 || got[0] != 5 {
		t.Fatalf("after flush %v, want [5]", got)
	}
	if r.stats.Conflated.Load() != 2 {
		t.Fatalf("conflated %d, want 2", r.stats.Conflated.Load())
	}
}

// TestRemoteAllocs: delivering a message into the ring allocates nothing.
func TestRemoteAllocs(t *testing.T) {
	r, ring, _ := newTestRemote(t, 16)
	subj := "arb.book.binance.BTC-USDT"
	seq := uint64(0)
	buf := make([]byte, 0, MaxSize)
	var ev exchange.BookTop
	if n := testing.AllocsPerRun(1000, func() {
		seq++
		b := book(seq, 100, 101)
		buf = Append(buf[:0], &b, &Header{Source: 1, Term: 1, Scale: sc28})
		r.deliver(subj, buf)
		ring.TryPop(&ev)
	}); n != 0 {
		t.Fatalf("%v allocations per delivery", n)
	}
	if ev.Seq != seq {
		t.Fatalf("last delivered seq %d, want %d", ev.Seq, seq)
	}
}

// FuzzRemoteDeliver: any subject and payload is delivered, dropped or
// refused without a panic, and whatever reaches the ring is this venue's
// with a listed instrument.
func FuzzRemoteDeliver(f *testing.F) {
	f.Add("arb.book.binance.BTC-USDT", msg(book(1, 100, 101), 1, sc28))
	f.Add("arb.book.binance.ETH-USDT", []byte{1, 2, 3})
	f.Add("arb.book.binance.", []byte{})
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		r, ring, _ := newTestRemote(t, 4)
		r.deliver(subject, data)
		for _, ev := range drain(ring) {
			if ev.Venue != 2 || (ev.Inst != 5 && ev.Inst != 6) {
				t.Fatalf("delivered %+v", ev)
			}
		}
	})
}

func seqs(evs []exchange.BookTop) []uint64 {
	out := make([]uint64, len(evs))
	for i := range evs {
		out[i] = evs[i].Seq
	}
	return out
}
