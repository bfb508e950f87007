package bybit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/internal/wsx"
	"arb/exchange/tap"
)

// pingMsg is the client heartbeat Bybit documents ({"req_id":..,"op":"ping"}).
var pingMsg = []byte(`{"req_id":"ping","op":"ping"}`)

// Feed is the Bybit spot market-data feed: it keeps one websocket (two
// during a scheduled handover) and publishes BookTop events into the ring.
// Run is called once; Stats and UJumps are safe from any goroutine.
type Feed struct {
	cfg     Config
	url     string
	stats   exchange.FeedStats
	owner   feed.Owner
	uJumps  atomic.Uint64
	running atomic.Bool
	log     feed.LogLimiter // supervisor goroutine only
	tap     *tap.Venue      // recorder hook (SetTap); nil = off
}

var _ exchange.MarketData = (*Feed)(nil)

// New validates cfg and returns a feed.
func New(cfg Config) (*Feed, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Feed{cfg: cfg.withDefaults()}
	f.cfg.stats = &f.stats
	f.url = streamURL(f.cfg.WSURL)
	f.log = feed.LogLimiter{Logger: f.cfg.Logger}
	return f, nil
}

// Stats returns the feed's counters.
func (f *Feed) Stats() *exchange.FeedStats { return &f.stats }

// UJumps returns how many applied deltas skipped update ids (u > previous
// u + 1) under ContinuityMonotonic, over all connections: on a stream
// whose u is contiguous each one is an undetected lost delta.
func (f *Feed) UJumps() uint64 { return f.uJumps.Load() }

// conn is one websocket connection and its session, run by one goroutine.
type conn struct {
	gen      uint64
	recovery bool // replaces a dropped connection: counts as a reconnect
	done     chan struct{}
	synced   chan struct{} // closed when a handover connection took ownership
	cancel   context.CancelFunc
	retired  atomic.Bool // closed by the supervisor after a handover: publish nothing
	healthy  atomic.Bool // all books were synced at some point
	err      error       // why it ended (read after done)
}

// Run connects and keeps the books in sync until ctx ends, reconnecting with
// jittered backoff after every drop. It returns ctx's error.
func (f *Feed) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("bybit: Run called twice")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	bo := wsx.Backoff{Min: f.cfg.BackoffMin, Max: f.cfg.BackoffMax, Rand: f.cfg.Rand}
	var (
		gen       uint64
		cur, next *conn
		rotate    <-chan time.Time
		dropped   bool
	)
	stop := func() {
		for _, c := range []*conn{cur, next} {
			if c != nil {
				c.cancel()
			}
		}
	}
	scheduleRotation := func() {
		rotate = nil
		if f.cfg.Lifetime > 0 {
			rotate = time.After(f.cfg.Lifetime)
		}
	}
	for {
		if cur == nil {
			gen++
			cur = f.start(ctx, &wg, gen, true, dropped)
			scheduleRotation()
		}
		var nextDone, nextSynced <-chan struct{}
		if next != nil {
			nextDone, nextSynced = next.done, next.synced
		}
		select {
		case <-ctx.Done():
			stop()
			return ctx.Err()

		case <-cur.done:
			f.logEnd(cur, "connection ended")
			dropped = true
			healthy := cur.healthy.Load()
			cur = nil
			if next != nil {
				// A handover connection is already up: it takes over at
				// once (its reader republishes on noticing ownership).
				f.owner.Take(next.gen)
				f.stats.Reconnects.Add(1)
				cur, next = next, nil
				continue
			}
			if healthy {
				bo.Reset()
			}
			if err := wsx.Sleep(ctx, bo.Next()); err != nil {
				return err
			}

		case <-rotate:
			rotate = nil
			if next == nil {
				gen++
				next = f.start(ctx, &wg, gen, false, false)
			}

		case <-nextSynced:
			// The new connection owns the venue now; retire the old one
			// silently (its books are the same market, already replaced).
			cur.retired.Store(true)
			cur.cancel()
			cur, next = next, nil
			scheduleRotation()

		case <-nextDone:
			f.logEnd(next, "handover connection ended before it synced")
			next = nil
			rotate = time.After(bo.Next())
		}
	}
}

func (f *Feed) logEnd(c *conn, msg string) {
	if c.err != nil {
		f.log.Log(f.cfg.Now(), "bybit: "+msg, slog.String("venue", f.cfg.Name),
			slog.Uint64("gen", c.gen), slog.String("err", c.err.Error()))
	}
}

// start launches connection generation gen. With own it takes ownership as
// soon as it is connected (first connection, recovery); otherwise it builds
// its books silently and takes ownership when all are synced (handover).
func (f *Feed) start(ctx context.Context, wg *sync.WaitGroup, gen uint64, own, recovery bool) *conn {
	cctx, cancel := context.WithCancel(ctx)
	c := &conn{gen: gen, recovery: recovery, done: make(chan struct{}), synced: make(chan struct{}), cancel: cancel}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(c.done)
		defer cancel()
		c.err = f.runConn(cctx, c, own)
	}()
	return c
}

// runConn is one connection's reader goroutine.
func (f *Feed) runConn(ctx context.Context, c *conn, own bool) error {
	cfg := &f.cfg
	ws, err := wsx.Dial(ctx, f.url, wsx.DialConfig{MaxFrame: cfg.MaxFrame, Now: cfg.Now, Tap: f.tap.Conn(c.gen, !own)})
	if err != nil {
		return err
	}
	// Closing the socket is what unblocks ReadFrame on shutdown/retirement.
	go func() {
		<-ctx.Done()
		ws.CloseWith(wsx.ClosedByOwner)
	}()
	if own {
		f.owner.Take(c.gen)
	}
	if c.recovery {
		f.stats.Reconnects.Add(1)
	}
	owned := own
	if owned {
		f.stats.Connected.Store(1)
	}
	pub := feed.New(cfg.Ring, &f.stats, &f.owner, c.gen, len(cfg.Instruments), int64(cfg.AgeMax)/3)
	sess := NewSession(cfg, pub)
	go ws.Watchdog(ctx, cfg.AgeMax)
	go ws.KeepAlive(ctx, cfg.PingEvery, pingMsg, false)

	var wbuf []byte
	send := func() bool {
		for {
			req, ok := sess.NextRequest(wbuf[:0])
			if !ok {
				return true
			}
			wbuf = req
			if err := ws.WriteText(req); err != nil {
				ws.CloseWith(wsx.ClosedByPeer)
				return false
			}
		}
	}
	sess.Start(cfg.Now())
	send()
	var jumps uint64
	for {
		b, recvTS, err := ws.ReadFrame()
		if err != nil {
			if c.retired.Load() {
				return nil
			}
			cause := exchange.CauseDisconnect
			switch {
			case errors.Is(err, wsx.ErrTooLarge):
				f.stats.Reject(exchange.RejectTooLarge)
				cause = exchange.CauseBadData
			case ws.Cause() == wsx.ClosedIdle:
				cause = exchange.CauseAge
			}
			if sess.NeedReconnect() {
				err = errUnattributable
			} else {
				sess.Disconnected(cause, cfg.Now())
			}
			if f.owner.Is(c.gen) {
				f.stats.Connected.Store(0)
			}
			return err
		}
		before := sess.Events()
		sess.HandleFrame(b, recvTS)
		if owned && sess.Events() != before {
			f.stats.ParseLatency.Observe(cfg.Now() - recvTS)
		}
		if j := sess.UJumps(); j != jumps {
			f.uJumps.Add(j - jumps)
			jumps = j
		}
		if sess.NeedReconnect() {
			ws.CloseWith(wsx.ClosedByOwner) // books are stale already
			continue                        // ReadFrame now fails
		}
		send()
		if !owned {
			switch {
			case f.owner.Is(c.gen): // promoted after the old connection dropped
				owned = true
				f.stats.Connected.Store(1)
				sess.RepublishAll(recvTS)
			case sess.Synced():
				f.owner.Take(c.gen)
				owned = true
				sess.RepublishAll(recvTS)
				close(c.synced)
			}
		}
		if !c.healthy.Load() && sess.Synced() {
			c.healthy.Store(true)
		}
	}
}

// errUnattributable ends a connection that received input the session could
// not attribute to one book.
var errUnattributable = errors.New("bybit: unattributable bad frame: reconnecting")
