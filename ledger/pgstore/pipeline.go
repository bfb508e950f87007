package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrAborted is the error of a pipelined batch that was not written
// because a batch submitted before it failed: it was built on that
// batch's changes, so it must not be committed without it.
var ErrAborted = errors.New("pgstore: batch not written: an earlier batch failed")

// ErrClosed is returned by Submit on a closed pipeline.
var ErrClosed = errors.New("pgstore: pipeline closed")

// Pipeline writes batches with the encoding of one overlapping the commit
// of the one before: Submit encodes a batch on the caller's goroutine
// (no database access) while the pipeline's own goroutine commits the
// batches submitted earlier, one database transaction each, strictly in
// submission order. The encoding and PostgreSQL's work are of the same
// order of CPU per fill (BENCHMARKS.md), so on two cores the overlap
// nearly doubles what Write, one after the other, sustains.
//
// Failure: once a batch fails, every batch submitted after it is
// completed with ErrAborted without touching the database — each was
// built on the failed one's changes — until Reset. The caller rebuilds
// what it derived the batches from (the ledger, from the store) and
// submits again.
type Pipeline struct {
	s     *Store
	ctx   context.Context
	slots chan *Encoded // free encoding buffers: at most depth batches in flight
	jobs  chan job
	exit  chan struct{} // closed when the committing goroutine returns
	depth int

	submitMu sync.Mutex // one Submit at a time: the encoder is reused
	enc      *encoder

	mu     sync.Mutex
	closed bool
	failed error // the first failure since Reset
}

type job struct {
	e    *Encoded
	done func(error)
}

// Pipeline starts a pipeline committing with ctx (its end makes the
// batches still in flight fail) with at most depth batches in flight:
// submitted, not yet completed (depth < 1 is 1; 2 lets one batch commit
// while the next is encoded). Close it when done.
func (s *Store) Pipeline(ctx context.Context, depth int) *Pipeline {
	depth = max(depth, 1)
	p := &Pipeline{s: s, ctx: ctx, slots: make(chan *Encoded, depth), jobs: make(chan job, depth), exit: make(chan struct{}),
		depth: depth, enc: newEncoder()}
	for range depth {
		p.slots <- &Encoded{}
	}
	go p.run()
	return p
}

// Submit encodes b and queues it to be committed after every batch
// submitted before it; it blocks while depth batches are in flight. done
// (may be nil) is called exactly once for every batch Submit accepted, on
// the pipeline's goroutine, in submission order, after the batch's
// commit: with nil once it is committed, with the error otherwise
// (ErrAborted after an earlier failure). The next batch's commit waits
// for done to return. Submit returns an error, and done is not called,
// when the batch was not accepted: ctx ended, the pipeline is closed, or
// b could not be encoded. b is not used after Submit returns.
func (p *Pipeline) Submit(ctx context.Context, b *Batch, done func(error)) error {
	p.submitMu.Lock()
	defer p.submitMu.Unlock()
	var e *Encoded
	select {
	case e = <-p.slots:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.exit:
		return ErrClosed
	}
	if err := p.enc.encode(b, e); err != nil {
		p.slots <- e
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.slots <- e
		return ErrClosed
	}
	p.jobs <- job{e: e, done: done} // never blocks: as many places as slots
	return nil
}

// Flush waits until every batch submitted has completed (its done has
// returned), or ctx ends.
func (p *Pipeline) Flush(ctx context.Context) error {
	var held []*Encoded
	defer func() {
		for _, e := range held {
			p.slots <- e
		}
	}()
	for range p.depth {
		select {
		case e := <-p.slots:
			held = append(held, e)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Err returns the failure that aborts the batches submitted after it, or
// nil.
func (p *Pipeline) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// Reset forgets a failure, so batches submitted from now on are written
// again. Call it after Flush, once the caller no longer builds on the
// failed batch.
func (p *Pipeline) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed = nil
}

// Close stops accepting batches and waits until those accepted have
// completed: committed while the pipeline's context lasts, failed once it
// has ended.
func (p *Pipeline) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.jobs)
	}
	p.mu.Unlock()
	<-p.exit
}

func (p *Pipeline) run() {
	defer close(p.exit)
	for j := range p.jobs {
		p.mu.Lock()
		failed := p.failed
		p.mu.Unlock()
		var err error
		if failed != nil {
			err = fmt.Errorf("%w (%w)", ErrAborted, failed)
		} else if err = p.s.WriteEncoded(p.ctx, j.e); err != nil {
			p.mu.Lock()
			p.failed = err
			p.mu.Unlock()
		}
		if j.done != nil {
			j.done(err)
		}
		p.slots <- j.e
	}
}
