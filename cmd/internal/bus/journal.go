package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"arb/exchange"
	"arb/strategy/execute"
)

// The executor's journal (execute.Journal) lives in the event stream, on
// the subjects arb.exec.<record kind>: every intent, acknowledgement, fill
// and transition is stored there before the executor acts on it, each with
// its deduplication id as Nats-Msg-Id.
const (
	// JournalPrefix is where the executor's records are published in
	// ARB_EVENTS (execute.SubjectPrefix).
	JournalPrefix = execute.SubjectPrefix
	// MinJournalDedup is the least deduplication window the journal's
	// stream must have: a record republished after a failed append (the
	// driver rebuilds and the executor decides again) must be stored once.
	MinJournalDedup = 2 * time.Minute
	// MinJournalAge is the least retention of the journal's stream (0,
	// keep for ever, is fine): unfinished trades are rebuilt from it at
	// start, and without PostgreSQL the ledger is too.
	MinJournalAge = 24 * time.Hour
	// replayBatch is how many records one fetch of the replay asks for.
	replayBatch = 512
)

// Journal is execute.Journal on JetStream. Append and Replay are called by
// one goroutine (the executor's driver); the Journal is otherwise
// stateless and may be shared.
type Journal struct {
	b      *Bus
	stream string
	prefix string // subject prefix, ending with '.'
	// AppendLatency is the time of each successful Append, from the call
	// to the last acknowledgement (arb_journal_append_seconds).
	AppendLatency exchange.Hist
	// OnAppend, if set, sees each successful Append's duration (set it
	// before the first Append).
	OnAppend func(d time.Duration)
}

var _ execute.Journal = (*Journal)(nil)

// Journal returns the executor's journal in the daemon's event stream
// (ARB_EVENTS, subjects arb.exec.>).
func (b *Bus) Journal() *Journal { return b.JournalIn(StreamName, JournalPrefix) }

// JournalIn returns a journal in another stream or under another subject
// prefix ("arb.exec.<instance>." for a fleet instance's own journal,
// "x.exec." for tests sharing a server). Records are published on prefix +
// their kind.
func (b *Bus) JournalIn(stream, prefix string) *Journal {
	return &Journal{b: b, stream: stream, prefix: prefix}
}

// Check verifies that the journal's stream exists and keeps what the
// journal relies on: a deduplication window of at least MinJournalDedup
// and a retention of at least MinJournalAge.
func (j *Journal) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	defer cancel()
	s, err := j.b.js.Stream(ctx, j.stream)
	if err != nil {
		return fmt.Errorf("bus: journal stream %s: %w", j.stream, err)
	}
	cfg := s.CachedInfo().Config
	if cfg.Duplicates < MinJournalDedup {
		return fmt.Errorf("bus: journal stream %s deduplicates for %v, less than the %v the executor needs", j.stream, cfg.Duplicates, MinJournalDedup)
	}
	if cfg.MaxAge != 0 && cfg.MaxAge < MinJournalAge {
		return fmt.Errorf("bus: journal stream %s keeps events %v, less than the %v unfinished trades and the ledger need", j.stream, cfg.MaxAge, MinJournalAge)
	}
	return nil
}

// subject maps a record's subject (arb.exec.<kind>) into the journal's.
func (j *Journal) subject(s string) string {
	if j.prefix == JournalPrefix {
		return s
	}
	return j.prefix + strings.TrimPrefix(s, JournalPrefix)
}

// Append implements execute.Journal: every entry is published with its ID
// as Nats-Msg-Id, pipelined in order on the one connection, and Append
// returns once JetStream has acknowledged all of them (a duplicate's
// acknowledgement counts: it was stored before), or the first error. The
// client does not retry on its own (a retry could store a record after the
// ones that followed it); the executor's driver rebuilds from the journal
// after a failed append, and nothing of that append is sent.
func (j *Journal) Append(ctx context.Context, entries []execute.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	defer cancel()
	var futs [16]jetstream.PubAckFuture
	pending := futs[:0]
	for i := range entries {
		e := &entries[i]
		if e.ID == "" {
			return ErrNoMsgID
		}
		m := &nats.Msg{Subject: j.subject(e.Subject), Data: e.Data}
		f, err := j.b.js.PublishMsgAsync(m, jetstream.WithMsgID(e.ID), jetstream.WithRetryAttempts(0), jetstream.WithExpectStream(j.stream))
		if err != nil {
			return j.failed(fmt.Errorf("bus: journal append %s (id %s): %w", m.Subject, e.ID, err))
		}
		pending = append(pending, f)
	}
	for i, f := range pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return j.failed(fmt.Errorf("bus: journal append %s (id %s): %w", f.Msg().Subject, entries[i].ID, err))
		case <-ctx.Done():
			return j.failed(fmt.Errorf("bus: journal append (id %s): no acknowledgement in time: %w", entries[i].ID, ctx.Err()))
		}
	}
	d := time.Since(start)
	j.AppendLatency.Observe(int64(d))
	if j.OnAppend != nil {
		j.OnAppend(d)
	}
	return nil
}

func (j *Journal) failed(err error) error {
	if !errors.Is(err, context.Canceled) {
		j.b.failed(err)
	}
	return err
}

// Replay implements execute.Journal: every record in the stream under the
// journal's prefix, oldest first, read with an ordered consumer until none
// is pending. It stops at fn's first error.
func (j *Journal) Replay(ctx context.Context, fn func(data []byte) error) error {
	cctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	cons, err := j.b.js.OrderedConsumer(cctx, j.stream, jetstream.OrderedConsumerConfig{
		// prefix + one token (the record's kind): the default journal's
		// "arb.exec.*" does not take in an instance's "arb.exec.<instance>.*".
		FilterSubjects: []string{j.prefix + "*"}, DeliverPolicy: jetstream.DeliverAllPolicy,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		cancel()
		return fmt.Errorf("bus: journal replay: %w", err)
	}
	info, err := cons.Info(cctx)
	cancel()
	if err != nil {
		return fmt.Errorf("bus: journal replay: %w", err)
	}
	pending := info.NumPending
	if pending == 0 {
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Ask for no more than is pending: a fetch waits for its whole
		// batch (or its MaxWait).
		batch, err := cons.Fetch(int(min(pending, replayBatch)), jetstream.FetchMaxWait(PublishTimeout))
		if err != nil {
			return fmt.Errorf("bus: journal replay: %w", err)
		}
		done, n := false, 0
		for m := range batch.Messages() {
			n++
			if err := fn(m.Data()); err != nil {
				return err
			}
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("bus: journal replay: %w", err)
			}
			pending = md.NumPending
			if pending == 0 {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("bus: journal replay: %w", err)
		}
		if done {
			return nil
		}
		if n == 0 {
			return fmt.Errorf("bus: journal replay: records pending but none delivered within %v", PublishTimeout)
		}
	}
}
