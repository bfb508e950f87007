package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// ProbeInterval is how often Monitor asks JetStream for the event stream
// while nothing else tells it the state changed.
const ProbeInterval = 2 * time.Second

// health is the bus's view of whether the durable log can take an event
// now: the connection is up and the last probe of the event stream
// succeeded. It is updated by nats.go's connection callbacks, by failed
// publishes and by Monitor's probes; durable is read on the hot path (one
// atomic load).
type health struct {
	connected atomic.Bool
	streamOK  atomic.Bool
	durable   atomic.Bool

	disconnects, reconnects, probesFailed atomic.Uint64

	mu      sync.Mutex
	since   time.Time // when durable last changed
	lastErr string

	kick chan struct{} // asks Monitor for a probe now
}

func newHealth() *health {
	h := &health{kick: make(chan struct{}, 1), since: time.Now()}
	return h
}

// set recomputes durable and reports whether it changed.
func (h *health) set(err error) (changed, durable bool) {
	d := h.connected.Load() && h.streamOK.Load()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.lastErr = err.Error()
	} else if d {
		h.lastErr = ""
	}
	if h.durable.Swap(d) != d {
		h.since = time.Now()
		return true, d
	}
	return false, d
}

func (h *health) probeSoon() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// State is the bus's connection and durable-log state, for status pages
// and metrics.
type State struct {
	// Connected: the client is connected to a server (not reconnecting,
	// not closed).
	Connected bool `json:"connected"`
	// Status is nats.go's connection status: CONNECTED, RECONNECTING,
	// CLOSED, ...
	Status string `json:"status"`
	// Durable: an event published now would be stored: connected, and the
	// last probe found the event stream and room in it.
	Durable bool `json:"durable"`
	// Since is when Durable last changed.
	Since time.Time `json:"since"`
	// LastError is why the log is not durable (the last failure seen), ""
	// when it is.
	LastError   string `json:"last_error,omitempty"`
	Disconnects uint64 `json:"disconnects"`
	Reconnects  uint64 `json:"reconnects"`
}

// Durable reports whether an event published now would be stored: the
// connection is up and the last probe of the event stream succeeded. It is
// one atomic load; callers that must not act without a durable record (the
// executor before it sends an order) ask it first, and still check the
// Publish result.
func (b *Bus) Durable() bool { return b.health.durable.Load() }

// State returns the connection and durable-log state.
func (b *Bus) State() State {
	h := b.health
	h.mu.Lock()
	defer h.mu.Unlock()
	return State{
		Connected: h.connected.Load(), Status: b.nc.Status().String(), Durable: h.durable.Load(),
		Since: h.since, LastError: h.lastErr,
		Disconnects: h.disconnects.Load(), Reconnects: h.reconnects.Load(),
	}
}

// Monitor probes the event stream every ProbeInterval, and at once after a
// reconnect or a failed publish, keeping Durable and State current and
// logging each change. It returns ctx's error when ctx ends. Run it in its
// own goroutine, once.
func (b *Bus) Monitor(ctx context.Context) error {
	t := time.NewTicker(ProbeInterval)
	defer t.Stop()
	for {
		b.probe(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-b.health.kick:
		}
	}
}

// probe asks JetStream for the event stream's state: it must exist and have
// room (a full stream refuses events: discard new).
func (b *Bus) probe(ctx context.Context) {
	if b.nc.Status() != nats.CONNECTED {
		b.health.connected.Store(false)
		b.report(errors.New("NATS connection " + b.nc.Status().String()))
		return
	}
	b.health.connected.Store(true)
	pctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	defer cancel()
	err := b.streamRoom(pctx)
	if err != nil && ctx.Err() != nil {
		return // shutting down: not a change of state
	}
	if err != nil {
		b.health.probesFailed.Add(1)
	}
	b.health.streamOK.Store(err == nil)
	b.report(err)
}

func (b *Bus) streamRoom(ctx context.Context) error {
	s, err := b.js.Stream(ctx, b.stream)
	if err != nil {
		return fmt.Errorf("JetStream stream %s: %w", b.stream, err)
	}
	info := s.CachedInfo()
	if info == nil {
		return fmt.Errorf("JetStream stream %s: no information", b.stream)
	}
	// Full means no room for one more event of the largest size: the
	// stream discards new events, so the next record could be refused.
	msg := int64(info.Config.MaxMsgSize)
	if msg <= 0 {
		msg = 1
	}
	if max := info.Config.MaxBytes; max > 0 && int64(info.State.Bytes)+msg > max {
		return fmt.Errorf("JetStream stream %s is full (%d of %d bytes): new events are refused", b.stream, info.State.Bytes, max)
	}
	if max := info.Config.MaxMsgs; max > 0 && int64(info.State.Msgs) >= max {
		return fmt.Errorf("JetStream stream %s is full (%d of %d events): new events are refused", b.stream, info.State.Msgs, max)
	}
	return nil
}

// report records err (nil: healthy) and logs a change of durability.
func (b *Bus) report(err error) {
	changed, durable := b.health.set(err)
	if !changed {
		return
	}
	if durable {
		b.logger.Info("durable log (JetStream) reachable again")
	} else {
		b.logger.Error("durable log (JetStream) unreachable: events cannot be stored", "err", err)
	}
}

// failed is called after a publish that JetStream did not acknowledge: the
// log is not known to be durable until a probe says so.
func (b *Bus) failed(err error) {
	b.health.streamOK.Store(false)
	b.report(err)
	b.health.probeSoon()
}
