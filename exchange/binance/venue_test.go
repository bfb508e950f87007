package binance

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// trueBook is one instrument's book as the venue holds it: the truth the
// adapter's published books are checked against, state by state.
type trueBook struct {
	sym        string
	sc         num.Scale
	bids, asks map[int64]int64
	id         uint64
	hist       map[uint64][2][]exchange.Level // full book after each update id that ends an event
	E          int64
}

const trueMid = 1_000_000 // 10000.00 at scale 2

func newTrueBook(rng *rand.Rand, sym string, id uint64) *trueBook {
	v := &trueBook{sym: sym, sc: num.Scale{Px: 2, Qty: 3}, bids: map[int64]int64{}, asks: map[int64]int64{},
		id: id, hist: map[uint64][2][]exchange.Level{}, E: 1_700_000_000_000}
	for k := int64(1); k <= 10; k++ {
		v.bids[trueMid-k*10] = 1 + rng.Int64N(5000)
		v.asks[trueMid+k*10] = 1 + rng.Int64N(5000)
	}
	v.record()
	return v
}

func (v *trueBook) levels() [2][]exchange.Level {
	return [2][]exchange.Level{top(v.bids, true, 1<<20), top(v.asks, false, 1<<20)}
}

func (v *trueBook) record() { v.hist[v.id] = v.levels() }

// step changes 1–4 levels (bids below the mid, asks above, so the venue's
// book is never crossed) under 1–3 new update ids and returns the diff.
func (v *trueBook) step(rng *rand.Rand) (U, u uint64, bids, asks []exchange.Level) {
	U = v.id + 1
	v.id += 1 + rng.Uint64N(3)
	v.E += 100
	for n := 1 + rng.IntN(4); n > 0; n-- {
		off := 10 * (1 + rng.Int64N(30))
		qty := rng.Int64N(6) * (1 + rng.Int64N(1000))
		l := exchange.Level{Qty: num.Qty(qty)}
		if rng.IntN(2) == 0 {
			l.Px = num.Price(trueMid - off)
			set(v.bids, l)
			bids = append(bids, l)
		} else {
			l.Px = num.Price(trueMid + off)
			set(v.asks, l)
			asks = append(asks, l)
		}
	}
	v.record()
	return U, v.id, bids, asks
}

// venueRun drives a session with a venue's stream under seeded faults and
// checks every fresh event against the venue's book at the event's Seq.
type venueRun struct {
	t       *testing.T
	rng     *rand.Rand
	h       *harness
	books   []*trueBook
	channel string
	n       int // partial depth
	checked int
	lastPub []exchange.BookTop
	pending []snapReq
}

type snapReq struct {
	i   int
	due int
}

func (r *venueRun) frame(i int, U, u uint64, bids, asks []exchange.Level) []byte {
	v := r.books[i]
	switch r.channel {
	case ChannelBBO:
		st := v.hist[u]
		var bid, ask exchange.Level
		if len(st[0]) > 0 {
			bid = st[0][0]
		}
		if len(st[1]) > 0 {
			ask = st[1][0]
		}
		return tickerFrame(v.sym, v.sc, u, bid, ask)
	case ChannelDepth5:
		st := v.hist[u]
		return partialFrame(v.sym, 5, v.sc, u, st[0][:min(5, len(st[0]))], st[1][:min(5, len(st[1]))])
	}
	return depthFrame(v.sym, v.sc, v.E, U, u, bids, asks)
}

func (r *venueRun) deliver(b []byte, step int) {
	r.h.s.HandleFrame(b, int64(step+1)*1e6)
	r.after(step)
}

// after drains requests and events and checks the events against the truth.
func (r *venueRun) after(step int) {
	for {
		i, ok := r.h.s.NeedSnapshot()
		if !ok {
			break
		}
		r.pending = append(r.pending, snapReq{i, step + r.rng.IntN(4)})
	}
	for _, ev := range r.h.drain() {
		idx := int(ev.Inst) - 1
		r.lastPub[idx] = ev
		if ev.Stale() {
			continue
		}
		v := r.books[idx]
		st, ok := v.hist[ev.Seq]
		if !ok {
			r.t.Fatalf("step %d: %s published seq %d the venue never had", step, v.sym, ev.Seq)
		}
		k := exchange.TopK
		if r.channel == ChannelBBO {
			k = 1
		} else if r.channel == ChannelDepth5 {
			k = 5
		}
		wb, wa := st[0][:min(k, len(st[0]))], st[1][:min(k, len(st[1]))]
		if !slices.Equal(ev.Bids[:ev.NBids], wb) || !slices.Equal(ev.Asks[:ev.NAsks], wa) {
			r.t.Fatalf("step %d: %s seq %d published wrong book:\n got  bids %s asks %s\n want bids %s asks %s", step, v.sym, ev.Seq,
				fmtLevels(ev.Bids[:ev.NBids], v.sc), fmtLevels(ev.Asks[:ev.NAsks], v.sc), fmtLevels(wb, v.sc), fmtLevels(wa, v.sc))
		}
		r.checked++
	}
}

// snapshots answers due snapshot requests: usually the current book, with
// faults a book from up to 20 ids ago (a lagging REST replica) or a failure.
func (r *venueRun) snapshots(step int, faulty bool) {
	queue := r.pending
	r.pending = nil // after() adds new requests here
	for _, q := range queue {
		if q.due > step {
			r.pending = append(r.pending, q)
			continue
		}
		v := r.books[q.i]
		x := r.rng.Float64()
		switch {
		case faulty && x < 0.1:
			r.h.s.SnapshotFailed(q.i)
		default:
			id := v.id
			if faulty && x < 0.3 {
				for back := r.rng.Uint64N(20); back > 0; back-- {
					if _, ok := v.hist[id-back]; ok {
						id -= back
						break
					}
				}
			}
			st := v.hist[id]
			r.h.s.ApplySnapshot(q.i, snapshotBody(v.sc, id, st[0], st[1]), int64(step+1)*1e6)
		}
		r.after(step)
	}
}

func runVenue(t *testing.T, seed uint64, channel string, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0xb1))
	syms := []string{"BTCUSDT", "ETHUSDT", "SOLUSDT"}
	var insts []exchange.Instrument
	r := &venueRun{t: t, rng: rng, channel: channel, lastPub: make([]exchange.BookTop, len(syms))}
	for k, s := range syms {
		insts = append(insts, testInst(s, exchange.InstrumentID(k+1), 2, 3))
		r.books = append(r.books, newTrueBook(rng, s, 1000*uint64(k+1)))
	}
	cfg := baseConfig(channel, 1000, insts...)
	// A step is 1 ms of session time and a tenth of the frames are faults,
	// so books break every few tens of milliseconds: refetch backoff scaled
	// to that (the default 100 ms … 30 s would keep them stale, rightly,
	// which is not what this test is about).
	cfg.BackoffMin, cfg.BackoffMax = time.Millisecond, 20*time.Millisecond
	r.h = newHarness(t, cfg, 0)
	var held []byte
	tail := steps / 5
	for step := 0; step < steps+tail; step++ {
		faulty := step < steps
		i := rng.IntN(len(syms))
		if !faulty {
			i = step % len(syms)
		}
		U, u, bids, asks := r.books[i].step(rng)
		f := r.frame(i, U, u, bids, asks)
		x := rng.Float64()
		switch {
		case faulty && x < 0.02: // lost
		case faulty && x < 0.04: // duplicated
			r.deliver(f, step)
			r.deliver(f, step)
		case faulty && x < 0.06 && held == nil: // delivered after the next one
			held = f
		case faulty && x < 0.08: // garbage: random bytes, or the frame cut short (then lost)
			if rng.IntN(2) == 0 {
				r.deliver([]byte(fmt.Sprintf(`{"stream":"%x`, rng.Uint64())), step)
				r.deliver(f, step)
			} else {
				r.deliver(f[:rng.IntN(len(f))], step)
			}
		case faulty && x < 0.09: // this update arrives with a bid far above every ask
			v := r.books[i]
			bogus := exchange.Level{Px: trueMid + 5000, Qty: 1}
			var bad []byte
			switch channel {
			case ChannelBBO:
				bad = tickerFrame(v.sym, v.sc, u, bogus, v.hist[u][1][0])
			case ChannelDepth5:
				st := v.hist[u]
				bad = partialFrame(v.sym, 5, v.sc, u, append([]exchange.Level{bogus}, st[0][:min(4, len(st[0]))]...), st[1][:min(5, len(st[1]))])
			default:
				bad = depthFrame(v.sym, v.sc, v.E, U, u, append(slices.Clone(bids), bogus), asks)
			}
			r.deliver(bad, step)
		case faulty && x < 0.10: // a stream we did not subscribe
			r.deliver(depthFrame("XRPUSDT", num.Scale{Px: 2, Qty: 3}, 1, 1, 1, nil, nil), step)
			r.deliver(f, step)
		default:
			r.deliver(f, step)
			if held != nil {
				r.deliver(held, step)
				held = nil
			}
		}
		r.snapshots(step, faulty)
	}
	// After the faults stop, every book must be fresh and show the venue's
	// current book.
	if !r.h.s.Synced() {
		for k := range r.h.s.books {
			b := &r.h.s.books[k]
			t.Logf("book %d fresh=%v snapLoaded=%v want=%v inflight=%v id=%d buf=%d venue=%d pending=%v", k, b.fresh, b.snapLoaded, b.wantSnap, b.inflight, b.id, len(b.buf), r.books[k].id, r.pending)
		}
		t.Fatalf("not synced after %d clean steps", tail)
	}
	for k, ev := range r.lastPub {
		if ev.Stale() || ev.Seq != r.books[k].id {
			t.Fatalf("%s: last event %+v, venue at %d", syms[k], ev, r.books[k].id)
		}
	}
	if r.checked < steps/4 {
		t.Fatalf("only %d fresh events checked", r.checked)
	}
	st := &r.h.stats
	t.Logf("seed %d %s: %d events checked; gaps %d resyncs %d rejects syntax %d sequence %d crossed %d unknown %d",
		seed, channel, r.checked, st.Gaps.Load(), st.Resyncs.Load(), st.Rejects(exchange.RejectSyntax),
		st.Rejects(exchange.RejectSequence), st.Rejects(exchange.RejectCrossed), st.Rejects(exchange.RejectUnknownSymbol))
}

// TestAgainstVenue is the property test against the truth: a seeded venue
// streams updates through losses, duplicates, reordering, garbage, bogus
// crossing levels, foreign streams, lagging and failing snapshots. Every book
// published as fresh must equal the venue's book at the published update id,
// and once the faults stop every book must be fresh and current.
func TestAgainstVenue(t *testing.T) {
	seeds := uint64(8)
	if raceEnabled || testing.Short() {
		seeds = 2 // the race detector makes this CPU-bound test ~5x slower
	}
	for _, ch := range []string{ChannelDepth, ChannelBBO, ChannelDepth5} {
		for seed := uint64(1); seed <= seeds; seed++ {
			t.Run(fmt.Sprintf("%s/seed%d", ch, seed), func(t *testing.T) { runVenue(t, seed, ch, 3000) })
		}
	}
}
