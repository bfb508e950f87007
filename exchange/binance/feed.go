package binance

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/internal/gate"
	"arb/exchange/internal/wsx"
	"arb/exchange/tap"
)

// maxSnapshotAttempts bounds the retries of one snapshot request; after it
// the session re-arms the request, so fetching goes on at the capped backoff.
const maxSnapshotAttempts = 8

// Feed is the Binance spot market-data feed: Run keeps one websocket
// connection (two during a handover) with its books in sync and publishes
// BookTop events into Config.Ring. Run is called once; Stats and the other
// counters are safe from any goroutine.
type Feed struct {
	cfg   Config // defaulted copy; read-only after New
	url   string
	stats exchange.FeedStats
	owner feed.Owner
	// snapGate is the feed's REST admission control for depth snapshots
	// (all its connections): SnapshotWeightPerMin of request weight per
	// minute, raised to what Binance reports it counted for this IP
	// (X-MBX-USED-WEIGHT-1M), and closed for a Retry-After or a ban.
	snapGate *gate.Gate
	// sleep waits d or until ctx ends (wsx.Sleep; tests substitute a
	// fake that advances their clock).
	sleep func(ctx context.Context, d time.Duration) error
	// admitted, if set (tests), is told the time of every admitted request.
	admitted func(at time.Time)
	tap      *tap.Venue // recorder hook (SetTap); nil = off

	running     atomic.Bool
	open        atomic.Int64 // open connections
	rateLimited atomic.Uint64
	handovers   atomic.Uint64
}

var _ exchange.MarketData = (*Feed)(nil)

// New validates cfg and returns a feed; nothing connects before Run.
func New(cfg Config) (*Feed, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Feed{cfg: cfg.withDefaults()}
	f.cfg.Instruments = slices.Clone(cfg.Instruments) // sessions point into it
	f.cfg.stats = &f.stats
	f.url = f.cfg.streamURL()
	f.snapGate = gate.New(gate.Config{Budgets: []gate.Budget{{
		Name: "REQUEST_WEIGHT (depth snapshots)", Limit: f.cfg.SnapshotWeightPerMin, Window: time.Minute,
	}}})
	f.sleep = wsx.Sleep
	return f, nil
}

// Stats returns the feed's counters.
func (f *Feed) Stats() *exchange.FeedStats { return &f.stats }

// RateLimited returns how many REST answers were rate limits (HTTP 429 or
// 418); each made every snapshot request of the feed wait its Retry-After.
// (exchange.FeedStats has no such counter yet.)
func (f *Feed) RateLimited() uint64 { return f.rateLimited.Load() }

// Handovers returns how many scheduled or serverShutdown-triggered
// handovers completed.
func (f *Feed) Handovers() uint64 { return f.handovers.Load() }

// Run connects, keeps the books in sync and reconnects until ctx ends; it
// returns ctx.Err(). A dropped connection publishes every book stale and is
// replaced after a jittered backoff (reset after a healthy connection). Before
// the connection's lifetime ends, or at once on serverShutdown, a second
// connection builds its books silently and takes over when they are all in
// sync (or after HandoverMax), so books stay available across the switch.
func (f *Feed) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("binance: Run called twice")
	}
	log := f.cfg.Logger.With(slog.String("venue", f.cfg.Name))
	loglim := feed.LogLimiter{Logger: log}
	bo := wsx.Backoff{Min: f.cfg.BackoffMin, Max: f.cfg.BackoffMax, Rand: f.cfg.Rand}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var (
		cur, next *conn
		gen       uint64
		dialed    int
		due       bool      // cur must be handed over
		retryAt   time.Time // next handover dial not before
	)
	defer func() {
		for _, c := range []*conn{next, cur} {
			if c != nil {
				c.ws.CloseWith(wsx.ClosedByOwner)
				c.wg.Wait()
			}
		}
	}()
	dial := func(handover bool) (*conn, error) {
		gen++
		c, err := f.dial(ctx, gen, handover)
		if err != nil {
			return nil, err
		}
		if dialed > 0 {
			f.stats.Reconnects.Add(1)
		}
		dialed++
		return c, nil
	}
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if cur == nil {
			c, err := dial(false)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				loglim.Log(f.cfg.Now(), "binance: connect failed", slog.String("err", err.Error()))
				if err := wsx.Sleep(ctx, bo.Next()); err != nil {
					return err
				}
				continue
			}
			f.owner.Take(c.gen) // recovery: publish at once (stale until synced)
			c.start(ctx)
			cur, due, retryAt = c, false, time.Time{}
			log.Info("binance: connected", slog.Uint64("gen", c.gen))
		}
		var nextTook, nextDone <-chan struct{}
		var shutdown <-chan struct{}
		if next != nil {
			nextTook, nextDone = next.took, next.done
		} else if !due {
			shutdown = cur.shutdown
		}
		wait := f.cfg.Lifetime - time.Since(cur.started)
		if due {
			wait = time.Until(retryAt)
		}
		if next != nil {
			wait = time.Hour // nothing to schedule while a handover runs
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-cur.done:
			cur.wg.Wait() // its watchdog and fetcher stop with the reader
			if cur.healthy() {
				bo.Reset()
			}
			if next != nil { // promote the half-built connection at once
				next.takeNow.Store(true)
				cur, next, due = next, nil, false
				continue
			}
			cur = nil
			if err := wsx.Sleep(ctx, bo.Next()); err != nil {
				return err
			}
		case <-shutdown:
			log.Info("binance: serverShutdown received; handing over", slog.Uint64("gen", cur.gen))
			due, retryAt = true, time.Time{}
		case <-timer.C:
			if next != nil {
				continue
			}
			if !due {
				log.Info("binance: connection lifetime reached; handing over", slog.Uint64("gen", cur.gen))
				due = true
			}
			c, err := dial(true)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				loglim.Log(f.cfg.Now(), "binance: handover connect failed", slog.String("err", err.Error()))
				retryAt = time.Now().Add(bo.Next())
				continue
			}
			c.start(ctx)
			next = c
		case <-nextTook:
			cur.ws.CloseWith(wsx.ClosedByOwner)
			cur.wg.Wait()
			cur, next, due = next, nil, false
			f.handovers.Add(1)
			log.Info("binance: handover complete", slog.Uint64("gen", cur.gen))
		case <-nextDone:
			loglim.Log(f.cfg.Now(), "binance: handover connection failed")
			next.wg.Wait()
			next = nil
			retryAt = time.Now().Add(bo.Next())
		}
	}
}

// conn is one connection generation: the socket, its session and publisher,
// and its goroutines (reader, watchdog, snapshot fetcher).
type conn struct {
	f        *Feed
	gen      uint64
	ws       *wsx.Conn
	tap      *tap.Conn // recorder hook; nil = off
	sess     *Session
	pub      *feed.Publisher
	started  time.Time
	deadline int64 // handover: take over by this time (Now clock) even if not synced
	rng      *rand.Rand

	req chan int
	res chan snapResult

	takeNow atomic.Bool // take ownership at the next chance (the old connection died)
	synced  atomic.Bool // every book was in sync at some point
	// candidate: a handover connection that has not taken ownership yet.
	// Only a candidate may take it, once: a connection that lost ownership
	// (it is being retired) must never take it back, even with its books
	// still in sync and a frame arriving before it is closed.
	candidate bool
	announced bool // reader: Republish done after becoming the owner
	shutOnce  bool

	took     chan struct{} // closed when this connection took ownership in a handover
	shutdown chan struct{} // closed when serverShutdown arrived
	done     chan struct{} // closed when the reader exited
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

type snapResult struct {
	i    int
	body []byte
	err  error
}

func (f *Feed) dial(ctx context.Context, gen uint64, handover bool) (*conn, error) {
	tc := f.tap.Conn(gen, handover)
	ws, err := wsx.Dial(ctx, f.url, wsx.DialConfig{MaxFrame: f.cfg.MaxFrame, Now: f.cfg.Now, Tap: tc})
	if err != nil {
		return nil, err
	}
	n := len(f.cfg.Instruments)
	pub := feed.New(f.cfg.Ring, &f.stats, &f.owner, gen, n, int64(f.cfg.AgeMax/3))
	c := &conn{
		f: f, gen: gen, ws: ws, tap: tc, pub: pub, sess: NewSession(&f.cfg, pub), started: time.Now(),
		rng: rand.New(rand.NewPCG(f.cfg.Rand.Uint64(), f.cfg.Rand.Uint64())),
		req: make(chan int, n), res: make(chan snapResult, n),
		took: make(chan struct{}), shutdown: make(chan struct{}), done: make(chan struct{}),
	}
	if handover {
		c.candidate = true
		c.deadline = f.cfg.Now() + int64(f.cfg.HandoverMax)
	}
	return c, nil
}

// start runs the connection's goroutines.
func (c *conn) start(ctx context.Context) {
	ctx, c.cancel = context.WithCancel(ctx)
	c.f.open.Add(1)
	c.f.stats.Connected.Store(1)
	c.wg.Add(3)
	go func() { defer c.wg.Done(); c.ws.Watchdog(ctx, c.f.cfg.AgeMax) }()
	go func() { defer c.wg.Done(); c.fetch(ctx) }()
	go func() { defer c.wg.Done(); c.read() }()
}

func (c *conn) healthy() bool {
	return c.synced.Load() || time.Since(c.started) >= c.f.cfg.BackoffMax
}

// read is the connection's reader: the only goroutine touching its session.
func (c *conn) read() {
	defer close(c.done)
	defer c.cancel()
	s, f := c.sess, c.f
	c.ownership(f.cfg.Now())
	c.request()
	for {
		b, ts, err := c.ws.ReadFrame()
		if err != nil {
			c.exit(err)
			return
		}
		n := s.Events()
		s.HandleFrame(b, ts)
		c.poll(ts)
		c.request()
		if s.Events() != n {
			f.stats.ParseLatency.Observe(f.cfg.Now() - ts)
		}
		c.ownership(ts)
		s.Refresh(ts)
		if s.Synced() {
			c.synced.Store(true)
		}
		if s.ShutdownRequested() && !c.shutOnce {
			c.shutOnce = true
			close(c.shutdown)
		}
	}
}

// ownership takes over as the venue's publisher when due (handover: all
// books synced, the deadline passed, or the old connection died) and, once
// owner, republishes every book so consumers see this connection's view.
func (c *conn) ownership(now int64) {
	if c.candidate && (c.takeNow.Load() || c.sess.Synced() || now >= c.deadline) {
		c.f.owner.Take(c.gen)
		c.candidate = false
		close(c.took)
	}
	if !c.announced && c.pub.Active() {
		c.announced = true
		c.sess.Republish(now)
	}
}

// poll applies the snapshots fetched so far, without blocking.
func (c *conn) poll(now int64) {
	for {
		select {
		case r := <-c.res:
			if c.tap != nil {
				c.tap.SnapshotReply(now, c.f.cfg.Instruments[r.i].Symbol, r.body, r.err)
			}
			if r.err != nil {
				c.sess.SnapshotFailed(r.i)
			} else {
				c.sess.ApplySnapshot(r.i, r.body, now)
			}
		default:
			return
		}
	}
}

// request hands the snapshots the session wants to the fetcher. The channel
// holds one slot per book and a book has at most one request out, so the
// send never blocks.
func (c *conn) request() {
	for {
		i, ok := c.sess.NeedSnapshot()
		if !ok {
			return
		}
		if c.tap != nil {
			sym := c.f.cfg.Instruments[i].Symbol
			c.tap.SnapshotRequest(c.f.cfg.Now(), sym, depthURL(c.f.cfg.RESTURL, sym, c.f.cfg.Depth))
		}
		select {
		case c.req <- i:
		default:
			c.sess.SnapshotFailed(i)
			return
		}
	}
}

// exit publishes the books stale (unless this connection no longer
// publishes) with the cause of the drop.
func (c *conn) exit(err error) {
	f := c.f
	if f.open.Add(-1) == 0 {
		f.stats.Connected.Store(0)
	}
	cause := exchange.CauseDisconnect
	switch {
	case errors.Is(err, wsx.ErrTooLarge):
		f.stats.Reject(exchange.RejectTooLarge)
		cause = exchange.CauseBadData
	case c.ws.Cause() == wsx.ClosedIdle:
		cause = exchange.CauseAge
	}
	active := c.pub.Active()
	f.cfg.Logger.Info("binance: connection ended", slog.String("venue", f.cfg.Name), slog.Uint64("gen", c.gen),
		slog.String("cause", cause.String()), slog.Bool("publishing", active), slog.String("err", err.Error()))
	if c.ws.Cause() == wsx.ClosedByOwner && !active {
		return // retired after a handover: the new connection publishes
	}
	c.sess.Disconnected(cause, f.cfg.Now())
	c.ws.CloseWith(wsx.ClosedByPeer)
}

// fetch serves snapshot requests one at a time, within the feed's weight
// budget, honouring Retry-After and bans for the whole feed and backing off
// on failures. How often a book asks is the session's business (its
// refetch backoff); how much weight the feed spends, whatever the cause of
// the requests, is bounded here.
func (c *conn) fetch(ctx context.Context) {
	f := c.f
	bo := wsx.Backoff{Min: f.cfg.BackoffMin, Max: f.cfg.BackoffMax, Rand: c.rng}
	loglim := feed.LogLimiter{Logger: f.cfg.Logger}
	weight := snapshotWeight(f.cfg.Depth)
	for {
		var i int
		select {
		case <-ctx.Done():
			return
		case i = <-c.req:
		}
		sym := f.cfg.Instruments[i].Symbol
		u := depthURL(f.cfg.RESTURL, sym, f.cfg.Depth)
		var body []byte
		var err error
		for attempt := 0; attempt < maxSnapshotAttempts; attempt++ {
			if err = f.admit(ctx, weight); err != nil {
				return
			}
			var used int
			body, used, err = getWeighed(ctx, f.cfg.HTTPClient, f.cfg.Name, u, f.cfg.MaxFrame)
			if used > 0 {
				f.snapGate.Observe(f.clock(), 0, used)
			}
			if err == nil {
				bo.Reset()
				break
			}
			if ctx.Err() != nil {
				return
			}
			var e *exchange.Error
			if errors.As(err, &e) && e.Kind == exchange.KindRateLimited {
				f.rateLimited.Add(1)
				if e.RetryAfter > 0 {
					// A 418 is a ban: it also opens the gate's circuit.
					f.snapGate.Block(f.clock().Add(e.RetryAfter), "Retry-After", e.HTTPStatus == 418)
				}
			}
			loglim.Log(f.cfg.Now(), "binance: depth snapshot failed", slog.String("venue", f.cfg.Name),
				slog.String("symbol", sym), slog.Int("attempt", attempt+1), slog.String("err", err.Error()))
			if err := f.sleep(ctx, bo.Next()); err != nil {
				return
			}
		}
		select {
		case c.res <- snapResult{i: i, body: body, err: err}:
		case <-ctx.Done():
			return
		}
	}
}

// admit waits until the feed's gate admits weight, or ctx ends.
func (f *Feed) admit(ctx context.Context, weight int) error {
	for {
		now := f.clock()
		err := f.snapGate.Take(now, gate.Cost{Budget: 0, Units: weight})
		if err == nil {
			if f.admitted != nil {
				f.admitted(now)
			}
			return nil
		}
		var r *gate.Refusal
		if !errors.As(err, &r) {
			return err
		}
		if err := f.sleep(ctx, max(r.Wait, time.Millisecond)); err != nil {
			return err
		}
	}
}

// clock is the feed's wall clock (Config.Now) as a time.Time.
func (f *Feed) clock() time.Time { return time.Unix(0, f.cfg.Now()) }
