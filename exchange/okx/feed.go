package okx

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

// minDialInterval spaces our connection attempts: OKX allows 3 connection
// requests per second per IP, and other clients on the host (private
// channels, other feeds) share that allowance.
const minDialInterval = 400 * time.Millisecond

// pingFrame is OKX's application-level keep-alive; the reply is "pong".
var pingFrame = []byte("ping")

// Errors Run's connections end with (besides the socket's own).
var (
	errRunTwice      = errors.New("okx: Run called twice")
	errSessionReconn = errors.New("okx: session asked for a reconnect")
)

// Feed is one OKX public market-data feed: it keeps the configured books in
// sync over one websocket connection (two during a handover) and publishes
// BookTop events into the ring. Run is called once; Stats is safe from any
// goroutine.
type Feed struct {
	cfg     Config // defaulted
	stats   *exchange.FeedStats
	owner   feed.Owner
	gen     atomic.Uint64
	started atomic.Bool
	ever    atomic.Bool // a connection was established before
	tap     *tap.Venue  // recorder hook (SetTap); nil = off

	dialMu   sync.Mutex
	nextDial time.Time
}

var _ exchange.MarketData = (*Feed)(nil)

// New validates cfg and returns a feed ready to Run.
func New(cfg Config) (*Feed, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	if c.Stats == nil {
		c.Stats = new(exchange.FeedStats)
	}
	return &Feed{cfg: c, stats: c.Stats}, nil
}

// Stats returns the feed's counters.
func (f *Feed) Stats() *exchange.FeedStats { return f.stats }

// Run connects, subscribes and keeps the books in sync until ctx ends,
// reconnecting with jittered backoff after every failure; it returns
// ctx.Err() on shutdown. Connections are replaced before Lifetime ends, and
// at once on OKX's service-upgrade notice, without a gap (see doc.go).
func (f *Feed) Run(ctx context.Context) error {
	if !f.started.CompareAndSwap(false, true) {
		return errRunTwice
	}
	bo := wsx.Backoff{Min: f.cfg.BackoffMin, Max: f.cfg.BackoffMax, Rand: f.cfg.Rand}
	hb := wsx.Backoff{Min: time.Second, Max: time.Minute, Rand: f.cfg.Rand}
	for {
		healthy, err := f.serve(ctx, &hb)
		f.stats.Connected.Store(0)
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if healthy {
			bo.Reset()
		}
		d := bo.Next()
		f.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "okx: connection lost, reconnecting",
			slog.String("venue", f.cfg.Name), slog.Any("err", err), slog.Duration("backoff", d))
		if err := wsx.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// conn is one connection generation as the supervisor sees it.
type conn struct {
	gen      uint64
	cancel   context.CancelFunc
	done     chan struct{} // closed when the connection's reader has exited
	handover chan struct{} // the session saw notice 64008 (cap 1)
	tookOver chan struct{} // a candidate synced every book and took ownership (cap 1)
	healthy  atomic.Bool   // every book was in sync at some point
	err      error         // why it ended; read after done
}

// signal does a non-blocking send on a cap-1 channel.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// start launches connection generation gen+1. An owner publishes at once
// (recovery); a candidate builds its books silently until they are all in
// sync, then takes ownership itself.
func (f *Feed) start(ctx context.Context, asOwner bool) *conn {
	gen := f.gen.Add(1)
	if asOwner {
		f.owner.Take(gen)
	}
	cctx, cancel := context.WithCancel(ctx)
	c := &conn{gen: gen, cancel: cancel, done: make(chan struct{}),
		handover: make(chan struct{}, 1), tookOver: make(chan struct{}, 1)}
	go func() {
		defer close(c.done)
		defer cancel()
		c.err = f.runConn(cctx, c)
	}()
	return c
}

// close ends the connection as its owner: it publishes nothing.
func (c *conn) close() { c.cancel() }

// serve runs one owning connection and the handovers that replace it,
// returning when the owning connection ends (or ctx does) and whether any of
// them became healthy.
func (f *Feed) serve(ctx context.Context, hb *wsx.Backoff) (healthy bool, err error) {
	cur := f.start(ctx, true)
	var next *conn
	life := time.NewTimer(f.cfg.Lifetime)
	defer life.Stop()
	var retry, deadline <-chan time.Time
	handoverTimeout := max(4*f.cfg.AgeMax, 10*time.Second)
	startNext := func() {
		if next == nil {
			next = f.start(ctx, false)
			deadline = time.After(handoverTimeout)
		}
	}
	for {
		var nextDone, nextTook <-chan struct{}
		if next != nil {
			nextDone, nextTook = next.done, next.tookOver
		}
		select {
		case <-ctx.Done():
			cur.close()
			if next != nil {
				next.close()
				<-next.done
			}
			<-cur.done
			return healthy || cur.healthy.Load(), ctx.Err()
		case <-cur.done:
			healthy = healthy || cur.healthy.Load()
			if next == nil {
				return healthy, cur.err
			}
			// The owner dropped mid-handover: the candidate is the recovery
			// connection and publishes at once.
			f.owner.Take(next.gen)
			f.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "okx: connection dropped during handover, new connection takes over",
				slog.String("venue", f.cfg.Name), slog.Any("err", cur.err))
			cur, next, deadline = next, nil, nil
			life.Reset(f.cfg.Lifetime)
		case <-cur.handover:
			startNext()
		case <-life.C:
			startNext()
		case <-retry:
			retry = nil
			startNext()
		case <-nextTook:
			old := cur
			cur, next, deadline = next, nil, nil
			old.close()
			<-old.done
			healthy = healthy || old.healthy.Load()
			f.stats.Connected.Store(1)
			hb.Reset()
			life.Reset(f.cfg.Lifetime)
			f.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "okx: handover complete", slog.String("venue", f.cfg.Name))
		case <-nextDone:
			d := hb.Next()
			f.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "okx: handover connection failed, retrying",
				slog.String("venue", f.cfg.Name), slog.Any("err", next.err), slog.Duration("in", d))
			next, deadline, retry = nil, nil, time.After(d)
		case <-deadline:
			deadline = nil
			next.close() // reported through nextDone
		}
	}
}

// waitDialSlot spaces dials by minDialInterval across all of the feed's
// connections.
func (f *Feed) waitDialSlot(ctx context.Context) error {
	f.dialMu.Lock()
	now := time.Now()
	at := f.nextDial
	if at.Before(now) {
		at = now
	}
	f.nextDial = at.Add(minDialInterval)
	f.dialMu.Unlock()
	return wsx.Sleep(ctx, at.Sub(now))
}

// runConn dials, subscribes and reads one connection until it ends.
func (f *Feed) runConn(ctx context.Context, c *conn) error {
	if err := f.waitDialSlot(ctx); err != nil {
		return err
	}
	ws, err := wsx.Dial(ctx, f.cfg.wsEndpoint(), wsx.DialConfig{MaxFrame: f.cfg.MaxFrame, Now: f.cfg.Now,
		Tap: f.tap.Conn(c.gen, !f.owner.Is(c.gen))})
	if err != nil {
		return err
	}
	if f.ever.Swap(true) {
		f.stats.Reconnects.Add(1)
	}
	stop := context.AfterFunc(ctx, func() { ws.CloseWith(wsx.ClosedByOwner) })
	defer stop()
	defer ws.CloseWith(wsx.ClosedByPeer) // no-op if already closed
	if f.owner.Is(c.gen) {
		f.stats.Connected.Store(1)
	}
	go ws.Watchdog(ctx, f.cfg.AgeMax)
	go ws.KeepAlive(ctx, f.cfg.pingIdle(), pingFrame, true)

	pub := feed.New(f.cfg.Ring, f.stats, &f.owner, c.gen, len(f.cfg.Instruments), int64(f.cfg.AgeMax/3))
	sess := NewSession(&f.cfg, pub)
	now := f.cfg.Now()
	if err := writeAll(ws, sess.SubscribeRequests(now)); err != nil {
		sess.Disconnected(exchange.CauseDisconnect, now)
		return err
	}
	signalled := false
	for {
		b, ts, err := ws.ReadFrame()
		if err != nil {
			now := f.cfg.Now()
			switch cause := ws.Cause(); {
			case cause == wsx.ClosedByOwner:
				// Shutdown or replaced by a newer connection: publish nothing.
			case errors.Is(err, wsx.ErrTooLarge):
				f.stats.Reject(exchange.RejectTooLarge)
				sess.Disconnected(exchange.CauseBadData, now)
			case cause == wsx.ClosedIdle:
				sess.Disconnected(exchange.CauseAge, now)
			default:
				sess.Disconnected(exchange.CauseDisconnect, now)
			}
			return err
		}
		// The session's clock is the receive time of the frame, not the
		// time after handling it: time spent processing (a huge frame, a
		// descheduled reader) is not the venue's silence.
		sess.HandleFrame(b, ts)
		sess.Tick(ts)
		if sess.NeedResubscribe() {
			if err := writeAll(ws, sess.Resubscribe(ts)); err != nil {
				sess.Disconnected(exchange.CauseDisconnect, f.cfg.Now())
				return err
			}
		}
		if cause, ok := sess.NeedReconnect(); ok {
			sess.Disconnected(cause, f.cfg.Now())
			return errSessionReconn
		}
		if !c.healthy.Load() && sess.Synced() {
			c.healthy.Store(true)
			if !f.owner.Is(c.gen) {
				f.owner.Take(c.gen)
				sess.Tick(ts) // republishes every book under the new owner
				signal(c.tookOver)
			}
		}
		if !signalled && sess.NeedHandover() {
			signalled = true
			signal(c.handover)
		}
	}
}

func writeAll(ws *wsx.Conn, frames [][]byte) error {
	for _, b := range frames {
		if err := ws.WriteText(b); err != nil {
			return err
		}
	}
	return nil
}
