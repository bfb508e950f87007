package backtest

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"arb/exchange"
	"arb/exchange/recording"
	"arb/exchange/tap"
	"arb/ringbuf"
)

// The replay's pipeline. Parsing the venues' frames and keeping their books
// in sync (the adapters' Replay) is most of a backtest's work, and each
// venue's adapter depends only on that venue's records, in order, and on
// the clock at each of them. So the adapters run one goroutine per venue
// (a worker), a job ahead of the engine's goroutine, each into its own
// ring; the engine's goroutine then takes the events of each record in the
// recording's order, puts them in the daemon's ring and runs the strategy
// loop, the desk and the executor exactly as before. Everything a worker
// does is a function of its commands, and the engine consumes the events
// in one fixed order: the run stays deterministic.
//
// The dispatcher (one goroutine) turns chunks into jobs (a job takes chunks
// until it has jobSteps steps or no chunk is ready), each job into steps —
// one per record, and the holes — and into each worker's commands: handle a
// record, settle (the adapter's deferred per-frame work, run when a record
// of another venue follows, as the sequential replay did), or close every
// open connection (a hole). It knows the clock at each step (the running
// maximum of the receive times, from the recording's first) and which
// connections are open. The engine waits for a job's workers to be done
// before it takes the job's steps; meanwhile the workers process the next
// job and the source decompresses the chunks after it. How the chunks are
// grouped into jobs changes no command and no event's order.

// segment is where a worker left the events of one command.
type segment struct {
	ok       bool // the command ran
	w        int  // worker index (venue id − 1)
	from, to int  // in the job's events of that worker
	conn     bool // the venue had a connection up after the command
}

// step is one thing the engine does in order.
type step struct {
	rec  recording.Record // a record (Data and Meta point into the chunk)
	v    *venueReplay     // its venue, nil if not configured
	pre  segment          // settle of the previous venue, before the record
	post segment          // the record's own events
	hole bool             // a hole: pre is the settle, holes the closes
	end  bool             // the end of the replay: pre is the last settle
	// holes are the venues' close-all segments of a hole, by venue id.
	holes []segment
	warn  string
}

type command struct {
	op    uint8 // opHandle, opSettle, opClose
	step  int
	clock int64
	ids   []uint64
}

const (
	opHandle = iota
	opSettle
	opClose
)

// job is the work of a run of chunks (see jobSteps).
type job struct {
	blocks []*recording.Block // the chunks its steps' records point into
	steps  []step
	cmds   [][]command          // per worker
	evs    [][]exchange.BookTop // per worker: the events its commands published
	wg     sync.WaitGroup
	stop   bool  // the trading window ends in this chunk
	fatal  error // an unrecoverable read error after the steps
}

// worker runs one venue's adapter.
type worker struct {
	v     *venueReplay
	idx   int
	ring  *ringbuf.MPSC[exchange.BookTop]
	clock int64
	in    chan *job
	free  chan []exchange.BookTop // event buffers the engine is done with
}

func newWorker(idx int) *worker {
	return &worker{idx: idx, ring: ringbuf.NewMPSC[exchange.BookTop](workerRing), free: make(chan []exchange.BookTop, 4)}
}

// jobSteps is the number of steps after which a job is handed over: a few
// chunks of a recording sealed every second, so that a job's buffers (its
// events, 368 bytes each, per worker) stay small (TestMemoryConstant).
const jobSteps = 256

// workerRing holds what one command publishes (at most a republish of
// every book of the venue).
const workerRing = 1024

func (w *worker) now() int64 { return w.clock }

// run executes the worker's commands of each job.
func (w *worker) run() {
	for j := range w.in {
		w.do(j)
		j.wg.Done()
	}
}

func (w *worker) do(j *job) {
	var ev []exchange.BookTop
	select {
	case ev = <-w.free:
	default:
	}
	ev = ev[:0]
	for _, c := range j.cmds[w.idx] {
		w.clock = c.clock
		from := len(ev)
		s := &j.steps[c.step]
		switch c.op {
		case opHandle:
			w.v.handle(&s.rec)
		case opSettle:
			w.v.settle()
		case opClose:
			w.v.closeAll(c.ids, c.clock)
		}
		// Read in place and copied once, into the job's buffer.
		for {
			from, to := w.ring.Batch(workerRing)
			if from == to {
				break
			}
			for q := from; q < to; q++ {
				ev = append(ev, *w.ring.At(q))
			}
			w.ring.Release(to)
		}
		seg := segment{ok: true, w: w.idx, from: from, to: len(ev), conn: w.v.stats().Connected.Load() > 0}
		switch c.op {
		case opHandle:
			s.post = seg
		case opClose:
			s.holes[w.v.id] = seg
		default:
			s.pre = seg
		}
	}
	j.evs[w.idx] = ev
}

// release returns a processed job and its buffers for reuse.
func (d *dispatcher) release(j *job) {
	for i, ev := range j.evs {
		if ev != nil {
			select {
			case d.workers[i].free <- ev:
			default:
			}
		}
	}
	select {
	case d.free <- j:
	default:
	}
}

// dispatcher cuts the source's chunks into jobs.
type dispatcher struct {
	e       *engine
	src     *source
	workers []*worker
	out     chan *job
	free    chan *job // jobs the engine is done with
	clock   int64
	last    *venueReplay
	recID   string
	conns   map[uint8]map[uint64]bool
}

// startPipeline starts the dispatcher and the workers; the jobs come out
// of d.out in order, and the goroutines end when the source does or ctx
// ends (the caller then drains d.out).
func (e *engine) startPipeline(ctx context.Context, src *source) *dispatcher {
	d := &dispatcher{e: e, src: src, out: make(chan *job, 1), free: make(chan *job, 4), clock: e.clock, recID: e.recID, conns: map[uint8]map[uint64]bool{}}
	for _, w := range e.workers {
		d.workers = append(d.workers, w)
		w.in = make(chan *job, 1)
		go w.run()
	}
	go d.run(ctx)
	return d
}

// newJob returns a job to fill: one the engine is done with (its slices
// kept, so a steady replay allocates none), or a new one.
func (d *dispatcher) newJob() *job {
	select {
	case j := <-d.free:
		j.blocks, j.stop, j.fatal = j.blocks[:0], false, nil
		j.steps = j.steps[:0]
		for i := range j.cmds {
			j.cmds[i] = j.cmds[i][:0]
			j.evs[i] = nil
		}
		return j
	default:
	}
	return &job{cmds: make([][]command, len(d.workers)), evs: make([][]exchange.BookTop, len(d.workers))}
}

func (d *dispatcher) run(ctx context.Context) {
	defer func() {
		for _, w := range d.workers {
			close(w.in)
		}
		close(d.out)
	}()
	send := func(j *job) bool {
		j.wg.Add(len(d.workers))
		for _, w := range d.workers {
			w.in <- j
		}
		select {
		case d.out <- j:
			return true
		case <-ctx.Done():
			j.wg.Wait()
			return false
		}
	}
	// A job takes chunks until it has jobSteps steps (or the source has
	// no chunk ready), so that the hand-overs between the goroutines are
	// paid per few thousand records, not per chunk.
	var j *job
	for it := range d.src.blocks {
		if j == nil {
			j = d.newJob()
		}
		if it.err != nil {
			if !recoverable(it.err) {
				if !send(j) {
					return
				}
				j = d.newJob()
				j.fatal = it.err
				send(j)
				return
			}
			d.hole(j, fmt.Sprintf("%v: the connections open then are closed (what was lost is not known)", it.err))
		} else {
			b := it.b
			j.blocks = append(j.blocks, b)
			if b.Meta.Recording != d.recID {
				// Another recording follows: its connections are new ones.
				d.hole(j, "")
				d.recID = b.Meta.Recording
			}
			err := b.Records(func(r *recording.Record) bool {
				if r.TS > d.e.tradeTo {
					j.stop = true
					return false
				}
				d.record(j, r)
				return true
			})
			if err != nil {
				d.hole(j, fmt.Sprintf("%v: the rest of the chunk is skipped and the connections open then are closed", err))
			}
		}
		if j.stop || len(j.steps) >= jobSteps || len(d.src.blocks) == 0 {
			if !send(j) {
				return
			}
			if j.stop {
				j = nil
				break
			}
			j = nil
		}
	}
	// The end: the last venue settles.
	if j == nil {
		j = d.newJob()
	}
	j.steps = append(j.steps, step{end: true})
	if d.last != nil {
		j.cmds[d.last.idx] = append(j.cmds[d.last.idx], command{op: opSettle, clock: d.clock})
	}
	send(j)
}

// record adds a record's step and its venue's commands.
func (d *dispatcher) record(j *job, r *recording.Record) {
	e := d.e
	i := len(j.steps)
	j.steps = append(j.steps, step{rec: *r})
	v := e.byMeta[r.Venue]
	if v == nil {
		return
	}
	j.steps[i].v = v
	if d.last != nil && d.last != v {
		j.cmds[d.last.idx] = append(j.cmds[d.last.idx], command{op: opSettle, step: i, clock: d.clock})
	}
	d.last = v
	d.clock = max(d.clock, r.TS)
	switch r.Kind {
	case tap.KindOpen:
		m := d.conns[r.Venue]
		if m == nil {
			m = map[uint64]bool{}
			d.conns[r.Venue] = m
		}
		m[r.Conn] = true
	case tap.KindClose:
		delete(d.conns[r.Venue], r.Conn)
	case tap.KindSent, tap.KindREST:
		return
	}
	j.cmds[v.idx] = append(j.cmds[v.idx], command{op: opHandle, step: i, clock: d.clock})
}

// hole adds a hole step: the last venue settles, then every venue closes
// its open connections (in venue order).
func (d *dispatcher) hole(j *job, warn string) {
	e := d.e
	i := len(j.steps)
	j.steps = append(j.steps, step{hole: true, warn: warn, holes: make([]segment, len(e.venues))})
	if d.last != nil {
		j.cmds[d.last.idx] = append(j.cmds[d.last.idx], command{op: opSettle, step: i, clock: d.clock})
	}
	mvs := make([]int, 0, len(d.conns))
	for mv := range d.conns {
		mvs = append(mvs, int(mv))
	}
	sort.Ints(mvs)
	for _, mv := range mvs {
		m := d.conns[uint8(mv)]
		if v := e.byMeta[uint8(mv)]; v != nil && len(m) > 0 {
			ids := make([]uint64, 0, len(m))
			for id := range m {
				ids = append(ids, id)
			}
			sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
			j.cmds[v.idx] = append(j.cmds[v.idx], command{op: opClose, step: i, clock: d.clock, ids: ids})
		}
		delete(d.conns, uint8(mv))
	}
}

// events returns a segment's events; valid until the job is released.
func (j *job) events(s *segment) []exchange.BookTop {
	if !s.ok {
		return nil
	}
	return j.evs[s.w][s.from:s.to]
}
