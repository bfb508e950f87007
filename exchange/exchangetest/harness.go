package exchangetest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/exchange/sim"
	"arb/ringbuf"
)

// Harness is what an adapter hands to Run: which simulated protocol it
// speaks and how to build it on an Env.
type Harness struct {
	// Kind is the simulator's venue kind the adapter speaks: sim.KindBinance,
	// sim.KindOKX or sim.KindBybit.
	Kind string
	// New builds the adapter on env: every Env field goes into the
	// adapter's Config (URLs, instruments, ring, AgeMax, Lifetime, MaxFrame,
	// Rand, Logger); venue-specific options are the harness's own choice.
	// It is called once per subtest, from the subtest's goroutine; an
	// error (the adapter's Validate) fails the subtest with its message.
	New func(env Env) (exchange.MarketData, error)
	// Faults are the venue-specific faults to run beyond the common set:
	// sim.FaultChecksum and sim.FaultNotice (okx), sim.FaultServerShutdown
	// (binance), sim.FaultSnapshot and sim.FaultRestart (bybit).
	Faults []sim.FaultKind
	// Depth is the number of levels per side the adapter's channel carries
	// when that is fewer than exchange.TopK (1 for a best-bid/offer
	// channel, 5 for a five-level one); 0 means at least TopK. Fresh events
	// are compared with the venue's top min(TopK, Depth) levels.
	Depth int
	// Skip maps a subtest name ("frozen", "malformed/nan", or "malformed"
	// for all its variants) to the reason it is skipped. Only for
	// documented venue limitations: the reason is printed with the skip.
	Skip map[string]string
}

// Env is what the suite gives the adapter under test.
type Env struct {
	Venue       exchange.VenueID      // the feed's venue id (not 1: ids are interned globally)
	Name        string                // operator's venue name, for logs
	URLs        sim.URLs              // the simulated venue's endpoints (through a loopback proxy)
	Instruments []exchange.Instrument // Symbol = the venue's symbol; ID, Scale and filters canonical
	Ring        *ringbuf.MPSC[exchange.BookTop]
	AgeMax      time.Duration // no data for this long → stale and reconnect
	// Lifetime is the scheduled reconnect period: 0 (venue default) except
	// in the handover subtest, which sets it short.
	Lifetime time.Duration
	// MaxFrame is the frame cap to configure; huge_frame sends a frame
	// four times larger.
	MaxFrame int
	Rand     *rand.Rand   // seeded from the subtest's seed
	Logger   *slog.Logger // kept and printed when the subtest fails

	sim *sim.Sim // for the package's own test doubles only
}

// Settings of every run. They are fixed so that results compare across
// adapters; doc.go explains each.
const (
	envVenue exchange.VenueID = 9
	// envAgeMax is far above any scheduling stall of a loaded machine, so
	// that only the frozen subtest (frozenAgeMax) sees books go stale for
	// age: a stalled reader reads queued frames late, and the books not in
	// the first of them look silent for the stall's length.
	envAgeMax        = 5 * time.Second
	frozenAgeMax     = time.Second
	envMaxFrame      = 256 << 10
	hugeFrameFactor  = 4
	handoverLifetime = 1200 * time.Millisecond
	// patience bounds every wait for something the adapter must do: books
	// fresh after start, stale after a fault, fresh again, counters moved,
	// Run returned. It is a deadline for a hang, not a performance limit —
	// a loaded 2-core machine running the race detector stalls goroutines
	// for seconds — so the subtests wait on the events, record how long
	// each took in the timeline, and prove promptness structurally ("stale
	// within one message", the age limit not undercut).
	patience            = 30 * time.Second
	frozenFor           = frozenAgeMax + 1500*time.Millisecond
	shutdownDelay       = time.Second            // server_shutdown/notice: connections closed this long after
	warmup              = 200 * time.Millisecond // steady state before a fault
	settle              = 300 * time.Millisecond // announced close: let the cut happen before judging
	afterStop           = 100 * time.Millisecond // nothing may be published after Run returned
	poll                = 10 * time.Millisecond
	maxUnverifiableFrac = 0.01
)

// envInstIDs are the instrument ids handed out, deliberately not 1..n: an
// adapter must index by its own position, not by the global id.
var envInstIDs = [...]exchange.InstrumentID{7, 300, 1023}

// seedEnv names the environment variable that sets the base seed.
const seedEnv = "EXCHANGETEST_SEED"

// venueFaults lists, per kind, the venue-specific faults the suite can run.
var venueFaults = map[string][]sim.FaultKind{
	sim.KindBinance: {sim.FaultServerShutdown},
	sim.KindOKX:     {sim.FaultChecksum, sim.FaultNotice},
	sim.KindBybit:   {sim.FaultSnapshot, sim.FaultRestart},
}

// Run runs the conformance suite: one subtest per scenario, each against a
// fresh simulator with one venue of h.Kind and three symbols. It does not
// call t.Parallel: the suite is timing-sensitive and machines are shared.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if err := h.validate(); err != nil {
		t.Fatal(err)
	}
	base := baseSeed(t)
	for _, c := range h.cases() {
		if len(c.sub) == 0 {
			t.Run(c.name, func(t *testing.T) { runCase(t, &h, base, c.name, "", c) })
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			for _, s := range c.sub {
				t.Run(s.name, func(t *testing.T) { runCase(t, &h, base, c.name+"/"+s.name, c.name, s) })
			}
		})
	}
}

func runCase(t *testing.T, h *Harness, base uint64, name, parent string, c testCase) {
	for _, k := range []string{name, parent} {
		if reason, ok := h.Skip[k]; ok && k != "" {
			t.Skipf("skipped by the harness: %s", reason)
		}
	}
	c.fn(newRig(t, h, base, name, c.opts...))
}

// validate checks the harness.
func (h *Harness) validate() error {
	var errs []error
	allowed, ok := venueFaults[h.Kind]
	if !ok {
		errs = append(errs, fmt.Errorf("exchangetest: Harness.Kind %q is not %s, %s or %s", h.Kind, sim.KindBinance, sim.KindOKX, sim.KindBybit))
	}
	if h.New == nil {
		errs = append(errs, errors.New("exchangetest: Harness.New is nil"))
	}
	if h.Depth < 0 {
		errs = append(errs, fmt.Errorf("exchangetest: Harness.Depth %d is negative", h.Depth))
	}
	seen := map[sim.FaultKind]bool{}
	for _, f := range h.Faults {
		switch {
		case seen[f]:
			errs = append(errs, fmt.Errorf("exchangetest: Harness.Faults lists %s twice", f))
		case ok && !slices.Contains(allowed, f):
			errs = append(errs, fmt.Errorf("exchangetest: Harness.Faults: %s is not a fault specific to %s that the suite runs (have %v)", f, h.Kind, allowed))
		}
		seen[f] = true
	}
	if ok && h.New != nil {
		names := map[string]bool{}
		for _, c := range h.cases() {
			names[c.name] = true
			for _, s := range c.sub {
				names[c.name+"/"+s.name] = true
			}
		}
		var unknown []string
		for k := range h.Skip {
			if !names[k] {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			errs = append(errs, fmt.Errorf("exchangetest: Harness.Skip names no subtest: %q", unknown))
		}
	}
	return errors.Join(errs...)
}

// baseSeed reads EXCHANGETEST_SEED (default 1).
func baseSeed(t *testing.T) uint64 {
	s := os.Getenv(seedEnv)
	if s == "" {
		return 1
	}
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", seedEnv, s, err)
	}
	return v
}

// caseSeed derives a subtest's simulator seed from the base seed and its
// name, so that skipping or reordering subtests changes no other's market.
func caseSeed(base uint64, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return base ^ h.Sum64()
}

// simConfig is the simulator of every subtest: the one venue of kind, three
// symbols with different scales, fast steps, no quiet periods, a history
// that outlives the subtest, and short keep-alive rules.
func simConfig(kind string, seed uint64) sim.Config {
	c := sim.DefaultConfig()
	c.Seed = seed
	var v sim.VenueConfig
	for _, vc := range c.Venues {
		if vc.Kind == kind {
			v = vc
		}
	}
	v.Name = kind
	v.Levels = 60
	c.Venues = []sim.VenueConfig{v}
	c.Symbols = c.Symbols[:min(3, len(c.Symbols))]
	// Binance diff streams go out every 100 ms; the simulator corrupts the
	// message of the step a fault hits, so a Binance step must be one
	// stream interval or the fault never reaches the wire.
	c.StepInterval = 50 * time.Millisecond
	if kind == sim.KindBinance {
		c.StepInterval = 100 * time.Millisecond
	}
	c.Quiet.Prob = 0 // a quiet spell would stall Binance's resync and muddle timelines
	c.HistoryLen = 1 << 14
	c.Binance.PingInterval = 500 * time.Millisecond
	c.Binance.PongTimeout = 3 * time.Second
	c.OKX.IdleTimeout = 3 * time.Second
	c.OKX.KeepAlive = time.Second
	c.Bybit.IdleTimeout = 3 * time.Second
	return c
}

// rig is one subtest's world: simulator, proxy, adapter and checker.
type rig struct {
	t     *testing.T
	h     *Harness
	name  string
	seed  uint64
	base  uint64
	cfg   sim.Config
	sim   *sim.Sim
	proxy *proxy
	env   Env
	md    exchange.MarketData
	chk   *checker
	logs  *logTail
	start time.Time

	cancelMD  context.CancelFunc
	cancelChk context.CancelFunc
	mdDone    chan error
	chkDone   chan struct{}

	mu    sync.Mutex
	notes []string // the timeline, printed with -v and on failure
}

// rigOption adjusts a subtest's simulator or environment before start.
type rigOption func(*sim.Config, *Env)

// newRig starts the simulator, the proxy, the adapter and the checker, and
// registers their teardown and the final checks.
func newRig(t *testing.T, h *Harness, base uint64, name string, opts ...rigOption) *rig {
	t.Helper()
	r := &rig{t: t, h: h, name: name, base: base, seed: caseSeed(base, name), logs: newLogTail()}
	r.cfg = simConfig(h.Kind, r.seed)
	r.env = Env{Venue: envVenue, Name: h.Kind + "-conformance", AgeMax: envAgeMax, MaxFrame: envMaxFrame,
		Ring: ringbuf.NewMPSC[exchange.BookTop](1 << 14), Logger: r.logs.logger(),
		Rand: rand.New(rand.NewPCG(r.seed, 0x65786368616e6765))}
	for _, o := range opts {
		o(&r.cfg, &r.env)
	}
	s, err := sim.New(r.cfg)
	if err != nil {
		t.Fatalf("sim config: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("sim start: %v", err)
	}
	r.sim = s
	t.Cleanup(func() { s.Close() })
	p, err := newProxy(s.Addr(h.Kind))
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	r.proxy = p
	t.Cleanup(p.Close)
	direct, _ := s.URLs(h.Kind)
	base2 := "ws://" + p.Addr()
	r.env.URLs = sim.URLs{WS: base2 + strings.TrimPrefix(direct.WS, direct.WSBase), WSBase: base2, REST: "http://" + p.Addr()}
	r.env.sim = s
	for k, sc := range r.cfg.Symbols {
		r.env.Instruments = append(r.env.Instruments, instrument(r.t, s, h.Kind, envInstIDs[k], sc))
	}
	r.start = time.Now()
	r.chk = newChecker(r.env.Venue, h.Kind, r.env.Instruments, h.Depth, s, r.env.Ring, r.start)
	cctx, ccancel := context.WithCancel(context.Background())
	r.cancelChk, r.chkDone = ccancel, make(chan struct{})
	go func() { r.chk.run(cctx); close(r.chkDone) }()

	md, err := h.New(r.env)
	if err != nil || md == nil || md.Stats() == nil {
		ccancel()
		<-r.chkDone
		t.Fatalf("Harness.New: %v (adapter %v; Stats must not be nil)", err, md)
	}
	r.md = md
	mctx, mcancel := context.WithCancel(context.Background())
	r.cancelMD, r.mdDone = mcancel, make(chan error, 1)
	go func() { r.mdDone <- md.Run(mctx) }()
	// Cleanups run last-in first-out: this one, registered after the
	// simulator's and the proxy's, stops the adapter before they close.
	t.Cleanup(r.finish)
	r.notef("sim seed %d (%s=%d, subtest %q), %s step %v, symbols %d, adapter AgeMax %v", r.seed, seedEnv, base, name, h.Kind, r.cfg.StepInterval, len(r.cfg.Symbols), r.env.AgeMax)
	return r
}

// instrument builds the canonical instrument of one simulated symbol, as
// the wiring would from the venue's listing.
func instrument(t *testing.T, s *sim.Sim, kind string, id exchange.InstrumentID, sc sim.SymbolConfig) exchange.Instrument {
	t.Helper()
	sym, ok := s.VenueSymbol(kind, sc.Symbol)
	if !ok {
		t.Fatalf("sim has no %s symbol for %s", kind, sc.Symbol)
	}
	base, quote, _ := strings.Cut(sc.Symbol, "-")
	parse := func(v string, dec uint8) int64 {
		x, err := num.ParseString(v, dec)
		if err != nil {
			t.Fatalf("sim symbol %s: %q: %v", sc.Symbol, v, err)
		}
		return x
	}
	return exchange.Instrument{ID: id, Venue: envVenue, Symbol: sym, Canonical: sc.Symbol, Base: base, Quote: quote,
		Scale: sc.Scale, Tick: num.Price(parse(sc.Tick, sc.Scale.Px)), Step: num.Qty(parse(sc.Step, sc.Scale.Qty)),
		MinQty: num.Qty(parse(sc.MinQty, sc.Scale.Qty)), MinNotional: num.Quote(parse(sc.MinNotional, sc.Scale.Px))}
}

// notef adds a line to the subtest's timeline.
func (r *rig) notef(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, a...))
}

// since formats t relative to the rig's start.
func (r *rig) since(t time.Time) string { return rel(r.start, t) }

// runErr fails the subtest at once if Run returned while it should run.
func (r *rig) runErr() {
	select {
	case err := <-r.mdDone:
		r.mdDone <- err // finish reads it again
		r.t.Fatalf("Run returned while the subtest ran: %v", err)
	default:
	}
}

// waitUntil polls cond until it holds (true) or the deadline passes.
func (r *rig) waitUntil(deadline time.Time, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		r.runErr()
		if !time.Now().Before(deadline) {
			return cond()
		}
		time.Sleep(poll)
	}
}

// sleep waits d, failing early if Run returns.
func (r *rig) sleep(d time.Duration) {
	end := time.Now().Add(d)
	r.waitUntil(end, func() bool { return false })
}

// warm waits until every book is fresh (bounded by patience from the
// start) and then for a short steady state, so faults hit a synced feed.
func (r *rig) warm() time.Time {
	r.t.Helper()
	if !r.waitUntil(r.start.Add(patience), r.chk.allFresh) {
		r.t.Fatalf("books not all fresh within %v of start: %s", patience, r.latestSummary())
	}
	at := time.Now()
	r.notef("all books fresh at %s", r.since(at))
	r.sleep(warmup)
	return at
}

// latestSummary describes every instrument's newest event.
func (r *rig) latestSummary() string {
	var parts []string
	for i, in := range r.env.Instruments {
		ev, ok := r.chk.latest(i)
		switch {
		case !ok:
			parts = append(parts, in.Canonical+": no event")
		case ev.stale:
			parts = append(parts, fmt.Sprintf("%s: stale(%s) since %s", in.Canonical, ev.cause, r.since(ev.at)))
		default:
			parts = append(parts, fmt.Sprintf("%s: fresh seq %d", in.Canonical, ev.seq))
		}
	}
	return strings.Join(parts, "; ")
}

// finish stops the adapter and the checker and runs the checks every
// subtest shares: Run returns ctx's error promptly, nothing is published
// after it returned, every published event reached the ring, the invariant
// held for every event, and almost every fresh event could be verified.
func (r *rig) finish() {
	t := r.t
	r.cancelMD()
	var runErr error
	returned := false
	select {
	case runErr = <-r.mdDone:
		returned = true
	case <-time.After(patience):
		t.Errorf("Run did not return within %v of cancel", patience)
	}
	if returned && !errors.Is(runErr, context.Canceled) {
		t.Errorf("Run returned %v after cancel, want context.Canceled", runErr)
	}
	st := r.md.Stats()
	pub1 := st.Published.Load()
	time.Sleep(afterStop)
	r.cancelChk()
	<-r.chkDone
	pub2 := st.Published.Load()
	received, fresh, unverif, nviol := r.chk.totals()
	if returned {
		if pub2 != pub1 {
			t.Errorf("%d events published after Run returned", pub2-pub1)
		}
		if received != pub2 {
			t.Errorf("Stats().Published = %d, but the ring delivered %d events", pub2, received)
		}
	}
	r.chk.mu.Lock()
	viol := append([]string(nil), r.chk.violations...)
	unv := append([]string(nil), r.chk.unverifSeqs...)
	overflow := r.chk.overflow
	r.chk.mu.Unlock()
	if nviol > 0 {
		t.Errorf("INVARIANT: %d of %d events broke it (first %d):\n    %s", nviol, received, len(viol), strings.Join(viol, "\n    "))
	}
	if fresh > 0 && float64(unverif) > maxUnverifiableFrac*float64(fresh) {
		t.Errorf("%d of %d fresh events name a sequence the venue's history does not hold (limit %.0f%%; "+
			"BookTop.Seq must be the venue's sequence field as sim.BookAt keys it): %s",
			unverif, fresh, 100*maxUnverifiableFrac, strings.Join(unv, ", "))
	}
	if overflow {
		t.Errorf("more than %d events for one instrument: timeline truncated", maxEventsPerInst)
	}
	r.notef("events %d (fresh %d, unverifiable %d, violations %d), ws dials %d, stats %s", received, fresh, unverif, nviol, r.proxy.wsDials.Load(), statsLine(st))
	r.mu.Lock()
	notes := strings.Join(r.notes, "\n    ")
	r.mu.Unlock()
	if t.Failed() {
		t.Logf("timeline (rerun with %s=%d):\n    %s", seedEnv, r.base, notes)
		for i, in := range r.env.Instruments {
			t.Logf("%s events: %s", in.Canonical, r.eventTail(r.chk.snapshot(i), 40))
		}
		lines, total := r.logs.Lines()
		t.Logf("adapter log (last %d of %d lines):\n    %s", len(lines), total, strings.Join(lines, "\n    "))
	} else {
		t.Logf("timeline:\n    %s", notes)
	}
}

// statsLine prints the feed's counters.
func statsLine(s *exchange.FeedStats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "messages=%d published=%d conflated=%d resyncs=%d gaps=%d checksum=%d reconnects=%d",
		s.Messages.Load(), s.Published.Load(), s.Conflated.Load(), s.Resyncs.Load(), s.Gaps.Load(),
		s.ChecksumFailures.Load(), s.Reconnects.Load())
	for r := exchange.RejectReason(1); int(r) < exchange.NumRejectReasons; r++ {
		if n := s.Rejects(r); n > 0 {
			fmt.Fprintf(&b, " reject_%s=%d", r, n)
		}
	}
	return b.String()
}

// eventTail prints the last n events compactly: +ms:F<seq> or +ms:S(cause).
func (r *rig) eventTail(evs []event, n int) string {
	if len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(r.since(e.at))
		if e.stale {
			fmt.Fprintf(&b, ":S(%s) ", e.cause)
		} else if e.bad {
			fmt.Fprintf(&b, ":BAD%d ", e.seq)
		} else {
			fmt.Fprintf(&b, ":F%d ", e.seq)
		}
	}
	return b.String()
}

// counters is a copy of the feed counters the scenarios compare.
type counters struct {
	messages, published, resyncs, gaps, checksum, reconnects uint64
	rejects                                                  [exchange.NumRejectReasons]uint64
}

func (r *rig) counters() counters {
	s := r.md.Stats()
	c := counters{messages: s.Messages.Load(), published: s.Published.Load(), resyncs: s.Resyncs.Load(),
		gaps: s.Gaps.Load(), checksum: s.ChecksumFailures.Load(), reconnects: s.Reconnects.Load()}
	for k := range c.rejects {
		c.rejects[k] = s.Rejects(exchange.RejectReason(k))
	}
	return c
}
