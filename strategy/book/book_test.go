package book

import (
	"testing"

	"arb/exchange"
)

func testRegistry() *exchange.Registry {
	return &exchange.Registry{
		Venues: []exchange.VenueInfo{{}, {ID: 1, Name: "a"}, {ID: 2, Name: "b"}},
		Assets: []exchange.Asset{{}, {ID: 1, Symbol: "BTC-USDT"}, {ID: 2, Symbol: "ETH-USDT"}, {ID: 3, Symbol: "SOL-USDT"}},
	}
}

func TestApplyKeepsNewestPerBook(t *testing.T) {
	s := New(testRegistry())
	steps := []struct {
		v    exchange.VenueID
		inst exchange.InstrumentID
		seq  uint64
		ok   bool
	}{
		{1, 1, 10, true},
		{2, 1, 20, true},
		{1, 1, 11, true},
		{1, 3, 30, true},
		{1, 1, 9, true}, // an older Seq still replaces: see doc.go (sequence resets)
		{0, 1, 1, false},
		{1, 0, 1, false},
		{3, 1, 1, false},
		{1, 4, 1, false},
	}
	want := map[[2]int]struct {
		seq uint64
		n   uint64
	}{}
	for _, st := range steps {
		ev := exchange.BookTop{Venue: st.v, Inst: st.inst, Seq: st.seq}
		_, ok := s.Apply(&ev)
		if ok != st.ok {
			t.Fatalf("Apply(%d,%d) ok=%v, want %v", st.v, st.inst, ok, st.ok)
		}
		if ok {
			k := [2]int{int(st.v), int(st.inst)}
			w := want[k]
			w.seq, w.n = st.seq, w.n+1
			want[k] = w
		}
	}
	for v := exchange.VenueID(0); v < 4; v++ {
		for inst := exchange.InstrumentID(0); inst < 5; inst++ {
			w, seen := want[[2]int{int(v), int(inst)}]
			b := s.Book(v, inst)
			if !seen {
				if b != nil {
					t.Errorf("Book(%d,%d) = %+v, want nil", v, inst, b)
				}
				continue
			}
			i, _ := s.Index(v, inst)
			if b == nil || b.Seq != w.seq || s.Updates(i) != w.n || s.At(i) != b {
				t.Errorf("Book(%d,%d): got %+v updates %d, want seq %d updates %d", v, inst, b, s.Updates(i), w.seq, w.n)
			}
		}
	}
}

func TestIndexIsDenseAndDistinct(t *testing.T) {
	s := New(testRegistry())
	seen := map[int]bool{}
	for v := exchange.VenueID(1); v <= 2; v++ {
		for inst := exchange.InstrumentID(1); inst <= 3; inst++ {
			i, ok := s.Index(v, inst)
			if !ok || i < 0 || i >= s.Len() || seen[i] {
				t.Fatalf("Index(%d,%d) = %d,%v", v, inst, i, ok)
			}
			seen[i] = true
		}
	}
}

func TestApplyDoesNotAllocate(t *testing.T) {
	s := New(testRegistry())
	ev := exchange.BookTop{Venue: 2, Inst: 3, NBids: 1}
	if n := testing.AllocsPerRun(1000, func() { ev.Seq++; s.Apply(&ev) }); n != 0 {
		t.Fatalf("Apply allocates %v", n)
	}
}
