package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Limits of the embedded server. They bound what the daemon's own NATS may
// take from the machine; the stream limits (DefaultStream) sit inside them.
const (
	// EmbeddedMaxStore caps JetStream file storage: the event stream
	// (StreamMaxBytes) plus KV buckets, with room to spare.
	EmbeddedMaxStore = 8 << 30
	// EmbeddedMaxMemory caps JetStream memory storage; arb stores nothing
	// in memory streams, so this only bounds accidents.
	EmbeddedMaxMemory = 64 << 20
	// EmbeddedMaxPayload is the largest message the server accepts.
	EmbeddedMaxPayload = 1 << 20
	// embeddedStartTimeout bounds the wait for the server to accept
	// clients when ctx has no earlier deadline.
	embeddedStartTimeout = 10 * time.Second
)

// Embedded is a nats-server running inside the process with JetStream on
// disk. It listens only on 127.0.0.1, on a port the kernel picks (never the
// well-known 4222, where a system NATS may already listen), so several can
// run at once. Its methods are safe for concurrent use.
type Embedded struct {
	srv      *server.Server
	storeDir string
	once     sync.Once
}

// StartEmbedded starts an embedded server storing JetStream data under
// dataDir/jetstream (created if missing) and returns once it accepts
// clients, or with an error when it cannot start or ctx ends first. Stop it
// with Shutdown, after closing its clients.
func StartEmbedded(ctx context.Context, dataDir string, logger *slog.Logger) (*Embedded, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if dataDir == "" {
		return nil, errors.New("bus: embedded NATS needs a data directory")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bus: embedded NATS start: %w", err)
	}
	// nats-server appends "jetstream" to StoreDir itself.
	if err := os.MkdirAll(filepath.Join(dataDir, "jetstream"), 0o700); err != nil {
		return nil, fmt.Errorf("bus: embedded NATS data directory: %w", err)
	}
	opts := &server.Options{
		ServerName:             "arbd-embedded",
		Host:                   "127.0.0.1",
		Port:                   server.RANDOM_PORT,
		NoSigs:                 true, // the daemon owns signal handling
		MaxPayload:             EmbeddedMaxPayload,
		JetStream:              true,
		StoreDir:               dataDir,
		JetStreamMaxStore:      EmbeddedMaxStore,
		JetStreamMaxMemory:     EmbeddedMaxMemory,
		DisableJetStreamBanner: true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded NATS: %w", err)
	}
	srv.SetLoggerV2(serverLog{logger.With("component", "nats-server")}, false, false, false)
	srv.Start()

	deadline := time.Now().Add(embeddedStartTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for !srv.ReadyForConnections(100 * time.Millisecond) {
		if err := ctx.Err(); err != nil {
			shutdown(srv)
			return nil, fmt.Errorf("bus: embedded NATS start: %w", err)
		}
		if time.Now().After(deadline) {
			shutdown(srv)
			return nil, errors.New("bus: embedded NATS did not become ready in time")
		}
	}
	if !srv.JetStreamEnabled() {
		shutdown(srv)
		return nil, errors.New("bus: embedded NATS started without JetStream (see its log)")
	}
	e := &Embedded{srv: srv, storeDir: filepath.Join(dataDir, "jetstream")}
	logger.Info("embedded NATS ready", "url", e.ClientURL(), "store", e.storeDir)
	return e, nil
}

// ClientURL returns the nats:// URL of the server's loopback listener, for
// Connect and for other processes on the machine (arb ledger ...).
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// StoreDir returns the directory holding the JetStream data.
func (e *Embedded) StoreDir() string { return e.storeDir }

// InProcess returns a connect option that reaches the server through an
// in-memory pipe instead of the loopback socket. Pass it to Connect along
// with ClientURL (the URL then only names the server in logs).
func (e *Embedded) InProcess() nats.Option { return nats.InProcessServer(e.srv) }

// Shutdown stops the server gracefully and waits until it has stopped:
// JetStream flushes its files before it returns. It is idempotent. Close
// the server's clients first, or they will log a disconnect.
func (e *Embedded) Shutdown() {
	e.once.Do(func() { shutdown(e.srv) })
}

func shutdown(srv *server.Server) {
	srv.Shutdown()
	srv.WaitForShutdown()
}

// serverLog routes nats-server's log to slog. Its notices (a start-up
// banner of a dozen lines) go to debug; StartEmbedded logs one line instead.
type serverLog struct{ l *slog.Logger }

func (s serverLog) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLog) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s serverLog) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Debugf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLog) Tracef(string, ...any)           {}
