package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/config"
	"arb/cmd/internal/httpapi"
	"arb/exchange"
	"arb/exchange/sim"
	"arb/exchange/tap"
	"arb/ringbuf"
	"arb/strategy"
	"arb/strategy/book"
	"arb/strategy/spread"
)

// Daemon is a built arbd: every component constructed and connected, nothing
// running until Run. Close releases what Build started if Run is never
// called.
type Daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	reg     *exchange.Registry
	started time.Time

	sim   *sim.Sim
	emb   *bus.Embedded
	bus   *bus.Bus
	ring  *ringbuf.MPSC[exchange.BookTop]
	feeds []feedEntry
	det   *spread.Detector
	loop  *strategy.Loop
	desk  *desk
	http  *httpapi.Server
	prom  *prometheusSet
	lock  *os.File // exclusive lock on data_dir
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
	// Tap, if set, records what the venues send (arbd --record): every
	// feed's connections and frames, the snapshots and the instruments
	// replies (see exchange/tap, exchange/recording).
	Tap tap.Sink
	// PlanIDBase, if nonzero, is the detector's plan id base instead of
	// the time-based one (a recording stores it, so a backtest of the
	// session numbers its plans the same way).
	PlanIDBase uint64
}

// Build constructs the daemon from a validated config: the simulated venues
// (if any sim:// URL is used), NATS (embedded when no URL is set), the
// instrument filters, the feeds, the detector and its loop, the risk engine,
// the HTTP API and the metrics. It fails with an error naming the part.
func Build(ctx context.Context, cfg *config.Config, opt Options) (d *Daemon, err error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	built := &Daemon{cfg: cfg, log: log, started: time.Now()}
	d = built
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
		if d.emb, err = bus.StartEmbedded(ctx, cfg.DataDir, log.With("component", "nats")); err != nil {
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		d.bus, err = bus.Connect(ctx, d.emb.ClientURL(), log, d.emb.InProcess())
	} else {
		d.bus, err = bus.Connect(ctx, cfg.NATS.URL, log, natsOptions(cfg)...)
	}
	if err != nil {
		return nil, fmt.Errorf("NATS: %w", err)
	}
	if err = d.bus.EnsureStreams(ctx); err != nil {
		return nil, fmt.Errorf("NATS JetStream: %w", err)
	}

	hc := &http.Client{Timeout: 10 * time.Second}
	urls := make([][2]string, len(cfg.Venues))
	listings := make([][]exchange.Instrument, len(cfg.Venues))
	var all []exchange.Instrument
	for i, v := range cfg.Venues {
		ws, rest, err := resolveURLs(v, d.sim)
		if err != nil {
			return nil, err
		}
		urls[i] = [2]string{ws, rest}
		if listings[i], err = instruments(ctx, d.reg, exchange.VenueID(i+1), v, rest, tappedClient(hc, opt.Tap, i)); err != nil {
			return nil, err
		}
		all = append(all, listings[i]...)
	}

	d.ring = ringbuf.NewMPSC[exchange.BookTop](RingCapacity)
	if d.feeds, err = newFeeds(cfg, d.reg, urls, listings, d.ring, log, hc); err != nil {
		return nil, err
	}
	if err = setTaps(d.feeds, opt.Tap); err != nil {
		return nil, err
	}
	store := book.New(d.reg)
	sc := spreadConfig(cfg, d.reg, all)
	if opt.PlanIDBase != 0 {
		sc.PlanIDBase = opt.PlanIDBase
	}
	if d.det, err = spread.New(d.reg, store, sc); err != nil {
		return nil, fmt.Errorf("strategy: %w", err)
	}
	if err = setBalances(cfg, d.det.Inventory()); err != nil {
		return nil, err
	}
	if d.desk, err = newDesk(ctx, d, opt); err != nil {
		return nil, err
	}
	if d.loop, err = strategy.New(strategy.DefaultConfig(), d.reg, d.ring, d.det, d.desk, func() int64 { return time.Now().UnixNano() }); err != nil {
		return nil, fmt.Errorf("strategy loop: %w", err)
	}
	d.prom = newPrometheusSet(d)

	tok, err := config.Secret(httpapi.EnvAdminToken)
	if err != nil && !errors.Is(err, config.ErrSecretUnset) {
		return nil, err
	}
	hcfg := httpapi.DefaultConfig()
	hcfg.Listen, hcfg.AdminToken = cfg.HTTP.Listen, tok
	if err = hcfg.Validate(); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	api := &apiProvider{d: d}
	d.http = httpapi.New(hcfg, httpapi.Deps{
		Metrics: d.prom.reg, Books: api, Readiness: api, Status: api, Positions: api, PnL: api, Admin: api,
	}, log.With("component", "http"))
	return d, nil
}

// Run starts every component and blocks until ctx ends or a component fails;
// it then stops them in order (HTTP, feeds, loop, rules watchers, event
// publisher, NATS, simulator) and returns the first failure, or nil on a
// clean shutdown.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	run("http", d.http.ListenAndServe)
	run("strategy", d.loop.Run)
	for _, f := range d.feeds {
		run("feed "+f.name, f.md.Run)
	}
	d.desk.start(ctx, run)
	d.log.Info("arbd running", "http", d.cfg.HTTP.Listen, "venues", len(d.feeds), "instruments", len(d.reg.Assets)-1,
		"nats", d.natsURL(), "sim", d.sim != nil)
	select {
	case <-ctx.Done():
	case <-d.bus.Done():
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
