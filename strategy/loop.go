package strategy

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/ringbuf"
	"arb/strategy/book"
	"arb/strategy/spread"
)

// Sink receives the plans the detector emits. OnPlan is called on the loop
// goroutine, only when a plan exists; p is valid only during the call (copy
// what is kept). It must not block: risk checks and handing the plan to the
// executor's queue are expected, network I/O is not. It may use the detector
// (for example its Inventory) since it runs on the detector's goroutine.
type Sink interface {
	OnPlan(p *spread.Plan)
}

// Clock returns the current time as Unix ns. The loop calls it once per
// batch (and once per idle wake-up), never per event.
type Clock func() int64

// Config parameterizes a Loop.
type Config struct {
	// BatchMax is the most events taken from the ring per batch.
	BatchMax int
	// SnapshotInterval is the least time between two published book
	// snapshots.
	SnapshotInterval time.Duration
	// IdleWait is the longest the loop sleeps on an empty ring; it bounds
	// the latency of Do and of snapshots while no event arrives.
	IdleWait time.Duration
	// ControlQueue is the capacity of the Do queue.
	ControlQueue int
	// Observe, if set, sees every event's ring sequence with the time its
	// batch was taken (the loop's clock right after the ring handed the
	// batch over): a latency probe measures the ring hand-off with it.
	// Measurement only; nil in production.
	Observe func(seq uint64, taken int64)
}

// Defaults of Config.
const (
	DefaultBatchMax         = 256
	DefaultSnapshotInterval = 100 * time.Millisecond
	DefaultIdleWait         = 10 * time.Millisecond
	DefaultControlQueue     = 256
)

// DefaultConfig returns the default Config.
func DefaultConfig() Config {
	return Config{
		BatchMax:         DefaultBatchMax,
		SnapshotInterval: DefaultSnapshotInterval,
		IdleWait:         DefaultIdleWait,
		ControlQueue:     DefaultControlQueue,
	}
}

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("strategy: invalid config")

// Validate checks c, naming the offending field.
func (c *Config) Validate() error {
	switch {
	case c.BatchMax < 1 || c.BatchMax > 1<<16:
		return fmt.Errorf("%w: batch_max: %d outside 1..65536", ErrConfig, c.BatchMax)
	case c.SnapshotInterval <= 0:
		return fmt.Errorf("%w: snapshot_interval: must be > 0", ErrConfig)
	case c.IdleWait <= 0:
		return fmt.Errorf("%w: idle_wait: must be > 0", ErrConfig)
	case c.ControlQueue < 1 || c.ControlQueue > 1<<16:
		return fmt.Errorf("%w: control_queue: %d outside 1..65536", ErrConfig, c.ControlQueue)
	}
	return nil
}

// Stats are the loop's counters (any goroutine may read them).
type Stats struct {
	Batches   atomic.Uint64 // non-empty batches processed
	Events    atomic.Uint64 // events taken from the ring
	Conflated atomic.Uint64 // events skipped because a newer one for the same book was in the batch
	Plans     atomic.Uint64 // plans handed to the sink
	Controls  atomic.Uint64 // Do functions run
	Snapshots atomic.Uint64 // book snapshots published
	// MaxBatch is the largest batch seen: a batch at BatchMax means the loop
	// was behind.
	MaxBatch atomic.Uint64
	// TickToDecision is, per evaluated event with a receive time, the time
	// from the socket read of its frame (RecvTS) to the detector having
	// decided on it (plan handed to the sink, or none). The loop reads its
	// clock once, after the whole batch was evaluated, so for the earlier
	// events of a batch this is an upper bound: it includes the evaluation
	// of the events behind them. Conflated events are not observed (no
	// decision was made on them).
	TickToDecision exchange.Hist
}

// Loop is the detector goroutine. Run it once; every other method is safe
// from any goroutine.
type Loop struct {
	cfg   Config
	reg   *exchange.Registry
	ring  *ringbuf.MPSC[exchange.BookTop]
	det   *spread.Detector
	store *book.Store
	sink  Sink
	clock Clock

	listings []spread.ListingInfo
	last     []uint64 // per book slot: ring sequence+1 of the newest event in the current batch
	ctl      chan func(*spread.Detector)
	snap     atomic.Pointer[Snapshot]
	lastSnap int64
	recv     []int64 // RecvTS of the events evaluated in the current batch (capacity BatchMax)
	stats    Stats
}

// New returns a loop consuming ring into det (whose book store it shares)
// and handing plans to sink. reg must be the registry det was built from.
func New(cfg Config, reg *exchange.Registry, ring *ringbuf.MPSC[exchange.BookTop], det *spread.Detector, sink Sink, clock Clock) (*Loop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if reg == nil || ring == nil || det == nil || sink == nil || clock == nil {
		return nil, fmt.Errorf("%w: registry, ring, detector, sink and clock are required", ErrConfig)
	}
	l := &Loop{
		cfg: cfg, reg: reg, ring: ring, det: det, store: det.Books(), sink: sink, clock: clock,
		listings: det.Listings(),
		ctl:      make(chan func(*spread.Detector), cfg.ControlQueue),
	}
	l.last = make([]uint64, l.store.Len())
	l.recv = make([]int64, 0, cfg.BatchMax)
	now := clock()
	l.publish(now)
	return l, nil
}

// Run consumes the ring until ctx ends and then returns ctx's error. It must
// be called once, from one goroutine: that goroutine becomes the detector's.
func (l *Loop) Run(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.runControls()
		if l.step() {
			continue
		}
		l.ring.Wait(ctx, l.cfg.IdleWait)
		if !l.step() {
			l.maybePublish(l.clock())
		}
	}
}

// step processes one batch and reports whether there was one.
func (l *Loop) step() bool {
	from, to := l.ring.Batch(l.cfg.BatchMax)
	if from == to {
		return false
	}
	now := l.clock()
	if l.cfg.Observe != nil {
		for s := from; s < to; s++ {
			l.cfg.Observe(s, now)
		}
	}
	// Pass 1: remember the newest event of each book in the batch.
	for s := from; s < to; s++ {
		ev := l.ring.At(s)
		if slot, ok := l.store.Index(ev.Venue, ev.Inst); ok {
			l.last[slot] = s + 1
		}
	}
	// Pass 2: evaluate only those.
	var conflated, plans uint64
	recv := l.recv[:0]
	for s := from; s < to; s++ {
		ev := l.ring.At(s)
		if slot, ok := l.store.Index(ev.Venue, ev.Inst); ok && l.last[slot] != s+1 {
			conflated++
			continue
		}
		if ev.RecvTS > 0 && len(recv) < cap(recv) {
			recv = append(recv, ev.RecvTS) // within capacity: never allocates
		}
		ps := l.det.OnBook(ev, now)
		for i := range ps {
			l.sink.OnPlan(&ps[i])
		}
		plans += uint64(len(ps))
	}
	l.ring.Release(to)
	// One clock read for the batch (not one per event): every decision of
	// the batch is done by now.
	if len(recv) > 0 {
		done := l.clock()
		for _, ts := range recv {
			l.stats.TickToDecision.Observe(done - ts)
		}
	}
	n := to - from
	l.stats.Batches.Add(1)
	l.stats.Events.Add(n)
	if conflated > 0 {
		l.stats.Conflated.Add(conflated)
	}
	if plans > 0 {
		l.stats.Plans.Add(plans)
	}
	if n > l.stats.MaxBatch.Load() {
		l.stats.MaxBatch.Store(n)
	}
	l.maybePublish(now)
	return true
}

// Step is Run without the waiting, for a synchronous driver that owns the
// loop instead of running it (the backtest, which advances a simulated
// clock and drains the ring after every recorded frame): it runs the
// queued Do functions, then processes the ring's events in batches of at
// most BatchMax exactly as Run does, and returns how many events it took.
// Call it from one goroutine, and never together with Run.
func (l *Loop) Step() uint64 {
	l.runControls()
	before := l.stats.Events.Load()
	for l.step() {
	}
	return l.stats.Events.Load() - before
}

// Do queues fn to run on the loop goroutine before the next batch, with the
// detector (and through it the Inventory) at its disposal. It never blocks:
// it returns false when the queue is full. Functions run in the order queued.
func (l *Loop) Do(fn func(*spread.Detector)) bool {
	select {
	case l.ctl <- fn:
		return true
	default:
		return false
	}
}

// runControls runs the queued functions, at most the queue's capacity per
// call so a flood of them cannot starve the ring.
func (l *Loop) runControls() {
	for range cap(l.ctl) {
		select {
		case fn := <-l.ctl:
			fn(l.det)
			l.stats.Controls.Add(1)
		default:
			return
		}
	}
}

// Stats returns the loop's counters.
func (l *Loop) Stats() *Stats { return &l.stats }

// Books returns the latest book snapshot (never nil: New publishes one).
func (l *Loop) Books() *Snapshot { return l.snap.Load() }

// Ready reports whether every configured venue × instrument had a fresh
// book at the latest snapshot.
func (l *Loop) Ready() bool { return l.snap.Load().Ready }
