package wire

import (
	"context"

	"arb/strategy/spread"
)

// Inspect runs fn on the strategy loop's goroutine, between two batches,
// with the current engine's detector (its inventory and book store), and
// waits until it has run or ctx ends. It is for drivers that must read the
// loop's state exactly — a test stepping the simulator by hand waits with
// it until a venue's update has reached the books — and never for the
// trading path: fn delays the loop.
func (d *Daemon) Inspect(ctx context.Context, fn func(det *spread.Detector)) error {
	done := make(chan struct{})
	d.desk.onLoop(func(det *spread.Detector) {
		defer close(done)
		fn(det)
	})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// InFlight returns the plans submitted to the executor whose trade is not
// over (closed, its venues' balances fetched again and its reservation
// released), or the executor's open trades if more.
func (d *Daemon) InFlight() int64 {
	return max(d.desk.inflight.Load(), d.exec.openTrades.Load())
}

// Settled reports whether the daemon has finished with everything its
// feeds have published: the strategy loop has taken every event the feeds
// handed to the ring, and no plan is in flight (InFlight). It asks on the
// loop's goroutine (Inspect). A test that has seen a venue's frames read
// (exchange/tap) waits for it before the market moves again.
func (d *Daemon) Settled(ctx context.Context) (bool, error) {
	var taken, published uint64
	err := d.Inspect(ctx, func(*spread.Detector) {
		e := d.engine()
		taken = e.loop.Stats().Events.Load()
		for _, f := range e.feeds {
			published += f.md.Stats().Published.Load()
		}
	})
	if err != nil {
		return false, err
	}
	return taken == published && d.InFlight() == 0, nil
}
