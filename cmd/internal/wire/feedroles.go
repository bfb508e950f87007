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
	"time"

	"github.com/nats-io/nats.go"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/config"
	"arb/cmd/internal/feedbus"
	"arb/cmd/internal/httpapi"
	"arb/exchange"
	"arb/ringbuf"
)

// Role is what one arbd process runs (arbd --role). The role is a flag,
// not a config key: one config file describes the venues, instruments and
// NATS of a deployment, and the same file starts its feed processes and
// its engine.
type Role string

// Roles.
const (
	// RoleAll runs the venue adapters and the engine in one process,
	// books handed over in memory (the default).
	RoleAll Role = "all"
	// RoleFeed runs only the venue adapters and publishes their books to
	// NATS (arb.book.<venue>.<symbol>, package feedbus), one process per
	// venue group, near the venues; several for one venue are hot
	// standbys, one of which publishes (a KV lease).
	RoleFeed Role = "feed"
	// RoleEngine runs everything but the venue adapters: every venue's
	// books come from the feed processes over NATS into the same ring a
	// local adapter writes to. Trading, risk, the ledger and the API are
	// as with RoleAll.
	RoleEngine Role = "engine"
)

// ParseRole returns the role named s ("" = RoleAll).
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case "", RoleAll:
		return RoleAll, nil
	case RoleFeed, RoleEngine:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (feed, engine or all)", s)
}

// checkRole refuses a role Build or BuildFeed does not run, and a split
// role without an external NATS server: the embedded server admits the
// daemon's own user only in process (bus.Embedded), so no other process
// could publish or read the books.
func checkRole(cfg *config.Config, r Role, allowed ...Role) error {
	if r == "" {
		r = RoleAll
	}
	ok := false
	for _, a := range allowed {
		ok = ok || r == a
	}
	if !ok {
		return fmt.Errorf("role %q is not built here", r)
	}
	if r != RoleAll && cfg.NATS.URL == "" {
		return fmt.Errorf("--role %s needs nats.url: feed and engine processes meet on an external NATS server (the embedded one admits only its own process)", r)
	}
	if r != RoleAll {
		for _, v := range cfg.Venues {
			if _, ok := v.SimChain(); ok {
				// The feed would watch one simulated chain and the engine
				// trade on another: two processes cannot share one.
				return fmt.Errorf("--role %s: venue %s is on a simulated chain (rpc_url sim://...), which lives inside one process; give it a real node's rpc_url or run --role all", r, v.Name)
			}
		}
	}
	return nil
}

// newRemoteFeed is a venue's feed in an engine process: its books from
// arb.book.<venue>.* on the daemon's NATS connection.
func (d *Daemon) newRemoteFeed(v *venue, listings []exchange.Instrument) (feedEntry, error) {
	md, err := feedbus.NewRemote(feedbus.RemoteConfig{
		Venue: v.id, Name: v.cfg.Name, Instruments: listings, Ring: d.ring, Conn: d.bus.Conn(),
		AgeMax: v.cfg.AgeMax, Logger: d.log.With("component", "feedbus"),
	})
	if err != nil {
		return feedEntry{}, fmt.Errorf("venue %s: %w", v.cfg.Name, err)
	}
	return feedEntry{name: v.cfg.Name, kind: v.cfg.Kind, id: v.id, md: md, listings: listings}, nil
}

// FeedDaemon is arbd --role feed: the venue adapters of every configured
// venue, their books published to NATS by a feedbus.Publisher, one lease
// per venue deciding which of the feed processes of that venue publishes.
// It keeps no state on disk, takes no data_dir lock and serves no HTTP.
type FeedDaemon struct {
	d      *Daemon // the parts of a daemon a feed process uses: config, registry, simulator, NATS, ring, venues
	source uint64
	pub    *feedbus.Publisher
	hb     *heartbeats      // the process's status in the fleet bucket (arb status)
	http   *httpapi.Server  // /healthz, /readyz, /metrics on http.listen
	leases []*feedbus.Lease // by VenueID; [0] unused
	mu     sync.Mutex
	feeds  []feedEntry // venues whose adapters run or will at Run
}

// BuildFeed constructs a feed process from a validated config: the
// simulator if the config names it, the NATS connection (nats.url is
// required), every venue's listings and scales as Build computes them (so
// the engine's match; a message says its scale anyway), the adapters, the
// lease bucket and the publisher. A venue whose filters cannot be fetched
// is retried in the background once Run starts.
func BuildFeed(ctx context.Context, cfg *config.Config, opt Options) (f *FeedDaemon, err error) {
	if err := checkRole(cfg, RoleFeed, RoleFeed); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: opt.Logger, started: time.Now(), build: ReadBuildInfo(), hc: &http.Client{Timeout: fetchTimeout},
		tap: opt.Tap, role: RoleFeed, instance: instanceName(cfg.Fleet.Instance)}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	d.reg = registry(cfg)
	if d.sim, err = startSim(cfg, d.log.With("component", "sim"), opt.TuneSim); err != nil {
		return nil, err
	}
	opts, err := natsOptions(cfg)
	if err != nil {
		return nil, err
	}
	if d.bus, err = bus.Connect(ctx, cfg.NATS.URL, d.log, append(opts, nats.Name("arbd-feed"))...); err != nil {
		return nil, fmt.Errorf("NATS: %w", err)
	}
	d.ring = ringbuf.NewMPSC[exchange.BookTop](RingCapacity)
	for i, v := range cfg.Venues {
		ve := &venue{idx: i, id: exchange.VenueID(i + 1), cfg: v, mode: modeNone}
		u, err := resolveURLs(v, d.sim)
		if err != nil {
			return nil, err
		}
		ve.ws, ve.rest = u.ws, u.rest
		if ve.want, ve.needFetch, err = venueListings(d.reg, ve.id, v); err != nil {
			return nil, err
		}
		d.venues = append(d.venues, ve)
		if v.Kind == config.KindUniswap {
			// The pool's feed reads the chain (its node, from the config).
			if ve.chain, err = newPoolChain(cfg, ve, d.log.With("component", "chain")); err != nil {
				return nil, err
			}
		}
	}
	listings, err := d.fetchAtStart(ctx)
	if err != nil {
		return nil, err
	}
	if err = unifyScales(d.reg, listings, d.log); err != nil {
		return nil, err
	}
	f = &FeedDaemon{d: d, leases: make([]*feedbus.Lease, len(d.reg.Venues))}
	for f.source == 0 {
		f.source = rand.Uint64()
	}
	for i, v := range d.venues {
		if listings[i] == nil {
			continue
		}
		e, err := d.newFeed(v, listings[i])
		if err != nil {
			return nil, err
		}
		f.feeds = append(f.feeds, e)
		v.state.Store(&venueState{Joined: true, Since: time.Now().UTC()})
	}
	f.pub, err = feedbus.NewPublisher(feedbus.PublisherConfig{
		Registry: d.reg, Ring: d.ring, Conn: d.bus.Conn(), Source: f.source, Logger: d.log.With("component", "feedbus"),
		Term: func(v exchange.VenueID) uint64 { return f.leases[v].Term() },
	})
	if err != nil {
		return nil, err
	}
	kctx, cancel := context.WithTimeout(ctx, bus.PublishTimeout)
	kv, err := feedbus.OpenLeases(kctx, d.bus.JetStream(), feedbus.LeaseBucket, feedbus.LeaseTTL)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("NATS KV bucket %s: %w", feedbus.LeaseBucket, err)
	}
	for _, v := range d.venues {
		// A process leads a venue only while some of its books are fresh:
		// a standby whose adapter is in sync takes over from a leader
		// whose venue connection is down.
		f.leases[v.id], err = feedbus.NewLease(feedbus.LeaseConfig{
			KV: kv, Venue: v.cfg.Name, Source: f.source, Logger: d.log.With("component", "feedbus"),
			Ready: func() bool { return f.pub.FreshBooks(v.id) > 0 },
		})
		if err != nil {
			return nil, err
		}
	}
	if f.hb, err = newHeartbeats(ctx, d, f.heartbeat); err != nil {
		return nil, fmt.Errorf("NATS KV bucket %s: %w", cfg.Fleet.StatusBucket, err)
	}
	if f.http, err = f.newFeedHTTP(cfg); err != nil {
		return nil, err
	}
	return f, nil
}

// heartbeat is the feed process's status for the fleet: its venues, its
// books (fresh as the publisher sees them), and whether it publishes
// (state "feeding": it leads at least one venue) or stands by ("standby").
// A feed process trades nothing and holds no rules.
func (f *FeedDaemon) heartbeat(host string) Heartbeat {
	d := f.d
	hb := Heartbeat{Instance: d.instance, Role: string(RoleFeed), Host: host, PID: os.Getpid(), Version: d.build.Version,
		Venues: []string{}, StartedAt: d.started.UTC(), At: time.Now().UTC(), IntervalSeconds: d.cfg.Fleet.Heartbeat.Seconds()}
	for _, e := range f.entries() {
		hb.Venues = append(hb.Venues, e.name)
		hb.Books += len(e.listings)
		hb.BooksFresh += f.pub.FreshBooks(e.id)
	}
	for _, v := range d.pending() {
		hb.Waiting = append(hb.Waiting, v.cfg.Name)
	}
	hb.State = "standby"
	if len(f.Stats().Leading) > 0 {
		hb.State = "feeding"
	}
	hb.Ready = hb.BooksFresh > 0
	return hb
}

// Source returns the process's instance id, the value of the lease keys
// it holds and the source of its messages.
func (f *FeedDaemon) Source() uint64 { return f.source }

// Run starts the adapters, the leases and the publisher, and blocks until
// ctx ends or NATS is gone for good. Stopping, the leases are given up
// first (a standby takes over at once), then the adapters and the
// publisher stop and the connection is drained.
func (f *FeedDaemon) Run(ctx context.Context) error {
	d := f.d
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	d.run = run
	run("http", f.http.ListenAndServe)
	run("publisher", f.pub.Run)
	for _, l := range f.leases[1:] {
		run("lease", l.Run)
	}
	f.mu.Lock()
	for _, e := range f.feeds {
		run("feed "+e.name, e.md.Run)
	}
	f.mu.Unlock()
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	for _, v := range d.pending() {
		seed := rnd.Uint64()
		run("venue "+v.cfg.Name, func(ctx context.Context) error {
			return f.retryVenue(ctx, v, rand.New(rand.NewPCG(seed, uint64(v.id))))
		})
	}
	run("feed states", d.watchFeedsOf(f.entries))
	run("fleet heartbeat", f.hb.run)
	var names []string
	for _, v := range d.venues {
		names = append(names, v.cfg.Name)
	}
	d.log.Info("arbd feed running", "role", RoleFeed, "http", d.cfg.HTTP.Listen, "venues", names, "source", fmt.Sprintf("%016x", f.source),
		"subjects", feedbus.SubjectPrefix+"<venue>.<symbol>", "lease_bucket", feedbus.LeaseBucket)
	select {
	case <-ctx.Done():
	case <-d.bus.Done():
		cancel(errors.New("NATS connection closed for good"))
	}
	wg.Wait()
	// The last heartbeat says the process stopped (arb status shows
	// "stopped", not "lost"), on a context of its own: ctx is done.
	sctx, scancel := context.WithTimeout(context.Background(), bus.PublishTimeout)
	f.hb.put(sctx, "stopped")
	scancel()
	d.Close()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// entries returns the venues whose adapters run.
func (f *FeedDaemon) entries() []feedEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]feedEntry(nil), f.feeds...)
}

// retryVenue fetches a venue's filters with backoff (as the engine does)
// until they come, then starts its adapter at the scales already in use.
func (f *FeedDaemon) retryVenue(ctx context.Context, v *venue, rnd *rand.Rand) error {
	d := f.d
	wait := joinBackoffMin
	for {
		jitter := time.Duration(rnd.Int64N(int64(wait)/5+1)) - wait/10
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait + jitter):
		}
		fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		listings, err := fetchFilters(fctx, d.hc, v.cfg, v.rest, v.want)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			if err = fitScales(d.reg, listings); err == nil {
				var e feedEntry
				if e, err = d.newFeed(v, listings); err == nil {
					f.mu.Lock()
					f.feeds = append(f.feeds, e)
					f.mu.Unlock()
					v.state.Store(&venueState{Joined: true, Since: time.Now().UTC()})
					d.log.Info("venue joined", "venue", v.cfg.Name, "instruments", len(listings))
					d.run("feed "+e.name, e.md.Run)
					return nil
				}
			}
		}
		d.log.Warn("venue still not available; retrying", "venue", v.cfg.Name, "err", err)
		wait = min(wait*2, joinBackoffMax)
	}
}

// FeedStats are a feed process's counters (for tests and logs).
type FeedStats struct {
	Published, Standby, Errors uint64
	Leading                    []string // venues this process publishes
}

// Stats returns the publisher's counters and the venues led.
func (f *FeedDaemon) Stats() FeedStats {
	s := f.pub.Stats()
	out := FeedStats{Published: s.Published.Load(), Standby: s.Standby.Load(), Errors: s.Errors.Load()}
	for _, v := range f.d.venues {
		if f.leases[v.id].Term() != 0 {
			out.Leading = append(out.Leading, v.cfg.Name)
		}
	}
	return out
}
