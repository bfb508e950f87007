package wire

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"arb/cmd/internal/httpapi"
)

// ShutdownTimeout bounds the graceful stop (gracefulStop): the trades in
// flight finishing, the open orders cancelled, the events drained to
// JetStream. arbd waits a little longer for Run to return.
const ShutdownTimeout = 8 * time.Second

// shutdownPoll is how often the graceful stop looks at what is left.
const shutdownPoll = 10 * time.Millisecond

// shutdownStats is what the last graceful stop left undone, for the
// metrics and the tests.
type shutdownStats struct {
	took       atomic.Int64 // ns
	openTrades atomic.Int64 // trades still open at the end
	openOrders atomic.Int64 // orders whose outcome was unknown at the end
	events     atomic.Int64 // events not yet stored in JetStream
}

// ShutdownReport is what a graceful stop left undone.
type ShutdownReport struct {
	Took       time.Duration
	OpenTrades int // trades still open (their orders' outcome unknown)
	OpenOrders int // orders not resolved
	Events     int // plan and ledger events not stored in JetStream
}

// LastShutdown returns the last graceful stop's report (for tests).
func (d *Daemon) LastShutdown() ShutdownReport {
	s := &d.shutdown
	return ShutdownReport{Took: time.Duration(s.took.Load()), OpenTrades: int(s.openTrades.Load()),
		OpenOrders: int(s.openOrders.Load()), Events: int(s.events.Load())}
}

// gracefulStop runs when arbd is asked to stop (SIGTERM, SIGINT), with
// every component still running, within ShutdownTimeout:
//
//  1. stopping: /readyz turns false at once (a load balancer or Kubernetes
//     stops sending traffic) and the desk submits no new plan;
//  2. the trades in flight get half the time to finish on their own (a leg
//     that filled short is retried or unwound as usual: leaving a hedge
//     half done would leave a position);
//  3. then the executor is halted: every live order is cancelled, no retry
//     or unwind is sent, and each trade closes as it stands once its orders
//     are resolved — the kill switch's path, but nothing is persisted: the
//     next start trades (a restart reconciles from the journal anyway);
//  4. the events queued for JetStream (plan records, ledger fills and
//     trade states) are drained;
//  5. a last heartbeat says "stopped".
//
// What is left when time runs out is logged: the journal holds every
// intent, and the next start reconciles open orders with the venues.
func (d *Daemon) gracefulStop(ctx context.Context) {
	start := time.Now()
	deadline := start.Add(ShutdownTimeout)
	d.stopping.Store(true)
	d.log.Info("graceful stop: no new plans; finishing trades in flight, then cancelling open orders and draining events",
		"timeout", ShutdownTimeout.String(), "open_trades", d.exec.openTradeCount())

	// Trades in flight finish on their own, for half the time.
	half := start.Add(ShutdownTimeout / 2)
	for d.exec.openTradeCount() > 0 && time.Now().Before(half) {
		time.Sleep(shutdownPoll)
	}
	cancelled := false
	if svc := d.exec.service(); svc != nil && d.exec.openTradeCount() > 0 {
		cancelled = true
		hctx, cancel := context.WithDeadline(ctx, deadline.Add(-ShutdownTimeout/8))
		if err := svc.Halt(hctx); err != nil {
			d.log.Error("graceful stop: the executor did not take the halt", "err", err)
		}
		for d.exec.openTradeCount() > 0 && hctx.Err() == nil {
			time.Sleep(shutdownPoll)
		}
		cancel()
	}
	for d.pendingEvents() > 0 && time.Now().Before(deadline) {
		time.Sleep(shutdownPoll)
	}
	openOrders := 0
	if svc := d.exec.service(); svc != nil {
		octx, cancel := context.WithTimeout(ctx, time.Second)
		if oo, err := svc.OpenOrders(octx); err == nil {
			openOrders = len(oo)
		}
		cancel()
	}
	s := &d.shutdown
	s.took.Store(int64(time.Since(start)))
	s.openTrades.Store(int64(d.exec.openTradeCount()))
	s.openOrders.Store(int64(openOrders))
	s.events.Store(int64(d.pendingEvents()))
	d.hb.put(ctx, "stopped")
	rep := d.LastShutdown()
	attrs := []any{"took", rep.Took.String(), "cancelled_open_orders", cancelled,
		"open_trades_left", rep.OpenTrades, "open_orders_left", rep.OpenOrders, "events_left", rep.Events}
	if rep.OpenTrades > 0 || rep.OpenOrders > 0 || rep.Events > 0 {
		d.log.Warn("graceful stop incomplete: the next start reconciles from the journal and the venues", attrs...)
		return
	}
	d.log.Info("graceful stop done", attrs...)
}

// openTradeCount is the running service's open trades (0 without one).
func (x *execution) openTradeCount() int {
	if svc := x.service(); svc != nil {
		return svc.Stats().Open
	}
	return 0
}

// pendingEvents counts the events queued for JetStream and not stored yet:
// plan records and ledger events (the executor's journal appends are
// synchronous: an intent is stored before its order is sent).
func (d *Daemon) pendingEvents() int {
	return int(d.desk.pending.Load()) + int(d.exec.ledger.pending.Load())
}

func (d *Daemon) registerLifecycleMetrics(reg *prometheus.Registry) {
	reg.MustRegister(httpapi.NewGaugeFamily("arb_shutting_down",
		"1 once a graceful stop has begun (/readyz is false, no new plans).", nil, func(emit httpapi.Emit) {
			v := 0.0
			if d.stopping.Load() {
				v = 1
			}
			emit(v)
		}))
}
