package ledgerfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"arb/ledger"
	"arb/ledger/pgstore"
)

// Config tunes a Feed. Zero values take the defaults.
type Config struct {
	Stream  string        // the event stream (default ARB_EVENTS)
	Prefix  string        // its subject root (default "arb")
	Durable string        // the durable consumer of PostgreSQL mode (default "arb-ledger")
	Batch   int           // events per database transaction, at most (default 500)
	MaxWait time.Duration // how long one fetch waits for events (default 500ms)
	// AckWait is how long JetStream waits for an acknowledgement before it
	// redelivers (default 60s). A batch held while PostgreSQL is down is
	// kept alive with progress notes well within it.
	AckWait time.Duration
	// BackoffMin and BackoffMax bound the wait between attempts while
	// PostgreSQL is unreachable (defaults 250ms and 15s).
	BackoffMin, BackoffMax time.Duration
	// Pipeline is how many batches may be on their way to PostgreSQL at
	// once (default 2): the next batch is fetched, applied and encoded
	// while the previous one commits. With 1 the next batch is still
	// fetched and applied meanwhile, but encoded only once the previous
	// one has completed.
	Pipeline int
}

func (c *Config) defaults() {
	if c.Stream == "" {
		c.Stream = "ARB_EVENTS"
	}
	if c.Prefix == "" {
		c.Prefix = "arb"
	}
	if c.Durable == "" {
		c.Durable = "arb-ledger"
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 500 * time.Millisecond
	}
	if c.AckWait <= 0 {
		c.AckWait = time.Minute
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 250 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 15 * time.Second
	}
	if c.Pipeline <= 0 {
		c.Pipeline = 2
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Batch > 10000:
		return fmt.Errorf("ledgerfeed: batch %d is more than 10000", c.Batch)
	case c.Pipeline > 8:
		return fmt.Errorf("ledgerfeed: pipeline %d is more than 8", c.Pipeline)
	case c.BackoffMin > c.BackoffMax:
		return errors.New("ledgerfeed: backoff min above max")
	case c.AckWait > 0 && c.BackoffMax*2 > c.AckWait:
		return errors.New("ledgerfeed: ack wait must be at least twice the backoff max")
	}
	return nil
}

// Stats counts what the feed did with events. Read it with Feed.Stats.
type Stats struct {
	Applied    uint64 // events that changed the ledger
	Duplicates uint64 // redeliveries and republished events: no change
	Stale      uint64 // older trade events: no change
	Conflicts  uint64 // events (or parts) whose key was booked with other content: not applied
	Rejected   uint64 // events that did not decode: not applied
	Ignored    uint64 // events of other subjects (plans, order intents)
	Commits    uint64 // database transactions committed
	StoreErrs  uint64 // failed database writes (each retried until it succeeds)
	// Aborted counts batches not written because a batch before them in
	// the pipeline failed (each applied and written again after the
	// ledger is rebuilt from the store).
	Aborted uint64
}

// Feed keeps a ledger up to date from the event stream: in memory only
// (no store), or with every batch committed to PostgreSQL before it is
// acknowledged. Run it in one goroutine; View, Lag, Stats and Ready are
// safe from any goroutine.
type Feed struct {
	cfg    Config
	js     jetstream.JetStream
	store  *pgstore.Store // nil: memory only
	logger *slog.Logger

	mu    sync.RWMutex
	l     *ledger.Ledger
	dirty bool // l may hold changes the store does not: reload before applying

	inflight atomic.Int64 // messages submitted to the pipeline, not yet committed or failed
	retryMu  sync.Mutex
	retry    []heldBatch // batches failed or aborted in the pipeline, in stream order

	lag       atomic.Int64
	ready     chan struct{}
	readyOnce sync.Once
	logLimit  rateLimit

	applied, duplicates, stale, conflicts, rejected, ignored, commits, storeErrs, aborted atomic.Uint64
}

// heldBatch is one fetch's messages, unacknowledged until committed, and
// the consumer's pending count when they came.
type heldBatch struct {
	msgs    []jetstream.Msg
	pending uint64
}

// New returns a feed reading cfg.Stream through js. With store nil the
// ledger lives in memory and is rebuilt from the stream at every start;
// otherwise it is loaded from the store and the stream is read by a
// durable consumer from where the store left off.
func New(js jetstream.JetStream, store *pgstore.Store, cfg Config, logger *slog.Logger) (*Feed, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Feed{cfg: cfg, js: js, store: store, logger: logger.With("component", "ledger"), l: ledger.New(),
		ready: make(chan struct{})}, nil
}

// View calls fn with the ledger, serialized with the feed's writes. fn
// must not keep the ledger or slices it returns.
func (f *Feed) View(fn func(l *ledger.Ledger)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.l)
}

// Update calls fn with the ledger under the write lock, for what mutates
// it outside events (MarkEquity keeps the day's peak).
func (f *Feed) Update(fn func(l *ledger.Ledger)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.l)
}

// Lag returns the number of the stream's events the ledger has not
// committed yet (the arb_ledger_lag_events gauge): pending for the
// consumer plus those held while PostgreSQL is down.
func (f *Feed) Lag() int64 { return f.lag.Load() }

// Ready is closed once the ledger has caught up with the stream for the
// first time (lag zero): from then on its figures are current.
func (f *Feed) Ready() <-chan struct{} { return f.ready }

// Stats returns the counters.
func (f *Feed) Stats() Stats {
	return Stats{Applied: f.applied.Load(), Duplicates: f.duplicates.Load(), Stale: f.stale.Load(), Conflicts: f.conflicts.Load(),
		Rejected: f.rejected.Load(), Ignored: f.ignored.Load(), Commits: f.commits.Load(), StoreErrs: f.storeErrs.Load(),
		Aborted: f.aborted.Load()}
}

// Run applies events until ctx ends, and returns ctx's error, or another
// error when the stream cannot be read at all. PostgreSQL being down is not
// such an error: the feed waits, holding the unacknowledged batch, and
// catches up when it returns. A broken ledger invariant panics.
func (f *Feed) Run(ctx context.Context) error {
	if f.store == nil {
		return f.runMemory(ctx)
	}
	return f.runStore(ctx)
}

// subjects returns the consumer's filter: the three ledger subjects where
// the server supports several filters (2.10+), else the whole stream
// (events of other subjects are then skipped here).
func (f *Feed) subjects() []string {
	if serverAtLeast(f.js.Conn().ConnectedServerVersion(), 2, 10) {
		return []string{ledger.FillSubject(f.cfg.Prefix, "*"), ledger.TradeSubject(f.cfg.Prefix), ledger.ExternalSubject(f.cfg.Prefix, "*")}
	}
	return nil
}

func serverAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && (ma > major || ma == major && mi >= minor)
}

// tally counts outcomes of one attempt; they reach the feed's counters
// only when the attempt is final (committed, or memory mode).
type tally struct{ applied, duplicates, stale, conflicts, rejected, ignored uint64 }

func (f *Feed) count(t *tally) {
	f.applied.Add(t.applied)
	f.duplicates.Add(t.duplicates)
	f.stale.Add(t.stale)
	f.conflicts.Add(t.conflicts)
	f.rejected.Add(t.rejected)
	f.ignored.Add(t.ignored)
}

// decode turns a message into a ledger event; ok is false for a message
// that is not the ledger's or that does not decode (counted and logged).
func (f *Feed) decode(msg jetstream.Msg, seq uint64, t *tally) (ledger.Event, bool) {
	k := ledger.KindOf(f.cfg.Prefix, msg.Subject())
	if k == ledger.KindOther {
		t.ignored++
		return ledger.Event{}, false
	}
	ev, err := pgstore.Decode(k, msg.Data())
	if err != nil {
		t.rejected++
		f.logLimit.do(func(suppressed int) {
			f.logger.Error("ledger event rejected", "subject", msg.Subject(), "seq", seq, "err", err, "suppressed", suppressed)
		})
		return ledger.Event{}, false
	}
	ev.Seq = seq
	return ev, true
}

// apply applies one event to l and counts the outcome; it reports whether
// the event changed the ledger.
func (f *Feed) apply(l *ledger.Ledger, ev ledger.Event, subject string, t *tally) (ledger.Change, bool) {
	ch, err := l.Apply(ev)
	if err != nil {
		if errors.Is(err, ledger.ErrConflict) {
			t.conflicts++
		} else {
			t.rejected++
		}
		f.logLimit.do(func(suppressed int) {
			f.logger.Error("ledger event not applied", "subject", subject, "seq", ev.Seq, "err", err, "suppressed", suppressed)
		})
		return ch, false
	}
	if ch.Conflict != nil {
		t.conflicts++
		f.logLimit.do(func(suppressed int) {
			f.logger.Error("part of a ledger event not applied", "subject", subject, "seq", ev.Seq, "err", ch.Conflict, "suppressed", suppressed)
		})
	}
	switch ch.Outcome {
	case ledger.Applied:
		t.applied++
		return ch, true
	case ledger.Duplicate:
		t.duplicates++
	case ledger.Stale:
		t.stale++
	}
	return ch, false
}

func (f *Feed) markReady() { f.readyOnce.Do(func() { close(f.ready) }) }

func (f *Feed) isReady() bool {
	select {
	case <-f.ready:
		return true
	default:
		return false
	}
}

// caughtUp reports whether cons has nothing left to deliver. An empty fetch
// alone does not say so: its MaxWait can pass before the first message
// arrives (a loaded machine or server), and taking that for the end of the
// stream made a replay return a partial ledger.
func caughtUp(ctx context.Context, cons jetstream.Consumer) bool {
	info, err := cons.Info(ctx)
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

// runMemory reads the whole stream with an ordered consumer (no state on
// the server) into the in-memory ledger, then keeps following it.
func (f *Feed) runMemory(ctx context.Context) error {
	cons, err := f.js.OrderedConsumer(ctx, f.cfg.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: f.subjects()})
	if err != nil {
		return fmt.Errorf("ledgerfeed: consumer on %s: %w", f.cfg.Stream, err)
	}
	if err := f.caughtUpIfEmpty(ctx); err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := cons.Fetch(f.cfg.Batch, jetstream.FetchMaxWait(f.cfg.MaxWait))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.logLimit.do(func(s int) { f.logger.Warn("ledger fetch failed; retrying", "err", err, "suppressed", s) })
			if !sleep(ctx, f.cfg.BackoffMin) {
				return ctx.Err()
			}
			continue
		}
		n := 0
		var pending uint64
		var t tally
		f.mu.Lock()
		for msg := range batch.Messages() {
			md, err := msg.Metadata()
			if err != nil {
				continue
			}
			n++
			pending = md.NumPending
			if ev, ok := f.decode(msg, md.Sequence.Stream, &t); ok {
				f.apply(f.l, ev, msg.Subject(), &t)
			}
		}
		f.mu.Unlock()
		f.count(&t)
		if n > 0 {
			f.lag.Store(int64(pending))
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			f.logLimit.do(func(s int) { f.logger.Warn("ledger fetch ended early", "err", err, "suppressed", s) })
		}
		switch {
		case n > 0 && pending == 0:
			f.markReady()
		case n == 0 && !f.isReady() && caughtUp(ctx, cons):
			f.lag.Store(0)
			f.markReady()
		}
	}
}

// caughtUpIfEmpty marks the feed ready at once when the stream holds no
// ledger event to replay.
func (f *Feed) caughtUpIfEmpty(ctx context.Context) error {
	s, err := f.js.Stream(ctx, f.cfg.Stream)
	if err != nil {
		return fmt.Errorf("ledgerfeed: stream %s: %w", f.cfg.Stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("ledgerfeed: stream %s: %w", f.cfg.Stream, err)
	}
	if info.State.Msgs == 0 {
		f.markReady()
	}
	return nil
}

// runStore is PostgreSQL mode: load the ledger from the store, then fetch
// batches from the durable consumer, apply them, and hand each to the
// pipeline, which commits it in one database transaction after the
// batches before it while the next is applied; each batch is acknowledged
// only after its own commit (completed).
func (f *Feed) runStore(ctx context.Context) error {
	f.retryMu.Lock()
	f.retry = nil // a previous run's batches were not acknowledged: they come again
	f.retryMu.Unlock()
	backoff := f.cfg.BackoffMin
	var last uint64
	for {
		l, seq, err := f.store.Load(ctx, f.cfg.Stream)
		if err == nil {
			f.mu.Lock()
			f.l = l
			f.mu.Unlock()
			last = seq
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.storeErrs.Add(1)
		f.logLimit.do(func(s int) {
			f.logger.Error("ledger store unavailable; events wait in JetStream", "err", err, "suppressed", s)
		})
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, f.cfg.BackoffMax)
	}
	cons, err := f.consumer(ctx, last)
	if err != nil {
		return err
	}
	if err := f.caughtUpIfEmpty(ctx); err != nil {
		return err
	}
	refreshLag := func() { // while a batch waits for PostgreSQL, the lag keeps growing
		if info, err := cons.Info(ctx); err == nil {
			f.lag.Store(int64(info.NumPending) + int64(info.NumAckPending))
		}
	}
	pipe := f.store.Pipeline(ctx, f.cfg.Pipeline)
	defer pipe.Close() // ctx has ended: what is in flight fails, unacknowledged
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if pipe.Err() != nil {
			if err := f.recoverPipeline(ctx, pipe, refreshLag); err != nil {
				return err // ctx ended while PostgreSQL was down; the batches are redelivered later
			}
		}
		batch, err := cons.Fetch(f.cfg.Batch, jetstream.FetchMaxWait(f.cfg.MaxWait))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.logLimit.do(func(s int) { f.logger.Warn("ledger fetch failed; retrying", "err", err, "suppressed", s) })
			if !sleep(ctx, f.cfg.BackoffMin) {
				return ctx.Err()
			}
			continue
		}
		h := heldBatch{}
		for msg := range batch.Messages() {
			h.msgs = append(h.msgs, msg)
			if md, err := msg.Metadata(); err == nil {
				h.pending = md.NumPending
			}
		}
		if len(h.msgs) == 0 {
			if err := batch.Error(); err == nil || errors.Is(err, jetstream.ErrNoMessages) {
				// Nothing came. Once ready, that is taken for nothing pending
				// but what is still on its way to PostgreSQL (the next fetch
				// corrects the gauge if not); before, only the consumer's own
				// count may make the ledger ready.
				switch {
				case f.isReady():
					f.lag.Store(f.inflight.Load())
				case caughtUp(ctx, cons):
					f.lag.Store(0)
					f.markReady()
				}
			}
			continue
		}
		f.lag.Store(int64(h.pending) + int64(len(h.msgs)) + f.inflight.Load())
		if err := f.submit(ctx, pipe, h, refreshLag); err != nil {
			return err
		}
	}
}

// submit applies a fetched batch to the ledger and hands its changes to
// the pipeline, which commits them after the batches before it; the
// messages are acknowledged once their own batch is committed. It returns
// an error only when ctx ends.
//
// The ledger in memory runs ahead of the store by the batches in flight
// (readers see them before they are committed). That is consistent as
// long as every one of them is committed, in order. When one fails, the
// pipeline aborts every batch after it, and recoverPipeline rebuilds the
// ledger from the store and writes the failed and aborted batches again,
// one after the other, before anything new is applied.
func (f *Feed) submit(ctx context.Context, pipe *pgstore.Pipeline, h heldBatch, refreshLag func()) error {
	f.mu.Lock()
	t, b, err := f.applyHeld(ctx, h.msgs)
	f.mu.Unlock()
	if err == nil {
		f.inflight.Add(int64(len(h.msgs)))
		err = pipe.Submit(ctx, b, func(err error) { f.completed(ctx, h, t, err) })
		if err != nil {
			f.inflight.Add(-int64(len(h.msgs)))
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Not written (the reload or the encoding failed): after what is
		// in flight, this batch goes through the recovery too.
		if err := pipe.Flush(ctx); err != nil {
			return err
		}
		f.storeFailed(h, err, "ledger batch not written; retrying (events wait in JetStream)")
		f.mu.Lock()
		f.dirty = true
		f.mu.Unlock()
		return f.recoverPipeline(ctx, pipe, refreshLag)
	}
	return nil
}

// storeFailed counts and logs (rate-limited) a batch the store did not
// take, and queues it for recoverPipeline.
func (f *Feed) storeFailed(h heldBatch, err error, msg string) {
	f.storeErrs.Add(1)
	f.logLimit.do(func(s int) {
		f.logger.Error(msg, "err", err, "events", len(h.msgs), "suppressed", s)
	})
	f.queueRetry(h)
}

// queueRetry queues a batch for recoverPipeline (from either goroutine).
func (f *Feed) queueRetry(h heldBatch) {
	f.retryMu.Lock()
	f.retry = append(f.retry, h)
	f.retryMu.Unlock()
}

// completed runs on the pipeline's goroutine when a batch's write has
// ended, in stream order. Committed: acknowledge each of its messages
// (explicit acks: an acknowledgement never covers a delivery this feed did
// not commit; a lost ack means a redelivery, which the ledger turns into a
// duplicate). Not committed: nothing is acknowledged, and the batch waits
// for recoverPipeline.
func (f *Feed) completed(ctx context.Context, h heldBatch, t tally, err error) {
	f.inflight.Add(-int64(len(h.msgs)))
	if err != nil {
		if ctx.Err() != nil {
			return // stopping: the batch is redelivered to the next run
		}
		if errors.Is(err, pgstore.ErrAborted) {
			f.aborted.Add(1)
			f.queueRetry(h)
		} else {
			f.storeFailed(h, err, "ledger batch not committed; retrying (events wait in JetStream)")
		}
		return
	}
	f.count(&t)
	f.commits.Add(1)
	f.ack(h.msgs)
	f.lag.Store(int64(h.pending))
	if h.pending == 0 {
		f.markReady()
	}
}

func (f *Feed) ack(msgs []jetstream.Msg) {
	for _, m := range msgs {
		if err := m.Ack(); err != nil {
			f.logLimit.do(func(s int) {
				f.logger.Warn("ledger ack failed; the event will be redelivered as a duplicate", "err", err, "suppressed", s)
			})
		}
	}
}

// recoverPipeline runs after a batch in the pipeline failed: it waits
// until every batch in flight has ended (those after the failed one are
// aborted, never written), marks the ledger for a rebuild from the store
// (it holds the changes of batches that may not be committed), then
// writes the failed and aborted batches again, in stream order and one
// after the other, each retried until it commits (commit), and resumes
// the pipeline. It returns an error only when ctx ends.
func (f *Feed) recoverPipeline(ctx context.Context, pipe *pgstore.Pipeline, refreshLag func()) error {
	if err := pipe.Flush(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	f.dirty = true
	f.mu.Unlock()
	f.retryMu.Lock()
	retry := f.retry
	f.retry = nil
	f.retryMu.Unlock()
	for i, h := range retry {
		// While PostgreSQL is down, commit keeps the batch it retries ours
		// with progress notes; the batches waiting behind it get theirs
		// here, so JetStream does not redeliver them meanwhile either.
		lastProgress := time.Now()
		waiting := func() {
			refreshLag()
			if time.Since(lastProgress) > f.cfg.AckWait/4 {
				for _, w := range retry[i+1:] {
					for _, m := range w.msgs {
						_ = m.InProgress()
					}
				}
				lastProgress = time.Now()
			}
		}
		if err := f.commit(ctx, h.msgs, waiting); err != nil {
			return err // ctx ended: the batches are redelivered to the next run
		}
		f.lag.Store(int64(h.pending))
		if h.pending == 0 {
			f.markReady()
		}
	}
	pipe.Reset()
	return nil
}

// consumer (re)creates the durable consumer positioned after last, the
// store's committed sequence: the store, not the consumer, is the truth
// about what is applied. A consumer left by an earlier run may hold
// deliveries that run never acknowledged (they would come back only after
// AckWait) or may have acknowledged beyond a restored database; starting
// again from the store's position covers both, and applying is
// idempotent, so an event seen again is a duplicate.
func (f *Feed) consumer(ctx context.Context, last uint64) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       f.cfg.Durable,
		Description:   "arb ledger: applies fills, trades and external transfers; acknowledges after the PostgreSQL commit",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       f.cfg.AckWait,
		MaxAckPending: (f.cfg.Pipeline + 2) * f.cfg.Batch, // in flight, being applied, and one more
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if subs := f.subjects(); len(subs) > 0 {
		cfg.FilterSubjects = subs
	}
	if last > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
	}
	if err := f.js.DeleteConsumer(ctx, f.cfg.Stream, f.cfg.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("ledgerfeed: consumer %s: %w", f.cfg.Durable, err)
	}
	c, err := f.js.CreateConsumer(ctx, f.cfg.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("ledgerfeed: consumer %s: %w", f.cfg.Durable, err)
	}
	return c, nil
}

// commit applies held to the ledger and writes the changes in one
// database transaction, then acknowledges each of its messages. If the write fails, the ledger is reloaded from the store
// (undoing the batch in memory) and the batch applied and written again,
// with backoff, until it succeeds or ctx ends. Events already committed
// (the commit went through but its answer was lost) are duplicates on the
// reloaded ledger and are not written twice.
func (f *Feed) commit(ctx context.Context, held []jetstream.Msg, refreshLag func()) error {
	backoff := f.cfg.BackoffMin
	lastProgress := time.Now()
	for attempt := 0; ; attempt++ {
		t, err := f.tryCommit(ctx, held)
		if err == nil {
			f.count(&t)
			if attempt > 0 {
				f.logger.Info("ledger store back; caught up", "attempts", attempt+1)
			}
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.storeErrs.Add(1)
		f.logLimit.do(func(s int) {
			f.logger.Error("ledger batch not committed; retrying (events wait in JetStream)", "err", err, "events", len(held), "suppressed", s)
		})
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, f.cfg.BackoffMax)
		refreshLag()
		if time.Since(lastProgress) > f.cfg.AckWait/4 {
			for _, m := range held { // keep the batch ours while we wait
				_ = m.InProgress()
			}
			lastProgress = time.Now()
		}
	}
	f.commits.Add(1)
	// Acknowledge after the commit, each message (see completed).
	f.ack(held)
	return nil
}

// tryCommit is one attempt: reload the ledger from the store if a failed
// attempt left it ahead of the database, apply the batch, write it.
func (f *Feed) tryCommit(ctx context.Context, held []jetstream.Msg) (tally, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, b, err := f.applyHeld(ctx, held)
	if err != nil {
		return t, err
	}
	if err := f.store.Write(ctx, b); err != nil {
		// The ledger in memory now holds changes the database may not
		// (the commit may or may not have happened): rebuild it from the
		// database before the next attempt. Readers meanwhile see events
		// that are in JetStream but not yet in PostgreSQL.
		f.dirty = len(b.Changes) > 0
		return t, err
	}
	return t, nil
}

// applyHeld rebuilds the ledger from the store first if it may be ahead
// of the database (dirty), then applies held to it and returns the batch
// to write. The caller holds f.mu.
func (f *Feed) applyHeld(ctx context.Context, held []jetstream.Msg) (tally, *pgstore.Batch, error) {
	var t tally
	if f.dirty {
		l, _, err := f.store.Load(ctx, f.cfg.Stream)
		if err != nil {
			return t, nil, err
		}
		f.l, f.dirty = l, false
	}
	b := &pgstore.Batch{Stream: f.cfg.Stream}
	for _, msg := range held {
		md, err := msg.Metadata()
		if err != nil {
			continue
		}
		b.LastSeq = md.Sequence.Stream
		ev, ok := f.decode(msg, md.Sequence.Stream, &t)
		if !ok {
			continue
		}
		ch, changed := f.apply(f.l, ev, msg.Subject(), &t)
		if !changed {
			continue
		}
		b.Events = append(b.Events, pgstore.RawEvent{Seq: ev.Seq, Subject: msg.Subject(), MsgID: msg.Headers().Get(jetstream.MsgIDHeader),
			Kind: ev.Kind, Body: msg.Data()})
		b.Changes = append(b.Changes, ch)
	}
	return t, b, nil
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// rateLimit runs a log call at most once per second, telling it how many
// were suppressed since the last.
type rateLimit struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (r *rateLimit) do(fn func(suppressed int)) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.last) < time.Second {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	s := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	fn(s)
}
