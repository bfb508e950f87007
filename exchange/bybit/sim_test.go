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
}

// staleAt is one stale event as the consumer saw it.
type staleAt struct {
	inst  exchange.InstrumentID
	cause exchange.StaleCause
	at    time.Time
}

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
		// Continuity: the default ("contiguous").
		AgeMax: time.Second, PingEvery: 250 * time.Millisecond, SnapshotTimeout: time.Second,
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
		stale: map[exchange.InstrumentID]int{}, causes: map[exchange.StaleCause]int{}}
	go func() { e.done <- f.Run(ctx) }()
	go e.consume(ctx, ring)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-e.done:
			if err != context.Canceled {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(5 * time.Second):
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
			e.staleLog = append(e.staleLog, staleAt{ev.Inst, ev.Cause, time.Now()})
			e.mu.Unlock()
			continue
		}
		e.fresh[ev.Inst]++
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
			e.waitFor(3*time.Second, "all books fresh", e.allFresh)
			e.waitFor(3*time.Second, "30 events checked", func() bool { return e.checked >= 30 })
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
				c.AgeMax = 5 * time.Second
				if tc.cfg != nil {
					tc.cfg(c)
				}
			})
			if e.feed.cfg.Continuity != ContinuityContiguous {
				t.Fatalf("continuity %q, want the default contiguous", e.feed.cfg.Continuity)
			}
			e.waitFor(3*time.Second, "all books fresh", e.allFresh)
			e.mu.Lock()
			t0 := time.Now()
			checked0 := e.checked
			e.mu.Unlock()
			time.Sleep(3 * time.Second)
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
			// 3 books × 3 s at a 20 ms step is ~450 pushes (bbo: only when
			// the top level changes); a loaded machine drops ticks.
			if checked < 150 {
				t.Errorf("only %d fresh events verified against BookAt in 3 s", checked)
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
// feed's answer: the books the fault concerns go stale with the right cause
// within one message (or the age limit), the others stay fresh, every book
// is fresh again within 2 s, and no fresh event is ever wrong.
func TestSimFaults(t *testing.T) {
	const btc = exchange.InstrumentID(1)
	type tc struct {
		name   string
		feed   func(*Config)
		fault  sim.Fault
		stale  []exchange.InstrumentID // must go stale
		cause  exchange.StaleCause
		within time.Duration
		reject exchange.RejectReason         // must be counted (0: none required)
		check  func(t *testing.T, e *simEnv) // after the stale check
		after  func(t *testing.T, e *simEnv) // once fresh again
	}
	all := []exchange.InstrumentID{1, 2, 3}
	cases := []tc{
		{name: "disconnect", fault: sim.Fault{Kind: sim.FaultDisconnect}, stale: all, cause: exchange.CauseDisconnect, within: time.Second,
			after: func(t *testing.T, e *simEnv) {
				if e.feed.Stats().Reconnects.Load() == 0 {
					t.Error("no reconnect counted")
				}
			}},
		{name: "malformed_truncated", fault: sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformTruncated}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, within: time.Second, reject: exchange.RejectSyntax},
		{name: "malformed_wrong_type", fault: sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformWrongType}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, within: time.Second, reject: exchange.RejectSyntax},
		{name: "malformed_nan", fault: sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformNaN}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, within: time.Second, reject: exchange.RejectNumber},
		{name: "malformed_negative", fault: sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformNegative}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, within: time.Second, reject: exchange.RejectNumber},
		{name: "malformed_empty_price", fault: sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformEmptyPrice}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, within: time.Second, reject: exchange.RejectNumber},
		{name: "crossed", fault: sim.Fault{Kind: sim.FaultCrossed}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, within: time.Second, reject: exchange.RejectCrossed},
		{name: "crossed_bbo", feed: func(c *Config) { c.Channel = ChannelBBO }, fault: sim.Fault{Kind: sim.FaultCrossed}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, within: time.Second, reject: exchange.RejectCrossed},
		{name: "gap", fault: sim.Fault{Kind: sim.FaultGap},
			stale: []exchange.InstrumentID{btc}, cause: exchange.CauseGap, within: time.Second, reject: exchange.RejectSequence,
			after: func(t *testing.T, e *simEnv) {
				if g := e.feed.Stats().Gaps.Load(); g != 1 {
					t.Errorf("%d gaps counted for one skipped push", g)
				}
			}},
		{name: "gap_depth200", feed: func(c *Config) { c.Depth = 200 }, fault: sim.Fault{Kind: sim.FaultGap},
			stale: []exchange.InstrumentID{btc}, cause: exchange.CauseGap, within: time.Second, reject: exchange.RejectSequence},
		{name: "frozen_feed", fault: sim.Fault{Kind: sim.FaultStale, Duration: 2500 * time.Millisecond}, stale: all,
			cause: exchange.CauseAge, within: 2 * time.Second},
		{name: "huge_frame_levels", fault: sim.Fault{Kind: sim.FaultHugeFrame, Size: 256 << 10}, stale: []exchange.InstrumentID{btc},
			cause: exchange.CauseBadData, within: time.Second, reject: exchange.RejectTooLarge},
		{name: "huge_frame_bytes", feed: func(c *Config) { c.MaxFrame = 64 << 10 }, fault: sim.Fault{Kind: sim.FaultHugeFrame, Size: 256 << 10},
			stale: all, cause: exchange.CauseBadData, within: time.Second, reject: exchange.RejectTooLarge},
		{name: "unknown_symbol", fault: sim.Fault{Kind: sim.FaultUnknownSymbol}, reject: exchange.RejectUnknownSymbol},
		{name: "snapshot_midstream", fault: sim.Fault{Kind: sim.FaultSnapshot},
			check: func(t *testing.T, e *simEnv) {
				deadline := time.Now().Add(time.Second)
				for e.feed.Stats().Resyncs.Load() == 0 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if e.feed.Stats().Resyncs.Load() == 0 {
					t.Error("mid-stream snapshot not counted as a resync")
				}
			}},
		{name: "restart", fault: sim.Fault{Kind: sim.FaultRestart},
			check: func(t *testing.T, e *simEnv) {
				// u = 1 on every topic: the snapshots are taken (a resync
				// each), and the deltas after them (u = 2, 3, …) apply
				// without a gap; events keep matching BookAt by seq, which a
				// restart does not reset.
				deadline := time.Now().Add(time.Second)
				for e.feed.Stats().Resyncs.Load() < 3 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if n := e.feed.Stats().Resyncs.Load(); n != 3 {
					t.Errorf("%d resyncs after a restart of 3 books, want 3", n)
				}
				checked := e.checkedNow()
				e.waitFor(time.Second, "events verified after the restart", func() bool { return e.checked >= checked+30 })
				if st := e.feed.Stats(); st.Gaps.Load() != 0 || st.Rejects(exchange.RejectSequence) != 0 {
					t.Errorf("restart: gaps %d, sequence rejects %d", st.Gaps.Load(), st.Rejects(exchange.RejectSequence))
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newSimEnv(t, nil, c.feed)
			e.waitFor(3*time.Second, "all books fresh", e.allFresh)
			e.waitFor(3*time.Second, "events checked", func() bool { return e.checked >= 10 })
			time.Sleep(50 * time.Millisecond)
			t0 := time.Now()
			rejBefore := e.feed.Stats().Rejects(c.reject)
			if err := e.sim.Inject(simVenue, c.fault); err != nil {
				t.Fatal(err)
			}
			if len(c.stale) > 0 {
				took := e.waitFor(c.within, "stale "+c.cause.String(), func() bool {
					got := map[exchange.InstrumentID]bool{}
					for _, s := range e.staleSince(t0) {
						if s.cause == c.cause {
							got[s.inst] = true
						}
					}
					for _, id := range c.stale {
						if !got[id] {
							return false
						}
					}
					return true
				})
				t.Logf("stale after %v", took.Round(time.Millisecond))
			}
			if c.reject != 0 {
				deadline := time.Now().Add(time.Second)
				for e.feed.Stats().Rejects(c.reject) == rejBefore && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if e.feed.Stats().Rejects(c.reject) == rejBefore {
					t.Errorf("no %s rejection counted", c.reject)
				}
			}
			if c.check != nil {
				c.check(t, e)
			}
			wait := 2 * time.Second
			if c.fault.Kind == sim.FaultStale {
				wait += c.fault.Duration
			}
			took := e.waitFor(wait, "fresh again", e.allFresh)
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
// its books silently and takes over when they are all synced.
func TestSimHandover(t *testing.T) {
	e := newSimEnv(t, nil, func(c *Config) { c.Lifetime = 400 * time.Millisecond })
	e.waitFor(3*time.Second, "all books fresh", e.allFresh)
	e.mu.Lock()
	t0 := time.Now()
	e.mu.Unlock()
	time.Sleep(1500 * time.Millisecond)
	e.mu.Lock()
	stale := e.staleSince(t0)
	e.mu.Unlock()
	if len(stale) > 0 {
		t.Fatalf("%d stale event(s) during handovers, first %+v (%s)", len(stale), stale[0], e.statsLine())
	}
	if n := e.feed.Stats().Reconnects.Load(); n != 0 {
		t.Errorf("%d recovery reconnects during handovers", n)
	}
	if c := e.sim.Conns(simVenue); c > 2 {
		t.Errorf("%d connections open: old ones not closed", c)
	}
	e.noMismatch()
	t.Log(e.statsLine())
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
	_, err = e.feed.FetchInstruments(context.Background())
	var xe *exchange.Error
	if !errorsAs(err, &xe) || xe.Kind != exchange.KindRateLimited || xe.Code != "10006" || xe.RetryAfter <= time.Second || xe.RetryAfter > 4*time.Second {
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
