package bybit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/sim"
	"arb/ringbuf"
)

// End-to-end tests against exchange/sim, the local Bybit that speaks the
// documented protocol: the feed's books must be fresh, equal to the
// simulator's own book at the same cross sequence (BookAt by seq, which is
// what BookTop.Seq carries), and under injected faults go stale and come
// back. The feed runs in the default continuity mode ("contiguous"): the
// simulator numbers u per topic, +1 per push, as the docs state.

const simVenue = "bybit"

// simEnv is a running simulator, a Feed on it and a consumer that checks
// every event.
type simEnv struct {
	t      *testing.T
	sim    *sim.Sim
	feed   *Feed
	cancel context.CancelFunc
	done   chan error

	mu       sync.Mutex
	last     map[exchange.InstrumentID]exchange.BookTop
	fresh    map[exchange.InstrumentID]int // fresh events seen
	stale    map[exchange.InstrumentID]int // stale events seen
	causes   map[exchange.StaleCause]int
	mismatch []string
	checked  int
	staleLog []staleAt
	seqSeen  map[exchange.InstrumentID]seqAt // per book: the last fresh seq
}

// seqAt is the last seq a book was published fresh with and the RecvTS of
// its first event.
type seqAt struct {
	seq   uint64
	first int64
}

// staleAt is one stale event as the consumer saw it.
type staleAt struct {
	inst  exchange.InstrumentID
	cause exchange.StaleCause
	at    time.Time
	// recv is the event's RecvTS: the feed's clock when it decided.
	recv int64
	// lastData is the RecvTS of the first fresh event carrying the last
	// seq seen before this stale event: no later than the feed's last
	// applied message for the book (a refresh republishes the same seq).
	lastData int64
	// rej are the feed's reject counters when the consumer popped the
	// event; the feed counts a reject before it publishes the stale event
	// the reject causes, so a count above the one before a fault shows the
	// event followed the rejection.
	rej [exchange.NumRejectReasons]uint64
}

// simWait bounds every wait for something the feed must do. It is a deadline
// for a hang, not a performance bound: the tests wait on events, and a loaded
// 2-core CI machine running the race detector can stall a goroutine for
// seconds.
const simWait = 30 * time.Second

var simSymbols = []string{"BTC-USDT", "ETH-USDT", "SOL-USDT"}

func newSimEnv(t *testing.T, mutateSim func(*sim.Config), mutateFeed func(*Config)) *simEnv {
	t.Helper()
	sc := sim.DefaultConfig()
	sc.StepInterval = 20 * time.Millisecond
	sc.Venues = slices.DeleteFunc(sc.Venues, func(v sim.VenueConfig) bool { return v.Kind != sim.KindBybit })
	sc.Quiet.Prob = 0
	if mutateSim != nil {
		mutateSim(&sc)
	}
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	urls, _ := s.URLs(simVenue)
	ring := ringbuf.NewMPSC[exchange.BookTop](4096)
	cfg := Config{
		Venue: 7, Name: "bybit-sim", WSURL: urls.WSBase, RESTURL: urls.REST, Ring: ring,
		// Continuity: the default ("contiguous"). The age limit and the
		// snapshot timeout are far above any scheduling stall, so only the
		// faults a test injects make books stale or resync them; the test
		// of the age limit sets its own.
		AgeMax: 10 * time.Second, PingEvery: 250 * time.Millisecond, SnapshotTimeout: 10 * time.Second,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Rand:   rand.New(rand.NewPCG(1, 2)),
		Logger: slog.New(slog.DiscardHandler),
	}
	for i, canon := range simSymbols {
		sym, _ := s.VenueSymbol(simVenue, canon)
		var scale = sc.Symbols[i].Scale
		cfg.Instruments = append(cfg.Instruments, exchange.Instrument{ID: exchange.InstrumentID(i + 1), Venue: 7, Symbol: sym, Canonical: canon, Scale: scale})
	}
	if mutateFeed != nil {
		mutateFeed(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &simEnv{t: t, sim: s, feed: f, cancel: cancel, done: make(chan error, 1),
		last: map[exchange.InstrumentID]exchange.BookTop{}, fresh: map[exchange.InstrumentID]int{},
		stale: map[exchange.InstrumentID]int{}, causes: map[exchange.StaleCause]int{},
		seqSeen: map[exchange.InstrumentID]seqAt{}}
	go func() { e.done <- f.Run(ctx) }()
	go e.consume(ctx, ring)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-e.done:
			if err != context.Canceled {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(simWait):
			t.Error("Run did not return after cancel")
		}
	})
	return e
}

func (e *simEnv) consume(ctx context.Context, ring *ringbuf.MPSC[exchange.BookTop]) {
	var ev exchange.BookTop
	for ctx.Err() == nil {
		if !ring.TryPop(&ev) {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		e.mu.Lock()
		e.last[ev.Inst] = ev
		if ev.Stale() {
			e.stale[ev.Inst]++
			e.causes[ev.Cause]++
			s := staleAt{inst: ev.Inst, cause: ev.Cause, at: time.Now(), recv: ev.RecvTS, lastData: e.seqSeen[ev.Inst].first}
			st := e.feed.Stats()
			for r := range s.rej {
				s.rej[r] = st.Rejects(exchange.RejectReason(r))
			}
			e.staleLog = append(e.staleLog, s)
			e.mu.Unlock()
			continue
		}
		e.fresh[ev.Inst]++
		if prev, ok := e.seqSeen[ev.Inst]; !ok || prev.seq != ev.Seq {
			e.seqSeen[ev.Inst] = seqAt{ev.Seq, ev.RecvTS}
		}
		e.mu.Unlock()
		if ev.Crossed() {
			e.addMismatch("crossed fresh book %s", fmtEvent(&ev))
		}
		canon := simSymbols[ev.Inst-1]
		wb, wa, ok := e.sim.BookAt(simVenue, canon, ev.Seq)
		if !ok {
			e.addMismatch("%s: no simulator state at seq=%d", canon, ev.Seq)
			continue
		}
		n := min(exchange.TopK, e.feed.cfg.Depth) // the bbo channel has one level
		wb, wa = wb[:min(len(wb), n)], wa[:min(len(wa), n)]
		if fmt.Sprint(ev.Bids[:ev.NBids]) != fmt.Sprint(wb) || fmt.Sprint(ev.Asks[:ev.NAsks]) != fmt.Sprint(wa) {
			e.addMismatch("%s at seq=%d:\n got %v %v\nwant %v %v", canon, ev.Seq, ev.Bids[:ev.NBids], ev.Asks[:ev.NAsks], wb, wa)
			continue
		}
		e.mu.Lock()
		e.checked++
		e.mu.Unlock()
	}
}

func (e *simEnv) addMismatch(format string, a ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.mismatch) < 10 {
		e.mismatch = append(e.mismatch, fmt.Sprintf(format, a...))
	}
}

// waitFor polls cond (under the lock) until it holds or d passes.
func (e *simEnv) waitFor(d time.Duration, what string, cond func() bool) time.Duration {
	e.t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		e.mu.Lock()
		ok := cond()
		e.mu.Unlock()
		if ok {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("%s: not within %v (stats: %s)", what, d, e.statsLine())
	return 0
}

func (e *simEnv) allFresh() bool {
	for i := range simSymbols {
		if ev, ok := e.last[exchange.InstrumentID(i+1)]; !ok || ev.Stale() {
			return false
		}
	}
	return true
}

func (e *simEnv) statsLine() string {
	st := e.feed.Stats()
	var rej []string
	for r := exchange.RejectReason(1); int(r) < exchange.NumRejectReasons; r++ {
		if n := st.Rejects(r); n > 0 {
			rej = append(rej, fmt.Sprintf("%s=%d", r, n))
		}
	}
	return fmt.Sprintf("msgs=%d pub=%d resyncs=%d gaps=%d reconnects=%d jumps=%d rejects=%v", st.Messages.Load(), st.Published.Load(),
		st.Resyncs.Load(), st.Gaps.Load(), st.Reconnects.Load(), e.feed.UJumps(), rej)
}

func (e *simEnv) noMismatch() {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.mismatch) > 0 {
		e.t.Fatalf("%d wrong fresh book(s), first: %s", len(e.mismatch), e.mismatch[0])
	}
}

// TestSimBooksMatchVenue: on a healthy simulator every book becomes fresh
// and every fresh event equals the simulator's state at its seq.
func TestSimBooksMatchVenue(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
	}{
		{"depth50", nil},
		{"depth200", func(c *Config) { c.Depth = 200 }},
		{"bbo", func(c *Config) { c.Channel = ChannelBBO }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t, nil, tc.cfg)
			e.waitFor(simWait, "all books fresh", e.allFresh)
			e.waitFor(simWait, "30 events checked", func() bool { return e.checked >= 30 })
			e.noMismatch()
			t.Log(e.statsLine())
		})
	}
}

// checkedNow returns how many fresh events were verified so far.
func (e *simEnv) checkedNow() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.checked
}

// TestSimContiguousNoFalseGaps: in the default "contiguous" mode a healthy
// simulator produces no gap, no resync and no rejection at all — u is
// contiguous per topic — and every fresh event equals the simulator's state
// at its seq, on every channel. Before the simulator numbered u per topic,
// depth topics skipped u (states that changed only deeper levels) and this
// mode resubscribed every second or so.
func TestSimContiguousNoFalseGaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
	}{
		{"depth50", nil},
		{"depth200", func(c *Config) { c.Depth = 200 }},
		{"bbo", func(c *Config) { c.Channel = ChannelBBO }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newSimEnv(t, func(c *sim.Config) {
				c.Dislocation.Prob = 0.05 // sweeps through many levels
			}, func(c *Config) {
				// Only gaps may resync here: a scheduling stall on a loaded
				// machine must not trip the age limit instead.
				c.AgeMax = simWait
				if tc.cfg != nil {
					tc.cfg(c)
				}
			})
			if e.feed.cfg.Continuity != ContinuityContiguous {
				t.Fatalf("continuity %q, want the default contiguous", e.feed.cfg.Continuity)
			}
			e.waitFor(simWait, "all books fresh", e.allFresh)
			e.mu.Lock()
			t0 := time.Now()
			checked0 := e.checked
			e.mu.Unlock()
			// 150 verified pushes (3 books at a 20 ms step make ~450 in
			// 3 s; bbo pushes only when the top level changes), however
			// long a loaded machine takes for them.
			e.waitFor(simWait, "150 fresh events verified", func() bool { return e.checked >= checked0+150 })
			st := e.feed.Stats()
			if st.Gaps.Load() != 0 || st.Resyncs.Load() != 0 || st.Reconnects.Load() != 0 {
				t.Errorf("clean stream: gaps %d resyncs %d reconnects %d (%s)", st.Gaps.Load(), st.Resyncs.Load(), st.Reconnects.Load(), e.statsLine())
			}
			for r := exchange.RejectReason(1); int(r) < exchange.NumRejectReasons; r++ {
				if n := st.Rejects(r); n > 0 {
					t.Errorf("clean stream: %d %s rejections", n, r)
				}
			}
			if e.feed.UJumps() != 0 {
				t.Errorf("%d u jumps", e.feed.UJumps())
			}
			e.mu.Lock()
			stale, checked := e.staleSince(t0), e.checked-checked0
			e.mu.Unlock()
			if len(stale) > 0 {
				t.Errorf("%d stale events after the initial sync, first %+v", len(stale), stale[0])
			}
			e.noMismatch()
			t.Logf("%d events verified; %s", checked, e.statsLine())
		})
	}
}

// staleSince returns the stale events after t0 (under the lock).
func (e *simEnv) staleSince(t0 time.Time) []staleAt {
	var out []staleAt
	for _, s := range e.staleLog {
		if s.at.After(t0) {
			out = append(out, s)
		}
	}
	return out
}

// TestSimFaults injects each stream fault of the simulator and checks the
// feed's answer: the books the fault concerns go stale with the right cause,
// signalled by the rejection the fault provokes (the reject is counted before
// the stale event is published) or, for a frozen feed, by the age limit and
// not before it; the others stay fresh, every book is fresh again, and no
// fresh event is ever wrong. No bound here is a wall-clock performance
// claim: each wait is on an event, under simWait.
func TestSimFaults(t *testing.T) {
	const btc = exchange.InstrumentID(1)
	type tc struct {
		name   string
		feed   func(*Config)
		fault  sim.Fault
		stale  []exchange.InstrumentID // must go stale
		cause  exchange.StaleCause
		reject exchange.RejectReason         // must be counted (0: none required)
		check  func(t *testing.T, e *simEnv) // after the stale check
		after  func(t *testing.T, e *simEnv) // once fresh again
	}
	all := []exchange.InstrumentID{1, 2, 3}
	cases := []tc{
		{name: "disconnect", fault: sim.Fault{Kind: sim.FaultDisconnect}, stale: all, cause: exchange.CauseDisconnect,
			after: func(t *testing.T, e *simEnv) {
				if e.feed.Stats().Reconnects.Load() == 0 {
					t.Error("no reconnect counted")
				}
			}},
		{name: "malformed_truncated", fault: sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformTruncated}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, reject: exchange.RejectSyntax},
		{name: "malformed_wrong_type", fault: sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformWrongType}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, reject: exchange.RejectSyntax},
		{name: "malformed_nan", fault: sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformNaN}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, reject: exchange.RejectNumber},
		{name: "malformed_negative", fault: sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformNegative}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, reject: exchange.RejectNumber},
		{name: "malformed_empty_price", fault: sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformEmptyPrice}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, reject: exchange.RejectNumber},
		{name: "crossed", fault: sim.Fault{Kind: sim.FaultCrossed}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, reject: exchange.RejectCrossed},
		{name: "crossed_bbo", feed: func(c *Config) { c.Channel = ChannelBBO }, fault: sim.Fault{Kind: sim.FaultCrossed}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, reject: exchange.RejectCrossed},
		{name: "gap", fault: sim.Fault{Kind: sim.FaultGap},
			stale: []exchange.InstrumentID{btc}, cause: exchange.CauseGap, reject: exchange.RejectSequence,
			after: func(t *testing.T, e *simEnv) {
				if g := e.feed.Stats().Gaps.Load(); g != 1 {
					t.Errorf("%d gaps counted for one skipped push", g)
				}
			}},
		{name: "gap_depth200", feed: func(c *Config) { c.Depth = 200 }, fault: sim.Fault{Kind: sim.FaultGap},
			stale: []exchange.InstrumentID{btc}, cause: exchange.CauseGap, reject: exchange.RejectSequence},
		{name: "frozen_feed", feed: func(c *Config) { c.AgeMax = time.Second },
			fault: sim.Fault{Kind: sim.FaultStale, Duration: 3 * time.Second}, stale: all, cause: exchange.CauseAge},
		{name: "huge_frame_levels", fault: sim.Fault{Kind: sim.FaultHugeFrame, Size: 256 << 10}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, reject: exchange.RejectTooLarge},
		{name: "huge_frame_bytes", feed: func(c *Config) { c.MaxFrame = 64 << 10 }, fault: sim.Fault{Kind: sim.FaultHugeFrame, Size: 256 << 10},
			stale: all, cause: exchange.CauseBadData, reject: exchange.RejectTooLarge},
		{name: "unknown_symbol", fault: sim.Fault{Kind: sim.FaultUnknownSymbol}, reject: exchange.RejectUnknownSymbol},
		{name: "snapshot_midstream", fault: sim.Fault{Kind: sim.FaultSnapshot},
			check: func(t *testing.T, e *simEnv) {
				e.waitFor(simWait, "mid-stream snapshot counted as a resync", func() bool { return e.feed.Stats().Resyncs.Load() > 0 })
			}},
		{name: "restart", fault: sim.Fault{Kind: sim.FaultRestart},
			check: func(t *testing.T, e *simEnv) {
				// u = 1 on every topic: the snapshots are taken (a resync
				// each), and the deltas after them (u = 2, 3, …) apply
				// without a gap; events keep matching BookAt by seq, which a
				// restart does not reset.
				e.waitFor(simWait, "3 resyncs after the restart", func() bool { return e.feed.Stats().Resyncs.Load() >= 3 })
				checked := e.checkedNow()
				e.waitFor(simWait, "events verified after the restart", func() bool { return e.checked >= checked+30 })
				if n := e.feed.Stats().Resyncs.Load(); n != 3 {
					t.Errorf("%d resyncs after a restart of 3 books, want 3", n)
				}
				if st := e.feed.Stats(); st.Gaps.Load() != 0 || st.Rejects(exchange.RejectSequence) != 0 {
					t.Errorf("restart: gaps %d, sequence rejects %d", st.Gaps.Load(), st.Rejects(exchange.RejectSequence))
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newSimEnv(t, nil, c.feed)
			e.waitFor(simWait, "all books fresh", e.allFresh)
			e.waitFor(simWait, "events checked", func() bool { return e.checked >= 10 })
			t0 := time.Now()
			rejBefore := e.feed.Stats().Rejects(c.reject)
			if err := e.sim.Inject(simVenue, c.fault); err != nil {
				t.Fatal(err)
			}
			if c.reject != 0 {
				e.waitFor(simWait, "a "+c.reject.String()+" rejection counted", func() bool { return e.feed.Stats().Rejects(c.reject) > rejBefore })
			}
			if len(c.stale) > 0 {
				// The first stale event of each book after the fault: its
				// cause, and that the rejection preceded it.
				first := map[exchange.InstrumentID]staleAt{}
				took := e.waitFor(simWait, "stale "+c.cause.String(), func() bool {
					for _, s := range e.staleSince(t0) {
						if _, ok := first[s.inst]; !ok {
							first[s.inst] = s
						}
					}
					for _, id := range c.stale {
						if _, ok := first[id]; !ok {
							return false
						}
					}
					return true
				})
				t.Logf("stale after %v", took.Round(time.Millisecond))
				ageMax := int64(e.feed.cfg.AgeMax)
				for _, id := range c.stale {
					s := first[id]
					if s.cause != c.cause {
						t.Errorf("%s went stale with cause %s, want %s", simSymbols[id-1], s.cause, c.cause)
					}
					if c.reject != 0 && s.rej[c.reject] <= rejBefore {
						t.Errorf("%s went stale (%s) before the %s rejection was counted", simSymbols[id-1], s.cause, c.reject)
					}
					if c.cause == exchange.CauseAge {
						// Not before the age limit: the feed's stamp of the
						// stale event is at least AgeMax after the book's
						// last data (lastData is no later than it).
						if quiet := s.recv - s.lastData; quiet < ageMax {
							t.Errorf("%s went stale for age after %v without data, the limit is %v", simSymbols[id-1], time.Duration(quiet), e.feed.cfg.AgeMax)
						} else {
							t.Logf("%s: stale for age after %v without data (limit %v)", simSymbols[id-1], time.Duration(quiet).Round(time.Millisecond), e.feed.cfg.AgeMax)
						}
					}
				}
			}
			if c.check != nil {
				c.check(t, e)
			}
			took := e.waitFor(simWait+c.fault.Duration, "fresh again", e.allFresh)
			t.Logf("fresh again %v later; %s", took.Round(time.Millisecond), e.statsLine())
			if c.after != nil {
				c.after(t, e)
			}
			if len(c.stale) > 0 && len(c.stale) < len(all) {
				// Books the fault did not concern never went stale.
				e.mu.Lock()
				for _, s := range e.staleSince(t0) {
					if s.inst != btc {
						t.Errorf("%s went stale (%s) on a fault of BTC-USDT", simSymbols[s.inst-1], s.cause)
					}
				}
				e.mu.Unlock()
			}
			e.noMismatch()
		})
	}
}

// TestSimHandover: with a short Lifetime the feed replaces its connection
// again and again without a single stale event: the new connection builds
// its books silently and takes over when they are all synced, and the old
// connection is closed (were it not, after three handovers four would stay
// open).
func TestSimHandover(t *testing.T) {
	e := newSimEnv(t, nil, func(c *Config) { c.Lifetime = 400 * time.Millisecond })
	e.waitFor(simWait, "all books fresh", e.allFresh)
	t0 := time.Now()
	g0 := e.ownerGen()
	e.waitFor(simWait, "three handovers", func() bool { return e.ownerGen() >= g0+3 })
	e.waitFor(simWait, "at most two connections open", func() bool { return e.sim.Conns(simVenue) <= 2 })
	e.mu.Lock()
	stale := e.staleSince(t0)
	e.mu.Unlock()
	if len(stale) > 0 {
		t.Fatalf("%d stale event(s) during handovers, first %+v (%s)", len(stale), stale[0], e.statsLine())
	}
	if n := e.feed.Stats().Reconnects.Load(); n != 0 {
		t.Errorf("%d recovery reconnects during handovers", n)
	}
	e.noMismatch()
	t.Log(e.statsLine())
}

// ownerGen returns the generation of the feed's publishing connection (each
// handover or reconnect starts a new one).
func (e *simEnv) ownerGen() uint64 {
	for g := uint64(1); g < 1<<20; g++ {
		if e.feed.owner.Is(g) {
			return g
		}
	}
	return 0
}

// TestSimInstruments fetches the simulator's spot instruments and maps its
// rate-limit answers to classified errors.
func TestSimInstruments(t *testing.T) {
	e := newSimEnv(t, nil, nil)
	got, err := e.feed.FetchInstruments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// DefaultConfig: BTC tick 0.10 step 0.0001 minQty 0.0001 minNotional 5
	// in scale {2, 8}.
	if b := got[0]; b.Tick != 10 || b.Step != 10_000 || b.MinQty != 10_000 || b.MinNotional != 500 {
		t.Fatalf("BTCUSDT filters %+v", b)
	}
	if s := got[2]; s.Tick != 10 || s.Step != 1_000_000 { // SOL: tick 0.01 in Px 3, step 0.01 in Qty 8
		t.Fatalf("SOLUSDT filters %+v", s)
	}
	if err := e.sim.Inject(simVenue, sim.Fault{Kind: sim.FaultRateLimit, RetryAfter: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	// The reset time (3 s ahead when the simulator answered) is read from
	// the answer; a stalled client sees less of it left, never more.
	_, err = e.feed.FetchInstruments(context.Background())
	var xe *exchange.Error
	if !errorsAs(err, &xe) || xe.Kind != exchange.KindRateLimited || xe.Code != "10006" || xe.RetryAfter <= 0 || xe.RetryAfter > 4*time.Second {
		t.Fatalf("10006: %v (%+v)", err, xe)
	}
	if err := e.sim.Inject(simVenue, sim.Fault{Kind: sim.FaultRateLimit, Status: 403}); err != nil {
		t.Fatal(err)
	}
	_, err = e.feed.FetchInstruments(context.Background())
	if !errorsAs(err, &xe) || xe.Kind != exchange.KindRateLimited || xe.HTTPStatus != 403 || xe.RetryAfter < 10*time.Minute {
		t.Fatalf("403: %v (%+v)", err, xe)
	}
}

func errorsAs(err error, target **exchange.Error) bool { return errors.As(err, target) }
