package ledgerfeed

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"arb/ledger"
	"arb/ledger/pgstore"
	"arb/ledger/pgstore/pgtest"
)

// TestFailureWithNextBatchApplied: batch N fails in PostgreSQL while
// batch N+1 is already applied to the in-memory ledger (and queued behind
// N in the pipeline). Nothing of N or after it is acknowledged before it
// is committed; N+1 is aborted, not written on top of a missing N; the
// ledger is rebuilt from the store and N, N+1, … are written again. At the
// end every published fill is stored exactly once and the checks pass.
//
// The failure is real and placed, not timed: a trigger on fills makes the
// insert of one chosen fill wait for an advisory lock the test holds,
// then raise an error, the first time only. The test releases the lock
// once it has seen a batch after N applied in memory.
//
// In the "stop" case the feed is stopped instead while N waits in
// PostgreSQL and N+1 is applied: Run returns at once, nothing of N or
// after is acknowledged, and the next run (a daemon restart) writes them.
func TestFailureWithNextBatchApplied(t *testing.T) {
	for _, tg := range targets {
		for _, mode := range []string{"fail", "stop"} {
			t.Run(tg.name+"/"+mode, func(t *testing.T) { failureWithNextBatchApplied(t, tg, mode) })
		}
	}
}

func failureWithNextBatchApplied(t *testing.T, tg target, mode string) {
	{
		{
			b := tg.bus(t)
			cfg := testStream(t, b)
			cfg.Pipeline = 2
			dsn := pgtest.NewDB(t)
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			store, err := pgstore.Open(ctx, dsn)
			must(t, err)
			defer store.Close()

			s := &sim{t: t, p: b, js: b.JetStream(), prefix: cfg.Prefix, r: rand.New(rand.NewPCG(7, 8))}
			for i := range 150 {
				s.publishTrade(i)
			}
			const target = 80 // fill "80": trade 40's buy, in a batch of the first third
			lockConn, err := pgx.Connect(ctx, dsn)
			must(t, err)
			defer lockConn.Close(context.Background())
			_, err = lockConn.Exec(ctx, `SELECT pg_advisory_lock(4242)`)
			must(t, err)
			_, err = lockConn.Exec(ctx, fmt.Sprintf(`CREATE SEQUENCE fail_once;
				CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN
					IF NEW.venue_fill_id = '%d' AND nextval('fail_once') = 1 THEN
						PERFORM pg_advisory_xact_lock(4242); -- wait for the test
						RAISE EXCEPTION 'injected failure of the batch with fill %d';
					END IF;
					RETURN NEW;
				END $$;
				CREATE TRIGGER fail_once BEFORE INSERT ON fills FOR EACH ROW EXECUTE FUNCTION fail_once();`, target, target))
			must(t, err)

			acks := newAckChecker(t, dsn, cfg.Stream)
			js := &recording{JetStream: b.JetStream(), acks: acks}
			var f *Feed
			var stop context.CancelFunc
			var done chan error
			stopped := true
			start := func() {
				f, err = New(js, store, cfg, slog.New(slog.DiscardHandler))
				must(t, err)
				var fctx context.Context
				fctx, stop = context.WithCancel(ctx)
				done = make(chan error, 1)
				go func() { done <- f.Run(fctx) }()
				stopped = false
			}
			defer func() {
				if !stopped {
					stop()
					<-done
				}
			}()
			start()

			// Wait until batch N is in PostgreSQL, its fill insert waiting for
			// the lock, and a batch after it is applied in memory: that
			// batch's highest fill id is known from the fetches, and fills
			// are applied in id order, so the ledger then holds id+1 fills.
			waitFor(t, "batch N waiting in PostgreSQL and N+1 applied in memory", time.Minute, func() bool {
				var waiting int
				if err := lockConn.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil || waiting == 0 {
					return false
				}
				next := js.fillAfterTarget(target)
				if next < 0 {
					return false
				}
				n := 0
				f.View(func(l *ledger.Ledger) { n = l.FillCount() })
				return n >= next+1
			})
			if n, err := store.FillCount(ctx); err != nil || n > target {
				t.Fatalf("%d fills stored (%v) while the batch with fill %d is held", n, err, target)
			}
			if mode == "stop" {
				stop() // the daemon stops with N in PostgreSQL and N+1 applied
				stopped = true
				select {
				case err := <-done:
					if err != context.Canceled {
						t.Fatalf("feed ended with %v", err)
					}
				case <-time.After(time.Minute):
					t.Fatal("Run did not return after its context ended")
				}
				if n, err := store.FillCount(ctx); err != nil || n > target {
					t.Fatalf("%d fills stored (%v) after the stop", n, err)
				}
				acks.verify(t)
			}
			_, err = lockConn.Exec(ctx, `SELECT pg_advisory_unlock(4242)`) // the batch fails now (if still running)
			must(t, err)
			if mode == "stop" {
				start() // the daemon starts again
			}

			want := len(s.fills)
			waitFor(t, "every fill stored", 2*time.Minute, func() bool {
				n, err := store.FillCount(ctx)
				return err == nil && n == int64(want) && f.Lag() == 0
			})
			st := f.Stats()
			stop()
			stopped = true
			if err := <-done; err != context.Canceled {
				t.Errorf("feed ended with %v", err)
			}
			t.Logf("fills %d, stats %+v, acks %d", want, st, acks.count())
			if mode == "fail" && (st.StoreErrs < 1 || st.Aborted < 1) {
				t.Fatalf("no failure with a batch behind it: %+v", st)
			}
			acks.verify(t)
			verifyStore(ctx, t, store, cfg.Stream, want, s.expected())
		}
	}
}

// ackChecker checks, at every acknowledgement, that the message's stream
// sequence is committed (the store's position has reached it).
type ackChecker struct {
	stream string
	mu     sync.Mutex
	conn   *pgx.Conn
	n      int
	bad    []string
}

func newAckChecker(t *testing.T, dsn, stream string) *ackChecker {
	c, err := pgx.Connect(context.Background(), dsn)
	must(t, err)
	t.Cleanup(func() { c.Close(context.Background()) })
	return &ackChecker{stream: stream, conn: c}
}

func (a *ackChecker) acked(seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	var last int64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.conn.QueryRow(ctx, `SELECT coalesce(max(last_seq), 0) FROM consumer_state WHERE stream = $1`, a.stream).Scan(&last); err != nil {
		a.bad = append(a.bad, fmt.Sprintf("seq %d: %v", seq, err))
	} else if uint64(last) < seq {
		a.bad = append(a.bad, fmt.Sprintf("seq %d acknowledged with the store at %d", seq, last))
	}
}

func (a *ackChecker) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

func (a *ackChecker) verify(t *testing.T) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == 0 {
		t.Fatal("no acknowledgement seen")
	}
	if len(a.bad) > 0 {
		t.Fatalf("%d acknowledgements before their commit, first: %s", len(a.bad), a.bad[0])
	}
}

// recording is a JetStream whose durable consumers report each fetch's
// fills and check each acknowledgement.
type recording struct {
	jetstream.JetStream
	acks *ackChecker

	mu      sync.Mutex
	fetches [][]int // the fill ids of each fetch, in order
}

// fillAfterTarget returns the highest fill id of the first fetch after the
// one that delivered fill target which holds a fill, or -1.
func (r *recording) fillAfterTarget(target int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := false
	for _, ids := range r.fetches {
		if seen && len(ids) > 0 {
			return ids[len(ids)-1]
		}
		for _, id := range ids {
			seen = seen || id == target
		}
	}
	return -1
}

func (r *recording) CreateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := r.JetStream.CreateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, err
	}
	return &recordingConsumer{Consumer: c, r: r}, nil
}

type recordingConsumer struct {
	jetstream.Consumer
	r *recording
}

func (c *recordingConsumer) Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	b, err := c.Consumer.Fetch(batch, opts...)
	if err != nil {
		return nil, err
	}
	out := make(chan jetstream.Msg)
	go func() {
		defer close(out)
		var ids []int
		for m := range b.Messages() {
			if f, err := ledger.DecodeFill(m.Data()); err == nil { // trades and noise do not decode as fills
				if id, err := strconv.Atoi(f.VenueFillID); err == nil {
					ids = append(ids, id)
				}
			}
			out <- ackMsg{Msg: m, acks: c.r.acks}
		}
		c.r.mu.Lock()
		c.r.fetches = append(c.r.fetches, ids)
		c.r.mu.Unlock()
	}()
	return recordedBatch{MessageBatch: b, out: out}, nil
}

type recordedBatch struct {
	jetstream.MessageBatch
	out chan jetstream.Msg
}

func (b recordedBatch) Messages() <-chan jetstream.Msg { return b.out }

type ackMsg struct {
	jetstream.Msg
	acks *ackChecker
}

func (m ackMsg) Ack() error {
	if md, err := m.Metadata(); err == nil {
		m.acks.acked(md.Sequence.Stream)
	}
	return m.Msg.Ack()
}
