package okx

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/exchange/sim"
	"arb/ringbuf"
)

// simRun is one adapter feed against an exchange/sim OKX venue.
type simRun struct {
	t     *testing.T
	s     *sim.Sim
	feed  *Feed
	cons  *consumer
	insts []exchange.Instrument
	depth int // levels compared with the simulator's book
}

// startSim starts a simulator with one OKX venue and a feed on channel,
// its instruments fetched from the simulator's REST endpoint.
func startSim(t *testing.T, channel string, simMod func(*sim.Config), mod func(*Config)) *simRun {
	cfg := sim.DefaultConfig()
	for _, v := range cfg.Venues {
		if v.Kind == sim.KindOKX {
			cfg.Venues = []sim.VenueConfig{v}
			break
		}
	}
	cfg.StepInterval = 20 * time.Millisecond
	cfg.Quiet.Prob = 0 // quiet spells longer than AgeMax would (rightly) cost reconnects
	if simMod != nil {
		simMod(&cfg)
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	urls, _ := s.URLs("okx")

	var want []exchange.Instrument
	for i, sc := range cfg.Symbols {
		want = append(want, exchange.Instrument{ID: exchange.InstrumentID(i + 1), Venue: testVenue, Symbol: sc.Symbol, Canonical: sc.Symbol, Scale: sc.Scale})
	}
	insts, err := FetchInstruments(context.Background(), http.DefaultClient, urls.REST, "okx", want)
	if err != nil {
		t.Fatal(err)
	}
	for i, sc := range cfg.Symbols {
		tick, _ := num.ParseString(sc.Tick, sc.Scale.Px)
		step, _ := num.ParseString(sc.Step, sc.Scale.Qty)
		if int64(insts[i].Tick) != tick || int64(insts[i].Step) != step || insts[i].Base == "" {
			t.Fatalf("instrument %+v vs %+v", insts[i], sc)
		}
	}
	ring := ringbuf.NewMPSC[exchange.BookTop](1 << 14)
	fc := Config{Venue: testVenue, Name: "okx-sim", WSURL: urls.WSBase, RESTURL: urls.REST, Instruments: insts, Channel: channel,
		Ring: ring, AgeMax: testAgeMax, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Logger: testLogger(), Rand: rand.New(rand.NewPCG(3, 4))}
	if mod != nil {
		mod(&fc)
	}
	fd, err := New(fc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &simRun{t: t, s: s, feed: fd, cons: consume(ctx, ring), insts: insts, depth: exchange.TopK}
	switch channel {
	case ChannelBBO:
		r.depth = 1
	case ChannelBooks5:
		r.depth = 5
	}
	done := make(chan error, 1)
	go func() { done <- fd.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

func (r *simRun) allFresh(from int, within time.Duration) {
	r.t.Helper()
	waitFor(r.t, within, "every book fresh", func() bool {
		for _, in := range r.insts {
			ev, ok := r.cons.latest(in.ID, from)
			if !ok || ev.Stale() {
				return false
			}
		}
		return true
	})
}

// check compares every fresh event with the simulator's book at its seqId.
func (r *simRun) check() int {
	r.t.Helper()
	n := 0
	for _, ev := range r.cons.snapshot() {
		if ev.Stale() {
			continue
		}
		in := r.insts[ev.Inst-1]
		bids, asks, ok := r.s.BookAt("okx", in.Symbol, ev.Seq)
		if !ok {
			continue // evicted from the simulator's history
		}
		bids, asks = bids[:min(len(bids), r.depth)], asks[:min(len(asks), r.depth)]
		if ev.Crossed() || fmt.Sprint(ev.Bids[:ev.NBids]) != fmt.Sprint(bids) || fmt.Sprint(ev.Asks[:ev.NAsks]) != fmt.Sprint(asks) {
			r.t.Fatalf("%s seq %d:\nadapter %v %v\nsim     %v %v", in.Symbol, ev.Seq, ev.Bids[:ev.NBids], ev.Asks[:ev.NAsks], bids, asks)
		}
		n++
	}
	return n
}

func TestSimChannels(t *testing.T) {
	for _, tc := range []struct {
		channel      string
		checksumZero bool
	}{{ChannelBooks, false}, {ChannelBooks, true}, {ChannelBBO, false}, {ChannelBooks5, false}} {
		t.Run(fmt.Sprintf("%s/checksum0=%v", tc.channel, tc.checksumZero), func(t *testing.T) {
			r := startSim(t, tc.channel, func(c *sim.Config) { c.Venues[0].ChecksumZero = tc.checksumZero }, nil)
			r.allFresh(0, testWait)
			waitFor(t, testWait, "20 events checked", func() bool { return r.check() >= 20 })
			st := r.feed.Stats()
			if st.Gaps.Load()+st.ChecksumFailures.Load()+st.Reconnects.Load() != 0 {
				t.Fatalf("gaps %d checksum %d reconnects %d", st.Gaps.Load(), st.ChecksumFailures.Load(), st.Reconnects.Load())
			}
		})
	}
}

// TestSimFaults injects the simulator's OKX faults one after another into
// one running feed: each makes the affected book(s) stale with the right
// cause (the first stale event after the fault has it) and they are fresh
// again; every fresh event matches the simulator's book. The age limit is
// tested on a feed of its own whose limit is 1 s; the other feed's is far
// above any scheduling stall, so that a stall never makes a book stale for
// age instead of the fault.
func TestSimFaults(t *testing.T) {
	type fault struct {
		name  string
		fault sim.Fault
		inst  exchange.InstrumentID // 0 = any book
		cause exchange.StaleCause
	}
	inject := func(r *simRun, tc fault) {
		t.Helper()
		mark := len(r.cons.snapshot())
		if err := r.s.Inject("okx", tc.fault); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitFor(t, testWait, tc.name+": stale", func() bool {
			for _, ev := range r.cons.snapshot()[mark:] {
				if ev.Stale() && (tc.inst == 0 || ev.Inst == tc.inst) {
					if ev.Cause != tc.cause {
						t.Fatalf("%s: cause %v, want %v", tc.name, ev.Cause, tc.cause)
					}
					return true
				}
			}
			return false
		})
		staleAfter := time.Since(start)
		r.allFresh(len(r.cons.snapshot()), testWait)
		t.Logf("%s: stale after %v, fresh again after %v", tc.name, staleAfter.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}

	r := startSim(t, ChannelBooks, nil, nil)
	r.allFresh(0, testWait)
	sym := r.insts[1].Symbol // ETH-USDT
	for _, tc := range []fault{
		{"gap", sim.Fault{Kind: sim.FaultGap, Symbol: sym}, 2, exchange.CauseGap},
		{"checksum", sim.Fault{Kind: sim.FaultChecksum, Symbol: sym}, 2, exchange.CauseChecksum},
		{"crossed", sim.Fault{Kind: sim.FaultCrossed, Symbol: sym}, 2, exchange.CauseBadData},
		{"truncated", sim.Fault{Kind: sim.FaultMalformed, Symbol: sym, Malform: sim.MalformTruncated}, 2, exchange.CauseBadData},
		{"wrong type", sim.Fault{Kind: sim.FaultMalformed, Symbol: sym, Malform: sim.MalformWrongType}, 2, exchange.CauseBadData},
		{"NaN", sim.Fault{Kind: sim.FaultMalformed, Symbol: sym, Malform: sim.MalformNaN}, 2, exchange.CauseBadData},
		{"negative", sim.Fault{Kind: sim.FaultMalformed, Symbol: sym, Malform: sim.MalformNegative}, 2, exchange.CauseBadData},
		{"empty price", sim.Fault{Kind: sim.FaultMalformed, Symbol: sym, Malform: sim.MalformEmptyPrice}, 2, exchange.CauseBadData},
		{"too many levels", sim.Fault{Kind: sim.FaultHugeFrame, Symbol: sym, Size: 1 << 20}, 2, exchange.CauseBadData},
		{"disconnect", sim.Fault{Kind: sim.FaultDisconnect}, 0, exchange.CauseDisconnect},
	} {
		inject(r, tc)
	}
	waitFor(t, testWait, "100 events checked", func() bool { return r.check() >= 100 })
	st := r.feed.Stats()
	if st.Gaps.Load() == 0 || st.ChecksumFailures.Load() == 0 || st.Rejects(exchange.RejectCrossed) == 0 ||
		st.Rejects(exchange.RejectNumber) == 0 || st.Rejects(exchange.RejectSyntax) == 0 || st.Rejects(exchange.RejectTooLarge) == 0 {
		t.Fatalf("counters: gaps %d checksum %d crossed %d number %d syntax %d too_large %d", st.Gaps.Load(), st.ChecksumFailures.Load(),
			st.Rejects(exchange.RejectCrossed), st.Rejects(exchange.RejectNumber), st.Rejects(exchange.RejectSyntax), st.Rejects(exchange.RejectTooLarge))
	}

	ra := startSim(t, ChannelBooks, nil, func(c *Config) { c.AgeMax = time.Second })
	ra.allFresh(0, testWait)
	inject(ra, fault{"data stops, pings answered", sim.Fault{Kind: sim.FaultStale, Duration: 3 * time.Second}, 0, exchange.CauseAge})
	if ra.check() == 0 {
		t.Fatal("no events checked on the age-limit feed")
	}
}

// TestSimNoticeAndHugeFrame: a 64008 notice hands over without a stale
// book; a frame over MaxFrame ends the connection (stale) and it recovers;
// an unknown symbol is counted and changes nothing.
func TestSimNoticeAndHugeFrame(t *testing.T) {
	r := startSim(t, ChannelBooks, nil, func(c *Config) { c.MaxFrame = 256 << 10 })
	r.allFresh(0, testWait)
	// The venue closes the noticed connections 20 s later (a real one
	// gives about as long): the handover must be done by then, however
	// slow a loaded machine makes it.
	if err := r.s.Inject("okx", sim.Fault{Kind: sim.FaultNotice, Duration: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, testWait, "handover", func() bool { return r.feed.Stats().Reconnects.Load() == 1 && r.s.Conns("okx") == 1 })
	if err := r.s.Inject("okx", sim.Fault{Kind: sim.FaultUnknownSymbol, Symbol: "DOGE-USDT"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, testWait, "unknown symbol counted", func() bool { return r.feed.Stats().Rejects(exchange.RejectUnknownSymbol) == 1 })
	for _, ev := range r.cons.snapshot() {
		if ev.Stale() {
			t.Fatalf("stale event across the handover: %+v", ev)
		}
	}
	mark := len(r.cons.snapshot())
	if err := r.s.Inject("okx", sim.Fault{Kind: sim.FaultHugeFrame, Size: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, testWait, "stale after a huge frame", func() bool {
		for _, ev := range r.cons.snapshot()[mark:] {
			if ev.Stale() && ev.Cause == exchange.CauseBadData {
				return true
			}
		}
		return false
	})
	r.allFresh(len(r.cons.snapshot()), testWait)
	if r.feed.Stats().Rejects(exchange.RejectTooLarge) == 0 {
		t.Fatal("huge frame not counted")
	}
	r.check()
}
