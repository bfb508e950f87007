package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Connection settings of Connect. They trade how long an outage is bridged
// against how much is held meanwhile; all are bounded.
const (
	// ReconnectBufSize caps what publishes buffer while the connection is
	// down. Past it a publish fails at once instead of growing memory.
	ReconnectBufSize = 8 << 20
	// MaxReconnects caps reconnect attempts, one per ReconnectWait (plus
	// jitter): about ten minutes. After that the connection is closed,
	// Done is closed, and the daemon should exit so its supervisor
	// restarts it, rather than run on without a bus.
	MaxReconnects = 600
	// ReconnectWait is the pause between reconnect attempts to one server.
	ReconnectWait = time.Second
	// DialTimeout bounds one connection attempt.
	DialTimeout = 5 * time.Second
	// PingInterval and MaxPingsOut detect a dead server in about 30 s when
	// no traffic flows.
	PingInterval = 10 * time.Second
	MaxPingsOut  = 3
	// DrainTimeout bounds Close: pending publishes and subscriptions get
	// this long to finish.
	DrainTimeout = 3 * time.Second
	// PublishTimeout bounds one Publish, ack included, unless ctx is
	// shorter.
	PublishTimeout = 5 * time.Second
)

// ErrNoMsgID is returned by Publish without a message id: deduplication is
// the contract, so an event without an id is a programming error.
var ErrNoMsgID = errors.New("bus: publish needs a message id")

// Bus is a connection to NATS with JetStream: durable event publishing and
// the rules KV bucket. Its methods are safe for concurrent use. Close it
// before shutting down an embedded server.
type Bus struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	logger  *slog.Logger
	done    chan struct{} // closed when the connection is closed for good
	health  *health
	stream  string      // the event stream Monitor probes
	closing atomic.Bool // Close was called: the end of the connection is no outage

	closeOnce sync.Once
}

// Connect connects to the NATS server at url (a comma-separated list for a
// cluster) and checks that JetStream is available. It reconnects by itself
// after an outage (MaxReconnects attempts), buffering up to
// ReconnectBufSize of publishes meanwhile. opts are applied after the
// defaults, so they can override them: pass Embedded.InProcess() for the
// embedded server, or nats.UserCredentials(file) for a secured one. It
// returns early with ctx's error if ctx ends before the connection is up.
func Connect(ctx context.Context, url string, logger *slog.Logger, opts ...nats.Option) (*Bus, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bus: connect %s: %w", redactURL(url), err)
	}
	logger = logger.With("component", "bus")
	b := &Bus{logger: logger, done: make(chan struct{}), health: newHealth(), stream: StreamName}
	var closeDone sync.Once
	all := []nats.Option{
		nats.Name("arbd"),
		nats.MaxReconnects(MaxReconnects),
		nats.ReconnectWait(ReconnectWait),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(ReconnectBufSize),
		nats.Timeout(DialTimeout),
		nats.PingInterval(PingInterval),
		nats.MaxPingsOutstanding(MaxPingsOut),
		nats.DrainTimeout(DrainTimeout),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			b.health.connected.Store(false)
			if err != nil { // nil: a deliberate close
				b.health.disconnects.Add(1)
				logger.Warn("NATS disconnected; reconnecting", "err", err)
				b.report(fmt.Errorf("NATS disconnected: %w", err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.health.connected.Store(true)
			b.health.reconnects.Add(1)
			logger.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted())
			b.health.probeSoon() // durable again only once the stream answers
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			b.health.connected.Store(false)
			if !b.closing.Load() {
				b.report(errors.New("NATS connection closed"))
			}
			closeDone.Do(func() { close(b.done) })
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			// Asynchronous errors (slow consumer, permissions) are rare
			// and each is an operational problem worth a line.
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			logger.Error("NATS asynchronous error", "subject", subject, "err", err)
		}),
	}
	all = append(all, opts...)

	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(url, all...)
		ch <- result{nc, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		go func() { // the dial is bounded by DialTimeout; close what it returns
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("bus: connect %s: %w", redactURL(url), ctx.Err())
	}
	if r.err != nil {
		return nil, fmt.Errorf("bus: connect %s: %w", redactURL(url), r.err)
	}
	b.nc = r.nc
	js, err := jetstream.New(r.nc)
	if err != nil {
		r.nc.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	actx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	if _, err := js.AccountInfo(actx); err != nil {
		r.nc.Close()
		return nil, fmt.Errorf("bus: JetStream is not available on %s: %w", redactURL(url), err)
	}
	b.js = js
	b.health.connected.Store(true)
	b.health.streamOK.Store(true) // JetStream answered; Monitor checks the stream itself
	b.health.set(nil)
	logger.Info("NATS connected", "url", r.nc.ConnectedUrlRedacted())
	return b, nil
}

// redactURL removes credentials from a URL list before it is logged or put
// in an error.
func redactURL(url string) string {
	parts := strings.Split(url, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if scheme, rest, ok := strings.Cut(p, "://"); ok {
			if at := strings.LastIndexByte(rest, '@'); at >= 0 {
				p = scheme + "://[redacted]@" + rest[at+1:]
			}
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// Conn returns the underlying connection, for core NATS use by the wiring.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream returns the JetStream context, for consumers (the ledger reads
// the event stream with one).
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Done is closed when the connection is closed for good: by Close, or
// after MaxReconnects failed attempts. In the second case the daemon
// should stop trading and exit.
func (b *Bus) Done() <-chan struct{} { return b.done }

// Close drains the connection (pending publishes are flushed,
// subscriptions finish) and waits for it to close, at most DrainTimeout
// plus a second. It is idempotent.
func (b *Bus) Close() error {
	var err error
	b.closing.Store(true)
	b.closeOnce.Do(func() {
		if derr := b.nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
			b.nc.Close()
			err = fmt.Errorf("bus: drain: %w", derr)
		}
		select {
		case <-b.done:
		case <-time.After(DrainTimeout + time.Second):
			b.nc.Close()
			<-b.done
			err = errors.New("bus: drain timed out; connection closed")
		}
	})
	return err
}

// CredentialsOption returns the connect option for a credentials file:
// either a .creds file (a user JWT and its seed, for servers run in
// operator/JWT mode) or a bare nkey seed (for users listed by nkey in the
// server's configuration, and the read-only user of an embedded server).
func CredentialsOption(file string) (nats.Option, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if strings.Contains(string(b), "BEGIN NATS USER JWT") {
		return nats.UserCredentials(file), nil
	}
	opt, err := nats.NkeyOptionFromSeed(file)
	if err != nil {
		return nil, fmt.Errorf("%s is neither a .creds file nor an nkey seed: %w", file, err)
	}
	return opt, nil
}
