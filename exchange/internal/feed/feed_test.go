package feed

import (
	"log/slog"
	"strings"
	"testing"

	"arb/exchange"
	"arb/ringbuf"
)

func ev(inst exchange.InstrumentID, seq uint64) *exchange.BookTop {
	return &exchange.BookTop{Inst: inst, Seq: seq, RecvTS: int64(seq)}
}

func drain(r *ringbuf.MPSC[exchange.BookTop]) []uint64 {
	var out []uint64
	var e exchange.BookTop
	for r.TryPop(&e) {
		out = append(out, uint64(e.Inst)*1000+e.Seq)
	}
	return out
}

// TestConflationKeepsNewestPerInstrument: with the ring full, events park per
// instrument, newer ones replace older ones, and after the consumer catches
// up every instrument's newest state arrives — none lost, none reordered.
func TestConflationKeepsNewestPerInstrument(t *testing.T) {
	r := ringbuf.NewMPSC[exchange.BookTop](2)
	var st exchange.FeedStats
	p := New(r, &st, nil, 1, 3, 0)
	p.Publish(0, ev(1, 1))
	p.Publish(1, ev(2, 1)) // ring now full
	p.Publish(0, ev(1, 2)) // parked
	p.Publish(0, ev(1, 3)) // replaces the parked (1,2)
	p.Publish(2, ev(3, 1)) // parked
	if p.Pending() != 2 || st.Conflated.Load() != 1 {
		t.Fatalf("pending %d conflated %d", p.Pending(), st.Conflated.Load())
	}
	if got := drain(r); len(got) != 2 || got[0] != 1001 || got[1] != 2001 {
		t.Fatalf("first drain %v", got)
	}
	p.Flush()
	if got := drain(r); len(got) != 2 || got[0] != 1003 || got[1] != 3001 {
		t.Fatalf("after flush %v", got)
	}
	if p.Pending() != 0 || st.Published.Load() != 4 {
		t.Fatalf("pending %d published %d", p.Pending(), st.Published.Load())
	}
}

func TestOnlyOwnerPublishes(t *testing.T) {
	r := ringbuf.NewMPSC[exchange.BookTop](8)
	var st exchange.FeedStats
	var o Owner
	o.Take(1)
	old, nu := New(r, &st, &o, 1, 1, 0), New(r, &st, &o, 2, 1, 0)
	if !old.Publish(0, ev(1, 1)) || nu.Publish(0, ev(1, 2)) {
		t.Fatal("before handover")
	}
	o.Take(2)
	if old.Publish(0, ev(1, 3)) || !nu.Publish(0, ev(1, 4)) {
		t.Fatal("after handover")
	}
	if got := drain(r); len(got) != 2 || got[0] != 1001 || got[1] != 1004 {
		t.Fatalf("%v", got)
	}
}

func TestRefresh(t *testing.T) {
	r := ringbuf.NewMPSC[exchange.BookTop](8)
	var st exchange.FeedStats
	p := New(r, &st, nil, 1, 2, 100)
	p.Publish(0, &exchange.BookTop{RecvTS: 1000})
	p.Publish(1, &exchange.BookTop{RecvTS: 1050})
	if !p.DueForRefresh(1100) || p.DueForRefresh(1110) {
		t.Fatal("DueForRefresh rate")
	}
	if !p.Quiet(0, 1100) || p.Quiet(1, 1100) {
		t.Fatal("Quiet")
	}
}

func TestPublishNoAllocs(t *testing.T) {
	r := ringbuf.NewMPSC[exchange.BookTop](4)
	var st exchange.FeedStats
	p := New(r, &st, nil, 1, 2, 0)
	e := ev(1, 1)
	var sink exchange.BookTop
	n := testing.AllocsPerRun(1000, func() {
		p.Publish(0, e)
		p.Publish(1, e)
		p.Publish(0, e) // may park
		for r.TryPop(&sink) {
		}
		p.Flush()
	})
	if n != 0 {
		t.Fatalf("allocs %v", n)
	}
}

func TestLogLimiter(t *testing.T) {
	var buf strings.Builder
	l := LogLimiter{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Every: 1000, Burst: 2}
	for i := 0; i < 5; i++ {
		l.Log(100, "reject")
	}
	l.Log(1200, "reject")
	out := buf.String()
	if n := strings.Count(out, "reject"); n != 3 {
		t.Fatalf("%d lines:\n%s", n, out)
	}
	if !strings.Contains(out, "suppressed=3") {
		t.Fatalf("suppressed count missing:\n%s", out)
	}
}
