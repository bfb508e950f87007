package exchangetest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"arb/exchange"
	"arb/exchange/sim"
)

// testCase is one subtest, or a group of them (sub).
type testCase struct {
	name string
	fn   func(*rig)
	opts []rigOption
	sub  []testCase
}

// malforms are the simulator's frame corruptions and the reject reason the
// exchange vocabulary assigns each (RejectSyntax: malformed JSON or wrong
// value types; RejectNumber: empty, NaN or negative numbers).
var malforms = []struct {
	name   string
	m      sim.Malform
	reason exchange.RejectReason
}{
	{"truncated", sim.MalformTruncated, exchange.RejectSyntax},
	{"wrong_type", sim.MalformWrongType, exchange.RejectSyntax},
	{"nan", sim.MalformNaN, exchange.RejectNumber},
	{"negative", sim.MalformNegative, exchange.RejectNumber},
	{"empty_price", sim.MalformEmptyPrice, exchange.RejectNumber},
}

// cases lists the subtests in the order they run.
func (h *Harness) cases() []testCase {
	cs := []testCase{
		{name: "fresh", fn: (*rig).fresh},
		{name: "gap", fn: func(r *rig) {
			r.streamFault(sim.Fault{Kind: sim.FaultGap}, []exchange.StaleCause{exchange.CauseGap},
				"Stats().Gaps", func(b, a counters) bool { return a.gaps > b.gaps })
		}},
		{name: "disconnect", fn: (*rig).disconnect},
	}
	mal := testCase{name: "malformed"}
	for _, m := range malforms {
		m := m
		mal.sub = append(mal.sub, testCase{name: m.name, fn: func(r *rig) {
			r.streamFault(sim.Fault{Kind: sim.FaultMalformed, Malform: m.m}, []exchange.StaleCause{exchange.CauseBadData},
				fmt.Sprintf("Stats().Rejects(%s)", m.reason), func(b, a counters) bool { return a.rejects[m.reason] > b.rejects[m.reason] })
		}})
	}
	cs = append(cs, mal,
		testCase{name: "frozen", fn: (*rig).frozen, opts: []rigOption{func(_ *sim.Config, e *Env) { e.AgeMax = frozenAgeMax }}},
		testCase{name: "crossed", fn: func(r *rig) {
			r.streamFault(sim.Fault{Kind: sim.FaultCrossed}, []exchange.StaleCause{exchange.CauseBadData},
				"Stats().Rejects(crossed)", func(b, a counters) bool {
					return a.rejects[exchange.RejectCrossed] > b.rejects[exchange.RejectCrossed]
				})
		}},
		testCase{name: "unknown_symbol", fn: (*rig).unknownSymbol},
		testCase{name: "huge_frame", fn: func(r *rig) {
			r.streamFault(sim.Fault{Kind: sim.FaultHugeFrame, Size: hugeFrameFactor * r.env.MaxFrame},
				[]exchange.StaleCause{exchange.CauseBadData, exchange.CauseDisconnect},
				"Stats().Rejects(too_large)", func(b, a counters) bool {
					return a.rejects[exchange.RejectTooLarge] > b.rejects[exchange.RejectTooLarge]
				})
		}},
	)
	for _, f := range h.Faults {
		switch f {
		case sim.FaultChecksum:
			cs = append(cs, testCase{name: "checksum", fn: func(r *rig) {
				r.streamFault(sim.Fault{Kind: sim.FaultChecksum}, []exchange.StaleCause{exchange.CauseChecksum},
					"Stats().ChecksumFailures", func(b, a counters) bool { return a.checksum > b.checksum })
			}})
		case sim.FaultServerShutdown, sim.FaultNotice:
			cs = append(cs, testCase{name: f.String(), fn: func(r *rig) { r.announcedClose(f) }})
		case sim.FaultSnapshot:
			cs = append(cs, testCase{name: "snapshot", fn: (*rig).snapshot})
		case sim.FaultRestart:
			cs = append(cs, testCase{name: "restart", fn: (*rig).restart})
		}
	}
	cs = append(cs, testCase{name: "handover", fn: (*rig).handover, opts: []rigOption{func(c *sim.Config, e *Env) {
		e.Lifetime = handoverLifetime
		// Binance cuts connections at MaxLifetime: an adapter that does not
		// hand over before it is caught as a stale gap.
		c.Binance.MaxLifetime = handoverLifetime + 1500*time.Millisecond
	}}})
	return cs
}

// fresh: the adapter syncs every book, keeps it fresh without faults, and
// every fresh event equals the venue's book at its sequence.
func (r *rig) fresh() {
	t := r.t
	tFresh := r.warm()
	for i, in := range r.env.Instruments {
		evs := r.chk.snapshot(i)
		if k := firstAt(evs, 0, r.start, false); k >= 0 {
			r.notef("%s first fresh at %s (seq %d)", in.Canonical, r.since(evs[k].at), evs[k].seq)
		}
	}
	const want = 10
	ok := r.waitUntil(tFresh.Add(patience), func() bool {
		for i := range r.env.Instruments {
			if r.chk.verifiedCount(i) < want {
				return false
			}
		}
		return true
	})
	end := time.Now()
	for i, in := range r.env.Instruments {
		n := r.chk.verifiedCount(i)
		r.notef("%s: %d fresh events verified against the venue", in.Canonical, n)
		if !ok && n < want {
			t.Errorf("%s: only %d fresh events verified in %v, want ≥ %d", in.Canonical, n, end.Sub(tFresh), want)
		}
		if n, longest := staleSpans(r.chk.snapshot(i), tFresh, end); n > 0 {
			t.Errorf("%s: %d stale events (longest %v) without any fault, after all books were fresh", in.Canonical, n, longest)
		}
	}
	c := r.counters()
	if c.messages == 0 || c.published == 0 {
		t.Errorf("Stats(): Messages %d, Published %d; both must count", c.messages, c.published)
	}
	var noisy []string
	if c.gaps > 0 {
		noisy = append(noisy, fmt.Sprintf("Gaps=%d", c.gaps))
	}
	if c.checksum > 0 {
		noisy = append(noisy, fmt.Sprintf("ChecksumFailures=%d", c.checksum))
	}
	if c.reconnects > 0 {
		noisy = append(noisy, fmt.Sprintf("Reconnects=%d", c.reconnects))
	}
	for k, n := range c.rejects {
		if n > 0 {
			noisy = append(noisy, fmt.Sprintf("Rejects(%s)=%d", exchange.RejectReason(k), n))
		}
	}
	if len(noisy) > 0 {
		t.Errorf("a clean stream counted faults: %s", strings.Join(noisy, ", "))
	}
}

// expectation is what a fault that breaks books demands of each affected
// instrument (see doc.go for the definitions).
type expectation struct {
	insts       []int     // affected instruments
	injected    time.Time // Inject called
	applied     time.Time // the fault reached the wire (FaultRecord.At) or began
	seq         uint64    // the faulted state (FaultRecord.Seq); 0 = none
	detectBy    time.Time // the first stale event must arrive by then
	recoverFrom time.Time // the fault's end: the recovering fresh event comes after it
	recoverBy   time.Time // and by then
	causes      []exchange.StaleCause
}

// expectRecovery waits until every affected instrument went stale and was
// fresh again and every book is fresh (bounded by recoverBy plus a grace
// period, to report how late a late recovery is), then checks the
// expectation for every instrument and records the timelines.
func (r *rig) expectRecovery(e expectation) {
	t := r.t
	grace := e.recoverBy.Add(500 * time.Millisecond)
	r.waitUntil(grace, func() bool {
		for _, i := range e.insts {
			evs := r.chk.snapshot(i)
			s := firstAt(evs, 0, e.injected, true)
			if s < 0 || firstAt(evs, s+1, e.recoverFrom, false) < 0 {
				return false
			}
		}
		return r.chk.allFresh()
	})
	for i, in := range r.env.Instruments {
		evs := r.chk.snapshot(i)
		affected := slices.Contains(e.insts, i)
		s := firstAt(evs, 0, e.injected, true)
		if affected && e.seq > 0 {
			if k := silentCrossing(evs, e.seq); k >= 0 {
				t.Errorf("%s: fresh at seq %d (%s) right after fresh at seq %d, across the faulted seq %d, with no stale event between: the fault went unnoticed",
					in.Canonical, evs[k].seq, r.since(evs[k].at), evs[k-1].seq, e.seq)
			}
		}
		if s < 0 {
			if affected {
				t.Errorf("%s: no stale event after the fault (by %s, limit %s)", in.Canonical, r.since(time.Now()), r.since(e.detectBy))
				r.notef("%s: never stale", in.Canonical)
			}
			continue
		}
		line := fmt.Sprintf("%s: stale(%s) at %s (%+dms after the fault)", in.Canonical, evs[s].cause, r.since(evs[s].at), evs[s].at.Sub(e.applied).Milliseconds())
		if affected && evs[s].at.After(e.detectBy) {
			t.Errorf("%s: first stale event at %s, %v after the fault; limit %v", in.Canonical, r.since(evs[s].at), evs[s].at.Sub(e.applied).Round(time.Millisecond), e.detectBy.Sub(e.applied))
		}
		if affected && !slices.Contains(e.causes, evs[s].cause) {
			t.Errorf("%s: stale cause %s, want %v", in.Canonical, evs[s].cause, e.causes)
		}
		from := e.recoverFrom
		if !affected && evs[s].at.After(from) {
			from = evs[s].at
		}
		f := firstAt(evs, s+1, from, false)
		if f < 0 {
			t.Errorf("%s: not fresh again by %s (limit %s)", in.Canonical, r.since(time.Now()), r.since(e.recoverBy))
			r.notef("%s, never fresh again", line)
			continue
		}
		line += fmt.Sprintf(", fresh again at %s seq %d (%+dms after the fault ended)", r.since(evs[f].at), evs[f].seq, evs[f].at.Sub(e.recoverFrom).Milliseconds())
		r.notef("%s", line)
		if evs[f].at.After(e.recoverBy) {
			t.Errorf("%s: fresh again only %v after the fault ended; limit %v", in.Canonical, evs[f].at.Sub(e.recoverFrom).Round(time.Millisecond), e.recoverBy.Sub(e.recoverFrom))
		}
	}
}

// settleFresh waits (bounded by patience) until, after a recovery, every
// instrument has a new fresh event verified against the venue and every
// book's newest event is fresh.
func (r *rig) settleFresh() {
	if r.t.Failed() {
		return // the recovery failed already; waiting adds nothing
	}
	before := make([]uint64, len(r.env.Instruments))
	for i := range before {
		before[i] = r.chk.verifiedCount(i)
	}
	settled := func() bool {
		for i := range before {
			if r.chk.verifiedCount(i) == before[i] {
				return false
			}
		}
		return r.chk.allFresh()
	}
	if !r.waitUntil(time.Now().Add(patience), settled) {
		r.t.Errorf("books not all fresh, each with a new verified event, within %v after recovery: %s", patience, r.latestSummary())
	}
}

// expectCounter waits (bounded) until moved reports that a counter moved.
func (r *rig) expectCounter(before counters, deadline time.Time, what string, moved func(before, after counters) bool) {
	if !r.waitUntil(deadline, func() bool { return moved(before, r.counters()) }) {
		r.t.Errorf("%s did not increase", what)
	}
}

// waitFault waits until the simulator applied a fault of kind beyond its
// first n log records, and returns the record.
func (r *rig) waitFault(kind sim.FaultKind, n int, deadline time.Time) sim.FaultRecord {
	var rec sim.FaultRecord
	found := r.waitUntil(deadline, func() bool {
		log := r.sim.FaultLog(r.h.Kind)
		for _, x := range log[min(n, len(log)):] {
			if x.Kind == kind {
				rec = x
				return true
			}
		}
		return false
	})
	if !found {
		r.t.Fatalf("the simulator did not apply %s by %s (no state change of the symbol?)", kind, r.since(deadline))
	}
	return rec
}

// inject injects f and returns when it was called.
func (r *rig) inject(f sim.Fault) time.Time {
	at := time.Now()
	if err := r.sim.Inject(r.h.Kind, f); err != nil {
		r.t.Fatalf("inject %s: %v", f.Kind, err)
	}
	return at
}

// streamFault runs a fault that corrupts (or skips) one update of the first
// instrument on the wire: the book must go stale within one message and
// the detection limit, be fresh again within recoverWithin, and the named
// counter must move.
func (r *rig) streamFault(f sim.Fault, causes []exchange.StaleCause, what string, moved func(before, after counters) bool) {
	r.warm()
	in := r.env.Instruments[0]
	f.Symbol = in.Canonical
	before := r.counters()
	n0 := len(r.sim.FaultLog(r.h.Kind))
	tInj := r.inject(f)
	rec := r.waitFault(f.Kind, n0, tInj.Add(patience))
	r.notef("%s on %s injected at %s, on the wire at %s with seq %d", f.Kind, in.Canonical, r.since(tInj), r.since(rec.At), rec.Seq)
	e := expectation{insts: []int{0}, injected: tInj, applied: rec.At, seq: rec.Seq,
		detectBy: rec.At.Add(patience), recoverFrom: rec.At, recoverBy: rec.At.Add(patience), causes: causes}
	r.expectRecovery(e)
	r.expectCounter(before, e.recoverBy, what, moved)
	if rs := r.counters(); rs.resyncs+rs.reconnects == before.resyncs+before.reconnects {
		r.t.Errorf("the rebuild was not counted: Stats().Resyncs and Reconnects unchanged")
	}
	r.settleFresh()
}

// disconnect: the venue drops every connection; every book goes stale at
// once, the adapter reconnects (counted) and is fresh again.
func (r *rig) disconnect() {
	r.warm()
	before := r.counters()
	dials := r.proxy.wsDials.Load()
	tInj := r.inject(sim.Fault{Kind: sim.FaultDisconnect})
	r.notef("disconnect at %s", r.since(tInj))
	e := expectation{insts: r.all(), injected: tInj, applied: tInj, detectBy: tInj.Add(patience),
		recoverFrom: tInj, recoverBy: tInj.Add(patience), causes: []exchange.StaleCause{exchange.CauseDisconnect}}
	r.expectRecovery(e)
	r.expectCounter(before, e.recoverBy, "Stats().Reconnects", func(b, a counters) bool { return a.reconnects > b.reconnects })
	if r.proxy.wsDials.Load() == dials {
		r.t.Errorf("no new websocket connection after the disconnect")
	}
	r.settleFresh()
}

// frozen: the venue stops sending market data (the connection stays up and
// answers pings) for longer than AgeMax (frozenAgeMax here); every book
// goes stale with cause age — not before AgeMax without data, by the
// adapter's own clock — and is fresh again after the data resumes.
func (r *rig) frozen() {
	r.warm()
	tInj := r.inject(sim.Fault{Kind: sim.FaultStale, Duration: frozenFor})
	tEnd := tInj.Add(frozenFor)
	r.notef("feed frozen at %s for %v (until %s)", r.since(tInj), frozenFor, r.since(tEnd))
	r.expectRecovery(expectation{insts: r.all(), injected: tInj, applied: tInj, detectBy: tInj.Add(patience),
		recoverFrom: tEnd, recoverBy: tEnd.Add(patience), causes: []exchange.StaleCause{exchange.CauseAge}})
	for i, in := range r.env.Instruments {
		evs := r.chk.snapshot(i)
		s := firstAt(evs, 0, tInj, true)
		if s < 0 {
			continue // expectRecovery reported it
		}
		// The adapter's last data for the book is no earlier than the
		// first event carrying the last fresh state before the stale one
		// (a quiet-book refresh republishes the same state later).
		data := int64(0)
		for k := s - 1; k >= 0 && !evs[k].stale; k-- {
			if evs[k].seq != evs[s-1].seq {
				break
			}
			data = evs[k].recv
		}
		if data == 0 {
			continue
		}
		quiet := time.Duration(evs[s].recv - data)
		r.notef("%s: stale for age %v after its last data by the adapter's clock (AgeMax %v)", in.Canonical, quiet.Round(time.Millisecond), r.env.AgeMax)
		if quiet < r.env.AgeMax {
			r.t.Errorf("%s: stale (%s) only %v after its last data; AgeMax is %v", in.Canonical, evs[s].cause, quiet, r.env.AgeMax)
		}
	}
	r.settleFresh()
}

// unknownSymbol: an update for a symbol the feed did not subscribe to is
// counted and ignored; no book goes stale.
func (r *rig) unknownSymbol() {
	r.warm()
	before := r.counters()
	n0 := len(r.sim.FaultLog(r.h.Kind))
	tInj := r.inject(sim.Fault{Kind: sim.FaultUnknownSymbol})
	if log := r.sim.FaultLog(r.h.Kind); len(log) > n0 && strings.HasPrefix(log[n0].Note, "0 ") {
		r.t.Fatalf("the simulator sent the unknown symbol to no connection (%s)", log[n0].Note)
	}
	r.notef("unknown symbol sent at %s", r.since(tInj))
	r.expectCounter(before, tInj.Add(patience), "Stats().Rejects(unknown_symbol)+Rejects(unexpected)", func(b, a counters) bool {
		return a.rejects[exchange.RejectUnknownSymbol]+a.rejects[exchange.RejectUnexpected] >
			b.rejects[exchange.RejectUnknownSymbol]+b.rejects[exchange.RejectUnexpected]
	})
	r.sleep(time.Until(tInj.Add(time.Second))) // a window to watch for stale books
	end := time.Now()
	for i, in := range r.env.Instruments {
		if n, longest := staleSpans(r.chk.snapshot(i), tInj, end); n > 0 {
			r.t.Errorf("%s went stale %d times (longest %v) after an unknown symbol's update", in.Canonical, n, longest)
		}
	}
	r.settleFresh()
}

// announcedClose: Binance's serverShutdown event or OKX's 64008 notice,
// after which the venue closes the connection shutdownDelay later. An
// adapter that hands over to a new connection in time keeps its books
// fresh throughout; the suite reports whether it did and requires the
// books fresh again after the close in any case.
func (r *rig) announcedClose(kind sim.FaultKind) {
	r.warm()
	dials := r.proxy.wsDials.Load()
	tInj := r.inject(sim.Fault{Kind: kind, Duration: shutdownDelay})
	tCut := tInj.Add(shutdownDelay)
	r.notef("%s at %s, connections closed at %s", kind, r.since(tInj), r.since(tCut))
	deadline := tCut.Add(patience)
	r.waitUntil(deadline, func() bool {
		return time.Now().After(tCut.Add(settle)) && r.proxy.wsDials.Load() > dials && r.chk.allFresh()
	})
	end := time.Now()
	if r.proxy.wsDials.Load() == dials {
		r.t.Errorf("no new websocket connection after %s and the close", kind)
	}
	r.reportStale(kind.String(), tInj, end, func(stale time.Time) time.Time {
		return maxTime(stale, tCut).Add(patience)
	})
	r.settleFresh()
}

// snapshot (Bybit): the venue sends a snapshot mid-stream on every depth
// topic; the adapter must take it as the book (the invariant checks its
// events) and keep or regain fresh books, with fresh events verified after
// it.
func (r *rig) snapshot() {
	r.warm()
	before := make([]uint64, len(r.env.Instruments))
	for i := range before {
		before[i] = r.chk.verifiedCount(i)
	}
	tInj := r.inject(sim.Fault{Kind: sim.FaultSnapshot})
	r.notef("mid-stream snapshot at %s", r.since(tInj))
	r.sleep(time.Second) // a window for the snapshot to take effect
	r.waitUntil(time.Now().Add(patience), func() bool {
		for i := range r.env.Instruments {
			if r.chk.verifiedCount(i) == before[i] {
				return false
			}
		}
		return r.chk.allFresh()
	})
	end := time.Now()
	r.reportStale("snapshot", tInj, end, func(stale time.Time) time.Time { return tInj.Add(patience) })
	for i, in := range r.env.Instruments {
		if r.chk.verifiedCount(i) == before[i] {
			r.t.Errorf("%s: no fresh event verified within %v after the snapshot", in.Canonical, patience)
		}
	}
	r.settleFresh()
}

// restart (Bybit): the venue restarts its update ids at u=1, announced by
// snapshots. The adapter must accept the restarted ids (not drop them as
// old) and keep following the book: within patience every instrument
// has a fresh event, verified against the venue, at a state the venue
// published after the restart. (Which sequence a state is named by — u
// restarting or a cross sequence that does not — is the simulator's
// business; the suite only collects the states it publishes.)
func (r *rig) restart() {
	r.warm()
	n := len(r.env.Instruments)
	at := make([]uint64, n)
	for i, in := range r.env.Instruments {
		at[i], _ = r.sim.Seq(r.h.Kind, in.Canonical)
	}
	tInj := r.inject(sim.Fault{Kind: sim.FaultRestart})
	r.notef("service restart (u=1) at %s", r.since(tInj))
	after := make([]map[uint64]bool, n) // states published after the restart
	for i := range after {
		after[i] = map[uint64]bool{}
	}
	found := make([]int, n)
	follows := func() bool {
		done := true
		for i, in := range r.env.Instruments {
			if q, ok := r.sim.Seq(r.h.Kind, in.Canonical); ok && q != at[i] && len(after[i]) < maxEventsPerInst {
				after[i][q] = true
			}
			found[i] = -1
			evs := r.chk.snapshot(i)
			for k := firstAt(evs, 0, tInj, false); k >= 0 && k < len(evs); k++ {
				if !evs[k].stale && !evs[k].bad && after[i][evs[k].seq] {
					found[i] = k
					break
				}
			}
			done = done && found[i] >= 0
		}
		return done && r.chk.allFresh()
	}
	// Poll faster than the simulator steps, so that no published state is
	// missed from the sets.
	deadline := tInj.Add(patience)
	for !follows() && time.Now().Before(deadline) {
		r.runErr()
		time.Sleep(poll / 2)
	}
	end := time.Now()
	for i, in := range r.env.Instruments {
		if found[i] < 0 {
			r.t.Errorf("%s: no fresh event at a state published after the restart within %v: %s",
				in.Canonical, patience, r.latestSummary())
			continue
		}
		ev := r.chk.snapshot(i)[found[i]]
		r.notef("%s: fresh at post-restart state %d at %s", in.Canonical, ev.seq, r.since(ev.at))
	}
	r.reportStale("restart", tInj, end, func(stale time.Time) time.Time { return tInj.Add(patience) })
	r.settleFresh()
}

// reportStale records, per instrument, whether it stayed fresh in [from,
// to], and fails if a stale spell did not end by limit(its start).
func (r *rig) reportStale(what string, from, to time.Time, limit func(stale time.Time) time.Time) {
	for i, in := range r.env.Instruments {
		evs := r.chk.snapshot(i)
		n, longest := staleSpans(evs, from, to)
		if n == 0 {
			r.notef("%s: %s: stayed fresh throughout", what, in.Canonical)
			continue
		}
		s := firstAt(evs, 0, from, true)
		r.notef("%s: %s: went stale %d times (first %s cause %s, longest %v)", what, in.Canonical, n, r.since(evs[s].at), evs[s].cause, longest.Round(time.Millisecond))
		f := firstAt(evs, s+1, evs[s].at, false)
		if lim := limit(evs[s].at); f < 0 || evs[f].at.After(lim) {
			r.t.Errorf("%s: %s: stale at %s and not fresh again by %s", what, in.Canonical, r.since(evs[s].at), r.since(lim))
		}
	}
}

// handover: with a short Lifetime the adapter reconnects on schedule; books
// must stay fresh across every switch (not one stale event) and the
// invariant must hold for both connections' events.
func (r *rig) handover() {
	tFresh := r.warm()
	dials := r.proxy.wsDials.Load()
	open0 := r.proxy.wsOpen.Load()
	r.waitUntil(tFresh.Add(patience), func() bool { return r.proxy.wsDials.Load() >= dials+2 })
	// The connection a handover replaced is closed right after it: wait
	// for that, not for a fixed time.
	r.waitUntil(time.Now().Add(patience), func() bool { return r.proxy.wsOpen.Load() <= open0+1 })
	end := time.Now()
	n := r.proxy.wsDials.Load() - dials
	r.notef("Lifetime %v: %d new websocket connections in %v after all books were fresh; peak open %d",
		r.env.Lifetime, n, end.Sub(tFresh).Round(time.Millisecond), r.proxy.wsPeak.Load())
	if n < 2 {
		r.t.Errorf("%d scheduled reconnects in %v with Lifetime %v, want ≥ 2 (is Env.Lifetime passed to the Config?)",
			n, end.Sub(tFresh).Round(time.Millisecond), r.env.Lifetime)
	}
	if open := r.proxy.wsOpen.Load(); open > open0+1 {
		r.t.Errorf("%d websocket connections open after the handovers (%d before): old connections are not closed", open, open0)
	}
	for i, in := range r.env.Instruments {
		if n, longest := staleSpans(r.chk.snapshot(i), tFresh, end); n > 0 {
			r.t.Errorf("%s: %d stale events (longest %v) across scheduled handovers; want none", in.Canonical, n, longest.Round(time.Millisecond))
		}
	}
}

// all returns every instrument index.
func (r *rig) all() []int {
	out := make([]int, len(r.env.Instruments))
	for i := range out {
		out[i] = i
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
