package exchangetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/ringbuf"
)

// fakeBooks is a bookSource from a map: seq → book.
type fakeBooks map[uint64][2][]exchange.Level

func (f fakeBooks) BookAt(venue, symbol string, seq uint64) (bids, asks []exchange.Level, ok bool) {
	b, ok := f[seq]
	return b[0], b[1], ok
}

// ladder returns n levels from px stepping by step (negative for bids),
// each of quantity 100+k.
func ladder(px, step int64, n int) []exchange.Level {
	out := make([]exchange.Level, n)
	for k := range out {
		out[k] = exchange.Level{Px: num.Price(px + int64(k)*step), Qty: num.Qty(100 + k)}
	}
	return out
}

// top builds a fresh event with the top TopK levels of bids and asks.
func top(venue exchange.VenueID, inst exchange.InstrumentID, seq uint64, bids, asks []exchange.Level) exchange.BookTop {
	ev := exchange.BookTop{Seq: seq, Venue: venue, Inst: inst, RecvTS: time.Now().UnixNano()}
	ev.NBids = uint8(copy(ev.Bids[:], bids))
	ev.NAsks = uint8(copy(ev.Asks[:], asks))
	return ev
}

func TestStructural(t *testing.T) {
	bids, asks := ladder(1000, -1, 12), ladder(1001, 1, 12)
	good := top(1, 1, 5, bids, asks)
	for _, tc := range []struct {
		name   string
		mutate func(*exchange.BookTop)
		want   string // substring of the problem; "" = fine
	}{
		{"good", func(*exchange.BookTop) {}, ""},
		{"one side empty", func(e *exchange.BookTop) { e.NAsks = 0 }, ""},
		{"too many levels", func(e *exchange.BookTop) { e.NBids = exchange.TopK + 1 }, "over TopK"},
		{"no seq", func(e *exchange.BookTop) { e.Seq = 0 }, "Seq 0"},
		{"bids not descending", func(e *exchange.BookTop) { e.Bids[3], e.Bids[4] = e.Bids[4], e.Bids[3] }, "bids not strictly descending"},
		{"duplicate bid price", func(e *exchange.BookTop) { e.Bids[2].Px = e.Bids[1].Px }, "bids not strictly descending"},
		{"asks not ascending", func(e *exchange.BookTop) { e.Asks[9].Px = e.Asks[8].Px - 1 }, "asks not strictly ascending"},
		{"zero quantity", func(e *exchange.BookTop) { e.Asks[2].Qty = 0 }, "non-positive"},
		{"negative price", func(e *exchange.BookTop) { e.Bids[9].Px = -1 }, "non-positive"},
		{"crossed", func(e *exchange.BookTop) { e.Bids[0].Px = e.Asks[0].Px }, "crossed"},
		{"stale levels beyond N ignored", func(e *exchange.BookTop) { e.NBids = 3; e.Bids[5].Px = 0 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := good
			tc.mutate(&ev)
			got := structural(&ev)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("structural = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCompareLevels(t *testing.T) {
	bids, asks := ladder(1000, -1, 25), ladder(1001, 1, 25)
	for _, tc := range []struct {
		name       string
		ev         exchange.BookTop
		wantB      []exchange.Level
		wantA      []exchange.Level
		depth      int
		wantSubstr string
	}{
		{"equal top 10", top(1, 1, 5, bids, asks), bids, asks, 0, ""},
		{"depth 1 channel", top(1, 1, 5, bids[:1], asks[:1]), bids, asks, 1, ""},
		{"depth 1 channel sends 10", top(1, 1, 5, bids, asks), bids, asks, 1, "10 bids, want 1"},
		{"venue has 3 levels", top(1, 1, 5, bids[:3], asks[:2]), bids[:3], asks[:2], 0, ""},
		{"missing levels", top(1, 1, 5, bids[:9], asks), bids, asks, 0, "9 bids, want 10"},
		{"extra level", top(1, 1, 5, bids[:4], asks), bids[:3], asks, 0, "4 bids, want 3"},
		{"wrong quantity", func() exchange.BookTop {
			e := top(1, 1, 5, bids, asks)
			e.Asks[7].Qty++
			return e
		}(), bids, asks, 0, "asks[7]"},
		{"wrong price", func() exchange.BookTop {
			e := top(1, 1, 5, bids, asks)
			e.Bids[0].Px++
			return e
		}(), bids, asks, 0, "bids[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := compareLevels(&tc.ev, tc.wantB, tc.wantA, tc.depth)
			if tc.wantSubstr == "" && got != "" || tc.wantSubstr != "" && !strings.Contains(got, tc.wantSubstr) {
				t.Fatalf("compareLevels = %q, want %q", got, tc.wantSubstr)
			}
		})
	}
}

// TestCheckerInvariant drives the checker through a real ring with one
// event of each kind and checks what it counts.
func TestCheckerInvariant(t *testing.T) {
	insts := []exchange.Instrument{{ID: 7, Canonical: "BTC-USDT"}, {ID: 300, Canonical: "ETH-USDT"}}
	bids, asks := ladder(1000, -1, 25), ladder(1001, 1, 25)
	books := fakeBooks{5: {bids, asks}, 6: {bids[1:], asks}}
	ring := ringbuf.NewMPSC[exchange.BookTop](64)
	c := newChecker(9, "okx", insts, 0, books, ring, time.Now())
	now := time.Now().UnixNano()
	stale := func(inst exchange.InstrumentID, cause exchange.StaleCause) exchange.BookTop {
		ev := exchange.BookTop{Venue: 9, Inst: inst}
		ev.SetStale(cause, now)
		return ev
	}
	good := top(9, 7, 5, bids, asks)
	cases := []struct {
		name      string
		ev        exchange.BookTop
		violation bool
	}{
		{"fresh right", good, false},
		{"fresh right, other seq", top(9, 300, 6, bids[1:], asks), false},
		{"fresh wrong seq content", top(9, 7, 6, bids, asks), true},
		{"unverifiable", top(9, 7, 99, bids, asks), false},
		{"stale", stale(7, exchange.CauseGap), false},
		{"stale without cause", stale(300, exchange.CauseNone), true},
		{"fresh with a cause", func() exchange.BookTop { e := good; e.Cause = exchange.CauseGap; return e }(), true},
		{"wrong venue", func() exchange.BookTop { e := good; e.Venue = 1; return e }(), true},
		{"unknown instrument", func() exchange.BookTop { e := good; e.Inst = 8; return e }(), true},
		{"RecvTS in ms", func() exchange.BookTop { e := good; e.RecvTS /= 1e6; return e }(), true},
		{"ExchTS in ms", func() exchange.BookTop { e := good; e.ExchTS = now / 1e6; return e }(), true},
		{"ExchTS in ns", func() exchange.BookTop { e := good; e.ExchTS = now - int64(time.Second); return e }(), false},
		{"crossed", func() exchange.BookTop { e := good; e.Bids[0].Px = e.Asks[0].Px + 1; return e }(), true},
	}
	wantViol := 0
	for _, tc := range cases {
		if !ring.TryPush(&tc.ev) {
			t.Fatal("ring full")
		}
		if tc.violation {
			wantViol++
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // run drains what is there and returns
	c.run(ctx)
	received, fresh, unverif, viol := c.totals()
	if received != uint64(len(cases)) || unverif != 1 || viol != wantViol {
		t.Fatalf("received %d, unverifiable %d, violations %d; want %d, 1, %d\n%s",
			received, unverif, viol, len(cases), wantViol, strings.Join(c.violations, "\n"))
	}
	if fresh != uint64(len(cases)-2) {
		t.Fatalf("fresh %d, want %d", fresh, len(cases)-2)
	}
	if c.verifiedCount(0) != 2 || c.verifiedCount(1) != 1 { // good twice (incl. ExchTS ns), other seq once
		t.Fatalf("verified %d/%d", c.verifiedCount(0), c.verifiedCount(1))
	}
	// The unknown instrument is counted but has no timeline.
	if n := len(c.snapshot(0)) + len(c.snapshot(1)); n != len(cases)-1 {
		t.Fatalf("recorded %d events, want %d", n, len(cases)-1)
	}
	if ev, _ := c.latest(0); ev.stale || !ev.bad {
		t.Fatalf("latest of BTC %+v: want the crossed (bad) fresh event", ev)
	}
}

// at is a timeline builder: ms offsets from a base time.
var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ms(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }

func F(t int, seq uint64) event { return event{at: ms(t), seq: seq} }
func S(t int) event             { return event{at: ms(t), stale: true, cause: exchange.CauseGap} }

func TestSilentCrossing(t *testing.T) {
	for _, tc := range []struct {
		name string
		evs  []event
		sf   uint64
		want int
	}{
		{"stale before the faulted state", []event{F(0, 8), F(1, 9), S(2), F(3, 10), F(4, 11)}, 10, -1},
		{"fresh straight across", []event{F(0, 8), F(1, 9), F(2, 11)}, 10, 2},
		{"fresh at the faulted state", []event{F(0, 9), F(1, 10)}, 10, 1},
		{"already stale when the fault came", []event{F(0, 8), S(1), F(2, 12)}, 10, -1},
		{"never past the fault", []event{F(0, 8), F(1, 9), F(2, 9)}, 10, -1},
		{"stale event between repeats", []event{F(0, 9), S(1), F(2, 9), F(3, 10)}, 10, 3},
		{"empty", nil, 10, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := silentCrossing(tc.evs, tc.sf); got != tc.want {
				t.Fatalf("silentCrossing = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestFirstAt(t *testing.T) {
	evs := []event{F(0, 1), S(10), F(20, 2), S(30), F(40, 3)}
	for _, tc := range []struct {
		from  int
		after int
		stale bool
		want  int
	}{
		{0, 0, true, 1},
		{0, 0, false, 0},
		{0, 11, true, 3},
		{2, 0, true, 3},
		{2, 0, false, 2},
		{0, 30, true, 3}, // at the boundary counts
		{0, 41, false, -1},
		{-5, 0, false, 0},
	} {
		if got := firstAt(evs, tc.from, ms(tc.after), tc.stale); got != tc.want {
			t.Errorf("firstAt(from %d, after %dms, stale %v) = %d, want %d", tc.from, tc.after, tc.stale, got, tc.want)
		}
	}
}

func TestStaleSpans(t *testing.T) {
	for _, tc := range []struct {
		name     string
		evs      []event
		from, to int
		wantN    int
		wantLong time.Duration
	}{
		{"fresh throughout", []event{F(0, 1), F(10, 2), F(20, 3)}, 5, 30, 0, 0},
		{"one spell", []event{F(0, 1), S(10), S(15), F(40, 2)}, 5, 50, 2, 30 * time.Millisecond},
		{"two spells, longest counts", []event{S(10), F(20, 1), S(30), F(80, 2)}, 0, 100, 2, 50 * time.Millisecond},
		{"open at the end", []event{F(0, 1), S(90)}, 0, 100, 1, 10 * time.Millisecond},
		{"stale since before the window", []event{S(0), F(50, 1)}, 20, 100, 0, 30 * time.Millisecond},
		{"events after the window ignored", []event{F(0, 1), S(200)}, 0, 100, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, long := staleSpans(tc.evs, ms(tc.from), ms(tc.to))
			if n != tc.wantN || long != tc.wantLong {
				t.Fatalf("staleSpans = %d, %v; want %d, %v", n, long, tc.wantN, tc.wantLong)
			}
		})
	}
}

func TestLogTail(t *testing.T) {
	l := newLogTail()
	log := l.logger()
	for i := range maxLogLines + 5 {
		log.Info("line", "i", i)
	}
	lines, total := l.Lines()
	if total != maxLogLines+5 || len(lines) != maxLogLines {
		t.Fatalf("kept %d of %d", len(lines), total)
	}
	if !strings.Contains(lines[0], "i=5") || !strings.Contains(lines[len(lines)-1], "i=84") {
		t.Fatalf("order: first %q last %q", lines[0], lines[len(lines)-1])
	}
	log.Debug("not kept")
	if _, total := l.Lines(); total != maxLogLines+5 {
		t.Fatal("debug lines kept")
	}
}
