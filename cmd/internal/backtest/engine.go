package backtest

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"arb/cmd/internal/config"
	"arb/cmd/internal/httpapi"
	"arb/cmd/internal/wire"
	"arb/exchange"
	"arb/exchange/num"
	"arb/exchange/recording"
	"arb/exchange/tap"
	"arb/ringbuf"
	"arb/risk"
	"arb/strategy"
	"arb/strategy/book"
	"arb/strategy/execute"
	"arb/strategy/spread"
)

// Options are a backtest's inputs beside the config.
type Options struct {
	// Data are the recording's files, in order.
	Data []string
	// Out is the directory for report.json, trades.csv and report.html;
	// empty writes nothing (the Report is returned).
	Out string
	// From and To bound the trading window (Unix ns; 0 = the recording's
	// start, or its TradeFrom when it is a cut, and its end). Everything
	// before From is replayed to build the books, without trading.
	From, To int64
	// Latency is the one-way order latency per venue name; the "" entry
	// applies to venues not named. 0: an order meets the book of the
	// record that made it.
	Latency map[string]time.Duration
	// Params label the run in the report (a sweep's values).
	Params []Param
	// RulesFallback is used when the config's rules file does not exist
	// (the embedded default rules), named RulesFallbackName.
	RulesFallback     []byte
	RulesFallbackName string
	// Progress, if set, is called every progressEvery records with the
	// compressed bytes consumed so far, the total, and the records.
	Progress func(done, total int64, events uint64)
	// OnPlan, if set, sees every plan decided in the trading window as
	// the daemon's desk reports it (wire.PlanStatus, with the executor's
	// answer in Execution): tests compare a backtest's decisions with the
	// live session's it replays.
	OnPlan func(httpapi.PlanStatus)
	// Logger receives the run's log (rules fired, trade transitions);
	// nil discards.
	Logger *slog.Logger
}

const (
	tickEvery     = 10 * time.Millisecond // the executor's timer resolution (as Service)
	markEvery     = time.Second           // equity marks for the day's peak (as the daemon)
	progressEvery = 1 << 16
	keepClosed    = 64 // closed trades the executor keeps (see build)
)

// engine is one backtest run: the daemon's pieces on a simulated clock,
// owned by one goroutine.
type engine struct {
	cfg   *config.Config
	opt   Options
	log   *slog.Logger
	ctx   context.Context
	reg   *exchange.Registry
	ring  *ringbuf.MPSC[exchange.BookTop]
	store *book.Store
	det   *spread.Detector
	loop  *strategy.Loop
	risk  *risk.Engine
	drv   *execute.Driver

	listings []exchange.Instrument
	byMeta   map[uint8]*venueReplay
	venues   []*venueReplay // by VenueID
	sims     []*simVenue    // by VenueID
	workers  []*worker      // by VenueID − 1 (pipeline.go)
	// connected is each venue's feed state as of the record being
	// processed (the workers run ahead: their counters are not).
	connected []bool
	recID     string

	clock     int64
	tradeFrom int64
	tradeTo   int64
	nextTick  int64
	nextMark  int64
	open      int // trades open
	sched     schedQueue

	desk desk
	col  *collector
}

// Now implements execute.Clock.
func (e *engine) Now() int64 { return e.clock }

// Run replays the recording in opt.Data through the daemon's adapters,
// detector, risk rules and executor on a simulated clock, and returns the
// report; with opt.Out it also writes report.json, trades.csv and
// report.html there.
func Run(ctx context.Context, cfg *config.Config, opt Options) (*Report, error) {
	if len(opt.Data) == 0 {
		return nil, errors.New("backtest: no recording given (--data)")
	}
	e := &engine{cfg: cfg, opt: opt, log: opt.Logger, ctx: ctx, byMeta: map[uint8]*venueReplay{}}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	pre, err := readPreamble(opt.Data)
	if err != nil {
		return nil, err
	}
	if err := e.build(pre); err != nil {
		return nil, err
	}
	var csvw *csv.Writer
	var csvf *os.File
	if opt.Out != "" {
		if err := os.MkdirAll(opt.Out, 0o755); err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
		if csvf, err = os.Create(filepath.Join(opt.Out, "trades.csv")); err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
		defer csvf.Close()
		csvw = csv.NewWriter(csvf)
		if err := csvw.Write(tradeHeader); err != nil {
			return nil, err
		}
		e.col.csv = csvw
	}
	if err := e.replay(pre); err != nil {
		return nil, err
	}
	rep := e.report(pre)
	if opt.Out != "" {
		csvw.Flush()
		if err := csvw.Error(); err != nil {
			return nil, fmt.Errorf("backtest: trades.csv: %w", err)
		}
		if err := writeFiles(opt.Out, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// build assembles the daemon's pieces from the config and the recording.
func (e *engine) build(pre *preamble) error {
	cfg := e.cfg
	e.reg = wire.Registry(cfg)
	e.recID = pre.meta.Recording
	e.tradeFrom, e.tradeTo = e.opt.From, e.opt.To
	if e.tradeFrom == 0 {
		e.tradeFrom = pre.meta.TradeFrom
	}
	if e.tradeFrom == 0 {
		e.tradeFrom = pre.first
	}
	if e.tradeTo == 0 {
		e.tradeTo = pre.last
	}
	// Listings: the config's symbols, filters from the recorded
	// instruments replies through the daemon's own fetch code.
	listings := make([][]exchange.Instrument, len(cfg.Venues))
	var all []exchange.Instrument
	metaOf := make([]*recording.VenueMeta, len(cfg.Venues))
	for i, v := range cfg.Venues {
		for j := range pre.meta.Venues {
			if pre.meta.Venues[j].Name == v.Name {
				metaOf[i] = &pre.meta.Venues[j]
			}
		}
		vm := metaOf[i]
		if vm == nil {
			return fmt.Errorf("backtest: venue %s is in the config but not in the recording (it has %s)", v.Name, venueNames(pre.meta))
		}
		if vm.Kind != v.Kind {
			return fmt.Errorf("backtest: venue %s is %s in the config but %s in the recording", v.Name, v.Kind, vm.Kind)
		}
		for canon, sym := range v.Symbols {
			found := false
			for _, in := range vm.Instruments {
				if in.Canonical == canon && in.Symbol == sym {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("backtest: venue %s: %s (%s) was not recorded", v.Name, canon, sym)
			}
		}
		replies := pre.rest[vm.ID]
		rest := "https://replay.invalid"
		if len(replies) > 0 {
			rest = baseURL(replies[0].url)
		}
		hc := &http.Client{Transport: &restTransport{replies: replies}}
		l, err := wire.Listings(e.ctx, cfg, e.reg, i, rest, hc)
		if err != nil {
			return fmt.Errorf("backtest: %w (record with arb record, which keeps the instruments replies, or give the filters in the config)", err)
		}
		listings[i] = l
	}
	// One scale per instrument across venues, as the daemon decides it.
	if err := wire.UnifyScales(e.reg, listings); err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	for _, l := range listings {
		all = append(all, l...)
	}
	e.listings = all
	e.ring = ringbuf.NewMPSC[exchange.BookTop](wire.RingCapacity)
	e.store = book.New(e.reg)
	sc := wire.SpreadConfig(cfg, e.reg, all)
	sc.PlanIDBase = pre.meta.PlanIDBase // deterministic: the live session's, or 0
	var err error
	if e.det, err = spread.New(e.reg, e.store, sc); err != nil {
		return fmt.Errorf("backtest: strategy: %w", err)
	}
	if err := wire.SetBalances(cfg, e.det.Inventory()); err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	now := func() int64 { return e.clock }
	e.venues = make([]*venueReplay, len(cfg.Venues)+1)
	e.sims = make([]*simVenue, len(cfg.Venues)+1)
	e.connected = make([]bool, len(cfg.Venues)+1)
	for i, v := range cfg.Venues {
		id := exchange.VenueID(i + 1)
		w := newWorker(i)
		vr, err := newVenueReplay(id, metaOf[i], listings[i], v.AgeMax, w.ring, w.now, e.log)
		if err != nil {
			return err
		}
		w.v = vr
		e.workers = append(e.workers, w)
		e.venues[id], e.byMeta[metaOf[i].ID] = vr, vr
		lat, ok := e.opt.Latency[v.Name]
		if !ok {
			lat = e.opt.Latency[""]
		}
		_, fromSim := v.SimName()
		sv := newSimVenue(id, v.Name, e.reg, e.store, v.TakerFeeBps, v.FeeAsset, fromSim, int64(lat), now)
		for asset, amt := range v.Balances {
			sv.deposit(asset, amt.Rat())
		}
		e.sims[id] = sv
	}
	for name := range e.opt.Latency {
		if name != "" && e.venueID(name) == 0 {
			return fmt.Errorf("backtest: latency for venue %q, which is not configured", name)
		}
	}
	e.col = newCollector(e)
	if err := e.desk.init(e); err != nil {
		return err
	}
	lc := strategy.DefaultConfig()
	// The loop's book snapshots are for the daemon's API and its
	// executor's quotes; the backtest reads the book store, and a snapshot
	// every 100 ms of simulated time was a tenth of the replay's work.
	lc.SnapshotInterval = math.MaxInt64
	if e.loop, err = strategy.New(lc, e.reg, e.ring, e.det, &e.desk, now); err != nil {
		return fmt.Errorf("backtest: strategy loop: %w", err)
	}
	xc := execute.DefaultConfig()
	xc.Registry, xc.Instruments = e.reg, all
	// Closed trades are kept by the executor for the daemon's views
	// (/api/v1/trades); the backtest reports from the Closed hook and
	// reads none back, so it keeps few: memory must not grow with the
	// recording's trades.
	xc.KeepClosed = keepClosed
	xc.Quotes = func(v exchange.VenueID, i exchange.InstrumentID) (bid, ask num.Price, ok bool) {
		b := e.store.Book(v, i)
		if b == nil || b.Stale() || b.NBids == 0 || b.NAsks == 0 {
			return 0, 0, false
		}
		return b.Bids[0].Px, b.Asks[0].Px, true
	}
	e.drv, err = execute.NewDriver(execute.DriverConfig{
		Executor: xc, Journal: &countJournal{}, Clock: e, Caller: (*caller)(e), Logger: e.log,
		Hooks: execute.Hooks{Persisted: e.persisted, Closed: e.closed, Abandoned: e.abandoned},
	})
	if err != nil {
		return fmt.Errorf("backtest: executor: %w", err)
	}
	return nil
}

func venueNames(m *recording.Meta) string {
	s := ""
	for i, v := range m.Venues {
		if i > 0 {
			s += ", "
		}
		s += v.Name
	}
	return s
}

func (e *engine) venueID(name string) exchange.VenueID {
	for i, v := range e.cfg.Venues {
		if v.Name == name {
			return exchange.VenueID(i + 1)
		}
	}
	return 0
}

// replay runs the recording through the engine.
func (e *engine) replay(pre *preamble) error {
	warm := e.tradeFrom
	// Skip, by chunk headers, what ends before the warm-up of the first
	// chunk that reaches the trading window (see recording.Cut).
	skipTo := int64(0)
	if e.opt.From != 0 {
		skipTo = warmStart(e.opt.Data, warm)
	}
	src, err := openSource(e.ctx, e.opt.Data, skipTo)
	if err != nil {
		return err
	}
	defer src.close()
	e.clock = pre.first
	if err := e.drv.Start(e.ctx); err != nil {
		return fmt.Errorf("backtest: executor: %w", err)
	}
	pl := e.startPipeline(e.ctx, src)
	defer func() {
		for j := range pl.out { // after an early return: let the goroutines end
			j.wg.Wait()
		}
	}()
	var n uint64
	for j := range pl.out {
		j.wg.Wait()
		if j.fatal != nil {
			return j.fatal
		}
		for i := range j.steps {
			s := &j.steps[i]
			if e.step(j, s) {
				n++
				if e.opt.Progress != nil && n%progressEvery == 0 {
					e.opt.Progress(int64(src.bytes.Load()), src.total, n)
				}
			}
		}
		for _, b := range j.blocks {
			src.recycle(b)
		}
		pl.release(j)
		if e.ctx.Err() != nil {
			break
		}
	}
	if err := e.ctx.Err(); err != nil {
		return err
	}
	e.finish()
	if e.opt.Progress != nil {
		e.opt.Progress(src.total, src.total, n)
	}
	return nil
}

// warmStart reads chunk headers for the warm-up start of a window from t.
func warmStart(paths []string, t int64) int64 {
	r, err := recording.Open(paths...)
	if err != nil {
		return 0
	}
	defer r.Close()
	w := int64(0)
	for {
		_, err := r.NextChunk(nil, func(h *recording.ChunkHeader) bool {
			if w == 0 && h.MaxTS >= t {
				w = min(h.WarmTS, t)
			}
			return false
		})
		if err != nil || w != 0 {
			return w
		}
	}
}

// step does one step of the pipeline on the engine's goroutine and
// reports whether it was a record: the previous venue's settle events
// (when this record is another venue's), the clock moved to the record's
// time (the executor's ticks and the venues' answers due on the way), then
// the record's own events, each time handed to the strategy loop.
func (e *engine) step(j *job, s *step) bool {
	switch {
	case s.hole:
		if s.warn != "" {
			e.col.warn("%s", s.warn)
		}
		e.push(j, &s.pre)
		e.drain()
		for i := range s.holes {
			e.push(j, &s.holes[i])
		}
		e.drain()
		return false
	case s.end:
		e.push(j, &s.pre)
		e.drain()
		return false
	}
	r := &s.rec
	e.col.events++
	if s.v == nil {
		return true // a venue the config does not trade
	}
	if s.pre.ok {
		e.push(j, &s.pre)
		e.drain()
	}
	e.advance(r.TS)
	switch r.Kind {
	case tap.KindFrame:
		e.col.frames++
	case tap.KindSent, tap.KindREST:
		return true
	}
	e.push(j, &s.post)
	e.drain()
	if e.clock >= e.nextMark {
		e.desk.mark(e.clock)
		e.nextMark = e.clock + int64(markEvery)
	}
	return true
}

// push puts a segment's events in the daemon's ring, and notes its
// venue's connection state.
func (e *engine) push(j *job, s *segment) {
	if !s.ok {
		return
	}
	evs := j.events(s)
	for i := range evs { // by index: an event is 368 bytes, not copied twice
		if !e.ring.TryPush(&evs[i]) {
			e.drain() // full: the loop takes what is there first
			e.ring.TryPush(&evs[i])
		}
	}
	e.connected[s.w+1] = s.conn
}

// drain hands what the adapters published to the strategy loop, after
// noting each event's top-of-book edges for the report.
func (e *engine) drain() {
	from, to := e.ring.Batch(1 << 16)
	if from == to {
		return
	}
	for s := from; s < to; s++ {
		e.col.book(e.ring.At(s), e.clock)
	}
	e.loop.Step()
}

// advance moves the clock to ts, running the executor's ticks and the
// venues' scheduled order arrivals and answers due on the way.
func (e *engine) advance(ts int64) {
	for {
		next, what := int64(math.MaxInt64), 0
		if e.open > 0 && e.nextTick <= ts {
			next, what = e.nextTick, 2
		}
		if e.sched.Len() > 0 && e.sched.peek().t <= ts && e.sched.peek().t < next {
			next, what = e.sched.peek().t, 1
		}
		if what == 0 {
			break
		}
		if next > e.clock {
			e.clock = next
		}
		if what == 2 {
			e.nextTick = next + int64(tickEvery)
			e.drv.Tick(e.ctx)
			continue
		}
		e.fire(e.sched.pop())
	}
	if ts > e.clock {
		e.clock = ts
	}
}

// finish lets the trades still open at the end resolve on the last books:
// scheduled answers and ticks run up to the policy's deadline.
func (e *engine) finish() {
	end := e.clock + int64(execute.DefaultDeadline) + int64(time.Second)
	for e.open > 0 && e.clock < end {
		e.advance(min(e.clock+int64(tickEvery), end))
	}
	if e.open > 0 {
		e.col.warn("%d trades were still open when the replay ended", e.open)
	}
}

// countJournal is the backtest's journal: it counts entries and keeps
// none (nothing is replayed from it: the run never restarts), so memory
// stays constant however many trades a recording makes.
type countJournal struct{ n uint64 }

func (j *countJournal) Append(_ context.Context, es []execute.Entry) error {
	j.n += uint64(len(es))
	return nil
}

func (j *countJournal) Replay(context.Context, func([]byte) error) error { return nil }

var _ io.Writer = (*os.File)(nil)
