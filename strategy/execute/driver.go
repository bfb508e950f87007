package execute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/spread"
)

// Venue is what the driver needs of one venue's trading client: the order
// calls of exchange.Trader and the fills of exchange.Reconciler. Every
// trading client implements it. Methods are called concurrently (Service)
// or inline (a backtest's Caller).
type Venue interface {
	PlaceOrder(ctx context.Context, req exchange.OrderRequest) (exchange.OrderState, error)
	CancelOrder(ctx context.Context, inst exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error)
	QueryOrder(ctx context.Context, inst exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error)
	FillsSince(ctx context.Context, inst exchange.InstrumentID, since int64) ([]exchange.Fill, error)
}

// Journal is the durable log of records (JetStream in the daemon, a file
// or memory elsewhere).
type Journal interface {
	// Append stores entries durably, in order, and returns only once all
	// are stored. An entry whose ID was stored before is stored once
	// (JetStream: Nats-Msg-Id). On error some entries may be stored: the
	// driver then rebuilds from what Replay returns.
	Append(ctx context.Context, entries []Entry) error
	// Replay calls fn with every stored entry, oldest first.
	Replay(ctx context.Context, fn func(data []byte) error) error
}

// Clock tells the time, Unix ns: the wall clock in the daemon, a simulated
// one in backtests and tests.
type Clock interface {
	Now() int64
}

// Caller makes the venue calls the driver asks for. Start must not block
// on the call: the call's result comes back later through Driver.Deliver
// (built with Result; for CallFetchFills, each fill as an EvFill first),
// on the driver's goroutine. A synchronous Caller may call Deliver from
// inside Start: the driver queues it.
type Caller interface {
	Start(c Call)
}

// Hooks are optional callbacks on the driver's goroutine; they must not
// block.
type Hooks struct {
	// Persisted sees every record once it is in the journal (the calls it
	// allows have just been started: an order does not wait for hooks or
	// log lines): metrics, the ledger feed.
	Persisted func(rec *Record)
	// Closed sees a trade when it closes (after its closing record is
	// persisted): release the plan's reservation, report the residual.
	// Trades recovered from the journal close through it too.
	Closed func(t *Trade)
	// Abandoned sees a trade that Submit accepted but whose opening never
	// reached the journal (it failed): the rebuild from the journal does
	// not know it, and nothing was sent for it. For every trade Submit
	// accepted, exactly one of Closed and Abandoned is called.
	Abandoned func(id TradeID, plan spread.PlanID)
}

// DriverConfig parameterizes a Driver.
type DriverConfig struct {
	Executor Config
	Journal  Journal
	Clock    Clock
	Caller   Caller
	Logger   *slog.Logger
	Hooks    Hooks
	// RebuildEvery is the pause between attempts to rebuild from the
	// journal after it failed. Default 1s.
	RebuildEvery time.Duration
	// Epochs, if set, hands out the epoch of each start and rebuild, at
	// least least: a counter shared by executors whose trades meet in one
	// ledger (each with its own journal), so their trade ids never
	// collide. An error fails the start (retried). Nil: the journal's own
	// rule (Executor.NextEpoch).
	Epochs func(ctx context.Context, least uint32) (uint32, error)
}

// ErrNotReady is returned by Submit while the driver recovers (start-up
// reconciliation, or a rebuild after the journal failed).
var ErrNotReady = errors.New("execute: not ready")

// ErrHalted is returned by Submit while the kill switch is on.
var ErrHalted = errors.New("execute: halted")

// Driver is the loop around an Executor: it persists what the executor
// decides before making the calls it allows (write-ahead), feeds results
// and venue events back, and rebuilds the executor from the journal at
// start and whenever the journal failed. It is synchronous and owned by one
// goroutine: a backtest or a simulation drives it directly with its own
// Clock and Caller; Service runs it in the daemon.
type Driver struct {
	cfg    DriverConfig
	ex     *Executor
	codec  *Codec
	log    *slog.Logger
	queue  []queued
	qhead  int
	pump   bool
	ents   []Entry
	calls  []Call
	failed error
	retry  int64 // next rebuild attempt
	halted bool
	closed []*Trade

	// Counters beyond the executor's.
	JournalErrors uint64
	Rebuilds      uint64
	Dropped       uint64 // events dropped while the journal was failing
}

type queued struct {
	tick bool
	ev   Event
}

// NewDriver returns a driver; Start must be called before anything else.
func NewDriver(cfg DriverConfig) (*Driver, error) {
	if cfg.Journal == nil || cfg.Clock == nil || cfg.Caller == nil {
		return nil, fmt.Errorf("%w: journal, clock and caller are required", ErrConfig)
	}
	if err := cfg.Executor.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RebuildEvery <= 0 {
		cfg.RebuildEvery = time.Second
	}
	return &Driver{cfg: cfg, codec: NewCodec(cfg.Executor.Registry), log: cfg.Logger.With("component", "execute")}, nil
}

// Executor returns the executor (on the driver's goroutine only: views,
// stats).
func (d *Driver) Executor() *Executor { return d.ex }

// Codec returns the record codec.
func (d *Driver) Codec() *Codec { return d.codec }

// Ready reports whether plans are taken: started, every trade of the
// journal finished, and the journal healthy.
func (d *Driver) Ready() bool { return d.ex != nil && d.failed == nil && d.ex.Recovered() }

// Failed returns the journal error the driver is recovering from, or nil.
func (d *Driver) Failed() error { return d.failed }

// Start replays the journal into a new executor and recovers every
// unfinished trade (their queries and fill fetches go out). Plans are
// taken once those trades are closed (Ready).
func (d *Driver) Start(ctx context.Context) error {
	ex, err := New(d.cfg.Executor)
	if err != nil {
		return err
	}
	n := 0
	err = d.cfg.Journal.Replay(ctx, func(data []byte) error {
		rec, err := d.codec.Unmarshal(data)
		if err != nil {
			return err
		}
		n++
		return ex.Restore(&rec)
	})
	if err != nil {
		return fmt.Errorf("execute: journal replay: %w", err)
	}
	if d.halted {
		ex.Halt()
	}
	if old := d.ex; old != nil {
		// A rebuild: the streams are as they were, and trades whose
		// opening was lost with the journal failure never existed.
		ex.stream = old.stream
		old.Trades(func(t *Trade) bool {
			if ex.Trade(t.id) == nil && !t.state.Closed() {
				d.log.Warn("trade abandoned: its opening never reached the journal; nothing was sent", "trade", t.id.String(), "plan", t.open.Plan.String())
				if d.cfg.Hooks.Abandoned != nil {
					d.cfg.Hooks.Abandoned(t.id, t.open.Plan)
				}
			}
			return true
		})
	}
	now := d.cfg.Clock.Now()
	var epoch uint32
	if d.cfg.Epochs != nil {
		if epoch, err = d.cfg.Epochs(ctx, ex.NextEpoch(now)); err != nil {
			return fmt.Errorf("execute: epoch: %w", err)
		}
	}
	d.ex, d.failed = ex, nil
	ex.RecoverAt(now, epoch)
	st := ex.Stats()
	d.log.Info("executor started", "epoch", ex.Epoch(), "records", n, "recovering", st.Recovered)
	d.queue, d.qhead = d.queue[:0], 0
	d.drain(ctx)
	return d.failed
}

// Submit opens a trade from an approved plan (qty > 0: the risk-clipped
// quantity) and sends its entry legs once they are journaled. An error
// means the plan was refused and nothing happened; nil means the trade
// was accepted, and Hooks.Closed or Hooks.Abandoned will report its end.
func (d *Driver) Submit(ctx context.Context, p *spread.Plan, qty num.Qty) (TradeID, error) {
	switch {
	case d.halted:
		return 0, ErrHalted
	case !d.Ready():
		return 0, ErrNotReady
	}
	id, err := d.ex.Open(d.cfg.Clock.Now(), p, qty)
	if err != nil {
		return 0, err
	}
	// From here the trade is accepted: if the journal fails now, the
	// rebuild decides whether it exists (Closed) or not (Abandoned).
	d.drain(ctx)
	return id, nil
}

// Deliver feeds one event (a call's result, a venue push).
func (d *Driver) Deliver(ctx context.Context, ev *Event) {
	d.queue = append(d.queue, queued{ev: *ev})
	d.drain(ctx)
}

// Tick advances time: timeouts, retries, and the rebuild after a journal
// failure.
func (d *Driver) Tick(ctx context.Context) {
	if d.failed != nil {
		now := d.cfg.Clock.Now()
		if now < d.retry {
			return
		}
		d.retry = now + int64(d.cfg.RebuildEvery)
		d.Rebuilds++
		if err := d.Start(ctx); err != nil {
			d.log.Warn("executor rebuild failed", "err", err)
			if d.failed == nil {
				d.failed = err
			}
		}
		return
	}
	d.queue = append(d.queue, queued{tick: true})
	d.drain(ctx)
}

// Halt is the kill switch: no new plans, live orders cancelled, no new
// retries or unwinds; every open trade closes once its orders resolve,
// with what remains reported as its residual.
func (d *Driver) Halt(ctx context.Context) {
	d.halted = true
	if d.ex != nil {
		d.ex.Halt()
		d.Tick(ctx)
	}
}

// Resume lifts Halt for new plans.
func (d *Driver) Resume() {
	d.halted = false
	if d.ex != nil {
		d.ex.Resume()
	}
}

// drain flushes what the executor has ready, then processes queued
// inputs until none is left; a Deliver from inside a Caller's Start only
// queues.
func (d *Driver) drain(ctx context.Context) {
	if d.pump {
		return
	}
	d.pump = true
	defer func() { d.pump = false }()
	if d.ex != nil && d.failed == nil {
		d.flush(ctx)
	}
	for d.qhead < len(d.queue) {
		in := d.queue[d.qhead]
		d.queue[d.qhead] = queued{}
		d.qhead++
		if d.failed != nil || d.ex == nil {
			if !in.tick {
				d.Dropped++
			}
			continue
		}
		now := d.cfg.Clock.Now()
		if in.tick {
			d.ex.Tick(now)
		} else {
			d.ex.Step(now, &in.ev)
		}
		d.flush(ctx)
	}
	d.queue, d.qhead = d.queue[:0], 0
}

// flush persists the executor's records, then makes its calls.
func (d *Driver) flush(ctx context.Context) {
	rd := d.ex.Ready()
	if rd.Empty() {
		return
	}
	d.ents = d.ents[:0]
	for i := range rd.Records {
		e, err := d.codec.Entry(&rd.Records[i])
		if err != nil {
			// A record we cannot write is a broken invariant: nothing it
			// allows may happen.
			d.fail(fmt.Errorf("encode %s record: %w", rd.Records[i].Kind, err))
			return
		}
		d.ents = append(d.ents, e)
	}
	if len(d.ents) > 0 {
		if err := d.cfg.Journal.Append(ctx, d.ents); err != nil {
			d.fail(err)
			return
		}
	}
	// The orders go out first: their records are in the journal, and the
	// hooks and log lines that follow are not on their way. The calls are
	// copied out before they start: a Caller may deliver a result at once
	// (it is queued until this flush is done).
	d.calls = append(d.calls[:0], rd.Calls...)
	for i := range d.calls {
		d.cfg.Caller.Start(d.calls[i])
	}
	d.closed = d.closed[:0]
	for i := range rd.Records {
		r := &rd.Records[i]
		if d.cfg.Hooks.Persisted != nil {
			d.cfg.Hooks.Persisted(r)
		}
		if r.Kind == RecOpen {
			d.logTransition(&Record{Kind: RecTransition, Trade: r.Trade, To: StateOpen})
		}
		if r.Kind == RecTransition {
			d.logTransition(r)
			if r.To.Closed() {
				if t := d.ex.Trade(r.Trade); t != nil {
					d.closed = append(d.closed, t)
				}
			}
		}
	}
	d.ex.Advance()
	if d.cfg.Hooks.Closed != nil {
		for _, t := range d.closed {
			d.cfg.Hooks.Closed(t)
		}
	}
}

func (d *Driver) fail(err error) {
	d.JournalErrors++
	d.failed = err
	d.retry = d.cfg.Clock.Now() + int64(d.cfg.RebuildEvery)
	// What the executor decided is not durable: it is dropped with the
	// executor, and rebuilt from the journal; none of its calls were made.
	d.ex.Advance()
	d.log.Error("journal append failed: no order goes out until the executor is rebuilt from the journal", "err", err)
}

// logTransition writes the one log line per trade transition.
func (d *Driver) logTransition(r *Record) {
	t := d.ex.Trade(r.Trade)
	attrs := []any{"trade", r.Trade.String(), "state", r.To.String()}
	if t != nil {
		op := t.Opening()
		reg := d.cfg.Executor.Registry
		attrs = append(attrs, "plan", op.Plan.String(), "symbol", op.Symbol,
			"buy_venue", reg.VenueName(op.Legs[LegBuy].Venue), "sell_venue", reg.VenueName(op.Legs[LegSell].Venue))
		if r.To.Closed() {
			attrs = append(attrs, "residual_base", num.Format(int64(r.Residual), op.Scale.Qty), "unresolved", r.Unresolved,
				"realized_net_quote", t.Realized().String(), "expected_net_quote", num.Format(int64(op.ExpectedNet), op.Scale.Px))
		}
	}
	if r.To == StateClosedResidual {
		d.log.Warn("trade transition", attrs...)
		return
	}
	d.log.Info("trade transition", attrs...)
}
