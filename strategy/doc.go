// Package strategy runs the detector: Loop is the single goroutine that owns
// the consumer side of the BookTop ring, the book store and the
// spread.Detector, and hands plans to risk and the executor.
//
// Model: adapters publish fixed-size BookTop events into one MPSC ring. The
// loop takes them in batches (at most Config.BatchMax), and because an event
// is a complete top-K snapshot it conflates within a batch: when several
// events of one (venue, instrument) are in a batch, only the newest is
// applied and evaluated, the others are counted as conflated. A consumer that
// falls behind therefore catches up by skipping to the newest state, never
// by trading on old ones. The clock is read once per batch, not per event,
// and every event of a batch is judged at that instant.
//
// Plans go to a Sink, an interface declared here by its consumer's needs and
// called on the loop goroutine only when a plan exists (plans are rare; an
// interface call there costs nothing that matters). The plan pointer is
// valid only during the call.
//
// Other goroutines never touch the loop's state. They read:
//   - Books: an immutable Snapshot of every configured book, rebuilt at most
//     every Config.SnapshotInterval (default 100 ms) and published through an
//     atomic pointer, for GET /api/v1/books; a row is stale when its adapter
//     flagged it, when it is older than its venue's stale age at snapshot
//     time, or when no book has arrived yet;
//   - Ready: every configured venue × instrument has a fresh book, derived
//     from the same snapshot, for GET /readyz;
//   - Stats, and the detector's own atomic counters and RecentPlans.
//
// They act on the detector only through Do, which queues a function (bounded
// queue, never blocking) that the loop runs between batches: balance updates
// after fills, releasing a plan's reservation, and the like.
//
// Snapshots allocate one slice per interval; the per-event path (batch,
// conflation, evaluation, plan or no plan) allocates nothing in steady state
// (TestLoopStepDoesNotAllocate).
package strategy
