package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/shopspring/decimal"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/config"
	"arb/cmd/internal/httpapi"
	"arb/exchange"
	"arb/exchange/sim"
	"arb/exchange/tap"
	"arb/exchange/uniswap/unisim"
	"arb/ringbuf"
	"arb/strategy/book"
)

// Daemon is a built arbd: every component constructed and connected, nothing
// running until Run. Close releases what Build started if Run is never
// called.
type Daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	reg     *exchange.Registry
	started time.Time
	build   BuildInfo
	hc      *http.Client
	tap     tap.Sink // recorder hook (Options.Tap); nil = off
	planIDs uint64   // Options.PlanIDBase
	role    Role     // Options.Role: RoleEngine takes its books from feed processes over NATS
	manual  bool     // Options.ManualChain

	sim      *sim.Sim
	emb      *bus.Embedded
	bus      *bus.Bus
	ring     *ringbuf.MPSC[exchange.BookTop]
	store    *book.Store // every book; shared by successive engines
	venues   []*venue    // every configured venue, in config order
	desk     *desk
	exec     *execution // the executor and the trading clients (exec.go)
	probe    *ringProbe // Options.LatencyProbe, else nil
	batchMax int        // Options.LoopBatchMax (0: the loop's default)
	http     *httpapi.Server
	prom     *prometheusSet
	lock     *os.File // exclusive lock on data_dir

	instance string        // fleet.instance or <hostname>-<pid>
	ownerTTL time.Duration // Options.JournalOwnerTTL
	hb       *heartbeats   // the fleet status writer (heartbeat.go)
	stopping atomic.Bool   // a shutdown has begun: not ready, no new plans (lifecycle.go)
	shutdown shutdownStats

	// The engine (detector, loop, joined feeds) is replaced when a venue
	// joins late; engMu serialises the swaps.
	eng   atomic.Pointer[engine]
	engMu sync.Mutex
	// lastSwap is what the last engine swap found on the old engine at
	// the moment it was retired (plans in flight, amounts still
	// reserved): both must be zero, since a reservation of the old
	// detector cannot be released on the new one.
	lastSwap atomic.Pointer[swapRecord]
	retired  retired
	run      func(string, func(context.Context) error) // Run's goroutine starter
}

// Options are the daemon's start-up choices that are not in the config file.
type Options struct {
	// RulesFallback is the rules file used when cfg.Risk.RulesFile does not
	// exist (the embedded default rules), with its name for error messages.
	RulesFallback     []byte
	RulesFallbackName string
	Logger            *slog.Logger
	// TuneSim, if set, adjusts the in-process simulator's config before it
	// starts (tests switch off random dislocations to make their own).
	TuneSim func(*sim.Config)
	// LatencyProbe measures the ring hand-off against a Go channel's in
	// the same run (arbd --latency-probe; latency.go). Measurement only.
	LatencyProbe bool
	// Tap, if set, records what the venues send (a recording for arb
	// backtest): every feed's connections and frames, the depth snapshots
	// and the instruments replies (see exchange/tap, exchange/recording).
	Tap tap.Sink
	// ManualChain, if set, leaves the simulated chains' blocks to the
	// caller (SimChain(name).Commit) and sends no simulated flow: tests
	// decide what each block holds.
	ManualChain bool
	// PlanIDBase, if nonzero, is the first engine's plan id base instead
	// of the time-based one (a recording stores it, so a backtest of the
	// session numbers its plans the same way).
	PlanIDBase uint64
	// Role is RoleAll (or empty: today's single process) or RoleEngine:
	// no venue adapter runs, every venue's books come from feed processes
	// (arbd --role feed, BuildFeed) over NATS (feedroles.go). RoleFeed is
	// built by BuildFeed, not Build.
	Role Role
	// OnPlan, if set, sees every plan's status line as the desk decided
	// it, on the strategy loop's goroutine (it must not block). Tests
	// compare a live session's decisions with a backtest's.
	OnPlan func(httpapi.PlanStatus)
	// LoopBatchMax, if > 0, bounds the events the strategy loop takes per
	// batch (strategy.Config.BatchMax; default 256). Within a batch only
	// each book's newest event is evaluated, and how events group into
	// batches depends on the scheduler: a test comparing a live session's
	// plans with a backtest's (which steps the loop after every record)
	// sets 1, so the live loop evaluates every event as the backtest does.
	LoopBatchMax int
	// JournalOwnerTTL, if > 0, replaces bus.OwnerTTL: how long the
	// journal's ownership key may go unrenewed before another daemon
	// takes it over (tests shorten it).
	JournalOwnerTTL time.Duration
}

// Build constructs the daemon from a validated config: the simulated venues
// (if any sim:// URL is used), NATS (embedded when no URL is set), the
// instrument filters of every venue that answers, the feeds, the risk
// engine with the kill switch as it was saved, the detector and its loop,
// the HTTP API and the metrics. A venue that does not answer does not stop
// the start: it is retried in the background once Run starts. Build fails
// with an error naming the part for anything else.
func Build(ctx context.Context, cfg *config.Config, opt Options) (d *Daemon, err error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	built := &Daemon{cfg: cfg, log: log, started: time.Now(), build: ReadBuildInfo(), hc: &http.Client{Timeout: fetchTimeout},
		tap: opt.Tap, planIDs: opt.PlanIDBase, role: opt.Role, manual: opt.ManualChain, instance: instanceName(cfg.Fleet.Instance), ownerTTL: opt.JournalOwnerTTL}
	d = built
	if err := checkRole(cfg, opt.Role, RoleAll, RoleEngine); err != nil {
		return nil, err
	}
	if d.role == "" {
		d.role = RoleAll
	}
	defer func() {
		if err != nil { // release whatever was started before the failure
			built.Close()
			d = nil
		}
	}()
	if d.lock, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	d.reg = registry(cfg)

	if d.sim, err = startSim(cfg, log.With("component", "sim"), opt.TuneSim); err != nil {
		return nil, err
	}
	if cfg.NATS.URL == "" {
		// Local tools (arb status) read the fleet's buckets as the
		// read-only user.
		if d.emb, err = bus.StartEmbedded(ctx, cfg.DataDir, log, cfg.Fleet.StatusBucket, cfg.Fleet.KillSwitchBucket); err != nil {
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		d.bus, err = bus.Connect(ctx, d.emb.ClientURL(), log, d.emb.InProcess())
	} else {
		var opts []nats.Option
		if opts, err = natsOptions(cfg); err != nil {
			return nil, err
		}
		d.bus, err = bus.Connect(ctx, cfg.NATS.URL, log, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("NATS: %w", err)
	}
	if err = d.bus.EnsureStreams(ctx); err != nil {
		return nil, fmt.Errorf("NATS JetStream: %w", err)
	}
	if d.hb, err = newHeartbeats(ctx, d, d.heartbeat); err != nil {
		return nil, fmt.Errorf("fleet status bucket %s: %w", cfg.Fleet.StatusBucket, err)
	}

	d.ring = ringbuf.NewMPSC[exchange.BookTop](RingCapacity)
	d.batchMax = opt.LoopBatchMax
	if opt.LatencyProbe {
		d.probe = newRingProbe()
		d.ring.SetPushHook(d.probe.onPush)
	}
	d.store = book.New(d.reg)
	for i, v := range cfg.Venues {
		ve := &venue{idx: i, id: exchange.VenueID(i + 1), cfg: v, mode: tradingMode(cfg, i)}
		u, err := resolveURLs(v, d.sim)
		if err != nil {
			return nil, err
		}
		ve.ws, ve.rest, ve.privateURL, ve.tradeURL = u.ws, u.rest, u.private, u.trade
		if ve.want, ve.needFetch, err = venueListings(d.reg, ve.id, v); err != nil {
			return nil, err
		}
		d.venues = append(d.venues, ve)
		if v.Kind == config.KindUniswap {
			if ve.chain, err = newPoolChain(cfg, ve, log.With("component", "chain")); err != nil {
				return nil, err
			}
		}
	}
	// The desk (risk engine, kill switch restored from disk, rules) before
	// any engine: no plan can be taken before the saved halt is in force.
	if d.desk, err = newDesk(ctx, d, opt); err != nil {
		return nil, err
	}
	if d.exec, err = newExecution(d); err != nil {
		return nil, err
	}
	if err = d.exec.jr.Check(ctx); err != nil {
		return nil, fmt.Errorf("executor journal: %w", err)
	}
	listings, err := d.fetchAtStart(ctx)
	if err != nil {
		return nil, err
	}
	// Every venue of an instrument shares one scale, wide enough for what
	// each of them sends (see unifyScales); a venue that joins later must
	// fit it (fitScales).
	if err = unifyScales(d.reg, listings, log); err != nil {
		return nil, err
	}
	var feeds []feedEntry
	for i, v := range d.venues {
		if listings[i] == nil {
			continue
		}
		f, err := d.newFeed(v, listings[i])
		if err != nil {
			return nil, err
		}
		if err := d.exec.addVenue(v, listings[i]); err != nil {
			return nil, err
		}
		feeds = append(feeds, f)
		v.state.Store(&venueState{Joined: true, Since: time.Now().UTC()})
	}
	if len(feeds) > 0 {
		e, err := d.buildEngine(feeds)
		if err != nil {
			return nil, err
		}
		if err := e.newLoop(d); err != nil {
			return nil, fmt.Errorf("strategy loop: %w", err)
		}
		d.desk.attach(e)
		d.eng.Store(e)
	}
	d.prom = newPrometheusSet(d)

	tok, err := config.Secret(httpapi.EnvAdminToken)
	if err != nil && !errors.Is(err, config.ErrSecretUnset) {
		return nil, err
	}
	hcfg := httpapi.DefaultConfig()
	hcfg.Listen, hcfg.AdminToken, hcfg.AllowedHosts = cfg.HTTP.Listen, tok, cfg.HTTP.AllowedHosts
	if err = hcfg.Validate(); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	api := &apiProvider{d: d}
	d.http = httpapi.New(hcfg, httpapi.Deps{
		Metrics: d.prom.reg, Books: api, Readiness: api, Status: api, Positions: api, PnL: api, Trades: api, Admin: api,
	}, log)
	return d, nil
}

// Run starts every component and blocks until parent ends or a component
// fails. When parent ends it first stops gracefully with everything still
// running (lifecycle.go: /readyz false, no new plans, open orders
// cancelled, events drained to JetStream, within ShutdownTimeout); then,
// as after a failure, it stops the components (HTTP, feeds, loop, rules
// watchers, event publisher, NATS, simulator) and returns the first
// failure, or nil on a clean shutdown.
func (d *Daemon) Run(parent context.Context) error {
	// The components run under their own context, ended after the
	// graceful stop (lifecycle.go), not at once when parent ends.
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	defer cancel(nil)
	var wg sync.WaitGroup
	d.run = func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	run := d.run
	run("http", d.http.ListenAndServe)
	run("nats monitor", func(ctx context.Context) error {
		if err := d.bus.Monitor(ctx); !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	})
	d.desk.start(ctx, run)
	if e := d.engine(); e != nil {
		e.start(ctx, run)
		for _, f := range e.feeds {
			run("feed "+f.name, f.md.Run)
		}
	}
	d.exec.start(ctx, run)
	if d.probe != nil {
		run("latency probe", d.probe.run)
	}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for _, v := range d.pending() {
		seed := rnd.Uint64()
		run("venue "+v.cfg.Name, func(ctx context.Context) error {
			return d.retryVenue(ctx, v, rand.New(rand.NewPCG(seed, uint64(v.id))))
		})
	}
	for _, v := range d.venues {
		if pc := v.chain; pc != nil && pc.sim != nil {
			vid, inst := v.id, v.want[0].ID
			run("chain "+v.cfg.Name, func(ctx context.Context) error {
				return pc.runChain(ctx, func() (decimal.Decimal, bool) { return d.refMid(vid, inst) }, d.manual, d.log.With("component", "chain", "venue", v.cfg.Name))
			})
		}
	}
	run("feed states", d.watchFeeds)
	run("fleet heartbeat", d.hb.run)
	var missing []string
	for _, v := range d.pending() {
		missing = append(missing, v.cfg.Name)
	}
	d.log.Info("arbd running", "role", string(d.role), "http", d.cfg.HTTP.Listen, "venues", len(d.venues), "venues_waiting", missing,
		"instruments", len(d.reg.Assets)-1, "nats", d.natsURL(), "sim", d.sim != nil, "instance", d.instance)
	select {
	case <-parent.Done():
		// A shutdown asked for (SIGTERM): stop taking plans, cancel the
		// open orders, drain the events to JetStream, within
		// ShutdownTimeout, with every component still running.
		d.gracefulStop(ctx)
		cancel(context.Cause(parent))
	case <-ctx.Done():
		// A component failed: stop at once (what failed may be what a
		// graceful stop needs).
		d.stopping.Store(true)
	case <-d.bus.Done():
		d.stopping.Store(true)
		cancel(errors.New("NATS connection closed for good"))
	}
	wg.Wait()
	d.Close()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (d *Daemon) natsURL() string {
	if d.emb != nil {
		return "embedded " + d.emb.ClientURL()
	}
	return "external"
}

// Close releases the bus, the embedded NATS server and the simulator.
func (d *Daemon) Close() {
	if d.bus != nil {
		d.bus.Close()
		d.bus = nil
	}
	if d.emb != nil {
		d.emb.Shutdown()
		d.emb = nil
	}
	if d.sim != nil {
		d.sim.Close()
		d.sim = nil
	}
	for _, v := range d.venues {
		v.chain.close()
	}
	if d.lock != nil {
		d.lock.Close() // releases the data_dir lock
		d.lock = nil
	}
}

// Addr returns the HTTP listener's address once serving (for tests).
func (d *Daemon) Addr() string {
	if a := d.http.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// Sim returns the in-process simulator, or nil (for tests).
func (d *Daemon) Sim() *sim.Sim { return d.sim }

// SimChain returns the simulated chain of the pool venue named venue, or
// nil (for tests).
func (d *Daemon) SimChain(venue string) *unisim.Chain {
	for _, v := range d.venues {
		if v.cfg.Name == venue && v.chain != nil {
			return v.chain.sim
		}
	}
	return nil
}
