package binance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/sim"
	"arb/ringbuf"
)

// simWait bounds every wait for something the feed must do. It is a deadline
// for a hang, not a performance bound: the tests wait on the event, and a
// loaded 2-core machine running the race detector stalls goroutines for
// seconds.
const simWait = 30 * time.Second

// simAgeMax is the age limit of the feeds whose subject is not the age
// limit: far above a scheduling stall, so a stalled reader (which reads
// queued frames late, the other books looking silent meanwhile) never makes
// a book stale.
const simAgeMax = 10 * time.Second

// recorder is the test's consumer of the ring: it keeps every event and
// checks each fresh one against the simulator's book at the event's Seq.
type recorder struct {
	mu      sync.Mutex
	popped  uint64 // events taken from the ring
	events  []exchange.BookTop
	last    map[exchange.InstrumentID]exchange.BookTop
	checked int
	wrong   []string
}

// consume pops the ring until ctx ends; check returns "" or a mismatch.
func (r *recorder) consume(ctx context.Context, ring *ringbuf.MPSC[exchange.BookTop], check func(*exchange.BookTop) string) {
	var ev exchange.BookTop
	for ctx.Err() == nil {
		if !ring.TryPop(&ev) {
			ring.Wait(ctx, 5*time.Millisecond)
			continue
		}
		msg := ""
		if !ev.Stale() && check != nil {
			msg = check(&ev)
		}
		r.mu.Lock()
		r.popped++
		if len(r.events) < 1<<20 {
			r.events = append(r.events, ev)
		}
		r.last[ev.Inst] = ev
		if !ev.Stale() {
			r.checked++
		}
		if msg != "" && len(r.wrong) < 10 {
			r.wrong = append(r.wrong, msg)
		}
		r.mu.Unlock()
	}
}

// mark returns the number of events so far (a point to look after).
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// waitFor polls cond (under the recorder's lock) until it holds or d passes.
func (r *recorder) waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("timeout after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// allFresh reports whether the latest event of every id is fresh.
func (r *recorder) allFresh(ids []exchange.InstrumentID) bool {
	for _, id := range ids {
		if ev, ok := r.last[id]; !ok || ev.Stale() {
			return false
		}
	}
	return true
}

// staleAfter returns the stale events published after mark.
func (r *recorder) staleAfter(mark int) []exchange.BookTop {
	var out []exchange.BookTop
	for _, ev := range r.events[mark:] {
		if ev.Stale() {
			out = append(out, ev)
		}
	}
	return out
}

// simEnv is a simulated Binance venue and a Feed connected to it.
type simEnv struct {
	sim   *sim.Sim
	feed  *Feed
	rec   *recorder
	ids   []exchange.InstrumentID
	canon map[exchange.InstrumentID]string
	stop  func() error
}

func startSimEnv(t *testing.T, tune func(*sim.Config, *Config)) *simEnv {
	t.Helper()
	sc := sim.DefaultConfig()
	sc.Venues = sc.Venues[:1] // binance
	sc.StepInterval = 20 * time.Millisecond
	sc.Binance.PingInterval = 100 * time.Millisecond // pongs must copy the payload, or the sim closes
	sc.Binance.PongTimeout = 5 * time.Second         // far above a stall of the feed's reader
	sc.Dislocation.Prob, sc.Quiet.Prob = 0, 0
	var insts []exchange.Instrument
	for k, s := range sc.Symbols {
		insts = append(insts, exchange.Instrument{ID: exchange.InstrumentID(k + 1), Venue: 1, Canonical: s.Symbol, Scale: s.Scale})
	}
	fc := Config{Venue: 1, Name: "binance", Instruments: insts, AgeMax: simAgeMax,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, MaxFrame: 256 << 10,
		Ring: ringbuf.NewMPSC[exchange.BookTop](1 << 12), Logger: discard()}
	if tune != nil {
		tune(&sc, &fc)
	}
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	urls, _ := s.URLs("binance")
	fc.WSURL, fc.RESTURL = urls.WSBase, urls.REST
	env := &simEnv{sim: s, rec: &recorder{last: map[exchange.InstrumentID]exchange.BookTop{}}, canon: map[exchange.InstrumentID]string{}}
	for k := range fc.Instruments {
		in := &fc.Instruments[k]
		in.Symbol, _ = s.VenueSymbol("binance", in.Canonical)
		env.ids = append(env.ids, in.ID)
		env.canon[in.ID] = in.Canonical
	}
	f, err := New(fc)
	if err != nil {
		t.Fatal(err)
	}
	env.feed = f
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	cctx, ccancel := context.WithCancel(context.Background())
	cdone := make(chan struct{})
	go func() { defer close(cdone); env.rec.consume(cctx, fc.Ring, env.check) }()
	var once sync.Once
	var runErr error
	env.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(simWait):
				runErr = fmt.Errorf("Run did not return within %v of cancel", simWait)
			}
			// Let the consumer take every event published (Run has returned:
			// no more come).
			for deadline := time.Now().Add(simWait); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				env.rec.mu.Lock()
				n := env.rec.popped
				env.rec.mu.Unlock()
				if n >= f.Stats().Published.Load() {
					break
				}
			}
			ccancel()
			<-cdone
		})
		return runErr
	}
	t.Cleanup(func() { env.stop() })
	return env
}

// check compares a fresh event with the simulator's book at the same Seq.
func (e *simEnv) check(ev *exchange.BookTop) string {
	bids, asks, ok := e.sim.BookAt("binance", e.canon[ev.Inst], ev.Seq)
	if !ok {
		return fmt.Sprintf("%s: seq %d not in the simulator's history", e.canon[ev.Inst], ev.Seq)
	}
	wb, wa := bids[:min(exchange.TopK, len(bids))], asks[:min(exchange.TopK, len(asks))]
	if !slices.Equal(ev.Bids[:ev.NBids], wb) || !slices.Equal(ev.Asks[:ev.NAsks], wa) {
		return fmt.Sprintf("%s seq %d: published %v / %v, venue %v / %v", e.canon[ev.Inst], ev.Seq, ev.Bids[:ev.NBids], ev.Asks[:ev.NAsks], wb, wa)
	}
	return ""
}

func (e *simEnv) waitAllFresh(t *testing.T, d time.Duration) time.Duration {
	t.Helper()
	return e.rec.waitFor(t, d, "every book fresh", func() bool { return e.rec.allFresh(e.ids) })
}

func (e *simEnv) assertCorrect(t *testing.T) {
	t.Helper()
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	if len(e.rec.wrong) > 0 {
		t.Fatalf("published books differ from the venue's:\n%v", e.rec.wrong)
	}
}

// TestSimSyncAndShutdown: against the simulator speaking Binance's protocol
// (server pings every 100 ms, answered with the payload or the sim cuts the
// connection), every book becomes fresh, every fresh event equals the
// venue's book at its Seq, and Run returns ctx's error on cancel after
// publishing every book stale.
func TestSimSyncAndShutdown(t *testing.T) {
	env := startSimEnv(t, nil)
	took := env.waitAllFresh(t, simWait)
	t.Logf("all books fresh after %v", took)
	mark := env.rec.mark()
	env.rec.mu.Lock()
	checked0 := env.rec.checked
	env.rec.mu.Unlock()
	// 20 verified events (three symbols, one diff event per 100 ms each:
	// a second's worth, with the server pinging every 100 ms meanwhile).
	env.rec.waitFor(t, simWait, "20 fresh events", func() bool { return env.rec.checked >= checked0+20 })
	env.rec.mu.Lock()
	stale := env.rec.staleAfter(mark)
	env.rec.mu.Unlock()
	if len(stale) > 0 {
		t.Fatalf("stale events on a healthy connection (pongs?): %+v", stale[0])
	}
	env.assertCorrect(t)
	st := env.feed.Stats()
	if st.Reconnects.Load() != 0 || st.Gaps.Load() != 0 || st.Connected.Load() != 1 {
		t.Fatalf("reconnects %d gaps %d connected %d", st.Reconnects.Load(), st.Gaps.Load(), st.Connected.Load())
	}
	if err := env.stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	env.rec.mu.Lock()
	defer env.rec.mu.Unlock()
	for _, id := range env.ids {
		if ev := env.rec.last[id]; !ev.Stale() || ev.Cause != exchange.CauseDisconnect {
			t.Fatalf("after shutdown book %d: %+v", id, ev)
		}
	}
	if st.Connected.Load() != 0 {
		t.Fatal("still connected")
	}
}

// TestSimFaults injects each fault the simulator offers for Binance into one
// running feed and checks that the affected books go stale with the right
// cause (the first stale event of each after the fault has it) and are
// fresh again, and that no published book is ever wrong. The frozen feed
// runs on a feed of its own with an 800 ms age limit; the other feed's is
// far above any scheduling stall, so no book goes stale for age instead of
// the fault. Every wait is on the event, under simWait.
func TestSimFaults(t *testing.T) {
	type faultCase struct {
		name  string
		fault sim.Fault
		stale []exchange.InstrumentID // books that must go stale
		cause exchange.StaleCause
	}
	run := func(t *testing.T, env *simEnv, c faultCase) {
		env.waitAllFresh(t, simWait)
		mark := env.rec.mark()
		rejects := env.feed.Stats().Rejects(exchange.RejectUnknownSymbol)
		injected := time.Now()
		if err := env.sim.Inject("binance", c.fault); err != nil {
			t.Fatal(err)
		}
		if len(c.stale) == 0 {
			env.rec.waitFor(t, simWait, "unknown symbol counted", func() bool {
				return env.feed.Stats().Rejects(exchange.RejectUnknownSymbol) > rejects
			})
			time.Sleep(200 * time.Millisecond) // a window to watch for stale books
			env.rec.mu.Lock()
			stale := env.rec.staleAfter(mark)
			env.rec.mu.Unlock()
			if len(stale) > 0 {
				t.Fatalf("an unknown symbol made a book stale: %+v", stale[0])
			}
			return
		}
		defer func() {
			if t.Failed() {
				t.Logf("faults: %+v; rejects crossed %d syntax %d number %d", env.sim.FaultLog("binance"),
					env.feed.Stats().Rejects(exchange.RejectCrossed), env.feed.Stats().Rejects(exchange.RejectSyntax), env.feed.Stats().Rejects(exchange.RejectNumber))
			}
		}()
		first := map[exchange.InstrumentID]exchange.BookTop{}
		env.rec.waitFor(t, simWait+c.fault.Duration, "stale "+c.cause.String(), func() bool {
			for _, ev := range env.rec.staleAfter(mark) {
				if _, ok := first[ev.Inst]; !ok {
					first[ev.Inst] = ev
				}
			}
			for _, id := range c.stale {
				if _, ok := first[id]; !ok {
					return false
				}
			}
			return true
		})
		for _, id := range c.stale {
			if ev := first[id]; ev.Cause != c.cause {
				t.Errorf("%s went stale with cause %s, want %s", env.canon[id], ev.Cause, c.cause)
			}
		}
		wentStale := time.Since(injected)
		back := env.waitAllFresh(t, simWait+c.fault.Duration)
		t.Logf("stale after %v, fresh again %v later", wentStale, back)
		env.assertCorrect(t)
	}

	// 100 ms steps: the simulator applies a stream fault to the next step's
	// update, and with shorter steps most steps send nothing on the @100ms
	// diff stream, so the fault would not reach this subscriber.
	env := startSimEnv(t, func(sc *sim.Config, _ *Config) { sc.StepInterval = 100 * time.Millisecond })
	env.waitAllFresh(t, simWait)
	btc := env.ids[0] // stream faults hit the first symbol by default
	for _, c := range []faultCase{
		{"gap", sim.Fault{Kind: sim.FaultGap}, []exchange.InstrumentID{btc}, exchange.CauseGap},
		{"truncated", sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformTruncated}, []exchange.InstrumentID{btc}, exchange.CauseBadData},
		{"wrong type", sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformWrongType}, []exchange.InstrumentID{btc}, exchange.CauseBadData},
		{"NaN", sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformNaN}, []exchange.InstrumentID{btc}, exchange.CauseBadData},
		{"negative", sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformNegative}, []exchange.InstrumentID{btc}, exchange.CauseBadData},
		{"empty price", sim.Fault{Kind: sim.FaultMalformed, Malform: sim.MalformEmptyPrice}, []exchange.InstrumentID{btc}, exchange.CauseBadData},
		{"crossed", sim.Fault{Kind: sim.FaultCrossed}, []exchange.InstrumentID{btc}, exchange.CauseBadData},
		{"huge frame", sim.Fault{Kind: sim.FaultHugeFrame, Size: 1 << 20}, env.ids, exchange.CauseBadData},
		{"disconnect", sim.Fault{Kind: sim.FaultDisconnect}, env.ids, exchange.CauseDisconnect},
		{"unknown symbol", sim.Fault{Kind: sim.FaultUnknownSymbol}, nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) { run(t, env, c) })
	}
	if env.feed.Stats().Reconnects.Load() < 2 {
		t.Fatalf("reconnects %d: disconnect and huge frame each reconnect", env.feed.Stats().Reconnects.Load())
	}

	aged := startSimEnv(t, func(sc *sim.Config, c *Config) {
		sc.StepInterval = 100 * time.Millisecond
		c.AgeMax = 800 * time.Millisecond
	})
	t.Run("frozen feed", func(t *testing.T) {
		run(t, aged, faultCase{"frozen feed", sim.Fault{Kind: sim.FaultStale, Duration: 1500 * time.Millisecond}, aged.ids, exchange.CauseAge})
	})
	if aged.feed.Stats().Reconnects.Load() < 1 {
		t.Fatal("the frozen feed did not reconnect")
	}
}

// TestSimHandover: with a short Lifetime the feed hands over to a new
// connection again and again; books never go stale across the switch.
func TestSimHandover(t *testing.T) {
	// 100 ms steps: both connections receive each step's frame at nearly the
	// same instant, which is when a retired connection could (wrongly) take
	// ownership back before it is closed.
	env := startSimEnv(t, func(sc *sim.Config, c *Config) {
		sc.StepInterval = 100 * time.Millisecond
		c.Lifetime = 500 * time.Millisecond
	})
	env.waitAllFresh(t, simWait)
	mark := env.rec.mark()
	env.rec.waitFor(t, simWait, "three handovers", func() bool { return env.feed.Handovers() >= 3 })
	// The retired connection is closed right after a handover; with three
	// done and a fourth only 500 ms away, one connection at some moment
	// shows the old ones are not left open.
	env.rec.waitFor(t, simWait, "one connection open", func() bool { return env.sim.Conns("binance") == 1 })
	env.rec.mu.Lock()
	stale := env.rec.staleAfter(mark)
	env.rec.mu.Unlock()
	if len(stale) > 0 {
		t.Fatalf("stale during handovers: %+v", stale[0])
	}
	env.assertCorrect(t)
}

// TestSimServerShutdown: serverShutdown starts a handover at once; the old
// connection keeps delivering until the new one is synced, so no book goes
// stale even though the venue closes the old connection after it. (The
// venue closes it 5 s later: the handover must be done by then, however
// slow a loaded machine makes it.)
func TestSimServerShutdown(t *testing.T) {
	env := startSimEnv(t, nil)
	env.waitAllFresh(t, simWait)
	mark := env.rec.mark()
	const closeAfter = 5 * time.Second
	injected := time.Now()
	if err := env.sim.Inject("binance", sim.Fault{Kind: sim.FaultServerShutdown, Duration: closeAfter}); err != nil {
		t.Fatal(err)
	}
	env.rec.waitFor(t, simWait, "handover", func() bool { return env.feed.Handovers() == 1 })
	time.Sleep(time.Until(injected.Add(closeAfter + 200*time.Millisecond))) // the venue closes the old connection meanwhile
	env.rec.waitFor(t, simWait, "one connection open", func() bool { return env.sim.Conns("binance") == 1 })
	env.rec.mu.Lock()
	stale := env.rec.staleAfter(mark)
	env.rec.mu.Unlock()
	if len(stale) > 0 {
		t.Fatalf("stale around serverShutdown: %+v", stale[0])
	}
	env.assertCorrect(t)
}

// TestSimRateLimited: the snapshot request is answered 429 with Retry-After;
// the feed waits that long (for the whole feed), counts it and then syncs.
func TestSimRateLimited(t *testing.T) {
	env := startSimEnv(t, func(sc *sim.Config, c *Config) {})
	env.waitAllFresh(t, simWait)
	if err := env.sim.Inject("binance", sim.Fault{Kind: sim.FaultRateLimit, Count: 1, RetryAfter: time.Second, Status: 418}); err != nil {
		t.Fatal(err)
	}
	if err := env.sim.Inject("binance", sim.Fault{Kind: sim.FaultGap}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	env.rec.waitFor(t, simWait, "rate limit seen", func() bool { return env.feed.RateLimited() == 1 })
	back := env.waitAllFresh(t, simWait)
	if since := time.Since(start); since < time.Second {
		t.Fatalf("fresh again after %v, before Retry-After", since)
	}
	t.Logf("fresh again %v after the 418", back)
	env.assertCorrect(t)
}
