package execute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/spread"
)

// ServiceConfig parameterizes a Service.
type ServiceConfig struct {
	Executor Config
	Journal  Journal
	// Venues holds each venue's trading client, indexed by VenueID
	// ([0] unused; nil for a venue that does not trade).
	Venues []Venue
	Clock  Clock
	Logger *slog.Logger
	Hooks  Hooks
	// OnSend sees every venue call just before it is made (on the call's
	// goroutine; it must not block): for an entry place, now − c.PlanTS is
	// the plan-to-send latency.
	OnSend func(c *Call)
	// OnCall sees every venue call when it returns (on the call's
	// goroutine; it must not block): acknowledgement latency and error
	// rate per venue.
	OnCall func(c *Call, took time.Duration, err error)
	// TickEvery is the executor's timer resolution. Default 10ms.
	TickEvery time.Duration
	// MaxInFlight bounds the venue calls running at once; more wait in
	// order. Default 64.
	MaxInFlight int
	// Inbox bounds plans and requests waiting for the loop; Submit
	// refuses beyond it. Default 256.
	Inbox int
	// Pushes bounds private-stream events waiting for the loop. Beyond it
	// an event is dropped, counted, and the venue's live orders are
	// queried and its fills fetched instead. Default 4096.
	Pushes int
	// RestartEvery is the pause between start attempts while the journal
	// cannot be replayed. Default 1s.
	RestartEvery time.Duration
	// Epochs is DriverConfig.Epochs.
	Epochs func(ctx context.Context, least uint32) (uint32, error)
}

// ServiceStats are the service's counters, safe to read from any
// goroutine (copied by the loop after every step).
type ServiceStats struct {
	Executor      Stats
	Open          int
	Ready         bool
	Halted        bool
	JournalErrors uint64
	Rebuilds      uint64
	PushesDropped uint64
	Refused       uint64 // plans refused (not ready, halted, busy)
}

// Service runs a Driver in the daemon: one goroutine (Run) owns it, venue
// calls run on their own goroutines with the policy's timeout, and plans,
// private-stream events and view requests come in through bounded queues
// from any goroutine. Every exported method but Run is safe for concurrent
// use.
type Service struct {
	cfg    ServiceConfig
	d      *Driver
	log    *slog.Logger
	inbox  chan func()
	pushes chan Event
	result chan Event
	lost   [exchange.MaxVenues + 1]atomic.Bool

	ready   atomic.Bool
	stats   atomic.Pointer[ServiceStats]
	dropped atomic.Uint64
	refused atomic.Uint64

	// Owned by the loop.
	ctx      context.Context
	inFlight int
	waiting  []Call
	wg       sync.WaitGroup
}

// NewService returns a service; Run starts it.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = 10 * time.Millisecond
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.Inbox <= 0 {
		cfg.Inbox = 256
	}
	if cfg.Pushes <= 0 {
		cfg.Pushes = 4096
	}
	if cfg.RestartEvery <= 0 {
		cfg.RestartEvery = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, in := range cfg.Executor.Instruments {
		if int(in.Venue) >= len(cfg.Venues) || cfg.Venues[in.Venue] == nil {
			return nil, fmt.Errorf("%w: no trading client for venue %d", ErrConfig, in.Venue)
		}
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("component", "execute"),
		inbox: make(chan func(), cfg.Inbox), pushes: make(chan Event, cfg.Pushes), result: make(chan Event, cfg.MaxInFlight)}
	d, err := NewDriver(DriverConfig{Executor: cfg.Executor, Journal: cfg.Journal, Clock: cfg.Clock, Caller: s,
		Logger: cfg.Logger, Hooks: cfg.Hooks, RebuildEvery: cfg.RestartEvery, Epochs: cfg.Epochs})
	if err != nil {
		return nil, err
	}
	s.d = d
	s.stats.Store(&ServiceStats{})
	return s, nil
}

// Run starts the driver (journal replay, reconciliation of unfinished
// trades) and runs it until ctx ends; then it waits for the calls in
// flight and returns ctx's error. It is called once.
func (s *Service) Run(ctx context.Context) error {
	s.ctx = ctx
	for {
		err := s.d.Start(ctx)
		if err == nil {
			break
		}
		s.log.Error("executor start failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return ctx.Err()
		case <-time.After(s.cfg.RestartEvery):
		}
	}
	s.publish()
	t := time.NewTicker(s.cfg.TickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.ready.Store(false)
			s.wg.Wait()
			return ctx.Err()
		case fn := <-s.inbox:
			fn()
		case ev := <-s.result:
			s.inFlight--
			s.startWaiting()
			s.d.Deliver(ctx, &ev)
		case ev := <-s.pushes:
			s.d.Deliver(ctx, &ev)
		case <-t.C:
			s.recoverLost(ctx)
			s.d.Tick(ctx)
		}
		s.publish()
	}
}

// publish copies the counters for other goroutines.
func (s *Service) publish() {
	st := &ServiceStats{Ready: s.d.Ready(), Halted: s.d.halted, JournalErrors: s.d.JournalErrors, Rebuilds: s.d.Rebuilds,
		PushesDropped: s.dropped.Load(), Refused: s.refused.Load()}
	if ex := s.d.Executor(); ex != nil {
		st.Executor, st.Open = ex.Stats(), ex.OpenTrades()
	}
	old := s.stats.Load()
	if *old != *st {
		s.stats.Store(st)
	}
	s.ready.Store(st.Ready)
}

// recoverLost makes up for private events dropped on a full queue: the
// venue's live orders are asked again (as after a stream reconnect).
func (s *Service) recoverLost(ctx context.Context) {
	for v := range s.lost {
		if s.lost[v].Swap(false) {
			s.d.Deliver(ctx, &Event{Kind: EvStream, Venue: exchange.VenueID(v), Up: false})
			s.d.Deliver(ctx, &Event{Kind: EvStream, Venue: exchange.VenueID(v), Up: true})
		}
	}
}

// Start implements Caller: the call runs on its own goroutine with its
// timeout, at most MaxInFlight at once.
func (s *Service) Start(c Call) {
	if s.inFlight >= s.cfg.MaxInFlight {
		s.waiting = append(s.waiting, c)
		return
	}
	s.inFlight++
	s.wg.Add(1)
	go s.do(c)
	if c.Kind == CallPlace {
		// Run the order's goroutine now rather than when this loop next
		// blocks (a new goroutine is queued to run next on this
		// processor): an order waits for nothing else.
		runtime.Gosched()
	}
}

func (s *Service) startWaiting() {
	for len(s.waiting) > 0 && s.inFlight < s.cfg.MaxInFlight {
		c := s.waiting[0]
		copy(s.waiting, s.waiting[1:])
		s.waiting = s.waiting[:len(s.waiting)-1]
		s.inFlight++
		s.wg.Add(1)
		go s.do(c)
	}
}

// do makes one call and hands its result (and a fetch's fills) to the loop.
func (s *Service) do(c Call) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.ctx, c.Timeout)
	defer cancel()
	v := s.cfg.Venues[c.Req.Venue]
	if s.cfg.OnSend != nil {
		s.cfg.OnSend(&c)
	}
	start := time.Now()
	var st exchange.OrderState
	var err error
	var fills []exchange.Fill
	switch c.Kind {
	case CallPlace:
		st, err = v.PlaceOrder(ctx, c.Req)
	case CallCancel:
		st, err = v.CancelOrder(ctx, c.Req.Inst, c.Req.ClientID)
	case CallQuery:
		st, err = v.QueryOrder(ctx, c.Req.Inst, c.Req.ClientID)
	case CallFetchFills:
		fills, err = v.FillsSince(ctx, c.Req.Inst, c.Since)
	}
	if err != nil && ctx.Err() != nil && exchange.KindOf(err) == exchange.KindUnknown {
		// Our own timeout: the venue may have acted.
		err = &exchange.Error{Kind: exchange.KindUnknownOutcome, Err: err}
	}
	if s.cfg.OnCall != nil {
		s.cfg.OnCall(&c, time.Since(start), err)
	}
	for i := range fills {
		// Fills of a fetch go through the push queue ahead of the result,
		// so the result finds them counted.
		select {
		case s.pushes <- Event{Kind: EvFill, Fill: fills[i]}:
		case <-s.ctx.Done():
			return
		}
	}
	ev := Result(&c, st, err)
	select {
	case s.result <- ev:
	case <-s.ctx.Done():
	}
}

// Submit hands an approved plan to the executor (qty > 0: the clipped
// quantity). It never blocks: it returns ErrNotReady while recovering,
// ErrHalted under the kill switch, ErrBusy when the queue is full. A plan
// accepted here may still be refused by the executor (too many open trades,
// an unknown listing): Refused counts those, and the Closed hook never sees
// them, so the caller releases a refused plan's reservation itself when
// Submit fails and OnRefused otherwise.
func (s *Service) Submit(p *spread.Plan, qty num.Qty, onRefused func(error)) error {
	if !s.ready.Load() {
		s.refused.Add(1)
		return ErrNotReady
	}
	if st := s.stats.Load(); st.Halted {
		s.refused.Add(1)
		return ErrHalted
	}
	plan := *p
	select {
	case s.inbox <- func() {
		if _, err := s.d.Submit(s.ctx, &plan, qty); err != nil {
			s.refused.Add(1)
			if onRefused != nil {
				onRefused(err)
			}
		}
	}:
		return nil
	default:
		s.refused.Add(1)
		return ErrBusy
	}
}

// Ready reports whether plans are taken: the journal replayed, every
// unfinished trade of it closed, the journal healthy (/readyz).
func (s *Service) Ready() bool { return s.ready.Load() }

// Stats returns the latest counters.
func (s *Service) Stats() ServiceStats { return *s.stats.Load() }

// ask runs fn on the loop and waits for it (or ctx).
func (s *Service) ask(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case s.inbox <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errNotStarted is returned by the views before Run started the driver.
var errNotStarted = errors.New("execute: not started")

// Trades returns the views of the last limit trades, newest first.
func (s *Service) Trades(ctx context.Context, limit int) ([]TradeView, error) {
	var out []TradeView
	var err error
	aerr := s.ask(ctx, func() {
		if ex := s.d.Executor(); ex != nil {
			out = ex.Views(limit)
		} else {
			err = errNotStarted
		}
	})
	if aerr != nil {
		return nil, aerr
	}
	return out, err
}

// OpenOrders returns the unresolved orders of open trades.
func (s *Service) OpenOrders(ctx context.Context) ([]OrderView, error) {
	var out []OrderView
	err := s.ask(ctx, func() {
		if ex := s.d.Executor(); ex != nil {
			out = ex.OpenOrders()
		}
	})
	return out, err
}

// Exposures returns the residual and open positions per instrument (risk's
// residual exposure).
func (s *Service) Exposures(ctx context.Context) ([]Exposure, error) {
	var out []Exposure
	err := s.ask(ctx, func() {
		if ex := s.d.Executor(); ex != nil {
			out = ex.Exposures()
		}
	})
	return out, err
}

// Halt turns the kill switch on (see Driver.Halt) and waits until the loop
// has done it.
func (s *Service) Halt(ctx context.Context) error {
	return s.ask(ctx, func() { s.d.Halt(s.ctx); s.publish() })
}

// Resume turns the kill switch off.
func (s *Service) Resume(ctx context.Context) error {
	return s.ask(ctx, func() { s.d.Resume(); s.publish() })
}

// Sink returns the private-stream sink for venue v's trading client
// (exchange.PrivateStream.RunPrivate). It never blocks.
func (s *Service) Sink(v exchange.VenueID) exchange.PrivateSink { return sink{s, v} }

type sink struct {
	s *Service
	v exchange.VenueID
}

func (k sink) push(ev Event) {
	select {
	case k.s.pushes <- ev:
	default:
		k.s.dropped.Add(1)
		k.s.lost[k.v].Store(true)
	}
}

// OnOrder implements exchange.PrivateSink.
func (k sink) OnOrder(st exchange.OrderState) { k.push(Event{Kind: EvOrder, State: st}) }

// OnFill implements exchange.PrivateSink.
func (k sink) OnFill(f exchange.Fill) { k.push(Event{Kind: EvFill, Fill: f}) }

// OnStream implements exchange.PrivateSink.
func (k sink) OnStream(up bool) { k.push(Event{Kind: EvStream, Venue: k.v, Up: up}) }

var _ exchange.PrivateSink = sink{}
